//! Commit messages as stagecraft writes and reads them: a subject line, the
//! description (`-m`), a `Summary:` line, and the `Stagecraft-*` trailers in the last
//! paragraph, in the form `git interpret-trailers` parses. Pure: no I/O.

use crate::model::Version;

pub const ACTION: &str = "Stagecraft-Action";
pub const ENVIRONMENT: &str = "Stagecraft-Environment";
pub const ACTOR: &str = "Stagecraft-Actor";
pub const VERSION: &str = "Stagecraft-Version";
pub const HOLDS: &str = "Stagecraft-Holds";
pub const SOURCE: &str = "Stagecraft-Source";
pub const FORCE: &str = "Stagecraft-Force";
pub const CHAIN: &str = "Stagecraft-Chain";
pub const PROTECTED: &str = "Stagecraft-Protected";

/// A commit message in parts.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Message {
    pub subject: String,
    /// The `-m` text, possibly several lines.
    pub description: Option<String>,
    /// The one-line summary of what changed.
    pub summary: Option<String>,
    /// `(key, value)` in the order written; a key may repeat.
    pub trailers: Vec<(String, String)>,
}

impl Message {
    pub fn new(subject: impl Into<String>) -> Message {
        Message { subject: subject.into(), ..Message::default() }
    }

    pub fn trailer(mut self, key: &str, value: impl Into<String>) -> Message {
        self.trailers.push((key.to_string(), value.into()));
        self
    }

    /// The value of the first trailer `key`.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.trailers.iter().find(|(k, _)| k.eq_ignore_ascii_case(key)).map(|(_, v)| v.as_str())
    }

    /// `Stagecraft-Version` as a version.
    pub fn version(&self) -> Option<Version> {
        self.get(VERSION)?.trim().parse().ok()
    }

    /// `Stagecraft-Holds` as versions, when the trailer is present (it may be empty).
    pub fn holds(&self) -> Option<Vec<Version>> {
        let value = self.get(HOLDS)?;
        Some(value.split_whitespace().filter_map(|word| word.parse().ok()).collect())
    }

    /// The text to store in the commit.
    pub fn format(&self) -> String {
        let mut out = single_line(&self.subject);
        out.push('\n');
        if let Some(description) = self.description.as_deref().map(str::trim).filter(|d| !d.is_empty()) {
            out.push('\n');
            out.push_str(description);
            out.push('\n');
        }
        if let Some(summary) = &self.summary {
            out.push_str(&format!("\nSummary: {}\n", single_line(summary)));
        }
        if !self.trailers.is_empty() {
            out.push('\n');
            for (key, value) in &self.trailers {
                let value = single_line(value);
                if value.is_empty() {
                    out.push_str(&format!("{key}:\n"));
                } else {
                    out.push_str(&format!("{key}: {value}\n"));
                }
            }
        }
        out
    }

    /// Reads a commit message; one without a trailer block has no trailers.
    pub fn parse(text: &str) -> Message {
        let text = text.replace("\r\n", "\n");
        let mut paragraphs: Vec<&str> =
            text.split("\n\n").map(|p| p.trim_matches('\n')).filter(|p| !p.is_empty()).collect();
        let subject = paragraphs.first().map(|p| p.lines().next().unwrap_or("").to_string()).unwrap_or_default();
        let first_rest = paragraphs.first().and_then(|p| p.split_once('\n')).map(|(_, rest)| rest.to_string());
        if !paragraphs.is_empty() {
            paragraphs.remove(0);
        }
        let mut trailers = Vec::new();
        if let Some(last) = paragraphs.last()
            && last.lines().all(|line| parse_trailer(line).is_some())
        {
            trailers = last.lines().filter_map(parse_trailer).collect();
            paragraphs.pop();
        }
        let mut summary = None;
        if let Some(last) = paragraphs.last()
            && let Some(value) = last.strip_prefix("Summary:")
            && !last.contains('\n')
        {
            summary = Some(value.trim().to_string());
            paragraphs.pop();
        }
        let mut body: Vec<String> = first_rest.into_iter().collect();
        body.extend(paragraphs.iter().map(|p| p.to_string()));
        let description = Some(body.join("\n\n")).filter(|d| !d.trim().is_empty());
        Message { subject, description, summary, trailers }
    }
}

fn parse_trailer(line: &str) -> Option<(String, String)> {
    let (key, value) = line.split_once(':')?;
    let valid_key = !key.is_empty() && key.chars().all(|c| c.is_ascii_alphanumeric() || c == '-');
    valid_key.then(|| (key.to_string(), value.trim().to_string()))
}

fn single_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn format_and_parse_round_trip() {
        let mut message =
            Message::new("publish v2").trailer(ACTION, "publish").trailer(VERSION, "2").trailer(HOLDS, "");
        message.description = Some("shorter answers\n\nsecond paragraph".into());
        message.summary = Some("support-bot: instructions +1 −1 lines".into());
        let text = message.format();
        assert_eq!(
            text,
            "publish v2\n\nshorter answers\n\nsecond paragraph\n\nSummary: support-bot: instructions +1 −1 lines\n\nStagecraft-Action: publish\nStagecraft-Version: 2\nStagecraft-Holds:\n"
        );
        let parsed = Message::parse(&text);
        assert_eq!(parsed, message);
        assert_eq!(parsed.version().unwrap().number(), 2);
        assert_eq!(parsed.holds(), Some(vec![]));
    }

    #[test]
    fn a_message_without_trailers_has_none() {
        let parsed = Message::parse("Merge pull request #4\n\nUpdate the greeting: be warmer\nsecond line");
        assert!(parsed.trailers.is_empty());
        assert_eq!(parsed.description.as_deref(), Some("Update the greeting: be warmer\nsecond line"));
        assert_eq!(Message::parse("just a subject").subject, "just a subject");
    }

    #[test]
    fn holds_parse_version_lists() {
        let parsed = Message::parse("x\n\nStagecraft-Holds: 3 5\n");
        assert_eq!(parsed.holds().unwrap().iter().map(|v| v.number()).collect::<Vec<_>>(), [3, 5]);
    }
}
