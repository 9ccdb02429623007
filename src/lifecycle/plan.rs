//! The plans of every write, and the daemon's gate: pure functions of facts that `ops`
//! reads once from the repository. Each returns a [`Plan`] (the one commit that will be
//! written, on which tip, with its diff, the holds it adds or lifts, and its notes) or
//! the refusal, an [`Error`] with its code. Applying a plan is `ops`'s: it writes the
//! commit and moves the branch with a compare-and-swap on the tip the plan was made on,
//! so a plan shown to a person and then confirmed is the write that happens, or a
//! `conflict` when the branch moved meanwhile.
//!
//! Pure: no git, no files, no clock. Times and identities come in at apply time.

use std::collections::{BTreeMap, BTreeSet};

use super::{Current, Record, RollbackChoice, RollbackRefusal, commit_message, holds_after_rollback, rollback_target};
use crate::diff::{self, ChangeSet};
use crate::error::Error;
use crate::history::Message;
use crate::model::{Chain, EnvName, ObjectId, Snapshot, Version};
use crate::validate::Diagnostic;

/// One environment as a plan sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnvFacts {
    pub env: EnvName,
    pub tip: ObjectId,
    pub tree: ObjectId,
    /// Always `Drift` for the draft, which holds no version.
    pub current: Current,
    pub holds: Vec<Version>,
}

/// What the caller asked for, besides the operands.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Request {
    /// Who asked: `Name <email>` or `token:<name>`.
    pub actor: String,
    /// The description (`-m`); with `force`, the reason.
    pub message: Option<String>,
    /// Write although the version is on hold there (needs a reason).
    pub force: bool,
    /// Environments protected besides the chain's own (the daemon's config adds them).
    pub protected: Vec<EnvName>,
    /// Environments a version enters only with a passing test run recorded in the
    /// environment it comes from (`[environments] require_tests`).
    pub require_tests: Vec<EnvName>,
}

impl Request {
    /// The one rule of protection: an environment is protected when the chain says so
    /// (its init trailers) or the daemon's config adds it. A write into it needs the
    /// releaser role and a confirmation, on every front end.
    pub fn is_protected(&self, chain: &Chain, env: &EnvName) -> bool {
        chain.is_protected(env) || self.protected.contains(env)
    }

    /// The `Stagecraft-Force` reason, or a usage error when `force` has no message.
    pub fn force_reason(&self) -> Result<Option<&str>, Error> {
        match (self.force, self.message.as_deref().map(str::trim).filter(|m| !m.is_empty())) {
            (false, _) => Ok(None),
            (true, Some(reason)) => Ok(Some(reason)),
            (true, None) => Err(Error::Usage {
                message: "--force needs a reason".into(),
                hint: Some("pass `-m \"why\"` with --force; it is recorded in the commit".into()),
            }),
        }
    }
}

/// The write operations.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Publish,
    Discard,
    Promote,
    Rollback,
    Revert,
    Restore,
    /// Files changed on the draft from the dashboard.
    Edit,
}

impl Action {
    /// The `Stagecraft-Action` value, also the failpoints' prefix.
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Publish => "publish",
            Action::Discard => "discard",
            Action::Promote => "promote",
            Action::Rollback => "rollback",
            Action::Revert => "revert",
            Action::Restore => "restore",
            Action::Edit => "edit",
        }
    }
}

/// The tree a plan commits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NewTree {
    /// A tree already in the repository.
    Existing(ObjectId),
    /// A snapshot whose blobs are in the repository; its trees are written at apply.
    Snapshot(Snapshot),
}

/// The tag a publish puts on its commit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlannedTag {
    pub version: Version,
    /// The tag's message: the description, then the summary.
    pub message: String,
    /// The tagger: the actor, when it is a person.
    pub tagger: Option<crate::identity::Person>,
}

/// One write, decided: the commit to make and everything the answer reports.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    pub action: Action,
    /// The branch written.
    pub environment: EnvName,
    /// The tip the plan was made on: the branch moves only from it.
    pub expected: ObjectId,
    pub tree: NewTree,
    pub parents: Vec<ObjectId>,
    /// The whole commit message, trailers included.
    pub message: String,
    pub tag: Option<PlannedTag>,
    /// The version the environment holds after (publish, promote, rollback).
    pub version: Option<Version>,
    /// The version acted on (discard, revert, restore).
    pub source: Option<Version>,
    /// A promotion's environment of origin.
    pub from: Option<EnvName>,
    /// A rollback's version left (it goes on hold).
    pub left: Option<Version>,
    /// A rollback to a newer version than the current one (undoing a rollback).
    pub forward: bool,
    /// The hold set after, when the write records one.
    pub holds: Option<Vec<Version>>,
    /// A version on hold there that this write takes off hold.
    pub released_hold: Option<Version>,
    /// Whether the environment written is protected: the write needs a confirmation.
    pub protected: bool,
    /// The one-line summary of the change.
    pub summary: String,
    /// The tip's tree → the new tree.
    pub changes: ChangeSet,
    /// What reading did first (reconciliation), one line each for people.
    pub notes: Vec<String>,
    /// The versions that reconciliation tagged before this plan.
    pub reconciled: Vec<Version>,
}

