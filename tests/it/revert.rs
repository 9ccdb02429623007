//! `stagecraft revert`: the three-way merge on real repositories.

use crate::common::TestRepo;

fn replace_in(repo: &TestRepo, path: &str, from: &str, to: &str) {
    let text = std::fs::read_to_string(repo.root.join(path)).unwrap();
    assert!(text.contains(from), "{path} lacks {from}");
    repo.commit_file(path, &text.replacen(from, to, 1));
}

const ASSISTANT: &str = "assistants/support-bot/assistant.toml";

#[test]
fn revert_removes_a_publish_field_by_field_keeping_later_edits_and_comments() {
    let repo = TestRepo::from_example();
    // v2 changes the temperature; the draft then changes the model name on the next line.
    replace_in(&repo, ASSISTANT, "temperature = 0.3", "temperature = 0.9 # too hot?");
    repo.stagecraft(&["publish", "-m", "hotter"]).success();
    replace_in(&repo, ASSISTANT, "name = \"gpt-4.1-mini\"", "name = \"gpt-4.1\"");
    let before = repo.git(&["rev-parse", "draft"]);
    let preview = repo.stagecraft(&["revert", "v2", "--preview"]).success();
    assert!(preview.stdout.contains("@@ support-bot › model › temperature @@\n-0.9\n+0.3\n"), "{preview}");
    assert_eq!(repo.git(&["rev-parse", "draft"]), before, "a preview writes nothing");
    let run = repo.stagecraft(&["revert", "v2", "-m", "too hot"]).success();
    assert!(run.stdout.starts_with("reverted v2 in draft ("), "{run}");
    let diff = repo.git(&["diff", "draft~1", "draft", "--", ASSISTANT]);
    let changed: Vec<&str> = diff
        .lines()
        .filter(|l| (l.starts_with('+') || l.starts_with('-')) && !l.starts_with("+++") && !l.starts_with("---"))
        .collect();
    assert_eq!(
        changed,
        ["-temperature = 0.9 # too hot?", "+temperature = 0.3 # too hot?"],
        "only the reverted field changes:\n{diff}"
    );
    let text = repo.git(&["show", &format!("draft:{ASSISTANT}")]);
    assert!(text.contains("name = \"gpt-4.1\""), "the later edit stays: {text}");
    let trailers = repo.git(&["log", "-1", "--format=%(trailers:only,unfold)", "draft"]);
    assert!(
        trailers.contains("Stagecraft-Action: revert\n") && trailers.contains("Stagecraft-Source: 2\n"),
        "{trailers}"
    );
    assert_eq!(repo.git(&["status", "--porcelain"]), "", "the work tree follows");
    // Nothing reached an environment.
    assert_eq!(repo.git(&["rev-parse", "sandbox"]), repo.git(&["rev-parse", "v2^{commit}"]));
    // Reverting again changes nothing: exit 3.
    assert_eq!(repo.stagecraft(&["revert", "v2"]).code, 3);
}

#[test]
fn files_a_publish_added_go_and_files_it_deleted_come_back() {
    let repo = TestRepo::from_example();
    repo.commit_file("assistants/support-bot/tools/ping.toml", "description = \"Ping\"\n");
    repo.git(&["rm", "-q", "assistants/support-bot/knowledge/store-hours.toml"]);
    repo.git(&["commit", "-q", "-m", "remove store hours"]);
    repo.stagecraft(&["publish"]).success();
    repo.stagecraft(&["revert", "v2"]).success();
    let files = repo.git(&["ls-tree", "-r", "--name-only", "draft"]);
    assert!(!files.contains("tools/ping.toml"), "{files}");
    assert!(files.contains("knowledge/store-hours.toml"), "{files}");
    assert_eq!(repo.git(&["rev-parse", "draft^{tree}"]), repo.git(&["rev-parse", "v1^{tree}"]));
}

