//! The exporter's web front against hostile and real clients: a cgroup named to break the
//! exposition format (checked by Debian's promtool and a real Prometheus scraping it), a
//! thousand idle connections with a low descriptor limit, TLS and basic auth from an
//! exporter-toolkit web configuration, content negotiation, node_exporter's flag names.

use std::{
    net::{SocketAddr, TcpListener, TcpStream},
    path::Path,
    process::{Child, Command, Output, Stdio},
    time::{Duration, Instant},
};

use blkscope_tests::{Cgroup, LoopDevice, Scratch, blkscope_binary, serial};

fn free_port() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").expect("a free port");
    listener.local_addr().expect("its address")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// An exporter process, killed and waited for on drop.
struct Exporter {
    child: Child,
    addr: SocketAddr,
    scheme: &'static str,
}

impl Exporter {
    /// `blkscope exporter --web.listen-address ADDR ARGS`, through `wrapper` (e.g. prlimit).
    fn start(wrapper: &[&str], args: &[&str], scheme: &'static str) -> Exporter {
        let addr = free_port();
        let mut cmd = match wrapper.split_first() {
            Some((program, rest)) => {
                let mut cmd = Command::new(program);
                cmd.args(rest).arg(blkscope_binary());
                cmd
            }
            None => Command::new(blkscope_binary()),
        };
        let child = cmd
            .args([
                "exporter",
                "--web.listen-address",
                &addr.to_string(),
                "--fs",
                "none",
            ])
            .args(args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("starting blkscope exporter");
        let exporter = Exporter {
            child,
            addr,
            scheme,
        };
        exporter.wait_healthy();
        exporter
    }

    fn url(&self, path: &str) -> String {
        format!("{}://{}{path}", self.scheme, self.addr)
    }

    fn wait_healthy(&self) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            // -k: only whether it answers; the TLS test checks the certificate itself.
            let out = curl(&["-k", "-o", "/dev/null", &self.url("/healthz")]);
            if matches!(text(&out.stdout).as_str(), "200" | "401") {
                return;
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        panic!("the exporter never answered on {}", self.addr);
    }
}

impl Drop for Exporter {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `curl -s -w '%{http_code}' ARGS`: stdout is the status code (and what -o does not take).
fn curl(args: &[&str]) -> Output {
    Command::new("curl")
        .args(["-s", "--max-time", "10", "-w", "%{http_code}"])
        .args(args)
        .output()
        .expect("running curl")
}

/// GET url: status and body.
fn get(url: &str, extra: &[&str]) -> (String, String, String) {
    let work = Scratch::new("exporter-web-get");
    let body = work.path().join("body");
    let headers = work.path().join("headers");
    let mut args = vec![
        "-o",
        body.to_str().unwrap(),
        "-D",
        headers.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    args.push(url);
    let out = curl(&args);
    (
        text(&out.stdout),
        std::fs::read_to_string(&body).unwrap_or_default(),
        std::fs::read_to_string(&headers).unwrap_or_default(),
    )
}

fn promtool_check(body: &str) -> Output {
    let mut child = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("promtool (Debian package prometheus)");
    use std::io::Write as _;
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(body.as_bytes())
        .expect("feeding promtool");
    child.wait_with_output().expect("promtool")
}

/// Parse errors make promtool fail with exit 1; lint notes (exit 3) are style, not parsing.
fn assert_promtool_parses(body: &str) {
    let out = promtool_check(body);
    assert!(
        out.status.code() != Some(1) && !text(&out.stderr).contains("error while linting"),
        "promtool: {}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
}

#[test]
fn a_cgroup_named_to_break_the_format_keeps_the_scrape_parsable_for_prometheus() {
    let _serial = serial();
    let disk = LoopDevice::new(16);
    let evil = "blkscope-test-evil\"name\\x";
    let cgroup = Cgroup::nested(evil);
    let exporter = Exporter::start(&[], &["--interval", "0.5"], "http");
    let script = format!(
        "echo $$ > '{}' && exec dd if={} of=/dev/null bs=4k count=64 iflag=direct",
        cgroup.procs_path(),
        disk.path_str()
    );
    let status = Command::new("sh")
        .args(["-c", &script])
        .stderr(Stdio::null())
        .status()
        .expect("dd");
    assert!(status.success());
    std::thread::sleep(Duration::from_millis(1500));
    let (status, body, headers) = get(&exporter.url("/metrics"), &[]);
    assert_eq!(status, "200");
    assert!(headers.contains("text/plain; version=0.0.4"), "{headers}");
    assert!(
        body.contains(r#"cgroup="/blkscope-test-evil\"name\\x""#),
        "the value is escaped:\n{}",
        body.lines()
            .filter(|l| l.contains("evil"))
            .collect::<Vec<_>>()
            .join("\n")
    );
    assert_promtool_parses(&body);
    // OpenMetrics when asked for, as Prometheus asks.
    let (_, om, om_headers) = get(
        &exporter.url("/metrics"),
        &["-H", "Accept: application/openmetrics-text; version=1.0.0"],
    );
    assert!(
        om_headers.contains("application/openmetrics-text"),
        "{om_headers}"
    );
    assert!(om.ends_with("# EOF\n"));
    assert!(!body.contains("# EOF"));
    // A real Prometheus scrapes it and stores the series with the name as it is.
    let work = Scratch::new("exporter-prometheus");
    let prom = free_port();
    let config = work.path().join("prometheus.yml");
    std::fs::write(
        &config,
        format!(
            "global:\n  scrape_interval: 1s\nscrape_configs:\n  - job_name: blkscope\n    static_configs:\n      - targets: ['{}']\n",
            exporter.addr
        ),
    )
    .unwrap();
    let mut prometheus = Command::new("prometheus")
        .arg(format!("--config.file={}", config.display()))
        .arg(format!(
            "--storage.tsdb.path={}",
            work.path().join("data").display()
        ))
        .arg(format!("--web.listen-address={prom}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("prometheus (Debian package prometheus)");
    let query = format!(
        "http://{prom}/api/v1/query?query=blkscope_cgroup_ios_total%7Bcgroup%3D%22%2F{}%22%7D",
        "blkscope-test-evil%5C%22name%5C%5Cx"
    );
    let up = format!("http://{prom}/api/v1/query?query=up%7Bjob%3D%22blkscope%22%7D");
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut last = String::new();
    let found = loop {
        let (_, up_body, _) = get(&up, &[]);
        let (_, series, _) = get(&query, &[]);
        if up_body.contains("\"1\"]") && series.contains("\"result\":[{") {
            break true;
        }
        last = format!("{up_body}\n{series}");
        if Instant::now() > deadline {
            break false;
        }
        std::thread::sleep(Duration::from_millis(500));
    };
    let _ = prometheus.kill();
    let _ = prometheus.wait();
    assert!(
        found,
        "Prometheus scraped up=1 and the cgroup's series: {last}"
    );
}

#[test]
fn a_thousand_idle_connections_with_a_low_descriptor_limit_do_not_stop_scrapes() {
    let _serial = serial();
    // The exporter starts with a soft limit of 1024 descriptors, as a default systemd unit.
    let exporter = Exporter::start(
        &["prlimit", "--nofile=1024:"],
        &["--web.header-timeout", "3"],
        "http",
    );
    // This test holds 1,100 connections itself.
    let raised = libc::rlimit {
        rlim_cur: 4096,
        rlim_max: 4096,
    };
    // SAFETY: setrlimit with a valid struct; raises this test process's own limit.
    unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &raised) };
    let mut idle: Vec<TcpStream> = Vec::new();
    for _ in 0..1100 {
        let stream = TcpStream::connect(exporter.addr).expect("connecting");
        // Half a request line, never finished.
        let _ = std::io::Write::write_all(&mut &stream, b"GET /metr");
        idle.push(stream);
    }
    let started = Instant::now();
    let (status, body, _) = get(&exporter.url("/metrics"), &[]);
    assert_eq!(status, "200", "scraped while 1,100 connections hang");
    assert!(body.contains("blkscope_"));
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "the scrape waited {:?}",
        started.elapsed()
    );
    // The header-read timeout closes the idle ones.
    std::thread::sleep(Duration::from_secs(5));
    let mut closed = 0;
    for stream in &mut idle {
        stream
            .set_read_timeout(Some(Duration::from_millis(50)))
            .expect("a read timeout");
        let mut buf = [0u8; 512];
        // Closed (or answered): the read returns; still open: it times out.
        if std::io::Read::read(stream, &mut buf).is_ok() {
            closed += 1;
        }
    }
    assert!(
        closed > 1000,
        "{closed} of 1100 idle connections were closed"
    );
}

/// A self-signed certificate for 127.0.0.1 and its key, in `dir`.
fn certificate(dir: &Path) {
    let status = Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "2",
            "-subj",
            "/CN=127.0.0.1",
            "-addext",
            "subjectAltName=IP:127.0.0.1",
            "-keyout",
            "key.pem",
            "-out",
            "cert.pem",
        ])
        .current_dir(dir)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .expect("openssl");
    assert!(status.success());
}

#[test]
fn tls_and_basic_auth_from_an_exporter_toolkit_web_config() {
    let _serial = serial();
    let work = Scratch::new("exporter-tls");
    certificate(work.path());
    let hash = bcrypt::hash("s3cret", 6).expect("bcrypt");
    let config = work.path().join("web.yml");
    std::fs::write(
        &config,
        format!(
            "tls_server_config:\n  cert_file: cert.pem\n  key_file: key.pem\nbasic_auth_users:\n  alice: '{hash}'\n"
        ),
    )
    .unwrap();
    let exporter = Exporter::start(
        &[],
        &["--web.config.file", config.to_str().unwrap()],
        "https",
    );
    let cacert = work.path().join("cert.pem");
    let cacert = cacert.to_str().unwrap();
    let url = exporter.url("/metrics");
    let (ok, body, _) = get(&url, &["--cacert", cacert, "-u", "alice:s3cret"]);
    assert_eq!(ok, "200");
    assert!(body.contains("blkscope_"));
    let (no_auth, _, headers) = get(&url, &["--cacert", cacert]);
    assert_eq!(no_auth, "401");
    assert!(
        headers.contains("WWW-Authenticate: Basic") || headers.contains("www-authenticate: Basic"),
        "{headers}"
    );
    let (wrong, _, _) = get(&url, &["--cacert", cacert, "-u", "alice:nope"]);
    assert_eq!(wrong, "401");
    // Plain HTTP to the TLS port gets no metrics.
    let (plain, plain_body, _) = get(
        &format!("http://{}/metrics", exporter.addr),
        &["-u", "alice:s3cret"],
    );
    assert_ne!(plain, "200");
    assert!(!plain_body.contains("blkscope_"));
    // A configuration asking for what blkscope does not do is refused by name.
    std::fs::write(&config, "tls_server_config:\n  cert_file: cert.pem\n  key_file: key.pem\n  client_auth_type: RequireAndVerifyClientCert\n").unwrap();
    let refused = Command::new(blkscope_binary())
        .args(["exporter", "--web.config.file", config.to_str().unwrap()])
        .output()
        .expect("blkscope");
    assert!(!refused.status.success());
    assert!(
        text(&refused.stderr).contains("client_auth_type"),
        "{}",
        text(&refused.stderr)
    );
}
