//! The daemon process (io): [`run`] puts the parts together and runs them until the
//! caller's shutdown token is cancelled. The caller (the `serve` and `demo` commands, the
//! tests) owns the async runtime, the listener, the token and the OS signals.
//!
//! - The sync loop ([`sync`]) runs on a thread of its own, which owns the git store.
//! - The watcher ([`watch`]) sends it triggers; so does a timer every `fetch_interval`,
//!   and a forge's webhook (after a fetch, in remote mode).
//! - Each runtime has a delivery worker; one task records acknowledgements (a bounded
//!   channel between them).
//! - The HTTP surface is [`crate::http::router`], served on the caller's listener.
//! - The pull-request reviewer ([`reviews`]) runs on tasks of its own, fed by the forge
//!   hooks.
//! - A reload (SIGHUP, sent by the caller as a message) re-reads the config: runtimes are
//!   added, removed or restarted (a parked runtime is unparked); an invalid new config is
//!   reported and the old one kept.
//! - On shutdown: readiness drops, the sync loop finishes its pass, each worker finishes
//!   the request it has in flight (bounded by the delivery timeout), the last
//!   acknowledgements are recorded. Anything not acknowledged is pending in the ledger
//!   and sent after the restart.
//! - systemd is told `READY=1`, `RELOADING=1`, `STOPPING=1` and pinged for the watchdog.

pub mod leases;
pub mod reviews;
pub mod sync;
pub mod watch;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, mpsc as std_mpsc};
use std::time::{Duration, Instant};

use tokio::sync::{Notify, mpsc};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::deliver::hub::{Hub, Queued, RuntimeQueue};
use crate::deliver::lease::{Ownership, default_node};
use crate::deliver::ledger::{DeliveryLedger, PendingDelivery, SqliteLedger};
use crate::deliver::postgres::PgLedger;
use crate::deliver::worker::{self, ACK_BACKLOG, Backoff};
use crate::error::Error;
use crate::identity::Identity;
use crate::loaded::{LoadedConfig, SharedConfig, load_config, repository_path};
use crate::ops::{self, InitOptions, InitSource};
use crate::store::Store;
use crate::store::remote::{Auth, Remote};
use crate::wire::RuntimeState;
use sync::{Ports, Syncer, Trigger};

/// Reads an environment variable (the CLI passes its own, so tests stay hermetic).
pub type Lookup = Arc<dyn Fn(&str) -> Option<String> + Send + Sync>;

/// What the daemon needs besides its listener and its shutdown token.
pub struct Options {
    pub loaded: LoadedConfig,
    /// The directory relative paths of the config are taken from.
    pub cwd: PathBuf,
    /// For initialising a missing repository, and the committer of API writes.
    pub identity: Option<Identity>,
    pub lookup: Lookup,
    /// Each message asks for a reload of the config (the caller's SIGHUP).
    pub reloads: mpsc::Receiver<()>,
}

