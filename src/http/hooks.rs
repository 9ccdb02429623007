//! The forge receivers `POST /hooks/github|gitlab|gitea`. A hook is checked the forge's
//! own way (GitHub: `X-Hub-Signature-256`, Gitea: `X-Gitea-Signature`, both hex
//! HMAC-SHA256 of the raw body; GitLab: the `X-Gitlab-Token` secret itself), always in
//! constant time. A correctly signed hook is `202` whatever its event or branch and asks
//! for a fetch (remote mode) and a re-scan; with `[review]` on the same forge, a
//! pull-request hook also goes to the daemon's reviewer. A bad or missing signature is
//! `401` and changes nothing; a forge without a `[receiver.*]` is `404`.
//!
//! Part of the HTTP adapter (I/O: HTTP; the repository only through `ops`, on blocking threads).

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use sha2::Sha256;
use subtle::ConstantTimeEq;

use super::AppState;
use crate::config::ForgeKind;

/// A forge's push webhook (GitHub, GitLab, Gitea), checked the forge's own way.
#[utoipa::path(post, path = "/hooks/{forge}", tag = "operations",
    params(("forge" = String, Path, description = "github, gitlab or gitea")),
    request_body(content = Object, description = "the forge's payload, signed"),
    responses((status = 202, body = String, content_type = "text/plain", description = "signed: a fetch and a re-scan follow"),
        (status = 401, body = String, content_type = "text/plain", description = "a bad or missing signature"),
        (status = 404, body = String, content_type = "text/plain", description = "no [receiver.<forge>] configured")))]
pub async fn hook(
    State(state): State<AppState>,
    Path(forge): Path<String>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    let config = state.config.get();
    let Some(index) = config.config.receivers.iter().position(|r| r.forge == forge) else {
        return (StatusCode::NOT_FOUND, format!("no [receiver.{forge}] in the daemon's config\n")).into_response();
    };
    let secret = config.receiver_secrets[index].expose();
    if !forge_signature_ok(&forge, secret, &headers, &body) {
        tracing::warn!(forge = forge.as_str(), "a {forge} webhook with a bad or missing signature was refused");
        return (StatusCode::UNAUTHORIZED, "bad or missing signature\n").into_response();
    }
    let event = ["x-github-event", "x-gitea-event", "x-gitlab-event"]
        .iter()
        .find_map(|name| headers.get(*name).and_then(|v| v.to_str().ok()))
        .unwrap_or("unknown")
        .to_string();
    tracing::info!(forge = forge.as_str(), event = event.as_str(), "{forge} webhook: fetching and re-scanning");
    state.kick.notify_one();
    if let Some(review) = &config.review
        && let Some(kind) = ForgeKind::from_name(&forge)
        && review.kind == kind
        && let Some(pull) = crate::forge::event::parse(kind, &event, &body)
    {
        // The reviewer runs beside the deliveries; a full inbox drops the event (the
        // next push or edit of that pull request asks again).
        if let Err(error) = state.reviews.try_send(pull) {
            tracing::warn!(error = %error, "the pull-request reviewer is busy: this hook's review is skipped");
        }
    }
    (StatusCode::ACCEPTED, "accepted\n").into_response()
}

/// Each forge's own check of a webhook.
pub fn forge_signature_ok(forge: &str, secret: &str, headers: &HeaderMap, body: &[u8]) -> bool {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).map(str::trim);
    let hmac_hex = || {
        use hmac::{KeyInit, Mac};
        let mut mac = <hmac::Hmac<Sha256> as KeyInit>::new_from_slice(secret.as_bytes()).expect("HMAC takes any key");
        mac.update(body);
        hex::encode(mac.finalize().into_bytes())
    };
    let equal = |given: &str, expected: &str| bool::from(given.as_bytes().ct_eq(expected.as_bytes()));
    match forge {
        "github" => header("x-hub-signature-256")
            .and_then(|v| v.strip_prefix("sha256="))
            .is_some_and(|given| equal(&given.to_ascii_lowercase(), &hmac_hex())),
        "gitea" => header("x-gitea-signature")
            .or_else(|| header("x-hub-signature-256").and_then(|v| v.strip_prefix("sha256=")))
            .is_some_and(|given| equal(&given.to_ascii_lowercase(), &hmac_hex())),
        "gitlab" => header("x-gitlab-token").is_some_and(|given| equal(given, secret)),
        _ => false,
    }
}
