//! `GET /v1/review`: a pull-request review of a change (what merging it does, the head's
//! findings, the warnings, the diff, and the comment fitted to a limit), for viewers.
//!
//! Part of the HTTP adapter (I/O: HTTP; the repository only through `ops`, on blocking threads).

use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use axum::response::Response;

use super::auth::Caller;
use super::problem::{Problem, ProblemBody};
use super::{AppState, json_response, query, state_spec};
use crate::review::GITHUB_COMMENT_LIMIT;
use crate::wire::{ReviewParams, ReviewView};

/// The largest `max_chars` (a comment longer than a megabyte helps nobody).
const MAX_CHARS: usize = 1024 * 1024;

/// A review of `head` against `base` (default: the draft): refs with slashes and commit
/// ids; the base is the draft or an environment branch.
#[utoipa::path(get, security(("bearer" = [])), path = "/v1/review", tag = "read", params(ReviewParams),
    responses((status = 200, body = ReviewView), (status = 400, body = ProblemBody, content_type = "application/problem+json"), (status = 401, body = ProblemBody, content_type = "application/problem+json"), (status = 403, body = ProblemBody, content_type = "application/problem+json"), (status = 404, body = ProblemBody, content_type = "application/problem+json")))]
pub async fn review(
    State(state): State<AppState>,
    _caller: Caller,
    RawQuery(raw): RawQuery,
) -> Result<Response, Problem> {
    let params: ReviewParams = query(raw)?;
    for spec in std::iter::once(params.head.as_str()).chain(params.base.as_deref()) {
        state_spec(spec)?;
    }
    let max_chars = params.max_chars.unwrap_or(GITHUB_COMMENT_LIMIT);
    if !(1_000..=MAX_CHARS).contains(&max_chars) {
        return Err(Problem::usage(format!("max_chars is 1000 to {MAX_CHARS}, not {max_chars}")));
    }
    let view = state
        .with_store(move |store| {
            Ok(crate::ops::review::review(store, &params.head, params.base.as_deref())?.view(max_chars))
        })
        .await?;
    Ok(json_response(StatusCode::OK, &view))
}
