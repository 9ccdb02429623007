//! What every write command shares: `-m`, `--dry-run`, `--yes`, `--force`; showing the
//! diff before writing; asking for confirmation on a terminal; the result lines.

use std::io::{BufRead, IsTerminal, Write};

use super::Context;
use super::ui::Ui;
use crate::diff::ChangeSet;
use crate::diff::render::{self, Format, Labels, Options};
use crate::error::Error;
use crate::lifecycle::plan::Plan;
use crate::ops::{Done, WriteOptions};
use crate::wire::{WriteAnswer, WriteRequest, Written};

/// The flags of a write.
#[derive(Debug, Clone, clap::Args)]
pub struct WriteArgs {
    /// The description, stored in the commit (and the tag of a publish) and shown in history
    #[arg(short = 'm', long = "message", value_name = "TEXT")]
    pub message: Option<String>,
    /// Print the diff and what would be written; write nothing
    #[arg(long)]
    pub dry_run: bool,
    /// Skip the confirmation a protected environment asks for
    #[arg(long)]
    pub yes: bool,
}

impl WriteArgs {
    pub fn options(&self, force: bool) -> WriteOptions {
        WriteOptions {
            message: self.message.clone(),
            force,
            dry_run: self.dry_run,
            confirmed: self.yes,
            ..WriteOptions::default()
        }
    }
}

/// On a terminal, the side-by-side diff of what is about to be written.
pub fn show_diff(ui: &Ui, context: &Context, changes: &ChangeSet, from: &str, to: &str) {
    if ui.json || !ui.stdout_is_terminal() || changes.is_empty() {
        return;
    }
    let labels = Labels { from: from.to_string(), to: to.to_string(), from_commit: None, to_commit: None };
    ui.print(&render::render(
        changes,
        &labels,
        Format::SideBySide,
        Options { width: context.width(), color: ui.stdout_color() },
    ));
    ui.print("\n");
}

/// What a person answers when asked to confirm.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Answer {
    Yes,
    /// Declined: nothing is written, exit 3.
    No,
}

/// The exit code and the line of a declined write.
const ABORTED: u8 = 3;

/// Asks on a terminal; off one, the write fails with `confirmation_required` (exit 2).
pub fn confirm(question: &str, environment: &str) -> Result<Answer, Error> {
    let refused =
        || Error::ConfirmationRequired { environment: environment.to_string(), hint: "pass --yes to confirm".into() };
    if !std::io::stdin().is_terminal() || !std::io::stderr().is_terminal() {
        return Err(refused());
    }
    let mut stderr = std::io::stderr().lock();
    let _ = write!(stderr, "{question} [y/N] ");
    let _ = stderr.flush();
    let mut answer = String::new();
    std::io::stdin().lock().read_line(&mut answer).map_err(Error::io("read the answer from", "stdin"))?;
    Ok(if matches!(answer.trim().to_ascii_lowercase().as_str(), "y" | "yes") { Answer::Yes } else { Answer::No })
}

/// One or two lines for people, and the JSON object.
pub fn report(ui: &Ui, written: &Written, human: &str) {
    ui.json(written);
    ui.text(human);
}

/// The lines for people after a write, from what the write answered (locally or from a
/// daemon's API, so both print the same).
pub fn human(written: &Written) -> String {
    let short = written.commit.as_deref().map(|c| &c[..7.min(c.len())]).unwrap_or_default();
    let version = written.version.map(|v| format!("v{v}")).unwrap_or_default();
    let dry = "\n(dry run: nothing written)";
    let env = &written.environment;
    let summary = &written.summary;
    let mut out: String = written.reconciled_notes.iter().map(|line| format!("{line}\n")).collect();
    let line = match written.action.as_str() {
        "publish" if written.dry_run => format!("would publish {version} to {env}: {summary}{dry}"),
        "publish" => format!("published {version} to {env} ({short}): {summary}"),
        "promote" => {
            let from = written.from.as_deref().unwrap_or_default();
            let released = if written.released_hold { format!(" ({version} taken off hold)") } else { String::new() };
            if written.dry_run {
                format!("would promote {version} from {from} to {env}{released}: {summary}{dry}")
            } else {
                format!("promoted {version} from {from} to {env} ({short}){released}: {summary}")
            }
        }
        "rollback" => {
            let left = written.left.map(|v| format!(" from v{v}")).unwrap_or_default();
            let moved = if written.forward { format!("{env} forward") } else { format!("back {env}") };
            if written.dry_run {
                format!("would roll {moved}{left} to {version}: {summary}{dry}")
            } else {
                format!("rolled {moved}{left} to {version} ({short}): {summary}")
            }
        }
        action => {
            let source = written.source.map(|v| format!(" v{v}")).unwrap_or_default();
            let verb = match action {
                "discard" => "discarded the changes of".to_string(),
                "restore" => format!("restored{source} into"),
                other => format!("{other}ed{source} in"),
            };
            if written.dry_run {
                format!("would have {verb} {env}: {summary}{dry}")
            } else {
                format!("{verb} {env} ({short}): {summary}")
            }
        }
    };
    out.push_str(&line);
    out.push('\n');
    out
}

