//! Reads what the probes need to know about the running kernel from its BTF
//! (`/sys/kernel/btf/vmlinux`): struct member offsets ([`KernelLayout`]) and the bit positions of
//! the request operation and flags ([`RequestFlagBits`]). Done once at start-up, in one place,
//! so that a field that moved or was renamed between kernel versions is handled here.

use std::path::{Path, PathBuf};

use blkscope_common::{FileLayout, KernelLayout, fs_latency::FsLayout};
use btf_rs::{Btf, BtfType, Type};

use crate::model::event::RequestFlagBits;

/// Where the kernel exposes its own BTF.
pub const VMLINUX_BTF: &str = "/sys/kernel/btf/vmlinux";

#[derive(Debug, thiserror::Error)]
pub enum LayoutError {
    #[error(
        "cannot read the kernel's BTF at {path}: {source} (the kernel needs CONFIG_DEBUG_INFO_BTF=y)"
    )]
    Read {
        path: PathBuf,
        #[source]
        source: btf_rs::Error,
    },
    #[error("{path} holds no BTF: {reason}", path = path.display())]
    NoBtf { path: PathBuf, reason: String },
    #[error("kernel BTF has no struct {0}")]
    MissingStruct(String),
    #[error("kernel BTF: struct {structure} has no member {member}")]
    MissingMember { structure: String, member: String },
    #[error("kernel BTF has no enum value {0}")]
    MissingEnumValue(String),
    #[error("kernel BTF: offset of {0} is not a whole byte")]
    Bitfield(String),
    #[error("kernel BTF is inconsistent: {0}")]
    Btf(#[from] btf_rs::Error),
}

/// `--btf FILE`, set once at start-up by a live view given it.
static BTF_FILE: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();

/// Reads the kernel's types from `path` (a BTFHub-style raw BTF file or a vmlinux ELF) instead
/// of /sys/kernel/btf/vmlinux, for kernels built without it; the probes are then attached as
/// raw tracepoints, which need no BTF in the kernel. The first call wins.
pub fn use_btf_file(path: &Path) {
    let _ = BTF_FILE.set(path.to_owned());
}

/// `--btf FILE`, if a view was given it.
pub fn btf_file() -> Option<&'static Path> {
    BTF_FILE.get().map(PathBuf::as_path)
}

/// The largest BTF file read: a vmlinux ELF is some 50 MB, its BTF some 5 MB.
const MAX_BTF_FILE: u64 = 1 << 30;

const BTF_MAGIC_LE: [u8; 2] = [0x9f, 0xeb];
const BTF_MAGIC_BE: [u8; 2] = [0xeb, 0x9f];

/// A whole file, refusing one larger than `limit`.
fn read_bounded(path: &Path, limit: u64) -> std::io::Result<Vec<u8>> {
    use std::io::Read as _;
    let mut bytes = Vec::new();
    std::fs::File::open(path)?
        .take(limit + 1)
        .read_to_end(&mut bytes)?;
    if bytes.len() as u64 > limit {
        return Err(std::io::Error::other(format!(
            "larger than {} MiB",
            limit >> 20
        )));
    }
    Ok(bytes)
}

/// The `.BTF` section of an ELF file.
fn elf_btf_section(bytes: &[u8]) -> Result<&[u8], String> {
    use object::{Object as _, ObjectSection as _};
    let file = object::File::parse(bytes).map_err(|e| format!("not a readable ELF file: {e}"))?;
    let section = file
        .section_by_name(".BTF")
        .ok_or_else(|| "an ELF file without a .BTF section".to_owned())?;
    section
        .data()
        .map_err(|e| format!("its .BTF section cannot be read: {e}"))
}

/// How the block objects lead to their disk on one kernel (see `KernelLayout`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DiskPaths {
    /// `request_queue.disk` (Linux 5.15 and later).
    pub queue_has_disk: bool,
    /// `bio.bi_bdev` (Linux 5.12 and later).
    pub bio_has_bdev: bool,
}