/// Runs the daemon on `listener` until `shutdown` is cancelled.
pub async fn run(
    options: Options,
    listener: tokio::net::TcpListener,
    shutdown: CancellationToken,
) -> Result<(), Error> {
    let Options { loaded, cwd, identity, lookup, mut reloads } = options;
    let committer = identity.as_ref().map(|i| i.committer.clone());
    let (prepare_cwd, prepare_lookup) = (cwd.clone(), lookup.clone());
    let preparing = tokio::task::spawn_blocking(move || prepare(loaded, &prepare_cwd, identity, &prepare_lookup));
    // A stop during a long first clone ends the daemon at once (the caller's runtime
    // does not wait for the clone beyond its shutdown bound).
    let prepared = tokio::select! {
        prepared = preparing => prepared
            .map_err(|e| Error::Usage { message: format!("the start of the daemon failed: {e}"), hint: None })??,
        _ = shutdown.cancelled() => {
            tracing::info!("stopped while starting");
            return Ok(());
        }
    };
    let Prepared { loaded, path, remote, sync_store, chain, git_dir, ledger, ownership, keeper } = prepared;
    let address = listener.local_addr().map_err(Error::io("read the listening address of", &path))?;

    let config = Arc::new(SharedConfig::new(loaded));
    let hub = Arc::new(Hub::with_ownership(ownership));
    let ready = Arc::new(AtomicBool::new(false));
    let kick = Arc::new(Notify::new());
    let tasks = TaskTracker::new();
    let (ack_sender, ack_receiver) = mpsc::channel(ACK_BACKLOG);
    let ack_task = tokio::spawn(worker::ack_writer(ledger.clone(), ack_receiver));
    let mut workers = Workers {
        client: crate::net::http_client(),
        acks: ack_sender,
        running: BTreeMap::new(),
        stop: shutdown.clone(),
    };
    workers.follow(&config, &hub, &ledger).await;
    // With a shared database: the lease keeper, which says when this daemon's share moved.
    let owned_changed = Arc::new(Notify::new());
    let releaser = keeper.as_ref().map(|(pg, _)| pg.clone());
    let keeper = keeper.map(|(pg, lease)| {
        tracing::info!(
            node = hub.ownership.node.as_str(),
            lease_ms = lease.as_millis() as u64,
            "sharing the state database with other daemons"
        );
        tokio::spawn(leases::keep(pg, hub.clone(), config.clone(), lease, owned_changed.clone(), shutdown.clone()))
    });

    let (triggers, trigger_receiver) = std_mpsc::channel();
    let watcher = watch::watch(&git_dir, triggers.clone())?;
    let (passes_sender, mut passes) = tokio::sync::watch::channel(0u64);
    let sync_alive = Arc::new(AtomicBool::new(true));
    let ports = Ports {
        hub: hub.clone(),
        ledger: ledger.clone(),
        config: config.clone(),
        runtime: tokio::runtime::Handle::current(),
    };
    let sync_thread = {
        let alive = sync_alive.clone();
        let poll = config.get().config.repository.fetch_interval;
        let chain = chain.clone();
        std::thread::Builder::new()
            .name("stagecraft-sync".into())
            .spawn(move || {
                Syncer::new(sync_store, chain, ports).run(trigger_receiver, poll, &|n| {
                    passes_sender.send_replace(n);
                });
                alive.store(false, Ordering::SeqCst);
            })
            .map_err(Error::io("start the sync thread for", &path))?
    };
    let _ = triggers.send(Trigger::Rescan);
    // The first pass, or a stop meanwhile (then the stop below runs at once).
    tokio::select! {
        _ = passes.wait_for(|n| *n >= 1) => {}
        _ = shutdown.cancelled() => {}
    }
    let refresher = tasks.spawn(refresh(
        config.get().config.repository.fetch_interval,
        kick.clone(),
        git_dir.clone(),
        remote.clone(),
        triggers.clone(),
        shutdown.clone(),
    ));

    let (review_sender, review_inbox) = mpsc::channel(reviews::BACKLOG);
    let reviewing = reviews::Reviewing {
        config: config.clone(),
        chain: chain.clone(),
        repository: path.clone(),
        remote: remote.clone(),
        client: crate::net::http_client(),
    };
    let reviewer = tasks.spawn(reviews::run(review_inbox, reviewing, shutdown.clone()));
    let server_stop = CancellationToken::new();
    let state = crate::http::AppState::new(crate::http::Parts {
        config: config.clone(),
        hub: hub.clone(),
        repository: path.clone(),
        remote,
        chain,
        identity: committer,
        ready: ready.clone(),
        stopping: shutdown.clone(),
        kick,
        reviews: review_sender,
        session_key: crate::http::pages::session::key(config.get().session_secret.as_ref()),
        ledger: ledger.clone(),
    });
    let server = tasks.spawn(crate::http::serve(listener, crate::http::router(state), server_stop.clone()));
    ready.store(true, Ordering::SeqCst);
    notify_systemd(&[sd_notify::NotifyState::Ready]);
    tracing::info!(listen = %address, "ready");
    let watchdog = sd_notify::watchdog_enabled().map(|period| {
        let alive = sync_alive.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(period / 2);
            loop {
                tick.tick().await;
                if alive.load(Ordering::SeqCst) {
                    notify_systemd(&[sd_notify::NotifyState::Watchdog]);
                }
            }
        })
    });

    loop {
        tokio::select! {
            Some(()) = reloads.recv() => {
                reload(&config, &cwd, &lookup, &mut workers, &hub, &ledger, &triggers).await;
            }
            _ = owned_changed.notified() => {
                // Workers for the runtimes now held, none for those let go; then a full
                // pass re-reads what the new ones were sent and records what they lack.
                workers.follow(&config, &hub, &ledger).await;
                let _ = triggers.send(Trigger::Rescan);
            }
            _ = shutdown.cancelled() => break,
        }
    }

    // Stopping: every worker was told by the token, so none starts a new request.
    notify_systemd(&[sd_notify::NotifyState::Stopping]);
    tracing::info!("stopping: finishing the sync pass and the deliveries in flight");
    ready.store(false, Ordering::SeqCst);
    hub.changed();
    let bound = config.get().config.delivery.timeout + Duration::from_secs(5);
    let deadline = Instant::now() + bound;
    let _ = triggers.send(Trigger::Stop);
    drop(watcher);
    // A fetch or a sync pass (a tag push in remote mode) in progress gets the same bound.
    let left = deadline.saturating_duration_since(Instant::now());
    if tokio::time::timeout(left, refresher).await.is_err() {
        tracing::warn!("a fetch was still running at the stop bound");
    }
    let left = deadline.saturating_duration_since(Instant::now());
    if tokio::time::timeout(left, tokio::task::spawn_blocking(move || sync_thread.join())).await.is_err() {
        tracing::warn!("the sync pass was still running at the stop bound");
    }
    for (name, worker) in std::mem::take(&mut workers.running) {
        let left = deadline.saturating_duration_since(Instant::now());
        if tokio::time::timeout(left, worker.task).await.is_err() {
            tracing::warn!(
                runtime = name.as_str(),
                "a delivery was still in flight at the stop bound; it is sent again after the restart"
            );
        }
    }
    // The writer ends once the last sender is gone.
    drop(workers);
    let left = deadline.saturating_duration_since(Instant::now()).max(Duration::from_secs(1));
    let _ = tokio::time::timeout(left, ack_task).await;
    // Nothing of this daemon's is in flight any more: the others may take its runtimes now.
    if let Some(keeper) = &keeper {
        keeper.abort();
    }
    if let Some(pg) = &releaser {
        let _ = tokio::time::timeout(Duration::from_secs(2), leases::release_all(pg, &hub)).await;
    }
    server_stop.cancel();
    tasks.close();
    if tokio::time::timeout(Duration::from_secs(2), tasks.wait()).await.is_err() {
        tracing::debug!("the HTTP server was still closing connections at the stop");
    }
    if let Some(watchdog) = watchdog {
        watchdog.abort();
    }
    drop(server);
    drop(reviewer);
    tracing::info!("stopped");
    Ok(())
}

