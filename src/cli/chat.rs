//! `stagecraft chat (--env ENV | --version vN | --draft) --assistant ID`: a chat in the
//! terminal with an assistant as an environment, a version or the draft has it, through
//! the targets `test` uses (or a daemon's `POST /v1/chat` with `--server`). Each line
//! read is a user message; `/reset` starts over, `/quit` (or the end of input) ends.
//! Tool calls are shown with the result they got.
//!
//! I/O: the terminal (stdin, stdout), the repository through `ops`, the target through
//! `tester`.

use std::collections::BTreeMap;
use std::io::{BufRead, Write};
use std::time::Duration;

use super::Context;
use super::ui::Ui;
use crate::error::Error;
use crate::model::{ToolResult, Turn, Version};
use crate::ops::test::Subject;
use crate::testing::{Message, ToolCall};
use crate::wire::{ChatEvent, ChatMessage, ChatRequest};

/// Chat with an assistant as an environment, a version or the draft has it (/reset starts over, /quit ends)
#[derive(Debug, clap::Args)]
#[command(group = clap::ArgGroup::new("subject").args(["env", "version", "draft"]))]
pub struct Args {
    /// The assistant as this environment runs it
    #[arg(long, value_name = "ENV")]
    env: Option<String>,
    /// The assistant as this version has it
    #[arg(long, value_name = "vN")]
    version: Option<Version>,
    /// The assistant as the draft has it, unpublished [default]
    #[arg(long)]
    draft: bool,
    /// The assistant's id
    #[arg(long, value_name = "ID")]
    assistant: String,
    /// What a tool's calls get back, as TOOL=RESULT (repeatable); other tools get an error result
    #[arg(long = "tool-result", value_name = "TOOL=RESULT")]
    tool_results: Vec<String>,
    /// An OpenAI-compatible API, like http://127.0.0.1:8000/v1 [default: as for `stagecraft test`]
    #[arg(long, value_name = "URL")]
    endpoint: Option<String>,
    /// The model to ask for [default: STAGECRAFT_TEST_MODEL, else the assistant's own]
    #[arg(long, value_name = "NAME")]
    model: Option<String>,
    /// The longest wait for one answer
    #[arg(long, value_name = "DURATION", default_value = "60s", value_parser = humantime::parse_duration)]
    timeout: Duration,
}

pub fn run(args: Args, context: &Context, ui: &Ui) -> Result<u8, Error> {
    let mut tool_results = BTreeMap::new();
    for pair in &args.tool_results {
        let (tool, result) = pair.split_once('=').ok_or_else(|| Error::Usage {
            message: format!("--tool-result `{pair}` is not TOOL=RESULT"),
            hint: Some("e.g. --tool-result 'lookup_order={\"status\": \"shipped\"}'".into()),
        })?;
        tool_results.insert(tool.trim().to_string(), result.to_string());
    }
    let mut talk: Box<dyn Talk> = match context.client()? {
        Some(client) => Box::new(Remote { client, args: &args, tool_results, history: Vec::new() }),
        None => Box::new(Local::new(&args, context, tool_results)?),
    };
    let stdin = std::io::stdin();
    let interactive = std::io::IsTerminal::is_terminal(&stdin);
    if interactive {
        ui.notes(&[format!("chatting with {} ({}); /reset starts over, /quit ends", args.assistant, talk.describe())]);
    }
    let mut out = std::io::stdout();
    let mut lines = stdin.lock().lines();
    loop {
        if interactive {
            let _ = write!(out, "you> ");
            let _ = out.flush();
        }
        let Some(Ok(line)) = lines.next() else { break };
        let line = line.trim();
        match line {
            "" => continue,
            "/quit" | "/exit" => break,
            "/reset" => {
                talk.reset();
                let _ = writeln!(out, "(the conversation starts over)");
                continue;
            }
            _ => {}
        }
        match talk.say(line) {
            Ok((calls, reply)) => {
                // What the model said is shown, never obeyed: no terminal escapes.
                let shown = crate::model::escape_for_display;
                for (call, result) in calls {
                    let _ = writeln!(
                        out,
                        "  tool {}({}) -> {}",
                        shown(&call.name),
                        shown(&call.arguments.to_string()),
                        shown(&result)
                    );
                }
                let _ = writeln!(out, "{}> {}", args.assistant, shown(&reply));
            }
            Err(message) => {
                let _ = writeln!(out, "(no answer: {})", crate::model::escape_for_display(&message));
            }
        }
    }
    Ok(0)
}

