//! `edit`: files of the draft written in place (the dashboard's editor), as one commit
//! with `Stagecraft-Action: edit`. The new tree must validate: an invalid one is refused
//! with every finding at `file:line:col` and nothing is written. Saved on the draft tip
//! the editor was opened on, or a `conflict`.
//!
//! I/O: git, through `store`.

use super::apply::{Done, WriteOptions, finish};
use super::read::{diff_snapshots, read_state};
use crate::error::Error;
use crate::identity::Identity;
use crate::lifecycle::plan::{Plan, plan_edit};
use crate::model::{Entry, EntryKind};
use crate::store::Store;

/// The largest file the editor writes.
pub const MAX_FILE: usize = 1024 * 1024;

/// One change: a file's new text, or a path removed (a file, or a directory and all under it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FileEdit {
    Write { path: String, text: String },
    Remove { path: String },
}

impl FileEdit {
    fn path(&self) -> &str {
        match self {
            FileEdit::Write { path, .. } | FileEdit::Remove { path } => path,
        }
    }
}

/// Reads the draft, applies the edits, validates, and plans the commit.
pub fn plan(store: &Store, identity: &Identity, edits: &[FileEdit], options: &WriteOptions) -> Result<Plan, Error> {
    let state = read_state(store)?;
    let draft = state.draft();
    let old = store.snapshot(draft.tip.id)?;
    let mut changed: Vec<(String, Option<Entry>)> = Vec::new();
    for edit in edits {
        let path = edit.path();
        if path.is_empty()
            || path.starts_with('/')
            || path.split('/').any(|part| part.is_empty() || part == "." || part == "..")
        {
            return Err(Error::Usage { message: format!("`{path}` is not a path in the repository"), hint: None });
        }
        match edit {
            FileEdit::Write { path, text } => {
                if text.len() > MAX_FILE {
                    return Err(Error::Usage {
                        message: format!("{path} is {} bytes; a file written here is at most {MAX_FILE}", text.len()),
                        hint: Some("edit large files with git".into()),
                    });
                }
                let id = store.write_blob(text.as_bytes())?;
                changed.push((path.clone(), Some(Entry { id, kind: EntryKind::File })));
            }
            FileEdit::Remove { path } => {
                let prefix = format!("{path}/");
                for (existing, _) in old.entries().iter().filter(|(p, _)| *p == path || p.starts_with(&prefix)) {
                    changed.push((existing.clone(), None));
                }
            }
        }
    }
    let new = old.with_changes(changed);
    let (_, diagnostics) = crate::parse::load(&new, &store.blobs(), &state.chain);
    if !diagnostics.is_empty() {
        return Err(Error::Invalid { origin: "the edited draft".into(), diagnostics });
    }
    let changes = diff_snapshots(store, &old, &new)?;
    let paths: Vec<&str> = edits.iter().map(FileEdit::path).collect();
    let subject = match paths.as_slice() {
        [one] => format!("Edit {one}"),
        many => format!("Edit {} files", many.len()),
    };
    plan_edit(&state.chain, &draft.facts(), new, subject, changes, &options.request(identity))
}

/// Writes the edits as one commit on the draft (plans and applies; only plans with
/// `options.dry_run`).
pub fn edit(store: &Store, identity: &Identity, edits: &[FileEdit], options: &WriteOptions) -> Result<Done, Error> {
    let plan = plan(store, identity, edits, options)?;
    finish(store, identity, plan, options)
}

/// A file of the draft as text, and the draft's tip it was read at (`None`: no such file).
pub fn read_file(store: &Store, path: &str) -> Result<(Option<String>, crate::model::ObjectId), Error> {
    let state = read_state(store)?;
    let tip = state.draft().tip.id;
    let snapshot = store.snapshot(tip)?;
    let Some(entry) = snapshot.get(path).filter(|e| e.kind == EntryKind::File) else { return Ok((None, tip)) };
    let bytes = crate::model::BlobReader::read(&store.blobs(), path, entry)?;
    match String::from_utf8(bytes) {
        Ok(text) => Ok((Some(text), tip)),
        Err(_) => Err(Error::Usage {
            message: format!("{path} is not text"),
            hint: Some("edit binary files with git".into()),
        }),
    }
}

/// The ids of the draft's assistants, in order.
pub fn assistant_ids(store: &Store) -> Result<Vec<String>, Error> {
    let state = read_state(store)?;
    let snapshot = store.snapshot(state.draft().tip.id)?;
    let mut ids: Vec<String> = snapshot
        .under("assistants/")
        .filter_map(|(path, _)| path.strip_prefix("assistants/")?.split('/').next().map(str::to_string))
        .collect();
    ids.dedup();
    Ok(ids)
}

/// Every file of the draft under `assistants/<id>/`, in order.
pub fn assistant_files(store: &Store, assistant: &str) -> Result<Vec<String>, Error> {
    let state = read_state(store)?;
    let snapshot = store.snapshot(state.draft().tip.id)?;
    let prefix = format!("assistants/{assistant}/");
    Ok(snapshot.under(&prefix).filter(|(_, e)| e.kind == EntryKind::File).map(|(p, _)| p.clone()).collect())
}
