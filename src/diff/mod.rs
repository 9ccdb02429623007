//! The field-level diff between two config trees: per assistant, added, removed
//! or changed; per field, its path, kind and both values. Files are compared by blob id
//! first, so a file that did not change is never read or parsed and the cost of a diff
//! follows what changed, not the size of the tree. TOML files are compared by key path
//! (tables recursively, arrays element by element); long text line by line with the
//! changed words marked; other bytes by size and id. Knowledge sources, tools,
//! guardrails and regression cases are matched by id (their file stem), so a renamed
//! file with the same content is one rename, not a removal and an addition.
//!
//! Pure: content comes through a [`BlobReader`].

pub mod apply;
pub mod render;
mod summary;
pub mod text;

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

pub use summary::summary;
pub use text::TextDiff;

use crate::model::{BlobReader, Entry, ObjectId, ReadError, Snapshot};
use crate::parse::{ASSISTANTS_DIR, CHANNELS_FILE};
use crate::validate::limits;

/// Everything that differs between two trees.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ChangeSet {
    /// Assistants with at least one change, by id.
    pub assistants: Vec<AssistantChanges>,
    /// `channels.toml` changes that belong to no assistant (a malformed file).
    pub channels: Vec<Change>,
    /// Changed paths stagecraft does not read (README, CI files, unknown files).
    pub other_files: Vec<String>,
}

/// The changes of one assistant.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AssistantChanges {
    pub id: String,
    pub status: AssistantStatus,
    /// Sorted by section, item and path.
    pub changes: Vec<Change>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AssistantStatus {
    Added,
    Removed,
    Changed,
}

/// Where in an assistant a change is, in the order reviews show them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Section {
    /// `assistant.toml`: name, description, model, settings.
    Settings,
    Instructions,
    Knowledge,
    Files,
    Tools,
    Guardrails,
    Tests,
    Channels,
}

impl Section {
    /// The singular noun used in paths and summaries (`tool lookup_order`).
    pub fn noun(self) -> &'static str {
        match self {
            Section::Settings => "settings",
            Section::Instructions => "instructions",
            Section::Knowledge => "knowledge",
            Section::Files => "file",
            Section::Tools => "tool",
            Section::Guardrails => "guardrail",
            Section::Tests => "test",
            Section::Channels => "channels",
        }
    }

    /// The heading of the section in renderings.
    pub fn title(self) -> &'static str {
        match self {
            Section::Settings => "Settings",
            Section::Instructions => "Instructions",
            Section::Knowledge => "Knowledge sources",
            Section::Files => "Files",
            Section::Tools => "Tools",
            Section::Guardrails => "Guardrails",
            Section::Tests => "Regression cases",
            Section::Channels => "Channels",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ChangeKind {
    Added,
    Removed,
    Changed,
    /// A knowledge source, tool, guardrail, case or file moved to a new id, same content.
    Renamed,
}

/// One changed field (or a whole item, when `path` is empty).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Change {
    /// The repository path of the file (the new one for a rename).
    pub file: String,
    pub section: Section,
    /// The item's id (knowledge source, tool, guardrail, case) or a path under `files/`.
    pub item: Option<String>,
    /// For a rename: the old id.
    pub renamed_from: Option<String>,
    /// The key path inside the file; array elements are their index. For channels:
    /// `[environment, assistant, field…]`.
    pub path: Vec<String>,
    pub kind: ChangeKind,
    pub old: Option<Value>,
    pub new: Option<Value>,
    /// The line diff, when both values are multi-line text.
    pub text: Option<TextDiff>,
}

/// A value on one side of a change.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Value {
    /// A TOML value: scalar, array or table.
    Toml(toml::Value),
    /// A whole text file (instructions, a text file under `files/`, an unparsable TOML file).
    Text(String),
    /// Bytes that are not text, or a file over its size limit: its size and blob id.
    Binary { size: u64, id: ObjectId },
}

impl ChangeSet {
    pub fn is_empty(&self) -> bool {
        self.assistants.is_empty() && self.channels.is_empty() && self.other_files.is_empty()
    }

