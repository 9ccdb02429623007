//! The reading pages: Environments (home), sign-in, History, a Version, Compare.
//!
//! Part of the HTTP adapter (I/O: HTTP; the repository only through `ops`, on blocking threads).

use axum::Form;
use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use maud::html;
use serde::Deserialize;

use super::session::{self, Session};
use super::{Visitor, page, problem_page, refusal};
use crate::config::Role;
use crate::http::AppState;
use crate::wire::{EnvironmentsView, HistoryParams, RuntimeState};

/// The environments as the daemon's hub has them (the API's `/v1/environments`).
fn environments_view(state: &AppState) -> Option<EnvironmentsView> {
    crate::http::environments::view(state).ok()
}

/// Environments: a card per environment, with its runtimes and its actions.
pub async fn environments(State(state): State<AppState>, visitor: Visitor) -> Response {
    if let Err(to_login) = visitor.require_read() {
        return to_login;
    }
    let Some(view) = environments_view(&state) else {
        return refusal(
            &visitor,
            StatusCode::SERVICE_UNAVAILABLE,
            "The daemon has not read the repository yet.",
            "Reload in a moment.",
        );
    };
    let chain = &view.chain;
    let body = html! {
        div.cards {
            @for (index, env) in view.environments.iter().enumerate() {
                @let status = &env.status;
                @let next = chain.get(index + 1);
                article.card aria-labelledby={ "env-" (status.name) } {
                    h2 id={ "env-" (status.name) } {
                        span { (status.name) }
                        @if status.protected { span.badge.protected { "protected" } }
                    }
                    p {
                        @match status.version {
                            Some(v) => strong { "v" (v) },
                            None if index == 0 => strong { "draft" },
                            None => strong { "no version" },
                        }
                        " · " code { (&status.commit[..7]) }
                    }
                    p.muted { (status.actor) br; (status.time) }
                    p { (status.subject) }
                    @if !status.holds.is_empty() {
                        p { "On hold: " @for (i, v) in status.holds.iter().enumerate() { @if i > 0 { ", " } "v" (v) } }
                    }
                    @if status.drift { p { span.badge.bad { "drift" } " the tip matches no version" } }
                    @if !env.valid { p { span.badge.bad { "invalid" } } }
                    @if let Some(problem) = &env.problem { p.muted { (problem) } }
                    @if !env.runtimes.is_empty() {
                        h3 { "Runtimes" }
                        ul {
                            @for runtime in &env.runtimes {
                                li {
                                    (runtime.name) ": "
                                    @match runtime.acknowledged_version { Some(v) => { "v" (v) }, None => "nothing yet" }
                                    " · " (runtime_state(runtime.state))
                                    @if let Some(error) = &runtime.last_error { br; span.muted { "last error: " (error) } }
                                }
                            }
                        }
                    }
                    div.actions {
                        @if index > 0 {
                            @if let (Some(next), Some(version)) = (next, status.version) {
                                @if visitor.may(Role::Publisher) {
                                    a.button href={ "/promote?version=v" (version) "&to=" (next) } { "Promote v" (version) " to " (next) "…" }
                                }
                            }
                            @if visitor.may(Role::Publisher) {
                                a.button.secondary href={ "/rollback?environment=" (status.name) } { "Roll back…" }
                            }
                        }
                        @if let Some(next) = next {
                            a.button.secondary href={ "/compare?from=" (status.name) "&to=" (next) } { "Compare with " (next) }
                        }
                    }
                }
            }
        }
    };
    page(&visitor, "Environments", Some(&view.draft), body)
}

fn runtime_state(state: RuntimeState) -> &'static str {
    match state {
        RuntimeState::Idle => "up to date",
        RuntimeState::Delivering => "delivering",
        RuntimeState::Retrying => "retrying",
        RuntimeState::Parked => "parked (410 Gone)",
        RuntimeState::Elsewhere => "served by another daemon",
    }
}

#[derive(Debug, Deserialize)]
pub struct Next {
    next: Option<String>,
}

/// Only a path of this site is a place to come back to.
fn safe_next(next: Option<&str>) -> String {
    match next {
        Some(next) if next.starts_with('/') && !next.starts_with("//") && !next.contains('\\') => next.to_string(),
        _ => "/".to_string(),
    }
}

