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

mod github {
    //! A GitHub stand-in on 127.0.0.1: it checks every request's headers and records it,
    //! keeps the pull request's comments (250 to start with, 100 a page, `Link` to the
    //! next), and answers the first status with 429 and `Retry-After: 0`.

    use std::sync::{Arc, Mutex};

    use axum::Json;
    use axum::extract::{Path, Query, State};
    use axum::http::{HeaderMap, StatusCode};
    use axum::response::{IntoResponse, Response};
    use serde_json::{Value, json};

    #[derive(Default)]
    pub struct Forge {
        pub comments: Vec<(u64, String)>,
        /// (method and path, body) of every request.
        pub requests: Vec<(String, Value)>,
        pub statuses: Vec<Value>,
        pub throttled: bool,
        pub base: String,
    }

    pub type Shared = Arc<Mutex<Forge>>;

    /// The refusal of a request with a wrong token; the other headers are asserted.
    fn refused(headers: &HeaderMap) -> Option<Response> {
        let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or_default().to_string();
        if header("authorization") != "Bearer review-token" {
            return Some((StatusCode::UNAUTHORIZED, Json(json!({"message": "Bad credentials"}))).into_response());
        }
        assert_eq!(header("accept"), "application/vnd.github+json");
        assert_eq!(header("x-github-api-version"), "2022-11-28");
        assert!(header("user-agent").starts_with("stagecraft/"), "{}", header("user-agent"));
        None
    }

    async fn list(
        State(forge): State<Shared>,
        headers: HeaderMap,
        Query(query): Query<std::collections::HashMap<String, String>>,
    ) -> Response {
        if let Some(refused) = refused(&headers) {
            return refused;
        }
        let page: usize = query.get("page").and_then(|p| p.parse().ok()).unwrap_or(1);
        let mut forge = forge.lock().unwrap();
        forge.requests.push((format!("GET comments page {page}"), Value::Null));
        let items: Vec<Value> = forge
            .comments
            .iter()
            .skip((page - 1) * 100)
            .take(100)
            .map(|(id, body)| json!({"id": id, "body": body}))
            .collect();
        let mut response = Json(items).into_response();
        if page * 100 < forge.comments.len() {
            let link = format!(
                "<{}/repos/acme/bots/issues/7/comments?per_page=100&page={}>; rel=\"next\"",
                forge.base,
                page + 1
            );
            response.headers_mut().insert("link", link.parse().unwrap());
        }
        response
    }

    async fn create(State(forge): State<Shared>, headers: HeaderMap, Json(body): Json<Value>) -> Response {
        if let Some(refused) = refused(&headers) {
            return refused;
        }
        let mut forge = forge.lock().unwrap();
        let id = 90_000 + forge.comments.len() as u64;
        forge.comments.push((id, body["body"].as_str().unwrap().to_string()));
        forge.requests.push(("POST comment".into(), body.clone()));
        (StatusCode::CREATED, Json(json!({"id": id, "body": body["body"]}))).into_response()
    }

    async fn update(
        State(forge): State<Shared>,
        headers: HeaderMap,
        Path(id): Path<u64>,
        Json(body): Json<Value>,
    ) -> Response {
        if let Some(refused) = refused(&headers) {
            return refused;
        }
        let mut forge = forge.lock().unwrap();
        let text = body["body"].as_str().unwrap().to_string();
        let Some(comment) = forge.comments.iter_mut().find(|(c, _)| *c == id) else {
            return StatusCode::NOT_FOUND.into_response();
        };
        comment.1 = text;
        forge.requests.push((format!("PATCH comment {id}"), body.clone()));
        Json(json!({"id": id})).into_response()
    }

    async fn status(
        State(forge): State<Shared>,
        headers: HeaderMap,
        Path(sha): Path<String>,
        Json(body): Json<Value>,
    ) -> Response {
        if let Some(refused) = refused(&headers) {
            return refused;
        }
        let mut forge = forge.lock().unwrap();
        if !forge.throttled {
            forge.throttled = true;
            forge.requests.push(("429 status".into(), Value::Null));
            return (StatusCode::TOO_MANY_REQUESTS, [("retry-after", "0")], "slow down").into_response();
        }
        assert_eq!(body["context"], "stagecraft/review");
        assert!(body["description"].as_str().unwrap().chars().count() <= 140);
        forge.statuses.push(json!({"sha": sha, "state": body["state"], "description": body["description"]}));
        forge.requests.push((format!("POST status {}", body["state"].as_str().unwrap()), body.clone()));
        (StatusCode::CREATED, Json(json!({"id": 1}))).into_response()
    }

