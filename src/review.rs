//! A review of a config change for a pull request: what merging does, every validation
//! finding, the warnings a reviewer should see (a result equal to a version on hold, a
//! phone number or SIP header changed, an assistant added or removed, a protected
//! environment touched), and the field-level diff; rendered as markdown fitted to a
//! forge's comment limit (whole assistants are cut from the end first, then long text
//! diffs are shortened, and a footer says what was left out and how to see it all).
//!
//! Pure: no I/O. Reading the repository is `ops`'s.

use crate::diff::render::{self, Labels};
use crate::diff::{AssistantStatus, ChangeSet, Section};
use crate::validate::Diagnostic;

/// The marker a review's comment carries, so that it is found again and edited in place.
pub const MARKER: &str = "<!-- stagecraft-review -->";

/// GitHub's limit on a comment's length, in characters.
pub const GITHUB_COMMENT_LIMIT: usize = 65_536;

/// One review.
#[derive(Debug, Clone, PartialEq)]
pub struct Review {
    /// The head as named (`feature/x (1a2b3c4)`) and its commit.
    pub head: String,
    pub head_commit: String,
    /// The base as named (`draft (…)`).
    pub base: String,
    /// What merging does, one sentence.
    pub merging: String,
    /// The head tree's findings; empty when it validates.
    pub diagnostics: Vec<Diagnostic>,
    pub warnings: Vec<String>,
    /// Merge base → head.
    pub changes: ChangeSet,
    /// The command that shows everything, for the footer of a cut review.
    pub full_command: String,
}

impl Review {
    pub fn is_valid(&self) -> bool {
        self.diagnostics.is_empty()
    }

    /// The review as `--format json` and the API answer it, its markdown fitted to
    /// `max_chars`.
    pub fn view(&self, max_chars: usize) -> crate::wire::ReviewView {
        let labels = Labels { from: self.base.clone(), to: self.head.clone(), from_commit: None, to_commit: None };
        crate::wire::ReviewView {
            merging: self.merging.clone(),
            head: self.head.clone(),
            head_commit: self.head_commit.clone(),
            base: self.base.clone(),
            valid: self.is_valid(),
            diagnostics: self
                .diagnostics
                .iter()
                .map(|d| serde_json::to_value(d).expect("diagnostics serialize"))
                .collect(),
            findings: self.diagnostics.iter().map(Diagnostic::render).collect(),
            warnings: self.warnings.clone(),
            summary: crate::diff::summary(&self.changes),
            diff: render::to_json(&self.changes, &labels),
            markdown: markdown(self, max_chars),
        }
    }
}

/// The warnings that matter to a reviewer, from the change set and what the base is.
/// `held_equal` names a version on hold in the base whose tree the head has; `protected`
/// the protected environment the merge writes, if any.
pub fn warnings(changes: &ChangeSet, held_equal: Option<&str>, protected: Option<&str>) -> Vec<String> {
    let mut warnings = Vec::new();
    if let Some(version) = held_equal {
        warnings.push(format!("the result equals {version}, which is on hold there"));
    }
    if let Some(env) = protected {
        warnings.push(format!("this changes {env}, a protected environment, outside a promotion"));
    }
    for assistant in &changes.assistants {
        match assistant.status {
            AssistantStatus::Added => warnings.push(format!("assistant `{}` is added", assistant.id)),
            AssistantStatus::Removed => warnings.push(format!("assistant `{}` is removed", assistant.id)),
            _ => {}
        }
    }
    let channels = changes
        .assistants
        .iter()
        .flat_map(|a| a.changes.iter())
        .chain(changes.channels.iter())
        .any(|change| change.section == Section::Channels);
    if channels {
        warnings.push("phone numbers or SIP headers change".to_string());
    }
    warnings
}

