//! Posting a review to a forge (io: HTTP): one comment (a GitLab note) marked
//! [`crate::review::MARKER`], found again by that marker across every page of the pull
//! request's comments and edited in place, and a commit status with the context
//! `stagecraft/review` on the head commit (`pending` while it works, then `success`, or
//! `failure` with the first error).
//!
//! Each forge's own REST API, as it publishes it:
//! - GitHub (and GitHub Enterprise): `Authorization: Bearer`, `Accept:
//!   application/vnd.github+json`, `X-GitHub-Api-Version: 2022-11-28`; issue comments
//!   paged by the `Link` header; `POST /repos/{owner}/{repo}/statuses/{sha}`.
//! - Gitea (`…/api/v1`): `Authorization: token`; the same paths as GitHub's, comments
//!   edited with `PATCH`.
//! - GitLab (`…/api/v4`): `PRIVATE-TOKEN`; merge-request notes paged by `X-Next-Page`
//!   (or `Link`), edited with `PUT`; `POST /projects/{id}/statuses/{sha}` with `name`,
//!   states `pending`, `success`, `failed`. The project is its path, URL-encoded.
//!
//! Every request names stagecraft and its version in `User-Agent`. A `429` or a `5xx` is
//! tried again after its `Retry-After` (at most 30 s) or a doubling backoff; a `401`,
//! `403` or `404` is an error with a hint; an answer that is not the JSON the API
//! describes (an HTML login page, say) is an error naming the URL.

pub mod event;

use std::time::Duration;

use reqwest::header::{ACCEPT, AUTHORIZATION, CONTENT_TYPE, LINK, RETRY_AFTER, USER_AGENT};
use reqwest::{Method, Url};
use serde_json::{Value, json};

use crate::config::{ForgeKind, Secret};
use crate::error::Error;
use crate::review::MARKER;

/// The commit status context of a review.
pub const CONTEXT: &str = "stagecraft/review";

/// The longest status description (GitHub's limit; the others take more).
pub const STATUS_LIMIT: usize = 140;

/// How many times a request is tried.
const ATTEMPTS: u32 = 4;

/// The user agent of every request.
const AGENT: &str = concat!("stagecraft/", env!("CARGO_PKG_VERSION"));

/// A commit status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    Pending,
    Success,
    /// The change does not validate.
    Failure,
    /// The review could not be made (a head that cannot be fetched).
    Error,
}

/// A forge's repository, and the token that writes its comments and statuses.
#[derive(Debug, Clone)]
pub struct Forge {
    pub kind: ForgeKind,
    /// The REST API's root: `https://api.github.com`, `https://gitea.example/api/v1`,
    /// `https://gitlab.example/api/v4`.
    pub api_url: String,
    /// `owner/name`; for GitLab the project's path (`group/sub/name`) or its number.
    pub repository: String,
    pub token: Secret,
}

/// What a post did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Posted {
    /// The comment's (note's) id.
    pub comment: u64,
    /// True when an earlier review comment was edited in place.
    pub updated: bool,
}

