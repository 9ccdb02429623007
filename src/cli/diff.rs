//! `stagecraft diff [FROM] [TO] [--assistant ID] [--format …] [--exit-code]`
//!
//! I/O: the terminal (through `Ui`), and the repository or a daemon's API through `ops` or `client`.

use super::Context;
use super::ui::Ui;
use crate::diff::render::{self, Format, Options};
use crate::error::Error;
use crate::ops;
use crate::ops::read::resolve::looks_like_path;

/// Show the field-level diff between two states (default: base → draft, what a publish would change)
#[derive(Debug, clap::Args)]
pub struct Args {
    /// An environment, a version (v3), a commit, or a directory [default: the second environment]
    from: Option<String>,
    /// An environment, a version, a commit, or a directory [default: the draft]
    to: Option<String>,
    /// Only this assistant
    #[arg(long, value_name = "ID")]
    assistant: Option<String>,
    /// How to render [default: side-by-side on a terminal, unified otherwise; json with --json]
    #[arg(long, value_enum)]
    format: Option<Format>,
    /// Exit 1 when there are differences, 0 when there are none, 2 on any error
    #[arg(long)]
    exit_code: bool,
    /// The chain, outside a repository [default: draft,sandbox,pre-release,live]
    #[arg(long, value_name = "A,B,C")]
    environments: Option<String>,
}

pub fn run(args: Args, context: &Context, ui: &Ui) -> Result<u8, Error> {
    let exit_code = args.exit_code;
    match run_diff(args, context, ui) {
        Ok(code) => Ok(code),
        Err(error) if exit_code => {
            ui.error(&error);
            Ok(2)
        }
        Err(error) => Err(error),
    }
}

fn run_diff(args: Args, context: &Context, ui: &Ui) -> Result<u8, Error> {
    let diffed = match context.client()? {
        Some(client) => {
            if [&args.from, &args.to].into_iter().flatten().any(|spec| looks_like_path(spec)) {
                return Err(Error::Usage {
                    message: "with --server, diff compares environments, versions and commits, not directories".into(),
                    hint: Some("run it without --server to diff a directory".into()),
                });
            }
            let params = crate::wire::DiffParams {
                from: args.from.clone(),
                to: args.to.clone(),
                assistant: args.assistant.clone(),
                format: Some(crate::wire::DiffFormat::Changes),
            };
            let answer: crate::wire::LabelledChanges = client.get_with("/v1/diff", &params)?;
            ops::diff::Diffed { changes: answer.changes, labels: answer.labels }
        }
        None => {
            let is_dir = |spec: &str| looks_like_path(spec) || context.cwd.join(spec).is_dir();
            let only_paths = args.from.as_deref().is_some_and(is_dir) && args.to.as_deref().is_some_and(is_dir);
            let (store, chain) = context.store_and_chain(only_paths, args.environments.as_deref())?;
            let from = args.from.clone().unwrap_or_else(|| chain.base().to_string());
            let to = args.to.clone().unwrap_or_else(|| chain.draft().to_string());
            ops::diff(store.as_ref(), &chain, &from, &to, args.assistant.as_deref(), &context.cwd)?
        }
    };
    let format = match (args.format, ui.json) {
        (Some(format), _) => format,
        (None, true) => Format::Json,
        (None, false) if ui.stdout_is_terminal() => Format::SideBySide,
        (None, false) => Format::Unified,
    };
    let options = Options { width: context.width(), color: ui.stdout_color() };
    if diffed.changes.is_empty() && format != Format::Json && format != Format::Markdown {
        ui.print(&format!("no differences between {} and {}\n", diffed.labels.from, diffed.labels.to));
    } else {
        ui.print(&render::render(&diffed.changes, &diffed.labels, format, options));
    }
    Ok(if exit_code_for(args.exit_code, diffed.changes.is_empty()) { 1 } else { 0 })
}

fn exit_code_for(requested: bool, empty: bool) -> bool {
    requested && !empty
}
