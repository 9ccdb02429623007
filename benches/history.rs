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

use std::process::{Command, Stdio};
use std::time::Duration;

use stagecraft::ops::history::{HistoryQuery, history};
use stagecraft::store::Store;

#[path = "support/mod.rs"]
mod support;
use support::fast_import_repository as build;
use support::median;

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