/// The review as markdown of at most `max_chars` characters.
pub fn markdown(review: &Review, max_chars: usize) -> String {
    let full = render_with(review, &review.changes, None);
    if full.chars().count() <= max_chars {
        return full;
    }
    // Whole assistants from the end first.
    let total = review.changes.assistants.len();
    for kept in (1..total).rev() {
        let mut cut = review.changes.clone();
        let left: Vec<String> = cut.assistants.drain(kept..).map(|a| a.id).collect();
        let footer = format!("{} of {total} assistants left out: {}", left.len(), left.join(", "));
        let text = render_with(review, &cut, Some(&footer));
        if text.chars().count() <= max_chars {
            return text;
        }
    }
    // Then long text diffs, shortened to fewer and fewer lines.
    let mut cut = review.changes.clone();
    let left: Vec<String> = cut.assistants.drain(1.min(total)..).map(|a| a.id).collect();
    let mut lines = 200;
    loop {
        let shortened = shorten(&cut, lines);
        let mut footer = format!("text diffs shortened to {lines} lines");
        if !left.is_empty() {
            footer.push_str(&format!("; {} of {total} assistants left out: {}", left.len(), left.join(", ")));
        }
        let text = render_with(review, &shortened, Some(&footer));
        if text.chars().count() <= max_chars || lines == 0 {
            return if text.chars().count() <= max_chars { text } else { truncate(&text, max_chars, &footer, review) };
        }
        lines /= 2;
    }
}

/// The comment when a pull request's head could not be fetched (a fork the forge does
/// not expose, a head deleted meanwhile): what was tried and what to do.
pub fn unfetchable_markdown(head_ref: &str, head_commit: &str, from_fork: bool, reason: &str) -> String {
    let short: String = head_commit.chars().take(12).collect();
    let reason = crate::model::escape_for_display(reason).replace('`', "'");
    let mut out = format!("{MARKER}\n## stagecraft review\n\n");
    out.push_str(&format!("⚠️ **stagecraft could not review head `{short}`**: it could not fetch `{head_ref}`"));
    if from_fork {
        out.push_str(" (the change comes from a fork)");
    }
    out.push_str(&format!(".\n\n```\n{reason}\n```\n\n"));
    out.push_str(&format!(
        "Push the change to a branch of this repository, or run `stagecraft review --head {head_commit}` where the commit is at hand.\n"
    ));
    out
}

/// The review with `changes` as its diff, and a footer when something was left out.
fn render_with(review: &Review, changes: &ChangeSet, footer: Option<&str>) -> String {
    let mut out = format!("{MARKER}\n## stagecraft review\n\n**{}**\n\n", review.merging);
    out.push_str(&format!("Head `{}` against `{}`.\n\n", review.head, review.base));
    if review.is_valid() {
        out.push_str("✅ The head validates.\n");
    } else {
        out.push_str(&format!("❌ The head does not validate: {} errors.\n\n", review.diagnostics.len()));
        for diagnostic in &review.diagnostics {
            let place = format!("{}:{}:{}", diagnostic.file, diagnostic.line, diagnostic.column);
            out.push_str(&format!("- `{place}` {}", diagnostic.message));
            if let Some(hint) = &diagnostic.hint {
                out.push_str(&format!(" (hint: {hint})"));
            }
            out.push('\n');
        }
    }
    if !review.warnings.is_empty() {
        out.push_str("\n**Warnings**\n\n");
        for warning in &review.warnings {
            out.push_str(&format!("- ⚠️ {warning}\n"));
        }
    }
    out.push('\n');
    let labels = Labels { from: review.base.clone(), to: review.head.clone(), from_commit: None, to_commit: None };
    out.push_str(&render::render(
        changes,
        &labels,
        render::Format::Markdown,
        render::Options { width: 100, color: false },
    ));
    if let Some(footer) = footer {
        out.push_str(&format!("\n---\n_Cut to fit the comment: {footer}. Everything: `{}`_\n", review.full_command));
    }
    out
}

/// Every text diff kept to its first `lines` lines.
fn shorten(changes: &ChangeSet, lines: usize) -> ChangeSet {
    let mut shortened = changes.clone();
    for change in shortened.assistants.iter_mut().flat_map(|a| a.changes.iter_mut()) {
        if let Some(text) = &mut change.text {
            let mut left = lines;
            for hunk in &mut text.hunks {
                hunk.lines.truncate(left);
                left -= hunk.lines.len();
            }
            text.hunks.retain(|hunk| !hunk.lines.is_empty());
        }
    }
    shortened
}

