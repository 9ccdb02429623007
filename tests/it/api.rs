//! The HTTP API: every route against every role (through the router itself), and on a
//! running daemon the problem documents, the pull endpoint's ETag and long-poll, writes with `wait`, and
//! two writes at once.

use std::sync::Arc;
use std::sync::atomic::AtomicU64;

use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::common::TestRepo;
use crate::common::daemon::{Daemon, Receiver, runtime};
use crate::common::router::{Answer as RouterAnswer, TestApp};

const ROLES: [&str; 4] = ["viewer", "publisher", "releaser", "admin"];

fn token(role: &str) -> String {
    format!("{role}-secret-token")
}

fn config(extra: &str) -> String {
    let mut text = String::from(
        "[repository]\npath = \"repo\"\nidentity = \"stagecraft daemon <daemon@example.com>\"\n[server]\nlisten = \"127.0.0.1:0\"\n[delivery]\nretry_min = \"50ms\"\nretry_max = \"200ms\"\ntimeout = \"1s\"\n",
    );
    for role in ROLES {
        let hash = hex::encode(Sha256::digest(token(role).as_bytes()));
        text.push_str(&format!("[[token]]\nname = \"{role}-bot\"\nsha256 = \"{hash}\"\nrole = \"{role}\"\n"));
    }
    text.push_str(extra);
    text
}

/// One HTTP exchange.
struct Answer {
    status: u16,
    headers: reqwest::header::HeaderMap,
    body: String,
}

impl Answer {
    fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|_| panic!("JSON body: {}", self.body))
    }
}

