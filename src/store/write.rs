//! Writing objects and refs: blobs and trees from a snapshot (no work tree involved),
//! commits, create-only refs and tags, and compare-and-swap ref updates.

use std::collections::BTreeMap;

use git2::{FileMode, Oid, Signature, Time};

use super::{Store, object_id, oid};
use crate::error::Error;
use crate::identity::{Identity, Person, When};
use crate::model::{BlobReader, EntryKind, ObjectId, Snapshot};

impl Store {
    /// Writes every blob of `snapshot` (reading those the repository lacks) and the trees
    /// that hold them; returns the root tree.
    pub fn write_tree(&self, snapshot: &Snapshot, reader: &dyn BlobReader) -> Result<ObjectId, Error> {
        let odb = self.repo.odb().map_err(Error::git("open the object database"))?;
        let mut root = Dir::default();
        for (path, entry) in snapshot.entries() {
            let mode = match entry.kind {
                EntryKind::File => FileMode::Blob,
                EntryKind::Executable => FileMode::BlobExecutable,
                EntryKind::Symlink => FileMode::Link,
                EntryKind::Submodule => {
                    return Err(Error::Usage {
                        message: format!("{path} is a git submodule, which stagecraft cannot copy"),
                        hint: Some("remove the submodule from the tree".into()),
                    });
                }
            };
            if !odb.exists(oid(entry.id)) {
                let bytes = reader.read(path, entry)?;
                let written = self.repo.blob(&bytes).map_err(Error::git(format!("write {path}")))?;
                if object_id(written) != entry.id {
                    return Err(Error::Usage {
                        message: format!("{path} changed while it was being read"),
                        hint: Some("run the command again".into()),
                    });
                }
            }
            let mut dir = &mut root;
            let mut parts: Vec<&str> = path.split('/').collect();
            let file_name = parts.pop().expect("paths are not empty");
            for part in parts {
                dir = dir.dirs.entry(part.to_string()).or_default();
            }
            dir.files.insert(file_name.to_string(), (oid(entry.id), mode));
        }
        let tree = self.write_dir(&root)?;
        Ok(object_id(tree))
    }

    fn write_dir(&self, dir: &Dir) -> Result<Oid, Error> {
        let mut builder = self.repo.treebuilder(None).map_err(Error::git("start a tree"))?;
        for (name, (id, mode)) in &dir.files {
            builder.insert(name, *id, (*mode).into()).map_err(Error::git(format!("add {name} to a tree")))?;
        }
        for (name, sub) in &dir.dirs {
            let id = self.write_dir(sub)?;
            builder.insert(name, id, FileMode::Tree.into()).map_err(Error::git(format!("add {name}/ to a tree")))?;
        }
        builder.write().map_err(Error::git("write a tree"))
    }

    /// Writes one blob.
    pub fn write_blob(&self, bytes: &[u8]) -> Result<ObjectId, Error> {
        self.repo.blob(bytes).map(object_id).map_err(Error::git("write a blob"))
    }

    /// Writes a commit object (no ref moves).
    pub fn write_commit(
        &self,
        tree: ObjectId,
        parents: &[ObjectId],
        message: &str,
        identity: &Identity,
    ) -> Result<ObjectId, Error> {
        let tree = self.repo.find_tree(oid(tree)).map_err(Error::git("read the new tree"))?;
        let parents = parents
            .iter()
            .map(|id| self.repo.find_commit(oid(*id)).map_err(Error::git(format!("read parent {}", id.short()))))
            .collect::<Result<Vec<_>, _>>()?;
        let parent_refs: Vec<&git2::Commit<'_>> = parents.iter().collect();
        let author = signature(&identity.author, identity.author_time)?;
        let committer = signature(&identity.committer, identity.committer_time)?;
        let id = self
            .repo
            .commit(None, &author, &committer, message, &tree, &parent_refs)
            .map_err(Error::git("write a commit"))?;
        Ok(object_id(id))
    }

    /// Creates a ref that must not exist yet.
    pub fn create_ref(&self, name: &str, target: ObjectId, log: &str) -> Result<(), Error> {
        self.repo.reference(name, oid(target), false, log).map_err(Error::git(format!("create {name}")))?;
        Ok(())
    }

    /// Creates the annotated tag `name` on `target`; fails if the tag exists.
    pub fn create_tag(
        &self,
        name: &str,
        target: ObjectId,
        tagger: &Person,
        when: When,
        message: &str,
    ) -> Result<ObjectId, Error> {
        let object =
            self.repo.find_object(oid(target), None).map_err(Error::git(format!("find the commit to tag {name}")))?;
        let tagger = signature(tagger, when)?;
        let id =
            self.repo.tag(name, &object, &tagger, message, false).map_err(Error::git(format!("create tag {name}")))?;
        Ok(object_id(id))
    }

    /// Points HEAD at a branch (a symbolic ref), for a new repository.
    pub fn set_head(&self, branch: &str) -> Result<(), Error> {
        self.repo.set_head(&format!("refs/heads/{branch}")).map_err(Error::git(format!("point HEAD at {branch}")))
    }

