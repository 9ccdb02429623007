//! A forge stand-in on 127.0.0.1 for GitHub, GitLab and Gitea. Every request is checked
//! against the forge's published REST API description, as extracted in
//! `fixtures/forge-api/<forge>.json` (method and path, documented query parameters and
//! their types, body fields, their types, enums and lengths, the headers the forge
//! documents, the token the way the forge takes it, and a `User-Agent` naming
//! stagecraft); whatever does not match is recorded as a violation, which every test
//! asserts empty. Answers are the recorded example bodies of those descriptions, with
//! the ids and texts of this pull request. It keeps one pull request's comments (a
//! number of people's comments to start with, paged the forge's way) and the statuses
//! set, answers from a script of faults (429 with `Retry-After`, 401, an HTML page), and
//! can hold `pending` statuses until released, so tests order events without sleeping.

use std::collections::VecDeque;
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

/// The token the stand-in accepts.
pub const TOKEN: &str = "review-token";

/// The forges.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    GitHub,
    GitLab,
    Gitea,
}

impl Kind {
    pub const ALL: [Kind; 3] = [Kind::GitHub, Kind::GitLab, Kind::Gitea];

    pub fn name(self) -> &'static str {
        match self {
            Kind::GitHub => "github",
            Kind::GitLab => "gitlab",
            Kind::Gitea => "gitea",
        }
    }

    /// The API's root under the server.
    fn base_path(self) -> &'static str {
        match self {
            Kind::GitHub => "",
            Kind::GitLab => "/api/v4",
            Kind::Gitea => "/api/v1",
        }
    }

    /// The repository as the config names it.
    pub fn repository(self) -> &'static str {
        match self {
            Kind::GitLab => "acme/bots/config",
            Kind::GitHub | Kind::Gitea => "acme/config",
        }
    }

    /// The state of a failed review on this forge.
    pub fn failure(self) -> &'static str {
        match self {
            Kind::GitLab => "failed",
            Kind::GitHub | Kind::Gitea => "failure",
        }
    }

    /// The state of a review that could not be made.
    pub fn error(self) -> &'static str {
        match self {
            Kind::GitLab => "failed",
            Kind::GitHub | Kind::Gitea => "error",
        }
    }
}

/// A fault the next request gets instead of its answer.
#[derive(Debug, Clone, Copy)]
pub enum Fault {
    /// 429 with `Retry-After: 0`.
    TooMany,
    /// 401 with the forge's own body.
    Unauthorized,
    /// 403: a token without the rights.
    Forbidden,
    /// 503 with `Retry-After: 0` (the forge under maintenance).
    Unavailable,
    /// 200 with an HTML page (a proxy's login page).
    Html,
}

/// A status set.
#[derive(Debug, Clone)]
pub struct Status {
    pub sha: String,
    pub state: String,
    pub description: String,
}

/// What the stand-in saw and keeps.
#[derive(Default)]
pub struct Seen {
    /// One line per request: `list page 2`, `create`, `update 90001`, `status pending`, …
    pub steps: Vec<String>,
    /// Every way a request strayed from the API description.
    pub violations: Vec<String>,
    /// The pull request's comments: id and body.
    pub comments: Vec<(u64, String)>,
    pub statuses: Vec<Status>,
    faults: VecDeque<Fault>,
    /// Pending statuses wait until this is false.
    holding: bool,
    next_id: u64,
}

impl Seen {
    /// The review comments (marked).
    pub fn reviews(&self) -> Vec<&(u64, String)> {
        self.comments.iter().filter(|(_, body)| body.starts_with("<!-- stagecraft-review -->")).collect()
    }
}

type Shared = Arc<(Mutex<Seen>, Condvar)>;

/// A running stand-in; it stops when dropped.
pub struct ForgeStandIn {
    pub kind: Kind,
    /// What `api_url` is set to.
    pub api_url: String,
    seen: Shared,
    released: tokio::sync::watch::Sender<u64>,
    _stop: tokio::sync::oneshot::Sender<()>,
}