/// The sign-in form.
pub async fn login_form(visitor: Visitor, Query(query): Query<Next>) -> Response {
    login_page(&visitor, &safe_next(query.next.as_deref()), None, StatusCode::OK)
}

fn login_page(visitor: &Visitor, next: &str, problem: Option<&str>, status: StatusCode) -> Response {
    let body = html! {
        @if let Some(problem) = problem { div.problem role="alert" { p { (problem) } } }
        form method="post" action="/login" {
            input type="hidden" name="next" value=(next);
            p {
                label for="token" { "API token" }
                br;
                input type="password" id="token" name="token" autocomplete="current-password" required size="48";
            }
            p.muted { "One of the daemon's tokens ([[token]] in its config). It is checked, then a session cookie keeps you signed in for 8 hours; the token itself is not kept." }
            button type="submit" { "Sign in" }
        }
    };
    let mut response = page(visitor, "Sign in", None, body);
    *response.status_mut() = status;
    response
}

#[derive(Debug, Deserialize)]
pub struct LoginForm {
    token: String,
    next: Option<String>,
}

/// Checks the token; a session cookie on success.
pub async fn login(State(state): State<AppState>, visitor: Visitor, Form(form): Form<LoginForm>) -> Response {
    let next = safe_next(form.next.as_deref());
    let config = state.config.get();
    let Some((name, role)) = crate::http::auth::lookup(&config, form.token.trim()) else {
        return login_page(&visitor, &next, Some("That token is not one of the daemon's."), StatusCode::UNAUTHORIZED);
    };
    let session = Session::new(&name, role, jiff::Timestamp::now().as_second());
    let cookie = session::set_cookie(Some(&session::seal(&state.session_key, &session)), visitor.secure);
    (StatusCode::SEE_OTHER, [(header::SET_COOKIE, cookie), (header::LOCATION, next)]).into_response()
}

#[derive(Debug, Deserialize)]
pub struct CsrfForm {
    #[serde(default)]
    csrf: String,
}

/// Ends the session.
pub async fn logout(visitor: Visitor, Form(form): Form<CsrfForm>) -> Response {
    if let Err(refused) = visitor.require_post(&form.csrf, Role::Viewer) {
        return refused;
    }
    let cookie = session::set_cookie(None, visitor.secure);
    (StatusCode::SEE_OTHER, [(header::SET_COOKIE, cookie), (header::LOCATION, "/login".to_string())]).into_response()
}