#[test]
fn a_field_changed_since_on_the_draft_is_a_conflict_and_nothing_is_written() {
    let repo = TestRepo::from_example();
    replace_in(&repo, ASSISTANT, "temperature = 0.3", "temperature = 0.9");
    repo.stagecraft(&["publish"]).success();
    replace_in(&repo, ASSISTANT, "temperature = 0.9", "temperature = 0.7");
    let before = repo.git(&["rev-parse", "draft"]);
    let run = repo.stagecraft(&["revert", "v2"]);
    insta::assert_snapshot!(run, @"
    ------- stderr -------
    error: reverting v2 conflicts with the draft: 1 conflict
      assistants/support-bot/assistant.toml: model.temperature: in v2 0.9, in the draft 0.7, before v2 0.3
    hint: nothing was written; edit those fields on the draft by hand, or restore the version with `stagecraft restore`
    [exit status: 1]
    ");
    assert_eq!(repo.git(&["rev-parse", "draft"]), before);
    let json = repo.stagecraft(&["revert", "v2", "--json"]).json();
    assert_eq!(json["error"]["code"], "merge_conflict");
}

#[test]
fn overlapping_text_edits_conflict_with_their_lines() {
    let repo = TestRepo::from_example();
    let path = "assistants/support-bot/instructions.md";
    let first = std::fs::read_to_string(repo.root.join(path)).unwrap().lines().next().unwrap().to_string();
    replace_in(&repo, path, &first, "# Support assistant, v2 heading");
    repo.stagecraft(&["publish"]).success();
    replace_in(&repo, path, "# Support assistant, v2 heading", "# Support assistant, draft heading");
    let run = repo.stagecraft(&["revert", "v2"]);
    assert_eq!(run.code, 1, "{run}");
    assert!(run.stderr.contains(&format!("{path}:1: in v2 # Support assistant, v2 heading, in the draft # Support assistant, draft heading, before v2 {first}")), "{run}");
}

#[test]
fn reverting_v1_or_into_an_invalid_draft_is_refused() {
    let repo = TestRepo::from_example();
    let run = repo.stagecraft(&["revert", "v1"]);
    assert_eq!(run.code, 1);
    assert!(run.stderr.contains("hint: to return the draft to v1, use `stagecraft restore v1`"), "{run}");
    // v2 adds a tool; the draft then adds a case that calls it: without the tool it is invalid.
    repo.commit_file("assistants/support-bot/tools/ping.toml", "description = \"Ping\"\n");
    repo.stagecraft(&["publish"]).success();
    repo.commit_file("assistants/support-bot/tests/ping.toml", "[[turn]]\nuser = \"ping\"\ntool_called = \"ping\"\n");
    let run = repo.stagecraft(&["revert", "v2"]);
    assert_eq!(run.code, 1, "{run}");
    assert!(run.stderr.starts_with("error: the revert of v2 does not validate: 1 error"), "{run}");
}

#[test]
fn revert_one_assistant_only() {
    let repo = TestRepo::from_example();
    replace_in(&repo, ASSISTANT, "temperature = 0.3", "temperature = 0.9");
    replace_in(&repo, "assistants/restaurant-booking/assistant.toml", "temperature = 0.5", "temperature = 0.6");
    replace_in(&repo, "channels.toml", "+14155550140", "+14155550150");
    repo.stagecraft(&["publish"]).success();
    repo.stagecraft(&["revert", "v2", "--assistant", "support-bot"]).success();
    assert_eq!(
        repo.git(&["rev-parse", "draft:assistants/support-bot"]),
        repo.git(&["rev-parse", "v1:assistants/support-bot"])
    );
    assert_eq!(
        repo.git(&["rev-parse", "draft:assistants/restaurant-booking"]),
        repo.git(&["rev-parse", "v2:assistants/restaurant-booking"])
    );
    assert!(repo.git(&["show", "draft:channels.toml"]).contains("+14155550150"), "restaurant-booking's binding stays");
    repo.stagecraft(&["revert", "v2", "--assistant", "restaurant-booking"]).success();
    assert!(repo.git(&["show", "draft:channels.toml"]).contains("+14155550140"));
    assert_eq!(repo.git(&["rev-parse", "draft^{tree}"]), repo.git(&["rev-parse", "v1^{tree}"]));
}

#[test]
fn revert_one_assistant_restores_a_binding_its_version_removed() {
    let repo = TestRepo::from_example();
    let channels = std::fs::read_to_string(repo.root.join("channels.toml")).unwrap();
    let start = channels.find("[draft.restaurant-booking]").unwrap();
    let end = channels[start + 1..].find("\n[").map_or(channels.len(), |i| start + 2 + i);
    repo.commit_file("channels.toml", &format!("{}{}", &channels[..start], &channels[end..]));
    repo.stagecraft(&["publish"]).success();
    repo.stagecraft(&["revert", "v2", "--assistant", "restaurant-booking"]).success();
    assert!(repo.git(&["show", "draft:channels.toml"]).contains("[draft.restaurant-booking]"));
}

#[test]
fn arrays_changed_on_both_sides_conflict_instead_of_losing_a_change() {
    let repo = TestRepo::from_example();
    let path = "assistants/support-bot/guardrails/topics.toml";
    repo.commit_file(path, "kind = \"blocked_topics\"\ntopics = [\"a\", \"b\", \"c\"]\n");
    repo.stagecraft(&["publish"]).success();
    repo.commit_file(path, "kind = \"blocked_topics\"\ntopics = [\"a\", \"b\", \"c\", \"religion\"]\n");
    repo.stagecraft(&["publish"]).success();
    // The draft then drops the first topic: the indices of v3's change moved.
    repo.commit_file(path, "kind = \"blocked_topics\"\ntopics = [\"b\", \"c\", \"religion\"]\n");
    let run = repo.stagecraft(&["revert", "v3", "--json"]);
    assert_eq!(run.code, 1, "{run}");
    assert_eq!(run.json()["error"]["code"], "merge_conflict");
    // Only v3 touched the array: its removal applies whole.
    repo.commit_file(path, "kind = \"blocked_topics\"\ntopics = [\"a\", \"b\", \"c\", \"religion\"] # keep\n");
    repo.stagecraft(&["revert", "v3"]).success();
    assert_eq!(
        repo.git(&["show", &format!("draft:{path}")]),
        "kind = \"blocked_topics\"\ntopics = [\"a\", \"b\", \"c\"] # keep\n"
    );
}

#[test]
fn issue_13_an_unparsable_channels_toml_is_an_error_not_an_empty_file() {
    let repo = TestRepo::from_example();
    replace_in(&repo, "channels.toml", "+14155550120", "+14155550121");
    repo.stagecraft(&["publish", "-m", "new sandbox number"]).success();
    replace_in(&repo, "channels.toml", "[draft.restaurant-booking]", "[draft.restaurant-booking");
    let before = repo.git(&["rev-parse", "draft"]);
    let run = repo.stagecraft(&["revert", "v2", "--assistant", "restaurant-booking"]);
    assert_eq!(run.code, 2, "{run}");
    assert!(run.stderr.contains("channels.toml in the draft does not parse"), "{run}");
    assert_eq!(repo.git(&["rev-parse", "draft"]), before, "nothing written");
}
