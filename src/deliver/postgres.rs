//! The delivery ledger in PostgreSQL (io: the database), for several daemons on one
//! forge: the same tips, pending deliveries and acknowledgements as the SQLite ledger,
//! with the same rules, in tables every daemon shares. The schema is created and
//! upgraded at start by the migrations below, under a transaction-scoped advisory lock so
//! that daemons starting together apply each one once; a database whose schema is newer
//! than this binary's, or that serves another chain of environments, is refused at start.
//!
//! A tip's sequence is assigned in the database, in the transaction that records its
//! deliveries, with the environment's row locked: two daemons recording at once get
//! consecutive sequences, never the same one.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod};
use tokio_postgres::NoTls;

use super::lease::Ownership;
use super::ledger::{BuildDeliveries, DeliveryLedger, PendingDelivery, Recorded};
use crate::config::{DatabaseConfig, Secret};
use crate::error::Error;
use crate::model::Chain;

/// The migrations, in order: the schema's version is how many were applied. Never edit
/// one that shipped; add the next.
const MIGRATIONS: [&str; 1] = ["
    CREATE TABLE stagecraft_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
    CREATE TABLE stagecraft_tips (environment TEXT PRIMARY KEY, sequence BIGINT NOT NULL, commit_id TEXT NOT NULL);
    CREATE TABLE stagecraft_pending (
        runtime TEXT NOT NULL, assistant TEXT NOT NULL, environment TEXT NOT NULL,
        sequence BIGINT NOT NULL, webhook_id TEXT NOT NULL, event TEXT NOT NULL,
        body BYTEA NOT NULL, config_hash TEXT NOT NULL,
        PRIMARY KEY (runtime, assistant));
    CREATE TABLE stagecraft_acknowledged (
        runtime TEXT NOT NULL, assistant TEXT NOT NULL, config_hash TEXT NOT NULL,
        webhook_id TEXT NOT NULL, environment TEXT NOT NULL, sequence BIGINT NOT NULL,
        PRIMARY KEY (runtime, assistant));
    CREATE TABLE stagecraft_leases (
        runtime TEXT PRIMARY KEY, owner TEXT NOT NULL, epoch BIGINT NOT NULL,
        expires_at TIMESTAMPTZ NOT NULL);
    CREATE TABLE stagecraft_nodes (node TEXT PRIMARY KEY, seen_at TIMESTAMPTZ NOT NULL);
"];

/// The advisory lock the migrations run under (any constant; this one spells `stgcraft`).
const MIGRATION_LOCK: i64 = 0x7374_6763_7261_6674;

/// How long `/readyz` waits for the database.
pub const READY_TIMEOUT: Duration = Duration::from_millis(900);

/// The PostgreSQL ledger: a pool of connections, and (once the daemon takes leases)
/// the leases its writes are fenced by.
#[derive(Clone)]
pub struct PgLedger {
    pool: Pool,
    fence: Option<Arc<Ownership>>,
}

/// What a fenced write is: new deliveries need a lease held now; acknowledgements of
/// deliveries sent before may also come under a lease being let go of, until it expires.
#[derive(Debug, Clone, Copy)]
enum Fence {
    NewDeliveries,
    Acknowledgements,
}

/// A lease as the database holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeaseRow {
    pub runtime: String,
    pub owner: String,
    pub epoch: i64,
    /// Not expired, by the database's clock.
    pub live: bool,
}

fn failed(step: &str, error: impl std::fmt::Display, hint: &str) -> Error {
    Error::State { step: step.to_string(), detail: error.to_string(), hint: hint.to_string() }
}

fn db(step: &'static str) -> impl Fn(tokio_postgres::Error) -> Error {
    move |error| {
        // The server's own words (`password authentication failed for user "x"`), which
        // never hold the password.
        let detail = match error.as_db_error() {
            Some(db) => db.message().to_string(),
            None => error.to_string(),
        };
        failed(step, detail, "check that PostgreSQL is running and reachable at [state] url")
    }
}

