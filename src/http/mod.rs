//! The daemon's HTTP surface (io: axum): the API under `/v1`, the forge hooks, health,
//! metrics and the OpenAPI document. [`router`] builds every route and every layer in
//! one function, so tests build the whole surface over a test state and call it with
//! tower's `oneshot`; [`serve`] runs it on a listener the caller owns.
//!
//! Each route declares the role it needs beside its path ([`auth::Need`]); the one
//! extractor in [`auth`] checks the bearer token against it and, for writes, decodes the
//! JSON body into its `wire` type. Every refusal is an RFC 9457 problem ([`problem`]).
//! Handlers are grouped by resource: [`environments`] (and the pull of runtimes),
//! [`history`] (and versions), [`diff`], [`review`], [`writes`], [`hooks`], [`health`].
//!
//! Reads that runtimes and dashboards poll (`/v1/environments`, the pulled configs) are
//! answered from the delivery [`Hub`] in memory; the others open the repository for the
//! request, on a blocking thread. Every operation is the library's own (`ops`).
//!
//! Limits: request bodies 1 MiB (413 beyond), every request 75 s (a long-poll waits at
//! most [`MAX_WAIT`]), unknown JSON fields rejected, every path and query parameter
//! checked before use. This module never imports the daemon.

pub mod auth;
pub mod diff;
pub mod environments;
pub mod health;
pub mod history;
pub mod hooks;
pub mod openapi;
pub mod pages;
pub mod problem;
pub mod review;
pub mod testing;
pub mod writes;

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::{DefaultBodyLimit, Request};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::Deserialize;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use crate::config::Role;
use crate::deliver::hub::Hub;
use crate::error::{Code, Error};
use crate::identity::Person;
use crate::loaded::SharedConfig;
use crate::model::{AssistantId, Chain, EnvName, Version};
use crate::store::Store;
use crate::store::remote::Remote;
use auth::Need;
use problem::Problem;

/// The longest `wait` of a long-poll or a write, in seconds.
pub const MAX_WAIT: u64 = 60;
/// The largest request body.
pub const MAX_BODY: usize = 1024 * 1024;
/// Every request ends within this.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(75);

/// What the handlers share (`Arc`s, so a request's clone costs little).
#[derive(Clone)]
pub struct AppState {
    parts: Arc<Parts>,
    /// The `/v1/environments` answer made last, and the hub generation it was made at.
    environments: Arc<Mutex<Option<(u64, bytes::Bytes)>>>,
}

/// The parts of [`AppState`].
pub struct Parts {
    /// The daemon's config (replaced on a reload).
    pub config: Arc<SharedConfig>,
    /// Gates, pulls and runtimes, as the sync loop and the workers keep them.
    pub hub: Arc<Hub>,
    /// The repository, opened per request.
    pub repository: PathBuf,
    pub remote: Option<Remote>,
    pub chain: Chain,
    /// The committer of the API's writes; `None`: writes are refused.
    pub identity: Option<Person>,
    /// Set once the first sync pass is done (`/readyz`).
    pub ready: Arc<AtomicBool>,
    /// Cancelled when the daemon stops: long-polls answer at once.
    pub stopping: CancellationToken,
    /// Asks for a fetch (remote mode) and a re-scan: a forge's webhook.
    pub kick: Arc<Notify>,
    /// The pull-request reviewer's inbox (with `[review]`): a forge's pull-request hook.
    pub reviews: tokio::sync::mpsc::Sender<crate::forge::event::PullEvent>,
    /// Signs the dashboard's session cookies ([`pages::session::key`]).
    pub session_key: [u8; 32],
    /// The delivery ledger, which `/readyz` asks on each call.
    pub ledger: Arc<dyn crate::deliver::ledger::DeliveryLedger>,
}

impl AppState {
    pub fn new(parts: Parts) -> AppState {
        AppState { parts: Arc::new(parts), environments: Arc::default() }
    }
}

impl std::ops::Deref for AppState {
    type Target = Parts;
    fn deref(&self) -> &Parts {
        &self.parts
    }
}