impl Plan {
    /// The refusal of a protected write without a confirmation.
    pub fn check_confirmed(&self, confirmed: bool) -> Result<(), Error> {
        if self.protected && !confirmed {
            return Err(Error::ConfirmationRequired {
                environment: self.environment.to_string(),
                hint: format!("{} is protected: pass --yes to confirm", self.environment),
            });
        }
        Ok(())
    }
}

/// What a publish decides on.
#[derive(Debug, Clone)]
pub struct PublishFacts<'a> {
    pub chain: &'a Chain,
    pub draft: &'a EnvFacts,
    pub base: &'a EnvFacts,
    /// The draft's findings.
    pub diagnostics: &'a [Diagnostic],
    /// The trees of the versions on hold in the base.
    pub held_trees: &'a [(Version, ObjectId)],
    /// The number the publish takes.
    pub next: Version,
    /// Base → draft.
    pub changes: ChangeSet,
    pub notes: Vec<String>,
}

/// The draft becomes the next version on the second environment: refused when there is
/// nothing to publish, when the draft does not validate, and when its tree equals a
/// version on hold there (unless forced with a reason).
pub fn plan_publish(facts: PublishFacts<'_>, request: &Request) -> Result<Plan, Error> {
    let force = request.force_reason()?;
    let PublishFacts { chain, draft, base, diagnostics, held_trees, next, changes, notes } = facts;
    if draft.tree == base.tree {
        return Err(Error::NothingToDo {
            message: format!("nothing to publish: {} equals {}", draft.env, base.env),
            hint: format!("commit a change to {} first, then publish", draft.env),
        });
    }
    if !diagnostics.is_empty() {
        return Err(Error::Invalid {
            origin: format!("{} ({})", draft.env, draft.tip.short()),
            diagnostics: diagnostics.to_vec(),
        });
    }
    let held_equal = held_trees.iter().filter(|(_, tree)| *tree == draft.tree).map(|(v, _)| *v).max();
    if let Some(held) = held_equal
        && force.is_none()
    {
        return Err(Error::Held {
            version: held.to_string(),
            environment: base.env.to_string(),
            hint: format!(
                "the draft equals {held}, which was rolled back in {}; pass --force -m \"why\" to publish it anyway",
                base.env
            ),
        });
    }
    let summary = diff::summary(&changes);
    let record = Record {
        subject: format!("Publish {next}"),
        action: Action::Publish.as_str(),
        environment: base.env.as_str(),
        actor: &request.actor,
        version: Some(next),
        holds: Some(&base.holds),
        source: None,
        force,
        description: request.message.as_deref(),
        summary: &summary,
    };
    let message = commit_message(&record);
    let tag = PlannedTag {
        version: next,
        message: tag_message(&Message::parse(&message)),
        tagger: crate::identity::Person::parse(&request.actor),
    };
    Ok(Plan {
        action: Action::Publish,
        environment: base.env.clone(),
        expected: base.tip,
        tree: NewTree::Existing(draft.tree),
        parents: vec![base.tip, draft.tip],
        message,
        tag: Some(tag),
        version: Some(next),
        source: None,
        from: None,
        left: None,
        forward: false,
        holds: None,
        released_hold: None,
        protected: request.is_protected(chain, &base.env),
        summary,
        changes,
        notes,
        reconciled: Vec::new(),
    })
}

/// A version tag's message: the description, then the summary.
pub fn tag_message(message: &Message) -> String {
    let mut text = message.description.clone().unwrap_or_default();
    if let Some(summary) = &message.summary {
        if !text.is_empty() {
            text.push_str("\n\n");
        }
        text.push_str(summary);
    }
    if text.is_empty() {
        text = message.subject.clone();
    }
    text.push('\n');
    text
}

/// The draft goes back to the base's tree; refused when they are equal.
pub fn plan_discard(
    chain: &Chain,
    draft: &EnvFacts,
    base: &EnvFacts,
    changes: ChangeSet,
    request: &Request,
) -> Result<Plan, Error> {
    if draft.tree == base.tree {
        return Err(Error::NothingToDo {
            message: format!("nothing to discard: {} equals {}", draft.env, base.env),
            hint: "the draft has no unpublished changes".into(),
        });
    }
    let change = DraftChange {
        action: Action::Discard,
        subject: format!("Discard the {} changes", draft.env),
        source: base.current.version(),
        tree: NewTree::Existing(base.tree),
        changes,
    };
    Ok(draft_plan(chain, draft, change, request))
}

/// Files of the draft changed in place (the dashboard's editor): one commit on the draft
/// with the new snapshot; refused when it changes nothing. The snapshot was validated
/// by the caller (an invalid one is never planned).
pub fn plan_edit(
    chain: &Chain,
    draft: &EnvFacts,
    snapshot: Snapshot,
    subject: String,
    changes: ChangeSet,
    request: &Request,
) -> Result<Plan, Error> {
    if changes.assistants.is_empty() && changes.channels.is_empty() && changes.other_files.is_empty() {
        return Err(Error::NothingToDo {
            message: format!("nothing to save: the {} already has this", draft.env),
            hint: "change the text, then save".into(),
        });
    }
    let change =
        DraftChange { action: Action::Edit, subject, source: None, tree: NewTree::Snapshot(snapshot), changes };
    Ok(draft_plan(chain, draft, change, request))
}