    /// Starts the stand-in; returns its state and base URL (and the server's stop).
    pub fn start() -> (Shared, String, tokio::sync::oneshot::Sender<()>) {
        let forge: Shared = Arc::default();
        forge.lock().unwrap().comments =
            (1..=250).map(|n| (n, format!("a comment from a person, number {n}"))).collect();
        let app = axum::Router::new()
            .route("/repos/acme/bots/issues/7/comments", axum::routing::get(list).post(create))
            .route("/repos/acme/bots/issues/comments/{id}", axum::routing::patch(update))
            .route("/repos/acme/bots/statuses/{sha}", axum::routing::post(status))
            .with_state(forge.clone());
        let (stop, address) = crate::common::serve_app(app);
        let base = format!("http://{address}");
        forge.lock().unwrap().base = base.clone();
        (forge, base, stop)
    }
}

#[test]
fn review_post_keeps_one_comment_on_github_and_sets_the_commit_status() {
    let repo = TestRepo::from_example();
    branch_with(&repo, "feature", "assistants/support-bot/instructions.md", "Be brief.\n");
    let (forge, api, _stop) = github::start();
    let post = |head: &str, token: &str| {
        let output = repo
            .env
            .command(env!("CARGO_BIN_EXE_stagecraft"), &repo.root)
            .args(["review", "--head", head, "--post", "--api-url", &api, "--repository", "acme/bots", "--pr", "7"])
            .env("STAGECRAFT_REVIEW_TOKEN", token)
            .output()
            .unwrap();
        crate::common::Run::from_output(output, repo.env.path())
    };
    let first = post("feature", "review-token");
    assert_eq!(first.code, 0, "{first}");
    assert!(first.stderr.contains("posted the review on pull request #7"), "{first}");
    let head = repo.git(&["rev-parse", "feature"]).trim().to_string();
    {
        let forge = forge.lock().unwrap();
        let steps: Vec<&str> = forge.requests.iter().map(|(step, _)| step.as_str()).collect();
        assert_eq!(
            steps,
            [
                "429 status",
                "POST status pending",
                "GET comments page 1",
                "GET comments page 2",
                "GET comments page 3",
                "POST comment",
                "POST status success"
            ]
        );
        assert_eq!(forge.statuses.last().unwrap()["sha"], head.as_str());
        assert!(forge.comments.last().unwrap().1.starts_with("<!-- stagecraft-review -->"));
    }
    // A later push: the same comment is edited in place, never a second one.
    repo.git(&["checkout", "-q", "feature"]);
    repo.commit_file("assistants/support-bot/assistant.toml", "name = \"Support\"\nmodel = 7\n");
    repo.git(&["checkout", "-q", "draft"]);
    let second = post("feature", "review-token");
    assert_eq!(second.code, 1, "the head no longer validates: {second}");
    assert!(second.stderr.contains("updated the review on pull request #7 (comment 90250)"), "{second}");
    {
        let forge = forge.lock().unwrap();
        let reviews = forge.comments.iter().filter(|(_, body)| body.starts_with("<!-- stagecraft-review -->")).count();
        assert_eq!(reviews, 1, "one sticky comment");
        let failure = forge.statuses.last().unwrap();
        assert_eq!(failure["state"], "failure");
        assert!(
            failure["description"].as_str().unwrap().starts_with("assistants/support-bot/assistant.toml:2:"),
            "{failure}"
        );
    }
    // A wrong token: a clear error, exit 2, nothing crashes.
    let refused = post("feature", "wrong");
    assert_eq!(refused.code, 2, "{refused}");
    assert!(refused.stderr.contains("HTTP 401") && refused.stderr.contains("STAGECRAFT_REVIEW_TOKEN"), "{refused}");
}
