//! A real daemon process and real HTTP receivers on 127.0.0.1 for the daemon's tests.
//! Receivers record every request in arrival order (one counter shared by all the
//! receivers of a test, so order across runtimes can be asserted) and answer from a
//! script. Every wait is on a condition with a deadline, never a sleep.

use std::collections::VecDeque;
use std::io::{BufRead, BufReader};
use std::process::{Child, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode};

use super::TestRepo;

/// How long any wait may take before the test fails.
pub const DEADLINE: Duration = Duration::from_secs(30);

/// The Standard Webhooks secret of every test runtime.
pub const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

/// One request a receiver got.
#[derive(Debug, Clone)]
pub struct Request {
    /// Arrival order across all receivers of the test.
    pub order: u64,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
    /// What the receiver answered (0: it hung past the daemon's timeout).
    pub answered: u16,
}

impl Request {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).expect("a JSON body")
    }
    pub fn data(&self) -> serde_json::Value {
        self.json()["data"].clone()
    }
    pub fn id(&self) -> String {
        self.headers["webhook-id"].to_str().unwrap().to_string()
    }
}

/// What a receiver answers.
#[derive(Debug, Clone, Copy)]
pub enum Reply {
    Status(u16),
    /// Never answers: the daemon's timeout ends the request.
    Hang,
}

type Log = Arc<(Mutex<Vec<Request>>, Condvar)>;

/// A receiver on 127.0.0.1; it stops when dropped.
pub struct Receiver {
    pub url: String,
    log: Log,
    script: Arc<Mutex<VecDeque<Reply>>>,
    _stop: tokio::sync::oneshot::Sender<()>,
}

impl Receiver {
    /// Starts on a free port.
    pub fn start(order: &Arc<AtomicU64>) -> Receiver {
        Receiver::start_on(std::net::TcpListener::bind("127.0.0.1:0").unwrap(), order)
    }

    /// Starts on a port reserved earlier with [`reserve_port`].
    pub fn start_on_port(port: u16, order: &Arc<AtomicU64>) -> Receiver {
        Receiver::start_on(std::net::TcpListener::bind(("127.0.0.1", port)).expect("the reserved port is free"), order)
    }

    fn start_on(listener: std::net::TcpListener, order: &Arc<AtomicU64>) -> Receiver {
        let log: Log = Arc::new((Mutex::new(Vec::new()), Condvar::new()));
        let script: Arc<Mutex<VecDeque<Reply>>> = Arc::default();
        let (log2, script2, order2) = (log.clone(), script.clone(), order.clone());
        let handler = move |headers: HeaderMap, body: Bytes| {
            let (log, script, order) = (log2.clone(), script2.clone(), order2.clone());
            async move {
                let reply = script.lock().unwrap().pop_front().unwrap_or(Reply::Status(204));
                let answered = match reply {
                    Reply::Status(code) => code,
                    Reply::Hang => 0,
                };
                let request =
                    Request { order: order.fetch_add(1, Ordering::SeqCst), headers, body: body.to_vec(), answered };
                {
                    let (requests, changed) = &*log;
                    requests.lock().unwrap().push(request);
                    changed.notify_all();
                }
                match reply {
                    Reply::Status(code) => StatusCode::from_u16(code).unwrap(),
                    Reply::Hang => std::future::pending().await,
                }
            }
        };
        let app = axum::Router::new().fallback(axum::routing::post(handler));
        let (stop, address) = super::serve_app_on(listener, app);
        Receiver { url: format!("http://{address}/hook"), log, script, _stop: stop }
    }

    /// Queues the next answers (then 204 for ever).
    pub fn script(&self, replies: impl IntoIterator<Item = Reply>) {
        self.script.lock().unwrap().extend(replies);
    }

    pub fn requests(&self) -> Vec<Request> {
        self.log.0.lock().unwrap().clone()
    }

    /// Waits until `done` holds for the requests so far; fails the test at the deadline.
    pub fn wait_for(&self, what: &str, done: impl Fn(&[Request]) -> bool) -> Vec<Request> {
        let deadline = Instant::now() + DEADLINE;
        let (requests, changed) = &*self.log;
        let mut guard = requests.lock().unwrap();
        loop {
            if done(&guard) {
                return guard.clone();
            }
            let left = deadline.saturating_duration_since(Instant::now());
            assert!(
                !left.is_zero(),
                "timed out waiting for {what}; got {} requests: {:#?}",
                guard.len(),
                summary(&guard)
            );
            guard = changed.wait_timeout(guard, left).unwrap().0;
        }
    }