impl ForgeStandIn {
    /// Starts with `people` comments already on pull request `number`.
    pub fn start(kind: Kind, number: u64, people: u64) -> ForgeStandIn {
        let description: Value = serde_json::from_str(
            &std::fs::read_to_string(super::fixtures().join(format!("forge-api/{}.json", kind.name()))).unwrap(),
        )
        .unwrap();
        let seen: Shared = Arc::default();
        {
            let mut state = seen.0.lock().unwrap();
            state.comments = (1..=people).map(|n| (n, format!("a comment from a person, number {n}"))).collect();
            state.next_id = 90_000;
        }
        let (released, watch) = tokio::sync::watch::channel(0u64);
        let (seen2, description) = (seen.clone(), Arc::new(description));
        let handler = move |method: Method, uri: Uri, headers: HeaderMap, body: Bytes| {
            let (seen, description, watch) = (seen2.clone(), description.clone(), watch.clone());
            async move { answer(kind, number, &description, &seen, watch, method, uri, headers, body).await }
        };
        let (stop, address) = super::serve_app(axum::Router::new().fallback(handler));
        ForgeStandIn { kind, api_url: format!("http://{address}{}", kind.base_path()), seen, released, _stop: stop }
    }

    /// Looks at what was seen.
    pub fn seen<T>(&self, look: impl FnOnce(&Seen) -> T) -> T {
        look(&self.seen.0.lock().unwrap())
    }

    /// The next requests get these faults, in order.
    pub fn fail_next(&self, faults: &[Fault]) {
        self.seen.0.lock().unwrap().faults.extend(faults);
    }

    /// From now on a `pending` status waits until [`ForgeStandIn::release`].
    pub fn hold_pending(&self) {
        self.seen.0.lock().unwrap().holding = true;
    }

    /// Lets every held status through, and holds no more.
    pub fn release(&self) {
        self.seen.0.lock().unwrap().holding = false;
        self.released.send_modify(|n| *n += 1);
    }

    /// Waits (30 s at most) until `done` holds of what was seen.
    pub fn wait_for(&self, what: &str, done: impl Fn(&Seen) -> bool) {
        let deadline = Instant::now() + Duration::from_secs(30);
        let (lock, changed) = &*self.seen;
        let mut seen = lock.lock().unwrap();
        while !done(&seen) {
            let left = deadline.saturating_duration_since(Instant::now());
            assert!(!left.is_zero(), "the forge never saw {what}; it saw {:?}", seen.steps);
            seen = changed.wait_timeout(seen, left).unwrap().0;
        }
    }

    /// Asserts that every request followed the API description.
    pub fn assert_no_violations(&self) {
        let violations = self.seen(|seen| seen.violations.clone());
        assert!(violations.is_empty(), "requests that stray from the {} API: {violations:#?}", self.kind.name());
    }
}

/// The operation a request names, and its path parameters.
fn operation<'d>(description: &'d Value, method: &Method, path: &str) -> Option<(&'d Value, Vec<(String, String)>)> {
    let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
    for op in description["operations"].as_array().unwrap() {
        if op["method"].as_str() != Some(method.as_str()) {
            continue;
        }
        let template = op["path_template"].as_str().or(op["path"].as_str()).unwrap();
        let parts: Vec<&str> = template.trim_matches('/').split('/').collect();
        if parts.len() != segments.len() {
            continue;
        }
        let mut params = Vec::new();
        let matched = parts.iter().zip(&segments).all(|(part, segment)| {
            if part.starts_with('{') {
                params.push((part.trim_matches(|c| c == '{' || c == '}').to_string(), segment.to_string()));
                !segment.is_empty()
            } else {
                part == segment
            }
        });
        if matched {
            return Some((op, params));
        }
    }
    None
}

/// A value against a documented type (and enum, and length).
fn check_value(name: &str, schema: &Value, value: &Value, violations: &mut Vec<String>) {
    let types: Vec<&str> = match &schema["type"] {
        Value::String(t) => vec![t.as_str()],
        Value::Array(list) => list.iter().filter_map(Value::as_str).collect(),
        _ => vec![],
    };
    let typed = types.is_empty()
        || types.iter().any(|t| match *t {
            "string" => value.is_string(),
            "integer" => value.is_i64() || value.is_u64(),
            "number" => value.is_number(),
            "boolean" => value.is_boolean(),
            "object" => value.is_object(),
            "array" => value.is_array(),
            _ => true,
        })
        || (value.is_null() && schema["nullable"] == true);
    if !typed {
        violations.push(format!("`{name}` is {value}, not of type {types:?}"));
    }
    if let (Some(allowed), Some(text)) = (schema["enum"].as_array(), value.as_str())
        && !allowed.iter().any(|a| a.as_str() == Some(text))
    {
        violations.push(format!("`{name}` = `{text}` is not one of {allowed:?}"));
    }
    if let (Some(max), Some(text)) = (schema["maxLength"].as_u64(), value.as_str())
        && text.chars().count() as u64 > max
    {
        violations.push(format!("`{name}` is longer than {max} characters"));
    }
}

