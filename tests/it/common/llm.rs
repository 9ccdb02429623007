//! A deterministic assistant on 127.0.0.1 for the tests of `stagecraft test` and chat:
//! an OpenAI-compatible `POST /v1/chat/completions` and a runtime-protocol `POST
//! /runtime` answer from one script keyed by the conversation (the last user message, and
//! whether a tool result follows it). Every request body is kept, so tests can check what
//! stagecraft sent (and CI can check it against the `openai` library's types).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

/// What the assistant answers.
#[derive(Debug, Clone)]
pub enum Answer {
    Text(String),
    /// A tool call (the arguments as JSON).
    Call(String, Value),
    /// An HTTP status with a JSON error body.
    Status(u16),
    /// 200 with an HTML page.
    Html,
    /// 200 with JSON of the wrong shape.
    Malformed,
    /// The answer after this many milliseconds (the endpoint's own latency).
    Slow(u64, Box<Answer>),
    /// The answer once this many requests are being answered at once (then the gate
    /// stays open), or after 10 s: proves the client's concurrency without timing it.
    Gate(usize, Box<Answer>),
    /// Never answers: the client's timeout ends the request.
    Hang,
    /// A redirect elsewhere.
    Redirect,
}

/// One rule: when the last user message contains `user` (and a tool result follows it,
/// or not), answer this.
#[derive(Debug, Clone)]
pub struct Rule {
    pub user: String,
    pub after_tool: bool,
    pub answer: Answer,
}

pub fn says(user: &str, text: &str) -> Rule {
    Rule { user: user.into(), after_tool: false, answer: Answer::Text(text.into()) }
}

pub fn calls(user: &str, tool: &str, arguments: Value) -> Rule {
    Rule { user: user.into(), after_tool: false, answer: Answer::Call(tool.into(), arguments) }
}

pub fn after_tool(user: &str, text: &str) -> Rule {
    Rule { user: user.into(), after_tool: true, answer: Answer::Text(text.into()) }
}

pub fn answers(user: &str, answer: Answer) -> Rule {
    Rule { user: user.into(), after_tool: false, answer }
}

#[derive(Default)]
struct State {
    rules: Vec<Rule>,
    /// Every request: its path and body.
    requests: Vec<(String, Value)>,
    /// Requests being answered now, and the most there ever were at once.
    in_flight: usize,
    most_in_flight: usize,
    /// Told of every arrival, for [`Answer::Gate`].
    arrivals: Arc<tokio::sync::Notify>,
    gate_open: bool,
}

/// A running assistant; it stops when dropped.
pub struct Llm {
    /// `http://127.0.0.1:PORT/v1`
    pub endpoint: String,
    /// `http://127.0.0.1:PORT/runtime`
    pub runtime_url: String,
    state: Arc<Mutex<State>>,
    /// How many requests have arrived, for waiting on.
    arrived: Arc<(Mutex<usize>, std::sync::Condvar)>,
    _stop: tokio::sync::oneshot::Sender<()>,
}

impl Llm {
    pub fn start(rules: Vec<Rule>) -> Llm {
        let state = Arc::new(Mutex::new(State { rules, ..State::default() }));
        let shared = state.clone();
        let arrived: Arc<(Mutex<usize>, std::sync::Condvar)> = Arc::default();
        let counter = arrived.clone();
        let handler = move |uri: Uri, headers: HeaderMap, body: Bytes| {
            let (state, counter) = (shared.clone(), counter.clone());
            async move {
                *counter.0.lock().unwrap() += 1;
                counter.1.notify_all();
                answer(&state, uri, headers, body).await
            }
        };
        let (stop, address) = super::serve_app(axum::Router::new().fallback(handler));
        Llm {
            endpoint: format!("http://{address}/v1"),
            runtime_url: format!("http://{address}/runtime"),
            state,
            arrived,
            _stop: stop,
        }
    }

    /// Waits (30 s at most) until `count` requests have arrived.
    pub fn wait_requests(&self, count: usize) {
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        let (lock, changed) = &*self.arrived;
        let mut arrived = lock.lock().unwrap();
        while *arrived < count {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            assert!(!left.is_zero(), "only {} of {count} requests arrived", *arrived);
            arrived = changed.wait_timeout(arrived, left).unwrap().0;
        }
    }

    /// Every request body to `path` (`/v1/chat/completions`, `/runtime`).
    pub fn requests(&self, path: &str) -> Vec<Value> {
        self.state.lock().unwrap().requests.iter().filter(|(p, _)| p == path).map(|(_, b)| b.clone()).collect()
    }

    /// The most requests answered at once.
    pub fn most_in_flight(&self) -> usize {
        self.state.lock().unwrap().most_in_flight
    }
}

