//! Writing objects and refs: blobs and trees from a snapshot (no work tree involved),
//! commits, create-only refs and tags, and compare-and-swap ref updates.
//!
//! I/O: git, through git2.

use std::collections::BTreeMap;

use git2::{FileMode, Oid, Signature, Time};

use super::remote::{PushError, RefUpdate};
use super::{Store, failure, git_error, object_id, oid};
use crate::error::Error;
use crate::identity::{Identity, Person, When};
use crate::model::{BlobReader, EntryKind, ObjectId, Snapshot};

/// A version tag to write with a commit.
pub struct NewTag<'a> {
    pub version: crate::model::Version,
    pub tagger: &'a Person,
    pub when: When,
    pub message: &'a str,
}

/// The `conflict` error of a branch that is not at `expected`.
fn conflict(branch: &str, expected: ObjectId, actual: Option<ObjectId>) -> Error {
    Error::Conflict {
        branch: branch.to_string(),
        expected: expected.short(),
        actual: actual.map_or_else(
            || "nothing".to_string(),
            |id| if id == expected { "a concurrent update".to_string() } else { id.short() },
        ),
    }
}

impl Store {
    /// Writes every blob of `snapshot` (reading those the repository lacks) and the trees
    /// that hold them; returns the root tree.
    pub fn write_tree(&self, snapshot: &Snapshot, reader: &dyn BlobReader) -> Result<ObjectId, Error> {
        let odb = self.repo.odb().map_err(git_error("open the object database"))?;
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
                let written = self.repo.blob(&bytes).map_err(git_error(format!("write {path}")))?;
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
        let mut builder = self.repo.treebuilder(None).map_err(git_error("start a tree"))?;
        for (name, (id, mode)) in &dir.files {
            builder.insert(name, *id, (*mode).into()).map_err(git_error(format!("add {name} to a tree")))?;
        }
        for (name, sub) in &dir.dirs {
            let id = self.write_dir(sub)?;
            builder.insert(name, id, FileMode::Tree.into()).map_err(git_error(format!("add {name}/ to a tree")))?;
        }
        builder.write().map_err(git_error("write a tree"))
    }

    /// Writes one blob.
    pub fn write_blob(&self, bytes: &[u8]) -> Result<ObjectId, Error> {
        self.repo.blob(bytes).map(object_id).map_err(git_error("write a blob"))
    }

    /// Writes a commit object (no ref moves).
    pub fn write_commit(
        &self,
        tree: ObjectId,
        parents: &[ObjectId],
        message: &str,
        identity: &Identity,
    ) -> Result<ObjectId, Error> {
        let tree = self.repo.find_tree(oid(tree)).map_err(git_error("read the new tree"))?;
        let parents = parents
            .iter()
            .map(|id| self.repo.find_commit(oid(*id)).map_err(git_error(format!("read parent {}", id.short()))))
            .collect::<Result<Vec<_>, _>>()?;
        let parent_refs: Vec<&git2::Commit<'_>> = parents.iter().collect();
        let author = signature(&identity.author, identity.author_time)?;
        let committer = signature(&identity.committer, identity.committer_time)?;
        let id = self
            .repo
            .commit(None, &author, &committer, message, &tree, &parent_refs)
            .map_err(git_error("write a commit"))?;
        Ok(object_id(id))
    }

    /// Creates a ref that must not exist yet.
    pub fn create_ref(&self, name: &str, target: ObjectId, log: &str) -> Result<(), Error> {
        self.repo.reference(name, oid(target), false, log).map_err(git_error(format!("create {name}")))?;
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
        let id = self.tag_object(name, target, tagger, when, message)?;
        self.repo
            .reference(&format!("refs/tags/{name}"), oid(id), false, "stagecraft tag")
            .map_err(git_error(format!("create tag {name}")))?;
        Ok(id)
    }

    /// Points HEAD at a branch (a symbolic ref), for a new repository.
    pub fn set_head(&self, branch: &str) -> Result<(), Error> {
        self.repo.set_head(&format!("refs/heads/{branch}")).map_err(git_error(format!("point HEAD at {branch}")))
    }

