//! The HTML page: a section per disk with its charts, each under a heading and a line on how
//! to read it. One file, its style inline; nothing is fetched and nothing runs.

use std::fmt::Write as _;

use super::bins::{Heatmap, Latencies, Offsets, Stages, Throughput, TimeBins};
use super::collect::{Collected, Direction, IoSample};
use super::svg::{self, bytes_label, direction_colour, escape, micros_label};
use crate::model::event::DeviceId;

/// Processes and containers shown per disk.
const TOP_ROWS: usize = 10;

const STYLE: &str = "body{font-family:sans-serif;max-width:940px;margin:1em auto;color:#222;\
background:#fff}h1{font-size:1.5em}h2{border-top:2px solid #888;padding-top:.5em}\
h3{font-size:1.05em;margin:1.4em 0 .2em}p.help{margin:.2em 0 .5em;color:#555;font-size:.9em}\
table{border-collapse:collapse;margin:.4em 0}td,th{padding:2px 10px;text-align:right;\
border-bottom:1px solid #ddd}.key i{display:inline-block;width:14px;height:10px;margin:0 3px 0 8px}\
.legend i{display:inline-block;width:12px;height:12px;margin:0 4px 0 12px;vertical-align:-1px}";

/// The whole page for the I/Os `collected`; `disk_name` names a disk.
pub fn render(
    title: &str,
    collected: &Collected,
    disk_name: &dyn Fn(DeviceId) -> String,
) -> String {
    let mut html = String::new();
    let _ = write!(
        html,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width\">\
         <title>blkscope report: {t}</title><style>{STYLE}</style></head><body>\n\
         <h1>blkscope report: {t}</h1>\n",
        t = escape(title)
    );
    let Some(origin_ns) = collected.first_completion_ns() else {
        html.push_str("<p>No completed I/O in this trace.</p></body></html>\n");
        return html;
    };
    let last_ns = collected
        .disks
        .values()
        .flat_map(|ios| ios.iter().map(|s| s.completed_ns))
        .max()
        .unwrap_or(origin_ns);
    let bins = TimeBins::covering(origin_ns / 1000, last_ns / 1000);
    let _ = writeln!(
        html,
        "<p>{} I/Os on {} disk(s) over {} s. Time zero is the first completion (as in \
         <code>biosnoop -i</code>); each chart has {} columns of {}.</p>",
        collected.io_count(),
        collected.disks.len(),
        svg::number(bins.span_us() as f64 / 1e6),
        bins.columns,
        micros_label(bins.width_us as f64),
    );
    for (device, ios) in &collected.disks {
        disk_section(
            &mut html,
            *device,
            ios,
            collected,
            &bins,
            &disk_name(*device),
        );
    }
    html.push_str("</body></html>\n");
    html
}

fn disk_section(
    html: &mut String,
    device: DeviceId,
    ios: &[IoSample],
    collected: &Collected,
    bins: &TimeBins,
    name: &str,
) {
    let _ = write!(
        html,
        "<section class=\"disk\" id=\"disk-{}-{}\" data-device=\"{device}\">\n<h2>{}</h2>\n",
        device.major,
        device.minor,
        escape(name)
    );
    summary_line(html, ios);
    let heat = Heatmap::of(ios, bins);
    chart(
        html,
        "Latency heatmap",
        "Each cell counts the I/Os that completed in that time column with a latency (issue to \
         completion) in that row's range; lighter is more. Bands show what a histogram averages \
         away: two populations, a slow tail, a stall.",
        &svg::heatmap(&heat, bins),
    );
    html.push_str(&svg::heatmap_key(heat.max_count()));
    chart(
        html,
        "Sector offsets over time",
        "Where on the disk each I/O went, when it completed: diagonal lines are sequential \
         streams, scattered dots random I/O.",
        &svg::offsets(&Offsets::of(ios, bins), bins),
    );
    legend(html, ios);
    let t = Throughput::of(ios, bins);
    chart(
        html,
        "IOPS",
        "Completions per second in each column.",
        &svg::iops(&t, bins),
    );
    chart(
        html,
        "Throughput",
        "MiB read and written per second in each column (discards move no data and are left out).",
        &svg::throughput(&t, bins),
    );
    chart(
        html,
        "Queue depth",
        "The mean number of I/Os in flight (issued, not completed) over each column.",
        &svg::depth(&t, bins),
    );
    chart(
        html,
        "Where the time goes: btt's stages",
        "Mean time from queueing to getting a request (Q2G), to its insertion in the scheduler \
         (G2I), to the driver (I2D), and in the device (D2C), each over the I/Os of this page \
         that have both ends in the trace (btt also counts flush requests and merged bios). \
         Bio-based disks have no requests: D2C only, from queueing.",
        &svg::stages(&Stages::of(ios)),
    );
    let latencies = Latencies::of(ios);
    chart(
        html,
        "Latency histogram",
        "I/Os per latency range (issue to completion), biolatency's power-of-two buckets.",
        &svg::histogram(&latencies),
    );
    percentiles(html, &latencies);
    top_processes(html, device, collected);
    top_containers(html, device, collected);
    html.push_str("</section>\n");
}

