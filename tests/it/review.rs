//! `stagecraft review`: what merging a change does, its validation and warnings, as
//! text, JSON and a pull-request comment, on real repositories.

use crate::common::TestRepo;

fn branch_with(repo: &TestRepo, name: &str, path: &str, text: &str) {
    repo.git(&["checkout", "-q", "-b", name, "draft"]);
    repo.commit_file(path, text);
    repo.git(&["checkout", "-q", "draft"]);
}

#[test]
fn a_review_says_what_merging_does_validates_the_head_and_warns() {
    let repo = TestRepo::from_example();
    branch_with(&repo, "feature/brief", "assistants/support-bot/instructions.md", "Be brief.\n");
    let text = repo.stagecraft(&["review", "--head", "feature/brief", "--format", "text"]);
    assert_eq!(text.code, 0, "{text}");
    assert!(
        text.stdout.starts_with("Merging edits the draft; the next publish would create v2 on sandbox.\n"),
        "{text}"
    );
    assert!(text.stdout.contains("summary: support-bot: instructions"), "{text}");
    let markdown = repo.stagecraft(&["review", "--head", "feature/brief"]).success();
    assert!(markdown.stdout.starts_with("<!-- stagecraft-review -->\n"), "{markdown}");
    assert!(markdown.stdout.contains("✅ The head validates."), "{markdown}");
    let json = repo.stagecraft(&["review", "--head", "feature/brief", "--json"]).success().json();
    assert_eq!((json["valid"].as_bool(), json["warnings"].as_array().map(Vec::len)), (Some(true), Some(0)), "{json}");
    // Into an environment branch: a publish, or a change outside a promotion.
    let sandbox = repo.stagecraft(&["review", "--head", "feature/brief", "--base", "sandbox", "--format", "text"]);
    assert!(sandbox.stdout.starts_with("Merging publishes v2 on sandbox.\n"), "{sandbox}");
    let live = repo.stagecraft(&["review", "--head", "feature/brief", "--base", "live", "--format", "text"]);
    assert!(live.stdout.starts_with("Merging changes live (protected) outside a promotion.\n"), "{live}");
    assert!(live.stdout.contains("warning: this changes live, a protected environment, outside a promotion"), "{live}");
}

#[test]
fn an_invalid_head_exits_1_with_every_finding_and_bad_input_exits_2() {
    let repo = TestRepo::from_example();
    branch_with(&repo, "broken", "assistants/support-bot/assistant.toml", "name = \"Support\"\nmodel = 7\n");
    let invalid = repo.stagecraft(&["review", "--head", "broken", "--format", "text"]);
    assert_eq!(invalid.code, 1, "{invalid}");
    assert!(invalid.stdout.contains("does not validate"), "{invalid}");
    assert!(invalid.stdout.contains("assistants/support-bot/assistant.toml:2:"), "{invalid}");
    let markdown = repo.stagecraft(&["review", "--head", "broken"]);
    assert!(markdown.stdout.contains("- `assistants/support-bot/assistant.toml:2:"), "{markdown}");
    let missing = repo.stagecraft(&["review", "--head", "no-such-branch"]);
    assert_eq!(missing.code, 2, "{missing}");
    let not_an_environment = repo.stagecraft(&["review", "--head", "broken", "--base", "broken"]);
    assert_eq!(not_an_environment.code, 2, "{not_an_environment}");
    assert!(not_an_environment.stderr.contains("neither the draft nor an environment branch"), "{not_an_environment}");
}
