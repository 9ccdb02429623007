//! The environments and what runtimes pull: `GET /v1/environments` (each environment's
//! status, gate and runtimes), every assistant of an environment, and one assistant's
//! pulled config with a strong `ETag`, `304` and long-poll. Answered from the delivery
//! hub in memory, never from git.
//!
//! Part of the HTTP adapter (I/O: HTTP; the repository only through `ops`, on blocking threads).

use std::time::Duration;

use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::auth::Caller;
use super::problem::{Problem, ProblemBody};
use super::{AppState, MAX_WAIT, assistant_id, json_bytes, json_response, query};
use crate::error::Code;
use crate::wire::{AssistantData, AssistantsView, EnvironmentView, EnvironmentsView, PullParams, RuntimeView};

/// The environments, their versions, gates and runtimes.
#[utoipa::path(get, operation_id = "environments", security(("bearer" = [])), path = "/v1/environments", tag = "read",
    responses((status = 200, body = EnvironmentsView), (status = 401, body = ProblemBody, content_type = "application/problem+json"), (status = 403, body = ProblemBody, content_type = "application/problem+json"), (status = 503, body = ProblemBody, content_type = "application/problem+json")))]
pub async fn list(State(state): State<AppState>, _caller: Caller) -> Result<Response, Problem> {
    // Made again only when something changed since (a pass, a delivery, a failure).
    let bytes = state.cached_environments(|| {
        let view = view(&state)?;
        Ok(bytes::Bytes::from(serde_json::to_vec(&view).expect("JSON serializes")))
    })?;
    Ok(json_bytes(bytes))
}

/// The environments as the hub holds them now.
pub(super) fn view(state: &AppState) -> Result<EnvironmentsView, Problem> {
    let Some(status) = state.hub.status() else {
        return Err(Problem::new(Code::Io, "the daemon has not read the repository yet", None)
            .with_status(StatusCode::SERVICE_UNAVAILABLE));
    };
    let gates = state.hub.gates();
    let runtimes = state.hub.runtimes();
    let ownership = &state.hub.ownership;
    let owner = |name: &str| if ownership.is_leased() { ownership.owner(name) } else { None };
    let config = state.config.get();
    let environments = status
        .environments
        .iter()
        .map(|env| {
            let gate = gates.get(&env.name);
            let delivered = gate.and_then(|g| g.delivered.as_ref());
            // Every runtime of the environment: those this daemon delivers to from their
            // queues, the others (another daemon's) by name and owner.
            let runtimes = config
                .config
                .runtimes
                .iter()
                .filter(|runtime| runtime.environment.as_str() == env.name)
                .filter_map(|runtime| match runtimes.iter().find(|queue| queue.config.name == runtime.name) {
                    Some(queue) => {
                        let status = queue.status();
                        let pending = queue.len();
                        // Caught up: it holds what the environment delivered last.
                        let acknowledged_version =
                            if pending == 0 { delivered.and_then(|d| d.version) } else { status.acknowledged_version };
                        Some(RuntimeView {
                            name: queue.config.name.clone(),
                            acknowledged_version,
                            state: status.state,
                            pending,
                            last_error: status.last_error,
                            owner: owner(&runtime.name),
                        })
                    }
                    None if ownership.is_leased() => Some(RuntimeView {
                        name: runtime.name.clone(),
                        acknowledged_version: None,
                        state: crate::wire::RuntimeState::Elsewhere,
                        pending: 0,
                        last_error: None,
                        owner: owner(&runtime.name),
                    }),
                    None => None,
                })
                .collect();
            EnvironmentView {
                status: env.clone(),
                valid: gate.is_none_or(|g| g.valid),
                held: gate.is_some_and(|g| g.held),
                problem: gate.and_then(|g| g.problem.clone()),
                delivered_commit: delivered.map(|d| d.commit.clone()),
                runtimes,
            }
        })
        .collect();
    Ok(EnvironmentsView {
        chain: status.chain.clone(),
        protected: status.protected.clone(),
        environments,
        draft: status.draft.clone(),
    })
}