/// What a promotion names as its source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PromoteSource {
    Version(Version),
    /// An environment: its current version.
    Environment(String),
}

impl PromoteSource {
    /// `v3` is a version; anything else names an environment.
    pub fn parse(text: &str) -> PromoteSource {
        match text.parse::<Version>() {
            Ok(version) if text.starts_with('v') => PromoteSource::Version(version),
            _ => PromoteSource::Environment(text.to_string()),
        }
    }
}

/// The first step of a promotion: which version moves, and from which environment
/// (the one right before the target). `envs` are the chain's environments in order;
/// `target` is an index into them.
pub fn promotion_version(
    chain: &Chain,
    envs: &[EnvFacts],
    target: usize,
    source: &PromoteSource,
) -> Result<Version, Error> {
    let target_env = &envs[target].env;
    if target < 2 {
        return Err(Error::NotPromotable {
            message: format!("cannot promote into {target_env}: versions enter {} by publish", chain.base()),
            hint: format!("promote along the chain {}, from {} on", chain.display_arrows(), chain.base()),
        });
    }
    let previous = &envs[target - 1];
    match source {
        PromoteSource::Version(version) => Ok(*version),
        PromoteSource::Environment(name) => {
            let env = envs.iter().find(|e| e.env.as_str() == name).ok_or_else(|| Error::NotFound {
                what: "environment",
                name: name.clone(),
                hint: format!("the environments are {}", chain.display_arrows()),
            })?;
            if env.env != previous.env {
                return Err(Error::NotPromotable {
                    message: format!(
                        "cannot promote from {} to {target_env}: {} comes right before {target_env}",
                        env.env, previous.env
                    ),
                    hint: format!("promote one step at a time along {}", chain.display_arrows()),
                });
            }
            env.current.version().ok_or_else(|| drift_error(chain, env))
        }
    }
}

/// What a promotion decides on, once its version is known.
#[derive(Debug, Clone)]
pub struct PromoteFacts<'a> {
    pub chain: &'a Chain,
    pub previous: &'a EnvFacts,
    pub target: &'a EnvFacts,
    pub version: Version,
    /// The version's publish commit and tree.
    pub version_commit: ObjectId,
    pub version_tree: ObjectId,
    /// Every version the previous environment has deployed.
    pub deployed: &'a BTreeSet<Version>,
    /// Target tip → the version.
    pub changes: ChangeSet,
    pub notes: Vec<String>,
    /// The version's newest test run in the previous environment, when it passed
    /// ("tests: 12/12 passed in sandbox").
    pub tested: Option<String>,
}

