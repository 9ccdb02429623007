//! `stagecraft review`: what merging a change does, its validation and warnings, as
//! text, JSON and a pull-request comment, on real repositories.

use crate::common::TestRepo;
use crate::common::forge::{Fault, ForgeStandIn, Kind, TOKEN};

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
    assert!(
        invalid.stdout.lines().any(|line| line.starts_with("assistants/support-bot/assistant.toml:2:")),
        "each finding on a line of its own: {invalid}"
    );
    let markdown = repo.stagecraft(&["review", "--head", "broken"]);
    assert!(markdown.stdout.contains("- `assistants/support-bot/assistant.toml:2:"), "{markdown}");
    let missing = repo.stagecraft(&["review", "--head", "no-such-branch"]);
    assert_eq!(missing.code, 2, "{missing}");
    let not_an_environment = repo.stagecraft(&["review", "--head", "broken", "--base", "broken"]);
    assert_eq!(not_an_environment.code, 2, "{not_an_environment}");
    assert!(not_an_environment.stderr.contains("neither the draft nor an environment branch"), "{not_an_environment}");
}

/// `review --post` on each forge: the CI's environment (GitLab CI, Gitea Actions) or the
/// flags (GitHub) name the pull request; every request follows the forge's API.
#[test]
fn review_post_keeps_one_comment_and_sets_the_commit_status_on_each_forge() {
    for kind in Kind::ALL {
        post_on(kind);
    }
}