/// Every assistant of an environment, as runtimes pull them.
#[utoipa::path(get, security(("bearer" = [])), path = "/v1/environments/{env}/assistants", tag = "read",
    params(("env" = String, Path, description = "an environment of the chain")),
    responses((status = 200, body = AssistantsView), (status = 401, body = ProblemBody, content_type = "application/problem+json"), (status = 403, body = ProblemBody, content_type = "application/problem+json"), (status = 404, body = ProblemBody, content_type = "application/problem+json"), (status = 503, body = ProblemBody, content_type = "application/problem+json")))]
pub async fn assistants(
    State(state): State<AppState>,
    _caller: Caller,
    Path(env): Path<String>,
) -> Result<Response, Problem> {
    let env = state.environment(&env)?;
    let pull = state.hub.pull(env.as_str()).ok_or_else(not_synced)?;
    let assistants: Vec<AssistantData> = pull
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

/// The pull of runtimes: the `data` object of a delivery, a strong `ETag`, `304` on
/// `If-None-Match`, and with `?wait=N` a long-poll until a change or the timeout.
#[utoipa::path(get, operation_id = "assistant", security(("bearer" = [])), path = "/v1/environments/{env}/assistants/{id}", tag = "read",
    params(("env" = String, Path, description = "an environment of the chain"), ("id" = String, Path, description = "an assistant id"),
        ("If-None-Match" = Option<String>, Header, description = "the ETag held"), PullParams),
    responses((status = 200, body = AssistantData, headers(("ETag" = String, description = "SHA-256 of the data, quoted"))),
        (status = 304, description = "unchanged (at the end of a wait, or at once without one)"),
        (status = 400, body = ProblemBody, content_type = "application/problem+json"), (status = 401, body = ProblemBody, content_type = "application/problem+json"), (status = 403, body = ProblemBody, content_type = "application/problem+json"), (status = 404, body = ProblemBody, content_type = "application/problem+json"), (status = 503, body = ProblemBody, content_type = "application/problem+json")))]
pub async fn pull(
    State(state): State<AppState>,
    _caller: Caller,
    headers: HeaderMap,
    Path((env, id)): Path<(String, String)>,
    RawQuery(raw): RawQuery,
) -> Result<Response, Problem> {
    let env = state.environment(&env)?;
    let id = assistant_id(&id)?;
    let PullParams { wait } = query(raw)?;
    let wait = match wait {
        Some(seconds) if seconds > MAX_WAIT => {
            return Err(Problem::usage(format!("wait is at most {MAX_WAIT} seconds, not {seconds}")));
        }
        other => Duration::from_secs(other.unwrap_or(0)),
    };
    let if_none_match = headers.get(header::IF_NONE_MATCH).and_then(|v| v.to_str().ok()).map(str::to_string);
    let deadline = tokio::time::Instant::now() + wait;
    drop(headers);
    let mut changes = state.hub.subscribe();
    loop {
        changes.borrow_and_update();
        // Only the ETag is kept while the request is held: a held poll costs little.
        let etag = {
            // The hub's lock is let go before the data is made (on a tip's first pull).
            let pull = state.hub.pull(env.as_str()).ok_or_else(not_synced)?;
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
        if state.stopping.is_cancelled() || tokio::time::Instant::now() >= deadline {
            let mut response = StatusCode::NOT_MODIFIED.into_response();
            response.headers_mut().insert(header::ETAG, etag);
            return Ok(response);
        }
        // Held until something changes (then compared again), the deadline, or a stop.
        let _held = Held::new(&state.hub.metrics.long_polls);
        tracing::debug!(environment = env.as_str(), assistant = id.as_str(), "a long-poll of {id} in {env} is held");
        tokio::select! {
            _ = tokio::time::timeout_at(deadline, changes.changed()) => {}
            _ = state.stopping.cancelled() => {}
        }
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
}
