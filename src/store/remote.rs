//! Remote mode: the network goes through the git CLI, because libgit2's push
//! has neither a lease nor an atomic push, and git brings https, ssh, credential helpers
//! and proxies as users have configured them. Clones use `--ref-format=files`, which
//! libgit2 can open.
//!
//! - A daemon keeps a bare mirror: `refs/heads/*` and `refs/tags/*` as on the remote,
//!   changed only by fetch and by its own successful pushes.
//! - The CLI with `--remote NAME` plans on `refs/remotes/NAME/*` after a fetch.
//!
//! Every write is one `git push --atomic` with a lease per ref (`--force-with-lease=
//! <ref>:<expected>`, empty for a ref that must not exist yet): a ref that moved on the
//! remote rejects the whole push, which is the `conflict` error, and nothing changes.
//! Credentials: an https token goes in an `Authorization` header through git's
//! `GIT_CONFIG_*` environment (never on a command line or in a URL); ssh uses the agent
//! or a key file. git never prompts.
//!
//! I/O: the git command line and the network it reaches.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use base64::Engine;

use crate::config::Secret;
use crate::error::Error;
use crate::model::ObjectId;

/// How git authenticates to the remote.
#[derive(Debug, Clone, Default)]
pub struct Auth {
    /// An https token (`STAGECRAFT_GIT_TOKEN` or `[repository] token`).
    pub token: Option<Secret>,
    /// An ssh private key file (without it: the agent and ssh's own configuration).
    pub ssh_key: Option<PathBuf>,
}

/// A remote and where its branches are mirrored locally.
#[derive(Debug, Clone)]
pub struct Remote {
    /// A remote name (`origin`) or a URL.
    pub remote: String,
    /// The local prefix of its branches: `refs/heads/` (a mirror) or `refs/remotes/NAME/`.
    pub tracking: String,
    pub auth: Auth,
    /// Held by a fetch and by a push with the local refs that follow it (clones share
    /// it), so a fetch never moves a ref back under a write of this process.
    pub lock: std::sync::Arc<std::sync::Mutex<()>>,
}

/// A URL without the user and password it may carry, for logs and errors.
pub fn redact(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else { return url.to_string() };
    let authority = rest.split('/').next().unwrap_or_default();
    match authority.rsplit_once('@') {
        Some((_, host)) => format!("{scheme}://***@{host}{}", &rest[authority.len()..]),
        None => url.to_string(),
    }
}

/// One ref a push sets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefUpdate {
    /// A commit or tag object, written locally first.
    pub object: ObjectId,
    /// The full ref name on the remote.
    pub name: String,
    /// What the remote must hold now: `Some(id)`, or `None` for a ref that must not exist.
    pub expected: Option<ObjectId>,
}

/// Why a push did not happen.
#[derive(Debug)]
pub enum PushError {
    /// A lease failed or the remote refused an update: someone else wrote first.
    Rejected(String),
    Failed(Error),
}

impl Remote {
    /// A daemon's mirror of `url`.
    pub fn mirror(url: &str, auth: Auth) -> Remote {
        Remote { remote: url.into(), tracking: "refs/heads/".into(), auth, lock: Default::default() }
    }

    /// The CLI's `--remote NAME` in a clone.
    pub fn named(name: &str, auth: Auth) -> Remote {
        Remote { remote: name.into(), tracking: format!("refs/remotes/{name}/"), auth, lock: Default::default() }
    }

    /// `git clone --bare --ref-format=files` of `url` into `path`.
    pub fn clone_mirror(url: &str, path: &Path, auth: &Auth) -> Result<(), Error> {
        let parent = path.parent().unwrap_or(Path::new("."));
        std::fs::create_dir_all(parent).map_err(Error::io("create the directory of", parent))?;
        let mut command = git(auth, parent);
        command.args(["clone", "--bare", "--ref-format=files", "--quiet", "--", url]).arg(path);
        run(command, "clone", &redact(url))
    }

