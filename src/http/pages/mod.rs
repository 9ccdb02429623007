//! The dashboard (io: HTTP): server-rendered pages at `/` over the same operations, roles
//! and wire types as the API. Templates are maud's, compiled into the binary, and escape
//! whatever they interpolate; the stylesheet and the one small script are embedded too.
//! Every page reads without JavaScript and every action is a plain form.
//!
//! - Signing in takes one of the API's tokens and gives a signed session cookie
//!   ([`session`]); reading needs no sign-in with `public_read = true`.
//! - Every form carries the session's CSRF token; a POST without it, or by a role too
//!   weak for the action, is refused with 403 and writes nothing.
//! - Every answer carries a strict Content-Security-Policy (no inline script or style),
//!   `X-Content-Type-Options`, `Referrer-Policy` and frame denial.
//!
//! Pages: [`views`] (environments with the draft banner, history, a version, compare) and
//! [`actions`] (publish, discard, promote, rollback: a preview, then the write).

mod actions;
mod edit;
pub mod session;
mod trying;
mod views;

use std::net::SocketAddr;

use axum::Router;
use axum::extract::{ConnectInfo, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use maud::{DOCTYPE, Markup, html};

use super::AppState;
use super::auth::{Need, need};
use crate::config::Role;
use crate::wire::DraftStatus;
use session::Session;

/// The stylesheet and the script, embedded.
const CSS: &str = include_str!("assets/app.css");
const JS: &str = include_str!("assets/app.js");

/// The policy of every page: nothing inline, nothing from elsewhere.
pub const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; \
form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// The dashboard's routes; each checks its visitor itself.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/", get(views::environments))
        .route("/login", get(views::login_form).post(views::login))
        .route("/logout", axum::routing::post(views::logout))
        .route("/history", get(views::history))
        .route("/versions/{version}", get(views::version))
        .route("/compare", get(views::compare))
        .route("/numbers", get(views::numbers))
        .route("/edit", get(edit::editor).post(edit::save))
        .route("/edit/settings", get(edit::settings_form).post(edit::settings))
        .route("/edit/new", axum::routing::post(edit::create))
        .route("/edit/delete", axum::routing::post(edit::delete))
        .route("/chat", get(trying::chat_page).post(trying::chat))
        .route("/chat/stream", axum::routing::post(trying::chat_stream))
        .route("/test", get(trying::test_page).post(trying::test))
        .route("/publish", get(actions::publish_preview).post(actions::publish))
        .route("/discard", get(actions::discard_preview).post(actions::discard))
        .route("/promote", get(actions::promote_preview).post(actions::promote))
        .route("/rollback", get(actions::rollback_preview).post(actions::rollback))
        .route("/revert", get(actions::revert_preview).post(actions::revert))
        .route("/restore", get(actions::restore_preview).post(actions::restore))
        .route("/assets/app.css", get(|| async { asset(CSS, "text/css; charset=utf-8") }))
        .route("/assets/app.js", get(|| async { asset(JS, "text/javascript; charset=utf-8") }))
        .layer(need(Need::Anyone))
        .layer(axum::middleware::from_fn(security_headers))
}

fn asset(body: &'static str, kind: &'static str) -> Response {
    ([(header::CONTENT_TYPE, kind), (header::CACHE_CONTROL, "max-age=3600")], body).into_response()
}

/// The headers every page carries.
async fn security_headers(request: Request, next: Next) -> Response {
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CSP));
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("same-origin"));
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.entry(header::CACHE_CONTROL).or_insert(HeaderValue::from_static("no-store"));
    response
}

/// Who is looking: a session, or an anonymous reader where reading is open.
pub struct Visitor {
    pub session: Option<Session>,
    /// Reading needs no sign-in (`public_read`, or no config file and a loopback peer).
    pub read_open: bool,
    /// The request came over https (a proxy says so).
    pub secure: bool,
    /// The path and query asked for, to come back to after signing in.
    pub here: String,
}

