//! Posting a review to a forge (io: HTTP): one comment marked
//! [`crate::review::MARKER`], found again by that marker (across every page of the pull
//! request's comments) and edited in place, and a commit status with the context
//! `stagecraft/review` on the head commit (`pending` while it works, then `success` or
//! `failure` with the first error). For now GitHub's REST API: `Authorization: Bearer`,
//! `Accept: application/vnd.github+json`, `X-GitHub-Api-Version: 2022-11-28` and a
//! `User-Agent` naming stagecraft. A `429` or a `5xx` is tried again (after its
//! `Retry-After`, at most 30 s); a `401`, `403` or `404` is an error with a hint.

use std::time::Duration;

use reqwest::Method;
use reqwest::header::{ACCEPT, AUTHORIZATION, LINK, RETRY_AFTER, USER_AGENT};
use serde_json::{Value, json};

use crate::config::Secret;
use crate::error::Error;
use crate::review::MARKER;

/// The commit status context of a review.
pub const CONTEXT: &str = "stagecraft/review";

/// How many times a request is tried.
const ATTEMPTS: u32 = 4;

/// A pull request on GitHub (or a GitHub Enterprise server).
pub struct GitHub {
    /// `https://api.github.com`, or an enterprise server's `/api/v3`.
    pub api_url: String,
    /// `owner/name`.
    pub repository: String,
    pub token: Secret,
}

/// What a post did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Posted {
    /// The comment's id.
    pub comment: u64,
    /// True when an earlier review comment was edited in place.
    pub updated: bool,
}

