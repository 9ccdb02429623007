//! Remote mode: the daemon mirrors a remote (over `file://` and over git's smart
//! HTTP protocol behind a server the test starts), follows it on forge webhooks, and
//! writes to it with an atomic push; the CLI's `--remote NAME` does the same; a push that
//! lost a race is a `conflict` and changes nothing.

use std::sync::Arc;
use std::sync::atomic::AtomicU64;

use hmac::{KeyInit, Mac};

use crate::common::daemon::{Daemon, Receiver, runtime};
use crate::common::gitserver::{self, clone, forge, git, post_hook};
use crate::common::{TestEnv, TestRepo};

const HOOK_SECRET: &str = "topsecret";

fn signed_github_push(daemon: &Daemon, secret: &str) -> u16 {
    let body = std::fs::read(crate::common::fixtures().join("forges/github-push.json")).unwrap();
    let mut mac = <hmac::Hmac<sha2::Sha256> as KeyInit>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(&body);
    let signature = format!("sha256={}", hex::encode(mac.finalize().into_bytes()));
    post_hook(daemon, "github", &[("x-github-event", "push"), ("x-hub-signature-256", &signature)], body)
}

fn daemon_follows_a_remote(over_http: bool) {
    let repo = TestRepo::from_example();
    let env = &repo.env;
    if !crate::common::git_can(env, &["init", "-q", "--ref-format=files", "probe"], "git 2.45 or later (--ref-format)")
    {
        return;
    }
    let forge = forge(env, over_http);
    let order = Arc::new(AtomicU64::new(0));
    let sandbox = Receiver::start(&order);
    let config = format!(
        "[repository]\npath = \"mirror.git\"\nremote = \"{}\"\nfetch_interval = \"1h\"\n[server]\nlisten = \"127.0.0.1:0\"\n[delivery]\nretry_min = \"50ms\"\nretry_max = \"200ms\"\ntimeout = \"1s\"\n[receiver.github]\nsecret = \"env:GITHUB_SECRET\"\n{}",
        forge.url,
        runtime("sandbox-1", "sandbox", &sandbox.url)
    );
    let daemon = Daemon::start_with(
        &repo,
        &config,
        &[("GITHUB_SECRET", HOOK_SECRET), ("STAGECRAFT_GIT_TOKEN", gitserver::TOKEN)],
    );
    daemon.wait_log("the clone's progress line", |l| l.contains("first start: cloning"));
    sandbox.wait_acks(2);
    let mirror = env.path().join("mirror.git");
    assert!(mirror.join("refs").is_dir() && !mirror.join("reftable").exists(), "a files-format mirror");

    // A pull request merged on the forge.
    let work = clone(env, &forge, "work");
    std::fs::write(work.join("assistants/support-bot/instructions.md"), "Merged on the forge.\n").unwrap();
    git(env, &work, &["commit", "-qam", "Shorter answers"]);
    git(env, &work, &["checkout", "-q", "sandbox"]);
    git(env, &work, &["merge", "-q", "--no-ff", "-m", "Merge pull request #7", "draft"]);
    git(env, &work, &["push", "-q", "origin", "draft", "sandbox"]);
    let merge = git(env, &work, &["rev-parse", "HEAD"]).trim().to_string();

    // A bad signature changes nothing; a good one fetches.
    assert_eq!(signed_github_push(&daemon, "wrong secret"), 401);
    assert_eq!(post_hook(&daemon, "github", &[("x-github-event", "push")], b"{}".to_vec()), 401);
    assert_eq!(post_hook(&daemon, "gitlab", &[("x-gitlab-token", HOOK_SECRET)], b"{}".to_vec()), 404);
    assert_eq!(signed_github_push(&daemon, HOOK_SECRET), 202);
    let delivered = sandbox.wait_acks(3).pop().unwrap();
    assert_eq!(delivered.data()["commit"], merge.as_str());
    assert_eq!(delivered.data()["version"], 2);
    // The daemon tagged the merge and pushed the tag to the forge.
    let forge_git = |args: &[&str]| env.git_in(&forge.path, args);
    assert_eq!(forge_git(&["rev-parse", "v2^{commit}"]).trim(), merge);
    daemon.wait_log("the tag logged", |l| l.contains("tagged a merge as v2"));

    // The CLI writes to the forge with --remote: a promotion, pushed atomically.
    let run = env
        .command(env!("CARGO_BIN_EXE_stagecraft"), &work)
        .env("STAGECRAFT_GIT_TOKEN", gitserver::TOKEN)
        .args(["--remote", "origin", "promote", "v2", "--to", "pre-release"])
        .output()
        .unwrap();
    assert!(run.status.success(), "{}", String::from_utf8_lossy(&run.stderr));
    let promoted = forge_git(&["rev-parse", "pre-release"]);
    assert_eq!(git(env, &work, &["rev-parse", "origin/pre-release"]), promoted, "the fetched ref follows the push");
    assert_eq!(
        forge_git(&["log", "-1", "--format=%(trailers:key=Stagecraft-Version,valueonly)", "pre-release"]).trim(),
        "2"
    );
    assert_eq!(daemon.stop(), 0);
}

