//! Operations: `/healthz` (the process answers), `/readyz` (the first sync pass is done
//! and the daemon is not stopping) and `/metrics` (Prometheus text). `/metrics` is
//! anonymous only with `public_metrics = true`, or with no config file from loopback;
//! otherwise it needs a token of any role (its route declares that need).
//!
//! Part of the HTTP adapter (I/O: HTTP; the repository only through `ops`, on blocking threads).

use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::AppState;
use super::auth::Caller;
use crate::deliver::metrics::Metrics;

/// The process answers.
#[utoipa::path(get, path = "/healthz", tag = "operations", responses((status = 200, body = String, content_type = "text/plain")))]
pub async fn healthz() -> &'static str {
    "ok\n"
}

/// The first sync pass is done and the daemon is not stopping.
#[utoipa::path(get, path = "/readyz", tag = "operations",
    responses((status = 200, body = String, content_type = "text/plain"), (status = 503, body = String, content_type = "text/plain")))]
pub async fn readyz(State(state): State<AppState>) -> Response {
    if !state.is_ready() {
        return (StatusCode::SERVICE_UNAVAILABLE, "not ready\n").into_response();
    }
    // The ledger's database, asked on every call (a local SQLite file always answers).
    match state.ledger().ready().await {
        Ok(()) => (StatusCode::OK, "ready\n").into_response(),
        Err(error) => {
            tracing::warn!(error = %error, "not ready: the state database does not answer");
            (StatusCode::SERVICE_UNAVAILABLE, "not ready: the state database does not answer\n").into_response()
        }
    }
}

/// Prometheus text format: deliveries, queue depth, latency, and each environment's gate.
#[utoipa::path(get, path = "/metrics", tag = "operations", security(("bearer" = []), ()),
    responses((status = 200, body = String, content_type = "text/plain"),
        (status = 401, body = crate::wire::ProblemBody, content_type = "application/problem+json"),
        (status = 403, body = crate::wire::ProblemBody, content_type = "application/problem+json")))]
pub async fn metrics(State(state): State<AppState>, _caller: Caller) -> Response {
    ([(header::CONTENT_TYPE, Metrics::CONTENT_TYPE)], state.hub.metrics.encode()).into_response()
}
