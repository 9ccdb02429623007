//! The write step every lifecycle operation ends with: one commit object, then the
//! compare-and-swap of its branch, with a failpoint between the two; and, when the draft
//! is checked out, the work tree made to match.

use crate::error::Error;
use crate::failpoint;
use crate::identity::Identity;
use crate::model::ObjectId;
use crate::store::{NewTag, Store};

/// The commit a lifecycle write adds on top of a branch.
pub struct NewCommit<'a> {
    pub tree: ObjectId,
    pub parents: &'a [ObjectId],
    pub message: &'a str,
    /// The version tag a publish puts on the commit.
    pub tag: Option<NewTag<'a>>,
}

/// Writes `commit`, then moves `branch` from `expected` to it, then tags it. Locally the
/// tag follows the branch (a cut between them is repaired by reconciliation); in remote
/// mode branch and tag are one atomic push. `action` names the failpoints
/// `<action>-after-commit` and `<action>-after-ref`.
pub fn commit_and_move(
    store: &Store,
    branch: &str,
    expected: ObjectId,
    commit: NewCommit<'_>,
    identity: &Identity,
    action: &str,
) -> Result<ObjectId, Error> {
    let id = store.write_commit(commit.tree, commit.parents, commit.message, identity)?;
    failpoint::hit(&format!("{action}-after-commit"));
    let log = format!("stagecraft {action}");
    match &commit.tag {
        Some(tag) if store.remote().is_some() => store.update_branch_and_tag(branch, id, expected, tag, &log)?,
        _ => store.update_branch(branch, id, expected, &log)?,
    }
    failpoint::hit(&format!("{action}-after-ref"));
    if let Some(tag) = &commit.tag
        && store.remote().is_none()
    {
        store.ensure_tag(tag.version, id, tag.tagger, tag.when, tag.message)?;
    }
    Ok(id)
}

/// Refuses to move a checked-out draft whose work tree has uncommitted changes, or
/// untracked files that the new tree would overwrite. Returns whether the draft is
/// checked out (and its work tree must follow).
pub fn check_work_tree(store: &Store, draft: &str, new_tree: &crate::model::Snapshot) -> Result<bool, Error> {
    if !store.is_checked_out(draft) {
        return Ok(false);
    }
    let mut dirty = store.dirty_files()?;
    let in_the_way = store.untracked_files()?.into_iter().filter(|path| new_tree.get(path).is_some());
    dirty.extend(in_the_way.map(|path| format!("{path} (untracked, would be overwritten)")));
    if !dirty.is_empty() {
        return Err(Error::DirtyWorktree { files: dirty });
    }
    Ok(true)
}

/// A write into a protected environment needs the caller's confirmation (`--yes`, or
/// `"confirm": true`).
pub fn check_confirmed(chain: &crate::model::Chain, env: &crate::model::EnvName, confirmed: bool) -> Result<(), Error> {
    if chain.is_protected(env) && !confirmed {
        return Err(Error::ConfirmationRequired {
            environment: env.to_string(),
            hint: format!("{env} is protected: pass --yes to confirm"),
        });
    }
    Ok(())
}