/// History: every write and every commit made outside stagecraft, with filters and pages.
pub async fn history(State(state): State<AppState>, visitor: Visitor, Query(params): Query<HistoryParams>) -> Response {
    if let Err(to_login) = visitor.require_read() {
        return to_login;
    }
    let blank = |v: &Option<String>| v.clone().filter(|v| !v.trim().is_empty());
    let mut params = params;
    params.environment = blank(&params.environment);
    params.action = blank(&params.action);
    params.assistant = blank(&params.assistant);
    params.before = blank(&params.before);
    if let Some(env) = &params.environment
        && let Err(problem) = state.environment(env)
    {
        return problem_page(&visitor, problem);
    }
    let query = crate::ops::history::HistoryQuery {
        environment: params.environment.clone(),
        limit: Some(params.limit.unwrap_or(50).clamp(1, 500)),
        before: params.before.clone(),
        all: false,
        action: params.action.clone(),
        assistant: params.assistant.clone(),
    };
    let page_data = match state.with_store(move |store| crate::ops::history::history(store, &query)).await {
        Ok(page_data) => page_data,
        Err(problem) => return problem_page(&visitor, problem),
    };
    let view = environments_view(&state);
    let chain = view.as_ref().map(|v| v.chain.clone()).unwrap_or_default();
    let value = |v: &Option<String>| v.clone().unwrap_or_default();
    let older = page_data.next.as_ref().map(|next| {
        let query = HistoryParams { before: Some(next.clone()), ..params.clone() };
        serde_urlencoded::to_string(&query).unwrap_or_default()
    });
    let body = html! {
        form.filters method="get" action="/history" {
            label for="environment" { "Environment " }
            select id="environment" name="environment" {
                option value="" { "all" }
                @for env in &chain { option value=(env) selected[params.environment.as_deref() == Some(env)] { (env) } }
            }
            " "
            label for="action" { "Action " }
            select id="action" name="action" {
                option value="" { "all" }
                @for action in ["publish", "promote", "rollback", "revert", "restore", "discard", "edit", "merge", "init"] {
                    option value=(action) selected[params.action.as_deref() == Some(action)] { (action) }
                }
            }
            " "
            label for="assistant" { "Assistant " }
            input type="text" id="assistant" name="assistant" value=(value(&params.assistant)) size="16";
            " "
            button type="submit" { "Filter" }
        }
        @for warning in &page_data.warnings { p.muted { (warning) } }
        div.table-wrap tabindex="0" role="region" aria-label="Table, scrolls sideways" {
            table {
                thead { tr { th { "Version" } th { "Action" } th { "Environment" } th { "Who" } th { "When" } th { "Summary" } } }
                tbody {
                    @for entry in &page_data.entries {
                        tr {
                            td { @match entry.version { Some(v) => a href={ "/versions/v" (v) } { "v" (v) }, None => "—" } }
                            td { (entry.action) }
                            td { (entry.environment.clone().unwrap_or_else(|| "(all)".into())) }
                            td { (entry.actor) }
                            td { (entry.time) }
                            td {
                                @if let Some(d) = entry.description.as_deref().filter(|d| !d.is_empty()) { (d.lines().next().unwrap_or("")) " — " }
                                (entry.summary)
                                @if let Some(tests) = &entry.tests { " " span.badge.good { (tests) } }
                            }
                        }
                    }
                }
            }
        }
        @if let Some(older) = &older {
            p { a href={ "/history?" (older) } { "Older entries" } }
        }
    };
    page(&visitor, "History", view.as_ref().map(|v| &v.draft), body)
}

/// One version: who, when, description, summary, where it is deployed and on hold, tests.
pub async fn version(State(state): State<AppState>, visitor: Visitor, Path(text): Path<String>) -> Response {
    if let Err(to_login) = visitor.require_read() {
        return to_login;
    }
    let number = match crate::http::version(&text) {
        Ok(number) => number,
        Err(problem) => return problem_page(&visitor, problem),
    };
    let info = match state.with_store(move |store| crate::ops::show::show(store, number)).await {
        Ok(info) => info,
        Err(problem) => return problem_page(&visitor, problem),
    };
    let view = environments_view(&state);
    let list = |envs: &[String]| if envs.is_empty() { "nowhere".to_string() } else { envs.join(", ") };
    let body = html! {
        p { "Published by " (info.actor) " at " (info.time) " · " code { (&info.commit[..7]) } }
        @if let Some(description) = &info.description { p { (description) } }
        @if let Some(summary) = &info.summary { p.muted { (summary) } }
        p { "Deployed now: " (list(&info.deployed)) }
        @if !info.on_hold.is_empty() { p { "On hold in: " (info.on_hold.join(", ")) } }
        p { @match &info.tests { Some(tests) => span.badge.good { (tests) }, None => span.muted { "No test run recorded." } } }
        div.actions {
            @if visitor.may(Role::Publisher) {
                a.button href={ "/revert?version=v" (info.version) } { "Revert…" }
                a.button.secondary href={ "/restore?version=v" (info.version) } { "Restore…" }
            }
            a.button.secondary href={ "/compare?from=v" (info.version) "&to=draft" } { "Compare with the draft" }
        }
    };
    page(&visitor, &format!("v{}", info.version), view.as_ref().map(|v| &v.draft), body)
}

#[derive(Debug, Deserialize)]
pub struct CompareQuery {
    from: Option<String>,
    to: Option<String>,
}

