//! `stagecraft discard [-m TEXT] [--dry-run] [--yes]`

use super::Context;
use super::ui::Ui;
use super::write::{WriteArgs, draft_write, report, short};
use crate::error::Error;
use crate::ops::discard::{DraftWritten, discard};

/// Drop the draft's unpublished changes: the draft gets the base's tree, by a new commit
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    write: WriteArgs,
}

pub fn run(args: Args, context: &Context, ui: &Ui) -> Result<u8, Error> {
    let store = context.open_store()?;
    let identity = context.identity(Some(&store))?;
    draft_write(ui, context, &store, &args.write, false, "after discard", |options| discard(&store, &identity, options))
}

/// The result of discard, restore and revert.
pub fn report_draft(ui: &Ui, done: &DraftWritten) {
    let written = done.written();
    let source = done.source.map(|v| format!(" {v}")).unwrap_or_default();
    let verb = match done.action {
        "discard" => "discarded the changes of".to_string(),
        "restore" => format!("restored{source} into"),
        other => format!("{other}ed{source} in"),
    };
    let human = if done.dry_run {
        format!("would have {verb} {}: {}\n(dry run: nothing written)\n", done.environment, done.summary)
    } else {
        format!("{verb} {} ({}): {}\n", done.environment, short(&done.commit), done.summary)
    };
    report(ui, &written, &human);
}
