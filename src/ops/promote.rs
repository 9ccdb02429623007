//! `promote <vN|ENV> --to ENV`: a version moves from environment k to k+1 (SPEC 3), by a
//! promotion commit with parents [target tip, version commit] and the version's tree,
//! never a fast-forward, so each environment's first-parent log is its deployment
//! history. Only a version environment k has deployed (now or before); a protected
//! target needs a confirmation; a version on hold there needs `--force -m`, which takes
//! it off hold.

use crate::diff::{self, ChangeSet};
use crate::error::Error;
use crate::identity::Identity;
use crate::lifecycle::{Current, Record, commit_message};
use crate::model::{ObjectId, Version};
use crate::ops::publish::WriteOptions;
use crate::ops::state::{RepoState, deployed, read_reconciled, read_state};
use crate::ops::write::{NewCommit, commit_and_move};
use crate::store::Store;

/// What a promotion did (or would do).
#[derive(Debug, Clone)]
pub struct Promoted {
    pub version: Version,
    pub from: String,
    pub to: String,
    pub commit: Option<ObjectId>,
    pub summary: String,
    pub changes: ChangeSet,
    /// True when the version was on hold in the target and the force took it off.
    pub released_hold: bool,
    pub dry_run: bool,
}

/// The checks of a promotion, before any confirmation is asked: what would be promoted.
pub fn plan_promote(
    store: &Store,
    state: &RepoState,
    source: &str,
    to: &str,
) -> Result<(Version, String, String, ChangeSet, bool), Error> {
    let target = state.env_named(to)?;
    let index = state.chain.position(&target.env).expect("from the chain");
    if index < 2 {
        return Err(Error::NotPromotable {
            message: format!("cannot promote into {}: versions enter {} by publish", target.env, state.base().env),
            hint: format!("promote along the chain {}, from {} on", state.chain.display_arrows(), state.base().env),
        });
    }
    let previous = &state.envs[index - 1];
    let version = if let Ok(version) = source.parse::<Version>()
        && source.starts_with('v')
    {
        state.version(store, version)?;
        version
    } else {
        let env = state.env_named(source)?;
        if env.env != previous.env {
            return Err(Error::NotPromotable {
                message: format!(
                    "cannot promote from {} to {}: {} comes right before {}",
                    env.env, target.env, previous.env, target.env
                ),
                hint: format!("promote one step at a time along {}", state.chain.display_arrows()),
            });
        }
        match env.current {
            Current::Drift => {
                return Err(drift(state, env));
            }
            current => current.version().expect("not drift"),
        }
    };
    if !deployed(store, state, &previous.env)?.contains(&version) {
        return Err(Error::NotPromotable {
            message: format!("{version} was never deployed to {}", previous.env),
            hint: format!("promote {version} to {} first", previous.env),
        });
    }
    if target.current.version() == Some(version) {
        return Err(Error::NothingToDo {
            message: format!("{} is already at {version}", target.env),
            hint: "nothing to promote".into(),
        });
    }
    let tagged = state.version(store, version)?;
    let changes = crate::ops::diff::diff_commits(store, target.tip.id, tagged.commit)?;
    let held = target.holds.contains(&version);
    Ok((version, previous.env.to_string(), target.env.to_string(), changes, held))
}

/// Promotes. `options.confirmed` must be true for a protected target.
pub fn promote(
    store: &Store,
    identity: &Identity,
    source: &str,
    to: &str,
    options: &WriteOptions,
) -> Result<Promoted, Error> {
    let force = options.force_reason()?;
    let state = if options.dry_run { read_state(store)? } else { read_reconciled(store)?.0 };
    let (version, from, to_name, changes, held) = plan_promote(store, &state, source, to)?;
    let target = state.env_named(&to_name)?;
    if held && force.is_none() {
        return Err(Error::Held {
            version: version.to_string(),
            environment: target.env.to_string(),
            hint: format!(
                "{version} was rolled back in {}; pass --force -m \"why\" to promote it again (this takes it off hold)",
                target.env
            ),
        });
    }
    let summary = diff::summary(&changes);
    if options.dry_run {
        return Ok(Promoted {
            version,
            from,
            to: to_name,
            commit: None,
            summary,
            changes,
            released_hold: held,
            dry_run: true,
        });
    }
    if state.chain.is_protected(&target.env) && !options.confirmed {
        return Err(Error::ConfirmationRequired {
            environment: target.env.to_string(),
            hint: "pass --yes to promote into a protected environment".into(),
        });
    }
    let holds: Vec<Version> = target.holds.iter().copied().filter(|v| *v != version).collect();
    let actor = options.actor(identity);
    let record = Record {
        subject: format!("Promote {version} to {}", target.env),
        action: "promote",
        environment: target.env.as_str(),
        actor: &actor,
        version: Some(version),
        holds: Some(&holds),
        source: None,
        force,
        description: options.message.as_deref(),
        summary: &summary,
    };
    let tagged = state.version(store, version)?;
    let commit = commit_and_move(
        store,
        target.env.as_str(),
        target.tip.id,
        NewCommit {
            tree: tagged.tree,
            parents: &[target.tip.id, tagged.commit],
            message: &commit_message(&record),
            tag: None,
        },
        identity,
        "promote",
    )?;
    Ok(Promoted {
        version,
        from,
        to: to_name,
        commit: Some(commit),
        summary,
        changes,
        released_hold: held,
        dry_run: false,
    })
}

/// The drift error of an environment, with the way back that applies to it.
pub fn drift(state: &RepoState, env: &crate::ops::state::EnvState) -> Error {
    let name = env.env.as_str();
    let hint = if &env.env == state.chain.base() {
        format!(
            "bring {name} back to a version with `stagecraft rollback {name} --to vN`, or publish the draft over it"
        )
    } else {
        format!(
            "bring {name} back to a version with `stagecraft rollback {name} --to vN` or `stagecraft promote vN --to {name}`"
        )
    };
    Error::Drift { environment: name.to_string(), commit: env.tip.id.short(), hint }
}

impl Promoted {
    /// What the CLI's `--json` and the API answer.
    pub fn written(&self) -> crate::wire::Written {
        let commit = self.commit.map(|c| c.to_hex());
        let mut written = crate::wire::Written::new("promote", &self.to, commit, &self.summary, self.dry_run);
        written.version = Some(self.version.number());
        written.from = Some(self.from.clone());
        written.released_hold = self.released_hold;
        written
    }
}
