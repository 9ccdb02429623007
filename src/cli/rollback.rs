//! `stagecraft rollback ENV [--to vN] [-m TEXT] [--dry-run] [--yes]`

use super::Context;
use super::ui::Ui;
use super::write::{WriteArgs, confirmed, report, show_diff};
use crate::error::Error;
use crate::model::Version;
use crate::ops::rollback::rollback;

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
}

pub fn run(args: Args, context: &Context, ui: &Ui) -> Result<u8, Error> {
    if let Some(client) = context.client()? {
        let request = crate::wire::RollbackRequest {
            environment: args.environment.clone(),
            to: args.to.map(|v| crate::wire::VersionField::Text(v.to_string())),
            message: args.write.message.clone(),
            confirm: false,
            preview: false,
            wait: None,
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
    super::write::reconcile_before_planning(ui, &store, args.write.dry_run)?;
    let mut options = args.write.options(false);
    options.dry_run = true;
    let plan = rollback(&store, &identity, &args.environment, args.to, &options)?;
    show_diff(ui, context, &plan.changes, &plan.environment, &plan.version.to_string());
    let done = if args.write.dry_run {
        plan
    } else {
        let mut options = args.write.options(false);
        options.confirmed = confirmed(
            &store,
            &plan.environment,
            args.write.yes,
            &format!("roll back {} to {} (protected)?", plan.environment, plan.version),
        )?;
        rollback(&store, &identity, &args.environment, args.to, &options)?
    };
    let written = done.written();
    let human = super::write::human(&written);
    report(ui, &written, &human);
    Ok(0)
}
