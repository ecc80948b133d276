//! Proof that the live block-event pipeline is exact: a workload of known direct reads and
//! writes on a guarded loop device, traced by blkscope's probes, by the kernel's own blktrace
//! engine (ftrace `blk`), and counted by /proc/diskstats. All three must agree.

use std::{collections::BTreeMap, time::Duration};

use blkscope::{
    kernel::{BlockTraceOptions, BlockTracer, DropCounts},
    model::event::{Action, BlockIoEvent, Operation},
    model::inflight::RequestTracker,
};
use blkscope_tests::{
    Cgroup, DiskCounters, KernelBlkTracer, LoopDevice, serial, workload::DirectIo,
};

const KIB: u64 = 1024;
const MIB: u64 = 1024 * KIB;

/// Traces `device` while `work` runs on another thread; returns the events, drops and what the
/// workload returned. Stops only after the workload ended and the stragglers were drained.
fn trace_while<T: Send + 'static>(
    disk: &LoopDevice,
    work: impl FnOnce(String) -> T + Send + 'static,
) -> (Vec<BlockIoEvent>, DropCounts, T) {
    let runtime = blkscope::run::stop::runtime().expect("tokio runtime");
    let options = BlockTraceOptions {
        devices: vec![disk.device_id()],
        ..BlockTraceOptions::default()
    };
    let device = disk.path_str().to_owned();
    runtime.block_on(async move {
        let mut tracer = BlockTracer::start(&options).expect("starting the block probes");
        let worker = std::thread::spawn(move || work(device));
        let mut events = Vec::new();
        while !worker.is_finished() {
            tokio::select! {
                read = tracer.next_batch(&mut events) => read.expect("reading the ring buffer"),
                () = tokio::time::sleep(Duration::from_millis(20)) => {}
            }
        }
        // Completions of the last I/O are already in; give interrupts a moment anyway.
        tokio::time::sleep(Duration::from_millis(200)).await;
        events.extend(tracer.stop());
        let drops = tracer.drops().expect("reading drop counters");
        (events, drops, worker.join().expect("workload thread"))
    })
}

fn known_workload() -> Vec<DirectIo> {
    vec![
        DirectIo::read(0, 4 * KIB),
        DirectIo::read(MIB, 8 * KIB),
        DirectIo::read(3 * MIB, 64 * KIB),
        DirectIo::read(5 * MIB + 512, 1536),
        DirectIo::write(2 * MIB, 4 * KIB),
        DirectIo::write(7 * MIB, 16 * KIB),
        DirectIo::write(9 * MIB + 4096, 32 * KIB),
    ]
}

#[test]
fn completions_match_workload_diskstats_and_the_kernels_blktrace() {
    let _serial = serial();
    let disk = LoopDevice::new(64);
    let ios = known_workload();
    let before = DiskCounters::read(disk.name());
    let kernel = KernelBlkTracer::start(disk.name());
    let ios_for_worker = ios.clone();
    let (events, drops, pids) = trace_while(&disk, move |device| {
        ios_for_worker
            .iter()
            .map(|io| io.run(&device))
            .collect::<Vec<u32>>()
    });
    let kernel_records = kernel.stop();
    let after = DiskCounters::read(disk.name());

    assert_eq!(drops.total(), 0, "events were dropped: {drops:?}");
    assert!(
        events.iter().all(|e| e.device == disk.device_id()),
        "events of another device"
    );

    // 1. Exactly the workload's completions, each attributed to the dd that issued it.
    let mut tracker = RequestTracker::new();
    let mut seen: Vec<(u64, u32, bool, u32, String)> = events
        .iter()
        .filter_map(|e| tracker.observe(e))
        .map(|c| {
            let issuer = c.issuer.expect("every completion has a queueing task");
            (
                c.sector,
                c.bytes,
                c.op == Operation::Write,
                issuer.tgid,
                issuer.comm.to_string(),
            )
        })
        .collect();
    let mut expected: Vec<(u64, u32, bool, u32, String)> = ios
        .iter()
        .zip(&pids)
        .map(|(io, pid)| {
            (
                io.sector(),
                io.bytes as u32,
                io.write,
                *pid,
                "dd".to_owned(),
            )
        })
        .collect();
    seen.sort();
    expected.sort();
    assert_eq!(
        seen, expected,
        "completions (sector, bytes, write, pid, comm)"
    );

    // 2. The kernel counted the same number of completions.
    let completions = events
        .iter()
        .filter(|e| e.action == Action::Complete)
        .count() as u64;
    assert_eq!(
        after.completions() - before.completions(),
        completions,
        "/proc/diskstats completions vs C events ({before:?} -> {after:?})"
    );

    // 3. The same Q/G/D/C records as the kernel's own blktrace engine, pid and rwbs included.
    let ours = record_counts(events.iter().filter_map(|e| {
        let letter = e.action.letters();
        matches!(letter, "Q" | "G" | "D" | "C")
            .then(|| (letter.to_owned(), e.rwbs(), e.sector, e.sectors(), e.pid))
    }));
    let theirs = record_counts(kernel_records.into_iter().filter_map(|r| {
        matches!(r.action.as_str(), "Q" | "G" | "D" | "C")
            .then_some((r.action, r.rwbs, r.sector, r.sectors, r.pid))
    }));
    assert_eq!(
        ours, theirs,
        "Q/G/D/C records: blkscope vs ftrace blk tracer"
    );
    assert_eq!(theirs.values().sum::<usize>(), 4 * ios.len());
}