/// A version moves from environment k to k+1 by a promotion commit with parents
/// [target tip, version commit] and the version's tree: only a version environment k has
/// deployed, not one the target is at, and one on hold there only with `force`, which
/// takes it off hold. Into an environment that requires tests, only a version whose
/// newest run in the previous environment passed, or with `force` (the reason is the
/// `Stagecraft-Force` trailer).
pub fn plan_promote(facts: PromoteFacts<'_>, request: &Request) -> Result<Plan, Error> {
    let force = request.force_reason()?;
    let PromoteFacts {
        chain,
        previous,
        target,
        version,
        version_commit,
        version_tree,
        deployed,
        changes,
        mut notes,
        tested,
    } = facts;
    if !deployed.contains(&version) {
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
    let held = target.holds.contains(&version);
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
    if request.require_tests.contains(&target.env) {
        match (&tested, force) {
            (Some(tested), _) => notes.push(format!("{version} {tested}")),
            (None, Some(reason)) => {
                notes.push(format!("{} requires tests; promoted without a passing run: {reason}", target.env))
            }
            (None, None) => {
                return Err(Error::TestsRequired {
                    version: version.to_string(),
                    environment: target.env.to_string(),
                    source_env: previous.env.to_string(),
                    hint: format!(
                        "run `stagecraft test --env {}` until it passes, then promote; or pass --force -m \"why\"",
                        previous.env
                    ),
                });
            }
        }
    }
    let holds: Vec<Version> = target.holds.iter().copied().filter(|v| *v != version).collect();
    let summary = diff::summary(&changes);
    let record = Record {
        subject: format!("Promote {version} to {}", target.env),
        action: Action::Promote.as_str(),
        environment: target.env.as_str(),
        actor: &request.actor,
        version: Some(version),
        holds: Some(&holds),
        source: None,
        force,
        description: request.message.as_deref(),
        summary: &summary,
    };
    Ok(Plan {
        action: Action::Promote,
        environment: target.env.clone(),
        expected: target.tip,
        tree: NewTree::Existing(version_tree),
        parents: vec![target.tip, version_commit],
        message: commit_message(&record),
        tag: None,
        version: Some(version),
        source: None,
        from: Some(previous.env.clone()),
        left: None,
        forward: false,
        holds: None,
        released_hold: held.then_some(version),
        protected: request.is_protected(chain, &target.env),
        summary,
        changes,
        notes,
        reconciled: Vec::new(),
    })
}

/// The first step of a rollback: the version it goes to, from what the environment
/// deployed (`--to` when given, else the newest earlier one not on hold whose tree
/// differs from the tip's). `trees` holds the tree of every deployed version.
pub fn rollback_version(
    chain: &Chain,
    target: &EnvFacts,
    deployed: &BTreeSet<Version>,
    trees: &BTreeMap<Version, ObjectId>,
    requested: Option<Version>,
) -> Result<Version, Error> {
    if &target.env == chain.draft() {
        return Err(Error::Usage {
            message: format!("{} holds no versions to roll back", target.env),
            hint: Some("to return the draft to a version, use `stagecraft restore vN`; to drop its changes, `stagecraft discard`".into()),
        });
    }
    let listed = || deployed.iter().map(ToString::to_string).collect::<Vec<_>>().join(", ");
    let choice = RollbackChoice {
        deployed,
        current: target.current.version(),
        holds: &target.holds,
        trees,
        tip_tree: target.tree,
    };
    rollback_target(choice, requested).map_err(|refusal| match refusal {
        RollbackRefusal::NeverDeployed(version) => Error::NotFound {
            what: "deployed version",
            name: version.to_string(),
            hint: format!("{} deployed {}", target.env, listed()),
        },
        RollbackRefusal::AlreadyAt(version) => Error::NothingToDo {
            message: format!("{} is already at {version}", target.env),
            hint: "nothing to roll back".into(),
        },
        RollbackRefusal::SameTree(version) => Error::NothingToDo {
            message: format!("nothing to roll back: {} already has the configuration of {version}", target.env),
            hint: format!("{version} and the tip of {} have the same tree; name another version with --to", target.env),
        },
        RollbackRefusal::NoEarlier => Error::NotFound {
            what: "earlier deployed version to roll back to in",
            name: target.env.to_string(),
            hint: format!("{} deployed {}; versions on hold are skipped, name one with --to", target.env, listed()),
        },
        RollbackRefusal::NothingToRollBackTo => Error::NothingToDo {
            message: format!("nothing to roll back to in {}", target.env),
            hint: format!(
                "every earlier version of {} off hold has the configuration it has now; name one on hold with --to and --force",
                target.env
            ),
        },
        RollbackRefusal::DriftNeedsTarget => drift_error(chain, target),
    })
}

/// The environment goes to `version` by a new commit with its tree on top of the tip
/// (history is never rewritten); the version it left goes on hold there. A version on
/// hold there is refused unless forced with a reason, and the force takes it off hold.
/// Going to a newer version than the current one (undoing a rollback) is a roll forward
/// and says so.
pub fn plan_rollback(facts: RollbackFacts<'_>, request: &Request) -> Result<Plan, Error> {
    let force = request.force_reason()?;
    let RollbackFacts { chain, target, version, version_tree, changes, notes } = facts;
    let held = target.holds.contains(&version);
    if held && force.is_none() {
        return Err(Error::Held {
            version: version.to_string(),
            environment: target.env.to_string(),
            hint: format!(
                "{version} is on hold in {}; pass --force -m \"why\" to roll back to it anyway (this takes it off hold)",
                target.env
            ),
        });
    }
    let left = target.current.version();
    let forward = left.is_some_and(|left| version > left);
    let holds = holds_after_rollback(&target.holds, left, version);
    let mut summary = diff::summary(&changes);
    if let Some(left) = left {
        summary.push_str(&format!("; {left} on hold"));
    }
    if held {
        summary.push_str(&format!("; {version} taken off hold"));
    }
    let subject = if forward {
        format!("Roll {} forward to {version}", target.env)
    } else {
        format!("Roll back {} to {version}", target.env)
    };
    let record = Record {
        subject,
        action: Action::Rollback.as_str(),
        environment: target.env.as_str(),
        actor: &request.actor,
        version: Some(version),
        holds: Some(&holds),
        source: None,
        force,
        description: request.message.as_deref(),
        summary: &summary,
    };
    Ok(Plan {
        action: Action::Rollback,
        environment: target.env.clone(),
        expected: target.tip,
        tree: NewTree::Existing(version_tree),
        parents: vec![target.tip],
        message: commit_message(&record),
        tag: None,
        version: Some(version),
        source: None,
        from: None,
        left,
        forward,
        holds: Some(holds),
        released_hold: held.then_some(version),
        protected: request.is_protected(chain, &target.env),
        summary,
        changes,
        notes,
        reconciled: Vec::new(),
    })
}

/// What a rollback decides on, once its version is chosen.
#[derive(Debug, Clone)]
pub struct RollbackFacts<'a> {
    pub chain: &'a Chain,
    pub target: &'a EnvFacts,
    pub version: Version,
    pub version_tree: ObjectId,
    /// Tip → the version.
    pub changes: ChangeSet,
    pub notes: Vec<String>,
}

