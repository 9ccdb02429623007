//! The read routes: environments, the pulled configs (with `ETag`, `304` and long-poll),
//! history, versions and diffs.

use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::time::Duration;

use axum::extract::{ConnectInfo, Path, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::auth::{Need, authorize};
use super::problem::{Problem, ProblemBody};
use super::{Api, MAX_WAIT, assistant_id, clip};
use crate::diff::render::{self, Format, Options};
use crate::error::Code;
use crate::wire::{DraftStatus, EnvironmentStatus, HistoryPage, VersionInfo};

/// Parses a query string into `T` (unknown parameters rejected).
pub(super) fn query<T: for<'de> Deserialize<'de>>(raw: Option<String>) -> Result<T, Problem> {
    serde_urlencoded::from_str(raw.as_deref().unwrap_or_default())
        .map_err(|e| Problem::usage(format!("bad query parameters: {e}")))
}

fn json_bytes(bytes: axum::body::Bytes) -> Response {
    let mut response = (StatusCode::OK, bytes).into_response();
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response
}

fn json_response(status: StatusCode, value: &impl serde::Serialize) -> Response {
    let mut response = (status, serde_json::to_vec(value).expect("JSON serializes")).into_response();
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response
}

/// `GET /v1/environments`.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct EnvironmentsView {
    /// The environments in order, the draft first.
    pub chain: Vec<String>,
    pub protected: Vec<String>,
    pub environments: Vec<EnvironmentView>,
    /// What a publish would change now.
    pub draft: DraftStatus,
}

/// One environment: its status, the daemon's gate, and its runtimes.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct EnvironmentView {
    #[serde(flatten)]
    pub status: EnvironmentStatus,
    /// The tip validates.
    pub valid: bool,
    /// The tip's current version is on hold there (and the tip is not forced).
    pub held: bool,
    /// Why the tip is not delivered (invalid, drift, held); `null` when it is.
    pub problem: Option<String>,
    /// The tip whose configuration runtimes were last given.
    pub delivered_commit: Option<String>,
    pub runtimes: Vec<RuntimeView>,
}

/// One runtime bound to an environment.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct RuntimeView {
    pub name: String,
    /// The version it holds (the environment's delivered one once it caught up).
    pub acknowledged_version: Option<u32>,
    /// `idle`, `delivering`, `retrying` or `parked`.
    pub state: String,
    /// Deliveries not acknowledged yet.
    pub pending: usize,
    pub last_error: Option<String>,
}

/// The environments, their versions, gates and runtimes.
#[utoipa::path(get, security(("bearer" = [])), path = "/v1/environments", tag = "read",
    responses((status = 200, body = EnvironmentsView), (status = 401, body = ProblemBody, content_type = "application/problem+json"), (status = 403, body = ProblemBody, content_type = "application/problem+json"), (status = 503, body = ProblemBody, content_type = "application/problem+json")))]
pub async fn environments(
    State(api): State<Api>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
) -> Result<Response, Problem> {
    let config = api.shared.config();
    authorize(&config, peer, &headers, Need::Read)?;
    // Made again only when something changed since (a pass, a delivery, a failure).
    let generation = *api.shared.changes.borrow();
    if let Some((made_at, bytes)) = api.shared.environments_cache.lock().expect("cache lock").as_ref()
        && *made_at == generation
    {
        return Ok(json_bytes(bytes.clone()));
    }
    let Some(status) = api.shared.status.read().expect("status lock").clone() else {
        return Err(Problem::new(Code::Io, "the daemon has not read the repository yet", None)
            .with_status(StatusCode::SERVICE_UNAVAILABLE));
    };
    let health = api.shared.health.read().expect("health lock").clone();
    let runtimes = api.shared.runtimes.read().expect("runtimes lock").clone();
    let environments = status
        .environments
        .iter()
        .map(|env| {
            let health = health.get(&env.name);
            let runtimes = runtimes
                .values()
                .filter(|queue| queue.config.environment.as_str() == env.name)
                .map(|queue| {
                    let status = queue.status.lock().expect("status lock").clone();
                    let pending = queue.len();
                    // Caught up: it holds what the environment delivered last.
                    let acknowledged_version = if pending == 0 {
                        health.and_then(|h| h.delivered_version)
                    } else {
                        status.acknowledged_version
                    };
                    RuntimeView {
                        name: queue.config.name.clone(),
                        acknowledged_version,
                        state: status.state,
                        pending,
                        last_error: status.last_error,
                    }
                })
                .collect();
            EnvironmentView {
                status: env.clone(),
                valid: health.is_none_or(|h| h.valid),
                held: health.is_some_and(|h| h.held),
                problem: health.and_then(|h| h.problem.clone()),
                delivered_commit: health.and_then(|h| h.delivered_commit.clone()),
                runtimes,
            }
        })
        .collect();
    let view = EnvironmentsView {
        chain: status.chain.clone(),
        protected: status.protected.clone(),
        environments,
        draft: status.draft.clone(),
    };
    let bytes = axum::body::Bytes::from(serde_json::to_vec(&view).expect("JSON serializes"));
    *api.shared.environments_cache.lock().expect("cache lock") = Some((generation, bytes.clone()));
    Ok(json_bytes(bytes))
}

