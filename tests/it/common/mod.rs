//! Helpers that hide setup: a hermetic environment (own HOME, no global or system git
//! config, pinned author and committer dates that advance per command), the real
//! `stagecraft` binary, and git itself as the observer.

use std::cell::Cell;
use std::path::{Path, PathBuf};
use std::process::Output;

/// The first pinned time: 2026-01-01T00:00:00Z. Each command advances it by a minute.
const START: i64 = 1_767_225_600;

pub mod browser;
pub mod daemon;
pub mod forge;
pub mod gitserver;
pub mod llm;
pub mod postgres;
pub mod router;

/// Serves `app` on a listener of 127.0.0.1 from a thread of its own, until the returned
/// sender is dropped; returns it and the address.
pub fn serve_app(app: axum::Router) -> (tokio::sync::oneshot::Sender<()>, std::net::SocketAddr) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    serve_app_on(listener, app)
}

/// [`serve_app`] on a given listener.
pub fn serve_app_on(
    listener: std::net::TcpListener,
    app: axum::Router,
) -> (tokio::sync::oneshot::Sender<()>, std::net::SocketAddr) {
    listener.set_nonblocking(true).unwrap();
    let address = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        runtime.block_on(async move {
            let listener = tokio::net::TcpListener::from_std(listener).unwrap();
            axum::serve(listener, app)
                .with_graceful_shutdown(async move {
                    let _ = stopped.await;
                })
                .await
                .unwrap();
        });
    });
    (stop, address)
}

/// A temporary directory with a hermetic HOME, in which tests run commands.
pub struct TestEnv {
    pub dir: tempfile::TempDir,
    clock: Cell<i64>,
}

impl TestEnv {
    pub fn new() -> TestEnv {
        let dir = tempfile::Builder::new().prefix("stagecraft-test-").tempdir().expect("create a temp dir");
        std::fs::create_dir_all(dir.path().join("home")).expect("create HOME");
        TestEnv { dir, clock: Cell::new(START) }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Advances the pinned clock and returns the git date for the next command.
    fn tick(&self) -> String {
        let now = self.clock.get() + 60;
        self.clock.set(now);
        format!("@{now} +0000")
    }

    /// A command with the hermetic environment, run in `cwd`.
    pub fn command(&self, program: impl AsRef<std::ffi::OsStr>, cwd: &Path) -> std::process::Command {
        let date = self.tick();
        let home = self.path().join("home");
        let mut command = std::process::Command::new(program);
        command.current_dir(cwd);
        for (name, _) in std::env::vars_os() {
            let name = name.to_string_lossy().to_string();
            // The CI's own variables too: `review --post` reads them.
            let ci = ["GITHUB_", "GITEA_", "GITLAB_", "CI_"].iter().any(|prefix| name.starts_with(prefix));
            if name.starts_with("GIT_") || name == "NO_COLOR" || name.starts_with("STAGECRAFT_") || name == "CI" || ci {
                command.env_remove(&name);
            }
        }
        command
            .env("HOME", &home)
            .env("XDG_CONFIG_HOME", home.join(".config"))
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("GIT_CONFIG_GLOBAL", home.join(".gitconfig"))
            .env("GIT_AUTHOR_NAME", "Test User")
            .env("GIT_AUTHOR_EMAIL", "test@example.com")
            .env("GIT_COMMITTER_NAME", "Test User")
            .env("GIT_COMMITTER_EMAIL", "test@example.com")
            .env("GIT_AUTHOR_DATE", &date)
            .env("GIT_COMMITTER_DATE", &date)
            .env("TZ", "UTC")
            .env("COLUMNS", "100")
            .env("LC_ALL", "C");
        command
    }

    /// Runs the real binary in `cwd`.
    pub fn stagecraft_in(&self, cwd: &Path, args: &[&str]) -> Run {
        let output = self.command(env!("CARGO_BIN_EXE_stagecraft"), cwd).args(args).output().expect("run stagecraft");
        Run::new(output, self.path())
    }

    /// Runs git in `cwd`; panics with its stderr when it fails.
    pub fn git_in(&self, cwd: &Path, args: &[&str]) -> String {
        let output = self.command("git", cwd).args(args).output().expect("run git");
        assert!(output.status.success(), "git {args:?} failed: {}", String::from_utf8_lossy(&output.stderr));
        String::from_utf8(output.stdout).expect("git prints UTF-8")
    }
}

/// Says that a test skipped a part, on the process's stderr itself (the harness
/// captures `eprintln!` of a passing test, and a skip must be seen); under `CI=true`,
/// where `.ci/run` installs what the tests need, a skip is a failure instead.
pub fn skip_notice(what: &str) {
    use std::io::Write;
    assert!(std::env::var("CI").as_deref() != Ok("true"), "no skipping under CI=true: {what}");
    let _ = writeln!(std::io::stderr().lock(), "SKIPPED: {what}");
}

/// Runs git and tells whether it could; when it could not, the test must skip: with a
/// visible notice on a developer machine, and as a failure under `CI=true`, where
/// `.ci/run` installs what the tests need.
pub fn git_can(env: &TestEnv, args: &[&str], what: &str) -> bool {
    let output = env.command("git", env.path()).args(args).output().expect("run git");
    if output.status.success() {
        return true;
    }
    let reason = String::from_utf8_lossy(&output.stderr);
    skip_notice(&format!("this test needs {what}: {reason}"));
    false
}

/// A config repository made by `stagecraft init` in a [`TestEnv`].
pub struct TestRepo {
    pub env: TestEnv,
    pub root: PathBuf,
}

impl TestRepo {
    /// example-repo after `stagecraft init --from`.
    pub fn from_example() -> TestRepo {
        TestRepo::from_example_with(&[])
    }

