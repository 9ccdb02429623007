//! `POST /v1/test` (run a state's regression cases; the answer is the results, and a run
//! against a version is recorded on it) and `POST /v1/chat` (one turn of a chat, streamed
//! as server-sent events: each tool call with its result, then the reply), both for
//! publishers. The target is the daemon's `[test]` endpoint, else the `test_url` of a
//! runtime bound to the environment; the state is the environment's, the version's or
//! the draft's own config, so a draft can be tried before it is published.
//!
//! Part of the HTTP adapter (I/O: HTTP; the repository only through `ops`, on blocking threads).

use std::convert::Infallible;
use std::time::Duration;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};

use super::auth::{Write, WriteBody};
use super::problem::{Problem, ProblemBody};
use super::{AppState, json_response, version};
use crate::config::Role;
use crate::identity::When;
use crate::model::{ToolResult, Turn};
use crate::ops::test::{Subject, Tested};
use crate::tester::{RunOptions, answer_turn, run_suite};
use crate::testing::{Message, Summary, Target};
use crate::wire::{ChatEvent, ChatRequest, TestAnswer, TestCaseView, TestRequest};

/// The most messages a chat request carries, and the longest one.
const MAX_MESSAGES: usize = 200;
const MAX_MESSAGE: usize = 100_000;

impl WriteBody for TestRequest {
    fn role(&self, _: &AppState) -> Result<Role, Problem> {
        Ok(Role::Publisher)
    }
}

impl WriteBody for ChatRequest {
    fn role(&self, _: &AppState) -> Result<Role, Problem> {
        Ok(Role::Publisher)
    }
}

/// `env`, `version` (at most one), else the draft.
pub(super) fn subject(env: Option<String>, named: Option<String>) -> Result<Subject, Problem> {
    match (env, named) {
        (Some(_), Some(_)) => Err(Problem::usage("give `env` or `version`, not both")),
        (Some(env), None) => Ok(Subject::Env(env)),
        (None, Some(text)) => Ok(Subject::Version(version(&text)?)),
        (None, None) => Ok(Subject::Draft),
    }
}

/// The daemon's target for `tested`, and its timeout.
pub(super) fn target(state: &AppState, tested: &Tested) -> Result<(Target, Duration), Problem> {
    let config = state.config.get();
    let test = config.config.test.as_ref().map(|test| (test, config.test_key.clone()));
    let timeout = config.config.test.as_ref().map_or(Duration::from_secs(60), |t| t.timeout);
    let version = tested.version.map(|(v, _)| v.number());
    let target = Target::choose(None, test, &config.config.runtimes, tested.environment.as_ref(), version);
    let target = target.ok_or_else(|| {
        Problem::new(
            crate::error::Code::Usage,
            format!("the daemon has nothing to test {} against", tested.label),
            Some(
                "set [test] endpoint in the daemon's config, or a test_url on a runtime bound to the environment"
                    .into(),
            ),
        )
    })?;
    Ok((target, timeout))
}

/// Runs the regression cases of an environment, a version or the draft.
#[utoipa::path(post, security(("bearer" = [])), path = "/v1/test", tag = "operations", request_body = TestRequest,
    responses((status = 200, body = TestAnswer, description = "every case ran; see passed, failed and errors"),
        (status = 400, body = ProblemBody, content_type = "application/problem+json"),
        (status = 401, body = ProblemBody, content_type = "application/problem+json"),
        (status = 403, body = ProblemBody, content_type = "application/problem+json"),
        (status = 404, body = ProblemBody, content_type = "application/problem+json")))]
pub async fn test(
    State(state): State<AppState>,
    Write { caller, body }: Write<TestRequest>,
) -> Result<Response, Problem> {
    let subject = subject(body.env, body.version)?;
    let concurrency = body.concurrency.unwrap_or(4);
    if !(1..=64).contains(&concurrency) {
        return Err(Problem::usage(format!("concurrency is 1 to 64, not {concurrency}")));
    }
    let (assistant, case) = (body.assistant, body.case);
    let (tested, cases) = state
        .with_store(move |store| {
            let mut tested = crate::ops::test::prepare(store, &subject)?;
            let cases = tested.cases(assistant.as_deref(), case.as_deref())?;
            Ok((tested, cases))
        })
        .await?;
    let (target, timeout) = target(&state, &tested)?;
    let planned = cases.len();
    let options = RunOptions { concurrency: usize::from(concurrency), timeout };
    let results = run_suite(&target, cases, options, &|_| {}, &state.stopping).await;
    let summary = Summary::of(&results, planned);
    let describe = target.describe();
    let recorded = match (&state.identity, summary.errors) {
        (Some(signer), 0) if tested.version.is_some() => {
            let (signer, by, tested, describe) = (signer.clone(), caller.actor(), tested.clone(), describe.clone());
            let counts = (summary.passed, summary.failed);
            state
                .with_store(move |store| {
                    let now = When::from_timestamp(jiff::Timestamp::now());
                    crate::ops::test::record(store, &tested, &describe, counts, &by, &signer, now)
                })
                .await?
        }
        _ => None,
    };
    let answer = TestAnswer {
        tested: tested.label,
        target: describe,
        passed: summary.passed,
        failed: summary.failed,
        errors: summary.errors,
        cases: results.iter().map(TestCaseView::from).collect(),
        recorded: recorded.map(|r| r.display()),
    };
    Ok(json_response(StatusCode::OK, &answer))
}

