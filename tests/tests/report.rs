//! `blkscope report`: the HTML page of a recording or a live run. The heatmap's cells hold the
//! I/Os `biosnoop -i --json` prints, each in the cell of its completion time and latency; a
//! live run on a quiet loop device counts the I/Os /proc/diskstats counts; Debian's chromium
//! opens the page headless and every chart is drawn (SVG elements in its DOM, a screenshot
//! that is not blank); a large trace makes a small page; a damaged trace still gets its page,
//! then an error naming file and offset.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use blkscope::blktrace::BlktraceWriter;
use blkscope::blktrace::synthetic::{SyntheticSpec, generate};
use blkscope_tests::workload::DirectIo;
use blkscope_tests::{
    Cgroup, DiskCounters, LoopDevice, Scratch, blkscope_binary, require_root, serial,
};
use serde_json::Value;

fn blkscope(dir: &Path, args: &[&str]) -> Output {
    Command::new(blkscope_binary())
        .current_dir(dir)
        .args(args)
        .output()
        .expect("running blkscope")
}

/// Writes the report of `input` to `dir/NAME.html`; returns the page.
fn report(dir: &Path, input: &Path, name: &str) -> String {
    let html = dir.join(format!("{name}.html"));
    let out = blkscope(
        dir,
        &[
            "report",
            "-i",
            input.to_str().unwrap(),
            "-o",
            html.to_str().unwrap(),
        ],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    std::fs::read_to_string(html).expect("the page")
}

/// The value of attribute `name` in the tag that starts at `tag`.
fn attribute<'a>(tag: &'a str, name: &str) -> Option<&'a str> {
    let end = tag.find('>').unwrap_or(tag.len());
    let start = tag[..end].find(&format!(" {name}=\""))? + name.len() + 3;
    let len = tag[start..].find('"')?;
    Some(&tag[start..start + len])
}

fn range(text: &str) -> (u64, u64) {
    let (a, b) = text.split_once('-').expect("a range");
    (a.parse().unwrap(), b.parse().unwrap())
}

/// A heatmap cell: (disk name, time range µs, latency range µs) -> I/Os.
type Cells = BTreeMap<(String, (u64, u64), (u64, u64)), u64>;

/// Every heatmap cell of the page, by the disk of its section.
fn heatmap_cells(html: &str) -> Cells {
    let mut cells = Cells::new();
    for section in html.split("<section").skip(1) {
        let name = section
            .split("<h2>")
            .nth(1)
            .and_then(|h| h.split(" (").next())
            .expect("a section names its disk")
            .to_owned();
        for tag in section.split("<rect").skip(1) {
            if attribute(tag, "class") != Some("cell") {
                continue;
            }
            let count: u64 = attribute(tag, "data-count").unwrap().parse().unwrap();
            let t = range(attribute(tag, "data-t-us").unwrap());
            let lat = range(attribute(tag, "data-latency-us").unwrap());
            cells.insert((name.clone(), t, lat), count);
        }
    }
    cells
}

/// biosnoop's I/Os put in the page's cells: each must fall in exactly one. biosnoop names the
/// partition an I/O was sent to (as bcc's does), the page the whole disk: with one disk in the
/// page, any name is its.
fn biosnoop_in_cells(dir: &Path, input: &Path, cells: &Cells) -> Cells {
    let disks: std::collections::BTreeSet<&String> = cells.keys().map(|(d, ..)| d).collect();
    let out = blkscope(dir, &["biosnoop", "-i", input.to_str().unwrap(), "--json"]);
    assert!(out.status.success());
    let mut counted = Cells::new();
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let v: Value = serde_json::from_str(line).expect("JSON");
        let disk = v["disk"].as_str().unwrap().to_owned();
        let t_us = (v["time_s"].as_f64().unwrap() * 1e6).round() as u64;
        let latency_ns = (v["latency_ms"].as_f64().unwrap() * 1e6).round() as u64;
        let lat_us = latency_ns / 1000;
        let cell = cells
            .keys()
            .find(|(d, t, l)| {
                (*d == disk || disks.len() == 1)
                    && (t.0..=t.1).contains(&t_us)
                    && (l.0..=l.1).contains(&lat_us)
            })
            .unwrap_or_else(|| panic!("no cell for {line}"));
        *counted.entry(cell.clone()).or_insert(0) += 1;
    }
    counted
}

#[test]
fn heatmap_cells_hold_the_ios_biosnoop_prints() {
    let fixtures = blkscope_tests::blktrace_fixtures();
    let work = Scratch::new("report-heatmap");
    for name in ["ext4mixed", "partition"] {
        let input = fixtures.join(name);
        let html = report(work.path(), &input, name);
        let cells = heatmap_cells(&html);
        assert!(cells.values().sum::<u64>() > 50, "{name}: {cells:?}");
        assert_eq!(
            biosnoop_in_cells(work.path(), &input, &cells),
            cells,
            "{name}"
        );
        assert!(
            !html.contains("http://") || !html.contains("src=\"http"),
            "no external URL"
        );
        assert!(!html.contains("<script"), "nothing runs");
    }
}

