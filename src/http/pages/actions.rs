//! The writing pages: Publish, Delete draft (discard), Promote and Rollback. Each goes
//! through a preview page (the plan made with the write's own options, nothing written:
//! exactly what will change) and a form that sends back the commits it was planned on,
//! so what is written is what was shown or a conflict. A protected environment needs a
//! confirmation checkbox that names it. The roles are the API's: publisher, releaser for
//! a protected environment.
//!
//! Part of the HTTP adapter (I/O: HTTP; the repository only through `ops`, on blocking threads).

use std::time::Duration;

use axum::Form;
use axum::extract::{Query, State};
use axum::response::Response;
use maud::{Markup, html};
use serde::Deserialize;

use super::{Visitor, csrf_field, error_page, page, problem_page};
use crate::diff::render::Labels;
use crate::http::AppState;
use crate::http::writes::{identity, options, role_for};
use crate::model::EnvName;
use crate::ops::Done;
use crate::wire::WriteFlags;

/// Which write.
#[derive(Debug, Clone)]
enum Write {
    Publish,
    Discard,
    Promote {
        version: String,
        to: String,
    },
    Rollback {
        environment: String,
        to: Option<String>,
    },
    /// Remove a publish's changes from the draft (a three-way merge).
    Revert {
        version: String,
    },
    /// Make the draft a version's snapshot.
    Restore {
        version: String,
    },
}

impl Write {
    fn path(&self) -> &'static str {
        match self {
            Write::Publish => "/publish",
            Write::Discard => "/discard",
            Write::Promote { .. } => "/promote",
            Write::Rollback { .. } => "/rollback",
            Write::Revert { .. } => "/revert",
            Write::Restore { .. } => "/restore",
        }
    }

    /// The environment written.
    fn environment(&self, state: &AppState) -> Result<EnvName, crate::http::problem::Problem> {
        match self {
            Write::Publish => Ok(state.chain.base().clone()),
            Write::Discard | Write::Revert { .. } | Write::Restore { .. } => Ok(state.chain.draft().clone()),
            Write::Promote { to, .. } => state.environment(to),
            Write::Rollback { environment, .. } => state.environment(environment),
        }
    }

    fn title(&self, env: &EnvName) -> String {
        match self {
            Write::Publish => format!("Publish the draft to {env}"),
            Write::Discard => "Delete the draft's changes".into(),
            Write::Promote { version, to } => format!("Promote {version} to {to}"),
            Write::Rollback { environment, to: Some(to) } => format!("Roll {environment} back to {to}"),
            Write::Rollback { environment, to: None } => format!("Roll {environment} back"),
            Write::Revert { version } => format!("Revert {version} on the draft"),
            Write::Restore { version } => format!("Restore {version} to the draft"),
        }
    }

    /// Runs the write (a preview with `flags.preview`).
    async fn run(
        &self,
        state: &AppState,
        actor: String,
        flags: WriteFlags,
    ) -> Result<Result<Done, crate::error::Error>, Response> {
        let identity = identity(state).map_err(|p| p.into_response_text())?;
        let options = options(state, actor, flags).map_err(|p| p.into_response_text())?;
        let write = self.clone();
        let done = state
            .with_store_for_write(move |store| {
                Ok(match &write {
                    Write::Publish => crate::ops::publish::publish(store, &identity, &options),
                    Write::Discard => crate::ops::discard::discard(store, &identity, &options),
                    Write::Promote { version, to } => {
                        crate::ops::promote::promote(store, &identity, version, to, &options)
                    }
                    Write::Rollback { environment, to } => {
                        let to = match to.as_deref().map(str::parse::<crate::model::Version>).transpose() {
                            Ok(to) => to,
                            Err(error) => return Ok(Err(error.into())),
                        };
                        crate::ops::rollback::rollback(store, &identity, environment, to, &options)
                    }
                    Write::Revert { version } | Write::Restore { version } => {
                        let version = match version.parse::<crate::model::Version>() {
                            Ok(version) => version,
                            Err(error) => return Ok(Err(error.into())),
                        };
                        if matches!(write, Write::Revert { .. }) {
                            crate::ops::revert::revert(store, &identity, version, None, &options)
                        } else {
                            crate::ops::restore::restore(store, &identity, version, None, &options)
                        }
                    }
                })
            })
            .await
            .map_err(|p| p.into_response_text())?;
        Ok(done)
    }

    /// The hidden fields that name the write again.
    /// The preview page's address, with `message` to fill its description in again.
    fn preview_url(&self, message: Option<&str>) -> String {
        let mut query: Vec<(&str, &str)> = match self {
            Write::Promote { version, to } => vec![("version", version), ("to", to)],
            Write::Rollback { environment, to } => {
                let mut query = vec![("environment", environment.as_str())];
                query.extend(to.as_deref().map(|to| ("to", to)));
                query
            }
            Write::Revert { version } | Write::Restore { version } => vec![("version", version)],
            Write::Publish | Write::Discard => Vec::new(),
        };
        query.extend(message.map(|m| ("message", m)));
        match serde_urlencoded::to_string(&query) {
            Ok(query) if !query.is_empty() => format!("{}?{query}", self.path()),
            _ => self.path().to_string(),
        }
    }

    fn fields(&self) -> Markup {
        html! {
            @match self {
                Write::Promote { version, to } => {
                    input type="hidden" name="version" value=(version);
                    input type="hidden" name="to" value=(to);
                }
                Write::Rollback { environment, to } => {
                    input type="hidden" name="environment" value=(environment);
                    @if let Some(to) = to { input type="hidden" name="to" value=(to); }
                }
                Write::Revert { version } | Write::Restore { version } => {
                    input type="hidden" name="version" value=(version);
                }
                Write::Publish | Write::Discard => {}
            }
        }
    }
}

