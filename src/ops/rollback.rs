//! `rollback ENV [--to vN]`: the environment goes back to a version it deployed before,
//! by a new commit with that version's tree on top of its tip (history is never
//! rewritten); the version it left goes on hold there (SPEC 1).

use crate::diff::{self, ChangeSet};
use crate::error::Error;
use crate::identity::Identity;
use crate::lifecycle::{Record, RollbackRefusal, commit_message, holds_after_rollback, rollback_target};
use crate::model::{ObjectId, Version};
use crate::ops::publish::WriteOptions;
use crate::ops::state::{RepoState, deployed, read_reconciled, read_state};
use crate::ops::write::{NewCommit, commit_and_move};
use crate::store::Store;

#[derive(Debug, Clone)]
pub struct RolledBack {
    pub environment: String,
    pub version: Version,
    /// The version it left, now on hold (`None` from drift).
    pub left: Option<Version>,
    pub holds: Vec<Version>,
    pub commit: Option<ObjectId>,
    pub summary: String,
    pub changes: ChangeSet,
    pub dry_run: bool,
}

/// Decides the rollback without writing.
pub fn plan_rollback(store: &Store, state: &RepoState, env: &str, to: Option<Version>) -> Result<RolledBack, Error> {
    let target = state.env_named(env)?;
    if target.env == state.draft().env {
        return Err(Error::Usage {
            message: format!("{} holds no versions to roll back", target.env),
            hint: Some("to return the draft to a version, use `stagecraft restore vN`; to drop its changes, `stagecraft discard`".into()),
        });
    }
    let current = target.current.version();
    let deployed = deployed(store, state, &target.env)?;
    let version = rollback_target(&deployed, current, &target.holds, to).map_err(|refusal| match refusal {
        RollbackRefusal::NeverDeployed(version) => Error::NotFound {
            what: "deployed version",
            name: version.to_string(),
            hint: format!(
                "{} deployed {}",
                target.env,
                deployed.iter().map(ToString::to_string).collect::<Vec<_>>().join(", ")
            ),
        },
        RollbackRefusal::AlreadyAt(version) => Error::NothingToDo {
            message: format!("{} is already at {version}", target.env),
            hint: "nothing to roll back".into(),
        },
        RollbackRefusal::NoEarlier => Error::NotFound {
            what: "earlier deployed version to roll back to in",
            name: target.env.to_string(),
            hint: format!(
                "{} deployed {}; versions on hold are skipped, name one with --to",
                target.env,
                deployed.iter().map(ToString::to_string).collect::<Vec<_>>().join(", ")
            ),
        },
        RollbackRefusal::DriftNeedsTarget => crate::ops::promote::drift(state, target),
    })?;
    let tagged = state.version(store, version)?;
    let changes = crate::ops::diff::diff_commits(store, target.tip.id, tagged.commit)?;
    let holds = holds_after_rollback(&target.holds, current, version);
    let mut summary = diff::summary(&changes);
    if let Some(left) = current {
        summary.push_str(&format!("; {left} on hold"));
    }
    Ok(RolledBack {
        environment: target.env.to_string(),
        version,
        left: current,
        holds,
        commit: None,
        summary,
        changes,
        dry_run: true,
    })
}

/// Rolls back. `options.confirmed` must be true for a protected environment.
pub fn rollback(
    store: &Store,
    identity: &Identity,
    env: &str,
    to: Option<Version>,
    options: &WriteOptions,
) -> Result<RolledBack, Error> {
    let state = if options.dry_run { read_state(store)? } else { read_reconciled(store)?.0 };
    let mut plan = plan_rollback(store, &state, env, to)?;
    if options.dry_run {
        return Ok(plan);
    }
    let target = state.env_named(env)?;
    if state.chain.is_protected(&target.env) && !options.confirmed {
        return Err(Error::ConfirmationRequired {
            environment: target.env.to_string(),
            hint: "pass --yes to roll back a protected environment".into(),
        });
    }
    let actor = options.actor(identity);
    let record = Record {
        subject: format!("Roll back {} to {}", target.env, plan.version),
        action: "rollback",
        environment: target.env.as_str(),
        actor: &actor,
        version: Some(plan.version),
        holds: Some(&plan.holds),
        source: None,
        force: None,
        description: options.message.as_deref(),
        summary: &plan.summary,
    };
    let tree = state.version(store, plan.version)?.tree;
    let commit = commit_and_move(
        store,
        target.env.as_str(),
        target.tip.id,
        NewCommit { tree, parents: &[target.tip.id], message: &commit_message(&record), tag: None },
        identity,
        "rollback",
    )?;
    plan.commit = Some(commit);
    plan.dry_run = false;
    Ok(plan)
}

impl RolledBack {
    /// What the CLI's `--json` and the API answer.
    pub fn written(&self) -> crate::wire::Written {
        let commit = self.commit.map(|c| c.to_hex());
        let mut written = crate::wire::Written::new("rollback", &self.environment, commit, &self.summary, self.dry_run);
        written.version = Some(self.version.number());
        written.holds = Some(self.holds.iter().map(|v| v.number()).collect());
        written.left = self.left.map(|v| v.number());
        written
    }
}