/// A revert cannot start from the first version: there is nothing before it.
pub fn check_revertible(version: Version) -> Result<(), Error> {
    if version == Version::FIRST {
        return Err(Error::NotPromotable {
            message: format!("cannot revert {version}: it is the initial version, there is nothing before it"),
            hint: format!("to return the draft to {version}, use `stagecraft restore {version}`"),
        });
    }
    Ok(())
}

/// What a revert or a restore decides on: the draft's snapshot and the new one.
#[derive(Debug, Clone)]
pub struct DraftFacts<'a> {
    pub chain: &'a Chain,
    pub draft: &'a EnvFacts,
    pub version: Version,
    /// `--assistant`: only this assistant.
    pub assistant: Option<&'a str>,
    pub ours: &'a Snapshot,
    pub new: Snapshot,
    /// The new tree's findings (revert only; a restore's tree is a version's).
    pub diagnostics: &'a [Diagnostic],
    /// Draft → new.
    pub changes: ChangeSet,
}

/// The changes `version` introduced leave the draft (its three-way merge made by `ops`):
/// refused when that changes nothing or the result does not validate.
pub fn plan_revert(facts: DraftFacts<'_>, request: &Request) -> Result<Plan, Error> {
    let DraftFacts { chain, draft, version, assistant, ours, new, diagnostics, changes } = facts;
    if &new == ours {
        return Err(Error::NothingToDo {
            message: format!("reverting {version} changes nothing in the {}", draft.env),
            hint: "its changes are already gone from the draft".into(),
        });
    }
    if !diagnostics.is_empty() {
        return Err(Error::Invalid { origin: format!("the revert of {version}"), diagnostics: diagnostics.to_vec() });
    }
    let scope = assistant.map(|id| format!(" ({id})")).unwrap_or_default();
    let change = DraftChange {
        action: Action::Revert,
        subject: format!("Revert {version}{scope} in {}", draft.env),
        source: Some(version),
        tree: NewTree::Snapshot(new),
        changes,
    };
    Ok(draft_plan(chain, draft, change, request))
}

/// The draft becomes a version's snapshot (or one assistant's): refused when it already
/// is.
pub fn plan_restore(facts: DraftFacts<'_>, request: &Request) -> Result<Plan, Error> {
    let DraftFacts { chain, draft, version, assistant, ours, new, changes, .. } = facts;
    if &new == ours {
        let what = assistant.map_or_else(|| draft.env.to_string(), |id| format!("{id} in {}", draft.env));
        return Err(Error::NothingToDo {
            message: format!("nothing to restore: {what} already equals {version}"),
            hint: "the draft is already that version".into(),
        });
    }
    let scope = assistant.map(|id| format!(" ({id})")).unwrap_or_default();
    let change = DraftChange {
        action: Action::Restore,
        subject: format!("Restore {version}{scope} into {}", draft.env),
        source: Some(version),
        tree: NewTree::Snapshot(new),
        changes,
    };
    Ok(draft_plan(chain, draft, change, request))
}

/// The new state of the draft that discard, restore and revert end with.
struct DraftChange {
    action: Action,
    subject: String,
    source: Option<Version>,
    tree: NewTree,
    changes: ChangeSet,
}

fn draft_plan(chain: &Chain, draft: &EnvFacts, change: DraftChange, request: &Request) -> Plan {
    let summary = diff::summary(&change.changes);
    let record = Record {
        subject: change.subject,
        action: change.action.as_str(),
        environment: draft.env.as_str(),
        actor: &request.actor,
        version: None,
        holds: None,
        source: change.source,
        force: None,
        description: request.message.as_deref(),
        summary: &summary,
    };
    Plan {
        action: change.action,
        environment: draft.env.clone(),
        expected: draft.tip,
        tree: change.tree,
        parents: vec![draft.tip],
        message: commit_message(&record),
        tag: None,
        version: None,
        source: change.source,
        from: None,
        left: None,
        forward: false,
        holds: None,
        released_hold: None,
        protected: request.is_protected(chain, &draft.env),
        summary,
        changes: change.changes,
        notes: Vec::new(),
        reconciled: Vec::new(),
    }
}

/// The drift error of an environment, with the way back that applies to it.
pub fn drift_error(chain: &Chain, env: &EnvFacts) -> Error {
    let name = env.env.as_str();
    let hint = if &env.env == chain.base() {
        format!(
            "bring {name} back to a version with `stagecraft rollback {name} --to vN`, or publish the draft over it"
        )
    } else {
        format!(
            "bring {name} back to a version with `stagecraft rollback {name} --to vN` or `stagecraft promote vN --to {name}`"
        )
    };
    Error::Drift { environment: name.to_string(), commit: env.tip.short(), hint }
}

/// What the daemon's gate decides on for one environment's tip.
#[derive(Debug, Clone)]
pub struct GateFacts<'a> {
    pub chain: &'a Chain,
    pub env: &'a EnvFacts,
    /// The tip's first validation finding (and how many), when it does not validate.
    pub invalid: Option<&'a str>,
    /// The tip carries a `Stagecraft-Force` trailer.
    pub forced: bool,
}

/// The daemon's gate: why a tip is held back, if it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GateDecision {
    pub valid: bool,
    pub drift: bool,
    pub held: bool,
    /// Why the tip is not delivered; `None` when it is.
    pub problem: Option<String>,
}

