//! `discard`: the draft goes back to the base's tree (the "Delete" button of the draft
//! banner), by a new commit; refused with exit 3 when there is nothing to discard. When
//! the draft is checked out its work tree follows, and uncommitted changes there refuse
//! the discard.

use crate::diff::{self, ChangeSet};
use crate::error::Error;
use crate::identity::Identity;
use crate::lifecycle::{Record, commit_message};
use crate::model::{ObjectId, Snapshot, Version};
use crate::ops::publish::WriteOptions;
use crate::ops::state::{RepoState, read_state};
use crate::ops::write::{NewCommit, check_confirmed, check_work_tree, commit_and_move};
use crate::store::Store;

/// What a draft write (discard, restore, revert) did or would do.
#[derive(Debug, Clone)]
pub struct DraftWritten {
    pub action: &'static str,
    pub environment: String,
    /// The version acted on (the base's current version for a discard).
    pub source: Option<Version>,
    pub commit: Option<ObjectId>,
    pub summary: String,
    pub changes: ChangeSet,
    pub dry_run: bool,
}

pub fn discard(store: &Store, identity: &Identity, options: &WriteOptions) -> Result<DraftWritten, Error> {
    let state = read_state(store)?;
    let (draft, base) = (state.draft(), state.base());
    if draft.tip.tree == base.tip.tree {
        return Err(Error::NothingToDo {
            message: format!("nothing to discard: {} equals {}", draft.env, base.env),
            hint: "the draft has no unpublished changes".into(),
        });
    }
    let changes = crate::ops::diff::diff_commits(store, draft.tip.id, base.tip.id)?;
    let change = DraftChange {
        action: "discard",
        subject: format!("Discard the {} changes", draft.env),
        source: base.current.version(),
        tree: NewTree::Existing(base.tip.tree),
        changes,
    };
    write_draft(store, &state, identity, options, change)
}

/// The new state of the draft that discard, restore and revert end with.
pub struct DraftChange<'a> {
    pub action: &'static str,
    pub subject: String,
    /// The version acted on (`Stagecraft-Source`).
    pub source: Option<Version>,
    pub tree: NewTree<'a>,
    /// Draft → new tree.
    pub changes: ChangeSet,
}

/// The tree a draft write commits.
pub enum NewTree<'a> {
    /// A tree already in the repository.
    Existing(ObjectId),
    /// A snapshot whose blobs are in the repository; its trees are written first.
    Snapshot(&'a Snapshot),
}

/// Reports a draft change (`dry_run`) or writes it: confirmation for a protected draft,
/// the work tree check, one commit, the compare-and-swap, the work tree update.
pub fn write_draft(
    store: &Store,
    state: &RepoState,
    identity: &Identity,
    options: &WriteOptions,
    change: DraftChange<'_>,
) -> Result<DraftWritten, Error> {
    let draft = state.draft();
    let mut written = DraftWritten {
        action: change.action,
        environment: draft.env.to_string(),
        source: change.source,
        commit: None,
        summary: diff::summary(&change.changes),
        changes: change.changes,
        dry_run: true,
    };
    if options.dry_run {
        return Ok(written);
    }
    check_confirmed(&state.chain, &draft.env, options.confirmed)?;
    let listed;
    let new_snapshot = match change.tree {
        NewTree::Existing(tree) => {
            listed = store.tree_snapshot(tree)?;
            &listed
        }
        NewTree::Snapshot(snapshot) => snapshot,
    };
    let checked_out = check_work_tree(store, draft.env.as_str(), new_snapshot)?;
    let tree = match change.tree {
        NewTree::Existing(tree) => tree,
        NewTree::Snapshot(snapshot) => store.write_tree(snapshot, &store.blobs())?,
    };
    let actor = options.actor(identity);
    let record = Record {
        subject: change.subject,
        action: change.action,
        environment: draft.env.as_str(),
        actor: &actor,
        version: None,
        holds: None,
        source: change.source,
        force: None,
        description: options.message.as_deref(),
        summary: &written.summary,
    };
    let message = commit_message(&record);
    let commit = commit_and_move(
        store,
        draft.env.as_str(),
        draft.tip.id,
        NewCommit { tree, parents: &[draft.tip.id], message: &message, tag: None },
        identity,
        change.action,
    )?;
    if checked_out {
        store.sync_work_tree()?;
    }
    written.commit = Some(commit);
    written.dry_run = false;
    Ok(written)
}

impl DraftWritten {
    /// What the CLI's `--json` and the API answer.
    pub fn written(&self) -> crate::wire::Written {
        let commit = self.commit.map(|c| c.to_hex());
        let mut written =
            crate::wire::Written::new(self.action, &self.environment, commit, &self.summary, self.dry_run);
        written.source = self.source.map(|v| v.number());
        written
    }
}