fn post_on(kind: Kind) {
    let repo = TestRepo::from_example();
    branch_with(&repo, "feature", "assistants/support-bot/instructions.md", "Be brief.\n");
    let forge = ForgeStandIn::start(kind, 7, 250);
    let event = repo.env.path().join("event.json");
    std::fs::write(&event, r#"{"action": "synchronize", "number": 7, "pull_request": {"number": 7}}"#).unwrap();
    let post = |head: &str, token: &str| {
        let mut command = repo.env.command(env!("CARGO_BIN_EXE_stagecraft"), &repo.root);
        command.args(["review", "--head", head, "--post"]);
        match kind {
            Kind::GitHub => {
                command.args(["--forge", "github", "--api-url", &forge.api_url, "--repository", kind.repository()]);
                command.args(["--pr", "7"]).env("STAGECRAFT_REVIEW_TOKEN", token);
            }
            Kind::GitLab => {
                command
                    .env("GITLAB_CI", "true")
                    .env("CI_API_V4_URL", &forge.api_url)
                    .env("CI_PROJECT_ID", kind.repository())
                    .env("CI_MERGE_REQUEST_IID", "7")
                    .env("STAGECRAFT_REVIEW_TOKEN", token);
            }
            Kind::Gitea => {
                command
                    .env("GITEA_ACTIONS", "true")
                    .env("GITHUB_API_URL", &forge.api_url)
                    .env("GITHUB_REPOSITORY", kind.repository())
                    .env("GITHUB_EVENT_PATH", &event)
                    .env("GITHUB_TOKEN", token);
            }
        }
        crate::common::Run::from_output(command.output().unwrap(), repo.env.path())
    };
    let name = kind.name();
    forge.fail_next(&[Fault::TooMany, Fault::Unavailable]);
    let first = post("feature", TOKEN);
    assert_eq!(first.code, 0, "{name}: {first}");
    assert!(first.stderr.contains("posted the review on pull request #7 (comment 90001)"), "{name}: {first}");
    let head = repo.git(&["rev-parse", "feature"]).trim().to_string();
    let pages: &[&str] = match kind {
        Kind::Gitea => &["list page 1"],
        Kind::GitHub | Kind::GitLab => &["list page 1", "list page 2", "list page 3"],
    };
    let status_op = if kind == Kind::GitLab { "set_commit_status" } else { "create_status" };
    let mut expected = vec![format!("429 {status_op}"), format!("503 {status_op}"), "status pending".to_string()];
    expected.extend(pages.iter().map(|p| p.to_string()));
    expected.extend(["create".to_string(), "status success".to_string()]);
    forge.seen(|seen| {
        assert_eq!(seen.steps, expected, "{name}");
        assert_eq!(seen.statuses.last().unwrap().sha, head, "{name}");
        assert_eq!(seen.reviews().len(), 1, "{name}");
    });
    // A later push: the same comment is edited in place, never a second one.
    repo.git(&["checkout", "-q", "feature"]);
    repo.commit_file("assistants/support-bot/assistant.toml", "name = \"Support\"\nmodel = 7\n");
    repo.git(&["checkout", "-q", "draft"]);
    let second = post("feature", TOKEN);
    assert_eq!(second.code, 1, "{name}: the head no longer validates: {second}");
    assert!(second.stderr.contains("updated the review on pull request #7 (comment 90001)"), "{name}: {second}");
    forge.seen(|seen| {
        assert_eq!(seen.reviews().len(), 1, "{name}: one sticky comment");
        assert!(seen.steps.contains(&"update 90001".to_string()), "{name}: {:?}", seen.steps);
        let failure = seen.statuses.last().unwrap();
        assert_eq!(failure.state, kind.failure(), "{name}");
        assert!(failure.description.starts_with("assistants/support-bot/assistant.toml:2:"), "{name}: {failure:?}");
    });
    // A wrong token: a clear error, exit 2, nothing crashes.
    let refused = post("feature", "wrong");
    assert_eq!(refused.code, 2, "{name}: {refused}");
    assert!(refused.stderr.contains("HTTP 401") && refused.stderr.contains("STAGECRAFT_REVIEW_TOKEN"), "{refused}");
    // A token without the rights: the hint names them.
    forge.fail_next(&[Fault::Forbidden]);
    let forbidden = post("feature", TOKEN);
    assert_eq!(forbidden.code, 2, "{name}: {forbidden}");
    assert!(forbidden.stderr.contains("HTTP 403") && forbidden.stderr.contains("lacks rights"), "{forbidden}");
    // A forge (or a proxy before it) answering HTML: a clear error naming the URL.
    forge.fail_next(&[Fault::Html]);
    let html = post("feature", TOKEN);
    assert_eq!(html.code, 2, "{name}: {html}");
    assert!(html.stderr.contains("it is not JSON") && html.stderr.contains("REST API"), "{name}: {html}");
    forge.assert_no_violations();
}

mod daemon {
    //! The daemon reviews pull requests from the forges' hooks: a real daemon mirroring a
    //! `file://` forge, signed hooks made from the forges' real payloads, and the forge
    //! stand-in for the API.

    use std::sync::Arc;
    use std::sync::atomic::AtomicU64;

    use hmac::{KeyInit, Mac};
    use serde_json::{Value, json};

    use crate::common::daemon::{Daemon, Receiver, runtime};
    use crate::common::forge::{Fault, ForgeStandIn, Kind, TOKEN};
    use crate::common::gitserver::{clone, forge, git, post_hook};
    use crate::common::{TestRepo, fixtures};

    const HOOK_SECRET: &str = "hook-secret";

    /// A signed pull-request hook for `action` at `sha`, made from the forge's real payload.
    fn hook(daemon: &Daemon, kind: Kind, action: &str, sha: &str) -> u16 {
        hook_into(daemon, kind, action, sha, "draft", false)
    }

    /// [`hook`] into `base`, from a fork or not.
    fn hook_into(daemon: &Daemon, kind: Kind, action: &str, sha: &str, base: &str, fork: bool) -> u16 {
        let body = match kind {
            Kind::GitHub | Kind::Gitea => {
                let mut payload: Value = serde_json::from_slice(
                    &std::fs::read(fixtures().join("forges/gitea-pull_request_closed.json")).unwrap(),
                )
                .unwrap();
                payload["action"] = json!(action);
                payload["number"] = json!(7);
                payload["pull_request"]["number"] = json!(7);
                payload["pull_request"]["head"]["sha"] = json!(sha);
                payload["pull_request"]["base"]["ref"] = json!(base);
                payload["pull_request"]["state"] = json!(if action == "closed" { "closed" } else { "open" });
                if fork {
                    payload["pull_request"]["head"]["repo"]["full_name"] = json!("someone/fork");
                }
                serde_json::to_vec(&payload).unwrap()
            }
            Kind::GitLab => {
                let mut payload: Value = serde_json::from_slice(
                    &std::fs::read(fixtures().join("forges/gitlab-pull_request_merge.json")).unwrap(),
                )
                .unwrap();
                let gitlab_action = match action {
                    "opened" => "open",
                    "closed" => "close",
                    _ => "update",
                };
                payload["object_attributes"]["action"] = json!(gitlab_action);
                payload["object_attributes"]["iid"] = json!(7);
                payload["object_attributes"]["last_commit"]["id"] = json!(sha);
                payload["object_attributes"]["target_branch"] = json!(base);
                payload["object_attributes"]["state"] = json!(if action == "closed" { "closed" } else { "opened" });
                if fork {
                    payload["object_attributes"]["source_project_id"] = json!(1);
                }
                serde_json::to_vec(&payload).unwrap()
            }
        };
        let sign = || {
            let mut mac = <hmac::Hmac<sha2::Sha256> as KeyInit>::new_from_slice(HOOK_SECRET.as_bytes()).unwrap();
            mac.update(&body);
            hex::encode(mac.finalize().into_bytes())
        };
        let (headers, forge): (Vec<(&str, String)>, &str) = match kind {
            Kind::GitHub => (
                vec![("x-github-event", "pull_request".into()), ("x-hub-signature-256", format!("sha256={}", sign()))],
                "github",
            ),
            Kind::Gitea => (vec![("x-gitea-event", "pull_request".into()), ("x-gitea-signature", sign())], "gitea"),
            Kind::GitLab => (
                vec![("x-gitlab-event", "Merge Request Hook".into()), ("x-gitlab-token", HOOK_SECRET.into())],
                "gitlab",
            ),
        };
        let headers: Vec<(&str, &str)> = headers.iter().map(|(k, v)| (*k, v.as_str())).collect();
        post_hook(daemon, forge, &headers, body)
    }

    /// A signed push hook (the forge's real payload): the daemon fetches.
    fn push_hook(daemon: &Daemon, kind: Kind) -> u16 {
        let body = std::fs::read(fixtures().join(format!("forges/{}-push.json", kind.name()))).unwrap();
        let mut mac = <hmac::Hmac<sha2::Sha256> as KeyInit>::new_from_slice(HOOK_SECRET.as_bytes()).unwrap();
        mac.update(&body);
        let signature = hex::encode(mac.finalize().into_bytes());
        match kind {
            Kind::GitHub => post_hook(
                daemon,
                "github",
                &[("x-github-event", "push"), ("x-hub-signature-256", &format!("sha256={signature}"))],
                body,
            ),
            Kind::Gitea => {
                post_hook(daemon, "gitea", &[("x-gitea-event", "push"), ("x-gitea-signature", &signature)], body)
            }
            Kind::GitLab => {
                post_hook(daemon, "gitlab", &[("x-gitlab-event", "Push Hook"), ("x-gitlab-token", HOOK_SECRET)], body)
            }
        }
    }

    #[test]
    fn the_daemon_reviews_pull_requests_on_each_forge() {
        for kind in Kind::ALL {
            reviews_on(kind);
        }
    }

    fn reviews_on(kind: Kind) {
        let name = kind.name();
        let repo = TestRepo::from_example();
        let env = &repo.env;
        if !crate::common::git_can(
            env,
            &["init", "-q", "--ref-format=files", "probe"],
            "git 2.45 or later (--ref-format)",
        ) {
            return;
        }
        let hosted = forge(env, false);
        let order = Arc::new(AtomicU64::new(0));
        let sandbox = Receiver::start(&order);
        let standin = ForgeStandIn::start(kind, 7, 120);
        let config = format!(
            "[repository]\npath = \"mirror.git\"\nremote = \"{}\"\nfetch_interval = \"1h\"\n[server]\nlisten = \"127.0.0.1:0\"\n[delivery]\nretry_min = \"50ms\"\nretry_max = \"200ms\"\ntimeout = \"2s\"\n[receiver.{name}]\nsecret = \"env:HOOK_SECRET\"\n[review]\nforge = \"{name}\"\napi_url = \"{}\"\nrepository = \"{}\"\ntoken = \"env:REVIEW_TOKEN\"\n{}",
            hosted.url,
            standin.api_url,
            kind.repository(),
            runtime("sandbox-1", "sandbox", &sandbox.url)
        );
        let daemon = Daemon::start_with(&repo, &config, &[("HOOK_SECRET", HOOK_SECRET), ("REVIEW_TOKEN", TOKEN)]);
        sandbox.wait_acks(2);
        let pull_ref = if kind == Kind::GitLab { "refs/merge-requests/7/head" } else { "refs/pull/7/head" };
        let work = clone(env, &hosted, "work");
        git(env, &work, &["checkout", "-q", "-b", "feature"]);
        let push = |path: &str, text: &str, message: &str| -> String {
            std::fs::write(work.join(path), text).unwrap();
            git(env, &work, &["commit", "-qam", message]);
            git(env, &work, &["push", "-q", "-f", "origin", &format!("HEAD:{pull_ref}")]);
            git(env, &work, &["rev-parse", "HEAD"]).trim().to_string()
        };
        let is_final = |state: &str| state != "pending";

        // Opened: pending, one comment naming the head, success.
        let first = push("assistants/support-bot/instructions.md", "Be brief.\n", "Brief");
        assert_eq!(hook(&daemon, kind, "opened", &first), 202);
        standin.wait_for("the first review", |seen| seen.statuses.iter().any(|s| s.sha == first && is_final(&s.state)));
        standin.seen(|seen| {
            let states: Vec<&str> = seen.statuses.iter().map(|s| s.state.as_str()).collect();
            assert_eq!(states, ["pending", "success"], "{name}");
            let reviews = seen.reviews();
            assert_eq!(reviews.len(), 1, "{name}");
            assert!(reviews[0].1.contains(&first[..7]), "{name}: the comment names its head: {}", reviews[0].1);
        });

        // A push that breaks validation: the same comment, a failure naming file:line.
        let second = push("assistants/support-bot/assistant.toml", "name = \"Support\"\nmodel = 7\n", "Broken");
        assert_eq!(hook(&daemon, kind, "synchronize", &second), 202);
        standin
            .wait_for("the second review", |seen| seen.statuses.iter().any(|s| s.sha == second && is_final(&s.state)));
        standin.seen(|seen| {
            let failure = seen.statuses.iter().find(|s| s.sha == second && is_final(&s.state)).unwrap();
            assert_eq!(failure.state, kind.failure(), "{name}");
            assert!(failure.description.starts_with("assistants/support-bot/assistant.toml:2:"), "{name}: {failure:?}");
            assert_eq!(seen.reviews().len(), 1, "{name}: edited in place, never a second comment");
            assert!(seen.reviews()[0].1.contains(&second[..7]), "{name}");
        });

        // While a review waits on the forge, deliveries go on: a publish merged on the forge
        // reaches the sandbox runtime.
        standin.hold_pending();
        let third = push("assistants/support-bot/assistant.toml", "name = \"Support\"\n", "Fixed");
        assert_eq!(hook(&daemon, kind, "synchronize", &third), 202);
        standin.wait_for("the third review's pending status", |seen| {
            seen.steps.iter().any(|s| s.starts_with("held status pending") && s.ends_with(&third[..7]))
        });
        let merger = clone(env, &hosted, "merger");
        std::fs::write(merger.join("assistants/support-bot/instructions.md"), "Merged on the forge.\n").unwrap();
        git(env, &merger, &["commit", "-qam", "Shorter answers"]);
        git(env, &merger, &["checkout", "-q", "sandbox"]);
        git(env, &merger, &["merge", "-q", "--no-ff", "-m", "Merge pull request #6", "draft"]);
        git(env, &merger, &["push", "-q", "origin", "draft", "sandbox"]);
        assert_eq!(push_hook(&daemon, kind), 202);
        let delivered = sandbox.wait_acks(3).pop().unwrap();
        assert_eq!(delivered.data()["version"], 2, "{name}: delivered while the review waits");
        // A newer head while the third is held: the third is cancelled, the fourth wins.
        let fourth = push("assistants/support-bot/instructions.md", "Be very brief.\n", "Briefer");
        assert_eq!(hook(&daemon, kind, "synchronize", &fourth), 202);
        daemon.wait_log("the third review cancelled", |l| l.contains("cancelled") && l.contains(&third));
        standin.wait_for("the fourth review's pending status", |seen| {
            seen.steps.iter().any(|s| s.starts_with("held status pending") && s.ends_with(&fourth[..7]))
        });
        standin.release();
        standin
            .wait_for("the fourth review", |seen| seen.statuses.iter().any(|s| s.sha == fourth && is_final(&s.state)));
        standin.seen(|seen| {
            assert!(
                seen.statuses.iter().all(|s| s.sha != third || s.state == "pending"),
                "{name}: the third never ends"
            );
            assert_eq!(seen.reviews().len(), 1, "{name}");
            assert!(seen.reviews()[0].1.contains(&fourth[..7]), "{name}: the newest head wins");
        });

        // A token the forge refuses: logged with its hint; the daemon goes on.
        standin.fail_next(&[Fault::Unauthorized]);
        assert_eq!(hook(&daemon, kind, "edited", &fourth), 202);
        daemon.wait_log("the refusal", |l| l.contains("HTTP 401"));
        daemon.wait_log("its hint", |l| l.contains("the token is missing, wrong or expired"));

        // A base that is neither the draft nor an environment: nothing is posted.
        let steps = standin.seen(|seen| seen.steps.len());
        assert_eq!(hook_into(&daemon, kind, "synchronize", &fourth, "docs", false), 202);
        daemon.wait_log("the skip", |l| l.contains("merges into `docs`, neither the draft nor an environment branch"));
        assert_eq!(standin.seen(|seen| seen.steps.len()), steps, "{name}: nothing posted");

        // A fork's head the daemon cannot fetch: the comment says so, the status is an error.
        let missing = "f".repeat(40);
        assert_eq!(hook_into(&daemon, kind, "synchronize", &missing, "draft", true), 202);
        standin.wait_for("the unfetchable head's status", |seen| {
            seen.statuses.iter().any(|s| s.sha == missing && is_final(&s.state))
        });
        standin.seen(|seen| {
            let status = seen.statuses.iter().find(|s| s.sha == missing && is_final(&s.state)).unwrap();
            assert_eq!(status.state, kind.error(), "{name}");
            assert!(status.description.starts_with(&format!("cannot fetch the head ({pull_ref})")), "{status:?}");
            let comment = &seen.reviews()[0].1;
            assert!(comment.contains("could not fetch") && comment.contains("from a fork"), "{name}: {comment}");
        });

        // Closed while a review waits: it posts nothing more.
        let before_close = standin.seen(|seen| seen.reviews()[0].1.clone());
        standin.hold_pending();
        let fifth = push("assistants/support-bot/instructions.md", "Be terse.\n", "Terse");
        assert_eq!(hook(&daemon, kind, "synchronize", &fifth), 202);
        standin.wait_for("the fifth review's pending status", |seen| {
            seen.steps.iter().any(|s| s.starts_with("held status pending") && s.ends_with(&fifth[..7]))
        });
        assert_eq!(hook(&daemon, kind, "closed", &fifth), 202);
        daemon.wait_log("the fifth review cancelled", |l| l.contains("cancelled") && l.contains(&fifth));
        standin.release();
        standin.seen(|seen| {
            assert!(seen.statuses.iter().all(|s| s.sha != fifth || s.state == "pending"), "{name}");
            assert_eq!(seen.reviews()[0].1, before_close, "{name}: a closed pull request gets nothing more");
        });
        standin.assert_no_violations();
        assert_eq!(daemon.stop(), 0);
    }
}

/// The CI templates of docs/ci are what the docs say: the example repository ships the
/// GitHub one as it is, and each posts the review with what its CI provides.
#[test]
fn the_ci_templates_post_the_review_and_the_example_ships_the_github_one() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let github = std::fs::read_to_string(root.join("docs/ci/github-actions.yml")).unwrap();
    let shipped = std::fs::read_to_string(root.join("example-repo/.github/workflows/stagecraft.yml")).unwrap();
    assert_eq!(shipped, github, "example-repo/.github/workflows/stagecraft.yml is docs/ci/github-actions.yml");
    for needed in ["pull-requests: write", "statuses: write", "fetch-depth: 0", "review", "--post"] {
        assert!(github.contains(needed), "the GitHub workflow lacks {needed}");
    }
    let gitlab = std::fs::read_to_string(root.join("docs/ci/gitlab-ci.yml")).unwrap();
    for needed in ["merge_request_event", "GIT_DEPTH", "CI_MERGE_REQUEST_TARGET_BRANCH_NAME", "--post"] {
        assert!(gitlab.contains(needed), "the GitLab job lacks {needed}");
    }
    // A repository made from the example carries the workflow and still validates.
    let repo = TestRepo::from_example();
    assert!(repo.git(&["ls-tree", "-r", "--name-only", "draft"]).contains(".github/workflows/stagecraft.yml\n"));
    repo.stagecraft(&["validate"]).success();
}