/// What [`prepare`] made ready.
struct Prepared {
    loaded: LoadedConfig,
    path: PathBuf,
    remote: Option<Remote>,
    sync_store: Store,
    chain: crate::model::Chain,
    git_dir: PathBuf,
    ledger: Arc<dyn DeliveryLedger>,
    /// Which runtimes this daemon delivers to.
    ownership: Arc<Ownership>,
    /// With a shared database: its ledger and the lease, for the keeper.
    keeper: Option<(PgLedger, Duration)>,
}

/// The blocking start: the repository cloned (remote mode) or initialised when missing,
/// fetched, opened for the sync loop, and the ledger opened.
fn prepare(
    mut loaded: LoadedConfig,
    cwd: &Path,
    identity: Option<Identity>,
    lookup: &Lookup,
) -> Result<Prepared, Error> {
    raise_open_files_limit();
    crate::store::skip_hash_verification();
    let path = repository_path(&loaded, cwd);
    let auth = Auth { token: loaded.git_token.clone(), ssh_key: loaded.config.repository.ssh_key.clone() };
    let remote = loaded.config.repository.remote.clone().map(|url| Remote::mirror(&url, auth.clone()));
    if let (Some(url), false) = (&loaded.config.repository.remote, path.exists()) {
        let shown = crate::store::remote::redact(url);
        tracing::info!(remote = shown.as_str(), path = %path.display(), "first start: cloning {shown} into {} …", path.display());
        let started = Instant::now();
        Remote::clone_mirror(url, &path, &auth)?;
        tracing::info!(elapsed_ms = started.elapsed().as_millis() as u64, "cloned {shown}");
        // Check the environments named in the config against the clone's chain.
        loaded = load_config(loaded.file.as_deref(), cwd, &**lookup)?;
    } else if !path.exists() {
        let identity = identity.ok_or_else(|| Error::Usage {
            message: format!("{} does not exist, and there is no identity to initialise it with", path.display()),
            hint: Some("set [repository] identity in the config, or GIT_COMMITTER_NAME and GIT_COMMITTER_EMAIL".into()),
        })?;
        let options = InitOptions {
            dir: path.clone(),
            source: InitSource::Skeleton,
            environments: None,
            protected: None,
            bare: true,
        };
        ops::init(options, &identity)?;
        tracing::info!(path = %path.display(), "initialised a new bare config repository");
        // Check the environments named in the config against the new chain.
        loaded = load_config(loaded.file.as_deref(), cwd, &**lookup)?;
    }
    let open = || -> Result<Store, Error> {
        let store = Store::open(&path)?;
        Ok(match &remote {
            Some(remote) => store.with_remote(remote.clone()),
            None => store,
        })
    };
    let store = open()?;
    if let Err(error) = store.fetch() {
        tracing::error!(error = %error, "cannot fetch at start; serving what the mirror holds until a fetch works");
    }
    let chain = store.chain()?;
    let git_dir = store.git_dir().to_path_buf();
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname").ok();
    let (ledger, state, ownership, keeper): (Arc<dyn DeliveryLedger>, String, _, _) = match &loaded.config.database {
        Some(database) => {
            let node = database.node.clone().unwrap_or_else(|| default_node(host.as_deref()));
            let ownership = Arc::new(Ownership::leased(node));
            let opening = PgLedger::open(database, loaded.state_password.as_ref(), &chain);
            let ledger = tokio::runtime::Handle::current().block_on(opening)?.fenced(ownership.clone());
            let keeper = Some((ledger.clone(), database.lease));
            (Arc::new(ledger), database.url.clone(), ownership, keeper)
        }
        None => {
            let path = loaded.config.state_path.clone().unwrap_or_else(|| git_dir.join("stagecraft").join("state.db"));
            let ownership = Arc::new(Ownership::alone(default_node(host.as_deref())));
            (Arc::new(SqliteLedger::open(&path)?), path.display().to_string(), ownership, None)
        }
    };
    tracing::info!(repository = %path.display(), state = state.as_str(), chain = %chain.display_arrows(), "serving");
    Ok(Prepared { loaded, path, remote, sync_store: store, chain, git_dir, ledger, ownership, keeper })
}

