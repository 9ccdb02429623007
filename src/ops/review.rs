//! `review`: what merging a head into a base (the draft or an environment branch) does,
//! every validation finding of the head, the warnings a reviewer needs and the
//! field-level diff from the merge base; the rendering is [`crate::review`]'s.
//!
//! I/O: git, through `store`.

use super::read::{diff_commits, read_state, reconcile};
use crate::error::Error;
use crate::parse;
use crate::review::{Review, warnings};
use crate::store::Store;

/// Reviews `head` against `base` (default: the draft). Both are git refs or commit ids;
/// the base must name the draft or an environment branch.
pub fn review(store: &Store, head: &str, base: Option<&str>) -> Result<Review, Error> {
    let state = read_state(store)?;
    let chain = &state.chain;
    let base_spec = base.unwrap_or(chain.draft().as_str());
    let found_head = store.resolve_ref(head).ok_or_else(|| Error::NotFound {
        what: "head",
        name: head.to_string(),
        hint: "name the pull request's branch, a ref like refs/pull/7/head, or a commit".into(),
    })?;
    // The base: an environment, as named or through a ref to its branch.
    let base_name = base_spec
        .strip_prefix("refs/heads/")
        .or_else(|| base_spec.strip_prefix("refs/remotes/").and_then(|r| r.split_once('/').map(|(_, b)| b)))
        .or_else(|| base_spec.split_once('/').map(|(_, b)| b).filter(|b| chain.contains(b)))
        .unwrap_or(base_spec);
    let Some(index) = chain.environments().iter().position(|e| e.as_str() == base_name) else {
        return Err(Error::Usage {
            message: format!("`{base_spec}` is neither the draft nor an environment branch"),
            hint: Some(format!("a review's base is one of {}", chain.display_arrows())),
        });
    };
    let base_env = &state.envs[index];
    let base_tip = store.resolve_ref(base_spec).map_or(base_env.tip.id, |found| found.commit);
    let merge_base = store.merge_base(base_tip, found_head.commit)?.unwrap_or(base_tip);
    let changes = diff_commits(store, merge_base, found_head.commit)?;
    let snapshot = store.snapshot(found_head.commit)?;
    let (_, diagnostics) = parse::load(&snapshot, &store.blobs(), chain);
    let next = reconcile::reconcile(store, &state, false)?.next;
    let (env, second) = (&base_env.env, state.base().env.as_str());
    let protected = chain.is_protected(env);
    let merging = match index {
        0 => format!("Merging edits the {env}; the next publish would create {next} on {second}."),
        1 => format!("Merging publishes {next} on {env}{}.", if protected { " (protected)" } else { "" }),
        _ => format!("Merging changes {env}{} outside a promotion.", if protected { " (protected)" } else { "" }),
    };
    // A version on hold where the result lands: the base itself, or for the draft the
    // environment a publish would write.
    let lands = if index == 0 { state.base() } else { base_env };
    let head_tree = store.tree_id(found_head.commit)?;
    let mut held_equal = None;
    for held in &lands.holds {
        if state.version(store, *held)?.tree == head_tree {
            held_equal = Some(held.to_string());
        }
    }
    let touched = (index > 0 && protected).then(|| env.to_string());
    let warnings = warnings(&changes, held_equal.as_deref(), touched.as_deref());
    let base_label = format!("{base_spec} ({})", base_tip.short());
    let head_label = format!("{head} ({})", found_head.commit.short());
    let mut full_command = format!("stagecraft review --head {head}");
    if let Some(base) = base {
        full_command.push_str(&format!(" --base {base}"));
    }
    Ok(Review {
        head: head_label,
        head_commit: found_head.commit.to_hex(),
        base: base_label,
        merging,
        diagnostics,
        warnings,
        changes,
        full_command,
    })
}
