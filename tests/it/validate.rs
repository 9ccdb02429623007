//! `stagecraft validate`: every rule on its fixture, refs and directories, bad input.

use crate::common::{TestEnv, TestRepo, fixtures};

/// One broken tree per rule in fixtures/invalid/: the exact messages, as people and as
/// JSON see them.
#[test]
fn every_invalid_fixture_reports_its_rule() {
    let env = TestEnv::new();
    let root = fixtures().join("invalid");
    let mut cases: Vec<_> =
        std::fs::read_dir(&root).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
    cases.sort();
    assert!(cases.len() >= 13, "{cases:?}");
    for case in cases {
        let path = root.join(&case);
        let human = env.stagecraft_in(&root, &["validate", &format!("./{case}")]);
        assert_eq!(human.code, 1, "{case}: {human}");
        assert!(human.stdout.is_empty(), "{case}: {human}");
        insta::assert_snapshot!(format!("invalid-{case}"), human.to_string());
        let json = env.stagecraft_in(&root, &["validate", "--json", path.to_str().unwrap()]);
        assert_eq!(json.code, 1);
        let value = json.json();
        assert_eq!(value["error"]["code"], "validation_failed", "{case}");
        insta::assert_json_snapshot!(format!("invalid-{case}-json"), value["error"]["details"]);
    }
}

#[test]
fn the_example_repo_validates_clean() {
    let env = TestEnv::new();
    let run = env.stagecraft_in(env.path(), &["validate", crate::common::example_repo().to_str().unwrap()]).success();
    insta::assert_snapshot!(run.stdout.replace(crate::common::example_repo().to_str().unwrap(), "example-repo"), @"example-repo is valid: 2 assistants (restaurant-booking, support-bot), 6 knowledge sources, 7 tools, 6 guardrails, 6 regression cases, 4 channel bindings");
}

