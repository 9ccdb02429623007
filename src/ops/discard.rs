//! `discard`: the draft goes back to the base's tree (the "Delete" button of the draft
//! banner), by a new commit; refused with exit 3 when there is nothing to discard. When
//! the draft is checked out its work tree follows, and uncommitted changes there refuse
//! the discard.

use crate::diff::{self, ChangeSet};
use crate::error::Error;
use crate::identity::Identity;
use crate::lifecycle::{Record, commit_message};
use crate::model::{ObjectId, Version};
use crate::ops::publish::WriteOptions;
use crate::ops::state::read_state;
use crate::ops::write::{NewCommit, check_work_tree, commit_and_move};
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
    let summary = diff::summary(&changes);
    let source = base.current.version();
    let mut written = DraftWritten {
        action: "discard",
        environment: draft.env.to_string(),
        source,
        commit: None,
        summary,
        changes,
        dry_run: true,
    };
    if options.dry_run {
        return Ok(written);
    }
    crate::ops::write::check_confirmed(&state.chain, &draft.env, options.confirmed)?;
    let checked_out = check_work_tree(store, draft.env.as_str())?;
    let actor = options.actor(identity);
    let record = Record {
        subject: format!("Discard the {} changes", draft.env),
        action: "discard",
        environment: draft.env.as_str(),
        actor: &actor,
        version: None,
        holds: None,
        source,
        force: None,
        description: options.message.as_deref(),
        summary: &written.summary,
    };
    let commit = commit_and_move(
        store,
        draft.env.as_str(),
        draft.tip.id,
        NewCommit { tree: base.tip.tree, parents: &[draft.tip.id], message: &commit_message(&record) },
        identity,
        "discard",
    )?;
    if checked_out {
        store.sync_work_tree()?;
    }
    written.commit = Some(commit);
    written.dry_run = false;
    Ok(written)
}
