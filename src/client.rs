//! The client of a daemon's API (io: HTTP), for `--server URL`. Requests and answers are
//! the `wire` types the server itself uses, so the two cannot drift apart; the CLI
//! renders the answers with its own code, so the output is the one a local run prints.
//! A problem the API answers becomes the error with the same code (and exit code).

use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::error::{Code, Error};
use crate::wire::ProblemBody;

/// A daemon's API.
pub struct Client {
    base: String,
    token: Option<String>,
}

impl Client {
    pub fn new(url: &str, token: Option<String>) -> Result<Client, Error> {
        let base = url.trim_end_matches('/').to_string();
        if !(base.starts_with("http://") || base.starts_with("https://")) {
            return Err(Error::Usage {
                message: format!("--server `{url}` is not an http:// or https:// URL"),
                hint: Some("e.g. --server http://127.0.0.1:8080".into()),
            });
        }
        Ok(Client { base, token })
    }

    pub fn url(&self) -> &str {
        &self.base
    }

    /// `GET path` as `T`.
    pub fn get<T: DeserializeOwned>(&self, path: &str) -> Result<T, Error> {
        let value = self.call("GET", path, None)?;
        serde_json::from_value(value).map_err(|e| self.bad_answer(path, &e.to_string()))
    }

    /// `GET path?query` as `T`, the query a `wire` parameters type.
    pub fn get_with<Q: Serialize, T: DeserializeOwned>(&self, path: &str, query: &Q) -> Result<T, Error> {
        let query = serde_urlencoded::to_string(query).expect("wire parameters encode");
        let path = if query.is_empty() { path.to_string() } else { format!("{path}?{query}") };
        self.get(&path)
    }

    /// `POST path` with a `wire` request as its JSON body, as `T`.
    pub fn post<B: Serialize, T: DeserializeOwned>(&self, path: &str, body: &B) -> Result<T, Error> {
        let body = serde_json::to_vec(body).expect("wire requests serialize");
        let value = self.call("POST", path, Some(body))?;
        serde_json::from_value(value).map_err(|e| self.bad_answer(path, &e.to_string()))
    }

    /// `POST path` answered with server-sent events: each event's name and data, in order.
    pub fn post_events<B: Serialize>(&self, path: &str, body: &B) -> Result<Vec<(String, String)>, Error> {
        let body = serde_json::to_vec(body).expect("wire requests serialize");
        let (status, text) = self.send("POST", path, Some(body))?;
        if !(200..300).contains(&status) {
            let problem: ProblemBody = serde_json::from_str(&text).map_err(|_| self.bad_answer(path, &text))?;
            return Err(error_of(problem, status, self.token.is_some()));
        }
        let mut events = Vec::new();
        for block in text.split("\n\n") {
            let name = block.lines().find_map(|l| l.strip_prefix("event:")).map(|n| n.trim().to_string());
            let data: Vec<&str> = block.lines().filter_map(|l| l.strip_prefix("data:")).map(str::trim_start).collect();
            if let Some(name) = name {
                events.push((name, data.join("\n")));
            }
        }
        Ok(events)
    }

    fn call(&self, method: &str, path: &str, body: Option<Vec<u8>>) -> Result<Value, Error> {
        let (status, text) = self.send(method, path, body)?;
        if (200..300).contains(&status) {
            return serde_json::from_str(&text).map_err(|_| self.bad_answer(path, &text));
        }
        let problem: ProblemBody = serde_json::from_str(&text).map_err(|_| self.bad_answer(path, &text))?;
        Err(error_of(problem, status, self.token.is_some()))
    }

    /// One request: the status and the body's text.
    fn send(&self, method: &str, path: &str, body: Option<Vec<u8>>) -> Result<(u16, String), Error> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(Error::io("start the HTTP client for", &self.base))?;
        let url = format!("{}{path}", self.base);
        let (status, text) = runtime
            .block_on(async {
                let client = crate::net::http_client();
                let mut request = client
                    .request(method.parse().expect("GET or POST"), &url)
                    .timeout(std::time::Duration::from_secs(120));
                if let Some(token) = &self.token {
                    request = request.bearer_auth(token);
                }
                if let Some(body) = body {
                    request = request.header(reqwest::header::CONTENT_TYPE, "application/json").body(body);
                }
                let response = request.send().await?;
                let status = response.status().as_u16();
                Ok::<_, reqwest::Error>((status, response.text().await?))
            })
            .map_err(|e| Error::Remote {
                step: format!("reach the daemon at {}", self.base),
                detail: e.to_string(),
                hint: "check --server and that `stagecraft serve` runs there".into(),
            })?;
        Ok((status, text))
    }

    fn bad_answer(&self, path: &str, detail: &str) -> Error {
        Error::Remote {
            step: format!("read the answer of {}{path}", self.base),
            detail: detail.chars().take(200).collect(),
            hint: "is --server a stagecraft daemon of the same version?".into(),
        }
    }
}

/// An RFC 9457 problem as the error it stands for.
fn error_of(problem: ProblemBody, status: u16, sent_token: bool) -> Error {
    let code = Code::parse(&problem.code).unwrap_or(match status {
        401 => Code::Unauthenticated,
        403 => Code::Forbidden,
        404 => Code::NotFound,
        _ => Code::Io,
    });
    let details = problem
        .details
        .iter()
        .map(|item| match item {
            Value::String(text) => text.clone(),
            object => {
                let place =
                    format!("{}:{}:{}", object["file"].as_str().unwrap_or("?"), object["line"], object["column"]);
                let mut line = format!("{place}: {}", object["message"].as_str().unwrap_or_default());
                if let Some(hint) = object["hint"].as_str() {
                    line.push_str(&format!("\n  hint: {hint}"));
                }
                line
            }
        })
        .collect();
    let mut hint = problem.hint;
    if code == Code::Unauthenticated {
        hint = Some(if sent_token {
            "STAGECRAFT_TOKEN is not one of the daemon's tokens; set it to one of its [[token]] entries".into()
        } else {
            "set STAGECRAFT_TOKEN to one of the daemon's tokens".into()
        });
    }
    if code == Code::ConfirmationRequired
        && let Some(environment) = problem.environment
    {
        return Error::ConfirmationRequired {
            environment,
            hint: hint.unwrap_or_else(|| "pass --yes to confirm".into()),
        };
    }
    Error::Api { code, message: problem.detail, details, hint }
}