#[test]
fn validate_reads_refs_versions_and_commits() {
    let repo = TestRepo::from_example();
    insta::assert_snapshot!(repo.stagecraft(&["validate"]), @"
    draft (d6a7760) is valid: 2 assistants (restaurant-booking, support-bot), 6 knowledge sources, 7 tools, 6 guardrails, 6 regression cases, 4 channel bindings
    [exit status: 0]
    ");
    for target in ["live", "v1", "HEAD", "draft~0"] {
        repo.stagecraft(&["validate", target]).success();
    }
    let json = repo.stagecraft(&["validate", "--json", "v1"]).success().json();
    assert_eq!(json["valid"], true);
    assert_eq!(json["tools"], 7);
}

#[test]
fn an_invalid_draft_commit_is_reported_with_its_positions() {
    let repo = TestRepo::from_example();
    repo.commit_file(
        "assistants/support-bot/tools/lookup_order.toml",
        "description = \"x\"\n[http]\nmethod = \"FETCH\"\nurl = \"https://x.example\"\n",
    );
    let run = repo.stagecraft(&["validate"]);
    insta::assert_snapshot!(run, @r#"
    ------- stderr -------
    error: draft (2a4352a) does not validate: 1 error
      assistants/support-bot/tools/lookup_order.toml:3:10: `method` is `FETCH`, which is not one of GET, POST, PUT, PATCH, DELETE
         |
       3 | method = "FETCH"
         |          ^^^^^^^
      hint: the methods allowed here are: `GET`, `POST`, `PUT`, `PATCH`, `DELETE`
    hint: fix the errors above, then validate again with `stagecraft validate`
    [exit status: 1]
    "#);
    // The work tree is not what validate reads: the commit is.
    repo.stagecraft(&["validate", "v1"]).success();
}

#[test]
fn an_unknown_ref_names_what_exists() {
    let repo = TestRepo::from_example();
    insta::assert_snapshot!(repo.stagecraft(&["validate", "production"]), @r#"
    ------- stderr -------
    error: no environment, version, ref, commit or directory `production`
    hint: the environments are draft → sandbox → pre-release → live; the latest version is v1
    [exit status: 1]
    "#);
    insta::assert_snapshot!(repo.stagecraft(&["validate", "v7"]), @r#"
    ------- stderr -------
    error: no version `v7`
    hint: the latest version is v1; `stagecraft history` lists them
    [exit status: 1]
    "#);
    let json = repo.stagecraft(&["--json", "validate", "v7"]).json();
    assert_eq!(
        json,
        serde_json::json!({"error": {"code": "not_found", "message": "no version `v7`", "details": [], "hint": "the latest version is v1; `stagecraft history` lists them", "retryable": false}})
    );
}

#[test]
fn a_missing_directory_is_not_found() {
    let env = TestEnv::new();
    let run = env.stagecraft_in(env.path(), &["validate", "./nowhere"]);
    insta::assert_snapshot!(run, @r#"
    ------- stderr -------
    error: no directory `./nowhere`
    hint: give the path of a directory holding a config tree
    [exit status: 1]
    "#);
}

#[test]
fn a_huge_instructions_file_is_refused_by_its_size_not_read() {
    let repo = TestRepo::from_example();
    let path = repo.root.join("assistants/support-bot/instructions.md");
    let file = std::fs::File::create(&path).unwrap();
    file.set_len(50 * 1024 * 1024).unwrap();
    drop(file);
    let run = repo.stagecraft(&["validate", "."]);
    insta::assert_snapshot!(run, @r#"
    ------- stderr -------
    error: . does not validate: 1 error
      assistants/support-bot/instructions.md: file is 50 MiB, over the limit of 4 MiB
      hint: split the content or move it out of the repository
    hint: fix the errors above, then validate again with `stagecraft validate`
    [exit status: 1]
    "#);
    repo.git(&["add", "-A"]);
    repo.git(&["commit", "-q", "-m", "huge"]);
    let run = repo.stagecraft(&["validate", "draft"]);
    assert_eq!(run.code, 1);
    assert!(run.stderr.contains("instructions.md: file is 50 MiB, over the limit of 4 MiB"), "{run}");
}

#[test]
fn a_toml_file_that_is_not_utf8_is_reported_at_its_line() {
    let repo = TestRepo::from_example();
    std::fs::write(
        repo.root.join("assistants/support-bot/knowledge/store-hours.toml"),
        b"title = \"Hours\"\nkind = \"text\"\ntext = \"caf\xe9\"\n",
    )
    .unwrap();
    let run = repo.stagecraft(&["validate", "."]);
    insta::assert_snapshot!(run, @"
    ------- stderr -------
    error: . does not validate: 1 error
      assistants/support-bot/knowledge/store-hours.toml:3:12: not valid UTF-8 (byte 0xe9 at offset 41)
      hint: save the file as UTF-8
    hint: fix the errors above, then validate again with `stagecraft validate`
    [exit status: 1]
    ");
}

#[test]
fn a_directory_validates_outside_any_repository_with_a_given_chain() {
    let env = TestEnv::new();
    let tree = env.path().join("tree");
    crate::load::copy_tree(&crate::common::example_repo(), &tree);
    // The example binds numbers in four environments; a two-environment chain refuses them.
    let run = env.stagecraft_in(env.path(), &["validate", "./tree", "--environments", "staging,production"]);
    assert_eq!(run.code, 1, "{run}");
    assert!(run.stderr.contains("environment `draft` is not in the chain"), "{run}");
    assert!(run.stderr.contains("hint: use an environment of the chain: staging → production"), "{run}");
    env.stagecraft_in(env.path(), &["validate", "./tree"]).success();
}

/// Runs git with `input` on its standard input, in the repository.
fn git_with_input(repo: &TestRepo, args: &[&str], input: &str) -> String {
    use std::io::Write;
    let mut child = repo
        .env
        .command("git", &repo.root)
        .args(args)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(input.as_bytes()).unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(output.status.success(), "git {args:?}: {}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8(output.stdout).unwrap().trim().to_string()
}

#[test]
fn issue_13_unsafe_tree_entries_are_refused_anywhere_and_nothing_is_published() {
    let repo = TestRepo::from_example();
    let blob = git_with_input(&repo, &["hash-object", "-w", "--stdin"], "x\n");
    let top = repo.git(&["ls-tree", "draft"]).trim_end().to_string();
    for (name, mode, expected) in [
        ("..", "100644", "`..` is not a safe name for a file or directory: it is a path step, not a name"),
        (".GIT", "100644", "`.GIT` is not a safe name for a file or directory: it is git's own directory"),
        ("a\\b", "100644", "holds a backslash"),
        (
            "bell\u{7}",
            "100644",
            "`bell\\u{7}` is not a safe name for a file or directory: it holds a control character",
        ),
        ("link", "120000", "link: a symbolic link is not allowed in a config tree"),
    ] {
        let tree = git_with_input(&repo, &["mktree"], &format!("{top}\n{mode} blob {blob}\t{name}\n"));
        let draft = repo.git(&["rev-parse", "draft"]);
        let commit = repo.git(&["commit-tree", &tree, "-p", draft.trim(), "-m", "an unsafe entry"]).trim().to_string();
        repo.git(&["update-ref", "refs/heads/unsafe", commit.trim()]);
        let run = repo.stagecraft(&["validate", &commit]);
        assert_eq!(run.code, 1, "{name:?}: {run}");
        assert!(run.stderr.contains(expected), "{name:?}: {run}");
        assert!(run.stderr.contains("hint: "), "{name:?}: {run}");
    }
    // On the draft itself: the publish is refused and nothing is written.
    let tree = git_with_input(&repo, &["mktree"], &format!("{top}\n100644 blob {blob}\t..\n"));
    let draft = repo.git(&["rev-parse", "draft"]);
    let commit = repo.git(&["commit-tree", &tree, "-p", draft.trim(), "-m", "dot dot"]);
    repo.git(&["update-ref", "refs/heads/draft", commit.trim(), draft.trim()]);
    let refused = repo.stagecraft(&["publish"]);
    assert_eq!(refused.code, 1, "{refused}");
    assert!(refused.stderr.contains("`..` is not a safe name"), "{refused}");
    assert_eq!(repo.git(&["tag", "--list", "v*"]), "v1\n");
}
