//! The one-line summary of a change set, stored with each version and shown in
//! the history: per assistant its changes joined by `; `, assistants joined by ` · `,
//! at most [`MAX_PARTS`] parts and about [`MAX_CHARS`] characters, then `and N more`. Deterministic: same input, same bytes.
//!
//! Pure: no I/O.

use std::collections::BTreeMap;

use super::{AssistantStatus, Change, ChangeKind, ChangeSet, Section, Value};

/// Parts shown before the rest is counted as `and N more`.
pub const MAX_PARTS: usize = 8;
/// Characters a summary may take before the rest is counted as `and N more`.
pub const MAX_CHARS: usize = 160;

/// `support-bot: instructions +3 −1 lines; tool lookup_order added; model.temperature 0.3 → 0.5`
pub fn summary(set: &ChangeSet) -> String {
    if set.is_empty() {
        return "no changes".to_string();
    }
    let mut groups: Vec<(Option<String>, Vec<String>)> = Vec::new();
    for assistant in &set.assistants {
        let parts = match assistant.status {
            AssistantStatus::Added => vec![format!("assistant {} added", assistant.id)],
            AssistantStatus::Removed => vec![format!("assistant {} removed", assistant.id)],
            AssistantStatus::Changed => assistant_parts(&assistant.changes),
        };
        let label = (assistant.status == AssistantStatus::Changed).then(|| assistant.id.clone());
        groups.push((label, parts));
    }
    if !set.channels.is_empty() {
        groups.push((None, vec!["channels.toml changed".to_string()]));
    }
    if !set.other_files.is_empty() {
        let count = set.other_files.len();
        groups.push((None, vec![format!("{count} other file{}", if count == 1 { "" } else { "s" })]));
    }
    let total: usize = groups.iter().map(|(_, parts)| parts.len()).sum();
    let mut shown = 0;
    let mut line = String::new();
    'groups: for (label, parts) in groups {
        let mut group = String::new();
        for part in parts {
            let joined = match (&label, group.is_empty()) {
                (Some(label), true) => format!("{label}: {part}"),
                (None, true) => part,
                (_, false) => format!("{group}; {part}"),
            };
            let candidate_len = line.chars().count() + 3 + joined.chars().count();
            if shown > 0 && (shown >= MAX_PARTS || candidate_len > MAX_CHARS) {
                if !group.is_empty() {
                    push_group(&mut line, &group);
                }
                break 'groups;
            }
            group = joined;
            shown += 1;
        }
        push_group(&mut line, &group);
    }
    if total > shown {
        line.push_str(&format!(" · and {} more", total - shown));
    }
    line
}

fn push_group(line: &mut String, group: &str) {
    if !line.is_empty() {
        line.push_str(" · ");
    }
    line.push_str(group);
}

fn assistant_parts(changes: &[Change]) -> Vec<String> {
    let mut parts = Vec::new();
    let mut items: BTreeMap<(Section, Option<&str>), Vec<&Change>> = BTreeMap::new();
    for change in changes {
        items.entry((change.section, change.item.as_deref())).or_default().push(change);
    }
    for ((section, item), changes) in items {
        match section {
            Section::Settings => parts.extend(changes.iter().map(|c| field_part(&c.dotted_path(), c))),
            Section::Instructions => parts.push(text_part("instructions", changes[0])),
            Section::Channels => {
                let mut envs: Vec<&str> = changes.iter().filter_map(|c| c.path.first().map(String::as_str)).collect();
                envs.dedup();
                for env in envs {
                    let in_env: Vec<&&Change> =
                        changes.iter().filter(|c| c.path.first().map(String::as_str) == Some(env)).collect();
                    match in_env.as_slice() {
                        [single] if single.path.len() == 2 => {
                            parts.push(format!("{env} channels {}", kind_word(single.kind)))
                        }
                        [single] => parts.push(field_part(&format!("{env} {}", single.dotted_path()), single)),
                        _ => parts.push(format!("{env} channels changed")),
                    }
                }
            }
            _ => {
                let name = format!("{} {}", section.noun(), item.unwrap_or_default());
                match changes.as_slice() {
                    [whole] if whole.kind == ChangeKind::Renamed => parts.push(format!(
                        "{} {} renamed to {}",
                        section.noun(),
                        whole.renamed_from.as_deref().unwrap_or(""),
                        item.unwrap_or_default()
                    )),
                    [whole] if whole.path.is_empty() && whole.kind != ChangeKind::Changed => {
                        parts.push(format!("{name} {}", kind_word(whole.kind)))
                    }
                    [whole] if whole.path.is_empty() => parts.push(text_part(&name, whole)),
                    [single] => parts.push(field_part(&format!("{name} {}", single.dotted_path()), single)),
                    many => parts.push(format!("{name} changed ({} fields)", many.len())),
                }
            }
        }
    }
    parts
}

fn kind_word(kind: ChangeKind) -> &'static str {
    match kind {
        ChangeKind::Added => "added",
        ChangeKind::Removed => "removed",
        ChangeKind::Changed => "changed",
        ChangeKind::Renamed => "renamed",
    }
}

/// `model.temperature 0.3 → 0.5` when both values are short, else `… changed`.
fn field_part(label: &str, change: &Change) -> String {
    if change.kind == ChangeKind::Changed
        && let (Some(Value::Toml(old)), Some(Value::Toml(new))) = (&change.old, &change.new)
        && change.text.is_none()
    {
        let (old, new) = (old.to_string(), new.to_string());
        if old.chars().count() <= 24 && new.chars().count() <= 24 {
            return format!("{label} {old} → {new}");
        }
    }
    if change.text.is_some() {
        return text_part(label, change);
    }
    format!("{label} {}", kind_word(change.kind))
}

/// `instructions +3 −1 lines`, or `… changed` for bytes.
fn text_part(label: &str, change: &Change) -> String {
    match &change.text {
        Some(text) => format!("{label} +{} −{} lines", text.added, text.removed),
        None => format!("{label} {}", kind_word(change.kind)),
    }
}
