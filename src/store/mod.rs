//! Every git2 call of stagecraft: opening a repository (after refusing formats libgit2
//! cannot read), reading refs, tags, commits and trees, and writing objects and refs.
//! Trees are read straight from the object database, never checked out, and a blob is
//! read only when asked for. Every ref update is a compare-and-swap on its old value.
//!
//! I/O: git, through git2.

pub mod dir;
mod notes;
pub mod remote;
mod write;

pub use write::NewTag;

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use git2::{ObjectType, Oid, Repository, TreeWalkMode, TreeWalkResult};

use crate::error::Error;
use crate::history::{self, Message};
use crate::identity::{Person, When};
use crate::model::{BlobReader, Chain, Entry, EntryKind, EnvName, ObjectId, ReadError, Snapshot, Version};

/// An open config repository.
pub struct Store {
    repo: Repository,
    /// The directory the user named (work tree or bare git directory), for messages.
    root: PathBuf,
    /// Remote mode: environments are read from the remote's fetched refs and written by
    /// `git push --atomic` (see [`remote`]).
    remote: Option<remote::Remote>,
}

/// What the store reads of one commit.
#[derive(Debug, Clone)]
pub struct CommitInfo {
    pub id: ObjectId,
    pub tree: ObjectId,
    pub parents: Vec<ObjectId>,
    pub author: Person,
    pub author_time: When,
    pub committer: Person,
    pub committer_time: When,
    pub message: Message,
}

/// A ref or revision as [`Store::resolve_ref`] found it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResolvedRef {
    /// The full ref name (`refs/heads/feature/x`), or `commit`.
    pub name: String,
    pub commit: ObjectId,
}

/// A version as its tag names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TaggedVersion {
    pub version: Version,
    pub commit: ObjectId,
    pub tree: ObjectId,
}

pub fn oid(id: ObjectId) -> Oid {
    Oid::from_bytes(&id.0).expect("object ids are 20 bytes")
}

pub fn object_id(oid: Oid) -> ObjectId {
    let mut bytes = [0u8; 20];
    bytes.copy_from_slice(oid.as_bytes());
    ObjectId(bytes)
}

/// A tree held in memory (the embedded example, the init skeleton), with git blob ids.
pub fn memory_tree<'a>(files: impl IntoIterator<Item = (String, &'a [u8])>) -> (Snapshot, crate::model::MemoryBlobs) {
    let mut entries = BTreeMap::new();
    let mut blobs = crate::model::MemoryBlobs::default();
    for (path, bytes) in files {
        let hashed = Oid::hash_object(ObjectType::Blob, bytes).expect("hashing bytes in memory cannot fail");
        let id = object_id(hashed);
        entries.insert(path, Entry { id, kind: EntryKind::File });
        blobs.blobs.insert(id, bytes.to_vec());
    }
    (Snapshot::new(entries), blobs)
}

/// The error of a failed git2 call, naming the step.
pub(crate) fn git_error(step: impl Into<String>) -> impl FnOnce(git2::Error) -> Error {
    let step = step.into();
    move |error| Error::Git { step, source: failure(error) }
}

/// What git2 said, as plain values.
pub(crate) fn failure(error: git2::Error) -> crate::error::GitFailure {
    crate::error::GitFailure { message: error.message().to_string(), locked: error.code() == git2::ErrorCode::Locked }
}

/// `user.name` and `user.email` of the global git config (outside any repository).
pub fn global_identity() -> (Option<String>, Option<String>) {
    match git2::Config::open_default() {
        Ok(config) => (config.get_string("user.name").ok(), config.get_string("user.email").ok()),
        Err(_) => (None, None),
    }
}

/// Turns off libgit2's re-hash of every object it reads, for the daemon, which reads
/// every tree of every change on the path from a ref update to the runtimes; git itself
/// checks hashes on fsck and on transfer, not on each read.
pub fn skip_hash_verification() {
    git2::opts::strict_hash_verification(false);
}

/// A version, its commit and its tree, as the cache holds them.
type CachedVersion = (Version, (ObjectId, ObjectId));