/// One argument of a tracepoint: how C spells its type, and what it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Param {
    pub text: String,
    kind: ParamKind,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum ParamKind {
    /// A pointer to the struct of this name.
    PointerTo(String),
    /// An integer or enum, whatever its typedef.
    Number,
    Other,
}

impl Param {
    pub fn is_pointer_to(&self, name: &str) -> bool {
        matches!(&self.kind, ParamKind::PointerTo(n) if n == name)
    }

    pub fn is_number(&self) -> bool {
        self.kind == ParamKind::Number
    }

    /// The prototype as the kernel's BTF has it: `void (*)(void *, struct request *)`.
    pub fn prototype(params: &[Param]) -> String {
        let mut text = String::from("void (*)(void *");
        for p in params {
            text.push_str(", ");
            text.push_str(&p.text);
        }
        text.push(')');
        text
    }
}

/// The running kernel's BTF, with the lookups the probes need.
pub struct KernelBtf {
    btf: Btf,
}

impl KernelBtf {
    /// The kernel's BTF: from `--btf FILE` when given, else the kernel's own.
    pub fn of_kernel() -> Result<Self, LayoutError> {
        match btf_file() {
            Some(path) => Self::from_file(path),
            None => Self::from_sys_fs(),
        }
    }

    pub fn from_sys_fs() -> Result<Self, LayoutError> {
        Self::from_file(Path::new(VMLINUX_BTF))
    }

    /// BTF from a file: raw BTF (`/sys/kernel/btf/vmlinux`, BTFHub's `.btf` files) or a vmlinux
    /// ELF with a `.BTF` section.
    pub fn from_file(path: &Path) -> Result<Self, LayoutError> {
        let read_error = |source: std::io::Error| LayoutError::Read {
            path: path.to_owned(),
            source: btf_rs::Error::from(source),
        };
        let bytes = read_bounded(path, MAX_BTF_FILE).map_err(read_error)?;
        let btf_bytes = if bytes.starts_with(b"\x7fELF") {
            elf_btf_section(&bytes).map_err(|reason| LayoutError::NoBtf {
                path: path.to_owned(),
                reason,
            })?
        } else if bytes.starts_with(&BTF_MAGIC_LE) || bytes.starts_with(&BTF_MAGIC_BE) {
            &bytes[..]
        } else {
            return Err(LayoutError::NoBtf {
                path: path.to_owned(),
                reason: "neither raw BTF (magic 0xeb9f) nor an ELF file".to_owned(),
            });
        };
        Self::from_bytes(btf_bytes).map_err(|source| LayoutError::Read {
            path: path.to_owned(),
            source,
        })
    }

    /// BTF from memory (raw BTF).
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, btf_rs::Error> {
        Ok(Self {
            btf: Btf::from_bytes(bytes)?,
        })
    }

    /// Which way each object leads to its disk on this kernel (`KernelLayout`'s `*_direct`
    /// and `queue_via_bdi`): the newest way when its member is there, else the older one.
    pub fn disk_paths(&self) -> DiskPaths {
        let has = |s: &str, m: &str| self.offset_of(s, m).is_ok();
        DiskPaths {
            queue_has_disk: has("request_queue", "disk"),
            bio_has_bdev: has("bio", "bi_bdev"),
        }
    }

    /// The struct members the block probes read on this kernel, by `disk_paths`.
    pub fn block_members(&self) -> Vec<(&'static str, &'static str)> {
        let paths = self.disk_paths();
        let mut members = vec![
            ("request", "q"),
            ("request", "cmd_flags"),
            ("request", "__data_len"),
            ("request", "__sector"),
            ("request", "bio"),
            ("gendisk", "major"),
            ("gendisk", "first_minor"),
            ("bio", "bi_opf"),
            ("bio", "bi_iter.bi_sector"),
            ("bio", "bi_iter.bi_size"),
        ];
        if paths.queue_has_disk {
            members.push(("request_queue", "disk"));
        } else {
            members.extend([
                ("request", "rq_disk"),
                ("request_queue", "backing_dev_info"),
                ("backing_dev_info", "owner"),
                ("device", "devt"),
            ]);
        }
        if paths.bio_has_bdev {
            members.extend([("bio", "bi_bdev"), ("block_device", "bd_disk")]);
        } else {
            members.push(("bio", "bi_disk"));
        }
        members.extend([
            ("bio", "bi_blkg"),
            ("blkcg_gq", "blkcg"),
            ("blkcg", "css.cgroup"),
            ("cgroup", "kn"),
            ("kernfs_node", "id"),
            ("task_struct", "cgroups"),
            ("css_set", "subsys"),
            ("cgroup_subsys_state", "cgroup"),
            ("cgroup_subsys_state", "parent"),
        ]);
        members
    }

