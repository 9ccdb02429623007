//! History benchmarks (issue: lifecycle). Repositories with 10,000 and 100,000 publishes
//! on sandbox (built with `git fast-import`, every publish tagged), then: the first page
//! of `stagecraft history`, and the full history of sandbox, each beside
//! `git log --first-parent --name-status --format=%H%x00%an%x00%at%x00%B sandbox` on the
//! same repository in the same run. Run: `cargo bench --bench history`.

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
        "| publishes | first page (20) | full history of sandbox | git log --first-parent --name-status | ratio full / git log |"
    );
    println!("|---|---|---|---|---|");
    for size in sizes {
        let dir = tempfile::tempdir().expect("temp dir");
        build(dir.path(), size);
        let store = Store::open(dir.path()).expect("open");
        let first_page = median(50, || {
            let page = history(&store, &HistoryQuery::default()).expect("history");
            assert_eq!(page.entries.len(), 20);
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
            "| {size} | {:.2} ms | {:.0} ms | {:.0} ms | {:.2} |",
            ms(first_page),
            ms(full),
            ms(git_log),
            full.as_secs_f64() / git_log.as_secs_f64()
        );
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

/// A bare repository: the init commit (v1) on every branch, then `publishes` publish
/// commits on sandbox, each changing one file and tagged.
fn build(path: &Path, publishes: usize) {
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
    for n in 2..=publishes + 1 {
        let time = 1_700_000_000 + n as u64 * 60;
        let summary = format!("bot-{}: instructions +1 −1 lines", n % 50);
        let message = format!(
            "Publish v{n}\n\nchange {n}\n\nSummary: {summary}\n\nStagecraft-Action: publish\nStagecraft-Environment: sandbox\nStagecraft-Actor: Bench <bench@example.com>\nStagecraft-Version: {n}\nStagecraft-Holds:\n"
        );
        writeln!(stream, "commit refs/heads/sandbox\nmark :{n}\ncommitter Bench <bench@example.com> {time} +0000")
            .expect("write");
        data(&mut stream, &message);
        writeln!(stream, "M 100644 inline assistants/bot-{:02}/instructions.md", n % 50).expect("write");
        data(&mut stream, &format!("Rule {n}.\n"));
        writeln!(stream, "tag v{n}\nfrom :{n}\ntagger Bench <bench@example.com> {time} +0000").expect("write");
        data(&mut stream, &format!("change {n}\n\n{summary}\n"));
    }
    for branch in ["draft", "pre-release", "live"] {
        writeln!(stream, "reset refs/heads/{branch}\nfrom :1\n").expect("write");
    }
    drop(stream);
    assert!(child.wait().expect("fast-import").success());
    let status = Command::new("git").current_dir(path).args(["pack-refs", "--all"]).status().expect("pack-refs");
    assert!(status.success());
}
