//! `stagecraft init`: the initial commit on every branch, checked with git.

use crate::common::{TestEnv, example_repo, fixtures};

#[test]
fn init_from_a_tree_writes_v1_on_every_branch() {
    let env = TestEnv::new();
    let run = env.stagecraft_in(env.path(), &["init", "repo", "--from", example_repo().to_str().unwrap()]);
    insta::assert_snapshot!(run, @"
    initialized config repository $TMP/repo at v1 (d6a7760): 2 assistants (restaurant-booking, support-bot)
    environments: draft → sandbox → pre-release → live (protected: live)
    [exit status: 0]
    ");
    let repo = env.path().join("repo");
    let git = |args: &[&str]| env.git_in(&repo, args);
    let commit = git(&["rev-parse", "v1^{commit}"]);
    for branch in ["draft", "sandbox", "pre-release", "live"] {
        assert_eq!(git(&["rev-parse", branch]), commit, "{branch}");
    }
    assert_eq!(git(&["symbolic-ref", "HEAD"]), "refs/heads/draft\n");
    assert_eq!(git(&["cat-file", "-t", "v1"]), "tag\n", "v1 is an annotated tag");
    assert_eq!(git(&["tag", "-l", "--format=%(contents)", "v1"]).trim(), "initial version");
    assert_eq!(git(&["log", "--format=%an <%ae> %at", "-1", "v1"]), "Test User <test@example.com> 1767225660\n");
    insta::assert_snapshot!(git(&["log", "-1", "--format=%(trailers)", "draft"]), @r#"
    Stagecraft-Action: init
    Stagecraft-Actor: Test User <test@example.com>
    Stagecraft-Version: 1
    Stagecraft-Chain: draft sandbox pre-release live
    Stagecraft-Protected: live
    Stagecraft-Holds:
    "#);
    assert_eq!(git(&["log", "-1", "--format=%(trailers:key=Stagecraft-Version,valueonly)", "live"]).trim(), "1");
    // The tree is exactly the source's files, and the draft is checked out, clean.
    assert_eq!(git(&["status", "--porcelain"]), "");
    assert!(repo.join("assistants/support-bot/instructions.md").is_file());
    let files = git(&["ls-tree", "-r", "--name-only", "draft"]);
    assert!(files.contains("assistants/restaurant-booking/files/menu.md\n"), "{files}");
    assert_eq!(git(&["rev-list", "--count", "--all"]), "1\n");
}

#[test]
fn init_with_a_custom_chain_bare() {
    let env = TestEnv::new();
    let run = env
        .stagecraft_in(
            env.path(),
            &[
                "init",
                "srv.git",
                "--bare",
                "--environments",
                "edit,staging,production",
                "--protected",
                "staging,production",
                "--json",
            ],
        )
        .success();
    let json = run.json();
    assert_eq!(json["chain"], serde_json::json!(["edit", "staging", "production"]));
    assert_eq!(json["protected"], serde_json::json!(["staging", "production"]));
    assert_eq!(json["bare"], true);
    let repo = env.path().join("srv.git");
    assert_eq!(env.git_in(&repo, &["rev-parse", "--is-bare-repository"]), "true\n");
    assert_eq!(
        env.git_in(&repo, &["for-each-ref", "--format=%(refname)"]),
        "refs/heads/edit\nrefs/heads/production\nrefs/heads/staging\nrefs/tags/v1\n"
    );
    assert_eq!(env.git_in(&repo, &["ls-tree", "--name-only", "edit"]), "README.md\nchannels.toml\n");
    assert_eq!(
        env.git_in(&repo, &["log", "-1", "--format=%(trailers:key=Stagecraft-Chain,valueonly)", "production"]).trim(),
        "edit staging production"
    );
    // Every later command reads the chain from v1.
    let status = env.stagecraft_in(&repo, &["status", "--json"]).success().json();
    let names: Vec<&str> =
        status["environments"].as_array().unwrap().iter().map(|e| e["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["edit", "staging", "production"]);
    assert_eq!(status["environments"][1]["protected"], true);
}

#[test]
fn init_refuses_a_non_empty_directory_and_an_existing_repository() {
    let env = TestEnv::new();
    std::fs::create_dir(env.path().join("full")).unwrap();
    std::fs::write(env.path().join("full/keep.txt"), "mine").unwrap();
    insta::assert_snapshot!(env.stagecraft_in(env.path(), &["init", "full"]), @r#"
    ------- stderr -------
    error: cannot init in $TMP/full: the directory is not empty
    hint: choose a new or empty directory: `stagecraft init DIR`
    [exit status: 2]
    "#);
    assert_eq!(std::fs::read_to_string(env.path().join("full/keep.txt")).unwrap(), "mine");
    assert!(!env.path().join("full/.git").exists());

    env.stagecraft_in(env.path(), &["init", "repo"]).success();
    let again = env.stagecraft_in(env.path(), &["init", "repo"]);
    assert_eq!(again.code, 2);
    assert!(again.stderr.contains("it is already a git repository"), "{again}");
}

#[test]
fn init_from_an_invalid_tree_lists_every_error_and_leaves_nothing() {
    let env = TestEnv::new();
    let from = fixtures().join("invalid/several-errors");
    let run = env.stagecraft_in(env.path(), &["init", "repo", "--from", from.to_str().unwrap()]);
    assert_eq!(run.code, 1, "{run}");
    assert!(run.stderr.starts_with("error: --from "), "{run}");
    assert!(run.stderr.contains("does not validate: 4 errors"), "{run}");
    assert!(!env.path().join("repo").exists(), "no repository is left behind");

    // An empty directory given by the user stays, empty.
    std::fs::create_dir(env.path().join("empty")).unwrap();
    let run = env.stagecraft_in(env.path(), &["init", "empty", "--from", from.to_str().unwrap()]);
    assert_eq!(run.code, 1);
    assert_eq!(std::fs::read_dir(env.path().join("empty")).unwrap().count(), 0);
}

#[test]
fn init_without_an_identity_says_how_to_set_one() {
    let env = TestEnv::new();
    let output = env
        .command(env!("CARGO_BIN_EXE_stagecraft"), env.path())
        .args(["init", "repo"])
        .env_remove("GIT_AUTHOR_NAME")
        .env_remove("GIT_AUTHOR_EMAIL")
        .env_remove("GIT_COMMITTER_NAME")
        .env_remove("GIT_COMMITTER_EMAIL")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8(output.stderr).unwrap();
    insta::assert_snapshot!(stderr, @r#"
    error: no identity to write commits with
    hint: pass `--author "Name <email>"`, set GIT_AUTHOR_NAME and GIT_AUTHOR_EMAIL, or run `git config --global user.name "Name"` and `git config --global user.email you@example.com`
    "#);
    assert!(!env.path().join("repo").exists());
    // --author is enough.
    let output = env
        .command(env!("CARGO_BIN_EXE_stagecraft"), env.path())
        .args(["init", "repo", "--author", "Ada <ada@example.com>"])
        .env_remove("GIT_AUTHOR_NAME")
        .env_remove("GIT_AUTHOR_EMAIL")
        .output()
        .unwrap();
    assert!(output.status.success());
    assert_eq!(env.git_in(&env.path().join("repo"), &["log", "-1", "--format=%an <%ae>"]), "Ada <ada@example.com>\n");
}

#[test]
fn init_refuses_a_bad_chain() {
    let env = TestEnv::new();
    let run = env.stagecraft_in(env.path(), &["init", "repo", "--environments", "only"]);
    insta::assert_snapshot!(run, @r#"
    ------- stderr -------
    error: the environment chain needs at least two environments, got 1
    [exit status: 2]
    "#);
    let run = env.stagecraft_in(env.path(), &["init", "repo", "--environments", "a,b", "--protected", "c"]);
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("protected environment `c` is not in the chain (a, b)"), "{run}");
    let run = env.stagecraft_in(env.path(), &["init", "repo", "--environments", "Draft,Live"]);
    assert_eq!(run.code, 2);
    assert!(!env.path().join("repo").exists());
}