/// The last user message, and whether a tool result follows it.
fn key(messages: &[Value]) -> (String, bool) {
    let last_user = messages.iter().rposition(|m| m["role"] == "user");
    let text = last_user.map(|i| messages[i]["content"].as_str().unwrap_or_default().to_string()).unwrap_or_default();
    let after_tool = last_user.is_some_and(|i| messages[i..].iter().any(|m| m["role"] == "tool"));
    (text, after_tool)
}

async fn answer(state: &Mutex<State>, uri: Uri, headers: HeaderMap, body: Bytes) -> Response {
    {
        let mut state = state.lock().unwrap();
        state.in_flight += 1;
        state.most_in_flight = state.most_in_flight.max(state.in_flight);
        state.arrivals.notify_waiters();
    }
    let response = respond(state, uri, headers, body).await;
    state.lock().unwrap().in_flight -= 1;
    response
}

async fn respond(state: &Mutex<State>, uri: Uri, headers: HeaderMap, body: Bytes) -> Response {
    let path = uri.path().to_string();
    let Ok(request) = serde_json::from_slice::<Value>(&body) else {
        return (StatusCode::BAD_REQUEST, "not JSON").into_response();
    };
    let runtime = path == "/runtime";
    if !runtime && path != "/v1/chat/completions" {
        return StatusCode::NOT_FOUND.into_response();
    }
    if !runtime && headers.get("authorization").and_then(|v| v.to_str().ok()) == Some("Bearer wrong-key") {
        return (StatusCode::UNAUTHORIZED, axum::Json(json!({"error": {"message": "Incorrect API key"}})))
            .into_response();
    }
    let messages = request["messages"].as_array().cloned().unwrap_or_default();
    let (user, after_tool) = key(&messages);
    let found = {
        let mut state = state.lock().unwrap();
        state.requests.push((path.clone(), request.clone()));
        state.rules.iter().find(|r| user.contains(&r.user) && r.after_tool == after_tool).map(|r| r.answer.clone())
    };
    let mut answer = found.unwrap_or_else(|| Answer::Text(format!("(no script for {user:?})")));
    loop {
        match answer {
            Answer::Slow(ms, inner) => {
                // The endpoint's latency under test, not a wait for synchronisation.
                tokio::time::sleep(Duration::from_millis(ms)).await;
                answer = *inner;
            }
            Answer::Gate(count, inner) => {
                let arrivals = state.lock().unwrap().arrivals.clone();
                let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
                loop {
                    let arrived = arrivals.notified();
                    tokio::pin!(arrived);
                    arrived.as_mut().enable();
                    {
                        let mut state = state.lock().unwrap();
                        if state.gate_open || state.in_flight >= count {
                            state.gate_open = true;
                            break;
                        }
                    }
                    if tokio::time::timeout_at(deadline, arrived).await.is_err() {
                        break;
                    }
                }
                // The others waiting re-check and find the gate open.
                arrivals.notify_waiters();
                answer = *inner;
            }
            Answer::Hang => std::future::pending::<()>().await,
            _ => break,
        }
    }
    let model = request["model"].as_str().unwrap_or("model").to_string();
    match answer {
        Answer::Text(text) if runtime => axum::Json(json!({"reply": text, "tool_calls": []})).into_response(),
        Answer::Call(tool, arguments) if runtime => {
            axum::Json(json!({"reply": null, "tool_calls": [{"id": "call_1", "name": tool, "arguments": arguments}]}))
                .into_response()
        }
        Answer::Text(text) => {
            axum::Json(completion(&model, json!({"role": "assistant", "content": text}), "stop")).into_response()
        }
        Answer::Call(tool, arguments) => {
            let id = format!("call_{}", messages.len());
            let message = json!({"role": "assistant", "content": null, "tool_calls": [
                {"id": id, "type": "function", "function": {"name": tool, "arguments": arguments.to_string()}}]});
            axum::Json(completion(&model, message, "tool_calls")).into_response()
        }
        Answer::Status(code) => (
            StatusCode::from_u16(code).unwrap(),
            axum::Json(json!({"error": {"message": "the model server failed", "type": "server_error"}})),
        )
            .into_response(),
        Answer::Html => {
            (StatusCode::OK, [("content-type", "text/html")], "<html><body>Sign in</body></html>").into_response()
        }
        Answer::Malformed => axum::Json(json!({"choices": "none", "reply": 7})).into_response(),
        Answer::Redirect => (StatusCode::FOUND, [("location", "http://127.0.0.1:9/elsewhere")]).into_response(),
        Answer::Slow(..) | Answer::Gate(..) | Answer::Hang => unreachable!("resolved above"),
    }
}

/// A Chat Completions answer in the shape OpenAI documents.
fn completion(model: &str, message: Value, finish: &str) -> Value {
    json!({
        "id": "chatcmpl-stagecraft-test",
        "object": "chat.completion",
        "created": 1_765_000_000,
        "model": model,
        "choices": [{"index": 0, "message": message, "finish_reason": finish, "logprobs": null}],
        "usage": {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15}
    })
}
