//! `stagecraft promote <vN|ENV> --to ENV [-m TEXT] [--force] [--dry-run] [--yes]`
//!
//! I/O: the terminal (through `Ui`), and the repository or a daemon's API through `ops` or `client`.

use super::Context;
use super::ui::Ui;
use super::write::{Shown, WriteArgs, write_plan};
use crate::error::Error;

/// Promote a version to the next environment of the chain (by a promotion commit)
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The version (v3), or the environment whose current version to promote
    source: String,
    /// The environment to promote into: the one after the version's environment
    #[arg(long, value_name = "ENV")]
    to: String,
    #[command(flatten)]
    write: WriteArgs,
    /// Promote a version that is on hold there (needs -m; takes it off hold)
    #[arg(long)]
    force: bool,
}

pub fn run(args: Args, context: &Context, ui: &Ui) -> Result<u8, Error> {
    if let Some(client) = context.client()? {
        let request = crate::wire::PromoteRequest {
            version: crate::wire::VersionField::Text(args.source.clone()),
            to: args.to.clone(),
            message: args.write.message.clone(),
            force: args.force,
            confirm: false,
            preview: false,
            wait: None,
            expected: None,
        };
        let (dry_run, yes) = (args.write.dry_run, args.write.yes);
        let write = super::write::RemoteWrite {
            path: "/v1/promote",
            request,
            yes,
            dry_run,
            from: &args.to,
            to: &args.source,
            draft: false,
        };
        return super::write::remote_write(ui, context, &client, write);
    }
    let store = context.open_store()?;
    let identity = context.identity(Some(&store))?;
    let mut options = args.write.options(args.force);
    context.apply_config(&store, &mut options)?;
    let plan = crate::ops::promote::plan(&store, &identity, &args.source, &args.to, &options)?;
    let (to, version) = (plan.environment.to_string(), plan.version.map(|v| v.to_string()).unwrap_or_default());
    let shown = Shown {
        from: &to,
        to: &version,
        question: format!("promote {version} to {to} (protected)?"),
        preview: false,
        unified_preview: false,
    };
    write_plan(ui, context, &store, &identity, &args.write, plan, shown)
}
