//! `status`: each environment's tip, current version (SPEC 1), who and when, holds and
//! drift, and what a publish of the draft would change.

use crate::error::Error;
use crate::history;
use crate::lifecycle::Current;
use crate::model::{Chain, ObjectId, Snapshot, Version};
use crate::ops::state::read_state;
use crate::parse::is_config_path;
use crate::store::Store;
use crate::wire::{DraftStatus, EnvironmentStatus, Status};

/// Reads the state of every environment.
pub fn status(store: &Store) -> Result<Status, Error> {
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
    let draft = draft_status(store, chain, state.draft().tip.id, state.base().tip.id)?;
    Ok(Status {
        repository: store.root().display().to_string(),
        chain: chain.environments().iter().map(ToString::to_string).collect(),
        protected: chain.protected().iter().map(ToString::to_string).collect(),
        environments,
        draft,
    })
}

fn draft_status(store: &Store, chain: &Chain, draft_tip: ObjectId, base_tip: ObjectId) -> Result<DraftStatus, Error> {
    let base = chain.base().to_string();
    let draft_tree = store.commit_info(draft_tip)?.tree;
    let base_tree = store.commit_info(base_tip)?.tree;
    if draft_tree == base_tree {
        return Ok(DraftStatus {
            summary: format!("nothing to publish: {} equals {base}", chain.draft()),
            base,
            changed: false,
            changed_config_files: 0,
            changed_other_files: 0,
        });
    }
    let changed = changed_paths(&store.snapshot(base_tip)?, &store.snapshot(draft_tip)?);
    let config = changed.iter().filter(|path| is_config_path(path)).count();
    let other = changed.len() - config;
    let summary = crate::diff::summary(&crate::ops::diff::diff_commits(store, base_tip, draft_tip)?);
    Ok(DraftStatus {
        summary: format!("unpublished changes since {base}: {summary}"),
        base,
        changed: true,
        changed_config_files: config,
        changed_other_files: other,
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
