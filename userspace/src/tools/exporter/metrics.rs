//! What `/metrics` shows, in the OpenMetrics text format (through prometheus-client):
//! node_exporter's diskstats metrics under their own names (read from /proc/diskstats at
//! scrape time, so existing dashboards work), and blkscope's per-cgroup I/O, latency
//! histograms per disk and per cgroup (queue and device stages), file-system operation
//! latencies and probe health (from the collector's totals).

use std::{collections::HashMap, fmt::Write as _};

use blkscope_common::fs_latency::FsOp;
use prometheus_client::{
    collector::Collector,
    encoding::{
        DescriptorEncoder, EncodeLabelValue, EncodeMetric, LabelValueEncoder, MetricEncoder,
        NoLabelSet,
    },
    metrics::{MetricType, counter::ConstCounter, gauge::ConstGauge},
    registry::Registry,
};

use super::{
    collect::Totals,
    series::{CgroupSeries, Log2Histogram, StageHistograms},
};
use crate::{
    host::counters::DiskstatsLine, host::stat_files::StatFiles, model::event::DeviceId,
    model::fs_op::op_name,
};

/// One scrape's view: the diskstats lines read now, and a copy of the collector's totals.
#[derive(Debug)]
pub struct Snapshot {
    pub diskstats: Vec<DiskstatsLine>,
    /// Every block device's kernel name, from the same read of /proc/diskstats.
    pub disk_names: HashMap<DeviceId, String>,
    pub cgroups: Vec<CgroupSeries>,
    pub disks: Vec<(String, StageHistograms)>,
    pub fs: Vec<(FsOp, Log2Histogram)>,
    pub fs_type: Option<&'static str>,
    pub drops: Vec<(&'static str, u64)>,
    pub cgroups_tracked: usize,
    pub cgroups_overflowed_total: u64,
    pub cgroups_overflowing: usize,
    pub updates: u64,
}

impl Snapshot {
    /// Reads /proc/diskstats (whole disks only, as node_exporter shows them) and copies the
    /// totals (the lock is held for the copy only).
    pub fn take(totals: &Totals) -> Snapshot {
        let files = StatFiles::default();
        let (diskstats, hidden): (Vec<DiskstatsLine>, Vec<DiskstatsLine>) = files
            .diskstats()
            .into_iter()
            .partition(|l| shown_like_node_exporter(&files, &l.name));
        // Names for the probes' disks come from this read, not from a sysfs read per series.
        let disk_names: HashMap<DeviceId, String> = diskstats
            .iter()
            .chain(&hidden)
            .map(|l| (DeviceId::new(l.major, l.minor), l.name.clone()))
            .collect();
        let name = |disk: &DeviceId| disk_name(&disk_names, *disk);
        Snapshot {
            disks: totals.disks.iter().map(|(d, h)| (name(d), *h)).collect(),
            diskstats,
            cgroups: totals.cgroups.all().cloned().collect(),
            fs: totals.fs.iter().map(|(op, h)| (*op, *h)).collect(),
            disk_names,
            fs_type: totals.fs_type,
            drops: totals.health.drops.iter().map(|(p, n)| (*p, *n)).collect(),
            cgroups_tracked: totals.cgroups.tracked(),
            cgroups_overflowed_total: totals.cgroups.overflowed_total(),
            cgroups_overflowing: totals.cgroups.overflowing_now(),
            updates: totals.health.updates,
        }
    }

    /// The whole exposition, in the OpenMetrics text format.
    pub fn encode(self) -> Result<String, std::fmt::Error> {
        let mut registry = Registry::default();
        registry.register_collector(Box::new(self));
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &registry)?;
        Ok(text)
    }
}

