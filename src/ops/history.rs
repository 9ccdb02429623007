//! `history`: one entry per commit and branch, from the first-parent log of each
//! branch, trailers first, merged newest first (ties: the draft first, then along the
//! chain, then by commit id). The branches are walked together, one commit at a time, so
//! a page costs what it shows: the first page of a 100,000-commit log reads about
//! `limit + branches` commits. The ordering assumes commit times do not increase going
//! back along a first-parent chain (true unless clocks were wrong).
//!
//! I/O: git, through `store`.

use std::collections::BTreeMap;

use super::read::{RepoState, read_state};
use crate::error::Error;
use crate::history::{self, Message};
use crate::model::{ObjectId, Version};
use crate::parse::{ASSISTANTS_DIR, CHANNELS_FILE};
use crate::store::{CommitInfo, Store};
use crate::wire::{HistoryEntry, HistoryPage};

/// What to list.
#[derive(Debug, Clone, Default)]
pub struct HistoryQuery {
    /// One environment, or every one (the draft included).
    pub environment: Option<String>,
    /// Entries a page (default 20); ignored with `all`.
    pub limit: Option<usize>,
    pub before: Option<String>,
    pub all: bool,
    pub action: Option<String>,
    pub assistant: Option<String>,
}

pub const DEFAULT_LIMIT: usize = 20;
const ACTIONS: [&str; 9] = ["init", "publish", "promote", "rollback", "revert", "restore", "discard", "edit", "merge"];

/// The position of an entry in the order: newest first; within one second, later
/// environments first (a promotion into live above the one into pre-release, a publish
/// above the draft edits it contains, a merge above the init it starts from); each
/// branch's own commits in their first-parent order, so a commit is above its parent.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Key {
    newer: std::cmp::Reverse<i64>,
    branch: std::cmp::Reverse<usize>,
    commit: ObjectId,
}

impl Key {
    fn cursor(&self) -> String {
        format!("{}.{}.{}", self.newer.0, self.branch.0, self.commit.to_hex())
    }
    fn parse(text: &str) -> Option<Key> {
        let mut parts = text.split('.');
        let time = parts.next()?.parse().ok()?;
        let branch = parts.next()?.parse().ok()?;
        let commit = ObjectId::from_hex(parts.next()?)?;
        parts.next().is_none().then_some(Key {
            newer: std::cmp::Reverse(time),
            branch: std::cmp::Reverse(branch),
            commit,
        })
    }
}