    /// Offsets of every member the block probes read.
    pub fn block_layout(&self) -> Result<KernelLayout, LayoutError> {
        let bio_blkg = self.offset_of("bio", "bi_blkg");
        let (bio_blkg, has_blkcg) = match bio_blkg {
            Ok(offset) => (offset, 1),
            // Kernels without CONFIG_BLK_CGROUP: events carry no bio cgroup.
            Err(LayoutError::MissingMember { .. }) => (0, 0),
            Err(other) => return Err(other),
        };
        let (blkg_blkcg, blkcg_css_cgroup) = if has_blkcg == 1 {
            (
                self.offset_of("blkcg_gq", "blkcg")?,
                self.offset_of("blkcg", "css.cgroup")?,
            )
        } else {
            (0, 0)
        };
        let paths = self.disk_paths();
        // Each way to the disk: only its own members must be there.
        let when = |used: bool, structure: &str, member: &str| -> Result<u32, LayoutError> {
            if used {
                self.offset_of(structure, member)
            } else {
                Ok(0)
            }
        };
        let old_queue = !paths.queue_has_disk;
        let old_bio = !paths.bio_has_bdev;
        Ok(KernelLayout {
            request_q: self.offset_of("request", "q")?,
            request_cmd_flags: self.offset_of("request", "cmd_flags")?,
            request_data_len: self.offset_of("request", "__data_len")?,
            request_sector: self.offset_of("request", "__sector")?,
            request_bio: self.offset_of("request", "bio")?,
            request_queue_disk: when(paths.queue_has_disk, "request_queue", "disk")?,
            gendisk_major: self.offset_of("gendisk", "major")?,
            gendisk_first_minor: self.offset_of("gendisk", "first_minor")?,
            block_device_disk: when(paths.bio_has_bdev, "block_device", "bd_disk")?,
            bio_bdev: when(paths.bio_has_bdev, "bio", "bi_bdev")?,
            bio_opf: self.offset_of("bio", "bi_opf")?,
            bio_sector: self.offset_of("bio", "bi_iter.bi_sector")?,
            bio_size: self.offset_of("bio", "bi_iter.bi_size")?,
            bio_blkg,
            blkg_blkcg,
            blkcg_css_cgroup,
            cgroup_kn: self.offset_of("cgroup", "kn")?,
            kernfs_node_id: self.offset_of("kernfs_node", "id")?,
            has_blkcg,
            request_disk_direct: u32::from(old_queue),
            request_rq_disk: when(old_queue, "request", "rq_disk")?,
            bio_disk_direct: u32::from(old_bio),
            bio_disk: when(old_bio, "bio", "bi_disk")?,
            queue_via_bdi: u32::from(old_queue),
            request_queue_bdi: when(old_queue, "request_queue", "backing_dev_info")?,
            bdi_owner: when(old_queue, "backing_dev_info", "owner")?,
            device_devt: when(old_queue, "device", "devt")?,
            blkio_v1: 0,
            task_cgroups: self.offset_of("task_struct", "cgroups")?,
            css_set_io: self.css_set_io()?,
            css_cgroup: self.offset_of("cgroup_subsys_state", "cgroup")?,
            css_parent: self.offset_of("cgroup_subsys_state", "parent")?,
        })
    }

