//! The rules of the lifecycle on git, as pure functions of facts the store gathers. For
//! now: which version an environment is at (SPEC 1). Pure: no I/O.

use std::collections::BTreeMap;

use crate::model::{ObjectId, Version};

/// What the store knows of one commit on an environment's first-parent chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommitFacts {
    pub id: ObjectId,
    pub tree: ObjectId,
    /// Its own `Stagecraft-Version` trailer.
    pub trailer_version: Option<Version>,
    /// The `vN` tags that point at it.
    pub tags: Vec<Version>,
}

/// How an environment's current version was decided, in the order of SPEC 1.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Current {
    /// (1) The tip's own trailer or tag.
    Own(Version),
    /// (2) The tip's tree equals its first parent's: that parent's version (after
    /// `depth` such steps).
    Inherited(Version, usize),
    /// (3) The newest version whose tree equals the tip's tree.
    SameTree(Version),
    /// (4) No version: the environment is in drift.
    Drift,
}

impl Current {
    pub fn version(self) -> Option<Version> {
        match self {
            Current::Own(version) | Current::Inherited(version, _) | Current::SameTree(version) => Some(version),
            Current::Drift => None,
        }
    }
}

/// Decides the current version of an environment (SPEC 1).
///
/// `chain` is the first-parent chain from the tip down, as far as the store went: it must
/// reach past every commit whose tree equals its first parent's tree, and may stop at the
/// first commit with a version of its own. `versions` maps every version to its tree.
pub fn current_version(chain: &[CommitFacts], versions: &BTreeMap<Version, ObjectId>) -> Current {
    let Some(tip) = chain.first() else { return Current::Drift };
    let mut depth = 0;
    loop {
        let commit = &chain[depth];
        if let Some(version) = own_version(commit) {
            return if depth == 0 { Current::Own(version) } else { Current::Inherited(version, depth) };
        }
        match chain.get(depth + 1) {
            Some(parent) if parent.tree == commit.tree => depth += 1,
            _ => break,
        }
    }
    versions
        .iter()
        .rev()
        .find(|(_, tree)| **tree == tip.tree)
        .map_or(Current::Drift, |(version, _)| Current::SameTree(*version))
}

/// The commit's own version: its trailer, else the highest tag on it.
fn own_version(commit: &CommitFacts) -> Option<Version> {
    commit.trailer_version.or_else(|| commit.tags.iter().max().copied())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(n: u8) -> ObjectId {
        ObjectId([n; 20])
    }
    fn v(n: u32) -> Version {
        Version::new(n).unwrap()
    }
    fn commit(n: u8, tree: u8, trailer: Option<u32>, tags: &[u32]) -> CommitFacts {
        CommitFacts {
            id: id(n),
            tree: id(tree),
            trailer_version: trailer.map(v),
            tags: tags.iter().map(|t| v(*t)).collect(),
        }
    }

    #[test]
    fn current_version_follows_the_spec_order() {
        // versions: v1 tree 10, v2 tree 20, v3 tree 10 (a rollback-like republish), v4 tree 40
        let versions: BTreeMap<Version, ObjectId> =
            [(v(1), id(10)), (v(2), id(20)), (v(3), id(10)), (v(4), id(40))].into();
        let cases: Vec<(&str, Vec<CommitFacts>, Current)> = vec![
            ("empty chain", vec![], Current::Drift),
            ("own trailer", vec![commit(1, 20, Some(2), &[])], Current::Own(v(2))),
            ("own tag", vec![commit(1, 40, None, &[4])], Current::Own(v(4))),
            ("trailer wins over tag", vec![commit(1, 20, Some(2), &[4])], Current::Own(v(2))),
            ("trailer wins over same-tree rule", vec![commit(1, 10, Some(1), &[])], Current::Own(v(1))),
            (
                "unchanged tree inherits the parent's",
                vec![commit(2, 20, None, &[]), commit(1, 20, Some(2), &[])],
                Current::Inherited(v(2), 1),
            ),
            (
                "two unchanged steps",
                vec![commit(3, 20, None, &[]), commit(2, 20, None, &[]), commit(1, 20, None, &[2])],
                Current::Inherited(v(2), 2),
            ),
            (
                "inherits even when another version has the same tree",
                vec![commit(2, 10, None, &[]), commit(1, 10, Some(1), &[])],
                Current::Inherited(v(1), 1),
            ),
            (
                "changed tree equal to a version's tree",
                vec![commit(2, 40, None, &[]), commit(1, 20, Some(2), &[])],
                Current::SameTree(v(4)),
            ),
            (
                "two versions with the same tree: the newest",
                vec![commit(2, 10, None, &[]), commit(1, 20, Some(2), &[])],
                Current::SameTree(v(3)),
            ),
            (
                "changed tree matching no version is drift",
                vec![commit(2, 99, None, &[]), commit(1, 20, Some(2), &[])],
                Current::Drift,
            ),
            ("root commit without trailer, tree of a version", vec![commit(1, 20, None, &[])], Current::SameTree(v(2))),
            ("root commit matching nothing", vec![commit(1, 77, None, &[])], Current::Drift),
            (
                "unchanged chain ending in an unversioned commit falls back to tree equality",
                vec![commit(3, 40, None, &[]), commit(2, 40, None, &[])],
                Current::SameTree(v(4)),
            ),
        ];
        for (name, chain, expected) in cases {
            assert_eq!(current_version(&chain, &versions), expected, "{name}");
        }
    }
}
