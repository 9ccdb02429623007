//! Who may do what (SPEC 10). Bearer tokens are stored as SHA-256 hashes in the config
//! and compared in constant time; the token itself is never logged.
//!
//! | caller | may |
//! |---|---|
//! | anonymous | `/healthz`, `/readyz`, `/openapi.json`, `/hooks/*`; reads with `public_read = true`; `/metrics` with `public_metrics = true`; with no config file, reads and `/metrics` from loopback |
//! | viewer | every read and `/metrics` |
//! | publisher | publish, discard, revert, restore; promote and rollback into unprotected environments |
//! | releaser | the same into protected environments |
//! | admin | `force` |
//!
//! Without a config file writes are refused (there is no token to give).

use std::net::SocketAddr;

use axum::http::HeaderMap;

use super::problem::Problem;
use crate::config::Role;
use crate::daemon::LoadedConfig;
use crate::error::Code;

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
    Read,
    Metrics,
    Write(Role),
}

/// The caller, or 401 (no token, a wrong token) or 403 (too weak a role).
pub fn authorize(config: &LoadedConfig, peer: SocketAddr, headers: &HeaderMap, need: Need) -> Result<Caller, Problem> {
    let token = bearer(headers);
    let found = token.map(|t| lookup(config, t));
    if let Some(None) = found {
        return Err(Problem::new(Code::Unauthenticated, "the bearer token is not one of the daemon's", None));
    }
    let caller = match found.flatten() {
        Some((name, role)) => Caller { token: Some(name), role: Some(role) },
        None => Caller { token: None, role: None },
    };
    let loopback_open = config.file.is_none() && peer.ip().is_loopback();
    let anonymous_ok = match need {
        Need::Read => config.config.server.public_read || loopback_open,
        Need::Metrics => config.config.server.public_metrics || loopback_open,
        Need::Write(_) => false,
    };
    let wanted = match need {
        Need::Read | Need::Metrics => Role::Viewer,
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

fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(axum::http::header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then_some(token.trim())
}

/// The token's name and role: its SHA-256 compared with every configured hash in
/// constant time.
fn lookup(config: &LoadedConfig, token: &str) -> Option<(String, Role)> {
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