impl crate::http::problem::Problem {
    /// The problem as JSON (for the rare failure before a page can be made).
    fn into_response_text(self) -> Response {
        axum::response::IntoResponse::into_response(self)
    }
}

/// The preview page: the plan's summary and comparison, and the form that writes it.
async fn preview(state: AppState, visitor: Visitor, write: Write, prefill: Prefill) -> Response {
    if let Err(to_login) = visitor.require_read() {
        return to_login;
    }
    let env = match write.environment(&state) {
        Ok(env) => env,
        Err(problem) => return problem_page(&visitor, problem),
    };
    let role = role_for(&state, &env, false);
    if !visitor.may(role) {
        return super::refusal(
            &visitor,
            axum::http::StatusCode::FORBIDDEN,
            &format!("This needs the {} role.", crate::http::auth::name(role)),
            "Sign in with a token of that role.",
        );
    }
    let flags = WriteFlags { preview: true, ..WriteFlags::default() };
    let done = match write.run(&state, visitor.actor(), flags).await {
        Ok(Ok(done)) => done,
        Ok(Err(error)) => return error_page(&visitor, &error),
        Err(response) => return response,
    };
    let written = done.written();
    let labels = Labels { from: format!("{env} now"), to: format!("{env} after"), from_commit: None, to_commit: None };
    let protected = done.plan.protected;
    let button = match &write {
        Write::Publish => "Publish".to_string(),
        Write::Discard => "Delete the draft's changes".to_string(),
        Write::Promote { .. } => "Promote".to_string(),
        Write::Rollback { .. } => "Roll back".to_string(),
        Write::Revert { .. } => "Revert on the draft".to_string(),
        Write::Restore { .. } => "Restore to the draft".to_string(),
    };
    let outcome = match (&write, written.version, written.left) {
        (Write::Publish, Some(v), _) => format!("This creates v{v} on {env}."),
        (Write::Promote { .. }, Some(v), _) => format!("{env} will run v{v}."),
        (Write::Rollback { .. }, Some(v), Some(left)) => {
            format!("{env} will run v{v} again; v{left} goes on hold there.")
        }
        (Write::Discard, _, _) => format!("The draft goes back to {}'s configuration.", state.chain.base()),
        (Write::Revert { version }, _, _) => {
            format!("The draft loses the changes {version} made; nothing goes live until the next publish.")
        }
        (Write::Restore { version }, _, _) => {
            format!("The draft becomes {version}'s configuration; nothing goes live until the next publish.")
        }
        _ => String::new(),
    };
    let body = html! {
        p { strong { (outcome) } }
        p.muted { (written.summary) }
        (crate::diff::render::html::render(done.changes(), &labels))
        form method="post" action=(write.path()) {
            (csrf_field(&visitor))
            (write.fields())
            input type="hidden" name="expected" value=(written.planned_on.clone().unwrap_or_default());
            @if matches!(write, Write::Publish) {
                p {
                    label for="message" { "Description (what changed, for the history)" }
                    br;
                    input type="text" id="message" name="message" size="60" maxlength="2000" value=[prefill.message.as_deref()];
                }
            }
            @if protected {
                p {
                    input type="checkbox" id="confirm" name="confirm" value="yes" data-confirms="apply";
                    " "
                    label for="confirm" { "I understand this changes " (env) }
                }
            }
            div.actions {
                button id="apply" type="submit" { (button) }
                a.button.secondary href="/" { "Cancel" }
            }
        }
    };
    page(&visitor, &write.title(&env), None, body)
}

