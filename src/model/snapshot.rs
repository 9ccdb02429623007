//! A `Snapshot` is one config tree as a sorted map from path to blob id, with no content:
//! listing a tree costs a tree walk, and a file is read only when something needs it,
//! through a [`BlobReader`]. The git store and the directory loader both produce
//! snapshots with git's own blob ids, so the same content gives the same snapshot
//! whichever way it was loaded, and equal ids mean equal bytes. Pure: no I/O here.

use std::collections::BTreeMap;
use std::fmt;

/// A git object id (SHA-1), printed as 40 lowercase hex digits.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ObjectId(pub [u8; 20]);

impl ObjectId {
    pub fn to_hex(self) -> String {
        self.to_string()
    }
    /// The first seven hex digits, as git abbreviates.
    pub fn short(self) -> String {
        self.to_string()[..7].to_string()
    }
    pub fn from_hex(text: &str) -> Option<ObjectId> {
        if text.len() != 40 {
            return None;
        }
        let mut bytes = [0u8; 20];
        for (index, byte) in bytes.iter_mut().enumerate() {
            *byte = u8::from_str_radix(text.get(index * 2..index * 2 + 2)?, 16).ok()?;
        }
        Some(ObjectId(bytes))
    }
}

impl fmt::Display for ObjectId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for byte in self.0 {
            write!(f, "{byte:02x}")?;
        }
        Ok(())
    }
}

impl serde::Serialize for ObjectId {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for ObjectId {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        ObjectId::from_hex(&text)
            .ok_or_else(|| serde::de::Error::custom(format!("`{text}` is not a 40-digit object id")))
    }
}

impl fmt::Debug for ObjectId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ObjectId({})", self.short())
    }
}

/// What a path in a tree is, as git records it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EntryKind {
    File,
    Executable,
    /// The blob holds the link's target path.
    Symlink,
    /// A gitlink: the id is a commit in another repository.
    Submodule,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Entry {
    pub id: ObjectId,
    pub kind: EntryKind,
}

/// One config tree: every file path (with `/` separators, relative to the root) and its
/// blob id. Directories are implied by their files.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Snapshot {
    entries: BTreeMap<String, Entry>,
}

impl Snapshot {
    pub fn new(entries: BTreeMap<String, Entry>) -> Snapshot {
        Snapshot { entries }
    }
    pub fn get(&self, path: &str) -> Option<&Entry> {
        self.entries.get(path)
    }
    pub fn entries(&self) -> &BTreeMap<String, Entry> {
        &self.entries
    }
    pub fn len(&self) -> usize {
        self.entries.len()
    }
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
    /// This snapshot with some paths set (`Some`) or removed (`None`).
    pub fn with_changes(&self, changes: impl IntoIterator<Item = (String, Option<Entry>)>) -> Snapshot {
        let mut entries = self.entries.clone();
        for (path, entry) in changes {
            match entry {
                Some(entry) => entries.insert(path, entry),
                None => entries.remove(&path),
            };
        }
        Snapshot { entries }
    }
    /// Every entry whose path starts with `prefix` (which should end in `/`).
    pub fn under<'a>(&'a self, prefix: &'a str) -> impl Iterator<Item = (&'a String, &'a Entry)> + 'a {
        self.entries
            .range::<str, _>((std::ops::Bound::Included(prefix), std::ops::Bound::Unbounded))
            .take_while(move |(path, _)| path.starts_with(prefix))
    }
}

/// Why a blob could not be read.
#[derive(Debug, thiserror::Error)]
#[error("could not read {path}: {reason}")]
pub struct ReadError {
    pub path: String,
    pub reason: String,
}

/// Reads the content of the blobs a [`Snapshot`] names. The git store reads them from the
/// object database; the directory loader from the files; both only on demand.
pub trait BlobReader {
    /// The size in bytes, without reading the content (so a limit is checked first).
    fn size(&self, path: &str, entry: &Entry) -> Result<u64, ReadError>;
    /// The whole content.
    fn read(&self, path: &str, entry: &Entry) -> Result<Vec<u8>, ReadError>;
}

/// Blobs held in memory, keyed by id: the embedded example repository and tests.
#[derive(Debug, Default, Clone)]
pub struct MemoryBlobs {
    pub blobs: BTreeMap<ObjectId, Vec<u8>>,
}

impl BlobReader for MemoryBlobs {
    fn size(&self, path: &str, entry: &Entry) -> Result<u64, ReadError> {
        self.read_ref(path, entry).map(|bytes| bytes.len() as u64)
    }
    fn read(&self, path: &str, entry: &Entry) -> Result<Vec<u8>, ReadError> {
        self.read_ref(path, entry).map(<[u8]>::to_vec)
    }
}

impl MemoryBlobs {
    fn read_ref(&self, path: &str, entry: &Entry) -> Result<&[u8], ReadError> {
        self.blobs.get(&entry.id).map(Vec::as_slice).ok_or_else(|| ReadError {
            path: path.to_string(),
            reason: format!("blob {} is missing", entry.id.short()),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn object_ids_round_trip_through_hex() {
        let hex = "0123456789abcdef0123456789abcdef01234567";
        let id = ObjectId::from_hex(hex).unwrap();
        assert_eq!(id.to_hex(), hex);
        assert_eq!(id.short(), "0123456");
        assert!(ObjectId::from_hex("xyz").is_none());
        assert!(ObjectId::from_hex(&"g".repeat(40)).is_none());
    }

    #[test]
    fn under_lists_only_the_prefix() {
        let entry = Entry { id: ObjectId([0; 20]), kind: EntryKind::File };
        let snapshot = Snapshot::new(
            ["a/x", "assistants/b/c", "assistants/d", "assistantsx", "b"]
                .into_iter()
                .map(|p| (p.to_string(), entry))
                .collect(),
        );
        let paths: Vec<_> = snapshot.under("assistants/").map(|(p, _)| p.as_str()).collect();
        assert_eq!(paths, ["assistants/b/c", "assistants/d"]);
    }
}
