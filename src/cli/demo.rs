//! `stagecraft demo`: a throwaway config repository made from the example embedded in
//! the binary, then the daemon serving it on 127.0.0.1:8080 (another free port, said
//! clearly, when 8080 is taken) with a built-in demo runtime per environment that
//! prints each delivery it receives after checking its signature. The commands to
//! publish and promote from a second terminal are printed; Ctrl-C stops it.
//!
//! I/O: the terminal (through `Ui`), and the repository or a daemon's API through `ops` or `client`.

use std::net::TcpListener;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{Path as UrlPath, State};
use axum::http::{HeaderMap, StatusCode};
use base64::Engine;

use super::Context;
use super::ui::Ui;
use crate::config::{DaemonConfig, RuntimeConfig, Secret, SecretRef};
use crate::error::Error;
use crate::identity::{Identity, Person};
use crate::loaded::LoadedConfig;
use crate::ops::{self, InitOptions, InitSource};
use crate::store::Store;

/// Make a throwaway config repository from the bundled example and serve it to demo runtimes
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Where to create it: a new or empty directory [default: a new temporary directory]
    #[arg(long, value_name = "DIR")]
    dir: Option<PathBuf>,
    /// Only make the repository and show what to try; do not start the daemon
    #[arg(long)]
    no_serve: bool,
}

pub fn run(args: Args, context: &Context, ui: &Ui) -> Result<u8, Error> {
    let dir = match args.dir {
        Some(dir) => context.cwd.join(dir),
        None => tempfile::Builder::new()
            .prefix("stagecraft-demo-")
            .tempdir_in(context.temp_dir())
            .map_err(Error::io("create a temporary directory in", context.temp_dir()))?
            .keep(),
    };
    let identity = context.identity(None).unwrap_or_else(|_| demo_identity());
    let (snapshot, blobs) = crate::example::snapshot();
    let source = InitSource::Memory { origin: "the bundled example".into(), snapshot, blobs };
    let initialized = ops::init(
        InitOptions { dir: dir.clone(), source, environments: None, protected: None, bare: false },
        &identity,
    )?;
    let store = Store::open(&dir)?;
    let status = ops::status(&store)?;
    let chain = store.chain()?;
    drop(store);
    let exe = context.program();
    let next = format!(
        "\x20 alias stagecraft={exe}\n\
         \x20 cd {dir}\n\
         \x20 sed -i 's/temperature = 0.3/temperature = 0.5/' assistants/support-bot/assistant.toml\n\
         \x20 git commit -qam \"Warmer answers\"\n\
         \x20 stagecraft diff                          # what a publish would change, field by field\n\
         \x20 stagecraft publish -m \"warmer answers\"   # v2 on sandbox\n\
         \x20 stagecraft promote v2 --to pre-release\n\
         \x20 stagecraft promote v2 --to live --yes    # live is protected\n\
         \x20 stagecraft rollback live --yes           # back to v1; v2 goes on hold in live\n\
         \x20 stagecraft history                       # who did what, when\n",
        dir = dir.display(),
    );
    let intro = format!("{}\n{}", super::init::render(&initialized), super::status::render(&status));
    if args.no_serve {
        ui.json(&serde_json::json!({"initialized": initialized, "status": status}));
        ui.text(&format!("{intro}\nNext:\n{next}"));
        return Ok(0);
    }

    // One demo runtime per environment, all on one local server.
    let secret = demo_secret();
    let runtimes_listener = TcpListener::bind("127.0.0.1:0").map_err(Error::io("listen on", "127.0.0.1:0"))?;
    let runtimes_address = runtimes_listener.local_addr().map_err(Error::io("listen on", "127.0.0.1:0"))?;
    start_demo_runtimes(runtimes_listener, secret.clone())?;
    let mut config = DaemonConfig::default();
    config.repository.path = Some(dir.clone());
    config.delivery.retry_min = Duration::from_millis(200);
    config.delivery.retry_max = Duration::from_secs(2);
    config.delivery.timeout = Duration::from_secs(5);
    config.server.public_metrics = true;
    // A token made for this run only, printed below: the dashboard's sign-in.
    let demo_token = demo_token();
    config.tokens = vec![crate::config::TokenConfig {
        name: "demo".into(),
        sha256: {
            use sha2::Digest;
            hex::encode(sha2::Sha256::digest(demo_token.as_bytes()))
        },
        role: crate::config::Role::Admin,
    }];
    config.repository.identity = Some(identity.committer.clone());
    config.runtimes = chain
        .environments()
        .iter()
        .map(|env| RuntimeConfig {
            name: format!("demo-{env}"),
            environment: env.clone(),
            url: format!("http://{runtimes_address}/{env}"),
            secrets: vec![SecretRef::Env("STAGECRAFT_DEMO_SECRET".into())],
            assistants: vec!["*".into()],
            test_url: None,
        })
        .collect();
    let runtime_secrets = config.runtimes.iter().map(|_| vec![Secret::new(secret.clone())]).collect();
    let loaded = LoadedConfig {
        file: None,
        config,
        chain: Some(chain),
        runtime_secrets,
        receiver_secrets: Vec::new(),
        git_token: None,
        review: None,
        test_key: None,
        session_secret: None,
        state_password: None,
    };
    let (listener, taken) = match TcpListener::bind(("127.0.0.1", 8080)) {
        Ok(listener) => (listener, false),
        Err(_) => (TcpListener::bind("127.0.0.1:0").map_err(Error::io("listen on", "127.0.0.1:0"))?, true),
    };
    let address = listener.local_addr().map_err(Error::io("listen on", "127.0.0.1"))?;
    let environments: Vec<String> = loaded.config.runtimes.iter().map(|r| r.environment.to_string()).collect();
    ui.json(&serde_json::json!({
        "initialized": initialized,
        "status": status,
        "listen": address.to_string(),
        "runtimes": environments,
        "dashboard": format!("http://{address}/"),
        "demo_token": demo_token,
    }));
    let moved = if taken {
        format!("127.0.0.1:8080 is taken, so the daemon serves on {address} instead.\n")
    } else {
        String::new()
    };
    ui.text(&format!(
        "{intro}\n{moved}The daemon serves {dir} on http://{address} (/healthz, /readyz, /metrics), with a demo\n\
         runtime for each environment ({}); each prints below what it receives.\n\n\
         Open the dashboard: http://{address}/\n\
         \x20 sign in with the demo token {demo_token}\n\
         \x20 (made for this run only: no other daemon accepts it)\n\n\
         In a second terminal:\n{next}\nCtrl-C stops the demo.\n",
        environments.join(", "),
        dir = dir.display(),
    ));
    super::serve::init_logging_default(context, super::serve::LogFormat::Human, "warn");
    super::serve::run_daemon(loaded, context, None, Arc::new(|_| None), listener)?;
    Ok(0)
}