impl FromRequestParts<AppState> for Visitor {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Visitor, Self::Rejection> {
        let now = jiff::Timestamp::now().as_second();
        let session = parts
            .headers
            .get_all(header::COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(';'))
            .filter_map(|pair| pair.trim().strip_prefix(&format!("{}=", session::COOKIE)).map(str::to_string))
            .find_map(|value| session::open(&state.session_key, &value, now));
        let config = state.config.get();
        let peer = parts.extensions.get::<ConnectInfo<SocketAddr>>().map(|ConnectInfo(peer)| *peer);
        let loopback_open = config.file.is_none() && peer.is_some_and(|p| p.ip().is_loopback());
        let secure = parts
            .headers
            .get("x-forwarded-proto")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.eq_ignore_ascii_case("https"));
        let here = parts.uri.path_and_query().map_or_else(|| "/".to_string(), |p| p.as_str().to_string());
        Ok(Visitor { session, read_open: config.config.server.public_read || loopback_open, secure, here })
    }
}

// A refusal is a whole page: handlers return it as it is, the way axum handlers do.
#[allow(clippy::result_large_err)]
impl Visitor {
    pub fn role(&self) -> Option<Role> {
        self.session.as_ref().and_then(Session::role)
    }

    /// Whether the visitor may take an action that needs `role`.
    pub fn may(&self, role: Role) -> bool {
        self.role().is_some_and(|r| r >= role)
    }

    /// Reading: a session, or open reading; else the sign-in page (coming back here).
    pub fn require_read(&self) -> Result<(), Response> {
        if self.session.is_some() || self.read_open {
            return Ok(());
        }
        let next = form_urlencoded(&self.here);
        Err((StatusCode::SEE_OTHER, [(header::LOCATION, format!("/login?next={next}"))]).into_response())
    }

    /// A page for a role: reading (else the sign-in page), then the role (else 403
    /// naming what needs it).
    pub fn require_page(&self, role: Role, what: &str) -> Result<(), Response> {
        self.require_read()?;
        if self.may(role) {
            return Ok(());
        }
        Err(refusal(
            self,
            StatusCode::FORBIDDEN,
            &format!("{what} needs the {} role.", super::auth::name(role)),
            "Sign in with a token of that role.",
        ))
    }

    /// A form's post: a session whose CSRF token the form carries and whose role is
    /// `role` or stronger; else 403 (an expired session: back to sign-in).
    pub fn require_post(&self, csrf: &str, role: Role) -> Result<&Session, Response> {
        let Some(session) = &self.session else {
            return Err(refusal(
                self,
                StatusCode::FORBIDDEN,
                "You are not signed in, or your session has expired.",
                "Sign in again, then repeat the action.",
            ));
        };
        if !session.csrf_ok(csrf) {
            return Err(refusal(
                self,
                StatusCode::FORBIDDEN,
                "This form was not sent from this session (its CSRF token is missing or wrong).",
                "Reload the page and send the form again.",
            ));
        }
        if !self.may(role) {
            return Err(refusal(
                self,
                StatusCode::FORBIDDEN,
                &format!("Your role, {}, may not do this: it needs {}.", session.role, super::auth::name(role)),
                "Ask someone with that role.",
            ));
        }
        Ok(session)
    }

    /// `token:<name>`, the actor of the visitor's writes.
    pub fn actor(&self) -> String {
        self.session.as_ref().map_or_else(|| "anonymous".into(), |s| format!("token:{}", s.name))
    }

    fn csrf(&self) -> &str {
        self.session.as_ref().map_or("", |s| s.csrf.as_str())
    }
}

/// `text` for a query string.
pub fn form_urlencoded(text: &str) -> String {
    serde_urlencoded::to_string([("", text)]).unwrap_or_default().trim_start_matches('=').to_string()
}

/// The hidden CSRF field of every form.
pub fn csrf_field(visitor: &Visitor) -> Markup {
    html! { input type="hidden" name="csrf" value=(visitor.csrf()); }
}

