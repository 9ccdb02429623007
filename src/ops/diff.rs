//! `diff`: the field-level diff between two states (environments, versions, commits or
//! directories). Two commits with the same tree give an empty diff before any tree is
//! listed; otherwise only files whose blob ids differ are read.
//!
//! I/O: git, through `store`.

use std::path::Path;

use super::read::resolve::{Target, load_target, resolve_target};
use crate::diff::render::Labels;
use crate::diff::{self, ChangeSet, Side};
use crate::error::Error;
use crate::model::Chain;
use crate::store::Store;

/// A diff and what its sides are.
#[derive(serde::Serialize, serde::Deserialize)]
pub struct Diffed {
    pub changes: ChangeSet,
    pub labels: Labels,
}

/// Diffs `from` → `to`, optionally only one assistant.
pub fn diff(
    store: Option<&Store>,
    chain: &Chain,
    from: &str,
    to: &str,
    assistant: Option<&str>,
    cwd: &Path,
) -> Result<Diffed, Error> {
    let from_target = resolve_target(store, chain, from, cwd)?;
    let to_target = resolve_target(store, chain, to, cwd)?;
    let commit = |target: &Target| match target {
        Target::Commit { commit, .. } => Some(commit.to_hex()),
        Target::Directory { .. } => None,
    };
    let labels = Labels {
        from: from_target.origin().to_string(),
        to: to_target.origin().to_string(),
        from_commit: commit(&from_target),
        to_commit: commit(&to_target),
    };
    if let (Some(store), Target::Commit { commit: a, .. }, Target::Commit { commit: b, .. }) =
        (store, &from_target, &to_target)
        && store.tree_id(*a)? == store.tree_id(*b)?
    {
        if let Some(id) = assistant {
            check_assistant(store.snapshot(*b)?.entries().keys(), store.snapshot(*a)?.entries().keys(), id)?;
        }
        return Ok(Diffed { changes: ChangeSet::default(), labels });
    }
    let old = load_target(store, from_target)?;
    let new = load_target(store, to_target)?;
    if let Some(id) = assistant {
        check_assistant(old.snapshot.entries().keys(), new.snapshot.entries().keys(), id)?;
    }
    let changes = diff::diff(
        Side { snapshot: &old.snapshot, reader: &old.reader },
        Side { snapshot: &new.snapshot, reader: &new.reader },
    )?;
    let changes = match assistant {
        Some(id) => changes.only_assistant(id),
        None => changes,
    };
    Ok(Diffed { changes, labels })
}

/// An assistant must exist on one side at least; the error names those that do.
fn check_assistant<'a>(
    old: impl Iterator<Item = &'a String>,
    new: impl Iterator<Item = &'a String>,
    id: &str,
) -> Result<(), Error> {
    let mut known: Vec<&str> = old
        .chain(new)
        .filter_map(|path| path.strip_prefix(crate::parse::ASSISTANTS_DIR)?.split_once('/').map(|(a, _)| a))
        .collect();
    known.sort();
    known.dedup();
    if known.contains(&id) {
        return Ok(());
    }
    Err(Error::NotFound {
        what: "assistant",
        name: id.to_string(),
        hint: format!("the assistants are: {}", if known.is_empty() { "none".to_string() } else { known.join(", ") }),
    })
}