    /// Only what concerns one assistant (its files and its channel bindings).
    pub fn only_assistant(mut self, id: &str) -> ChangeSet {
        self.assistants.retain(|a| a.id == id);
        self.channels.clear();
        self.other_files.clear();
        self
    }

    /// The number of field changes.
    pub fn change_count(&self) -> usize {
        self.assistants.iter().map(|a| a.changes.len()).sum::<usize>() + self.channels.len()
    }
}

impl Change {
    /// `support-bot › model › temperature`, `support-bot › tool lookup_order › http › url`.
    pub fn display_path(&self, assistant: Option<&str>) -> String {
        let mut parts: Vec<String> = assistant.map(str::to_string).into_iter().collect();
        match self.section {
            Section::Settings => {}
            Section::Instructions => parts.push("instructions".into()),
            Section::Channels => {
                parts.push("channels".into());
                if let Some(env) = self.path.first() {
                    parts.push(env.clone());
                }
                parts.extend(self.path.iter().skip(2).cloned());
                return parts.join(" › ");
            }
            section => parts.push(format!("{} {}", section.noun(), self.item.as_deref().unwrap_or(""))),
        }
        parts.extend(self.path.iter().cloned());
        parts.join(" › ")
    }

    /// `model.temperature`, the path inside the file joined by dots (empty for a whole item).
    pub fn dotted_path(&self) -> String {
        let path: &[String] =
            if self.section == Section::Channels && self.path.len() >= 2 { &self.path[2..] } else { &self.path };
        path.join(".")
    }
}

/// One side of a diff: a tree and how to read its blobs.
#[derive(Clone, Copy)]
pub struct Side<'a> {
    pub snapshot: &'a Snapshot,
    pub reader: &'a dyn BlobReader,
}

/// Diffs two trees. Only files whose blob ids differ are read.
pub fn diff(old: Side<'_>, new: Side<'_>) -> Result<ChangeSet, ReadError> {
    let mut changed: BTreeSet<&str> = BTreeSet::new();
    for (path, entry) in old.snapshot.entries() {
        if new.snapshot.get(path) != Some(entry) {
            changed.insert(path);
        }
    }
    for path in new.snapshot.entries().keys() {
        if old.snapshot.get(path).is_none() {
            changed.insert(path);
        }
    }
    let mut set = ChangeSet::default();
    if changed.is_empty() {
        return Ok(set);
    }
    let mut by_assistant: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for path in changed {
        if path == CHANNELS_FILE {
            continue;
        }
        match path.strip_prefix(ASSISTANTS_DIR).and_then(|rest| rest.split_once('/')) {
            Some((assistant, rest)) if classify(rest).is_some() => {
                by_assistant.entry(assistant).or_default().push(path)
            }
            _ => set.other_files.push(path.to_string()),
        }
    }
    for (assistant, paths) in by_assistant {
        let prefix = format!("{ASSISTANTS_DIR}{assistant}/");
        let status = match (old.snapshot.under(&prefix).next().is_some(), new.snapshot.under(&prefix).next().is_some())
        {
            (false, _) => AssistantStatus::Added,
            (_, false) => AssistantStatus::Removed,
            _ => AssistantStatus::Changed,
        };
        let changes = assistant_changes(&prefix, &paths, old, new)?;
        if !changes.is_empty() {
            set.assistants.push(AssistantChanges { id: assistant.to_string(), status, changes });
        }
    }
    if old.snapshot.get(CHANNELS_FILE) != new.snapshot.get(CHANNELS_FILE) {
        channel_changes(old, new, &mut set)?;
    }
    Ok(set)
}

