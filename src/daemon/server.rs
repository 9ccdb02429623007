//! The daemon's HTTP server (axum): `/healthz` (the process answers), `/readyz` (the
//! first sync pass is done and the daemon is not stopping), `/metrics` (Prometheus
//! text) and the forge receivers `POST /hooks/github|gitlab|gitea`.
//!
//! `/metrics` is anonymous only with `public_metrics = true`, or with no config file
//! from loopback (SPEC 7: reads open to loopback); otherwise it needs a token of any
//! role. A forge hook is checked the forge's own way (GitHub: `X-Hub-Signature-256`,
//! Gitea: `X-Gitea-Signature`, both hex HMAC-SHA256 of the raw body; GitLab: the
//! `X-Gitlab-Token` secret itself), always in constant time. A correctly signed hook is
//! `202` whatever its event or branch and asks for a fetch (remote mode) and a re-scan;
//! a bad or missing signature is `401` and changes nothing; a forge without a
//! `[receiver.*]` is `404`.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use sha2::Sha256;
use subtle::ConstantTimeEq;

use super::shared::Shared;
use crate::api::auth::Need;

pub fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .route("/hooks/{forge}", axum::routing::post(hook))
        .with_state(shared)
}

/// The process answers.
#[utoipa::path(get, path = "/healthz", tag = "operations", responses((status = 200, body = String, content_type = "text/plain")))]
pub async fn healthz() -> &'static str {
    "ok\n"
}

/// The first sync pass is done and the daemon is not stopping.
#[utoipa::path(get, path = "/readyz", tag = "operations",
    responses((status = 200, body = String, content_type = "text/plain"), (status = 503, body = String, content_type = "text/plain")))]
pub async fn readyz(State(shared): State<Arc<Shared>>) -> Response {
    if shared.is_ready() {
        (StatusCode::OK, "ready\n").into_response()
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "not ready\n").into_response()
    }
}

/// Prometheus text format: deliveries, queue depth, latency, and each environment's gate.
#[utoipa::path(get, path = "/metrics", tag = "operations", security(("bearer" = []), ()),
    responses((status = 200, body = String, content_type = "text/plain"),
        (status = 401, body = crate::api::problem::ProblemBody, content_type = "application/problem+json"),
        (status = 403, body = crate::api::problem::ProblemBody, content_type = "application/problem+json")))]
pub async fn metrics(
    State(shared): State<Arc<Shared>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
) -> Response {
    if let Err(problem) = crate::api::auth::authorize(&shared.config(), peer, &headers, Need::Metrics) {
        return problem.into_response();
    }
    ([(header::CONTENT_TYPE, super::metrics::Metrics::CONTENT_TYPE)], shared.metrics.encode()).into_response()
}

/// A forge's push webhook (GitHub, GitLab, Gitea), checked the forge's own way.
#[utoipa::path(post, path = "/hooks/{forge}", tag = "operations",
    params(("forge" = String, Path, description = "github, gitlab or gitea")),
    request_body(content = Object, description = "the forge's payload, signed"),
    responses((status = 202, body = String, content_type = "text/plain", description = "signed: a fetch and a re-scan follow"),
        (status = 401, body = String, content_type = "text/plain", description = "a bad or missing signature"),
        (status = 404, body = String, content_type = "text/plain", description = "no [receiver.<forge>] configured")))]
pub async fn hook(
    State(shared): State<Arc<Shared>>,
    axum::extract::Path(forge): axum::extract::Path<String>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    let config = shared.config();
    let Some(index) = config.config.receivers.iter().position(|r| r.forge == forge) else {
        return (StatusCode::NOT_FOUND, format!("no [receiver.{forge}] in the daemon's config\n")).into_response();
    };
    let secret = config.receiver_secrets[index].expose();
    if !forge_signature_ok(&forge, secret, &headers, &body) {
        tracing::warn!(forge = forge.as_str(), "a {forge} webhook with a bad or missing signature was refused");
        return (StatusCode::UNAUTHORIZED, "bad or missing signature\n").into_response();
    }
    let event = ["x-github-event", "x-gitea-event", "x-gitlab-event"]
        .iter()
        .find_map(|name| headers.get(*name).and_then(|v| v.to_str().ok()))
        .unwrap_or("unknown")
        .to_string();
    tracing::info!(forge = forge.as_str(), event = event.as_str(), "{forge} webhook: fetching and re-scanning");
    shared.kick.notify_one();
    (StatusCode::ACCEPTED, "accepted\n").into_response()
}

/// Each forge's own check of a webhook.
pub fn forge_signature_ok(forge: &str, secret: &str, headers: &HeaderMap, body: &[u8]) -> bool {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).map(str::trim);
    let hmac_hex = || {
        use hmac::{KeyInit, Mac};
        let mut mac = <hmac::Hmac<Sha256> as KeyInit>::new_from_slice(secret.as_bytes()).expect("HMAC takes any key");
        mac.update(body);
        hex::encode(mac.finalize().into_bytes())
    };
    let equal = |given: &str, expected: &str| bool::from(given.as_bytes().ct_eq(expected.as_bytes()));
    match forge {
        "github" => header("x-hub-signature-256")
            .and_then(|v| v.strip_prefix("sha256="))
            .is_some_and(|given| equal(&given.to_ascii_lowercase(), &hmac_hex())),
        "gitea" => header("x-gitea-signature")
            .or_else(|| header("x-hub-signature-256").and_then(|v| v.strip_prefix("sha256=")))
            .is_some_and(|given| equal(&given.to_ascii_lowercase(), &hmac_hex())),
        "gitlab" => header("x-gitlab-token").is_some_and(|given| equal(given, secret)),
        _ => false,
    }
}

/// Serves `app` until `stop` turns true: HTTP/1.1, and HTTP/2 over cleartext for
/// clients that speak it with prior knowledge (a puller holding many long-polls
/// multiplexes them on one connection instead of one connection each). Each request
/// carries its peer's address (`ConnectInfo`); on stop, connections finish their
/// requests in flight (long-polls are released by the stopping flag) within 2 s.
pub async fn serve(listener: tokio::net::TcpListener, app: Router, mut stop: tokio::sync::watch::Receiver<bool>) {
    use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
    use tower_service::Service;
    let mut builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
    builder.http1().timer(TokioTimer::new()).header_read_timeout(std::time::Duration::from_secs(30));
    builder.http2().timer(TokioTimer::new()).max_concurrent_streams(10_000);
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    // Out of file descriptors and the like: wait a moment, keep serving.
                    tracing::warn!(error = %error, "cannot accept a connection");
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = stop.changed() => break,
        };
        let _ = stream.set_nodelay(true);
        let app = app.clone();
        let service = hyper::service::service_fn(move |mut request: axum::http::Request<hyper::body::Incoming>| {
            request.extensions_mut().insert(ConnectInfo(peer));
            let mut app = app.clone();
            async move { app.call(request.map(axum::body::Body::new)).await }
        });
        let connection = builder.serve_connection(TokioIo::new(stream), service).into_owned();
        let connection = graceful.watch(connection);
        tokio::spawn(async move {
            if let Err(error) = connection.await {
                tracing::debug!(error = %error, "a connection ended with an error");
            }
        });
    }
    drop(listener);
    if tokio::time::timeout(std::time::Duration::from_secs(2), graceful.shutdown()).await.is_err() {
        tracing::debug!("connections were still open at the stop");
    }
}
