//! Dashboard benchmark: each page's server time on a repository of 100,000 versions
//! (bare, built with `git fast-import`: 100,000 tagged publishes on sandbox, each
//! changing one of 50 assistants' instructions; draft, pre-release and live at v1). The
//! state is a daemon's after its first sync pass; each page is asked through the whole
//! router (`http::router`, tower's `oneshot`, a signed-in admin's cookie), so the time is
//! the server's: authentication, the operation, the template. Run:
//! `cargo bench --bench pages` (`PAGES_VERSIONS=10000` chooses the size, `PAGES_ONLY=publish`
//! the pages).

use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Instant;

use axum::body::Body;
use axum::http::Request;
use sha2::Digest;
use stagecraft::daemon::sync::{Ports, Syncer};
use stagecraft::deliver::hub::Hub;
use stagecraft::deliver::ledger::SqliteLedger;
use stagecraft::http::pages::session::{self, Session};
use stagecraft::http::{AppState, Parts, router};
use stagecraft::identity::Person;
use stagecraft::loaded::{SharedConfig, load_config};
use stagecraft::store::Store;
use tower::ServiceExt;

#[path = "support/mod.rs"]
mod support;
use support::median;

fn main() {
    let versions: usize = std::env::var("PAGES_VERSIONS").ok().and_then(|n| n.parse().ok()).unwrap_or(100_000);
    let dir = tempfile::tempdir().expect("temp dir");
    let repo = dir.path().join("repo");
    let started = Instant::now();
    support::fast_import_repository(&repo, versions, 1);
    eprintln!("built {versions} versions in {:.1} s", started.elapsed().as_secs_f64());
    let hash = hex::encode(sha2::Sha256::digest(b"bench-admin"));
    let file = dir.path().join("stagecraft.toml");
    std::fs::write(
        &file,
        format!("[repository]\npath = \"repo\"\n[[token]]\nname = \"bench\"\nsha256 = \"{hash}\"\nrole = \"admin\"\n"),
    )
    .unwrap();
    let loaded = load_config(Some(&file), dir.path(), &|_| None).expect("config");
    let store = Store::open(&repo).expect("open");
    let chain = store.chain().expect("chain");
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let hub = Arc::new(Hub::new());
    let ledger = Arc::new(SqliteLedger::open(&dir.path().join("state.db")).unwrap());
    let config = Arc::new(SharedConfig::new(loaded));
    let ports =
        Ports { hub: hub.clone(), ledger: ledger.clone(), config: config.clone(), runtime: runtime.handle().clone() };
    let started = Instant::now();
    Syncer::new(store, chain.clone(), ports).pass(true).expect("the first sync pass");
    eprintln!("first sync pass in {:.1} s", started.elapsed().as_secs_f64());
    let key = session::key(None);
    let state = AppState::new(Parts {
        config,
        hub,
        repository: repo.clone(),
        remote: None,
        chain,
        identity: Some(Person { name: "bench".into(), email: "bench@example.com".into() }),
        ready: Arc::new(AtomicBool::new(true)),
        stopping: tokio_util::sync::CancellationToken::new(),
        kick: Arc::new(tokio::sync::Notify::new()),
        reviews: tokio::sync::mpsc::channel(1).0,
        session_key: key,
        ledger,
    });
    let app = router(state);
    let cookie = format!(
        "{}={}",
        session::COOKIE,
        session::seal(
            &key,
            &Session::new("bench", stagecraft::config::Role::Admin, jiff::Timestamp::now().as_second())
        )
    );
    let last = versions + 1;
    let pages = [
        ("Environments", "/".to_string()),
        ("History, first page", "/history".to_string()),
        ("History, sandbox, 50 a page", "/history?environment=sandbox&limit=50".to_string()),
        ("A version", format!("/versions/v{}", last / 2)),
        ("Compare two versions", format!("/compare?from=v{}&to=v{last}", last - 1)),
        ("Publish preview", "/publish".to_string()),
        ("Promote preview", format!("/promote?version=v{last}&to=pre-release")),
        ("Rollback preview", "/rollback?environment=sandbox".to_string()),
        ("Numbers", "/numbers".to_string()),
        ("Edit, a file", "/edit?path=channels.toml".to_string()),
        ("Test (the form)", "/test".to_string()),
    ];
    println!("| page | median server time ({versions} versions) |");
    println!("|---|---|");
    // `PAGES_ONLY=publish` times only the pages whose path contains it (for a profiler).
    let only = std::env::var("PAGES_ONLY").unwrap_or_default();
    let ask = |path: &str| {
        let request = Request::builder().uri(path).header("cookie", cookie.as_str()).body(Body::empty()).unwrap();
        let response = runtime.block_on(app.clone().oneshot(request)).unwrap();
        let status = response.status();
        let bytes = runtime.block_on(axum::body::to_bytes(response.into_body(), usize::MAX)).unwrap();
        assert!(status.is_success(), "{path}: {status}\n{}", String::from_utf8_lossy(&bytes));
    };
    for (name, path) in pages.into_iter().filter(|(_, path)| path.contains(only.as_str())) {
        let time = median(15, || ask(&path));
        println!("| {name} (`{path}`) | {:.2} ms |", time.as_secs_f64() * 1000.0);
    }
    // The rollback preview reads which versions the environment deployed from a cache
    // that the first read after a clone writes: that first read, the cache removed each time.
    let path = "/rollback?environment=sandbox";
    if path.contains(only.as_str()) {
        let cache = repo.join("stagecraft").join("deployed-sandbox");
        let time = median(5, || {
            std::fs::remove_file(&cache).expect("the previous read wrote the cache");
            ask(path)
        });
        println!(
            "| Rollback preview, first read after a clone (`{path}`, no cache) | {:.2} ms |",
            time.as_secs_f64() * 1000.0
        );
    }
}
