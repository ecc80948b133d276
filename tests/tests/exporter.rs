//! `blkscope exporter` against the real kernel: it serves /metrics and /healthz on 127.0.0.1,
//! counts the I/O of workloads in two containers' cgroups on a guarded loop device exactly,
//! agrees with /proc/diskstats, parses with a Prometheus text-format parser, refuses a taken
//! port, stops cleanly; and its memory stays bounded while thousands of cgroups come and go.

use std::{
    collections::HashSet,
    io::{Read as _, Write as _},
    net::{SocketAddr, TcpListener, TcpStream},
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use blkscope_tests::{Cgroup, DiskCounters, LoopDevice, blkscope_binary, serial};

const DOCKER_ID: &str = "e4907e4907e4907e4907e4907e4907e4907e4907e4907e4907e4907e4907e490";
const CRIO_ID: &str = "c4105c4105c4105c4105c4105c4105c4105c4105c4105c4105c4105c4105c410";
const POD_UID: &str = "5a6b7c8d-9e0f-4a1b-8c2d-3e4f5a6b7c8d";

/// A port nobody listens on now.
fn free_port() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").expect("a free port");
    listener.local_addr().expect("its address")
}

/// An exporter process, stopped (SIGTERM) and waited for on drop.
struct Exporter {
    child: Option<Child>,
    addr: SocketAddr,
}

impl Exporter {
    fn start(args: &[&str]) -> Exporter {
        Self::start_with_env(args, &[])
    }

    fn start_with_env(args: &[&str], env: &[(&str, &std::path::Path)]) -> Exporter {
        let addr = free_port();
        let child = Command::new(blkscope_binary())
            .args(["exporter", "--listen", &addr.to_string()])
            .args(args)
            .envs(env.iter().copied())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("starting blkscope exporter");
        let exporter = Exporter {
            child: Some(child),
            addr,
        };
        exporter.wait_healthy();
        exporter
    }

