//! The rules of the lifecycle on git, as pure functions of facts the store gathers:
//! which version an environment is at, what a lifecycle commit records, and in [`plan`]
//! the plan (or the refusal) of every write and the daemon's gate. Pure: no I/O.

pub mod plan;

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

/// How an environment's current version was decided, in this order.
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

/// Decides the current version of an environment: its own trailer or tag, else its
/// first parent's when the tree is unchanged, else the newest version with its tree.
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

/// What a lifecycle commit records: its action, environment, actor, version,
/// hold set, source, force reason, description and summary.
#[derive(Debug, Clone)]
pub struct Record<'a> {
    pub subject: String,
    pub action: &'a str,
    pub environment: &'a str,
    pub actor: &'a str,
    pub version: Option<Version>,
    pub holds: Option<&'a [Version]>,
    pub source: Option<Version>,
    pub force: Option<&'a str>,
    pub description: Option<&'a str>,
    pub summary: &'a str,
}

/// The commit message of a lifecycle write.
pub fn commit_message(record: &Record<'_>) -> String {
    use crate::history::{self, Message};
    let mut message = Message::new(record.subject.clone())
        .trailer(history::ACTION, record.action)
        .trailer(history::ENVIRONMENT, record.environment)
        .trailer(history::ACTOR, record.actor);
    if let Some(version) = record.version {
        message = message.trailer(history::VERSION, version.number().to_string());
    }
    if let Some(holds) = record.holds {
        message = message.trailer(history::HOLDS, holds_trailer(holds));
    }
    if let Some(source) = record.source {
        message = message.trailer(history::SOURCE, source.number().to_string());
    }
    if let Some(force) = record.force {
        message = message.trailer(history::FORCE, force);
    }
    message.description = record.description.map(str::to_string);
    message.summary = Some(record.summary.to_string());
    message.format()
}

/// `3 5`: a hold set as the trailer writes it, ascending, no repeats.
pub fn holds_trailer(holds: &[Version]) -> String {
    let mut sorted = holds.to_vec();
    sorted.sort();
    sorted.dedup();
    sorted.iter().map(|v| v.number().to_string()).collect::<Vec<_>>().join(" ")
}

/// Why no version can be rolled back to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RollbackRefusal {
    /// `--to` names a version this environment never deployed.
    NeverDeployed(Version),
    /// `--to` names the current version.
    AlreadyAt(Version),
    /// `--to` names a version whose tree is the tip's tree: the rollback would change
    /// nothing.
    SameTree(Version),
    /// No deployed version below the current one is off hold.
    NoEarlier,
    /// Every deployed version below the current one that is off hold has the tip's tree.
    NothingToRollBackTo,
    /// The environment is in drift and no `--to` was given.
    DriftNeedsTarget,
}

/// What a rollback chooses from.
#[derive(Debug, Clone, Copy)]
pub struct RollbackChoice<'a> {
    /// Every version the environment deployed, now or before.
    pub deployed: &'a std::collections::BTreeSet<Version>,
    pub current: Option<Version>,
    pub holds: &'a [Version],
    /// The tree of every deployed version (a version without one here counts as
    /// different from the tip).
    pub trees: &'a BTreeMap<Version, ObjectId>,
    /// The tip's tree now.
    pub tip_tree: ObjectId,
}