/// Every check of one request against its operation.
fn check_request(kind: Kind, op: &Value, uri: &Uri, headers: &HeaderMap, body: &[u8]) -> (Vec<String>, Option<Value>) {
    let mut violations = Vec::new();
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).map(str::to_string);
    let agent = header("user-agent").unwrap_or_default();
    if !agent.starts_with(concat!("stagecraft/", env!("CARGO_PKG_VERSION"))) {
        violations.push(format!("User-Agent `{agent}` does not name stagecraft and its version"));
    }
    for (name, value) in op["required_headers"].as_object().into_iter().flatten() {
        if header(name).as_deref() != value.as_str() {
            violations.push(format!("{name} is {:?}, the API wants {value}", header(name)));
        }
    }
    let query = op["query"].as_object();
    for (key, value) in uri.query().map(url_pairs).unwrap_or_default() {
        match query.and_then(|q| q.get(&key)) {
            None => violations.push(format!("query parameter `{key}` is not in the API")),
            Some(schema) => {
                let parsed = value.parse::<i64>().map(Value::from).unwrap_or(Value::String(value.clone()));
                check_value(&key, schema, &parsed, &mut violations);
                if let (Some(max), Some(n)) = (schema["max"].as_i64(), parsed.as_i64())
                    && n > max
                {
                    violations.push(format!("`{key}` = {n} is over the API's maximum {max}"));
                }
            }
        }
    }
    let schema = &op["body"];
    let mut parsed = None;
    if schema.is_object() {
        if !header("content-type").is_some_and(|c| c.starts_with("application/json")) {
            violations.push("a JSON body without Content-Type: application/json".into());
        }
        match serde_json::from_slice::<Value>(body) {
            Ok(Value::Object(fields)) => {
                for required in schema["required"].as_array().into_iter().flatten() {
                    if !fields.contains_key(required.as_str().unwrap()) {
                        violations.push(format!("the body lacks the required `{required}`"));
                    }
                }
                for (key, value) in &fields {
                    match schema["properties"].get(key) {
                        None => violations.push(format!("body field `{key}` is not in the API")),
                        Some(property) => check_value(key, property, value, &mut violations),
                    }
                }
                // GitHub's own limit on a status description (its 422 says so).
                if kind == Kind::GitHub
                    && fields.get("description").and_then(Value::as_str).is_some_and(|d| d.chars().count() > 140)
                {
                    violations.push("a status description over GitHub's 140 characters".into());
                }
                parsed = Some(Value::Object(fields));
            }
            _ => violations.push("the body is not a JSON object".into()),
        }
    } else if !body.is_empty() {
        violations.push(format!("{} takes no body", op["name"]));
    }
    (violations, parsed)
}

