//! `status`: each environment's tip, current version, who and when, holds and
//! drift, and what a publish of the draft would change.
//!
//! I/O: git, through `store`.

use std::sync::Arc;

use super::read::{EnvState, diff_snapshots, read_state};
use crate::error::Error;
use crate::history;
use crate::lifecycle::Current;
use crate::model::{Chain, ObjectId, Snapshot, Version};
use crate::parse::is_config_path;
use crate::store::Store;
use crate::wire::{DraftStatus, EnvironmentStatus, Status};

/// Reads the state of every environment, and what the checked-out draft's work tree
/// holds that is not committed.
pub fn status(store: &Store) -> Result<Status, Error> {
    let mut status = status_with(store, &mut |tree| store.tree_snapshot(tree).map(Arc::new))?;
    if let Some(draft) = status.chain.first()
        && store.is_checked_out(draft)
    {
        status.uncommitted_files = store.dirty_files()?.len() + store.untracked_files()?.len();
    }
    Ok(status)
}

/// [`status`], taking trees' snapshots from `snapshot` (the daemon's cache of the
/// trees it has just read).
pub fn status_with(
    store: &Store,
    snapshot: &mut dyn FnMut(ObjectId) -> Result<Arc<Snapshot>, Error>,
) -> Result<Status, Error> {
    let state = read_state(store)?;
    let chain = &state.chain;
    let environments = state
        .envs
        .iter()
        .enumerate()
        .map(|(index, env)| EnvironmentStatus {
            name: env.env.to_string(),
            protected: chain.is_protected(&env.env),
            commit: env.tip.id.to_hex(),
            version: env.current.version().map(Version::number),
            actor: env.tip.message.get(history::ACTOR).map_or_else(|| env.tip.author.to_string(), str::to_string),
            time: env.tip.committer_time.to_rfc3339(),
            subject: env.tip.message.subject.clone(),
            holds: env.holds.iter().map(|v| v.number()).collect(),
            drift: index > 0 && env.current == Current::Drift,
        })
        .collect();
    let draft = draft_status(store, chain, state.draft(), state.base(), snapshot)?;
    Ok(Status {
        repository: store.root().display().to_string(),
        chain: chain.environments().iter().map(ToString::to_string).collect(),
        protected: chain.protected().iter().map(ToString::to_string).collect(),
        environments,
        draft,
        uncommitted_files: 0,
    })
}

fn draft_status(
    store: &Store,
    chain: &Chain,
    draft: &EnvState,
    base: &EnvState,
    snapshot: &mut dyn FnMut(ObjectId) -> Result<Arc<Snapshot>, Error>,
) -> Result<DraftStatus, Error> {
    let base_name = base.env.to_string();
    if draft.tip.tree == base.tip.tree {
        return Ok(DraftStatus {
            summary: format!("nothing to publish: {} equals {base_name}", chain.draft()),
            base: base_name,
            changed: false,
            changed_config_files: 0,
            changed_other_files: 0,
        });
    }
    let (base_snapshot, draft_snapshot) = (snapshot(base.tip.tree)?, snapshot(draft.tip.tree)?);
    let changed = changed_paths(&base_snapshot, &draft_snapshot);
    let config = changed.iter().filter(|path| is_config_path(path)).count();
    let summary = crate::diff::summary(&diff_snapshots(store, &base_snapshot, &draft_snapshot)?);
    Ok(DraftStatus {
        summary: format!("unpublished changes since {base_name}: {summary}"),
        base: base_name,
        changed: true,
        changed_config_files: config,
        changed_other_files: changed.len() - config,
    })
}

/// Paths added, removed or changed between two snapshots.
fn changed_paths(old: &Snapshot, new: &Snapshot) -> Vec<String> {
    let mut paths: Vec<String> = old
        .entries()
        .iter()
        .filter(|(path, entry)| new.get(path) != Some(entry))
        .map(|(path, _)| path.clone())
        .collect();
    paths.extend(new.entries().keys().filter(|path| old.get(path).is_none()).cloned());
    paths.sort();
    paths
}
