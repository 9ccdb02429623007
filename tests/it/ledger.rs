//! The delivery ledger's rules, one suite run against both ledgers: SQLite (always) and
//! PostgreSQL (with a test server; see `common::postgres`). Then what only the shared
//! database has: recorders racing on one environment, the schema's version and the
//! chain checked at start, and clear errors for a wrong password or an absent server.

use std::sync::Arc;
use std::time::Duration;

use stagecraft::deliver::ledger::{DeliveryLedger, NewDelivery, SqliteLedger};
use stagecraft::deliver::postgres::PgLedger;
use stagecraft::model::Chain;

use crate::common::postgres::{TestDatabase, database};

fn delivery(runtime: &str, assistant: &str, id: &str, hash: &str) -> NewDelivery {
    NewDelivery {
        runtime: runtime.into(),
        assistant: assistant.into(),
        webhook_id: id.into(),
        event: "assistant.config.updated".into(),
        body: id.as_bytes().to_vec(),
        config_hash: hash.into(),
    }
}

type Open = Box<dyn Fn() -> Arc<dyn DeliveryLedger>>;

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap()
}

/// Opens a ledger; `open` again reopens the same one, as a restart after `kill -9` would.
async fn tips_deliveries_and_acknowledgements_survive_a_reopen(open: &Open) {
    {
        let store = open();
        assert_eq!(store.tip("live").await.unwrap(), (0, None));
        let sequence = store
            .record_tip(
                "live",
                "c1",
                Box::new(|_| vec![delivery("eu", "bot", "msg_1", "h1"), delivery("us", "bot", "msg_2", "h1")]),
            )
            .await
            .unwrap()
            .sequence;
        assert_eq!(sequence, 1);
        let pending = store.pending("eu").await.unwrap();
        assert_eq!(pending.len(), 1);
        store.acknowledge(pending.clone()).await.unwrap();
    }
    let store = open();
    assert_eq!(store.tip("live").await.unwrap(), (1, Some("c1".into())));
    assert_eq!(store.pending("eu").await.unwrap(), []);
    assert_eq!(store.acknowledged("eu", "bot").await.unwrap(), Some("h1".into()));
    assert_eq!(store.pending("us").await.unwrap()[0].body, b"msg_2");
    assert_eq!(store.known("us").await.unwrap(), [("bot".to_string(), "h1".to_string())].into());
    assert_eq!(
        store.record_tip("live", "c1", Box::new(|_| Vec::new())).await.unwrap().sequence,
        1,
        "the same tip keeps its sequence"
    );
    let again = store
        .record_tip("live", "c1", Box::new(|_| vec![delivery("new", "bot", "msg_3", "h1")]))
        .await
        .unwrap()
        .sequence;
    assert_eq!(again, 2, "the same tip with new deliveries gets a new sequence (and new webhook-ids)");
    assert_eq!(store.record_tip("live", "c2", Box::new(|_| Vec::new())).await.unwrap().sequence, 3);
    assert_eq!(
        store.record_tip("live", "c1", Box::new(|_| Vec::new())).await.unwrap().sequence,
        4,
        "a return to a commit is new"
    );
    assert_eq!(
        store.record_tip("sandbox", "c9", Box::new(|_| Vec::new())).await.unwrap().sequence,
        1,
        "a counter per environment"
    );
    assert!(store.ready().await.is_ok());
}

async fn a_newer_state_supersedes_the_pending_one_and_a_late_ack_keeps_it(open: &Open) {
    let store = open();
    store.record_tip("live", "c1", Box::new(|_| vec![delivery("eu", "bot", "msg_1", "h1")])).await.unwrap();
    let in_flight = store.pending("eu").await.unwrap();
    store.record_tip("live", "c2", Box::new(|_| vec![delivery("eu", "bot", "msg_2", "h2")])).await.unwrap();
    assert_eq!(store.known("eu").await.unwrap()["bot"], "h2", "pending wins over acknowledged");
    let pending = store.pending("eu").await.unwrap();
    assert_eq!(pending.len(), 1, "coalesced to the newest state");
    assert_eq!((pending[0].webhook_id.as_str(), pending[0].sequence), ("msg_2", 2));
    // The old delivery's 2xx arrives late: recorded, and the newer one stays pending.
    store.acknowledge(in_flight.clone()).await.unwrap();
    assert_eq!(store.acknowledged("eu", "bot").await.unwrap(), Some("h1".into()));
    assert_eq!(store.pending("eu").await.unwrap()[0].webhook_id, "msg_2");
    // Acknowledgements never go backwards: the newer one, then a late older one.
    let newer = store.pending("eu").await.unwrap();
    store.acknowledge(newer).await.unwrap();
    store.acknowledge(in_flight.clone()).await.unwrap();
    assert_eq!(store.acknowledged("eu", "bot").await.unwrap(), Some("h2".into()));
    // Several acknowledgements of one runtime and assistant together: the newest stays.
    store.record_tip("live", "c3", Box::new(|_| vec![delivery("eu", "bot", "msg_3", "h3")])).await.unwrap();
    let third = store.pending("eu").await.unwrap();
    store.acknowledge([third.clone(), in_flight].concat()).await.unwrap();
    assert_eq!(store.acknowledged("eu", "bot").await.unwrap(), Some("h3".into()));
    assert_eq!(store.pending("eu").await.unwrap(), []);
}