/// Compare any two states side by side.
pub async fn compare(State(state): State<AppState>, visitor: Visitor, Query(query): Query<CompareQuery>) -> Response {
    if let Err(to_login) = visitor.require_read() {
        return to_login;
    }
    let view = environments_view(&state);
    let base = view.as_ref().map(|v| v.draft.base.clone()).unwrap_or_else(|| "sandbox".into());
    let from = query.from.filter(|f| !f.trim().is_empty()).unwrap_or(base);
    let to = query.to.filter(|t| !t.trim().is_empty()).unwrap_or_else(|| "draft".into());
    for spec in [&from, &to] {
        if let Err(problem) = crate::http::state_spec(spec) {
            return problem_page(&visitor, problem);
        }
    }
    let (from_spec, to_spec, chain) = (from.clone(), to.clone(), state.chain.clone());
    let diffed = state
        .with_store(move |store| {
            // Refs, versions and commits only: never a path on the daemon's machine.
            let nowhere = std::path::Path::new("/nonexistent/stagecraft-dashboard");
            crate::ops::diff::diff(Some(store), &chain, &from_spec, &to_spec, None, nowhere)
        })
        .await;
    let chain = view.as_ref().map(|v| v.chain.clone()).unwrap_or_default();
    let picker = html! {
        form method="get" action="/compare" {
            label for="from" { "Old " }
            input type="text" id="from" name="from" value=(from) size="14" list="states";
            " "
            label for="to" { "New " }
            input type="text" id="to" name="to" value=(to) size="14" list="states";
            datalist id="states" { @for env in &chain { option value=(env) {} } }
            " "
            button type="submit" { "Compare" }
        }
    };
    let body = match diffed {
        Ok(diffed) => html! {
            (picker)
            (crate::diff::render::html::render(&diffed.changes, &diffed.labels))
        },
        Err(problem) => {
            let body = problem.0;
            html! {
                (picker)
                div.problem role="alert" { p { (body.detail) } @if let Some(hint) = &body.hint { p.muted { (hint) } } }
            }
        }
    };
    page(&visitor, "Compare", view.as_ref().map(|v| &v.draft), body)
}

/// One assistant's bindings in one environment: its numbers and SIP headers.
type NumbersRow = (String, String, Vec<String>, Vec<(String, String)>);

/// Numbers: each environment's phone numbers and SIP headers, per assistant.
pub async fn numbers(State(state): State<AppState>, visitor: Visitor) -> Response {
    if let Err(to_login) = visitor.require_read() {
        return to_login;
    }
    let view = environments_view(&state);
    let chain = view.as_ref().map(|v| v.chain.clone()).unwrap_or_default();
    let mut rows: Vec<NumbersRow> = Vec::new();
    for env in &chain {
        let Some(pull) = state.hub.pull(env) else { continue };
        for id in pull.ids() {
            let Some(pulled) = pull.get(id) else { continue };
            let Ok(data) = serde_json::from_slice::<crate::wire::AssistantData>(&pulled.data) else { continue };
            let numbers: Vec<String> = data.channels["phone_numbers"]
                .as_array()
                .map(|list| list.iter().filter_map(|n| n.as_str().map(str::to_string)).collect())
                .unwrap_or_default();
            let headers: Vec<(String, String)> = data.channels["sip_headers"]
                .as_object()
                .map(|map| {
                    map.iter()
                        .map(|(k, v)| (k.clone(), v.as_str().map_or_else(|| v.to_string(), str::to_string)))
                        .collect()
                })
                .unwrap_or_default();
            if !numbers.is_empty() || !headers.is_empty() {
                rows.push((env.clone(), id.clone(), numbers, headers));
            }
        }
    }
    let body = html! {
        @if rows.is_empty() {
            p.muted { "No environment binds a phone number or SIP headers (channels.toml)." }
        } @else {
            div.table-wrap tabindex="0" role="region" aria-label="Table, scrolls sideways" {
                table {
                    thead { tr { th { "Environment" } th { "Assistant" } th { "Phone numbers" } th { "SIP headers" } } }
                    tbody {
                        @for (env, id, numbers, headers) in &rows {
                            tr {
                                td { (env) }
                                td { (id) }
                                td { @for n in numbers { code { (n) } br; } }
                                td { @for (k, v) in headers { code { (k) ": " (v) } br; } }
                            }
                        }
                    }
                }
            }
            p.muted { "Numbers are per environment: change one in channels.toml on the draft, publish, and promote it like any change." }
        }
    };
    page(&visitor, "Numbers", view.as_ref().map(|v| &v.draft), body)
}