/// How a local write shows its plan.
pub struct Shown<'a> {
    /// The diff's labels: what is written, and what it becomes.
    pub from: &'a str,
    pub to: &'a str,
    /// The question asked on a terminal when the environment is protected.
    pub question: String,
    /// A preview only (revert and restore `--preview`), as `--dry-run`.
    pub preview: bool,
    /// Off a terminal, a preview prints the unified diff (the draft writes).
    pub unified_preview: bool,
}

/// A local write, from its plan: the diff shown (on a terminal; the unified diff of a
/// draft preview off one), then, unless previewing, the confirmation a protected
/// environment needs and that very plan applied (a `conflict` if its branch moved
/// meanwhile); then the result.
pub fn write_plan(
    ui: &Ui,
    context: &Context,
    store: &crate::store::Store,
    identity: &crate::identity::Identity,
    args: &WriteArgs,
    plan: Plan,
    shown: Shown<'_>,
) -> Result<u8, Error> {
    let preview = shown.preview || args.dry_run;
    if preview && shown.unified_preview && !ui.json && !ui.stdout_is_terminal() {
        let labels = Labels { from: shown.from.into(), to: shown.to.into(), from_commit: None, to_commit: None };
        ui.print(&render::render(
            &plan.changes,
            &labels,
            Format::Unified,
            Options { width: context.width(), color: false },
        ));
    }
    show_diff(ui, context, &plan.changes, shown.from, shown.to);
    let done = if preview {
        Done::preview(plan)
    } else {
        if plan.protected && !args.yes && confirm(&shown.question, plan.environment.as_str())? == Answer::No {
            // Reconciliation before the plan may have tagged versions: say so.
            ui.notes(&plan.notes);
            let aborted =
                if plan.notes.is_empty() { "aborted: nothing written" } else { "aborted: nothing more written" };
            ui.notes(&[aborted.to_string()]);
            return Ok(ABORTED);
        }
        crate::ops::apply::apply(store, identity, plan, true)?
    };
    let written = done.written();
    report(ui, &written, &human(&written));
    Ok(0)
}

/// A write through a daemon's API (`--server`): on a terminal (or for a dry run) the
/// preview's diff first, then the write; a protected environment's confirmation is
/// asked on a terminal when the daemon wants one. Prints what a local write prints.
pub struct RemoteWrite<'a, R> {
    /// `/v1/publish`, …
    pub path: &'a str,
    /// The request; its `preview` and `confirm` are set here.
    pub request: R,
    pub yes: bool,
    pub dry_run: bool,
    /// The diff's labels: what is written, and what it becomes.
    pub from: &'a str,
    pub to: &'a str,
    /// For revert, restore, discard: a preview off a terminal prints the unified diff.
    pub draft: bool,
}

pub fn remote_write<R: serde::Serialize + WriteRequest>(
    ui: &Ui,
    context: &Context,
    client: &crate::client::Client,
    write: RemoteWrite<'_, R>,
) -> Result<u8, Error> {
    let mut request = write.request;
    let terminal = !ui.json && ui.stdout_is_terminal();
    if write.dry_run || terminal {
        request.set_preview(true);
        let plan: WriteAnswer = client.post(write.path, &request)?;
        let changes = plan.changes.clone().unwrap_or_default();
        if write.dry_run && write.draft && !ui.json && !ui.stdout_is_terminal() {
            let labels = Labels { from: write.from.into(), to: write.to.into(), from_commit: None, to_commit: None };
            ui.print(&render::render(
                &changes,
                &labels,
                Format::Unified,
                Options { width: context.width(), color: false },
            ));
        }
        let to = if write.to.is_empty() {
            plan.written.version.map(|v| format!("v{v}")).unwrap_or_default()
        } else {
            write.to.to_string()
        };
        show_diff(ui, context, &changes, write.from, &to);
        if write.dry_run {
            report(ui, &plan.written, &human(&plan.written));
            return Ok(0);
        }
        request.set_preview(false);
        // The write must be the plan just shown: the daemon refuses it as a conflict if
        // the branch moved since the preview.
        request.set_expected(plan.written.planned_on.clone());
    }
    request.set_confirm(write.yes);
    let done: WriteAnswer = match client.post(write.path, &request) {
        Err(Error::ConfirmationRequired { environment, .. }) if !write.yes => {
            if confirm(&format!("write to {environment} (protected)?"), &environment)? == Answer::No {
                ui.notes(&["aborted: nothing written".to_string()]);
                return Ok(ABORTED);
            }
            request.set_confirm(true);
            client.post(write.path, &request)?
        }
        other => other?,
    };
    report(ui, &done.written, &human(&done.written));
    Ok(0)
}