/// Fetches (remote mode: every `fetch_interval` and on a forge's webhook) and asks the
/// sync loop for a re-scan (also in local mode, on a webhook).
async fn refresh(
    interval: Duration,
    kick: Arc<Notify>,
    git_dir: PathBuf,
    remote: Option<Remote>,
    triggers: std_mpsc::Sender<Trigger>,
    stop: CancellationToken,
) {
    let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + interval, interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick(), if remote.is_some() => {}
            _ = kick.notified() => {}
            _ = stop.cancelled() => return,
        }
        if let Some(remote) = &remote {
            let (remote, git_dir) = (remote.clone(), git_dir.clone());
            match tokio::task::spawn_blocking(move || remote.fetch(&git_dir)).await {
                Ok(Ok(())) => tracing::debug!("fetched"),
                Ok(Err(error)) => {
                    tracing::warn!(error = %error, "fetch failed; retrying at the next interval or webhook")
                }
                Err(error) => tracing::error!(error = %error, "the fetch task failed"),
            }
        }
        let _ = triggers.send(Trigger::Rescan);
    }
}

/// Reads the config again; keeps the old one when the new one is not valid.
async fn reload(
    config: &Arc<SharedConfig>,
    cwd: &Path,
    lookup: &Lookup,
    workers: &mut Workers,
    hub: &Arc<Hub>,
    ledger: &Arc<dyn DeliveryLedger>,
    triggers: &std_mpsc::Sender<Trigger>,
) {
    let mut states = vec![sd_notify::NotifyState::Reloading];
    states.extend(sd_notify::NotifyState::monotonic_usec_now().ok());
    notify_systemd(&states);
    let old = config.get();
    let file = old.file.clone();
    let (cwd, lookup_fn) = (cwd.to_path_buf(), lookup.clone());
    let loaded = tokio::task::spawn_blocking(move || load_config(file.as_deref(), &cwd, &*lookup_fn)).await;
    match loaded {
        Ok(Ok(new)) => {
            if new.config.server.listen != old.config.server.listen {
                tracing::warn!("[server] listen changed; it takes effect at the next restart");
            }
            let runtimes = new.config.runtimes.len();
            config.replace(new);
            workers.follow(config, hub, ledger).await;
            let _ = triggers.send(Trigger::Rescan);
            tracing::info!(runtimes, "reloaded the config");
        }
        Ok(Err(error)) => {
            let report = error.report();
            tracing::error!("the new config is not valid; keeping the old one:\n{}", report.render_text());
        }
        Err(error) => tracing::error!(error = %error, "reloading the config failed; keeping the old one"),
    }
    notify_systemd(&[sd_notify::NotifyState::Ready]);
}

