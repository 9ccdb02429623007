//! Reads what the lifecycle decides on: every environment's tip, current version and
//! hold set, the versions, and the change set between two trees.
//!
//! Reading a state costs a few commits, not the length of the history: the tips' own
//! trailers answer the usual questions (current version, holds), a version is looked up
//! by its tag name, and the full index of versions (every `vN` tag, peeled) is loaded
//! only when a question needs it (a tip made outside stagecraft, a tree lookup).
//!
//! I/O: git, through `store`.

use std::cell::OnceCell;
use std::collections::BTreeMap;

use crate::diff::{self, ChangeSet, Side};
use crate::error::Error;
use crate::history;
use crate::lifecycle::plan::EnvFacts;
use crate::lifecycle::{self, CommitFacts, Current};
use crate::model::{Chain, EnvName, ObjectId, Snapshot, Version};
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
#[derive(Debug)]
pub struct RepoState {
    pub chain: Chain,
    pub envs: Vec<EnvState>,
    pub index: VersionIndex,
}

/// The versions of the repository: tags, plus publishes on the second environment whose
/// tag is not written yet (cut off, or racing with this read), which count as the
/// version their trailer names. Loaded in full only on demand.
#[derive(Debug, Default)]
pub struct VersionIndex {
    pending: BTreeMap<Version, TaggedVersion>,
    /// The tags as the store lists them (read once, whatever is pending).
    tagged: OnceCell<BTreeMap<Version, TaggedVersion>>,
    all: OnceCell<BTreeMap<Version, TaggedVersion>>,
    by_commit: OnceCell<std::collections::HashMap<ObjectId, Vec<Version>>>,
}

impl VersionIndex {
    /// Every version (loads every tag once).
    pub fn all(&self, store: &Store) -> Result<&BTreeMap<Version, TaggedVersion>, Error> {
        if let Some(all) = self.all.get() {
            return Ok(all);
        }
        if self.tagged.get().is_none() {
            let tagged = store.versions()?;
            let _ = self.tagged.set(tagged);
        }
        let mut all = self.tagged.get().expect("set above").clone();
        for (version, tagged) in &self.pending {
            all.entry(*version).or_insert(*tagged);
        }
        Ok(self.all.get_or_init(|| all))
    }

    /// One version, by its tag (no full load).
    pub fn get(&self, store: &Store, version: Version) -> Result<Option<TaggedVersion>, Error> {
        if let Some(all) = self.all.get() {
            return Ok(all.get(&version).copied());
        }
        match store.tagged_version(version)? {
            Some(tagged) => Ok(Some(tagged)),
            None => Ok(self.pending.get(&version).copied()),
        }
    }

    /// The versions whose tag names `commit` (from the tag refs alone: no tree read).
    pub fn tags_of(&self, store: &Store, commit: ObjectId) -> Result<Vec<Version>, Error> {
        if let Some(by_commit) = self.by_commit.get() {
            return Ok(by_commit.get(&commit).cloned().unwrap_or_default());
        }
        let all = self.all(store)?;
        let mut by_commit: std::collections::HashMap<ObjectId, Vec<Version>> =
            std::collections::HashMap::with_capacity(all.len());
        for tagged in all.values() {
            by_commit.entry(tagged.commit).or_default().push(tagged.version);
        }
        Ok(self.by_commit.get_or_init(|| by_commit).get(&commit).cloned().unwrap_or_default())
    }

    /// Every version's tree.
    pub fn trees(&self, store: &Store) -> Result<BTreeMap<Version, ObjectId>, Error> {
        Ok(self.all(store)?.iter().map(|(v, t)| (*v, t.tree)).collect())
    }

    /// The newest version.
    pub fn latest(&self, store: &Store) -> Result<Option<Version>, Error> {
        Ok(self.all(store)?.keys().next_back().copied())
    }
}

impl EnvState {
    /// What a plan sees of this environment.
    pub fn facts(&self) -> EnvFacts {
        EnvFacts {
            env: self.env.clone(),
            tip: self.tip.id,
            tree: self.tip.tree,
            current: self.current,
            holds: self.holds.clone(),
        }
    }
}

impl RepoState {
    /// Every environment as a plan sees it, in the chain's order.
    pub fn facts(&self) -> Vec<EnvFacts> {
        self.envs.iter().map(EnvState::facts).collect()
    }

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
    /// The environment named `name`, or `not_found` naming the chain.
    pub fn env_named(&self, name: &str) -> Result<&EnvState, Error> {
        self.envs.iter().find(|e| e.env.as_str() == name).ok_or_else(|| Error::NotFound {
            what: "environment",
            name: name.to_string(),
            hint: format!("the environments are {}", self.chain.display_arrows()),
        })
    }
    /// The version named `vN`, or `not_found` naming the latest.
    pub fn version(&self, store: &Store, version: Version) -> Result<TaggedVersion, Error> {
        if let Some(tagged) = self.index.get(store, version)? {
            return Ok(tagged);
        }
        let latest = self.index.latest(store)?.map_or("none".into(), |v| v.to_string());
        Err(Error::NotFound {
            what: "version",
            name: version.to_string(),
            hint: format!("the latest version is {latest}; `stagecraft history` lists them"),
        })
    }
}