    /// `css_set.subsys[io_cgrp_id]`: where a task's block-controller state is (0 when the
    /// kernel has no block cgroups: the probes then never read it).
    fn css_set_io(&self) -> Result<u32, LayoutError> {
        match self.enum_value("cgroup_subsys_id", "io_cgrp_id") {
            Ok(index) => Ok(self.offset_of("css_set", "subsys")? + 8 * index),
            Err(LayoutError::MissingEnumValue(_)) => Ok(0),
            Err(other) => Err(other),
        }
    }

    /// Where the file of a bio is found (`--file`): its first page, that page's mapping, the
    /// mapping's inode; and for direct I/O the file of the kiocb.
    pub fn file_layout(&self) -> Result<FileLayout, LayoutError> {
        Ok(FileLayout {
            bio_io_vec: self.offset_of("bio", "bi_io_vec")?,
            bio_vec_page: self.offset_of("bio_vec", "bv_page")?,
            page_mapping: self.offset_of("page", "mapping")?,
            mapping_host: self.offset_of("address_space", "host")?,
            inode_ino: self.offset_of("inode", "i_ino")?,
            inode_sb: self.offset_of("inode", "i_sb")?,
            sb_dev: self.offset_of("super_block", "s_dev")?,
            sb_magic: self.offset_of("super_block", "s_magic")?,
            kiocb_filp: self.offset_of("kiocb", "ki_filp")?,
            file_inode: self.offset_of("file", "f_inode")?,
        })
    }

    /// Offsets for the fs_latency probes: from the current task to a file, and from a file to
    /// its super block and its name.
    pub fn fs_layout(&self) -> Result<FsLayout, LayoutError> {
        Ok(FsLayout {
            task_files: self.offset_of("task_struct", "files")?,
            files_fdt: self.offset_of("files_struct", "fdt")?,
            fdtable_max_fds: self.offset_of("fdtable", "max_fds")?,
            fdtable_fd: self.offset_of("fdtable", "fd")?,
            file_inode: self.offset_of("file", "f_inode")?,
            file_pos: self.offset_of("file", "f_pos")?,
            file_dentry: self.offset_of("file", "f_path.dentry")?,
            inode_sb: self.offset_of("inode", "i_sb")?,
            sb_magic: self.offset_of("super_block", "s_magic")?,
            sb_dev: self.offset_of("super_block", "s_dev")?,
            dentry_parent: self.offset_of("dentry", "d_parent")?,
            dentry_name: self.offset_of("dentry", "d_name.name")?,
        })
    }

    /// Positions of the operation and flag bits in `blk_opf_t` (enums `req_op` and
    /// `req_flag_bits`): they have moved between kernel versions.
    pub fn request_flag_bits(&self) -> Result<RequestFlagBits, LayoutError> {
        let bit = |name: &str| self.enum_value("req_flag_bits", name);
        // `enum req_op` since 6.0, `enum req_opf` before.
        let op = |name: &str| {
            self.enum_value("req_op", name)
                .or_else(|_| self.enum_value("req_opf", name))
        };
        let optional_bit = |name: &str| self.enum_value("req_flag_bits", name).ok();
        Ok(RequestFlagBits {
            // The first flag bit follows the REQ_OP_BITS operation bits.
            op_bits: bit("__REQ_FAILFAST_DEV")?,
            op_read: op("REQ_OP_READ")?,
            op_write: op("REQ_OP_WRITE")?,
            op_flush: op("REQ_OP_FLUSH")?,
            op_discard: op("REQ_OP_DISCARD")?,
            op_secure_erase: op("REQ_OP_SECURE_ERASE")?,
            op_write_zeroes: op("REQ_OP_WRITE_ZEROES")?,
            op_drv_in: op("REQ_OP_DRV_IN")?,
            op_drv_out: op("REQ_OP_DRV_OUT")?,
            sync: bit("__REQ_SYNC")?,
            meta: bit("__REQ_META")?,
            fua: bit("__REQ_FUA")?,
            preflush: bit("__REQ_PREFLUSH")?,
            readahead: bit("__REQ_RAHEAD")?,
            background: optional_bit("__REQ_BACKGROUND"),
            nowait: optional_bit("__REQ_NOWAIT"),
            priority: optional_bit("__REQ_PRIO"),
            idle: optional_bit("__REQ_IDLE"),
            nomerge: optional_bit("__REQ_NOMERGE"),
        })
    }

