//! API benchmarks (issue: the HTTP API), end to end: the release `stagecraft serve` on a
//! bare copy of the example repository, loaded from a second process by `wrk` (Debian's
//! package) on loopback: `/healthz` as the reference, the environment list and one
//! pulled assistant config, each with a viewer's bearer token. Then 1,000 idle
//! long-polls held open, and the daemon's RSS before and after.
//!
//! Run: `cargo bench --bench api` (`WRK_SECONDS=10` by default). Without `wrk` the load
//! part says it skipped (under `CI=true` that is a failure).

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};

#[path = "support/mod.rs"]
mod support;
use support::rss_kib;

const TOKEN: &str = "bench-viewer-token";

struct Daemon {
    child: Child,
    address: String,
    _dir: tempfile::TempDir,
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start() -> Daemon {
    let dir = tempfile::tempdir().unwrap();
    let example = concat!(env!("CARGO_MANIFEST_DIR"), "/example-repo");
    let repo = dir.path().join("repo.git");
    let status = Command::new(env!("CARGO_BIN_EXE_stagecraft"))
        .args(["init", repo.to_str().unwrap(), "--from", example, "--bare", "--author", "bench <bench@example.com>"])
        .stdout(Stdio::null())
        .status()
        .unwrap();
    assert!(status.success());
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let hash = hex::encode(Sha256::digest(TOKEN.as_bytes()));
    let config = format!(
        "[repository]\npath = \"{}\"\n[server]\nlisten = \"127.0.0.1:{port}\"\n[[token]]\nname = \"bench\"\nsha256 = \"{hash}\"\nrole = \"viewer\"\n",
        repo.display()
    );
    let config_path = dir.path().join("stagecraft.toml");
    std::fs::write(&config_path, config).unwrap();
    let child = Command::new(env!("CARGO_BIN_EXE_stagecraft"))
        .args(["serve", "--config", config_path.to_str().unwrap()])
        .env("STAGECRAFT_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let address = format!("127.0.0.1:{port}");
    let deadline = Instant::now() + Duration::from_secs(30);
    while get(&address, "/readyz").0 != 200 {
        assert!(Instant::now() < deadline, "the daemon did not get ready");
        std::thread::sleep(Duration::from_millis(20));
    }
    Daemon { child, address, _dir: dir }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap()
}

fn get(address: &str, path: &str) -> (u16, String, Option<String>) {
    runtime().block_on(async {
        let Ok(response) =
            stagecraft::net::http_client().get(format!("http://{address}{path}")).bearer_auth(TOKEN).send().await
        else {
            return (0, String::new(), None);
        };
        let etag = response.headers().get("etag").map(|v| v.to_str().unwrap().to_string());
        (response.status().as_u16(), response.text().await.unwrap(), etag)
    })
}

/// `wrk` against one path: requests per second and the p99 latency in ms.
fn wrk(address: &str, path: &str, seconds: u64) -> Option<(f64, f64)> {
    let output = Command::new("wrk")
        .args(["-t2", "-c64", &format!("-d{seconds}s"), "--latency"])
        .args(["-H", &format!("Authorization: Bearer {TOKEN}")])
        .arg(format!("http://{address}{path}"))
        .output()
        .ok()?;
    let text = String::from_utf8_lossy(&output.stdout).to_string();
    let rate = text.lines().find_map(|l| l.strip_prefix("Requests/sec:")).map(|v| v.trim().parse().unwrap())?;
    let p99 = text.lines().find_map(|l| l.trim().strip_prefix("99%")).map(|v| duration_ms(v.trim()))?;
    assert!(!text.contains("Non-2xx"), "wrk saw errors on {path}:\n{text}");
    Some((rate, p99))
}

fn duration_ms(text: &str) -> f64 {
    let (number, unit) = text.split_at(text.find(|c: char| c.is_ascii_alphabetic()).unwrap());
    let number: f64 = number.parse().unwrap();
    match unit {
        "us" => number / 1000.0,
        "ms" => number,
        "s" => number * 1000.0,
        other => panic!("unit {other}"),
    }
}

fn main() {
    let full = std::env::args().any(|a| a == "--bench");
    let seconds: u64 =
        std::env::var("WRK_SECONDS").ok().and_then(|s| s.parse().ok()).unwrap_or(if full { 10 } else { 1 });
    let daemon = start();
    let pid = daemon.child.id();
    let pull = "/v1/environments/live/assistants/support-bot";
    if Command::new("wrk").arg("--version").output().is_ok() {
        let mut rows = Vec::new();
        for (name, path) in
            [("/healthz", "/healthz"), ("environment list", "/v1/environments"), ("pulled assistant config", pull)]
        {
            let (rate, p99) = wrk(&daemon.address, path, seconds).expect("wrk ran");
            rows.push((name, rate, p99));
        }
        let health = rows[0].1;
        for (name, rate, p99) in &rows {
            println!("{name:<24} {rate:>10.0} req/s  ({:>3.0} % of /healthz)  p99 {p99:.2} ms", rate / health * 100.0);
        }
    } else {
        assert!(std::env::var("CI").as_deref() != Ok("true"), "wrk is required under CI=true");
        println!("SKIPPED: wrk is not installed (apt-get install wrk)");
    }

    // 1,000 idle long-polls: over HTTP/1.1 (a connection each, as 1,000 runtimes would
    // hold them) and over HTTP/2 (streams of one connection, as a puller or a proxy
    // speaking h2c would).
    let polls = if full { 1000 } else { 50 };
    let (_, _, etag) = get(&daemon.address, pull);
    let etag = etag.expect("an ETag");
    for http2 in [true, false] {
        std::thread::sleep(Duration::from_millis(300));
        let before = rss_kib(pid);
        let (address, etag) = (daemon.address.clone(), etag.clone());
        let (stop, stopped) = std::sync::mpsc::channel::<()>();
        let holder = std::thread::spawn(move || {
            runtime().block_on(async move {
                let client = if http2 {
                    reqwest::Client::builder().http2_prior_knowledge().build().unwrap()
                } else {
                    stagecraft::net::http_client()
                };
                let held: Vec<_> = (0..polls)
                    .map(|_| {
                        let request = client
                            .get(format!("http://{address}{pull}?wait=60"))
                            .bearer_auth(TOKEN)
                            .header("if-none-match", &etag)
                            .send();
                        tokio::spawn(request)
                    })
                    .collect();
                // Held until measured, then let go.
                let _ = tokio::task::spawn_blocking(move || stopped.recv()).await;
                for poll in held {
                    poll.abort();
                }
            })
        });
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let (_, metrics, _) = get(&daemon.address, "/metrics");
            let held = metrics
                .lines()
                .find_map(|l| l.strip_prefix("stagecraft_pull_long_polls "))
                .and_then(|v| v.trim().parse::<u64>().ok())
                .unwrap_or(0);
            if held >= polls {
                break;
            }
            assert!(Instant::now() < deadline, "only {held} of {polls} long-polls held");
            std::thread::sleep(Duration::from_millis(50));
        }
        let after = rss_kib(pid);
        println!(
            "{polls} idle long-polls over {}: RSS {:.1} MB -> {:.1} MB (+{:.1} MB)",
            if http2 { "HTTP/2, one connection" } else { "HTTP/1.1, a connection each" },
            before as f64 / 1024.0,
            after as f64 / 1024.0,
            (after as f64 - before as f64) / 1024.0
        );
        let _ = stop.send(());
        let _ = holder.join();
    }
    drop(daemon);
}