    /// Makes the work tree and index match HEAD (only for a new, empty work tree).
    pub fn checkout_head_fresh(&self) -> Result<(), Error> {
        let mut options = git2::build::CheckoutBuilder::new();
        options.force();
        self.repo.checkout_head(Some(&mut options)).map_err(git_error("check out the draft"))
    }
}

#[derive(Default)]
struct Dir {
    files: BTreeMap<String, (Oid, FileMode)>,
    dirs: BTreeMap<String, Dir>,
}

pub(super) fn signature(person: &Person, when: When) -> Result<Signature<'static>, Error> {
    Signature::new(&person.name, &person.email, &Time::new(when.seconds, when.offset_minutes))
        .map_err(git_error(format!("use the identity {person}")))
}

impl Store {
    /// Moves `refs/heads/<branch>` from `expected` to `new`, atomically: when the branch
    /// holds anything else, nothing changes and the error is `conflict`. In remote mode
    /// this is a push with a lease, then the local refs follow.
    pub fn update_branch(&self, branch: &str, new: ObjectId, expected: ObjectId, log: &str) -> Result<(), Error> {
        if self.remote.is_some() {
            return self.push_and_follow(branch, new, expected, None, log);
        }
        let name = format!("refs/heads/{branch}");
        match self.repo.reference_matching(&name, oid(new), true, oid(expected), log) {
            Ok(_) => Ok(()),
            Err(error) => {
                let actual = self.branch_tip(branch)?;
                if actual != Some(expected)
                    || matches!(error.code(), git2::ErrorCode::Locked | git2::ErrorCode::Modified)
                {
                    Err(conflict(branch, expected, actual))
                } else {
                    Err(Error::Git { step: format!("update branch {branch}"), source: failure(error) })
                }
            }
        }
    }

    /// [`Store::update_branch`], then the new version's tag on the new commit: locally
    /// one after the other (a cut between them is repaired by reconciliation), in remote
    /// mode one atomic push of both.
    pub fn update_branch_and_tag(
        &self,
        branch: &str,
        new: ObjectId,
        expected: ObjectId,
        tag: &NewTag<'_>,
        log: &str,
    ) -> Result<(), Error> {
        if self.remote.is_some() {
            return self.push_and_follow(branch, new, expected, Some(tag), log);
        }
        self.update_branch(branch, new, expected, log)?;
        self.ensure_tag(tag.version, new, tag.tagger, tag.when, tag.message).map(|_| ())
    }

    /// Remote mode: one atomic push of the branch (leased on `expected`) and the tag
    /// (leased on not existing), then the local refs as a fetch would leave them.
    fn push_and_follow(
        &self,
        branch: &str,
        new: ObjectId,
        expected: ObjectId,
        tag: Option<&NewTag<'_>>,
        log: &str,
    ) -> Result<(), Error> {
        let remote = self.remote.as_ref().expect("remote mode");
        let held = remote.lock.lock().unwrap_or_else(|e| e.into_inner());
        let mut updates =
            vec![RefUpdate { object: new, name: format!("refs/heads/{branch}"), expected: Some(expected) }];
        let tag_object = match tag {
            Some(tag) => {
                let object = self.tag_object(&tag.version.tag(), new, tag.tagger, tag.when, tag.message)?;
                updates.push(RefUpdate { object, name: format!("refs/tags/{}", tag.version.tag()), expected: None });
                Some(object)
            }
            None => None,
        };
        match remote.push(self.git_dir(), &updates) {
            Ok(()) => {}
            Err(PushError::Rejected(detail)) => {
                tracing::debug!(detail, "push rejected");
                drop(held);
                let _ = self.fetch();
                return Err(conflict(branch, expected, self.branch_tip(branch)?));
            }
            Err(PushError::Failed(error)) => return Err(error),
        }
        // Follow locally: the fetched ref, a checked-out local branch that was at the
        // fetched tip, and the tag.
        let local = format!("refs/heads/{branch}");
        let follow_local = remote.tracking != "refs/heads/"
            && self.repo.refname_to_id(&local).ok() == Some(oid(expected))
            && self.head_is(branch);
        // As a fetch would, but only from the value planned on: a newer fetched one stays.
        match self.repo.reference_matching(&self.branch_ref(branch), oid(new), true, oid(expected), log) {
            Ok(_) => {}
            Err(error) if matches!(error.code(), git2::ErrorCode::Modified | git2::ErrorCode::Locked) => {}
            Err(error) => return Err(Error::Git { step: format!("update {branch}"), source: failure(error) }),
        }
        if follow_local {
            self.repo
                .reference_matching(&local, oid(new), true, oid(expected), log)
                .map_err(git_error(format!("fast-forward {branch}")))?;
        }
        if let (Some(tag), Some(object)) = (tag, tag_object) {
            self.repo
                .reference(&format!("refs/tags/{}", tag.version.tag()), oid(object), true, log)
                .map_err(git_error(format!("record tag {}", tag.version.tag())))?;
        }
        Ok(())
    }