/// The section and item of a path inside an assistant directory, or `None` for a file
/// stagecraft does not read (an "other file").
fn classify(rest: &str) -> Option<(Section, Option<String>)> {
    match rest {
        "assistant.toml" => return Some((Section::Settings, None)),
        "instructions.md" => return Some((Section::Instructions, None)),
        _ => {}
    }
    let (dir, item) = rest.split_once('/')?;
    let section = match dir {
        "files" => return Some((Section::Files, Some(item.to_string()))),
        "knowledge" => Section::Knowledge,
        "tools" => Section::Tools,
        "guardrails" => Section::Guardrails,
        "tests" => Section::Tests,
        _ => return None,
    };
    let stem = item.strip_suffix(".toml").filter(|stem| !stem.contains('/'))?;
    Some((section, Some(stem.to_string())))
}

fn assistant_changes(prefix: &str, paths: &[&str], old: Side<'_>, new: Side<'_>) -> Result<Vec<Change>, ReadError> {
    let mut changes = Vec::new();
    // Renames: a removed and an added item of the same section with the same blob.
    let mut renamed_to: BTreeMap<&str, &str> = BTreeMap::new();
    let removed: Vec<&str> = paths.iter().copied().filter(|p| new.snapshot.get(p).is_none()).collect();
    let added: Vec<&str> = paths.iter().copied().filter(|p| old.snapshot.get(p).is_none()).collect();
    for from in &removed {
        let (from_section, _) = classify(&from[prefix.len()..]).expect("classified before");
        if matches!(from_section, Section::Settings | Section::Instructions) {
            continue;
        }
        let from_entry = old.snapshot.get(from);
        if let Some(to) = added.iter().find(|to| {
            !renamed_to.values().any(|taken| taken == *to)
                && new.snapshot.get(to) == from_entry
                && classify(&to[prefix.len()..]).map(|c| c.0) == Some(from_section)
        }) {
            renamed_to.insert(from, to);
        }
    }
    for path in paths {
        let (section, item) = classify(&path[prefix.len()..]).expect("classified before");
        if renamed_to.values().any(|to| to == path) {
            continue;
        }
        if let Some(to) = renamed_to.get(path) {
            let (_, new_item) = classify(&to[prefix.len()..]).expect("classified before");
            changes.push(Change {
                file: to.to_string(),
                section,
                item: new_item,
                renamed_from: item,
                path: Vec::new(),
                kind: ChangeKind::Renamed,
                old: None,
                new: None,
                text: None,
            });
            continue;
        }
        let old_entry = old.snapshot.get(path);
        let new_entry = new.snapshot.get(path);
        let is_toml = path.ends_with(".toml") && section != Section::Files;
        file_changes(path, section, item, is_toml, (old_entry, old.reader), (new_entry, new.reader), &mut changes)?;
    }
    changes.sort_by(|a, b| (a.section, &a.item, &a.path).cmp(&(b.section, &b.item, &b.path)));
    Ok(changes)
}

type SideEntry<'a> = (Option<&'a Entry>, &'a dyn BlobReader);

