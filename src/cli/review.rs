//! `stagecraft review --head REF [--base REF] [--format markdown|json|text] [--max-chars N]`
//!
//! I/O: the terminal (through `Ui`), and the repository through `ops` (or a daemon's
//! `GET /v1/review` with `--server`).

use super::Context;
use super::ui::Ui;
use crate::error::Error;
use crate::review::GITHUB_COMMENT_LIMIT;
use crate::wire::ReviewParams;

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
    let view = match context.client()? {
        Some(client) => {
            let params =
                ReviewParams { head: args.head.clone(), base: args.base.clone(), max_chars: Some(args.max_chars) };
            client.get_with("/v1/review", &params)?
        }
        None => {
            let store = context.open_store()?;
            crate::ops::review::review(&store, &args.head, args.base.as_deref())?.view(args.max_chars)
        }
    };
    let format = match (args.format, ui.json) {
        (Some(format), _) => format,
        (None, true) => ReviewFormat::Json,
        (None, false) if ui.stdout_is_terminal() => ReviewFormat::Text,
        (None, false) => ReviewFormat::Markdown,
    };
    match format {
        ReviewFormat::Markdown => ui.print(&view.markdown),
        ReviewFormat::Json => {
            ui.print(&format!("{}\n", serde_json::to_string_pretty(&view).expect("wire types serialize")));
        }
        ReviewFormat::Text => {
            let mut out = format!("{}\n", view.merging);
            if view.valid {
                out.push_str(&format!("{} validates\n", view.head));
            } else {
                out.push_str(&format!("{} does not validate: {} errors\n", view.head, view.findings.len()));
                for finding in &view.findings {
                    out.push_str(finding);
                }
            }
            for warning in &view.warnings {
                out.push_str(&format!("warning: {warning}\n"));
            }
            out.push_str(&format!("summary: {}\n", view.summary));
            ui.print(&out);
        }
    }
    Ok(if view.valid { 0 } else { 1 })
}
