//! The several-daemons simulation: three daemons (`stagecraft serve` processes) in remote
//! mode on one forge (a bare repository reached over `file://`) and one PostgreSQL state
//! database (a throwaway server started by `.ci/start-postgres`), 1,000 runtimes served
//! by one receiver (an HTTP server in this process), 1,000 assistants, a history of
//! 100,000 commits on sandbox (1,000 of them tagged publishes). Each runtime holds two
//! assistants: `bot-0000`, which every change edits, and one of its own. Run:
//! `cargo bench --bench fleet` (`FLEET_RUNTIMES`, `FLEET_COMMITS` change the sizes).
//!
//! It measures, with the lease at 10 s:
//! 1. the first start: every runtime given its two assistants;
//! 2. a change published with `stagecraft --remote origin publish`, fanned out to every
//!    runtime: from the push to the last acknowledgement;
//! 3. one daemon killed with SIGKILL while a change is being delivered: runtimes that
//!    never got it (lost), deliveries the ledger had recorded as acknowledged at the kill
//!    that were sent again, and how long until the killed daemon's runtimes are served
//!    again;
//! 4. the database restarted (`pg_ctl restart -m fast`) while a change is being
//!    delivered: lost deliveries and the time to the last acknowledgement.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use hmac::{KeyInit, Mac};

const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
const HOOK_SECRET: &str = "fleet-hook-secret";

/// The bench's directory: removed at the end, or kept (`FLEET_KEEP`).
enum Kept {
    Temp(tempfile::TempDir),
    Path(PathBuf),
}

impl Kept {
    fn path(&self) -> &Path {
        match self {
            Kept::Temp(dir) => dir.path(),
            Kept::Path(path) => path,
        }
    }
}

/// One delivery as the receiver saw it.
#[derive(Debug, Clone)]
struct Seen {
    at: Instant,
    runtime: String,
    webhook_id: String,
    assistant: String,
    version: u64,
}

#[derive(Default)]
struct Log {
    seen: Vec<Seen>,
    /// Per runtime, per assistant: the highest version acknowledged.
    latest: HashMap<String, HashMap<String, u64>>,
}

type Shared = Arc<(Mutex<Log>, Condvar)>;

/// The receiver: `POST /rt/{runtime}` answers 204 and records what came.
fn start_receiver(runtime: &tokio::runtime::Runtime, log: Shared) -> String {
    use axum::extract::{Path as UrlPath, State};
    use axum::http::HeaderMap;
    let app = axum::Router::new()
        .route(
            "/rt/{name}",
            axum::routing::post(
                |State(log): State<Shared>,
                 UrlPath(name): UrlPath<String>,
                 headers: HeaderMap,
                 body: axum::body::Bytes| async move {
                    let value: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
                    let seen = Seen {
                        at: Instant::now(),
                        runtime: name.clone(),
                        webhook_id: headers
                            .get("webhook-id")
                            .and_then(|v| v.to_str().ok())
                            .unwrap_or_default()
                            .to_string(),
                        assistant: value["data"]["assistant"].as_str().unwrap_or_default().to_string(),
                        version: value["data"]["version"].as_u64().unwrap_or_default(),
                    };
                    let (lock, changed) = &*log;
                    let mut log = lock.lock().unwrap();
                    let latest = log.latest.entry(name).or_default().entry(seen.assistant.clone()).or_default();
                    *latest = (*latest).max(seen.version);
                    log.seen.push(seen);
                    changed.notify_all();
                    axum::http::StatusCode::NO_CONTENT
                },
            ),
        )
        .with_state(log);
    let listener = runtime.block_on(tokio::net::TcpListener::bind("127.0.0.1:0")).unwrap();
    let address = listener.local_addr().unwrap();
    runtime.spawn(async move { axum::serve(listener, app).await.unwrap() });
    format!("http://{address}")
}

