//! The delivery ledger (io): per environment the last recorded tip and its sequence;
//! per runtime and assistant the pending delivery (its exact body) and the last
//! acknowledged config. A tip's sequence is recorded in the same transaction as its
//! pending deliveries, and an acknowledgement only after its 2xx, so after `kill -9`
//! nothing pending is lost and nothing acknowledged is sent again.
//!
//! [`DeliveryLedger`] is async so that a database with an async client can back it when
//! several daemons serve one forge; [`SqliteLedger`] is the embedded default, whose
//! blocking calls run on tokio's blocking threads.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::{Arc, Mutex};

use rusqlite::{Connection, OptionalExtension, params};

use crate::error::Error;

/// A delivery to record with a new tip.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewDelivery {
    pub runtime: String,
    pub assistant: String,
    pub webhook_id: String,
    /// `assistant.config.updated` or `assistant.config.deleted`.
    pub event: String,
    /// The exact body: retries send these bytes.
    pub body: Vec<u8>,
    /// What the runtime will hold once it acknowledges (the `ETag` of the data).
    pub config_hash: String,
}

/// A delivery not acknowledged yet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingDelivery {
    pub runtime: String,
    pub assistant: String,
    pub environment: String,
    pub sequence: u64,
    pub webhook_id: String,
    pub event: String,
    pub body: Vec<u8>,
    pub config_hash: String,
}

/// Makes the deliveries of a new tip once its sequence is known.
pub type BuildDeliveries = Box<dyn FnOnce(u64) -> Vec<NewDelivery> + Send>;

/// What [`DeliveryLedger::record_tip`] recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recorded {
    pub sequence: u64,
    /// The deliveries written (empty when the tip was already recorded and brought none).
    pub deliveries: Vec<NewDelivery>,
}

/// The state a daemon keeps between runs.
#[async_trait::async_trait]
pub trait DeliveryLedger: Send + Sync {
    /// The environment's sequence and the commit it was assigned to (0 and `None` at first).
    async fn tip(&self, environment: &str) -> Result<(u64, Option<String>), Error>;
    /// Records `commit` as the tip of `environment` with its deliveries, in one
    /// transaction, under the next sequence; the same commit without deliveries keeps its
    /// sequence and writes nothing. `build` makes the deliveries once the sequence is
    /// known; each supersedes the pending delivery of the same runtime and assistant.
    async fn record_tip(&self, environment: &str, commit: &str, build: BuildDeliveries) -> Result<Recorded, Error>;
    /// Pending deliveries of a runtime, oldest first.
    async fn pending(&self, runtime: &str) -> Result<Vec<PendingDelivery>, Error>;
    /// Records acknowledgements (after their 2xx), together in one transaction; a
    /// delivery superseded in the meantime stays pending.
    async fn acknowledge(&self, acks: Vec<PendingDelivery>) -> Result<(), Error>;
    /// The config hash a runtime last acknowledged for an assistant.
    async fn acknowledged(&self, runtime: &str, assistant: &str) -> Result<Option<String>, Error>;
    /// Per assistant, what a runtime was last sent: its pending delivery's hash, else the
    /// one it acknowledged.
    async fn known(&self, runtime: &str) -> Result<BTreeMap<String, String>, Error>;
    /// Whether the ledger answers now (`/readyz`); a local file always does.
    async fn ready(&self) -> Result<(), Error> {
        Ok(())
    }
}

/// The SQLite ledger: one connection, used on tokio's blocking threads.
#[derive(Clone)]
pub struct SqliteLedger {
    connection: Arc<Mutex<Connection>>,
}

