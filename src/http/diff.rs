//! `GET /v1/diff`: the field-level diff between two states (environments, versions or
//! commits; never paths), as the documented diff JSON, markdown, unified text, or the
//! change set the `--server` client renders itself.
//!
//! Part of the HTTP adapter (I/O: HTTP; the repository only through `ops`, on blocking threads).

use axum::extract::{RawQuery, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::auth::Caller;
use super::problem::{Problem, ProblemBody};
use super::{AppState, assistant_id, json_response, query, state_spec};
use crate::diff::render::{self, Format, Options};
use crate::wire::{DiffFormat, DiffParams, LabelledChanges};

/// The field-level diff between two states: environments, versions or commits.
#[utoipa::path(get, security(("bearer" = [])), path = "/v1/diff", tag = "read", params(DiffParams),
    responses((status = 200, description = "json: docs/diff-json.md; markdown and unified: text", content(
            (Object = "application/json"), (String = "text/markdown"), (String = "text/plain"))),
        (status = 400, body = ProblemBody, content_type = "application/problem+json"), (status = 401, body = ProblemBody, content_type = "application/problem+json"), (status = 403, body = ProblemBody, content_type = "application/problem+json"), (status = 404, body = ProblemBody, content_type = "application/problem+json")))]
pub async fn diff(
    State(state): State<AppState>,
    _caller: Caller,
    RawQuery(raw): RawQuery,
) -> Result<Response, Problem> {
    let params: DiffParams = query(raw)?;
    let from = state_spec(params.from.as_deref().unwrap_or(state.chain.base().as_str()))?;
    let to = state_spec(params.to.as_deref().unwrap_or(state.chain.draft().as_str()))?;
    if let Some(assistant) = &params.assistant {
        assistant_id(assistant)?;
    }
    let chain = state.chain.clone();
    let assistant = params.assistant.clone();
    let diffed = state
        .with_store(move |store| {
            // No directory resolves from here: the API diffs refs, versions and commits.
            let nowhere = std::path::Path::new("/nonexistent/stagecraft-api");
            crate::ops::diff::diff(Some(store), &chain, &from, &to, assistant.as_deref(), nowhere)
        })
        .await?;
    let text = |format: Format| {
        let text = render::render(&diffed.changes, &diffed.labels, format, Options { width: 100, color: false });
        let kind =
            if format == Format::Markdown { "text/markdown; charset=utf-8" } else { "text/plain; charset=utf-8" };
        ([(header::CONTENT_TYPE, kind)], text).into_response()
    };
    Ok(match params.format.unwrap_or_default() {
        DiffFormat::Json => json_response(StatusCode::OK, &render::to_json(&diffed.changes, &diffed.labels)),
        DiffFormat::Changes => json_response(
            StatusCode::OK,
            &LabelledChanges { labels: diffed.labels.clone(), changes: diffed.changes.clone() },
        ),
        DiffFormat::Markdown => text(Format::Markdown),
        DiffFormat::Unified => text(Format::Unified),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn diff_states_are_refs_versions_or_commits_never_paths() {
        assert!(state_spec("pre-release").is_ok());
        assert!(state_spec("v12").is_ok());
        assert!(state_spec("0123abcd").is_ok());
        assert!(state_spec("feature/x").is_ok() && state_spec("refs/pull/7/head").is_ok());
        for bad in ["../etc", "/etc/passwd", "a/../b", "", "-x", ".git", "a//b", "a/"] {
            assert!(state_spec(bad).is_err(), "{bad}");
        }
    }
}
