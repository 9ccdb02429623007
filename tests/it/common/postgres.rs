//! A PostgreSQL server for the tests that need one: the one `.ci/start-postgres` started
//! (`STAGECRAFT_TEST_POSTGRES`, `STAGECRAFT_TEST_POSTGRES_PASSWORD`); each test gets a
//! database of its own. Without the variables a test prints a visible notice and stops
//! (under `CI=true` it fails: `.ci/run` starts the server).

use std::sync::atomic::{AtomicUsize, Ordering};

use stagecraft::config::{DatabaseConfig, Secret};

/// A new, empty database on the test server.
pub struct TestDatabase {
    pub url: String,
    pub password: String,
}

impl TestDatabase {
    /// The `[state]` settings for this database (`lease` as given).
    pub fn config(&self, lease: std::time::Duration) -> DatabaseConfig {
        DatabaseConfig { url: self.url.clone(), password: None, pool: 4, lease, node: None }
    }

    pub fn secret(&self) -> Secret {
        Secret::new(self.password.clone())
    }

    /// Runs one SQL statement on this database.
    pub fn execute(&self, sql: &str) {
        let (url, password, sql) = (self.url.clone(), self.password.clone(), sql.to_string());
        std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
            runtime.block_on(async {
                let client = connect(&url, &password).await;
                client.batch_execute(&sql).await.unwrap_or_else(|e| panic!("{sql}: {e}"));
            })
        })
        .join()
        .unwrap();
    }

    /// Waits until no delivery is pending (every acknowledgement recorded), woken by the
    /// database itself: a trigger of the test's on the pending table notifies a channel
    /// this waiter listens to, and each notification counts again. Fails after 30 s.
    pub fn wait_nothing_pending(&self, what: &str) {
        use futures_util::StreamExt;
        let (url, password, what) = (self.url.clone(), self.password.clone(), what.to_string());
        std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
            runtime.block_on(async {
                let mut config: tokio_postgres::Config = url.parse().unwrap();
                config.password(&password);
                let (client, mut connection) = config.connect(tokio_postgres::NoTls).await.unwrap();
                let (notified, mut notifications) = tokio::sync::mpsc::unbounded_channel();
                tokio::spawn(async move {
                    let mut messages = futures_util::stream::poll_fn(move |cx| connection.poll_message(cx));
                    while let Some(Ok(message)) = messages.next().await {
                        if let tokio_postgres::AsyncMessage::Notification(_) = message {
                            let _ = notified.send(());
                        }
                    }
                });
                client
                    .batch_execute(
                        "CREATE OR REPLACE FUNCTION stagecraft_test_notify() RETURNS trigger AS $$
                         BEGIN PERFORM pg_notify('stagecraft_test_pending', ''); RETURN NULL; END $$ LANGUAGE plpgsql;
                         CREATE OR REPLACE TRIGGER stagecraft_test_pending AFTER INSERT OR UPDATE OR DELETE
                         ON stagecraft_pending FOR EACH STATEMENT EXECUTE FUNCTION stagecraft_test_notify();
                         LISTEN stagecraft_test_pending;",
                    )
                    .await
                    .unwrap();
                let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(30);
                loop {
                    let pending: i64 =
                        client.query_one("SELECT count(*) FROM stagecraft_pending", &[]).await.unwrap().get(0);
                    if pending == 0 {
                        return;
                    }
                    let woken = tokio::time::timeout_at(deadline, notifications.recv()).await;
                    assert!(woken.is_ok(), "timed out waiting for {what}: {pending} deliveries still pending");
                }
            })
        })
        .join()
        .unwrap();
    }
}

async fn connect(url: &str, password: &str) -> tokio_postgres::Client {
    let mut config: tokio_postgres::Config = url.parse().expect("a PostgreSQL URL");
    config.password(password);
    let (client, connection) = config.connect(tokio_postgres::NoTls).await.expect("connect to the test PostgreSQL");
    tokio::spawn(connection);
    client
}

