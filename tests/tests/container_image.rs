//! The container image the exporter's DaemonSet runs (the Dockerfile at the repository's root),
//! built by a real docker daemon and run as docs/exporter/daemonset.yaml runs it: the exporter
//! serving node_disk_* and blkscope_* metrics from inside the container.
//!
//! No registry is reachable from these machines, so the image is built from its `prebuilt`
//! target (the binary cargo built for these tests) on a base made of busybox-static and the
//! binary's own libraries, in place of debian:bookworm-slim. The `build` stage (blkscope built
//! inside the image) needs debian:bookworm from a registry and is not built here.

use std::{
    net::TcpListener,
    path::Path,
    process::Command,
    time::{Duration, Instant},
};

use blkscope_tests::{
    blkscope_binary,
    docker::{BuiltImage, DockerDaemon, logs, run_detached},
    require_root, serial,
};

/// The DaemonSet's container arguments (the `args:` list of docs/exporter/daemonset.yaml).
fn daemonset_args(root: &Path) -> Vec<String> {
    let path = root.join("docs/exporter/daemonset.yaml");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut lines = text.lines().skip_while(|l| l.trim() != "args:").skip(1);
    let mut args = Vec::new();
    while let Some(item) = lines.next().and_then(|l| l.trim().strip_prefix("- ")) {
        args.push(item.to_owned());
    }
    args
}

fn curl(url: &str) -> Option<String> {
    let out = Command::new("curl")
        .args(["-sf", "--max-time", "5", url])
        .output()
        .expect("curl (Debian package curl)");
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
}

#[test]
fn the_daemonsets_image_builds_and_serves_metrics() {
    require_root();
    let _serial = serial();
    let daemon = DockerDaemon::ensure();
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the workspace root");
    let binary = blkscope_binary();
    let in_context = binary
        .strip_prefix(root)
        .unwrap_or_else(|_| panic!("{} is outside the build context", binary.display()));
    let base = daemon.runtime_image_for(&binary, "blkscope-runtime:test");
    let image = BuiltImage::build(
        root,
        "blkscope-exporter:test",
        &[
            "--target",
            "prebuilt",
            "--build-arg",
            &format!("RUNTIME={base}"),
            "--build-arg",
            &format!("BINARY={}", in_context.display()),
        ],
    );
    assert_eq!(
        image.inspect("{{json .Config.Entrypoint}}"),
        r#"["/usr/bin/blkscope"]"#
    );
    assert!(image.inspect("{{json .Config.Cmd}}").contains("exporter"));
    assert!(
        image
            .inspect("{{json .Config.ExposedPorts}}")
            .contains("9438/tcp")
    );

    // The DaemonSet's arguments, listening on a free port of the host's network. The pod is
    // privileged; here CAP_SYS_ADMIN without seccomp's filter is as much as this machine
    // grants a container, and enough to load the probes.
    let args = daemonset_args(root);
    assert_eq!(
        args.first().map(String::as_str),
        Some("exporter"),
        "{args:?}"
    );
    let port = TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    let listen = format!("--listen=127.0.0.1:{port}");
    let args: Vec<&str> = args
        .iter()
        .map(|a| {
            if a.starts_with("--listen=") {
                listen.as_str()
            } else {
                a.as_str()
            }
        })
        .collect();
    let mut run = vec![
        "--network",
        "host",
        "--pid",
        "host",
        "--cap-add",
        "SYS_ADMIN",
        "--security-opt",
        "seccomp=unconfined",
        "-v",
        "/sys/fs/cgroup:/sys/fs/cgroup:ro",
        "-v",
        "/sys/kernel/tracing:/sys/kernel/tracing",
        &image.tag,
    ];
    run.extend(&args);
    let container = run_detached("blkscope-exporter-image-test", &run);

    let url = format!("http://127.0.0.1:{port}");
    let deadline = Instant::now() + Duration::from_secs(60);
    let metrics = loop {
        if let Some(text) = curl(&format!("{url}/metrics")) {
            break text;
        }
        assert!(
            Instant::now() < deadline,
            "the exporter in the container did not answer in 60 s:\n{}",
            logs(&container.name)
        );
        std::thread::sleep(Duration::from_millis(500));
    };
    assert!(
        metrics.contains("\nnode_disk_reads_completed_total{"),
        "node_exporter's diskstats series: {metrics}"
    );
    assert!(
        metrics
            .lines()
            .any(|l| l.starts_with("blkscope_") && !l.starts_with('#')),
        "blkscope's own series: {metrics}"
    );
    assert!(curl(&format!("{url}/healthz")).is_some(), "/healthz");
}