/// The suite over one ledger kind.
fn suite(open: impl Fn() -> Open) {
    let runtime = runtime();
    runtime.block_on(tips_deliveries_and_acknowledgements_survive_a_reopen(&open()));
    runtime.block_on(a_newer_state_supersedes_the_pending_one_and_a_late_ack_keeps_it(&open()));
}

#[test]
fn the_ledger_rules_hold_in_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let count = std::cell::Cell::new(0);
    suite(|| {
        count.set(count.get() + 1);
        let path = dir.path().join(format!("{}/stagecraft/state.db", count.get()));
        Box::new(move || Arc::new(SqliteLedger::open(&path).unwrap()) as Arc<dyn DeliveryLedger>)
    });
}

fn pg(database: &TestDatabase, chain: &Chain) -> Arc<dyn DeliveryLedger> {
    let (config, secret, chain) = (database.config(Duration::from_secs(10)), database.secret(), chain.clone());
    // Opened on its own runtime's thread: the pool's connections live on the caller's.
    let handle = tokio::runtime::Handle::current();
    Arc::new(tokio::task::block_in_place(|| {
        handle.block_on(PgLedger::open(&config, Some(&secret), &chain)).expect("open the PostgreSQL ledger")
    }))
}

#[test]
fn the_ledger_rules_hold_in_postgresql() {
    let databases: Vec<TestDatabase> = (0..2).filter_map(|_| database()).collect();
    if databases.len() < 2 {
        return;
    }
    let chain = Chain::default_chain();
    let next = std::cell::Cell::new(0);
    let databases = Arc::new(databases);
    suite(|| {
        let index = next.get();
        next.set(index + 1);
        let (databases, chain) = (databases.clone(), chain.clone());
        Box::new(move || pg(&databases[index], &chain))
    });
}

#[test]
fn recorders_racing_on_one_environment_get_consecutive_sequences() {
    let Some(database) = database() else { return };
    let runtime = runtime();
    runtime.block_on(async {
        let chain = Chain::default_chain();
        let (a, b) = (pg(&database, &chain), pg(&database, &chain));
        let mut tasks = Vec::new();
        for n in 0..40 {
            let ledger = if n % 2 == 0 { a.clone() } else { b.clone() };
            tasks.push(tokio::spawn(async move {
                let runtime = format!("rt-{n}");
                let recorded = ledger
                    .record_tip("live", &format!("c{n}"), Box::new(move |_| vec![delivery(&runtime, "bot", "id", "h")]))
                    .await
                    .unwrap();
                recorded.sequence
            }));
        }
        let mut sequences = Vec::new();
        for task in tasks {
            sequences.push(task.await.unwrap());
        }
        sequences.sort();
        assert_eq!(sequences, (1..=40).collect::<Vec<u64>>(), "each recording its own sequence, none skipped");
        assert_eq!(a.tip("live").await.unwrap().0, 40);
    });
}

fn open_error(database: &TestDatabase, password: &str, chain: &Chain) -> String {
    let runtime = runtime();
    let config = database.config(Duration::from_secs(10));
    let secret = stagecraft::config::Secret::new(password.to_string());
    match runtime.block_on(PgLedger::open(&config, Some(&secret), chain)) {
        Ok(_) => panic!("opened"),
        Err(error) => {
            let report = error.report();
            format!("{error}\nhint: {}", report.hint.unwrap_or_default())
        }
    }
}

#[test]
fn a_newer_schema_another_chain_or_a_wrong_password_is_refused_clearly_at_start() {
    let Some(database) = database() else { return };
    let chain = Chain::default_chain();
    {
        let runtime = runtime();
        runtime.block_on(async { pg(&database, &chain).ready().await.unwrap() });
    }
    // A wrong password: the server's words, never the password tried.
    let wrong = open_error(&database, "not-the-password-42", &chain);
    assert!(wrong.contains("password authentication failed"), "{wrong}");
    assert!(wrong.contains("[state] password") && !wrong.contains("not-the-password-42"), "{wrong}");
    // Another chain.
    let other =
        Chain::new(Chain::parse_list("draft sandbox live").unwrap(), Chain::parse_list("live").unwrap()).unwrap();
    let refused = open_error(&database, &database.password, &other);
    assert!(refused.contains("it serves the chain `draft sandbox pre-release live`"), "{refused}");
    // A schema newer than this binary's.
    database.execute("INSERT INTO stagecraft_schema (version) VALUES (99)");
    let newer = open_error(&database, &database.password, &chain);
    assert!(newer.contains("its schema is version 99, newer than this stagecraft's (1)"), "{newer}");
}

