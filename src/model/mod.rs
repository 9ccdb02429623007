//! The typed config of one tree: assistants with their model, settings,
//! instructions, knowledge sources, files, tools, guardrails and regression cases, and the
//! channel bindings of `channels.toml`. Built by [`crate::parse`] only after validation
//! found nothing wrong with a file, so every value here already satisfies the rules of
//! `docs/config-format.md`. Pure: no I/O.

pub mod ids;
pub mod snapshot;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

pub use ids::{AssistantId, Chain, EnvName, Id, Version};
pub use snapshot::{BlobReader, Entry, EntryKind, MemoryBlobs, ObjectId, ReadError, Snapshot};

/// Everything stagecraft reads from one tree.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Config {
    pub assistants: BTreeMap<AssistantId, std::sync::Arc<Assistant>>,
    pub channels: Channels,
}

/// One directory `assistants/<id>/`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Assistant {
    pub id: AssistantId,
    #[serde(flatten)]
    pub meta: AssistantToml,
    pub instructions: String,
    pub knowledge: BTreeMap<Id, Knowledge>,
    /// Files under `files/`, by path relative to `files/`; content is read on demand.
    pub files: BTreeMap<String, ObjectId>,
    pub tools: BTreeMap<Id, Tool>,
    pub guardrails: BTreeMap<Id, Guardrail>,
    pub tests: BTreeMap<Id, TestCase>,
}

/// `assistant.toml`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AssistantToml {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    pub model: ModelSpec,
    /// Free-form: language, voice, greeting, …; diffed field by field.
    #[serde(default)]
    pub settings: toml::Table,
}

/// `[model]` of `assistant.toml`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelSpec {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider: Option<String>,
    pub name: String,
    /// Between 0 and 2.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub temperature: Option<f64>,
    /// Greater than 0.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_output_tokens: Option<u32>,
}

/// `knowledge/<id>.toml`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Knowledge {
    pub title: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(flatten)]
    pub source: KnowledgeSource,
}

/// Where a knowledge source's content comes from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum KnowledgeSource {
    /// An http(s) URL.
    Url { uri: String },
    /// A path relative to the assistant's `files/`, which exists there.
    File { uri: String },
    /// The text itself.
    Text { text: String },
}

/// `tools/<name>.toml`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Tool {
    pub description: String,
    /// A JSON Schema object, written in TOML.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parameters: Option<toml::Table>,
    /// Absent for a client-side tool.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub http: Option<HttpCall>,
}

/// `[http]` of a tool.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HttpCall {
    pub method: String,
    pub url: String,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub headers: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_ms: Option<u64>,
}

/// `guardrails/<id>.toml`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Guardrail {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(flatten)]
    pub rule: GuardrailRule,
}

/// A guardrail's kind and that kind's fields.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum GuardrailRule {
    BlockedTopics {
        topics: Vec<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        message: Option<String>,
    },
    PiiRedaction {
        entities: Vec<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        replacement: Option<String>,
    },
    MaxTurns {
        max_turns: u32,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        message: Option<String>,
    },
    RegexBlock {
        patterns: Vec<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        message: Option<String>,
    },
    Escalation {
        triggers: Vec<String>,
        target: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        message: Option<String>,
    },
}

/// The guardrail kinds, as written in `kind = "…"`.
pub const GUARDRAIL_KINDS: [&str; 5] = ["blocked_topics", "pii_redaction", "max_turns", "regex_block", "escalation"];

/// The entity names a `pii_redaction` guardrail knows.
pub const PII_ENTITIES: [&str; 9] =
    ["email", "phone", "credit_card", "iban", "ssn", "address", "name", "date_of_birth", "ip_address"];

/// `tests/<case>.toml`: a regression case.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TestCase {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// How many times the case runs (for models that are not deterministic); 1 by default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub runs: Option<u32>,
    /// How many of the runs must pass; all of them by default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_pass: Option<u32>,
    #[serde(rename = "turn")]
    pub turns: Vec<Turn>,
}

impl TestCase {
    pub fn runs(&self) -> u32 {
        self.runs.unwrap_or(1).max(1)
    }

