//! Chat and Test: pick an environment or the draft and an assistant, chat with it (the
//! reply streams in with the script; without it the page answers the form), or run the
//! regression suite and see the results table. The targets are the daemon's (`[test]`,
//! else a runtime's `test_url`), as for `POST /v1/chat` and `POST /v1/test`.
//!
//! Part of the HTTP adapter (I/O: HTTP; the repository only through `ops`, on blocking threads).

use std::convert::Infallible;

use axum::Form;
use axum::extract::{Query, State};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use maud::{Markup, html};
use serde::Deserialize;

use super::{Visitor, csrf_field, page, problem_page};
use crate::config::Role;
use crate::http::AppState;
use crate::http::testing::{subject, target};
use crate::model::{ToolResult, Turn};
use crate::testing::{Message, Reply, Summary};
use crate::wire::{ChatEvent, ChatMessage, TestCaseView};

/// The most messages a chat page carries along.
const MAX_MESSAGES: usize = 100;

#[derive(Debug, Default, Deserialize)]
pub struct Pick {
    env: Option<String>,
    assistant: Option<String>,
}

/// The state picker: the draft or an environment, and (for chat) an assistant.
fn picker(state: &AppState, pick: &Pick, with_assistant: bool) -> Markup {
    let chain = state.chain.environments().iter().map(|e| e.to_string()).collect::<Vec<_>>();
    let assistants: Vec<String> =
        state.hub.pull(state.chain.draft().as_str()).map(|pull| pull.ids().cloned().collect()).unwrap_or_default();
    html! {
        p {
            label for="env" { "State " }
            select id="env" name="env" {
                @for env in &chain {
                    option value=(env) selected[pick.env.as_deref() == Some(env.as_str())] { (env) }
                }
            }
            @if with_assistant {
                " "
                label for="assistant" { "Assistant " }
                select id="assistant" name="assistant" {
                    @for id in &assistants {
                        option value=(id) selected[pick.assistant.as_deref() == Some(id.as_str())] { (id) }
                    }
                }
            }
        }
    }
}

/// `env` of the picker: the draft is the draft, anything else an environment.
fn pick_subject(
    state: &AppState,
    env: Option<String>,
) -> Result<crate::ops::test::Subject, crate::http::problem::Problem> {
    let env = env.filter(|e| !e.is_empty() && e != state.chain.draft().as_str());
    subject(env, None)
}

pub async fn chat_page(State(state): State<AppState>, visitor: Visitor, Query(pick): Query<Pick>) -> Response {
    if let Err(refused) = visitor.require_page(Role::Publisher, "Chat") {
        return refused;
    }
    chat_view(&state, &visitor, &pick, &[], None)
}

fn chat_view(
    state: &AppState,
    visitor: &Visitor,
    pick: &Pick,
    history: &[ChatMessage],
    error: Option<&str>,
) -> Response {
    let history_json = serde_json::to_string(history).unwrap_or_else(|_| "[]".into());
    let body = html! {
        div.chat-log id="chat-log" aria-live="polite" {
            @for message in history {
                p { strong { (if message.role == "user" { "you" } else { "assistant" }) ": " } (message.content) }
            }
            @if let Some(error) = error { p.problem role="alert" { (error) } }
        }
        form method="post" action="/chat" data-chat="/chat/stream" {
            (csrf_field(visitor))
            (picker(state, pick, true))
            input type="hidden" name="history" value=(history_json);
            p {
                label for="message" { "Message" }
                br;
                input type="text" id="message" name="message" size="70" maxlength="4000" required autocomplete="off";
            }
            div.actions {
                button type="submit" { "Send" }
                a.button.secondary href={ "/chat?env=" (pick.env.clone().unwrap_or_default()) "&assistant=" (pick.assistant.clone().unwrap_or_default()) } { "Start over" }
            }
        }
    };
    page(visitor, "Chat", None, body)
}

#[derive(Debug, Deserialize)]
pub struct ChatForm {
    #[serde(default)]
    csrf: String,
    env: Option<String>,
    assistant: String,
    #[serde(default)]
    history: String,
    message: String,
}

