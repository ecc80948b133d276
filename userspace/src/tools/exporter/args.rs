//! `blkscope exporter`'s command line.

use std::time::Duration;

use anyhow::Context as _;
use clap::Args;

use super::{collect::CollectOptions, run::ExporterOptions, server::Limits, web::WebConfig};

/// The longest one request may take to be answered (a scrape of thousands of cgroups takes
/// tens of milliseconds).
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
use crate::{
    cli::duration::parse_seconds, kernel::fs_latency::FsOptions, model::fs_op::FileSystem,
};

#[derive(Args, Debug)]
pub struct ExporterArgs {
    /// Address and port to serve /metrics and /healthz on (node_exporter's name for it,
    /// --web.listen-address, works too)
    #[arg(
        long,
        alias = "web.listen-address",
        value_name = "ADDR:PORT",
        default_value = "0.0.0.0:9438"
    )]
    pub listen: std::net::SocketAddr,
    /// Read the probes' in-kernel counts every SECONDS
    #[arg(long, value_name = "SECONDS", default_value = "5", value_parser = parse_seconds)]
    pub interval: Duration,
    /// Cgroups with series of their own; the I/O of any further cgroup goes to one
    /// cgroup="overflow" series
    #[arg(long, value_name = "N", default_value_t = 1000)]
    pub max_cgroups: usize,
    /// A removed cgroup's series is dropped once unchanged for SECONDS
    #[arg(long, value_name = "SECONDS", default_value = "300", value_parser = parse_seconds)]
    pub forget_after: Duration,
    /// The file system whose operation latencies are exported: ext4, xfs, btrfs or none
    #[arg(long = "fs", value_name = "FS", default_value = "ext4")]
    pub fs: String,
    /// TLS and basic auth, as node_exporter's: the exporter-toolkit web configuration YAML
    /// (tls_server_config.cert_file and key_file, basic_auth_users with bcrypt hashes)
    #[arg(long = "web.config.file", value_name = "FILE")]
    pub web_config_file: Option<std::path::PathBuf>,
    /// Scrapes served at once; more get 503 (0: no limit)
    #[arg(long = "web.max-requests", value_name = "N", default_value_t = 40)]
    pub max_requests: usize,
    /// Connections served at once; more are closed as they come
    #[arg(long = "web.max-connections", value_name = "N", default_value_t = 1024)]
    pub max_connections: usize,
    /// Seconds a client has to send its request headers (and finish its TLS handshake)
    #[arg(
        long = "web.header-timeout",
        value_name = "SECONDS",
        default_value = "10",
        value_parser = parse_seconds
    )]
    pub header_timeout: Duration,
}

impl ExporterArgs {
    /// The exporter's settings, each value checked.
    pub fn options(&self) -> anyhow::Result<ExporterOptions> {
        let fs = match self.fs.as_str() {
            "none" => None,
            name => Some(
                FileSystem::parse(name)
                    .with_context(|| format!("--fs {name}: expected ext4, xfs, btrfs or none"))?,
            ),
        };
        Ok(ExporterOptions {
            listen: self.listen,
            collect: CollectOptions {
                interval: self.interval,
                max_cgroups: self.max_cgroups,
                forget_after: self.forget_after,
                fs: fs.map(|fs| FsOptions {
                    magic: fs.magic(),
                    min_latency_ns: 0,
                    dev: None,
                    pid: None,
                    cgroup: None,
                    histogram_unit_ns: Some(1000),
                }),
            },
            fs_name: fs.map(FileSystem::name),
            web: match &self.web_config_file {
                Some(path) => WebConfig::read(path)?,
                None => WebConfig::default(),
            },
            max_requests: self.max_requests,
            limits: Limits {
                max_connections: self.max_connections,
                header_timeout: self.header_timeout,
                request_timeout: REQUEST_TIMEOUT,
            },
        })
    }
}
