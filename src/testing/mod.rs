//! Testing an assistant (pure): what a conversation sends to the assistant under test
//! and what comes back, the checks of a turn's expectations ([`expect`]), the outcome of
//! a suite, and the record a run leaves on a version ([`record`]).
//!
//! Two targets speak two protocols, both built here and sent by [`crate::tester`]:
//! - an OpenAI-compatible Chat Completions endpoint: the system prompt is the tested
//!   state's `instructions.md`, the tools are function definitions from their JSON
//!   Schemas, temperature and token limit come from `[model]`;
//! - a runtime's `test_url` (the runtime protocol): `{"assistant", "version",
//!   "messages"}` answered by `{"reply", "tool_calls"}`.

pub mod expect;
pub mod record;

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::model::Assistant;

/// The most tool rounds one turn may take before it counts as stuck.
pub const MAX_TOOL_ROUNDS: usize = 8;

/// One message of a conversation, as Chat Completions takes it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Message {
    pub role: Role,
    /// The text (`null` on an assistant message that only calls tools).
    pub content: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tool_calls: Vec<ToolCall>,
    /// The call a `tool` message answers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_call_id: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    System,
    User,
    Assistant,
    Tool,
}

impl Message {
    pub fn user(text: &str) -> Message {
        Message { role: Role::User, content: Some(text.to_string()), tool_calls: Vec::new(), tool_call_id: None }
    }

    pub fn assistant(reply: &Reply) -> Message {
        let content = (!reply.text.is_empty() || reply.tool_calls.is_empty()).then(|| reply.text.clone());
        Message { role: Role::Assistant, content, tool_calls: reply.tool_calls.clone(), tool_call_id: None }
    }

    pub fn tool(call: &ToolCall, result: &str) -> Message {
        Message {
            role: Role::Tool,
            content: Some(result.to_string()),
            tool_calls: Vec::new(),
            tool_call_id: Some(call.id.clone()),
        }
    }
}

/// A tool call the assistant made.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ToolCall {
    pub id: String,
    pub name: String,
    /// The arguments, parsed (an object, or the text when it was not JSON).
    pub arguments: Value,
}

/// One answer of the assistant.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Reply {
    pub text: String,
    pub tool_calls: Vec<ToolCall>,
}

/// The result a tool call gets when the case scripts none: an error the case can expect.
pub fn unscripted_result(tool: &str) -> String {
    json!({ "error": format!("no scripted result for {tool} in this test case") }).to_string()
}

/// The Chat Completions request for `assistant` at this point of the conversation.
/// `model` overrides the assistant's own model name.
pub fn chat_request(assistant: &Assistant, model: Option<&str>, conversation: &[Message]) -> Value {
    let mut messages = vec![json!({ "role": "system", "content": assistant.instructions })];
    for message in conversation {
        messages.push(chat_message(message));
    }
    let mut body = json!({
        "model": model.unwrap_or(&assistant.meta.model.name),
        "messages": messages,
    });
    if !assistant.tools.is_empty() {
        let tools: Vec<Value> = assistant
            .tools
            .iter()
            .map(|(name, tool)| {
                let parameters = tool.parameters.as_ref().map_or_else(
                    || json!({ "type": "object", "properties": {} }),
                    |p| crate::model::toml_to_json(&toml::Value::Table(p.clone())),
                );
                json!({ "type": "function", "function": {
                    "name": name.as_str(), "description": tool.description, "parameters": parameters } })
            })
            .collect();
        body["tools"] = Value::Array(tools);
    }
    if let Some(temperature) = assistant.meta.model.temperature {
        body["temperature"] = json!(temperature);
    }
    if let Some(tokens) = assistant.meta.model.max_output_tokens {
        body["max_tokens"] = json!(tokens);
    }
    body
}

/// One message in Chat Completions' shape (tool-call arguments as a JSON string).
fn chat_message(message: &Message) -> Value {
    let mut value = json!({ "role": message.role, "content": message.content });
    if !message.tool_calls.is_empty() {
        let calls: Vec<Value> = message
            .tool_calls
            .iter()
            .map(|call| {
                let arguments = match &call.arguments {
                    Value::String(text) => text.clone(),
                    other => other.to_string(),
                };
                json!({ "id": call.id, "type": "function", "function": { "name": call.name, "arguments": arguments } })
            })
            .collect();
        value["tool_calls"] = Value::Array(calls);
    }
    if let Some(id) = &message.tool_call_id {
        value["tool_call_id"] = json!(id);
    }
    value
}

