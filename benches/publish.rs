//! Publish benchmark (issue: lifecycle): one publish on a repository of 50 assistants
//! (2,000-line instructions, 200 tools each), after a one-line change on the draft.
//! Measured: `ops::publish` only (reconcile, validate the draft, diff, commit, compare-
//! and-swap, tag); the draft commit before each publish is not timed.

use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use stagecraft::identity::Identity;
use stagecraft::model::{Entry, EntryKind, Snapshot};
use stagecraft::ops::WriteOptions;
use stagecraft::ops::publish::publish;
use stagecraft::store::Store;

#[path = "support/mod.rs"]
mod support;
use support::large_repository;

fn bench(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("temp dir");
    let (store, identity) = large_repository(dir.path());
    let mut round = 0u64;
    c.bench_function("publish on 50 assistants", |b| {
        b.iter_custom(|iterations| {
            let mut total = Duration::ZERO;
            for _ in 0..iterations {
                round += 1;
                edit_draft(&store, &identity, round);
                let start = Instant::now();
                publish(&store, &identity, &WriteOptions::default()).expect("publish");
                total += start.elapsed();
            }
            total
        })
    });
}

/// Commits a one-line change of one assistant's instructions on the draft.
fn edit_draft(store: &Store, identity: &Identity, round: u64) {
    let tip = store.branch_tip("draft").expect("draft").expect("draft exists");
    let snapshot = store.snapshot(tip).expect("snapshot");
    let path = format!("assistants/bot-{:02}/instructions.md", round % 50);
    let text = format!("Round {round}.\n{}", (1..2000).map(|l| format!("Rule {l}: be kind.\n")).collect::<String>());
    let blob = store.write_blob(text.as_bytes()).expect("blob");
    let mut entries = snapshot.entries().clone();
    entries.insert(path, Entry { id: blob, kind: EntryKind::File });
    let tree = store.write_tree(&Snapshot::new(entries), &store.blobs()).expect("tree");
    let commit = store.write_commit(tree, &[tip], "edit", identity).expect("commit");
    store.update_branch("draft", commit, tip, "bench").expect("move draft");
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(10);
    targets = bench
}
criterion_main!(benches);
