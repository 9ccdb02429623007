//! Who may do what. Bearer tokens are stored as SHA-256 hashes in the config and
//! compared in constant time; the token itself is never logged.
//!
//! | caller | may |
//! |---|---|
//! | anonymous | `/healthz`, `/readyz`, `/openapi.json`, `/hooks/*`; reads with `public_read = true`; `/metrics` with `public_metrics = true`; with no config file, reads and `/metrics` from loopback |
//! | viewer | every read and `/metrics` |
//! | publisher | every write into an unprotected environment: publish, discard, revert, restore, promote, rollback |
//! | releaser | the same into protected environments (protected by the chain or by the daemon's `[environments] protected`), each with `confirm` |
//! | admin | `force` |
//!
//! Without a config file writes are refused (there is no token to give).
//!
//! Each route declares its [`Need`] beside its path ([`need`]); the [`Caller`] extractor
//! checks it, and [`Write`] also decodes the body into its `wire` type and checks the
//! role that body needs (a protected environment, `force`). A route without a declared
//! need refuses everyone.
//!
//! Part of the HTTP adapter (I/O: HTTP; the repository only through `ops`, on blocking threads).

use std::net::SocketAddr;

use axum::body::Bytes;
use axum::extract::{ConnectInfo, FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode};
use serde::de::DeserializeOwned;

use super::problem::Problem;
use super::{AppState, MAX_BODY};
use crate::config::Role;
use crate::error::Code;
use crate::loaded::LoadedConfig;

/// Who is calling.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    /// The token's name; `None` for an anonymous caller.
    pub token: Option<String>,
    pub role: Option<Role>,
}

impl Caller {
    /// The actor of a write: `token:<name>`.
    pub fn actor(&self) -> String {
        format!("token:{}", self.token.as_deref().unwrap_or("anonymous"))
    }
}

/// What a route needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Need {
    /// Anyone, without a token (health, the OpenAPI document, signed forge hooks).
    Anyone,
    Read,
    Metrics,
    Write(Role),
}

/// The layer that declares a route's need.
pub fn need(need: Need) -> axum::Extension<Need> {
    axum::Extension(need)
}

/// The caller, or 401 (no token, a wrong token) or 403 (too weak a role).
pub fn authorize(
    config: &LoadedConfig,
    peer: Option<SocketAddr>,
    headers: &HeaderMap,
    need: Need,
) -> Result<Caller, Problem> {
    if need == Need::Anyone {
        return Ok(Caller { token: None, role: None });
    }
    let token = bearer(headers);
    let found = token.map(|t| lookup(config, t));
    if let Some(None) = found {
        return Err(Problem::new(Code::Unauthenticated, "the bearer token is not one of the daemon's", None));
    }
    let caller = match found.flatten() {
        Some((name, role)) => Caller { token: Some(name), role: Some(role) },
        None => Caller { token: None, role: None },
    };
    let loopback_open = config.file.is_none() && peer.is_some_and(|peer| peer.ip().is_loopback());
    let anonymous_ok = match need {
        Need::Anyone => true,
        Need::Read => config.config.server.public_read || loopback_open,
        Need::Metrics => config.config.server.public_metrics || loopback_open,
        Need::Write(_) => false,
    };
    let wanted = match need {
        Need::Anyone | Need::Read | Need::Metrics => Role::Viewer,
        Need::Write(role) => role,
    };
    match caller.role {
        None if anonymous_ok => Ok(caller),
        None if matches!(need, Need::Write(_)) && config.file.is_none() => Err(Problem::new(
            Code::Forbidden,
            "writes are refused: the daemon runs without a config file",
            Some("start it with `--config` and a [[token]] of role publisher or above".into()),
        )),
        None => Err(Problem::new(
            Code::Unauthenticated,
            "this needs a bearer token",
            Some("send `Authorization: Bearer <token>`".into()),
        )),
        Some(role) if role >= wanted => Ok(caller),
        Some(role) => Err(Problem::new(
            Code::Forbidden,
            format!("the token's role {} is too weak: this needs {}", name(role), name(wanted)),
            None,
        )),
    }
}

pub fn name(role: Role) -> &'static str {
    Role::NAMES[role as usize]
}

/// The caller of a route, checked against the route's declared [`Need`].
impl FromRequestParts<AppState> for Caller {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Caller, Problem> {
        let Some(need) = parts.extensions.get::<Need>().copied() else {
            return Err(Problem::new(Code::Forbidden, "this route declares no role", None));
        };
        let peer = parts.extensions.get::<ConnectInfo<SocketAddr>>().map(|ConnectInfo(peer)| *peer);
        authorize(&state.config.get(), peer, &parts.headers, need)
    }
}

/// A write request: what each body needs beyond the route's own role.
pub trait WriteBody: DeserializeOwned {
    /// The role this body needs (the route's own is checked first); an unknown
    /// environment is a 404.
    fn role(&self, state: &AppState) -> Result<Role, Problem>;
}

/// A write: the caller (checked against the route's role, then the body's) and the
/// body decoded into its `wire` type (at most [`MAX_BODY`] bytes, JSON, no unknown
/// fields; an empty body is `{}`).
pub struct Write<T> {
    pub caller: Caller,
    pub body: T,
}

impl<T: WriteBody> FromRequest<AppState> for Write<T> {
    type Rejection = Problem;

    async fn from_request(request: Request, state: &AppState) -> Result<Write<T>, Problem> {
        let (mut parts, body) = request.into_parts();
        let route_caller = Caller::from_request_parts(&mut parts, state).await?;
        let bytes = Bytes::from_request(Request::from_parts(parts.clone(), body), state).await;
        let bytes = match bytes {
            Ok(bytes) if bytes.len() <= MAX_BODY => bytes,
            Err(rejection) if rejection.status() != StatusCode::PAYLOAD_TOO_LARGE => {
                return Err(Problem::usage(format!("cannot read the request body: {rejection}")));
            }
            _ => return Err(Problem::new(Code::TooLarge, format!("the body is over {MAX_BODY} bytes"), None)),
        };
        let bytes: &[u8] = if bytes.is_empty() { b"{}" } else { &bytes };
        let body: T = serde_json::from_slice(bytes).map_err(|e| Problem::usage(format!("bad request body: {e}")))?;
        let role = body.role(state)?;
        let peer = parts.extensions.get::<ConnectInfo<SocketAddr>>().map(|ConnectInfo(peer)| *peer);
        let caller = if route_caller.role.is_some_and(|r| r >= role) {
            route_caller
        } else {
            authorize(&state.config.get(), peer, &parts.headers, Need::Write(role))?
        };
        Ok(Write { caller, body })
    }
}

fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(axum::http::header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then_some(token.trim())
}

/// The token's name and role: its SHA-256 compared with every configured hash in
/// constant time.
pub(super) fn lookup(config: &LoadedConfig, token: &str) -> Option<(String, Role)> {
    use sha2::{Digest, Sha256};
    use subtle::ConstantTimeEq;
    let digest = hex::encode(Sha256::digest(token.as_bytes()));
    let mut found = None;
    for configured in &config.config.tokens {
        if bool::from(digest.as_bytes().ct_eq(configured.sha256.as_bytes())) {
            found = Some((configured.name.clone(), configured.role));
        }
    }
    found
}
