//! `discard`: the draft goes back to the base's tree (the "Delete" button of the draft
//! banner), by a new commit; refused with exit 3 when there is nothing to discard. When
//! the draft is checked out its work tree follows, and uncommitted changes there refuse
//! the discard.
//!
//! I/O: git, through `store`.

use super::apply::{Done, WriteOptions, finish};
use super::read::{diff_commits, read_state};
use crate::error::Error;
use crate::identity::Identity;
use crate::lifecycle::plan::{Plan, plan_discard};
use crate::store::Store;

/// Reads once and plans the discard.
pub fn plan(store: &Store, identity: &Identity, options: &WriteOptions) -> Result<Plan, Error> {
    let state = read_state(store)?;
    let (draft, base) = (state.draft(), state.base());
    let changes = if draft.tip.tree == base.tip.tree {
        Default::default()
    } else {
        diff_commits(store, draft.tip.id, base.tip.id)?
    };
    plan_discard(&state.chain, &draft.facts(), &base.facts(), changes, &options.request(identity))
}

/// Discards the draft's changes (plans and applies; only plans with `options.dry_run`).
pub fn discard(store: &Store, identity: &Identity, options: &WriteOptions) -> Result<Done, Error> {
    let plan = plan(store, identity, options)?;
    finish(store, identity, plan, options)
}