/// Reads a Chat Completions answer: the first choice's text and tool calls.
pub fn parse_chat_reply(body: &Value) -> Result<Reply, String> {
    let message = body["choices"]
        .get(0)
        .map(|choice| &choice["message"])
        .filter(|m| m.is_object())
        .ok_or("the answer has no choices[0].message")?;
    let text = match &message["content"] {
        Value::String(text) => text.clone(),
        Value::Null => String::new(),
        _ => return Err("choices[0].message.content is not text".into()),
    };
    let mut tool_calls = Vec::new();
    if let Some(calls) = message["tool_calls"].as_array() {
        for (index, call) in calls.iter().enumerate() {
            let name = call["function"]["name"].as_str().ok_or("a tool call without function.name")?;
            tool_calls.push(tool_call(&call["id"], name, &call["function"]["arguments"], index));
        }
    }
    Ok(Reply { text, tool_calls })
}

/// The runtime protocol's request: the assistant, the version under test (none for a
/// draft) and the conversation.
pub fn runtime_request(assistant: &str, version: Option<u32>, conversation: &[Message]) -> Value {
    json!({ "assistant": assistant, "version": version, "messages": conversation })
}

/// Reads a runtime's answer `{"reply": "…", "tool_calls": [{"id"?, "name", "arguments"}]}`.
pub fn parse_runtime_reply(body: &Value) -> Result<Reply, String> {
    let text = match &body["reply"] {
        Value::String(text) => text.clone(),
        Value::Null if body.get("tool_calls").is_some_and(Value::is_array) => String::new(),
        _ => return Err("the answer has no `reply` text".into()),
    };
    let mut tool_calls = Vec::new();
    for (index, call) in body["tool_calls"].as_array().into_iter().flatten().enumerate() {
        let name = call["name"].as_str().ok_or("a tool call without `name`")?;
        tool_calls.push(tool_call(&call["id"], name, &call["arguments"], index));
    }
    Ok(Reply { text, tool_calls })
}

/// A tool call as either protocol gives it: its id (else `call_<index>`), and its
/// arguments parsed from their JSON string (kept as the text when they are not JSON).
fn tool_call(id: &Value, name: &str, arguments: &Value, index: usize) -> ToolCall {
    let arguments = match arguments {
        Value::String(text) => serde_json::from_str(text).unwrap_or_else(|_| Value::String(text.clone())),
        Value::Null => json!({}),
        other => other.clone(),
    };
    let id = id.as_str().map_or_else(|| format!("call_{index}"), str::to_string);
    ToolCall { id, name: name.to_string(), arguments }
}

/// What answers the conversations.
#[derive(Debug, Clone)]
pub enum Target {
    /// An OpenAI-compatible endpoint (`…/v1`): `POST {endpoint}/chat/completions`.
    Chat { endpoint: String, model: Option<String>, api_key: Option<crate::config::Secret> },
    /// A runtime's `test_url` (the runtime protocol), for the version it holds.
    Runtime { name: String, url: String, version: Option<u32> },
}

impl Target {
    /// The endpoint's URL (without credentials or a query), or `runtime NAME`.
    pub fn describe(&self) -> String {
        match self {
            Target::Chat { endpoint, .. } => without_credentials(endpoint),
            Target::Runtime { name, .. } => format!("runtime {name}"),
        }
    }

    /// The target of a test or a chat: an explicit endpoint, else `[test]`, else the
    /// `test_url` of a runtime bound to the tested environment (for the version tested).
    pub fn choose(
        explicit: Option<Target>,
        config: Option<(&crate::config::TestConfig, Option<crate::config::Secret>)>,
        runtimes: &[crate::config::RuntimeConfig],
        environment: Option<&crate::model::EnvName>,
        version: Option<u32>,
    ) -> Option<Target> {
        if explicit.is_some() {
            return explicit;
        }
        if let Some((test, api_key)) = config {
            return Some(Target::Chat { endpoint: test.endpoint.clone(), model: test.model.clone(), api_key });
        }
        let env = environment?;
        let runtime = runtimes.iter().find(|r| &r.environment == env && r.test_url.is_some())?;
        Some(Target::Runtime { name: runtime.name.clone(), url: runtime.test_url.clone()?, version })
    }
}

