//! The dashboard's sessions: after a sign-in with one of the API's tokens, a cookie holds
//! the token's name, its role, an expiry and the session's CSRF token, signed with
//! HMAC-SHA256 (the key is random per start, or derived from `[server] session_secret`
//! so that several daemons accept each other's cookies). The token itself is never in
//! the cookie. The cookie is `HttpOnly`, `SameSite=Strict`, `Path=/`, and `Secure` when
//! the request came over https (a proxy's `X-Forwarded-Proto`).
//!
//! Part of the HTTP adapter (I/O: HTTP).

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{KeyInit, Mac};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::config::{Role, Secret};

/// The cookie's name.
pub const COOKIE: &str = "stagecraft_session";

/// How long a session lasts, in seconds (8 hours).
pub const LIFETIME: i64 = 8 * 3600;

/// The signing key: derived from the shared secret, else random.
pub fn key(secret: Option<&Secret>) -> [u8; 32] {
    match secret {
        Some(secret) => Sha256::digest(format!("stagecraft session key\n{}", secret.expose()).as_bytes()).into(),
        None => {
            let mut key = [0u8; 32];
            getrandom::fill(&mut key).expect("the system's random source");
            key
        }
    }
}

/// A signed-in visitor.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Session {
    /// The token's name.
    #[serde(rename = "n")]
    pub name: String,
    #[serde(rename = "r")]
    pub role: String,
    /// Unix seconds.
    #[serde(rename = "e")]
    pub expires: i64,
    /// The CSRF token every form of the session carries.
    #[serde(rename = "c")]
    pub csrf: String,
}

impl Session {
    pub fn new(name: &str, role: Role, now: i64) -> Session {
        let mut csrf = [0u8; 18];
        getrandom::fill(&mut csrf).expect("the system's random source");
        Session {
            name: name.to_string(),
            role: crate::http::auth::name(role).to_string(),
            expires: now + LIFETIME,
            csrf: URL_SAFE_NO_PAD.encode(csrf),
        }
    }

    pub fn role(&self) -> Option<Role> {
        Role::from_name(&self.role)
    }

    /// Whether `given` is this session's CSRF token (in constant time).
    pub fn csrf_ok(&self, given: &str) -> bool {
        bool::from(given.as_bytes().ct_eq(self.csrf.as_bytes()))
    }
}

fn mac(key: &[u8; 32], payload: &str) -> String {
    let mut mac = <hmac::Hmac<Sha256> as KeyInit>::new_from_slice(key).expect("HMAC takes any key");
    mac.update(payload.as_bytes());
    URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes())
}

/// The cookie's value: the session, signed.
pub fn seal(key: &[u8; 32], session: &Session) -> String {
    let payload = URL_SAFE_NO_PAD.encode(serde_json::to_vec(session).expect("sessions serialize"));
    let signature = mac(key, &payload);
    format!("{payload}.{signature}")
}

/// The session of a cookie's value, if it is signed with `key` and not expired.
pub fn open(key: &[u8; 32], value: &str, now: i64) -> Option<Session> {
    if value.len() > 4096 {
        return None;
    }
    let (payload, signature) = value.split_once('.')?;
    if !bool::from(mac(key, payload).as_bytes().ct_eq(signature.as_bytes())) {
        return None;
    }
    let session: Session = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).ok()?).ok()?;
    (session.expires > now && session.role().is_some()).then_some(session)
}

/// The `Set-Cookie` value of a session (or of its end, with `None`).
pub fn set_cookie(value: Option<&str>, secure: bool) -> String {
    let secure = if secure { "; Secure" } else { "" };
    match value {
        Some(value) => format!("{COOKIE}={value}; Path=/; HttpOnly; SameSite=Strict; Max-Age={LIFETIME}{secure}"),
        None => format!("{COOKIE}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0{secure}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cookie_opens_only_with_its_key_unchanged_and_in_time() {
        let key = key(None);
        let session = Session::new("ci", Role::Publisher, 1_000);
        let value = seal(&key, &session);
        assert_eq!(open(&key, &value, 1_001), Some(session.clone()));
        assert_eq!(open(&key, &value, 1_000 + LIFETIME), None, "expired");
        assert_eq!(open(&super::key(None), &value, 1_001), None, "another daemon's random key");
        let mut forged = session.clone();
        forged.role = "admin".into();
        let tampered = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(serde_json::to_vec(&forged).unwrap()),
            value.split_once('.').unwrap().1
        );
        assert_eq!(open(&key, &tampered, 1_001), None, "a changed role");
        let shared = super::key(Some(&Secret::new("s3cret".into())));
        assert_eq!(shared, super::key(Some(&Secret::new("s3cret".into()))), "daemons sharing the secret agree");
        assert!(session.csrf_ok(&session.csrf) && !session.csrf_ok("guess"));
        assert!(
            set_cookie(Some("v"), true).contains("HttpOnly; SameSite=Strict")
                && set_cookie(Some("v"), true).ends_with("Secure")
        );
    }
}