/// The version-trees cache: a `key …` line (what the tags were when it was written),
/// then one 44-byte record a version, ascending: the number (4 bytes, big-endian), the
/// commit id, the tree id. Unreadable or malformed: empty.
fn read_tree_cache(path: &Path) -> (Option<String>, Vec<CachedVersion>) {
    let Ok(bytes) = std::fs::read(path) else { return (None, Vec::new()) };
    let Some(newline) = bytes.iter().position(|b| *b == b'\n') else { return (None, Vec::new()) };
    let key = std::str::from_utf8(&bytes[..newline]).ok().and_then(|l| l.strip_prefix("key ")).map(str::to_string);
    let records = &bytes[newline + 1..];
    if records.len() % 44 != 0 {
        return (None, Vec::new());
    }
    let id = |bytes: &[u8]| ObjectId(bytes.try_into().expect("20 bytes"));
    let entries = records
        .chunks_exact(44)
        .filter_map(|record| {
            let number = u32::from_be_bytes(record[..4].try_into().expect("4 bytes"));
            Some((Version::new(number)?, (id(&record[4..24]), id(&record[24..44]))))
        })
        .collect();
    (key, entries)
}

/// Rewrites the cache (a temporary file renamed over it); a failure only costs the
/// next reader the same reads.
fn write_tree_cache(path: &Path, key: Option<&str>, versions: &BTreeMap<Version, TaggedVersion>) {
    let mut bytes = format!("key {}\n", key.unwrap_or("unknown")).into_bytes();
    for tagged in versions.values() {
        bytes.extend_from_slice(&tagged.version.number().to_be_bytes());
        bytes.extend_from_slice(&tagged.commit.0);
        bytes.extend_from_slice(&tagged.tree.0);
    }
    write_cache_file(path, &bytes);
}

/// Writes a cache file whole (a temporary file renamed over it, so a reader sees the old
/// file or the new one); a failure only costs the next reader the reads it saves.
fn write_cache_file(path: &Path, bytes: &[u8]) {
    let Some(dir) = path.parent() else { return };
    let written = std::fs::create_dir_all(dir).and_then(|()| {
        let mut file = tempfile::NamedTempFile::new_in(dir)?;
        std::io::Write::write_all(&mut file, bytes)?;
        file.persist(path).map(|_| ()).map_err(|e| e.error)
    });
    if let Err(error) = written {
        tracing::debug!(error = %error, path = %path.display(), "cannot write a cache file");
    }
}

/// The git directory and work tree that hold `start`, found by walking up from it.
pub fn discover(start: &Path) -> Option<(PathBuf, Option<PathBuf>)> {
    let start = std::path::absolute(start).ok()?;
    for dir in start.ancestors() {
        let dot_git = dir.join(".git");
        if dot_git.is_dir() {
            return Some((dot_git, Some(dir.to_path_buf())));
        }
        if dot_git.is_file() {
            let text = std::fs::read_to_string(&dot_git).ok()?;
            let target = text.trim().strip_prefix("gitdir:")?.trim();
            return Some((dir.join(target), Some(dir.to_path_buf())));
        }
        if dir.join("HEAD").is_file() && dir.join("objects").is_dir() {
            return Some((dir.to_path_buf(), None));
        }
    }
    None
}

/// Refuses repositories libgit2 cannot open (reftable refs, SHA-256 object ids), reading
/// only their config file, before anything opens them.
pub fn check_format(git_dir: &Path, shown: &str) -> Result<(), Error> {
    let config_path = git_dir.join("config");
    if !config_path.is_file() {
        return Ok(());
    }
    let config = git2::Config::open(&config_path).map_err(git_error(format!("read {}", config_path.display())))?;
    let get = |key: &str| config.get_string(key).ok().map(|v| v.to_ascii_lowercase());
    if get("extensions.refstorage").as_deref() == Some("reftable") {
        return Err(Error::UnsupportedFormat {
            path: shown.to_string(),
            format: "the reftable ref format",
            hint: format!(
                "convert it with `git -C {shown} refs migrate --ref-format=files`, then run stagecraft again"
            ),
        });
    }
    if get("extensions.objectformat").as_deref() == Some("sha256") {
        return Err(Error::UnsupportedFormat {
            path: shown.to_string(),
            format: "SHA-256 object ids",
            hint: "stagecraft needs a SHA-1 repository; create one with `git init --object-format=sha1` and push the history into it".to_string(),
        });
    }
    Ok(())
}