/// The schema's version, refused when newer than this binary's migrations.
async fn applied_version(client: &impl tokio_postgres::GenericClient) -> Result<i32, Error> {
    let applied: i32 = client
        .query_one("SELECT COALESCE(MAX(version), 0) FROM stagecraft_schema", &[])
        .await
        .map_err(db("read the schema's version"))?
        .get(0);
    let known = MIGRATIONS.len() as i32;
    if applied > known {
        return Err(newer_schema(applied, known));
    }
    Ok(applied)
}

fn newer_schema(applied: i32, known: i32) -> Error {
    failed(
        "use the database",
        format!("its schema is version {applied}, newer than this stagecraft's ({known})"),
        "a newer stagecraft upgraded it: run that version here too, or point [state] url at another database",
    )
}

fn other_chain(recorded: &str, wanted: &str) -> Error {
    failed(
        "use the database",
        format!("it serves the chain `{recorded}`, and this repository's is `{wanted}`"),
        "daemons that share a database serve one repository: point [state] url at the database of this one",
    )
}

impl PgLedger {
    /// Connects, applies the migrations this database lacks and checks that it serves
    /// `chain` (recording it on first use).
    pub async fn open(config: &DatabaseConfig, password: Option<&Secret>, chain: &Chain) -> Result<PgLedger, Error> {
        let ledger = PgLedger::connect(config, password)?;
        ledger.migrate(chain).await?;
        Ok(ledger)
    }

    /// The pool alone, connecting on first use: no migration, no check.
    pub fn connect(config: &DatabaseConfig, password: Option<&Secret>) -> Result<PgLedger, Error> {
        let mut pg: tokio_postgres::Config = config
            .url
            .parse()
            .map_err(|e| failed("read [state] url", e, "write it as postgres://USER@HOST:5432/DATABASE"))?;
        if let Some(password) = password {
            pg.password(password.expose());
        }
        pg.application_name("stagecraft").connect_timeout(Duration::from_secs(5));
        let manager = Manager::from_config(pg, NoTls, ManagerConfig { recycling_method: RecyclingMethod::Fast });
        let pool = Pool::builder(manager)
            .max_size(config.pool)
            .wait_timeout(Some(Duration::from_secs(10)))
            .create_timeout(Some(Duration::from_secs(5)))
            .runtime(deadpool_postgres::Runtime::Tokio1)
            .build()
            .map_err(|e| failed("make the connection pool", e, "check [state] pool"))?;
        Ok(PgLedger { pool, fence: None })
    }

    /// This ledger, with every write of a runtime's delivery state checked against the
    /// lease `ownership` holds for it (its owner and epoch, not expired): a daemon that
    /// lost a lease, paused or cut off, writes nothing for that runtime.
    pub fn fenced(mut self, ownership: Arc<Ownership>) -> PgLedger {
        self.fence = Some(ownership);
        self
    }

    /// Of `runtimes`, those whose lease this daemon holds in the database, with the epoch
    /// it holds, unexpired; their lease rows are locked (shared) until `transaction` ends,
    /// so a takeover waits for the write in progress. Without fencing: all of them.
    async fn fenced_runtimes(
        &self,
        transaction: &deadpool_postgres::Transaction<'_>,
        runtimes: BTreeSet<&str>,
        purpose: Fence,
    ) -> Result<BTreeSet<String>, Error> {
        let Some(ownership) = &self.fence else {
            return Ok(runtimes.into_iter().map(str::to_string).collect());
        };
        let held = match purpose {
            Fence::NewDeliveries => ownership.held().into_iter().map(|(r, h)| (r, h.epoch)).collect(),
            Fence::Acknowledgements => ownership.recordable(),
        };
        let (names, epochs): (Vec<&str>, Vec<i64>) = runtimes.iter().filter_map(|r| Some((*r, *held.get(*r)?))).unzip();
        if names.is_empty() {
            return Ok(BTreeSet::new());
        }
        let rows = transaction
            .query(
                "SELECT l.runtime FROM stagecraft_leases l JOIN UNNEST($1::text[], $2::bigint[]) AS h(r, e)
                 ON l.runtime = h.r AND l.epoch = h.e WHERE l.owner = $3 AND l.expires_at > now() FOR SHARE OF l",
                &[&names, &epochs, &ownership.node],
            )
            .await
            .map_err(db("check the leases"))?;
        Ok(rows.iter().map(|row| row.get(0)).collect())
    }

