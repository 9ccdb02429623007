//! Line diff of two texts with the changed words inside changed lines marked, in hunks
//! with context, computed with `similar`. Pure.

use serde::{Deserialize, Serialize};
use similar::{ChangeTag, TextDiff as Similar};

/// Lines of context kept around each change.
pub const CONTEXT: usize = 3;

/// The line diff of two texts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TextDiff {
    /// Lines only in the new text.
    pub added: usize,
    /// Lines only in the old text.
    pub removed: usize,
    pub hunks: Vec<Hunk>,
}

/// A run of changed lines with up to [`CONTEXT`] unchanged lines around it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Hunk {
    /// 1-based first line in the old text (0 when the old text is empty).
    pub old_start: usize,
    pub old_len: usize,
    pub new_start: usize,
    pub new_len: usize,
    pub lines: Vec<Line>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LineKind {
    Context,
    Removed,
    Added,
}

/// One line of a hunk, without its line ending.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Line {
    pub kind: LineKind,
    pub old_number: Option<usize>,
    pub new_number: Option<usize>,
    pub text: String,
}

/// A piece of a line; `changed` marks a word that differs inside a changed line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Segment {
    pub text: String,
    pub changed: bool,
}

/// Diffs two texts by line. Changed words are not computed here but by
/// [`Hunk::marked`] when a rendering needs them, so a diff that is only counted or
/// summarised does not pay for them.
pub fn diff_text(old: &str, new: &str) -> TextDiff {
    let diff = Similar::from_lines(old, new);
    let mut added = 0;
    let mut removed = 0;
    let mut hunks = Vec::new();
    for group in diff.grouped_ops(CONTEXT) {
        let (Some(first), Some(last)) = (group.first(), group.last()) else { continue };
        let old_range = first.old_range().start..last.old_range().end;
        let new_range = first.new_range().start..last.new_range().end;
        let mut lines = Vec::new();
        for op in &group {
            for change in diff.iter_changes(op) {
                let kind = match change.tag() {
                    ChangeTag::Equal => LineKind::Context,
                    ChangeTag::Delete => {
                        removed += 1;
                        LineKind::Removed
                    }
                    ChangeTag::Insert => {
                        added += 1;
                        LineKind::Added
                    }
                };
                lines.push(Line {
                    kind,
                    old_number: change.old_index().map(|i| i + 1),
                    new_number: change.new_index().map(|i| i + 1),
                    text: change.value().trim_end_matches(['\n', '\r']).to_string(),
                });
            }
        }
        hunks.push(Hunk {
            old_start: if old_range.is_empty() { old_range.start } else { old_range.start + 1 },
            old_len: old_range.len(),
            new_start: if new_range.is_empty() { new_range.start } else { new_range.start + 1 },
            new_len: new_range.len(),
            lines,
        });
    }
    TextDiff { added, removed, hunks }
}

impl Hunk {
    /// The segments of every line, in order: in each run of removed lines followed by
    /// added lines, the words that differ are marked `changed`.
    pub fn marked(&self) -> Vec<Vec<Segment>> {
        let plain = |line: &Line| vec![Segment { text: line.text.clone(), changed: false }];
        let mut out: Vec<Vec<Segment>> = self.lines.iter().map(plain).collect();
        let mut index = 0;
        while index < self.lines.len() {
            if self.lines[index].kind != LineKind::Removed {
                index += 1;
                continue;
            }
            let removed_start = index;
            while index < self.lines.len() && self.lines[index].kind == LineKind::Removed {
                index += 1;
            }
            let added_start = index;
            while index < self.lines.len() && self.lines[index].kind == LineKind::Added {
                index += 1;
            }
            if added_start == index {
                continue;
            }
            let join = |range: std::ops::Range<usize>| {
                self.lines[range].iter().map(|l| format!("{}\n", l.text)).collect::<String>()
            };
            let (old, new) = (join(removed_start..added_start), join(added_start..index));
            let diff = Similar::from_lines(&old, &new);
            for op in diff.ops() {
                for change in diff.iter_inline_changes(op) {
                    let target = match change.tag() {
                        ChangeTag::Delete => change.old_index().map(|i| removed_start + i),
                        ChangeTag::Insert => change.new_index().map(|i| added_start + i),
                        ChangeTag::Equal => None,
                    };
                    let Some(target) = target else { continue };
                    let mut segments: Vec<Segment> = Vec::new();
                    for (emphasized, text) in change.iter_strings_lossy() {
                        let text = text.trim_end_matches(['\n', '\r']);
                        if text.is_empty() {
                            continue;
                        }
                        match segments.last_mut() {
                            Some(last) if last.changed == emphasized => last.text.push_str(text),
                            _ => segments.push(Segment { text: text.to_string(), changed: emphasized }),
                        }
                    }
                    if !segments.is_empty() {
                        out[target] = segments;
                    }
                }
            }
        }
        out
    }
}

/// True when bytes are text: UTF-8 without NUL bytes.
pub fn is_text(bytes: &[u8]) -> bool {
    !bytes.contains(&0) && std::str::from_utf8(bytes).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_lines_and_marks_changed_words() {
        let old = "one\ntwo three\nfour\n";
        let new = "one\ntwo THREE\nfour\nfive\n";
        let diff = diff_text(old, new);
        assert_eq!((diff.added, diff.removed), (2, 1));
        assert_eq!(diff.hunks.len(), 1);
        let hunk = &diff.hunks[0];
        let index = hunk.lines.iter().position(|l| l.kind == LineKind::Removed).unwrap();
        assert_eq!(hunk.lines[index].text, "two three");
        let marked = hunk.marked();
        assert!(marked[index].iter().any(|s| s.changed && s.text == "three"), "{:?}", marked[index]);
        let added = hunk.lines.iter().position(|l| l.kind == LineKind::Added).unwrap();
        assert!(marked[added].iter().any(|s| s.changed && s.text == "THREE"), "{:?}", marked[added]);
        assert_eq!(diff_text("same\n", "same\n").hunks, []);
    }

    #[test]
    fn hunks_keep_three_lines_of_context() {
        let old: String = (1..=20).map(|n| format!("line {n}\n")).collect();
        let new = old.replace("line 10\n", "line ten\n");
        let diff = diff_text(&old, &new);
        let hunk = &diff.hunks[0];
        assert_eq!((hunk.old_start, hunk.old_len, hunk.new_start, hunk.new_len), (7, 7, 7, 7));
    }
}
