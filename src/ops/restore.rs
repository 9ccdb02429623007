//! `restore vN [--assistant ID]`: the draft becomes the snapshot of vN, whole, or for one
//! assistant only (its directory and its `channels.toml` tables), by a new commit: the
//! "return to an earlier configuration" of the product documents, reviewed as a diff and
//! published like any change.
//!
//! I/O: git, through `store`.

use std::collections::BTreeMap;

use super::apply::{Done, WriteOptions, finish};
use super::read::{diff_snapshots, read_state};
use crate::error::Error;
use crate::identity::Identity;
use crate::lifecycle::plan::{DraftFacts, Plan, plan_restore};
use crate::model::{Entry, Snapshot, Version};
use crate::parse::{ASSISTANTS_DIR, CHANNELS_FILE};
use crate::store::Store;

/// Reads once and plans the restore.
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
    let draft_snapshot = store.snapshot(draft.tip.id)?;
    let version_snapshot = store.snapshot(tagged.commit)?;
    let new_snapshot = match assistant {
        None => version_snapshot,
        Some(id) => restore_assistant(store, &draft_snapshot, &version_snapshot, id)?,
    };
    let changes = diff_snapshots(store, &draft_snapshot, &new_snapshot)?;
    let draft_facts = draft.facts();
    let facts = DraftFacts {
        chain: &state.chain,
        draft: &draft_facts,
        version,
        assistant,
        ours: &draft_snapshot,
        new: new_snapshot,
        diagnostics: &[],
        changes,
    };
    plan_restore(facts, &options.request(identity))
}

/// Restores (plans and applies; only plans with `options.dry_run`).
pub fn restore(
    store: &Store,
    identity: &Identity,
    version: Version,
    assistant: Option<&str>,
    options: &WriteOptions,
) -> Result<Done, Error> {
    let plan = plan(store, identity, version, assistant, options)?;
    finish(store, identity, plan, options)
}

/// The draft with one assistant's directory and channel bindings taken from the version.
fn restore_assistant(store: &Store, draft: &Snapshot, version: &Snapshot, id: &str) -> Result<Snapshot, Error> {
    let prefix = format!("{ASSISTANTS_DIR}{id}/");
    if draft.under(&prefix).next().is_none() && version.under(&prefix).next().is_none() {
        let mut known: Vec<&str> = draft
            .entries()
            .keys()
            .chain(version.entries().keys())
            .filter_map(|p| p.strip_prefix(ASSISTANTS_DIR)?.split_once('/').map(|(a, _)| a))
            .collect();
        known.sort();
        known.dedup();
        return Err(Error::NotFound {
            what: "assistant",
            name: id.to_string(),
            hint: format!("the assistants are: {}", known.join(", ")),
        });
    }
    let mut entries: BTreeMap<String, Entry> =
        draft.entries().iter().filter(|(path, _)| !path.starts_with(&prefix)).map(|(p, e)| (p.clone(), *e)).collect();
    entries.extend(version.under(&prefix).map(|(p, e)| (p.clone(), *e)));
    let blobs = store.blobs();
    let read = |snapshot: &Snapshot| -> Result<Option<String>, Error> {
        match snapshot.get(CHANNELS_FILE) {
            None => Ok(None),
            Some(entry) => {
                let bytes = crate::model::BlobReader::read(&blobs, CHANNELS_FILE, entry)?;
                Ok(Some(String::from_utf8_lossy(&bytes).into_owned()))
            }
        }
    };
    let (draft_channels, version_channels) = (read(draft)?, read(version)?);
    if draft_channels != version_channels {
        let merged = crate::merge::replace_bindings(
            draft_channels.as_deref().unwrap_or(""),
            version_channels.as_deref().unwrap_or(""),
            id,
        )
        .map_err(|reason| Error::Usage {
            message: format!("cannot restore the channels of {id}: {reason}"),
            hint: Some("fix channels.toml on the draft first".into()),
        })?;
        if Some(&merged) != draft_channels.as_ref() {
            let blob = store.write_blob(merged.as_bytes())?;
            entries.insert(CHANNELS_FILE.to_string(), Entry { id: blob, kind: crate::model::EntryKind::File });
        }
    }
    Ok(Snapshot::new(entries))
}
