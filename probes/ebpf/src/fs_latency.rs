//! fs_latency probes (ext4slower, ext4dist, the exporter): syscall tracepoints time reads, writes, opens and
//! syncs from entry to exit; the file is resolved from the fd in the probe (through BTF
//! offsets) and kept only when it lives on the wanted kind of file system.

use aya_ebpf::{
    Global,
    helpers::{
        bpf_get_current_ancestor_cgroup_id, bpf_get_current_comm, bpf_get_current_pid_tgid,
        bpf_get_current_task, bpf_ktime_get_ns, bpf_probe_read_kernel_str_bytes,
    },
    macros::{map, tracepoint},
    maps::{HashMap, PerCpuArray, PerCpuHashMap, RingBuf},
    programs::TracePointContext,
};
use blkscope_common::block_latency::log2_slot;
use blkscope_common::fs_latency::{
    DIST_SLOTS, FsConfig, FsEntry, FsEvent, FsLayout, FsOp, NAME_LEN, PATH_DEPTH,
};

use crate::block_events::read;

#[unsafe(no_mangle)]
static FS_LATENCY_LAYOUT: Global<FsLayout> = Global::new(FsLayout::EMPTY);

#[unsafe(no_mangle)]
static FS_LATENCY_CONFIG: Global<FsConfig> = Global::new(FsConfig::DEFAULT);

/// Syscalls between entry and exit, by thread id.
#[map]
static FS_LATENCY_ENTRIES: HashMap<u32, FsEntry> = HashMap::with_max_entries(16384, 0);

#[map]
static FS_LATENCY_EVENTS: RingBuf = RingBuf::with_byte_size(4 << 20, 0);

/// Where an event is built (too big for the BPF stack).
#[map]
static FS_LATENCY_SCRATCH: PerCpuArray<FsEvent> = PerCpuArray::with_max_entries(1, 0);

/// ext4dist: log2 histograms by operation.
#[map]
static FS_LATENCY_DIST: PerCpuHashMap<u32, [u64; DIST_SLOTS]> =
    PerCpuHashMap::with_max_entries(8, 0);

/// Events lost (ring buffer full, or an entry that found no room), per CPU.
#[map]
static FS_LATENCY_DROPS: PerCpuArray<u64> = PerCpuArray::with_max_entries(1, 0);

/// Offset of the first syscall argument in a `syscalls:sys_enter_*` record, and of `ret` in a
/// `sys_exit_*` one (checked against the tracefs format files by userspace at start-up).
const ARG0: usize = 16;
/// pread64's `pos`, preadv/preadv2/pwritev/pwritev2's `pos_l`: the fourth argument.
const ARG3: usize = 40;

// ---- entry points ----

#[tracepoint]
pub fn fs_latency_read_enter(ctx: TracePointContext) -> u32 {
    fd_enter(&ctx, FsOp::Read, false);
    0
}

#[tracepoint]
pub fn fs_latency_pread_enter(ctx: TracePointContext) -> u32 {
    fd_enter(&ctx, FsOp::Read, true);
    0
}

#[tracepoint]
pub fn fs_latency_write_enter(ctx: TracePointContext) -> u32 {
    fd_enter(&ctx, FsOp::Write, false);
    0
}

#[tracepoint]
pub fn fs_latency_pwrite_enter(ctx: TracePointContext) -> u32 {
    fd_enter(&ctx, FsOp::Write, true);
    0
}

#[tracepoint]
pub fn fs_latency_sync_enter(ctx: TracePointContext) -> u32 {
    fd_enter(&ctx, FsOp::Fsync, false);
    0
}

#[tracepoint]
pub fn fs_latency_open_enter(_ctx: TracePointContext) -> u32 {
    if task_wanted() {
        remember(FsEntry {
            // SAFETY: a helper without arguments.
            start_ns: unsafe { bpf_ktime_get_ns() },
            file: 0,
            offset: 0,
            op: FsOp::Open as u8,
            _pad: [0; 7],
        });
    }
    0
}