type Record = (String, String, u64, u64, u32);

fn record_counts(records: impl Iterator<Item = Record>) -> BTreeMap<Record, usize> {
    let mut counts = BTreeMap::new();
    for r in records {
        *counts.entry(r).or_insert(0) += 1;
    }
    counts
}

#[test]
fn events_carry_the_issuing_tasks_cgroup() {
    let _serial = serial();
    let disk = LoopDevice::new(16);
    let cgroup = Cgroup::new("pipeline");
    let procs = cgroup.procs_path();
    let (events, _, ()) = trace_while(&disk, move |device| {
        // The shell moves itself into the cgroup, then becomes dd: the I/O is issued inside.
        let script = format!(
            "echo $$ > {procs} && exec dd if={device} of=/dev/null bs=4096 count=1 skip=9 iflag=direct"
        );
        let status = std::process::Command::new("sh")
            .args(["-c", &script])
            .stderr(std::process::Stdio::null())
            .status()
            .expect("sh");
        assert!(status.success(), "dd in cgroup failed");
    });
    let queued: Vec<&BlockIoEvent> = events
        .iter()
        .filter(|e| e.action == Action::Queue && e.sector == 72)
        .collect();
    assert_eq!(queued.len(), 1, "one Q for the read: {events:#?}");
    assert_eq!(queued[0].comm, "dd");
    assert_eq!(
        queued[0].cgroup_id,
        cgroup.id(),
        "cgroup id of the issuing task"
    );
}

#[test]
fn a_full_ring_buffer_drops_are_counted_not_lost_silently() {
    let _serial = serial();
    let disk = LoopDevice::new(16);
    let kernel = KernelBlkTracer::start(disk.name());
    let runtime = blkscope::run::stop::runtime().expect("tokio runtime");
    let (received, drops) = runtime.block_on(async {
        // One page of ring buffer, not read while the workload runs: most events must drop.
        let options = BlockTraceOptions {
            devices: vec![disk.device_id()],
            ring_bytes: 4096,
            ..BlockTraceOptions::default()
        };
        let mut tracer = BlockTracer::start(&options).expect("starting the block probes");
        for i in 0..40 {
            DirectIo::read(i * 8192, 4096).run(disk.path_str());
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
        let received = tracer.stop();
        (received, tracer.drops().expect("drop counters"))
    });
    let logged_by_kernel = kernel.stop_counting();
    assert!(
        drops.total() > 0,
        "a 4 KiB ring buffer held {} events",
        received.len()
    );
    assert_eq!(
        received.len() as u64 + drops.total(),
        logged_by_kernel as u64,
        "received + dropped must account for every event the kernel's blktrace logged ({drops:?})"
    );
}