/// What every write form sends.
#[derive(Debug, Deserialize)]
pub struct WriteForm {
    /// Missing: refused as a wrong token (403), never a parse error.
    #[serde(default)]
    csrf: String,
    expected: Option<String>,
    message: Option<String>,
    confirm: Option<String>,
    version: Option<String>,
    to: Option<String>,
    environment: Option<String>,
}

/// The write: checked (session, CSRF, role), applied with the plan's commits, and the
/// result page naming what was written.
async fn apply(state: AppState, visitor: Visitor, write: Write, form: WriteForm) -> Response {
    let env = match write.environment(&state) {
        Ok(env) => env,
        Err(problem) => return problem_page(&visitor, problem),
    };
    let message = form.message.map(|m| m.trim().to_string()).filter(|m| !m.is_empty());
    if visitor.session.is_none() {
        return expired(&visitor, &write, message.as_deref());
    }
    if let Err(refused) = visitor.require_post(&form.csrf, role_for(&state, &env, false)) {
        return refused;
    }
    if message.as_ref().is_some_and(|m| m.chars().count() > 2000) {
        return super::refusal(
            &visitor,
            axum::http::StatusCode::BAD_REQUEST,
            "The description is over 2,000 characters.",
            "Shorten it.",
        );
    }
    let flags = WriteFlags {
        message,
        force: false,
        confirm: form.confirm.is_some(),
        preview: false,
        expected: form.expected.filter(|e| !e.is_empty()),
    };
    let done = match write.run(&state, visitor.actor(), flags).await {
        Ok(Ok(done)) => done,
        Ok(Err(error)) => return error_page(&visitor, &error),
        Err(response) => return response,
    };
    let written = done.written();
    // The daemon's view catches up first, so the pages asked next show the write.
    if let (Some(commit), false) = (&written.commit, written.dry_run) {
        crate::http::writes::wait_for_sync(&state, &written.environment, commit, SYNC_WAIT).await;
    }
    let headline = match (&write, written.version) {
        (Write::Publish, Some(v)) => format!("Published v{v} on {env}"),
        (Write::Promote { .. }, Some(v)) => format!("Promoted v{v} to {env}"),
        (Write::Rollback { .. }, Some(v)) => format!("Rolled {env} back to v{v}"),
        (Write::Discard, _) => "The draft's changes are deleted".to_string(),
        (Write::Revert { version }, _) => format!("Reverted {version} on the draft"),
        (Write::Restore { version }, _) => format!("Restored {version} to the draft"),
        _ => "Done".to_string(),
    };
    let body = html! {
        div.notice role="status" {
            p { strong { (headline) } }
            p.muted { (written.summary) }
            @if let Some(left) = written.left { p { "v" (left) " is on hold in " (env) "." } }
            @if let Some(commit) = &written.commit { p.muted { "Commit " code { (&commit[..7]) } } }
        }
        div.actions {
            @if let Some(v) = written.version { a.button href={ "/versions/v" (v) } { "See v" (v) } }
            a.button.secondary href="/" { "Back to the environments" }
        }
    };
    page(&visitor, &headline, None, body)
}

/// How long a write's result page waits for the daemon to read the write.
pub(super) const SYNC_WAIT: Duration = Duration::from_secs(5);