    /// Waits for `count` acknowledged deliveries in all.
    pub fn wait_acks(&self, count: usize) -> Vec<Request> {
        self.wait_for(&format!("{count} acknowledged deliveries"), |r| acked(r).len() >= count);
        acked(&self.requests())
    }
}

/// The requests a receiver acknowledged.
pub fn acked(requests: &[Request]) -> Vec<Request> {
    requests.iter().filter(|r| (200..300).contains(&r.answered)).cloned().collect()
}

fn summary(requests: &[Request]) -> Vec<String> {
    requests
        .iter()
        .map(|r| {
            let data = r.data();
            format!(
                "#{} {} {} v{} seq {} -> {}",
                r.order,
                data["assistant"],
                &data["commit"].as_str().unwrap_or("")[..8],
                data["version"],
                data["sequence"],
                r.answered
            )
        })
        .collect()
}

/// A free port, closed again: a runtime that is down until a receiver starts on it.
pub fn reserve_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// Verifies a delivery with the Standard Webhooks reference library (not the daemon's
/// own signing code).
pub fn verify(request: &Request) {
    let webhook = standardwebhooks::Webhook::new(SECRET).unwrap();
    webhook.verify(&request.body, &request.headers).unwrap_or_else(|e| panic!("signature rejected: {e}"));
}

/// A `[[runtime]]` table.
pub fn runtime(name: &str, environment: &str, receiver_url: &str) -> String {
    format!(
        "[[runtime]]\nname = \"{name}\"\nenvironment = \"{environment}\"\nurl = \"{receiver_url}\"\nsecret = \"env:RUNTIME_SECRET\"\n"
    )
}

/// The usual test config: small retries, the repository beside it.
pub fn config(runtimes: &[String]) -> String {
    format!(
        "[repository]\npath = \"repo\"\n[server]\nlisten = \"127.0.0.1:0\"\npublic_metrics = true\n[delivery]\nretry_min = \"50ms\"\nretry_max = \"200ms\"\ntimeout = \"300ms\"\n\n{}",
        runtimes.join("\n")
    )
}

/// A child's stderr, line by line as it arrives, read by a thread of its own; `closed`
/// once the process (and everything it handed its stderr to) has ended.
#[derive(Clone, Default)]
pub struct Stderr(Arc<(Mutex<Lines>, Condvar)>);

#[derive(Default)]
struct Lines {
    lines: Vec<String>,
    closed: bool,
}

impl Stderr {
    /// Takes the child's piped stderr and follows it.
    pub fn follow(child: &mut Child) -> Stderr {
        let pipe = child.stderr.take().expect("stderr is piped");
        let stderr = Stderr::default();
        let shared = stderr.clone();
        std::thread::spawn(move || {
            let (state, changed) = &*shared.0;
            for line in BufReader::new(pipe).lines().map_while(Result::ok) {
                state.lock().unwrap().lines.push(line);
                changed.notify_all();
            }
            state.lock().unwrap().closed = true;
            changed.notify_all();
        });
        stderr
    }

    pub fn text(&self) -> String {
        self.0.0.lock().unwrap().lines.join("\n")
    }

    /// Waits for a line (seen already or still to come); fails the test at the
    /// deadline or when the process has ended without writing it.
    pub fn wait_for(&self, what: &str, matches: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + DEADLINE;
        let (state, changed) = &*self.0;
        let mut guard = state.lock().unwrap();
        loop {
            if let Some(line) = guard.lines.iter().find(|l| matches(l)) {
                return line.clone();
            }
            assert!(!guard.closed, "the process ended before {what}:\n{}", guard.lines.join("\n"));
            let left = deadline.saturating_duration_since(Instant::now());
            assert!(!left.is_zero(), "timed out waiting for {what}:\n{}", guard.lines.join("\n"));
            guard = changed.wait_timeout(guard, left).unwrap().0;
        }
    }

    /// Waits until `count` lines match.
    pub fn wait_count(&self, what: &str, count: usize, matches: impl Fn(&str) -> bool) {
        let deadline = Instant::now() + DEADLINE;
        let (state, changed) = &*self.0;
        let mut guard = state.lock().unwrap();
        while guard.lines.iter().filter(|l| matches(l)).count() < count {
            assert!(!guard.closed, "the process ended before {what}:\n{}", guard.lines.join("\n"));
            let left = deadline.saturating_duration_since(Instant::now());
            assert!(!left.is_zero(), "timed out waiting for {what}:\n{}", guard.lines.join("\n"));
            guard = changed.wait_timeout(guard, left).unwrap().0;
        }
    }
}

