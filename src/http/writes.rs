//! The write routes. Each body is its `wire` request type, decoded by the [`Write`]
//! extractor, which checks the caller's role for the environment written (and admin for
//! `force`); the handler then calls the same library operation as the CLI on a blocking
//! thread, with `token:<name>` as the actor and the daemon's identity as author and
//! committer. `preview` is the CLI's dry run: the plan and its diff, nothing written.
//! `wait` (seconds, at most [`MAX_WAIT`]) answers once every runtime of the environment
//! written has acknowledged the new state, or names those that have not.
//!
//! Part of the HTTP adapter (I/O: HTTP; the repository only through `ops`, on blocking threads).

use std::time::Duration;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use super::auth::{Caller, Write, WriteBody};
use super::problem::{Problem, WriteProblems};
use super::{AppState, MAX_WAIT, assistant_id, version};
use crate::config::Role;
use crate::diff::ChangeSet;
use crate::diff::render::{Labels, to_json};
use crate::error::Code;
use crate::identity::{Identity, When};
use crate::model::{EnvName, ObjectId, Version};
use crate::ops::WriteOptions;
use crate::wire::{
    DiscardRequest, DraftRequest, PromoteRequest, PublishRequest, RollbackRequest, VersionField, Waited, WriteAnswer,
    WriteFlags, WriteRequest, Written,
};

/// A version named in a request.
fn version_of(field: &VersionField) -> Result<Version, Problem> {
    match field {
        VersionField::Number(n) => {
            Version::new(*n).ok_or_else(|| Problem::usage(format!("{n} is not a version: versions start at 1")))
        }
        VersionField::Text(text) => version(text),
    }
}

/// The role a write into `env` needs.
pub(super) fn role_for(state: &AppState, env: &EnvName, force: bool) -> Role {
    if force {
        Role::Admin
    } else if state.protected(env) {
        Role::Releaser
    } else {
        Role::Publisher
    }
}

impl WriteBody for PublishRequest {
    fn role(&self, state: &AppState) -> Result<Role, Problem> {
        Ok(role_for(state, state.chain.base(), self.force))
    }
}

impl WriteBody for DiscardRequest {
    fn role(&self, state: &AppState) -> Result<Role, Problem> {
        Ok(role_for(state, state.chain.draft(), false))
    }
}

impl WriteBody for PromoteRequest {
    fn role(&self, state: &AppState) -> Result<Role, Problem> {
        Ok(role_for(state, &state.environment(&self.to)?, self.force))
    }
}

impl WriteBody for RollbackRequest {
    fn role(&self, state: &AppState) -> Result<Role, Problem> {
        Ok(role_for(state, &state.environment(&self.environment)?, self.force))
    }
}

impl WriteBody for DraftRequest {
    fn role(&self, state: &AppState) -> Result<Role, Problem> {
        Ok(role_for(state, state.chain.draft(), false))
    }
}

fn wait_seconds(wait: Option<u64>) -> Result<Option<Duration>, Problem> {
    match wait {
        Some(seconds) if seconds > MAX_WAIT => {
            Err(Problem::usage(format!("wait is at most {MAX_WAIT} seconds, not {seconds}")))
        }
        Some(0) | None => Ok(None),
        Some(seconds) => Ok(Some(Duration::from_secs(seconds))),
    }
}

/// The identity of an API write: the daemon's, now.
pub(super) fn identity(state: &AppState) -> Result<Identity, Problem> {
    let person = state.identity.clone().ok_or_else(|| {
        Problem::new(
            Code::Usage,
            "the daemon has no identity for the commits of API writes",
            Some("set [repository] identity in its config, or GIT_COMMITTER_NAME and GIT_COMMITTER_EMAIL".into()),
        )
    })?;
    let now = When::from_timestamp(jiff::Timestamp::now());
    Ok(Identity { author: person.clone(), author_time: now, committer: person, committer_time: now })
}