/// A tip is delivered when it validates, holds a version (the draft excepted) and that
/// version is not on hold there (unless the tip was forced).
pub fn gate(facts: &GateFacts<'_>) -> GateDecision {
    let GateFacts { chain, env, invalid, forced } = *facts;
    let is_draft = &env.env == chain.draft();
    let version = env.current.version();
    let drift = !is_draft && env.current == Current::Drift;
    let held = !is_draft && !forced && version.is_some_and(|v| env.holds.contains(&v));
    let (name, short) = (env.env.as_str(), env.tip.short());
    let problem = if let Some(invalid) = invalid {
        Some(format!("{name} at {short} does not validate: {invalid}"))
    } else if drift {
        let Error::Drift { hint, .. } = drift_error(chain, env) else { unreachable!("drift_error makes a Drift") };
        Some(format!("{name} at {short} holds no version (drift); {hint}"))
    } else if held {
        Some(format!(
            "{name} at {short} is on {}, which is on hold there; promote another version or force it",
            version.map_or_else(String::new, |v| v.to_string())
        ))
    } else {
        None
    };
    GateDecision { valid: invalid.is_none(), drift, held, problem }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::Code;

    fn id(n: u8) -> ObjectId {
        ObjectId([n; 20])
    }
    fn v(n: u32) -> Version {
        Version::new(n).unwrap()
    }
    fn chain() -> Chain {
        let names = ["draft", "sandbox", "pre-release", "live"].map(|n| EnvName::new(n).unwrap()).to_vec();
        Chain::new(names, vec![EnvName::new("live").unwrap()]).unwrap()
    }
    fn env(name: &str, tip: u8, tree: u8, current: Current, holds: &[u32]) -> EnvFacts {
        EnvFacts {
            env: EnvName::new(name).unwrap(),
            tip: id(tip),
            tree: id(tree),
            current,
            holds: holds.iter().map(|h| v(*h)).collect(),
        }
    }
    fn request() -> Request {
        Request { actor: "Ada <ada@example.com>".into(), ..Request::default() }
    }
    fn forced(reason: Option<&str>) -> Request {
        Request { force: true, message: reason.map(str::to_string), ..request() }
    }
    fn code(result: Result<Plan, Error>) -> Code {
        result.expect_err("a refusal").code()
    }
    fn diagnostic() -> Diagnostic {
        Diagnostic::whole("assistants/a/assistant.toml", String::from("broken"), None)
    }

    fn publish(
        draft_tree: u8,
        diagnostics: &[Diagnostic],
        held: &[(Version, ObjectId)],
        req: &Request,
    ) -> Result<Plan, Error> {
        let chain = chain();
        let draft = env("draft", 1, draft_tree, Current::Drift, &[]);
        let base = env("sandbox", 2, 20, Current::Own(v(2)), &[3]);
        let facts = PublishFacts {
            chain: &chain,
            draft: &draft,
            base: &base,
            diagnostics,
            held_trees: held,
            next: v(4),
            changes: ChangeSet::default(),
            notes: Vec::new(),
        };
        plan_publish(facts, req)
    }

    #[test]
    fn publish_refuses_nothing_invalid_held_and_force_without_reason() {
        assert_eq!(code(publish(20, &[], &[], &request())), Code::NothingToDo);
        assert_eq!(code(publish(30, &[diagnostic()], &[], &request())), Code::ValidationFailed);
        assert_eq!(code(publish(30, &[], &[(v(3), id(30))], &request())), Code::Held);
        assert_eq!(code(publish(30, &[], &[(v(3), id(30))], &forced(None))), Code::Usage);
        let plan = publish(30, &[], &[(v(3), id(30))], &forced(Some("hotfix"))).expect("forced");
        assert!(plan.message.contains("Stagecraft-Force: hotfix"), "{}", plan.message);
        let plan = publish(30, &[], &[], &request()).expect("a plan");
        assert_eq!((plan.version, plan.expected, plan.parents.clone()), (Some(v(4)), id(2), vec![id(2), id(1)]));
        assert_eq!(plan.tree, NewTree::Existing(id(30)));
        assert_eq!(plan.tag.as_ref().map(|t| t.version), Some(v(4)));
        assert!(!plan.protected);
        assert!(plan.message.contains("Stagecraft-Holds: 3"), "the base's holds are carried: {}", plan.message);
    }

    #[test]
    fn discard_refuses_an_equal_draft() {
        let chain = chain();
        let base = env("sandbox", 2, 20, Current::Own(v(2)), &[]);
        let equal = env("draft", 1, 20, Current::Drift, &[]);
        assert_eq!(code(plan_discard(&chain, &equal, &base, ChangeSet::default(), &request())), Code::NothingToDo);
        let draft = env("draft", 1, 10, Current::Drift, &[]);
        let plan = plan_discard(&chain, &draft, &base, ChangeSet::default(), &request()).expect("a plan");
        assert_eq!((plan.tree, plan.source, plan.expected), (NewTree::Existing(id(20)), Some(v(2)), id(1)));
    }

    fn envs(sandbox: Current, pre: Current) -> Vec<EnvFacts> {
        vec![
            env("draft", 1, 10, Current::Drift, &[]),
            env("sandbox", 2, 20, sandbox, &[]),
            env("pre-release", 3, 30, pre, &[]),
            env("live", 4, 40, Current::Own(v(1)), &[3]),
        ]
    }

    #[test]
    fn promotion_version_refuses_publish_targets_skipped_steps_unknown_and_drifting_sources() {
        let chain = chain();
        let all = envs(Current::Own(v(3)), Current::Drift);
        let refused = |target, source: &str| promotion_version(&chain, &all, target, &PromoteSource::parse(source));
        assert_eq!(refused(1, "draft").unwrap_err().code(), Code::NotPromotable, "into the base: by publish");
        assert_eq!(refused(0, "v1").unwrap_err().code(), Code::NotPromotable, "into the draft");
        assert_eq!(refused(3, "sandbox").unwrap_err().code(), Code::NotPromotable, "a skipped step");
        assert_eq!(refused(2, "staging").unwrap_err().code(), Code::NotFound);
        assert_eq!(refused(3, "pre-release").unwrap_err().code(), Code::Drift);
        assert_eq!(refused(2, "sandbox").unwrap(), v(3));
        assert_eq!(refused(3, "v2").unwrap(), v(2));
    }

    fn promote(version: u32, deployed: &[u32], req: &Request) -> Result<Plan, Error> {
        let chain = chain();
        let all = envs(Current::Own(v(3)), Current::Own(v(3)));
        let deployed: BTreeSet<Version> = deployed.iter().map(|d| v(*d)).collect();
        let facts = PromoteFacts {
            chain: &chain,
            previous: &all[2],
            target: &all[3],
            version: v(version),
            version_commit: id(50),
            version_tree: id(51),
            deployed: &deployed,
            changes: ChangeSet::default(),
            notes: Vec::new(),
            tested: None,
        };
        plan_promote(facts, req)
    }

    #[test]
    fn promote_into_an_environment_that_requires_tests_needs_a_passing_run_or_force() {
        let chain = chain();
        let all = envs(Current::Own(v(3)), Current::Own(v(2)));
        let deployed: BTreeSet<Version> = [v(2)].into();
        let facts = |tested: Option<&str>| PromoteFacts {
            chain: &chain,
            previous: &all[2],
            target: &all[3],
            version: v(2),
            version_commit: id(50),
            version_tree: id(51),
            deployed: &deployed,
            changes: ChangeSet::default(),
            notes: Vec::new(),
            tested: tested.map(str::to_string),
        };
        let gated = Request { require_tests: vec![all[3].env.clone()], ..request() };
        let refused = plan_promote(facts(None), &gated).unwrap_err();
        assert_eq!(refused.code(), Code::TestsRequired);
        assert_eq!(refused.to_string(), "v2 has no passing test run recorded in pre-release, and live requires one");
        let passed = plan_promote(facts(Some("tests: 12/12 passed in pre-release")), &gated).unwrap();
        assert_eq!(passed.notes, ["v2 tests: 12/12 passed in pre-release"]);
        let forced = Request { force: true, message: Some("hotfix".into()), ..gated.clone() };
        let plan = plan_promote(facts(None), &forced).unwrap();
        assert!(plan.message.contains("Stagecraft-Force: hotfix"), "{}", plan.message);
        assert!(plan_promote(facts(None), &request()).is_ok(), "no gate without require_tests");
    }

    #[test]
    fn promote_refuses_undeployed_current_held_and_force_without_reason() {
        assert_eq!(code(promote(2, &[3], &request())), Code::NotPromotable);
        assert_eq!(code(promote(1, &[1, 3], &request())), Code::NothingToDo);
        assert_eq!(code(promote(3, &[3], &request())), Code::Held);
        assert_eq!(code(promote(3, &[3], &forced(Some("  ")))), Code::Usage);
        let plan = promote(3, &[3], &forced(Some("fixed"))).expect("forced");
        assert_eq!(plan.released_hold, Some(v(3)));
        assert!(plan.protected, "live is protected");
        assert_eq!(plan.check_confirmed(false).unwrap_err().code(), Code::ConfirmationRequired);
        assert!(plan.check_confirmed(true).is_ok());
        assert!(!plan.message.contains("Stagecraft-Holds: 3"), "the hold is lifted: {}", plan.message);
        assert_eq!(plan.parents, vec![id(4), id(50)]);
    }

    #[test]
    fn rollback_refuses_the_draft_never_deployed_current_equal_trees_none_earlier_drift_and_held() {
        let chain = chain();
        let deployed: BTreeSet<Version> = [1, 2, 4].map(v).into_iter().collect();
        let trees: BTreeMap<Version, ObjectId> = [(v(1), id(11)), (v(2), id(12)), (v(4), id(40))].into();
        let live = env("live", 4, 40, Current::Own(v(4)), &[2]);
        let draft = env("draft", 1, 10, Current::Drift, &[]);
        let drifting = env("live", 4, 99, Current::Drift, &[]);
        let refused = |r: Result<Version, Error>| r.unwrap_err().code();
        let version = |target: &EnvFacts, to: Option<Version>| rollback_version(&chain, target, &deployed, &trees, to);
        assert_eq!(refused(version(&draft, None)), Code::Usage);
        assert_eq!(refused(version(&live, Some(v(3)))), Code::NotFound);
        assert_eq!(refused(version(&live, Some(v(4)))), Code::NothingToDo);
        let first = env("live", 4, 11, Current::Own(v(1)), &[]);
        assert_eq!(refused(version(&first, None)), Code::NotFound);
        assert_eq!(refused(version(&drifting, None)), Code::Drift);
        assert_eq!(version(&live, None).unwrap(), v(1), "v2 is on hold");
        // A tip whose tree is v1's: nothing earlier off hold differs.
        let same = env("live", 4, 11, Current::Own(v(4)), &[2]);
        assert_eq!(refused(version(&same, None)), Code::NothingToDo);
        assert_eq!(refused(version(&same, Some(v(1)))), Code::NothingToDo);
        let facts = |version: u32| RollbackFacts {
            chain: &chain,
            target: &live,
            version: v(version),
            version_tree: id(10 + version as u8),
            changes: ChangeSet::default(),
            notes: Vec::new(),
        };
        let plan = plan_rollback(facts(1), &request()).unwrap();
        assert_eq!((plan.left, plan.holds.clone(), plan.forward), (Some(v(4)), Some(vec![v(2), v(4)]), false));
        assert!(plan.summary.ends_with("; v4 on hold"), "{}", plan.summary);
        assert_eq!(code(plan_rollback(facts(2), &request())), Code::Held, "v2 is on hold in live");
        assert_eq!(code(plan_rollback(facts(2), &forced(None))), Code::Usage);
        let forced_plan = plan_rollback(facts(2), &forced(Some("v4 is worse"))).unwrap();
        assert_eq!(forced_plan.released_hold, Some(v(2)));
        assert!(forced_plan.message.contains("Stagecraft-Force: v4 is worse"), "{}", forced_plan.message);
        let earlier = env("sandbox", 2, 11, Current::Own(v(1)), &[]);
        let facts = RollbackFacts { target: &earlier, ..facts(2) };
        let forward = plan_rollback(facts, &request()).unwrap();
        assert!(forward.forward && forward.message.starts_with("Roll sandbox forward to v2"), "{}", forward.message);
    }

    #[test]
    fn revert_and_restore_refuse_the_first_version_no_change_and_invalid_results() {
        assert_eq!(check_revertible(Version::FIRST).unwrap_err().code(), Code::NotPromotable);
        assert!(check_revertible(v(2)).is_ok());
        let chain = chain();
        let draft = env("draft", 1, 10, Current::Drift, &[]);
        let ours = Snapshot::default();
        let mut other = std::collections::BTreeMap::new();
        other.insert("a".to_string(), crate::model::Entry { id: id(7), kind: crate::model::EntryKind::File });
        let changed = Snapshot::new(other);
        let facts = |new: Snapshot, diagnostics: &'static [Diagnostic]| DraftFacts {
            chain: &chain,
            draft: &draft,
            version: v(2),
            assistant: None,
            ours: &ours,
            new,
            diagnostics,
            changes: ChangeSet::default(),
        };
        assert_eq!(code(plan_revert(facts(ours.clone(), &[]), &request())), Code::NothingToDo);
        let broken: &'static [Diagnostic] = Box::leak(vec![diagnostic()].into_boxed_slice());
        assert_eq!(code(plan_revert(facts(changed.clone(), broken), &request())), Code::ValidationFailed);
        assert_eq!(code(plan_restore(facts(ours.clone(), &[]), &request())), Code::NothingToDo);
        let plan = plan_restore(facts(changed.clone(), &[]), &request()).expect("a plan");
        assert_eq!((plan.action, plan.source, plan.tree), (Action::Restore, Some(v(2)), NewTree::Snapshot(changed)));
    }

    #[test]
    fn the_gate_holds_back_invalid_drifting_and_held_tips_but_not_forced_ones_or_the_draft() {
        let chain = chain();
        let live = env("live", 4, 40, Current::Own(v(3)), &[3]);
        let check = |env: &EnvFacts, invalid: Option<&str>, forced: bool| {
            gate(&GateFacts { chain: &chain, env, invalid, forced })
        };
        let held = check(&live, None, false);
        assert!(held.held && held.problem.as_deref().is_some_and(|p| p.contains("on hold")), "{held:?}");
        assert_eq!(check(&live, None, true).problem, None, "a forced tip is delivered");
        let invalid = check(&live, Some("a.toml:1:1: broken"), true);
        assert!(!invalid.valid && invalid.problem.unwrap().contains("does not validate"));
        let drifting = env("pre-release", 3, 99, Current::Drift, &[]);
        let drift = check(&drifting, None, false);
        assert!(drift.drift && drift.problem.unwrap().contains("holds no version (drift)"));
        let draft = env("draft", 1, 10, Current::Drift, &[]);
        assert_eq!(check(&draft, None, false), GateDecision { valid: true, drift: false, held: false, problem: None });
    }
}