impl Store {
    /// Opens the repository that holds `path`.
    pub fn open(path: &Path) -> Result<Store, Error> {
        let shown = path.display().to_string();
        let Some((git_dir, work_tree)) = discover(path) else {
            return Err(Error::NotARepository { path: shown });
        };
        check_format(&git_dir, &shown)?;
        let repo =
            Repository::open(&git_dir).map_err(git_error(format!("open the repository at {}", git_dir.display())))?;
        Ok(Store { repo, root: work_tree.unwrap_or(git_dir), remote: None })
    }

    /// Wraps a repository created by this process.
    /// A store over a repository opened elsewhere (benches that build their own).
    pub fn from_repository(repo: Repository, root: PathBuf) -> Store {
        Store { repo, root, remote: None }
    }

    /// Creates a new, empty repository at `path` (made if missing, refused if one is
    /// there), with `head` as its initial branch.
    pub fn create(path: &Path, bare: bool, head: &str) -> Result<Store, Error> {
        let mut options = git2::RepositoryInitOptions::new();
        options.bare(bare).no_reinit(true).mkdir(true).initial_head(head);
        let repo = Repository::init_opts(path, &options)
            .map_err(git_error(format!("create a repository at {}", path.display())))?;
        Ok(Store { repo, root: path.to_path_buf(), remote: None })
    }

    /// Puts the store in remote mode: reads from the remote's fetched refs, writes by push.
    pub fn with_remote(mut self, remote: remote::Remote) -> Store {
        self.remote = Some(remote);
        self
    }

    pub fn remote(&self) -> Option<&remote::Remote> {
        self.remote.as_ref()
    }

    /// Fetches the remote's branches and tags (nothing without a remote).
    pub fn fetch(&self) -> Result<(), Error> {
        match &self.remote {
            Some(remote) => remote.fetch(self.git_dir()),
            None => Ok(()),
        }
    }