    /// Whether the kernel has the raw (and so BTF) tracepoint `name` (its `btf_trace_NAME`
    /// type, which tp_btf programs attach through).
    pub fn has_raw_tracepoint(&self, name: &str) -> bool {
        self.btf
            .resolve_types_by_name(&format!("btf_trace_{name}"))
            .is_ok_and(|types| !types.is_empty())
    }

    /// The arguments of tracepoint `name` (its `TP_PROTO`), from the `btf_trace_NAME` typedef
    /// (`void (*)(void *, ARGS...)`, the leading `void *` being the tracepoint's own data).
    pub fn tracepoint_params(&self, name: &str) -> Option<Vec<Param>> {
        let types = self
            .btf
            .resolve_types_by_name(&format!("btf_trace_{name}"))
            .ok()?;
        let Some(Type::Typedef(typedef)) = types.into_iter().next() else {
            return None;
        };
        let Type::Ptr(pointer) = self.btf.resolve_type_by_id(typedef.get_type_id()?).ok()? else {
            return None;
        };
        let Type::FuncProto(proto) = self.btf.resolve_type_by_id(pointer.get_type_id()?).ok()?
        else {
            return None;
        };
        let params = proto
            .parameters
            .iter()
            .skip(1)
            .filter_map(|p| p.get_type_id())
            .map(|id| self.param(id))
            .collect();
        Some(params)
    }

    fn param(&self, type_id: u32) -> Param {
        Param {
            text: self.spelling(type_id, 0),
            kind: self.kind_of(type_id),
        }
    }

    /// How C spells a type (`struct request *`, `dev_t`, `unsigned int`).
    fn spelling(&self, type_id: u32, depth: u32) -> String {
        if depth > 16 {
            return "?".to_owned();
        }
        let Ok(t) = self.btf.resolve_type_by_id(type_id) else {
            return "?".to_owned();
        };
        let name = |t: &dyn BtfType| self.btf.resolve_name(t).unwrap_or_default();
        match &t {
            Type::Void => "void".to_owned(),
            Type::Ptr(p) => match p.get_type_id() {
                Some(inner) => format!("{} *", self.spelling(inner, depth + 1)),
                None => "void *".to_owned(),
            },
            Type::Struct(s) => format!("struct {}", name(s)),
            Type::Union(s) => format!("union {}", name(s)),
            Type::Enum(e) => format!("enum {}", name(e)),
            Type::Enum64(e) => format!("enum {}", name(e)),
            Type::Fwd(f) => format!("struct {}", name(f)),
            Type::Const(c) => match c.get_type_id() {
                Some(inner) => format!("const {}", self.spelling(inner, depth + 1)),
                None => "const void".to_owned(),
            },
            Type::Volatile(c) | Type::Restrict(c) => match c.get_type_id() {
                Some(inner) => self.spelling(inner, depth + 1),
                None => "void".to_owned(),
            },
            Type::Int(i) => name(i),
            Type::Typedef(d) => name(d),
            Type::Float(f) => name(f),
            other => other.name().to_owned(),
        }
    }

    /// What a parameter is, through typedefs and qualifiers.
    fn kind_of(&self, type_id: u32) -> ParamKind {
        match self.through_aliases(type_id) {
            Some(Type::Int(_) | Type::Enum(_) | Type::Enum64(_)) => ParamKind::Number,
            Some(Type::Ptr(p)) => p
                .get_type_id()
                .and_then(|id| self.struct_name_behind(id))
                .map_or(ParamKind::Other, ParamKind::PointerTo),
            _ => ParamKind::Other,
        }
    }

    /// The name of the struct a type id names (also a forward declaration).
    fn struct_name_behind(&self, type_id: u32) -> Option<String> {
        match self.through_aliases(type_id)? {
            Type::Struct(s) => self.btf.resolve_name(&s).ok(),
            Type::Fwd(f) => self.btf.resolve_name(&f).ok(),
            _ => None,
        }
    }

