//! The HTTP side: `/metrics` (the OpenMetrics text) and `/healthz`, served by axum on tokio.
//! A scrape copies the collector's totals under their lock and encodes outside it, so scrapes
//! never hold up the collector, and the collector never waits on the kernel for a scrape.

use std::{
    sync::{Arc, Mutex},
    time::Duration,
};

use axum::{
    Router,
    extract::State,
    http::{StatusCode, header},
    response::IntoResponse,
    routing::get,
};

use super::{
    collect::{Totals, lock},
    metrics::Snapshot,
};

/// What the handlers share.
#[derive(Clone)]
pub struct Shared {
    pub totals: Arc<Mutex<Totals>>,
    /// `/healthz` fails when the collector has not read the probes for this long.
    pub stale_after: Duration,
}

const OPENMETRICS: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

pub fn router(shared: Shared) -> Router {
    Router::new()
        .route("/metrics", get(metrics))
        .route("/healthz", get(healthz))
        .with_state(shared)
}

async fn metrics(State(shared): State<Shared>) -> impl IntoResponse {
    let snapshot = {
        let totals = lock(&shared.totals);
        Snapshot::take(&totals)
    };
    match snapshot.encode() {
        Ok(text) => (StatusCode::OK, [(header::CONTENT_TYPE, OPENMETRICS)], text).into_response(),
        Err(_) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            "encoding the metrics failed\n",
        )
            .into_response(),
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