    /// The local ref an environment is read from: `refs/heads/<env>`, or in remote mode
    /// the fetched one.
    pub fn branch_ref(&self, env: &str) -> String {
        match &self.remote {
            Some(remote) => format!("{}{env}", remote.tracking),
            None => format!("refs/heads/{env}"),
        }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    pub fn git_dir(&self) -> &Path {
        self.repo.path()
    }

    pub fn is_bare(&self) -> bool {
        self.repo.is_bare()
    }

    /// The remote that has a remote-tracking branch `name` (`origin` first), when the
    /// local branch is missing.
    pub fn remote_holding(&self, name: &str) -> Option<String> {
        let mut remotes: Vec<String> =
            self.repo.remotes().ok()?.iter().flatten().flatten().map(str::to_string).collect();
        remotes.sort_by_key(|remote| remote != "origin");
        remotes.into_iter().find(|remote| self.repo.find_reference(&format!("refs/remotes/{remote}/{name}")).is_ok())
    }

    /// Whether the repository has a remote of that name.
    pub fn has_remote(&self, name: &str) -> bool {
        self.repo.find_remote(name).is_ok()
    }

    pub fn repository(&self) -> &Repository {
        &self.repo
    }

    /// `user.name` and `user.email` from git config.
    pub fn config_identity(&self) -> (Option<String>, Option<String>) {
        match self.repo.config() {
            Ok(config) => (config.get_string("user.name").ok(), config.get_string("user.email").ok()),
            Err(_) => (None, None),
        }
    }

    /// The tip of an environment branch, if the branch exists.
    pub fn branch_tip(&self, env: &str) -> Result<Option<ObjectId>, Error> {
        match self.repo.find_reference(&self.branch_ref(env)) {
            Ok(reference) => {
                let commit = reference.peel_to_commit().map_err(git_error(format!("read branch {env}")))?;
                Ok(Some(object_id(commit.id())))
            }
            Err(error) if error.code() == git2::ErrorCode::NotFound => Ok(None),
            Err(error) => Err(Error::Git { step: format!("read branch {env}"), source: failure(error) }),
        }
    }

    /// Every `vN` tag, by version: the commit it names and that commit's tree.
    ///
    /// The tags' commits come from the refs themselves (a packed tag's peeled id is in
    /// `packed-refs`, so no tag object is read), and each commit's tree from a cache
    /// under the git directory (`stagecraft/version-trees`), checked against the commit
    /// every time and rewritten when a tag was added or moved: never the source of
    /// truth, only what spares reading one commit per version.
    pub fn versions(&self) -> Result<BTreeMap<Version, TaggedVersion>, Error> {
        let cache_path = self.git_dir().join("stagecraft").join("version-trees");
        let (cached_key, cached) = read_tree_cache(&cache_path);
        let cached: BTreeMap<Version, (ObjectId, ObjectId)> = cached.into_iter().collect();
        // The tags have not changed since the cache was written (the same packed-refs
        // file and the same loose tags): it is the listing, without reading any ref.
        let key = self.tags_key();
        if key.is_some() && cached_key == key {
            return Ok(cached
                .into_iter()
                .map(|(version, (commit, tree))| (version, TaggedVersion { version, commit, tree }))
                .collect());
        }
        let commits = self.tag_commits()?;
        let mut versions = BTreeMap::new();
        let mut stale = cached.len() != commits.len() || cached_key != key;
        for (version, commit) in commits {
            let tree = match cached.get(&version) {
                Some((cached_commit, tree)) if *cached_commit == commit => *tree,
                _ => {
                    stale = true;
                    self.tree_id(commit)?
                }
            };
            versions.insert(version, TaggedVersion { version, commit, tree });
        }
        if stale {
            write_tree_cache(&cache_path, key.as_deref(), &versions);
        }
        Ok(versions)
    }

    /// What identifies the set of tags without listing them: the `packed-refs` file
    /// (size, modification time, inode) and every loose `refs/tags/v*` with its content.
    /// `None` when it cannot be read.
    fn tags_key(&self) -> Option<String> {
        use std::os::unix::fs::MetadataExt;
        let git_dir = self.git_dir();
        let packed = match std::fs::metadata(git_dir.join("packed-refs")) {
            Ok(meta) => format!("{} {} {} {}", meta.len(), meta.mtime(), meta.mtime_nsec(), meta.ino()),
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => "none".into(),
            Err(_) => return None,
        };
        let mut loose: Vec<String> = Vec::new();
        match std::fs::read_dir(git_dir.join("refs").join("tags")) {
            Ok(entries) => {
                for entry in entries {
                    let entry = entry.ok()?;
                    let name = entry.file_name().into_string().ok()?;
                    if !name.starts_with('v') {
                        continue;
                    }
                    let content = std::fs::read_to_string(entry.path()).ok()?;
                    loose.push(format!("{name}={}", content.trim()));
                }
            }
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => {}
            Err(_) => return None,
        }
        loose.sort();
        Some(format!("packed {packed} loose {}", loose.join(",")))
    }

    /// Every `vN` tag and the commit it names, from the refs (a packed tag's peeled id
    /// from `packed-refs`; a loose one peeled).
    pub fn tag_commits(&self) -> Result<Vec<(Version, ObjectId)>, Error> {
        let mut found = Vec::new();
        let references = self.repo.references_glob("refs/tags/v*").map_err(git_error("list tags"))?;
        for reference in references {
            let reference = reference.map_err(git_error("list tags"))?;
            let Some(name) = reference.name().ok().and_then(|n| n.strip_prefix("refs/tags/")) else { continue };
            let Ok(version) = name.parse::<Version>() else { continue };
            if version.to_string() != name {
                continue;
            }
            let commit = match reference.target_peel() {
                Some(peeled) => peeled,
                None => reference.peel_to_commit().map_err(git_error(format!("read the commit of tag {name}")))?.id(),
            };
            found.push((version, object_id(commit)));
        }
        Ok(found)
    }

    /// A cache file stagecraft keeps beside the repository (`stagecraft/NAME` in the git
    /// directory), or `None` when there is none or it cannot be read. What it holds, and
    /// whether it still holds, is the caller's to decide.
    pub fn read_cache(&self, name: &str) -> Option<Vec<u8>> {
        std::fs::read(self.git_dir().join("stagecraft").join(name)).ok()
    }

    /// Replaces the cache file `name` whole; a failure is logged and otherwise ignored.
    pub fn write_cache(&self, name: &str, bytes: &[u8]) {
        write_cache_file(&self.git_dir().join("stagecraft").join(name), bytes);
    }

    /// The highest `vN` tag, from the versions cache (written on the way when the tags
    /// changed since): listing tag names through libgit2 resolves every one of them, 250 ms
    /// at 100,000 versions, on every write plan.
    pub fn latest_tagged_version(&self) -> Result<Option<Version>, Error> {
        let (cached_key, cached) = read_tree_cache(&self.git_dir().join("stagecraft").join("version-trees"));
        let key = self.tags_key();
        if key.is_some() && cached_key == key {
            return Ok(cached.iter().map(|(version, _)| *version).max());
        }
        Ok(self.versions()?.keys().next_back().copied())
    }

    /// The version tag `vN`, looked up by name.
    pub fn tagged_version(&self, version: Version) -> Result<Option<TaggedVersion>, Error> {
        let name = version.tag();
        match self.repo.find_reference(&format!("refs/tags/{name}")) {
            Ok(reference) => {
                let commit = reference.peel_to_commit().map_err(git_error(format!("read the commit of tag {name}")))?;
                Ok(Some(TaggedVersion { version, commit: object_id(commit.id()), tree: object_id(commit.tree_id()) }))
            }
            Err(error) if error.code() == git2::ErrorCode::NotFound => Ok(None),
            Err(error) => Err(Error::Git { step: format!("read tag {name}"), source: failure(error) }),
        }
    }

    /// The environment chain and protected environments, from the trailers of the commit
    /// tagged `v1`.
    pub fn chain(&self) -> Result<Chain, Error> {
        let shown = self.root.display().to_string();
        let not_stagecraft = |reason: String| Error::NotStagecraft { path: shown.clone(), reason };
        let reference = self
            .repo
            .find_reference("refs/tags/v1")
            .map_err(|_| not_stagecraft("it has no tag v1 (the initial version)".into()))?;
        let commit = reference.peel_to_commit().map_err(|_| not_stagecraft("tag v1 does not name a commit".into()))?;
        let message = Message::parse(commit.message().unwrap_or_default());
        if message.get(history::ACTION) != Some("init") {
            return Err(not_stagecraft("the commit tagged v1 is not a stagecraft init commit".into()));
        }
        let chain_text = message
            .get(history::CHAIN)
            .ok_or_else(|| not_stagecraft("the v1 commit has no Stagecraft-Chain trailer".into()))?;
        let environments = Chain::parse_list(chain_text)
            .map_err(|e| not_stagecraft(format!("its Stagecraft-Chain trailer is invalid: {e}")))?;
        let protected = Chain::parse_list(message.get(history::PROTECTED).unwrap_or_default())
            .map_err(|e| not_stagecraft(format!("its Stagecraft-Protected trailer is invalid: {e}")))?;
        Chain::new(environments, protected).map_err(|e| not_stagecraft(format!("its chain is invalid: {e}")))
    }

    /// Every branch of the chain, or the error naming the first one missing.
    pub fn chain_tips(&self, chain: &Chain) -> Result<Vec<(EnvName, ObjectId)>, Error> {
        chain
            .environments()
            .iter()
            .map(|env| match self.branch_tip(env.as_str())? {
                Some(tip) => Ok((env.clone(), tip)),
                None => Err(Error::MissingBranch {
                    branch: env.to_string(),
                    chain: chain.display_arrows(),
                    remote: self.remote_holding(env.as_str()),
                }),
            })
            .collect()
    }

    pub fn commit_info(&self, id: ObjectId) -> Result<CommitInfo, Error> {
        let commit = self.repo.find_commit(oid(id)).map_err(git_error(format!("read commit {}", id.short())))?;
        let person = |signature: git2::Signature<'_>| Person {
            name: String::from_utf8_lossy(signature.name_bytes()).into_owned(),
            email: String::from_utf8_lossy(signature.email_bytes()).into_owned(),
        };
        let when = |time: git2::Time| When { seconds: time.seconds(), offset_minutes: time.offset_minutes() };
        Ok(CommitInfo {
            id,
            tree: object_id(commit.tree_id()),
            parents: commit.parent_ids().map(object_id).collect(),
            author_time: when(commit.author().when()),
            author: person(commit.author()),
            committer_time: when(commit.committer().when()),
            committer: person(commit.committer()),
            message: Message::parse(&String::from_utf8_lossy(commit.message_bytes())),
        })
    }