/// The version a rollback goes to: `--to` when given (it must have been deployed here,
/// and differ from the tip; a newer one is a roll forward, undoing a rollback), else the
/// newest deployed version below the current one that is not on hold and whose tree
/// differs from the tip's. A version on hold is refused later unless forced.
pub fn rollback_target(choice: RollbackChoice<'_>, requested: Option<Version>) -> Result<Version, RollbackRefusal> {
    let RollbackChoice { deployed, current, holds, trees, tip_tree } = choice;
    let same_tree = |version: &Version| trees.get(version) == Some(&tip_tree);
    if let Some(requested) = requested {
        if !deployed.contains(&requested) {
            return Err(RollbackRefusal::NeverDeployed(requested));
        }
        if current == Some(requested) {
            return Err(RollbackRefusal::AlreadyAt(requested));
        }
        if same_tree(&requested) {
            return Err(RollbackRefusal::SameTree(requested));
        }
        return Ok(requested);
    }
    let current = current.ok_or(RollbackRefusal::DriftNeedsTarget)?;
    let mut off_hold = deployed.range(..current).rev().filter(|v| !holds.contains(v)).peekable();
    if off_hold.peek().is_none() {
        return Err(RollbackRefusal::NoEarlier);
    }
    off_hold.find(|v| !same_tree(v)).copied().ok_or(RollbackRefusal::NothingToRollBackTo)
}

/// The hold set after a rollback from `left` to `target`: `left` goes on hold; the target
/// comes off it (an explicit choice to run it).
pub fn holds_after_rollback(holds: &[Version], left: Option<Version>, target: Version) -> Vec<Version> {
    let mut next: Vec<Version> = holds.iter().copied().filter(|v| *v != target).collect();
    if let Some(left) = left
        && left != target
    {
        next.push(left);
    }
    next.sort();
    next.dedup();
    next
}

#[cfg(test)]
mod rollback_tests {
    use super::*;

    fn v(n: u32) -> Version {
        Version::new(n).unwrap()
    }
    fn tree(n: u8) -> ObjectId {
        ObjectId([n; 20])
    }

    #[test]
    fn rollback_picks_the_newest_earlier_version_off_hold() {
        let deployed = [1, 2, 4, 5].map(v).into_iter().collect();
        let trees: BTreeMap<Version, ObjectId> =
            [(v(1), tree(1)), (v(2), tree(2)), (v(4), tree(4)), (v(5), tree(5))].into();
        let pick = |current: Option<u32>, holds: &[Version], requested: Option<u32>, tip: u8| {
            let choice = RollbackChoice {
                deployed: &deployed,
                current: current.map(v),
                holds,
                trees: &trees,
                tip_tree: tree(tip),
            };
            rollback_target(choice, requested.map(v))
        };
        assert_eq!(pick(Some(5), &[], None, 5), Ok(v(4)));
        assert_eq!(pick(Some(5), &[v(4)], None, 5), Ok(v(2)));
        assert_eq!(pick(Some(1), &[], None, 1), Err(RollbackRefusal::NoEarlier));
        assert_eq!(pick(Some(5), &[v(4), v(2), v(1)], None, 5), Err(RollbackRefusal::NoEarlier));
        assert_eq!(pick(Some(5), &[], Some(3), 5), Err(RollbackRefusal::NeverDeployed(v(3))));
        assert_eq!(pick(Some(5), &[], Some(5), 5), Err(RollbackRefusal::AlreadyAt(v(5))));
        assert_eq!(pick(Some(2), &[], Some(4), 2), Ok(v(4)), "forward to a deployed version");
        assert_eq!(pick(None, &[], None, 9), Err(RollbackRefusal::DriftNeedsTarget));
        // v5's tree is v2's: the default skips v2, an explicit v2 changes nothing.
        assert_eq!(pick(Some(5), &[v(4)], None, 2), Ok(v(1)), "v2 has the tip's tree");
        assert_eq!(pick(Some(5), &[v(4), v(1)], None, 2), Err(RollbackRefusal::NothingToRollBackTo));
        assert_eq!(pick(Some(5), &[], Some(2), 2), Err(RollbackRefusal::SameTree(v(2))));
        assert_eq!(pick(Some(5), &[v(2)], Some(2), 5), Ok(v(2)), "on hold: refused later unless forced");
        assert_eq!(holds_after_rollback(&[v(2)], Some(v(5)), v(4)), vec![v(2), v(5)]);
        assert_eq!(holds_after_rollback(&[v(4)], Some(v(5)), v(4)), vec![v(5)]);
        assert_eq!(holds_trailer(&[v(5), v(2), v(5)]), "2 5");
    }
}