    /// The type a type id names, through typedefs, qualifiers and type tags.
    fn through_aliases(&self, mut type_id: u32) -> Option<Type> {
        for _ in 0..16 {
            let t = self.btf.resolve_type_by_id(type_id).ok()?;
            type_id = match &t {
                Type::Typedef(d) => d.get_type_id()?,
                Type::Const(c) | Type::Volatile(c) | Type::Restrict(c) => c.get_type_id()?,
                Type::TypeTag(t) => t.get_type_id()?,
                _ => return Some(t),
            };
        }
        None
    }

    /// Byte offset of `path` (members separated by dots, anonymous structs and unions looked
    /// through) inside `struct name`.
    pub fn offset_of(&self, name: &str, path: &str) -> Result<u32, LayoutError> {
        let mut structure = self.find_struct(name)?;
        let mut offset_bits = 0u32;
        let mut parts = path.split('.').peekable();
        while let Some(member) = parts.next() {
            let (bits, type_id) =
                self.find_member(&structure, member)
                    .ok_or_else(|| LayoutError::MissingMember {
                        structure: name.to_owned(),
                        member: path.to_owned(),
                    })?;
            offset_bits += bits;
            if parts.peek().is_some() {
                structure =
                    self.struct_behind(type_id)
                        .ok_or_else(|| LayoutError::MissingMember {
                            structure: name.to_owned(),
                            member: path.to_owned(),
                        })?;
            }
        }
        if !offset_bits.is_multiple_of(8) {
            return Err(LayoutError::Bitfield(format!("{name}.{path}")));
        }
        Ok(offset_bits / 8)
    }

    /// Whether the BTF has a struct of this name with members (not only a declaration).
    pub fn has_struct(&self, name: &str) -> bool {
        self.find_struct(name).is_ok()
    }

    fn find_struct(&self, name: &str) -> Result<btf_rs::Struct, LayoutError> {
        let types = self.btf.resolve_types_by_name(name).unwrap_or_default();
        types
            .into_iter()
            .find_map(|t| match t {
                Type::Struct(s) if !s.members.is_empty() => Some(s),
                _ => None,
            })
            .ok_or_else(|| LayoutError::MissingStruct(name.to_owned()))
    }

    /// Finds `member` in a struct or union, descending into anonymous members; returns its bit
    /// offset from the start of `structure` and its type id.
    fn find_member(&self, structure: &btf_rs::Struct, member: &str) -> Option<(u32, u32)> {
        for m in &structure.members {
            let name = self.btf.resolve_name(m).unwrap_or_default();
            let type_id = m.get_type_id()?;
            if name == member {
                return Some((m.bit_offset(), type_id));
            }
            if name.is_empty()
                && let Some(inner) = self.struct_behind(type_id)
                && let Some((bits, id)) = self.find_member(&inner, member)
            {
                return Some((m.bit_offset() + bits, id));
            }
        }
        None
    }

    /// The struct or union a type id names, through typedefs and qualifiers.
    fn struct_behind(&self, type_id: u32) -> Option<btf_rs::Struct> {
        match self.through_aliases(type_id)? {
            Type::Struct(s) | Type::Union(s) => Some(s),
            _ => None,
        }
    }