#[test]
fn the_daemon_mirrors_and_follows_a_file_remote() {
    daemon_follows_a_remote(false);
}

#[test]
fn the_daemon_mirrors_and_follows_a_remote_over_smart_http() {
    daemon_follows_a_remote(true);
}

#[test]
fn a_publish_with_remote_is_one_atomic_push_and_a_lost_race_changes_nothing() {
    let env = TestEnv::new();
    let forge = forge(&env, true);
    let work = clone(&env, &forge, "work");
    std::fs::write(work.join("assistants/support-bot/instructions.md"), "Be brief.\n").unwrap();
    git(&env, &work, &["commit", "-qam", "Brief"]);
    git(&env, &work, &["push", "-q", "origin", "draft"]);
    let stagecraft = |args: &[&str]| {
        env.command(env!("CARGO_BIN_EXE_stagecraft"), &work)
            .env("STAGECRAFT_GIT_TOKEN", gitserver::TOKEN)
            .args(args)
            .output()
            .unwrap()
    };
    let run = stagecraft(&["--remote", "origin", "publish", "-m", "brief"]);
    assert!(run.status.success(), "{}", String::from_utf8_lossy(&run.stderr));
    let forge_git = |args: &[&str]| env.git_in(&forge.path, args);
    let sandbox = forge_git(&["rev-parse", "sandbox"]);
    assert_eq!(forge_git(&["rev-parse", "v2^{commit}"]), sandbox, "branch and tag arrived together");
    assert_eq!(git(&env, &work, &["rev-parse", "v2^{commit}"]), sandbox, "and locally");

    // Without the token the forge refuses, with a clear error and nothing written.
    let run = env
        .command(env!("CARGO_BIN_EXE_stagecraft"), &work)
        .args(["--remote", "origin", "promote", "v2", "--to", "pre-release"])
        .output()
        .unwrap();
    assert_eq!(run.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(stderr.contains("error: cannot fetch from origin"), "{stderr}");

    // A race: the store plans on a fetched pre-release, then someone else moves it on the
    // forge; the push is rejected by its lease and the forge keeps the other write.
    use stagecraft::store::Store;
    use stagecraft::store::remote::{Auth, Remote};
    let token = stagecraft::config::Secret::new(gitserver::TOKEN.into());
    let store =
        Store::open(&work).unwrap().with_remote(Remote::named("origin", Auth { token: Some(token), ssh_key: None }));
    store.fetch().unwrap();
    let stale = store.branch_tip("pre-release").unwrap().unwrap();
    let other = clone(&env, &forge, "other");
    git(&env, &other, &["checkout", "-q", "pre-release"]);
    git(&env, &other, &["commit", "-q", "--allow-empty", "-m", "someone else"]);
    git(&env, &other, &["push", "-q", "origin", "pre-release"]);
    let theirs = forge_git(&["rev-parse", "pre-release"]);
    let error =
        store.update_branch("pre-release", store.branch_tip("sandbox").unwrap().unwrap(), stale, "test").unwrap_err();
    assert_eq!(error.code(), stagecraft::error::Code::Conflict, "{error}");
    assert!(error.to_string().contains("pre-release moved from"), "{error}");
    assert_eq!(forge_git(&["rev-parse", "pre-release"]), theirs, "nothing changed on the forge");
}

#[test]
fn issue_13_a_push_that_loses_a_race_is_a_retryable_conflict_and_a_refusal_is_git() {
    let env = TestEnv::new();
    let forge = forge(&env, true);
    let work = clone(&env, &forge, "work");
    std::fs::write(work.join("assistants/support-bot/instructions.md"), "Be brief.\n").unwrap();
    git(&env, &work, &["commit", "-qam", "Brief"]);
    git(&env, &work, &["push", "-q", "origin", "draft"]);
    let stagecraft = |args: &[&str]| {
        let output = env
            .command(env!("CARGO_BIN_EXE_stagecraft"), &work)
            .env("STAGECRAFT_GIT_TOKEN", gitserver::TOKEN)
            .args(args)
            .output()
            .unwrap();
        crate::common::Run::from_output(output, env.path())
    };
    // Another push holds sandbox's lock on the forge at the moment ours arrives: the
    // forge fails the atomic transaction. That write won; ours is to be run again.
    let lock = forge.path.join("refs/heads/sandbox.lock");
    std::fs::write(&lock, "").unwrap();
    let lost = stagecraft(&["--remote", "origin", "publish", "--json"]);
    assert_eq!(lost.code, 1, "{lost}");
    let error = &serde_json::from_str::<serde_json::Value>(&lost.stdout).unwrap()["error"];
    assert_eq!((error["code"].as_str(), error["retryable"].as_bool()), (Some("conflict"), Some(true)), "{error}");
    assert_eq!(error["hint"], "another write won the race; run it again");
    std::fs::remove_file(&lock).unwrap();
    assert_eq!(env.git_in(&forge.path, &["tag", "--list", "v*"]), "v1\n", "nothing was written on the forge");
    // The forge's own refusal (a hook) stays a git error that names it.
    let hook = forge.path.join("hooks/pre-receive");
    std::fs::write(&hook, "#!/bin/sh\necho 'sandbox is protected' >&2\nexit 1\n").unwrap();
    std::fs::set_permissions(&hook, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let refused = stagecraft(&["--remote", "origin", "publish", "--json"]);
    let error = &serde_json::from_str::<serde_json::Value>(&refused.stdout).unwrap()["error"];
    assert_eq!((error["code"].as_str(), error["retryable"].as_bool()), (Some("git"), Some(false)), "{error}");
    assert!(error["message"].as_str().unwrap().contains("hook declined"), "{error}");
    std::fs::remove_file(&hook).unwrap();
    stagecraft(&["--remote", "origin", "publish"]).success();
    assert_eq!(env.git_in(&forge.path, &["tag", "--list", "v*"]), "v1\nv2\n");
}

#[test]
fn forge_signatures_are_checked_each_forges_own_way() {
    use axum::http::HeaderMap;
    use stagecraft::http::hooks::forge_signature_ok;
    let fixtures = crate::common::fixtures().join("forges");
    let github = std::fs::read(fixtures.join("github-push.json")).unwrap();
    let mut headers = HeaderMap::new();
    // The fixture's known answer.
    headers.insert(
        "x-hub-signature-256",
        "sha256=e3bfe744d4e2e29ed990bde8acfb8255ca51ef65f99657767989fb6349f32957".parse().unwrap(),
    );
    assert!(forge_signature_ok("github", "topsecret", &headers, &github));
    assert!(!forge_signature_ok("github", "other", &headers, &github));
    assert!(!forge_signature_ok("github", "topsecret", &headers, b"{}"), "a changed body fails");
    let gitea = std::fs::read(fixtures.join("gitea-push.json")).unwrap();
    let mut mac = <hmac::Hmac<sha2::Sha256> as KeyInit>::new_from_slice(b"s3cret").unwrap();
    mac.update(&gitea);
    let mut headers = HeaderMap::new();
    headers.insert("x-gitea-signature", hex::encode(mac.finalize().into_bytes()).parse().unwrap());
    assert!(forge_signature_ok("gitea", "s3cret", &headers, &gitea));
    assert!(!forge_signature_ok("gitea", "s3cret", &HeaderMap::new(), &gitea), "a missing signature fails");
    let gitlab = std::fs::read(fixtures.join("gitlab-push.json")).unwrap();
    let mut headers = HeaderMap::new();
    headers.insert("x-gitlab-token", "s3cret".parse().unwrap());
    assert!(forge_signature_ok("gitlab", "s3cret", &headers, &gitlab));
    assert!(!forge_signature_ok("gitlab", "s3cre", &headers, &gitlab));
}

/// A form POST to the daemon (with a session cookie when given); the status, the
/// `Set-Cookie` session value and the body.
fn form(daemon: &Daemon, path: &str, cookie: Option<&str>, fields: &[(&str, &str)]) -> (u16, Option<String>, String) {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    runtime.block_on(async {
        let mut request = stagecraft::net::http_client()
            .post(format!("http://{}{path}", daemon.address))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(serde_urlencoded::to_string(fields).unwrap());
        if let Some(cookie) = cookie {
            request = request.header("cookie", format!("stagecraft_session={cookie}"));
        }
        let response = request.send().await.unwrap();
        let session = response
            .headers()
            .get_all("set-cookie")
            .iter()
            .filter_map(|v| v.to_str().ok()?.strip_prefix("stagecraft_session=")?.split(';').next().map(str::to_string))
            .next();
        (response.status().as_u16(), session, response.text().await.unwrap())
    })
}

/// The value of the hidden input `name` in a page.
fn hidden(page: &str, name: &str) -> String {
    let marker = format!("name=\"{name}\" value=\"");
    let start = page.find(&marker).unwrap_or_else(|| panic!("no {name} field in {page}")) + marker.len();
    page[start..].split('"').next().unwrap().to_string()
}

#[test]
fn an_edit_in_the_dashboard_of_a_daemon_in_remote_mode_is_pushed_to_the_forge() {
    use sha2::Digest;
    let repo = TestRepo::from_example();
    let env = &repo.env;
    let forge = forge(env, false);
    let hash = hex::encode(sha2::Sha256::digest(b"editor-token"));
    let config = format!(
        "[repository]\npath = \"mirror.git\"\nremote = \"{}\"\nfetch_interval = \"1h\"\n[server]\nlisten = \"127.0.0.1:0\"\n[[token]]\nname = \"eve\"\nsha256 = \"{hash}\"\nrole = \"publisher\"\n",
        forge.url
    );
    let daemon = Daemon::start(&repo, &config);
    let (status, session, _) = form(&daemon, "/login", None, &[("token", "editor-token"), ("next", "/")]);
    assert_eq!(status, 303);
    let session = session.expect("a session cookie");
    let path = "assistants/support-bot/instructions.md";
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let page = runtime.block_on(async {
        let response = stagecraft::net::http_client()
            .get(format!("http://{}/edit?path={path}", daemon.address))
            .header("cookie", format!("stagecraft_session={session}"))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        response.text().await.unwrap()
    });
    let fields = [("csrf", hidden(&page, "csrf")), ("expected", hidden(&page, "expected")), ("path", path.to_string())];
    let mut fields: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
    fields.push(("text", "Answer in one sentence.\n"));
    let (status, _, body) = form(&daemon, "/edit", Some(&session), &fields);
    assert!(status == 303 || status == 200, "{status}: {body}");
    // The commit is on the forge's draft, authored as the token's name.
    let forge_git = |args: &[&str]| env.git_in(&forge.path, args);
    assert_eq!(forge_git(&["show", &format!("draft:{path}")]), "Answer in one sentence.\n");
    let trailers = forge_git(&["log", "-1", "--format=%an%n%(trailers:only,unfold)", "draft"]);
    assert!(trailers.starts_with("eve\n"), "{trailers}");
    assert!(
        trailers.contains("Stagecraft-Action: edit\n") && trailers.contains("Stagecraft-Actor: token:eve\n"),
        "{trailers}"
    );
    assert_eq!(daemon.stop(), 0);
}
