//! The HTTP side: `/metrics` and `/healthz`, with the defences a node's monitoring endpoint
//! needs. A scrape copies the collector's totals under their lock and encodes outside it, so
//! scrapes never hold up the collector, and the collector never waits on the kernel for a scrape.
//!
//! Connections are served by hyper directly (not `axum::serve`) so that each gets a deadline
//! for its request headers and its TLS handshake, a request gets a deadline for its answer,
//! and at most `max_connections` are served at once (more are closed at once); at most
//! `max_requests` scrapes run at once (more get 503, as node_exporter's `--web.max-requests`).

use std::{
    sync::{Arc, Mutex},
    time::Duration,
};

use axum::{
    Router,
    extract::{Request, State},
    http::{HeaderMap, StatusCode, header},
    middleware::{self, Next},
    response::{IntoResponse, Response},
    routing::get,
};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::{
    io::{AsyncRead, AsyncWrite},
    net::TcpListener,
    sync::Semaphore,
};
use tokio_rustls::TlsAcceptor;

use super::{
    collect::{Collector, Read, Totals, lock, refresh},
    metrics::{Snapshot, classic_text_format},
    web::BasicAuthUsers,
};
use crate::run::stop::Stop;

/// What the handlers share.
#[derive(Clone)]
pub struct Shared {
    pub totals: Arc<Mutex<Totals>>,
    /// Read before each scrape, so it sees the kernel's counts of that moment (`None`: serve
    /// the totals as they are, as the tests of the server alone do).
    pub collector: Option<Arc<Mutex<Collector>>>,
    /// `/healthz` fails when the collector has not read the probes for this long.
    pub stale_after: Duration,
    /// Room for scrapes running at once (`--web.max-requests`; none: no limit).
    pub scrapes: Option<Arc<Semaphore>>,
    /// `basic_auth_users` of `--web.config.file`.
    pub users: Arc<BasicAuthUsers>,
}

/// How much the server gives any one client.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// Connections served at once (`--web.max-connections`).
    pub max_connections: usize,
    /// For a client to send its request headers (and finish its TLS handshake).
    pub header_timeout: Duration,
    /// For the answer to one request.
    pub request_timeout: Duration,
}

const OPENMETRICS: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";
const CLASSIC_TEXT: &str = "text/plain; version=0.0.4; charset=utf-8";

pub fn router(shared: Shared) -> Router {
    let router = Router::new()
        .route("/metrics", get(metrics))
        .route("/healthz", get(healthz));
    let router = if shared.users.required() {
        router.layer(middleware::from_fn_with_state(shared.clone(), basic_auth))
    } else {
        router
    };
    router.with_state(shared)
}

/// 401 unless the request names one of `basic_auth_users` with its password.
async fn basic_auth(State(shared): State<Shared>, request: Request, next: Next) -> Response {
    let authorization = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let users = Arc::clone(&shared.users);
    // bcrypt is slow on purpose: checked off the thread that serves the other clients.
    let admitted = tokio::task::spawn_blocking(move || users.admits(authorization.as_deref()))
        .await
        .unwrap_or(false);
    if admitted {
        next.run(request).await
    } else {
        (
            StatusCode::UNAUTHORIZED,
            [(header::WWW_AUTHENTICATE, "Basic realm=\"blkscope\"")],
            "Unauthorized\n",
        )
            .into_response()
    }
}