impl AppState {
    /// Runs `work` with a store of the repository on a blocking thread.
    pub async fn with_store<T: Send + 'static>(
        &self,
        work: impl FnOnce(&Store) -> Result<T, Error> + Send + 'static,
    ) -> Result<T, Problem> {
        let (path, remote) = (self.repository.clone(), self.remote.clone());
        let result = tokio::task::spawn_blocking(move || {
            let store = Store::open(&path)?;
            let store = match remote {
                Some(remote) => store.with_remote(remote),
                None => store,
            };
            work(&store)
        })
        .await;
        match result {
            Ok(result) => result.map_err(Problem::from),
            Err(error) => Err(Problem::new(Code::Io, format!("the request's task failed: {error}"), None)),
        }
    }

    /// [`AppState::with_store`] for a write: in remote mode the mirror is fetched first,
    /// so the write plans on what the forge holds now (another daemon's write included)
    /// and its push's leases expect that.
    pub async fn with_store_for_write<T: Send + 'static>(
        &self,
        work: impl FnOnce(&Store) -> Result<T, Error> + Send + 'static,
    ) -> Result<T, Problem> {
        self.with_store(move |store| {
            store.fetch()?;
            work(store)
        })
        .await
    }

    /// An environment of the chain, or 404 naming the ones there are.
    pub fn environment(&self, name: &str) -> Result<EnvName, Problem> {
        match EnvName::new(name) {
            Ok(env) if self.chain.contains(env.as_str()) => Ok(env),
            _ => Err(Problem::not_found(
                format!("no environment `{}`", clip(name)),
                format!("the environments are {}", self.chain.display_arrows()),
            )),
        }
    }

    /// Whether writing to `env` needs the releaser role and a confirmation: protected by
    /// the chain, or by the daemon's config.
    pub fn protected(&self, env: &EnvName) -> bool {
        self.chain.is_protected(env) || self.config.get().config.protected.contains(env)
    }

    /// The delivery ledger.
    pub fn ledger(&self) -> &Arc<dyn crate::deliver::ledger::DeliveryLedger> {
        &self.parts.ledger
    }

    pub fn is_ready(&self) -> bool {
        self.ready.load(Ordering::SeqCst) && !self.stopping.is_cancelled()
    }

    /// The `/v1/environments` answer, made again only when the hub changed since.
    fn cached_environments(
        &self,
        make: impl FnOnce() -> Result<bytes::Bytes, Problem>,
    ) -> Result<bytes::Bytes, Problem> {
        let generation = self.hub.generation();
        if let Some((made_at, bytes)) = self.environments.lock().expect("cache lock").as_ref()
            && *made_at == generation
        {
            return Ok(bytes.clone());
        }
        let bytes = make()?;
        *self.environments.lock().expect("cache lock") = Some((generation, bytes.clone()));
        Ok(bytes)
    }
}

/// Every route, each with the role it needs, and every layer.
pub fn router(state: AppState) -> Router {
    use Need::{Anyone, Metrics, Read, Write};
    let need = auth::need;
    Router::new()
        .route("/healthz", get(health::healthz).layer(need(Anyone)))
        .route("/readyz", get(health::readyz).layer(need(Anyone)))
        .route("/metrics", get(health::metrics).layer(need(Metrics)))
        .route("/openapi.json", get(openapi::serve).layer(need(Anyone)))
        .route("/hooks/{forge}", post(hooks::hook).layer(need(Anyone)))
        .route("/v1/environments", get(environments::list).layer(need(Read)))
        .route("/v1/environments/{env}/assistants", get(environments::assistants).layer(need(Read)))
        .route("/v1/environments/{env}/assistants/{id}", get(environments::pull).layer(need(Read)))
        .route("/v1/history", get(history::history).layer(need(Read)))
        .route("/v1/versions/{version}", get(history::version).layer(need(Read)))
        .route("/v1/diff", get(diff::diff).layer(need(Read)))
        .route("/v1/review", get(review::review).layer(need(Read)))
        .route("/v1/publish", post(writes::publish).layer(need(Write(Role::Publisher))))
        .route("/v1/discard", post(writes::discard).layer(need(Write(Role::Publisher))))
        .route("/v1/promote", post(writes::promote).layer(need(Write(Role::Publisher))))
        .route("/v1/rollback", post(writes::rollback).layer(need(Write(Role::Publisher))))
        .route("/v1/revert", post(writes::revert).layer(need(Write(Role::Publisher))))
        .route("/v1/restore", post(writes::restore).layer(need(Write(Role::Publisher))))
        .route("/v1/test", post(testing::test).layer(need(Write(Role::Publisher))))
        .route("/v1/chat", post(testing::chat).layer(need(Write(Role::Publisher))))
        .merge(pages::routes())
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(MAX_BODY))
        .layer(axum::middleware::from_fn(timeout))
        .with_state(state)
}

