//! blkscope: block I/O tracing and statistics for Linux.
//!
//! Layers first, tools last; a tool imports layers, never another tool (docs/ARCHITECTURE.md):
//! - `kernel`: checks, the kernel's layout from BTF, loading and attaching the probes, reading
//!   their maps and ring buffers (one module per probe set, named like its eBPF module).
//! - `model`: what the views compute on: block events, I/Os followed from queue to
//!   completion, histograms, file-system operations.
//! - `blktrace`: the blktrace binary format, read and written, and its mapping to the model.
//! - `cgroup`: cgroup ids to paths to containers.
//! - `timeline`: block I/O as a Chrome trace-event (Perfetto) timeline.
//! - `host`: the machine's own files (/proc, /sys, mounts, device names) and local time.
//! - `run`: how a tool runs: stop (signals, deadline), intervals, the event feed (live or
//!   recorded), output to a reader that may go away.
//! - `cli`: command-line grammar shared by the getopt-style tools.
//! - `tools`: one folder per tool (its arguments, its wiring, its compute and render).

pub mod blktrace;
pub mod cgroup;
pub mod cli;
pub mod host;
pub mod kernel;
pub mod model;
pub mod run;
pub mod timeline;
pub mod tools;
