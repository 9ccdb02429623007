//! `html`: the side-by-side comparison of the dashboard, old left and new right, only
//! the changed fields, grouped by assistant and section, changed words marked with
//! `<del>` and `<ins>`. Every value is escaped (maud escapes whatever it interpolates);
//! the layout (two columns, stacked on narrow screens) is the stylesheet's.
//!
//! Pure: no I/O.

use maud::{Markup, html};

use super::super::text::{LineKind, Segment, TextDiff};
use super::super::{Change, ChangeKind, ChangeSet};
use super::{Labels, assistant_heading, value_text};

/// The comparison, with its summary; "No differences" when there are none.
pub fn render(set: &ChangeSet, labels: &Labels) -> Markup {
    let summary = super::super::summary(set);
    html! {
        div.compare {
            div.compare-head {
                span.old-label { (labels.from) }
                span.new-label { (labels.to) }
            }
            p.summary { (summary) }
            @if set.assistants.is_empty() && set.channels.is_empty() && set.other_files.is_empty() {
                p.empty { "No differences." }
            }
            @for assistant in &set.assistants {
                section.assistant {
                    h3 { (assistant_heading(&assistant.id, assistant.status)) }
                    @let sections = group(&assistant.changes);
                    @for (title, changes) in sections {
                        h4 { (title) }
                        @for change in changes { (change_block(change)) }
                    }
                }
            }
            @if !set.channels.is_empty() {
                section.assistant {
                    h3 { "channels.toml" }
                    @for change in &set.channels { (change_block(change)) }
                }
            }
            @if !set.other_files.is_empty() {
                section.assistant {
                    h3 { (set.other_files.len()) " other file(s)" }
                    ul { @for file in &set.other_files { li { code { (file) } } } }
                }
            }
        }
    }
}

/// Changes grouped by section, in order.
fn group(changes: &[Change]) -> Vec<(&'static str, Vec<&Change>)> {
    let mut groups: Vec<(&'static str, Vec<&Change>)> = Vec::new();
    for change in changes {
        let title = change.section.title();
        match groups.last_mut() {
            Some((last, list)) if *last == title => list.push(change),
            _ => groups.push((title, vec![change])),
        }
    }
    groups
}

fn change_block(change: &Change) -> Markup {
    let path = change.display_path(None);
    let label = if path.is_empty() { change.file.rsplit('/').next().unwrap_or(&change.file).to_string() } else { path };
    let note = match change.kind {
        ChangeKind::Added => "added".to_string(),
        ChangeKind::Removed => "removed".to_string(),
        ChangeKind::Renamed => format!("renamed from {}", change.renamed_from.as_deref().unwrap_or("")),
        ChangeKind::Changed => match &change.text {
            Some(text) => format!("+{} −{} lines", text.added, text.removed),
            None => "changed".to_string(),
        },
    };
    html! {
        div.change {
            div.field { code { (label) } " " span.note { (note) } }
            @if change.kind != ChangeKind::Renamed {
                @if let Some(text) = &change.text {
                    (text_rows(text))
                } @else {
                    div.pair {
                        div.old { @match &change.old { Some(v) => pre { (value_text(v)) }, None => span.none { "—" } } }
                        div.new { @match &change.new { Some(v) => pre { (value_text(v)) }, None => span.none { "—" } } }
                    }
                }
            }
        }
    }
}

fn segments(list: &[Segment], changed_tag: &str) -> Markup {
    html! {
        @for segment in list {
            @if segment.changed {
                @if changed_tag == "del" { del { (segment.text) } } @else { ins { (segment.text) } }
            } @else { (segment.text) }
        }
    }
}

/// A line diff: context on both sides, each run of removed lines paired row by row with
/// the run of added lines that follows it (old left, new right).
fn text_rows(text: &TextDiff) -> Markup {
    html! {
        div.lines {
            @for hunk in &text.hunks {
                @let marked = hunk.marked();
                @let lines: Vec<_> = hunk.lines.iter().zip(marked.iter()).collect();
                div.hunk {
                    @for row in rows(&lines) {
                        @match row {
                            Row::Context(line) => div.pair.context {
                                div.old { span.num { (line.old_number.unwrap_or(0)) } (line.text) }
                                div.new { span.num { (line.new_number.unwrap_or(0)) } (line.text) }
                            },
                            Row::Changed(old, new) => div.pair {
                                @match old {
                                    Some((line, parts)) => div.old.removed { span.num { (line.old_number.unwrap_or(0)) } (segments(parts, "del")) },
                                    None => div.old.blank {},
                                }
                                @match new {
                                    Some((line, parts)) => div.new.added { span.num { (line.new_number.unwrap_or(0)) } (segments(parts, "ins")) },
                                    None => div.new.blank {},
                                }
                            },
                        }
                    }
                }
            }
        }
    }
}

type Marked<'a> = (&'a super::super::text::Line, &'a Vec<Segment>);

enum Row<'a> {
    Context(&'a super::super::text::Line),
    Changed(Option<Marked<'a>>, Option<Marked<'a>>),
}

/// Context lines as they are; a run of removed lines and the added run after it zipped.
fn rows<'a>(lines: &[(&'a super::super::text::Line, &'a Vec<Segment>)]) -> Vec<Row<'a>> {
    let mut rows = Vec::new();
    let mut index = 0;
    while index < lines.len() {
        let (line, _) = lines[index];
        if line.kind == LineKind::Context {
            rows.push(Row::Context(line));
            index += 1;
            continue;
        }
        let removed: Vec<Marked<'a>> =
            lines[index..].iter().take_while(|(l, _)| l.kind == LineKind::Removed).map(|(l, p)| (*l, *p)).collect();
        index += removed.len();
        let added: Vec<Marked<'a>> =
            lines[index..].iter().take_while(|(l, _)| l.kind == LineKind::Added).map(|(l, p)| (*l, *p)).collect();
        index += added.len();
        for n in 0..removed.len().max(added.len()) {
            rows.push(Row::Changed(removed.get(n).copied(), added.get(n).copied()));
        }
    }
    rows
}