/// The `data` object of a delivery and of a pull (SPEC 8).
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct AssistantData {
    pub environment: String,
    pub assistant: String,
    /// The tip's current version; `null` on the draft.
    pub version: Option<u32>,
    /// The environment's tip the state was read from.
    pub commit: String,
    /// Grows with every change of the environment.
    pub sequence: u64,
    /// The assistant's configuration; `null` when it was removed.
    #[schema(value_type = Option<Object>)]
    pub config: Option<Value>,
    #[schema(value_type = Object)]
    pub channels: Value,
}

/// `GET /v1/environments/{env}/assistants`.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct AssistantsView {
    pub environment: String,
    pub commit: String,
    pub assistants: Vec<AssistantData>,
}

/// Every assistant of an environment, as runtimes pull them.
#[utoipa::path(get, security(("bearer" = [])), path = "/v1/environments/{env}/assistants", tag = "read",
    params(("env" = String, Path, description = "an environment of the chain")),
    responses((status = 200, body = AssistantsView), (status = 401, body = ProblemBody, content_type = "application/problem+json"), (status = 403, body = ProblemBody, content_type = "application/problem+json"), (status = 404, body = ProblemBody, content_type = "application/problem+json"), (status = 503, body = ProblemBody, content_type = "application/problem+json")))]
pub async fn assistants(
    State(api): State<Api>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Path(env): Path<String>,
) -> Result<Response, Problem> {
    authorize(&api.shared.config(), peer, &headers, Need::Read)?;
    let env = api.environment(&env)?;
    let pull = api.shared.pull.read().expect("pull lock").get(env.as_str()).cloned().ok_or_else(not_synced)?;
    let assistants = pull
        .ids()
        .filter_map(|id| pull.get(id))
        .map(|p| serde_json::from_slice(&p.data).expect("the data objects stored"))
        .collect();
    let view = AssistantsView { environment: env.to_string(), commit: pull.commit.clone(), assistants };
    Ok(json_response(StatusCode::OK, &view))
}

fn not_synced() -> Problem {
    Problem::new(Code::Io, "this environment has not passed the gate since the daemon started", None)
        .with_status(StatusCode::SERVICE_UNAVAILABLE)
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct PullQuery {
    /// Seconds to hold the request while `If-None-Match` still matches.
    wait: Option<u64>,
}

/// SPEC 8 pull: the `data` object of a delivery, a strong `ETag`, `304` on
/// `If-None-Match`, and with `?wait=N` a long-poll until a change or the timeout.
#[utoipa::path(get, security(("bearer" = [])), path = "/v1/environments/{env}/assistants/{id}", tag = "read",
    params(("env" = String, Path, description = "an environment of the chain"), ("id" = String, Path, description = "an assistant id"),
        ("If-None-Match" = Option<String>, Header, description = "the ETag held"), PullQuery),
    responses((status = 200, body = AssistantData, headers(("ETag" = String, description = "SHA-256 of the data, quoted"))),
        (status = 304, description = "unchanged (at the end of a wait, or at once without one)"),
        (status = 400, body = ProblemBody, content_type = "application/problem+json"), (status = 401, body = ProblemBody, content_type = "application/problem+json"), (status = 403, body = ProblemBody, content_type = "application/problem+json"), (status = 404, body = ProblemBody, content_type = "application/problem+json"), (status = 503, body = ProblemBody, content_type = "application/problem+json")))]