/// Lists one page of history.
pub fn history(store: &Store, query: &HistoryQuery) -> Result<HistoryPage, Error> {
    let state = read_state(store)?;
    if let Some(action) = &query.action
        && !ACTIONS.contains(&action.as_str())
    {
        let hint = match crate::validate::did_you_mean(action, ACTIONS) {
            Some(close) => format!("did you mean `{close}`? The actions are: {}", ACTIONS.join(", ")),
            None => format!("the actions are: {}", ACTIONS.join(", ")),
        };
        return Err(Error::Usage { message: format!("unknown action `{action}`"), hint: Some(hint) });
    }
    let branches: Vec<usize> = match &query.environment {
        Some(name) => vec![state.chain.position(&state.env_named(name)?.env).expect("from the chain")],
        None => (0..state.envs.len()).collect(),
    };
    let before = match &query.before {
        Some(text) => Some(Key::parse(text).ok_or_else(|| Error::Usage {
            message: format!("`{text}` is not a history cursor"),
            hint: Some("pass the `next` cursor of a previous page".into()),
        })?),
        None => None,
    };
    let limit = if query.all { usize::MAX } else { query.limit.unwrap_or(DEFAULT_LIMIT).max(1) };
    let context = EntryContext::new(&state);
    // One head per branch, so (time, branch) orders and identifies the heads.
    type Heads = BTreeMap<(std::cmp::Reverse<i64>, std::cmp::Reverse<usize>), CommitInfo>;
    let mut heads: Heads = BTreeMap::new();
    let push = |heads: &mut Heads, branch: usize, id: Option<ObjectId>, resuming: bool| -> Result<(), Error> {
        let mut next = id;
        let mut passed_cursor = false;
        while let Some(id) = next {
            let info = store.commit_info(id)?;
            let time = info.committer_time.seconds;
            if resuming && let Some(before) = &before {
                // Skip what earlier pages showed: on the cursor's branch, down to the
                // cursor's commit; on the others, what sorts before it.
                let shown = if branch == before.branch.0 {
                    !passed_cursor && time >= before.newer.0
                } else {
                    (std::cmp::Reverse(time), std::cmp::Reverse(branch)) < (before.newer, before.branch)
                };
                if branch == before.branch.0 && id == before.commit {
                    passed_cursor = true;
                    next = info.parents.first().copied();
                    continue;
                }
                if shown {
                    next = info.parents.first().copied();
                    continue;
                }
            }
            heads.insert((std::cmp::Reverse(time), std::cmp::Reverse(branch)), info);
            return Ok(());
        }
        Ok(())
    };
    for &branch in &branches {
        push(&mut heads, branch, Some(state.envs[branch].tip.id), true)?;
    }
    let mut entries = Vec::new();
    let mut next_cursor = None;
    while let Some(((newer, std::cmp::Reverse(branch)), info)) = heads.pop_first() {
        push(&mut heads, branch, info.parents.first().copied(), false)?;
        // The init commit is on every branch: it is listed once, from the first one.
        if info.message.get(history::ACTION) == Some("init") && branch != branches[0] {
            continue;
        }
        let key = Key { newer, branch: std::cmp::Reverse(branch), commit: info.id };
        let entry = context.entry(store, &info, branch, &key)?;
        if query.action.as_ref().is_some_and(|action| &entry.action != action) {
            continue;
        }
        if let Some(assistant) = &query.assistant
            && !touches(store, &info, assistant)?
        {
            continue;
        }
        if entries.len() == limit {
            next_cursor = entries.last().map(|e: &HistoryEntry| e.cursor.clone());
            break;
        }
        entries.push(entry);
    }
    let mut warnings = Vec::new();
    if let Some(assistant) = &query.assistant {
        let directory = format!("{ASSISTANTS_DIR}{assistant}");
        let mut anywhere = false;
        for env in &state.envs {
            anywhere |= store.has_path(env.tip.id, &directory)?;
        }
        if !anywhere {
            warnings.push(format!(
                "`{}` is an assistant of neither the draft nor any environment (a removed one?); its past entries are listed",
                crate::model::escape_for_display(assistant)
            ));
        }
    }
    Ok(HistoryPage { entries, next: next_cursor, warnings })
}

/// What entries are built from: the chain, and (for merges made outside stagecraft,
/// loaded then) the versions and their trees.
struct EntryContext<'s> {
    state: &'s RepoState,
    by_tree: std::cell::OnceCell<BTreeMap<ObjectId, Version>>,
}