/// A fresh token for this demo run's dashboard sign-in (an admin, for this run only).
fn demo_token() -> String {
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes).expect("the system's random source");
    format!("demo-{}", hex::encode(bytes))
}

/// A fresh Standard Webhooks secret for this demo run.
fn demo_secret() -> String {
    let key: Vec<u8> = (0..24).map(|_| fastrand::u8(..)).collect();
    format!("whsec_{}", base64::engine::general_purpose::STANDARD.encode(key))
}

/// The demo runtimes: `POST /{environment}` checks the signature and prints a line.
fn start_demo_runtimes(listener: TcpListener, secret: String) -> Result<(), Error> {
    listener.set_nonblocking(true).map_err(Error::io("configure the listener", "127.0.0.1"))?;
    std::thread::Builder::new()
        .name("stagecraft-demo-runtimes".into())
        .spawn(move || {
            let Ok(runtime) = tokio::runtime::Builder::new_current_thread().enable_all().build() else { return };
            runtime.block_on(async move {
                let app = axum::Router::new()
                    .route("/{environment}", axum::routing::post(receive))
                    .with_state(Arc::new(secret));
                if let Ok(listener) = tokio::net::TcpListener::from_std(listener) {
                    let _ = axum::serve(listener, app).await;
                }
            });
        })
        .map_err(Error::io("start the demo runtimes", "127.0.0.1"))?;
    Ok(())
}

async fn receive(
    State(secret): State<Arc<String>>,
    UrlPath(environment): UrlPath<String>,
    headers: HeaderMap,
    body: Bytes,
) -> StatusCode {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or_default().to_string();
    let (id, timestamp, signatures) = (header("webhook-id"), header("webhook-timestamp"), header("webhook-signature"));
    let expected =
        timestamp.parse::<i64>().ok().and_then(|ts| crate::webhook::signature(&[secret.as_str()], &id, ts, &body).ok());
    let verified = expected.is_some_and(|expected| signatures.split(' ').any(|s| s == expected));
    let Ok(event) = serde_json::from_slice::<serde_json::Value>(&body) else { return StatusCode::BAD_REQUEST };
    let data = &event["data"];
    let version = data["version"].as_u64().map_or_else(|| "draft".to_string(), |v| format!("v{v}"));
    let commit = data["commit"].as_str().unwrap_or_default();
    let model = &data["config"]["model"];
    let what = if event["type"] == crate::webhook::DELETED {
        "deleted".to_string()
    } else {
        format!(
            "{} {}, temperature {}",
            model["provider"].as_str().unwrap_or("?"),
            model["name"].as_str().unwrap_or("?"),
            model["temperature"]
        )
    };
    println!(
        "[{environment:>11} runtime] {} {version} (commit {}, sequence {}): {what}; signature {}",
        data["assistant"].as_str().unwrap_or("?"),
        &commit[..8.min(commit.len())],
        data["sequence"],
        if verified { "verified" } else { "INVALID" },
    );
    if verified { StatusCode::NO_CONTENT } else { StatusCode::UNAUTHORIZED }
}

/// Used when no identity is configured, so the demo runs on a fresh machine.
fn demo_identity() -> Identity {
    let person = Person { name: "stagecraft demo".into(), email: "demo@stagecraft.invalid".into() };
    let now = crate::identity::When::from_timestamp(jiff::Timestamp::now());
    Identity { author: person.clone(), author_time: now, committer: person, committer_time: now }
}