/// A URL without `user:password@` and without its query: what may be shown and recorded.
pub fn without_credentials(url: &str) -> String {
    let url = url.split(['?', '#']).next().unwrap_or_default();
    match url.split_once("://") {
        Some((scheme, rest)) => {
            let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
            let host = authority.rsplit_once('@').map_or(authority, |(_, host)| host);
            format!("{scheme}://{host}{path}")
        }
        None => url.to_string(),
    }
}

/// One case to run.
#[derive(Debug, Clone)]
pub struct Planned {
    pub assistant: std::sync::Arc<Assistant>,
    pub case: String,
    pub test: crate::model::TestCase,
}

/// The first expectation a turn did not meet.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Failure {
    /// The turn, from 1.
    pub turn: usize,
    /// The key of the case file: `contains`, `matches`, `tool_args`, …
    pub expectation: String,
    pub expected: String,
    pub got: String,
}

impl Failure {
    pub fn describe(&self) -> String {
        format!("turn {}: {}: expected {}, got {}", self.turn, self.expectation, self.expected, self.got)
    }
}

/// How a case ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "result", rename_all = "snake_case")]
pub enum Outcome {
    Passed,
    /// Fewer runs passed than `min_pass`; the first failure of a failed run.
    Failed {
        failure: Failure,
    },
    /// The run could not complete: the endpoint, a timeout, a malformed answer, a stop.
    Error {
        error: String,
    },
}

/// A case's result.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CaseResult {
    pub assistant: String,
    pub case: String,
    #[serde(flatten)]
    pub outcome: Outcome,
    /// Runs made and runs passed.
    pub runs: u32,
    pub passed_runs: u32,
    /// The slowest turn's answer, in milliseconds.
    pub latency_ms: u64,
}

/// What a suite gave.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Summary {
    pub passed: usize,
    pub failed: usize,
    /// Cases that could not complete or were not run.
    pub errors: usize,
}

impl Summary {
    pub fn of(results: &[CaseResult], planned: usize) -> Summary {
        let passed = results.iter().filter(|r| r.outcome == Outcome::Passed).count();
        let failed = results.iter().filter(|r| matches!(r.outcome, Outcome::Failed { .. })).count();
        Summary { passed, failed, errors: planned - passed - failed }
    }

    /// 0: every case ran and passed; 1: one failed; 4: one could not complete or did not run.
    pub fn exit_code(&self) -> u8 {
        if self.errors > 0 {
            4
        } else if self.failed > 0 {
            1
        } else {
            0
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chat_answers_and_runtime_answers_are_read_and_bad_ones_refused() {
        let answer = json!({"choices": [{"message": {"role": "assistant", "content": null, "tool_calls": [
            {"id": "call_1", "type": "function", "function": {"name": "lookup", "arguments": "{\"id\": 7}"}}]}}]});
        let reply = parse_chat_reply(&answer).unwrap();
        assert_eq!(reply.text, "");
        assert_eq!(reply.tool_calls[0].arguments, json!({"id": 7}));
        assert!(parse_chat_reply(&json!({"error": "x"})).is_err());
        assert!(parse_chat_reply(&json!({"choices": [{"message": {"content": 7}}]})).is_err());
        let runtime =
            parse_runtime_reply(&json!({"reply": "hi", "tool_calls": [{"name": "a", "arguments": {"x": 1}}]}));
        assert_eq!(runtime.unwrap().tool_calls[0].id, "call_0");
        assert!(parse_runtime_reply(&json!({"text": "hi"})).is_err());
    }

    #[test]
    fn shown_urls_carry_no_credentials() {
        assert_eq!(without_credentials("https://me:secret@api.example/v1?key=k"), "https://api.example/v1");
        assert_eq!(without_credentials("http://127.0.0.1:8000/v1"), "http://127.0.0.1:8000/v1");
    }

    #[test]
    fn the_exit_code_is_4_for_an_unrun_case_then_1_for_a_failure() {
        let result = |outcome| CaseResult {
            assistant: "a".into(),
            case: "c".into(),
            outcome,
            runs: 1,
            passed_runs: 0,
            latency_ms: 0,
        };
        let failure = Failure { turn: 1, expectation: "contains".into(), expected: "x".into(), got: "y".into() };
        let results = [result(Outcome::Passed), result(Outcome::Failed { failure })];
        assert_eq!(Summary::of(&results, 2).exit_code(), 1);
        assert_eq!(Summary::of(&results, 3).exit_code(), 4, "a case that did not run");
        assert_eq!(Summary::of(&results[..1], 1).exit_code(), 0);
    }
}
