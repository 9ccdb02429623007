//! `publish`: the draft becomes the next version on the second environment (SPEC 3): a
//! merge commit with parents [base tip, draft tip] and the draft's tree, then the
//! compare-and-swap of the base branch, then the annotated tag `v<N>`. Refused when there
//! is nothing to publish, when the draft does not validate, and when its tree equals a
//! version on hold in the base (unless forced with a reason).

use crate::diff::{self, ChangeSet};
use crate::error::Error;
use crate::identity::Identity;
use crate::lifecycle::{Record, commit_message};
use crate::model::{ObjectId, Version};
use crate::ops::reconcile::{reconcile, tag_message};
use crate::ops::state::{read_reconciled, read_state};
use crate::ops::write::{NewCommit, commit_and_move};
use crate::parse;
use crate::store::{NewTag, Store};

/// How to publish.
#[derive(Debug, Clone, Default)]
pub struct WriteOptions {
    /// `-m`: the description, stored in the commit and the tag.
    pub message: Option<String>,
    /// `--force`: publish or promote a version on hold; needs `message`.
    pub force: bool,
    /// `--dry-run`: decide and report, write nothing.
    pub dry_run: bool,
    /// `--yes`: the confirmation a protected environment needs.
    pub confirmed: bool,
    /// Who asked (`Name <email>` or `token:<name>`); the identity's author when `None`.
    pub actor: Option<String>,
}

impl WriteOptions {
    /// The `Stagecraft-Force` reason, or a usage error when `--force` has no `-m`.
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

    pub fn actor(&self, identity: &Identity) -> String {
        self.actor.clone().unwrap_or_else(|| identity.author.to_string())
    }
}

/// What a publish did (or would do, with `dry_run`).
#[derive(Debug, Clone)]
pub struct Published {
    pub version: Version,
    pub environment: String,
    /// The publish commit; `None` on a dry run.
    pub commit: Option<ObjectId>,
    pub summary: String,
    pub changes: ChangeSet,
    /// What reconciliation did first: versions tagged (forge merges, cut-off
    /// publishes) and forge merges skipped because they do not validate.
    pub reconciled: crate::ops::reconcile::Reconciled,
    pub dry_run: bool,
}

/// Publishes the draft. See the module documentation.
pub fn publish(store: &Store, identity: &Identity, options: &WriteOptions) -> Result<Published, Error> {
    let force = options.force_reason()?;
    // A dry run plans the reconciliation (for the next number) and writes nothing.
    let (state, reconciled) = if options.dry_run {
        let state = read_state(store)?;
        let planned = reconcile(store, &state, false)?;
        (state, crate::ops::reconcile::Reconciled { tagged: Vec::new(), skipped: Vec::new(), ..planned })
    } else {
        read_reconciled(store)?
    };
    if !options.dry_run {
        crate::failpoint::hit("publish-after-reconcile");
    }
    let (draft, base) = (state.draft(), state.base());
    if draft.tip.tree == base.tip.tree {
        return Err(Error::NothingToDo {
            message: format!("nothing to publish: {} equals {}", draft.env, base.env),
            hint: format!("commit a change to {} first, then publish", draft.env),
        });
    }
    let snapshot = store.snapshot(draft.tip.id)?;
    let (_, diagnostics) = parse::load(&snapshot, &store.blobs(), &state.chain);
    if !diagnostics.is_empty() {
        return Err(Error::Invalid { origin: format!("{} ({})", draft.env, draft.tip.id.short()), diagnostics });
    }
    let mut held_equal = None;
    for held in &base.holds {
        if state.version(store, *held)?.tree == draft.tip.tree {
            held_equal = Some(*held);
        }
    }
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
    let changes = crate::ops::diff::diff_snapshots(store, &store.snapshot(base.tip.id)?, &snapshot)?;
    let summary = diff::summary(&changes);
    let version = reconciled.next;
    if options.dry_run {
        return Ok(Published {
            version,
            environment: base.env.to_string(),
            commit: None,
            summary,
            changes,
            reconciled,
            dry_run: true,
        });
    }
    crate::ops::write::check_confirmed(&state.chain, &base.env, options.confirmed)?;
    let actor = options.actor(identity);
    let record = Record {
        subject: format!("Publish {version}"),
        action: "publish",
        environment: base.env.as_str(),
        actor: &actor,
        version: Some(version),
        holds: Some(&base.holds),
        source: None,
        force,
        description: options.message.as_deref(),
        summary: &summary,
    };
    let message = commit_message(&record);
    let base_tip = base.tip.id;
    let tagger = crate::identity::Person::parse(&actor).unwrap_or_else(|| identity.author.clone());
    let tag_text = tag_message(&crate::history::Message::parse(&message));
    let tag = NewTag { version, tagger: &tagger, when: identity.committer_time, message: &tag_text };
    let commit = commit_and_move(
        store,
        base.env.as_str(),
        base_tip,
        NewCommit { tree: draft.tip.tree, parents: &[base_tip, draft.tip.id], message: &message, tag: Some(tag) },
        identity,
        "publish",
    )?;
    Ok(Published {
        version,
        environment: base.env.to_string(),
        commit: Some(commit),
        summary,
        changes,
        reconciled,
        dry_run: false,
    })
}

impl Published {
    /// What the CLI's `--json` and the API answer.
    pub fn written(&self) -> crate::wire::Written {
        let commit = self.commit.map(|c| c.to_hex());
        let mut written = crate::wire::Written::new("publish", &self.environment, commit, &self.summary, self.dry_run);
        written.version = Some(self.version.number());
        written.reconciled = self.reconciled.tagged.iter().map(|t| t.version.number()).collect();
        written.reconciled_notes = crate::ops::reconcile::notes(&self.reconciled, &self.environment);
        written
    }
}