/// The classic Prometheus text format (0.0.4) of an OpenMetrics exposition, for scrapers that
/// do not ask for OpenMetrics: a counter family is named after its samples (`X_total`), and
/// there is no `# EOF`.
pub fn classic_text_format(openmetrics: &str) -> String {
    let mut out = String::with_capacity(openmetrics.len());
    let mut help: Option<&str> = None;
    for line in openmetrics.lines() {
        if line == "# EOF" {
            continue;
        }
        if line.starts_with("# HELP ") {
            // Written once the family's type says what it is called.
            if let Some(previous) = help.replace(line) {
                push_line(&mut out, previous);
            }
            continue;
        }
        if let Some(rest) = line.strip_prefix("# TYPE ")
            && let Some(name) = rest.strip_suffix(" counter")
        {
            if let Some(h) = help.take() {
                let text = h.strip_prefix(&format!("# HELP {name} ")).unwrap_or("");
                push_line(&mut out, &format!("# HELP {name}_total {text}"));
            }
            push_line(&mut out, &format!("# TYPE {name}_total counter"));
            continue;
        }
        if let Some(h) = help.take() {
            push_line(&mut out, h);
        }
        push_line(&mut out, line);
    }
    if let Some(h) = help {
        push_line(&mut out, h);
    }
    out
}

fn push_line(out: &mut String, line: &str) {
    out.push_str(line);
    out.push('\n');
}

/// A disk's kernel name, or MAJ:MIN when it is gone from /proc/diskstats.
fn disk_name(names: &HashMap<DeviceId, String>, disk: DeviceId) -> String {
    names
        .get(&disk)
        .cloned()
        .unwrap_or_else(|| disk.to_string())
}

/// node_exporter's default: no RAM disks, no floppies, no partitions. Loop devices are shown
/// (node_exporter hides them): blkscope's tests and many container hosts run on them.
fn shown_like_node_exporter(files: &StatFiles, name: &str) -> bool {
    let hidden = ["ram", "zram", "fd"].iter().any(|p| {
        name.strip_prefix(p)
            .is_some_and(|n| n.chars().all(|c| c.is_ascii_digit()))
    });
    !hidden && files.is_whole_device(name)
}

type Labels = Vec<(&'static str, String)>;

/// A label value as the exposition formats require it: `\`, `"` and newlines escaped.
/// prometheus-client writes values as they are, and one `"` in a cgroup's name (which anyone
/// with a delegated cgroup subtree can choose) would make the whole scrape unparsable.
struct Escaped<'a>(&'a str);

impl EncodeLabelValue for Escaped<'_> {
    fn encode(&self, encoder: &mut LabelValueEncoder) -> std::fmt::Result {
        for c in self.0.chars() {
            match c {
                '\\' => encoder.write_str("\\\\")?,
                '"' => encoder.write_str("\\\"")?,
                '\n' => encoder.write_str("\\n")?,
                c => encoder.write_char(c)?,
            }
        }
        Ok(())
    }
}

/// The labels with their values escaped.
fn escaped(labels: &Labels) -> Vec<(&'static str, Escaped<'_>)> {
    labels.iter().map(|(k, v)| (*k, Escaped(v))).collect()
}

/// A counter or gauge family: its name, help and one value per label set.
fn family(
    encoder: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    kind: MetricType,
    values: impl IntoIterator<Item = (Labels, f64)>,
) -> std::fmt::Result {
    let mut family = encoder.encode_descriptor(name, help, None, kind)?;
    for (labels, value) in values {
        // A family without labels is one value, written without `{}`.
        if labels.is_empty() {
            return encode_value(kind, value, family);
        }
        encode_value(kind, value, family.encode_family(&escaped(&labels))?)?;
    }
    Ok(())
}

fn encode_value(kind: MetricType, value: f64, metric: MetricEncoder) -> std::fmt::Result {
    match kind {
        MetricType::Counter => ConstCounter::new(value).encode(metric),
        _ => ConstGauge::new(value).encode(metric),
    }
}

