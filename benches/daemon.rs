//! Daemon benchmarks (issue: the daemon), end to end with real processes: the release
//! `stagecraft serve` on a bare copy of the example repository, a receiver on
//! 127.0.0.1 in this process, and ref updates written with libgit2 (as `git push` or a
//! CLI command would leave them).
//!
//! - latency: from writing the draft's ref to the runtime receiving the delivery, over
//!   200 changes (the draft alternates between two commits, so every change is a new
//!   sequence and a new config for one assistant);
//! - fan-out: one change delivered to 100 runtimes, until the last one has it;
//! - idle RSS of the daemon after start (one runtime, deliveries done);
//! - latency on a large repository (50 assistants, 10,051 files), each change a new
//!   commit and a new tree, so nothing is served from a cache of whole trees;
//! - refs moved by git itself: a non-bare repository, 100 runtimes bound to live, live
//!   moved by `git update-ref` between two commits whose trees are two versions; the
//!   first and the last of the 100 receipts, and the `git` process's own time.
//!
//! Run: `cargo bench --bench daemon` (`DAEMON_BENCH=git` for the last case only).

use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use axum::extract::Path;

#[path = "support/mod.rs"]
mod support;
use support::rss_kib;

const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

struct Receiver {
    port: u16,
    arrivals: mpsc::Receiver<(String, Instant)>,
}

fn start_receiver() -> Receiver {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let port = listener.local_addr().unwrap().port();
    let (sender, arrivals) = mpsc::channel();
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
        runtime.block_on(async move {
            let app = axum::Router::new().route(
                "/{runtime}",
                axum::routing::post(move |Path(runtime): Path<String>| {
                    let sender = sender.clone();
                    async move {
                        let _ = sender.send((runtime, Instant::now()));
                        axum::http::StatusCode::NO_CONTENT
                    }
                }),
            );
            let listener = tokio::net::TcpListener::from_std(listener).unwrap();
            axum::serve(listener, app).await.unwrap();
        });
    });
    Receiver { port, arrivals }
}

struct Setup {
    _dir: tempfile::TempDir,
    repo: git2::Repository,
    commits: [git2::Oid; 2],
    daemon: Child,
}

impl Drop for Setup {
    fn drop(&mut self) {
        let _ = self.daemon.kill();
        let _ = self.daemon.wait();
    }
}

/// The example repository.
const EXAMPLE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/example-repo");

/// One assistant's file changed between the two commits a bench alternates between.
struct Change {
    path: &'static str,
    from: &'static str,
    to: &'static str,
}

const EXAMPLE_CHANGE: Change =
    Change { path: "assistants/support-bot/assistant.toml", from: "temperature = 0.3", to: "temperature = 0.4" };

/// A large repository written into `dir`: 50 assistants, each with 2,000 lines of
/// instructions and 200 tools (10,051 files, as the publish benchmark).
fn large_repository(dir: &std::path::Path) -> std::path::PathBuf {
    let root = dir.join("large");
    std::fs::create_dir_all(&root).unwrap();
    std::fs::write(root.join("channels.toml"), "# none\n").unwrap();
    for a in 0..50 {
        let assistant = root.join(format!("assistants/bot-{a:02}"));
        std::fs::create_dir_all(assistant.join("tools")).unwrap();
        std::fs::write(assistant.join("assistant.toml"), format!("name = \"Bot {a}\"\n[model]\nname = \"m\"\n"))
            .unwrap();
        let instructions: String = (0..2000).map(|l| format!("Rule {l}: be kind.\n")).collect();
        std::fs::write(assistant.join("instructions.md"), instructions).unwrap();
        for t in 0..200 {
            std::fs::write(
                assistant.join(format!("tools/tool_{t:03}.toml")),
                format!("description = \"Tool {t}\"\n[parameters]\ntype = \"object\"\n"),
            )
            .unwrap();
        }
    }
    root
}

const LARGE_CHANGE: Change = Change { path: "assistants/bot-07/assistant.toml", from: "Bot 7", to: "Bot seven" };