/// The pairs of a query string, decoded.
fn url_pairs(query: &str) -> Vec<(String, String)> {
    reqwest::Url::parse(&format!("http://x/?{query}"))
        .unwrap()
        .query_pairs()
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

/// Whether the request carries the token the forge's way.
fn authorized(kind: Kind, headers: &HeaderMap) -> bool {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or_default().to_string();
    match kind {
        Kind::GitHub => header("authorization") == format!("Bearer {TOKEN}"),
        Kind::Gitea => header("authorization") == format!("token {TOKEN}"),
        Kind::GitLab => header("private-token") == TOKEN,
    }
}

fn unauthorized(kind: Kind) -> Response {
    let body = match kind {
        Kind::GitHub => {
            json!({"message": "Bad credentials", "documentation_url": "https://docs.github.com/rest", "status": "401"})
        }
        Kind::GitLab => json!({"message": "401 Unauthorized"}),
        Kind::Gitea => json!({"message": "token is required", "url": "https://gitea.example/api/swagger"}),
    };
    (StatusCode::UNAUTHORIZED, axum::Json(body)).into_response()
}

/// The operation's recorded example, with this comment's id and body (or this status).
fn example(op: &Value, fields: &[(&str, Value)]) -> Value {
    let mut value = op["response"]["example"].clone();
    if let Value::Array(items) = &value {
        value = items.first().cloned().unwrap_or(Value::Null);
    }
    for (key, field) in fields {
        if value.get(*key).is_some() {
            value[*key] = field.clone();
        }
    }
    value
}

#[allow(clippy::too_many_arguments)]
async fn answer(
    kind: Kind,
    number: u64,
    description: &Value,
    seen: &Shared,
    mut released: tokio::sync::watch::Receiver<u64>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let path = uri.path().strip_prefix(kind.base_path()).unwrap_or(uri.path()).to_string();
    let host = headers.get("host").and_then(|v| v.to_str().ok()).unwrap_or_default().to_string();
    let Some((op, params)) = operation(description, &method, &path) else {
        let mut state = seen.0.lock().unwrap();
        state.violations.push(format!("{method} {path}: no such operation in the API"));
        seen.1.notify_all();
        return (StatusCode::NOT_FOUND, axum::Json(json!({"message": "Not Found"}))).into_response();
    };
    let name = op["name"].as_str().unwrap().to_string();
    let (violations, fields) = check_request(kind, op, &uri, &headers, &body);
    let param = |key: &str| params.iter().find(|(k, _)| k == key).map(|(_, v)| v.clone()).unwrap_or_default();
    // The repository and the pull request are this one.
    let repository_ok = match kind {
        Kind::GitLab => param("id") == kind.repository().replace('/', "%2F"),
        Kind::GitHub | Kind::Gitea => format!("{}/{}", param("owner"), param("repo")) == kind.repository(),
    };
    let fault = {
        let mut state = seen.0.lock().unwrap();
        state.violations.extend(violations.into_iter().map(|v| format!("{method} {path}: {v}")));
        if !repository_ok {
            state.violations.push(format!("{method} {path}: not the repository {}", kind.repository()));
        }
        seen.1.notify_all();
        state.faults.pop_front()
    };
    match fault {
        Some(Fault::TooMany) => {
            record(seen, format!("429 {name}"));
            return (StatusCode::TOO_MANY_REQUESTS, [("retry-after", "0")], "slow down").into_response();
        }
        Some(Fault::Unauthorized) => {
            record(seen, format!("401 {name}"));
            return unauthorized(kind);
        }
        Some(Fault::Forbidden) => {
            record(seen, format!("403 {name}"));
            return (StatusCode::FORBIDDEN, axum::Json(json!({"message": "Resource not accessible by integration"})))
                .into_response();
        }
        Some(Fault::Unavailable) => {
            record(seen, format!("503 {name}"));
            return (StatusCode::SERVICE_UNAVAILABLE, [("retry-after", "0")], "down for maintenance").into_response();
        }
        Some(Fault::Html) => {
            record(seen, format!("html {name}"));
            return (StatusCode::OK, [("content-type", "text/html")], "<html><body>Sign in</body></html>")
                .into_response();
        }
        None => {}
    }
    if !authorized(kind, &headers) {
        record(seen, format!("401 {name}"));
        return unauthorized(kind);
    }
    let fields = fields.unwrap_or(Value::Null);
    let pull = match kind {
        Kind::GitLab => param("merge_request_iid"),
        Kind::GitHub => param("issue_number"),
        Kind::Gitea => param("index"),
    };
    let status = StatusCode::from_u16(op["response"]["status"].as_u64().unwrap() as u16).unwrap();
    match name.as_str() {
        "list_comments" | "list_notes" => {
            if pull != number.to_string() {
                return (StatusCode::NOT_FOUND, axum::Json(json!({"message": "Not Found"}))).into_response();
            }
            let query = url_pairs(uri.query().unwrap_or_default());
            let get = |key: &str| query.iter().find(|(k, _)| k == key).and_then(|(_, v)| v.parse::<usize>().ok());
            let (page, per_page) = match kind {
                // Gitea's list of an issue's comments is one page.
                Kind::Gitea => (1, usize::MAX),
                Kind::GitHub => (get("page").unwrap_or(1), get("per_page").unwrap_or(30)),
                Kind::GitLab => (get("page").unwrap_or(1), get("per_page").unwrap_or(20)),
            };
            record(seen, format!("list page {page}"));
            let state = seen.0.lock().unwrap();
            let items: Vec<Value> = state
                .comments
                .iter()
                .skip((page - 1).saturating_mul(per_page))
                .take(per_page)
                .map(|(id, text)| example(op, &[("id", json!(id)), ("body", json!(text))]))
                .collect();
            let more = page.saturating_mul(per_page) < state.comments.len();
            let mut response = (status, axum::Json(items)).into_response();
            let headers = response.headers_mut();
            let next_url = |page: usize| {
                let kept: Vec<String> = query
                    .iter()
                    .filter(|(k, _)| k != "page")
                    .map(|(k, v)| format!("{k}={v}"))
                    .chain([format!("page={page}")])
                    .collect();
                format!("http://{host}{}?{}", uri.path(), kept.join("&"))
            };
            match kind {
                Kind::GitHub if more => {
                    headers.insert("link", format!("<{}>; rel=\"next\"", next_url(page + 1)).parse().unwrap());
                }
                // GitLab: X-Next-Page (empty on the last page); no Link, as GitLab.com may leave it out.
                Kind::GitLab => {
                    let next = if more { (page + 1).to_string() } else { String::new() };
                    headers.insert("x-next-page", next.parse().unwrap());
                    headers.insert("x-page", page.to_string().parse().unwrap());
                }
                Kind::Gitea => {
                    headers.insert("x-total-count", state.comments.len().to_string().parse().unwrap());
                }
                Kind::GitHub => {}
            }
            response
        }
        "create_comment" | "create_note" => {
            let text = fields["body"].as_str().unwrap_or_default().to_string();
            let id = {
                let mut state = seen.0.lock().unwrap();
                state.next_id += 1;
                let id = state.next_id;
                state.comments.push((id, text.clone()));
                id
            };
            record(seen, "create".into());
            (status, axum::Json(example(op, &[("id", json!(id)), ("body", json!(text))]))).into_response()
        }
        "update_comment" | "edit_comment" | "modify_note" => {
            let id: u64 = param(if kind == Kind::GitLab {
                "note_id"
            } else if kind == Kind::Gitea {
                "id"
            } else {
                "comment_id"
            })
            .parse()
            .unwrap_or(0);
            let text = fields["body"].as_str().unwrap_or_default().to_string();
            {
                let mut state = seen.0.lock().unwrap();
                let Some(comment) = state.comments.iter_mut().find(|(c, _)| *c == id) else {
                    drop(state);
                    record(seen, format!("404 update {id}"));
                    return (StatusCode::NOT_FOUND, axum::Json(json!({"message": "Not Found"}))).into_response();
                };
                comment.1 = text.clone();
            }
            record(seen, format!("update {id}"));
            (status, axum::Json(example(op, &[("id", json!(id)), ("body", json!(text))]))).into_response()
        }
        "create_status" | "set_commit_status" => {
            let sha = param("sha");
            let state_name = fields["state"].as_str().unwrap_or_default().to_string();
            let context = fields.get("context").or(fields.get("name")).and_then(Value::as_str).unwrap_or_default();
            if context != "stagecraft/review" {
                seen.0.lock().unwrap().violations.push(format!("a status with the context `{context}`"));
            }
            let description = fields["description"].as_str().unwrap_or_default().to_string();
            if state_name == "pending" {
                let held = seen.0.lock().unwrap().holding;
                if held {
                    record(seen, format!("held status pending {}", &sha[..7.min(sha.len())]));
                    let _ = released.wait_for(|n| *n > 0).await;
                }
            }
            {
                let mut state = seen.0.lock().unwrap();
                state.statuses.push(Status {
                    sha: sha.clone(),
                    state: state_name.clone(),
                    description: description.clone(),
                });
            }
            record(seen, format!("status {state_name}"));
            let answer = example(
                op,
                &[
                    ("state", json!(state_name)),
                    ("status", json!(state_name)),
                    ("description", json!(description)),
                    ("context", json!("stagecraft/review")),
                    ("name", json!("stagecraft/review")),
                    ("sha", json!(sha)),
                ],
            );
            (status, axum::Json(answer)).into_response()
        }
        other => {
            seen.0.lock().unwrap().violations.push(format!("the stand-in does not answer {other}"));
            StatusCode::NOT_IMPLEMENTED.into_response()
        }
    }
}

fn record(seen: &Shared, step: String) {
    seen.0.lock().unwrap().steps.push(step);
    seen.1.notify_all();
}
