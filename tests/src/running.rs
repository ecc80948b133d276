//! A blkscope view run as its users run it: started in the background, given time to attach
//! its probes, stopped with SIGTERM (as Ctrl-C would), its output read back.

use std::{
    ffi::OsStr,
    process::{Child, Command, Output, Stdio},
    time::Duration,
};

use serde_json::Value;

use crate::blkscope_binary;

/// How long a view takes to load and attach its probes here.
const ATTACH_TIME: Duration = Duration::from_millis(1500);

/// `blkscope ARGS` with `env` set, output captured.
pub fn blkscope_command(args: &[&str], env: &[(&str, &OsStr)]) -> Command {
    let mut command = Command::new(blkscope_binary());
    command
        .args(args)
        .envs(env.iter().copied())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    command
}

/// Starts `blkscope ARGS` and waits until its probes are attached.
pub fn start_blkscope(args: &[&str], env: &[(&str, &OsStr)]) -> Child {
    let child = blkscope_command(args, env)
        .spawn()
        .expect("starting blkscope");
    std::thread::sleep(ATTACH_TIME);
    child
}

/// Starts `blkscope record ARGS` in `dir` (where its files go) and waits until its probes
/// are attached.
pub fn start_record(dir: &std::path::Path, args: &[&str]) -> Child {
    let child = blkscope_command(&[], &[])
        .current_dir(dir)
        .arg("record")
        .args(args)
        .spawn()
        .expect("starting blkscope record");
    std::thread::sleep(ATTACH_TIME);
    child
}

/// SIGTERM (after the last events have had time to arrive); its output, which must come from a
/// clean exit.
pub fn stop_blkscope(child: Child) -> Output {
    std::thread::sleep(Duration::from_millis(300));
    // SAFETY: kill(2) on our own child.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let out = child.wait_with_output().expect("waiting for blkscope");
    assert!(
        out.status.success(),
        "blkscope failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// The JSON objects among the lines of `stdout`.
pub fn json_lines(stdout: &[u8]) -> Vec<Value> {
    String::from_utf8_lossy(stdout)
        .lines()
        .filter(|l| l.starts_with('{'))
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect()
}
