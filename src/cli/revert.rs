//! `stagecraft revert vN [--assistant ID] [-m TEXT] [--preview]`
//!
//! I/O: the terminal (through `Ui`), and the repository or a daemon's API through `ops` or `client`.

use super::Context;
use super::ui::Ui;
use super::write::write_plan;
use crate::error::Error;

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
    let mut options = args.write.options(false);
    context.apply_config(&store, &mut options)?;
    let plan = crate::ops::revert::plan(&store, &identity, args.version, args.assistant.as_deref(), &options)?;
    let to = format!("draft without {}", args.version);
    let shown = super::restore::draft_shown(&plan, &to, args.preview);
    write_plan(ui, context, &store, &identity, &args.write, plan, shown)
}
