//! iostat's own cost: CPU time per report of `blkscope iostat` and sysstat's `iostat` on a
//! machine with many block devices (loop devices on small files in /dev/shm, made for the run).

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::Context as _;

use crate::bench::{attach_loop, detach_loop, median};
use crate::bench_parse::measure;

/// Where iostat's part of docs/performance/bench-log.md starts.
pub const IOSTAT_SECTION: &str = "\n## iostat: CPU per report";

/// Loop devices that exist for the bench's lifetime.
struct ManyDevices {
    devices: Vec<String>,
    backing: Vec<PathBuf>,
}

impl ManyDevices {
    fn new(count: usize) -> anyhow::Result<ManyDevices> {
        let mut made = ManyDevices {
            devices: Vec::new(),
            backing: Vec::new(),
        };
        for i in 0..count {
            let file = PathBuf::from(format!(
                "/dev/shm/blkscope-bench-many-{}-{i}.img",
                std::process::id()
            ));
            std::fs::File::create(&file)
                .and_then(|f| f.set_len(1 << 20))
                .with_context(|| file.display().to_string())?;
            made.backing.push(file.clone());
            made.devices.push(attach_loop(&file)?);
        }
        Ok(made)
    }
}

impl Drop for ManyDevices {
    fn drop(&mut self) {
        for device in &self.devices {
            detach_loop(device);
        }
        for file in &self.backing {
            let _ = std::fs::remove_file(file);
        }
    }
}

/// user+sys seconds of one run of `command` (to /dev/null).
fn cpu_of(command: &[String]) -> anyhow::Result<f64> {
    let (program, args) = command.split_first().context("empty command")?;
    Ok(measure(Command::new(program).args(args))?.cpu_seconds)
}

fn block_devices() -> usize {
    std::fs::read_to_string("/proc/diskstats").map_or(0, |t| t.lines().count())
}

pub fn run(root: &Path, extra_devices: usize, reports: u32, rounds: u32) -> anyhow::Result<String> {
    let blkscope = root.join("target/release/blkscope");
    let _devices = ManyDevices::new(extra_devices)?;
    let listed = block_devices();
    let count = reports.to_string();
    let tools: [(&str, Vec<String>); 2] = [
        (
            "sysstat iostat 12.6",
            ["iostat", "-dx", "1", &count].map(String::from).to_vec(),
        ),
        (
            "blkscope iostat",
            [blkscope.display().to_string()]
                .into_iter()
                .chain(["iostat", "-dx", "1", &count].map(String::from))
                .collect(),
        ),
    ];
    let mut per_report_ms: Vec<Vec<f64>> = vec![Vec::new(); tools.len()];
    for round in 0..rounds {
        eprintln!("bench: iostat round {}/{rounds}", round + 1);
        for ((_, command), results) in tools.iter().zip(per_report_ms.iter_mut()) {
            results.push(1000.0 * cpu_of(command)? / f64::from(reports));
        }
    }
    let mut table = String::from("| iostat | CPU per report | vs sysstat |\n|---|---|---|\n");
    let theirs = median(&per_report_ms[0]);
    for ((name, _), results) in tools.iter().zip(&per_report_ms) {
        let ms = median(results);
        table.push_str(&format!(
            "| {name} | {ms:.2} ms | {:.2}x |\n",
            if theirs > 0.0 { ms / theirs } else { 0.0 }
        ));
    }
    Ok(format!(
        "{IOSTAT_SECTION}\n\n\
         `iostat -dx 1 {reports}` to /dev/null with {listed} block devices in /proc/diskstats \
         ({extra_devices} of them loop devices made for the run); user+sys time of the whole \
         process divided by the {reports} reports (start-up included); median of {rounds} \
         round(s).\n\n{table}"
    ))
}
