//! `--format json`: one JSON object per line for each event, message and, at the end, the
//! per-device summary. Field names are stable; times are integer nanoseconds.

use serde_json::{Value, json};

use crate::blktrace::format::{Trace, category, major, minor, rwbs};

use super::engine::DevInfo;
use super::events::{EventLine, dump_pdu};
use super::stats::IoStats;

fn push(out: &mut Vec<u8>, v: &Value) {
    // Serializing a Value into a Vec cannot fail.
    let _ = serde_json::to_writer(&mut *out, v);
    out.push(b'\n');
}

/// One event.
pub fn event(out: &mut Vec<u8>, e: &EventLine, dev: &DevInfo) {
    let h = &e.trace.header;
    let mut v = json!({
        "type": "event",
        "trace": dev.display_name(),
        "device": format!("{},{}", h.major(), h.minor()),
        "cpu": e.cpu,
        "sequence": h.sequence,
        "time_ns": h.time,
        "pid": h.pid,
        "comm": e.name.map(|n| String::from_utf8_lossy(n).into_owned()),
        "action": e.act,
        "rwbs": rwbs(h).as_str(),
        "sector": h.sector,
        "sectors": h.sectors(),
        "bytes": h.bytes,
        "error": h.error,
    });
    let extra = |v: &mut Value, key: &str, x: Value| {
        if let Some(m) = v.as_object_mut() {
            m.insert(key.to_string(), x);
        }
    };
    if let Some(el) = e.elapsed {
        extra(&mut v, "elapsed_ns", json!(el));
    }
    if let Some(cg) = e.cgroup {
        extra(&mut v, "cgroup_id", json!(cg.id()));
    }
    match e.act {
        "U" | "UT" => extra(&mut v, "depth", json!(e.trace.payload_u64() as u32)),
        "X" => extra(&mut v, "split_sector", json!(e.trace.payload_u64() as u32)),
        "A" => {
            if let Some(r) = e.trace.remap() {
                extra(
                    &mut v,
                    "device",
                    json!(format!("{},{}", major(r.device_to), minor(r.device_to))),
                );
                extra(
                    &mut v,
                    "from_device",
                    json!(format!("{},{}", major(r.device_from), minor(r.device_from))),
                );
                extra(&mut v, "from_sector", json!(r.sector_from));
            }
        }
        _ => {}
    }
    if h.is(category::PC)
        && let Some(p) = e.pdu.and_then(dump_pdu)
    {
        extra(&mut v, "pdu", json!(p));
    }
    push(out, &v);
}

/// A message notify.
pub fn message(out: &mut Vec<u8>, t: &Trace, dev: &DevInfo) {
    let h = &t.header;
    let text = t.payload_text();
    let v = json!({
        "type": "message",
        "trace": dev.display_name(),
        "device": format!("{},{}", h.major(), h.minor()),
        "cpu": h.cpu,
        "time_ns": h.time,
        "message": String::from_utf8_lossy(text),
    });
    push(out, &v);
}

fn stats(s: &IoStats) -> Value {
    json!({
        "reads_queued": s.queued[0].n, "reads_queued_kib": s.queued[0].kib(),
        "writes_queued": s.queued[1].n, "writes_queued_kib": s.queued[1].kib(),
        "read_dispatches": s.issued[0].n, "read_dispatches_kib": s.issued[0].kib(),
        "write_dispatches": s.issued[1].n, "write_dispatches_kib": s.issued[1].kib(),
        "reads_requeued": s.requeued[0], "writes_requeued": s.requeued[1],
        "reads_completed": s.completed[0].n, "reads_completed_kib": s.completed[0].kib(),
        "writes_completed": s.completed[1].n, "writes_completed_kib": s.completed[1].kib(),
        "read_merges": s.merged[0].n, "read_merges_kib": s.merged[0].kib(),
        "write_merges": s.merged[1].n, "write_merges_kib": s.merged[1].kib(),
        "io_unplugs": s.io_unplugs, "timer_unplugs": s.timer_unplugs,
    })
}

/// The closing summary: per device, its totals and per-CPU counts.
pub fn summary(out: &mut Vec<u8>, devices: &[DevInfo], skips: &[(u64, u64)]) {
    let devs: Vec<Value> = devices
        .iter()
        .zip(skips)
        .map(|(d, (skips, seq_skips))| {
            let mut total = IoStats::default();
            let cpus: Vec<Value> = d
                .cpus
                .iter()
                .enumerate()
                .filter(|(_, c)| c.nelems > 0)
                .map(|(i, c)| {
                    total.add(&c.stats);
                    json!({"cpu": i, "stats": stats(&c.stats)})
                })
                .collect();
            json!({
                "trace": d.display_name(),
                "events": d.events,
                "read_depth": d.max_depth[0],
                "write_depth": d.max_depth[1],
                "skips": skips,
                "skipped_sequences": seq_skips,
                "total": stats(&total),
                "cpus": cpus,
            })
        })
        .collect();
    push(out, &json!({"type": "summary", "devices": devs}));
}
