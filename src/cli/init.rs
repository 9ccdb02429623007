//! `stagecraft init [DIR] [--from TREE] [--environments a,b,c] [--protected x,y] [--bare]`
//!
//! I/O: the terminal (through `Ui`), and the repository or a daemon's API through `ops` or `client`.

use std::path::PathBuf;

use super::Context;
use super::ui::Ui;
use crate::error::Error;
use crate::model::Chain;
use crate::ops::{self, InitOptions, InitSource};
use crate::wire::Initialized;

/// Create a config repository: one initial commit (v1) on every environment branch
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Where to create it: a new or empty directory (default: --repo, or the current directory)
    dir: Option<PathBuf>,
    /// Start from this directory's files instead of a skeleton (validated first; .gitignore honoured)
    #[arg(long, value_name = "TREE")]
    from: Option<PathBuf>,
    /// The environment chain, the draft first [default: draft,sandbox,pre-release,live]
    #[arg(long, value_name = "A,B,C")]
    environments: Option<String>,
    /// Protected environments, which need a confirmation to write [default: the last one]
    #[arg(long, value_name = "X,Y")]
    protected: Option<String>,
    /// Create a bare repository (no work tree), as a server keeps it
    #[arg(long)]
    bare: bool,
}

pub fn run(args: Args, context: &Context, ui: &Ui) -> Result<u8, Error> {
    let dir = match args.dir {
        Some(dir) => context.cwd.join(dir),
        None => context.repo_path(),
    };
    let identity = context.identity(None)?;
    let options = InitOptions {
        dir,
        source: match args.from {
            Some(from) => InitSource::Directory(context.cwd.join(from)),
            None => InitSource::Skeleton,
        },
        environments: args.environments.as_deref().map(Chain::parse_list).transpose()?,
        protected: args.protected.as_deref().map(Chain::parse_list).transpose()?,
        bare: args.bare,
    };
    let initialized = ops::init(options, &identity)?;
    ui.json(&initialized);
    ui.text(&render(&initialized));
    Ok(0)
}

/// Two lines: what was created, and where to go next.
pub fn render(initialized: &Initialized) -> String {
    let kind = if initialized.bare { "bare config repository" } else { "config repository" };
    let assistants = match initialized.assistants.len() {
        0 => "no assistants yet".to_string(),
        1 => format!("1 assistant ({})", initialized.assistants[0]),
        n => format!("{n} assistants ({})", initialized.assistants.join(", ")),
    };
    format!(
        "initialized {kind} {} at v1 ({}): {assistants}\nenvironments: {} (protected: {})\n",
        initialized.path,
        &initialized.commit[..7],
        initialized.chain.join(" → "),
        if initialized.protected.is_empty() { "none".to_string() } else { initialized.protected.join(", ") },
    )
}
