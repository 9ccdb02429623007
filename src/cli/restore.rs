//! `stagecraft restore vN [--assistant ID] [-m TEXT] [--preview]`

use super::Context;
use super::ui::Ui;
use super::write::{WriteArgs, draft_write};
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
    draft_write(ui, context, &store, &args.write, args.preview, &format!("draft with {}", args.version), |options| {
        restore(&store, &identity, args.version, args.assistant.as_deref(), options)
    })
}