/// Serves `app` until `stop` is cancelled: HTTP/1.1, and HTTP/2 over cleartext for
/// clients that speak it with prior knowledge (a puller holding many long-polls
/// multiplexes them on one connection instead of one connection each). Each request
/// carries its peer's address (`ConnectInfo`); on stop, connections finish their
/// requests in flight (long-polls are released by the stopping token) within 2 s.
pub async fn serve(listener: tokio::net::TcpListener, app: Router, stop: CancellationToken) {
    use axum::extract::ConnectInfo;
    use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
    use tower_service::Service;
    let mut builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
    builder.http1().timer(TokioTimer::new()).header_read_timeout(Duration::from_secs(30));
    builder.http2().timer(TokioTimer::new()).max_concurrent_streams(10_000);
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    // Out of file descriptors and the like: wait a moment, keep serving.
                    tracing::warn!(error = %error, "cannot accept a connection");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = stop.cancelled() => break,
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
    if tokio::time::timeout(Duration::from_secs(2), graceful.shutdown()).await.is_err() {
        tracing::debug!("connections were still open at the stop");
    }
}

/// 405 as a problem.
async fn method_not_allowed() -> Response {
    Problem::usage("this route does not take that method").with_status(StatusCode::METHOD_NOT_ALLOWED).into_response()
}

/// 404 as a problem.
async fn not_found() -> Response {
    Problem::not_found("no such route", "the API is under /v1; see /openapi.json").into_response()
}

/// Ends every request within [`REQUEST_TIMEOUT`], but a test run or a chat turn, which
/// the target's own timeouts bound (per answer, and 8 tool rounds a turn).
async fn timeout(request: Request, next: Next) -> Response {
    if matches!(request.uri().path(), "/v1/test" | "/v1/chat") {
        return next.run(request).await;
    }
    match tokio::time::timeout(REQUEST_TIMEOUT, next.run(request)).await {
        Ok(response) => response,
        Err(_) => Problem::new(Code::Io, "the request took too long", None)
            .with_status(StatusCode::SERVICE_UNAVAILABLE)
            .into_response(),
    }
}

/// An assistant id from a path or body.
pub(super) fn assistant_id(text: &str) -> Result<AssistantId, Problem> {
    AssistantId::new(text).map_err(|e| Problem::usage(format!("`{}` is not an assistant id: {e}", clip(text))))
}

/// `v12`, `"v12"` or `12`.
pub(super) fn version(text: &str) -> Result<Version, Problem> {
    let digits = text.strip_prefix('v').unwrap_or(text);
    digits
        .parse::<u32>()
        .ok()
        .and_then(Version::new)
        .ok_or_else(|| Problem::usage(format!("`{}` is not a version: write v12 or 12", clip(text))))
}

/// User input shown in a message, cut short.
fn clip(text: &str) -> String {
    let mut clipped: String = text.chars().take(64).collect();
    if clipped.len() < text.len() {
        clipped.push('…');
    }
    clipped
}

/// A state the API reads (to diff, to review): an environment, `vN`, a ref (`feature/x`,
/// `refs/pull/7/head`) or a commit id; never a path.
pub(super) fn state_spec(text: &str) -> Result<String, Problem> {
    let ok = !text.is_empty()
        && text.len() <= 200
        && text.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '/' | '.'))
        && !text.starts_with(['-', '/', '.'])
        && !text.ends_with('/')
        && !text.contains("..")
        && !text.contains("//");
    if ok {
        Ok(text.to_string())
    } else {
        Err(Problem::usage(format!(
            "`{}` is not an environment, a version, a ref or a commit (the API reads no paths)",
            clip(text)
        )))
    }
}

/// Parses a query string into `T` (unknown parameters rejected).
fn query<T: for<'de> Deserialize<'de>>(raw: Option<String>) -> Result<T, Problem> {
    serde_urlencoded::from_str(raw.as_deref().unwrap_or_default())
        .map_err(|e| Problem::usage(format!("bad query parameters: {e}")))
}

/// `200` with JSON bytes made before.
fn json_bytes(bytes: bytes::Bytes) -> Response {
    let mut response = (StatusCode::OK, bytes).into_response();
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response
}

/// `status` with a value as JSON.
fn json_response(status: StatusCode, value: &impl serde::Serialize) -> Response {
    let mut response = (status, serde_json::to_vec(value).expect("JSON serializes")).into_response();
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response
}
