//! Made-up but well-formed traces: every action and payload kind, several CPUs and devices,
//! in time order. For tests against stock blkparse, fuzz seeds and parser benchmarks.

use super::format::{MAGIC, Remap, Trace, TraceHeader, VERSION, act, category, make_dev, notify};

/// What to put in a synthetic trace.
#[derive(Debug, Clone)]
pub struct SyntheticSpec {
    pub ios: usize,
    pub cpus: u32,
    /// dev_t of the traced devices.
    pub devices: Vec<u32>,
    pub seed: u64,
    /// Include PC (SCSI command) requests.
    pub pc: bool,
    /// Include message notifies.
    pub messages: bool,
    /// Include a timestamp notify first.
    pub timestamp: bool,
    /// Drop some records (sequence gaps, as a lossy trace has).
    pub gaps: bool,
    /// Include driver-data records (binary only).
    pub drv_data: bool,
    /// Give records the cgroup flag and id (blkparse 1.2 cannot print those).
    pub cgroup: bool,
}

impl Default for SyntheticSpec {
    fn default() -> Self {
        SyntheticSpec {
            ios: 1000,
            cpus: 2,
            devices: vec![make_dev(7, 1)],
            seed: 1,
            pc: true,
            messages: true,
            timestamp: true,
            gaps: false,
            drv_data: false,
            cgroup: false,
        }
    }
}

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        // xorshift64*: enough to vary the workload, the same on every machine.
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }

    fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
}

const COMMS: [&str; 6] = [
    "dd",
    "fio",
    "kworker/1:1H-kb",
    "jbd2/loop1-8",
    "postgres",
    "a-very-long-process-name",
];

/// The records of a synthetic trace, in time order, with per-CPU sequence numbers.
pub fn generate(spec: &SyntheticSpec) -> Vec<Trace> {
    let mut g = Gen {
        rng: Rng(spec.seed.max(1)),
        spec,
        out: Vec::new(),
        time: 1_000_000_000_000 + spec.seed * 1000,
        seq: vec![0; spec.cpus.max(1) as usize],
        named: Vec::new(),
    };
    if spec.timestamp {
        let mut pdu = Vec::new();
        pdu.extend_from_slice(&1_700_000_000u32.to_ne_bytes());
        pdu.extend_from_slice(&123_456_789u32.to_ne_bytes());
        g.push(0, notify::TIMESTAMP, 0, 0, 0, spec.devices[0], pdu);
    }
    for n in 0..spec.ios {
        g.one_io(n);
    }
    g.out
}

struct Gen<'a> {
    rng: Rng,
    spec: &'a SyntheticSpec,
    out: Vec<Trace>,
    time: u64,
    seq: Vec<u32>,
    named: Vec<(u32, u32)>,
}