async fn metrics(State(shared): State<Shared>, headers: HeaderMap) -> Response {
    let _permit = match &shared.scrapes {
        Some(room) => match Arc::clone(room).try_acquire_owned() {
            Ok(permit) => Some(permit),
            Err(_) => {
                return (
                    StatusCode::SERVICE_UNAVAILABLE,
                    "too many scrapes at once (--web.max-requests)\n",
                )
                    .into_response();
            }
        },
        None => None,
    };
    if let Some(collector) = &shared.collector {
        let (collector, totals) = (Arc::clone(collector), Arc::clone(&shared.totals));
        // Reading the kernel's tables blocks (a few ms with 1,000 cgroups): off the runtime.
        let read = tokio::task::spawn_blocking(move || refresh(&collector, &totals, Read::Scrape));
        let _ = read.await;
    }
    let snapshot = {
        let totals = lock(&shared.totals);
        Snapshot::take(&totals)
    };
    let Ok(text) = snapshot.encode() else {
        return (
            StatusCode::INTERNAL_SERVER_ERROR,
            "encoding the metrics failed\n",
        )
            .into_response();
    };
    if wants_openmetrics(&headers) {
        (StatusCode::OK, [(header::CONTENT_TYPE, OPENMETRICS)], text).into_response()
    } else {
        let classic = classic_text_format(&text);
        (
            StatusCode::OK,
            [(header::CONTENT_TYPE, CLASSIC_TEXT)],
            classic,
        )
            .into_response()
    }
}

/// Whether the scraper asked for OpenMetrics (Prometheus does; curl and older scrapers get
/// the classic text format, as from node_exporter).
fn wants_openmetrics(headers: &HeaderMap) -> bool {
    headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|v| v.contains("application/openmetrics-text"))
}

/// Serves `router` on `listener` until `stop`; TLS first when `tls` is given.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    tls: Option<TlsAcceptor>,
    limits: Limits,
    stop: Stop,
) {
    let table = Arc::new(ConnectionTable::default());
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            () = stop.stopped() => return,
        };
        let stream = match accepted {
            Ok((stream, _)) => stream,
            Err(err) => {
                // Out of descriptors (EMFILE) or the like: wait for connections to close
                // instead of spinning or giving up.
                log::warn!("accepting a connection: {err}");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        // At the cap, the oldest connection with no request in progress makes room (idle
        // connections must not lock scrapers out); when every one is busy, this one is closed.
        let Some(connection) = table.admit(limits.max_connections) else {
            continue;
        };
        let (router, tls, table) = (router.clone(), tls.clone(), Arc::clone(&table));
        tokio::spawn(async move {
            tokio::select! {
                () = serve_stream(stream, router, tls, limits, &connection) => {}
                () = connection.evicted.notified() => {}
            }
            table.remove(connection.id);
        });
    }
}

/// One connection, TLS first when asked for.
async fn serve_stream(
    stream: tokio::net::TcpStream,
    router: Router,
    tls: Option<TlsAcceptor>,
    limits: Limits,
    connection: &Connection,
) {
    let busy = Arc::clone(&connection.requests);
    match tls {
        None => serve_connection(stream, router, limits, busy).await,
        Some(tls) => {
            if let Ok(Ok(stream)) =
                tokio::time::timeout(limits.header_timeout, tls.accept(stream)).await
            {
                serve_connection(stream, router, limits, busy).await;
            }
        }
    }
}

/// The connections being served, oldest first.
#[derive(Default)]
struct ConnectionTable {
    open: Mutex<std::collections::BTreeMap<u64, Connection>>,
    next_id: std::sync::atomic::AtomicU64,
}

/// What the table knows of a connection.
#[derive(Clone)]
struct Connection {
    id: u64,
    /// Requests in progress on it.
    requests: Arc<std::sync::atomic::AtomicUsize>,
    /// Tells its task to close it.
    evicted: Arc<tokio::sync::Notify>,
}

impl ConnectionTable {
    /// Room for one more connection (evicting the oldest idle one at the cap), or `None`.
    fn admit(&self, max: usize) -> Option<Connection> {
        use std::sync::atomic::Ordering;
        let mut open = self.open.lock().unwrap_or_else(|p| p.into_inner());
        if open.len() >= max.max(1) {
            let idle = open
                .iter()
                .find(|(_, c)| c.requests.load(Ordering::Relaxed) == 0)
                .map(|(id, _)| *id)?;
            if let Some(oldest) = open.remove(&idle) {
                // notify_one stores the wake-up if the task is not waiting yet.
                oldest.evicted.notify_one();
            }
        }
        let connection = Connection {
            id: self.next_id.fetch_add(1, Ordering::Relaxed),
            requests: Arc::default(),
            evicted: Arc::default(),
        };
        open.insert(connection.id, connection.clone());
        Some(connection)
    }

