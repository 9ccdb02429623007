//! Diff benchmarks (issue: field-level diff). Two states of 50 assistants, each with
//! 2,000-line instructions and 200 tools; between them 5 % of the instruction lines and
//! 5 % of the tools changed. Measured: the whole diff from two git commits (tree listing,
//! blob reads and parsing included), and one assistant pair from memory.

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use stagecraft::diff::{self, Side};
use stagecraft::identity::{Identity, Person, When};
use stagecraft::model::Chain;
use stagecraft::store::{Store, memory_tree};

const ASSISTANTS: usize = 50;
const LINES: usize = 2000;
const TOOLS: usize = 200;

/// The files of one state; `changed` picks the second state (5 % of lines and tools differ).
fn files(changed: bool, assistants: usize) -> Vec<(String, Vec<u8>)> {
    let mut files = vec![("README.md".to_string(), b"bench\n".to_vec())];
    for a in 0..assistants {
        let dir = format!("assistants/bot-{a:02}");
        files.push((
            format!("{dir}/assistant.toml"),
            format!(
                "name = \"Bot {a}\"\n[model]\nname = \"m\"\ntemperature = {}\n",
                if changed && a % 2 == 0 { "0.5" } else { "0.3" }
            )
            .into_bytes(),
        ));
        let instructions: String = (0..LINES)
            .map(|line| {
                if changed && line % 20 == 7 {
                    format!("Rule {line}: answer briefly and check the order first.\n")
                } else {
                    format!("Rule {line}: answer politely and check the order.\n")
                }
            })
            .collect();
        files.push((format!("{dir}/instructions.md"), instructions.into_bytes()));
        for t in 0..TOOLS {
            let method = if changed && t % 20 == 3 { "POST" } else { "GET" };
            let tool = format!(
                "description = \"Tool {t}\"\n[parameters]\ntype = \"object\"\nrequired = [\"id\"]\n[parameters.properties.id]\ntype = \"string\"\n[http]\nmethod = \"{method}\"\nurl = \"https://api.example.com/{t}\"\n"
            );
            files.push((format!("{dir}/tools/tool_{t:03}.toml"), tool.into_bytes()));
        }
    }
    files
}

fn bench(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("temp dir");
    let repo = git2::Repository::init_bare(dir.path()).expect("init");
    let store = Store::from_repository(repo, dir.path().to_path_buf());
    let person = Person { name: "bench".into(), email: "bench@example.com".into() };
    let when = When { seconds: 1_700_000_000, offset_minutes: 0 };
    let identity = Identity { author: person.clone(), author_time: when, committer: person, committer_time: when };
    let mut commits = Vec::new();
    for changed in [false, true] {
        let content = files(changed, ASSISTANTS);
        let (snapshot, blobs) = memory_tree(content.iter().map(|(p, b)| (p.clone(), b.as_slice())));
        let tree = store.write_tree(&snapshot, &blobs).expect("tree");
        commits.push(store.write_commit(tree, &[], "state", &identity).expect("commit"));
    }
    store.repository().reference("refs/heads/a", stagecraft::store::oid(commits[0]), true, "").expect("ref");
    store.repository().reference("refs/heads/b", stagecraft::store::oid(commits[1]), true, "").expect("ref");
    let chain = Chain::default_chain();
    let cwd = dir.path().to_path_buf();

    let check = stagecraft::ops::diff(Some(&store), &chain, "a", "b", None, &cwd).expect("diff");
    assert_eq!(check.changes.assistants.len(), ASSISTANTS);

    c.bench_function("diff 50 assistants from two commits", |b| {
        b.iter(|| black_box(stagecraft::ops::diff(Some(&store), &chain, "a", "b", None, &cwd).expect("diff")))
    });

    c.bench_function("list both trees (50 assistants)", |b| {
        b.iter(|| {
            black_box((store.snapshot(commits[0]).expect("snapshot"), store.snapshot(commits[1]).expect("snapshot")))
        })
    });
    let old_files = files(false, 1);
    let new_files = files(true, 1);
    let (old, old_blobs) = memory_tree(old_files.iter().map(|(p, b)| (p.clone(), b.as_slice())));
    let (new, new_blobs) = memory_tree(new_files.iter().map(|(p, b)| (p.clone(), b.as_slice())));
    c.bench_function("diff one assistant pair in memory", |b| {
        b.iter(|| {
            black_box(
                diff::diff(Side { snapshot: &old, reader: &old_blobs }, Side { snapshot: &new, reader: &new_blobs })
                    .expect("diff"),
            )
        })
    });
    let old_text: String = String::from_utf8(old_files[2].1.clone()).expect("utf8");
    let new_text: String = String::from_utf8(new_files[2].1.clone()).expect("utf8");
    c.bench_function("text diff of one 2,000-line instructions", |b| {
        b.iter(|| black_box(diff::text::diff_text(&old_text, &new_text)))
    });
    c.bench_function("summary of the 50-assistant diff", |b| b.iter(|| black_box(diff::summary(&check.changes))));
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(20);
    targets = bench
}
criterion_main!(benches);
