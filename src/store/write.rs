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
                let bytes =
                    reader.read(path, entry).map_err(|e| Error::Usage { message: e.to_string(), hint: None })?;
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
