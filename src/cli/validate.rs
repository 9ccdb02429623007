//! `stagecraft validate [REF|PATH]`
//!
//! I/O: the terminal (through `Ui`), and the repository or a daemon's API through `ops` or `client`.

use super::Context;
use super::ui::Ui;
use crate::error::Error;
use crate::ops;
use crate::ops::read::resolve::looks_like_path;
use crate::wire::Validated;

/// Validate a ref (default: the draft) or a directory; every error at once, exit 1 if any
#[derive(Debug, clap::Args)]
pub struct Args {
    /// An environment, a version (v3), a commit, or a directory [default: the draft]
    target: Option<String>,
    /// The chain to check channels.toml against, outside a repository [default: draft,sandbox,pre-release,live]
    #[arg(long, value_name = "A,B,C")]
    environments: Option<String>,
}

pub fn run(args: Args, context: &Context, ui: &Ui) -> Result<u8, Error> {
    let target_is_dir = args.target.as_deref().is_some_and(|target| {
        looks_like_path(target) || (context.cwd.join(target).is_dir() && !looks_like_version(target))
    });
    let (store, chain) = context.store_and_chain(target_is_dir, args.environments.as_deref())?;
    let target = args.target.clone().unwrap_or_else(|| chain.draft().to_string());
    let tree = ops::resolve_tree(store.as_ref(), &chain, &target, &context.cwd)?;
    let (_, validated) = ops::validate(&tree, &chain)?;
    ui.json(&validated);
    ui.text(&render(&validated));
    Ok(0)
}

/// `v3` names a version even if a directory of that name exists.
fn looks_like_version(target: &str) -> bool {
    target.starts_with('v') && target.parse::<crate::model::Version>().is_ok()
}

pub fn render(validated: &Validated) -> String {
    let count = |n: usize, what: &str| format!("{n} {what}{}", if n == 1 { "" } else { "s" });
    format!(
        "{} is valid: {} ({}), {}, {}, {}, {}, {}\n",
        validated.origin,
        count(validated.assistants.len(), "assistant"),
        validated.assistants.join(", "),
        count(validated.knowledge_sources, "knowledge source"),
        count(validated.tools, "tool"),
        count(validated.guardrails, "guardrail"),
        count(validated.tests, "regression case"),
        count(validated.channel_bindings, "channel binding"),
    )
}
