//! `blkscope trace`: every block-layer event as it happens, one line each (blkparse's
//! default layout) or one JSON object each. The raw view of the pipeline the other views share.

use std::fmt::Write as _;

use serde::Serialize;

use crate::model::event::{Action, BlockIoEvent, DeviceId};

/// Formats events; times are shown relative to the first event, as blkparse does.
#[derive(Debug, Default)]
pub struct TraceFormatter {
    first_ns: Option<u64>,
}

impl TraceFormatter {
    /// One blkparse-style line: `dev cpu time pid action rwbs detail [comm]`.
    pub fn text(&mut self, e: &BlockIoEvent) -> String {
        let relative = self.relative(e.time_ns);
        let mut line = format!(
            "{:>3},{:<3} {:>2} {:>5}.{:09} {:>5}  {:<2} {:>3} ",
            e.device.major,
            e.device.minor,
            e.cpu,
            relative / 1_000_000_000,
            relative % 1_000_000_000,
            e.pid,
            e.action.letters(),
            e.rwbs(),
        );
        let _ = match e.action {
            Action::Plug => write!(line, "[{}]", e.comm),
            Action::UnplugIo | Action::UnplugTimer => write!(line, "[{}] {}", e.comm, e.depth),
            Action::Split => write!(
                line,
                "{} / {} [{}]",
                e.sector,
                e.split_sector.unwrap_or_default(),
                e.comm
            ),
            Action::Remap => {
                let (from_dev, from_sector) = e.remapped_from.unwrap_or((DeviceId::new(0, 0), 0));
                write!(
                    line,
                    "{} + {} <- ({}) {}",
                    e.sector,
                    e.sectors(),
                    from_dev,
                    from_sector
                )
            }
            Action::Complete => write!(line, "{} + {} [{}]", e.sector, e.sectors(), e.status),
            _ => write!(line, "{} + {} [{}]", e.sector, e.sectors(), e.comm),
        };
        line
    }

    /// One JSON object per event, with the time relative to the first event added.
    pub fn json(&mut self, e: &BlockIoEvent) -> String {
        #[derive(Serialize)]
        struct Line<'a> {
            relative_ns: u64,
            rwbs: String,
            #[serde(flatten)]
            event: &'a BlockIoEvent,
        }
        let line = Line {
            relative_ns: self.relative(e.time_ns),
            rwbs: e.rwbs(),
            event: e,
        };
        serde_json::to_string(&line).unwrap_or_default()
    }

    fn relative(&mut self, time_ns: u64) -> u64 {
        let first = *self.first_ns.get_or_insert(time_ns);
        time_ns.saturating_sub(first)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::event::tests::sample_event as event;

    #[test]
    fn text_lines_follow_blkparse() {
        let mut f = TraceFormatter::default();
        assert_eq!(
            f.text(&event(Action::Queue, 1_000)),
            "  7,0    1     0.000000000  4242  Q   WS 2048 + 8 [dd]"
        );
        assert_eq!(
            f.text(&event(Action::Complete, 1_500_001_000)),
            "  7,0    1     1.500000000  4242  C   WS 2048 + 8 [0]"
        );
    }

    #[test]
    fn json_lines_are_objects_with_relative_time() {
        let mut f = TraceFormatter::default();
        f.json(&event(Action::Queue, 10));
        let v: serde_json::Value =
            serde_json::from_str(&f.json(&event(Action::Issue, 25))).unwrap();
        assert_eq!(v["relative_ns"], 15);
        assert_eq!(v["action"], "issue");
        assert_eq!(v["rwbs"], "WS");
        assert_eq!(v["device"]["major"], 7);
    }
}