/// The changes of one file: field by field for TOML, by line for text, by size and id
/// for other bytes.
fn file_changes(
    path: &str,
    section: Section,
    item: Option<String>,
    is_toml: bool,
    old: SideEntry<'_>,
    new: SideEntry<'_>,
    out: &mut Vec<Change>,
) -> Result<(), ReadError> {
    let limit = if is_toml {
        limits::TOML
    } else if section == Section::Instructions {
        limits::INSTRUCTIONS
    } else {
        limits::FILE
    };
    let old_content = read_content(path, old, limit)?;
    let new_content = read_content(path, new, limit)?;
    let change = |path_in_file: Vec<String>, kind: ChangeKind, old: Option<Value>, new: Option<Value>| {
        let text = match (&old, &new) {
            (Some(Value::Text(a)), Some(Value::Text(b))) => Some(text::diff_text(a, b)),
            (None, Some(Value::Text(b))) => Some(text::diff_text("", b)),
            (Some(Value::Text(a)), None) => Some(text::diff_text(a, "")),
            (Some(Value::Toml(toml::Value::String(a))), Some(Value::Toml(toml::Value::String(b))))
                if a.contains('\n') || b.contains('\n') =>
            {
                Some(text::diff_text(a, b))
            }
            _ => None,
        };
        Change {
            file: path.to_string(),
            section,
            item: item.clone(),
            renamed_from: None,
            path: path_in_file,
            kind,
            old,
            new,
            text,
        }
    };
    if is_toml {
        let old_table = old_content.as_ref().map(parse_toml);
        let new_table = new_content.as_ref().map(parse_toml);
        match (old_table, new_table) {
            (Some(Some(a)), Some(Some(b))) => {
                let mut fields = Vec::new();
                diff_tables(&a, &b, &mut Vec::new(), &mut fields);
                out.extend(
                    fields.into_iter().map(|(p, kind, o, n)| change(p, kind, o.map(Value::Toml), n.map(Value::Toml))),
                );
                return Ok(());
            }
            (None, Some(Some(b))) => {
                out.push(change(Vec::new(), ChangeKind::Added, None, Some(Value::Toml(toml::Value::Table(b)))));
                return Ok(());
            }
            (Some(Some(a)), None) => {
                out.push(change(Vec::new(), ChangeKind::Removed, Some(Value::Toml(toml::Value::Table(a))), None));
                return Ok(());
            }
            // A side that does not parse: compare the raw text.
            _ => {}
        }
    }
    let kind = match (&old_content, &new_content) {
        (None, _) => ChangeKind::Added,
        (_, None) => ChangeKind::Removed,
        _ => ChangeKind::Changed,
    };
    if old_content.is_some() || new_content.is_some() {
        out.push(change(Vec::new(), kind, old_content, new_content));
    }
    Ok(())
}

/// A file's content as a value: text when it is UTF-8 without NUL, else size and id.
/// Files over `limit` are not read.
fn read_content(path: &str, (entry, reader): SideEntry<'_>, limit: u64) -> Result<Option<Value>, ReadError> {
    let Some(entry) = entry else { return Ok(None) };
    let size = reader.size(path, entry)?;
    if size > limit {
        return Ok(Some(Value::Binary { size, id: entry.id }));
    }
    let bytes = reader.read(path, entry)?;
    if text::is_text(&bytes) {
        Ok(Some(Value::Text(String::from_utf8(bytes).expect("checked to be UTF-8"))))
    } else {
        Ok(Some(Value::Binary { size, id: entry.id }))
    }
}

fn parse_toml(content: &Value) -> Option<toml::Table> {
    match content {
        Value::Text(text) => text.parse::<toml::Table>().ok(),
        _ => None,
    }
}

type FieldChange = (Vec<String>, ChangeKind, Option<toml::Value>, Option<toml::Value>);

/// Key-path diff of two tables.
pub fn diff_tables(old: &toml::Table, new: &toml::Table, path: &mut Vec<String>, out: &mut Vec<FieldChange>) {
    let keys: BTreeSet<&String> = old.keys().chain(new.keys()).collect();
    for key in keys {
        path.push(key.clone());
        match (old.get(key), new.get(key)) {
            (Some(a), Some(b)) => diff_values(a, b, path, out),
            (Some(a), None) => out.push((path.clone(), ChangeKind::Removed, Some(a.clone()), None)),
            (None, Some(b)) => out.push((path.clone(), ChangeKind::Added, None, Some(b.clone()))),
            (None, None) => {}
        }
        path.pop();
    }
}

fn diff_values(old: &toml::Value, new: &toml::Value, path: &mut Vec<String>, out: &mut Vec<FieldChange>) {
    match (old, new) {
        (toml::Value::Table(a), toml::Value::Table(b)) => diff_tables(a, b, path, out),
        (toml::Value::Array(a), toml::Value::Array(b)) => {
            for index in 0..a.len().max(b.len()) {
                path.push(index.to_string());
                match (a.get(index), b.get(index)) {
                    (Some(x), Some(y)) => diff_values(x, y, path, out),
                    (Some(x), None) => out.push((path.clone(), ChangeKind::Removed, Some(x.clone()), None)),
                    (None, Some(y)) => out.push((path.clone(), ChangeKind::Added, None, Some(y.clone()))),
                    (None, None) => {}
                }
                path.pop();
            }
        }
        (a, b) if same_value(a, b) => {}
        (a, b) => out.push((path.clone(), ChangeKind::Changed, Some(a.clone()), Some(b.clone()))),
    }
}

