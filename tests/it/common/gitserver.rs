//! git's smart HTTP protocol for tests: git's own `git http-backend` (CGI) behind a small
//! axum server on 127.0.0.1, which requires `Authorization: Basic` with the token, as a
//! forge would.

use std::path::{Path, PathBuf};

use super::daemon::Daemon;
use super::{TestEnv, example_repo};

use axum::body::Bytes;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use base64::Engine;

/// The token the server accepts.
pub const TOKEN: &str = "test-forge-token";

/// The `Authorization` header value of [`TOKEN`], as stagecraft sends it.
pub fn authorization() -> String {
    let basic = base64::engine::general_purpose::STANDARD.encode(format!("x-access-token:{TOKEN}"));
    format!("Basic {basic}")
}

/// A running server; `url` is `http://127.0.0.1:PORT`, repositories under it by name.
pub struct GitServer {
    pub url: String,
    _stop: tokio::sync::oneshot::Sender<()>,
}

impl GitServer {
    /// Serves the repositories under `root`.
    pub fn start(root: PathBuf) -> GitServer {
        let handler = move |method: Method, uri: Uri, headers: HeaderMap, body: Bytes| {
            let root = root.clone();
            async move { cgi(root, method, uri, headers, body).await }
        };
        let (stop, address) = super::serve_app(axum::Router::new().fallback(handler));
        GitServer { url: format!("http://{address}"), _stop: stop }
    }
}

async fn cgi(root: PathBuf, method: Method, uri: Uri, headers: HeaderMap, body: Bytes) -> Response {
    if headers.get("authorization").and_then(|v| v.to_str().ok()) != Some(authorization().as_str()) {
        return (StatusCode::UNAUTHORIZED, [("www-authenticate", "Basic realm=\"forge\"")], "token needed\n")
            .into_response();
    }
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or_default().to_string();
    let mut command = tokio::process::Command::new("git");
    command
        .arg("http-backend")
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("HOME", &root)
        .env("GIT_PROJECT_ROOT", &root)
        .env("GIT_HTTP_EXPORT_ALL", "1")
        .env("REMOTE_USER", "forge-user")
        .env("REMOTE_ADDR", "127.0.0.1")
        .env("REQUEST_METHOD", method.as_str())
        .env("PATH_INFO", uri.path())
        .env("QUERY_STRING", uri.query().unwrap_or_default())
        .env("CONTENT_TYPE", header("content-type"))
        .env("CONTENT_LENGTH", body.len().to_string())
        .env("HTTP_CONTENT_ENCODING", header("content-encoding"))
        .env("GIT_PROTOCOL", header("git-protocol"))
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let mut child = command.spawn().expect("run git http-backend");
    let mut stdin = child.stdin.take().unwrap();
    let writer = tokio::spawn(async move {
        use tokio::io::AsyncWriteExt;
        let _ = stdin.write_all(&body).await;
    });
    let output = child.wait_with_output().await.unwrap();
    let _ = writer.await;
    // CGI: headers, a blank line, the body.
    let raw = output.stdout;
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map(|i| (i, 4))
        .or_else(|| raw.windows(2).position(|w| w == b"\n\n").map(|i| (i, 2)));
    let Some((end, gap)) = split else {
        return (StatusCode::INTERNAL_SERVER_ERROR, String::from_utf8_lossy(&output.stderr).to_string())
            .into_response();
    };
    let mut status = StatusCode::OK;
    let mut builder = Response::builder();
    for line in String::from_utf8_lossy(&raw[..end]).lines() {
        let Some((name, value)) = line.split_once(':') else { continue };
        let value = value.trim();
        if name.eq_ignore_ascii_case("status") {
            status = value.split(' ').next().and_then(|c| c.parse().ok()).unwrap_or(StatusCode::OK);
        } else {
            builder = builder.header(name, value);
        }
    }
    builder.status(status).body(axum::body::Body::from(raw[end + gap..].to_vec())).unwrap()
}

/// A forge: a bare repository made by `stagecraft init`, and how to reach it.
pub struct Forge {
    pub path: std::path::PathBuf,
    pub url: String,
    _server: Option<GitServer>,
}

pub fn forge(env: &TestEnv, over_http: bool) -> Forge {
    let root = env.path().join("forge");
    std::fs::create_dir_all(&root).unwrap();
    let path = root.join("assistants.git");
    env.stagecraft_in(&root, &["init", "assistants.git", "--bare", "--from", example_repo().to_str().unwrap()])
        .success();
    if over_http {
        let server = GitServer::start(root);
        Forge { url: format!("{}/assistants.git", server.url), path, _server: Some(server) }
    } else {
        Forge { url: format!("file://{}", path.display()), path, _server: None }
    }
}

/// git with the forge's token (harmless for file://).
pub fn git(env: &TestEnv, dir: &Path, args: &[&str]) -> String {
    let output = env
        .command("git", dir)
        .env("GIT_CONFIG_COUNT", "1")
        .env("GIT_CONFIG_KEY_0", "http.extraHeader")
        .env("GIT_CONFIG_VALUE_0", format!("Authorization: {}", authorization()))
        .args(args)
        .output()
        .unwrap();
    assert!(output.status.success(), "git {args:?}: {}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8(output.stdout).unwrap()
}

/// A developer's clone of the forge, on the draft.
pub fn clone(env: &TestEnv, forge: &Forge, name: &str) -> std::path::PathBuf {
    git(env, env.path(), &["clone", "-q", "-b", "draft", &forge.url, name]);
    let dir = env.path().join(name);
    for branch in ["sandbox", "pre-release", "live"] {
        git(env, &dir, &["branch", "-q", branch, &format!("origin/{branch}")]);
    }
    dir
}

/// POSTs a forge's hook to the daemon; its status.
pub fn post_hook(daemon: &Daemon, forge: &str, headers: &[(&str, &str)], body: Vec<u8>) -> u16 {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    runtime.block_on(async {
        let mut request =
            stagecraft::net::http_client().post(format!("http://{}/hooks/{forge}", daemon.address)).body(body);
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        request.send().await.unwrap().status().as_u16()
    })
}
