//! Activity ranges: the stretches of time during which I/Os were queued (q) or completed (c),
//! gaps shorter than btt's range delta (`-d`, 0.1 s) bridged. Printed after the report.

use super::time::bit_time;

/// One list of ranges, in time order.
#[derive(Debug, Clone, Default)]
pub struct Ranges {
    pub ranges: Vec<(u64, u64)>,
}

impl Ranges {
    pub fn update(&mut self, time: u64, delta_secs: f64) {
        if let Some(last) = self.ranges.last_mut() {
            if time < last.1 {
                return;
            }
            if bit_time(time - last.1) < delta_secs {
                last.1 = time;
                return;
            }
        }
        self.ranges.push((time, time));
    }
}

/// The queue and completion ranges of one scope (system, device, process).
#[derive(Debug, Clone, Default)]
pub struct Regions {
    pub queued: Ranges,
    pub completed: Ranges,
}

impl Regions {
    pub fn is_empty(&self) -> bool {
        self.queued.ranges.is_empty() && self.completed.ranges.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_gaps_are_bridged() {
        let mut r = Ranges::default();
        for t in [0, 50_000_000, 120_000_000, 400_000_000, 90_000_000] {
            r.update(t, 0.1);
        }
        assert_eq!(r.ranges, [(0, 120_000_000), (400_000_000, 400_000_000)]);
    }
}