    fn remove(&self, id: u64) {
        self.open
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&id);
    }
}

/// Counts a request in progress while it lives.
struct InProgress(Arc<std::sync::atomic::AtomicUsize>);

impl InProgress {
    fn start(requests: &Arc<std::sync::atomic::AtomicUsize>) -> InProgress {
        requests.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        InProgress(Arc::clone(requests))
    }
}

impl Drop for InProgress {
    fn drop(&mut self) {
        self.0.fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
    }
}

/// One client's requests, each with its deadlines (also what the HTTP fuzz target drives,
/// over an in-memory stream).
pub async fn serve_connection<S>(
    stream: S,
    router: Router,
    limits: Limits,
    requests: Arc<std::sync::atomic::AtomicUsize>,
) where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let service =
        hyper::service::service_fn(move |request: hyper::Request<hyper::body::Incoming>| {
            let router = router.clone();
            let in_progress = InProgress::start(&requests);
            async move {
                let _in_progress = in_progress;
                let answer = tower::ServiceExt::oneshot(router, request.map(axum::body::Body::new));
                match tokio::time::timeout(limits.request_timeout, answer).await {
                    Ok(response) => response,
                    Err(_) => Ok(
                        (StatusCode::SERVICE_UNAVAILABLE, "request timed out\n").into_response()
                    ),
                }
            }
        });
    let served = hyper::server::conn::http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout)
        .serve_connection(TokioIo::new(stream), service)
        .await;
    if let Err(err) = served {
        log::debug!("a connection ended: {err}");
    }
}
async fn healthz(State(shared): State<Shared>) -> impl IntoResponse {
    let totals = lock(&shared.totals);
    let health = &totals.health;
    if let Some(error) = &health.error {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            format!("reading the probes failed: {error}\n"),
        );
    }
    match health.last_update {
        Some(at) if at.elapsed() <= shared.stale_after => {
            (StatusCode::OK, format!("ok: {} updates\n", health.updates))
        }
        Some(at) => (
            StatusCode::SERVICE_UNAVAILABLE,
            format!(
                "the probes were last read {:.1} s ago\n",
                at.elapsed().as_secs_f64()
            ),
        ),
        None => (
            StatusCode::SERVICE_UNAVAILABLE,
            "starting: the probes were not read yet\n".to_owned(),
        ),
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::Ordering;

    use super::*;

    #[test]
    fn at_the_cap_the_oldest_idle_connection_makes_room() {
        let table = ConnectionTable::default();
        let first = table.admit(2).expect("room");
        let second = table.admit(2).expect("room");
        first.requests.store(1, Ordering::Relaxed);
        // The first is busy: the second, idle, is evicted for the third.
        let third = table.admit(2).expect("an idle one makes room");
        let open: Vec<u64> = table.open.lock().unwrap().keys().copied().collect();
        assert_eq!(open, vec![first.id, third.id]);
        assert_ne!(second.id, third.id);
        // Every one busy: no room.
        third.requests.store(1, Ordering::Relaxed);
        assert!(table.admit(2).is_none());
    }

    #[tokio::test]
    async fn scrapes_beyond_the_limit_get_503() {
        let shared = Shared {
            collector: None,
            totals: Arc::new(Mutex::new(Totals::new(10))),
            stale_after: Duration::from_secs(1),
            scrapes: Some(Arc::new(Semaphore::new(0))),
            users: Arc::default(),
        };
        let request = axum::http::Request::get("/metrics")
            .body(axum::body::Body::empty())
            .expect("a request");
        let response = tower::ServiceExt::oneshot(router(shared), request)
            .await
            .expect("an answer");
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    }
}
