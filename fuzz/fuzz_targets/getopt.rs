//! Any command line for the tools that read their own grammar (blkparse's, btt's, blktrace's
//! and iostat's): each parser returns options or a usage error, never panics. Arguments are
//! split on NUL bytes and may be any other bytes, as the kernel passes them.
#![no_main]

use std::ffi::OsString;
use std::os::unix::ffi::OsStringExt;

use blkscope::cli::getopt::{Parsed, getopt_long};
use blkscope::tools::{btt, iostat, parse, record};
use libfuzzer_sys::fuzz_target;

/// iostat's device-name lookups, answered without the live /dev.
struct NoDevices;

impl iostat::options::ArgNames for NoDevices {
    fn device_name(&self, arg: &str) -> String {
        arg.to_owned()
    }
    fn persistent_type_exists(&self, kind: &str) -> bool {
        kind == "uuid"
    }
    fn device_of_persistent(&self, _kind: &str, name: &str) -> Option<String> {
        name.starts_with('s').then(|| "sda".to_owned())
    }
}

fuzz_target!(|data: &[u8]| {
    let args: Vec<OsString> = data
        .split(|&b| b == 0)
        .map(|a| OsString::from_vec(a.to_vec()))
        .collect();
    let _ = parse::options::parse(&args);
    let _ = btt::options::parse(&args);
    // record's -I names a file it reads: the fuzzer must not find /dev/stdin or /proc/kmsg.
    let reads_a_file = getopt_long(&args, record::options::SPECS)
        .is_ok_and(|parsed| parsed.iter().any(|p| matches!(p, Parsed::Opt('I', _))));
    if !reads_a_file {
        let _ = record::options::parse(&args);
    }
    if let Ok(text) = args
        .into_iter()
        .map(OsString::into_string)
        .collect::<Result<Vec<String>, _>>()
    {
        let _ = iostat::options::parse(&text, &NoDevices);
    }
});
