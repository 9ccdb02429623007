//! `status`: each environment's tip, current version (SPEC 1), who and when, holds and
//! drift, and what a publish of the draft would change.

use std::collections::{BTreeMap, BTreeSet};

use crate::error::Error;
use crate::history;
use crate::lifecycle::{self, CommitFacts, Current};
use crate::model::{Chain, ObjectId, Snapshot, Version};
use crate::parse::is_config_path;
use crate::store::{CommitInfo, Store};
use crate::wire::{DraftStatus, EnvironmentStatus, Status};

/// Reads the state of every environment.
pub fn status(store: &Store) -> Result<Status, Error> {
    let chain = store.chain()?;
    let tips = store.chain_tips(&chain)?;
    let versions = store.versions()?;
    let version_trees: BTreeMap<Version, ObjectId> = versions.iter().map(|(v, t)| (*v, t.tree)).collect();
    let mut tags_by_commit: BTreeMap<ObjectId, Vec<Version>> = BTreeMap::new();
    for tagged in versions.values() {
        tags_by_commit.entry(tagged.commit).or_default().push(tagged.version);
    }
    let mut environments = Vec::new();
    for (index, (env, tip)) in tips.iter().enumerate() {
        let info = store.commit_info(*tip)?;
        let is_draft = index == 0;
        let current =
            if is_draft { Current::Drift } else { current_version(store, &info, &tags_by_commit, &version_trees)? };
        let holds = if is_draft { Vec::new() } else { holds(store, &info)? };
        environments.push(EnvironmentStatus {
            name: env.to_string(),
            protected: chain.is_protected(env),
            commit: tip.to_hex(),
            version: current.version().map(Version::number),
            actor: info.message.get(history::ACTOR).map_or_else(|| info.author.to_string(), str::to_string),
            time: info.committer_time.to_rfc3339(),
            subject: info.message.subject.clone(),
            holds: holds.iter().map(|v| v.number()).collect(),
            drift: !is_draft && current == Current::Drift,
        });
    }
    let draft = draft_status(store, &chain, tips[0].1, tips[1].1)?;
    Ok(Status {
        repository: store.root().display().to_string(),
        chain: chain.environments().iter().map(ToString::to_string).collect(),
        protected: chain.protected().iter().map(ToString::to_string).collect(),
        environments,
        draft,
    })
}

/// Gathers the first-parent facts SPEC 1 needs (down to the first commit with a version
/// of its own, or whose tree differs from its parent's) and decides.
fn current_version(
    store: &Store,
    tip: &CommitInfo,
    tags_by_commit: &BTreeMap<ObjectId, Vec<Version>>,
    version_trees: &BTreeMap<Version, ObjectId>,
) -> Result<Current, Error> {
    let facts = |info: &CommitInfo| CommitFacts {
        id: info.id,
        tree: info.tree,
        trailer_version: info.message.version(),
        tags: tags_by_commit.get(&info.id).cloned().unwrap_or_default(),
    };
    let mut chain = vec![facts(tip)];
    let mut current = tip.clone();
    while chain.last().is_some_and(|last| last.trailer_version.is_none() && last.tags.is_empty()) {
        let Some(parent) = current.parents.first() else { break };
        let parent = store.commit_info(*parent)?;
        let same_tree = parent.tree == current.tree;
        chain.push(facts(&parent));
        if !same_tree {
            break;
        }
        current = parent;
    }
    Ok(lifecycle::current_version(&chain, version_trees))
}

/// The hold set from the newest commit on the first-parent chain that carries one.
fn holds(store: &Store, tip: &CommitInfo) -> Result<Vec<Version>, Error> {
    let mut current = tip.clone();
    loop {
        if let Some(holds) = current.message.holds() {
            return Ok(holds);
        }
        let Some(parent) = current.parents.first() else { return Ok(Vec::new()) };
        current = store.commit_info(*parent)?;
    }
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
    let assistants: BTreeSet<&str> =
        changed.iter().filter_map(|path| path.strip_prefix("assistants/")?.split('/').next()).collect();
    let mut parts = Vec::new();
    if config > 0 {
        let scope = if assistants.is_empty() {
            String::new()
        } else {
            format!(" ({})", assistants.into_iter().collect::<Vec<_>>().join(", "))
        };
        parts.push(format!("{config} config file{}{scope}", plural(config)));
    }
    if other > 0 {
        parts.push(format!("{other} other file{}", plural(other)));
    }
    Ok(DraftStatus {
        summary: format!("unpublished changes: {} changed since {base}", parts.join(", ")),
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

fn plural(count: usize) -> &'static str {
    if count == 1 { "" } else { "s" }
}
