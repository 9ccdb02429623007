//! publish, discard, promote, rollback with holds, restore, history and show, on real
//! repositories, with git itself as the observer.

use crate::common::TestRepo;

/// Commits a change of support-bot's temperature on the draft.
fn edit_temperature(repo: &TestRepo, value: &str) {
    let path = "assistants/support-bot/assistant.toml";
    let text = std::fs::read_to_string(repo.root.join(path)).unwrap();
    let line = text.lines().find(|l| l.starts_with("temperature")).unwrap().to_string();
    repo.commit_file(path, &text.replace(&line, &format!("temperature = {value}")));
}

fn trailers(repo: &TestRepo, rev: &str) -> String {
    repo.git(&["log", "-1", "--format=%(trailers:only,unfold)", rev])
}

#[test]
fn publish_writes_a_merge_commit_its_trailers_and_the_tag() {
    let repo = TestRepo::from_example();
    insta::assert_snapshot!(repo.stagecraft(&["publish"]), @"
    ------- stderr -------
    error: nothing to publish: draft equals sandbox
    hint: commit a change to draft first, then publish
    [exit status: 3]
    ");
    edit_temperature(&repo, "0.5");
    let sandbox_before = repo.git(&["rev-parse", "sandbox"]);
    let draft = repo.git(&["rev-parse", "draft"]);
    let dry = repo.stagecraft(&["publish", "--dry-run", "-m", "warmer"]).success();
    assert!(dry.stdout.starts_with("would publish v2 to sandbox: support-bot: model.temperature 0.3 → 0.5"), "{dry}");
    assert_eq!(repo.git(&["rev-parse", "sandbox"]), sandbox_before, "a dry run writes nothing");
    assert_eq!(repo.git(&["tag"]), "v1\n");

    let run = repo.stagecraft(&["publish", "-m", "warmer answers"]).success();
    assert!(run.stdout.starts_with("published v2 to sandbox ("), "{run}");
    assert_eq!(repo.git(&["rev-parse", "sandbox^1"]), sandbox_before);
    assert_eq!(repo.git(&["rev-parse", "sandbox^2"]), draft);
    assert_eq!(repo.git(&["rev-parse", "sandbox^{tree}"]), repo.git(&["rev-parse", "draft^{tree}"]));
    assert_eq!(repo.git(&["rev-parse", "v2^{commit}"]), repo.git(&["rev-parse", "sandbox"]));
    assert_eq!(repo.git(&["cat-file", "-t", "v2"]), "tag\n");
    assert_eq!(
        repo.git(&["tag", "-l", "--format=%(contents)", "v2"]).trim(),
        "warmer answers\n\nsupport-bot: model.temperature 0.3 → 0.5"
    );
    insta::assert_snapshot!(trailers(&repo, "sandbox"), @"
    Stagecraft-Action: publish
    Stagecraft-Environment: sandbox
    Stagecraft-Actor: Test User <test@example.com>
    Stagecraft-Version: 2
    Stagecraft-Holds:
    ");
    assert!(
        repo.git(&["log", "-1", "--format=%B", "sandbox"])
            .contains("\nSummary: support-bot: model.temperature 0.3 → 0.5\n")
    );
    // Publishing again: nothing to publish, exit 3.
    let again = repo.stagecraft(&["publish"]);
    assert_eq!(again.code, 3, "{again}");
    assert_eq!(repo.git(&["tag"]), "v1\nv2\n");
}

#[test]
fn publish_refuses_an_invalid_draft_with_every_error() {
    let repo = TestRepo::from_example();
    repo.commit_file("assistants/support-bot/guardrails/limit.toml", "kind = \"max_turns\"\nmax_turns = 0\n");
    let run = repo.stagecraft(&["publish", "--json"]);
    assert_eq!(run.code, 1);
    assert_eq!(run.json()["error"]["code"], "validation_failed");
    assert_eq!(repo.git(&["tag"]), "v1\n");
}

#[test]
fn discard_resets_the_draft_and_its_work_tree() {
    let repo = TestRepo::from_example();
    assert_eq!(repo.stagecraft(&["discard"]).code, 3);
    edit_temperature(&repo, "0.9");
    let old_draft = repo.git(&["rev-parse", "draft"]);
    std::fs::write(repo.root.join("assistants/support-bot/instructions.md"), "uncommitted\n").unwrap();
    let dirty = repo.stagecraft(&["discard"]);
    insta::assert_snapshot!(dirty, @"
    ------- stderr -------
    error: the draft's work tree has uncommitted changes
      assistants/support-bot/instructions.md
    hint: commit or stash your changes first (`git stash`), then run the command again
    [exit status: 1]
    ");
    assert_eq!(repo.git(&["rev-parse", "draft"]), old_draft);
    repo.git(&["checkout", "--", "."]);
    let run = repo.stagecraft(&["discard", "-m", "start over"]).success();
    assert!(run.stdout.starts_with("discarded the changes of draft ("), "{run}");
    assert_eq!(repo.git(&["rev-parse", "draft^{tree}"]), repo.git(&["rev-parse", "sandbox^{tree}"]));
    assert_eq!(repo.git(&["rev-parse", "draft^"]), old_draft, "a new commit, history kept");
    assert!(trailers(&repo, "draft").contains("Stagecraft-Action: discard\nStagecraft-Environment: draft\n"));
    assert!(trailers(&repo, "draft").contains("Stagecraft-Source: 1\n"));
    assert_eq!(repo.git(&["status", "--porcelain"]), "", "the work tree follows");
    assert!(
        std::fs::read_to_string(repo.root.join("assistants/support-bot/assistant.toml"))
            .unwrap()
            .contains("temperature = 0.3")
    );
}

#[test]
fn promote_moves_a_version_one_step_with_a_promotion_commit() {
    let repo = TestRepo::from_example();
    edit_temperature(&repo, "0.5");
    repo.stagecraft(&["publish"]).success();
    let run = repo.stagecraft(&["promote", "v2", "--to", "live", "--yes"]);
    assert_eq!(run.code, 1);
    assert!(run.stderr.contains("error: v2 was never deployed to pre-release"), "{run}");
    let into_sandbox = repo.stagecraft(&["promote", "v1", "--to", "sandbox"]);
    assert!(into_sandbox.stderr.contains("versions enter sandbox by publish"), "{into_sandbox}");
    let pre_release_before = repo.git(&["rev-parse", "pre-release"]);
    repo.stagecraft(&["promote", "sandbox", "--to", "pre-release", "-m", "UAT"]).success();
    assert_eq!(repo.git(&["rev-parse", "pre-release^1"]), pre_release_before, "first parent: the old tip");
    assert_eq!(repo.git(&["rev-parse", "pre-release^2"]), repo.git(&["rev-parse", "v2^{commit}"]));
    assert!(
        trailers(&repo, "pre-release").starts_with("Stagecraft-Action: promote\nStagecraft-Environment: pre-release\n")
    );
    assert_eq!(repo.stagecraft(&["promote", "v2", "--to", "pre-release"]).code, 3, "already at v2");
    // live is protected: without --yes and off a terminal, exit 2 and nothing written.
    let live_before = repo.git(&["rev-parse", "live"]);
    let refused = repo.stagecraft(&["promote", "v2", "--to", "live"]);
    insta::assert_snapshot!(refused, @"
    ------- stderr -------
    error: live is protected: confirm to write to it
    hint: pass --yes to confirm
    [exit status: 2]
    ");
    assert_eq!(repo.git(&["rev-parse", "live"]), live_before);
    repo.stagecraft(&["promote", "v2", "--to", "live", "--yes"]).success();
    let status = repo.stagecraft(&["status", "--json"]).success().json();
    let versions: Vec<_> = status["environments"].as_array().unwrap().iter().map(|e| e["version"].clone()).collect();
    assert_eq!(versions, [serde_json::Value::Null, 2.into(), 2.into(), 2.into()]);
}

#[test]
fn rollback_holds_the_version_it_left_and_promote_respects_the_hold() {
    let repo = TestRepo::from_example();
    edit_temperature(&repo, "0.5");
    repo.stagecraft(&["publish"]).success();
    repo.stagecraft(&["promote", "v2", "--to", "pre-release"]).success();
    let tip = repo.git(&["rev-parse", "pre-release"]);
    let run = repo.stagecraft(&["rollback", "pre-release", "-m", "bad answers"]).success();
    assert!(run.stdout.starts_with("rolled back pre-release from v2 to v1 ("), "{run}");
    assert_eq!(repo.git(&["rev-parse", "pre-release^"]), tip, "the old tip stays an ancestor");
    assert_eq!(repo.git(&["rev-parse", "pre-release^{tree}"]), repo.git(&["rev-parse", "v1^{tree}"]));
    let trailer = trailers(&repo, "pre-release");
    assert!(
        trailer.contains("Stagecraft-Action: rollback\n")
            && trailer.contains("Stagecraft-Version: 1\n")
            && trailer.contains("Stagecraft-Holds: 2\n"),
        "{trailer}"
    );
    let status = repo.stagecraft(&["status", "--json"]).success().json();
    assert_eq!(status["environments"][2]["holds"], serde_json::json!([2]));
    assert_eq!(status["environments"][2]["version"], 1);
    // Promoting v2 again is refused while it is on hold; --force needs -m; with it, the hold is lifted.
    let held = repo.stagecraft(&["promote", "v2", "--to", "pre-release"]);
    insta::assert_snapshot!(held, @r#"
    ------- stderr -------
    error: v2 is on hold in pre-release
    hint: v2 was rolled back in pre-release; pass --force -m "why" to promote it again (this takes it off hold)
    [exit status: 1]
    "#);
    assert_eq!(repo.stagecraft(&["promote", "v2", "--to", "pre-release", "--force"]).code, 2);
    repo.stagecraft(&["promote", "v2", "--to", "pre-release", "--force", "-m", "fixed the prompt upstream"]).success();
    let trailer = trailers(&repo, "pre-release");
    assert!(trailer.contains("Stagecraft-Holds: \n") || trailer.contains("Stagecraft-Holds:\n"), "{trailer}");
    assert!(trailer.contains("Stagecraft-Force: fixed the prompt upstream\n"), "{trailer}");
    // No earlier version off hold: a clear not_found; --to must be deployed here.
    repo.stagecraft(&["rollback", "pre-release"]).success();
    let none = repo.stagecraft(&["rollback", "pre-release"]);
    assert_eq!(none.code, 1);
    assert!(none.stderr.contains("no earlier deployed version to roll back to in `pre-release`"), "{none}");
    let never = repo.stagecraft(&["rollback", "live", "--to", "v2", "--yes"]);
    assert!(never.stderr.contains("no deployed version `v2`"), "{never}");
}

#[test]
fn publishing_a_tree_equal_to_a_held_version_needs_force() {
    let repo = TestRepo::from_example();
    edit_temperature(&repo, "0.5");
    repo.stagecraft(&["publish"]).success();
    repo.stagecraft(&["rollback", "sandbox"]).success();
    // The draft still equals v2, which is on hold in sandbox.
    let run = repo.stagecraft(&["publish"]);
    assert_eq!(run.code, 1, "{run}");
    assert!(run.stderr.contains("error: v2 is on hold in sandbox"), "{run}");
    repo.stagecraft(&["publish", "--force", "-m", "it was fine after all"]).success();
    assert_eq!(repo.git(&["tag"]), "v1\nv2\nv3\n");
}

#[test]
fn restore_a_whole_version_or_one_assistant() {
    let repo = TestRepo::from_example();
    edit_temperature(&repo, "0.5");
    let channels = std::fs::read_to_string(repo.root.join("channels.toml")).unwrap();
    repo.commit_file("channels.toml", &channels.replace("+14155550140", "+14155550150"));
    repo.commit_file("assistants/restaurant-booking/instructions.md", "Short.\n");
    repo.stagecraft(&["publish"]).success();
    assert_eq!(repo.stagecraft(&["restore", "v2"]).code, 3, "the draft already equals v2");
    let preview = repo.stagecraft(&["restore", "v1", "--assistant", "restaurant-booking", "--preview"]).success();
    assert!(preview.stdout.contains("(dry run: nothing written)"), "{preview}");
    assert_eq!(repo.git(&["rev-parse", "draft"]), repo.git(&["rev-parse", "sandbox^2"]));
    repo.stagecraft(&["restore", "v1", "--assistant", "restaurant-booking"]).success();
    let restored_channels = repo.git(&["show", "draft:channels.toml"]);
    assert!(
        restored_channels.contains("+14155550140") && !restored_channels.contains("+14155550150"),
        "{restored_channels}"
    );
    assert_eq!(
        repo.git(&["rev-parse", "draft:assistants/restaurant-booking"]),
        repo.git(&["rev-parse", "v1:assistants/restaurant-booking"])
    );
    assert_eq!(
        repo.git(&["rev-parse", "draft:assistants/support-bot"]),
        repo.git(&["rev-parse", "v2:assistants/support-bot"]),
        "the other assistant keeps its changes"
    );
    assert!(trailers(&repo, "draft").contains("Stagecraft-Action: restore\nStagecraft-Environment: draft\n"));
    repo.stagecraft(&["restore", "v1"]).success();
    assert_eq!(repo.git(&["rev-parse", "draft^{tree}"]), repo.git(&["rev-parse", "v1^{tree}"]));
    assert_eq!(repo.git(&["status", "--porcelain"]), "");
    let unknown = repo.stagecraft(&["restore", "v1", "--assistant", "nope"]);
    assert!(unknown.stderr.contains("hint: the assistants are: restaurant-booking, support-bot"), "{unknown}");
    assert_eq!(repo.stagecraft(&["restore", "v9"]).code, 1);
}

#[test]
fn a_forge_merge_into_sandbox_is_tagged_by_the_next_publish() {
    let repo = TestRepo::from_example();
    // A pull request merged on the forge: a merge commit on sandbox without trailers.
    repo.git(&["checkout", "-q", "-b", "feature", "draft"]);
    repo.commit_file("assistants/support-bot/instructions.md", "Merged on the forge.\n");
    repo.git(&["checkout", "-q", "sandbox"]);
    repo.git(&["merge", "-q", "--no-ff", "-m", "Merge pull request #7", "feature"]);
    repo.git(&["checkout", "-q", "draft"]);
    edit_temperature(&repo, "0.5");
    let run = repo.stagecraft(&["publish"]).success();
    assert!(run.stdout.starts_with("tagged v2 ("), "{run}");
    assert!(run.stdout.contains("): merged into sandbox outside stagecraft\npublished v3 to sandbox"), "{run}");
    assert_eq!(repo.git(&["rev-parse", "v2^{commit}"]), repo.git(&["rev-parse", "sandbox^1"]));
    assert_eq!(repo.git(&["log", "-1", "--format=%an", "v2"]).trim(), "Test User");
}

#[test]
fn history_merges_every_environment_newest_first_with_pages() {
    let repo = TestRepo::from_example();
    edit_temperature(&repo, "0.5");
    repo.stagecraft(&["publish", "-m", "warmer"]).success();
    repo.stagecraft(&["promote", "v2", "--to", "pre-release"]).success();
    repo.stagecraft(&["rollback", "pre-release"]).success();
    let page = repo.stagecraft(&["history", "--json"]).success().json();
    let rows: Vec<String> = page["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            format!(
                "{} {} {} {}",
                e["action"].as_str().unwrap(),
                e["environment"].as_str().unwrap_or("-"),
                e["version"],
                e["holds"]
            )
        })
        .collect();
    assert_eq!(
        rows,
        [
            "rollback pre-release 1 [2]",
            "promote pre-release 2 []",
            "publish sandbox 2 []",
            "edit draft null null",
            "init - 1 []"
        ]
    );
    assert_eq!(page["next"], serde_json::Value::Null);
    let first = repo.stagecraft(&["history", "--limit", "2", "--json"]).success().json();
    assert_eq!(first["entries"].as_array().unwrap().len(), 2);
    let cursor = first["next"].as_str().unwrap().to_string();
    let second = repo.stagecraft(&["history", "--limit", "2", "--before", &cursor, "--json"]).success().json();
    assert_eq!(second["entries"][0]["action"], "publish");
    assert_eq!(second["entries"][1]["action"], "edit");
    let publishes = repo.stagecraft(&["history", "--action", "publish", "--json"]).success().json();
    assert_eq!(publishes["entries"].as_array().unwrap().len(), 1);
    assert_eq!(publishes["entries"][0]["description"], "warmer");
    let other = repo.stagecraft(&["history", "--assistant", "restaurant-booking", "--json"]).success().json();
    let actions: Vec<&str> =
        other["entries"].as_array().unwrap().iter().map(|e| e["action"].as_str().unwrap()).collect();
    assert_eq!(actions, ["init"]);
    let live = repo.stagecraft(&["history", "live", "--json"]).success().json();
    assert_eq!(live["entries"].as_array().unwrap().len(), 1);
    assert_eq!(repo.stagecraft(&["history", "--before", "garbage"]).code, 2);
    let show = repo.stagecraft(&["show", "v2", "--json"]).success().json();
    assert_eq!(show["deployed"], serde_json::json!(["sandbox"]));
    assert_eq!(show["on_hold"], serde_json::json!(["pre-release"]));
    assert_eq!(show["description"], "warmer");
}

#[test]
fn every_write_works_on_a_bare_repository() {
    let env = crate::common::TestEnv::new();
    env.stagecraft_in(
        env.path(),
        &["init", "srv.git", "--bare", "--from", crate::common::example_repo().to_str().unwrap()],
    )
    .success();
    let server = env.path().join("srv.git");
    env.git_in(env.path(), &["clone", "-q", "-b", "draft", "srv.git", "work"]);
    let work = env.path().join("work");
    let path = work.join("assistants/support-bot/instructions.md");
    std::fs::write(&path, "Be brief.\n").unwrap();
    env.git_in(&work, &["commit", "-q", "-am", "brief"]);
    env.git_in(&work, &["push", "-q", "origin", "draft"]);
    let run = |args: &[&str]| env.stagecraft_in(&server, args);
    run(&["publish", "-m", "brief"]).success();
    run(&["promote", "v2", "--to", "pre-release"]).success();
    run(&["rollback", "pre-release"]).success();
    run(&["revert", "v2"]).success();
    run(&["discard"]).success();
    run(&["restore", "v1"]).success();
    let history = run(&["history", "--json"]).success().json();
    let actions: Vec<&str> =
        history["entries"].as_array().unwrap().iter().map(|e| e["action"].as_str().unwrap()).collect();
    assert_eq!(actions, ["restore", "discard", "revert", "rollback", "promote", "publish", "edit", "init"]);
    assert_eq!(env.git_in(&server, &["rev-parse", "draft^{tree}"]), env.git_in(&server, &["rev-parse", "v1^{tree}"]));
}

#[test]
fn a_protected_second_environment_needs_a_confirmation_to_publish() {
    let env = crate::common::TestEnv::new();
    env.stagecraft_in(env.path(), &["init", "repo", "--environments", "draft,production", "--protected", "production"])
        .success();
    let repo = env.path().join("repo");
    std::fs::write(repo.join("README.md"), "Edited.\n").unwrap();
    env.git_in(&repo, &["commit", "-q", "-am", "edit"]);
    let refused = env.stagecraft_in(&repo, &["publish"]);
    assert_eq!(refused.code, 2, "{refused}");
    assert!(refused.stderr.contains("confirm"), "{refused}");
    assert_eq!(env.git_in(&repo, &["tag"]), "v1\n");
    env.stagecraft_in(&repo, &["publish", "--yes"]).success();
    assert_eq!(env.git_in(&repo, &["tag"]), "v1\nv2\n");
}

#[test]
fn merges_made_on_a_forge_have_history_entries() {
    let repo = TestRepo::from_example();
    repo.git(&["checkout", "-q", "-b", "feature", "draft"]);
    repo.commit_file("assistants/support-bot/instructions.md", "Merged on the forge.\n");
    repo.git(&["checkout", "-q", "live"]);
    repo.git(&["merge", "-q", "--no-ff", "-m", "Hotfix straight to live", "feature"]);
    repo.git(&["checkout", "-q", "draft"]);
    let page = repo.stagecraft(&["history", "live", "--json"]).success().json();
    let entry = &page["entries"][0];
    assert_eq!(entry["action"], "merge");
    assert_eq!(entry["drift"], true);
    assert_eq!(entry["version"], serde_json::Value::Null);
    assert_eq!(entry["description"], "Hotfix straight to live");
    assert_eq!(entry["summary"], "changed assistants/support-bot/instructions.md");
}

#[test]
fn pages_list_every_entry_once_even_when_commits_share_a_second() {
    let repo = TestRepo::from_example();
    let same_second = "@1767300000 +0000";
    let git = |args: &[&str]| {
        let output = repo
            .env
            .command("git", &repo.root)
            .args(args)
            .env("GIT_AUTHOR_DATE", same_second)
            .env("GIT_COMMITTER_DATE", same_second)
            .output()
            .unwrap();
        assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    };
    for n in 0..5 {
        std::fs::write(repo.root.join("assistants/support-bot/instructions.md"), format!("Edit {n}.\n")).unwrap();
        git(&["commit", "-q", "-am", &format!("edit {n}")]);
    }
    let publish = repo
        .env
        .command(env!("CARGO_BIN_EXE_stagecraft"), &repo.root)
        .args(["publish"])
        .env("GIT_AUTHOR_DATE", same_second)
        .env("GIT_COMMITTER_DATE", same_second)
        .output()
        .unwrap();
    assert!(publish.status.success());
    let all = repo.stagecraft(&["history", "--all", "--json"]).success().json();
    let expected: Vec<String> =
        all["entries"].as_array().unwrap().iter().map(|e| format!("{} {}", e["action"], e["id"])).collect();
    assert_eq!(expected.len(), 7, "5 edits, the publish, init: {expected:?}");
    let mut paged = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut args = vec!["history", "--limit", "2", "--json"];
        if let Some(cursor) = &cursor {
            args.extend(["--before", cursor.as_str()]);
        }
        let page = repo.stagecraft(&args).success().json();
        paged.extend(page["entries"].as_array().unwrap().iter().map(|e| format!("{} {}", e["action"], e["id"])));
        match page["next"].as_str() {
            Some(next) => cursor = Some(next.to_string()),
            None => break,
        }
    }
    assert_eq!(paged, expected);
}

#[test]
fn a_publish_whose_tag_is_missing_still_counts_as_its_version() {
    let repo = TestRepo::from_example();
    edit_temperature(&repo, "0.5");
    repo.stagecraft(&["publish"]).success();
    edit_temperature(&repo, "0.6");
    repo.stagecraft(&["publish"]).success();
    repo.stagecraft(&["rollback", "sandbox"]).success();
    edit_temperature(&repo, "0.7");
    repo.stagecraft(&["publish", "--force", "-m", "again"]).success();
    // As if the publish had been cut off before its tag.
    repo.git(&["tag", "-d", "v4"]);
    let show = repo.stagecraft(&["show", "v4", "--json"]).success().json();
    assert_eq!(show["deployed"], serde_json::json!(["sandbox"]));
    assert_eq!(repo.stagecraft(&["diff", "v2", "v4", "--exit-code"]).code, 1);
    assert_eq!(repo.stagecraft(&["status", "--json"]).success().json()["environments"][1]["version"], 4);
}

#[test]
fn an_untracked_file_in_the_way_refuses_a_draft_write() {
    let repo = TestRepo::from_example();
    repo.commit_file("NOTES.md", "published notes\n");
    repo.stagecraft(&["publish"]).success();
    repo.git(&["rm", "-q", "NOTES.md"]);
    repo.git(&["commit", "-q", "-m", "drop notes"]);
    std::fs::write(repo.root.join("NOTES.md"), "my precious untracked work\n").unwrap();
    let run = repo.stagecraft(&["restore", "v2"]);
    assert_eq!(run.code, 1, "{run}");
    assert!(run.stderr.contains("NOTES.md (untracked, would be overwritten)"), "{run}");
    assert_eq!(std::fs::read_to_string(repo.root.join("NOTES.md")).unwrap(), "my precious untracked work\n");
    // An untracked file elsewhere is no obstacle.
    std::fs::remove_file(repo.root.join("NOTES.md")).unwrap();
    std::fs::write(repo.root.join("scratch.txt"), "x").unwrap();
    repo.stagecraft(&["restore", "v2"]).success();
    assert_eq!(std::fs::read_to_string(repo.root.join("scratch.txt")).unwrap(), "x");
}

#[test]
fn a_forge_merge_on_sandbox_can_be_promoted_and_an_invalid_one_is_reported() {
    let repo = TestRepo::from_example();
    repo.git(&["checkout", "-q", "sandbox"]);
    repo.commit_file("README.md", "Merged on the forge.\n");
    repo.git(&["checkout", "-q", "draft"]);
    let run = repo.stagecraft(&["promote", "sandbox", "--to", "pre-release"]).success();
    assert!(
        run.stdout.contains("): merged into sandbox outside stagecraft\npromoted v2 from sandbox to pre-release"),
        "{run}"
    );
    // An invalid merge is reported and gets no number.
    repo.git(&["checkout", "-q", "sandbox"]);
    repo.commit_file("assistants/BAD/assistant.toml", "nme = 1\n");
    repo.git(&["checkout", "-q", "draft"]);
    edit_temperature(&repo, "0.5");
    let run = repo.stagecraft(&["publish"]).success();
    assert!(run.stdout.contains("merged into sandbox: it does not validate ("), "{run}");
    assert!(run.stdout.contains("published v3 to sandbox"), "{run}");
    assert_eq!(repo.git(&["tag"]), "v1\nv2\nv3\n");
}

#[test]
fn a_plan_applied_after_its_branch_moved_is_a_conflict_and_writes_nothing() {
    use stagecraft::identity::{Identity, Person, When};
    use stagecraft::ops::{WriteOptions, apply, publish, rollback};
    let repo = TestRepo::from_example();
    edit_temperature(&repo, "0.5");
    let store = stagecraft::store::Store::open(&repo.root).unwrap();
    let person = Person { name: "Ada".into(), email: "ada@example.com".into() };
    let when = When::from_timestamp("2026-02-01T00:00:00Z".parse().unwrap());
    let identity = Identity { author: person.clone(), author_time: when, committer: person, committer_time: when };
    // A plan is made (and shown, as the CLI would), then another publish wins meanwhile.
    let plan = publish::plan(&store, &identity, &WriteOptions::default()).unwrap();
    assert_eq!(plan.version.map(|v| v.to_string()), Some("v2".into()));
    repo.stagecraft(&["publish", "-m", "the other writer"]).success();
    let (sandbox, tags) = (repo.git(&["rev-parse", "sandbox"]), repo.git(&["tag", "--list", "v*"]));
    let error = apply::apply(&store, &identity, plan, true).unwrap_err();
    assert_eq!(error.code(), stagecraft::error::Code::Conflict, "{error}");
    assert_eq!((repo.git(&["rev-parse", "sandbox"]), repo.git(&["tag", "--list", "v*"])), (sandbox, tags));
    // The same for a rollback planned on a tip that then moved.
    let plan = rollback::plan(&store, &identity, "sandbox", None, &WriteOptions::default()).unwrap();
    edit_temperature(&repo, "0.6");
    repo.stagecraft(&["publish"]).success();
    let sandbox = repo.git(&["rev-parse", "sandbox"]);
    assert_eq!(apply::apply(&store, &identity, plan, true).unwrap_err().code(), stagecraft::error::Code::Conflict);
    assert_eq!(repo.git(&["rev-parse", "sandbox"]), sandbox, "nothing written");
}

#[test]
fn issue_13_a_rollback_onto_a_held_version_needs_force_and_says_it_lifts_the_hold() {
    let repo = TestRepo::from_example();
    edit_temperature(&repo, "0.5");
    repo.stagecraft(&["publish"]).success();
    edit_temperature(&repo, "0.6");
    repo.stagecraft(&["publish"]).success();
    repo.stagecraft(&["rollback", "sandbox"]).success();
    let tip = repo.git(&["rev-parse", "sandbox"]);
    // v3 is on hold in sandbox: going back to it is refused like its promotion.
    let held = repo.stagecraft(&["rollback", "sandbox", "--to", "v3"]);
    insta::assert_snapshot!(held, @r#"
    ------- stderr -------
    error: v3 is on hold in sandbox
    hint: v3 is on hold in sandbox; pass --force -m "why" to roll back to it anyway (this takes it off hold)
    [exit status: 1]
    "#);
    assert_eq!(repo.stagecraft(&["rollback", "sandbox", "--to", "v3", "--force"]).code, 2, "a force needs a reason");
    assert_eq!(repo.git(&["rev-parse", "sandbox"]), tip, "nothing written");
    let run = repo.stagecraft(&["rollback", "sandbox", "--to", "v3", "--force", "-m", "v2 is worse"]).success();
    assert!(run.stdout.starts_with("rolled sandbox forward from v2 to v3 ("), "{run}");
    assert!(run.stdout.trim_end().ends_with("; v2 on hold; v3 taken off hold"), "{run}");
    let trailer = trailers(&repo, "sandbox");
    assert!(
        trailer.contains("Stagecraft-Force: v2 is worse\n") && trailer.contains("Stagecraft-Holds: 2\n"),
        "{trailer}"
    );
    // JSON says it too: forward, and the hold lifted.
    repo.stagecraft(&["rollback", "sandbox", "--to", "v2", "--force", "-m", "back again"]).success();
    let json =
        repo.stagecraft(&["rollback", "sandbox", "--to", "v3", "--force", "-m", "v3", "--json"]).success().json();
    assert_eq!((json["forward"].as_bool(), json["released_hold"].as_bool()), (Some(true), Some(true)), "{json}");
}

#[test]
fn issue_13_a_rollback_that_would_change_nothing_is_nothing_to_do() {
    // live deployed v1, v2 and v4, and v4's tree is v2's.
    let repo = TestRepo::from_example();
    edit_temperature(&repo, "0.5");
    assert_eq!(repo.release_to("live"), "v2");
    edit_temperature(&repo, "0.6");
    repo.stagecraft(&["publish"]).success();
    edit_temperature(&repo, "0.5");
    assert_eq!(repo.release_to("live"), "v4");
    assert_eq!(repo.git(&["rev-parse", "v4^{tree}"]), repo.git(&["rev-parse", "v2^{tree}"]));
    let tip = repo.git(&["rev-parse", "live"]);
    let equal = repo.stagecraft(&["rollback", "live", "--to", "v2", "--yes"]);
    assert_eq!(equal.code, 3, "{equal}");
    assert!(
        equal.stderr.starts_with("error: nothing to roll back: live already has the configuration of v2"),
        "{equal}"
    );
    assert_eq!(repo.git(&["rev-parse", "live"]), tip, "nothing written");
    // The default skips v2 (same tree) and goes to v1.
    let dry = repo.stagecraft(&["rollback", "live", "--dry-run"]).success();
    assert!(dry.stdout.starts_with("would roll back live from v4 to v1: "), "{dry}");
    repo.stagecraft(&["rollback", "live", "--yes"]).success();
    assert_eq!(repo.git(&["rev-parse", "live^{tree}"]), repo.git(&["rev-parse", "v1^{tree}"]));
}

#[test]
fn issue_13_publish_after_a_reconciliation_says_what_it_tagged_before_nothing_to_publish() {
    let repo = TestRepo::from_example();
    // The draft merged into sandbox on the forge: sandbox now equals the draft.
    edit_temperature(&repo, "0.5");
    repo.git(&["checkout", "-q", "sandbox"]);
    repo.git(&["merge", "-q", "--no-ff", "-m", "Merge pull request #8", "draft"]);
    repo.git(&["checkout", "-q", "draft"]);
    let run = repo.stagecraft(&["publish"]);
    assert_eq!(run.code, 3, "{run}");
    let lines: Vec<&str> = run.stderr.lines().collect();
    assert!(
        lines[0].starts_with("tagged v2 (") && lines[0].ends_with("): merged into sandbox outside stagecraft"),
        "{run}"
    );
    assert_eq!(lines[1], "error: nothing to publish: draft equals sandbox", "{run}");
    assert_eq!(repo.git(&["tag", "--list", "v*"]), "v1\nv2\n");
    // JSON says it too (already tagged now: the second run has nothing to tell).
    let again = repo.stagecraft(&["publish", "--json"]);
    assert!(again.json()["error"].get("notes").is_none(), "{again}");
    repo.git(&["tag", "-d", "v2"]);
    let json = repo.stagecraft(&["publish", "--json"]).json();
    let notes = json["error"]["notes"].as_array().expect("notes");
    assert!(notes[0].as_str().unwrap().ends_with("merged into sandbox outside stagecraft"), "{json}");
    assert_eq!(json["error"]["code"], "nothing_to_do");
}

/// Runs stagecraft on a terminal (`script` gives it a pseudo-terminal) with `input` typed.
fn on_a_terminal(repo: &TestRepo, args: &str, input: &str) -> (i32, String) {
    use std::io::Write;
    let command = format!("{} {args}", env!("CARGO_BIN_EXE_stagecraft"));
    let mut child = repo
        .env
        .command("script", &repo.root)
        .args(["-qec", &command, "/dev/null"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("script(1), from util-linux");
    child.stdin.take().unwrap().write_all(input.as_bytes()).unwrap();
    let output = child.wait_with_output().unwrap();
    (output.status.code().unwrap_or(-1), String::from_utf8_lossy(&output.stdout).replace('\r', ""))
}

#[test]
fn issue_13_declining_a_confirmation_aborts_with_nothing_written_and_exit_3() {
    let repo = TestRepo::from_example();
    edit_temperature(&repo, "0.5");
    assert_eq!(repo.release_to("pre-release"), "v2");
    let live = repo.git(&["rev-parse", "live"]);
    let (code, screen) = on_a_terminal(&repo, "promote v2 --to live", "n\n");
    assert_eq!(code, 3, "{screen}");
    assert!(screen.contains("promote v2 to live (protected)? [y/N]"), "{screen}");
    assert!(screen.contains("aborted: nothing written"), "{screen}");
    assert!(!screen.contains("error:"), "{screen}");
    assert_eq!(repo.git(&["rev-parse", "live"]), live);
    let (code, screen) = on_a_terminal(&repo, "promote v2 --to live", "y\n");
    assert_eq!(code, 0, "{screen}");
    assert!(screen.contains("promoted v2 from pre-release to live"), "{screen}");
    // Off a terminal without --yes it stays confirmation_required, exit 2.
    edit_temperature(&repo, "0.6");
    repo.release_to("pre-release");
    assert_eq!(repo.stagecraft(&["promote", "v3", "--to", "live"]).code, 2);
}

#[test]
fn issue_13_clear_words_for_history_filters_json_usage_errors_and_echoed_names() {
    let repo = TestRepo::from_example();
    let typo = repo.stagecraft(&["history", "--action", "publsh"]);
    assert_eq!(typo.code, 2, "{typo}");
    assert!(typo.stderr.contains("hint: did you mean `publish`?"), "{typo}");
    // An assistant nobody has now: said on stderr, and its past entries still listed.
    let gone = repo.stagecraft(&["history", "--assistant", "old-bot", "--json"]).success();
    assert!(gone.stderr.contains("`old-bot` is an assistant of neither the draft nor any environment"), "{gone}");
    assert!(gone.json()["entries"].is_array(), "{gone}");
    let known = repo.stagecraft(&["history", "--assistant", "support-bot"]).success();
    assert!(known.stderr.is_empty(), "{known}");
    // With --json, clap's own usage errors are the JSON error object too.
    let usage = repo.stagecraft(&["publish", "--json", "--bogus"]);
    assert_eq!(usage.code, 2, "{usage}");
    assert_eq!(usage.json()["error"]["code"], "usage", "{usage}");
    assert!(usage.json()["error"]["message"].as_str().unwrap().contains("--bogus"), "{usage}");
    // Names echoed from input cannot drive the terminal: escapes and bidi overrides show as escapes.
    let sneaky = repo.stagecraft(&["diff", "draft", "x\u{1b}[31mred\u{202e}evil"]);
    assert!(sneaky.stderr.contains("x\\u{1b}[31mred\\u{202e}evil"), "{sneaky}");
    assert!(!sneaky.stderr.contains('\u{1b}') && !sneaky.stderr.contains('\u{202e}'), "{sneaky}");
}

#[test]
fn issue_13_history_lists_a_commit_above_its_ancestors_within_one_second_and_forge_merges_as_publishes() {
    let repo = TestRepo::from_example();
    // Everything in one second, as a script or CI makes it.
    let same_second = |args: &[&str]| {
        let output = repo
            .env
            .command(env!("CARGO_BIN_EXE_stagecraft"), &repo.root)
            .args(args)
            .env("GIT_COMMITTER_DATE", "2026-03-01T12:00:00Z")
            .env("GIT_AUTHOR_DATE", "2026-03-01T12:00:00Z")
            .output()
            .unwrap();
        assert!(output.status.success(), "{args:?}: {}", String::from_utf8_lossy(&output.stderr));
    };
    let path = "assistants/support-bot/assistant.toml";
    let text = std::fs::read_to_string(repo.root.join(path)).unwrap().replace("temperature = 0.3", "temperature = 0.5");
    std::fs::write(repo.root.join(path), text).unwrap();
    let git_same_second = |args: &[&str]| {
        let status = repo
            .env
            .command("git", &repo.root)
            .args(args)
            .env("GIT_COMMITTER_DATE", "2026-03-01T12:00:00Z")
            .env("GIT_AUTHOR_DATE", "2026-03-01T12:00:00Z")
            .status()
            .unwrap();
        assert!(status.success());
    };
    git_same_second(&["commit", "-qam", "warmer"]);
    same_second(&["publish"]);
    same_second(&["promote", "v2", "--to", "pre-release"]);
    same_second(&["promote", "v2", "--to", "live", "--yes"]);
    let all = repo.stagecraft(&["history", "--all", "--json"]).success().json();
    let listed: Vec<(String, String)> = all["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["action"].as_str().unwrap().to_string(), e["environment"].as_str().unwrap_or("-").to_string()))
        .collect();
    let expected =
        [("promote", "live"), ("promote", "pre-release"), ("publish", "sandbox"), ("edit", "draft"), ("init", "-")];
    assert_eq!(listed, expected.map(|(a, e)| (a.to_string(), e.to_string())), "{all}");
    // Pages of one, by cursor, list the same entries in the same order.
    let mut paged = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut args = vec!["history", "--json", "--limit", "1"];
        if let Some(cursor) = &cursor {
            args.extend(["--before", cursor.as_str()]);
        }
        let page = repo.stagecraft(&args).success().json();
        paged.extend(page["entries"].as_array().unwrap().iter().map(|e| e["id"].clone()));
        match page["next"].as_str() {
            Some(next) => cursor = Some(next.to_string()),
            None => break,
        }
    }
    let ids: Vec<serde_json::Value> = all["entries"].as_array().unwrap().iter().map(|e| e["id"].clone()).collect();
    assert_eq!(paged, ids);
    // A merge made on a forge that became a version: a publish with its field-level summary.
    edit_temperature(&repo, "0.6");
    repo.git(&["checkout", "-q", "sandbox"]);
    repo.git(&["merge", "-q", "--no-ff", "-m", "Merge pull request #10", "draft"]);
    repo.git(&["checkout", "-q", "draft"]);
    assert_eq!(repo.stagecraft(&["publish"]).code, 3, "it tags v3, then has nothing to publish");
    let publishes = repo.stagecraft(&["history", "sandbox", "--action", "publish", "--json"]).success().json();
    let merge = &publishes["entries"][0];
    assert_eq!((merge["action"].as_str(), merge["version"].as_u64()), (Some("publish"), Some(3)), "{publishes}");
    assert_eq!(merge["summary"], "support-bot: model.temperature 0.5 → 0.6", "{publishes}");
}

#[test]
fn issue_13_a_local_write_confirms_environments_the_daemons_config_protects() {
    let repo = TestRepo::from_example();
    edit_temperature(&repo, "0.5");
    std::fs::write(repo.env.path().join("stagecraft.toml"), "[environments]\nprotected = [\"sandbox\"]\n").unwrap();
    let config = repo.env.path().join("stagecraft.toml");
    let config = config.to_str().unwrap();
    let refused = repo.stagecraft(&["--config", config, "publish"]);
    assert_eq!(refused.code, 2, "{refused}");
    assert!(refused.stderr.contains("sandbox is protected"), "{refused}");
    assert_eq!(repo.git(&["tag", "--list", "v*"]), "v1\n", "nothing published");
    repo.stagecraft(&["--config", config, "publish", "--yes"]).success();
    // Without the config, only the chain's own protection applies.
    edit_temperature(&repo, "0.6");
    repo.stagecraft(&["publish"]).success();
}

#[test]
fn the_deployed_versions_cache_answers_as_a_full_walk_would() {
    // pre-release deploys v2 and v3; rollback's refusal of a version it never deployed
    // lists what it did deploy, read through the cache.
    let repo = TestRepo::from_example();
    let deployed = |expected: &str| {
        let run = repo.stagecraft(&["rollback", "pre-release", "--to", "v99", "--dry-run"]);
        assert_eq!(run.code, 1, "{run}");
        assert!(run.stderr.contains(&format!("pre-release deployed {expected}\n")), "{run}");
    };
    edit_temperature(&repo, "0.5");
    repo.release_to("pre-release");
    edit_temperature(&repo, "0.6");
    repo.release_to("pre-release");
    deployed("v1, v2, v3");
    let cache = repo.root.join(".git/stagecraft/deployed-pre-release");
    let written = std::fs::read_to_string(&cache).expect("the walk is cached");
    assert!(written.contains("\nown 1-3\n"), "{written}");
    // A commit made outside stagecraft with v4's tree (published, never promoted): the
    // walk since the cached tip finds it, and v4 counts by its tree.
    edit_temperature(&repo, "0.7");
    repo.stagecraft(&["publish"]).success();
    let by_hand = repo.git(&["commit-tree", "v4^{tree}", "-p", "pre-release", "-m", "hand-made"]);
    repo.git(&["update-ref", "refs/heads/pre-release", by_hand.trim()]);
    deployed("v1, v2, v3, v4");
    assert!(std::fs::read_to_string(&cache).unwrap().contains(&format!("loose {}", by_hand.trim())));
    // A tip whose history does not hold the cached one (a forced push): walked again.
    repo.git(&["update-ref", "refs/heads/pre-release", "v2^{commit}"]);
    deployed("v1, v2");
    // A cache this code did not write is ignored and rewritten.
    std::fs::write(&cache, "not a cache").unwrap();
    deployed("v1, v2");
    assert!(std::fs::read_to_string(&cache).unwrap().starts_with("stagecraft deployed 1\n"));
}
