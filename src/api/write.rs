//! The write routes. Each parses its body strictly, checks the caller's role for the
//! environment it writes (and admin for `force`), then calls the same library operation
//! as the CLI on a blocking thread, with `token:<name>` as the actor and the daemon's
//! identity as author and committer. `preview` is the CLI's dry run: the plan and its
//! diff, nothing written. `wait` (seconds, at most [`MAX_WAIT`]) answers once every
//! runtime of the environment written has acknowledged the new state, or names those
//! that have not.

use std::net::SocketAddr;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::Value;

use super::auth::{Caller, Need, authorize};
use super::problem::{Problem, WriteProblems};
use super::{Api, MAX_BODY, MAX_WAIT, assistant_id, version};
use crate::config::Role;
use crate::diff::ChangeSet;
use crate::diff::render::{Labels, to_json};
use crate::error::Code;
use crate::identity::{Identity, When};
use crate::model::{EnvName, Version};
use crate::ops::publish::WriteOptions;
use crate::wire::Written;

/// A version in a body: `12` or `"v12"`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(untagged)]
pub enum VersionField {
    Number(u32),
    Text(String),
}

impl VersionField {
    fn version(&self) -> Result<Version, Problem> {
        match self {
            VersionField::Number(n) => {
                Version::new(*n).ok_or_else(|| Problem::usage(format!("{n} is not a version: versions start at 1")))
            }
            VersionField::Text(text) => version(text),
        }
    }
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PublishBody {
    pub message: Option<String>,
    #[serde(default)]
    pub force: bool,
    #[serde(default)]
    pub confirm: bool,
    #[serde(default)]
    pub preview: bool,
    pub wait: Option<u64>,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DiscardBody {
    pub message: Option<String>,
    #[serde(default)]
    pub confirm: bool,
    #[serde(default)]
    pub preview: bool,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PromoteBody {
    pub version: VersionField,
    pub to: String,
    #[serde(default)]
    pub confirm: bool,
    pub message: Option<String>,
    #[serde(default)]
    pub force: bool,
    #[serde(default)]
    pub preview: bool,
    pub wait: Option<u64>,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RollbackBody {
    pub environment: String,
    pub to: Option<VersionField>,
    #[serde(default)]
    pub confirm: bool,
    pub message: Option<String>,
    #[serde(default)]
    pub preview: bool,
    pub wait: Option<u64>,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DraftBody {
    pub version: VersionField,
    pub assistant: Option<String>,
    pub message: Option<String>,
    #[serde(default)]
    pub preview: bool,
    /// Needed only when the draft itself is protected.
    #[serde(default)]
    pub confirm: bool,
}

/// A request body, or why axum could not read it (over the limit: 413).
type Body = Result<Bytes, axum::extract::rejection::BytesRejection>;

/// The body as `T`: at most [`MAX_BODY`] bytes, JSON, no unknown fields.
fn body<T: for<'de> Deserialize<'de>>(bytes: &Body) -> Result<T, Problem> {
    let bytes = match bytes {
        Ok(bytes) if bytes.len() <= MAX_BODY => bytes,
        Err(rejection) if rejection.status() != StatusCode::PAYLOAD_TOO_LARGE => {
            return Err(Problem::usage(format!("cannot read the request body: {rejection}")));
        }
        _ => return Err(Problem::new(Code::TooLarge, format!("the body is over {MAX_BODY} bytes"), None)),
    };
    let bytes: &[u8] = if bytes.is_empty() { b"{}" } else { bytes };
    serde_json::from_slice(bytes).map_err(|e| Problem::usage(format!("bad request body: {e}")))
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
fn identity(api: &Api) -> Result<Identity, Problem> {
    let person = api.shared.identity.clone().ok_or_else(|| {
        Problem::new(
            Code::Usage,
            "the daemon has no identity for the commits of API writes",
            Some("set [repository] identity in its config, or GIT_COMMITTER_NAME and GIT_COMMITTER_EMAIL".into()),
        )
    })?;
    let now = When::from_timestamp(jiff::Timestamp::now());
    Ok(Identity { author: person.clone(), author_time: now, committer: person, committer_time: now })
}

fn options(caller: &Caller, message: Option<String>, force: bool, confirm: bool, preview: bool) -> WriteOptions {
    WriteOptions { message, force, dry_run: preview, confirmed: confirm, actor: Some(caller.actor()) }
}

/// The role a write into `env` needs.
fn role_for(api: &Api, env: &EnvName, force: bool) -> Role {
    if force {
        Role::Admin
    } else if api.protected(env) {
        Role::Releaser
    } else {
        Role::Publisher
    }
}

/// The answer of a write: what the CLI's `--json` prints, the diff of a preview, and
/// the runtimes' acknowledgements when asked to wait.
#[derive(Debug, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct WriteAnswer {
    #[serde(flatten)]
    pub written: Written,
    /// A preview's diff (docs/diff-json.md).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub diff: Option<Value>,
    /// A preview's change set as the CLI renders it (`--server`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub changes: Option<ChangeSet>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wait: Option<Waited>,
}

/// Which runtimes of the environment acknowledged the new state within `wait`.
#[derive(Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct Waited {
    pub acknowledged: Vec<String>,
    pub not_acknowledged: Vec<String>,
    /// Every runtime acknowledged.
    pub complete: bool,
}

async fn answer(
    api: &Api,
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
        (Some(wait), Some(commit), false) => Some(wait_for_runtimes(api, &written.environment, commit, wait).await),
        _ => None,
    };
    let changes = written.dry_run.then(|| changes.clone());
    (status, axum::Json(WriteAnswer { written, diff, changes, wait })).into_response()
}

/// Waits until every runtime bound to `env` has acknowledged the state of `commit`, or
/// the time is up; names who has and who has not.
async fn wait_for_runtimes(api: &Api, env: &str, commit: &str, wait: Duration) -> Waited {
    let deadline = tokio::time::Instant::now() + wait;
    let mut changes = api.shared.changes.subscribe();
    loop {
        changes.borrow_and_update();
        let sequence = api
            .shared
            .health
            .read()
            .expect("health lock")
            .get(env)
            .filter(|h| h.delivered_commit.as_deref() == Some(commit))
            .and_then(|h| h.delivered_sequence);
        let runtimes: Vec<_> = api
            .shared
            .runtimes
            .read()
            .expect("runtimes lock")
            .values()
            .filter(|q| q.config.environment.as_str() == env)
            .cloned()
            .collect();
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

/// Runs a write's library operation; the result's JSON and changes.
macro_rules! run {
    ($api:expr, $op:expr) => {
        $api.with_store($op).await?
    };
}

/// Publish the draft as the next version on the second environment.
#[utoipa::path(post, path = "/v1/publish", tag = "write", request_body = PublishBody,
    responses((status = 201, body = WriteAnswer, description = "the new version (200 for a preview)"), (status = 200, body = WriteAnswer, description = "a preview"), WriteProblems),
    security(("bearer" = [])))]
pub async fn publish(
    State(api): State<Api>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    bytes: Body,
) -> Result<Response, Problem> {
    let config = api.shared.config();
    let caller = authorize(&config, peer, &headers, Need::Write(Role::Publisher))?;
    let b: PublishBody = body(&bytes)?;
    authorize(&config, peer, &headers, Need::Write(if b.force { Role::Admin } else { Role::Publisher }))?;
    let wait = wait_seconds(b.wait)?;
    let identity = identity(&api)?;
    let options = options(&caller, b.message, b.force, b.confirm, b.preview);
    let done = run!(api, move |store| crate::ops::publish::publish(store, &identity, &options));
    let status = if done.dry_run { StatusCode::OK } else { StatusCode::CREATED };
    Ok(answer(&api, status, done.written(), &done.changes, wait).await)
}

/// Bring the draft back to the second environment's tree.
#[utoipa::path(post, path = "/v1/discard", tag = "write", request_body = DiscardBody,
    responses((status = 200, body = WriteAnswer, description = "the draft written"), WriteProblems),
    security(("bearer" = [])))]
pub async fn discard(
    State(api): State<Api>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    bytes: Body,
) -> Result<Response, Problem> {
    let caller = authorize(&api.shared.config(), peer, &headers, Need::Write(Role::Publisher))?;
    let b: DiscardBody = body(&bytes)?;
    let identity = identity(&api)?;
    let options = options(&caller, b.message, false, b.confirm, b.preview);
    let done = run!(api, move |store| crate::ops::discard::discard(store, &identity, &options));
    Ok(answer(&api, StatusCode::OK, done.written(), &done.changes, None).await)
}

/// Promote a version one environment along the chain.
#[utoipa::path(post, path = "/v1/promote", tag = "write", request_body = PromoteBody,
    responses((status = 200, body = WriteAnswer, description = "the promotion"), WriteProblems),
    security(("bearer" = [])))]