/// A whole page: the header with the navigation and who is signed in, the draft banner
/// (when given), the title and the body.
pub fn page(visitor: &Visitor, title: &str, banner: Option<&DraftStatus>, body: Markup) -> Response {
    let markup = html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · stagecraft" }
                link rel="stylesheet" href="/assets/app.css";
                script src="/assets/app.js" defer {}
            }
            body {
                a.skip href="#main" { "Skip to the content" }
                header.top {
                    a.brand href="/" { "stagecraft" }
                    nav aria-label="Main" {
                        a href="/" { "Environments" }
                        a href="/history" { "History" }
                        a href="/compare" { "Compare" }
                        a href="/numbers" { "Numbers" }
                        @if visitor.may(Role::Publisher) {
                            a href="/edit" { "Edit" }
                            a href="/chat" { "Chat" }
                            a href="/test" { "Test" }
                        }
                    }
                    div.who {
                        @match &visitor.session {
                            Some(session) => {
                                span { (session.name) " (" (session.role) ")" }
                                form method="post" action="/logout" {
                                    (csrf_field(visitor))
                                    button.secondary type="submit" { "Sign out" }
                                }
                            }
                            None => a href="/login" { "Sign in" },
                        }
                    }
                }
                main id="main" {
                    @if let Some(draft) = banner { (draft_banner(visitor, draft)) }
                    h1 { (title) }
                    (body)
                }
            }
        }
    };
    html_response(StatusCode::OK, markup)
}

pub fn html_response(status: StatusCode, markup: Markup) -> Response {
    (status, [(header::CONTENT_TYPE, "text/html; charset=utf-8")], markup.into_string()).into_response()
}

/// The banner of every page while the draft differs from its base.
fn draft_banner(visitor: &Visitor, draft: &DraftStatus) -> Markup {
    let may_write = visitor.may(Role::Publisher);
    html! {
        @if draft.changed {
            section.banner aria-label="Draft" {
                strong { "Draft has unpublished changes" }
                span { (draft.summary) }
                a href={ "/compare?from=" (draft.base) "&to=draft" } { "Compare with " (draft.base) }
                @if may_write {
                    form method="get" action="/publish" {
                        button type="submit" { "Publish…" }
                    }
                    form method="get" action="/discard" {
                        button.secondary type="submit" { "Delete draft…" }
                    }
                }
            }
        } @else {
            section.banner.clean aria-label="Draft" { span.muted { "Nothing to publish: the draft equals " (draft.base) "." } }
        }
    }
}

/// A refusal page: what happened and what to do, with the status given.
pub fn refusal(visitor: &Visitor, status: StatusCode, message: &str, hint: &str) -> Response {
    refusal_with_link(visitor, status, message, hint, ("/", "Back to the environments"))
}

/// [`refusal`] whose one link (`href`, text) leads on.
pub fn refusal_with_link(
    visitor: &Visitor,
    status: StatusCode,
    message: &str,
    hint: &str,
    (href, text): (&str, &str),
) -> Response {
    let mut response = page(
        visitor,
        "Not done",
        None,
        html! {
            div.problem role="alert" {
                p { (message) }
                p.muted { (hint) }
            }
            p { a href=(href) { (text) } }
        },
    );
    *response.status_mut() = status;
    response
}

/// A problem (the API's) as a refusal page.
pub fn problem_page(visitor: &Visitor, problem: super::problem::Problem) -> Response {
    let body = problem.0;
    let status = StatusCode::from_u16(body.status).unwrap_or(StatusCode::BAD_REQUEST);
    let mut response = page(
        visitor,
        "Not done",
        None,
        html! {
            div.problem role="alert" {
                p { strong { (body.code) } ": " (body.detail) }
                @if let Some(hint) = &body.hint { p.muted { "What to do: " (hint) } }
            }
            p { a href="/" { "Back to the environments" } }
        },
    );
    *response.status_mut() = status;
    response
}

/// An operation's error as a refusal page: the API's problem text and hint.
pub fn error_page(visitor: &Visitor, error: &crate::error::Error) -> Response {
    let report = error.report();
    let status = StatusCode::from_u16(report.code.http_status()).unwrap_or(StatusCode::BAD_REQUEST);
    let mut response = page(
        visitor,
        "Not done",
        None,
        html! {
            div.problem role="alert" {
                p { strong { (report.code.as_str()) } ": " (report.message) }
                @if !report.details.is_empty() || !report.diagnostics.is_empty() {
                    ul.findings {
                        @for detail in &report.details { li { (detail) } }
                        @for diagnostic in &report.diagnostics { li { (diagnostic.render()) } }
                    }
                }
                @if let Some(hint) = &report.hint { p.muted { "What to do: " (hint) } }
            }
            p { a href="/" { "Back to the environments" } }
        },
    );
    *response.status_mut() = status;
    response
}
