//! The whole HTTP surface over a test state, called with tower's `oneshot`: no process,
//! no listener. The state is what a daemon has after its first sync pass over the
//! repository (the real sync code, a real SQLite ledger), so reads answer as they do
//! from a running daemon.

use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use axum::body::Body;
use axum::http::{HeaderMap, Request};
use stagecraft::daemon::sync::{Ports, Syncer};
use stagecraft::deliver::hub::Hub;
use stagecraft::deliver::ledger::SqliteLedger;
use stagecraft::http::{AppState, Parts, router};
use stagecraft::identity::Person;
use stagecraft::loaded::{SharedConfig, load_config};
use stagecraft::store::Store;
use tower::ServiceExt;

use super::TestRepo;

/// One answer of the router.
pub struct Answer {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: String,
}

impl Answer {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or_else(|_| panic!("JSON body: {}", self.body))
    }
}

/// `http::router` over the state of a daemon serving `repo` with `config` (a
/// `stagecraft.toml` whose `[repository] path` is `repo`).
pub struct TestApp {
    app: axum::Router,
    runtime: tokio::runtime::Runtime,
}

impl TestApp {
    pub fn new(repo: &TestRepo, config: &str) -> TestApp {
        let file = repo.env.path().join("stagecraft.toml");
        std::fs::write(&file, config).unwrap();
        let loaded = load_config(Some(&file), repo.env.path(), &|_| None).expect("a valid config");
        let store = Store::open(&repo.root).unwrap();
        let chain = store.chain().unwrap();
        let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
        let hub = Arc::new(Hub::new());
        let ledger = Arc::new(SqliteLedger::open(&repo.env.path().join("state.db")).unwrap());
        let config = Arc::new(SharedConfig::new(loaded));
        let ports = Ports {
            hub: hub.clone(),
            ledger: ledger.clone(),
            config: config.clone(),
            runtime: runtime.handle().clone(),
        };
        Syncer::new(store, chain.clone(), ports).pass(true).expect("the first sync pass");
        let state = AppState::new(Parts {
            config,
            hub,
            repository: repo.root.clone(),
            remote: None,
            chain,
            identity: Some(Person { name: "stagecraft daemon".into(), email: "daemon@example.com".into() }),
            ready: Arc::new(AtomicBool::new(true)),
            stopping: tokio_util::sync::CancellationToken::new(),
            kick: Arc::new(tokio::sync::Notify::new()),
            reviews: tokio::sync::mpsc::channel(1).0,
            session_key: stagecraft::http::pages::session::key(None),
            ledger,
        });
        TestApp { app: router(state), runtime }
    }

    /// One request through the router.
    pub fn call(&self, method: &str, path: &str, token: Option<&str>, body: Option<&str>) -> Answer {
        let mut request = Request::builder().method(method).uri(path);
        if let Some(token) = token {
            request = request.header("authorization", format!("Bearer {token}"));
        }
        let request = match body {
            Some(body) => request.header("content-type", "application/json").body(Body::from(body.to_string())),
            None => request.body(Body::empty()),
        }
        .unwrap();
        self.runtime.block_on(async {
            let response = self.app.clone().oneshot(request).await.unwrap();
            let status = response.status().as_u16();
            let headers = response.headers().clone();
            let bytes = axum::body::to_bytes(response.into_body(), usize::MAX).await.unwrap();
            Answer { status, headers, body: String::from_utf8_lossy(&bytes).into_owned() }
        })
    }
}
