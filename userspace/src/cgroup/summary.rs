//! `--containers` in the per-event views (biosnoop, ext4slower): besides each event's line,
//! what each container did in all, printed when tracing ends. A line per event cannot be
//! grouped while it streams; the totals answer "which container did the most".

use std::{collections::HashMap, fmt::Write as _};

use serde::Serialize;

/// One container's events so far.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ContainerTotals {
    pub events: u64,
    pub bytes: u64,
    pub latency_ns: u64,
    pub max_latency_ns: u64,
}

/// Totals per container label, in the order of the most bytes first.
#[derive(Clone, Debug, Default)]
pub struct ContainerSummary {
    totals: HashMap<String, ContainerTotals>,
}

/// A summary row in JSON: `{"container": ..., "events": ..., ...}`.
#[derive(Serialize)]
struct SummaryRow<'a> {
    summary: &'static str,
    container: &'a str,
    events: u64,
    bytes: u64,
    avg_ms: f64,
    max_ms: f64,
}

impl ContainerSummary {
    pub fn add(&mut self, container: &str, bytes: u64, latency_ns: u64) {
        let totals = match self.totals.get_mut(container) {
            Some(totals) => totals,
            None => self.totals.entry(container.to_owned()).or_default(),
        };
        totals.events += 1;
        totals.bytes += bytes;
        totals.latency_ns += latency_ns;
        totals.max_latency_ns = totals.max_latency_ns.max(latency_ns);
    }

    pub fn get(&self, container: &str) -> Option<&ContainerTotals> {
        self.totals.get(container)
    }

    /// Most bytes first, then most events, then by name: the order biotop sorts in.
    fn sorted(&self) -> Vec<(&str, &ContainerTotals)> {
        let mut rows: Vec<(&str, &ContainerTotals)> =
            self.totals.iter().map(|(c, t)| (c.as_str(), t)).collect();
        rows.sort_by(|(a_name, a), (b_name, b)| {
            (b.bytes, b.events)
                .cmp(&(a.bytes, a.events))
                .then(a_name.cmp(b_name))
        });
        rows
    }

    /// The summary in the view's output form: JSON lines (`json`) or the text table, whose
    /// count column is headed `events` (`I/Os`, `OPS`).
    pub fn render(&self, json: bool, events: &str) -> String {
        if json {
            self.render_json()
        } else {
            self.render_text(events)
        }
    }

    /// The text table, after a blank line; `events` names what is counted (`I/Os`, `OPS`).
    pub fn render_text(&self, events: &str) -> String {
        let width = self
            .totals
            .keys()
            .map(String::len)
            .max()
            .unwrap_or(0)
            .max("CONTAINER".len());
        let mut out = format!(
            "\n{:<width$} {events:>8} {:>10} {:>8} {:>8}\n",
            "CONTAINER", "KBYTES", "AVG(ms)", "MAX(ms)"
        );
        for (container, t) in self.sorted() {
            let _ = writeln!(
                out,
                "{container:<width$} {:>8} {:>10} {:>8.2} {:>8.2}",
                t.events,
                t.bytes / 1024,
                average_ms(t),
                t.max_latency_ns as f64 / 1e6
            );
        }
        out
    }

    /// One JSON object per container, `"summary": "container"` telling them from event lines.
    pub fn render_json(&self) -> String {
        let mut out = String::new();
        for (container, t) in self.sorted() {
            let row = SummaryRow {
                summary: "container",
                container,
                events: t.events,
                bytes: t.bytes,
                avg_ms: average_ms(t),
                max_ms: t.max_latency_ns as f64 / 1e6,
            };
            if let Ok(line) = serde_json::to_string(&row) {
                out.push_str(&line);
                out.push('\n');
            }
        }
        out
    }
}

fn average_ms(t: &ContainerTotals) -> f64 {
    if t.events == 0 {
        0.0
    } else {
        t.latency_ns as f64 / t.events as f64 / 1e6
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn totals_per_container_most_bytes_first() {
        let mut summary = ContainerSummary::default();
        summary.add("docker:aaaa", 4096, 1_000_000);
        summary.add("docker:aaaa", 4096, 3_000_000);
        summary.add("pod:u/crio:bbbb", 65536, 500_000);
        assert_eq!(
            summary.get("docker:aaaa"),
            Some(&ContainerTotals {
                events: 2,
                bytes: 8192,
                latency_ns: 4_000_000,
                max_latency_ns: 3_000_000
            })
        );
        assert_eq!(
            summary.render_text("I/Os"),
            "\nCONTAINER           I/Os     KBYTES  AVG(ms)  MAX(ms)\n\
             pod:u/crio:bbbb        1         64     0.50     0.50\n\
             docker:aaaa            2          8     2.00     3.00\n"
        );
        let json: Vec<serde_json::Value> = summary
            .render_json()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(json[1]["container"], "docker:aaaa");
        assert_eq!(json[1]["events"], 2);
        assert_eq!(json[1]["avg_ms"], 2.0);
        assert_eq!(json[0]["summary"], "container");
    }
}
