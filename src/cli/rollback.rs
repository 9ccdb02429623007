//! `stagecraft rollback ENV [--to vN] [-m TEXT] [--dry-run] [--yes]`
//!
//! I/O: the terminal (through `Ui`), and the repository or a daemon's API through `ops` or `client`.

use super::Context;
use super::ui::Ui;
use super::write::{Shown, WriteArgs, write_plan};
use crate::error::Error;
use crate::model::Version;

/// Return an environment to a version it deployed before, by a new commit; the version it leaves goes on hold
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The environment to roll back
    environment: String,
    /// The version to return to [default: the newest earlier deployed version not on hold]
    #[arg(long, value_name = "vN")]
    to: Option<Version>,
    #[command(flatten)]
    write: WriteArgs,
    /// Roll back to a version that is on hold there (needs -m, recorded in the commit; takes it off hold)
    #[arg(long)]
    force: bool,
}

pub fn run(args: Args, context: &Context, ui: &Ui) -> Result<u8, Error> {
    if let Some(client) = context.client()? {
        let request = crate::wire::RollbackRequest {
            environment: args.environment.clone(),
            to: args.to.map(|v| crate::wire::VersionField::Text(v.to_string())),
            message: args.write.message.clone(),
            force: args.force,
            confirm: false,
            preview: false,
            wait: None,
            expected: None,
        };
        let (dry_run, yes) = (args.write.dry_run, args.write.yes);
        let write = super::write::RemoteWrite {
            path: "/v1/rollback",
            request,
            yes,
            dry_run,
            from: &args.environment,
            to: "",
            draft: false,
        };
        return super::write::remote_write(ui, context, &client, write);
    }
    let store = context.open_store()?;
    let identity = context.identity(Some(&store))?;
    let mut options = args.write.options(args.force);
    context.apply_config(&store, &mut options)?;
    let plan = crate::ops::rollback::plan(&store, &identity, &args.environment, args.to, &options)?;
    let (env, version) = (plan.environment.to_string(), plan.version.map(|v| v.to_string()).unwrap_or_default());
    let shown = Shown {
        from: &env,
        to: &version,
        question: format!("roll back {env} to {version} (protected)?"),
        preview: false,
        unified_preview: false,
    };
    write_plan(ui, context, &store, &identity, &args.write, plan, shown)
}
