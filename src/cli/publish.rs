//! `stagecraft publish [-m TEXT] [--force] [--dry-run] [--yes]`

use super::Context;
use super::ui::Ui;
use super::write::{WriteArgs, confirmed, report, show_diff};
use crate::error::Error;
use crate::ops::publish::publish;

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
    let base = store.chain()?.base().to_string();
    // On a terminal, show the diff first; a dry run is that and nothing more.
    let published = if args.write.dry_run || (!ui.json && ui.stdout_is_terminal()) {
        let mut options = args.write.options(args.force);
        options.dry_run = true;
        let plan = publish(&store, &identity, &options)?;
        show_diff(ui, context, &plan.changes, &plan.environment, "draft");
        if args.write.dry_run {
            plan
        } else {
            let mut options = args.write.options(args.force);
            options.confirmed =
                confirmed(&store, &base, args.write.yes, &format!("publish {} to {base} (protected)?", plan.version))?;
            publish(&store, &identity, &options)?
        }
    } else {
        let mut options = args.write.options(args.force);
        options.confirmed = confirmed(&store, &base, args.write.yes, &format!("publish to {base} (protected)?"))?;
        publish(&store, &identity, &options)?
    };
    let written = published.written();
    let human = super::write::human(&written);
    report(ui, &written, &human);
    Ok(0)
}