/// One running worker.
struct Worker {
    stop: CancellationToken,
    task: JoinHandle<()>,
    queue: Arc<RuntimeQueue>,
    backoff: Backoff,
}

/// The delivery workers, one per runtime of the config.
struct Workers {
    client: reqwest::Client,
    acks: mpsc::Sender<PendingDelivery>,
    running: BTreeMap<String, Worker>,
    /// The daemon's shutdown: each worker's token is a child of it.
    stop: CancellationToken,
}

impl Workers {
    /// Starts, restarts or stops workers so that they match the config: a runtime whose
    /// settings are unchanged and that is not parked keeps its worker.
    async fn follow(&mut self, config: &SharedConfig, hub: &Arc<Hub>, ledger: &Arc<dyn DeliveryLedger>) {
        let config = config.get();
        let delivery = &config.config.delivery;
        let backoff =
            Backoff { retry_min: delivery.retry_min, retry_max: delivery.retry_max, timeout: delivery.timeout };
        let mut wanted = BTreeMap::new();
        // The runtimes this daemon delivers to (with leases, the ones it holds).
        for (runtime, secrets) in config.config.runtimes.iter().zip(&config.runtime_secrets) {
            if hub.ownership.owns(&runtime.name) {
                wanted.insert(runtime.name.clone(), (runtime.clone(), secrets.clone()));
            }
        }
        let names: Vec<String> = self.running.keys().cloned().collect();
        let mut stopping = Vec::new();
        for name in names {
            let keep = wanted.get(&name).is_some_and(|(runtime, secrets)| {
                let worker = &self.running[&name];
                &worker.queue.config == runtime
                    && &worker.queue.secrets == secrets
                    && worker.backoff == backoff
                    && worker.queue.status().state != RuntimeState::Parked
            });
            if keep {
                wanted.remove(&name);
            } else if let Some(worker) = self.running.remove(&name) {
                worker.stop.cancel();
                hub.remove_runtime(&name);
                stopping.push((name, worker.task));
            }
        }
        // A replaced worker finishes its request in flight before its successor starts,
        // so the two never send the same delivery at once.
        let bound = backoff.timeout + Duration::from_secs(1);
        for (name, task) in stopping {
            if tokio::time::timeout(bound, task).await.is_err() {
                tracing::warn!(runtime = name.as_str(), "the replaced worker did not stop in time");
            }
        }
        for (name, (runtime, secrets)) in wanted {
            let queue = Arc::new(RuntimeQueue::new(runtime, secrets, &hub.metrics));
            // Registered before the pending deliveries are read, so that nothing the sync
            // loop records meanwhile misses the queue (`push` keeps the newest of each).
            hub.add_runtime(queue.clone());
            match ledger.pending(&name).await {
                Ok(pending) => {
                    let now = Instant::now();
                    queue.push(pending.into_iter().map(|delivery| Queued { delivery, since: now }));
                }
                Err(error) => {
                    tracing::error!(runtime = name.as_str(), error = %error, "cannot read pending deliveries")
                }
            }
            let stop = self.stop.child_token();
            let task = tokio::spawn(worker::worker(
                hub.clone(),
                queue.clone(),
                self.client.clone(),
                backoff,
                self.acks.clone(),
                stop.clone(),
            ));
            self.running.insert(name, Worker { stop, task, queue, backoff });
        }
    }
}

fn notify_systemd(states: &[sd_notify::NotifyState<'_>]) {
    if let Err(error) = sd_notify::notify(states) {
        tracing::debug!(error = %error, "cannot notify systemd");
    }
}

/// Raises the soft open-files limit to the hard one (a daemon with many runtimes and a
/// watched ref tree needs more than the usual 1024).
fn raise_open_files_limit() {
    match rlimit::increase_nofile_limit(u64::MAX) {
        Ok(limit) => tracing::debug!(limit, "open-files limit"),
        Err(error) => tracing::warn!(error = %error, "cannot raise the open-files limit"),
    }
}