    /// Marks `node` live now.
    pub async fn heartbeat(&self, node: &str) -> Result<(), Error> {
        let client = self.client().await?;
        client
            .execute(
                "INSERT INTO stagecraft_nodes (node, seen_at) VALUES ($1, now()) ON CONFLICT (node) DO UPDATE SET seen_at = now()",
                &[&node],
            )
            .await
            .map_err(db("record this daemon as live"))?;
        Ok(())
    }

    /// The daemons seen within `lease`, by name.
    pub async fn live_nodes(&self, lease: Duration) -> Result<Vec<String>, Error> {
        let client = self.client().await?;
        let rows = client
            .query(
                "SELECT node FROM stagecraft_nodes WHERE seen_at > now() - make_interval(secs => $1) ORDER BY node",
                &[&lease.as_secs_f64()],
            )
            .await
            .map_err(db("read the live daemons"))?;
        Ok(rows.iter().map(|row| row.get(0)).collect())
    }

    /// Every runtime's lease.
    pub async fn leases(&self) -> Result<Vec<LeaseRow>, Error> {
        let client = self.client().await?;
        let rows = client
            .query("SELECT runtime, owner, epoch, expires_at > now() FROM stagecraft_leases ORDER BY runtime", &[])
            .await
            .map_err(db("read the leases"))?;
        Ok(rows
            .iter()
            .map(|row| LeaseRow { runtime: row.get(0), owner: row.get(1), epoch: row.get(2), live: row.get(3) })
            .collect())
    }

    /// Takes `runtime`'s lease for `node` when nobody holds it or it expired, with the
    /// next epoch; `None` when another holds it.
    pub async fn acquire(&self, runtime: &str, node: &str, lease: Duration) -> Result<Option<i64>, Error> {
        let client = self.client().await?;
        let row = client
            .query_opt(
                "INSERT INTO stagecraft_leases AS l (runtime, owner, epoch, expires_at)
                 VALUES ($1, $2, 1, now() + make_interval(secs => $3))
                 ON CONFLICT (runtime) DO UPDATE SET owner = EXCLUDED.owner, epoch = l.epoch + 1, expires_at = EXCLUDED.expires_at
                 WHERE l.expires_at <= now()
                 RETURNING epoch",
                &[&runtime, &node, &lease.as_secs_f64()],
            )
            .await
            .map_err(db("take a lease"))?;
        Ok(row.map(|row| row.get(0)))
    }

    /// Extends the leases `node` holds with these epochs and that have not expired; the
    /// runtimes renewed.
    pub async fn renew(&self, node: &str, held: &[(String, i64)], lease: Duration) -> Result<BTreeSet<String>, Error> {
        if held.is_empty() {
            return Ok(BTreeSet::new());
        }
        let client = self.client().await?;
        let (names, epochs): (Vec<&str>, Vec<i64>) = held.iter().map(|(r, e)| (r.as_str(), *e)).unzip();
        let rows = client
            .query(
                "UPDATE stagecraft_leases l SET expires_at = now() + make_interval(secs => $4)
                 FROM UNNEST($1::text[], $2::bigint[]) AS h(r, e)
                 WHERE l.runtime = h.r AND l.epoch = h.e AND l.owner = $3 AND l.expires_at > now()
                 RETURNING l.runtime",
                &[&names, &epochs, &node, &lease.as_secs_f64()],
            )
            .await
            .map_err(db("renew the leases"))?;
        Ok(rows.iter().map(|row| row.get(0)).collect())
    }

    /// Gives up `node`'s lease of `runtime` with `epoch` at once (another may take it).
    pub async fn release(&self, runtime: &str, node: &str, epoch: i64) -> Result<(), Error> {
        let client = self.client().await?;
        client
            .execute(
                "UPDATE stagecraft_leases SET expires_at = now() - interval '1 second'
                 WHERE runtime = $1 AND owner = $2 AND epoch = $3",
                &[&runtime, &node, &epoch],
            )
            .await
            .map_err(db("release a lease"))?;
        Ok(())
    }