impl Forge {
    /// Posts the review of pull request `number` as one blocking call (the CLI's): the
    /// `pending` status, the comment, then `success` or `failure` with `first_error`.
    pub fn post_blocking(
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
            self.status(&client, head_commit, State::Pending, "stagecraft is reviewing this change").await?;
            let posted = self.comment(&client, number, markdown).await?;
            self.finish(&client, head_commit, first_error).await?;
            Ok(posted)
        })
    }

    /// Sets the final status: `success`, or `failure` with the first error.
    pub async fn finish(
        &self,
        client: &reqwest::Client,
        head_commit: &str,
        first_error: Option<&str>,
    ) -> Result<(), Error> {
        match first_error {
            None => self.status(client, head_commit, State::Success, "the configuration validates").await,
            Some(error) => self.status(client, head_commit, State::Failure, error).await,
        }
    }

    /// Creates the review comment of pull request `number`, or edits the one made before.
    pub async fn comment(&self, client: &reqwest::Client, number: u64, markdown: &str) -> Result<Posted, Error> {
        let comments = self.comments_url(number)?;
        let mut existing = None;
        let mut next = Some(comments.clone());
        // Gitea's list of an issue's comments is one page (it takes no page size).
        if let Some(url) = next.as_mut() {
            match self.kind {
                ForgeKind::GitHub => {
                    url.query_pairs_mut().append_pair("per_page", "100");
                }
                ForgeKind::GitLab => {
                    url.query_pairs_mut()
                        .append_pair("per_page", "100")
                        .append_pair("sort", "asc")
                        .append_pair("order_by", "created_at");
                }
                ForgeKind::Gitea => {}
            }
        }
        let mut pages = 0;
        while let Some(url) = next.take() {
            pages += 1;
            let answer = self.request(client, Method::GET, url.clone(), None).await?;
            let list = answer.json.as_array().ok_or_else(|| self.garbage(&url, "a list of comments"))?;
            for comment in list {
                // The first marked comment: the one the review made first.
                if existing.is_none() && comment["body"].as_str().is_some_and(|body| body.starts_with(MARKER)) {
                    existing = Some(comment["id"].as_u64().ok_or_else(|| self.garbage(&url, "a comment's id"))?);
                }
            }
            // A forge that pages forever is not followed forever (100 pages: 10,000 comments).
            if pages < 100 {
                next = answer.next_page(&url);
            }
        }
        let body = json!({ "body": markdown });
        match existing {
            Some(id) => {
                let (method, url) = match self.kind {
                    ForgeKind::GitLab => {
                        (Method::PUT, self.url(&["merge_requests", &number.to_string(), "notes", &id.to_string()])?)
                    }
                    ForgeKind::GitHub | ForgeKind::Gitea => {
                        (Method::PATCH, self.url(&["issues", "comments", &id.to_string()])?)
                    }
                };
                self.request(client, method, url, Some(&body)).await?;
                Ok(Posted { comment: id, updated: true })
            }
            None => {
                let created = self.request(client, Method::POST, comments.clone(), Some(&body)).await?;
                let id = created.json["id"].as_u64().ok_or_else(|| self.garbage(&comments, "the new comment's id"))?;
                Ok(Posted { comment: id, updated: false })
            }
        }
    }

    /// Sets the commit status `stagecraft/review` of `commit`.
    pub async fn status(
        &self,
        client: &reqwest::Client,
        commit: &str,
        state: State,
        description: &str,
    ) -> Result<(), Error> {
        let url = self.url(&["statuses", commit])?;
        let description: String = description.chars().take(STATUS_LIMIT).collect();
        let body = match self.kind {
            ForgeKind::GitLab => {
                let state = match state {
                    State::Pending => "pending",
                    State::Success => "success",
                    State::Failure | State::Error => "failed",
                };
                json!({ "state": state, "name": CONTEXT, "description": description })
            }
            ForgeKind::GitHub | ForgeKind::Gitea => {
                let state = match state {
                    State::Pending => "pending",
                    State::Success => "success",
                    State::Failure => "failure",
                    State::Error => "error",
                };
                json!({ "state": state, "context": CONTEXT, "description": description })
            }
        };
        match self.request(client, Method::POST, url, Some(&body)).await {
            // GitLab refuses a status equal to the one the commit has ("Cannot transition
            // status via :enqueue from :pending"): it is set already.
            Err(Error::Remote { detail, .. })
                if self.kind == ForgeKind::GitLab && detail.contains("Cannot transition status") =>
            {
                Ok(())
            }
            other => other.map(|_| ()),
        }
    }

    /// The list (and create) URL of a pull request's comments.
    fn comments_url(&self, number: u64) -> Result<Url, Error> {
        match self.kind {
            ForgeKind::GitLab => self.url(&["merge_requests", &number.to_string(), "notes"]),
            ForgeKind::GitHub | ForgeKind::Gitea => self.url(&["issues", &number.to_string(), "comments"]),
        }
    }

    /// `{api_url}/repos/{owner}/{name}/…` or `{api_url}/projects/{path, encoded}/…`.
    fn url(&self, tail: &[&str]) -> Result<Url, Error> {
        let mut url = Url::parse(self.api_url.trim_end_matches('/')).map_err(|e| Error::Usage {
            message: format!("the forge's API URL `{}` is not a URL: {e}", self.api_url),
            hint: Some(
                "write it as https://api.github.com, https://gitea.example/api/v1 or https://gitlab.example/api/v4"
                    .into(),
            ),
        })?;
        {
            let mut segments = url.path_segments_mut().map_err(|()| Error::Usage {
                message: format!("the forge's API URL `{}` cannot take a path", self.api_url),
                hint: None,
            })?;
            segments.pop_if_empty();
            match self.kind {
                ForgeKind::GitLab => {
                    // One segment: `group/name` is sent as `group%2Fname`.
                    segments.push("projects").push(&self.repository);
                }
                ForgeKind::GitHub | ForgeKind::Gitea => {
                    segments.push("repos").extend(self.repository.split('/'));
                }
            }
            segments.extend(tail);
        }
        Ok(url)
    }

    /// One API call, tried again on `429` and `5xx`.
    async fn request(
        &self,
        client: &reqwest::Client,
        method: Method,
        url: Url,
        body: Option<&Value>,
    ) -> Result<Answer, Error> {
        let mut attempt = 0;
        loop {
            attempt += 1;
            let mut request =
                client.request(method.clone(), url.clone()).timeout(Duration::from_secs(30)).header(USER_AGENT, AGENT);
            request = match self.kind {
                ForgeKind::GitHub => request
                    .header(AUTHORIZATION, format!("Bearer {}", self.token.expose()))
                    .header(ACCEPT, "application/vnd.github+json")
                    .header("X-GitHub-Api-Version", "2022-11-28"),
                ForgeKind::Gitea => request
                    .header(AUTHORIZATION, format!("token {}", self.token.expose()))
                    .header(ACCEPT, "application/json"),
                ForgeKind::GitLab => {
                    request.header("PRIVATE-TOKEN", self.token.expose()).header(ACCEPT, "application/json")
                }
            };
            if let Some(body) = body {
                request = request
                    .header(CONTENT_TYPE, "application/json")
                    .body(serde_json::to_vec(body).expect("JSON serializes"));
            }
            let response = request.send().await.map_err(|e| Error::Remote {
                step: format!("reach {}", self.api_url),
                detail: crate::net::error_chain(&e),
                hint: "check the forge's API URL and the network".into(),
            })?;
            let status = response.status();
            let header = |name| response.headers().get(name).and_then(|v| v.to_str().ok()).map(str::to_string);
            let retry_after = header(RETRY_AFTER).and_then(|v| v.trim().parse::<u64>().ok());
            let link = header(LINK);
            let next_page = header(reqwest::header::HeaderName::from_static("x-next-page"));
            let text = response.text().await.unwrap_or_default();
            if status.is_success() {
                let json = if text.trim().is_empty() {
                    Value::Null
                } else {
                    serde_json::from_str(&text).map_err(|_| self.garbage(&url, "JSON"))?
                };
                return Ok(Answer { json, link, next_page });
            }
            if (status.as_u16() == 429 || status.is_server_error()) && attempt < ATTEMPTS {
                let wait = Duration::from_secs(retry_after.unwrap_or(1u64 << attempt).min(30));
                tracing::warn!(status = status.as_u16(), "the forge answered {status}; trying again in {wait:?}");
                tokio::time::sleep(wait).await;
                continue;
            }
            let token_variable = match self.kind {
                ForgeKind::GitHub => "STAGECRAFT_REVIEW_TOKEN (or GITHUB_TOKEN)",
                ForgeKind::Gitea | ForgeKind::GitLab => "STAGECRAFT_REVIEW_TOKEN",
            };
            let hint = match status.as_u16() {
                401 => format!("the token is missing, wrong or expired: check [review] token, or {token_variable}"),
                403 => match self.kind {
                    ForgeKind::GitHub => {
                        "the token lacks rights: it needs pull requests: write (or issues: write) and statuses: write"
                            .into()
                    }
                    ForgeKind::Gitea => {
                        "the token lacks rights: it needs the write:issue and write:repository scopes".into()
                    }
                    ForgeKind::GitLab => {
                        "the token lacks rights: a project access token with the api scope and the Developer role"
                            .into()
                    }
                },
                404 => format!(
                    "check the repository `{}` and the number; a token without access to it sees 404 too",
                    self.repository
                ),
                _ => "the forge refused the request; the detail is its own".into(),
            };
            let detail: String = text.chars().take(200).collect();
            return Err(Error::Remote { step: format!("{method} {url}: HTTP {status}"), detail, hint });
        }
    }

    fn garbage(&self, url: &Url, wanted: &str) -> Error {
        let example = match self.kind {
            ForgeKind::GitHub => "https://api.github.com",
            ForgeKind::Gitea => "https://gitea.example/api/v1",
            ForgeKind::GitLab => "https://gitlab.example/api/v4",
        };
        Error::Remote {
            step: format!("read the answer of {url}"),
            detail: format!("it is not {wanted}"),
            hint: format!("check that the API URL is the forge's REST API (like {example})"),
        }
    }
}

