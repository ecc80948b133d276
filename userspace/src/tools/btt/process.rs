//! Processes as btt knows them: named by the trace's process notifies (the name cut at the
//! first '/', so every `kworker/...` is one `kworker`), or `pidNNNNNNNNN` for a pid that never
//! had one. Several pids with one name share one entry.

use std::collections::{BTreeMap, HashMap};

use super::avg::Spans;
use super::ranges::Regions;

/// One process's statistics.
#[derive(Debug, Clone, Default)]
pub struct Process {
    pub pid: u32,
    pub name: Vec<u8>,
    pub spans: Spans,
    pub regions: Regions,
    pub last_q: Option<u64>,
}

/// An index into `Processes`.
pub type ProcessId = usize;

/// Every process, found by pid or by name.
#[derive(Debug, Default)]
pub struct Processes {
    all: Vec<Process>,
    by_pid: HashMap<u32, ProcessId>,
    /// Byte order of names is C's strcmp order, the order btt prints processes in.
    by_name: BTreeMap<Vec<u8>, ProcessId>,
}

impl Processes {
    /// A process-name notify: `pid` is called `name`.
    pub fn named(&mut self, pid: u32, name: &[u8]) {
        let name = if pid == 0 {
            &b"kernel"[..]
        } else {
            name.split(|&c| c == b'/').next().unwrap_or(name)
        };
        if self.find(pid, Some(name)).is_none() {
            self.create(pid, name.to_vec());
        }
    }

    /// The process of an I/O's pid, created as `pidNNNNNNNNN` when unknown.
    pub fn of_pid(&mut self, pid: u32) -> ProcessId {
        if let Some(&id) = self.by_pid.get(&pid) {
            return id;
        }
        self.create(pid, format!("pid{pid:09}").into_bytes())
    }

    /// btt's `find_process` with a name: by pid, else by name (then the pid joins that name).
    fn find(&mut self, pid: u32, name: Option<&[u8]>) -> Option<ProcessId> {
        if let Some(&id) = self.by_pid.get(&pid) {
            return Some(id);
        }
        let id = *self.by_name.get(name?)?;
        self.by_pid.insert(pid, id);
        Some(id)
    }

    fn create(&mut self, pid: u32, name: Vec<u8>) -> ProcessId {
        let id = self.all.len();
        self.by_pid.entry(pid).or_insert(id);
        self.by_name.entry(name.clone()).or_insert(id);
        self.all.push(Process {
            pid,
            name,
            ..Process::default()
        });
        id
    }

    pub fn get_mut(&mut self, id: ProcessId) -> &mut Process {
        &mut self.all[id]
    }

    /// Processes in name order.
    pub fn in_name_order(&self) -> impl Iterator<Item = &Process> {
        self.by_name.values().map(|&id| &self.all[id])
    }

    /// The process called exactly `name`.
    pub fn by_name(&self, name: &[u8]) -> Option<&Process> {
        self.by_name.get(name).map(|&id| &self.all[id])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_cut_and_shared() {
        let mut p = Processes::default();
        p.named(10, b"kworker/0:1");
        p.named(11, b"kworker/1:2");
        p.named(0, b"swapper/0");
        let a = p.of_pid(10);
        let b = p.of_pid(11);
        assert_eq!(a, b);
        let unknown = p.of_pid(77);
        let names: Vec<&[u8]> = p.in_name_order().map(|x| &x.name[..]).collect();
        assert_eq!(names, [&b"kernel"[..], b"kworker", b"pid000000077"]);
        assert_ne!(unknown, a);
    }
}
