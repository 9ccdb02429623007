//! `promote <vN|ENV> --to ENV`: a version moves from environment k to k+1, by a
//! promotion commit with parents [target tip, version commit] and the version's tree,
//! never a fast-forward, so each environment's first-parent log is its deployment
//! history. The rules are [`crate::lifecycle::plan::plan_promote`]'s.
//!
//! I/O: git, through `store`.

use super::apply::{Done, WriteOptions, finish};
use super::read::deployed::has_deployed;
use super::read::{diff_commits, read_for_write, reconcile};
use crate::error::Error;
use crate::identity::Identity;
use crate::lifecycle::plan::{Plan, PromoteFacts, PromoteSource, plan_promote, promotion_version};
use crate::store::Store;

/// Reads once (reconciling first, unless `options.dry_run`) and plans the promotion.
pub fn plan(store: &Store, identity: &Identity, source: &str, to: &str, options: &WriteOptions) -> Result<Plan, Error> {
    let request = options.request(identity);
    request.force_reason()?;
    let (state, reconciled) = read_for_write(store, options.dry_run)?;
    let target = state.env_named(to)?;
    let index = state.chain.position(&target.env).expect("from the chain");
    let envs = state.facts();
    let version = promotion_version(&state.chain, &envs, index, &PromoteSource::parse(source))?;
    let tagged = state.version(store, version)?;
    let previous = &envs[index - 1];
    // Only whether the previous environment deployed this version matters here.
    let deployed: std::collections::BTreeSet<_> =
        has_deployed(store, &state, &previous.env, version)?.then_some(version).into_iter().collect();
    let changes = if deployed.contains(&version) {
        diff_commits(store, target.tip.id, tagged.commit)?
    } else {
        Default::default()
    };
    let facts = PromoteFacts {
        chain: &state.chain,
        previous,
        target: &envs[index],
        version,
        version_commit: tagged.commit,
        version_tree: tagged.tree,
        deployed: &deployed,
        changes,
        notes: reconcile::notes(&reconciled, state.base().env.as_str()),
        tested: super::read::notes::passing_in(store, tagged.commit, previous.env.as_str()),
    };
    plan_promote(facts, &request)
}

/// Promotes (plans and applies; only plans with `options.dry_run`).
pub fn promote(
    store: &Store,
    identity: &Identity,
    source: &str,
    to: &str,
    options: &WriteOptions,
) -> Result<Done, Error> {
    let plan = plan(store, identity, source, to, options)?;
    finish(store, identity, plan, options)
}
