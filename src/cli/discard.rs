//! `stagecraft discard [-m TEXT] [--dry-run] [--yes]`
//!
//! I/O: the terminal (through `Ui`), and the repository or a daemon's API through `ops` or `client`.

use super::Context;
use super::ui::Ui;
use super::write::{WriteArgs, write_plan};
use crate::error::Error;

/// Drop the draft's unpublished changes: the draft gets the base's tree, by a new commit
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    write: WriteArgs,
}

pub fn run(args: Args, context: &Context, ui: &Ui) -> Result<u8, Error> {
    if let Some(client) = context.client()? {
        let request = crate::wire::DiscardRequest { message: args.write.message.clone(), ..Default::default() };
        let (dry_run, yes) = (args.write.dry_run, args.write.yes);
        let write = super::write::RemoteWrite {
            path: "/v1/discard",
            request,
            yes,
            dry_run,
            from: "draft",
            to: "after discard",
            draft: true,
        };
        return super::write::remote_write(ui, context, &client, write);
    }
    let store = context.open_store()?;
    let identity = context.identity(Some(&store))?;
    let mut options = args.write.options(false);
    context.apply_config(&store, &mut options)?;
    let plan = crate::ops::discard::plan(&store, &identity, &options)?;
    let shown = super::restore::draft_shown(&plan, "after discard", false);
    write_plan(ui, context, &store, &identity, &args.write, plan, shown)
}
