//! Git notes: the record of test runs on a version's commit
//! (`refs/notes/stagecraft/tests`). Locally a note is rewritten in place; in remote mode
//! the remote's notes are fetched first, the note is written on top of them and pushed
//! at once with a lease, so records made by CI and by people meet on the remote and none
//! is lost (a lost race is tried again on the newer notes).
//!
//! I/O: git, through git2 and (remote mode) the git CLI.

use git2::Oid;

use super::remote::{PushError, RefUpdate};
use super::{Store, git_error, object_id, oid};
use crate::error::Error;
use crate::identity::{Person, When};
use crate::model::ObjectId;

impl Store {
    /// Where `notes_ref` (`refs/notes/stagecraft/tests`) is read and written here: itself,
    /// or under `--remote NAME` the remote's copy fetched apart from this clone's own.
    fn local_notes_ref(&self, notes_ref: &str) -> String {
        match (&self.remote, notes_ref.strip_prefix("refs/notes/stagecraft/")) {
            (Some(remote), Some(rest)) => format!("{}{rest}", remote.notes_prefix()),
            _ => notes_ref.to_string(),
        }
    }

    /// The note on `commit` in `notes_ref`, if any.
    pub fn note(&self, notes_ref: &str, commit: ObjectId) -> Option<String> {
        let note = self.repo.find_note(Some(&self.local_notes_ref(notes_ref)), oid(commit)).ok()?;
        note.message().ok().map(str::to_string)
    }

    /// Rewrites the note on `commit` with `edit(old note)`; in remote mode on top of the
    /// remote's notes, pushed at once.
    pub fn edit_note(
        &self,
        notes_ref: &str,
        commit: ObjectId,
        who: &Person,
        when: When,
        edit: &dyn Fn(Option<&str>) -> String,
    ) -> Result<(), Error> {
        let local = self.local_notes_ref(notes_ref);
        let Some(remote) = &self.remote else {
            return self.write_note(&local, commit, who, when, edit).map(|_| ());
        };
        let _held = remote.lock.lock().unwrap_or_else(|e| e.into_inner());
        let mut attempts = 0;
        loop {
            attempts += 1;
            // The remote's notes, as they are now (none yet is fine).
            let before = match remote.fetch_ref(self.git_dir(), notes_ref, &local) {
                Ok(()) => self.ref_target(&local),
                Err(_) if remote.has_no_ref(self.git_dir(), notes_ref) => {
                    if let Ok(mut stale) = self.repo.find_reference(&local) {
                        let _ = stale.delete();
                    }
                    None
                }
                Err(error) => return Err(error),
            };
            let after = self.write_note(&local, commit, who, when, edit)?;
            let update = RefUpdate { object: after, name: notes_ref.to_string(), expected: before };
            match remote.push(self.git_dir(), &[update]) {
                Ok(()) => return Ok(()),
                Err(PushError::Rejected(detail)) if attempts < 3 => {
                    tracing::debug!(detail, "the notes push lost a race; trying again on the newer notes");
                }
                Err(PushError::Rejected(detail)) => {
                    return Err(Error::Conflict {
                        branch: notes_ref.to_string(),
                        expected: before.map_or_else(|| "nothing".into(), |id| id.short()),
                        actual: detail,
                    });
                }
                Err(PushError::Failed(error)) => return Err(error),
            }
        }
    }

    /// Writes the note in the local ref `notes_ref`; the new notes commit.
    fn write_note(
        &self,
        notes_ref: &str,
        commit: ObjectId,
        who: &Person,
        when: When,
        edit: &dyn Fn(Option<&str>) -> String,
    ) -> Result<ObjectId, Error> {
        let old = self.note(notes_ref, commit);
        let text = edit(old.as_deref());
        let signature = super::write::signature(who, when)?;
        self.repo
            .note(&signature, &signature, Some(notes_ref), oid(commit), &text, true)
            .map_err(git_error(format!("write the note on {}", commit.short())))?;
        self.ref_target(notes_ref).ok_or_else(|| Error::Git {
            step: format!("read {notes_ref}"),
            source: crate::error::GitFailure {
                message: "the notes ref is missing after a write".into(),
                locked: false,
            },
        })
    }

    fn ref_target(&self, name: &str) -> Option<ObjectId> {
        self.repo.refname_to_id(name).ok().map(|id: Oid| object_id(id))
    }
}
