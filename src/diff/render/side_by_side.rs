//! `side-by-side`: the older value left, the newer right, grouped by assistant and
//! section, fitted to the width: long lines wrap (by display width, so wide CJK
//! characters and combining marks line up) and are never cut. Changed words are marked
//! by colour on a terminal, else by `[-…-]` and `{+…+}` as `git diff --word-diff` does.
//!
//! Pure: no I/O.

use unicode_width::UnicodeWidthChar;

use super::super::text::{Line, LineKind, Segment, TextDiff};
use super::super::{Change, ChangeKind, ChangeSet};
use super::{Labels, Options, assistant_heading, value_text};

const INDENT: &str = "  ";
const SEPARATOR: &str = " │ ";
/// Columns of a line number and its space.
const NUMBER_WIDTH: usize = 5;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Style {
    Plain,
    Dim,
    Heading,
    Removed,
    Added,
    RemovedWord,
    AddedWord,
}

type Span = (String, Style);

struct Layout {
    left: usize,
    right: usize,
    color: bool,
}

pub fn render(set: &ChangeSet, labels: &Labels, options: Options) -> String {
    let usable = options.width.max(40) - INDENT.len() - SEPARATOR.chars().count();
    let layout = Layout { left: usable / 2, right: usable - usable / 2, color: options.color };
    let mut out = String::new();
    row(&mut out, &layout, vec![(labels.from.clone(), Style::Heading)], vec![(labels.to.clone(), Style::Heading)]);
    // The one-line summary, wrapped to the whole width.
    let full = options.width.max(40) - INDENT.len();
    for line in wrap(&[(super::super::summary(set), Style::Dim)], full, 0) {
        out.push_str(&format!("{INDENT}{}\n", paint(&line, layout.color)));
    }
    for assistant in &set.assistants {
        out.push('\n');
        heading(&mut out, &layout, &format!("━━ {}", assistant_heading(&assistant.id, assistant.status)));
        let mut section = None;
        for change in &assistant.changes {
            if section != Some(change.section) {
                section = Some(change.section);
                heading(&mut out, &layout, &format!("── {}", change.section.title()));
            }
            change_rows(&mut out, &layout, change);
        }
    }
    if !set.channels.is_empty() {
        out.push('\n');
        heading(&mut out, &layout, "━━ channels.toml");
        for change in &set.channels {
            change_rows(&mut out, &layout, change);
        }
    }
    if !set.other_files.is_empty() {
        out.push('\n');
        heading(
            &mut out,
            &layout,
            &format!("━━ {} other file{}", set.other_files.len(), if set.other_files.len() == 1 { "" } else { "s" }),
        );
        for file in &set.other_files {
            out.push_str(&format!("{INDENT}{}\n", paint(&[(file.clone(), Style::Dim)], layout.color)));
        }
    }
    out
}

fn heading(out: &mut String, layout: &Layout, text: &str) {
    out.push_str(&paint(&[(text.to_string(), Style::Heading)], layout.color));
    out.push('\n');
}

fn change_rows(out: &mut String, layout: &Layout, change: &Change) {
    let path = change.display_path(None);
    let label = if path.is_empty() { change.file.rsplit('/').next().unwrap_or(&change.file).to_string() } else { path };
    let note = match change.kind {
        ChangeKind::Added => " (added)".to_string(),
        ChangeKind::Removed => " (removed)".to_string(),
        ChangeKind::Renamed => format!(" (renamed from {})", change.renamed_from.as_deref().unwrap_or("")),
        ChangeKind::Changed => match &change.text {
            Some(text) => format!(" (+{} −{} lines)", text.added, text.removed),
            None => String::new(),
        },
    };
    out.push_str(&format!("{INDENT}{}\n", paint(&[(format!("{label}{note}"), Style::Dim)], layout.color)));
    if change.kind == ChangeKind::Renamed {
        return;
    }
    if let Some(text) = &change.text {
        text_rows(out, layout, text);
        return;
    }
    let side = |value: &Option<super::super::Value>, style: Style| -> Vec<Vec<Span>> {
        match value {
            Some(value) => value_text(value).lines().map(|line| vec![(line.to_string(), style)]).collect(),
            None => vec![vec![("—".to_string(), Style::Dim)]],
        }
    };
    let old = side(&change.old, Style::Removed);
    let new = side(&change.new, Style::Added);
    for index in 0..old.len().max(new.len()) {
        row(out, layout, old.get(index).cloned().unwrap_or_default(), new.get(index).cloned().unwrap_or_default());
    }
}

