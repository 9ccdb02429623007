//! Properties of the diff on generated config trees: a tree diffed with itself (or with a
//! reformatted copy, whose blob ids differ) is empty; the diff of a → b names exactly the
//! paths that differ; and applying it to a gives b.

use std::collections::{BTreeMap, BTreeSet};

use proptest::prelude::*;
use stagecraft::diff::apply::{FileValue, apply};
use stagecraft::diff::{self, ChangeKind, ChangeSet, Section, Side};
use stagecraft::store::memory_tree;

type Files = BTreeMap<String, FileValue>;

fn leaf() -> impl Strategy<Value = toml::Value> {
    prop_oneof![
        "[a-z ]{0,6}".prop_map(toml::Value::String),
        (-5i64..5).prop_map(toml::Value::Integer),
        (-4i32..4).prop_map(|n| toml::Value::Float(f64::from(n) / 2.0)),
        any::<bool>().prop_map(toml::Value::Boolean),
    ]
}

fn value() -> impl Strategy<Value = toml::Value> {
    leaf().prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(toml::Value::Array),
            prop::collection::btree_map("[a-d]", inner, 0..4).prop_map(|m| toml::Value::Table(m.into_iter().collect())),
        ]
    })
}

fn table() -> impl Strategy<Value = toml::Table> {
    prop::collection::btree_map("[a-e]", value(), 0..5).prop_map(|m| m.into_iter().collect())
}

fn text() -> impl Strategy<Value = String> {
    prop::collection::vec(prop_oneof!["be brief", "be kind", "ask first", "say hi", ""], 0..8)
        .prop_map(|lines| lines.iter().map(|l| format!("{l}\n")).collect())
}

fn assistant(id: &'static str) -> impl Strategy<Value = Files> {
    (table(), text(), prop::collection::btree_map(prop_oneof!["t1", "t2", "t3"], table(), 0..3)).prop_map(
        move |(settings, instructions, tools)| {
            let mut files = Files::new();
            files.insert(format!("assistants/{id}/assistant.toml"), FileValue::Toml(settings));
            files.insert(format!("assistants/{id}/instructions.md"), FileValue::Text(instructions));
            for (tool, body) in tools {
                files.insert(format!("assistants/{id}/tools/{tool}.toml"), FileValue::Toml(body));
            }
            files
        },
    )
}

fn channels() -> impl Strategy<Value = toml::Table> {
    prop::collection::btree_map(
        prop_oneof!["draft", "live"],
        prop::collection::btree_map(prop_oneof!["a", "b"], table(), 1..3),
        0..3,
    )
    .prop_map(|envs| {
        envs.into_iter()
            .map(|(env, bindings)| {
                (env, toml::Value::Table(bindings.into_iter().map(|(a, t)| (a, toml::Value::Table(t))).collect()))
            })
            .collect()
    })
}

fn tree() -> impl Strategy<Value = Files> {
    (prop::option::of(assistant("a")), prop::option::of(assistant("b")), channels(), prop::option::of("[a-z]{1,5}"))
        .prop_map(|(a, b, channels, readme)| {
            let mut files = Files::new();
            files.extend(a.unwrap_or_default());
            files.extend(b.unwrap_or_default());
            if !channels.is_empty() {
                files.insert("channels.toml".into(), FileValue::Toml(channels));
            }
            if let Some(readme) = readme {
                files.insert("README.md".into(), FileValue::Text(readme));
            }
            files
        })
}

/// The bytes of each file; `reformat` writes TOML differently with the same content.
fn serialize(files: &Files, reformat: bool) -> BTreeMap<String, Vec<u8>> {
    files
        .iter()
        .map(|(path, value)| {
            let bytes = match value {
                FileValue::Toml(table) if reformat => {
                    format!("# reformatted\n\n{}\n", toml::to_string_pretty(table).unwrap())
                }
                FileValue::Toml(table) => toml::to_string(table).unwrap(),
                FileValue::Text(text) => text.clone(),
            };
            (path.clone(), bytes.into_bytes())
        })
        .collect()
}

/// What the diff sees of serialized files (TOML read back).
fn reparse(bytes: &BTreeMap<String, Vec<u8>>) -> Files {
    bytes
        .iter()
        .map(|(path, bytes)| {
            let text = String::from_utf8(bytes.clone()).unwrap();
            let value =
                if path.ends_with(".toml") { FileValue::Toml(text.parse().unwrap()) } else { FileValue::Text(text) };
            (path.clone(), value)
        })
        .collect()
}

