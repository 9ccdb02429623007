//! Validation of a config tree: every rule of `docs/config-format.md`, all
//! findings of a tree at once, each a [`Diagnostic`] naming the file, line and column,
//! what is wrong and how to fix it, with a "did you mean" where a known name is close.
//!
//! Findings are values, not errors: [`crate::parse::load`] returns the typed config and
//! every diagnostic together, and callers decide. Pure: no I/O.

pub(crate) mod rules;
pub(crate) mod walk;

use std::fmt::Write as _;

use serde::Serialize;

/// Size limits, checked before a file is read.
pub mod limits {
    pub const TOML: u64 = 1024 * 1024;
    pub const INSTRUCTIONS: u64 = 4 * 1024 * 1024;
    pub const FILE: u64 = 20 * 1024 * 1024;
}

/// One finding: what is wrong, where, and how to fix it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Diagnostic {
    /// Path relative to the tree's root, with `/` separators.
    pub file: String,
    /// 1-based line; 0 when the finding is about the file as a whole.
    pub line: u32,
    /// 1-based column in characters; 0 when the finding is about the file as a whole.
    pub column: u32,
    pub message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hint: Option<String>,
    /// The source line and the width of the marked span, for rendering with a caret.
    #[serde(skip)]
    pub snippet: Option<Snippet>,
}

/// The text of the line a diagnostic points at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Snippet {
    pub text: String,
    /// How many characters to mark, at least 1.
    pub width: usize,
}

impl Diagnostic {
    /// A finding about a whole file or directory, with no position.
    pub fn whole(file: impl Into<String>, message: impl Into<String>, hint: Option<String>) -> Diagnostic {
        Diagnostic { file: file.into(), line: 0, column: 0, message: message.into(), hint, snippet: None }
    }

    /// `file:line:col` (or just `file` without a position).
    pub fn location(&self) -> String {
        if self.line == 0 { self.file.clone() } else { format!("{}:{}:{}", self.file, self.line, self.column) }
    }

    /// Several lines for people: the location and message, the source line with a caret
    /// under the span, and the hint.
    pub fn render(&self) -> String {
        let mut out = format!("{}: {}", self.location(), self.message);
        if let Some(snippet) = &self.snippet {
            let number = self.line.to_string();
            let pad = " ".repeat(number.len());
            let before: String = snippet.text.chars().take(self.column.saturating_sub(1) as usize).collect();
            let indent: String = before.chars().map(|c| if c == '\t' { '\t' } else { ' ' }).collect();
            let _ = write!(
                out,
                "\n {pad} |\n {number} | {}\n {pad} | {indent}{}",
                snippet.text,
                "^".repeat(snippet.width.max(1))
            );
        }
        if let Some(hint) = &self.hint {
            let _ = write!(out, "\nhint: {hint}");
        }
        out
    }
}

/// Sorts findings by file, then line and column, then message, and drops exact repeats.
pub fn sort(diagnostics: &mut Vec<Diagnostic>) {
    diagnostics.sort_by(|a, b| {
        (a.file.as_str(), a.line, a.column, a.message.as_str()).cmp(&(
            b.file.as_str(),
            b.line,
            b.column,
            b.message.as_str(),
        ))
    });
    diagnostics.dedup();
}

/// The known name closest to `unknown`, if one is close enough to be a likely typo.
pub fn did_you_mean<'a>(unknown: &str, known: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let unknown_lower = unknown.to_lowercase();
    known
        .into_iter()
        .map(|candidate| (strsim::jaro_winkler(&unknown_lower, candidate), candidate))
        .filter(|(score, _)| *score >= 0.8)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, candidate)| candidate)
}

/// `did you mean `x`?`, or the list of what is allowed when nothing is close.
pub fn suggestion(unknown: &str, known: &[&str], what: &str) -> String {
    match did_you_mean(unknown, known.iter().copied()) {
        Some(close) => format!("did you mean `{close}`?"),
        None if known.is_empty() => format!("remove it; no {what} is allowed here"),
        None => format!(
            "the {what}s allowed here are: {}",
            known.iter().map(|k| format!("`{k}`")).collect::<Vec<_>>().join(", ")
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn did_you_mean_finds_typos_and_ignores_strangers() {
        let keys = ["name", "description", "model", "settings"];
        assert_eq!(did_you_mean("descripton", keys), Some("description"));
        assert_eq!(did_you_mean("modle", keys), Some("model"));
        assert_eq!(did_you_mean("zzz", keys), None);
        assert_eq!(did_you_mean("instructions.txt", ["instructions.md", "assistant.toml"]), Some("instructions.md"));
        assert_eq!(did_you_mean("tool", ["tools", "tests", "files"]), Some("tools"));
    }

    #[test]
    fn render_marks_the_span_under_the_line() {
        let diagnostic = Diagnostic {
            file: "a.toml".into(),
            line: 2,
            column: 3,
            message: "bad".into(),
            hint: Some("fix it".into()),
            snippet: Some(Snippet { text: "x = 1".into(), width: 1 }),
        };
        assert_eq!(diagnostic.render(), "a.toml:2:3: bad\n   |\n 2 | x = 1\n   |   ^\nhint: fix it");
    }
}