pub async fn promote(
    State(api): State<Api>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    bytes: Body,
) -> Result<Response, Problem> {
    let config = api.shared.config();
    authorize(&config, peer, &headers, Need::Write(Role::Publisher))?;
    let b: PromoteBody = body(&bytes)?;
    let to = api.environment(&b.to)?;
    let caller = authorize(&config, peer, &headers, Need::Write(role_for(&api, &to, b.force)))?;
    let version = b.version.version()?;
    let wait = wait_seconds(b.wait)?;
    let identity = identity(&api)?;
    let options = options(&caller, b.message, b.force, b.confirm, b.preview);
    let done = run!(api, move |store| {
        crate::ops::promote::promote(store, &identity, &version.to_string(), to.as_str(), &options)
    });
    Ok(answer(&api, StatusCode::OK, done.written(), &done.changes, wait).await)
}

/// Roll an environment back to a version it deployed before.
#[utoipa::path(post, path = "/v1/rollback", tag = "write", request_body = RollbackBody,
    responses((status = 200, body = WriteAnswer, description = "the rollback"), WriteProblems),
    security(("bearer" = [])))]
pub async fn rollback(
    State(api): State<Api>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    bytes: Body,
) -> Result<Response, Problem> {
    let config = api.shared.config();
    authorize(&config, peer, &headers, Need::Write(Role::Publisher))?;
    let b: RollbackBody = body(&bytes)?;
    let env = api.environment(&b.environment)?;
    let caller = authorize(&config, peer, &headers, Need::Write(role_for(&api, &env, false)))?;
    let to = b.to.as_ref().map(VersionField::version).transpose()?;
    let wait = wait_seconds(b.wait)?;
    let identity = identity(&api)?;
    let options = options(&caller, b.message, false, b.confirm, b.preview);
    let done = run!(api, move |store| crate::ops::rollback::rollback(store, &identity, env.as_str(), to, &options));
    Ok(answer(&api, StatusCode::OK, done.written(), &done.changes, wait).await)
}

