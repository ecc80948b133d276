//! What `check` finds: the kernel's features, each block tracepoint's prototype and the
//! position the probes read, the struct members, the capabilities held (the running kernel
//! only), and per view whether it runs. Everything about the kernel comes from its BTF, so a
//! BTF file of another kernel is answered the same way as the running kernel.

use serde::Serialize;

use crate::kernel::{
    btf_layout::{self, KernelBtf, Param, VMLINUX_BTF},
    checks,
    requirements::{FS_MEMBERS, Feature, ProbeKind},
    tracepoint_args,
};

/// Which probe sets each live view loads; the others (iostat, parse, btt) load none.
pub const VIEWS: [(&str, &[ProbeKind]); 12] = [
    ("trace", &[ProbeKind::BlockEvents]),
    ("record", &[ProbeKind::BlockEvents]),
    ("biosnoop", &[ProbeKind::BlockEvents]),
    ("biotop", &[ProbeKind::TaskIo]),
    ("biolatency", &[ProbeKind::BlockLatency]),
    ("ext4slower", &[ProbeKind::FsLatency]),
    ("ext4dist", &[ProbeKind::FsLatency]),
    ("exporter", &[ProbeKind::BlockLatency]),
    ("iostat --cgroups", &[ProbeKind::TaskIo]),
    ("iostat", &[]),
    ("parse", &[]),
    ("btt", &[]),
];

#[derive(Debug, Serialize)]
pub struct CheckReport {
    pub kernel: KernelSource,
    pub features: Vec<FeatureRow>,
    /// The running kernel only: what this process may do.
    pub privileges: Option<Privileges>,
    pub tracepoints: Vec<TracepointRow>,
    pub members: Vec<MemberRow>,
    pub views: Vec<ViewRow>,
}

#[derive(Debug, Serialize)]
pub struct KernelSource {
    /// `uname -r` of the running kernel, or the release a vmlinux ELF names; none for a raw
    /// BTF file.
    pub release: Option<String>,
    /// Where the BTF was read.
    pub btf: String,
    /// Whether this is the running kernel (no `--btf`).
    pub running: bool,
}

#[derive(Debug, Serialize)]
pub struct FeatureRow {
    pub feature: Feature,
    pub title: &'static str,
    pub since: &'static str,
    pub present: bool,
}

#[derive(Debug, Serialize)]
pub struct Privileges {
    pub capabilities: Vec<&'static str>,
    /// Root, CAP_BPF and CAP_PERFMON, or CAP_SYS_ADMIN.
    pub enough: bool,
    pub problem: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct TracepointRow {
    pub tracepoint: &'static str,
    /// As the BTF has it (`void (*)(void *, struct request *)`); none when missing.
    pub prototype: Option<String>,
    /// The position of the request, bio or queue the probes read.
    pub object_argument: Option<u8>,
    pub error: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct MemberRow {
    pub member: String,
    pub offset: Option<u32>,
    /// Only bio.bi_blkg and what follows it may be missing (kernels without block cgroups).
    pub error: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct ViewRow {
    pub view: &'static str,
    pub probes: Vec<&'static str>,
    pub runs: bool,
    pub reasons: Vec<String>,
}

impl CheckReport {
    /// Reads the BTF (`--btf FILE` or the kernel's own) and answers everything.
    pub fn gather() -> Result<CheckReport, btf_layout::LayoutError> {
        let file = btf_layout::btf_file();
        let btf = KernelBtf::of_kernel()?;
        let running = file.is_none();
        let privileges = running.then(privileges);
        let views = views(&btf, file.is_some(), privileges.as_ref());
        Ok(CheckReport {
            kernel: KernelSource {
                release: match file {
                    None => release(),
                    Some(path) => release_in(path),
                },
                btf: file.map_or_else(|| VMLINUX_BTF.to_owned(), |f| f.display().to_string()),
                running,
            },
            features: Feature::ALL
                .into_iter()
                .map(|feature| FeatureRow {
                    feature,
                    title: feature.title(),
                    since: feature.since(),
                    present: feature.present(&btf),
                })
                .collect(),
            privileges,
            tracepoints: tracepoints(&btf),
            members: members(&btf),
            views,
        })
    }

    pub fn every_view_runs(&self) -> bool {
        self.views.iter().all(|v| v.runs)
    }
}

fn release() -> Option<String> {
    let text = std::fs::read_to_string("/proc/sys/kernel/osrelease").ok()?;
    Some(text.trim().to_owned())
}

/// The release of a vmlinux ELF: its `linux_banner` ("Linux version 6.1.0-57-cloud-amd64 ...").
/// A raw BTF file does not say.
fn release_in(path: &std::path::Path) -> Option<String> {
    use std::io::Read as _;
    const BANNER: &[u8] = b"Linux version ";
    let mut bytes = Vec::new();
    std::fs::File::open(path)
        .ok()?
        .take(1 << 30)
        .read_to_end(&mut bytes)
        .ok()?;
    let at = bytes.windows(BANNER.len()).position(|w| w == BANNER)? + BANNER.len();
    let release: Vec<u8> = bytes[at..]
        .iter()
        .take(128)
        .take_while(|b| b.is_ascii_graphic())
        .copied()
        .collect();
    String::from_utf8(release).ok().filter(|r| !r.is_empty())
}

fn privileges() -> Privileges {
    let problem = checks::check_privileges().err().map(|e| e.to_string());
    Privileges {
        capabilities: checks::held_capabilities(),
        enough: problem.is_none(),
        problem,
    }
}

fn tracepoints(btf: &KernelBtf) -> Vec<TracepointRow> {
    blkscope_common::tracepoint_args::BLOCK_TRACEPOINTS
        .into_iter()
        .map(|tracepoint| {
            let params = btf.tracepoint_params(tracepoint);
            let resolved = tracepoint_args::resolve(btf, tracepoint);
            TracepointRow {
                tracepoint,
                prototype: params.as_deref().map(Param::prototype),
                object_argument: resolved.as_ref().ok().copied(),
                error: resolved.err().map(|e| e.to_string()),
            }
        })
        .collect()
}

fn members(btf: &KernelBtf) -> Vec<MemberRow> {
    btf.block_members()
        .into_iter()
        .chain(FS_MEMBERS)
        .map(|(structure, member)| {
            let offset = btf.offset_of(structure, member);
            MemberRow {
                member: format!("{structure}.{member}"),
                offset: offset.as_ref().ok().copied(),
                error: offset.err().map(|e| e.to_string()),
            }
        })
        .collect()
}

fn views(btf: &KernelBtf, raw: bool, privileges: Option<&Privileges>) -> Vec<ViewRow> {
    VIEWS
        .into_iter()
        .map(|(view, kinds)| {
            let mut reasons: Vec<String> = Vec::new();
            if let Some(problem) = privileges.and_then(|p| p.problem.as_ref())
                && !kinds.is_empty()
            {
                reasons.push(problem.clone());
            }
            for kind in kinds {
                for reason in kind.unmet(btf, raw) {
                    if !reasons.contains(&reason) {
                        reasons.push(reason);
                    }
                }
            }
            ViewRow {
                view,
                probes: kinds.iter().map(|k| k.name()).collect(),
                runs: reasons.is_empty(),
                reasons,
            }
        })
        .collect()
}
