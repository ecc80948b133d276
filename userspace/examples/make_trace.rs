//! Writes a synthetic blktrace trace (`DIR/NAME.blktrace.CPU`): for benchmarks and fuzz seeds.
//!
//! usage: make_trace DIR NAME IOS [CPUS] [SEED]

use anyhow::Context;
use blkscope::blktrace::BlktraceWriter;
use blkscope::blktrace::synthetic::{SyntheticSpec, generate};

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let [_, dir, name, ios, rest @ ..] = args.as_slice() else {
        anyhow::bail!("usage: make_trace DIR NAME IOS [CPUS] [SEED]");
    };
    let ios: usize = ios.parse().context("IOS: a number")?;
    let cpus: u32 = rest
        .first()
        .map_or(Ok(4), |c| c.parse())
        .context("CPUS: a number")?;
    let seed: u64 = rest
        .get(1)
        .map_or(Ok(1), |s| s.parse())
        .context("SEED: a number")?;
    let mut writer = BlktraceWriter::new(dir, name.as_str());
    // Generated in slices so that memory stays flat for multi-million-event traces.
    let slice = 10_000;
    let mut done = 0;
    let mut seed_now = seed;
    let mut time_base = 0u64;
    let mut events = 0u64;
    while done < ios {
        let spec = SyntheticSpec {
            ios: slice.min(ios - done),
            cpus,
            seed: seed_now,
            timestamp: done == 0,
            ..Default::default()
        };
        for mut t in generate(&spec) {
            t.header.time += time_base;
            if !t.header.is_notify() || t.header.is_message() {
                events += 1;
            }
            writer.write(&t).context("writing the trace")?;
        }
        time_base += 1_000_000_000_000;
        done += spec.ios;
        seed_now += 1;
    }
    let files = writer.finish().context("closing the trace")?;
    eprintln!("{} files, {ios} I/Os", files.len());
    // For the bench: how many records blkparse counts as events.
    println!("events={events}");
    Ok(())
}