/// The daemon on a bare copy of the example repository (or of the large one), its
/// runtimes bound to the draft.
fn start(runtimes: usize, port: u16, large: bool) -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let (source, change) =
        if large { (large_repository(dir.path()), &LARGE_CHANGE) } else { (EXAMPLE.into(), &EXAMPLE_CHANGE) };
    let example = source.to_str().unwrap();
    let repo_path = dir.path().join("repo.git");
    let status = Command::new(env!("CARGO_BIN_EXE_stagecraft"))
        .args([
            "init",
            repo_path.to_str().unwrap(),
            "--from",
            example,
            "--bare",
            "--author",
            "bench <bench@example.com>",
        ])
        .stdout(Stdio::null())
        .status()
        .unwrap();
    assert!(status.success());
    let repo = git2::Repository::open_bare(&repo_path).unwrap();
    let first = repo.refname_to_id("refs/heads/draft").unwrap();
    let second = second_commit(&repo, first, change);
    let mut config = format!(
        "[repository]\npath = \"{}\"\n[server]\nlisten = \"127.0.0.1:0\"\n[delivery]\nretry_min = \"50ms\"\nretry_max = \"1s\"\ntimeout = \"5s\"\n",
        repo_path.display()
    );
    for r in 0..runtimes {
        config.push_str(&format!(
            "[[runtime]]\nname = \"r{r}\"\nenvironment = \"draft\"\nurl = \"http://127.0.0.1:{port}/r{r}\"\nsecret = \"env:BENCH_SECRET\"\n"
        ));
    }
    let config_path = dir.path().join("stagecraft.toml");
    std::fs::write(&config_path, config).unwrap();
    let daemon = Command::new(env!("CARGO_BIN_EXE_stagecraft"))
        .args(["serve", "--config", config_path.to_str().unwrap()])
        .env("BENCH_SECRET", SECRET)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    Setup { _dir: dir, repo, commits: [first, second], daemon }
}

/// A second draft commit with one assistant changed.
fn second_commit(repo: &git2::Repository, first: git2::Oid, change: &Change) -> git2::Oid {
    edit(repo, first, change.path, |text| text.replace(change.from, change.to))
}

/// A child of `parent` whose only change is `path`, rewritten by `change`.
fn edit(repo: &git2::Repository, parent: git2::Oid, path: &str, change: impl FnOnce(&str) -> String) -> git2::Oid {
    let commit = repo.find_commit(parent).unwrap();
    let entry = commit.tree().unwrap().get_path(std::path::Path::new(path)).unwrap();
    let text = String::from_utf8(repo.find_blob(entry.id()).unwrap().content().to_vec()).unwrap();
    let blob = repo.blob(change(&text).as_bytes()).unwrap();
    let tree = git2::build::TreeUpdateBuilder::new()
        .upsert(path, blob, git2::FileMode::Blob)
        .create_updated(repo, &commit.tree().unwrap())
        .unwrap();
    let signature = git2::Signature::now("bench", "bench@example.com").unwrap();
    repo.commit(None, &signature, &signature, "warmer", &repo.find_tree(tree).unwrap(), &[&commit]).unwrap()
}

/// Waits for `count` arrivals; panics after a generous deadline.
fn arrivals(receiver: &Receiver, count: usize) -> Vec<(String, Instant)> {
    (0..count)
        .map(|_| receiver.arrivals.recv_timeout(Duration::from_secs(30)).expect("a delivery within 30 s"))
        .collect()
}

fn move_draft(setup: &Setup, to: usize) -> Instant {
    let start = Instant::now();
    let current = setup.repo.refname_to_id("refs/heads/draft").unwrap();
    setup
        .repo
        .reference_matching("refs/heads/draft", setup.commits[to], true, current, "bench: move the draft")
        .unwrap();
    start
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[index]
}

/// p50, p99 and the maximum of a run.
fn print_latencies(what: &str, mut latencies: Vec<Duration>) {
    latencies.sort();
    println!(
        "{what}: p50 {}  p99 {}  max {}",
        ms(percentile(&latencies, 0.5)),
        ms(percentile(&latencies, 0.99)),
        ms(*latencies.last().unwrap())
    );
}

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1000.0)
}