    /// Fetches the remote's branches and tags into their local refs, pruning branches
    /// that are gone.
    pub fn fetch(&self, git_dir: &Path) -> Result<(), Error> {
        let _held = self.lock.lock().unwrap_or_else(|e| e.into_inner());
        let mut command = git(&self.auth, git_dir);
        command.args(["fetch", "--quiet", "--prune", "--no-write-fetch-head", "--", &self.remote]);
        command.arg(format!("+refs/heads/*:{}*", self.tracking));
        command.arg("+refs/tags/*:refs/tags/*");
        // The records of test runs, pushed at once by whoever made them; kept apart from
        // this clone's own notes (a prune never deletes those).
        command.arg(format!("+refs/notes/stagecraft/*:{}*", self.notes_prefix()));
        run(command, "fetch from", &redact(&self.remote))
    }

    /// Where the remote's `refs/notes/stagecraft/*` are kept: as they are in a mirror,
    /// apart from the clone's own notes under `--remote NAME`.
    pub fn notes_prefix(&self) -> String {
        if self.tracking == "refs/heads/" {
            "refs/notes/stagecraft/".to_string()
        } else {
            format!("refs/stagecraft/remotes/{}/notes/", self.remote)
        }
    }

    /// Fetches one ref of the remote (a pull request's head, `refs/pull/7/head`) into
    /// `local`, forced: a pull request's head is rewritten by its author at will.
    pub fn fetch_ref(&self, git_dir: &Path, remote_ref: &str, local: &str) -> Result<(), Error> {
        let mut command = git(&self.auth, git_dir);
        command.args(["fetch", "--quiet", "--no-write-fetch-head", "--no-tags", "--", &self.remote]);
        command.arg(format!("+{remote_ref}:{local}"));
        run(command, "fetch a pull request's head from", &redact(&self.remote))
    }

    /// Whether the remote surely lacks `name` (`git ls-remote --exit-code` says so); false
    /// when the remote cannot be asked.
    pub fn has_no_ref(&self, git_dir: &Path, name: &str) -> bool {
        let mut command = git(&self.auth, git_dir);
        command.args(["ls-remote", "--exit-code", "--", &self.remote, name]);
        output(command, "ask", &redact(&self.remote)).is_ok_and(|out| out.status.code() == Some(2))
    }

    /// One atomic push of every update, each with its lease.
    pub fn push(&self, git_dir: &Path, updates: &[RefUpdate]) -> Result<(), PushError> {
        let mut command = git(&self.auth, git_dir);
        command.args(["push", "--atomic", "--porcelain", "--no-verify"]);
        for update in updates {
            let expected = update.expected.map(|id| id.to_hex()).unwrap_or_default();
            command.arg(format!("--force-with-lease={}:{expected}", update.name));
        }
        command.arg("--").arg(&self.remote);
        for update in updates {
            command.arg(format!("{}:{}", update.object.to_hex(), update.name));
        }
        let output = output(command, "push to", &redact(&self.remote)).map_err(PushError::Failed)?;
        if output.status.success() {
            return Ok(());
        }
        let stdout = String::from_utf8_lossy(&output.stdout);
        let stderr = String::from_utf8_lossy(&output.stderr);
        // Porcelain: one line per ref, `!` for a rejected one, with the reason.
        let rejected: Vec<String> = stdout
            .lines()
            .filter(|line| line.starts_with('!'))
            .map(|line| line.split('\t').skip(1).collect::<Vec<_>>().join(" "))
            .collect();
        // Every ref lost to another write (a lease, a ref locked or moved by a concurrent
        // push, the atomic transaction that failed with it): a race, run it again.
        if !rejected.is_empty() && rejected.iter().all(|reason| lost_race(reason)) {
            return Err(PushError::Rejected(rejected.join("; ")));
        }
        // The forge refused the ref itself (a protected branch, a hook): not a race.
        if stdout.contains("[remote rejected]") || stderr.contains("[remote rejected]") {
            let detail = rejected.join("; ");
            return Err(PushError::Failed(Error::Remote {
                step: format!("push to {}", redact(&self.remote)),
                detail: if detail.is_empty() { stderr.trim().to_string() } else { detail },
                hint: "the remote refused the update itself (branch protection, a hook): let stagecraft's account push there".into(),
            }));
        }
        if !rejected.is_empty() || stderr.contains("stale info") || stderr.contains("[rejected]") {
            let detail = if rejected.is_empty() { stderr.trim().to_string() } else { rejected.join("; ") };
            return Err(PushError::Rejected(detail));
        }
        Err(PushError::Failed(failed("push to", &redact(&self.remote), &stderr)))
    }
}