/// Hunks of a line diff: context on both sides, removed lines left paired with added
/// lines right.
fn text_rows(out: &mut String, layout: &Layout, text: &TextDiff) {
    for (index, hunk) in text.hunks.iter().enumerate() {
        if index > 0 {
            row(out, layout, vec![("┄".to_string(), Style::Dim)], vec![("┄".to_string(), Style::Dim)]);
        }
        let marked = hunk.marked();
        let lines: Vec<(&Line, &Vec<Segment>)> = hunk.lines.iter().zip(marked.iter()).collect();
        let mut index = 0;
        while index < lines.len() {
            let (line, segments) = lines[index];
            match line.kind {
                LineKind::Context => {
                    row_hanging(
                        out,
                        layout,
                        numbered(line, segments, line.old_number),
                        numbered(line, segments, line.new_number),
                        NUMBER_WIDTH,
                    );
                    index += 1;
                }
                LineKind::Added => {
                    row_hanging(out, layout, Vec::new(), numbered(line, segments, line.new_number), NUMBER_WIDTH);
                    index += 1;
                }
                LineKind::Removed => {
                    let removed_start = index;
                    while index < lines.len() && lines[index].0.kind == LineKind::Removed {
                        index += 1;
                    }
                    let added_start = index;
                    while index < lines.len() && lines[index].0.kind == LineKind::Added {
                        index += 1;
                    }
                    let (removed, added) = (&lines[removed_start..added_start], &lines[added_start..index]);
                    for pair in 0..removed.len().max(added.len()) {
                        let left = removed.get(pair).map(|(l, s)| numbered(l, s, l.old_number)).unwrap_or_default();
                        let right = added.get(pair).map(|(l, s)| numbered(l, s, l.new_number)).unwrap_or_default();
                        row_hanging(out, layout, left, right, NUMBER_WIDTH);
                    }
                }
            }
        }
    }
}

fn numbered(line: &Line, segments: &[Segment], number: Option<usize>) -> Vec<Span> {
    let (base, word) = match line.kind {
        LineKind::Context => (Style::Plain, Style::Plain),
        LineKind::Removed => (Style::Removed, Style::RemovedWord),
        LineKind::Added => (Style::Added, Style::AddedWord),
    };
    let mut spans = vec![(format!("{:>4} ", number.unwrap_or(0)), Style::Dim)];
    for segment in segments {
        spans.push((segment.text.clone(), if segment.changed { word } else { base }));
    }
    spans
}

/// One logical row: both cells wrapped to their widths, printed side by side.
fn row(out: &mut String, layout: &Layout, left: Vec<Span>, right: Vec<Span>) {
    row_hanging(out, layout, left, right, 0);
}

/// A row whose wrapped continuation lines start `hang` columns in (under the text, past
/// the line number).
fn row_hanging(out: &mut String, layout: &Layout, left: Vec<Span>, right: Vec<Span>, hang: usize) {
    let left_lines = wrap(&mark_words(left, layout.color), layout.left, hang);
    let right_lines = wrap(&mark_words(right, layout.color), layout.right, hang);
    for index in 0..left_lines.len().max(right_lines.len()) {
        let (left_text, left_width) =
            left_lines.get(index).map(|l| (paint(l, layout.color), width_of(l))).unwrap_or_default();
        let right_text = right_lines.get(index).map(|l| paint(l, layout.color)).unwrap_or_default();
        let padding = " ".repeat(layout.left.saturating_sub(left_width));
        let line = format!("{INDENT}{left_text}{padding}{SEPARATOR}{right_text}");
        out.push_str(line.trim_end());
        out.push('\n');
    }
}

/// Without colour, changed words get `[-…-]` / `{+…+}` around them.
fn mark_words(spans: Vec<Span>, color: bool) -> Vec<Span> {
    if color {
        return spans;
    }
    spans
        .into_iter()
        .map(|(text, style)| match style {
            Style::RemovedWord => (format!("[-{text}-]"), Style::Removed),
            Style::AddedWord => (format!("{{+{text}+}}"), Style::Added),
            _ => (text, style),
        })
        .collect()
}

/// A piece of a cell for wrapping: a run of spaces, or a word (its pieces may carry
/// different styles: `plain[-changed-]` is one word).
enum Token {
    Space(String, Style),
    Word(Vec<Span>),
}