    /// The tree of a commit.
    pub fn tree_id(&self, commit: ObjectId) -> Result<ObjectId, Error> {
        let commit =
            self.repo.find_commit(oid(commit)).map_err(git_error(format!("read commit {}", commit.short())))?;
        Ok(object_id(commit.tree_id()))
    }

    /// The paths that differ between a commit's parent (or nothing) and the commit.
    pub fn changed_paths(&self, parent: Option<ObjectId>, commit: ObjectId) -> Result<Vec<String>, Error> {
        let tree = |id: ObjectId| self.repo.find_commit(oid(id)).and_then(|c| c.tree());
        let new_tree = tree(commit).map_err(git_error("read a commit's tree"))?;
        let old_tree = match parent {
            Some(parent) => Some(tree(parent).map_err(git_error("read a parent's tree"))?),
            None => None,
        };
        let mut paths = Vec::new();
        self.changed_between("", old_tree.as_ref(), Some(&new_tree), &mut paths)?;
        Ok(paths)
    }

    /// The paths that differ between two trees (either may be absent), in git's order:
    /// both trees' entries are walked side by side, as git sorts them, and only subtrees
    /// whose ids differ are entered.
    fn changed_between(
        &self,
        dir: &str,
        old: Option<&git2::Tree<'_>>,
        new: Option<&git2::Tree<'_>>,
        paths: &mut Vec<String>,
    ) -> Result<(), Error> {
        // Git orders a tree's entries by name, a subtree's name as if it ended in `/`.
        let key = |entry: &git2::TreeEntry<'_>| {
            let mut name = entry.name_bytes().to_vec();
            if is_tree(entry) {
                name.push(b'/');
            }
            name
        };
        let olds: Vec<git2::TreeEntry<'_>> = old.map(|t| t.iter().collect()).unwrap_or_default();
        let news: Vec<git2::TreeEntry<'_>> = new.map(|t| t.iter().collect()).unwrap_or_default();
        let (mut i, mut j) = (0, 0);
        while i < olds.len() || j < news.len() {
            let order = match (olds.get(i), news.get(j)) {
                (Some(a), Some(b)) => key(a).cmp(&key(b)),
                (Some(_), None) => std::cmp::Ordering::Less,
                _ => std::cmp::Ordering::Greater,
            };
            let (before, after) = match order {
                std::cmp::Ordering::Less => (olds.get(i), None),
                std::cmp::Ordering::Greater => (None, news.get(j)),
                std::cmp::Ordering::Equal => (olds.get(i), news.get(j)),
            };
            if order != std::cmp::Ordering::Greater {
                i += 1;
            }
            if order != std::cmp::Ordering::Less {
                j += 1;
            }
            if let (Some(a), Some(b)) = (before, after)
                && a.id() == b.id()
                && a.filemode() == b.filemode()
            {
                continue;
            }
            let entry = after.or(before).expect("one side at least");
            let path = format!("{dir}{}", String::from_utf8_lossy(entry.name_bytes()));
            let subtree = |side: Option<&git2::TreeEntry<'_>>| -> Result<Option<git2::Tree<'_>>, Error> {
                match side.filter(|e| is_tree(e)) {
                    Some(e) => Ok(Some(self.subtree(e)?)),
                    None => Ok(None),
                }
            };
            let (old_sub, new_sub) = (subtree(before)?, subtree(after)?);
            if old_sub.is_some() || new_sub.is_some() {
                self.changed_between(&format!("{path}/"), old_sub.as_ref(), new_sub.as_ref(), paths)?;
            }
            // A file on either side (a file replaced by a directory counts too).
            if before.is_some_and(|e| !is_tree(e)) || after.is_some_and(|e| !is_tree(e)) {
                paths.push(path);
            }
        }
        Ok(())
    }

    /// The tagger, time and message of the annotated tag `vN` (`None` for a lightweight tag).
    pub fn tag_info(&self, version: Version) -> Result<Option<(Person, When, String)>, Error> {
        let name = version.tag();
        let reference = match self.repo.find_reference(&format!("refs/tags/{name}")) {
            Ok(reference) => reference,
            Err(error) if error.code() == git2::ErrorCode::NotFound => return Ok(None),
            Err(error) => return Err(Error::Git { step: format!("read tag {name}"), source: failure(error) }),
        };
        let Ok(tag) = reference.peel_to_tag() else { return Ok(None) };
        let Some(tagger) = tag.tagger() else { return Ok(None) };
        let person = Person {
            name: String::from_utf8_lossy(tagger.name_bytes()).into_owned(),
            email: String::from_utf8_lossy(tagger.email_bytes()).into_owned(),
        };
        let when = When { seconds: tagger.when().seconds(), offset_minutes: tagger.when().offset_minutes() };
        Ok(Some((person, when, String::from_utf8_lossy(tag.message_bytes().unwrap_or_default()).into_owned())))
    }

    /// Resolves a revision (`HEAD~2`, a commit id, a branch) to a commit, if it names one.
    /// A ref or revision a user typed: a full ref name, a local branch, a
    /// remote-tracking branch, a tag, then anything `git rev-parse` reads (a commit id,
    /// `HEAD~2`). The name says which: the full ref name for a ref, `commit` for an id or
    /// another revision.
    pub fn resolve_ref(&self, spec: &str) -> Option<ResolvedRef> {
        if !spec.starts_with('-') {
            let candidates = [
                spec.to_string(),
                format!("refs/heads/{spec}"),
                format!("refs/remotes/{spec}"),
                format!("refs/tags/{spec}"),
            ];
            for name in candidates.iter().filter(|name| name.starts_with("refs/")) {
                if let Ok(reference) = self.repo.find_reference(name)
                    && let Ok(commit) = reference.peel_to_commit()
                {
                    return Some(ResolvedRef { name: name.clone(), commit: object_id(commit.id()) });
                }
            }
        }
        let commit = self.resolve_commit(spec)?;
        Some(ResolvedRef { name: "commit".into(), commit })
    }

    /// The best common ancestor of two commits, if they have one.
    pub fn merge_base(&self, one: ObjectId, two: ObjectId) -> Result<Option<ObjectId>, Error> {
        match self.repo.merge_base(oid(one), oid(two)) {
            Ok(base) => Ok(Some(object_id(base))),
            Err(error) if error.code() == git2::ErrorCode::NotFound => Ok(None),
            Err(error) => Err(Error::Git { step: "find a merge base".into(), source: failure(error) }),
        }
    }

    /// Whether `path` (a file or a directory) is in the tree of `commit`.
    pub fn has_path(&self, commit: ObjectId, path: &str) -> Result<bool, Error> {
        let tree = self.repo.find_commit(oid(commit)).and_then(|c| c.tree()).map_err(git_error("read a tree"))?;
        Ok(tree.get_path(Path::new(path)).is_ok())
    }

    pub fn resolve_commit(&self, spec: &str) -> Option<ObjectId> {
        let object = self.repo.revparse_single(spec).ok()?;
        object.peel_to_commit().ok().map(|commit| object_id(commit.id()))
    }

    /// The snapshot of a commit's tree: every path and blob id, no content read.
    pub fn snapshot(&self, commit: ObjectId) -> Result<Snapshot, Error> {
        self.tree_snapshot(self.tree_id(commit)?)
    }

    /// The snapshot of a tree.
    pub fn tree_snapshot(&self, tree: ObjectId) -> Result<Snapshot, Error> {
        let tree = self.repo.find_tree(oid(tree)).map_err(git_error(format!("read tree {}", tree.short())))?;
        // Collected first and built in bulk: the walk yields paths (nearly) in order, so
        // the sort is one pass and no insert searches the map.
        let mut entries = Vec::new();
        walk_into(&tree, "", &mut entries)?;
        Ok(Snapshot::new(entries.into_iter().collect()))
    }

    /// A tree's snapshot from the snapshot of another tree, comparing the two trees
    /// level by level and skipping every subtree whose id did not change: a change to
    /// a few files of a large tree costs those files and their directories, not a walk
    /// of the whole tree. Equal to [`Store::tree_snapshot`] of `tree`.
    pub fn tree_snapshot_from(&self, base_tree: ObjectId, base: &Snapshot, tree: ObjectId) -> Result<Snapshot, Error> {
        let find = |id: ObjectId| self.repo.find_tree(oid(id)).map_err(git_error(format!("read tree {}", id.short())));
        let mut changes = Vec::new();
        self.compare_trees("", &find(base_tree)?, &find(tree)?, base, &mut changes)?;
        Ok(base.with_changes(changes))
    }

    /// The paths to set or remove that turn `old`'s listing (in `base`, under `dir`) into
    /// `new`'s.
    fn compare_trees(
        &self,
        dir: &str,
        old: &git2::Tree<'_>,
        new: &git2::Tree<'_>,
        base: &Snapshot,
        changes: &mut Vec<(String, Option<Entry>)>,
    ) -> Result<(), Error> {
        let mut olds: HashMap<Vec<u8>, git2::TreeEntry<'_>> =
            old.iter().map(|e| (e.name_bytes().to_vec(), e)).collect();
        for entry in new.iter() {
            let path = format!("{dir}{}", String::from_utf8_lossy(entry.name_bytes()));
            match olds.remove(entry.name_bytes()) {
                Some(before) if before.id() == entry.id() && before.filemode() == entry.filemode() => {}
                Some(before) if is_tree(&before) && is_tree(&entry) => {
                    let (old, new) = (self.subtree(&before)?, self.subtree(&entry)?);
                    self.compare_trees(&format!("{path}/"), &old, &new, base, changes)?;
                }
                Some(before) => {
                    removed(&path, &before, base, changes);
                    self.added(&path, &entry, changes)?;
                }
                None => self.added(&path, &entry, changes)?,
            }
        }
        for (name, before) in olds {
            removed(&format!("{dir}{}", String::from_utf8_lossy(&name)), &before, base, changes);
        }
        Ok(())
    }

    fn subtree(&self, entry: &git2::TreeEntry<'_>) -> Result<git2::Tree<'_>, Error> {
        self.repo.find_tree(entry.id()).map_err(git_error(format!("read tree {}", entry.id())))
    }

    /// Sets a new entry's path, or every path of a new subtree.
    fn added(
        &self,
        path: &str,
        entry: &git2::TreeEntry<'_>,
        changes: &mut Vec<(String, Option<Entry>)>,
    ) -> Result<(), Error> {
        if is_tree(entry) {
            let mut entries = Vec::new();
            walk_into(&self.subtree(entry)?, &format!("{path}/"), &mut entries)?;
            changes.extend(entries.into_iter().map(|(path, entry)| (path, Some(entry))));
        } else if let Some(kind) = entry_kind(entry) {
            changes.push((path.to_string(), Some(Entry { id: object_id(entry.id()), kind })));
        }
        Ok(())
    }

    /// Reads blobs of this repository.
    pub fn blobs(&self) -> GitBlobs<'_> {
        GitBlobs { repo: &self.repo }
    }
}