    /// What `serve --check` says of the database, reading only: the schema's version
    /// (refused when newer than this binary's) and the chain it serves (refused when
    /// another), or that the first start will create them.
    pub async fn inspect(&self, chain: &Chain) -> Result<String, Error> {
        let client = self.client().await?;
        let exists = |table: &'static str| {
            let client = &client;
            async move {
                let row = client.query_one("SELECT to_regclass($1) IS NOT NULL", &[&table]).await;
                row.map(|row| row.get::<_, bool>(0)).map_err(db("read the schema"))
            }
        };
        if !exists("stagecraft_schema").await? {
            return Ok("empty: the first start creates the tables".into());
        }
        let applied = applied_version(&**client).await?;
        let known = MIGRATIONS.len() as i32;
        if exists("stagecraft_meta").await? {
            let recorded = client
                .query_opt("SELECT value FROM stagecraft_meta WHERE key = 'chain'", &[])
                .await
                .map_err(db("read the chain"))?;
            if let Some(recorded) = recorded.map(|row| row.get::<_, String>(0))
                && recorded != chain.to_trailer()
            {
                return Err(other_chain(&recorded, &chain.to_trailer()));
            }
        }
        Ok(if applied == known {
            format!("schema version {applied}, up to date")
        } else {
            format!("schema version {applied}; the start applies up to {known}")
        })
    }

    async fn client(&self) -> Result<deadpool_postgres::Client, Error> {
        self.pool.get().await.map_err(|error| {
            let detail = match &error {
                deadpool_postgres::PoolError::Backend(backend) => match backend.as_db_error() {
                    Some(db) => db.message().to_string(),
                    None => backend.to_string(),
                },
                other => other.to_string(),
            };
            let hint = if detail.contains("password") {
                "check [state] password (the secret it names) and the user in [state] url"
            } else {
                "check that PostgreSQL is running and reachable at [state] url"
            };
            failed("connect", detail, hint)
        })
    }

    /// Brings the schema up to this binary's version, once, whichever daemon comes first.
    async fn migrate(&self, chain: &Chain) -> Result<(), Error> {
        let mut client = self.client().await?;
        let transaction = client.transaction().await.map_err(db("begin the migrations"))?;
        transaction
            .execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])
            .await
            .map_err(db("lock the schema"))?;
        transaction
            .batch_execute("CREATE TABLE IF NOT EXISTS stagecraft_schema (version INTEGER NOT NULL)")
            .await
            .map_err(db("read the schema's version"))?;
        let applied = applied_version(&*transaction).await?;
        for (index, migration) in MIGRATIONS.iter().enumerate().skip(applied as usize) {
            transaction.batch_execute(migration).await.map_err(db("apply a migration"))?;
            let version = index as i32 + 1;
            transaction
                .execute("INSERT INTO stagecraft_schema (version) VALUES ($1)", &[&version])
                .await
                .map_err(db("apply a migration"))?;
            tracing::info!(version, "state database: applied migration {version}");
        }
        let wanted = chain.to_trailer();
        transaction
            .execute(
                "INSERT INTO stagecraft_meta (key, value) VALUES ('chain', $1) ON CONFLICT (key) DO NOTHING",
                &[&wanted],
            )
            .await
            .map_err(db("record the chain"))?;
        let recorded: String = transaction
            .query_one("SELECT value FROM stagecraft_meta WHERE key = 'chain'", &[])
            .await
            .map_err(db("read the chain"))?
            .get(0);
        if recorded != wanted {
            return Err(other_chain(&recorded, &wanted));
        }
        transaction.commit().await.map_err(db("commit the migrations"))
    }
}

#[async_trait::async_trait]
impl DeliveryLedger for PgLedger {
    async fn tip(&self, environment: &str) -> Result<(u64, Option<String>), Error> {
        let client = self.client().await?;
        let row = client
            .query_opt("SELECT sequence, commit_id FROM stagecraft_tips WHERE environment = $1", &[&environment])
            .await
            .map_err(db("read a tip"))?;
        Ok(match row {
            Some(row) if row.get::<_, i64>(0) > 0 => (row.get::<_, i64>(0) as u64, Some(row.get(1))),
            _ => (0, None),
        })
    }

