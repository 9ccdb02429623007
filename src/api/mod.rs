//! The HTTP API (SPEC 10), served by the daemon's axum server under `/v1`: reads of the
//! environments, history, versions, diffs and assistants; the pull endpoint runtimes
//! use instead of webhooks; and every write, each calling the same library operation as
//! the CLI. Errors are RFC 9457 problem details ([`problem`]); who may do what is in
//! [`auth`].
//!
//! Reads that runtimes and dashboards poll (`/v1/environments`, the pulled configs) are
//! answered from what the sync loop keeps in memory; the others open the repository for
//! the request, on a blocking thread.
//!
//! Limits: request bodies 1 MiB (413 beyond), every request 75 s (a long-poll waits at
//! most [`MAX_WAIT`]), unknown JSON fields rejected, every path and query parameter
//! checked before use.

pub mod auth;
pub mod openapi;
pub mod problem;
mod read;
mod write;

pub use read::{AssistantData, AssistantsView, EnvironmentView, EnvironmentsView, RuntimeView};
pub use write::{Waited, WriteAnswer};

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::Request;
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};

use crate::daemon::shared::Shared;
use crate::error::{Code, Error};
use crate::model::{AssistantId, Chain, EnvName, Version};
use crate::store::Store;
use crate::store::remote::Remote;
use problem::Problem;

/// The longest `wait` of a long-poll or a write, in seconds.
pub const MAX_WAIT: u64 = 60;
/// The largest request body.
pub const MAX_BODY: usize = 1024 * 1024;
/// Every request ends within this.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(75);

/// What the handlers share (one `Arc`, so a request's clone costs nothing).
#[derive(Clone)]
pub struct Api(Arc<ApiState>);

pub struct ApiState {
    pub shared: Arc<Shared>,
    /// The repository, opened per request.
    pub repository: PathBuf,
    pub remote: Option<Remote>,
    pub chain: Chain,
}

impl Api {
    pub fn new(state: ApiState) -> Api {
        Api(Arc::new(state))
    }
}

impl std::ops::Deref for Api {
    type Target = ApiState;
    fn deref(&self) -> &ApiState {
        &self.0
    }
}

impl Api {
    /// Runs `work` with a store of the repository on a blocking thread.
    async fn with_store<T: Send + 'static>(
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

    /// An environment of the chain, or 404 naming the ones there are.
    fn environment(&self, name: &str) -> Result<EnvName, Problem> {
        match EnvName::new(name) {
            Ok(env) if self.chain.contains(env.as_str()) => Ok(env),
            _ => Err(Problem::not_found(
                format!("no environment `{}`", clip(name)),
                format!("the environments are {}", self.chain.display_arrows()),
            )),
        }
    }

    /// Whether writing to `env` needs the releaser role.
    fn protected(&self, env: &EnvName) -> bool {
        self.chain.is_protected(env) || self.shared.config().config.protected.contains(env)
    }
}

/// An assistant id from a path or body.
fn assistant_id(text: &str) -> Result<AssistantId, Problem> {
    AssistantId::new(text).map_err(|e| Problem::usage(format!("`{}` is not an assistant id: {e}", clip(text))))
}

/// `v12`, `"v12"` or `12`.
fn version(text: &str) -> Result<Version, Problem> {
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

/// The `/v1` routes and `/openapi.json`.
pub fn router(api: Api) -> Router {
    Router::new()
        .route("/v1/environments", get(read::environments))
        .route("/v1/environments/{env}/assistants", get(read::assistants))
        .route("/v1/environments/{env}/assistants/{id}", get(read::assistant))
        .route("/v1/history", get(read::history))
        .route("/v1/versions/{version}", get(read::version))
        .route("/v1/diff", get(read::diff))
        .route("/v1/publish", post(write::publish))
        .route("/v1/discard", post(write::discard))
        .route("/v1/promote", post(write::promote))
        .route("/v1/rollback", post(write::rollback))
        .route("/v1/revert", post(write::revert))
        .route("/v1/restore", post(write::restore))
        .route("/openapi.json", get(openapi::serve))
        .with_state(api)
}

/// 405 as a problem.
pub async fn method_not_allowed() -> Response {
    Problem::usage("this route does not take that method").with_status(StatusCode::METHOD_NOT_ALLOWED).into_response()
}

/// 404 as a problem.
pub async fn not_found() -> Response {
    Problem::not_found("no such route", "the API is under /v1; see /openapi.json").into_response()
}

/// Ends every request within [`REQUEST_TIMEOUT`].
pub async fn timeout(request: Request, next: Next) -> Response {
    match tokio::time::timeout(REQUEST_TIMEOUT, next.run(request)).await {
        Ok(response) => response,
        Err(_) => Problem::new(Code::Io, "the request took too long", None)
            .with_status(StatusCode::SERVICE_UNAVAILABLE)
            .into_response(),
    }
}
