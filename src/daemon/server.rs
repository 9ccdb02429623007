//! The daemon's HTTP server (axum): `/healthz` (the process answers), `/readyz` (the
//! first sync pass is done and the daemon is not stopping) and `/metrics` (Prometheus
//! text). `/metrics` is anonymous only with `public_metrics = true`, or with no config
//! file from loopback (SPEC 7: reads open to loopback); otherwise it needs a token of
//! any role.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::shared::Shared;
use crate::config::Role;

pub fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .with_state(shared)
}

async fn healthz() -> &'static str {
    "ok\n"
}

async fn readyz(State(shared): State<Arc<Shared>>) -> Response {
    if shared.is_ready() {
        (StatusCode::OK, "ready\n").into_response()
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "not ready\n").into_response()
    }
}

async fn metrics(
    State(shared): State<Arc<Shared>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
) -> Response {
    let config = shared.config();
    let anonymous_ok = config.config.server.public_metrics || (config.file.is_none() && peer.ip().is_loopback());
    if !anonymous_ok && role(&headers, &config.config.tokens).is_none() {
        return (
            StatusCode::UNAUTHORIZED,
            [(header::WWW_AUTHENTICATE, "Bearer realm=\"stagecraft\"")],
            "a bearer token is needed for /metrics (or set [server] public_metrics = true)\n",
        )
            .into_response();
    }
    ([(header::CONTENT_TYPE, super::metrics::Metrics::CONTENT_TYPE)], shared.metrics.encode()).into_response()
}

/// The role of the request's bearer token, compared by SHA-256 in constant time.
pub fn role(headers: &HeaderMap, tokens: &[crate::config::TokenConfig]) -> Option<Role> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let token = value.strip_prefix("Bearer ").or_else(|| value.strip_prefix("bearer "))?.trim();
    let digest = hex::encode(Sha256::digest(token.as_bytes()));
    let mut found = None;
    for configured in tokens {
        if bool::from(digest.as_bytes().ct_eq(configured.sha256.as_bytes())) {
            found = Some(configured.role);
        }
    }
    found
}