/// The last resort: cut at a character count, saying so.
/// The last resort: the text cut short, with the footer (what was left out and the
/// command that shows everything) kept after the cut.
fn truncate(text: &str, max_chars: usize, footer: &str, review: &Review) -> String {
    let cut = format!("\n… (cut)\n\n_{footer}; the whole review: `{}`_\n", review.full_command);
    let kept: String = text.chars().take(max_chars.saturating_sub(cut.chars().count())).collect();
    format!("{kept}{cut}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diff::text::{Hunk, Line, LineKind, TextDiff};
    use crate::diff::{AssistantChanges, Change, ChangeKind, Value};

    fn rewrite(id: &str, lines: usize) -> AssistantChanges {
        let removed = (0..lines).map(|n| Line {
            kind: LineKind::Removed,
            old_number: Some(n + 1),
            new_number: None,
            text: format!("old rule {n} of {id}: answer in full sentences, politely"),
        });
        let added = (0..lines).map(|n| Line {
            kind: LineKind::Added,
            old_number: None,
            new_number: Some(n + 1),
            text: format!("new rule {n} of {id}: answer briefly"),
        });
        let hunk =
            Hunk { old_start: 1, old_len: lines, new_start: 1, new_len: lines, lines: removed.chain(added).collect() };
        AssistantChanges {
            id: id.to_string(),
            status: AssistantStatus::Changed,
            changes: vec![Change {
                file: format!("assistants/{id}/instructions.md"),
                section: Section::Instructions,
                item: None,
                renamed_from: None,
                path: Vec::new(),
                kind: ChangeKind::Changed,
                old: Some(Value::Text("old".into())),
                new: Some(Value::Text("new".into())),
                text: Some(TextDiff { added: lines, removed: lines, hunks: vec![hunk] }),
            }],
        }
    }

    fn review(changes: ChangeSet) -> Review {
        Review {
            head: "feature/x (1a2b3c4)".into(),
            head_commit: "1a2b3c4".into(),
            base: "draft (5d6e7f8)".into(),
            merging: "Merging edits the draft; the next publish would create v8 on sandbox.".into(),
            diagnostics: Vec::new(),
            warnings: Vec::new(),
            changes,
            full_command: "stagecraft review --head feature/x".into(),
        }
    }

    #[test]
    fn a_3000_line_rewrite_across_50_assistants_fits_githubs_limit_and_says_what_was_cut() {
        let changes = ChangeSet {
            assistants: (0..50).map(|a| rewrite(&format!("bot-{a:02}"), 60)).collect(),
            ..ChangeSet::default()
        };
        let review = review(changes);
        let full = render_with(&review, &review.changes, None);
        assert!(full.chars().count() > GITHUB_COMMENT_LIMIT, "the test needs a review over the limit");
        let fitted = markdown(&review, GITHUB_COMMENT_LIMIT);
        assert!(fitted.chars().count() <= GITHUB_COMMENT_LIMIT);
        assert!(fitted.starts_with(MARKER));
        assert!(fitted.contains("assistants left out: ") && fitted.contains("bot-49"), "the cut names what was left");
        assert!(fitted.contains("#### bot-00"), "whole assistants from the end first");
        assert!(fitted.contains("Everything: `stagecraft review --head feature/x`"));
    }

    #[test]
    fn one_assistant_too_long_for_the_limit_gets_its_text_shortened() {
        let review = review(ChangeSet { assistants: vec![rewrite("big", 3000)], ..ChangeSet::default() });
        let fitted = markdown(&review, 20_000);
        assert!(fitted.chars().count() <= 20_000);
        assert!(fitted.contains("text diffs shortened to"), "{}", &fitted[fitted.len().saturating_sub(300)..]);
        let small = review.clone();
        assert_eq!(markdown(&small, usize::MAX), render_with(&small, &small.changes, None), "nothing cut when it fits");
    }

    #[test]
    fn reviewers_are_warned_of_holds_protection_added_and_removed_assistants_and_numbers() {
        let mut changes = ChangeSet::default();
        changes.assistants.push(AssistantChanges {
            id: "new-bot".into(),
            status: AssistantStatus::Added,
            changes: Vec::new(),
        });
        changes.assistants.push(AssistantChanges {
            id: "old-bot".into(),
            status: AssistantStatus::Removed,
            changes: Vec::new(),
        });
        let mut numbers = rewrite("voice", 1);
        numbers.changes[0].section = Section::Channels;
        changes.assistants.push(numbers);
        let found = warnings(&changes, Some("v3"), Some("live"));
        assert_eq!(
            found,
            [
                "the result equals v3, which is on hold there",
                "this changes live, a protected environment, outside a promotion",
                "assistant `new-bot` is added",
                "assistant `old-bot` is removed",
                "phone numbers or SIP headers change",
            ]
        );
        assert!(warnings(&ChangeSet::default(), None, None).is_empty());
    }
}
