//! `rollback ENV [--to vN]`: the environment goes back to a version it deployed before,
//! by a new commit with that version's tree on top of its tip (history is never
//! rewritten); the version it left goes on hold there. A version on hold there needs
//! `--force -m`, which takes it off hold; a newer version (undoing a rollback) is a roll
//! forward. The rules are [`crate::lifecycle::plan::rollback_version`]'s and
//! [`crate::lifecycle::plan::plan_rollback`]'s.
//!
//! I/O: git, through `store`.

use super::apply::{Done, WriteOptions, finish};
use super::read::deployed::deployed;
use super::read::{diff_commits, read_for_write, reconcile};
use crate::error::Error;
use crate::identity::Identity;
use crate::lifecycle::plan::{Plan, RollbackFacts, plan_rollback, rollback_version};
use crate::model::Version;
use crate::store::Store;

/// Reads once (reconciling first, unless `options.dry_run`) and plans the rollback.
pub fn plan(
    store: &Store,
    identity: &Identity,
    env: &str,
    to: Option<Version>,
    options: &WriteOptions,
) -> Result<Plan, Error> {
    let request = options.request(identity);
    request.force_reason()?;
    let (state, reconciled) = read_for_write(store, options.dry_run)?;
    let target = state.env_named(env)?;
    let facts = target.facts();
    let (deployed, trees) = if &target.env == state.chain.draft() {
        Default::default()
    } else {
        let deployed = deployed(store, &state, &target.env)?;
        let all = state.index.all(store)?;
        let trees = deployed.iter().filter_map(|v| Some((*v, all.get(v)?.tree))).collect();
        (deployed, trees)
    };
    let version = rollback_version(&state.chain, &facts, &deployed, &trees, to)?;
    let tagged = state.version(store, version)?;
    let facts = RollbackFacts {
        chain: &state.chain,
        target: &facts,
        version,
        version_tree: tagged.tree,
        changes: diff_commits(store, target.tip.id, tagged.commit)?,
        notes: reconcile::notes(&reconciled, state.base().env.as_str()),
    };
    plan_rollback(facts, &request)
}

/// Rolls back (plans and applies; only plans with `options.dry_run`).
pub fn rollback(
    store: &Store,
    identity: &Identity,
    env: &str,
    to: Option<Version>,
    options: &WriteOptions,
) -> Result<Done, Error> {
    let plan = plan(store, identity, env, to, options)?;
    finish(store, identity, plan, options)
}
