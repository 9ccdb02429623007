//! `--server URL`: the CLI against a running daemon's API (SPEC 4, 10). Commands fetch
//! the same JSON the API documents and render it with the CLI's own code, so the output
//! is the one a local run prints; a problem the API answers becomes the error with the
//! same code (and exit code). The bearer token comes from `STAGECRAFT_TOKEN`.

use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::error::{Code, Error};

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

    /// `POST path` with a JSON body, as `T`.
    pub fn post<T: DeserializeOwned>(&self, path: &str, body: &Value) -> Result<T, Error> {
        let value = self.call("POST", path, Some(body))?;
        serde_json::from_value(value).map_err(|e| self.bad_answer(path, &e.to_string()))
    }

    fn call(&self, method: &str, path: &str, body: Option<&Value>) -> Result<Value, Error> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(Error::io("start the HTTP client for", &self.base))?;
        let url = format!("{}{path}", self.base);
        let (status, text) = runtime
            .block_on(async {
                let client = crate::daemon::deliver::client();
                let mut request = client
                    .request(method.parse().expect("GET or POST"), &url)
                    .timeout(std::time::Duration::from_secs(120));
                if let Some(token) = &self.token {
                    request = request.bearer_auth(token);
                }
                if let Some(body) = body {
                    request = request
                        .header(reqwest::header::CONTENT_TYPE, "application/json")
                        .body(serde_json::to_vec(body).expect("JSON serializes"));
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
        let value: Value = serde_json::from_str(&text).map_err(|_| self.bad_answer(path, &text))?;
        if (200..300).contains(&status) {
            return Ok(value);
        }
        Err(problem(&value, status))
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
fn problem(value: &Value, status: u16) -> Error {
    let code = value["code"].as_str().and_then(Code::parse).unwrap_or(match status {
        401 => Code::Unauthenticated,
        403 => Code::Forbidden,
        404 => Code::NotFound,
        _ => Code::Io,
    });
    let details = value["details"]
        .as_array()
        .map(|items| {
            items
                .iter()
                .map(|item| match item {
                    Value::String(text) => text.clone(),
                    object => {
                        let place = format!(
                            "{}:{}:{}",
                            object["file"].as_str().unwrap_or("?"),
                            object["line"],
                            object["column"]
                        );
                        let mut line = format!("{place}: {}", object["message"].as_str().unwrap_or_default());
                        if let Some(hint) = object["hint"].as_str() {
                            line.push_str(&format!("\n  hint: {hint}"));
                        }
                        line
                    }
                })
                .collect()
        })
        .unwrap_or_default();
    let mut hint = value["hint"].as_str().map(str::to_string);
    if code == Code::Unauthenticated && hint.is_none() {
        hint = Some("set STAGECRAFT_TOKEN to a token of the daemon's config".into());
    }
    Error::Api {
        code,
        message: value["detail"].as_str().unwrap_or("the daemon refused the request").to_string(),
        details,
        hint,
    }
}

/// A query string from pairs (values percent-encoded).
pub fn query(pairs: &[(&str, Option<String>)]) -> String {
    let present: Vec<(&str, String)> = pairs.iter().filter_map(|(k, v)| v.clone().map(|v| (*k, v))).collect();
    if present.is_empty() {
        return String::new();
    }
    format!("?{}", serde_urlencoded::to_string(present).expect("pairs encode"))
}