/// What a preview page fills in again: the description typed before a session expired.
#[derive(Debug, Default, Deserialize)]
pub struct Prefill {
    message: Option<String>,
}

/// A write posted after the session ended: nothing done, a sign-in that returns to the
/// preview with the description filled in again.
fn expired(visitor: &Visitor, write: &Write, message: Option<&str>) -> Response {
    let back = write.preview_url(message);
    let login = format!("/login?{}", serde_urlencoded::to_string([("next", back.as_str())]).unwrap_or_default());
    super::refusal_with_link(
        visitor,
        axum::http::StatusCode::FORBIDDEN,
        "You are not signed in, or your session has expired: nothing was done.",
        "Sign in again; you come back to the preview with what you wrote filled in.",
        (&login, "Sign in again"),
    )
}

#[derive(Debug, Deserialize)]
pub struct PromoteQuery {
    version: String,
    to: String,
}

#[derive(Debug, Deserialize)]
pub struct RollbackQuery {
    environment: String,
    to: Option<String>,
}

pub async fn publish_preview(
    State(state): State<AppState>,
    visitor: Visitor,
    Query(prefill): Query<Prefill>,
) -> Response {
    preview(state, visitor, Write::Publish, prefill).await
}

pub async fn publish(State(state): State<AppState>, visitor: Visitor, Form(form): Form<WriteForm>) -> Response {
    apply(state, visitor, Write::Publish, form).await
}

pub async fn discard_preview(
    State(state): State<AppState>,
    visitor: Visitor,
    Query(prefill): Query<Prefill>,
) -> Response {
    preview(state, visitor, Write::Discard, prefill).await
}

pub async fn discard(State(state): State<AppState>, visitor: Visitor, Form(form): Form<WriteForm>) -> Response {
    apply(state, visitor, Write::Discard, form).await
}

pub async fn promote_preview(
    State(state): State<AppState>,
    visitor: Visitor,
    Query(query): Query<PromoteQuery>,
    Query(prefill): Query<Prefill>,
) -> Response {
    preview(state, visitor, Write::Promote { version: query.version, to: query.to }, prefill).await
}

pub async fn promote(State(state): State<AppState>, visitor: Visitor, Form(form): Form<WriteForm>) -> Response {
    let write =
        Write::Promote { version: form.version.clone().unwrap_or_default(), to: form.to.clone().unwrap_or_default() };
    apply(state, visitor, write, form).await
}

#[derive(Debug, Deserialize)]
pub struct VersionQuery {
    version: String,
}

pub async fn revert_preview(
    State(state): State<AppState>,
    visitor: Visitor,
    Query(query): Query<VersionQuery>,
    Query(prefill): Query<Prefill>,
) -> Response {
    preview(state, visitor, Write::Revert { version: query.version }, prefill).await
}

pub async fn revert(State(state): State<AppState>, visitor: Visitor, Form(form): Form<WriteForm>) -> Response {
    let write = Write::Revert { version: form.version.clone().unwrap_or_default() };
    apply(state, visitor, write, form).await
}

pub async fn restore_preview(
    State(state): State<AppState>,
    visitor: Visitor,
    Query(query): Query<VersionQuery>,
    Query(prefill): Query<Prefill>,
) -> Response {
    preview(state, visitor, Write::Restore { version: query.version }, prefill).await
}

pub async fn restore(State(state): State<AppState>, visitor: Visitor, Form(form): Form<WriteForm>) -> Response {
    let write = Write::Restore { version: form.version.clone().unwrap_or_default() };
    apply(state, visitor, write, form).await
}

pub async fn rollback_preview(
    State(state): State<AppState>,
    visitor: Visitor,
    Query(query): Query<RollbackQuery>,
    Query(prefill): Query<Prefill>,
) -> Response {
    let to = query.to.filter(|t| !t.is_empty());
    preview(state, visitor, Write::Rollback { environment: query.environment, to }, prefill).await
}

pub async fn rollback(State(state): State<AppState>, visitor: Visitor, Form(form): Form<WriteForm>) -> Response {
    let to = form.to.clone().filter(|t| !t.is_empty());
    let write = Write::Rollback { environment: form.environment.clone().unwrap_or_default(), to };
    apply(state, visitor, write, form).await
}
