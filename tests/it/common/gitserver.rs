//! git's smart HTTP protocol for tests: git's own `git http-backend` (CGI) behind a small
//! axum server on 127.0.0.1, which requires `Authorization: Basic` with the token, as a
//! forge would.

use std::path::PathBuf;

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