#[test]
fn a_server_that_does_not_answer_is_not_ready_within_a_second() {
    let runtime = runtime();
    runtime.block_on(async {
        // A port that accepts connections and never answers.
        let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("postgres://stagecraft@{}/stagecraft", silent.local_addr().unwrap());
        let config = stagecraft::config::DatabaseConfig {
            url,
            password: None,
            pool: 2,
            lease: Duration::from_secs(10),
            node: None,
        };
        let ledger = PgLedger::connect(&config, None).unwrap();
        let started = std::time::Instant::now();
        let error = ledger.ready().await.expect_err("not ready");
        assert!(started.elapsed() < Duration::from_secs(1), "{:?}", started.elapsed());
        assert!(error.to_string().contains("no answer within 900 ms"), "{error}");
        drop(silent);
    });
}

#[test]
fn a_daemon_that_lost_its_lease_writes_nothing_for_that_runtime() {
    use stagecraft::deliver::lease::{Held, Ownership};
    let Some(database) = database() else { return };
    let runtime = runtime();
    runtime.block_on(async {
        let chain = Chain::default_chain();
        let config = database.config(Duration::from_secs(10));
        let open = |node: &str| {
            let ownership = Arc::new(Ownership::leased(node.to_string()));
            let ledger = tokio::task::block_in_place(|| {
                tokio::runtime::Handle::current().block_on(PgLedger::open(&config, Some(&database.secret()), &chain))
            })
            .unwrap()
            .fenced(ownership.clone());
            (ledger, ownership)
        };
        let ((a, a_owns), (b, b_owns)) = (open("a"), open("b"));
        let hold = |ownership: &Ownership, runtime: &str, epoch: i64| {
            let until = std::time::Instant::now() + Duration::from_secs(60);
            ownership.set_held([(runtime.to_string(), Held { epoch, valid_until: until })].into());
        };
        // a takes eu's lease (expiring at once, as if a stopped renewing long ago).
        assert_eq!(a.acquire("eu", "a", Duration::ZERO).await.unwrap(), Some(1));
        hold(&a_owns, "eu", 1);
        let both = |id: &str| {
            let id = id.to_string();
            Box::new(move |_| vec![delivery("eu", "bot", &id, "h1"), delivery("us", "bot", &id, "h1")])
                as stagecraft::deliver::ledger::BuildDeliveries
        };
        // Expired: a's write for eu is fenced off, as is us (never a's).
        let recorded = a.record_tip("live", "c1", both("a1")).await.unwrap();
        assert_eq!(recorded.deliveries, [], "nothing written under an expired lease");
        // b takes it over: the next epoch.
        assert_eq!(b.acquire("eu", "b", Duration::from_secs(30)).await.unwrap(), Some(2));
        assert_eq!(a.acquire("eu", "a", Duration::from_secs(30)).await.unwrap(), None, "held by b");
        hold(&b_owns, "eu", 2);
        let recorded = b.record_tip("live", "c2", both("b2")).await.unwrap();
        let runtimes: Vec<&str> = recorded.deliveries.iter().map(|d| d.runtime.as_str()).collect();
        assert_eq!(runtimes, ["eu"], "b writes for the runtime it holds only");
        let pending = b.pending("eu").await.unwrap();
        // a, paused with epoch 1, can neither overwrite nor acknowledge.
        let stale = a.record_tip("live", "c3", both("a3")).await.unwrap();
        assert_eq!(stale.deliveries, []);
        a.acknowledge(pending.clone()).await.unwrap();
        assert_eq!(a.acknowledged("eu", "bot").await.unwrap(), None, "a's acknowledgement is not recorded");
        assert_eq!(b.pending("eu").await.unwrap(), pending, "b's delivery is still there");
        assert_eq!(a.renew("a", &[("eu".into(), 1)], Duration::from_secs(30)).await.unwrap().len(), 0);
        // b's acknowledgement is recorded; b renews; b releases and a takes it with epoch 3.
        b.acknowledge(pending).await.unwrap();
        assert_eq!(b.acknowledged("eu", "bot").await.unwrap(), Some("h1".into()));
        assert_eq!(b.renew("b", &[("eu".into(), 2)], Duration::from_secs(30)).await.unwrap().len(), 1);
        let leases = b.leases().await.unwrap();
        assert_eq!((leases[0].owner.as_str(), leases[0].epoch, leases[0].live), ("b", 2, true));
        b.release("eu", "b", 2).await.unwrap();
        assert_eq!(a.acquire("eu", "a", Duration::from_secs(30)).await.unwrap(), Some(3));
        // Live daemons: those that beat within the lease.
        a.heartbeat("a").await.unwrap();
        b.heartbeat("b").await.unwrap();
        assert_eq!(a.live_nodes(Duration::from_secs(10)).await.unwrap(), ["a", "b"]);
    });
}
