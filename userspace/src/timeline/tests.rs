use serde_json::Value;

use super::*;
use crate::model::event::tests::sample_event;

/// One I/O's events on 7,0: Q G (bio), I D C (request), at the times given (ns).
fn io_events(bio: u64, request: u64, sector: u64, times: [u64; 5]) -> Vec<BlockIoEvent> {
    [
        Action::Queue,
        Action::GetRequest,
        Action::Insert,
        Action::Issue,
        Action::Complete,
    ]
    .into_iter()
    .zip(times)
    .map(|(action, t)| {
        let mut e = sample_event(action, t);
        e.sector = sector;
        e.from_bio = matches!(action, Action::Queue | Action::GetRequest);
        e.request_id = if e.from_bio { bio } else { request };
        e.cgroup_id = 77;
        e
    })
    .collect()
}

fn timeline(events: &[BlockIoEvent]) -> (u64, Vec<Value>) {
    let mut out = Vec::new();
    let mut writer = TimelineWriter::new(&mut out, Box::new(|d| format!("disk {d}"))).unwrap();
    writer.name_cgroup(77, "web");
    for e in events {
        writer.event(e).unwrap();
    }
    let slices = writer.finish().unwrap();
    let doc: Value = serde_json::from_slice(&out).expect("the timeline is JSON");
    assert_eq!(doc["displayTimeUnit"], "ns");
    (slices, doc["traceEvents"].as_array().unwrap().clone())
}

fn phases<'a>(events: &'a [Value], ph: &str) -> Vec<&'a Value> {
    events.iter().filter(|e| e["ph"] == ph).collect()
}

#[test]
fn overlapping_ios_are_async_slices_with_their_queued_stage() {
    // Two I/Os in flight together: the second starts before the first completes.
    let mut events = io_events(0xb1, 0x51, 100, [1_000, 2_000, 3_000, 4_000, 50_000]);
    events.extend(io_events(
        0xb2,
        0x52,
        200,
        [5_000, 6_000, 7_000, 8_000, 30_000],
    ));
    events.sort_by_key(|e| e.time_ns);
    let (slices, trace) = timeline(&events);
    assert_eq!(slices, 2);
    let names = phases(&trace, "M");
    assert_eq!(names.len(), 1);
    assert_eq!(names[0]["args"]["name"], "disk 7,0");
    let begins = phases(&trace, "b");
    let ends = phases(&trace, "e");
    assert_eq!((begins.len(), ends.len()), (4, 4), "{trace:?}");
    let io = begins.iter().find(|b| b["args"]["sector"] == 100).unwrap();
    assert_eq!(io["name"], "WS 4 KiB");
    assert_eq!(io["ts"], 0.0, "times count from the first event");
    assert_eq!(io["args"]["process"], "dd");
    assert_eq!(io["args"]["pid"], 4242);
    assert_eq!(io["args"]["container"], "web");
    assert_eq!(io["args"]["bytes"], 4096);
    let id = &io["id"];
    let of_io: Vec<&Value> = trace.iter().filter(|e| &e["id"] == id).collect();
    let stages: Vec<(&str, &str, f64)> = of_io
        .iter()
        .map(|e| {
            (
                e["ph"].as_str().unwrap(),
                e["name"].as_str().unwrap(),
                e["ts"].as_f64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        stages,
        [
            ("b", "WS 4 KiB", 0.0),
            ("b", "queued", 0.0),
            ("e", "queued", 3.0),
            ("e", "WS 4 KiB", 49.0)
        ]
    );
}

#[test]
fn the_in_flight_counter_follows_issues_and_completions() {
    let mut events = io_events(0xb1, 0x51, 100, [0, 1, 2, 20_000, 100_000]);
    events.extend(io_events(
        0xb2,
        0x52,
        200,
        [21_000, 21_001, 21_002, 40_000, 60_000],
    ));
    events.sort_by_key(|e| e.time_ns);
    let (_, trace) = timeline(&events);
    let counter: Vec<(f64, u64)> = phases(&trace, "C")
        .iter()
        .map(|c| {
            (
                c["ts"].as_f64().unwrap(),
                c["args"]["requests"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(counter, [(20.0, 1), (40.0, 2), (60.0, 1), (100.0, 0)]);
}

#[test]
fn close_changes_keep_the_last_value() {
    // Two issues 1 µs apart: the second waits for the next sample, which writes it first.
    let mut events = io_events(0xb1, 0x51, 100, [0, 1, 2, 3, 100_000]);
    events.extend(io_events(0xb2, 0x52, 200, [4, 5, 6, 1_003, 200_000]));
    events.sort_by_key(|e| e.time_ns);
    let (_, trace) = timeline(&events);
    let counter: Vec<u64> = phases(&trace, "C")
        .iter()
        .map(|c| c["args"]["requests"].as_u64().unwrap())
        .collect();
    assert_eq!(counter, [1, 2, 1, 0], "{trace:?}");
}

#[test]
fn an_io_whose_start_was_not_seen_has_no_slice() {
    let events = io_events(0xb1, 0x51, 100, [0, 1, 2, 3, 4]);
    let (slices, trace) = timeline(&events[4..]);
    assert_eq!(slices, 0);
    assert!(phases(&trace, "b").is_empty());
}

#[test]
fn sizes_are_labelled_in_binary_units() {
    assert_eq!(size_label(512), "512 B");
    assert_eq!(size_label(4096), "4 KiB");
    assert_eq!(size_label(1 << 20), "1 MiB");
    assert_eq!(size_label(3 << 19), "1.5 MiB");
}
