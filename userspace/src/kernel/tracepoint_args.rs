//! Where each `block:` tracepoint's arguments are on this kernel, from its BTF prototype
//! (`btf_trace_<name>`: `void (*)(void *, ARGS...)`). Each tracepoint has one known shape per
//! kernel era: Linux 5.11 dropped the leading `struct request_queue *` (and the `struct request *`
//! of the bio merges); `block_bio_complete` kept its queue. The probes read the object (request,
//! bio or queue) and the numbers right after it, so what they need is the object's position.
//! A prototype of any other shape is refused by name rather than read wrongly.

use blkscope_common::tracepoint_args::{BLOCK_TRACEPOINTS, MAX_ARG_POSITION, TracepointArgs};

use crate::kernel::btf_layout::{KernelBtf, Param};

/// A tracepoint whose prototype blkscope cannot read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PrototypeError {
    #[error("the kernel has no tracepoint block:{0}")]
    Missing(String),
    #[error(
        "tracepoint block:{tracepoint} has a prototype blkscope does not know: {prototype} \
         (expected {expected} with only queue or request pointers before it)"
    )]
    UnknownShape {
        tracepoint: String,
        prototype: String,
        expected: String,
    },
}

/// What a probe reads from an argument.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Reads {
    /// A pointer to this struct.
    Pointer(&'static str),
    /// An integer (dev_t, sector_t, a status, a count, a flag).
    Number,
}

use Reads::{Number, Pointer};

const REQUEST: Reads = Pointer("request");
const BIO: Reads = Pointer("bio");
const QUEUE: Reads = Pointer("request_queue");

/// Per tracepoint, the arguments the probes read, from the object on.
fn reads(tracepoint: &str) -> Option<&'static [Reads]> {
    Some(match tracepoint {
        "block_bio_queue"
        | "block_bio_backmerge"
        | "block_bio_frontmerge"
        | "block_getrq"
        | "block_bio_complete" => &[BIO],
        "block_split" => &[BIO, Number],
        "block_bio_remap" => &[BIO, Number, Number],
        "block_rq_insert" | "block_rq_issue" | "block_rq_merge" | "block_rq_requeue" => &[REQUEST],
        "block_rq_complete" | "block_rq_remap" => &[REQUEST, Number, Number],
        "block_plug" => &[QUEUE],
        "block_unplug" => &[QUEUE, Number, Number],
        _ => return None,
    })
}

/// The position of the object a probe of `tracepoint` reads, in this prototype.
pub fn object_position(tracepoint: &str, params: &[Param]) -> Result<u8, PrototypeError> {
    let unknown = || PrototypeError::UnknownShape {
        tracepoint: tracepoint.to_owned(),
        prototype: Param::prototype(params),
        expected: reads(tracepoint).map_or_else(|| "?".to_owned(), describe),
    };
    let wanted = reads(tracepoint).ok_or_else(unknown)?;
    let matches = |param: &Param, reads: &Reads| match reads {
        Pointer(name) => param.is_pointer_to(name),
        Number => param.is_number(),
    };
    let position = params
        .iter()
        .position(|p| matches(p, &wanted[0]))
        .ok_or_else(unknown)?;
    // Before it, only what older kernels passed first: the queue, the request a bio merges into.
    let prefix_known = params[..position]
        .iter()
        .all(|p| p.is_pointer_to("request_queue") || p.is_pointer_to("request"));
    let rest_matches = wanted
        .iter()
        .enumerate()
        .all(|(k, r)| params.get(position + k).is_some_and(|p| matches(p, r)));
    if !prefix_known || !rest_matches || position + wanted.len() - 1 > MAX_ARG_POSITION {
        return Err(unknown());
    }
    u8::try_from(position).map_err(|_| unknown())
}

fn describe(reads: &[Reads]) -> String {
    let words: Vec<String> = reads
        .iter()
        .map(|r| match r {
            Pointer(name) => format!("struct {name} *"),
            Number => "an integer".to_owned(),
        })
        .collect();
    format!("({})", words.join(", "))
}

/// The position of the object of one tracepoint on this kernel.
pub fn resolve(btf: &KernelBtf, tracepoint: &str) -> Result<u8, PrototypeError> {
    let params = btf
        .tracepoint_params(tracepoint)
        .ok_or_else(|| PrototypeError::Missing(tracepoint.to_owned()))?;
    object_position(tracepoint, &params)
}

/// The positions of every block tracepoint, for the probes. A tracepoint that cannot be
/// resolved keeps the 5.11 position: the views that attach it were refused before loading
/// (`Preflight::probe_set`), so nothing reads it.
pub fn tracepoint_args(btf: &KernelBtf) -> TracepointArgs {
    let mut args = TracepointArgs::SINCE_5_11;
    for (i, name) in BLOCK_TRACEPOINTS.iter().enumerate() {
        if let Ok(position) = resolve(btf, name) {
            args.first[i] = position;
        }
    }
    args
}

#[cfg(test)]
mod tests {
    use blkscope_common::tracepoint_args::tracepoint as tp;

    use super::*;
    use crate::kernel::btf_fixture::BtfBuilder;

    /// The struct pointers and integer types the block tracepoints pass.
    struct Types {
        queue: u32,
        request: u32,
        bio: u32,
        int: u32,
        uint: u32,
        dev_t: u32,
        sector_t: u32,
        bool_: u32,
    }