    /// An annotated tag object without a ref (remote mode pushes it before naming it).
    fn tag_object(
        &self,
        name: &str,
        target: ObjectId,
        tagger: &Person,
        when: When,
        message: &str,
    ) -> Result<ObjectId, Error> {
        let object =
            self.repo.find_object(oid(target), None).map_err(git_error(format!("find the commit to tag {name}")))?;
        let tagger = signature(tagger, when)?;
        self.repo
            .tag_annotation_create(name, &object, &tagger, message)
            .map(object_id)
            .map_err(git_error(format!("create tag {name}")))
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
        if let Some(remote) = &self.remote {
            let held = remote.lock.lock().unwrap_or_else(|e| e.into_inner());
            let object = self.tag_object(&name, commit, tagger, when, message)?;
            let update = RefUpdate { object, name: format!("refs/tags/{name}"), expected: None };
            return match remote.push(self.git_dir(), &[update]) {
                Ok(()) => {
                    self.repo
                        .reference(&format!("refs/tags/{name}"), oid(object), true, "stagecraft tag")
                        .map_err(git_error(format!("record tag {name}")))?;
                    Ok(true)
                }
                Err(PushError::Rejected(_)) => {
                    drop(held);
                    self.fetch()?;
                    match self.tagged_version(version)? {
                        Some(found) => check(found.commit),
                        None => Err(conflict(&format!("tag {name}"), commit, None)),
                    }
                }
                Err(PushError::Failed(error)) => Err(error),
            };
        }
        // Another process (the daemon reconciling, another publish) may be writing this
        // tag right now: like git with `core.filesRefLockTimeout`, wait a moment for its
        // lock, then look at what it wrote.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(1);
        loop {
            match self.create_tag(&name, commit, tagger, when, message) {
                Ok(_) => return Ok(true),
                Err(error) => match (self.tagged_version(version)?, error) {
                    (Some(found), _) => return check(found.commit),
                    (None, Error::Git { source, .. }) if source.locked => {
                        if std::time::Instant::now() >= deadline {
                            return Err(Error::Conflict {
                                branch: format!("tag {name}"),
                                expected: "nothing".into(),
                                actual: "a concurrent update".into(),
                            });
                        }
                        std::thread::sleep(std::time::Duration::from_millis(5));
                    }
                    (None, error) => return Err(error),
                },
            }
        }
    }

    /// True when `branch` is checked out in this repository's work tree (in remote mode:
    /// and the local branch is at the fetched tip, so that a write there moves it too).
    pub fn is_checked_out(&self, branch: &str) -> bool {
        if !self.head_is(branch) {
            return false;
        }
        match &self.remote {
            Some(remote) if remote.tracking != "refs/heads/" => {
                let local = self.repo.refname_to_id(&format!("refs/heads/{branch}")).ok();
                local.is_some() && local == self.repo.refname_to_id(&self.branch_ref(branch)).ok()
            }
            _ => true,
        }
    }

    fn head_is(&self, branch: &str) -> bool {
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
        let statuses = self.repo.statuses(Some(&mut options)).map_err(git_error("read the work tree's status"))?;
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
        let statuses = self.repo.statuses(Some(&mut options)).map_err(git_error("read the work tree's status"))?;
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
        self.repo.checkout_head(Some(&mut options)).map_err(git_error("update the work tree"))
    }
}