/// Prometheus buckets of a log2 histogram in microseconds: `le` = 2^(i+1) µs in seconds, and
/// the last `+Inf` (prometheus-client writes `f64::MAX` as `+Inf`); the encoder makes the
/// counts cumulative.
pub fn buckets(histogram: &Log2Histogram) -> Vec<(f64, u64)> {
    let last = histogram.slots.iter().rposition(|&n| n > 0).unwrap_or(0);
    let mut buckets: Vec<(f64, u64)> = histogram.slots[..=last]
        .iter()
        .enumerate()
        .map(|(i, n)| ((1u64 << (i + 1)) as f64 * 1e-6, *n))
        .collect();
    buckets.push((f64::MAX, histogram.slots[last + 1..].iter().sum()));
    buckets
}

fn histogram_family<'a>(
    encoder: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    values: impl IntoIterator<Item = (Labels, &'a Log2Histogram)>,
) -> std::fmt::Result {
    let mut family = encoder.encode_descriptor(name, help, None, MetricType::Histogram)?;
    for (labels, histogram) in values {
        let labels = escaped(&labels);
        let mut metric = family.encode_family(&labels)?;
        metric.encode_histogram::<NoLabelSet>(
            histogram.sum_ns as f64 / 1e9,
            histogram.count(),
            &buckets(histogram),
            None,
        )?;
    }
    Ok(())
}

fn device_label(line: &DiskstatsLine) -> Labels {
    vec![("device", line.name.clone())]
}

fn cgroup_labels(series: &CgroupSeries) -> Labels {
    vec![
        ("cgroup", series.labels.cgroup.clone()),
        ("container_id", series.labels.container_id.clone()),
        ("pod_uid", series.labels.pod_uid.clone()),
        ("namespace", series.labels.namespace.clone()),
        ("pod", series.labels.pod.clone()),
        ("container", series.labels.container.clone()),
        ("name", series.labels.name.clone()),
    ]
}

const SECTOR: f64 = 512.0;

impl Snapshot {
    fn encode_diskstats(&self, encoder: &mut DescriptorEncoder) -> std::fmt::Result {
        type Field = fn(&DiskstatsLine) -> f64;
        // node_exporter's names (without the `_total` the encoder adds to counters).
        let counters: [(&str, &str, Field); 16] = [
            (
                "node_disk_reads_completed",
                "The total number of reads completed successfully.",
                |l| l.counters.rd_ios as f64,
            ),
            (
                "node_disk_reads_merged",
                "The total number of reads merged.",
                |l| l.counters.rd_merges as f64,
            ),
            (
                "node_disk_read_bytes",
                "The total number of bytes read successfully.",
                |l| l.counters.rd_sectors as f64 * SECTOR,
            ),
            (
                "node_disk_read_time_seconds",
                "The total number of seconds spent by all reads.",
                |l| f64::from(l.counters.rd_ticks) / 1000.0,
            ),
            (
                "node_disk_writes_completed",
                "The total number of writes completed successfully.",
                |l| l.counters.wr_ios as f64,
            ),
            (
                "node_disk_writes_merged",
                "The number of writes merged.",
                |l| l.counters.wr_merges as f64,
            ),
            (
                "node_disk_written_bytes",
                "The total number of bytes written successfully.",
                |l| l.counters.wr_sectors as f64 * SECTOR,
            ),
            (
                "node_disk_write_time_seconds",
                "This is the total number of seconds spent by all writes.",
                |l| f64::from(l.counters.wr_ticks) / 1000.0,
            ),
            (
                "node_disk_io_time_seconds",
                "Total seconds spent doing I/Os.",
                |l| f64::from(l.counters.tot_ticks) / 1000.0,
            ),
            (
                "node_disk_io_time_weighted_seconds",
                "The weighted # of seconds spent doing I/Os.",
                |l| f64::from(l.counters.rq_ticks) / 1000.0,
            ),
            (
                "node_disk_discards_completed",
                "The total number of discards completed successfully.",
                |l| l.counters.dc_ios as f64,
            ),
            (
                "node_disk_discards_merged",
                "The total number of discards merged.",
                |l| l.counters.dc_merges as f64,
            ),
            (
                "node_disk_discarded_sectors",
                "The total number of sectors discarded successfully.",
                |l| l.counters.dc_sectors as f64,
            ),
            (
                "node_disk_discard_time_seconds",
                "This is the total number of seconds spent by all discards.",
                |l| f64::from(l.counters.dc_ticks) / 1000.0,
            ),
            (
                "node_disk_flush_requests",
                "The total number of flush requests completed successfully",
                |l| l.counters.fl_ios as f64,
            ),
            (
                "node_disk_flush_requests_time_seconds",
                "This is the total number of seconds spent by all flush requests.",
                |l| f64::from(l.counters.fl_ticks) / 1000.0,
            ),
        ];
        for (name, help, field) in counters {
            family(
                encoder,
                name,
                help,
                MetricType::Counter,
                self.diskstats.iter().map(|l| (device_label(l), field(l))),
            )?;
        }
        family(
            encoder,
            "node_disk_io_now",
            "The number of I/Os currently in progress.",
            MetricType::Gauge,
            self.diskstats
                .iter()
                .map(|l| (device_label(l), f64::from(l.counters.ios_pgr))),
        )?;
        family(
            encoder,
            "node_disk_info",
            "Info of /sys/block/<block_device>.",
            MetricType::Gauge,
            self.diskstats.iter().map(|l| {
                let mut labels = device_label(l);
                labels.push(("major", l.major.to_string()));
                labels.push(("minor", l.minor.to_string()));
                (labels, 1.0)
            }),
        )
    }

