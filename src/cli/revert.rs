//! `stagecraft revert vN [--assistant ID] [-m TEXT] [--preview]`

use super::Context;
use super::ui::Ui;
use super::write::{WriteArgs, draft_write};
use crate::error::Error;
use crate::model::Version;
use crate::ops::revert::revert;

/// Remove the changes that publish vN introduced from the draft (a three-way merge); publish to make it live
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The version whose changes to remove, e.g. v3
    version: Version,
    /// Only this assistant's changes
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
    draft_write(ui, context, &store, &args.write, args.preview, &format!("draft without {}", args.version), |options| {
        revert(&store, &identity, args.version, args.assistant.as_deref(), options)
    })
}
