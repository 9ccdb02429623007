//! `revert vN [--assistant ID] [--preview]`: removes the changes publish vN introduced
//! from the draft by a three-way merge: base = vN's tree, ours = the draft, theirs = the
//! tree just before vN (the first parent of its publish commit). TOML merges by key
//! path, text by line; a file vN added is deleted and one it deleted comes back, unless
//! the draft changed it since (a conflict). Any conflict writes nothing. Nothing reaches
//! an environment until the next publish.
//!
//! I/O: git, through `store`.

use std::collections::{BTreeMap, BTreeSet};

use super::apply::{Done, WriteOptions, finish};
use super::read::{diff_snapshots, read_state};
use crate::error::Error;
use crate::identity::Identity;
use crate::lifecycle::plan::{DraftFacts, Plan, check_revertible, plan_revert};
use crate::merge::{self, Conflict};
use crate::model::{BlobReader, Entry, EntryKind, Snapshot, Version};
use crate::parse::{self, ASSISTANTS_DIR, CHANNELS_FILE};
use crate::store::Store;

/// Reads once, merges (writing the merged blobs, which nothing references until the
/// commit) and plans the revert.
pub fn plan(
    store: &Store,
    identity: &Identity,
    version: Version,
    assistant: Option<&str>,
    options: &WriteOptions,
) -> Result<Plan, Error> {
    let state = read_state(store)?;
    let draft = state.draft();
    let tagged = state.version(store, version)?;
    check_revertible(version)?;
    let publish = store.commit_info(tagged.commit)?;
    let Some(before) = publish.parents.first().copied() else {
        return Err(check_revertible(Version::FIRST).expect_err("the first version is refused"));
    };
    let base = store.snapshot(tagged.commit)?;
    let ours = store.snapshot(draft.tip.id)?;
    let theirs = store.snapshot(before)?;
    if let Some(id) = assistant {
        let prefix = format!("{ASSISTANTS_DIR}{id}/");
        if [&base, &ours, &theirs].iter().all(|s| s.under(&prefix).next().is_none()) {
            return Err(Error::NotFound {
                what: "assistant",
                name: id.to_string(),
                hint: "name an assistant that the version or the draft has".into(),
            });
        }
    }
    let merged = merge_trees(store, &base, &ours, &theirs, assistant)?
        .map_err(|conflicts| Error::MergeConflict { version: version.to_string(), conflicts })?;
    let (diagnostics, changes) = if merged == ours {
        (Vec::new(), Default::default())
    } else {
        let (_, diagnostics) = parse::load(&merged, &store.blobs(), &state.chain);
        (diagnostics, diff_snapshots(store, &ours, &merged)?)
    };
    let draft_facts = draft.facts();
    let facts = DraftFacts {
        chain: &state.chain,
        draft: &draft_facts,
        version,
        assistant,
        ours: &ours,
        new: merged,
        diagnostics: &diagnostics,
        changes,
    };
    plan_revert(facts, &options.request(identity))
}

/// Reverts (plans and applies; only plans with `options.dry_run`).
pub fn revert(
    store: &Store,
    identity: &Identity,
    version: Version,
    assistant: Option<&str>,
    options: &WriteOptions,
) -> Result<Done, Error> {
    let plan = plan(store, identity, version, assistant, options)?;
    finish(store, identity, plan, options)
}