fn summary_line(html: &mut String, ios: &[IoSample]) {
    let count = |d: Direction| ios.iter().filter(|io| io.direction == d).count();
    let bytes: u64 = ios.iter().map(|io| u64::from(io.bytes)).sum();
    let _ = writeln!(
        html,
        "<p class=\"stats\">{} I/Os ({} reads, {} writes, {} other), {}.</p>",
        ios.len(),
        count(Direction::Read),
        count(Direction::Write),
        count(Direction::Other),
        bytes_label(bytes)
    );
}

fn chart(html: &mut String, title: &str, help: &str, svg: &str) {
    let _ = write!(
        html,
        "<h3>{}</h3>\n<p class=\"help\">{}</p>\n<figure>{svg}</figure>\n",
        escape(title),
        escape(help)
    );
}

fn legend(html: &mut String, ios: &[IoSample]) {
    html.push_str("<p class=\"legend\">");
    for d in [Direction::Read, Direction::Write, Direction::Other] {
        if ios.iter().any(|io| io.direction == d) {
            let _ = write!(
                html,
                "<i style=\"background:{}\"></i>{}",
                direction_colour(d),
                d.label()
            );
        }
    }
    html.push_str("</p>\n");
}

fn percentiles(html: &mut String, l: &Latencies) {
    html.push_str("<table class=\"percentiles\"><tr>");
    for (name, _) in &l.percentiles {
        let _ = write!(html, "<th>{name}</th>");
    }
    html.push_str("</tr><tr>");
    for (_, us) in &l.percentiles {
        let _ = write!(html, "<td>{}</td>", micros_label(*us));
    }
    html.push_str("</tr></table>\n");
}

fn top_processes(html: &mut String, device: DeviceId, collected: &Collected) {
    let Some(processes) = collected.processes.get(&device) else {
        return;
    };
    let mut rows: Vec<(String, u64)> = processes
        .iter()
        .map(|((comm, pid), bytes)| (format!("{comm} ({pid})"), *bytes))
        .collect();
    top(&mut rows);
    chart(
        html,
        "Top processes by bytes",
        "The processes that queued the I/O (not those that completed it).",
        &svg::bytes_bars(&rows, "top processes"),
    );
}

fn top_containers(html: &mut String, device: DeviceId, collected: &Collected) {
    let Some(cgroups) = collected.cgroups.get(&device) else {
        return;
    };
    let mut rows: Vec<(String, u64)> = cgroups
        .iter()
        .map(|(id, bytes)| (collected.cgroup_label(*id), *bytes))
        .collect();
    top(&mut rows);
    chart(
        html,
        "Top containers by bytes",
        "The container (or cgroup) each I/O is charged to; recordings name them with \
         `record --cgroup-ids`.",
        &svg::bytes_bars(&rows, "top containers"),
    );
}

/// The largest first (ties by name), at most `TOP_ROWS`.
fn top(rows: &mut Vec<(String, u64)>) {
    rows.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    rows.truncate(TOP_ROWS);
}
