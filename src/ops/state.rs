//! Reads what the lifecycle decides on: every environment's tip, current version (SPEC 1)
//! and hold set, the versions (tags), and which versions an environment has deployed.

use std::collections::{BTreeMap, BTreeSet};

use crate::error::Error;
use crate::lifecycle::{self, CommitFacts, Current};
use crate::model::{Chain, EnvName, ObjectId, Version};
use crate::store::{CommitInfo, Store, TaggedVersion};

/// One environment now.
#[derive(Debug, Clone)]
pub struct EnvState {
    pub env: EnvName,
    pub tip: CommitInfo,
    /// Always `Drift` for the draft, which holds no version.
    pub current: Current,
    pub holds: Vec<Version>,
}

/// The repository now.
#[derive(Debug, Clone)]
pub struct RepoState {
    pub chain: Chain,
    pub envs: Vec<EnvState>,
    pub versions: BTreeMap<Version, TaggedVersion>,
}

impl RepoState {
    pub fn env(&self, env: &EnvName) -> &EnvState {
        let index = self.chain.position(env).expect("environments come from the chain");
        &self.envs[index]
    }
    pub fn draft(&self) -> &EnvState {
        &self.envs[0]
    }
    pub fn base(&self) -> &EnvState {
        &self.envs[1]
    }
    pub fn latest_version(&self) -> Option<Version> {
        self.versions.keys().next_back().copied()
    }
    /// The environment named `name`, or `not_found` naming the chain.
    pub fn env_named(&self, name: &str) -> Result<&EnvState, Error> {
        self.envs.iter().find(|e| e.env.as_str() == name).ok_or_else(|| Error::NotFound {
            what: "environment",
            name: name.to_string(),
            hint: format!("the environments are {}", self.chain.display_arrows()),
        })
    }
    /// The version named `vN`, or `not_found` naming the latest.
    pub fn version(&self, version: Version) -> Result<&TaggedVersion, Error> {
        self.versions.get(&version).ok_or_else(|| Error::NotFound {
            what: "version",
            name: version.to_string(),
            hint: format!(
                "the latest version is {}; `stagecraft history` lists them",
                self.latest_version().map_or("none".into(), |v| v.to_string())
            ),
        })
    }
}

/// Reads the state of every environment.
pub fn read_state(store: &Store) -> Result<RepoState, Error> {
    let chain = store.chain()?;
    let tips = store.chain_tips(&chain)?;
    let mut versions = store.versions()?;
    // Publishes cut off before their tag (or racing with this read) count as the
    // versions their trailers name; reconciliation will tag them.
    for info in untagged_chain(store, tips[1].1, &tags_by_commit(&versions))? {
        if let Some(version) = info.message.version()
            && info.message.get(crate::history::ACTION) == Some("publish")
        {
            versions.entry(version).or_insert(TaggedVersion { version, commit: info.id, tree: info.tree });
        }
    }
    let version_trees: BTreeMap<Version, ObjectId> = versions.iter().map(|(v, t)| (*v, t.tree)).collect();
    let tags = tags_by_commit(&versions);
    let mut envs = Vec::new();
    for (index, (env, tip)) in tips.into_iter().enumerate() {
        let tip = store.commit_info(tip)?;
        let (current, holds) = if index == 0 {
            (Current::Drift, Vec::new())
        } else {
            (current_version(store, &tip, &tags, &version_trees)?, holds(store, &tip)?)
        };
        envs.push(EnvState { env, tip, current, holds });
    }
    Ok(RepoState { chain, envs, versions })
}

/// The second environment's first-parent chain from `tip` down to (not including) the
/// newest commit a tag names, newest first.
pub fn untagged_chain(
    store: &Store,
    tip: ObjectId,
    tagged: &BTreeMap<ObjectId, Vec<Version>>,
) -> Result<Vec<CommitInfo>, Error> {
    let mut chain = Vec::new();
    let mut next = Some(tip);
    while let Some(id) = next {
        if tagged.contains_key(&id) {
            break;
        }
        let info = store.commit_info(id)?;
        next = info.parents.first().copied();
        chain.push(info);
    }
    Ok(chain)
}

