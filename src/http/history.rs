//! History and versions: `GET /v1/history` (entries newest first, a page at a time) and
//! `GET /v1/versions/{version}` (who published a version, when, what changed, where it
//! is deployed and held). Both read the repository through the library's operations.
//!
//! Part of the HTTP adapter (I/O: HTTP; the repository only through `ops`, on blocking threads).

use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::Response;

use super::auth::Caller;
use super::problem::{Problem, ProblemBody};
use super::{AppState, assistant_id, clip, json_response, query};
use crate::ops::history::HistoryQuery;
use crate::wire::{HistoryPage, HistoryParams, VersionInfo};

/// History entries, newest first, a page at a time.
#[utoipa::path(get, security(("bearer" = [])), path = "/v1/history", tag = "read", params(HistoryParams),
    responses((status = 200, body = HistoryPage), (status = 400, body = ProblemBody, content_type = "application/problem+json"), (status = 401, body = ProblemBody, content_type = "application/problem+json"), (status = 403, body = ProblemBody, content_type = "application/problem+json"), (status = 404, body = ProblemBody, content_type = "application/problem+json")))]
pub async fn history(
    State(state): State<AppState>,
    _caller: Caller,
    RawQuery(raw): RawQuery,
) -> Result<Response, Problem> {
    let params: HistoryParams = query(raw)?;
    if let Some(env) = &params.environment {
        state.environment(env)?;
    }
    if let Some(assistant) = &params.assistant {
        assistant_id(assistant)?;
    }
    if let Some(limit) = params.limit
        && !(1..=500).contains(&limit)
    {
        return Err(Problem::usage(format!("limit is 1 to 500, not {limit}")));
    }
    let query = HistoryQuery {
        environment: params.environment,
        limit: params.limit,
        before: params.before,
        all: false,
        action: params.action,
        assistant: params.assistant,
    };
    let page = state.with_store(move |store| crate::ops::history::history(store, &query)).await?;
    Ok(json_response(StatusCode::OK, &page))
}

/// One version: who published it, when, what changed, where it is deployed and held.
#[utoipa::path(get, security(("bearer" = [])), path = "/v1/versions/{version}", tag = "read",
    params(("version" = String, Path, description = "v12")),
    responses((status = 200, body = VersionInfo), (status = 400, body = ProblemBody, content_type = "application/problem+json"), (status = 401, body = ProblemBody, content_type = "application/problem+json"), (status = 403, body = ProblemBody, content_type = "application/problem+json"), (status = 404, body = ProblemBody, content_type = "application/problem+json")))]
pub async fn version(
    State(state): State<AppState>,
    _caller: Caller,
    Path(text): Path<String>,
) -> Result<Response, Problem> {
    if !text.starts_with('v') {
        return Err(Problem::usage(format!("`{}` is not a version: paths take v12", clip(&text))));
    }
    let version = super::version(&text)?;
    let info = state.with_store(move |store| crate::ops::show::show(store, version)).await?;
    Ok(json_response(StatusCode::OK, &info))
}