    fn encode_cgroups(&self, encoder: &mut DescriptorEncoder) -> std::fmt::Result {
        type Field = fn(&super::series::IoTotals) -> f64;
        let per_io: [(&str, &str, Field); 3] = [
            (
                "blkscope_cgroup_ios",
                "Block I/Os completed, by the cgroup of the task that queued them, disk and direction.",
                |t| t.ios as f64,
            ),
            (
                "blkscope_cgroup_bytes",
                "Bytes of the block I/Os completed, by cgroup, disk and direction.",
                |t| t.bytes as f64,
            ),
            (
                "blkscope_cgroup_io_time_seconds",
                "Summed issue-to-completion time of the block I/Os completed, by cgroup, disk and direction.",
                |t| t.time_ns as f64 / 1e9,
            ),
        ];
        for (name, help, field) in per_io {
            family(
                encoder,
                name,
                help,
                MetricType::Counter,
                self.cgroups.iter().flat_map(|series| {
                    series.io.iter().map(move |((disk, write), totals)| {
                        let mut labels = cgroup_labels(series);
                        labels.push(("device", disk_name(&self.disk_names, *disk)));
                        labels.push(("direction", if *write { "write" } else { "read" }.into()));
                        (labels, field(totals))
                    })
                }),
            )?;
        }
        for (stage, pick) in stages() {
            histogram_family(
                encoder,
                &format!("blkscope_cgroup_{stage}_latency_seconds"),
                &format!(
                    "Block I/O {stage}-stage latency ({}), by the cgroup of the task that queued the request.",
                    stage_help(stage)
                ),
                self.cgroups
                    .iter()
                    .filter(|s| pick(&s.latency).count() > 0)
                    .map(|s| (cgroup_labels(s), pick(&s.latency))),
            )?;
            histogram_family(
                encoder,
                &format!("blkscope_disk_{stage}_latency_seconds"),
                &format!(
                    "Block I/O {stage}-stage latency ({}), by disk.",
                    stage_help(stage)
                ),
                self.disks
                    .iter()
                    .filter(|(_, h)| pick(h).count() > 0)
                    .map(|(disk, h)| (vec![("device", disk.clone())], pick(h))),
            )?;
        }
        Ok(())
    }

    fn encode_fs(&self, encoder: &mut DescriptorEncoder) -> std::fmt::Result {
        let Some(fs) = self.fs_type else {
            return Ok(());
        };
        histogram_family(
            encoder,
            "blkscope_fs_operation_latency_seconds",
            "File-system operation latency (read, write, open, fsync), syscall entry to exit; _sum is estimated from the log2 buckets.",
            self.fs.iter().map(|(op, h)| {
                (
                    vec![
                        ("fs", fs.to_string()),
                        ("operation", op_name(*op).to_string()),
                    ],
                    h,
                )
            }),
        )
    }