impl Gen<'_> {
    #[allow(clippy::too_many_arguments)]
    fn push(
        &mut self,
        cpu: u32,
        action: u32,
        pid: u32,
        sector: u64,
        bytes: u32,
        device: u32,
        pdu: Vec<u8>,
    ) {
        self.time += 1 + self.rng.below(20_000);
        let c = cpu as usize % self.seq.len();
        self.seq[c] += 1;
        if self.spec.gaps && self.rng.chance(1) {
            return;
        }
        let mut action = action;
        let mut pdu = pdu;
        if self.spec.cgroup && action & (category::NOTIFY << category::SHIFT) == 0 {
            action |= act::CGROUP;
            let mut with_id = ((u64::from(pid % 7 + 1) << 32) | (0x1000 + u64::from(pid % 5)))
                .to_ne_bytes()
                .to_vec();
            with_id.extend_from_slice(&pdu);
            pdu = with_id;
        }
        self.out.push(Trace {
            header: TraceHeader {
                magic: MAGIC | VERSION,
                sequence: self.seq[c],
                time: self.time,
                sector,
                bytes,
                action,
                pid,
                device,
                cpu,
                error: if self.rng.chance(2) { 5 } else { 0 },
                pdu_len: pdu.len() as u16,
            },
            pdu,
        });
    }

    /// A record about one I/O (sector, bytes, device) without payload.
    fn io(&mut self, cpu: u32, action: u32, pid: u32, (sector, bytes, device): (u64, u32, u32)) {
        self.push(cpu, action, pid, sector, bytes, device, Vec::new());
    }

    fn name(&mut self, cpu: u32, pid: u32, device: u32) {
        if self.named.contains(&(cpu, pid)) {
            return;
        }
        self.named.push((cpu, pid));
        let comm = COMMS[pid as usize % COMMS.len()];
        let mut pdu = comm.as_bytes().to_vec();
        pdu.resize(16, 0);
        self.push(cpu, notify::PROCESS, pid, 0, 0, device, pdu);
    }

    fn one_io(&mut self, n: usize) {
        let spec = self.spec;
        let cpu = self.rng.below(u64::from(spec.cpus.max(1))) as u32;
        let device = spec.devices[self.rng.below(spec.devices.len() as u64) as usize];
        let pid = 100 + self.rng.below(9) as u32;
        self.name(cpu, pid, device);
        let write = self.rng.chance(50);
        let mut cats = if write {
            category::WRITE
        } else {
            category::READ
        };
        for (bit, p) in [
            (category::SYNC, 30),
            (category::META, 10),
            (category::AHEAD, 5),
            (category::FUA, 3),
            (category::FLUSH, 3),
        ] {
            if self.rng.chance(p) {
                cats |= bit;
            }
        }
        if self.rng.chance(3) {
            cats = category::DISCARD | category::WRITE;
        }
        let sector = self.rng.below(1 << 30);
        let bytes = (1 + self.rng.below(256) as u32) * 512;
        let a = |basic: u32, c: u32| basic | (c << category::SHIFT);
        if spec.pc && self.rng.chance(5) {
            let cdb = vec![
                0x28,
                0,
                (sector >> 8) as u8,
                sector as u8,
                0,
                0,
                0,
                8,
                0,
                0,
                0,
                0,
                0,
                0,
                0,
                0,
            ];
            let pc = cats | category::PC;
            self.push(
                cpu,
                a(act::QUEUE, pc | category::QUEUE),
                pid,
                0,
                bytes,
                device,
                Vec::new(),
            );
            self.push(
                cpu,
                a(act::INSERT, pc | category::QUEUE),
                pid,
                0,
                bytes,
                device,
                cdb.clone(),
            );
            self.push(
                cpu,
                a(act::ISSUE, pc | category::ISSUE),
                pid,
                0,
                bytes,
                device,
                cdb.clone(),
            );
            if self.rng.chance(20) {
                self.push(
                    cpu,
                    a(act::REQUEUE, pc | category::REQUEUE),
                    pid,
                    0,
                    bytes,
                    device,
                    Vec::new(),
                );
                self.push(
                    cpu,
                    a(act::ISSUE, pc | category::ISSUE),
                    pid,
                    0,
                    bytes,
                    device,
                    cdb.clone(),
                );
            }
            self.push(
                cpu,
                a(act::COMPLETE, pc | category::COMPLETE),
                pid,
                0,
                bytes,
                device,
                cdb,
            );
            return;
        }
        let fs = cats | category::FS;
        let io = (sector, bytes, device);
        if self.rng.chance(10) {
            let remap = Remap {
                device_from: make_dev(259, 1 + self.rng.below(3) as u32),
                device_to: device,
                sector_from: sector / 2,
            };
            self.push(
                cpu,
                a(act::REMAP, fs | category::QUEUE),
                pid,
                sector,
                bytes,
                device,
                remap.encode().to_vec(),
            );
        }
        self.io(cpu, a(act::QUEUE, fs | category::QUEUE), pid, io);
        if self.rng.chance(5) {
            let at = (sector + u64::from(bytes >> 10)) as u32;
            self.push(
                cpu,
                a(act::SPLIT, fs),
                pid,
                sector,
                bytes,
                device,
                u64::from(at).to_be_bytes().to_vec(),
            );
        }
        if self.rng.chance(3) {
            self.io(cpu, a(act::BOUNCE, fs), pid, io);
        }
        if self.rng.chance(15) {
            let front = self.rng.chance(30);
            let basic = if front {
                act::FRONTMERGE
            } else {
                act::BACKMERGE
            };
            self.push(
                cpu,
                a(basic, fs | category::QUEUE),
                pid,
                sector + 8,
                4096,
                device,
                Vec::new(),
            );
        }
        if self.rng.chance(2) {
            self.io(cpu, a(act::SLEEPRQ, fs | category::QUEUE), pid, io);
        }
        self.io(cpu, a(act::GETRQ, fs | category::QUEUE), pid, io);
        self.push(
            cpu,
            a(act::PLUG, category::QUEUE),
            pid,
            0,
            0,
            device,
            Vec::new(),
        );
        let depth = 1 + self.rng.below(4);
        let unplug = if self.rng.chance(20) {
            act::UNPLUG_TIMER
        } else {
            act::UNPLUG_IO
        };
        self.push(
            cpu,
            a(unplug, category::QUEUE),
            pid,
            0,
            0,
            device,
            depth.to_be_bytes().to_vec(),
        );
        if self.rng.chance(70) {
            self.io(cpu, a(act::INSERT, fs | category::QUEUE), pid, io);
        }
        let issuer = if self.rng.chance(30) { 44 } else { pid };
        self.name(cpu, issuer, device);
        self.io(cpu, a(act::ISSUE, fs | category::ISSUE), issuer, io);
        if self.rng.chance(3) {
            self.io(cpu, a(act::REQUEUE, fs | category::REQUEUE), issuer, io);
            self.io(cpu, a(act::ISSUE, fs | category::ISSUE), issuer, io);
        }
        if spec.drv_data && self.rng.chance(3) {
            self.push(
                cpu,
                a(act::DRV_DATA, category::DRV_DATA),
                issuer,
                sector,
                0,
                device,
                vec![1, 2, 3, 4],
            );
        }
        let done_cpu = self.rng.below(u64::from(spec.cpus.max(1))) as u32;
        self.io(done_cpu, a(act::COMPLETE, fs | category::COMPLETE), 0, io);
        if spec.messages && n % 97 == 5 {
            let text = format!("synthetic message {n}");
            self.push(cpu, notify::MESSAGE, 0, 0, 0, device, text.into_bytes());
        }
    }
}
