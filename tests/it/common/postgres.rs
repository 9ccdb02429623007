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
}

impl TestDatabase {
    /// The one number `sql` selects.
    pub fn number(&self, sql: &str) -> i64 {
        let (url, password, sql) = (self.url.clone(), self.password.clone(), sql.to_string());
        std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
            runtime.block_on(async { connect(&url, &password).await.query_one(&sql, &[]).await.unwrap().get(0) })
        })
        .join()
        .unwrap()
    }

    /// Waits until `sql` selects `value` (asked again every 20 ms); fails the test after 30 s.
    pub fn wait_number(&self, what: &str, sql: &str, value: i64) {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        loop {
            let now = self.number(sql);
            if now == value {
                return;
            }
            assert!(std::time::Instant::now() < deadline, "timed out waiting for {what}: {sql} is {now}, not {value}");
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
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