pub async fn assistant(
    State(api): State<Api>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Path((env, id)): Path<(String, String)>,
    RawQuery(raw): RawQuery,
) -> Result<Response, Problem> {
    authorize(&api.shared.config(), peer, &headers, Need::Read)?;
    let env = api.environment(&env)?;
    let id = assistant_id(&id)?;
    let PullQuery { wait } = query(raw)?;
    let wait = match wait {
        Some(seconds) if seconds > MAX_WAIT => {
            return Err(Problem::usage(format!("wait is at most {MAX_WAIT} seconds, not {seconds}")));
        }
        other => Duration::from_secs(other.unwrap_or(0)),
    };
    let if_none_match = headers.get(header::IF_NONE_MATCH).and_then(|v| v.to_str().ok()).map(str::to_string);
    let deadline = tokio::time::Instant::now() + wait;
    drop(headers);
    let mut changes = api.shared.changes.subscribe();
    loop {
        changes.borrow_and_update();
        // Only the ETag is kept while the request is held: a held poll costs little.
        let etag = {
            // The lock is let go before the data is made (on a tip's first pull).
            let pull = api.shared.pull.read().expect("pull lock").get(env.as_str()).cloned().ok_or_else(not_synced)?;
            let Some(pulled) = pull.get(id.as_str()) else {
                return Err(Problem::not_found(
                    format!("no assistant `{id}` in {env}"),
                    format!("{env} has: {}", pull.ids().cloned().collect::<Vec<_>>().join(", ")),
                ));
            };
            if !if_none_match.as_deref().is_some_and(|given| etag_matches(given, &pulled.etag)) {
                let mut response = (StatusCode::OK, pulled.data.clone()).into_response();
                let headers = response.headers_mut();
                headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
                headers.insert(header::ETAG, HeaderValue::from_str(&pulled.etag).expect("hex in quotes"));
                return Ok(response);
            }
            HeaderValue::from_str(&pulled.etag).expect("hex in quotes")
        };
        let stopping = api.shared.stopping.load(Ordering::SeqCst);
        if stopping || tokio::time::Instant::now() >= deadline {
            let mut response = StatusCode::NOT_MODIFIED.into_response();
            response.headers_mut().insert(header::ETAG, etag);
            return Ok(response);
        }
        // Held until something changes (then compared again), the deadline, or a stop.
        let _held = Held::new(&api.shared.metrics.long_polls);
        tracing::debug!(environment = env.as_str(), assistant = id.as_str(), "a long-poll of {id} in {env} is held");
        let _ = tokio::time::timeout_at(deadline, changes.changed()).await;
    }
}

/// Counts a long-poll while it is held.
struct Held<'a>(&'a prometheus::IntGauge);

impl<'a> Held<'a> {
    fn new(gauge: &'a prometheus::IntGauge) -> Held<'a> {
        gauge.inc();
        Held(gauge)
    }
}

impl Drop for Held<'_> {
    fn drop(&mut self) {
        self.0.dec();
    }
}

/// `If-None-Match`: `*`, or a list of entity tags (weak ones compared weakly).
fn etag_matches(given: &str, etag: &str) -> bool {
    given.split(',').map(str::trim).any(|tag| tag == "*" || tag.trim_start_matches("W/") == etag)
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct HistoryQuery {
    environment: Option<String>,
    limit: Option<usize>,
    before: Option<String>,
    action: Option<String>,
    assistant: Option<String>,
}

/// History entries, newest first (SPEC 6), a page at a time.
#[utoipa::path(get, security(("bearer" = [])), path = "/v1/history", tag = "read", params(HistoryQuery),
    responses((status = 200, body = HistoryPage), (status = 400, body = ProblemBody, content_type = "application/problem+json"), (status = 401, body = ProblemBody, content_type = "application/problem+json"), (status = 403, body = ProblemBody, content_type = "application/problem+json"), (status = 404, body = ProblemBody, content_type = "application/problem+json")))]
pub async fn history(
    State(api): State<Api>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Result<Response, Problem> {
    authorize(&api.shared.config(), peer, &headers, Need::Read)?;
    let q: HistoryQuery = query(raw)?;
    if let Some(env) = &q.environment {
        api.environment(env)?;
    }
    if let Some(assistant) = &q.assistant {
        assistant_id(assistant)?;
    }
    if let Some(limit) = q.limit
        && !(1..=500).contains(&limit)
    {
        return Err(Problem::usage(format!("limit is 1 to 500, not {limit}")));
    }
    let page = api
        .with_store(move |store| {
            crate::ops::history::history(
                store,
                &crate::ops::history::HistoryQuery {
                    environment: q.environment,
                    limit: q.limit,
                    before: q.before,
                    all: false,
                    action: q.action,
                    assistant: q.assistant,
                },
            )
        })
        .await?;
    Ok(json_response(StatusCode::OK, &page))
}

/// One version: who published it, when, what changed, where it is deployed and held.
#[utoipa::path(get, security(("bearer" = [])), path = "/v1/versions/{version}", tag = "read",
    params(("version" = String, Path, description = "v12")),
    responses((status = 200, body = VersionInfo), (status = 400, body = ProblemBody, content_type = "application/problem+json"), (status = 401, body = ProblemBody, content_type = "application/problem+json"), (status = 403, body = ProblemBody, content_type = "application/problem+json"), (status = 404, body = ProblemBody, content_type = "application/problem+json")))]