    pub fn min_pass(&self) -> u32 {
        self.min_pass.unwrap_or_else(|| self.runs())
    }
}

/// The scripted result of a turn's tool calls: one for every call, or one per tool.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum ToolResult {
    Every(String),
    PerTool(BTreeMap<String, String>),
}

impl ToolResult {
    /// The result scripted for a call of `tool`, if any.
    pub fn for_tool(&self, tool: &str) -> Option<&str> {
        match self {
            ToolResult::Every(result) => Some(result),
            ToolResult::PerTool(results) => results.get(tool).map(String::as_str),
        }
    }
}

/// One user turn and what the reply must satisfy.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Turn {
    pub user: String,
    #[serde(default, deserialize_with = "one_or_many", skip_serializing_if = "Vec::is_empty")]
    pub contains: Vec<String>,
    #[serde(default, deserialize_with = "one_or_many", skip_serializing_if = "Vec::is_empty")]
    pub not_contains: Vec<String>,
    #[serde(default, deserialize_with = "one_or_many", skip_serializing_if = "Vec::is_empty")]
    pub matches: Vec<String>,
    #[serde(default, deserialize_with = "one_or_many", skip_serializing_if = "Vec::is_empty")]
    pub tool_called: Vec<String>,
    /// Per tool, values its call's arguments must contain.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub tool_args: BTreeMap<String, toml::Table>,
    /// What the tool calls of this turn get back.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_result: Option<ToolResult>,
    /// The slowest acceptable answer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_latency_ms: Option<u64>,
}

fn one_or_many<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<Vec<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum OneOrMany {
        One(String),
        Many(Vec<String>),
    }
    Ok(match OneOrMany::deserialize(deserializer)? {
        OneOrMany::One(one) => vec![one],
        OneOrMany::Many(many) => many,
    })
}

/// `channels.toml`: per environment, per assistant, its bindings. Each environment reads
/// only its own tables.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Channels {
    pub environments: BTreeMap<EnvName, BTreeMap<AssistantId, Binding>>,
}

impl Channels {
    /// The binding of `assistant` in `env`, if `channels.toml` has one.
    pub fn binding(&self, env: &EnvName, assistant: &AssistantId) -> Option<&Binding> {
        self.environments.get(env)?.get(assistant)
    }
}

/// Phone numbers and SIP headers of one assistant in one environment.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Binding {
    #[serde(default)]
    pub phone_numbers: Vec<String>,
    #[serde(default)]
    pub sip_headers: BTreeMap<String, String>,
}
/// Text from input made safe to echo on a terminal: control characters (but newlines
/// and tabs) and the bidirectional overrides and isolates that can reorder what a
/// person reads are shown as `\u{…}` escapes.
pub fn escape_for_display(text: &str) -> String {
    let hidden = |c: char| {
        (c.is_control() && c != '\n' && c != '\t')
            || matches!(c, '\u{200e}' | '\u{200f}' | '\u{061c}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
    };
    if !text.chars().any(hidden) {
        return text.to_string();
    }
    text.chars().map(|c| if hidden(c) { c.escape_unicode().to_string() } else { c.to_string() }).collect()
}

/// TOML to JSON; date-times become their TOML text.
pub fn toml_to_json(value: &toml::Value) -> serde_json::Value {
    match value {
        toml::Value::String(text) => serde_json::Value::String(text.clone()),
        toml::Value::Integer(number) => serde_json::Value::from(*number),
        toml::Value::Float(number) => serde_json::Number::from_f64(*number)
            .map_or_else(|| serde_json::Value::String(number.to_string()), serde_json::Value::Number),
        toml::Value::Boolean(flag) => serde_json::Value::Bool(*flag),
        toml::Value::Datetime(datetime) => serde_json::Value::String(datetime.to_string()),
        toml::Value::Array(items) => serde_json::Value::Array(items.iter().map(toml_to_json).collect()),
        toml::Value::Table(table) => {
            serde_json::Value::Object(table.iter().map(|(k, v)| (k.clone(), toml_to_json(v))).collect())
        }
    }
}
