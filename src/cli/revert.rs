//! `stagecraft revert vN [--assistant ID] [-m TEXT] [--preview]`

use super::Context;
use super::discard::report_draft;
use super::ui::Ui;
use super::write::{WriteArgs, show_diff};
use crate::error::Error;
use crate::model::Version;
use crate::ops::revert::revert;

/// Remove the changes that publish vN introduced from the draft (a three-way merge); publish to make it live
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The version whose changes to remove, e.g. v3
    version: Version,
    /// Only this assistant's changes
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
    let mut options = args.write.options(false);
    options.dry_run = true;
    let plan = revert(&store, &identity, args.version, args.assistant.as_deref(), &options)?;
    let preview = args.write.dry_run || args.preview;
    if preview && !ui.json && !ui.stdout_is_terminal() {
        // Off a terminal a preview still shows the diff, as unified text.
        let labels = crate::diff::render::Labels {
            from: "draft".into(),
            to: format!("draft without {}", args.version),
            from_commit: None,
            to_commit: None,
        };
        ui.print(&crate::diff::render::render(
            &plan.changes,
            &labels,
            crate::diff::render::Format::Unified,
            crate::diff::render::Options { width: context.width(), color: false },
        ));
    }
    show_diff(ui, context, &plan.changes, "draft", &format!("draft without {}", args.version));
    let done = if preview {
        plan
    } else {
        {
            let mut options = args.write.options(false);
            let draft = store.chain()?.draft().to_string();
            options.confirmed =
                super::write::confirmed(&store, &draft, args.write.yes, &format!("write to {draft} (protected)?"))?;
            revert(&store, &identity, args.version, args.assistant.as_deref(), &options)?
        }
    };
    report_draft(ui, &done);
    Ok(0)
}