/// The merged tree, or the conflicts; new blobs are written to the object database (a
/// failure to write one is an I/O error, not a conflict).
fn merge_trees(
    store: &Store,
    base: &Snapshot,
    ours: &Snapshot,
    theirs: &Snapshot,
    assistant: Option<&str>,
) -> Result<Result<Snapshot, Vec<Conflict>>, Error> {
    let in_scope = |path: &str| match assistant {
        None => true,
        Some(id) => path.starts_with(&format!("{ASSISTANTS_DIR}{id}/")) || path == CHANNELS_FILE,
    };
    let paths: BTreeSet<&String> =
        base.entries().keys().chain(ours.entries().keys()).chain(theirs.entries().keys()).collect();
    let blobs = store.blobs();
    let read =
        |path: &str, entry: &Entry| blobs.read(path, entry).map(|bytes| String::from_utf8(bytes).ok()).ok().flatten();
    let mut result: BTreeMap<String, Entry> = ours.entries().clone();
    let mut conflicts = Vec::new();
    for path in paths.into_iter().filter(|p| in_scope(p)) {
        let (b, o, t) = (base.get(path), ours.get(path), theirs.get(path));
        if o == t || b == t {
            continue;
        }
        // With --assistant, channels.toml is merged field by field so that only that
        // assistant's bindings change.
        let scoped_channels = path == CHANNELS_FILE && assistant.is_some();
        if b == o && !scoped_channels {
            match t {
                Some(entry) => result.insert(path.clone(), *entry),
                None => result.remove(path),
            };
            continue;
        }
        let texts = (b.and_then(|e| read(path, e)), o.and_then(|e| read(path, e)), t.and_then(|e| read(path, e)));
        let merged = match (assistant, b, o, t, texts) {
            (Some(id), ..) if scoped_channels => {
                let text = |entry: Option<&Entry>| entry.and_then(|e| read(path, e)).unwrap_or_default();
                merge_bindings(id, &text(b), &text(o), &text(t))?
            }
            (_, Some(_), Some(_), Some(_), (Some(base_text), Some(ours_text), Some(theirs_text))) => {
                if path.ends_with(".toml") {
                    merge::merge_toml(path, &base_text, &ours_text, &theirs_text, &|_| true)
                } else {
                    merge::merge_text(path, &base_text, &ours_text, &theirs_text)
                }
            }
            (_, _, _, _, (base_text, ours_text, theirs_text)) => {
                let describe = |entry: Option<&Entry>, text: Option<String>| match (entry, text) {
                    (None, _) => String::new(),
                    (Some(_), Some(text)) => text,
                    (Some(entry), None) => format!("<binary, blob {}>", entry.id.short()),
                };
                Err(vec![Conflict {
                    file: path.clone(),
                    field: "(whole file)".into(),
                    lines: None,
                    base: describe(b, base_text),
                    ours: describe(o, ours_text),
                    theirs: describe(t, theirs_text),
                }])
            }
        };
        match merged {
            Ok(text) => {
                let id = store.write_blob(text.as_bytes())?;
                result.insert(path.clone(), Entry { id, kind: o.map_or(EntryKind::File, |e| e.kind) });
            }
            Err(mut found) => conflicts.append(&mut found),
        }
    }
    Ok(if conflicts.is_empty() { Ok(Snapshot::new(result)) } else { Err(conflicts) })
}

/// One assistant's bindings in `channels.toml` (`--assistant`): taken from before the
/// version when the draft has not changed them since, a conflict when both changed them.
/// A `channels.toml` that does not parse is an error, never taken as empty.
fn merge_bindings(
    assistant: &str,
    base: &str,
    ours: &str,
    theirs: &str,
) -> Result<Result<String, Vec<Conflict>>, Error> {
    let bindings = |text: &str, side: &str| -> Result<BTreeMap<String, toml::Value>, Error> {
        let table: toml::Table = text.parse().map_err(|e: toml::de::Error| Error::Usage {
            message: format!(
                "cannot revert the bindings of {assistant}: {CHANNELS_FILE} in {side} does not parse: {}",
                e.message()
            ),
            hint: Some(format!("fix {CHANNELS_FILE} on the draft, or revert without --assistant")),
        })?;
        Ok(table
            .iter()
            .filter_map(|(env, value)| Some((env.clone(), value.as_table()?.get(assistant)?.clone())))
            .collect())
    };
    let (base_bindings, ours_bindings, theirs_bindings) =
        (bindings(base, "the version")?, bindings(ours, "the draft")?, bindings(theirs, "the version before")?);
    let conflict = |reason: String| {
        vec![Conflict {
            file: CHANNELS_FILE.into(),
            field: format!("bindings of {assistant}"),
            lines: None,
            base: format!("{base_bindings:?}"),
            ours: reason,
            theirs: format!("{theirs_bindings:?}"),
        }]
    };
    if ours_bindings == theirs_bindings || theirs_bindings == base_bindings {
        return Ok(Ok(ours.to_string()));
    }
    if ours_bindings != base_bindings {
        return Ok(Err(conflict(format!("{ours_bindings:?}"))));
    }
    Ok(merge::replace_bindings(ours, theirs, assistant).map_err(conflict))
}