/// Waits until `done` holds for the log (fails after `limit`); the instant it first held.
fn wait(log: &Shared, what: &str, limit: Duration, done: impl Fn(&Log) -> bool) -> Instant {
    let deadline = Instant::now() + limit;
    let (lock, changed) = &**log;
    let mut guard = lock.lock().unwrap();
    loop {
        if done(&guard) {
            return guard.seen.last().map_or_else(Instant::now, |s| s.at);
        }
        let left = deadline.saturating_duration_since(Instant::now());
        assert!(!left.is_zero(), "timed out waiting for {what} ({} deliveries seen)", guard.seen.len());
        guard = changed.wait_timeout(guard, left).unwrap().0;
    }
}

/// How many runtimes hold `version` of bot-0000.
fn holding(log: &Log, version: u64) -> usize {
    log.latest.values().filter(|a| a.get("bot-0000").copied().unwrap_or(0) >= version).count()
}

/// The forge: a bare repository made with `git fast-import`: the first commit (v1) with
/// `assistants` assistants on every branch, then `commits` commits on sandbox each
/// changing one assistant's instructions, every 100th a tagged publish (the last one
/// too, so sandbox's tip is a version).
fn build_forge(path: &Path, assistants: usize, commits: usize) {
    let status = Command::new("git").args(["init", "-q", "--bare", "-b", "draft"]).arg(path).status().unwrap();
    assert!(status.success());
    let mut child =
        Command::new("git").current_dir(path).args(["fast-import", "--quiet"]).stdin(Stdio::piped()).spawn().unwrap();
    let mut out = std::io::BufWriter::new(child.stdin.take().unwrap());
    let data = |out: &mut dyn Write, text: &str| write!(out, "data {}\n{text}\n", text.len()).unwrap();
    let init = "Initialize stagecraft: v1\n\nStagecraft-Action: init\nStagecraft-Actor: Bench <bench@example.com>\nStagecraft-Version: 1\nStagecraft-Chain: draft sandbox pre-release live\nStagecraft-Protected: live\nStagecraft-Holds:\n";
    writeln!(out, "commit refs/heads/sandbox\nmark :1\ncommitter Bench <bench@example.com> 1700000000 +0000").unwrap();
    data(&mut out, init);
    writeln!(out, "M 100644 inline channels.toml").unwrap();
    data(&mut out, "# bindings\n");
    for a in 0..assistants {
        writeln!(out, "M 100644 inline assistants/bot-{a:04}/assistant.toml").unwrap();
        data(&mut out, &format!("name = \"Bot {a}\"\n[model]\nname = \"gpt-4.1-mini\"\n"));
        writeln!(out, "M 100644 inline assistants/bot-{a:04}/instructions.md").unwrap();
        data(&mut out, &format!("Bot {a}: be brief.\n"));
    }
    writeln!(out, "tag v1\nfrom :1\ntagger Bench <bench@example.com> 1700000000 +0000").unwrap();
    data(&mut out, "initial version\n");
    let mut version = 1;
    for n in 1..=commits {
        let time = 1_700_000_000 + n as u64 * 60;
        let publish = n % 100 == 0;
        let bot = n % assistants;
        let message = if publish {
            version += 1;
            format!(
                "Publish v{version}\n\nStagecraft-Action: publish\nStagecraft-Environment: sandbox\nStagecraft-Actor: Bench <bench@example.com>\nStagecraft-Version: {version}\nStagecraft-Holds:\n"
            )
        } else {
            format!("Edit bot-{bot:04} ({n})\n")
        };
        writeln!(out, "commit refs/heads/sandbox\nmark :{}\ncommitter Bench <bench@example.com> {time} +0000", n + 1)
            .unwrap();
        data(&mut out, &message);
        writeln!(out, "M 100644 inline assistants/bot-{bot:04}/instructions.md").unwrap();
        data(&mut out, &format!("Bot {bot}: be brief ({n}).\n"));
        if publish {
            writeln!(out, "tag v{version}\nfrom :{}\ntagger Bench <bench@example.com> {time} +0000", n + 1).unwrap();
            data(&mut out, "a publish\n");
        }
    }
    // The draft equals sandbox's tip; pre-release and live stay at v1.
    writeln!(out, "reset refs/heads/draft\nfrom :{}\n", commits + 1).unwrap();
    for branch in ["pre-release", "live"] {
        writeln!(out, "reset refs/heads/{branch}\nfrom :1\n").unwrap();
    }
    drop(out);
    assert!(child.wait().unwrap().success());
    assert!(Command::new("git").current_dir(path).args(["pack-refs", "--all"]).status().unwrap().success());
}