    async fn record_tip(&self, environment: &str, commit: &str, build: BuildDeliveries) -> Result<Recorded, Error> {
        let mut client = self.client().await?;
        let transaction = client.transaction().await.map_err(db("begin"))?;
        // The environment's row, locked until the commit: one recorder at a time.
        transaction
            .execute(
                "INSERT INTO stagecraft_tips (environment, sequence, commit_id) VALUES ($1, 0, '') ON CONFLICT (environment) DO NOTHING",
                &[&environment],
            )
            .await
            .map_err(db("record a tip"))?;
        let row = transaction
            .query_one(
                "SELECT sequence, commit_id FROM stagecraft_tips WHERE environment = $1 FOR UPDATE",
                &[&environment],
            )
            .await
            .map_err(db("read a tip"))?;
        let (current, recorded): (i64, String) = (row.get(0), row.get(1));
        let next = current + 1;
        let mut deliveries = build(next as u64);
        // Only the runtimes whose lease this daemon holds get deliveries from it.
        let allowed = self
            .fenced_runtimes(
                &transaction,
                deliveries.iter().map(|d| d.runtime.as_str()).collect(),
                Fence::NewDeliveries,
            )
            .await?;
        deliveries.retain(|d| allowed.contains(&d.runtime));
        if current > 0 && recorded == commit && deliveries.is_empty() {
            return Ok(Recorded { sequence: current as u64, deliveries });
        }
        transaction
            .execute(
                "UPDATE stagecraft_tips SET sequence = $2, commit_id = $3 WHERE environment = $1",
                &[&environment, &next, &commit],
            )
            .await
            .map_err(db("record a tip"))?;
        if !deliveries.is_empty() {
            let column =
                |f: fn(&super::ledger::NewDelivery) -> &str| -> Vec<&str> { deliveries.iter().map(f).collect() };
            let (runtimes, assistants, ids, events, hashes) = (
                column(|d| &d.runtime),
                column(|d| &d.assistant),
                column(|d| &d.webhook_id),
                column(|d| &d.event),
                column(|d| &d.config_hash),
            );
            let bodies: Vec<&[u8]> = deliveries.iter().map(|d| d.body.as_slice()).collect();
            transaction
                .execute(
                    "INSERT INTO stagecraft_pending (runtime, assistant, environment, sequence, webhook_id, event, body, config_hash)
                     SELECT r, a, $1, $2, w, e, b, h FROM UNNEST($3::text[], $4::text[], $5::text[], $6::text[], $7::bytea[], $8::text[]) AS d(r, a, w, e, b, h)
                     ON CONFLICT (runtime, assistant) DO UPDATE SET environment = EXCLUDED.environment, sequence = EXCLUDED.sequence,
                         webhook_id = EXCLUDED.webhook_id, event = EXCLUDED.event, body = EXCLUDED.body, config_hash = EXCLUDED.config_hash",
                    &[&environment, &next, &runtimes, &assistants, &ids, &events, &bodies, &hashes],
                )
                .await
                .map_err(db("record deliveries"))?;
        }
        transaction.commit().await.map_err(db("commit"))?;
        Ok(Recorded { sequence: next as u64, deliveries })
    }

    async fn pending(&self, runtime: &str) -> Result<Vec<PendingDelivery>, Error> {
        let client = self.client().await?;
        let rows = client
            .query(
                "SELECT runtime, assistant, environment, sequence, webhook_id, event, body, config_hash
                 FROM stagecraft_pending WHERE runtime = $1 ORDER BY sequence, assistant",
                &[&runtime],
            )
            .await
            .map_err(db("read pending deliveries"))?;
        Ok(rows
            .iter()
            .map(|row| PendingDelivery {
                runtime: row.get(0),
                assistant: row.get(1),
                environment: row.get(2),
                sequence: row.get::<_, i64>(3) as u64,
                webhook_id: row.get(4),
                event: row.get(5),
                body: row.get(6),
                config_hash: row.get(7),
            })
            .collect())
    }

