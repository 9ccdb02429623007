//! `stagecraft revert vN [--assistant ID] [-m TEXT] [--preview]`

use super::Context;
use super::ui::Ui;
use super::write::draft_write;
use crate::error::Error;
use crate::ops::revert::revert;

/// Remove the changes that publish vN introduced from the draft (a three-way merge); publish to make it live
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    target: super::restore::VersionArgs,
}

pub fn run(args: Args, context: &Context, ui: &Ui) -> Result<u8, Error> {
    if let Some(client) = context.client()? {
        let target = args.target;
        let to = format!("draft without {}", target.version);
        return super::restore::remote(ui, context, &client, "/v1/revert", &target, &to);
    }
    let store = context.open_store()?;
    let identity = context.identity(Some(&store))?;
    let args = args.target;
    draft_write(ui, context, &store, &args.write, args.preview, &format!("draft without {}", args.version), |options| {
        revert(&store, &identity, args.version, args.assistant.as_deref(), options)
    })
}
