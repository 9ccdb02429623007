//! `stagecraft serve`: puts the parts together and runs them until SIGTERM or SIGINT.
//!
//! - The sync loop runs on a thread of its own, which owns the git store.
//! - The watcher sends it triggers; so does a timer every `fetch_interval`.
//! - Each runtime has a worker task; one task records acknowledgements.
//! - The HTTP server answers `/healthz`, `/readyz` and `/metrics`.
//! - SIGHUP reloads the config: runtimes are added, removed or restarted (a parked runtime
//!   is unparked); an invalid new config is reported and the old one kept.
//! - SIGTERM stops: readiness drops, the sync loop finishes its pass, each worker finishes
//!   the request it has in flight (bounded by the delivery timeout), the last
//!   acknowledgements are recorded. Anything not acknowledged is pending in the database
//!   and sent after the restart.
//! - systemd is told `READY=1`, `RELOADING=1`, `STOPPING=1` and pinged for the watchdog.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, mpsc as std_mpsc};
use std::time::{Duration, Instant};

use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

use super::deliver::{self, Backoff};
use super::shared::{Queued, RuntimeQueue, Shared};
use super::state::{PendingDelivery, SqliteStore};
use super::sync::{Syncer, Trigger};
use super::{LoadedConfig, load_config};
use crate::error::Error;
use crate::identity::Identity;
use crate::ops::{self, InitOptions, InitSource};
use crate::store::Store;
use crate::store::remote::{Auth, Remote};

/// Reads an environment variable (the CLI passes its own, so tests stay hermetic).
pub type Lookup = Arc<dyn Fn(&str) -> Option<String> + Send + Sync>;

/// What `serve` needs.
pub struct ServeOptions {
    pub loaded: LoadedConfig,
    /// The directory relative paths of the config are taken from.
    pub cwd: PathBuf,
    /// For initialising a missing repository.
    pub identity: Option<Identity>,
    pub lookup: Lookup,
    /// An already bound listener (the demo binds before it prints the address).
    pub listener: Option<std::net::TcpListener>,
}

/// The repository a config serves.
pub fn repository_path(loaded: &LoadedConfig, cwd: &Path) -> PathBuf {
    loaded.config.repository.path.as_ref().map_or_else(|| cwd.to_path_buf(), |p| cwd.join(p))
}