/// A new database, or `None` (after the notice) when no test server is configured.
pub fn database() -> Option<TestDatabase> {
    static COUNTER: AtomicUsize = AtomicUsize::new(0);
    let (Ok(url), Ok(password)) =
        (std::env::var("STAGECRAFT_TEST_POSTGRES"), std::env::var("STAGECRAFT_TEST_POSTGRES_PASSWORD"))
    else {
        super::skip_notice(
            "PostgreSQL tests need a server: eval \"$(.ci/start-postgres)\" (apt-get install postgresql), then cargo test",
        );
        return None;
    };
    let name = format!("stagecraft_test_{}_{}", std::process::id(), COUNTER.fetch_add(1, Ordering::SeqCst));
    let (server, create) = (url.clone(), format!("CREATE DATABASE {name}"));
    let pass = password.clone();
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        runtime
            .block_on(async { connect(&server, &pass).await.batch_execute(&create).await.expect("create a database") })
    })
    .join()
    .unwrap();
    let base = url.rsplit_once('/').map_or(url.as_str(), |(base, _)| base);
    Some(TestDatabase { url: format!("{base}/{name}"), password })
}

/// A PostgreSQL server of the test's own (started by `.ci/start-postgres`), which the
/// test may stop and start again; stopped and removed when dropped.
pub struct OwnServer {
    pub database: TestDatabase,
    data: std::path::PathBuf,
    bin: std::path::PathBuf,
}

impl OwnServer {
    /// `None` (after the notice) when PostgreSQL is not installed.
    pub fn start() -> Option<OwnServer> {
        let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(".ci/start-postgres");
        let output = std::process::Command::new("bash").arg(&script).output().expect("run .ci/start-postgres");
        if !output.status.success() {
            super::skip_notice(&format!(
                "this test starts a PostgreSQL server of its own and could not: {}",
                String::from_utf8_lossy(&output.stderr).trim()
            ));
            return None;
        }
        let text = String::from_utf8(output.stdout).unwrap();
        let var = |name: &str| {
            text.lines()
                .find_map(|line| line.strip_prefix(&format!("export {name}=")))
                .unwrap_or_else(|| panic!("{name} in {text}"))
                .to_string()
        };
        let server = OwnServer {
            database: TestDatabase {
                url: var("STAGECRAFT_TEST_POSTGRES"),
                password: var("STAGECRAFT_TEST_POSTGRES_PASSWORD"),
            },
            data: var("STAGECRAFT_TEST_POSTGRES_DATA").into(),
            bin: var("STAGECRAFT_TEST_POSTGRES_BIN").into(),
        };
        Some(server)
    }

    fn pg_ctl(&self, args: &[&str]) -> bool {
        let pg_ctl = self.bin.join("pg_ctl");
        let mut command = if is_root() {
            let mut command = std::process::Command::new("runuser");
            command.args(["-u", "postgres", "--"]).arg(&pg_ctl);
            command
        } else {
            std::process::Command::new(&pg_ctl)
        };
        command.arg("-D").arg(&self.data).args(args).stdout(std::process::Stdio::null());
        command.status().map(|s| s.success()).unwrap_or(false)
    }

    /// Stops the server (fast: connections are cut), waiting until it is down.
    pub fn stop(&self) {
        assert!(self.pg_ctl(&["-m", "fast", "-w", "stop"]), "pg_ctl stop");
    }

    /// Starts it again on the same port, waiting until it accepts connections.
    pub fn restart(&self) {
        let log = self.data.join("server.log");
        assert!(self.pg_ctl(&["-l", log.to_str().unwrap(), "-w", "start"]), "pg_ctl start");
    }
}

fn is_root() -> bool {
    std::process::Command::new("id").arg("-u").output().map(|o| o.stdout.trim_ascii() == b"0").unwrap_or(false)
}

impl Drop for OwnServer {
    fn drop(&mut self) {
        self.pg_ctl(&["-m", "immediate", "stop"]);
        if let Some(dir) = self.data.parent() {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}