/// One turn: the assistant's reply (and tool calls) to the conversation so far.
async fn turn(
    state: &AppState,
    form: &ChatForm,
    on_event: &(dyn Fn(ChatEvent) + Send + Sync),
) -> Result<(Vec<ChatMessage>, String), String> {
    let mut history: Vec<ChatMessage> =
        serde_json::from_str(if form.history.is_empty() { "[]" } else { &form.history })
            .map_err(|_| "the conversation could not be read; start over".to_string())?;
    if history.len() >= MAX_MESSAGES || form.message.chars().count() > 4000 {
        return Err("the conversation is too long; start over".into());
    }
    let subject = pick_subject(state, form.env.clone()).map_err(|p| p.0.detail)?;
    let id = crate::http::assistant_id(&form.assistant).map_err(|p| p.0.detail)?;
    let tested =
        state.with_store(move |store| crate::ops::test::prepare(store, &subject)).await.map_err(|p| p.0.detail)?;
    let assistant =
        tested.config.assistants.get(&id).cloned().ok_or_else(|| format!("no assistant `{id}` in {}", tested.label))?;
    let (target, timeout) = target(state, &tested).map_err(|p| p.0.detail)?;
    let mut conversation: Vec<Message> = history
        .iter()
        .map(|m| {
            if m.role == "user" {
                Message::user(&m.content)
            } else {
                Message::assistant(&Reply { text: m.content.clone(), tool_calls: Vec::new() })
            }
        })
        .collect();
    conversation.push(Message::user(&form.message));
    let turn = Turn { user: form.message.clone(), tool_result: None::<ToolResult>, ..Turn::default() };
    let client = crate::net::http_client();
    let on_tool = |call: &crate::testing::ToolCall, result: &str| {
        on_event(ChatEvent::Tool {
            name: call.name.clone(),
            arguments: call.arguments.clone(),
            result: result.to_string(),
        })
    };
    let answered =
        crate::tester::answer_turn(&client, &target, &assistant, &mut conversation, &turn, timeout, &on_tool).await?;
    history.push(ChatMessage { role: "user".into(), content: form.message.clone() });
    history.push(ChatMessage { role: "assistant".into(), content: answered.reply.text.clone() });
    Ok((history, answered.reply.text))
}

/// The form without a script: the page with the reply.
pub async fn chat(State(state): State<AppState>, visitor: Visitor, Form(form): Form<ChatForm>) -> Response {
    if let Err(refused) = visitor.require_post(&form.csrf, Role::Publisher) {
        return refused;
    }
    let pick = Pick { env: form.env.clone(), assistant: Some(form.assistant.clone()) };
    match turn(&state, &form, &|_| {}).await {
        Ok((history, _)) => chat_view(&state, &visitor, &pick, &history, None),
        Err(error) => {
            let history: Vec<ChatMessage> = serde_json::from_str(&form.history).unwrap_or_default();
            chat_view(&state, &visitor, &pick, &history, Some(&error))
        }
    }
}

/// The form with the script: the same turn as server-sent events (`tool`, `reply`, `done`
/// with the new conversation, or `error`).
pub async fn chat_stream(State(state): State<AppState>, visitor: Visitor, Form(form): Form<ChatForm>) -> Response {
    if let Err(refused) = visitor.require_post(&form.csrf, Role::Publisher) {
        return refused;
    }
    let (events, receiver) = tokio::sync::mpsc::channel::<(String, serde_json::Value)>(64);
    tokio::spawn(async move {
        let tools = events.clone();
        let on_event = move |event: ChatEvent| {
            let _ = tools.try_send(("tool".into(), serde_json::to_value(&event).expect("events serialize")));
        };
        let gone = events.clone();
        let answered = tokio::select! {
            answered = turn(&state, &form, &on_event) => answered,
            _ = gone.closed() => return,
        };
        match answered {
            Ok((history, reply)) => {
                let reply = serde_json::to_value(ChatEvent::Reply { text: reply }).expect("events serialize");
                let _ = events.send(("reply".into(), reply)).await;
                let history = serde_json::to_string(&history).expect("messages serialize");
                let _ = events.send(("done".into(), serde_json::json!({ "event": "done", "history": history }))).await;
            }
            Err(message) => {
                let error = serde_json::to_value(ChatEvent::Error { message }).expect("events serialize");
                let _ = events.send(("error".into(), error)).await;
            }
        }
    });
    let stream = tokio_stream::StreamExt::map(tokio_stream::wrappers::ReceiverStream::new(receiver), |(name, data)| {
        Ok::<Event, Infallible>(Event::default().event(name).json_data(&data).expect("events serialize"))
    });
    Sse::new(stream).keep_alive(KeepAlive::default()).into_response()
}

