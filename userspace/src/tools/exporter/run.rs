//! `blkscope exporter` from start to clean shutdown: bind the port, start the collector thread
//! (it loads the probes; their errors come back before anything is served), serve until
//! SIGINT or SIGTERM, then stop the collector and detach the probes.

use std::{
    net::SocketAddr,
    sync::{Arc, Mutex, mpsc},
    time::Duration,
};

use super::{
    collect::{self, CollectOptions, Probes, Totals},
    server::{self, Shared},
};
use crate::{
    kernel::privileges,
    run::stop::{INTERRUPT, Stop, StopError, runtime},
};

/// What `blkscope exporter` was asked for.
#[derive(Clone, Debug)]
pub struct ExporterOptions {
    pub listen: SocketAddr,
    pub collect: CollectOptions,
    /// The file system's name (for the `fs` label), with `collect.fs`.
    pub fs_name: Option<&'static str>,
}

#[derive(Debug, thiserror::Error)]
pub enum ExporterError {
    #[error("--listen {0}: {1}")]
    Listen(SocketAddr, std::io::Error),
    #[error("{0}")]
    Probes(String),
    #[error("the collector stopped before it started")]
    CollectorGone,
    #[error("serving HTTP: {0}")]
    Serve(std::io::Error),
    #[error(transparent)]
    Stop(#[from] StopError),
}

pub fn run(options: &ExporterOptions) -> Result<(), ExporterError> {
    let runtime = runtime()?;
    let listener = runtime
        .block_on(tokio::net::TcpListener::bind(options.listen))
        .map_err(|e| ExporterError::Listen(options.listen, e))?;
    let mut totals = Totals::new(options.collect.max_cgroups);
    totals.fs_type = options.fs_name;
    let totals = Arc::new(Mutex::new(totals));
    let shutdown = Stop::on_signals(INTERRUPT)?;
    let stop_collector = Stop::manual();
    let collector = start_collector(&options.collect, &totals, &stop_collector, runtime.handle())?;
    // The port is bound and the probes attached: the server needs no privilege.
    privileges::attached(&[]);
    eprintln!(
        "blkscope exporter: serving http://{}/metrics and /healthz",
        options.listen
    );
    let shared = Shared {
        totals,
        stale_after: options.collect.interval * 3 + Duration::from_secs(1),
    };
    let served = runtime.block_on(async {
        axum::serve(listener, server::router(shared))
            .with_graceful_shutdown(async move { shutdown.stopped().await })
            .await
    });
    stop_collector.trigger();
    let _ = collector.join();
    served.map_err(ExporterError::Serve)
}

/// The collector thread, once its probes are attached.
fn start_collector(
    options: &CollectOptions,
    totals: &Arc<Mutex<Totals>>,
    stop: &Stop,
    runtime: &tokio::runtime::Handle,
) -> Result<std::thread::JoinHandle<()>, ExporterError> {
    let (started, result) = mpsc::channel();
    let (options, totals, stop) = (options.clone(), Arc::clone(totals), stop.clone());
    let runtime = runtime.clone();
    let handle = std::thread::spawn(move || {
        // The file-system probe registers its ring buffer with the runtime's reactor (it is
        // never polled here: the exporter reads only its histograms).
        let _reactor = runtime.enter();
        collect_from_start(&options, &totals, stop, &started);
    });
    match result.recv() {
        Ok(Ok(())) => Ok(handle),
        Ok(Err(e)) => Err(ExporterError::Probes(e)),
        Err(_) => Err(ExporterError::CollectorGone),
    }
}

/// Starts the probes (saying how on `started`), then collects until `stop`.
fn collect_from_start(
    options: &CollectOptions,
    totals: &Arc<Mutex<Totals>>,
    stop: Stop,
    started: &mpsc::Sender<Result<(), String>>,
) {
    match Probes::start(options) {
        Ok(probes) => {
            privileges::attached(&[]);
            let _ = started.send(Ok(()));
            collect::run(probes, options, totals, stop);
        }
        Err(e) => {
            let _ = started.send(Err(e.to_string()));
        }
    }
}