fn is_tree(entry: &git2::TreeEntry<'_>) -> bool {
    entry.kind() == Some(ObjectType::Tree)
}

/// What a tree entry is in a [`Snapshot`] (`None` for a tree).
fn entry_kind(entry: &git2::TreeEntry<'_>) -> Option<EntryKind> {
    match (entry.kind(), entry.filemode()) {
        (Some(ObjectType::Blob), 0o120000) => Some(EntryKind::Symlink),
        (Some(ObjectType::Blob), 0o100755) => Some(EntryKind::Executable),
        (Some(ObjectType::Blob), _) => Some(EntryKind::File),
        (Some(ObjectType::Commit), _) => Some(EntryKind::Submodule),
        _ => None,
    }
}

/// Every file of a tree, with `prefix` before its path.
fn walk_into(tree: &git2::Tree<'_>, prefix: &str, entries: &mut Vec<(String, Entry)>) -> Result<(), Error> {
    tree.walk(TreeWalkMode::PreOrder, |dir, entry| {
        if let Some(kind) = entry_kind(entry) {
            let name = String::from_utf8_lossy(entry.name_bytes());
            entries.push((format!("{prefix}{dir}{name}"), Entry { id: object_id(entry.id()), kind }));
        }
        TreeWalkResult::Ok
    })
    .map_err(git_error("walk a tree"))
}