/// One side of the chat: the local target, or a daemon.
trait Talk {
    fn describe(&self) -> String;
    fn reset(&mut self);
    /// The tool calls with their results, and the reply.
    fn say(&mut self, text: &str) -> Result<(Vec<(ToolCall, String)>, String), String>;
}

struct Local {
    assistant: std::sync::Arc<crate::model::Assistant>,
    target: crate::testing::Target,
    turn_results: Option<ToolResult>,
    conversation: Vec<Message>,
    timeout: Duration,
    runtime: tokio::runtime::Runtime,
    client: reqwest::Client,
}

impl Local {
    fn new(args: &Args, context: &Context, tool_results: BTreeMap<String, String>) -> Result<Local, Error> {
        let store = context.open_store()?;
        let subject = match (&args.env, args.version) {
            (Some(env), _) => Subject::Env(env.clone()),
            (None, Some(version)) => Subject::Version(version),
            (None, None) => Subject::Draft,
        };
        let tested = crate::ops::test::prepare(&store, &subject)?;
        let assistant =
            tested.config.assistants.iter().find(|(id, _)| id.as_str() == args.assistant).map(|(_, a)| a.clone());
        let assistant = assistant.ok_or_else(|| Error::NotFound {
            what: "assistant",
            name: args.assistant.clone(),
            hint: format!(
                "{} has {}",
                tested.label,
                tested.config.assistants.keys().map(|id| id.as_str()).collect::<Vec<_>>().join(", ")
            ),
        })?;
        let target = super::test::target(args.endpoint.as_deref(), args.model.as_deref(), context, &store, &tested)?;
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(Error::io("start the chat client for", &args.assistant))?;
        Ok(Local {
            assistant,
            target,
            turn_results: (!tool_results.is_empty()).then_some(ToolResult::PerTool(tool_results)),
            conversation: Vec::new(),
            timeout: args.timeout,
            runtime,
            client: crate::net::http_client(),
        })
    }
}

impl Talk for Local {
    fn describe(&self) -> String {
        self.target.describe()
    }

    fn reset(&mut self) {
        self.conversation.clear();
    }

    fn say(&mut self, text: &str) -> Result<(Vec<(ToolCall, String)>, String), String> {
        let turn = Turn { user: text.to_string(), tool_result: self.turn_results.clone(), ..Turn::default() };
        let before = self.conversation.len();
        self.conversation.push(Message::user(text));
        let answered = self.runtime.block_on(crate::tester::answer_turn(
            &self.client,
            &self.target,
            &self.assistant,
            &mut self.conversation,
            &turn,
            self.timeout,
            &|_, _| {},
        ));
        match answered {
            Ok(answered) => Ok((answered.results, answered.reply.text)),
            Err(error) => {
                // Nothing of a turn that got no answer stays in the conversation (a tool
                // call without its result would make every later request invalid).
                self.conversation.truncate(before);
                Err(error)
            }
        }
    }
}

struct Remote<'a> {
    client: crate::client::Client,
    args: &'a Args,
    tool_results: BTreeMap<String, String>,
    history: Vec<ChatMessage>,
}

impl Talk for Remote<'_> {
    fn describe(&self) -> String {
        format!("through {}", self.client.url())
    }

    fn reset(&mut self) {
        self.history.clear();
    }

    fn say(&mut self, text: &str) -> Result<(Vec<(ToolCall, String)>, String), String> {
        let mut messages = self.history.clone();
        messages.push(ChatMessage { role: "user".into(), content: text.to_string() });
        let request = ChatRequest {
            env: self.args.env.clone(),
            version: self.args.version.map(|v| v.to_string()),
            assistant: self.args.assistant.clone(),
            messages: messages.clone(),
            tool_results: self.tool_results.clone(),
        };
        let events = self.client.post_events("/v1/chat", &request).map_err(|e| e.to_string())?;
        let mut calls = Vec::new();
        let mut reply = None;
        for (_, data) in events {
            match serde_json::from_str::<ChatEvent>(&data) {
                Ok(ChatEvent::Tool { name, arguments, result }) => {
                    calls.push((ToolCall { id: String::new(), name, arguments }, result));
                }
                Ok(ChatEvent::Reply { text }) => reply = Some(text),
                Ok(ChatEvent::Error { message }) => return Err(message),
                Ok(ChatEvent::Done { .. }) | Err(_) => {}
            }
        }
        let reply = reply.ok_or("the daemon's stream ended without a reply")?;
        messages.push(ChatMessage { role: "assistant".into(), content: reply.clone() });
        self.history = messages;
        Ok((calls, reply))
    }
}