/// A write's options: the caller as its actor, the environments the daemon's config
/// protects, and the tip a preview was planned on.
pub(super) fn options(state: &AppState, actor: String, flags: WriteFlags) -> Result<WriteOptions, Problem> {
    let expected_parents = match flags.expected.as_deref() {
        Some(text) => Some(text.split(',').map(ObjectId::from_hex).collect::<Option<Vec<_>>>().ok_or_else(|| {
            Problem::usage(format!(
                "`{}` is not a list of commit ids: send `planned_on` of a preview",
                super::clip(text)
            ))
        })?),
        None => None,
    };
    Ok(WriteOptions {
        message: flags.message,
        force: flags.force,
        dry_run: flags.preview,
        confirmed: flags.confirm,
        actor: Some(actor),
        protected: state.config.get().config.protected.clone(),
        require_tests: state.config.get().config.require_tests.clone(),
        expected_parents,
    })
}

async fn answer(
    state: &AppState,
    status: StatusCode,
    written: Written,
    changes: &ChangeSet,
    wait: Option<Duration>,
) -> Response {
    let diff = written.dry_run.then(|| {
        let labels = Labels { from: written.environment.clone(), to: "new".into(), from_commit: None, to_commit: None };
        to_json(changes, &labels)
    });
    let wait = match (wait, &written.commit, written.dry_run) {
        (Some(wait), Some(commit), false) => Some(wait_for_runtimes(state, &written.environment, commit, wait).await),
        _ => None,
    };
    let changes = written.dry_run.then(|| changes.clone());
    (status, axum::Json(WriteAnswer { written, diff, changes, wait })).into_response()
}

/// Waits (at most `bound`) until the daemon's own view shows `commit` as the tip of
/// `env`: its sync pass has read the write, so a page asked next shows it. The dashboard's
/// writes wait so before answering.
pub(super) async fn wait_for_sync(state: &AppState, env: &str, commit: &str, bound: Duration) {
    let deadline = tokio::time::Instant::now() + bound;
    let mut changes = state.hub.subscribe();
    loop {
        changes.borrow_and_update();
        let seen = state
            .hub
            .status()
            .is_some_and(|status| status.environments.iter().any(|e| e.name == env && e.commit == commit));
        if seen || tokio::time::Instant::now() >= deadline {
            return;
        }
        let _ = tokio::time::timeout_at(deadline, changes.changed()).await;
    }
}

/// Waits until every runtime bound to `env` has acknowledged the state of `commit`, or
/// the time is up; names who has and who has not.
async fn wait_for_runtimes(state: &AppState, env: &str, commit: &str, wait: Duration) -> Waited {
    let deadline = tokio::time::Instant::now() + wait;
    let mut changes = state.hub.subscribe();
    loop {
        changes.borrow_and_update();
        let sequence = state
            .hub
            .gate(env)
            .and_then(|gate| gate.delivered)
            .filter(|delivered| delivered.commit == commit)
            .map(|delivered| delivered.sequence);
        let runtimes: Vec<_> =
            state.hub.runtimes().into_iter().filter(|q| q.config.environment.as_str() == env).collect();
        let (mut done, mut pending) = (Vec::new(), Vec::new());
        for queue in &runtimes {
            let caught_up = sequence.is_some_and(|s| queue.is_caught_up(env, s));
            if caught_up { &mut done } else { &mut pending }.push(queue.config.name.clone());
        }
        if pending.is_empty() || tokio::time::Instant::now() >= deadline {
            let complete = pending.is_empty();
            return Waited { acknowledged: done, not_acknowledged: pending, complete };
        }
        let _ = tokio::time::timeout_at(deadline, changes.changed()).await;
    }
}

/// Publish the draft as the next version on the second environment.
#[utoipa::path(post, path = "/v1/publish", tag = "write", request_body = PublishRequest,
    responses((status = 201, body = WriteAnswer, description = "the new version (200 for a preview)"), (status = 200, body = WriteAnswer, description = "a preview"), WriteProblems),
    security(("bearer" = [])))]
pub async fn publish(
    State(state): State<AppState>,
    Write { caller, body }: Write<PublishRequest>,
) -> Result<Response, Problem> {
    let wait = wait_seconds(body.wait)?;
    let identity = identity(&state)?;
    let options = options(&state, caller.actor(), body.flags())?;
    let done =
        state.with_store_for_write(move |store| crate::ops::publish::publish(store, &identity, &options)).await?;
    let status = if done.dry_run() { StatusCode::OK } else { StatusCode::CREATED };
    Ok(answer(&state, status, done.written(), done.changes(), wait).await)
}

