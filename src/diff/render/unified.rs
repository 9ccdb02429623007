//! `unified`: the one-line summary as `@@ summary @@`, then per field an `@@ path @@`
//! header, `-` the old value, `+` the new; text as unified hunks. Plain text, no colour, stable for scripts and snapshots.
//!
//! Pure: no I/O.

use super::super::text::LineKind;
use super::super::{Change, ChangeKind, ChangeSet};
use super::{Labels, value_text};

pub fn render(set: &ChangeSet, labels: &Labels) -> String {
    let mut out = format!("--- {}\n+++ {}\n@@ summary @@ {}\n", labels.from, labels.to, super::super::summary(set));
    for assistant in &set.assistants {
        for change in &assistant.changes {
            change_block(&mut out, change, Some(&assistant.id));
        }
    }
    for change in &set.channels {
        change_block(&mut out, change, None);
    }
    for file in &set.other_files {
        out.push_str(&format!("@@ other file {file} @@\n"));
    }
    out
}

fn change_block(out: &mut String, change: &Change, assistant: Option<&str>) {
    let path = change.display_path(assistant);
    if change.kind == ChangeKind::Renamed {
        out.push_str(&format!("@@ {path} @@ renamed from {}\n", change.renamed_from.as_deref().unwrap_or("")));
        return;
    }
    if let Some(text) = &change.text {
        out.push_str(&format!("@@ {path} @@ +{} −{} lines\n", text.added, text.removed));
        for hunk in &text.hunks {
            out.push_str(&format!("@@ -{},{} +{},{} @@\n", hunk.old_start, hunk.old_len, hunk.new_start, hunk.new_len));
            for line in &hunk.lines {
                let mark = match line.kind {
                    LineKind::Context => ' ',
                    LineKind::Removed => '-',
                    LineKind::Added => '+',
                };
                out.push_str(&format!("{mark}{}\n", line.text));
            }
        }
        return;
    }
    out.push_str(&format!("@@ {path} @@\n"));
    if let Some(old) = &change.old {
        for line in value_text(old).lines() {
            out.push_str(&format!("-{line}\n"));
        }
    }
    if let Some(new) = &change.new {
        for line in value_text(new).lines() {
            out.push_str(&format!("+{line}\n"));
        }
    }
}