/// A throwaway PostgreSQL (`.ci/start-postgres`): its URL, password, data directory, binaries.
struct Postgres {
    url: String,
    password: String,
    data: PathBuf,
    bin: PathBuf,
}

impl Postgres {
    fn start() -> Postgres {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join(".ci/start-postgres");
        let output = Command::new("bash").arg(script).output().unwrap();
        assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
        let text = String::from_utf8(output.stdout).unwrap();
        let var =
            |name: &str| text.lines().find_map(|l| l.strip_prefix(&format!("export {name}="))).unwrap().to_string();
        Postgres {
            url: var("STAGECRAFT_TEST_POSTGRES"),
            password: var("STAGECRAFT_TEST_POSTGRES_PASSWORD"),
            data: var("STAGECRAFT_TEST_POSTGRES_DATA").into(),
            bin: var("STAGECRAFT_TEST_POSTGRES_BIN").into(),
        }
    }

    fn pg_ctl(&self, args: &[&str]) {
        let root = Command::new("id").arg("-u").output().map(|o| o.stdout.trim_ascii() == b"0").unwrap_or(false);
        let mut command = if root {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(self.bin.join("pg_ctl"));
            c
        } else {
            Command::new(self.bin.join("pg_ctl"))
        };
        let log = self.data.join("server.log");
        command.arg("-D").arg(&self.data).args(args).arg("-l").arg(log).stdout(Stdio::null());
        assert!(command.status().unwrap().success(), "pg_ctl {args:?}");
    }

    fn psql(&self, sql: &str) -> String {
        let output = Command::new(self.bin.join("psql"))
            .args(["-At", "-d", &self.url.replace("/postgres", "/fleet"), "-c", sql])
            .env("PGPASSWORD", &self.password)
            .output()
            .unwrap();
        assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
        String::from_utf8(output.stdout).unwrap()
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        let _ = std::panic::catch_unwind(|| self.pg_ctl(&["-m", "immediate", "stop"]));
        if let Some(dir) = self.data.parent() {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

/// A daemon process, its address and its log.
struct Daemon {
    child: Child,
    address: String,
}

fn start_daemon(dir: &Path, node: &str, config: &str, password: &str) -> Daemon {
    let file = dir.join(format!("{node}.toml"));
    std::fs::write(&file, config).unwrap();
    let log = std::fs::File::create(dir.join(format!("{node}.log"))).unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_stagecraft"))
        .current_dir(dir)
        .args(["serve", "--config"])
        .arg(&file)
        .env("RUNTIME_SECRET", SECRET)
        .env("HOOK_SECRET", HOOK_SECRET)
        .env("STATE_PASSWORD", password)
        .env("STAGECRAFT_LOG", "warn,stagecraft=info")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let (sender, receiver) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut log = log;
        let mut sent = false;
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if !sent && line.contains(" ready ") {
                let address = line.split("listen=").nth(1).unwrap().trim().to_string();
                let _ = sender.send(address);
                sent = true;
            }
            let _ = writeln!(log, "{line}");
        }
    });
    let address = receiver.recv_timeout(Duration::from_secs(600)).expect("the daemon's ready line");
    Daemon { child, address }
}

/// A signed GitHub push hook: the daemon fetches at once.
fn kick(daemon: &Daemon, runtime: &tokio::runtime::Runtime) {
    let body = std::fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/forges/github-push.json")).unwrap();
    let mut mac = <hmac::Hmac<sha2::Sha256> as KeyInit>::new_from_slice(HOOK_SECRET.as_bytes()).unwrap();
    mac.update(&body);
    let signature = format!("sha256={}", hex::encode(mac.finalize().into_bytes()));
    let url = format!("http://{}/hooks/github", daemon.address);
    runtime.block_on(async {
        let status = stagecraft::net::http_client()
            .post(url)
            .header("x-github-event", "push")
            .header("x-hub-signature-256", signature)
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .unwrap()
            .status();
        assert_eq!(status.as_u16(), 202);
    });
}

