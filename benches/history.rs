//! History benchmarks. Bare repositories built with `git fast-import`, of two shapes:
//! 10,000 and 100,000 publishes on sandbox, every one tagged (publish-only); and the same
//! numbers of commits on sandbox where 9 of every 10 are plain commits without trailers
//! and every 10th a tagged publish (what a team that rebase-merges pull requests into
//! sandbox gets). Then: the first page of `stagecraft history` (of every environment for
//! the first shape, of sandbox with `--limit 50` for the second), and the full history
//! of sandbox, each beside
//! `git log --first-parent --name-status --format=%H%x00%an%x00%at%x00%B sandbox` on the
//! same repository in the same run. Run: `cargo bench --bench history`
//! (`HISTORY_SIZES=1000,5000` chooses the sizes).

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use stagecraft::ops::history::{HistoryQuery, history};
use stagecraft::store::Store;

fn main() {
    let sizes: Vec<usize> = std::env::var("HISTORY_SIZES")
        .ok()
        .map(|s| s.split(',').filter_map(|n| n.parse().ok()).collect())
        .unwrap_or_else(|| vec![10_000, 100_000]);
    println!(
        "| shape | commits on sandbox | first page | full history of sandbox | git log --first-parent --name-status | ratio full / git log |"
    );
    println!("|---|---|---|---|---|---|");
    for (shape, every) in [("publish-only", 1), ("9 of 10 plain", 10)] {
        for &size in &sizes {
            let dir = tempfile::tempdir().expect("temp dir");
            build(dir.path(), size, every);
            let store = Store::open(dir.path()).expect("open");
            let query = if every == 1 {
                HistoryQuery::default()
            } else {
                HistoryQuery { environment: Some("sandbox".into()), limit: Some(50), ..HistoryQuery::default() }
            };
            let first_page = median(50, || {
                let page = history(&store, &query).expect("history");
                assert_eq!(page.entries.len(), query.limit.unwrap_or(20));
            });
            let full = median(5, || {
                let page = history(
                    &store,
                    &HistoryQuery { environment: Some("sandbox".into()), all: true, ..HistoryQuery::default() },
                )
                .expect("history");
                assert_eq!(page.entries.len(), size + 1);
            });
            let git_log = median(5, || {
                let output = Command::new("git")
                    .current_dir(dir.path())
                    .args(["log", "--first-parent", "--name-status", "--format=%H%x00%an%x00%at%x00%B", "sandbox"])
                    .stdout(Stdio::piped())
                    .output()
                    .expect("git log");
                assert!(output.status.success());
            });
            println!(
                "| {shape} | {size} | {:.2} ms | {:.0} ms | {:.0} ms | {:.2} |",
                ms(first_page),
                ms(full),
                ms(git_log),
                full.as_secs_f64() / git_log.as_secs_f64()
            );
        }
    }
}

fn ms(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1000.0
}

fn median(runs: usize, mut f: impl FnMut()) -> Duration {
    f(); // warm up
    let mut times: Vec<Duration> = (0..runs)
        .map(|_| {
            let start = Instant::now();
            f();
            start.elapsed()
        })
        .collect();
    times.sort();
    times[runs / 2]
}

/// A bare repository: the init commit (v1) on every branch, then `commits` commits on
/// sandbox, each changing one file; every `every`-th is a tagged publish, the others
/// plain commits without trailers.
fn build(path: &Path, commits: usize, every: usize) {
    let status =
        Command::new("git").args(["init", "-q", "--bare", "-b", "draft"]).arg(path).status().expect("git init");
    assert!(status.success());
    let mut child = Command::new("git")
        .current_dir(path)
        .args(["fast-import", "--quiet"])
        .stdin(Stdio::piped())
        .spawn()
        .expect("fast-import");
    let mut stream = std::io::BufWriter::new(child.stdin.take().expect("stdin"));
    let data = |stream: &mut dyn Write, text: &str| {
        write!(stream, "data {}\n{text}\n", text.len()).expect("write");
    };
    let init = "Initialize stagecraft: v1\n\nStagecraft-Action: init\nStagecraft-Actor: Bench <bench@example.com>\nStagecraft-Version: 1\nStagecraft-Chain: draft sandbox pre-release live\nStagecraft-Protected: live\nStagecraft-Holds:\n";
    writeln!(stream, "commit refs/heads/sandbox\nmark :1\ncommitter Bench <bench@example.com> 1700000000 +0000")
        .expect("write");
    data(&mut stream, init);
    writeln!(stream, "M 100644 inline channels.toml").expect("write");
    data(&mut stream, "# bindings\n");
    writeln!(stream, "tag v1\nfrom :1\ntagger Bench <bench@example.com> 1700000000 +0000").expect("write");
    data(&mut stream, "initial version\n");
    let mut version = 1;
    for n in 2..=commits + 1 {
        let time = 1_700_000_000 + n as u64 * 60;
        let publish = n % every == 0;
        let message = if publish {
            version += 1;
            let summary = format!("bot-{}: instructions +1 −1 lines", n % 50);
            format!(
                "Publish v{version}\n\nchange {n}\n\nSummary: {summary}\n\nStagecraft-Action: publish\nStagecraft-Environment: sandbox\nStagecraft-Actor: Bench <bench@example.com>\nStagecraft-Version: {version}\nStagecraft-Holds:\n"
            )
        } else {
            format!("Edit rule {n} (#{n})\n")
        };
        writeln!(stream, "commit refs/heads/sandbox\nmark :{n}\ncommitter Bench <bench@example.com> {time} +0000")
            .expect("write");
        data(&mut stream, &message);
        writeln!(stream, "M 100644 inline assistants/bot-{:02}/instructions.md", n % 50).expect("write");
        data(&mut stream, &format!("Rule {n}.\n"));
        if publish {
            writeln!(stream, "tag v{version}\nfrom :{n}\ntagger Bench <bench@example.com> {time} +0000")
                .expect("write");
            data(&mut stream, &format!("change {n}\n\nbot-{}: instructions +1 −1 lines\n", n % 50));
        }
    }
    for branch in ["draft", "pre-release", "live"] {
        writeln!(stream, "reset refs/heads/{branch}\nfrom :1\n").expect("write");
    }
    drop(stream);
    assert!(child.wait().expect("fast-import").success());
    let status = Command::new("git").current_dir(path).args(["pack-refs", "--all"]).status().expect("pack-refs");
    assert!(status.success());
}