/// Equality where two NaN floats are the same value.
fn same_value(a: &toml::Value, b: &toml::Value) -> bool {
    match (a, b) {
        (toml::Value::Float(x), toml::Value::Float(y)) => x == y || (x.is_nan() && y.is_nan()),
        _ => a == b,
    }
}

/// `channels.toml`: per environment and assistant, the binding's fields. A change
/// belongs to the assistant it binds.
fn channel_changes(old: Side<'_>, new: Side<'_>, set: &mut ChangeSet) -> Result<(), ReadError> {
    let read = |side: Side<'_>| -> Result<Option<Value>, ReadError> {
        read_content(CHANNELS_FILE, (side.snapshot.get(CHANNELS_FILE), side.reader), limits::TOML)
    };
    let old_content = read(old)?;
    let new_content = read(new)?;
    let old_table = old_content.as_ref().map(parse_toml);
    let new_table = new_content.as_ref().map(parse_toml);
    let (old_table, new_table) = match (old_table, new_table) {
        (Some(None), _) | (_, Some(None)) => {
            // Unparsable on one side: one text change.
            let mut changes = Vec::new();
            file_changes(
                CHANNELS_FILE,
                Section::Channels,
                None,
                false,
                (old.snapshot.get(CHANNELS_FILE), old.reader),
                (new.snapshot.get(CHANNELS_FILE), new.reader),
                &mut changes,
            )?;
            set.channels.extend(changes);
            return Ok(());
        }
        (a, b) => (a.flatten().unwrap_or_default(), b.flatten().unwrap_or_default()),
    };
    // Per environment and assistant, so that every binding change belongs to its
    // assistant; an environment table with no bindings counts as absent.
    let mut fields = Vec::new();
    let empty = toml::Table::new();
    let envs: BTreeSet<&String> = old_table.keys().chain(new_table.keys()).collect();
    for env in envs {
        let (old_env, new_env) = (old_table.get(env), new_table.get(env));
        fn as_bindings<'t>(value: Option<&'t toml::Value>, empty: &'t toml::Table) -> Option<&'t toml::Table> {
            match value {
                None => Some(empty),
                Some(toml::Value::Table(table)) => Some(table),
                Some(_) => None,
            }
        }
        let mut path = vec![env.clone()];
        match (as_bindings(old_env, &empty), as_bindings(new_env, &empty)) {
            (Some(old_bindings), Some(new_bindings)) => diff_tables(old_bindings, new_bindings, &mut path, &mut fields),
            _ => match (old_env, new_env) {
                (Some(a), Some(b)) => diff_values(a, b, &mut path, &mut fields),
                (Some(a), None) => fields.push((path, ChangeKind::Removed, Some(a.clone()), None)),
                (None, Some(b)) => fields.push((path, ChangeKind::Added, None, Some(b.clone()))),
                (None, None) => {}
            },
        }
    }
    for (path, kind, old_value, new_value) in fields {
        let change = Change {
            file: CHANNELS_FILE.to_string(),
            section: Section::Channels,
            item: None,
            renamed_from: None,
            path,
            kind,
            old: old_value.map(Value::Toml),
            new: new_value.map(Value::Toml),
            text: None,
        };
        match change.path.get(1).filter(|_| change.path.len() >= 2) {
            Some(assistant) => {
                let position = set.assistants.iter().position(|a| &a.id == assistant);
                let entry = match position {
                    Some(index) => &mut set.assistants[index],
                    None => {
                        set.assistants.push(AssistantChanges {
                            id: assistant.clone(),
                            status: AssistantStatus::Changed,
                            changes: Vec::new(),
                        });
                        set.assistants.last_mut().expect("just pushed")
                    }
                };
                entry.changes.push(change);
            }
            None => set.channels.push(change),
        }
    }
    set.assistants.sort_by(|a, b| a.id.cmp(&b.id));
    Ok(())
}
