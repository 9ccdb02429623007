//! The example config repository (`example-repo/`), embedded in the binary so that
//! `stagecraft demo` works from any directory with no files around it.
//!
//! Pure: the files are compiled into the binary.

use include_dir::{Dir, DirEntry, include_dir};

use crate::model::{MemoryBlobs, Snapshot};

static EXAMPLE: Dir<'static> = include_dir!("$CARGO_MANIFEST_DIR/example-repo");

/// The example repository as a snapshot and its blobs, with git blob ids.
pub fn snapshot() -> (Snapshot, MemoryBlobs) {
    let mut files = Vec::new();
    collect(&EXAMPLE, &mut files);
    crate::store::memory_tree(files)
}

fn collect(dir: &'static Dir<'static>, files: &mut Vec<(String, &'static [u8])>) {
    for item in dir.entries() {
        match item {
            DirEntry::Dir(sub) => collect(sub, files),
            DirEntry::File(file) => files.push((file.path().to_string_lossy().replace('\\', "/"), file.contents())),
        }
    }
}