    fn wait_healthy(&self) {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Ok((200, _)) = get(self.addr, "/healthz") {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "the exporter never became healthy"
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    fn scrape(&self) -> prometheus_parse::Scrape {
        let (status, body) = get(self.addr, "/metrics").expect("scraping /metrics");
        assert_eq!(status, 200, "{body}");
        let lines = body.lines().map(|l| Ok(l.to_owned()));
        prometheus_parse::Scrape::parse(lines).unwrap_or_else(|e| panic!("{e}:\n{body}"))
    }

    fn pid(&self) -> u32 {
        self.child.as_ref().expect("running").id()
    }

    /// SIGTERM; its exit status and stderr.
    fn stop(mut self) -> (std::process::ExitStatus, String) {
        let child = self.child.take().expect("running");
        // SAFETY: kill(2) on our own child.
        unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
        let out = child.wait_with_output().expect("waiting for the exporter");
        (
            out.status,
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }
}

impl Drop for Exporter {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// An HTTP/1.0 GET: status and body.
fn get(addr: SocketAddr, path: &str) -> std::io::Result<(u16, String)> {
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(2))?;
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    write!(stream, "GET {path} HTTP/1.0\r\nHost: {addr}\r\n\r\n")?;
    let mut response = String::new();
    stream.read_to_string(&mut response)?;
    let (head, body) = response.split_once("\r\n\r\n").unwrap_or((&response, ""));
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    Ok((status, body.to_owned()))
}

/// The value of the sample `name` whose labels include all of `labels`.
fn value(scrape: &prometheus_parse::Scrape, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    scrape
        .samples
        .iter()
        .find(|s| {
            s.metric == name
                && labels
                    .iter()
                    .all(|(k, v)| s.labels.get(k).is_some_and(|l| l == *v))
        })
        .map(|s| match s.value {
            prometheus_parse::Value::Counter(v)
            | prometheus_parse::Value::Gauge(v)
            | prometheus_parse::Value::Untyped(v) => v,
            _ => f64::NAN,
        })
}

/// `dd ARGS` inside `cgroup`, in new mount and pid namespaces as a runtime starts a container.
fn dd_in(cgroup: &Cgroup, args: &str) {
    let script = format!("echo $$ > {} && exec dd {args}", cgroup.procs_path());
    let status = Command::new("unshare")
        .args(["--mount", "--pid", "--fork", "sh", "-c", &script])
        .stderr(Stdio::null())
        .status()
        .expect("unshare");
    assert!(status.success(), "dd {args}");
}

#[test]
fn counts_two_containers_io_agrees_with_diskstats_and_parses() {
    let _serial = serial();
    let disk = LoopDevice::new(64);
    let dev = disk.path_str();
    let base = format!("blkscope-test-exporter-{}", std::process::id());
    let docker = Cgroup::nested(&format!("{base}/system.slice/docker-{DOCKER_ID}.scope"));
    let pod = format!("kubepods-burstable-pod{}.slice", POD_UID.replace('-', "_"));
    let crio = Cgroup::nested(&format!(
        "{base}/kubepods.slice/kubepods-burstable.slice/{pod}/crio-{CRIO_ID}.scope"
    ));
    let exporter = Exporter::start(&["--interval", "0.5"]);
    let before = DiskCounters::read(disk.name());
    dd_in(
        &docker,
        &format!("if={dev} of=/dev/null bs=4096 count=300 iflag=direct"),
    );
    dd_in(
        &crio,
        &format!("if=/dev/zero of={dev} bs=8192 count=100 seek=1000 oflag=direct"),
    );
    std::thread::sleep(Duration::from_millis(1500));
    let scrape = exporter.scrape();
    let after = DiskCounters::read(disk.name());

    let docker_name = "docker:e4907e4907e4";
    let crio_name = format!("pod:{POD_UID}/crio:c4105c4105c4");
    let io = |metric: &str, container: &str, direction: &str| {
        value(
            &scrape,
            metric,
            &[
                ("container_id", container),
                ("device", disk.name()),
                ("direction", direction),
            ],
        )
        .unwrap_or(0.0)
    };
    assert_eq!(io("blkscope_cgroup_ios_total", docker_name, "read"), 300.0);
    assert_eq!(
        io("blkscope_cgroup_bytes_total", docker_name, "read"),
        300.0 * 4096.0
    );
    assert_eq!(io("blkscope_cgroup_ios_total", &crio_name, "write"), 100.0);
    assert_eq!(
        io("blkscope_cgroup_bytes_total", &crio_name, "write"),
        100.0 * 8192.0
    );
    assert_eq!(io("blkscope_cgroup_ios_total", docker_name, "write"), 0.0);
    assert!(io("blkscope_cgroup_io_time_seconds_total", docker_name, "read") > 0.0);
    let pod_label = value(
        &scrape,
        "blkscope_cgroup_ios_total",
        &[("pod_uid", POD_UID), ("device", disk.name())],
    );
    assert_eq!(pod_label, Some(100.0), "the pod uid is a label");

    // node_exporter's names, the kernel's numbers.
    let node = |metric: &str| value(&scrape, metric, &[("device", disk.name())]).unwrap_or(-1.0);
    assert_eq!(node("node_disk_reads_completed_total"), after.reads as f64);
    assert_eq!(
        node("node_disk_writes_completed_total"),
        after.writes as f64
    );
    assert_eq!(
        node("node_disk_read_bytes_total"),
        after.read_sectors as f64 * 512.0
    );
    assert_eq!(
        node("node_disk_written_bytes_total"),
        after.written_sectors as f64 * 512.0
    );
    assert_eq!(
        after.writes - before.writes,
        100,
        "the pod's writes, no others"
    );
    // Every completion on the disk while the exporter ran is in its device-stage histogram.
    let completions = (after.completions() - before.completions()) as f64;
    let counted = value(
        &scrape,
        "blkscope_disk_device_latency_seconds_count",
        &[("device", disk.name())],
    );
    assert_eq!(counted, Some(completions), "device-stage histogram count");
    for family in [
        "blkscope_cgroup_device_latency_seconds_count",
        "blkscope_cgroup_device_latency_seconds",
        "blkscope_probe_drops_total",
        "blkscope_cgroups_tracked",
        "node_disk_io_time_seconds_total",
    ] {
        assert!(
            scrape.samples.iter().any(|s| s.metric == family),
            "{family} missing"
        );
    }

    // The dashboard shipped in docs/ asks only for metrics the exporter serves.
    let dashboard = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../docs/exporter/grafana-dashboard.json"),
    )
    .expect("docs/exporter/grafana-dashboard.json");
    let dashboard: serde_json::Value = serde_json::from_str(&dashboard).expect("dashboard JSON");
    let mut asked = 0;
    for panel in dashboard["panels"].as_array().expect("panels") {
        for target in panel["targets"].as_array().expect("targets") {
            let expr = target["expr"].as_str().expect("expr");
            for name in expr
                .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .filter(|w| w.starts_with("node_disk_") || w.starts_with("blkscope_"))
            {
                let family = ["_total", "_bucket", "_sum", "_count"]
                    .iter()
                    .find_map(|suffix| name.strip_suffix(suffix))
                    .unwrap_or(name);
                // The classic text format names a counter family after its samples (X_total).
                assert!(
                    scrape.docs.contains_key(family) || scrape.docs.contains_key(name),
                    "the dashboard asks for {name}, which the exporter does not serve"
                );
                asked += 1;
            }
        }
    }
    assert!(asked >= 10, "{asked} metrics in the dashboard");
    // Its pod and namespace variables ask for labels the per-cgroup series carry.
    let variables: Vec<&str> = dashboard["templating"]["list"]
        .as_array()
        .expect("templating")
        .iter()
        .filter_map(|v| v["name"].as_str())
        .collect();
    for label in ["namespace", "pod"] {
        assert!(
            variables.contains(&label),
            "no ${label} variable: {variables:?}"
        );
        assert!(
            scrape
                .samples
                .iter()
                .filter(|s| s.metric == "blkscope_cgroup_ios_total")
                .all(|s| s.labels.get(label).is_some()),
            "blkscope_cgroup_ios_total lacks {label}"
        );
    }

    // A second exporter on the same port says so, and fails.
    let taken = Command::new(blkscope_binary())
        .args(["exporter", "--listen", &exporter.addr.to_string()])
        .output()
        .expect("a second exporter");
    let stderr = String::from_utf8_lossy(&taken.stderr);
    assert_eq!(taken.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("--listen") && stderr.contains("in use"),
        "{stderr}"
    );

    let (status, stderr) = exporter.stop();
    assert!(status.success(), "clean shutdown on SIGTERM: {stderr}");
}

fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

#[test]
fn memory_stays_bounded_while_thousands_of_cgroups_come_and_go() {
    let _serial = serial();
    let disk = LoopDevice::new(16);
    let dev = disk.path_str().to_owned();
    let exporter = Exporter::start(&[
        "--interval",
        "0.2",
        "--max-cgroups",
        "50",
        "--forget-after",
        "0.5",
        "--fs",
        "none",
    ]);
    let base = format!("blkscope-test-soak-{}", std::process::id());
    let mut rss = Vec::new();
    let mut most_tracked = 0.0f64;
    for batch in 0..20 {
        let cgroups: Vec<Cgroup> = (0..100)
            .map(|i| Cgroup::nested(&format!("{base}/batch{batch}/docker-{i:064x}.scope")))
            .collect();
        // One read in each.
        let mut children: Vec<Child> = cgroups
            .iter()
            .enumerate()
            .map(|(i, cgroup)| {
                let script = format!(
                    "echo $$ > {} && exec dd if={dev} of=/dev/null bs=4096 count=1 skip={i} iflag=direct",
                    cgroup.procs_path()
                );
                Command::new("sh")
                    .args(["-c", &script])
                    .stderr(Stdio::null())
                    .spawn()
                    .expect("dd")
            })
            .collect();
        for child in &mut children {
            let _ = child.wait();
        }
        std::thread::sleep(Duration::from_millis(300));
        let scrape = exporter.scrape();
        let tracked = value(&scrape, "blkscope_cgroups_tracked", &[]).unwrap_or(f64::NAN);
        most_tracked = most_tracked.max(tracked);
        drop(cgroups); // removed: their series go once idle
        rss.push(rss_kib(exporter.pid()));
    }
    std::thread::sleep(Duration::from_millis(1500));
    let scrape = exporter.scrape();
    assert!(
        most_tracked <= 50.0,
        "at most --max-cgroups series: {most_tracked}"
    );
    let overflowed = value(&scrape, "blkscope_cgroups_overflowed_total", &[]).unwrap_or(0.0);
    assert!(overflowed > 0.0, "100 cgroups a batch overflow 50 series");
    let series: HashSet<String> = scrape
        .samples
        .iter()
        .filter(|s| s.metric == "blkscope_cgroup_ios_total")
        .map(|s| s.labels.get("cgroup").unwrap_or_default().to_owned())
        .collect();
    assert!(
        series.len() <= 51,
        "gone cgroups are forgotten: {} series left",
        series.len()
    );
    // Memory: flat after the first batches (not growing with the 2000 cgroups).
    let early = rss[2];
    let late = *rss.last().unwrap();
    assert!(
        late <= early + early / 4 + 2048,
        "RSS grew from {early} KiB to {late} KiB: {rss:?}"
    );
    let (status, stderr) = exporter.stop();
    assert!(status.success(), "{stderr}");
}

/// Per-cgroup series carry the label set cAdvisor users join on: `namespace`, `pod`,
/// `container` for Kubernetes containers, `name` for the others, from the runtimes' state
/// (tests/fixtures/runtimes: containerd's CRI bundle and docker's config.v2.json).
#[test]
fn labels_containers_by_name_as_cadvisor_does() {
    const CONTAINERD: &str = "c0d7a1e5c0d7a1e5c0d7a1e5c0d7a1e5c0d7a1e5c0d7a1e5c0d7a1e5c0d7a1e5";
    const WEB: &str = "d0c4e1d0c4e1d0c4e1d0c4e1d0c4e1d0c4e1d0c4e1d0c4e1d0c4e1d0c4e1d0c4";
    let _serial = serial();
    let disk = LoopDevice::new(64);
    let dev = disk.path_str();
    let base = format!("blkscope-test-exporter-names-{}", std::process::id());
    let redis = Cgroup::nested(&format!(
        "{base}/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod4f6e2a10_8b7c_4d3e_9f21_0a1b2c3d4e5f.slice/cri-containerd-{CONTAINERD}.scope"
    ));
    let web = Cgroup::nested(&format!("{base}/system.slice/docker-{WEB}.scope"));
    let fixtures = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/runtimes");
    let exporter = Exporter::start_with_env(
        &["--interval", "0.5"],
        &[("BLKSCOPE_HOST_ROOT", fixtures.as_path())],
    );
    dd_in(
        &redis,
        &format!("if={dev} of=/dev/null bs=4096 count=40 iflag=direct"),
    );
    dd_in(
        &web,
        &format!("if={dev} of=/dev/null bs=4096 count=25 skip=500 iflag=direct"),
    );
    std::thread::sleep(Duration::from_millis(1500));
    let scrape = exporter.scrape();
    let reads = |labels: &[(&str, &str)]| {
        let mut all = vec![("device", disk.name()), ("direction", "read")];
        all.extend_from_slice(labels);
        value(&scrape, "blkscope_cgroup_ios_total", &all)
    };
    assert_eq!(
        reads(&[
            ("namespace", "shop"),
            ("pod", "cart-7d9f8-x2x4z"),
            ("container", "redis"),
            ("name", ""),
            (
                "container_id",
                "pod:4f6e2a10-8b7c-4d3e-9f21-0a1b2c3d4e5f/containerd:c0d7a1e5c0d7"
            ),
        ]),
        Some(40.0)
    );
    assert_eq!(
        reads(&[
            ("name", "web-1"),
            ("namespace", ""),
            ("pod", ""),
            ("container", ""),
            ("container_id", "docker:d0c4e1d0c4e1"),
        ]),
        Some(25.0)
    );
    // Every per-cgroup sample has the whole label set (one set per metric family).
    for sample in scrape
        .samples
        .iter()
        .filter(|s| s.metric.starts_with("blkscope_cgroup_"))
    {
        for label in [
            "cgroup",
            "container_id",
            "pod_uid",
            "namespace",
            "pod",
            "container",
            "name",
        ] {
            assert!(
                sample.labels.get(label).is_some(),
                "{} lacks {label}",
                sample.metric
            );
        }
    }
}

/// A scrape reads the kernel's counts of that moment (as ebpf_exporter does): I/O done just
/// before it is there, though the exporter's own interval is far from due.
#[test]
fn a_scrape_right_after_the_workload_sees_all_of_it() {
    let _serial = serial();
    let disk = LoopDevice::new(64);
    let dev = disk.path_str();
    let cgroup = Cgroup::nested(&format!(
        "blkscope-test-exporter-fresh-{}/system.slice/docker-{DOCKER_ID}.scope",
        std::process::id()
    ));
    let exporter = Exporter::start(&["--interval", "600"]);
    for round in 1..=2u32 {
        dd_in(
            &cgroup,
            &format!(
                "if={dev} of=/dev/null bs=4096 count=70 skip={} iflag=direct",
                100 * round
            ),
        );
        let scrape = exporter.scrape();
        let reads = value(
            &scrape,
            "blkscope_cgroup_ios_total",
            &[
                ("container_id", "docker:e4907e4907e4"),
                ("device", disk.name()),
                ("direction", "read"),
            ],
        );
        assert_eq!(reads, Some(70.0 * f64::from(round)), "scrape {round}");
    }
}
