//! Crash safety: every failpoint between two writes aborts the process; afterwards git
//! finds the repository sound, no lock file is left, every environment is on a version,
//! and the next stagecraft command completes or repairs what was half done.

use crate::common::TestRepo;

/// Sets up a repository where `command` has something to do, runs it with the failpoint
/// armed, and checks the aftermath.
fn crash(failpoint: &str, prepare: impl Fn(&TestRepo), command: &[&str], repair: &[&str]) -> TestRepo {
    let repo = TestRepo::from_example();
    prepare(&repo);
    let output = repo
        .env
        .command(env!("CARGO_BIN_EXE_stagecraft"), &repo.root)
        .args(command)
        .env("STAGECRAFT_FAILPOINT", failpoint)
        .output()
        .unwrap();
    assert_eq!(
        output.status.code(),
        None,
        "{failpoint}: the process must abort: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(String::from_utf8_lossy(&output.stderr).contains(&format!("failpoint {failpoint} hit")));
    let fsck = repo.env.command("git", &repo.root).args(["fsck", "--no-dangling"]).output().unwrap();
    assert!(fsck.status.success(), "{failpoint}: git fsck: {}", String::from_utf8_lossy(&fsck.stderr));
    let locks: Vec<_> =
        walk(&repo.root.join(".git")).into_iter().filter(|p| p.extension().is_some_and(|e| e == "lock")).collect();
    assert!(locks.is_empty(), "{failpoint}: lock files left: {locks:?}");
    let status = repo.stagecraft(&["status", "--json"]).success().json();
    for env in status["environments"].as_array().unwrap() {
        assert_eq!(env["drift"], false, "{failpoint}: {env}");
    }
    let next = repo.stagecraft(repair);
    assert!(matches!(next.code, 0 | 3), "{failpoint}: the next command must complete: {next}");
    repo
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        if path.is_dir() {
            out.extend(walk(&path));
        } else {
            out.push(path);
        }
    }
    out
}

fn edit(repo: &TestRepo) {
    repo.commit_file("assistants/support-bot/instructions.md", "Be brief.\n");
}

fn published(repo: &TestRepo) {
    edit(repo);
    repo.stagecraft(&["publish"]).success();
}

#[test]
fn a_publish_cut_off_before_its_tag_is_tagged_by_the_next_command() {
    for failpoint in ["publish-after-reconcile", "publish-after-commit", "publish-after-ref"] {
        let repo = crash(failpoint, edit, &["publish"], &["publish"]);
        // Whatever was cut, the publish is complete now: v2 tagged on sandbox's tip.
        assert_eq!(repo.git(&["tag"]), "v1\nv2\n", "{failpoint}");
        assert_eq!(repo.git(&["rev-parse", "v2^{commit}"]), repo.git(&["rev-parse", "sandbox"]), "{failpoint}");
        assert_eq!(
            repo.git(&["log", "-1", "--format=%(trailers:key=Stagecraft-Version,valueonly)", "sandbox"]).trim(),
            "2"
        );
    }
}

#[test]
fn reconciliation_cut_off_after_a_tag_finishes_next_time() {
    let repo = crash("publish-after-ref", edit, &["publish"], &["status"]);
    assert_eq!(repo.git(&["tag"]), "v1\n", "the tag was never written");
    repo.commit_file("assistants/support-bot/instructions.md", "Be briefer.\n");
    let output = repo
        .env
        .command(env!("CARGO_BIN_EXE_stagecraft"), &repo.root)
        .args(["publish"])
        .env("STAGECRAFT_FAILPOINT", "reconcile-after-tag")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), None);
    assert_eq!(repo.git(&["tag"]), "v1\nv2\n");
    let run = repo.stagecraft(&["publish"]).success();
    assert!(run.stdout.starts_with("published v3 to sandbox"), "{run}");
}

#[test]
fn every_other_write_survives_a_crash_between_its_writes() {
    let promote = ["promote", "v2", "--to", "pre-release"];
    for failpoint in ["promote-after-commit", "promote-after-ref"] {
        let repo = crash(failpoint, published, &promote, &promote);
        assert_eq!(
            repo.git(&["rev-parse", "pre-release^{tree}"]),
            repo.git(&["rev-parse", "v2^{tree}"]),
            "{failpoint}"
        );
    }
    let promoted = |repo: &TestRepo| {
        published(repo);
        repo.stagecraft(&["promote", "v2", "--to", "pre-release"]).success();
    };
    for failpoint in ["rollback-after-commit", "rollback-after-ref"] {
        let repo = crash(failpoint, promoted, &["rollback", "pre-release"], &["rollback", "pre-release", "--to", "v1"]);
        assert_eq!(
            repo.git(&["rev-parse", "pre-release^{tree}"]),
            repo.git(&["rev-parse", "v1^{tree}"]),
            "{failpoint}"
        );
    }
    for failpoint in ["discard-after-commit", "discard-after-ref"] {
        let repo = crash(failpoint, edit, &["discard"], &["discard"]);
        assert_eq!(repo.git(&["rev-parse", "draft^{tree}"]), repo.git(&["rev-parse", "sandbox^{tree}"]), "{failpoint}");
    }
    for failpoint in ["restore-after-commit", "restore-after-ref"] {
        let repo = crash(failpoint, published, &["restore", "v1"], &["restore", "v1"]);
        assert_eq!(repo.git(&["rev-parse", "draft^{tree}"]), repo.git(&["rev-parse", "v1^{tree}"]), "{failpoint}");
    }
    for failpoint in ["revert-after-commit", "revert-after-ref"] {
        let repo = crash(failpoint, published, &["revert", "v2"], &["revert", "v2"]);
        assert_eq!(repo.git(&["rev-parse", "draft^{tree}"]), repo.git(&["rev-parse", "v1^{tree}"]), "{failpoint}");
    }
}

#[test]
fn every_failpoint_is_exercised() {
    let source = include_str!("crash.rs");
    for failpoint in stagecraft::failpoint::ALL {
        assert!(source.contains(&format!("\"{failpoint}\"")), "no crash test arms {failpoint}");
    }
}