    /// Makes the work tree and index match HEAD (only for a new, empty work tree).
    pub fn checkout_head_fresh(&self) -> Result<(), Error> {
        let mut options = git2::build::CheckoutBuilder::new();
        options.force();
        self.repo.checkout_head(Some(&mut options)).map_err(Error::git("check out the draft"))
    }
}

#[derive(Default)]
struct Dir {
    files: BTreeMap<String, (Oid, FileMode)>,
    dirs: BTreeMap<String, Dir>,
}

fn signature(person: &Person, when: When) -> Result<Signature<'static>, Error> {
    Signature::new(&person.name, &person.email, &Time::new(when.seconds, when.offset_minutes))
        .map_err(Error::git(format!("use the identity {person}")))
}

impl Store {
    /// Moves `refs/heads/<branch>` from `expected` to `new`, atomically: when the branch
    /// is no longer at `expected` (or another process holds its lock) nothing changes and
    /// the error is `conflict`.
    pub fn update_branch(&self, branch: &str, new: ObjectId, expected: ObjectId, log: &str) -> Result<(), Error> {
        let name = format!("refs/heads/{branch}");
        match self.repo.reference_matching(&name, oid(new), true, oid(expected), log) {
            Ok(_) => Ok(()),
            Err(error) => {
                let actual = self.branch_tip(branch)?;
                if actual != Some(expected)
                    || matches!(error.code(), git2::ErrorCode::Locked | git2::ErrorCode::Modified)
                {
                    Err(Error::Conflict {
                        branch: branch.to_string(),
                        expected: expected.short(),
                        actual: actual.map_or_else(
                            || "nothing".to_string(),
                            |id| if id == expected { "a concurrent update".to_string() } else { id.short() },
                        ),
                    })
                } else {
                    Err(Error::Git { step: format!("update branch {branch}"), source: error })
                }
            }
        }
    }

    /// Creates the annotated tag `v<N>` on `commit` unless it exists: on the same commit
    /// that is success (`false`: nothing written), on another commit `version_conflict`.
    /// Tags are never moved.
    pub fn ensure_tag(
        &self,
        version: crate::model::Version,
        commit: ObjectId,
        tagger: &Person,
        when: When,
        message: &str,
    ) -> Result<bool, Error> {
        let name = version.tag();
        let check = |found: ObjectId| {
            if found == commit {
                Ok(false)
            } else {
                Err(Error::VersionConflict { tag: name.clone(), existing: found.short(), wanted: commit.short() })
            }
        };
        if let Some(found) = self.tagged_version(version)? {
            return check(found.commit);
        }
        match self.create_tag(&name, commit, tagger, when, message) {
            Ok(_) => Ok(true),
            // Another process created it in the meantime, or is creating it now.
            Err(error) => match (self.tagged_version(version)?, error) {
                (Some(found), _) => check(found.commit),
                (None, Error::Git { source, .. }) if source.code() == git2::ErrorCode::Locked => Err(Error::Conflict {
                    branch: format!("tag {name}"),
                    expected: "nothing".into(),
                    actual: "a concurrent update".into(),
                }),
                (None, error) => Err(error),
            },
        }
    }

    /// True when `branch` is checked out in this repository's work tree.
    pub fn is_checked_out(&self, branch: &str) -> bool {
        if self.repo.is_bare() {
            return false;
        }
        match self.repo.find_reference("HEAD") {
            Ok(head) => head.symbolic_target().ok().flatten() == Some(format!("refs/heads/{branch}").as_str()),
            Err(_) => false,
        }
    }

    /// Untracked files in the work tree (not ignored), by path.
    pub fn untracked_files(&self) -> Result<Vec<String>, Error> {
        let mut options = git2::StatusOptions::new();
        options.include_untracked(true).recurse_untracked_dirs(true).include_ignored(false).exclude_submodules(true);
        let statuses = self.repo.statuses(Some(&mut options)).map_err(Error::git("read the work tree's status"))?;
        Ok(statuses
            .iter()
            .filter(|s| s.status().contains(git2::Status::WT_NEW))
            .filter_map(|s| s.path().ok().map(str::to_string))
            .collect())
    }

    /// Tracked files with uncommitted changes (staged or not) in the work tree.
    pub fn dirty_files(&self) -> Result<Vec<String>, Error> {
        let mut options = git2::StatusOptions::new();
        options.include_untracked(false).include_ignored(false).exclude_submodules(true);
        let statuses = self.repo.statuses(Some(&mut options)).map_err(Error::git("read the work tree's status"))?;
        Ok(statuses
            .iter()
            .filter(|s| !s.status().is_empty())
            .filter_map(|s| s.path().ok().map(str::to_string))
            .collect())
    }

    /// Makes the index and work tree match HEAD after the checked-out branch moved (the
    /// caller checked that the work tree had no uncommitted changes).
    pub fn sync_work_tree(&self) -> Result<(), Error> {
        let mut options = git2::build::CheckoutBuilder::new();
        options.force().remove_untracked(false);
        self.repo.checkout_head(Some(&mut options)).map_err(Error::git("update the work tree"))
    }
}