impl SqliteLedger {
    /// Opens (creating) the database at `path`, its directory included.
    pub fn open(path: &Path) -> Result<SqliteLedger, Error> {
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(Error::io("create the directory of", parent))?;
        }
        let connection = Connection::open(path).map_err(|e| sqlite("open the state database", e))?;
        connection
            .execute_batch(
                "PRAGMA journal_mode = WAL;
                 PRAGMA synchronous = FULL;
                 CREATE TABLE IF NOT EXISTS tips (
                     environment TEXT PRIMARY KEY, sequence INTEGER NOT NULL, commit_id TEXT NOT NULL);
                 CREATE TABLE IF NOT EXISTS pending (
                     runtime TEXT NOT NULL, assistant TEXT NOT NULL, environment TEXT NOT NULL,
                     sequence INTEGER NOT NULL, webhook_id TEXT NOT NULL, event TEXT NOT NULL,
                     body BLOB NOT NULL, config_hash TEXT NOT NULL,
                     PRIMARY KEY (runtime, assistant));
                 CREATE TABLE IF NOT EXISTS acknowledged (
                     runtime TEXT NOT NULL, assistant TEXT NOT NULL, config_hash TEXT NOT NULL,
                     webhook_id TEXT NOT NULL, environment TEXT NOT NULL DEFAULT '',
                     sequence INTEGER NOT NULL DEFAULT 0, PRIMARY KEY (runtime, assistant));",
            )
            .map_err(|e| sqlite("prepare the state database", e))?;
        // Databases made before acknowledgements carried their place in the order.
        for column in ["environment TEXT NOT NULL DEFAULT ''", "sequence INTEGER NOT NULL DEFAULT 0"] {
            let _ = connection.execute(&format!("ALTER TABLE acknowledged ADD COLUMN {column}"), []);
        }
        Ok(SqliteLedger { connection: Arc::new(Mutex::new(connection)) })
    }

    /// Runs `work` with the connection on a blocking thread.
    async fn with<T: Send + 'static>(
        &self,
        work: impl FnOnce(&mut Connection) -> Result<T, Error> + Send + 'static,
    ) -> Result<T, Error> {
        let connection = self.connection.clone();
        // A panic in an earlier call leaves the connection usable: SQLite rolled back.
        tokio::task::spawn_blocking(move || work(&mut connection.lock().unwrap_or_else(|e| e.into_inner())))
            .await
            .map_err(|e| Error::Io {
                step: "use",
                path: "the state database".into(),
                source: std::io::Error::other(format!("its task did not run: {e}")),
            })?
    }
}

fn sqlite(step: &str, error: rusqlite::Error) -> Error {
    Error::Io {
        step: "use",
        path: format!("the state database ({step})"),
        source: std::io::Error::other(error.to_string()),
    }
}

#[async_trait::async_trait]
impl DeliveryLedger for SqliteLedger {
    async fn tip(&self, environment: &str) -> Result<(u64, Option<String>), Error> {
        let environment = environment.to_string();
        self.with(move |connection| read_tip(connection, &environment)).await
    }

    async fn record_tip(&self, environment: &str, commit: &str, build: BuildDeliveries) -> Result<Recorded, Error> {
        let (environment, commit) = (environment.to_string(), commit.to_string());
        self.with(move |connection| record_tip(connection, &environment, &commit, build)).await
    }

    async fn pending(&self, runtime: &str) -> Result<Vec<PendingDelivery>, Error> {
        let runtime = runtime.to_string();
        self.with(move |connection| pending(connection, &runtime)).await
    }

    async fn acknowledge(&self, acks: Vec<PendingDelivery>) -> Result<(), Error> {
        self.with(move |connection| acknowledge(connection, &acks)).await
    }

    async fn acknowledged(&self, runtime: &str, assistant: &str) -> Result<Option<String>, Error> {
        let (runtime, assistant) = (runtime.to_string(), assistant.to_string());
        self.with(move |connection| {
            connection
                .query_row(
                    "SELECT config_hash FROM acknowledged WHERE runtime = ?1 AND assistant = ?2",
                    params![runtime, assistant],
                    |row| row.get(0),
                )
                .optional()
                .map_err(|e| sqlite("read an acknowledgement", e))
        })
        .await
    }

    async fn known(&self, runtime: &str) -> Result<BTreeMap<String, String>, Error> {
        let runtime = runtime.to_string();
        self.with(move |connection| known(connection, &runtime)).await
    }
}

fn read_tip(connection: &Connection, environment: &str) -> Result<(u64, Option<String>), Error> {
    let row = connection
        .query_row("SELECT sequence, commit_id FROM tips WHERE environment = ?1", params![environment], |row| {
            Ok((row.get::<_, i64>(0)?, row.get::<_, String>(1)?))
        })
        .optional()
        .map_err(|e| sqlite("read a tip", e))?;
    Ok(row.map_or((0, None), |(sequence, commit)| (sequence as u64, Some(commit))))
}

