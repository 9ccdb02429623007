//! Running test cases and chats against an assistant (io: HTTP). A [`Target`] answers a
//! conversation: an OpenAI-compatible Chat Completions endpoint given the tested state
//! itself (a draft can be tested before it is published), or a runtime's `test_url`.
//! [`run_suite`] runs cases concurrently (bounded), each turn with its tool rounds (a
//! tool call gets the turn's scripted `tool_result`, else an error result), checks every
//! expectation, and reports each case as it ends. A stop (Ctrl-C) ends the run: cases in
//! flight and cases not started count as not run, never as passed.
//!
//! The requests are built and the answers read by the pure [`crate::testing`].

use std::sync::Arc;
use std::time::{Duration, Instant};

use reqwest::header::{AUTHORIZATION, CONTENT_TYPE, USER_AGENT};
use serde_json::Value;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::model::Assistant;
use crate::testing::expect::check_turn;
use crate::testing::{
    CaseResult, Failure, MAX_TOOL_ROUNDS, Message, Outcome, Planned, Reply, Target, ToolCall, chat_request,
    parse_chat_reply, parse_runtime_reply, runtime_request, unscripted_result,
};

/// The largest answer read from a target.
const MAX_ANSWER: usize = 4 * 1024 * 1024;

/// One answer of `assistant` to the conversation so far, from `target`.
pub async fn send(
    target: &Target,
    client: &reqwest::Client,
    assistant: &Assistant,
    conversation: &[Message],
    timeout: Duration,
) -> Result<Reply, String> {
    let (url, body) = match target {
        Target::Chat { endpoint, model, .. } => (
            format!("{}/chat/completions", endpoint.trim_end_matches('/')),
            chat_request(assistant, model.as_deref(), conversation),
        ),
        Target::Runtime { url, version, .. } => {
            (url.clone(), runtime_request(assistant.id.as_str(), *version, conversation))
        }
    };
    let mut request = client
        .post(&url)
        .timeout(timeout)
        .header(USER_AGENT, concat!("stagecraft/", env!("CARGO_PKG_VERSION")))
        .header(CONTENT_TYPE, "application/json")
        .body(serde_json::to_vec(&body).expect("requests serialize"));
    if let Target::Chat { api_key: Some(key), .. } = target {
        let mut value = reqwest::header::HeaderValue::from_str(&format!("Bearer {}", key.expose()))
            .map_err(|_| "the API key is not a valid header value".to_string())?;
        value.set_sensitive(true);
        request = request.header(AUTHORIZATION, value);
    }
    // What errors show: the URL without credentials or query.
    let url = crate::testing::without_credentials(&url);
    let response = request.send().await.map_err(|e| {
        let e = e.without_url();
        if e.is_timeout() {
            format!("no answer from {url} within {} s", timeout.as_secs_f64())
        } else {
            format!("cannot reach {url}: {}", crate::net::error_chain(&e))
        }
    })?;
    let status = response.status();
    if status.is_redirection() {
        let location = response.headers().get("location").and_then(|v| v.to_str().ok()).unwrap_or("elsewhere");
        return Err(format!("{url} redirects to {location} (HTTP {status}); point the target at the final address"));
    }
    let content_type =
        response.headers().get(CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or_default().to_string();
    let bytes = read_bounded(response).await.map_err(|e| format!("reading the answer of {url}: {e}"))?;
    if status.as_u16() == 401 || status.as_u16() == 403 {
        return Err(format!(
            "{url} refused the request (HTTP {status}): the API key is missing or wrong; set STAGECRAFT_TEST_API_KEY or [test] api_key"
        ));
    }
    if !status.is_success() {
        let text = crate::testing::expect::shorten(&String::from_utf8_lossy(&bytes), 200);
        return Err(format!("{url} answered HTTP {status}: {text}"));
    }
    let value: Value = serde_json::from_slice(&bytes).map_err(|_| {
        let kind = if content_type.is_empty() { "no content type".to_string() } else { content_type.clone() };
        format!("the answer of {url} is not JSON ({kind})")
    })?;
    let parsed = match target {
        Target::Chat { .. } => parse_chat_reply(&value),
        Target::Runtime { .. } => parse_runtime_reply(&value),
    };
    parsed.map_err(|e| format!("the answer of {url} is malformed: {e}"))
}

/// Reads a body of at most [`MAX_ANSWER`] bytes.
async fn read_bounded(mut response: reqwest::Response) -> Result<Vec<u8>, String> {
    let mut bytes = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(|e| e.to_string())? {
        if bytes.len() + chunk.len() > MAX_ANSWER {
            return Err(format!("the answer is larger than {} MiB", MAX_ANSWER / (1024 * 1024)));
        }
        bytes.extend_from_slice(&chunk);
    }
    Ok(bytes)
}

/// How a suite runs.
#[derive(Debug, Clone, Copy)]
pub struct RunOptions {
    /// Cases at once.
    pub concurrency: usize,
    /// Per request.
    pub timeout: Duration,
}

/// Runs every case, `concurrency` at once; `done` hears of each case as it ends. The
/// results are in the order of `cases`; a case not run (a stop) is an error.
pub async fn run_suite(
    target: &Target,
    cases: Vec<Planned>,
    options: RunOptions,
    done: &(dyn Fn(&CaseResult) + Sync),
    stop: &CancellationToken,
) -> Vec<CaseResult> {
    let client = crate::net::http_client();
    let limit = Arc::new(tokio::sync::Semaphore::new(options.concurrency.max(1)));
    let mut jobs = JoinSet::new();
    let mut results: Vec<Option<CaseResult>> = vec![None; cases.len()];
    for (index, planned) in cases.iter().cloned().enumerate() {
        let (client, target, limit, stop) = (client.clone(), target.clone(), limit.clone(), stop.clone());
        jobs.spawn(async move {
            let _permit = tokio::select! {
                permit = limit.acquire_owned() => permit.expect("the semaphore stays open"),
                _ = stop.cancelled() => return (index, None),
            };
            let result = tokio::select! {
                biased;
                _ = stop.cancelled() => None,
                result = run_case(&client, &target, &planned, options.timeout) => Some(result),
            };
            (index, result)
        });
    }
    while let Some(joined) = jobs.join_next().await {
        if let Ok((index, Some(result))) = joined {
            done(&result);
            results[index] = Some(result);
        }
    }
    results
        .into_iter()
        .zip(&cases)
        .map(|(result, planned)| {
            result.unwrap_or_else(|| CaseResult {
                assistant: planned.assistant.id.to_string(),
                case: planned.case.clone(),
                outcome: Outcome::Error { error: "not run: the run was stopped".into() },
                runs: 0,
                passed_runs: 0,
                latency_ms: 0,
            })
        })
        .collect()
}

/// Runs one case `runs` times; it passes when `min_pass` runs pass.
pub async fn run_case(client: &reqwest::Client, target: &Target, planned: &Planned, timeout: Duration) -> CaseResult {
    let (runs, min_pass) = (planned.test.runs(), planned.test.min_pass());
    let mut passed_runs = 0;
    let mut first_failure = None;
    let mut latency_ms = 0;
    let mut made = 0;
    for _ in 0..runs {
        made += 1;
        match run_once(client, target, planned, timeout).await {
            Ok((None, slowest)) => {
                passed_runs += 1;
                latency_ms = latency_ms.max(slowest);
            }
            Ok((Some(failure), slowest)) => {
                latency_ms = latency_ms.max(slowest);
                first_failure.get_or_insert(failure);
            }
            Err(error) => {
                return CaseResult {
                    assistant: planned.assistant.id.to_string(),
                    case: planned.case.clone(),
                    outcome: Outcome::Error { error },
                    runs: made,
                    passed_runs,
                    latency_ms,
                };
            }
        }
        // Decided either way: enough passed, or too many failed.
        if passed_runs >= min_pass || made - passed_runs > runs - min_pass {
            break;
        }
    }
    let outcome = match first_failure {
        Some(failure) if passed_runs < min_pass => Outcome::Failed { failure },
        _ => Outcome::Passed,
    };
    CaseResult {
        assistant: planned.assistant.id.to_string(),
        case: planned.case.clone(),
        outcome,
        runs: made,
        passed_runs,
        latency_ms,
    }
}

/// One run of a case's conversation: its first failure (if any) and its slowest turn.
async fn run_once(
    client: &reqwest::Client,
    target: &Target,
    planned: &Planned,
    timeout: Duration,
) -> Result<(Option<Failure>, u64), String> {
    let mut conversation = Vec::new();
    let mut slowest = 0;
    for (index, turn) in planned.test.turns.iter().enumerate() {
        conversation.push(Message::user(&turn.user));
        let answered =
            answer_turn(client, target, &planned.assistant, &mut conversation, turn, timeout, &|_, _| {}).await?;
        slowest = slowest.max(answered.latency_ms);
        let failures = check_turn(index + 1, turn, &answered.reply.text, &answered.calls, answered.latency_ms);
        if let Some(failure) = failures.into_iter().next() {
            return Ok((Some(failure), slowest));
        }
    }
    Ok((None, slowest))
}

/// A turn's answer: the final reply, every tool call on the way, the time it took.
pub struct Answered {
    pub reply: Reply,
    pub calls: Vec<ToolCall>,
    /// The tool results given, in order: the call and its result.
    pub results: Vec<(ToolCall, String)>,
    pub latency_ms: u64,
}

/// Hears of each tool call as it is answered, with the result it got.
pub type OnTool<'a> = &'a (dyn Fn(&ToolCall, &str) + Send + Sync);

/// Sends the conversation, feeds tool results back until the assistant answers in
/// text, and appends every message to `conversation`.
pub async fn answer_turn(
    client: &reqwest::Client,
    target: &Target,
    assistant: &Assistant,
    conversation: &mut Vec<Message>,
    turn: &crate::model::Turn,
    timeout: Duration,
    on_tool: OnTool<'_>,
) -> Result<Answered, String> {
    let mut calls = Vec::new();
    let mut results = Vec::new();
    let mut elapsed = Duration::ZERO;
    for _ in 0..=MAX_TOOL_ROUNDS {
        let started = Instant::now();
        let reply = send(target, client, assistant, conversation, timeout).await?;
        elapsed += started.elapsed();
        conversation.push(Message::assistant(&reply));
        if reply.tool_calls.is_empty() || !reply.text.is_empty() && matches!(target, Target::Runtime { .. }) {
            calls.extend(reply.tool_calls.iter().cloned());
            return Ok(Answered { reply, calls, results, latency_ms: elapsed.as_millis() as u64 });
        }
        for call in &reply.tool_calls {
            let result = turn
                .tool_result
                .as_ref()
                .and_then(|scripted| scripted.for_tool(&call.name))
                .map_or_else(|| unscripted_result(&call.name), str::to_string);
            on_tool(call, &result);
            conversation.push(Message::tool(call, &result));
            results.push((call.clone(), result));
        }
        calls.extend(reply.tool_calls);
    }
    Err(format!("the assistant still called tools after {MAX_TOOL_ROUNDS} rounds in one turn"))
}
