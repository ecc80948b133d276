//! Empty library target: userspace names this crate as a build-dependency so that cargo rebuilds
//! the probes when their sources change; the programs themselves are in the binary (main.rs).
#![no_std]
