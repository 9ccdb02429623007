//! `validate`: loads a tree and reports every finding at once.
//!
//! I/O: git, through `store`.

use super::read::ResolvedTree;
use crate::error::Error;
use crate::model::{Chain, Config};
use crate::parse;
use crate::wire::Validated;

/// Validates a resolved tree; `Error::Invalid` carries every diagnostic.
pub fn validate(tree: &ResolvedTree<'_>, chain: &Chain) -> Result<(Config, Validated), Error> {
    let (config, diagnostics) = parse::load(&tree.snapshot, &tree.reader, chain);
    if !diagnostics.is_empty() {
        return Err(Error::Invalid { origin: tree.origin.clone(), diagnostics });
    }
    let count = |f: &dyn Fn(&crate::model::Assistant) -> usize| config.assistants.values().map(|a| f(a)).sum::<usize>();
    let summary = Validated {
        origin: tree.origin.clone(),
        valid: true,
        assistants: config.assistants.keys().map(ToString::to_string).collect(),
        knowledge_sources: count(&|a| a.knowledge.len()),
        tools: count(&|a| a.tools.len()),
        guardrails: count(&|a| a.guardrails.len()),
        tests: count(&|a| a.tests.len()),
        channel_bindings: config.channels.environments.values().map(|bindings| bindings.len()).sum(),
    };
    Ok((config, summary))
}
