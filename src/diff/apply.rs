//! Applies a change set to the files of the old tree and gives the files of the new
//! one: the oracle of the property tests (the diff of a → b applied to a gives b) and a
//! check that every change carries what it claims. Pure.

use std::collections::BTreeMap;

use super::{ChangeKind, ChangeSet, Section, Value};

/// A file's content as the diff sees it.
#[derive(Debug, Clone, PartialEq)]
pub enum FileValue {
    Toml(toml::Table),
    Text(String),
}

/// Why a change could not be applied: the change set does not fit the files.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("cannot apply the change to {file} at `{path}`: {reason}")]
pub struct ApplyError {
    pub file: String,
    pub path: String,
    pub reason: &'static str,
}

/// Applies `set` to `files` (path → content).
pub fn apply(files: &BTreeMap<String, FileValue>, set: &ChangeSet) -> Result<BTreeMap<String, FileValue>, ApplyError> {
    let mut files = files.clone();
    let mut changes: Vec<&super::Change> =
        set.assistants.iter().flat_map(|a| a.changes.iter()).chain(set.channels.iter()).collect();
    // Removals last and deepest array index first, so indices stay valid.
    changes.sort_by(|a, b| {
        let (a_removed, b_removed) = (a.kind == ChangeKind::Removed, b.kind == ChangeKind::Removed);
        a_removed.cmp(&b_removed).then_with(|| {
            let order = (&a.file, numeric_path(&a.path)).cmp(&(&b.file, numeric_path(&b.path)));
            if a_removed { order.reverse() } else { order }
        })
    });
    for change in changes {
        let error = |reason| ApplyError { file: change.file.clone(), path: change.path.join("."), reason };
        if change.kind == ChangeKind::Renamed {
            let from = renamed_source(
                &change.file,
                change.section,
                change.renamed_from.as_deref().unwrap_or(""),
                change.item.as_deref().unwrap_or(""),
            );
            let content = files.remove(&from).ok_or_else(|| error("the renamed file is missing"))?;
            files.insert(change.file.clone(), content);
            continue;
        }
        if change.path.is_empty() {
            match &change.new {
                None => {
                    files.remove(&change.file).ok_or_else(|| error("the removed file is missing"))?;
                }
                Some(Value::Toml(toml::Value::Table(table))) => {
                    files.insert(change.file.clone(), FileValue::Toml(table.clone()));
                }
                Some(Value::Text(text)) => {
                    files.insert(change.file.clone(), FileValue::Text(text.clone()));
                }
                Some(_) => return Err(error("binary content cannot be applied")),
            }
            continue;
        }
        let entry = files.entry(change.file.clone()).or_insert_with(|| FileValue::Toml(toml::Table::new()));
        let FileValue::Toml(table) = entry else { return Err(error("a field change on a text file")) };
        let new = match &change.new {
            Some(Value::Toml(value)) => Some(value.clone()),
            None => None,
            Some(_) => return Err(error("a field's new value is not TOML")),
        };
        set_path(table, &change.path, new).map_err(error)?;
    }
    // An environment table left with no bindings counts as absent (see `diff`).
    // An empty channels.toml binds nothing, like none at all.
    if let Some(FileValue::Toml(channels)) = files.get_mut(crate::parse::CHANNELS_FILE) {
        channels.retain(|_, bindings| !matches!(bindings, toml::Value::Table(table) if table.is_empty()));
        if channels.is_empty() && set.assistants.iter().flat_map(|a| &a.changes).any(|c| c.section == Section::Channels)
        {
            files.remove(crate::parse::CHANNELS_FILE);
        }
    }
    Ok(files)
}

/// The path before a rename: the same directory with the old id.
fn renamed_source(file: &str, section: Section, from: &str, to: &str) -> String {
    let suffix = if section == Section::Files { to.to_string() } else { format!("{to}.toml") };
    let replacement = if section == Section::Files { from.to_string() } else { format!("{from}.toml") };
    format!("{}{replacement}", file.strip_suffix(&suffix).unwrap_or(file))
}

fn numeric_path(path: &[String]) -> Vec<(u64, String)> {
    path.iter().map(|p| (p.parse::<u64>().unwrap_or(0), p.clone())).collect()
}

fn set_path(table: &mut toml::Table, path: &[String], value: Option<toml::Value>) -> Result<(), &'static str> {
    let (first, rest) = path.split_first().ok_or("empty path")?;
    if rest.is_empty() {
        match value {
            Some(value) => {
                table.insert(first.clone(), value);
            }
            None => {
                table.remove(first).ok_or("the removed key is missing")?;
            }
        }
        return Ok(());
    }
    let child = table.entry(first.clone()).or_insert_with(|| toml::Value::Table(toml::Table::new()));
    set_in_value(child, rest, value)
}

fn set_in_value(target: &mut toml::Value, path: &[String], value: Option<toml::Value>) -> Result<(), &'static str> {
    match target {
        toml::Value::Table(table) => set_path(table, path, value),
        toml::Value::Array(array) => {
            let (first, rest) = path.split_first().ok_or("empty path")?;
            let index: usize = first.parse().map_err(|_| "an array index is not a number")?;
            if rest.is_empty() {
                match value {
                    Some(value) if index < array.len() => array[index] = value,
                    Some(value) if index == array.len() => array.push(value),
                    Some(_) => return Err("an array index is past the end"),
                    None if index < array.len() => {
                        array.remove(index);
                    }
                    None => return Err("the removed element is missing"),
                }
                Ok(())
            } else {
                let element = array.get_mut(index).ok_or("an array index is past the end")?;
                set_in_value(element, rest, value)
            }
        }
        _ => Err("a path goes through a scalar"),
    }
}