fn main() {
    // `cargo bench` passes `--bench`; `cargo test --benches` runs this with no argument:
    // then only a smoke run.
    let full = std::env::args().any(|a| a == "--bench");
    let changes = if full { 200 } else { 5 };
    // `DAEMON_BENCH=git` runs only the case of refs moved by git itself.
    if std::env::var("DAEMON_BENCH").as_deref() == Ok("git") {
        git_moves_live_to_many_runtimes(if full { 50 } else { 2 });
        return;
    }

    // Latency, one runtime.
    let receiver = start_receiver();
    let setup = start(1, receiver.port, false);
    arrivals(&receiver, 2); // the initial state: both assistants
    std::thread::sleep(Duration::from_millis(300)); // settle before measuring idle memory
    let rss = rss_kib(setup.daemon.id());
    let mut latencies = Vec::new();
    for change in 0..changes {
        let start = move_draft(&setup, (change + 1) % 2);
        let (_, arrived) = arrivals(&receiver, 1).pop().unwrap();
        latencies.push(arrived - start);
    }
    drop(setup);
    print_latencies(&format!("ref update -> runtime, {changes} changes"), latencies);
    println!("idle RSS after start (1 runtime): {:.1} MB", rss as f64 / 1024.0);

    // Fan-out to 100 runtimes.
    let runtimes = 100;
    let rounds = if full { 20 } else { 2 };
    let receiver = start_receiver();
    let setup = start(runtimes, receiver.port, false);
    arrivals(&receiver, 2 * runtimes);
    let rss = rss_kib(setup.daemon.id());
    let mut fanouts = Vec::new();
    for round in 0..rounds {
        let start = move_draft(&setup, (round + 1) % 2);
        let got = arrivals(&receiver, runtimes);
        let distinct: std::collections::BTreeSet<&String> = got.iter().map(|(r, _)| r).collect();
        assert_eq!(distinct.len(), runtimes, "every runtime got the change");
        fanouts.push(got.iter().map(|(_, t)| *t).max().unwrap() - start);
    }
    drop(setup);
    fanouts.sort();
    println!(
        "one change to {runtimes} runtimes, {rounds} rounds: median {}  max {}",
        ms(percentile(&fanouts, 0.5)),
        ms(*fanouts.last().unwrap())
    );
    println!("RSS with {runtimes} runtimes after start: {:.1} MB", rss as f64 / 1024.0);

    // Latency on a large repository: a change to one of 50 assistants (10,051 files),
    // each change a new commit and a new tree (as real edits are), written before the
    // clock starts.
    let receiver = start_receiver();
    let setup = start(1, receiver.port, true);
    arrivals(&receiver, 50);
    let rss = rss_kib(setup.daemon.id());
    let mut latencies = Vec::with_capacity(changes);
    for change in 0..changes {
        let current = setup.repo.refname_to_id("refs/heads/draft").unwrap();
        let next = edit(&setup.repo, current, LARGE_CHANGE.path, |text| {
            let rest = text.split_once('\n').map_or("", |(_, rest)| rest);
            format!("name = \"Bot 7 rev {change}\"\n{rest}")
        });
        let start = Instant::now();
        setup.repo.reference_matching("refs/heads/draft", next, true, current, "bench: edit the draft").unwrap();
        let (_, arrived) = arrivals(&receiver, 1).pop().unwrap();
        latencies.push(arrived - start);
    }
    drop(setup);
    print_latencies(
        &format!("large repository (50 assistants, 10,051 files), ref update -> runtime, {changes} changes"),
        latencies,
    );
    println!("RSS on the large repository after start: {:.1} MB", rss as f64 / 1024.0);

    git_moves_live_to_many_runtimes(if full { 50 } else { 2 });
}