/// Runs the daemon until SIGTERM or SIGINT.
pub fn serve(options: ServeOptions) -> Result<(), Error> {
    raise_open_files_limit();
    // libgit2 re-hashes every object it reads unless told not to; git itself checks
    // hashes on fsck and transfer, not on each read, and the daemon reads every tree
    // of every change on the path from a ref update to the runtimes.
    git2::opts::strict_hash_verification(false);
    let ServeOptions { mut loaded, cwd, identity, lookup, listener } = options;
    let path = repository_path(&loaded, &cwd);
    let committer = identity.as_ref().map(|i| i.committer.clone());
    let auth = Auth { token: loaded.git_token.clone(), ssh_key: loaded.config.repository.ssh_key.clone() };
    let remote = loaded.config.repository.remote.clone().map(|url| Remote::mirror(&url, auth.clone()));
    if let (Some(url), false) = (&loaded.config.repository.remote, path.exists()) {
        let shown = crate::store::remote::redact(url);
        tracing::info!(remote = shown.as_str(), path = %path.display(), "first start: cloning {shown} into {} …", path.display());
        let started = Instant::now();
        Remote::clone_mirror(url, &path, &auth)?;
        tracing::info!(elapsed_ms = started.elapsed().as_millis() as u64, "cloned {shown}");
        // Check the environments named in the config against the clone's chain.
        loaded = load_config(loaded.file.as_deref(), &cwd, &*lookup)?;
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
        loaded = load_config(loaded.file.as_deref(), &cwd, &*lookup)?;
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
    let sync_store = open()?;
    let chain = store.chain()?;
    let git_dir = store.git_dir().to_path_buf();
    let state_path = loaded.config.state_path.clone().unwrap_or_else(|| git_dir.join("stagecraft").join("state.db"));
    let database = SqliteStore::open(&state_path)?;
    let listener = match listener {
        Some(listener) => listener,
        None => {
            let address = loaded.config.server.listen;
            std::net::TcpListener::bind(address).map_err(|e| Error::Io {
                step: "listen on",
                path: address.to_string(),
                source: e,
            })?
        }
    };
    listener.set_nonblocking(true).map_err(Error::io("configure the listener", &state_path))?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(Error::io("start the async runtime", &path))?;
    let shared = Arc::new(Shared::new(loaded, Box::new(database), committer));
    tracing::info!(
        repository = %path.display(),
        state = %state_path.display(),
        chain = %chain.display_arrows(),
        "serving"
    );
    runtime.block_on(run(Running { shared, cwd, lookup, path, git_dir, chain, listener, sync_store, remote }))
}

struct Running {
    shared: Arc<Shared>,
    cwd: PathBuf,
    lookup: Lookup,
    path: PathBuf,
    git_dir: PathBuf,
    chain: crate::model::Chain,
    listener: std::net::TcpListener,
    sync_store: Store,
    remote: Option<Remote>,
}

async fn run(running: Running) -> Result<(), Error> {
    let Running { shared, cwd, lookup, path, git_dir, chain, listener, sync_store, remote } = running;
    let api_chain = chain.clone();
    let signals = install_signals()?;
    let address = listener.local_addr().map_err(Error::io("read the listening address of", &path))?;
    let (ack_sender, ack_receiver) = mpsc::unbounded_channel();
    let ack_task = tokio::spawn(deliver::ack_writer(shared.clone(), ack_receiver));
    let mut workers = Workers { client: deliver::client(), acks: ack_sender, running: BTreeMap::new() };
    workers.follow_config(&shared).await;

    let (triggers, trigger_receiver) = std_mpsc::channel();
    let watcher = super::watch::watch(&git_dir, triggers.clone())?;
    let (passes_sender, mut passes) = watch::channel(0u64);
    let sync_alive = Arc::new(AtomicBool::new(true));
    let sync_thread = {
        let shared = shared.clone();
        let alive = sync_alive.clone();
        let poll = shared.config().config.repository.fetch_interval;
        let store = sync_store;
        let chain = chain.clone();
        std::thread::Builder::new()
            .name("stagecraft-sync".into())
            .spawn(move || {
                Syncer::new(store, chain, shared).run(trigger_receiver, poll, &|n| {
                    passes_sender.send_replace(n);
                });
                alive.store(false, Ordering::SeqCst);
            })
            .map_err(Error::io("start the sync thread for", &path))?
    };
    let _ = triggers.send(Trigger::Rescan);
    let _ = passes.wait_for(|n| *n >= 1).await;
    let api_remote = remote.clone();
    let (stop_refresh, refresh_stopped) = watch::channel(false);
    let refresher = tokio::spawn(refresh(shared.clone(), git_dir.clone(), remote, triggers.clone(), refresh_stopped));

    let (stop_server, server_stopped) = watch::channel(false);
    let api = crate::api::Api::new(crate::api::ApiState {
        shared: shared.clone(),
        repository: path.clone(),
        remote: api_remote,
        chain: api_chain,
    });
    let app = super::server::router(shared.clone())
        .merge(crate::api::router(api))
        .fallback(crate::api::not_found)
        .method_not_allowed_fallback(crate::api::method_not_allowed)
        .layer(axum::extract::DefaultBodyLimit::max(crate::api::MAX_BODY))
        .layer(axum::middleware::from_fn(crate::api::timeout));
    let tokio_listener =
        tokio::net::TcpListener::from_std(listener).map_err(Error::io("serve on", address.to_string()))?;
    let server = tokio::spawn(super::server::serve(tokio_listener, app, server_stopped));
    shared.ready.store(true, Ordering::SeqCst);
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

    wait_for_stop(signals, &shared, &cwd, &lookup, &mut workers, &triggers).await;

    // Stopping.
    notify_systemd(&[sd_notify::NotifyState::Stopping]);
    tracing::info!("stopping: finishing the sync pass and the deliveries in flight");
    shared.ready.store(false, Ordering::SeqCst);
    shared.stopping.store(true, Ordering::SeqCst);
    shared.changed();
    let bound = shared.config().config.delivery.timeout + Duration::from_secs(5);
    let deadline = Instant::now() + bound;
    // Every worker is told first, so none starts a request while another is awaited.
    let running = std::mem::take(&mut workers.running);
    for worker in running.values() {
        let _ = worker.stop.send(true);
    }
    let _ = stop_refresh.send(true);
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
    for (name, worker) in running {
        let left = deadline.saturating_duration_since(Instant::now());
        if tokio::time::timeout(left, worker.task).await.is_err() {
            tracing::warn!(
                runtime = name.as_str(),
                "a delivery was still in flight at the stop bound; it is sent again after the restart"
            );
        }
    }
    drop(workers);
    let left = deadline.saturating_duration_since(Instant::now()).max(Duration::from_secs(1));
    let _ = tokio::time::timeout(left, ack_task).await;
    let _ = stop_server.send(true);
    let _ = tokio::time::timeout(Duration::from_secs(2), server).await;
    if let Some(watchdog) = watchdog {
        watchdog.abort();
    }
    tracing::info!("stopped");
    Ok(())
}

/// Fetches (remote mode: every `fetch_interval` and on a forge's webhook) and asks the
/// sync loop for a re-scan (also in local mode, on a webhook).
async fn refresh(
    shared: Arc<Shared>,
    git_dir: PathBuf,
    remote: Option<Remote>,
    triggers: std_mpsc::Sender<Trigger>,
    mut stop: watch::Receiver<bool>,
) {
    let interval = shared.config().config.repository.fetch_interval;
    let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + interval, interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick(), if remote.is_some() => {}
            _ = shared.kick.notified() => {}
            _ = stop.changed() => return,
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

/// Handles SIGHUP (reload) until SIGTERM or SIGINT.
/// SIGHUP, SIGTERM and SIGINT, installed before anything slow so that no signal finds
/// its default action (which ends the process).
struct Signals {
    hangup: tokio::signal::unix::Signal,
    terminate: tokio::signal::unix::Signal,
    interrupt: tokio::signal::unix::Signal,
}

fn install_signals() -> Result<Signals, Error> {
    use tokio::signal::unix::{SignalKind, signal};
    let install = |kind: SignalKind| signal(kind).map_err(Error::io("install a signal handler for", "the daemon"));
    Ok(Signals {
        hangup: install(SignalKind::hangup())?,
        terminate: install(SignalKind::terminate())?,
        interrupt: install(SignalKind::interrupt())?,
    })
}

async fn wait_for_stop(
    signals: Signals,
    shared: &Arc<Shared>,
    cwd: &Path,
    lookup: &Lookup,
    workers: &mut Workers,
    triggers: &std_mpsc::Sender<Trigger>,
) {
    let Signals { mut hangup, mut terminate, mut interrupt } = signals;
    loop {
        tokio::select! {
            _ = hangup.recv() => reload(shared, cwd, lookup, workers, triggers).await,
            _ = terminate.recv() => return,
            _ = interrupt.recv() => return,
        }
    }
}

async fn reload(
    shared: &Arc<Shared>,
    cwd: &Path,
    lookup: &Lookup,
    workers: &mut Workers,
    triggers: &std_mpsc::Sender<Trigger>,
) {
    let mut states = vec![sd_notify::NotifyState::Reloading];
    states.extend(sd_notify::NotifyState::monotonic_usec_now().ok());
    notify_systemd(&states);
    let old = shared.config();
    let file = old.file.clone();
    let (cwd, lookup_fn) = (cwd.to_path_buf(), lookup.clone());
    let loaded = tokio::task::spawn_blocking(move || load_config(file.as_deref(), &cwd, &*lookup_fn)).await;
    match loaded {
        Ok(Ok(new)) => {
            if new.config.server.listen != old.config.server.listen {
                tracing::warn!("[server] listen changed; it takes effect at the next restart");
            }
            let runtimes = new.config.runtimes.len();
            *shared.config.write().expect("config lock") = Arc::new(new);
            workers.follow_config(shared).await;
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
    stop: watch::Sender<bool>,
    task: JoinHandle<()>,
    queue: Arc<RuntimeQueue>,
    backoff: (Duration, Duration, Duration),
}

struct Workers {
    client: reqwest::Client,
    acks: mpsc::UnboundedSender<PendingDelivery>,
    running: BTreeMap<String, Worker>,
}

impl Workers {
    /// Starts, restarts or stops workers so that they match the config: a runtime whose
    /// settings are unchanged and that is not parked keeps its worker.
    async fn follow_config(&mut self, shared: &Arc<Shared>) {
        let config = shared.config();
        let delivery = &config.config.delivery;
        let backoff = (delivery.retry_min, delivery.retry_max, delivery.timeout);
        let mut wanted = BTreeMap::new();
        for (runtime, secrets) in config.config.runtimes.iter().zip(&config.runtime_secrets) {
            wanted.insert(runtime.name.clone(), (runtime.clone(), secrets.clone()));
        }
        let names: Vec<String> = self.running.keys().cloned().collect();
        let mut stopping = Vec::new();
        for name in names {
            let keep = wanted.get(&name).is_some_and(|(runtime, secrets)| {
                let worker = &self.running[&name];
                &worker.queue.config == runtime
                    && &worker.queue.secrets == secrets
                    && worker.backoff == backoff
                    && worker.queue.status.lock().expect("status lock").state != "parked"
            });
            if keep {
                wanted.remove(&name);
            } else if let Some(worker) = self.running.remove(&name) {
                let _ = worker.stop.send(true);
                shared.runtimes.write().expect("runtimes lock").remove(&name);
                shared.metrics.park(&name, false);
                stopping.push((name, worker.task));
            }
        }
        // A replaced worker finishes its request in flight before its successor starts,
        // so the two never send the same delivery at once.
        let bound = backoff.2 + Duration::from_secs(1);
        for (name, task) in stopping {
            if tokio::time::timeout(bound, task).await.is_err() {
                tracing::warn!(runtime = name.as_str(), "the replaced worker did not stop in time");
            }
        }
        for (name, (runtime, secrets)) in wanted {
            let queue = Arc::new(RuntimeQueue::new(runtime, secrets));
            shared.metrics.runtime_started(&name);
            // Registered before the pending deliveries are read, so that nothing the sync
            // loop records meanwhile misses the queue (`push` keeps the newest of each).
            shared.runtimes.write().expect("runtimes lock").insert(name.clone(), queue.clone());
            let store = shared.clone();
            let pending_name = name.clone();
            let pending =
                tokio::task::spawn_blocking(move || store.store.lock().expect("store lock").pending(&pending_name))
                    .await
                    .unwrap_or_else(|e| Err(Error::Usage { message: e.to_string(), hint: None }));
            match pending {
                Ok(pending) => {
                    let now = Instant::now();
                    let depth = queue.push(pending.into_iter().map(|delivery| Queued { delivery, since: now }));
                    shared.metrics.queue(&name, depth);
                }
                Err(error) => {
                    tracing::error!(runtime = name.as_str(), error = %error, "cannot read pending deliveries")
                }
            }
            let (stop, stopped) = watch::channel(false);
            let task = tokio::spawn(deliver::worker(
                shared.clone(),
                queue.clone(),
                self.client.clone(),
                Backoff { retry_min: backoff.0, retry_max: backoff.1, timeout: backoff.2 },
                self.acks.clone(),
                stopped,
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