/// Bring the draft back to the second environment's tree.
#[utoipa::path(post, path = "/v1/discard", tag = "write", request_body = DiscardRequest,
    responses((status = 200, body = WriteAnswer, description = "the draft written"), WriteProblems),
    security(("bearer" = [])))]
pub async fn discard(
    State(state): State<AppState>,
    Write { caller, body }: Write<DiscardRequest>,
) -> Result<Response, Problem> {
    let identity = identity(&state)?;
    let options = options(&state, caller.actor(), body.flags())?;
    let done =
        state.with_store_for_write(move |store| crate::ops::discard::discard(store, &identity, &options)).await?;
    Ok(answer(&state, StatusCode::OK, done.written(), done.changes(), None).await)
}

/// Promote a version one environment along the chain.
#[utoipa::path(post, path = "/v1/promote", tag = "write", request_body = PromoteRequest,
    responses((status = 200, body = WriteAnswer, description = "the promotion"), WriteProblems),
    security(("bearer" = [])))]
pub async fn promote(
    State(state): State<AppState>,
    Write { caller, body }: Write<PromoteRequest>,
) -> Result<Response, Problem> {
    let to = state.environment(&body.to)?;
    let version = version_of(&body.version)?;
    let wait = wait_seconds(body.wait)?;
    let identity = identity(&state)?;
    let options = options(&state, caller.actor(), body.flags())?;
    let done = state
        .with_store_for_write(move |store| {
            crate::ops::promote::promote(store, &identity, &version.to_string(), to.as_str(), &options)
        })
        .await?;
    Ok(answer(&state, StatusCode::OK, done.written(), done.changes(), wait).await)
}

/// Roll an environment back to a version it deployed before.
#[utoipa::path(post, path = "/v1/rollback", tag = "write", request_body = RollbackRequest,
    responses((status = 200, body = WriteAnswer, description = "the rollback"), WriteProblems),
    security(("bearer" = [])))]
pub async fn rollback(
    State(state): State<AppState>,
    Write { caller, body }: Write<RollbackRequest>,
) -> Result<Response, Problem> {
    let env = state.environment(&body.environment)?;
    let to = body.to.as_ref().map(version_of).transpose()?;
    let wait = wait_seconds(body.wait)?;
    let identity = identity(&state)?;
    let options = options(&state, caller.actor(), body.flags())?;
    let done = state
        .with_store_for_write(move |store| crate::ops::rollback::rollback(store, &identity, env.as_str(), to, &options))
        .await?;
    Ok(answer(&state, StatusCode::OK, done.written(), done.changes(), wait).await)
}

/// revert and restore: a draft write from a version, maybe of one assistant.
async fn draft_write(state: AppState, caller: Caller, body: DraftRequest, restore: bool) -> Result<Response, Problem> {
    let version = version_of(&body.version)?;
    let assistant = body.assistant.as_deref().map(assistant_id).transpose()?.map(|a| a.as_str().to_string());
    let identity = identity(&state)?;
    let options = options(&state, caller.actor(), body.flags())?;
    let done = state
        .with_store_for_write(move |store| {
            if restore {
                crate::ops::restore::restore(store, &identity, version, assistant.as_deref(), &options)
            } else {
                crate::ops::revert::revert(store, &identity, version, assistant.as_deref(), &options)
            }
        })
        .await?;
    Ok(answer(&state, StatusCode::OK, done.written(), done.changes(), None).await)
}

/// Remove the changes of a publish from the draft (three-way merge).
#[utoipa::path(post, path = "/v1/revert", tag = "write", request_body = DraftRequest,
    responses((status = 200, body = WriteAnswer, description = "the draft written, or the preview"), WriteProblems),
    security(("bearer" = [])))]
pub async fn revert(
    State(state): State<AppState>,
    Write { caller, body }: Write<DraftRequest>,
) -> Result<Response, Problem> {
    draft_write(state, caller, body, false).await
}

/// Make the draft a version's snapshot (or one assistant's).
#[utoipa::path(post, path = "/v1/restore", tag = "write", request_body = DraftRequest,
    responses((status = 200, body = WriteAnswer, description = "the draft written, or the preview"), WriteProblems),
    security(("bearer" = [])))]
pub async fn restore(
    State(state): State<AppState>,
    Write { caller, body }: Write<DraftRequest>,
) -> Result<Response, Problem> {
    draft_write(state, caller, body, true).await
}