    async fn acknowledge(&self, acks: Vec<PendingDelivery>) -> Result<(), Error> {
        let mut client = self.client().await?;
        let transaction = client.transaction().await.map_err(db("begin"))?;
        let allowed = self
            .fenced_runtimes(&transaction, acks.iter().map(|a| a.runtime.as_str()).collect(), Fence::Acknowledgements)
            .await?;
        let refused = acks.iter().filter(|a| !allowed.contains(&a.runtime)).count();
        if refused > 0 {
            tracing::warn!(
                refused,
                "acknowledgements of runtimes whose lease this daemon lost are not recorded (their new owner sends again)"
            );
        }
        let acks: Vec<PendingDelivery> = acks.into_iter().filter(|a| allowed.contains(&a.runtime)).collect();
        let upsert = transaction
            .prepare(
                "INSERT INTO stagecraft_acknowledged AS a (runtime, assistant, config_hash, webhook_id, environment, sequence)
                 VALUES ($1, $2, $3, $4, $5, $6)
                 ON CONFLICT (runtime, assistant) DO UPDATE SET config_hash = EXCLUDED.config_hash,
                     webhook_id = EXCLUDED.webhook_id, environment = EXCLUDED.environment, sequence = EXCLUDED.sequence
                 WHERE a.environment <> EXCLUDED.environment OR a.sequence <= EXCLUDED.sequence",
            )
            .await
            .map_err(db("record an acknowledgement"))?;
        let clear = transaction
            .prepare("DELETE FROM stagecraft_pending WHERE runtime = $1 AND assistant = $2 AND webhook_id = $3")
            .await
            .map_err(db("clear a delivery"))?;
        // In order, pipelined on the one connection.
        let sequences: Vec<i64> = acks.iter().map(|ack| ack.sequence as i64).collect();
        let (transaction_ref, upsert_ref, clear_ref) = (&transaction, &upsert, &clear);
        let upserts = acks.iter().zip(&sequences).map(|(ack, sequence)| async move {
            let params: [&(dyn tokio_postgres::types::ToSql + Sync); 6] =
                [&ack.runtime, &ack.assistant, &ack.config_hash, &ack.webhook_id, &ack.environment, sequence];
            transaction_ref.execute(upsert_ref, &params).await
        });
        futures_util::future::try_join_all(upserts).await.map_err(db("record an acknowledgement"))?;
        let clears = acks.iter().map(|ack| async move {
            transaction_ref.execute(clear_ref, &[&ack.runtime, &ack.assistant, &ack.webhook_id]).await
        });
        futures_util::future::try_join_all(clears).await.map_err(db("clear a delivery"))?;
        transaction.commit().await.map_err(db("commit"))
    }

    async fn acknowledged(&self, runtime: &str, assistant: &str) -> Result<Option<String>, Error> {
        let client = self.client().await?;
        let row = client
            .query_opt(
                "SELECT config_hash FROM stagecraft_acknowledged WHERE runtime = $1 AND assistant = $2",
                &[&runtime, &assistant],
            )
            .await
            .map_err(db("read an acknowledgement"))?;
        Ok(row.map(|row| row.get(0)))
    }

    async fn known(&self, runtime: &str) -> Result<BTreeMap<String, String>, Error> {
        let client = self.client().await?;
        // One statement, so one snapshot: an acknowledgement committed between two reads
        // would otherwise be in neither (gone from pending, not yet seen acknowledged).
        let rows = client
            .query(
                "SELECT assistant, config_hash, 0 AS pending FROM stagecraft_acknowledged WHERE runtime = $1
                 UNION ALL
                 SELECT assistant, config_hash, 1 FROM stagecraft_pending WHERE runtime = $1
                 ORDER BY pending",
                &[&runtime],
            )
            .await
            .map_err(db("read what runtimes hold"))?;
        // Pending after acknowledged: what was sent last wins.
        Ok(rows.into_iter().map(|row| (row.get(0), row.get(1))).collect())
    }

    async fn ready(&self) -> Result<(), Error> {
        let check = async {
            let client = self.client().await?;
            client.query_one("SELECT 1", &[]).await.map_err(db("answer"))?;
            Ok::<(), Error>(())
        };
        match tokio::time::timeout(READY_TIMEOUT, check).await {
            Ok(result) => result,
            Err(_) => Err(failed("answer", "no answer within 900 ms", "check that PostgreSQL is running")),
        }
    }
}