/// Reads the state of every environment.
pub fn read_state(store: &Store) -> Result<RepoState, Error> {
    let chain = store.chain()?;
    let tips = store.chain_tips(&chain)?;
    let mut index = VersionIndex::default();
    for info in untagged_chain(store, tips[1].1, &index)? {
        if let Some(version) = info.message.version()
            && info.message.get(history::ACTION) == Some("publish")
        {
            index.pending.entry(version).or_insert(TaggedVersion { version, commit: info.id, tree: info.tree });
        }
    }
    // The walk may have loaded the index before the pending publishes were known.
    index.all = OnceCell::new();
    index.by_commit = OnceCell::new();
    let mut envs = Vec::new();
    for (position, (env, tip)) in tips.into_iter().enumerate() {
        let tip = store.commit_info(tip)?;
        let (current, holds) = if position == 0 {
            (Current::Drift, Vec::new())
        } else {
            (current_version(store, &tip, &index)?, holds(store, &tip)?)
        };
        envs.push(EnvState { env, tip, current, holds });
    }
    Ok(RepoState { chain, envs, index })
}

/// The second environment's first-parent chain from `tip` down to (not including) the
/// newest commit a tag names, newest first. A publish commit is checked against the tag
/// of its own trailer, so the usual case (a tagged tip) reads one commit and one ref.
pub fn untagged_chain(store: &Store, tip: ObjectId, index: &VersionIndex) -> Result<Vec<CommitInfo>, Error> {
    let mut chain = Vec::new();
    let mut next = Some(tip);
    while let Some(id) = next {
        let info = store.commit_info(id)?;
        let tagged = match info.message.version() {
            Some(version) if matches!(info.message.get(history::ACTION), Some("publish" | "init")) => {
                store.tagged_version(version)?.is_some_and(|t| t.commit == id)
            }
            _ => !index.tags_of(store, id)?.is_empty(),
        };
        if tagged {
            break;
        }
        next = info.parents.first().copied();
        chain.push(info);
    }
    Ok(chain)
}

/// A commit's own version: its trailer, else the tags on it (looked up only then).
pub(super) fn facts(store: &Store, info: &CommitInfo, index: &VersionIndex) -> Result<CommitFacts, Error> {
    let trailer_version = info.message.version();
    let tags = if trailer_version.is_some() { Vec::new() } else { index.tags_of(store, info.id)? };
    Ok(CommitFacts { id: info.id, tree: info.tree, trailer_version, tags })
}

/// Gathers the first-parent facts the current-version rule needs (down to the first commit with a version
/// of its own, or whose tree differs from its parent's) and decides.
pub fn current_version(store: &Store, tip: &CommitInfo, index: &VersionIndex) -> Result<Current, Error> {
    let mut chain = vec![facts(store, tip, index)?];
    let mut current = tip.clone();
    while chain.last().is_some_and(|last| last.trailer_version.is_none() && last.tags.is_empty()) {
        let Some(parent) = current.parents.first() else { break };
        let parent = store.commit_info(*parent)?;
        let same_tree = parent.tree == current.tree;
        chain.push(facts(store, &parent, index)?);
        if !same_tree {
            break;
        }
        current = parent;
    }
    // Rules 1 and 2 need no version trees; only rule 3 loads them.
    match lifecycle::current_version(&chain, &BTreeMap::new()) {
        Current::Drift => Ok(lifecycle::current_version(&chain, &index.trees(store)?)),
        decided => Ok(decided),
    }
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

/// The change set between two commits of the repository (empty when their trees are equal).
pub fn diff_commits(store: &Store, old: ObjectId, new: ObjectId) -> Result<ChangeSet, Error> {
    if store.tree_id(old)? == store.tree_id(new)? {
        return Ok(ChangeSet::default());
    }
    let (old_snapshot, new_snapshot) = (store.snapshot(old)?, store.snapshot(new)?);
    diff_snapshots(store, &old_snapshot, &new_snapshot)
}

/// The change set between two snapshots whose blobs are in the repository.
pub fn diff_snapshots(store: &Store, old: &Snapshot, new: &Snapshot) -> Result<ChangeSet, Error> {
    let blobs = store.blobs();
    diff::diff(Side { snapshot: old, reader: &blobs }, Side { snapshot: new, reader: &blobs }).map_err(Error::from)
}