/// One turn of a chat with an assistant of an environment, a version or the draft.
#[utoipa::path(post, security(("bearer" = [])), path = "/v1/chat", tag = "operations", request_body = ChatRequest,
    responses((status = 200, body = String, content_type = "text/event-stream",
            description = "server-sent events named `tool` (each tool call and its result), then `reply`, then `done`, or `error`; each event's data is a ChatEvent"),
        (status = 400, body = ProblemBody, content_type = "application/problem+json"),
        (status = 401, body = ProblemBody, content_type = "application/problem+json"),
        (status = 403, body = ProblemBody, content_type = "application/problem+json"),
        (status = 404, body = ProblemBody, content_type = "application/problem+json")))]
pub async fn chat(State(state): State<AppState>, Write { body, .. }: Write<ChatRequest>) -> Result<Response, Problem> {
    let ChatRequest { env, version: named, assistant, messages, tool_results } = body;
    let subject = subject(env, named)?;
    if messages.is_empty() || messages.len() > MAX_MESSAGES {
        return Err(Problem::usage(format!("a chat carries 1 to {MAX_MESSAGES} messages")));
    }
    let mut conversation = Vec::with_capacity(messages.len());
    for (index, message) in messages.iter().enumerate() {
        if message.content.chars().count() > MAX_MESSAGE {
            return Err(Problem::usage(format!("message {index} is over {MAX_MESSAGE} characters")));
        }
        let reply = crate::testing::Reply { text: message.content.clone(), tool_calls: Vec::new() };
        conversation.push(match message.role.as_str() {
            "user" => Message::user(&message.content),
            "assistant" => Message::assistant(&reply),
            other => return Err(Problem::usage(format!("a message's role is user or assistant, not `{other}`"))),
        });
    }
    let Some(last) = messages.last().filter(|m| m.role == "user") else {
        return Err(Problem::usage("the last message is the user's"));
    };
    let id = super::assistant_id(&assistant)?;
    let tested = state.with_store(move |store| crate::ops::test::prepare(store, &subject)).await?;
    let Some(assistant) = tested.config.assistants.get(&id).cloned() else {
        return Err(Problem::not_found(
            format!("no assistant `{id}` in {}", tested.label),
            "name one of its assistants",
        ));
    };
    let (target, timeout) = target(&state, &tested)?;
    let turn = Turn {
        user: last.content.clone(),
        tool_result: (!tool_results.is_empty()).then_some(ToolResult::PerTool(tool_results)),
        ..Turn::default()
    };
    let (events, receiver) = tokio::sync::mpsc::channel::<ChatEvent>(64);
    let stop = state.stopping.clone();
    tokio::spawn(async move {
        let client = crate::net::http_client();
        let tools = events.clone();
        let on_tool = move |call: &crate::testing::ToolCall, result: &str| {
            let _ = tools.try_send(ChatEvent::Tool {
                name: call.name.clone(),
                arguments: call.arguments.clone(),
                result: result.to_string(),
            });
        };
        // A client that went away ends the turn.
        let gone = events.clone();
        let answered = tokio::select! {
            answered = answer_turn(&client, &target, &assistant, &mut conversation, &turn, timeout, &on_tool) => answered,
            _ = stop.cancelled() => Err("the daemon is stopping".to_string()),
            _ = gone.closed() => return,
        };
        match answered {
            Ok(answered) => {
                let _ = events.send(ChatEvent::Reply { text: answered.reply.text }).await;
                let done = ChatEvent::Done { latency_ms: answered.latency_ms, target: target.describe() };
                let _ = events.send(done).await;
            }
            Err(message) => {
                let _ = events.send(ChatEvent::Error { message }).await;
            }
        }
    });
    let stream = tokio_stream::StreamExt::map(tokio_stream::wrappers::ReceiverStream::new(receiver), |event| {
        let name = match &event {
            ChatEvent::Tool { .. } => "tool",
            ChatEvent::Reply { .. } => "reply",
            ChatEvent::Done { .. } => "done",
            ChatEvent::Error { .. } => "error",
        };
        Ok::<Event, Infallible>(Event::default().event(name).json_data(&event).expect("events serialize"))
    });
    Ok(Sse::new(stream).keep_alive(KeepAlive::default()).into_response())
}