/// Edits bot-0000 on the forge's draft and publishes it with the CLI, pushing to the forge.
fn publish_change(work: &Path, n: usize) -> Instant {
    std::fs::write(work.join("assistants/bot-0000/instructions.md"), format!("Bot 0: change {n}.\n")).unwrap();
    let git = |args: &[&str]| assert!(Command::new("git").current_dir(work).args(args).status().unwrap().success());
    git(&["commit", "-qam", &format!("change {n}")]);
    git(&["push", "-q", "origin", "draft"]);
    let run = Command::new(env!("CARGO_BIN_EXE_stagecraft"))
        .current_dir(work)
        .args(["--remote", "origin", "publish", "-m", &format!("change {n}")])
        .output()
        .unwrap();
    assert!(run.status.success(), "{}", String::from_utf8_lossy(&run.stderr));
    Instant::now()
}

fn ms(d: Duration) -> String {
    format!("{:.0} ms", d.as_secs_f64() * 1000.0)
}

fn main() {
    let runtimes: usize = std::env::var("FLEET_RUNTIMES").ok().and_then(|n| n.parse().ok()).unwrap_or(1000);
    let commits: usize = std::env::var("FLEET_COMMITS").ok().and_then(|n| n.parse().ok()).unwrap_or(100_000);
    let assistants = runtimes.max(2);
    let lease = Duration::from_secs(10);
    let dir = tempfile::tempdir().unwrap();
    // FLEET_KEEP=1 keeps the directory (the daemons' logs are d1.log, d2.log, d3.log).
    let dir = if std::env::var("FLEET_KEEP").is_ok() {
        let kept = dir.keep();
        eprintln!("keeping {}", kept.display());
        Kept::Path(kept)
    } else {
        Kept::Temp(dir)
    };
    let started = Instant::now();
    build_forge(&dir.path().join("forge.git"), assistants, commits);
    eprintln!(
        "built the forge ({assistants} assistants, {commits} commits) in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    let postgres = Postgres::start();
    let create = Command::new(postgres.bin.join("psql"))
        .args(["-q", "-d", &postgres.url, "-c", "CREATE DATABASE fleet"])
        .env("PGPASSWORD", &postgres.password)
        .status()
        .unwrap();
    assert!(create.success());
    let database = postgres.url.replace("/postgres", "/fleet");

    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let log: Shared = Arc::default();
    let receiver = start_receiver(&runtime, log.clone());
    let forge_url = format!("file://{}", dir.path().join("forge.git").display());
    let mut tables = String::new();
    for r in 0..runtimes {
        tables.push_str(&format!(
            "[[runtime]]\nname = \"rt-{r:04}\"\nenvironment = \"sandbox\"\nurl = \"{receiver}/rt/rt-{r:04}\"\nsecret = \"env:RUNTIME_SECRET\"\nassistants = [\"bot-0000\", \"bot-{:04}\"]\n",
            1 + r % (assistants - 1)
        ));
    }
    let config = |node: &str| {
        format!(
            "[repository]\npath = \"mirror-{node}.git\"\nremote = \"{forge_url}\"\nfetch_interval = \"1h\"\n[server]\nlisten = \"127.0.0.1:0\"\npublic_read = true\npublic_metrics = true\n[state]\nurl = \"{database}\"\npassword = \"env:STATE_PASSWORD\"\nnode = \"{node}\"\nlease = \"{}s\"\n[delivery]\nretry_min = \"100ms\"\nretry_max = \"1s\"\ntimeout = \"5s\"\n[receiver.github]\nsecret = \"env:HOOK_SECRET\"\n\n{tables}",
            lease.as_secs()
        )
    };

    // 1. The first start: three daemons, every runtime given its two assistants.
    let started = Instant::now();
    let mut daemons: Vec<(String, Daemon)> = ["d1", "d2", "d3"]
        .into_iter()
        .map(|node| (node.to_string(), start_daemon(dir.path(), node, &config(node), &postgres.password)))
        .collect();
    let ready = started.elapsed();
    wait(&log, "the first deliveries", Duration::from_secs(600), |l| {
        holding(l, 1) == runtimes && l.latest.values().all(|a| a.len() == 2)
    });
    let first = started.elapsed();
    // The leases settle: each daemon holds its share (a third).
    let deadline = Instant::now() + Duration::from_secs(120);
    let shares = loop {
        let text = postgres.psql(
            "SELECT owner, count(*) FROM stagecraft_leases WHERE expires_at > now() GROUP BY owner ORDER BY owner",
        );
        let shares: BTreeMap<String, usize> =
            text.lines().filter_map(|l| l.split_once('|')).map(|(o, c)| (o.to_string(), c.parse().unwrap())).collect();
        if shares.len() == 3 && shares.values().sum::<usize>() == runtimes {
            break shares;
        }
        assert!(Instant::now() < deadline, "the leases did not settle: {shares:?}");
        std::thread::sleep(Duration::from_millis(100));
    };
    println!("| what | figure |\n|---|---|");
    println!("| three daemons ready (each cloned the forge, read it, took its leases) | {} |", ms(ready));
    println!(
        "| first start to every runtime holding its two assistants ({} deliveries) | {} |",
        runtimes * 2,
        ms(first)
    );
    println!("| leases once settled | {shares:?} |");

    // A work clone to publish from.
    let work = dir.path().join("work");
    let clone = Command::new("git").args(["clone", "-q", "-b", "draft", &forge_url]).arg(&work).status().unwrap();
    assert!(clone.success());
    for (key, value) in [("user.name", "Bench"), ("user.email", "bench@example.com")] {
        Command::new("git").current_dir(&work).args(["config", key, value]).status().unwrap();
    }

    // 2. A change fanned out to every runtime.
    let version = 1 + commits as u64 / 100;
    let mut fan_outs = Vec::new();
    for n in 1..=3u64 {
        let pushed = publish_change(&work, n as usize);
        for (_, daemon) in &daemons {
            kick(daemon, &runtime);
        }
        let done =
            wait(&log, "the change everywhere", Duration::from_secs(120), |l| holding(l, version + n) == runtimes);
        fan_outs.push(done.duration_since(pushed));
    }
    fan_outs.sort();
    println!(
        "| a change of bot-0000 published (CLI push to the forge, then a push hook to each daemon) to its acknowledgement by all {runtimes} runtimes, 3 runs | {} / {} / {} |",
        ms(fan_outs[0]),
        ms(fan_outs[1]),
        ms(fan_outs[2])
    );

    // 3. One daemon killed with SIGKILL while a change is being delivered.
    let next = version + 4;
    let owned_by_d3: BTreeSet<String> = postgres
        .psql("SELECT runtime FROM stagecraft_leases WHERE owner = 'd3' AND expires_at > now()")
        .lines()
        .map(str::to_string)
        .collect();
    let pushed = publish_change(&work, 4);
    for (_, daemon) in &daemons {
        kick(daemon, &runtime);
    }
    // Killed as soon as it delivered the change to one of its runtimes: the rest of its
    // share is still to be sent.
    wait(&log, "d3 delivering the change", Duration::from_secs(60), |l| {
        owned_by_d3.iter().any(|r| l.latest.get(r).and_then(|a| a.get("bot-0000")).copied().unwrap_or(0) >= next)
    });
    let (_, mut d3) = daemons.pop().unwrap();
    d3.child.kill().unwrap();
    let killed = Instant::now();
    d3.child.wait().unwrap();
    // What the ledger holds as acknowledged at the kill: none of it may be sent again.
    let acknowledged: BTreeSet<String> =
        postgres.psql("SELECT webhook_id FROM stagecraft_acknowledged").lines().map(str::to_string).collect();
    let d3_pending: BTreeSet<String> = {
        let (lock, _) = &*log;
        let log = lock.lock().unwrap();
        owned_by_d3
            .iter()
            .filter(|r| log.latest.get(*r).and_then(|a| a.get("bot-0000")).copied().unwrap_or(0) < next)
            .cloned()
            .collect()
    };
    let done =
        wait(&log, "the change everywhere after the kill", Duration::from_secs(120), |l| holding(l, next) == runtimes);
    let (resent, duplicates, served_again) = {
        let (lock, _) = &*log;
        let log = lock.lock().unwrap();
        let after: Vec<&Seen> = log.seen.iter().filter(|s| s.at > killed).collect();
        // Sent again: received before the kill, recorded as acknowledged, and received again after.
        let before: BTreeSet<&str> =
            log.seen.iter().filter(|s| s.at <= killed).map(|s| s.webhook_id.as_str()).collect();
        let resent = after
            .iter()
            .filter(|s| before.contains(s.webhook_id.as_str()) && acknowledged.contains(&s.webhook_id))
            .count();
        let mut ids: BTreeMap<&str, usize> = BTreeMap::new();
        for seen in &log.seen {
            *ids.entry(seen.webhook_id.as_str()).or_default() += 1;
        }
        let duplicates = ids.values().filter(|n| **n > 1).count();
        let served_again =
            after.iter().filter(|s| d3_pending.contains(&s.runtime)).map(|s| s.at.duration_since(killed)).min();
        (resent, duplicates, served_again)
    };
    let lost = runtimes - {
        let (lock, _) = &*log;
        holding(&lock.lock().unwrap(), next)
    };
    println!(
        "| d3 killed (SIGKILL) right after it delivered the change to one of its runtimes: it owned {}, {} of them still waiting | |",
        owned_by_d3.len(),
        d3_pending.len()
    );
    println!("| runtimes that never got the change (lost) | {lost} |");
    println!("| deliveries recorded as acknowledged at the kill that were sent again | {resent} |");
    println!("| webhook-ids received twice in the whole run (in flight at the kill: at least once) | {duplicates} |");
    println!(
        "| kill to the first delivery to a runtime d3 had not served yet (lease {} s; target < lease + 1 s) | {} |",
        lease.as_secs(),
        served_again.map_or("none waited".to_string(), ms)
    );
    println!("| push to the last acknowledgement, across the kill | {} |", ms(done.duration_since(pushed)));

    // 4. The database restarted while a change is being delivered.
    let next = version + 5;
    let pushed = publish_change(&work, 5);
    for (_, daemon) in &daemons {
        kick(daemon, &runtime);
    }
    wait(&log, "a third of the change delivered", Duration::from_secs(60), |l| holding(l, next) >= runtimes / 3);
    let restarting = Instant::now();
    postgres.pg_ctl(&["-m", "fast", "-w", "restart"]);
    let restarted = restarting.elapsed();
    let done = wait(&log, "the change everywhere after the restart", Duration::from_secs(120), |l| {
        holding(l, next) == runtimes
    });
    let lost = runtimes - {
        let (lock, _) = &*log;
        holding(&lock.lock().unwrap(), next)
    };
    // Every acknowledgement recorded once the database is back: nothing left pending.
    let deadline = Instant::now() + Duration::from_secs(60);
    while postgres.psql("SELECT count(*) FROM stagecraft_pending").trim() != "0" {
        assert!(Instant::now() < deadline, "deliveries left pending after the restart");
        std::thread::sleep(Duration::from_millis(100));
    }
    println!(
        "| database restarted mid-delivery (pg_ctl restart -m fast took {}) : runtimes that never got the change | {lost} |",
        ms(restarted)
    );
    println!("| push to the last acknowledgement, across the restart | {} |", ms(done.duration_since(pushed)));
    println!("| pending deliveries left in the ledger afterwards | 0 |");
    for (_, mut daemon) in daemons {
        let _ = Command::new("kill").args(["-TERM", &daemon.child.id().to_string()]).status();
        let _ = daemon.child.wait();
    }
}