#[tracepoint]
pub fn fs_latency_exit(ctx: TracePointContext) -> u32 {
    syscall_exit(&ctx);
    0
}

// ---- entry and exit ----

#[inline(always)]
fn fd_enter(ctx: &TracePointContext, op: FsOp, positional: bool) {
    if !task_wanted() {
        return;
    }
    let layout = FS_LATENCY_LAYOUT.load();
    // SAFETY: reading the tracepoint record at a field offset.
    let fd: u64 = unsafe { ctx.read_at(ARG0) }.unwrap_or(u64::MAX);
    let file = fd_to_file(&layout, fd);
    if file == 0 || !on_wanted_fs(&layout, file) {
        return;
    }
    let offset = match (op, positional) {
        // SAFETY: as above.
        (_, true) => unsafe { ctx.read_at::<u64>(ARG3) }.unwrap_or(0),
        (FsOp::Fsync, _) => 0,
        _ => read(file, layout.file_pos),
    };
    remember(FsEntry {
        // SAFETY: a helper without arguments.
        start_ns: unsafe { bpf_ktime_get_ns() },
        file,
        offset,
        op: op as u8,
        _pad: [0; 7],
    });
}

#[inline(always)]
fn remember(entry: FsEntry) {
    let tid = bpf_get_current_pid_tgid() as u32;
    if FS_LATENCY_ENTRIES.insert(&tid, &entry, 0).is_err() {
        count_drop();
    }
}

#[inline(always)]
fn syscall_exit(ctx: &TracePointContext) {
    let tid = bpf_get_current_pid_tgid() as u32;
    // SAFETY: the value is copied out before the entry is removed.
    let Some(entry) = (unsafe { FS_LATENCY_ENTRIES.get(&tid) }).copied() else {
        return;
    };
    let _ = FS_LATENCY_ENTRIES.remove(&tid);
    // SAFETY: reading the tracepoint record at a field offset.
    let ret: i64 = unsafe { ctx.read_at(ARG0) }.unwrap_or(-1);
    let layout = FS_LATENCY_LAYOUT.load();
    let file = if entry.op == FsOp::Open as u8 {
        if ret < 0 {
            return;
        }
        let file = fd_to_file(&layout, ret as u64);
        if file == 0 || !on_wanted_fs(&layout, file) {
            return;
        }
        file
    } else {
        entry.file
    };
    // SAFETY: a helper without arguments.
    let now = unsafe { bpf_ktime_get_ns() };
    let latency_ns = now.saturating_sub(entry.start_ns);
    let config = FS_LATENCY_CONFIG.load();
    if config.histograms != 0 {
        add_to_histogram(entry.op, latency_ns / u64::from(config.unit_ns.max(1)));
        return;
    }
    if config.min_latency_ns != 0 && latency_ns <= config.min_latency_ns {
        return;
    }
    send(&layout, &entry, file, now, latency_ns, ret);
}

#[inline(always)]
fn send(layout: &FsLayout, entry: &FsEntry, file: u64, now: u64, latency_ns: u64, ret: i64) {
    let Some(event) = FS_LATENCY_SCRATCH.get_ptr_mut(0) else {
        return;
    };
    let pid_tgid = bpf_get_current_pid_tgid();
    // SAFETY: this CPU's scratch slot; the programs run to completion without preemption.
    let event = unsafe { &mut *event };
    event.timestamp_ns = now;
    event.latency_ns = latency_ns;
    event.offset = entry.offset;
    event.ret = ret;
    event.cgroup_id =
        crate::block_events::current_cgroup(&crate::block_events::KERNEL_LAYOUT.load());
    event.tgid = (pid_tgid >> 32) as u32;
    event.tid = pid_tgid as u32;
    event.op = entry.op;
    event.comm = bpf_get_current_comm().unwrap_or([0; 16]);
    let inode: u64 = read(file, layout.file_inode);
    let sb: u64 = read(inode, layout.inode_sb);
    event.dev = read(sb, layout.sb_dev);
    fill_path(layout, read(file, layout.file_dentry), event);
    if FS_LATENCY_EVENTS.output(event, 0).is_err() {
        count_drop();
    }
}