/// revert and restore: a draft write from a version, maybe of one assistant.
async fn draft_write(
    api: Api,
    peer: SocketAddr,
    headers: HeaderMap,
    bytes: Body,
    restore: bool,
) -> Result<Response, Problem> {
    let caller = authorize(&api.shared.config(), peer, &headers, Need::Write(Role::Publisher))?;
    let b: DraftBody = body(&bytes)?;
    let version = b.version.version()?;
    let assistant = b.assistant.as_deref().map(assistant_id).transpose()?.map(|a| a.as_str().to_string());
    let identity = identity(&api)?;
    let options = options(&caller, b.message, false, b.confirm, b.preview);
    let done = run!(api, move |store| {
        if restore {
            crate::ops::restore::restore(store, &identity, version, assistant.as_deref(), &options)
        } else {
            crate::ops::revert::revert(store, &identity, version, assistant.as_deref(), &options)
        }
    });
    Ok(answer(&api, StatusCode::OK, done.written(), &done.changes, None).await)
}

/// Remove the changes of a publish from the draft (three-way merge).
#[utoipa::path(post, path = "/v1/revert", tag = "write", request_body = DraftBody,
    responses((status = 200, body = WriteAnswer, description = "the draft written, or the preview"), WriteProblems),
    security(("bearer" = [])))]
pub async fn revert(
    State(api): State<Api>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    bytes: Body,
) -> Result<Response, Problem> {
    draft_write(api, peer, headers, bytes, false).await
}

/// Make the draft a version's snapshot (or one assistant's).
#[utoipa::path(post, path = "/v1/restore", tag = "write", request_body = DraftBody,
    responses((status = 200, body = WriteAnswer, description = "the draft written, or the preview"), WriteProblems),
    security(("bearer" = [])))]
pub async fn restore(
    State(api): State<Api>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    bytes: Body,
) -> Result<Response, Problem> {
    draft_write(api, peer, headers, bytes, true).await
}