/// Waits for a child to exit, within the deadline (then kills it and fails the test).
pub fn wait_exit(child: Child, what: &str, log: &Stderr) -> i32 {
    let pid = child.id();
    let (exited, exit) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut child = child;
        let _ = exited.send(child.wait());
    });
    match exit.recv_timeout(DEADLINE) {
        Ok(status) => status.unwrap().code().unwrap_or(-1),
        Err(_) => {
            let _ = std::process::Command::new("kill").args(["-KILL", &pid.to_string()]).status();
            panic!("{what}:\n{}", log.text());
        }
    }
}

/// A running `stagecraft serve`.
pub struct Daemon {
    child: Option<Child>,
    pub address: String,
    pub stderr: Stderr,
}

impl Daemon {
    /// Writes the config beside the repository and starts the daemon; returns once it
    /// says it is ready.
    pub fn start(repo: &TestRepo, config: &str) -> Daemon {
        Daemon::start_with(repo, config, &[])
    }

    /// [`Daemon::start`] with more environment variables.
    pub fn start_with(repo: &TestRepo, config: &str, vars: &[(&str, &str)]) -> Daemon {
        Daemon::start_in(repo, "stagecraft.toml", config, vars)
    }

    /// [`Daemon::start_with`] with the config in `file` (several daemons beside one repository).
    pub fn start_in(repo: &TestRepo, file: &str, config: &str, vars: &[(&str, &str)]) -> Daemon {
        let dir = repo.env.path();
        std::fs::write(dir.join(file), config).unwrap();
        let mut child = repo
            .env
            .command(env!("CARGO_BIN_EXE_stagecraft"), dir)
            .args(["serve", "--config", file])
            .env("RUNTIME_SECRET", SECRET)
            .env("STAGECRAFT_LOG", "info")
            .envs(vars.iter().copied())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start the daemon");
        let stderr = Stderr::follow(&mut child);
        let line = stderr.wait_for("the ready line", |line| line.contains(" ready "));
        let address = line.split("listen=").nth(1).expect("the ready line names the address").trim().to_string();
        Daemon { child: Some(child), address, stderr }
    }

    pub fn log(&self) -> String {
        self.stderr.text()
    }

    /// Waits for a log line; fails the test at the deadline or when the daemon exits.
    pub fn wait_log(&self, what: &str, matches: impl Fn(&str) -> bool) -> String {
        self.stderr.wait_for(what, matches)
    }

    /// Waits until `count` deliveries to `runtime` are logged as acknowledged (the log
    /// line follows the metrics' update), then returns `/metrics`.
    pub fn metrics_after_acks(&self, runtime: &str, count: usize) -> String {
        let delivered = |l: &str| l.contains("delivered ") && l.contains(&format!(" to {runtime}"));
        self.stderr.wait_count(&format!("{count} deliveries to {runtime}"), count, delivered);
        let (status, metrics) = self.get("/metrics");
        assert_eq!(status, 200, "{metrics}");
        metrics
    }

    pub fn get(&self, path: &str) -> (u16, String) {
        http_get(&format!("http://{}{path}", self.address))
    }

    pub fn signal(&self, name: &str) {
        let pid = self.child.as_ref().unwrap().id().to_string();
        let status = std::process::Command::new("kill").args([&format!("-{name}"), &pid]).status().unwrap();
        assert!(status.success());
    }

    /// SIGTERM, then waits for the exit; returns the exit code.
    pub fn stop(mut self) -> i32 {
        self.signal("TERM");
        wait_exit(self.child.take().unwrap(), "the daemon did not stop on SIGTERM", &self.stderr)
    }

    /// SIGKILL, as a crash or a power loss would.
    pub fn kill9(mut self) {
        let mut child = self.child.take().unwrap();
        child.kill().unwrap();
        child.wait().unwrap();
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// A plain HTTP/1.1 GET on loopback.
pub fn http_get(url: &str) -> (u16, String) {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    runtime.block_on(async {
        let response = stagecraft::net::http_client().get(url).send().await.expect("GET");
        (response.status().as_u16(), response.text().await.unwrap())
    })
}
