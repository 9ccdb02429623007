//! Seeing a local repository change: `notify` on `refs/` (recursively) and on the git
//! directory itself (not recursively, for `packed-refs`), ignoring `*.lock` names. Every
//! event that may have moved a ref sends one trigger; the sync loop coalesces them. An
//! overflow (`need_rescan`) or a watcher error asks for a full re-scan.
//!
//! I/O: file system notifications.

use std::path::{Path, PathBuf};
use std::sync::mpsc::Sender;

use notify::{EventKind, RecommendedWatcher, RecursiveMode, Watcher};

use super::sync::Trigger;
use crate::error::Error;

/// Whether a path the watcher reports can be a ref of the repository.
pub fn is_ref_path(git_dir: &Path, path: &Path) -> bool {
    let Some(name) = path.file_name().and_then(|n| n.to_str()) else { return false };
    if name.ends_with(".lock") {
        return false;
    }
    path.starts_with(git_dir.join("refs")) || path == git_dir.join("packed-refs")
}

/// Starts watching; the watcher stops when dropped.
pub fn watch(git_dir: &Path, triggers: Sender<Trigger>) -> Result<RecommendedWatcher, Error> {
    let dir: PathBuf = git_dir.canonicalize().unwrap_or_else(|_| git_dir.to_path_buf());
    let root = dir.clone();
    let mut watcher = notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
        let trigger = match event {
            Ok(event) if event.need_rescan() => Some(Trigger::Rescan),
            Ok(event) => {
                let relevant = !matches!(event.kind, EventKind::Access(_))
                    && event.paths.iter().any(|path| is_ref_path(&root, path));
                relevant.then_some(Trigger::Refs)
            }
            Err(error) => {
                tracing::warn!(error = %error, "the ref watcher reported an error; re-scanning");
                Some(Trigger::Rescan)
            }
        };
        if let Some(trigger) = trigger {
            let _ = triggers.send(trigger);
        }
    })
    .map_err(|e| watch_error(&dir, e))?;
    watcher.watch(&dir.join("refs"), RecursiveMode::Recursive).map_err(|e| watch_error(&dir, e))?;
    watcher.watch(&dir, RecursiveMode::NonRecursive).map_err(|e| watch_error(&dir, e))?;
    Ok(watcher)
}

fn watch_error(dir: &Path, error: notify::Error) -> Error {
    Error::Io {
        step: "watch",
        path: dir.display().to_string(),
        source: std::io::Error::other(format!(
            "{error} (on Linux, raise fs.inotify.max_user_watches if the limit is reached)"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_refs_and_packed_refs_count_and_lock_files_never() {
        let git = Path::new("/r/.git");
        assert!(is_ref_path(git, Path::new("/r/.git/refs/heads/live")));
        assert!(is_ref_path(git, Path::new("/r/.git/refs/heads/team/feature")));
        assert!(is_ref_path(git, Path::new("/r/.git/packed-refs")));
        assert!(!is_ref_path(git, Path::new("/r/.git/refs/heads/live.lock")));
        assert!(!is_ref_path(git, Path::new("/r/.git/packed-refs.lock")));
        assert!(!is_ref_path(git, Path::new("/r/.git/index")));
        assert!(!is_ref_path(git, Path::new("/r/.git/HEAD")));
    }
}
