//! Turns what a user typed (`draft`, `v3`, a commit, a directory) into a tree to read.
//!
//! I/O: git, through `store`.

use std::path::{Path, PathBuf};

use crate::error::Error;
use crate::model::{BlobReader, Chain, Entry, ObjectId, ReadError, Snapshot, Version};
use crate::store::dir::DirBlobs;
use crate::store::{GitBlobs, Store, dir};

/// A tree named by the user, ready to load.
pub struct ResolvedTree<'s> {
    /// For messages: `draft (1a2b3c4)`, `v3 (1a2b3c4)`, `commit 1a2b3c4`, or the path.
    pub origin: String,
    /// The commit, when the tree comes from git.
    pub commit: Option<ObjectId>,
    pub snapshot: Snapshot,
    pub reader: TreeReader<'s>,
}

/// Reads a resolved tree's blobs, from git or from a directory.
pub enum TreeReader<'s> {
    Git(GitBlobs<'s>),
    Dir(DirBlobs),
}

impl BlobReader for TreeReader<'_> {
    fn size(&self, path: &str, entry: &Entry) -> Result<u64, ReadError> {
        match self {
            TreeReader::Git(reader) => reader.size(path, entry),
            TreeReader::Dir(reader) => reader.size(path, entry),
        }
    }
    fn read(&self, path: &str, entry: &Entry) -> Result<Vec<u8>, ReadError> {
        match self {
            TreeReader::Git(reader) => reader.read(path, entry),
            TreeReader::Dir(reader) => reader.read(path, entry),
        }
    }
}

/// What a user named, before anything is read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    Commit { origin: String, commit: ObjectId },
    Directory { origin: String, path: PathBuf },
}

impl Target {
    pub fn origin(&self) -> &str {
        match self {
            Target::Commit { origin, .. } | Target::Directory { origin, .. } => origin,
        }
    }
}

/// Resolves `spec` and loads its tree; see [`resolve_target`].
pub fn resolve_tree<'s>(
    store: Option<&'s Store>,
    chain: &Chain,
    spec: &str,
    cwd: &Path,
) -> Result<ResolvedTree<'s>, Error> {
    let target = resolve_target(store, chain, spec, cwd)?;
    load_target(store, target)
}

/// Lists a target's tree (no content read).
pub fn load_target(store: Option<&Store>, target: Target) -> Result<ResolvedTree<'_>, Error> {
    match target {
        Target::Commit { origin, commit } => {
            let store = store.expect("a commit target comes from a store");
            Ok(ResolvedTree {
                origin,
                commit: Some(commit),
                snapshot: store.snapshot(commit)?,
                reader: TreeReader::Git(store.blobs()),
            })
        }
        Target::Directory { origin, path } => {
            let (snapshot, reader) = dir::load(&path)?;
            Ok(ResolvedTree { origin, commit: None, snapshot, reader: TreeReader::Dir(reader) })
        }
    }
}

/// True when `spec` is written as a path: `.`, `..`, or starting with `./`, `../` or
/// `/`. Anything else is resolved as a git ref first (`feature/x` is a branch).
pub fn looks_like_path(spec: &str) -> bool {
    spec == "."
        || spec == ".."
        || spec.starts_with("./")
        || spec.starts_with("../")
        || spec.starts_with('/')
        || (std::path::MAIN_SEPARATOR != '/' && spec.contains(std::path::MAIN_SEPARATOR))
}

/// Resolves `spec`: an environment of the chain, then `vN`, then a git ref (a full ref
/// name, a local or remote-tracking branch, a tag, a commit id, any revision git reads),
/// and a directory only when it is written as a path or no ref matches. A name that is
/// both a ref and a directory is a usage error naming both. Without a store only
/// directories resolve.
pub fn resolve_target(store: Option<&Store>, chain: &Chain, spec: &str, cwd: &Path) -> Result<Target, Error> {
    let path = cwd.join(spec);
    let directory = || Target::Directory { origin: spec.to_string(), path: path.clone() };
    if looks_like_path(spec) || store.is_none() {
        if path.is_dir() {
            return Ok(directory());
        }
        return Err(Error::NotFound {
            what: "directory",
            name: spec.to_string(),
            hint: "give the path of a directory holding a config tree".into(),
        });
    }
    let store = store.expect("checked above");
    if chain.contains(spec) {
        let tip = store.branch_tip(spec)?.ok_or_else(|| Error::MissingBranch {
            branch: spec.to_string(),
            chain: chain.display_arrows(),
            remote: store.remote_holding(spec),
        })?;
        return Ok(Target::Commit { origin: format!("{spec} ({})", tip.short()), commit: tip });
    }
    if let Ok(version) = spec.parse::<Version>()
        && spec.starts_with('v')
    {
        // Through the state, so that a publish whose tag is not written yet counts.
        let tagged = super::state::read_state(store)?.version(store, version)?;
        return Ok(Target::Commit { origin: format!("{version} ({})", tagged.commit.short()), commit: tagged.commit });
    }
    match (store.resolve_ref(spec), path.is_dir()) {
        (Some(found), true) => Err(Error::Usage {
            message: format!("`{spec}` names both a git ref ({}) and a directory", found.name),
            hint: Some(format!("write ./{spec} for the directory, or {} for the ref", found.name)),
        }),
        (Some(found), false) => {
            let origin = if found.name.starts_with("refs/") || found.name == spec {
                format!("{spec} ({})", found.commit.short())
            } else {
                format!("commit {}", found.commit.short())
            };
            Ok(Target::Commit { origin, commit: found.commit })
        }
        (None, true) => Ok(directory()),
        (None, false) => {
            let latest = store.versions()?.keys().last().map_or("none".to_string(), ToString::to_string);
            Err(Error::NotFound {
                what: "environment, version, ref, commit or directory",
                name: spec.to_string(),
                hint: format!("the environments are {}; the latest version is {latest}", chain.display_arrows()),
            })
        }
    }
}