    fn encode_health(&self, encoder: &mut DescriptorEncoder) -> std::fmt::Result {
        family(
            encoder,
            "blkscope_probe_drops",
            "Events a probe could not count (a kernel table or ring buffer was full).",
            MetricType::Counter,
            self.drops
                .iter()
                .map(|(probe, n)| (vec![("probe", probe.to_string())], *n as f64)),
        )?;
        family(
            encoder,
            "blkscope_cgroups_tracked",
            "Cgroups with series of their own (at most --max-cgroups).",
            MetricType::Gauge,
            [(Labels::new(), self.cgroups_tracked as f64)],
        )?;
        family(
            encoder,
            "blkscope_cgroups_overflowed",
            "Cgroups whose I/O went to the cgroup=\"overflow\" series, --max-cgroups being reached.",
            MetricType::Counter,
            [(Labels::new(), self.cgroups_overflowed_total as f64)],
        )?;
        family(
            encoder,
            "blkscope_cgroups_in_overflow",
            "Cgroups counted in the overflow series now.",
            MetricType::Gauge,
            [(Labels::new(), self.cgroups_overflowing as f64)],
        )?;
        family(
            encoder,
            "blkscope_collector_updates",
            "Reads of the probes' in-kernel counts.",
            MetricType::Counter,
            [(Labels::new(), self.updates as f64)],
        )
    }
}

/// Picks one stage's histogram.
type StagePick = fn(&StageHistograms) -> &Log2Histogram;

fn stages() -> [(&'static str, StagePick); 2] {
    [("queue", |h| &h.queue), ("device", |h| &h.device)]
}

fn stage_help(stage: &str) -> &'static str {
    if stage == "queue" {
        "insertion into the queue to issue to the driver"
    } else {
        "issue to the driver to completion"
    }
}

impl Collector for Snapshot {
    fn encode(&self, mut encoder: DescriptorEncoder) -> std::fmt::Result {
        self.encode_diskstats(&mut encoder)?;
        self.encode_cgroups(&mut encoder)?;
        self.encode_fs(&mut encoder)?;
        self.encode_health(&mut encoder)
    }
}

#[cfg(test)]
mod tests {
    use blkscope_common::block_latency::LATENCY_SLOTS;

    use super::*;

    #[test]
    fn log2_slots_become_bounded_buckets_in_seconds() {
        let mut h = Log2Histogram::default();
        h.slots[0] = 1;
        h.slots[2] = 3;
        h.sum_ns = 10_000;
        let b = buckets(&h);
        assert_eq!(b.len(), 4);
        assert_eq!(b[0], (2e-6, 1));
        assert_eq!(b[2], (8e-6, 3));
        assert_eq!(b[3], (f64::MAX, 0));
        let mut full = Log2Histogram::default();
        full.slots[LATENCY_SLOTS - 1] = 1;
        assert_eq!(buckets(&full).len(), LATENCY_SLOTS + 1);
    }