/// A successful answer: its JSON and its paging headers.
struct Answer {
    json: Value,
    link: Option<String>,
    /// GitLab's `X-Next-Page` (empty on the last page).
    next_page: Option<String>,
}

impl Answer {
    /// The next page of a list: the `Link` header's `rel="next"`, else GitLab's
    /// `X-Next-Page` on the same URL.
    fn next_page(&self, url: &Url) -> Option<Url> {
        if let Some(next) = self.link.as_deref().and_then(next_link) {
            // Only on the API's own host: the token goes with the request.
            return Url::parse(&next).ok().filter(|next| next.origin() == url.origin());
        }
        let page = self.next_page.as_deref().map(str::trim).filter(|p| !p.is_empty())?;
        page.parse::<u64>().ok()?;
        let mut next = url.clone();
        let kept: Vec<(String, String)> =
            url.query_pairs().filter(|(key, _)| key != "page").map(|(k, v)| (k.into_owned(), v.into_owned())).collect();
        next.query_pairs_mut().clear().extend_pairs(kept).append_pair("page", page);
        Some(next)
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
    use super::*;

    fn forge(kind: ForgeKind, api_url: &str, repository: &str) -> Forge {
        Forge { kind, api_url: api_url.into(), repository: repository.into(), token: Secret::new("t".into()) }
    }

    #[test]
    fn the_next_page_comes_from_the_link_header() {
        let link = "<https://api.github.com/repositories/1/issues/7/comments?page=2>; rel=\"next\", <https://api.github.com/repositories/1/issues/7/comments?page=3>; rel=\"last\"";
        assert_eq!(
            super::next_link(link).as_deref(),
            Some("https://api.github.com/repositories/1/issues/7/comments?page=2")
        );
        assert_eq!(super::next_link("<https://x/?page=1>; rel=\"prev\""), None);
    }

    #[test]
    fn gitlab_pages_by_x_next_page_and_stops_on_an_empty_one() {
        let url = Url::parse("https://gitlab.example/api/v4/projects/a%2Fb/merge_requests/3/notes?per_page=100&page=1")
            .unwrap();
        let answer = Answer { json: Value::Null, link: None, next_page: Some("2".into()) };
        assert_eq!(
            answer.next_page(&url).unwrap().as_str(),
            "https://gitlab.example/api/v4/projects/a%2Fb/merge_requests/3/notes?per_page=100&page=2"
        );
        let last = Answer { json: Value::Null, link: None, next_page: Some(String::new()) };
        assert_eq!(last.next_page(&url), None);
    }

    #[test]
    fn each_forge_has_its_own_paths() {
        let github = forge(ForgeKind::GitHub, "https://api.github.com/", "acme/config");
        assert_eq!(
            github.comments_url(7).unwrap().as_str(),
            "https://api.github.com/repos/acme/config/issues/7/comments"
        );
        let gitea = forge(ForgeKind::Gitea, "https://git.example/api/v1", "acme/config");
        assert_eq!(
            gitea.url(&["statuses", "abc"]).unwrap().as_str(),
            "https://git.example/api/v1/repos/acme/config/statuses/abc"
        );
        let gitlab = forge(ForgeKind::GitLab, "https://gitlab.example/api/v4", "group/sub/config");
        assert_eq!(
            gitlab.comments_url(3).unwrap().as_str(),
            "https://gitlab.example/api/v4/projects/group%2Fsub%2Fconfig/merge_requests/3/notes"
        );
        assert!(forge(ForgeKind::GitHub, "not a url", "a/b").url(&[]).is_err());
    }
}