    fn types(b: &mut BtfBuilder) -> Types {
        let int = b.int("int", 4);
        let uint = b.int("unsigned int", 4);
        let u64_ = b.int("long long unsigned int", 8);
        let bool_ = b.int("_Bool", 1);
        let u32_ = b.typedef("u32", uint);
        let queue = b.structure("request_queue", 8, &[("queuedata", u64_, 0)]);
        let request = b.structure("request", 8, &[("q", u64_, 0)]);
        let bio = b.structure("bio", 8, &[("bi_next", u64_, 0)]);
        Types {
            queue: b.ptr(queue),
            request: b.ptr(request),
            bio: b.ptr(bio),
            int,
            uint,
            dev_t: b.typedef("dev_t", u32_),
            sector_t: b.typedef("sector_t", u64_),
            bool_,
        }
    }

    /// Linux 5.10's block tracepoints (include/trace/events/block.h of v5.10).
    fn linux_5_10() -> KernelBtf {
        let mut b = BtfBuilder::new();
        let t = types(&mut b);
        for name in [
            "block_rq_insert",
            "block_rq_issue",
            "block_rq_merge",
            "block_rq_requeue",
        ] {
            b.tracepoint(name, &[t.queue, t.request]);
        }
        b.tracepoint("block_rq_complete", &[t.request, t.int, t.uint]);
        b.tracepoint("block_rq_remap", &[t.queue, t.request, t.dev_t, t.sector_t]);
        b.tracepoint("block_bio_complete", &[t.queue, t.bio]);
        b.tracepoint("block_bio_queue", &[t.queue, t.bio]);
        b.tracepoint("block_bio_backmerge", &[t.queue, t.request, t.bio]);
        b.tracepoint("block_bio_frontmerge", &[t.queue, t.request, t.bio]);
        b.tracepoint("block_getrq", &[t.queue, t.bio, t.int]);
        b.tracepoint("block_split", &[t.queue, t.bio, t.uint]);
        b.tracepoint("block_bio_remap", &[t.queue, t.bio, t.dev_t, t.sector_t]);
        b.tracepoint("block_plug", &[t.queue]);
        b.tracepoint("block_unplug", &[t.queue, t.uint, t.bool_]);
        KernelBtf::from_bytes(&b.build()).expect("a readable BTF blob")
    }

    #[test]
    fn linux_5_10_prototypes_put_the_object_after_the_queue() {
        let args = tracepoint_args(&linux_5_10());
        let mut expected = [0u8; 16];
        for i in [
            tp::BLOCK_RQ_INSERT,
            tp::BLOCK_RQ_ISSUE,
            tp::BLOCK_RQ_MERGE,
            tp::BLOCK_RQ_REQUEUE,
            tp::BLOCK_RQ_REMAP,
            tp::BLOCK_BIO_COMPLETE,
            tp::BLOCK_BIO_QUEUE,
            tp::BLOCK_GETRQ,
            tp::BLOCK_SPLIT,
            tp::BLOCK_BIO_REMAP,
        ] {
            expected[i] = 1;
        }
        expected[tp::BLOCK_BIO_BACKMERGE] = 2;
        expected[tp::BLOCK_BIO_FRONTMERGE] = 2;
        assert_eq!(args.first, expected);
        for name in BLOCK_TRACEPOINTS {
            assert!(resolve(&linux_5_10(), name).is_ok(), "{name}");
        }
    }

    #[test]
    fn the_running_kernel_has_the_5_11_shapes() {
        let btf = KernelBtf::from_sys_fs().expect("the running kernel's BTF");
        for name in BLOCK_TRACEPOINTS {
            resolve(&btf, name).unwrap_or_else(|e| panic!("{e}"));
        }
        assert_eq!(tracepoint_args(&btf), TracepointArgs::SINCE_5_11);
        let params = btf
            .tracepoint_params("block_rq_issue")
            .expect("block_rq_issue");
        assert_eq!(
            Param::prototype(&params),
            "void (*)(void *, struct request *)"
        );
    }

    #[test]
    fn an_unknown_shape_is_refused_with_the_prototype_found() {
        let mut b = BtfBuilder::new();
        let t = types(&mut b);
        // The bio where the request should be; a number before the request.
        b.tracepoint("block_rq_issue", &[t.bio]);
        b.tracepoint("block_rq_insert", &[t.int, t.request]);
        // The request, but the byte count missing.
        b.tracepoint("block_rq_complete", &[t.request, t.int]);
        let btf = KernelBtf::from_bytes(&b.build()).unwrap();
        let err = resolve(&btf, "block_rq_issue").unwrap_err();
        assert_eq!(
            err.to_string(),
            "tracepoint block:block_rq_issue has a prototype blkscope does not know: \
             void (*)(void *, struct bio *) (expected (struct request *) with only queue or \
             request pointers before it)"
        );
        let err = resolve(&btf, "block_rq_insert").unwrap_err();
        assert!(
            err.to_string()
                .contains("void (*)(void *, int, struct request *)"),
            "{err}"
        );
        let err = resolve(&btf, "block_rq_complete").unwrap_err();
        assert!(
            err.to_string()
                .contains("(struct request *, an integer, an integer)"),
            "{err}"
        );
        assert_eq!(
            resolve(&btf, "block_plug"),
            Err(PrototypeError::Missing("block_plug".into()))
        );
        // The views that attach them are refused; the positions the probes get stay valid.
        assert_eq!(tracepoint_args(&btf), TracepointArgs::SINCE_5_11);
    }
}