    #[test]
    fn the_exposition_has_node_exporter_names_and_cumulative_buckets() {
        use super::super::series::{CgroupLabels, IoTotals};
        let line = crate::host::counters::parse_diskstats_line(
            "   7       0 loop0 10 2 80 5 4 0 64 7 0 9 12 0 0 0 0 1 3",
        )
        .expect("a diskstats line");
        let mut series = CgroupSeries::new(CgroupLabels {
            cgroup: "/system.slice/docker-ab.scope".into(),
            container_id: "docker:ab".into(),
            name: "web".into(),
            ..CgroupLabels::default()
        });
        series.io.insert(
            (crate::model::event::DeviceId::new(7, 0), false),
            IoTotals {
                ios: 3,
                bytes: 12288,
                time_ns: 1_500_000,
            },
        );
        series.latency.device.slots[1] = 1;
        series.latency.device.slots[3] = 2;
        series.latency.device.sum_ns = 30_000;
        let text = Snapshot {
            disk_names: HashMap::from([(
                crate::model::event::DeviceId::new(7, 0),
                "loop0".to_owned(),
            )]),
            diskstats: vec![line],
            cgroups: vec![series],
            disks: Vec::new(),
            fs: Vec::new(),
            fs_type: None,
            drops: vec![("biotop", 0)],
            cgroups_tracked: 1,
            cgroups_overflowed_total: 0,
            cgroups_overflowing: 0,
            updates: 4,
        }
        .encode()
        .expect("encoding");
        for expected in [
            "node_disk_reads_completed_total{device=\"loop0\"} 10.0",
            "node_disk_read_bytes_total{device=\"loop0\"} 40960.0",
            "node_disk_io_time_seconds_total{device=\"loop0\"} 0.009",
            "node_disk_io_now{device=\"loop0\"} 0.0",
            "blkscope_cgroup_ios_total{cgroup=\"/system.slice/docker-ab.scope\",container_id=\"docker:ab\",pod_uid=\"\",namespace=\"\",pod=\"\",container=\"\",name=\"web\",device=\"loop0\",direction=\"read\"} 3.0",
            "blkscope_cgroup_device_latency_seconds_count{cgroup=\"/system.slice/docker-ab.scope\",container_id=\"docker:ab\",pod_uid=\"\",namespace=\"\",pod=\"\",container=\"\",name=\"web\"} 3",
            "blkscope_cgroup_device_latency_seconds_sum{cgroup=\"/system.slice/docker-ab.scope\",container_id=\"docker:ab\",pod_uid=\"\",namespace=\"\",pod=\"\",container=\"\",name=\"web\"} 0.00003",
        ] {
            assert!(text.contains(expected), "{expected}\n{text}");
        }
        // Buckets are cumulative: 1 below 4 µs, 3 below 16 µs.
        let bucket = |le: &str| {
            text.lines()
                .find(|l| {
                    l.starts_with("blkscope_cgroup_device_latency_seconds_bucket")
                        && l.contains(&format!("le=\"{le}\""))
                })
                .unwrap_or_else(|| panic!("no bucket {le}:\n{text}"))
                .rsplit(' ')
                .next()
                .unwrap()
                .to_owned()
        };
        assert_eq!(bucket("0.000004"), "1");
        assert_eq!(bucket("0.000016"), "3");
        assert_eq!(bucket("+Inf"), "3");
        assert!(text.ends_with("# EOF\n"));
    }

    #[test]
    fn label_values_are_escaped() {
        let labels: Labels = vec![("cgroup", "a\"b\\c\nd".to_owned())];
        let mut registry_text = String::new();
        struct One(Labels);
        impl std::fmt::Debug for One {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("One")
            }
        }
        impl Collector for One {
            fn encode(&self, mut encoder: DescriptorEncoder) -> std::fmt::Result {
                family(
                    &mut encoder,
                    "x",
                    "help",
                    MetricType::Gauge,
                    [(self.0.clone(), 1.0)],
                )
            }
        }
        let mut registry = Registry::default();
        registry.register_collector(Box::new(One(labels)));
        prometheus_client::encoding::text::encode(&mut registry_text, &registry).unwrap();
        assert!(
            registry_text.contains("x{cgroup=\"a\\\"b\\\\c\\nd\"} 1"),
            "{registry_text}"
        );
    }

    #[test]
    fn the_classic_format_names_counters_after_their_samples_and_has_no_eof() {
        let openmetrics = "# HELP a_reads Reads.\n# TYPE a_reads counter\na_reads_total{d=\"x\"} 3\n# HELP b Depth.\n# TYPE b gauge\nb 1\n# EOF\n";
        assert_eq!(
            classic_text_format(openmetrics),
            "# HELP a_reads_total Reads.\n# TYPE a_reads_total counter\na_reads_total{d=\"x\"} 3\n# HELP b Depth.\n# TYPE b gauge\nb 1\n"
        );
    }
}