/// Whether a rejected ref's reason says another write got there first.
fn lost_race(reason: &str) -> bool {
    const RACES: [&str; 9] = [
        "stale info",
        "fetch first",
        "non-fast-forward",
        "already exists",
        "atomic transaction failed",
        "atomic push failed",
        "failed to lock",
        "cannot lock",
        "incorrect old value",
    ];
    RACES.iter().any(|race| reason.contains(race))
}

/// A git command with the credentials, no prompts, and messages in English.
fn git(auth: &Auth, dir: &Path) -> Command {
    let mut command = Command::new("git");
    command.current_dir(dir).env("GIT_TERMINAL_PROMPT", "0").env("LC_ALL", "C").stdin(Stdio::null());
    // A stalled transfer fails instead of hanging (below 1 KB/s for 30 s).
    let mut settings = vec![("http.lowSpeedLimit".to_string(), "1000".to_string())];
    settings.push(("http.lowSpeedTime".into(), "30".into()));
    if let Some(token) = &auth.token {
        let basic = base64::engine::general_purpose::STANDARD.encode(format!("x-access-token:{}", token.expose()));
        settings.push(("http.extraHeader".into(), format!("Authorization: Basic {basic}")));
    }
    command.env("GIT_CONFIG_COUNT", settings.len().to_string());
    for (index, (key, value)) in settings.into_iter().enumerate() {
        command.env(format!("GIT_CONFIG_KEY_{index}"), key).env(format!("GIT_CONFIG_VALUE_{index}"), value);
    }
    let ssh = "ssh -o BatchMode=yes -o ConnectTimeout=15 -o ServerAliveInterval=15 -o ServerAliveCountMax=2";
    match &auth.ssh_key {
        Some(key) => command.env(
            "GIT_SSH_COMMAND",
            format!("{ssh} -i '{}' -o IdentitiesOnly=yes", key.display().to_string().replace('\'', "")),
        ),
        None => command.env("GIT_SSH_COMMAND", ssh),
    };
    command
}

fn output(mut command: Command, step: &str, target: &str) -> Result<Output, Error> {
    command.output().map_err(|e| Error::Remote {
        step: format!("{step} {target}"),
        detail: format!("cannot run git: {e}"),
        hint: "install git 2.45 or later".into(),
    })
}

fn run(command: Command, step: &str, target: &str) -> Result<(), Error> {
    let output = output(command, step, target)?;
    if output.status.success() { Ok(()) } else { Err(failed(step, target, &String::from_utf8_lossy(&output.stderr))) }
}

fn failed(step: &str, target: &str, stderr: &str) -> Error {
    let detail = stderr.trim().lines().last().unwrap_or("git failed").to_string();
    let hint = if detail.contains("Authentication failed") || detail.contains("403") || detail.contains("401") {
        "check the token (STAGECRAFT_GIT_TOKEN or [repository] token) and its rights"
    } else if detail.contains("Permission denied (publickey)") || detail.contains("Host key verification failed") {
        "check the ssh key ([repository] ssh_key or the agent) and the host's entry in known_hosts"
    } else if detail.contains("unknown option") && detail.contains("ref-format") {
        "git 2.45 or later is needed (clone --ref-format=files)"
    } else {
        "check the remote's URL and that it is reachable; the line above is git's own"
    };
    Error::Remote { step: format!("{step} {target}"), detail, hint: hint.into() }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_lose_their_credentials_in_messages() {
        assert_eq!(redact("https://bot:s3cret@git.example.com/a.git"), "https://***@git.example.com/a.git");
        assert_eq!(redact("https://git.example.com/a.git"), "https://git.example.com/a.git");
        assert_eq!(redact("https://git.example.com/team@x/a.git"), "https://git.example.com/team@x/a.git");
        assert_eq!(redact("git@github.com:acme/a.git"), "git@github.com:acme/a.git");
    }
}