/// Removes an old entry's path, or every path under an old subtree.
fn removed(path: &str, entry: &git2::TreeEntry<'_>, base: &Snapshot, changes: &mut Vec<(String, Option<Entry>)>) {
    if is_tree(entry) {
        changes.extend(base.under(&format!("{path}/")).map(|(path, _)| (path.clone(), None)));
    } else {
        changes.push((path.to_string(), None));
    }
}

/// Reads blob content and sizes from a repository's object database.
pub struct GitBlobs<'r> {
    repo: &'r Repository,
}

impl BlobReader for GitBlobs<'_> {
    fn size(&self, path: &str, entry: &Entry) -> Result<u64, ReadError> {
        let odb = self.repo.odb().map_err(|e| read_error(path, e))?;
        let (size, _) = odb.read_header(oid(entry.id)).map_err(|e| read_error(path, e))?;
        Ok(size as u64)
    }

    fn read(&self, path: &str, entry: &Entry) -> Result<Vec<u8>, ReadError> {
        let blob = self.repo.find_blob(oid(entry.id)).map_err(|e| read_error(path, e))?;
        Ok(blob.content().to_vec())
    }
}

fn read_error(path: &str, error: git2::Error) -> ReadError {
    ReadError { path: path.to_string(), reason: error.message().to_string() }
}