/// Splits spans into visual lines of at most `width` columns, breaking at spaces: a word
/// is split only when it alone is wider than its column, and never inside a change
/// marker (`[-`, `-]`, `{+`, `+}`). Continuation lines start `hang` columns in on both
/// sides alike. Tabs become one space.
fn wrap(spans: &[Span], width: usize, hang: usize) -> Vec<Vec<Span>> {
    let width = width.max(1);
    let hang = if hang + 8 > width { 0 } else { hang };
    let mut lines: Vec<Vec<Span>> = vec![Vec::new()];
    let mut used = 0;
    let new_line = |lines: &mut Vec<Vec<Span>>, used: &mut usize| {
        if let Some(last) = lines.last_mut() {
            // A break replaces the spaces before it.
            while last.last().is_some_and(|(text, _)| text.trim().is_empty()) {
                last.pop();
            }
        }
        lines.push(if hang > 0 { vec![(" ".repeat(hang), Style::Plain)] } else { Vec::new() });
        *used = hang;
    };
    for token in tokens(spans) {
        match token {
            Token::Space(text, style) => {
                let w = text.chars().count();
                if used + w > width && used > hang {
                    new_line(&mut lines, &mut used);
                } else {
                    lines.last_mut().expect("one line at least").push((text, style));
                    used += w;
                }
            }
            Token::Word(pieces) => {
                let w = width_of(&pieces);
                if used + w > width && used > hang && hang + w <= width {
                    new_line(&mut lines, &mut used);
                }
                if used + w <= width {
                    lines.last_mut().expect("one line at least").extend(pieces);
                    used += w;
                    continue;
                }
                // Wider than a whole line: split by characters, never inside a marker.
                for (text, style) in pieces {
                    let chars: Vec<char> = text.chars().collect();
                    let mut current = String::new();
                    let mut index = 0;
                    while index < chars.len() {
                        // A marker's two characters go on one line together.
                        let take =
                            if index + 1 < chars.len() && is_marker(chars[index], chars[index + 1]) { 2 } else { 1 };
                        let piece = &chars[index..index + take];
                        let w: usize = piece.iter().map(|c| c.width().unwrap_or(0)).sum();
                        if used + w > width && used > hang {
                            if !current.is_empty() {
                                lines
                                    .last_mut()
                                    .expect("one line at least")
                                    .push((std::mem::take(&mut current), style));
                            }
                            new_line(&mut lines, &mut used);
                        }
                        current.extend(piece);
                        used += w;
                        index += take;
                    }
                    if !current.is_empty() {
                        lines.last_mut().expect("one line at least").push((current, style));
                    }
                }
            }
        }
    }
    lines
}

/// Whether two characters form a change marker.
fn is_marker(first: char, second: char) -> bool {
    matches!((first, second), ('[', '-') | ('-', ']') | ('{', '+') | ('+', '}'))
}

/// Spaces and words, in order; tabs become spaces.
fn tokens(spans: &[Span]) -> Vec<Token> {
    let mut tokens: Vec<Token> = Vec::new();
    for (text, style) in spans {
        let text = text.replace('\t', " ");
        let mut rest = text.as_str();
        while !rest.is_empty() {
            let space = rest.starts_with(' ');
            let end = rest.find(|c: char| (c == ' ') != space).unwrap_or(rest.len());
            let (piece, tail) = rest.split_at(end);
            rest = tail;
            match (space, tokens.last_mut()) {
                (true, _) => tokens.push(Token::Space(piece.to_string(), *style)),
                (false, Some(Token::Word(pieces))) => pieces.push((piece.to_string(), *style)),
                (false, _) => tokens.push(Token::Word(vec![(piece.to_string(), *style)])),
            }
        }
    }
    tokens
}

fn width_of(spans: &[Span]) -> usize {
    spans.iter().flat_map(|(text, _)| text.chars()).map(|c| c.width().unwrap_or(0)).sum()
}

fn paint(spans: &[Span], color: bool) -> String {
    use anstyle::{AnsiColor, Style as Ansi};
    let mut out = String::new();
    for (text, style) in spans {
        if !color || *style == Style::Plain {
            out.push_str(text);
            continue;
        }
        let ansi = match style {
            Style::Plain => Ansi::new(),
            Style::Dim => Ansi::new().dimmed(),
            Style::Heading => Ansi::new().bold(),
            Style::Removed => Ansi::new().fg_color(Some(AnsiColor::Red.into())),
            Style::Added => Ansi::new().fg_color(Some(AnsiColor::Green.into())),
            Style::RemovedWord => Ansi::new().bold().fg_color(Some(AnsiColor::Red.into())).underline(),
            Style::AddedWord => Ansi::new().bold().fg_color(Some(AnsiColor::Green.into())).underline(),
        };
        out.push_str(&format!("{ansi}{text}{ansi:#}"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(text: &str, width: usize) -> Vec<String> {
        wrap(&[(text.to_string(), Style::Plain)], width, 0)
            .iter()
            .map(|line| line.iter().map(|(t, _)| t.as_str()).collect())
            .collect()
    }

    #[test]
    fn cells_wrap_at_spaces_split_only_overlong_words_and_never_a_marker() {
        assert_eq!(lines("aaa bbbbbb cc", 8), ["aaa", "bbbbbb", "cc"]);
        assert_eq!(lines("abcdefghij", 4), ["abcd", "efgh", "ij"], "a word wider than the column");
        for width in 2..12 {
            for line in lines("x [-abcdefgh-] {+ijklmnop+} y", width) {
                assert!(!line.ends_with('[') && !line.ends_with('{'), "{width}: {line:?}");
                assert!(!line.starts_with(']') && !line.starts_with('}'), "{width}: {line:?}");
                assert!(line.chars().count() <= width.max(2), "{width}: {line:?}");
            }
        }
    }
}
