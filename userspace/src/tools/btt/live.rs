//! `-Z` (`--do-active`): the active periods as step plots, written with the report: per
//! device `DEVICE_live.dat` (in report order, each device with periods one step higher,
//! from 1) and `sys_live.dat` for the system (at 0). Each period is five points: back down
//! from the previous period's end (0 for the first), up at its start, and down at its end.

use std::io::{self, Write};
use std::path::PathBuf;

use super::active::ActivePeriods;
use super::analysis::Analysis;
use super::data_file::DataFile;
use super::time::bit_time;

pub fn write_all(a: &Analysis) -> io::Result<()> {
    let mut level = 1;
    for i in a.report_order() {
        let d = &a.devices[i];
        write(&format!("{}_live.dat", d.file_name()), &d.active, level)?;
        if !d.active.is_empty() {
            level += 1;
        }
    }
    write("sys_live.dat", &a.active, 0)
}

fn write(path: &str, periods: &ActivePeriods, level: i32) -> io::Result<()> {
    let Some(mut out) = DataFile::create(PathBuf::from(path)) else {
        return Ok(());
    };
    // btt's levels are C floats: the top is `level + 0.9` rounded to one.
    let (low, high) = (level as f32, (f64::from(level) + 0.9) as f32);
    let mut last_end = 0.0;
    for (start, end) in periods.periods() {
        let (start, end) = (bit_time(start), bit_time(end));
        for (t, y) in [
            (last_end, low),
            (start, low),
            (start, high),
            (end, high),
            (end, low),
        ] {
            writeln!(out, "{t:.9} {y:.1}")?;
        }
        last_end = end;
    }
    out.finish()
}
