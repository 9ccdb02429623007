//! `json`: the stable shape documented in `docs/diff-json.md`, with a `format_version`.
//!
//! Pure: no I/O.

use serde_json::{Value as Json, json};

use super::super::text::Hunk;
use super::super::{Change, ChangeSet, Value};
use super::Labels;
use crate::model::toml_to_json;

pub const FORMAT_VERSION: u32 = 1;

pub fn to_json(set: &ChangeSet, labels: &Labels) -> Json {
    json!({
        "format_version": FORMAT_VERSION,
        "from": {"label": labels.from, "commit": labels.from_commit},
        "to": {"label": labels.to, "commit": labels.to_commit},
        "empty": set.is_empty(),
        "summary": super::super::summary(set),
        "assistants": set.assistants.iter().map(|assistant| json!({
            "id": assistant.id,
            "status": assistant.status,
            "changes": assistant.changes.iter().map(|c| change(c, Some(&assistant.id))).collect::<Vec<_>>(),
        })).collect::<Vec<_>>(),
        "channels": set.channels.iter().map(|c| change(c, None)).collect::<Vec<_>>(),
        "other_files": set.other_files,
    })
}

fn change(change: &Change, assistant: Option<&str>) -> Json {
    json!({
        "display_path": change.display_path(assistant),
        "file": change.file,
        "section": change.section,
        "item": change.item,
        "renamed_from": change.renamed_from,
        "path": change.path,
        "kind": change.kind,
        "old": change.old.as_ref().map(value),
        "new": change.new.as_ref().map(value),
        "lines": change.text.as_ref().map(|text| json!({"added": text.added, "removed": text.removed, "hunks": text.hunks.iter().map(hunk).collect::<Vec<_>>()})),
    })
}

fn hunk(hunk: &Hunk) -> Json {
    let lines: Vec<Json> = hunk
        .lines
        .iter()
        .zip(hunk.marked())
        .map(|(line, segments)| json!({"kind": line.kind, "old_number": line.old_number, "new_number": line.new_number, "segments": segments}))
        .collect();
    json!({"old_start": hunk.old_start, "old_len": hunk.old_len, "new_start": hunk.new_start, "new_len": hunk.new_len, "lines": lines})
}

fn value(value: &Value) -> Json {
    match value {
        Value::Toml(toml) => json!({"type": "value", "value": toml_to_json(toml)}),
        Value::Text(text) => json!({"type": "text", "text": text}),
        Value::Binary { size, id } => json!({"type": "binary", "size": size, "blob": id.to_hex()}),
    }
}