/// A non-bare repository made by `stagecraft init`, v2 published with the CLI, 100
/// runtimes bound to live, and live moved by `git update-ref` (a separate process, as a
/// push or a script would) between a commit with v2's tree and one with v1's. Timed
/// from just before `git` starts to each receipt.
fn git_moves_live_to_many_runtimes(rounds: usize) {
    for runtimes in [1, 100] {
        git_moves_live(runtimes, rounds);
    }
}

fn git_moves_live(runtimes: usize, rounds: usize) {
    let receiver = start_receiver();
    let dir = tempfile::tempdir().unwrap();
    let work = dir.path().join("work");
    let stagecraft = |args: &[&str]| {
        let status = Command::new(env!("CARGO_BIN_EXE_stagecraft"))
            .current_dir(dir.path())
            .args(["--author", "bench <bench@example.com>"])
            .args(args)
            .stdout(Stdio::null())
            .status()
            .unwrap();
        assert!(status.success(), "stagecraft {args:?}");
    };
    stagecraft(&["init", work.to_str().unwrap(), "--from", EXAMPLE]);
    let repo = git2::Repository::open(&work).unwrap();
    let v1 = repo.refname_to_id("refs/heads/draft").unwrap();
    let draft = second_commit(&repo, v1, &EXAMPLE_CHANGE);
    repo.reference("refs/heads/draft", draft, true, "bench: edit the draft").unwrap();
    stagecraft(&["--repo", work.to_str().unwrap(), "publish"]);
    let live = repo.refname_to_id("refs/heads/live").unwrap();
    let signature = git2::Signature::now("bench", "bench@example.com").unwrap();
    let tree = |id: git2::Oid| repo.find_commit(id).unwrap().tree().unwrap();
    let with_v2 = repo
        .commit(None, &signature, &signature, "v2 by hand", &tree(draft), &[&repo.find_commit(live).unwrap()])
        .unwrap();
    let with_v1 = repo
        .commit(None, &signature, &signature, "v1 by hand", &tree(v1), &[&repo.find_commit(with_v2).unwrap()])
        .unwrap();
    let mut config = format!(
        "[repository]\npath = \"{}\"\n[server]\nlisten = \"127.0.0.1:0\"\n[delivery]\nretry_min = \"50ms\"\nretry_max = \"1s\"\ntimeout = \"5s\"\n",
        work.display()
    );
    for r in 0..runtimes {
        config.push_str(&format!(
            "[[runtime]]\nname = \"r{r}\"\nenvironment = \"live\"\nurl = \"http://127.0.0.1:{}/r{r}\"\nsecret = \"env:BENCH_SECRET\"\n",
            receiver.port
        ));
    }
    let config_path = dir.path().join("stagecraft.toml");
    std::fs::write(&config_path, config).unwrap();
    let mut daemon = Command::new(env!("CARGO_BIN_EXE_stagecraft"))
        .args(["serve", "--config", config_path.to_str().unwrap()])
        .env("BENCH_SECRET", SECRET)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    arrivals(&receiver, 2 * runtimes);
    let (mut first, mut last, mut git, mut beyond) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for round in 0..rounds {
        let target = if round % 2 == 0 { with_v2 } else { with_v1 };
        let start = Instant::now();
        let status = Command::new("git")
            .current_dir(&work)
            .args(["update-ref", "refs/heads/live", &target.to_string()])
            .status()
            .unwrap();
        let git_done = Instant::now();
        assert!(status.success());
        let got = arrivals(&receiver, runtimes);
        let first_receipt = got.iter().map(|(_, t)| *t).min().unwrap();
        first.push(first_receipt - start);
        beyond.push(first_receipt.saturating_duration_since(git_done));
        last.push(got.iter().map(|(_, t)| *t).max().unwrap() - start);
        git.push(git_done - start);
    }
    let _ = daemon.kill();
    let _ = daemon.wait();
    print_latencies(
        &format!("git update-ref of live -> first of {runtimes} runtime(s), non-bare, {rounds} moves"),
        first,
    );
    print_latencies(&format!("  first receipt after the git process ended ({runtimes} runtime(s))"), beyond);
    print_latencies(&format!("  all {runtimes} runtime(s)"), last);
    print_latencies("  the git update-ref process itself", git);
}