pub async fn version(
    State(api): State<Api>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Path(text): Path<String>,
) -> Result<Response, Problem> {
    authorize(&api.shared.config(), peer, &headers, Need::Read)?;
    if !text.starts_with('v') {
        return Err(Problem::usage(format!("`{}` is not a version: paths take v12", clip(&text))));
    }
    let version = super::version(&text)?;
    let info = api.with_store(move |store| crate::ops::show::show(store, version)).await?;
    Ok(json_response(StatusCode::OK, &info))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct DiffQuery {
    from: Option<String>,
    to: Option<String>,
    assistant: Option<String>,
    format: Option<String>,
}

/// A state the API diffs: an environment, `vN` or a commit id; never a path.
fn state_spec(text: &str) -> Result<String, Problem> {
    let ok = !text.is_empty()
        && text.len() <= 64
        && text.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        && !text.starts_with('-');
    if ok {
        Ok(text.to_string())
    } else {
        Err(Problem::usage(format!(
            "`{}` is not an environment, a version or a commit (the API diffs no paths)",
            clip(text)
        )))
    }
}

/// The field-level diff between two states (SPEC 5): environments, versions or commits.
#[utoipa::path(get, security(("bearer" = [])), path = "/v1/diff", tag = "read", params(DiffQuery),
    responses((status = 200, description = "json: docs/diff-json.md; markdown and unified: text", content(
            (Object = "application/json"), (String = "text/markdown"), (String = "text/plain"))),
        (status = 400, body = ProblemBody, content_type = "application/problem+json"), (status = 401, body = ProblemBody, content_type = "application/problem+json"), (status = 403, body = ProblemBody, content_type = "application/problem+json"), (status = 404, body = ProblemBody, content_type = "application/problem+json")))]
pub async fn diff(
    State(api): State<Api>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Result<Response, Problem> {
    authorize(&api.shared.config(), peer, &headers, Need::Read)?;
    let q: DiffQuery = query(raw)?;
    let from = state_spec(q.from.as_deref().unwrap_or(api.chain.base().as_str()))?;
    let to = state_spec(q.to.as_deref().unwrap_or(api.chain.draft().as_str()))?;
    if let Some(assistant) = &q.assistant {
        assistant_id(assistant)?;
    }
    // `changes` is the CLI's own: the change set it renders side by side (`--server`).
    let (format, changes) = match q.format.as_deref().unwrap_or("json") {
        "json" => (None, false),
        "changes" => (None, true),
        "markdown" => (Some(Format::Markdown), false),
        "unified" => (Some(Format::Unified), false),
        other => {
            return Err(Problem::usage(format!("format is json, markdown, unified or changes, not `{}`", clip(other))));
        }
    };
    let chain = api.chain.clone();
    let assistant = q.assistant.clone();
    let diffed = api
        .with_store(move |store| {
            // No directory resolves from here: the API diffs refs, versions and commits.
            let nowhere = std::path::Path::new("/nonexistent/stagecraft-api");
            crate::ops::diff::diff(Some(store), &chain, &from, &to, assistant.as_deref(), nowhere)
        })
        .await?;
    Ok(match format {
        None if changes => {
            json_response(StatusCode::OK, &serde_json::json!({"labels": diffed.labels, "changes": diffed.changes}))
        }
        None => json_response(StatusCode::OK, &render::to_json(&diffed.changes, &diffed.labels)),
        Some(format) => {
            let text = render::render(&diffed.changes, &diffed.labels, format, Options { width: 100, color: false });
            let kind =
                if format == Format::Markdown { "text/markdown; charset=utf-8" } else { "text/plain; charset=utf-8" };
            ([(header::CONTENT_TYPE, kind)], text).into_response()
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn if_none_match_takes_lists_stars_and_weak_tags() {
        assert!(etag_matches("\"abc\"", "\"abc\""));
        assert!(etag_matches("\"x\", W/\"abc\"", "\"abc\""));
        assert!(etag_matches("*", "\"abc\""));
        assert!(!etag_matches("\"abd\"", "\"abc\""));
    }

    #[test]
    fn diff_states_are_refs_versions_or_commits_never_paths() {
        assert!(state_spec("pre-release").is_ok());
        assert!(state_spec("v12").is_ok());
        assert!(state_spec("0123abcd").is_ok());
        for bad in ["../etc", "/etc/passwd", "a/b", "", "-x", "a.b"] {
            assert!(state_spec(bad).is_err(), "{bad}");
        }
    }
}
