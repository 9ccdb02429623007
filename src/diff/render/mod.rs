//! Renderings of a change set: `side-by-side` (terminals), `unified`, `markdown`
//! (pull-request comments), `json` (the stable shape of `docs/diff-json.md`) and `html`
//! (the dashboard's comparison). Pure:
//! the width and whether to colour come in as options.

pub mod html;
mod json;
mod markdown;
mod side_by_side;
mod unified;

use super::{ChangeSet, Value};
use crate::parse::human_size;

/// How to render.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// Old value left, new value right, fitted to the terminal (the default on a terminal)
    SideBySide,
    /// Per field: `-` old, `+` new; text as unified hunks
    Unified,
    /// For pull-request comments: a table of fields, fenced diff blocks for text
    Markdown,
    /// The stable JSON shape of docs/diff-json.md
    Json,
}

/// What the two sides are, for headers.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct Labels {
    pub from: String,
    pub to: String,
    pub from_commit: Option<String>,
    pub to_commit: Option<String>,
}

#[derive(Debug, Clone, Copy)]
pub struct Options {
    /// Total width in columns for side-by-side.
    pub width: usize,
    /// ANSI colour (only on a terminal, never with NO_COLOR or --no-color).
    pub color: bool,
}

/// Renders `set` in `format`.
pub fn render(set: &ChangeSet, labels: &Labels, format: Format, options: Options) -> String {
    match format {
        Format::SideBySide => side_by_side::render(set, labels, options),
        Format::Unified => unified::render(set, labels),
        Format::Markdown => markdown::render(set, labels),
        Format::Json => {
            let mut text = serde_json::to_string_pretty(&json::to_json(set, labels)).expect("JSON values serialize");
            text.push('\n');
            text
        }
    }
}

/// The JSON document of `docs/diff-json.md`.
pub fn to_json(set: &ChangeSet, labels: &Labels) -> serde_json::Value {
    json::to_json(set, labels)
}

/// A value on one line or several, as TOML writes it; text as is; bytes by size and id.
pub(crate) fn value_text(value: &Value) -> String {
    match value {
        Value::Toml(toml::Value::Table(table)) => toml::to_string(table)
            .unwrap_or_else(|_| toml::Value::Table(table.clone()).to_string())
            .trim_end()
            .to_string(),
        Value::Toml(toml::Value::String(text)) if text.contains('\n') => text.clone(),
        Value::Toml(value) => value.to_string(),
        Value::Text(text) => text.clone(),
        Value::Binary { size, id } => format!("<binary, {}, blob {}>", human_size(*size), id.short()),
    }
}

/// The heading of an assistant: `support-bot (changed)`.
pub(crate) fn assistant_heading(id: &str, status: super::AssistantStatus) -> String {
    let status = match status {
        super::AssistantStatus::Added => "added",
        super::AssistantStatus::Removed => "removed",
        super::AssistantStatus::Changed => "changed",
    };
    format!("{id} ({status})")
}
