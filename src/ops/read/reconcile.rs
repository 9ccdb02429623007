//! Reconciliation of the second environment into versions: walks its
//! first-parent chain from the tip down to the newest tagged commit; a publish commit
//! gets the tag of its own `Stagecraft-Version` (repairing a publish cut off before its
//! tag); a commit without trailers whose tree differs from its first parent's (a pull
//! request merged on a forge) gets the next number, oldest first, if it validates.
//! Runs before every write to the second environment, and in the daemon.
//!
//! I/O: git, through `store`.

use super::state::{RepoState, diff_commits, read_state, untagged_chain};
use crate::error::Error;
use crate::failpoint;
use crate::history;
use crate::lifecycle::plan::tag_message;
use crate::model::{ObjectId, Version};
use crate::parse;
use crate::store::Store;

/// What reconciliation did.
#[derive(Debug, Clone)]
pub struct Reconciled {
    /// Tags written, oldest first.
    pub tagged: Vec<Tagged>,
    /// Forge merges that do not validate, and why.
    pub skipped: Vec<(ObjectId, String)>,
    /// The number the next publish takes.
    pub next: Version,
}

/// A version tag reconciliation wrote.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tagged {
    pub version: Version,
    pub commit: ObjectId,
    /// True for a publish cut off before its tag; false for a merge made outside stagecraft.
    pub repaired: bool,
}

/// Tags what is untagged on the second environment; `write` false only plans.
pub fn reconcile(store: &Store, state: &RepoState, write: bool) -> Result<Reconciled, Error> {
    let pending = untagged_chain(store, state.base().tip.id, &state.index)?;
    let mut highest = store.latest_tagged_version()?.unwrap_or(Version::FIRST);
    for info in &pending {
        if let Some(version) = info.message.version()
            && info.message.get(history::ACTION) == Some("publish")
        {
            highest = highest.max(version);
        }
    }
    let mut result = Reconciled { tagged: Vec::new(), skipped: Vec::new(), next: highest.next() };
    for info in pending.iter().rev() {
        let action = info.message.get(history::ACTION);
        if action == Some("publish") {
            let Some(version) = info.message.version() else { continue };
            if write {
                let actor = info
                    .message
                    .get(history::ACTOR)
                    .and_then(crate::identity::Person::parse)
                    .unwrap_or_else(|| info.author.clone());
                let message = tag_message(&info.message);
                if store.ensure_tag(version, info.id, &actor, info.committer_time, &message)? {
                    result.tagged.push(Tagged { version, commit: info.id, repaired: true });
                    failpoint::hit("reconcile-after-tag");
                }
            }
            continue;
        }
        if action.is_some() || info.parents.is_empty() {
            continue;
        }
        let parent_tree = store.tree_id(info.parents[0])?;
        if parent_tree == info.tree {
            continue;
        }
        let snapshot = store.snapshot(info.id)?;
        let (_, diagnostics) = parse::load(&snapshot, &store.blobs(), &state.chain);
        if !diagnostics.is_empty() {
            result.skipped.push((
                info.id,
                format!(
                    "{} validation errors, first: {}",
                    diagnostics.len(),
                    diagnostics[0].render().lines().next().unwrap_or("")
                ),
            ));
            continue;
        }
        let version = highest.next();
        highest = version;
        if write {
            let summary = crate::diff::summary(&diff_commits(store, info.parents[0], info.id)?);
            let mut message = info.message.description.clone().unwrap_or_else(|| info.message.subject.clone());
            message.push_str(&format!("\n\n{summary}\n"));
            store.ensure_tag(version, info.id, &info.author, info.committer_time, &message)?;
            failpoint::hit("reconcile-after-tag");
        }
        result.tagged.push(Tagged { version, commit: info.id, repaired: false });
    }
    result.next = highest.next();
    Ok(result)
}

/// Reads the state after reconciling the second environment (every write first
/// reconciles), so versions published but cut off before their tag, and forge merges,
/// have their tags. Returns what reconciliation did.
pub fn read_reconciled(store: &Store) -> Result<(RepoState, Reconciled), Error> {
    let state = read_state(store)?;
    let reconciled = reconcile(store, &state, true)?;
    if reconciled.tagged.is_empty() {
        return Ok((state, reconciled));
    }
    Ok((read_state(store)?, reconciled))
}

/// The state a write plans on: reconciled (tags written) for a write, or, for a dry
/// run that writes nothing, with reconciliation only planned (the next number counts
/// the merges it would tag).
pub fn read_for_write(store: &Store, dry_run: bool) -> Result<(RepoState, Reconciled), Error> {
    if dry_run {
        let state = read_state(store)?;
        let planned = reconcile(store, &state, false)?;
        return Ok((state, Reconciled { tagged: Vec::new(), skipped: Vec::new(), ..planned }));
    }
    read_reconciled(store)
}

/// What reconciliation did, one line each for people: tags written and merges skipped.
pub fn notes(reconciled: &Reconciled, base: &str) -> Vec<String> {
    let mut notes: Vec<String> = reconciled
        .tagged
        .iter()
        .map(|tagged| {
            if tagged.repaired {
                format!("tagged {} ({}): a publish cut off before its tag", tagged.version, tagged.commit.short())
            } else {
                format!("tagged {} ({}): merged into {base} outside stagecraft", tagged.version, tagged.commit.short())
            }
        })
        .collect();
    notes.extend(reconciled.skipped.iter().map(|(commit, reason)| {
        format!("skipped {} merged into {base}: it does not validate ({reason}); it is no version", commit.short())
    }));
    notes
}
