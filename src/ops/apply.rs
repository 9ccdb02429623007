//! Applying a plan: the write step every lifecycle operation ends with (io: git). The
//! confirmation a protected environment needs, the work tree check when the draft is
//! checked out, one commit object, then the compare-and-swap of its branch from the
//! tip the plan was made on (a `conflict` when it moved), with a failpoint between the
//! two; the tag of a publish; the work tree made to match.

use crate::diff::ChangeSet;
use crate::error::Error;
use crate::failpoint;
use crate::identity::Identity;
use crate::lifecycle::plan::{Action, NewTree, Plan, Request};
use crate::model::{ObjectId, Snapshot};
use crate::store::{NewTag, Store};
use crate::wire::Written;

/// How a front end asks for a write.
#[derive(Debug, Clone, Default)]
pub struct WriteOptions {
    /// `-m`: the description, stored in the commit (and the tag of a publish).
    pub message: Option<String>,
    /// `--force`: publish or promote a version on hold; needs `message`.
    pub force: bool,
    /// `--dry-run`: decide and report, write nothing.
    pub dry_run: bool,
    /// `--yes`: the confirmation a protected environment needs.
    pub confirmed: bool,
    /// Who asked (`Name <email>` or `token:<name>`); the identity's author when `None`.
    pub actor: Option<String>,
    /// Environments protected besides the chain's own (the daemon's config).
    pub protected: Vec<crate::model::EnvName>,
    /// Environments a promotion enters only with a passing test run (the config's).
    pub require_tests: Vec<crate::model::EnvName>,
    /// The parents of a shown plan's commit (the branch's tip first; for a publish, the
    /// draft's tip too): a plan made again on other commits is a `conflict`, not a
    /// different write.
    pub expected_parents: Option<Vec<ObjectId>>,
}

impl WriteOptions {
    /// What the plan records of the caller.
    pub fn request(&self, identity: &Identity) -> Request {
        Request {
            actor: self.actor.clone().unwrap_or_else(|| identity.author.to_string()),
            message: self.message.clone(),
            force: self.force,
            protected: self.protected.clone(),
            require_tests: self.require_tests.clone(),
        }
    }
}

/// A plan, and the commit that applied it (`None`: a dry run, nothing written).
#[derive(Debug, Clone)]
pub struct Done {
    pub plan: Plan,
    pub commit: Option<ObjectId>,
}

impl Done {
    /// The answer of a dry run: the plan, nothing written.
    pub fn preview(plan: Plan) -> Done {
        Done { plan, commit: None }
    }

    pub fn changes(&self) -> &ChangeSet {
        &self.plan.changes
    }

    pub fn dry_run(&self) -> bool {
        self.commit.is_none()
    }

    /// What the CLI's `--json` and the API answer.
    pub fn written(&self) -> Written {
        let plan = &self.plan;
        let commit = self.commit.map(|c| c.to_hex());
        let mut written =
            Written::new(plan.action.as_str(), plan.environment.as_str(), commit, &plan.summary, self.dry_run());
        written.version = plan.version.map(|v| v.number());
        written.source = plan.source.map(|v| v.number());
        written.from = plan.from.as_ref().map(ToString::to_string);
        written.holds = plan.holds.as_ref().map(|holds| holds.iter().map(|v| v.number()).collect());
        written.left = plan.left.map(|v| v.number());
        written.released_hold = plan.released_hold.is_some();
        written.forward = plan.forward;
        written.planned_on = Some(plan.parents.iter().map(|p| p.to_hex()).collect::<Vec<_>>().join(","));
        written.reconciled = plan.reconciled.iter().map(|v| v.number()).collect();
        written.reconciled_notes = plan.notes.clone();
        written
    }
}

/// Plans are applied here, or only shown (`dry_run`).
pub fn finish(store: &Store, identity: &Identity, plan: Plan, options: &WriteOptions) -> Result<Done, Error> {
    if let Some(expected) = &options.expected_parents
        && expected != &plan.parents
    {
        let short = |ids: &[ObjectId]| ids.iter().map(|id| id.short()).collect::<Vec<_>>().join("+");
        return Err(Error::Conflict {
            branch: plan.environment.to_string(),
            expected: short(expected),
            actual: short(&plan.parents),
        });
    }
    if options.dry_run {
        return Ok(Done::preview(plan));
    }
    apply(store, identity, plan, options.confirmed)
}

/// Writes a plan: see the module documentation. `confirmed` must be true for a
/// protected environment.
pub fn apply(store: &Store, identity: &Identity, plan: Plan, confirmed: bool) -> Result<Done, Error> {
    plan.check_confirmed(confirmed)?;
    // Only a checked-out draft has a work tree to check (and its new tree is listed
    // only then).
    let is_draft = matches!(plan.action, Action::Discard | Action::Revert | Action::Restore);
    let checked_out = is_draft && store.is_checked_out(plan.environment.as_str());
    if checked_out {
        let listed;
        let new_snapshot = match &plan.tree {
            NewTree::Existing(tree) => {
                listed = store.tree_snapshot(*tree)?;
                &listed
            }
            NewTree::Snapshot(snapshot) => snapshot,
        };
        check_work_tree(store, new_snapshot)?;
    }
    let tree = match &plan.tree {
        NewTree::Existing(tree) => *tree,
        NewTree::Snapshot(snapshot) => store.write_tree(snapshot, &store.blobs())?,
    };
    let action = plan.action.as_str();
    let id = store.write_commit(tree, &plan.parents, &plan.message, identity)?;
    failpoint::hit(&format!("{action}-after-commit"));
    let log = format!("stagecraft {action}");
    let branch = plan.environment.as_str();
    let tagger = plan.tag.as_ref().map(|tag| tag.tagger.clone().unwrap_or_else(|| identity.author.clone()));
    let tag = plan.tag.as_ref().zip(tagger.as_ref()).map(|(tag, tagger)| NewTag {
        version: tag.version,
        tagger,
        when: identity.committer_time,
        message: &tag.message,
    });
    match &tag {
        Some(tag) if store.remote().is_some() => store.update_branch_and_tag(branch, id, plan.expected, tag, &log)?,
        _ => store.update_branch(branch, id, plan.expected, &log)?,
    }
    failpoint::hit(&format!("{action}-after-ref"));
    // Locally the tag follows the branch (a cut between them is repaired by
    // reconciliation); in remote mode branch and tag were one atomic push.
    if let Some(tag) = &tag
        && store.remote().is_none()
    {
        store.ensure_tag(tag.version, id, tag.tagger, tag.when, tag.message)?;
    }
    if checked_out {
        store.sync_work_tree()?;
    }
    Ok(Done { plan, commit: Some(id) })
}

/// Refuses to move a checked-out draft whose work tree has uncommitted changes, or
/// untracked files that the new tree would overwrite.
fn check_work_tree(store: &Store, new_tree: &Snapshot) -> Result<(), Error> {
    let mut dirty = store.dirty_files()?;
    let in_the_way = store.untracked_files()?.into_iter().filter(|path| new_tree.get(path).is_some());
    dirty.extend(in_the_way.map(|path| format!("{path} (untracked, would be overwritten)")));
    if !dirty.is_empty() {
        return Err(Error::DirtyWorktree { files: dirty });
    }
    Ok(())
}
