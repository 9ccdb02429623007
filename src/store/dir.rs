//! Loads a directory (a work tree being edited, or `init --from`) as a [`Snapshot`] with
//! git's own blob ids, honouring `.gitignore`, so that it gives exactly what the same
//! content committed to git gives. `.git` itself is skipped.
//!
//! I/O: the file system.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use git2::{ObjectType, Oid};

use super::{git_error, object_id};
use crate::error::Error;
use crate::model::{BlobReader, Entry, EntryKind, ReadError, Snapshot};

/// Reads the files of a loaded directory.
#[derive(Debug, Clone)]
pub struct DirBlobs {
    root: PathBuf,
}

/// Lists `root` as a snapshot. Each file is hashed (streamed, never held whole in memory).
pub fn load(root: &Path) -> Result<(Snapshot, DirBlobs), Error> {
    let metadata = std::fs::metadata(root).map_err(Error::io("read the directory", root))?;
    if !metadata.is_dir() {
        return Err(Error::Usage { message: format!("{} is not a directory", root.display()), hint: None });
    }
    let mut entries = BTreeMap::new();
    let walker = ignore::WalkBuilder::new(root)
        .hidden(false)
        .parents(false)
        .ignore(false)
        .git_global(false)
        .git_exclude(false)
        .git_ignore(true)
        .require_git(false)
        .follow_links(false)
        .filter_entry(|entry| entry.file_name() != ".git")
        .sort_by_file_name(|a, b| a.cmp(b))
        .build();
    for item in walker {
        let item = item.map_err(|error| Error::Io {
            step: "walk",
            path: root.display().to_string(),
            source: std::io::Error::other(error.to_string()),
        })?;
        let path = item.path();
        let Some(file_type) = item.file_type() else { continue };
        if file_type.is_dir() {
            continue;
        }
        let relative = path.strip_prefix(root).expect("the walk stays under its root");
        let Some(relative) = relative.to_str() else {
            return Err(Error::Usage {
                message: format!("{} is not a UTF-8 path", path.display()),
                hint: Some("rename the file".into()),
            });
        };
        let relative = relative.replace(std::path::MAIN_SEPARATOR, "/");
        let entry = if file_type.is_symlink() {
            let target = std::fs::read_link(path).map_err(Error::io("read the link", path))?;
            let id = Oid::hash_object(ObjectType::Blob, target.as_os_str().as_encoded_bytes())
                .map_err(git_error("hash a link"))?;
            Entry { id: object_id(id), kind: EntryKind::Symlink }
        } else {
            let id = Oid::hash_file(ObjectType::Blob, path).map_err(git_error(format!("hash {}", path.display())))?;
            Entry { id: object_id(id), kind: if is_executable(path) { EntryKind::Executable } else { EntryKind::File } }
        };
        entries.insert(relative, entry);
    }
    Ok((Snapshot::new(entries), DirBlobs { root: root.to_path_buf() }))
}

#[cfg(unix)]
fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).is_ok_and(|m| m.permissions().mode() & 0o111 != 0)
}

#[cfg(not(unix))]
fn is_executable(_: &Path) -> bool {
    false
}

impl BlobReader for DirBlobs {
    fn size(&self, path: &str, entry: &Entry) -> Result<u64, ReadError> {
        let full = self.root.join(path);
        let result = if entry.kind == EntryKind::Symlink {
            std::fs::read_link(&full).map(|target| target.as_os_str().len() as u64)
        } else {
            std::fs::metadata(&full).map(|m| m.len())
        };
        result.map_err(|e| ReadError { path: path.to_string(), reason: e.to_string() })
    }

    fn read(&self, path: &str, entry: &Entry) -> Result<Vec<u8>, ReadError> {
        let full = self.root.join(path);
        let result = if entry.kind == EntryKind::Symlink {
            std::fs::read_link(&full).map(|target| target.as_os_str().as_encoded_bytes().to_vec())
        } else {
            std::fs::read(&full)
        };
        result.map_err(|e| ReadError { path: path.to_string(), reason: e.to_string() })
    }
}