impl<'s> EntryContext<'s> {
    fn new(state: &'s RepoState) -> EntryContext<'s> {
        EntryContext { state, by_tree: std::cell::OnceCell::new() }
    }

    fn entry(&self, store: &Store, info: &CommitInfo, branch: usize, key: &Key) -> Result<HistoryEntry, Error> {
        let message: &Message = &info.message;
        let env = self.state.envs[branch].env.to_string();
        let action = message.get(history::ACTION).map(str::to_string);
        let is_stagecraft = action.is_some();
        // A merge into the second environment that became a version is a publish: its
        // tag holds the field-level summary that reconciliation wrote.
        let published = if is_stagecraft || branch != 1 {
            None
        } else {
            match self.state.index.tags_of(store, info.id)?.iter().max() {
                Some(version) => Some((*version, store.tag_info(*version)?.map(|(_, _, text)| tag_summary(&text)))),
                None => None,
            }
        };
        let action = action.unwrap_or_else(|| match (branch, &published) {
            (0, _) => "edit".into(),
            (_, Some(_)) => "publish".into(),
            _ => "merge".into(),
        });
        let number = |key: &str| message.get(key).and_then(|v| v.trim().parse::<Version>().ok()).map(Version::number);
        let (version, drift) = if is_stagecraft || branch == 0 {
            (number(history::VERSION), false)
        } else {
            match self.merge_version(store, info)? {
                Some(version) => (Some(version.number()), false),
                None => (None, true),
            }
        };
        let summary = match (&message.summary, is_stagecraft, &published) {
            (Some(summary), _, _) => summary.clone(),
            (None, true, _) => message.subject.clone(),
            (None, false, Some((_, Some(summary)))) => summary.clone(),
            (None, false, _) => changed_paths_summary(store, info)?,
        };
        let tests = match (action.as_str(), version) {
            ("publish" | "init", Some(_)) => super::read::notes::latest_tests(store, info.id),
            _ => None,
        };
        Ok(HistoryEntry {
            tests,
            id: info.id.to_hex(),
            cursor: key.cursor(),
            environment: if action == "init" { None } else { Some(env) },
            version,
            source: number(history::SOURCE),
            actor: message.get(history::ACTOR).map_or_else(|| info.author.to_string(), str::to_string),
            time: info.committer_time.to_rfc3339(),
            description: if is_stagecraft { message.description.clone() } else { Some(message.subject.clone()) },
            summary,
            holds: message.holds().map(|holds| holds.iter().map(|v| v.number()).collect()),
            forced: message.get(history::FORCE).map(str::to_string),
            drift,
            action,
        })
    }

    /// A merge's version by the current-version rule: its tag, its unchanged parent's version,
    /// a version with the same tree.
    fn merge_version(&self, store: &Store, info: &CommitInfo) -> Result<Option<Version>, Error> {
        let index = &self.state.index;
        if let Some(version) = index.tags_of(store, info.id)?.iter().max() {
            return Ok(Some(*version));
        }
        if let Some(parent) = info.parents.first() {
            let parent = store.commit_info(*parent)?;
            if parent.tree == info.tree {
                let own = match parent.message.version() {
                    Some(version) => Some(version),
                    None => index.tags_of(store, parent.id)?.iter().max().copied(),
                };
                if let Some(version) = own {
                    return Ok(Some(version));
                }
            }
        }
        if self.by_tree.get().is_none() {
            let by_tree = index.all(store)?.values().map(|t| (t.tree, t.version)).collect();
            let _ = self.by_tree.set(by_tree);
        }
        Ok(self.by_tree.get().and_then(|m| m.get(&info.tree)).copied())
    }
}

/// The summary in a version tag's message: its last paragraph (the description, if any,
/// comes first).
fn tag_summary(text: &str) -> String {
    text.trim().rsplit("\n\n").next().unwrap_or_default().trim().to_string()
}

/// `changed assistants/x/instructions.md, README.md` for a commit made outside stagecraft.
fn changed_paths_summary(store: &Store, info: &CommitInfo) -> Result<String, Error> {
    let paths = store.changed_paths(info.parents.first().copied(), info.id)?;
    let shown: Vec<&str> = paths.iter().take(5).map(String::as_str).collect();
    let more =
        if paths.len() > shown.len() { format!(" and {} more", paths.len() - shown.len()) } else { String::new() };
    Ok(if paths.is_empty() { "no file changes".into() } else { format!("changed {}{more}", shown.join(", ")) })
}

/// True when the commit changed the assistant's directory or `channels.toml`.
fn touches(store: &Store, info: &CommitInfo, assistant: &str) -> Result<bool, Error> {
    let prefix = format!("{ASSISTANTS_DIR}{assistant}/");
    let paths = store.changed_paths(info.parents.first().copied(), info.id)?;
    Ok(paths.iter().any(|p| p.starts_with(&prefix) || p == CHANNELS_FILE))
}