fn diff_bytes(a: &BTreeMap<String, Vec<u8>>, b: &BTreeMap<String, Vec<u8>>) -> ChangeSet {
    let (old, old_blobs) = memory_tree(a.iter().map(|(p, v)| (p.clone(), v.as_slice())));
    let (new, new_blobs) = memory_tree(b.iter().map(|(p, v)| (p.clone(), v.as_slice())));
    diff::diff(Side { snapshot: &old, reader: &old_blobs }, Side { snapshot: &new, reader: &new_blobs }).unwrap()
}

/// Every leaf of every file as (file, path) → value; empty tables and arrays are leaves.
fn leaves(files: &Files) -> BTreeMap<(String, Vec<String>), String> {
    fn walk(
        file: &str,
        path: &mut Vec<String>,
        value: &toml::Value,
        out: &mut BTreeMap<(String, Vec<String>), String>,
    ) {
        match value {
            toml::Value::Table(t) if !t.is_empty() => {
                for (k, v) in t {
                    path.push(k.clone());
                    walk(file, path, v, out);
                    path.pop();
                }
            }
            toml::Value::Array(items) if !items.is_empty() => {
                for (i, v) in items.iter().enumerate() {
                    path.push(i.to_string());
                    walk(file, path, v, out);
                    path.pop();
                }
            }
            other => {
                out.insert((file.to_string(), path.clone()), other.to_string());
            }
        }
    }
    let mut out = BTreeMap::new();
    for (file, value) in files {
        match value {
            FileValue::Toml(table) => walk(file, &mut Vec::new(), &toml::Value::Table(table.clone()), &mut out),
            FileValue::Text(text) => {
                out.insert((file.clone(), Vec::new()), text.clone());
            }
        }
    }
    out
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

    #[test]
    fn a_tree_diffed_with_itself_or_a_reformatted_copy_is_empty(files in tree()) {
        let plain = serialize(&files, false);
        prop_assert!(diff_bytes(&plain, &plain).is_empty());
        let reformatted = serialize(&files, true);
        prop_assert!(diff_bytes(&plain, &reformatted).is_empty(), "reformatting changed nothing but the bytes");
    }

    #[test]
    fn the_diff_lists_exactly_what_differs_and_applies(a in tree(), b in tree()) {
        let (a_bytes, b_bytes) = (serialize(&a, false), serialize(&b, true));
        let (a, b) = (reparse(&a_bytes), reparse(&b_bytes));
        let set = diff_bytes(&a_bytes, &b_bytes);
        let config_files = |files: &Files| files.iter().filter(|(p, _)| p.as_str() != "README.md").map(|(p, v)| (p.clone(), v.clone())).collect::<Files>();

        // Applying the diff of a → b to a gives b (other files are only listed).
        let applied = apply(&config_files(&a), &set).unwrap();
        prop_assert_eq!(applied, config_files(&b));

        // Each differing leaf is covered by exactly one change, and each change covers one.
        let (old_leaves, new_leaves) = (leaves(&config_files(&a)), leaves(&config_files(&b)));
        let differing: BTreeSet<&(String, Vec<String>)> = old_leaves.keys().chain(new_leaves.keys()).filter(|k| old_leaves.get(*k) != new_leaves.get(*k)).collect();
        let changes: Vec<_> = set.assistants.iter().flat_map(|a| a.changes.iter()).chain(set.channels.iter()).collect();
        let covers = |change: &stagecraft::diff::Change, (file, path): &(String, Vec<String>)| {
            if change.kind == ChangeKind::Renamed {
                let from = format!("{}{}.toml", change.file.rsplit_once('/').unwrap().0.to_string() + "/", change.renamed_from.as_deref().unwrap());
                return file == &change.file || file == &from;
            }
            file == &change.file && path.starts_with(&change.path)
        };
        for leaf in &differing {
            let count = changes.iter().filter(|c| covers(c, leaf)).count();
            // A container that became empty (or stopped being empty) is explained by the
            // changes of its elements below it.
            let emptied = [&old_leaves, &new_leaves].iter().any(|side| matches!(side.get(*leaf).map(String::as_str), Some("{}" | "[]")))
                && changes.iter().any(|c| c.file == leaf.0 && c.path.len() > leaf.1.len() && c.path.starts_with(&leaf.1));
            prop_assert!(count == 1 || (count == 0 && emptied), "leaf {:?} covered {} times", leaf, count);
        }
        for change in &changes {
            prop_assert!(differing.iter().any(|leaf| covers(change, leaf)), "change {:?} covers nothing", change.display_path(None));
            if change.section == Section::Channels {
                prop_assert!(change.path.len() >= 2 || set.channels.contains(change));
            }
        }
        prop_assert_eq!(set.other_files.contains(&"README.md".to_string()), a_bytes.get("README.md") != b_bytes.get("README.md"));
    }
}
