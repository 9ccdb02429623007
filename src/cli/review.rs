//! `stagecraft review --head REF [--base REF] [--format markdown|json|text] [--max-chars N]`
//!
//! I/O: the terminal (through `Ui`), and the repository through `ops`.

use super::Context;
use super::ui::Ui;
use crate::diff::render::{self, Labels};
use crate::error::Error;
use crate::review::{GITHUB_COMMENT_LIMIT, markdown};
use crate::wire::ReviewView;

/// Review a change as a pull request would be: what merging it does, every validation error, warnings, the field-level diff
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The change: a branch (`feature/x`), a ref (`refs/pull/7/head`) or a commit
    #[arg(long, value_name = "REF")]
    head: String,
    /// What it merges into: the draft or an environment branch [default: the draft]
    #[arg(long, value_name = "REF")]
    base: Option<String>,
    /// markdown (a pull-request comment), json, or text [default: text on a terminal, markdown otherwise; json with --json]
    #[arg(long, value_enum)]
    format: Option<ReviewFormat>,
    /// The longest markdown, in characters (a forge's comment limit)
    #[arg(long, value_name = "N", default_value_t = GITHUB_COMMENT_LIMIT)]
    max_chars: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ReviewFormat {
    Markdown,
    Json,
    Text,
}

/// Exit 0 when the head validates, 1 when it does not, 2 on any error.
pub fn run(args: Args, context: &Context, ui: &Ui) -> Result<u8, Error> {
    match review(args, context, ui) {
        Ok(code) => Ok(code),
        Err(error) => {
            ui.error(&error);
            Ok(2)
        }
    }
}

fn review(args: Args, context: &Context, ui: &Ui) -> Result<u8, Error> {
    let store = context.open_store()?;
    let review = crate::ops::review::review(&store, &args.head, args.base.as_deref())?;
    let format = match (args.format, ui.json) {
        (Some(format), _) => format,
        (None, true) => ReviewFormat::Json,
        (None, false) if ui.stdout_is_terminal() => ReviewFormat::Text,
        (None, false) => ReviewFormat::Markdown,
    };
    let labels = Labels { from: review.base.clone(), to: review.head.clone(), from_commit: None, to_commit: None };
    match format {
        ReviewFormat::Markdown => ui.print(&markdown(&review, args.max_chars)),
        ReviewFormat::Json => {
            let view = ReviewView {
                merging: review.merging.clone(),
                head: review.head.clone(),
                head_commit: review.head_commit.clone(),
                base: review.base.clone(),
                valid: review.is_valid(),
                diagnostics: review.diagnostics.clone(),
                warnings: review.warnings.clone(),
                summary: crate::diff::summary(&review.changes),
                diff: render::to_json(&review.changes, &labels),
            };
            ui.print(&format!("{}\n", serde_json::to_string_pretty(&view).expect("wire types serialize")));
        }
        ReviewFormat::Text => {
            let mut out = format!("{}\n", review.merging);
            if review.is_valid() {
                out.push_str(&format!("{} validates\n", review.head));
            } else {
                out.push_str(&format!("{} does not validate: {} errors\n", review.head, review.diagnostics.len()));
                for diagnostic in &review.diagnostics {
                    out.push_str(&diagnostic.render());
                }
            }
            for warning in &review.warnings {
                out.push_str(&format!("warning: {warning}\n"));
            }
            out.push_str(&format!("summary: {}\n", crate::diff::summary(&review.changes)));
            ui.print(&out);
        }
    }
    Ok(if review.is_valid() { 0 } else { 1 })
}