/// Reads the state after reconciling the second environment (SPEC 3: every write first
/// reconciles), so versions published but cut off before their tag, and forge merges,
/// have their tags. Returns what reconciliation tagged.
pub fn read_reconciled(store: &Store) -> Result<(RepoState, Vec<Version>), Error> {
    let state = read_state(store)?;
    let reconciled = crate::ops::reconcile::reconcile(store, &state, true)?;
    let tagged: Vec<Version> = reconciled.tagged.iter().map(|(v, _)| *v).collect();
    if tagged.is_empty() {
        return Ok((state, tagged));
    }
    Ok((read_state(store)?, tagged))
}

pub fn tags_by_commit(versions: &BTreeMap<Version, TaggedVersion>) -> BTreeMap<ObjectId, Vec<Version>> {
    let mut tags: BTreeMap<ObjectId, Vec<Version>> = BTreeMap::new();
    for tagged in versions.values() {
        tags.entry(tagged.commit).or_default().push(tagged.version);
    }
    tags
}

fn facts(info: &CommitInfo, tags: &BTreeMap<ObjectId, Vec<Version>>) -> CommitFacts {
    CommitFacts {
        id: info.id,
        tree: info.tree,
        trailer_version: info.message.version(),
        tags: tags.get(&info.id).cloned().unwrap_or_default(),
    }
}

/// Gathers the first-parent facts SPEC 1 needs (down to the first commit with a version
/// of its own, or whose tree differs from its parent's) and decides.
pub fn current_version(
    store: &Store,
    tip: &CommitInfo,
    tags: &BTreeMap<ObjectId, Vec<Version>>,
    version_trees: &BTreeMap<Version, ObjectId>,
) -> Result<Current, Error> {
    let mut chain = vec![facts(tip, tags)];
    let mut current = tip.clone();
    while chain.last().is_some_and(|last| last.trailer_version.is_none() && last.tags.is_empty()) {
        let Some(parent) = current.parents.first() else { break };
        let parent = store.commit_info(*parent)?;
        let same_tree = parent.tree == current.tree;
        chain.push(facts(&parent, tags));
        if !same_tree {
            break;
        }
        current = parent;
    }
    Ok(lifecycle::current_version(&chain, version_trees))
}

/// The hold set from the newest commit on the first-parent chain that carries one.
pub fn holds(store: &Store, tip: &CommitInfo) -> Result<Vec<Version>, Error> {
    let mut current = tip.clone();
    loop {
        if let Some(holds) = current.message.holds() {
            return Ok(holds);
        }
        let Some(parent) = current.parents.first() else { return Ok(Vec::new()) };
        current = store.commit_info(*parent)?;
    }
}

/// Every version this environment has deployed, now or before: the versions of the
/// commits on its first-parent history (their own trailer or tag, else a version with
/// the same tree).
pub fn deployed(store: &Store, state: &RepoState, env: &EnvName) -> Result<BTreeSet<Version>, Error> {
    let tags = tags_by_commit(&state.versions);
    let mut by_tree: BTreeMap<ObjectId, Version> = BTreeMap::new();
    for tagged in state.versions.values() {
        by_tree.insert(tagged.tree, tagged.version);
    }
    let mut deployed = BTreeSet::new();
    let mut next = Some(state.env(env).tip.id);
    while let Some(id) = next {
        let info = store.commit_info(id)?;
        let own = facts(&info, &tags);
        match own.trailer_version.or_else(|| own.tags.iter().max().copied()) {
            Some(version) => {
                deployed.insert(version);
            }
            None => {
                if let Some(version) = by_tree.get(&info.tree) {
                    deployed.insert(*version);
                }
            }
        }
        next = info.parents.first().copied();
    }
    Ok(deployed)
}
