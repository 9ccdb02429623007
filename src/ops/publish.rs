//! `publish`: the draft becomes the next version on the second environment: a merge
//! commit with parents [base tip, draft tip] and the draft's tree, then the
//! compare-and-swap of the base branch, then the annotated tag `v<N>`. The rules
//! (nothing to publish, invalid, equal to a held version) are
//! [`crate::lifecycle::plan::plan_publish`]'s.
//!
//! I/O: git, through `store`.

use super::apply::{Done, WriteOptions, finish};
use super::read::{diff_snapshots, read_for_write, reconcile};
use crate::error::Error;
use crate::identity::Identity;
use crate::lifecycle::plan::{Plan, PublishFacts, plan_publish};
use crate::parse;
use crate::store::Store;

/// Reads once (reconciling first, unless `options.dry_run`) and plans the publish.
pub fn plan(store: &Store, identity: &Identity, options: &WriteOptions) -> Result<Plan, Error> {
    let request = options.request(identity);
    request.force_reason()?;
    let (state, reconciled) = read_for_write(store, options.dry_run)?;
    if !options.dry_run {
        crate::failpoint::hit("publish-after-reconcile");
    }
    let (draft, base) = (state.draft(), state.base());
    let (diagnostics, changes, held_trees) = if draft.tip.tree == base.tip.tree {
        (Vec::new(), Default::default(), Vec::new())
    } else {
        let snapshot = store.snapshot(draft.tip.id)?;
        let (_, diagnostics) = parse::load(&snapshot, &store.blobs(), &state.chain);
        let changes = diff_snapshots(store, &store.snapshot(base.tip.id)?, &snapshot)?;
        let mut held_trees = Vec::new();
        for held in &base.holds {
            held_trees.push((*held, state.version(store, *held)?.tree));
        }
        (diagnostics, changes, held_trees)
    };
    let notes = reconcile::notes(&reconciled, base.env.as_str());
    let (draft_facts, base_facts) = (draft.facts(), base.facts());
    let facts = PublishFacts {
        chain: &state.chain,
        draft: &draft_facts,
        base: &base_facts,
        diagnostics: &diagnostics,
        held_trees: &held_trees,
        next: reconciled.next,
        changes,
        notes: notes.clone(),
    };
    let mut plan = plan_publish(facts, &request).map_err(|error| error.noted(notes))?;
    plan.reconciled = reconciled.tagged.iter().map(|t| t.version).collect();
    Ok(plan)
}

/// Publishes the draft (plans and applies; only plans with `options.dry_run`).
pub fn publish(store: &Store, identity: &Identity, options: &WriteOptions) -> Result<Done, Error> {
    let plan = plan(store, identity, options)?;
    finish(store, identity, plan, options)
}
