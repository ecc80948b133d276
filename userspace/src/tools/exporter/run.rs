//! `blkscope exporter` from start to clean shutdown: bind the port, start the collector thread
//! (it loads the probes; their errors come back before anything is served), serve until
//! SIGINT or SIGTERM, then stop the collector and detach the probes.

use std::{
    net::SocketAddr,
    sync::{Arc, Mutex, mpsc},
    time::Duration,
};

use tokio::sync::Semaphore;

use super::{
    collect::{self, CollectOptions, Collector, Probes, Totals},
    server::{self, Limits, Shared},
    web::WebConfig,
};
use crate::{
    kernel::privileges,
    run::stop::{INTERRUPT, Stop, StopError, runtime},
};

/// What `blkscope exporter` was asked for.
#[derive(Clone)]
pub struct ExporterOptions {
    pub listen: SocketAddr,
    pub collect: CollectOptions,
    /// The file system's name (for the `fs` label), with `collect.fs`.
    pub fs_name: Option<&'static str>,
    /// TLS and basic auth (`--web.config.file`).
    pub web: WebConfig,
    /// Scrapes at once (`--web.max-requests`; 0: no limit).
    pub max_requests: usize,
    pub limits: Limits,
}

#[derive(Debug, thiserror::Error)]
pub enum ExporterError {
    #[error("--listen {0}: {1}")]
    Listen(SocketAddr, std::io::Error),
    #[error("{0}")]
    Probes(String),
    #[error("the collector stopped before it started")]
    CollectorGone,
    #[error(transparent)]
    Stop(#[from] StopError),
}

pub fn run(options: &ExporterOptions) -> Result<(), ExporterError> {
    raise_open_file_limit();
    let runtime = runtime()?;
    let listener = runtime
        .block_on(tokio::net::TcpListener::bind(options.listen))
        .map_err(|e| ExporterError::Listen(options.listen, e))?;
    let mut totals = Totals::new(options.collect.max_cgroups);
    totals.fs_type = options.fs_name;
    let totals = Arc::new(Mutex::new(totals));
    let shutdown = Stop::on_signals(INTERRUPT)?;
    let stop_collector = Stop::manual();
    let (collector, reader) =
        start_collector(&options.collect, &totals, &stop_collector, runtime.handle())?;
    // The port is bound and the probes attached: the server needs no privilege.
    privileges::attached(&[]);
    let scheme = if options.web.tls.is_some() {
        "https"
    } else {
        "http"
    };
    eprintln!(
        "blkscope exporter: serving {scheme}://{}/metrics and /healthz",
        options.listen
    );
    let shared = Shared {
        totals,
        collector: Some(reader),
        stale_after: options.collect.interval * 3 + Duration::from_secs(1),
        scrapes: (options.max_requests > 0).then(|| Arc::new(Semaphore::new(options.max_requests))),
        users: Arc::clone(&options.web.users),
    };
    runtime.block_on(server::serve(
        listener,
        server::router(shared),
        options.web.tls.clone(),
        options.limits,
        shutdown,
    ));
    stop_collector.trigger();
    let _ = collector.join();
    Ok(())
}

/// Raises the soft limit on open files to the hard one, as Go's runtime does for
/// node_exporter: every connection is a descriptor, and 1024 is a low default for a server.
fn raise_open_file_limit() {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit and setrlimit read and write the local struct.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) == 0 && limit.rlim_cur < limit.rlim_max
        {
            limit.rlim_cur = limit.rlim_max;
            libc::setrlimit(libc::RLIMIT_NOFILE, &limit);
        }
    }
}

/// The collector thread, once its probes are attached.
fn start_collector(
    options: &CollectOptions,
    totals: &Arc<Mutex<Totals>>,
    stop: &Stop,
    runtime: &tokio::runtime::Handle,
) -> Result<(std::thread::JoinHandle<()>, Arc<Mutex<Collector>>), ExporterError> {
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
        Ok(Ok(collector)) => Ok((handle, collector)),
        Ok(Err(e)) => Err(ExporterError::Probes(e)),
        Err(_) => Err(ExporterError::CollectorGone),
    }
}

/// Starts the probes (saying how on `started`), then collects until `stop`.
fn collect_from_start(
    options: &CollectOptions,
    totals: &Arc<Mutex<Totals>>,
    stop: Stop,
    started: &mpsc::Sender<Result<Arc<Mutex<Collector>>, String>>,
) {
    match Probes::start(options) {
        Ok(probes) => {
            privileges::attached(&[]);
            let collector = Collector::new(probes);
            let _ = started.send(Ok(Arc::clone(&collector)));
            collect::run(&collector, options, totals, stop);
        }
        Err(e) => {
            let _ = started.send(Err(e.to_string()));
        }
    }
}
