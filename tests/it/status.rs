//! `stagecraft status`, and what every command refuses to open.

use crate::common::{TestEnv, TestRepo};

#[test]
fn status_after_init() {
    let repo = TestRepo::from_example();
    insta::assert_snapshot!(repo.stagecraft(&["status"]), @"
    repository $TMP/repo

    ENVIRONMENT       VERSION  COMMIT   WHEN                       BY
    draft             -        d6a7760  2026-01-01T00:01:00+00:00  Test User <test@example.com>
    sandbox           v1       d6a7760  2026-01-01T00:01:00+00:00  Test User <test@example.com>
    pre-release       v1       d6a7760  2026-01-01T00:01:00+00:00  Test User <test@example.com>
    live (protected)  v1       d6a7760  2026-01-01T00:01:00+00:00  Test User <test@example.com>

    nothing to publish: draft equals sandbox
    [exit status: 0]
    ");
}

#[test]
fn status_json_and_unpublished_changes() {
    let repo = TestRepo::from_example();
    repo.commit_file("assistants/support-bot/instructions.md", "Be brief.\n");
    repo.commit_file("NOTES.md", "team notes\n");
    let json = repo.stagecraft(&["status", "--json"]).success().json();
    assert_eq!(json["chain"], serde_json::json!(["draft", "sandbox", "pre-release", "live"]));
    assert_eq!(json["environments"][0]["version"], serde_json::Value::Null);
    assert_eq!(json["environments"][3]["version"], 1);
    assert_eq!(json["environments"][3]["protected"], true);
    assert_eq!(json["environments"][1]["holds"], serde_json::json!([]));
    assert_eq!(json["draft"]["changed"], true);
    assert_eq!(json["draft"]["changed_config_files"], 1);
    assert_eq!(json["draft"]["changed_other_files"], 1);
    let text = repo.stagecraft(&["status"]).success();
    assert!(
        text.stdout
            .ends_with("unpublished changes since sandbox: support-bot: instructions +1 −66 lines · 1 other file\n"),
        "{text}"
    );
}

#[test]
fn a_forge_merge_with_a_new_tree_is_drift_and_one_with_a_version_tree_is_not() {
    let repo = TestRepo::from_example();
    // A commit straight on live, with a tree no version has.
    repo.git(&["checkout", "-q", "live"]);
    repo.commit_file("assistants/support-bot/instructions.md", "hot fix\n");
    let json = repo.stagecraft(&["status", "--json"]).success().json();
    assert_eq!(json["environments"][3]["drift"], true);
    assert_eq!(json["environments"][3]["version"], serde_json::Value::Null);
    let text = repo.stagecraft(&["status"]).success();
    assert!(text.stdout.contains("live is in drift"), "{text}");
    // Reverting it by hand gives back v1's tree: version by tree equality.
    repo.git(&["revert", "--no-edit", "HEAD"]);
    let json = repo.stagecraft(&["status", "--json"]).success().json();
    assert_eq!(json["environments"][3]["drift"], false);
    assert_eq!(json["environments"][3]["version"], 1);
}

#[test]
fn a_repository_missing_a_branch_or_v1_is_refused() {
    let repo = TestRepo::from_example();
    repo.git(&["branch", "-D", "pre-release"]);
    insta::assert_snapshot!(repo.stagecraft(&["status"]), @r#"
    ------- stderr -------
    error: environment branch `pre-release` is missing
      the chain is draft → sandbox → pre-release → live
    hint: every environment of the chain (draft → sandbox → pre-release → live) needs its branch; fetch it or recreate it from `v1`
    [exit status: 1]
    "#);
    repo.git(&["tag", "-d", "v1"]);
    insta::assert_snapshot!(repo.stagecraft(&["status"]), @r#"
    ------- stderr -------
    error: $TMP/repo is not a stagecraft repository: it has no tag v1 (the initial version)
    hint: create a config repository with `stagecraft init`, or point `--repo` at one
    [exit status: 1]
    "#);
}

#[test]
fn outside_a_repository_status_says_so() {
    let env = TestEnv::new();
    insta::assert_snapshot!(env.stagecraft_in(env.path(), &["status"]), @r#"
    ------- stderr -------
    error: $TMP is not a git repository
    hint: run stagecraft inside a config repository, pass `--repo PATH`, or create one with `stagecraft init`
    [exit status: 1]
    "#);
}

#[test]
fn reftable_and_sha256_repositories_are_refused_with_a_hint() {
    let env = TestEnv::new();
    if !crate::common::git_can(
        &env,
        &["init", "-q", "--ref-format=reftable", "reftable"],
        "git with reftable (2.45 or later)",
    ) {
        return;
    }
    insta::assert_snapshot!(env.stagecraft_in(env.path(), &["--repo", "reftable", "status"]), @"
    ------- stderr -------
    error: $TMP/reftable uses the reftable ref format, which stagecraft cannot open
    hint: convert it with `git -C $TMP/reftable refs migrate --ref-format=files`, then run stagecraft again
    [exit status: 1]
    ");
    env.git_in(env.path(), &["init", "-q", "--object-format=sha256", "sha"]);
    let run = env.stagecraft_in(&env.path().join("sha"), &["validate"]);
    assert_eq!(run.code, 1);
    assert!(run.stderr.contains("uses SHA-256 object ids, which stagecraft cannot open"), "{run}");
}

#[test]
fn issue_13_status_says_what_a_new_user_needs_to_know() {
    let repo = TestRepo::from_example();
    // Uncommitted edits in the checked-out draft are not in the draft.
    std::fs::write(repo.root.join("assistants/support-bot/instructions.md"), "Be brief.\n").unwrap();
    std::fs::write(repo.root.join("NOTES.md"), "notes\n").unwrap();
    let run = repo.stagecraft(&["status"]).success();
    assert!(
        run.stdout.contains("2 files changed in the work tree are not in the draft; commit them, or compare with `stagecraft diff sandbox .`"),
        "{run}"
    );
    assert_eq!(repo.stagecraft(&["status", "--json"]).success().json()["uncommitted_files"], 2);
    repo.git(&["add", "-A"]);
    repo.git(&["commit", "-qm", "brief"]);
    assert!(!repo.stagecraft(&["status"]).success().stdout.contains("work tree"));
    // A merge made outside stagecraft leaves sandbox in drift until it is recorded.
    repo.git(&["checkout", "-q", "sandbox"]);
    repo.git(&["merge", "-q", "--no-ff", "-m", "Merge pull request #9", "draft"]);
    repo.git(&["checkout", "-q", "draft"]);
    let drift = repo.stagecraft(&["status"]).success();
    assert!(
        drift.stdout.contains("the next write, or the daemon, records a valid merge there as the next version"),
        "{drift}"
    );
    // A fresh clone has the environment branches on the remote only.
    let clone = repo.env.path().join("clone");
    repo.env.git_in(repo.env.path(), &["clone", "-q", repo.root.to_str().unwrap(), "clone"]);
    let fresh = repo.env.stagecraft_in(&clone, &["status"]);
    assert_eq!(fresh.code, 1, "{fresh}");
    assert!(fresh.stderr.contains("run the command with `--remote origin`"), "{fresh}");
    repo.env.stagecraft_in(&clone, &["--remote", "origin", "status"]).success();
}

#[test]
fn the_version_cache_follows_tags_added_by_hand_and_packed() {
    let repo = TestRepo::from_example();
    let path = "assistants/support-bot/assistant.toml";
    let text = std::fs::read_to_string(repo.root.join(path)).unwrap();
    repo.commit_file(path, &text.replace("temperature = 0.3", "temperature = 0.5"));
    repo.stagecraft(&["publish"]).success();
    let version_of =
        |env: usize| repo.stagecraft(&["status", "--json"]).success().json()["environments"][env]["version"].clone();
    assert_eq!(version_of(1), 2);
    repo.git(&["pack-refs", "--all"]);
    assert_eq!(version_of(1), 2, "after the tags were packed");
    // A commit on live that is no version (drift), then a tag made by hand on it.
    let draft_tree = repo.git(&["rev-parse", "draft^{tree}"]);
    repo.commit_file(path, &text.replace("temperature = 0.3", "temperature = 0.7"));
    let tree = repo.git(&["rev-parse", "draft^{tree}"]);
    assert_ne!(tree, draft_tree);
    let live = repo.git(&["rev-parse", "live"]);
    let commit = repo.git(&["commit-tree", tree.trim(), "-p", live.trim(), "-m", "by hand"]);
    repo.git(&["update-ref", "refs/heads/live", commit.trim(), live.trim()]);
    assert_eq!(version_of(3), serde_json::Value::Null, "drift");
    repo.git(&["tag", "-a", "v9", commit.trim(), "-m", "tagged by hand"]);
    assert_eq!(version_of(3), 9, "a loose tag is seen");
    repo.git(&["pack-refs", "--all"]);
    assert_eq!(version_of(3), 9, "and once packed");
    assert!(repo.root.join(".git/stagecraft/version-trees").exists());
}
