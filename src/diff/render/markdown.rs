//! `markdown`: a pull-request comment. The summary on top, a section per assistant,
//! scalar changes in a table (field, before, after), text and whole items in fenced
//! blocks (`diff` for text, `toml` for added or removed items). Renders on GitHub and
//! GitLab alike: no HTML, pipes and backticks escaped.
//!
//! Pure: no I/O.

use super::super::text::LineKind;
use super::super::{Change, ChangeKind, ChangeSet, Value};
use super::{Labels, assistant_heading, value_text};

pub fn render(set: &ChangeSet, labels: &Labels) -> String {
    let mut out = format!("### stagecraft diff: `{}` → `{}`\n\n", escape_code(&labels.from), escape_code(&labels.to));
    if set.is_empty() {
        out.push_str("No differences.\n");
        return out;
    }
    out.push_str(&format!("**Summary:** {}\n", escape_text(&super::super::summary(set))));
    for assistant in &set.assistants {
        out.push_str(&format!("\n#### {}\n", escape_text(&assistant_heading(&assistant.id, assistant.status))));
        section(&mut out, &assistant.changes);
    }
    if !set.channels.is_empty() {
        out.push_str("\n#### channels.toml\n");
        section(&mut out, &set.channels);
    }
    if !set.other_files.is_empty() {
        out.push_str("\n#### Other files\n\n");
        for file in &set.other_files {
            out.push_str(&format!("- `{}`\n", escape_code(file)));
        }
    }
    out
}

fn section(out: &mut String, changes: &[Change]) {
    let (table, blocks): (Vec<&Change>, Vec<&Change>) = changes.iter().partition(|c| is_short(c));
    if !table.is_empty() {
        out.push_str("\n| field | before | after |\n|---|---|---|\n");
        for change in table {
            let cell = |value: &Option<Value>| match value {
                Some(value) => code_cell(&value_text(value)),
                None => "—".to_string(),
            };
            let (before, after) = match change.kind {
                ChangeKind::Renamed => (
                    code_cell(change.renamed_from.as_deref().unwrap_or("")),
                    format!("renamed to {}", code_cell(change.item.as_deref().unwrap_or(""))),
                ),
                _ => (cell(&change.old), cell(&change.new)),
            };
            out.push_str(&format!("| {} | {before} | {after} |\n", code_cell(&label(change))));
        }
    }
    for change in blocks {
        let kind = match change.kind {
            ChangeKind::Added => " (added)".to_string(),
            ChangeKind::Removed => " (removed)".to_string(),
            _ => change.text.as_ref().map(|t| format!(" (+{} −{} lines)", t.added, t.removed)).unwrap_or_default(),
        };
        out.push_str(&format!("\n**{}**{kind}\n\n", escape_text(&label(change))));
        match &change.text {
            Some(text) => {
                let mut body = String::new();
                for hunk in &text.hunks {
                    body.push_str(&format!(
                        "@@ -{},{} +{},{} @@\n",
                        hunk.old_start, hunk.old_len, hunk.new_start, hunk.new_len
                    ));
                    for line in &hunk.lines {
                        let mark = match line.kind {
                            LineKind::Context => ' ',
                            LineKind::Removed => '-',
                            LineKind::Added => '+',
                        };
                        body.push_str(&format!("{mark}{}\n", line.text));
                    }
                }
                fenced(out, "diff", &body);
            }
            None => {
                let value = change.new.as_ref().or(change.old.as_ref()).map(value_text).unwrap_or_default();
                let mut body = String::new();
                if change.kind == ChangeKind::Changed {
                    for line in change.old.as_ref().map(value_text).unwrap_or_default().lines() {
                        body.push_str(&format!("-{line}\n"));
                    }
                    for line in change.new.as_ref().map(value_text).unwrap_or_default().lines() {
                        body.push_str(&format!("+{line}\n"));
                    }
                    fenced(out, "diff", &body);
                } else {
                    fenced(out, "toml", &format!("{value}\n"));
                }
            }
        }
    }
}

/// `model.temperature`, `tool lookup_order › http.url`, `live phone_numbers`.
fn label(change: &Change) -> String {
    let path = change.display_path(None);
    if path.is_empty() { change.file.clone() } else { path }
}

/// A change fits a table row: a renamed item, or one-line values of at most 80 characters.
fn is_short(change: &Change) -> bool {
    if change.kind == ChangeKind::Renamed {
        return true;
    }
    if change.text.is_some() {
        return false;
    }
    let fits = |value: &Option<Value>| match value {
        None => true,
        Some(Value::Toml(toml::Value::Table(_))) => false,
        Some(value) => {
            let text = value_text(value);
            !text.contains('\n') && text.chars().count() <= 80
        }
    };
    fits(&change.old) && fits(&change.new)
}

/// A fenced block whose fence is longer than any backtick run inside.
fn fenced(out: &mut String, language: &str, body: &str) {
    let longest = body.split(|c| c != '`').map(str::len).max().unwrap_or(0);
    let fence = "`".repeat(longest.max(2) + 1);
    out.push_str(&format!("{fence}{language}\n{body}{fence}\n"));
}

/// A table cell holding code: backticks chosen to fit, pipes escaped.
fn code_cell(text: &str) -> String {
    let longest = text.split(|c| c != '`').map(str::len).max().unwrap_or(0);
    let ticks = "`".repeat(longest + 1);
    let pad = if text.starts_with('`') || text.ends_with('`') { " " } else { "" };
    format!("{ticks}{pad}{}{pad}{ticks}", text.replace('|', "\\|"))
}

fn escape_code(text: &str) -> String {
    text.replace('`', "'")
}

fn escape_text(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if matches!(c, '\\' | '`' | '*' | '_' | '[' | ']' | '<' | '>' | '|' | '#') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}