pub async fn test_page(State(state): State<AppState>, visitor: Visitor, Query(pick): Query<Pick>) -> Response {
    if let Err(refused) = visitor.require_page(Role::Publisher, "Running tests") {
        return refused;
    }
    test_view(&state, &visitor, &pick, None)
}

fn test_view(state: &AppState, visitor: &Visitor, pick: &Pick, results: Option<Markup>) -> Response {
    let body = html! {
        form method="post" action="/test" {
            (csrf_field(visitor))
            (picker(state, pick, false))
            div.actions { button type="submit" { "Run the test suite" } }
        }
        @if let Some(results) = results { (results) }
    };
    page(visitor, "Test", None, body)
}

#[derive(Debug, Deserialize)]
pub struct TestForm {
    #[serde(default)]
    csrf: String,
    env: Option<String>,
}

pub async fn test(State(state): State<AppState>, visitor: Visitor, Form(form): Form<TestForm>) -> Response {
    let session = match visitor.require_post(&form.csrf, Role::Publisher) {
        Ok(session) => session.clone(),
        Err(refused) => return refused,
    };
    let pick = Pick { env: form.env.clone(), assistant: None };
    let subject = match pick_subject(&state, form.env.clone()) {
        Ok(subject) => subject,
        Err(problem) => return problem_page(&visitor, problem),
    };
    let prepared = state
        .with_store(move |store| {
            let mut tested = crate::ops::test::prepare(store, &subject)?;
            let cases = tested.cases(None, None)?;
            Ok((tested, cases))
        })
        .await;
    let (tested, cases) = match prepared {
        Ok(prepared) => prepared,
        Err(problem) => return problem_page(&visitor, problem),
    };
    let (target, timeout) = match target(&state, &tested) {
        Ok(target) => target,
        Err(problem) => return problem_page(&visitor, problem),
    };
    let planned = cases.len();
    let options = crate::tester::RunOptions { concurrency: 4, timeout };
    let results = crate::tester::run_suite(&target, cases, options, &|_| {}, &state.stopping).await;
    let summary = Summary::of(&results, planned);
    let recorded = match (&state.identity, summary.errors) {
        (Some(signer), 0) if tested.version.is_some() => {
            let (signer, by, tested, describe) =
                (signer.clone(), format!("token:{}", session.name), tested.clone(), target.describe());
            let counts = (summary.passed, summary.failed);
            state
                .with_store(move |store| {
                    let now = crate::identity::When::from_timestamp(jiff::Timestamp::now());
                    crate::ops::test::record(store, &tested, &describe, counts, &by, &signer, now)
                })
                .await
                .ok()
                .flatten()
        }
        _ => None,
    };
    let views: Vec<TestCaseView> = results.iter().map(TestCaseView::from).collect();
    let table = html! {
        h2 { (tested.label) ": " (summary.passed) " passed, " (summary.failed) " failed, " (summary.errors) " not run" }
        p.muted { "Against " (target.describe()) }
        @if let Some(record) = &recorded { p { span.badge.good { "recorded: " (record.display()) } } }
        div.table-wrap tabindex="0" role="region" aria-label="Table, scrolls sideways" {
            table {
                thead { tr { th { "Assistant" } th { "Case" } th { "Result" } th { "Latency" } th { "First failed expectation" } } }
                tbody {
                    @for case in &views {
                        tr {
                            td { (case.assistant) }
                            td { (case.case) }
                            td { @match case.result.as_str() { "passed" => span.badge.good { "passed" }, "failed" => span.badge.bad { "failed" }, _ => span.badge.bad { "not run" } } }
                            td { (case.latency_ms) " ms" }
                            td { (case.detail.clone().unwrap_or_default()) }
                        }
                    }
                }
            }
        }
    };
    test_view(&state, &visitor, &pick, Some(table))
}
