//! `stagecraft publish [-m TEXT] [--force] [--dry-run] [--yes]`
//!
//! I/O: the terminal (through `Ui`), and the repository or a daemon's API through `ops` or `client`.

use super::Context;
use super::ui::Ui;
use super::write::{Shown, WriteArgs, write_plan};
use crate::error::Error;

/// Publish the draft as the next version on the second environment
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    write: WriteArgs,
    /// Publish even though the draft equals a version on hold (needs -m, recorded in the commit)
    #[arg(long)]
    force: bool,
}

pub fn run(args: Args, context: &Context, ui: &Ui) -> Result<u8, Error> {
    if let Some(client) = context.client()? {
        let request = crate::wire::PublishRequest {
            message: args.write.message.clone(),
            force: args.force,
            ..Default::default()
        };
        let (dry_run, yes) = (args.write.dry_run, args.write.yes);
        let write = super::write::RemoteWrite {
            path: "/v1/publish",
            request,
            yes,
            dry_run,
            from: "base",
            to: "draft",
            draft: false,
        };
        return super::write::remote_write(ui, context, &client, write);
    }
    let store = context.open_store()?;
    let identity = context.identity(Some(&store))?;
    let mut options = args.write.options(args.force);
    context.apply_config(&store, &mut options)?;
    let plan = crate::ops::publish::plan(&store, &identity, &options)?;
    let version = plan.version.map(|v| v.to_string()).unwrap_or_default();
    let base = plan.environment.to_string();
    let shown = Shown {
        from: &base,
        to: "draft",
        question: format!("publish {version} to {base} (protected)?"),
        preview: false,
        unified_preview: false,
    };
    write_plan(ui, context, &store, &identity, &args.write, plan, shown)
}
