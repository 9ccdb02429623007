//! `stagecraft restore vN [--assistant ID] [-m TEXT] [--preview]`
//!
//! I/O: the terminal (through `Ui`), and the repository or a daemon's API through `ops` or `client`.

use super::Context;
use super::ui::Ui;
use super::write::{Shown, WriteArgs, write_plan};
use crate::error::Error;
use crate::lifecycle::plan::Plan;
use crate::model::Version;

/// Make the draft the snapshot of vN (of one assistant with --assistant), by a new commit
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    pub target: VersionArgs,
}

/// The operands of restore and revert.
#[derive(Debug, clap::Args)]
pub struct VersionArgs {
    /// The version, e.g. v3
    pub version: Version,
    /// Only this assistant: its directory and its channels.toml bindings
    #[arg(long, value_name = "ID")]
    pub assistant: Option<String>,
    #[command(flatten)]
    pub write: WriteArgs,
    /// Print the diff draft → result; write nothing (same as --dry-run)
    #[arg(long)]
    pub preview: bool,
}

pub fn run(args: Args, context: &Context, ui: &Ui) -> Result<u8, Error> {
    if let Some(client) = context.client()? {
        let target = args.target;
        let to = target.version.to_string();
        return remote(ui, context, &client, "/v1/restore", &target, &to);
    }
    let store = context.open_store()?;
    let identity = context.identity(Some(&store))?;
    let args = args.target;
    let mut options = args.write.options(false);
    context.apply_config(&store, &mut options)?;
    let plan = crate::ops::restore::plan(&store, &identity, args.version, args.assistant.as_deref(), &options)?;
    let to = format!("draft with {}", args.version);
    let shown = draft_shown(&plan, &to, args.preview);
    write_plan(ui, context, &store, &identity, &args.write, plan, shown)
}

/// How discard, restore and revert show their plan: the draft → `to`.
pub fn draft_shown<'a>(plan: &Plan, to: &'a str, preview: bool) -> Shown<'a> {
    Shown {
        from: "draft",
        to,
        question: format!("write to {} (protected)?", plan.environment),
        preview,
        unified_preview: true,
    }
}

/// revert and restore through a daemon's API.
pub fn remote(
    ui: &Ui,
    context: &Context,
    client: &crate::client::Client,
    path: &str,
    target: &VersionArgs,
    to: &str,
) -> Result<u8, Error> {
    let request = crate::wire::DraftRequest {
        version: crate::wire::VersionField::Text(target.version.to_string()),
        assistant: target.assistant.clone(),
        message: target.write.message.clone(),
        preview: false,
        confirm: false,
        expected: None,
    };
    let dry_run = target.preview || target.write.dry_run;
    let write =
        super::write::RemoteWrite { path, request, yes: target.write.yes, dry_run, from: "draft", to, draft: true };
    super::write::remote_write(ui, context, client, write)
}