fn record_tip(
    connection: &mut Connection,
    environment: &str,
    commit: &str,
    build: BuildDeliveries,
) -> Result<Recorded, Error> {
    let transaction = connection.transaction().map_err(|e| sqlite("begin", e))?;
    let current: Option<(i64, String)> = transaction
        .query_row("SELECT sequence, commit_id FROM tips WHERE environment = ?1", params![environment], |row| {
            Ok((row.get(0)?, row.get(1)?))
        })
        .optional()
        .map_err(|e| sqlite("read a tip", e))?;
    // A new sequence for a new tip, and for the same tip when it brings deliveries (a
    // runtime added or re-filtered): a `webhook-id` is never reused for other bytes.
    let next = current.as_ref().map_or(1, |(sequence, _)| sequence + 1);
    let deliveries = build(next as u64);
    let same_tip = current.as_ref().is_some_and(|(_, recorded)| recorded == commit);
    if same_tip && deliveries.is_empty() {
        return Ok(Recorded { sequence: current.map_or(0, |(sequence, _)| sequence as u64), deliveries });
    }
    let sequence = next;
    transaction
        .execute("INSERT INTO tips (environment, sequence, commit_id) VALUES (?1, ?2, ?3) ON CONFLICT(environment) DO UPDATE SET sequence = ?2, commit_id = ?3", params![environment, sequence, commit])
        .map_err(|e| sqlite("record a tip", e))?;
    for delivery in &deliveries {
        transaction
            .execute(
                "INSERT INTO pending (runtime, assistant, environment, sequence, webhook_id, event, body, config_hash)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
                 ON CONFLICT(runtime, assistant) DO UPDATE SET environment = ?3, sequence = ?4, webhook_id = ?5, event = ?6, body = ?7, config_hash = ?8",
                params![delivery.runtime, delivery.assistant, environment, sequence, delivery.webhook_id, delivery.event, delivery.body, delivery.config_hash],
            )
            .map_err(|e| sqlite("record a delivery", e))?;
    }
    transaction.commit().map_err(|e| sqlite("commit", e))?;
    Ok(Recorded { sequence: sequence as u64, deliveries })
}

fn pending(connection: &Connection, runtime: &str) -> Result<Vec<PendingDelivery>, Error> {
    let mut statement = connection
        .prepare("SELECT runtime, assistant, environment, sequence, webhook_id, event, body, config_hash FROM pending WHERE runtime = ?1 ORDER BY sequence, assistant")
        .map_err(|e| sqlite("read pending deliveries", e))?;
    let rows = statement
        .query_map(params![runtime], |row| {
            Ok(PendingDelivery {
                runtime: row.get(0)?,
                assistant: row.get(1)?,
                environment: row.get(2)?,
                sequence: row.get::<_, i64>(3)? as u64,
                webhook_id: row.get(4)?,
                event: row.get(5)?,
                body: row.get(6)?,
                config_hash: row.get(7)?,
            })
        })
        .map_err(|e| sqlite("read pending deliveries", e))?;
    rows.collect::<Result<Vec<_>, _>>().map_err(|e| sqlite("read pending deliveries", e))
}

fn acknowledge(connection: &mut Connection, acks: &[PendingDelivery]) -> Result<(), Error> {
    let transaction = connection.transaction().map_err(|e| sqlite("begin", e))?;
    for ack in acks {
        transaction
            .execute(
                "INSERT INTO acknowledged (runtime, assistant, config_hash, webhook_id, environment, sequence)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)
                 ON CONFLICT(runtime, assistant) DO UPDATE SET config_hash = ?3, webhook_id = ?4, environment = ?5, sequence = ?6
                 WHERE acknowledged.environment != ?5 OR acknowledged.sequence <= ?6",
                params![ack.runtime, ack.assistant, ack.config_hash, ack.webhook_id, ack.environment, ack.sequence as i64],
            )
            .map_err(|e| sqlite("record an acknowledgement", e))?;
        // Only the delivery acknowledged leaves; a newer one that superseded it stays.
        transaction
            .execute(
                "DELETE FROM pending WHERE runtime = ?1 AND assistant = ?2 AND webhook_id = ?3",
                params![ack.runtime, ack.assistant, ack.webhook_id],
            )
            .map_err(|e| sqlite("clear a delivery", e))?;
    }
    transaction.commit().map_err(|e| sqlite("commit", e))
}

fn known(connection: &Connection, runtime: &str) -> Result<BTreeMap<String, String>, Error> {
    let mut known = BTreeMap::new();
    for table in ["acknowledged", "pending"] {
        let mut statement = connection
            .prepare(&format!("SELECT assistant, config_hash FROM {table} WHERE runtime = ?1"))
            .map_err(|e| sqlite("read what runtimes hold", e))?;
        let rows = statement
            .query_map(params![runtime], |row| Ok((row.get::<_, String>(0)?, row.get::<_, String>(1)?)))
            .map_err(|e| sqlite("read what runtimes hold", e))?;
        for row in rows {
            let (assistant, hash) = row.map_err(|e| sqlite("read what runtimes hold", e))?;
            known.insert(assistant, hash);
        }
    }
    Ok(known)
}
