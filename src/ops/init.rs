//! `init`: a new config repository whose every environment branch holds one commit, the
//! initial version v1, with the chain and the protected environments in its trailers.
//! The tree is validated before anything is written, and a failure part way
//! removes what was created, so nothing is left half-written.
//!
//! I/O: git, through `store`.

use std::path::{Path, PathBuf};

use crate::error::Error;
use crate::history::{self, Message};
use crate::identity::Identity;
use crate::model::{BlobReader, Chain, EnvName, MemoryBlobs, Snapshot};
use crate::parse;
use crate::store::{Store, dir};
use crate::wire::Initialized;

/// Where the initial tree comes from.
pub enum InitSource {
    /// An empty `channels.toml` with a comment and a `README.md`.
    Skeleton,
    /// A directory (`--from TREE`), loaded honouring `.gitignore`.
    Directory(PathBuf),
    /// A tree in memory (the embedded example).
    Memory { origin: String, snapshot: Snapshot, blobs: MemoryBlobs },
}

pub struct InitOptions {
    pub dir: PathBuf,
    pub source: InitSource,
    /// `--environments`; the default chain when `None`.
    pub environments: Option<Vec<EnvName>>,
    /// `--protected`; the last environment when `None`.
    pub protected: Option<Vec<EnvName>>,
    pub bare: bool,
}

/// Creates the repository. See the module documentation.
pub fn init(options: InitOptions, identity: &Identity) -> Result<Initialized, Error> {
    let chain = match &options.environments {
        Some(environments) => {
            let protected =
                options.protected.clone().unwrap_or_else(|| environments.last().cloned().into_iter().collect());
            Chain::new(environments.clone(), protected)?
        }
        None => match &options.protected {
            Some(protected) => Chain::new(Chain::default_chain().environments().to_vec(), protected.clone())?,
            None => Chain::default_chain(),
        },
    };
    check_target(&options.dir)?;

    let (origin, snapshot, reader): (String, Snapshot, Box<dyn BlobReader>) = match options.source {
        InitSource::Skeleton => {
            let (snapshot, blobs) = skeleton();
            ("the skeleton".to_string(), snapshot, Box::new(blobs))
        }
        InitSource::Directory(path) => {
            let (snapshot, blobs) = dir::load(&path)?;
            (format!("--from {}", path.display()), snapshot, Box::new(blobs))
        }
        InitSource::Memory { origin, snapshot, blobs } => (origin, snapshot, Box::new(blobs)),
    };
    let (config, diagnostics) = parse::load(&snapshot, reader.as_ref(), &chain);
    if !diagnostics.is_empty() {
        return Err(Error::Invalid { origin, diagnostics });
    }

    let cleanup = Cleanup::new(&options.dir)?;
    let commit = write_repository(&options.dir, options.bare, &chain, &snapshot, reader.as_ref(), identity)?;
    cleanup.keep();
    Ok(Initialized {
        path: options.dir.display().to_string(),
        bare: options.bare,
        commit: commit.to_hex(),
        version: 1,
        chain: chain.environments().iter().map(ToString::to_string).collect(),
        protected: chain.protected().iter().map(ToString::to_string).collect(),
        assistants: config.assistants.keys().map(ToString::to_string).collect(),
    })
}

fn write_repository(
    path: &Path,
    bare: bool,
    chain: &Chain,
    snapshot: &Snapshot,
    reader: &dyn BlobReader,
    identity: &Identity,
) -> Result<crate::model::ObjectId, Error> {
    let store = Store::create(path, bare, chain.draft().as_str())?;
    let tree = store.write_tree(snapshot, reader)?;
    let message = Message::new("Initialize stagecraft: v1")
        .trailer(history::ACTION, "init")
        .trailer(history::ACTOR, identity.author.to_string())
        .trailer(history::VERSION, "1")
        .trailer(history::CHAIN, chain.to_trailer())
        .trailer(history::PROTECTED, chain.protected_trailer())
        .trailer(history::HOLDS, "");
    let commit = store.write_commit(tree, &[], &message.format(), identity)?;
    for env in chain.environments() {
        store.create_ref(&format!("refs/heads/{env}"), commit, "stagecraft init")?;
    }
    store.create_tag("v1", commit, &identity.author, identity.author_time, "initial version\n")?;
    store.set_head(chain.draft().as_str())?;
    if !bare {
        store.checkout_head_fresh()?;
    }
    Ok(commit)
}

/// Refuses a directory that holds anything (a repository included).
fn check_target(dir: &Path) -> Result<(), Error> {
    let shown = dir.display().to_string();
    match std::fs::read_dir(dir) {
        Ok(mut entries) => {
            if crate::store::discover(dir)
                .is_some_and(|(git_dir, work_tree)| work_tree.as_deref() == Some(dir) || git_dir == dir)
            {
                return Err(Error::InitTarget { path: shown, reason: "it is already a git repository" });
            }
            if entries.next().is_some() {
                return Err(Error::InitTarget { path: shown, reason: "the directory is not empty" });
            }
            Ok(())
        }
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(error) if error.kind() == std::io::ErrorKind::NotADirectory => {
            Err(Error::InitTarget { path: shown, reason: "it is a file" })
        }
        Err(error) => Err(Error::Io { step: "read", path: shown, source: error }),
    }
}

/// Removes what `init` created unless told to keep it: the directory if it did not exist,
/// else everything put inside it.
struct Cleanup {
    dir: PathBuf,
    existed: bool,
    armed: bool,
}

impl Cleanup {
    fn new(dir: &Path) -> Result<Cleanup, Error> {
        Ok(Cleanup { dir: dir.to_path_buf(), existed: dir.exists(), armed: true })
    }
    fn keep(mut self) {
        self.armed = false;
    }
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        if !self.armed {
            return;
        }
        if self.existed {
            if let Ok(entries) = std::fs::read_dir(&self.dir) {
                for entry in entries.flatten() {
                    let path = entry.path();
                    let _ = if path.is_dir() { std::fs::remove_dir_all(&path) } else { std::fs::remove_file(&path) };
                }
            }
        } else {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

const SKELETON_CHANNELS: &str = "\
# Phone numbers and SIP headers per environment and assistant, one table each:
#
# [live.support-bot]
# phone_numbers = [\"+14155550100\"]
# sip_headers = { X-Env = \"live\" }
";

const SKELETON_README: &str = "\
# Assistant configurations

Managed with stagecraft. Each assistant lives in `assistants/<id>/`; phone numbers and SIP
headers per environment live in `channels.toml`. Edit on the draft branch, then
`stagecraft publish`, and promote versions along the chain.
";

/// The skeleton tree of a new repository without `--from`.
fn skeleton() -> (Snapshot, MemoryBlobs) {
    crate::store::memory_tree([
        ("channels.toml".to_string(), SKELETON_CHANNELS.as_bytes()),
        ("README.md".to_string(), SKELETON_README.as_bytes()),
    ])
}
