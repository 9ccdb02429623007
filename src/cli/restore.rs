//! `stagecraft restore vN [--assistant ID] [-m TEXT] [--preview]`

use super::Context;
use super::discard::report_draft;
use super::ui::Ui;
use super::write::{WriteArgs, show_diff};
use crate::error::Error;
use crate::model::Version;
use crate::ops::restore::restore;

/// Make the draft the snapshot of vN (of one assistant with --assistant), by a new commit
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The version to restore, e.g. v3
    version: Version,
    /// Only this assistant: its directory and its channels.toml tables
    #[arg(long, value_name = "ID")]
    assistant: Option<String>,
    #[command(flatten)]
    write: WriteArgs,
    /// Print the diff draft → result; write nothing (same as --dry-run)
    #[arg(long)]
    preview: bool,
}

pub fn run(args: Args, context: &Context, ui: &Ui) -> Result<u8, Error> {
    let store = context.open_store()?;
    let identity = context.identity(Some(&store))?;
    let mut options = args.write.options(false);
    options.dry_run = true;
    let plan = restore(&store, &identity, args.version, args.assistant.as_deref(), &options)?;
    show_diff(ui, context, &plan.changes, "draft", &format!("draft with {}", args.version));
    let done = if args.write.dry_run || args.preview {
        plan
    } else {
        {
            let mut options = args.write.options(false);
            let draft = store.chain()?.draft().to_string();
            options.confirmed =
                super::write::confirmed(&store, &draft, args.write.yes, &format!("write to {draft} (protected)?"))?;
            restore(&store, &identity, args.version, args.assistant.as_deref(), &options)?
        }
    };
    report_draft(ui, &done);
    Ok(0)
}