    pub fn enum_value(&self, enum_name: &str, value_name: &str) -> Result<u32, LayoutError> {
        let missing = || LayoutError::MissingEnumValue(format!("{enum_name}::{value_name}"));
        let types = self
            .btf
            .resolve_types_by_name(enum_name)
            .map_err(|_| missing())?;
        for t in types {
            if let Type::Enum(e) = t {
                for m in &e.members {
                    if self.btf.resolve_name(m).ok().as_deref() == Some(value_name) {
                        return Ok(m.val());
                    }
                }
            }
        }
        Err(missing())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kernel_btf() -> KernelBtf {
        // Every machine of this project has BTF (ENVIRONMENT.md); without it this fails loudly.
        KernelBtf::from_sys_fs().expect("the running kernel's BTF")
    }

    #[test]
    fn layout_of_running_kernel_is_complete_and_plausible() {
        let layout = kernel_btf().block_layout().expect("block layout");
        // `q` is the first member of struct request, `bi_next` the first of struct bio.
        assert_eq!(layout.request_q, 0);
        assert!(layout.bio_bdev > 0 && layout.bio_bdev < 64);
        assert!(layout.bio_sector > layout.bio_opf);
        assert_eq!(
            layout.bio_size,
            layout.bio_sector + 8,
            "bi_size follows the u64 bi_sector"
        );
        assert!(layout.request_sector > layout.request_data_len);
    }

    #[test]
    fn fs_layout_of_running_kernel_resolves() {
        let layout = kernel_btf().fs_layout().expect("fs layout");
        assert!(layout.file_dentry > layout.file_inode || layout.file_dentry > 0);
        assert_eq!(layout.dentry_name % 8, 0, "a pointer is 8-byte aligned");
    }

    #[test]
    fn flag_bits_match_the_documented_kernel_values() {
        let bits = kernel_btf().request_flag_bits().expect("flag bits");
        assert_eq!(bits.op_read, 0);
        assert_eq!(bits.op_write, 1);
        assert_eq!(bits.op_bits, 8, "REQ_OP_BITS has been 8 since Linux 4.10");
        assert!(bits.sync > bits.op_bits && bits.fua > bits.sync);
    }

    #[test]
    fn missing_member_names_struct_and_member() {
        let err = kernel_btf().offset_of("bio", "no_such_member").unwrap_err();
        assert_eq!(
            err.to_string(),
            "kernel BTF: struct bio has no member no_such_member"
        );
        let err = kernel_btf()
            .offset_of("no_such_struct_xyz", "a")
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "kernel BTF has no struct no_such_struct_xyz"
        );
    }

    /// A kernel whose struct bio has no `bi_iter`: the layout names what is missing.
    #[test]
    fn a_kernel_missing_a_member_is_named() {
        use crate::kernel::btf_fixture::BtfBuilder;
        let mut b = BtfBuilder::new();
        let word = b.int("long long unsigned int", 8);
        let word_members = |names: &[&'static str]| -> Vec<(&'static str, u32, u32)> {
            names
                .iter()
                .enumerate()
                .map(|(i, n)| (*n, word, i as u32 * 8))
                .collect()
        };
        let request = word_members(&["q", "cmd_flags", "__data_len", "__sector", "bio"]);
        b.structure("request", 40, &request);
        b.structure("request_queue", 8, &word_members(&["disk"]));
        b.structure("gendisk", 16, &word_members(&["major", "first_minor"]));
        b.structure("block_device", 8, &word_members(&["bd_disk"]));
        b.structure("bio", 16, &word_members(&["bi_bdev", "bi_opf"]));
        let btf = KernelBtf::from_bytes(&b.build()).expect("a readable BTF blob");
        let err = btf.block_layout().unwrap_err();
        assert_eq!(
            err.to_string(),
            "kernel BTF: struct bio has no member bi_iter.bi_sector"
        );
        // Offsets that are there are read from the blob, not from the running kernel.
        assert_eq!(btf.offset_of("request", "bio").unwrap(), 32);
    }

    #[test]
    fn a_file_without_btf_is_a_clear_error() {
        let err = KernelBtf::from_file(Path::new("/etc/hostname"))
            .err()
            .expect("error");
        assert!(
            err.to_string().starts_with("/etc/hostname holds no BTF"),
            "{err}"
        );
        let raw = KernelBtf::from_file(Path::new(VMLINUX_BTF)).expect("raw BTF");
        assert!(raw.has_raw_tracepoint("block_rq_issue"));
    }

    #[test]
    fn unreadable_btf_file_is_a_clear_error() {
        let err = KernelBtf::from_file(Path::new("/nonexistent/vmlinux"))
            .err()
            .expect("error");
        assert!(err.to_string().contains("/nonexistent/vmlinux"), "{err}");
    }
}