    /// [`TestRepo::from_example`] with more `init` flags (`--protected sandbox,live`, …).
    pub fn from_example_with(flags: &[&str]) -> TestRepo {
        let env = TestEnv::new();
        let root = env.path().join("repo");
        let example = example_repo();
        let mut args = vec!["init", "repo", "--from", example.to_str().unwrap()];
        args.extend(flags);
        env.stagecraft_in(env.path(), &args).success();
        TestRepo { env, root }
    }

    pub fn stagecraft(&self, args: &[&str]) -> Run {
        self.env.stagecraft_in(&self.root, args)
    }

    pub fn git(&self, args: &[&str]) -> String {
        self.env.git_in(&self.root, args)
    }

    /// Publishes the draft and promotes the new version one environment at a time up to
    /// `env` (confirming protected ones), as a release manager would. Returns the
    /// version, e.g. `v2`.
    pub fn release_to(&self, env: &str) -> String {
        let published = self.stagecraft(&["publish", "--json"]).success();
        let version = format!("v{}", published.json()["version"]);
        self.promote_to(&version, env);
        version
    }

    /// Promotes `version` along the chain, one environment at a time, from the first
    /// that does not hold it up to `env`.
    pub fn promote_to(&self, version: &str, env: &str) {
        let status = self.stagecraft(&["status", "--json"]).success().json();
        let number: u64 = version.trim_start_matches('v').parse().expect("a version like v2");
        for environment in status["environments"].as_array().expect("environments").iter().skip(2) {
            let name = environment["name"].as_str().expect("a name");
            if environment["version"].as_u64() != Some(number) {
                self.stagecraft(&["promote", version, "--to", name, "--yes"]).success();
            }
            if name == env {
                return;
            }
        }
        panic!("{env} is not an environment after the second one");
    }

    /// Writes a file in the work tree (the draft is checked out) and commits it.
    pub fn commit_file(&self, path: &str, content: &str) -> String {
        let full = self.root.join(path);
        std::fs::create_dir_all(full.parent().unwrap()).unwrap();
        std::fs::write(&full, content).unwrap();
        self.git(&["add", path]);
        self.git(&["commit", "-q", "-m", &format!("edit {path}")]);
        self.git(&["rev-parse", "HEAD"]).trim().to_string()
    }
}

/// The project's example repository.
pub fn example_repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("example-repo")
}

/// The project's fixtures directory.
pub fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures")
}

/// The result of one command, shown as a transcript: stdout, stderr, exit status. The
/// temporary directory is shown as `$TMP`.
pub struct Run {
    pub stdout: String,
    pub stderr: String,
    pub code: i32,
}

impl Run {
    /// The transcript of a process run outside the helpers.
    pub fn from_output(output: Output, tmp: &Path) -> Run {
        Run::new(output, tmp)
    }

    fn new(output: Output, tmp: &Path) -> Run {
        let redact = |bytes: &[u8]| {
            let text = String::from_utf8_lossy(bytes).to_string();
            let tmp = tmp.display().to_string();
            let canonical = std::fs::canonicalize(&tmp).map(|p| p.display().to_string()).unwrap_or(tmp.clone());
            text.replace(&canonical, "$TMP").replace(&tmp, "$TMP")
        };
        Run { stdout: redact(&output.stdout), stderr: redact(&output.stderr), code: output.status.code().unwrap_or(-1) }
    }

    /// Asserts exit 0 and returns self.
    #[track_caller]
    pub fn success(self) -> Run {
        assert_eq!(self.code, 0, "expected success:\n{self}");
        self
    }

    /// Parses stdout as JSON.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.stdout).unwrap_or_else(|e| panic!("stdout is not JSON ({e}):\n{self}"))
    }
}

impl std::fmt::Display for Run {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.stdout)?;
        if !self.stderr.is_empty() {
            writeln!(f, "------- stderr -------")?;
            f.write_str(&self.stderr)?;
        }
        write!(f, "[exit status: {}]", self.code)
    }
}