/// The file's name and its parents', innermost first, until the root or PATH_DEPTH names.
#[inline(always)]
fn fill_path(layout: &FsLayout, mut dentry: u64, event: &mut FsEvent) {
    event.depth = 0;
    event.complete = 0;
    for slot in 0..PATH_DEPTH {
        if dentry == 0 {
            return;
        }
        let name: u64 = read(dentry, layout.dentry_name);
        let buffer: &mut [u8; NAME_LEN] = &mut event.names[slot];
        // SAFETY: bpf_probe_read_kernel_str checks the source address; the buffer is ours.
        if unsafe { bpf_probe_read_kernel_str_bytes(name as *const u8, buffer) }.is_err() {
            buffer[0] = 0;
        }
        event.depth = slot as u8 + 1;
        let parent: u64 = read(dentry, layout.dentry_parent);
        if parent == dentry {
            event.complete = 1;
            return;
        }
        dentry = parent;
    }
}

#[inline(always)]
fn add_to_histogram(op: u8, units: u64) {
    let key = u32::from(op);
    let slot = log2_slot(units, DIST_SLOTS);
    if let Some(histogram) = FS_LATENCY_DIST.get_ptr_mut(&key) {
        // SAFETY: a per-CPU value.
        if let Some(count) = unsafe { (*histogram).get_mut(slot) } {
            *count += 1;
        }
        return;
    }
    let mut first = [0u64; DIST_SLOTS];
    if let Some(count) = first.get_mut(slot) {
        *count = 1;
    }
    if FS_LATENCY_DIST.insert(&key, &first, 0).is_err() {
        count_drop();
    }
}

#[inline(always)]
fn count_drop() {
    if let Some(drops) = FS_LATENCY_DROPS.get_ptr_mut(0) {
        crate::counter::increment(drops);
    }
}

// ---- filters and kernel structs ----

#[inline(always)]
fn task_wanted() -> bool {
    let config = FS_LATENCY_CONFIG.load();
    if config.filter_pid != 0 && (bpf_get_current_pid_tgid() >> 32) as u32 != config.tgid {
        return false;
    }
    if config.filter_cgroup != 0 {
        // SAFETY: reads the current task's cgroup only.
        let ancestor = unsafe { bpf_get_current_ancestor_cgroup_id(config.cgroup_level as i32) };
        return ancestor == config.cgroup_id;
    }
    true
}

/// `current->files->fdt->fd[fd]`, 0 when the fd is not open.
#[inline(always)]
fn fd_to_file(layout: &FsLayout, fd: u64) -> u64 {
    // SAFETY: a helper without arguments.
    let task = unsafe { bpf_get_current_task() };
    let files: u64 = read(task, layout.task_files);
    let fdt: u64 = read(files, layout.files_fdt);
    let max_fds: u32 = read(fdt, layout.fdtable_max_fds);
    if fd >= u64::from(max_fds) {
        return 0;
    }
    let array: u64 = read(fdt, layout.fdtable_fd);
    if array == 0 {
        return 0;
    }
    read(array + fd * 8, 0)
}

/// Whether a file lives on the wanted file system (magic, and device with --mount).
#[inline(always)]
fn on_wanted_fs(layout: &FsLayout, file: u64) -> bool {
    let config = FS_LATENCY_CONFIG.load();
    let inode: u64 = read(file, layout.file_inode);
    let sb: u64 = read(inode, layout.inode_sb);
    if read::<u64>(sb, layout.sb_magic) != config.magic {
        return false;
    }
    config.filter_dev == 0 || read::<u32>(sb, layout.sb_dev) == config.dev
}
