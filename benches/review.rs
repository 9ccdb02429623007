//! Review benchmark: `stagecraft review` of a change to all 50 assistants of the large
//! repository (2,000-line instructions and 200 tools each; one instruction line and one
//! tool changed in every assistant), from reading the repository to the markdown fitted
//! to GitHub's comment limit. Run: `cargo bench --bench review`.

use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use stagecraft::model::{Entry, EntryKind, Snapshot};
use stagecraft::ops::review::review;
use stagecraft::review::GITHUB_COMMENT_LIMIT;

#[path = "support/mod.rs"]
mod support;
use support::large_repository;

fn bench(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("temp dir");
    let (store, identity) = large_repository(dir.path());
    // The head: every assistant's instructions and one of its tools changed.
    let draft = store.branch_tip("draft").expect("draft").expect("draft exists");
    let mut entries = store.snapshot(draft).expect("snapshot").entries().clone();
    for a in 0..50 {
        let text = (0..2000)
            .map(|l| if l == 1000 { format!("Rule {l}: be brief.\n") } else { format!("Rule {l}: be kind.\n") });
        let blob = store.write_blob(text.collect::<String>().as_bytes()).expect("blob");
        entries.insert(format!("assistants/bot-{a:02}/instructions.md"), Entry { id: blob, kind: EntryKind::File });
        let tool =
            store.write_blob(b"description = \"Tool 7, renamed\"\n[parameters]\ntype = \"object\"\n").expect("blob");
        entries.insert(format!("assistants/bot-{a:02}/tools/tool_007.toml"), Entry { id: tool, kind: EntryKind::File });
    }
    let tree = store.write_tree(&Snapshot::new(entries), &store.blobs()).expect("tree");
    let head = store.write_commit(tree, &[draft], "change every assistant", &identity).expect("commit");
    store.create_ref("refs/heads/feature", head, "bench").expect("ref");
    let mut group = c.benchmark_group("review");
    group.sample_size(10).measurement_time(Duration::from_secs(10));
    group.bench_function("review of a change to 50 assistants, fitted to 65,536 characters", |b| {
        b.iter(|| {
            let view = review(&store, "feature", None).expect("review").view(GITHUB_COMMENT_LIMIT);
            assert!(view.valid && view.markdown.chars().count() <= GITHUB_COMMENT_LIMIT);
        })
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