/// The page's SVG charts, counted in chromium's DOM, and a screenshot's distinct colours and
/// share of non-white pixels.
fn rendered(html: &Path, work: &Path) -> (usize, usize, f64) {
    let chromium = |extra: &[&str]| {
        Command::new("chromium")
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--hide-scrollbars",
            ])
            .args(extra)
            .arg(format!("file://{}", html.display()))
            .output()
            .expect("chromium (apt-get install chromium; ./x setup installs it)")
    };
    let dom = chromium(&["--dump-dom"]);
    assert!(
        dom.status.success(),
        "{}",
        String::from_utf8_lossy(&dom.stderr)
    );
    let dom = String::from_utf8_lossy(&dom.stdout).into_owned();
    let svgs = dom.matches("<svg").count();
    let shot: PathBuf = work.join("shot.png");
    let out = chromium(&[
        "--window-size=1000,1400",
        &format!("--screenshot={}", shot.display()),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let decoder = png::Decoder::new(std::fs::File::open(&shot).expect("the screenshot"));
    let mut reader = decoder.read_info().expect("a PNG");
    let mut pixels = vec![0; reader.output_buffer_size()];
    let info = reader.next_frame(&mut pixels).expect("its pixels");
    let channels = info.color_type.samples();
    let mut colours = std::collections::HashSet::new();
    let mut inked = 0usize;
    let total = pixels.len() / channels;
    for p in pixels[..info.buffer_size()].chunks(channels) {
        colours.insert((p[0], p[1], p[2]));
        if p[..3].iter().any(|&c| c < 240) {
            inked += 1;
        }
    }
    (svgs, colours.len(), inked as f64 / total as f64)
}

#[test]
fn chromium_draws_every_chart() {
    let fixtures = blkscope_tests::blktrace_fixtures();
    let work = Scratch::new("report-chromium");
    let html = report(work.path(), &fixtures.join("ext4mixed"), "r");
    let disks = html.matches("<section class=\"disk\"").count();
    assert_eq!(disks, 1);
    let (svgs, colours, inked) = rendered(&work.path().join("r.html"), work.path());
    // Heatmap, offsets, IOPS, MiB/s, depth, stages, histogram, processes, containers.
    assert_eq!(svgs, 9 * disks, "every chart is in the rendered DOM");
    assert!(colours > 20, "{colours} colours: the charts are drawn");
    assert!(inked > 0.05, "{inked:.3} of the screenshot is not white");
}

#[test]
fn a_large_trace_makes_a_small_page() {
    let work = Scratch::new("report-large");
    let spec = SyntheticSpec {
        ios: 200_000,
        cpus: 2,
        ..SyntheticSpec::default()
    };
    let mut writer = BlktraceWriter::new(work.path(), "big");
    for t in generate(&spec) {
        writer.write(&t).expect("writing the trace");
    }
    writer.finish().expect("finishing the trace");
    let html = report(work.path(), &work.path().join("big"), "big");
    let cells: u64 = heatmap_cells(&html).values().sum();
    assert!(cells > 150_000, "{cells} I/Os in the heatmap");
    assert!(html.len() < 3 << 20, "{} bytes", html.len());
}

#[test]
fn a_damaged_trace_gets_its_page_then_an_error_naming_file_and_offset() {
    let work = Scratch::new("report-damaged");
    blkscope_tests::damaged_ext4mixed(work.path());
    let out = blkscope(work.path(), &["report", "-i", "t", "-o", "t.html"]);
    blkscope_tests::assert_names_the_damage(&out);
    let html = std::fs::read_to_string(work.path().join("t.html")).expect("the page");
    assert!(heatmap_cells(&html).values().sum::<u64>() > 10);
}

#[test]
fn usage_errors_are_named() {
    let work = Scratch::new("report-usage");
    let neither = blkscope(work.path(), &["report", "-o", "x.html"]);
    assert_eq!(neither.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&neither.stderr).contains("-i TRACE"));
    let fixtures = blkscope_tests::blktrace_fixtures();
    let input = fixtures.join("ext4mixed");
    let bad_dir = blkscope(
        work.path(),
        &[
            "report",
            "-i",
            input.to_str().unwrap(),
            "-o",
            "/no/such/dir/x.html",
        ],
    );
    assert_eq!(bad_dir.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&bad_dir.stderr).contains("/no/such/dir"));
}

#[test]
fn a_live_run_counts_what_diskstats_counts() {
    require_root();
    let _serial = serial();
    let disk = LoopDevice::new(64);
    let work = Scratch::new("report-live");
    let name = disk
        .path()
        .file_name()
        .unwrap()
        .to_string_lossy()
        .into_owned();
    let before = DiskCounters::read(&name);
    let child = Command::new(blkscope_binary())
        .current_dir(work.path())
        .args([
            "report",
            "-d",
            disk.path_str(),
            "-w",
            "5",
            "-o",
            "live.html",
        ])
        .spawn()
        .expect("starting report");
    std::thread::sleep(Duration::from_millis(1500));
    for i in 0..60 {
        DirectIo::read(i * 8192, 4096).run(disk.path_str());
    }
    // Ten more from a cgroup: the containers chart names it by its path.
    let cgroup = Cgroup::new("report");
    cgroup.exec(&format!(
        "dd if={} of=/dev/null bs=4096 count=10 skip=1000 iflag=direct 2>/dev/null",
        disk.path_str()
    ));
    let out = child.wait_with_output().expect("report");
    assert!(out.status.success());
    let done = DiskCounters::read(&name).completions() - before.completions();
    assert!(done >= 70, "{done}");
    let html = std::fs::read_to_string(work.path().join("live.html")).expect("the page");
    let cells = heatmap_cells(&html);
    assert_eq!(cells.values().sum::<u64>(), done, "{cells:?}");
    assert!(html.contains("dd ("), "the processes chart names dd");
    let dir = cgroup
        .path()
        .file_name()
        .unwrap()
        .to_string_lossy()
        .into_owned();
    let containers = html
        .split("Top containers by bytes")
        .nth(1)
        .expect("the chart");
    assert!(containers.contains(&dir), "{dir} in {containers}");
    assert!(
        containers.contains("40 KiB"),
        "its ten 4 KiB reads: {containers}"
    );
}