impl GitHub {
    /// Posts (or edits) the review comment of pull request `number` and sets the status
    /// of `head_commit`: `success`, or `failure` with `first_error`.
    pub fn post(
        &self,
        number: u64,
        head_commit: &str,
        markdown: &str,
        first_error: Option<&str>,
    ) -> Result<Posted, Error> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(Error::io("start the HTTP client for", &self.api_url))?;
        runtime.block_on(async {
            let client = crate::net::http_client();
            self.status(&client, head_commit, "pending", "stagecraft is reviewing this change").await?;
            let mut existing = None;
            let mut next =
                Some(format!("{}/repos/{}/issues/{number}/comments?per_page=100", self.api_url, self.repository));
            while let Some(url) = next.take() {
                let (page, link) = self.request(&client, Method::GET, &url, None).await?;
                for comment in page.as_array().ok_or_else(|| self.garbage(&url, "a list of comments"))? {
                    if comment["body"].as_str().is_some_and(|body| body.starts_with(MARKER)) {
                        existing = comment["id"].as_u64();
                    }
                }
                next = link.as_deref().and_then(next_link);
            }
            let body = json!({ "body": markdown });
            let posted = match existing {
                Some(id) => {
                    let url = format!("{}/repos/{}/issues/comments/{id}", self.api_url, self.repository);
                    self.request(&client, Method::PATCH, &url, Some(&body)).await?;
                    Posted { comment: id, updated: true }
                }
                None => {
                    let url = format!("{}/repos/{}/issues/{number}/comments", self.api_url, self.repository);
                    let (created, _) = self.request(&client, Method::POST, &url, Some(&body)).await?;
                    let id = created["id"].as_u64().ok_or_else(|| self.garbage(&url, "the new comment's id"))?;
                    Posted { comment: id, updated: false }
                }
            };
            match first_error {
                None => self.status(&client, head_commit, "success", "the configuration validates").await?,
                Some(error) => self.status(&client, head_commit, "failure", error).await?,
            }
            Ok(posted)
        })
    }

    async fn status(
        &self,
        client: &reqwest::Client,
        commit: &str,
        state: &str,
        description: &str,
    ) -> Result<(), Error> {
        let url = format!("{}/repos/{}/statuses/{commit}", self.api_url, self.repository);
        // GitHub takes at most 140 characters.
        let description: String = description.chars().take(140).collect();
        let body = json!({ "state": state, "context": CONTEXT, "description": description });
        self.request(client, Method::POST, &url, Some(&body)).await.map(|_| ())
    }

    /// One API call, tried again on `429` and `5xx`; the JSON answer and its `Link`.
    async fn request(
        &self,
        client: &reqwest::Client,
        method: Method,
        url: &str,
        body: Option<&Value>,
    ) -> Result<(Value, Option<String>), Error> {
        let mut attempt = 0;
        loop {
            attempt += 1;
            let mut request = client
                .request(method.clone(), url)
                .timeout(Duration::from_secs(30))
                .header(AUTHORIZATION, format!("Bearer {}", self.token.expose()))
                .header(ACCEPT, "application/vnd.github+json")
                .header("X-GitHub-Api-Version", "2022-11-28")
                .header(USER_AGENT, concat!("stagecraft/", env!("CARGO_PKG_VERSION")));
            if let Some(body) = body {
                request = request
                    .header(reqwest::header::CONTENT_TYPE, "application/json")
                    .body(serde_json::to_vec(body).expect("JSON serializes"));
            }
            let response = request.send().await.map_err(|e| Error::Remote {
                step: format!("reach {}", self.api_url),
                detail: e.to_string(),
                hint: "check the forge's API URL and the network".into(),
            })?;
            let status = response.status();
            let retry_after =
                response.headers().get(RETRY_AFTER).and_then(|v| v.to_str().ok()).and_then(|v| v.trim().parse().ok());
            let link = response.headers().get(LINK).and_then(|v| v.to_str().ok()).map(str::to_string);
            let text = response.text().await.unwrap_or_default();
            if status.is_success() {
                let value = if text.trim().is_empty() {
                    Value::Null
                } else {
                    serde_json::from_str(&text).map_err(|_| self.garbage(url, "JSON"))?
                };
                return Ok((value, link));
            }
            if (status.as_u16() == 429 || status.is_server_error()) && attempt < ATTEMPTS {
                let wait = Duration::from_secs(retry_after.unwrap_or(1u64 << attempt).min(30));
                tracing::warn!(status = status.as_u16(), "the forge answered {status}; trying again in {wait:?}");
                tokio::time::sleep(wait).await;
                continue;
            }
            let hint = match status.as_u16() {
                401 => "the token is missing or wrong: set STAGECRAFT_REVIEW_TOKEN (or GITHUB_TOKEN)",
                403 => "the token lacks rights: it needs to write pull-request comments and commit statuses",
                404 => {
                    "check the repository (owner/name) and the pull request's number; a token without access sees 404 too"
                }
                _ => "the forge refused the request; the detail above is its own",
            };
            let detail: String = text.chars().take(200).collect();
            return Err(Error::Remote { step: format!("{method} {url}: HTTP {status}"), detail, hint: hint.into() });
        }
    }

    fn garbage(&self, url: &str, wanted: &str) -> Error {
        Error::Remote {
            step: format!("read the answer of {url}"),
            detail: format!("it is not {wanted}"),
            hint: "check that the API URL is the forge's REST API (GitHub: https://api.github.com)".into(),
        }
    }
}

/// The `rel="next"` URL of a `Link` header.
fn next_link(link: &str) -> Option<String> {
    link.split(',').find(|part| part.contains("rel=\"next\"")).and_then(|part| {
        let start = part.find('<')? + 1;
        let end = part.find('>')?;
        Some(part[start..end].to_string())
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_next_page_comes_from_the_link_header() {
        let link = "<https://api.github.com/repositories/1/issues/7/comments?page=2>; rel=\"next\", <https://api.github.com/repositories/1/issues/7/comments?page=3>; rel=\"last\"";
        assert_eq!(
            super::next_link(link).as_deref(),
            Some("https://api.github.com/repositories/1/issues/7/comments?page=2")
        );
        assert_eq!(super::next_link("<https://x/?page=1>; rel=\"prev\""), None);
    }
}
