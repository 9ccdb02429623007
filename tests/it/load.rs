//! Loading the same content from a directory and from a git commit gives identical
//! snapshots, configs and diagnostics.

use stagecraft::model::{Chain, ObjectId};
use stagecraft::parse;
use stagecraft::store::{Store, dir};

use crate::common::{TestRepo, example_repo, fixtures};

#[test]
fn example_repo_loads_identically_from_a_directory_and_from_git() {
    let repo = TestRepo::from_example();
    let store = Store::open(&repo.root).unwrap();
    let chain = store.chain().unwrap();
    let draft = store.branch_tip("draft").unwrap().unwrap();
    let git_snapshot = store.snapshot(draft).unwrap();
    let (dir_snapshot, dir_reader) = dir::load(&example_repo()).unwrap();
    assert_eq!(git_snapshot, dir_snapshot);
    assert!(git_snapshot.len() > 30, "the example has every kind of file");

    let (git_config, git_diagnostics) = parse::load(&git_snapshot, &store.blobs(), &chain);
    let (dir_config, dir_diagnostics) = parse::load(&dir_snapshot, &dir_reader, &chain);
    assert_eq!(git_diagnostics, []);
    assert_eq!(dir_diagnostics, []);
    assert_eq!(git_config, dir_config);
    assert_eq!(git_config.assistants.len(), 2);
    for assistant in git_config.assistants.values() {
        assert!(!assistant.knowledge.is_empty() && !assistant.tools.is_empty(), "{}", assistant.id);
        assert!(!assistant.guardrails.is_empty() && !assistant.tests.is_empty(), "{}", assistant.id);
        assert!(!assistant.files.is_empty() && assistant.instructions.lines().count() >= 30, "{}", assistant.id);
    }
    assert!(!git_config.channels.environments.is_empty());
}

#[test]
fn the_embedded_example_is_example_repo() {
    let (embedded, _) = stagecraft::example::snapshot();
    let (on_disk, _) = dir::load(&example_repo()).unwrap();
    assert_eq!(embedded, on_disk);
}

#[test]
fn invalid_fixtures_give_the_same_diagnostics_from_git() {
    // Commit each fixture with git itself, then compare with the directory load.
    let env = crate::common::TestEnv::new();
    let chain = Chain::default_chain();
    for case in std::fs::read_dir(fixtures().join("invalid")).unwrap() {
        let case = case.unwrap().path();
        let work = env.path().join(case.file_name().unwrap());
        copy_tree(&case, &work);
        env.git_in(&work, &["init", "-q", "-b", "draft"]);
        env.git_in(&work, &["add", "-A"]);
        env.git_in(&work, &["commit", "-q", "-m", "fixture"]);
        let store = Store::open(&work).unwrap();
        let tip = store.branch_tip("draft").unwrap().unwrap();
        let (git_snapshot, git_reader) = (store.snapshot(tip).unwrap(), store.blobs());
        let (dir_snapshot, dir_reader) = dir::load(&case).unwrap();
        assert_eq!(git_snapshot, dir_snapshot, "{}", case.display());
        let from_git = parse::load(&git_snapshot, &git_reader, &chain).1;
        let from_dir = parse::load(&dir_snapshot, &dir_reader, &chain).1;
        assert_eq!(from_git, from_dir, "{}", case.display());
        assert!(!from_git.is_empty(), "{} must not validate", case.display());
    }
}

#[test]
fn gitignored_files_are_not_part_of_a_directory_tree() {
    let env = crate::common::TestEnv::new();
    let work = env.path().join("tree");
    copy_tree(&example_repo(), &work);
    std::fs::write(work.join(".gitignore"), "*.swp\nscratch/\n").unwrap();
    std::fs::write(work.join("assistants/support-bot/instructions.md.swp"), "editor junk").unwrap();
    std::fs::create_dir_all(work.join("scratch")).unwrap();
    std::fs::write(work.join("scratch/notes.txt"), "x").unwrap();
    let (snapshot, reader) = dir::load(&work).unwrap();
    assert!(snapshot.get("assistants/support-bot/instructions.md.swp").is_none());
    assert!(snapshot.get("scratch/notes.txt").is_none());
    assert!(snapshot.get(".gitignore").is_some());
    assert_eq!(parse::load(&snapshot, &reader, &Chain::default_chain()).1, []);
}

#[test]
fn an_unchanged_file_has_the_same_blob_id_in_both_sources() {
    let repo = TestRepo::from_example();
    let expected = repo.git(&["rev-parse", "draft:assistants/support-bot/instructions.md"]);
    let (snapshot, _) = dir::load(&example_repo()).unwrap();
    let id: ObjectId = snapshot.get("assistants/support-bot/instructions.md").unwrap().id;
    assert_eq!(id.to_hex(), expected.trim());
}

pub fn copy_tree(from: &std::path::Path, to: &std::path::Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        let file_type = entry.file_type().unwrap();
        if file_type.is_symlink() {
            std::os::unix::fs::symlink(std::fs::read_link(entry.path()).unwrap(), &target).unwrap();
        } else if file_type.is_dir() {
            copy_tree(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}

#[test]
fn a_snapshot_made_from_another_and_a_tree_diff_equals_a_full_walk() {
    let repo = TestRepo::from_example();
    let tree = |repo: &TestRepo| ObjectId::from_hex(repo.git(&["rev-parse", "HEAD^{tree}"]).trim()).unwrap();
    let mut trees = vec![tree(&repo)];
    let mut step = |what: &[&[&str]]| {
        for args in what {
            repo.git(args);
        }
        repo.git(&["commit", "-q", "--allow-empty", "-m", "step"]);
        trees.push(tree(&repo));
    };
    let bot = "assistants/support-bot";
    std::fs::write(repo.root.join(bot).join("instructions.md"), "changed\n").unwrap();
    std::fs::create_dir_all(repo.root.join("deep/new/dir")).unwrap();
    std::fs::write(repo.root.join("deep/new/dir/file.txt"), "new\n").unwrap();
    step(&[&["add", "-A"]]);
    step(&[&["rm", "-q", "-r", &format!("{bot}/tools")]]);
    std::fs::write(repo.root.join("run.sh"), "#!/bin/sh\n").unwrap();
    step(&[&["add", "run.sh"], &["update-index", "--chmod=+x", "run.sh"]]);
    std::fs::remove_file(repo.root.join("run.sh")).unwrap();
    std::os::unix::fs::symlink("deep/new/dir/file.txt", repo.root.join("run.sh")).unwrap();
    step(&[&["add", "-A"]]);
    std::fs::remove_dir_all(repo.root.join("deep/new")).unwrap();
    std::fs::write(repo.root.join("deep/new"), "a file where a directory was\n").unwrap();
    step(&[&["add", "-A"]]);

    let store = Store::open(&repo.root).unwrap();
    let full = |tree: ObjectId| store.tree_snapshot(tree).unwrap();
    let pairs =
        trees.windows(2).map(|w| (w[0], w[1])).chain([(trees[0], trees[trees.len() - 1]), (trees[4], trees[1])]);
    for (from, to) in pairs {
        let made = store.tree_snapshot_from(from, &full(from), to).unwrap();
        assert_eq!(made, full(to), "from {} to {}", from.short(), to.short());
    }
    assert_ne!(full(trees[0]), full(trees[5]), "the steps changed the tree");
}
