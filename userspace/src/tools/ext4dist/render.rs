//! ext4dist's output: one log2 histogram per operation, in bcc's order and layout.

use std::collections::BTreeMap;

use blkscope_common::{
    block_latency::LATENCY_SLOTS,
    fs_latency::{DIST_SLOTS, FsOp},
};

use crate::model::{fs_op::op_name, histogram::render_log2};

/// ext4dist: one histogram per operation, bcc's order and layout.
pub fn render_dist(histograms: &BTreeMap<FsOp, [u64; DIST_SLOTS]>, milliseconds: bool) -> String {
    let unit = if milliseconds { "msecs" } else { "usecs" };
    let mut out = String::new();
    for (op, slots) in histograms {
        out.push_str(&format!("\noperation = {}\n", op_name(*op)));
        let mut padded = [0u64; LATENCY_SLOTS];
        for (p, s) in padded.iter_mut().zip(slots) {
            *p = *s;
        }
        out.push_str(&render_log2(&padded, unit));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dist_sections_per_operation() {
        let mut h = BTreeMap::new();
        let mut slots = [0u64; DIST_SLOTS];
        slots[2] = 4;
        h.insert(FsOp::Read, slots);
        let text = render_dist(&h, false);
        assert!(
            text.starts_with(
                "\noperation = read\n     usecs               : count     distribution\n"
            ),
            "{text}"
        );
    }
}