fn call(
    daemon: &Daemon,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Option<&str>,
    headers: &[(&str, &str)],
) -> Answer {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    runtime.block_on(async {
        let client = stagecraft::net::http_client();
        let url = format!("http://{}{path}", daemon.address);
        let mut request = client.request(method.parse().unwrap(), url);
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        if let Some(body) = body {
            request = request.header("content-type", "application/json").body(body.to_string());
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        Answer { status, headers, body: response.text().await.unwrap() }
    })
}

fn get(daemon: &Daemon, path: &str, token: Option<&str>) -> Answer {
    call(daemon, "GET", path, token, None, &[])
}

fn post(daemon: &Daemon, path: &str, token: Option<&str>, body: &str) -> Answer {
    call(daemon, "POST", path, token, Some(body), &[])
}

fn assert_problem(answer: &Answer, status: u16, code: &str) {
    assert_eq!(answer.status, status, "{}", answer.body);
    assert_eq!(answer.headers["content-type"], "application/problem+json", "{}", answer.body);
    let problem = answer.json();
    assert_eq!(problem["type"], format!("urn:stagecraft:error:{code}"), "{problem}");
    assert_eq!(problem["code"], code);
    assert_eq!(problem["status"], status);
    assert!(problem["detail"].as_str().is_some_and(|d| !d.is_empty()));
}

fn edit_temperature(repo: &TestRepo, value: &str) -> String {
    let path = repo.root.join("assistants/support-bot/assistant.toml");
    let text = std::fs::read_to_string(&path).unwrap();
    let start = text.find("temperature = ").unwrap();
    let end = start + text[start..].find('\n').unwrap();
    repo.commit_file(
        "assistants/support-bot/assistant.toml",
        &format!("{}temperature = {value}{}", &text[..start], &text[end..]),
    )
}

#[test]
fn every_route_against_every_role() {
    // Sandbox at v3, pre-release at v3, live at v2 (v2 and v3 deployed before it), and a
    // draft edit: every write below has something to preview.
    let repo = TestRepo::from_example();
    edit_temperature(&repo, "0.5");
    assert_eq!(repo.release_to("live"), "v2");
    repo.commit_file("assistants/support-bot/instructions.md", "Be brief.\n");
    assert_eq!(repo.release_to("pre-release"), "v3");
    repo.commit_file("assistants/support-bot/instructions.md", "Be brief and kind.\n");
    let llm = crate::common::llm::Llm::start(crate::suites::example_script());
    let app = TestApp::new(&repo, &config(&format!("[test]\nendpoint = \"{}\"\n", llm.endpoint)));
    let routes: Vec<Route> = vec![
        ("GET", "/healthz", None, None, 200),
        ("GET", "/readyz", None, None, 200),
        ("GET", "/openapi.json", None, None, 200),
        ("GET", "/metrics", None, Some("viewer"), 200),
        ("GET", "/v1/environments", None, Some("viewer"), 200),
        ("GET", "/v1/environments/live/assistants", None, Some("viewer"), 200),
        ("GET", "/v1/environments/live/assistants/support-bot", None, Some("viewer"), 200),
        ("GET", "/v1/history", None, Some("viewer"), 200),
        ("GET", "/v1/versions/v1", None, Some("viewer"), 200),
        ("GET", "/v1/diff?from=live&to=draft", None, Some("viewer"), 200),
        ("GET", "/v1/review?head=draft&base=sandbox", None, Some("viewer"), 200),
        ("POST", "/v1/publish", Some(r#"{"preview": true}"#), Some("publisher"), 200),
        ("POST", "/v1/publish", Some(r#"{"preview": true, "force": true, "message": "m"}"#), Some("admin"), 200),
        ("POST", "/v1/discard", Some(r#"{"preview": true}"#), Some("publisher"), 200),
        (
            "POST",
            "/v1/promote",
            Some(r#"{"version": 2, "to": "pre-release", "preview": true}"#),
            Some("publisher"),
            200,
        ),
        ("POST", "/v1/promote", Some(r#"{"version": "v3", "to": "live", "preview": true}"#), Some("releaser"), 200),
        ("POST", "/v1/rollback", Some(r#"{"environment": "sandbox", "preview": true}"#), Some("publisher"), 200),
        ("POST", "/v1/rollback", Some(r#"{"environment": "live", "preview": true}"#), Some("releaser"), 200),
        (
            "POST",
            "/v1/rollback",
            Some(r#"{"environment": "sandbox", "to": 1, "force": true, "message": "m", "preview": true}"#),
            Some("admin"),
            200,
        ),
        ("POST", "/v1/revert", Some(r#"{"version": 2, "preview": true}"#), Some("publisher"), 200),
        ("POST", "/v1/restore", Some(r#"{"version": 1, "preview": true}"#), Some("publisher"), 200),
        ("POST", "/v1/test", Some(r#"{"case": "refuses-legal-advice"}"#), Some("publisher"), 200),
        (
            "POST",
            "/v1/chat",
            Some(r#"{"assistant": "support-bot", "messages": [{"role": "user", "content": "My landlord"}]}"#),
            Some("publisher"),
            200,
        ),
    ];
    let rank = |role: &str| ROLES.iter().position(|r| *r == role).unwrap();
    for (method, path, body, weakest, success) in &routes {
        let anonymous = app.call(method, path, None, *body);
        match weakest {
            None => assert_eq!(anonymous.status, *success, "{method} {path} anonymous: {}", anonymous.body),
            Some(_) => assert_router_problem(&anonymous, 401, "unauthenticated"),
        }
        if weakest.is_some() {
            assert!(anonymous.headers.contains_key("www-authenticate"), "{method} {path}");
            let wrong = app.call(method, path, Some("not-a-token"), *body);
            assert_router_problem(&wrong, 401, "unauthenticated");
        }
        for role in ROLES {
            let answer = app.call(method, path, Some(&token(role)), *body);
            if weakest.is_none_or(|w| rank(role) >= rank(w)) {
                assert_eq!(answer.status, *success, "{method} {path} as {role}: {}", answer.body);
            } else {
                assert_router_problem(&answer, 403, "forbidden");
            }
        }
    }
    assert_eq!(repo.git(&["rev-parse", "draft"]), repo.git(&["rev-parse", "HEAD"]), "previews write nothing");
}

/// (method, path, body, the weakest role allowed (None: anonymous), the success status)
type Route = (&'static str, &'static str, Option<&'static str>, Option<&'static str>, u16);

fn assert_router_problem(answer: &RouterAnswer, status: u16, code: &str) {
    assert_eq!(answer.status, status, "{}", answer.body);
    assert_eq!(answer.headers["content-type"], "application/problem+json", "{}", answer.body);
    let problem = answer.json();
    assert_eq!(
        (problem["code"].as_str(), problem["status"].as_u64()),
        (Some(code), Some(u64::from(status))),
        "{problem}"
    );
}

#[test]
fn issue_13_protected_means_protected_on_every_write_route() {
    // Sandbox protected by the chain; the draft by the daemon's config. Both need the
    // releaser role and a confirmation, whichever says so.
    let repo = TestRepo::from_example_with(&["--protected", "sandbox,live"]);
    edit_temperature(&repo, "0.5");
    let app = TestApp::new(&repo, &config("[environments]\nprotected = [\"draft\"]\n"));
    let refused = |path: &str, body: &str, environment: &str| {
        let publisher = app.call("POST", path, Some(&token("publisher")), Some(body));
        assert_router_problem(&publisher, 403, "forbidden");
        assert!(publisher.json()["detail"].as_str().unwrap().contains("needs releaser"), "{path}: {}", publisher.body);
        let unconfirmed = app.call("POST", path, Some(&token("releaser")), Some(body));
        assert_router_problem(&unconfirmed, 400, "confirmation_required");
        assert_eq!(unconfirmed.json()["environment"], environment, "{path}");
    };
    refused("/v1/publish", r#"{"message": "warmer"}"#, "sandbox");
    assert_eq!(repo.git(&["tag", "--list", "v*"]), "v1\n", "nothing published");
    let published = app.call("POST", "/v1/publish", Some(&token("releaser")), Some(r#"{"confirm": true}"#));
    assert_eq!(published.status, 201, "{}", published.body);
    repo.commit_file("assistants/support-bot/instructions.md", "Be brief.\n");
    let draft_before = repo.git(&["rev-parse", "draft"]);
    refused("/v1/discard", "{}", "draft");
    refused("/v1/restore", r#"{"version": 1}"#, "draft");
    refused("/v1/revert", r#"{"version": 2}"#, "draft");
    assert_eq!(repo.git(&["rev-parse", "draft"]), draft_before, "nothing written");
    let discarded = app.call("POST", "/v1/discard", Some(&token("releaser")), Some(r#"{"confirm": true}"#));
    assert_eq!(discarded.status, 200, "{}", discarded.body);
}

#[test]
fn issue_13_show_names_the_actor_who_asked_and_counts_deployments_by_tree() {
    let repo = TestRepo::from_example();
    edit_temperature(&repo, "0.5");
    let app = TestApp::new(&repo, &config(""));
    let published = app.call("POST", "/v1/publish", Some(&token("publisher")), Some("{}"));
    assert_eq!(published.status, 201, "{}", published.body);
    let show = repo.stagecraft(&["show", "v2", "--json"]).success().json();
    assert_eq!(show["actor"], "token:publisher-bot", "{show}");
    let history = repo.stagecraft(&["history", "sandbox", "--json", "--limit", "1"]).success().json();
    assert_eq!(history["entries"][0]["actor"], show["actor"], "show and history agree");
    // v3 brings back v1's tree: v1 is deployed wherever v3 is.
    edit_temperature(&repo, "0.3");
    repo.stagecraft(&["publish"]).success();
    let show = repo.stagecraft(&["show", "v1", "--json"]).success().json();
    assert_eq!(show["deployed"], json!(["sandbox", "pre-release", "live"]), "{show}");
}

#[test]
fn a_write_sent_with_its_previews_plan_is_a_conflict_when_the_draft_moved_since() {
    let repo = TestRepo::from_example();
    edit_temperature(&repo, "0.5");
    let app = TestApp::new(&repo, &config(""));
    let preview = app.call("POST", "/v1/publish", Some(&token("publisher")), Some(r#"{"preview": true}"#));
    assert_eq!(preview.status, 200, "{}", preview.body);
    let planned_on = preview.json()["planned_on"].as_str().expect("planned_on").to_string();
    // Someone edits the draft after the preview: the publish would not be what was shown.
    edit_temperature(&repo, "0.6");
    let body = json!({ "expected": planned_on }).to_string();
    let moved = app.call("POST", "/v1/publish", Some(&token("publisher")), Some(&body));
    assert_router_problem(&moved, 409, "conflict");
    assert_eq!(repo.git(&["tag", "--list", "v*"]), "v1\n", "nothing published");
    let fresh = app.call("POST", "/v1/publish", Some(&token("publisher")), Some(r#"{"preview": true}"#));
    let body = json!({ "expected": fresh.json()["planned_on"] }).to_string();
    assert_eq!(app.call("POST", "/v1/publish", Some(&token("publisher")), Some(&body)).status, 201);
}

#[test]
fn public_read_and_public_metrics_open_reads_to_anonymous_callers_but_never_writes() {
    let repo = TestRepo::from_example();
    let text = config("")
        .replace("listen = \"127.0.0.1:0\"\n", "listen = \"127.0.0.1:0\"\npublic_read = true\npublic_metrics = true\n");
    let daemon = Daemon::start(&repo, &text);
    assert_eq!(get(&daemon, "/v1/environments", None).status, 200);
    assert_eq!(get(&daemon, "/metrics", None).status, 200);
    assert_problem(&post(&daemon, "/v1/publish", None, r#"{"preview": true}"#), 401, "unauthenticated");
    assert_eq!(daemon.stop(), 0);
}

#[test]
fn bad_input_gets_a_problem_and_changes_nothing() {
    let repo = TestRepo::from_example();
    let daemon = Daemon::start(&repo, &config(""));
    let viewer = token("viewer");
    let admin = token("admin");
    let tips = repo.git(&["for-each-ref", "--format=%(objectname) %(refname)"]);
    assert_problem(&get(&daemon, "/v1/environments/nope/assistants", Some(&viewer)), 404, "not_found");
    assert_problem(&get(&daemon, "/v1/environments/live/assistants/no-such-bot", Some(&viewer)), 404, "not_found");
    assert_problem(&get(&daemon, "/v1/environments/live/assistants/Bad%20Id", Some(&viewer)), 400, "usage");
    assert_problem(&get(&daemon, "/v1/versions/12", Some(&viewer)), 400, "usage");
    assert_problem(&get(&daemon, "/v1/versions/v99", Some(&viewer)), 404, "not_found");
    assert_problem(&get(&daemon, "/v1/history?limit=0", Some(&viewer)), 400, "usage");
    assert_problem(&get(&daemon, "/v1/history?before=garbage", Some(&viewer)), 400, "usage");
    assert_problem(&get(&daemon, "/v1/history?colour=blue", Some(&viewer)), 400, "usage");
    assert_problem(&get(&daemon, "/v1/diff?from=../../etc&to=draft", Some(&viewer)), 400, "usage");
    assert_problem(&get(&daemon, "/v1/diff?from=%2Fetc%2Fpasswd", Some(&viewer)), 400, "usage");
    assert_problem(&get(&daemon, "/v1/diff?format=html", Some(&viewer)), 400, "usage");
    assert_problem(&get(&daemon, "/v1/nothing-here", Some(&viewer)), 404, "not_found");
    assert_problem(&call(&daemon, "DELETE", "/v1/environments", Some(&admin), None, &[]), 405, "usage");
    assert_problem(&post(&daemon, "/v1/publish", Some(&admin), r#"{"mesage": "typo"}"#), 400, "usage");
    assert_problem(&post(&daemon, "/v1/publish", Some(&admin), "not json"), 400, "usage");
    assert_problem(&post(&daemon, "/v1/promote", Some(&admin), r#"{"version": "x1", "to": "live"}"#), 400, "usage");
    assert_problem(&post(&daemon, "/v1/promote", Some(&admin), r#"{"version": 1, "to": "prod"}"#), 404, "not_found");
    assert_problem(&post(&daemon, "/v1/publish", Some(&admin), r#"{"force": true}"#), 400, "usage");
    let big = format!("{{\"message\": \"{}\"}}", "x".repeat(2 * 1024 * 1024));
    assert_problem(&post(&daemon, "/v1/publish", Some(&admin), &big), 413, "too_large");
    // Nothing to publish: 409 with the stable code; a protected write without confirm: 400.
    assert_problem(&post(&daemon, "/v1/publish", Some(&admin), "{}"), 409, "nothing_to_do");
    assert_problem(&post(&daemon, "/v1/rollback", Some(&admin), r#"{"environment": "live"}"#), 404, "not_found");
    assert_eq!(repo.git(&["for-each-ref", "--format=%(objectname) %(refname)"]), tips, "nothing was written");
    assert!(!daemon.log().contains(&token("admin")), "a bearer token never reaches the log");
    assert_eq!(daemon.stop(), 0);
}

#[test]
fn pulled_configs_carry_an_etag_answer_304_and_long_polls_wake_on_change() {
    let repo = TestRepo::from_example();
    let daemon = Daemon::start_with(&repo, &config(""), &[("STAGECRAFT_LOG", "info,stagecraft::http=debug")]);
    let viewer = token("viewer");
    let path = "/v1/environments/draft/assistants/support-bot";
    let first = get(&daemon, path, Some(&viewer));
    assert_eq!(first.status, 200, "{}", first.body);
    let etag = first.headers["etag"].to_str().unwrap().to_string();
    assert!(etag.starts_with('"') && etag.len() == 66, "{etag}");
    let data = first.json();
    assert_eq!((data["assistant"].as_str(), data["environment"].as_str()), (Some("support-bot"), Some("draft")));
    assert_eq!(data["commit"], repo.git(&["rev-parse", "draft"]).trim());
    // The same data object as a delivery, and the ETag is the SHA-256 of its bytes.
    assert_eq!(etag, format!("\"{}\"", hex::encode(Sha256::digest(first.body.as_bytes()))));
    let same = call(&daemon, "GET", path, Some(&viewer), None, &[("if-none-match", &etag)]);
    assert_eq!(same.status, 304);
    // A long-poll that times out: 304.
    let timed_out = call(&daemon, "GET", &format!("{path}?wait=1"), Some(&viewer), None, &[("if-none-match", &etag)]);
    assert_eq!(timed_out.status, 304);
    // A long-poll released by a change.
    let (address, poll_etag) = (daemon.address.clone(), etag.clone());
    let poll = std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        runtime.block_on(async move {
            let response = stagecraft::net::http_client()
                .get(format!("http://{address}/v1/environments/draft/assistants/support-bot?wait=30"))
                .bearer_auth(token("viewer"))
                .header("if-none-match", poll_etag)
                .send()
                .await
                .unwrap();
            (response.status().as_u16(), response.text().await.unwrap())
        })
    });
    // Held first (the daemon says so at debug level), then released by the change.
    daemon.wait_log("the poll held", |l| l.contains("a long-poll of support-bot in draft is held"));
    let commit = edit_temperature(&repo, "0.66");
    let (status, body) = poll.join().unwrap();
    assert_eq!(status, 200, "{body}");
    let changed: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(changed["commit"], commit.as_str());
    assert_eq!(changed["config"]["model"]["temperature"], 0.66);
    assert_problem(&get(&daemon, &format!("{path}?wait=999"), Some(&viewer)), 400, "usage");
    assert_eq!(daemon.stop(), 0);
}

#[test]
fn writes_go_through_the_library_and_wait_for_the_runtimes() {
    let repo = TestRepo::from_example();
    let order = Arc::new(AtomicU64::new(0));
    let (sandbox, live) = (Receiver::start(&order), Receiver::start(&order));
    let extra = format!("{}{}", runtime("sandbox-1", "sandbox", &sandbox.url), runtime("live-1", "live", &live.url));
    let daemon = Daemon::start(&repo, &config(&extra));
    sandbox.wait_acks(2);
    live.wait_acks(2);
    edit_temperature(&repo, "0.4");
    let publisher = token("publisher");
    // A preview writes nothing and carries the diff.
    let preview = post(&daemon, "/v1/publish", Some(&publisher), r#"{"preview": true}"#);
    assert_eq!(preview.status, 200, "{}", preview.body);
    assert_eq!(preview.json()["dry_run"], true);
    assert_eq!(preview.json()["diff"]["format_version"], 1);
    assert_eq!(repo.git(&["tag", "-l", "v2"]), "");
    let published = post(&daemon, "/v1/publish", Some(&publisher), r#"{"message": "warmer", "wait": 20}"#);
    assert_eq!(published.status, 201, "{}", published.body);
    let body = published.json();
    assert_eq!(body["version"], 2);
    assert_eq!(body["wait"], json!({"acknowledged": ["sandbox-1"], "not_acknowledged": [], "complete": true}));
    assert!(sandbox.requests().iter().any(|r| r.data()["version"] == 2), "acknowledged before the answer");
    let trailers = repo.git(&["log", "-1", "--format=%(trailers:key=Stagecraft-Actor,valueonly)%cn <%ce>", "sandbox"]);
    assert_eq!(trailers.trim(), "token:publisher-bot\nstagecraft daemon <daemon@example.com>");
    // Promotions: into live needs a releaser and a confirmation.
    assert_eq!(post(&daemon, "/v1/promote", Some(&publisher), r#"{"version": "v2", "to": "pre-release"}"#).status, 200);
    assert_problem(
        &post(&daemon, "/v1/promote", Some(&publisher), r#"{"version": 2, "to": "live"}"#),
        403,
        "forbidden",
    );
    let releaser = token("releaser");
    assert_problem(
        &post(&daemon, "/v1/promote", Some(&releaser), r#"{"version": 2, "to": "live"}"#),
        400,
        "confirmation_required",
    );
    let promoted =
        post(&daemon, "/v1/promote", Some(&releaser), r#"{"version": 2, "to": "live", "confirm": true, "wait": 20}"#);
    assert_eq!(promoted.status, 200, "{}", promoted.body);
    assert_eq!(promoted.json()["wait"]["complete"], true);
    // Reads agree with the CLI's JSON.
    let history = get(&daemon, "/v1/history?limit=5", Some(&token("viewer"))).json();
    let cli = repo.stagecraft(&["history", "--limit", "5", "--json"]).json();
    assert_eq!(history, cli);
    let version = get(&daemon, "/v1/versions/v2", Some(&token("viewer"))).json();
    assert_eq!(version, repo.stagecraft(&["show", "v2", "--json"]).json());
    let environments = get(&daemon, "/v1/environments", Some(&token("viewer"))).json();
    let live_env = &environments["environments"][3];
    assert_eq!((live_env["name"].as_str(), live_env["version"].as_u64()), (Some("live"), Some(2)));
    assert_eq!(live_env["runtimes"][0]["name"], "live-1");
    assert_eq!(live_env["runtimes"][0]["acknowledged_version"], 2);
    let markdown = get(&daemon, "/v1/diff?from=v1&to=v2&format=markdown", Some(&token("viewer")));
    assert_eq!(markdown.status, 200);
    assert!(markdown.body.contains("temperature"), "{}", markdown.body);
    assert_eq!(daemon.stop(), 0);
}

#[test]
fn two_publishes_at_once_one_wins_and_nothing_is_half_written() {
    let repo = TestRepo::from_example();
    let daemon = Daemon::start(&repo, &config(""));
    edit_temperature(&repo, "0.45");
    let address = daemon.address.clone();
    let racers: Vec<_> = (0..2)
        .map(|_| {
            let address = address.clone();
            std::thread::spawn(move || {
                let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
                runtime.block_on(async move {
                    let response = stagecraft::net::http_client()
                        .post(format!("http://{address}/v1/publish"))
                        .bearer_auth(token("publisher"))
                        .header("content-type", "application/json")
                        .body("{}")
                        .send()
                        .await
                        .unwrap();
                    (response.status().as_u16(), response.text().await.unwrap())
                })
            })
        })
        .collect();
    let mut results: Vec<(u16, String)> = racers.into_iter().map(|r| r.join().unwrap()).collect();
    results.sort();
    assert_eq!(results[0].0, 201, "{results:?}");
    assert_eq!(results[1].0, 409, "{results:?}");
    let loser: Value = serde_json::from_str(&results[1].1).unwrap();
    assert!(["conflict", "nothing_to_do"].contains(&loser["code"].as_str().unwrap()), "{loser}");
    assert_eq!(loser["retryable"], loser["code"] == "conflict");
    assert_eq!(repo.git(&["tag", "-l", "v*"]), "v1\nv2\n");
    repo.git(&["fsck", "--no-progress"]);
    assert_eq!(daemon.stop(), 0);
}

/// The JSON Schema of a response in the OpenAPI document, beside the document's
/// components so that its `#/components/...` references resolve.
fn response_schema(document: &Value, template: &str, method: &str, status: u16, content_type: &str) -> Option<Value> {
    let escape = |s: &str| s.replace('~', "~0").replace('/', "~1");
    let pointer =
        format!("/paths/{}/{method}/responses/{status}/content/{}/schema", escape(template), escape(content_type));
    let schema = document.pointer(&pointer)?;
    Some(json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$ref": "#/$defs/response",
        "$defs": {"response": schema},
        "components": document["components"],
    }))
}

#[test]
fn the_openapi_document_covers_every_route_and_real_responses_match_it() {
    let repo = TestRepo::from_example();
    let order = Arc::new(AtomicU64::new(0));
    let live = Receiver::start(&order);
    let llm = crate::common::llm::Llm::start(crate::suites::example_script());
    let extra = format!("{}[test]\nendpoint = \"{}\"\n", runtime("live-1", "live", &live.url), llm.endpoint);
    let daemon = Daemon::start(&repo, &config(&extra));
    live.wait_acks(2);
    let document = get(&daemon, "/openapi.json", None);
    assert_eq!(document.status, 200, "anonymous");
    let document = document.json();
    assert!(document["openapi"].as_str().unwrap().starts_with("3."), "{}", document["openapi"]);
    assert_eq!(document["components"]["securitySchemes"]["bearer"]["scheme"], "bearer");
    edit_temperature(&repo, "0.35");
    let admin = token("admin");
    // (template, method, request path, body): one real call per documented answer kind.
    let calls: Vec<(&str, &str, String, Option<&str>)> = vec![
        ("/healthz", "get", "/healthz".into(), None),
        ("/readyz", "get", "/readyz".into(), None),
        ("/metrics", "get", "/metrics".into(), None),
        ("/v1/environments", "get", "/v1/environments".into(), None),
        ("/v1/environments/{env}/assistants", "get", "/v1/environments/live/assistants".into(), None),
        ("/v1/environments/{env}/assistants/{id}", "get", "/v1/environments/live/assistants/support-bot".into(), None),
        ("/v1/review", "get", "/v1/review?head=draft&base=sandbox".into(), None),
        ("/v1/environments/{env}/assistants/{id}", "get", "/v1/environments/live/assistants/nobody".into(), None),
        ("/v1/history", "get", "/v1/history?limit=3".into(), None),
        ("/v1/history", "get", "/v1/history?limit=nope".into(), None),
        ("/v1/versions/{version}", "get", "/v1/versions/v1".into(), None),
        ("/v1/versions/{version}", "get", "/v1/versions/v7".into(), None),
        ("/v1/diff", "get", "/v1/diff?from=v1&to=draft".into(), None),
        ("/v1/publish", "post", "/v1/publish".into(), Some(r#"{"preview": true}"#)),
        ("/v1/publish", "post", "/v1/publish".into(), Some(r#"{"message": "cooler"}"#)),
        ("/v1/publish", "post", "/v1/publish".into(), Some("{}")),
        ("/v1/promote", "post", "/v1/promote".into(), Some(r#"{"version": 2, "to": "pre-release"}"#)),
        ("/v1/promote", "post", "/v1/promote".into(), Some(r#"{"version": 2, "to": "live"}"#)),
        (
            "/v1/promote",
            "post",
            "/v1/promote".into(),
            Some(r#"{"version": 2, "to": "live", "confirm": true, "wait": 10}"#),
        ),
        (
            "/v1/rollback",
            "post",
            "/v1/rollback".into(),
            Some(r#"{"environment": "live", "confirm": true, "preview": true}"#),
        ),
        ("/v1/revert", "post", "/v1/revert".into(), Some(r#"{"version": 2, "preview": true}"#)),
        (
            "/v1/restore",
            "post",
            "/v1/restore".into(),
            Some(r#"{"version": 1, "assistant": "support-bot", "preview": true}"#),
        ),
        ("/v1/discard", "post", "/v1/discard".into(), Some(r#"{"preview": true}"#)),
        ("/hooks/{forge}", "post", "/hooks/github".into(), Some("{}")),
        ("/v1/test", "post", "/v1/test".into(), Some(r#"{"env": "sandbox", "assistant": "support-bot"}"#)),
        ("/v1/test", "post", "/v1/test".into(), Some(r#"{"env": "sandbox", "version": "v1"}"#)),
        ("/v1/test", "post", "/v1/test".into(), Some(r#"{"case": "no-such-case"}"#)),
        (
            "/v1/chat",
            "post",
            "/v1/chat".into(),
            Some(
                r#"{"assistant": "support-bot", "messages": [{"role": "user", "content": "Hi, where is my order 10482733?"}]}"#,
            ),
        ),
        ("/v1/chat", "post", "/v1/chat".into(), Some(r#"{"assistant": "support-bot", "messages": []}"#)),
    ];
    // The check has teeth: an answer missing a required field fails it.
    let environments = get(&daemon, "/v1/environments", Some(&admin)).json();
    let mut broken = environments.clone();
    broken.as_object_mut().unwrap().remove("chain");
    broken["environments"][0]["version"] = json!("one");
    let schema = response_schema(&document, "/v1/environments", "get", 200, "application/json").unwrap();
    let validator = jsonschema::validator_for(&schema).unwrap();
    assert!(validator.is_valid(&environments));
    assert_eq!(validator.iter_errors(&broken).count(), 2);
    let mut seen = std::collections::BTreeSet::new();
    for (template, method, path, body) in &calls {
        let answer = call(&daemon, &method.to_uppercase(), path, Some(&admin), *body, &[]);
        let content_type =
            answer.headers.get("content-type").map(|v| v.to_str().unwrap().to_string()).unwrap_or_default();
        let content_type = content_type.split(';').next().unwrap().trim().to_string();
        let schema = response_schema(&document, template, method, answer.status, &content_type).unwrap_or_else(|| {
            panic!(
                "{method} {path} answered {} {content_type}, which the document lacks:\n{}",
                answer.status, answer.body
            )
        });
        let instance: Value = if content_type.ends_with("json") { answer.json() } else { json!(answer.body) };
        let validator = jsonschema::validator_for(&schema).unwrap_or_else(|e| panic!("{template}: {e}"));
        let errors: Vec<String> =
            validator.iter_errors(&instance).map(|e| format!("{} at {}", e, e.instance_path())).collect();
        assert!(
            errors.is_empty(),
            "{method} {path} ({}) does not match the document: {errors:#?}\n{}",
            answer.status,
            answer.body
        );
        seen.insert(format!("{method} {template}"));
    }
    let documented: std::collections::BTreeSet<String> = document["paths"]
        .as_object()
        .unwrap()
        .iter()
        .flat_map(|(path, item)| item.as_object().unwrap().keys().map(move |method| format!("{method} {path}")))
        .collect();
    assert_eq!(seen, documented, "every documented route was called, and every route called is documented");
    assert_eq!(daemon.stop(), 0);
}

/// The CLI against the daemon: `stagecraft --server URL …` with a token.
fn remote_cli(repo: &TestRepo, daemon: &Daemon, token: Option<&str>, args: &[&str]) -> crate::common::Run {
    let url = format!("http://{}", daemon.address);
    let mut command = repo.env.command(env!("CARGO_BIN_EXE_stagecraft"), repo.env.path());
    command.arg("--server").arg(&url).args(args);
    if let Some(token) = token {
        command.env("STAGECRAFT_TOKEN", token);
    }
    crate::common::Run::from_output(command.output().unwrap(), repo.env.path())
}

#[test]
fn the_cli_with_server_prints_what_it_prints_locally_and_writes_through_the_api() {
    let repo = TestRepo::from_example();
    let daemon = Daemon::start(&repo, &config(""));
    let viewer = token("viewer");
    edit_temperature(&repo, "0.25");
    // Reads: the same output as a local run (status names the server instead of the path).
    for args in [
        vec!["history", "--limit", "3"],
        vec!["history", "--all", "--json"],
        vec!["show", "v1"],
        vec!["diff", "sandbox", "draft", "--format", "unified"],
        vec!["diff", "--format", "json"],
        vec!["diff", "v1", "draft", "--format", "markdown"],
        vec!["review", "--head", "draft", "--base", "sandbox", "--format", "text"],
        vec!["review", "--head", "draft", "--base", "sandbox", "--format", "markdown"],
    ] {
        let remote = remote_cli(&repo, &daemon, Some(&viewer), &args).success();
        let local = repo.stagecraft(&args).success();
        assert_eq!(remote.stdout, local.stdout, "{args:?}");
    }
    let remote = remote_cli(&repo, &daemon, Some(&viewer), &["status"]).success();
    let local = repo.stagecraft(&["status"]).success();
    let url = format!("http://{}", daemon.address);
    assert_eq!(remote.stdout, local.stdout.replace("repository $TMP/repo", &format!("repository {url}")));
    // Writes print what a local write prints; the actor is the token's name.
    let publisher = token("publisher");
    let published = remote_cli(&repo, &daemon, Some(&publisher), &["publish", "-m", "cooler"]).success();
    assert!(published.stdout.starts_with("published v2 to sandbox ("), "{published}");
    assert!(published.stdout.ends_with("): support-bot: model.temperature 0.3 → 0.25\n"), "{published}");
    let promoted =
        remote_cli(&repo, &daemon, Some(&publisher), &["promote", "v2", "--to", "pre-release", "--json"]).success();
    assert_eq!(promoted.json()["action"], "promote");
    // Live is protected: a publisher is refused, a releaser needs --yes off a terminal.
    let refused = remote_cli(&repo, &daemon, Some(&publisher), &["promote", "v2", "--to", "live", "--yes"]);
    assert_eq!(refused.code, 1, "{refused}");
    assert!(
        refused.stderr.starts_with("error: the token's role publisher is too weak: this needs releaser"),
        "{refused}"
    );
    let releaser = token("releaser");
    let unconfirmed = remote_cli(&repo, &daemon, Some(&releaser), &["promote", "v2", "--to", "live"]);
    assert_eq!(unconfirmed.code, 2, "{unconfirmed}");
    let dry = remote_cli(&repo, &daemon, Some(&releaser), &["promote", "v2", "--to", "live", "--dry-run"]).success();
    assert!(dry.stdout.starts_with("would promote v2 from pre-release to live: "), "{dry}");
    remote_cli(&repo, &daemon, Some(&releaser), &["promote", "v2", "--to", "live", "--yes"]).success();
    let rolled = remote_cli(&repo, &daemon, Some(&releaser), &["rollback", "live", "--yes"]).success();
    assert!(rolled.stdout.starts_with("rolled back live from v2 to v1 ("), "{rolled}");
    let reverted = remote_cli(&repo, &daemon, Some(&publisher), &["revert", "v2", "--preview"]).success();
    assert!(reverted.stdout.contains("would have reverted v2 in draft"), "{reverted}");
    let actor = repo.git(&["log", "-1", "--format=%(trailers:key=Stagecraft-Actor,valueonly)", "live"]);
    assert_eq!(actor.trim(), "token:releaser-bot");
    // Without a token, or for a command that needs a repository.
    let anonymous = remote_cli(&repo, &daemon, None, &["status"]);
    assert_eq!(anonymous.code, 1);
    assert!(anonymous.stderr.contains("hint: set STAGECRAFT_TOKEN to one of the daemon's tokens"), "{anonymous}");
    let validate = remote_cli(&repo, &daemon, Some(&viewer), &["validate"]);
    assert_eq!(validate.code, 2);
    assert!(validate.stderr.starts_with("error: validate needs a local repository"), "{validate}");
    let path = remote_cli(&repo, &daemon, Some(&viewer), &["diff", "./a", "./b"]);
    assert_eq!(path.code, 2, "{path}");
    assert_eq!(daemon.stop(), 0);
}

#[test]
fn a_held_long_poll_is_released_when_the_daemon_stops() {
    let repo = TestRepo::from_example();
    let daemon = Daemon::start_with(&repo, &config(""), &[("STAGECRAFT_LOG", "info,stagecraft::http=debug")]);
    let viewer = token("viewer");
    let path = "/v1/environments/live/assistants/support-bot";
    let etag = get(&daemon, path, Some(&viewer)).headers["etag"].to_str().unwrap().to_string();
    let address = daemon.address.clone();
    let poll = std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        runtime.block_on(async move {
            let response = stagecraft::net::http_client()
                .get(format!("http://{address}/v1/environments/live/assistants/support-bot?wait=60"))
                .bearer_auth(token("viewer"))
                .header("if-none-match", etag)
                .send()
                .await
                .unwrap();
            response.status().as_u16()
        })
    });
    // Held: the log says so, and the gauge counts it.
    daemon.wait_log("the poll held", |l| l.contains("a long-poll of support-bot in live is held"));
    assert!(get(&daemon, "/metrics", Some(&viewer)).body.contains("stagecraft_pull_long_polls 1"));
    assert_eq!(daemon.stop(), 0, "the stop does not wait for the poll's 60 s");
    assert_eq!(poll.join().unwrap(), 304, "released with 'not modified'");
}

#[test]
fn require_tests_refuses_a_promotion_through_the_api_until_post_v1_test_records_a_passing_run() {
    let repo = TestRepo::from_example();
    edit_temperature(&repo, "0.45");
    assert_eq!(repo.release_to("pre-release"), "v2");
    let llm = crate::common::llm::Llm::start(crate::suites::example_script());
    let extra = format!("[environments]\nrequire_tests = [\"live\"]\n[test]\nendpoint = \"{}\"\n", llm.endpoint);
    let app = TestApp::new(&repo, &config(&extra));
    let releaser = token("releaser");
    let promote = r#"{"version": "v2", "to": "live", "confirm": true}"#;
    let refused = app.call("POST", "/v1/promote", Some(&releaser), Some(promote));
    assert_router_problem(&refused, 409, "tests_required");
    let problem = refused.json();
    assert_eq!(problem["detail"], "v2 has no passing test run recorded in pre-release, and live requires one");
    assert!(problem["hint"].as_str().unwrap().contains("stagecraft test --env pre-release"), "{problem}");
    // A viewer may not run tests; a publisher may, and the run is recorded as theirs.
    let body = r#"{"env": "pre-release"}"#;
    assert_router_problem(&app.call("POST", "/v1/test", Some(&token("viewer")), Some(body)), 403, "forbidden");
    let tested = app.call("POST", "/v1/test", Some(&token("publisher")), Some(body));
    assert_eq!(tested.status, 200, "{}", tested.body);
    let answer = tested.json();
    assert_eq!(
        (answer["passed"].as_u64(), answer["recorded"].as_str()),
        (Some(6), Some("tests: 6/6 passed in pre-release"))
    );
    let note = repo.git(&["notes", "--ref", "refs/notes/stagecraft/tests", "show", "v2^{commit}"]);
    assert!(note.contains("\"by\":\"token:publisher-bot\""), "{note}");
    let shown = app.call("GET", "/v1/versions/v2", Some(&token("viewer")), None).json();
    assert_eq!(shown["tests"], "tests: 6/6 passed in pre-release");
    let promoted = app.call("POST", "/v1/promote", Some(&releaser), Some(promote));
    assert_eq!(promoted.status, 200, "{}", promoted.body);
}

#[test]
fn post_v1_chat_streams_tool_calls_and_the_reply_as_server_sent_events() {
    let repo = TestRepo::from_example();
    let llm = crate::common::llm::Llm::start(crate::suites::example_script());
    let app = TestApp::new(&repo, &config(&format!("[test]\nendpoint = \"{}\"\n", llm.endpoint)));
    let body = json!({
        "env": "sandbox",
        "assistant": "restaurant-booking",
        "messages": [{"role": "user", "content": "Hi, I'd like a table for four this Friday at seven thirty."}],
        "tool_results": {"check_availability": "{\"available\": [\"19:30\"]}"}
    });
    let answer = app.call("POST", "/v1/chat", Some(&token("publisher")), Some(&body.to_string()));
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert_eq!(answer.headers["content-type"], "text/event-stream");
    let events: Vec<(String, Value)> = answer
        .body
        .split("\n\n")
        .filter(|block| !block.trim().is_empty())
        .map(|block| {
            let name = block.lines().find_map(|l| l.strip_prefix("event: ")).unwrap().to_string();
            let data = block.lines().find_map(|l| l.strip_prefix("data: ")).unwrap();
            (name, serde_json::from_str(data).unwrap())
        })
        .collect();
    let names: Vec<&str> = events.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, ["tool", "reply", "done"], "{}", answer.body);
    assert_eq!(events[0].1["name"], "check_availability");
    assert_eq!(events[0].1["result"], "{\"available\": [\"19:30\"]}");
    assert_eq!(events[1].1["text"], "Friday at 19:30 is free. May I have your name?");
    // Bad input: a problem, not a stream.
    let empty = json!({"assistant": "restaurant-booking", "messages": []}).to_string();
    assert_router_problem(&app.call("POST", "/v1/chat", Some(&token("publisher")), Some(&empty)), 400, "usage");
    let nobody = json!({"assistant": "nobody", "messages": [{"role": "user", "content": "hi"}]}).to_string();
    assert_router_problem(&app.call("POST", "/v1/chat", Some(&token("publisher")), Some(&nobody)), 404, "not_found");
}
