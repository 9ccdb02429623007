//! What the daemon's parts share: the loaded config, the delivery state, each
//! environment's health, each runtime's queue, the metrics.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock, RwLock};
use std::time::Instant;

use serde::Serialize;
use tokio::sync::Notify;

use super::LoadedConfig;
use super::metrics::Metrics;
use super::state::{DeliveryStore, PendingDelivery};
use crate::config::{RuntimeConfig, Secret};
use crate::desired::{AssistantState, Tip};

/// One environment as the daemon last saw it.
#[derive(Debug, Clone, Default, Serialize)]
pub struct EnvHealth {
    pub environment: String,
    /// The tip seen.
    pub commit: String,
    pub version: Option<u32>,
    pub valid: bool,
    pub drift: bool,
    pub held: bool,
    /// Why the tip is not delivered (invalid, drift, held); `None` when it is.
    pub problem: Option<String>,
    /// The tip whose deliveries were last recorded (the last good configuration).
    pub delivered_commit: Option<String>,
    pub delivered_sequence: Option<u64>,
    /// That tip's version (`None` on the draft).
    pub delivered_version: Option<u32>,
}

/// What runtimes pull from an environment (SPEC 8): the states of its last good tip;
/// each assistant's canonical `data` object and strong `ETag` are made when first
/// pulled, so a tip that nobody pulls costs nothing here.
#[derive(Debug)]
pub struct EnvPull {
    pub commit: String,
    pub sequence: u64,
    environment: String,
    version: Option<u32>,
    states: Arc<BTreeMap<String, AssistantState>>,
    pulled: BTreeMap<String, OnceLock<Pulled>>,
}

impl EnvPull {
    pub fn new(tip: &Tip, sequence: u64, states: Arc<BTreeMap<String, AssistantState>>) -> EnvPull {
        EnvPull {
            commit: tip.commit.clone(),
            sequence,
            environment: tip.environment.clone(),
            version: tip.version,
            pulled: states.keys().map(|id| (id.clone(), OnceLock::new())).collect(),
            states,
        }
    }

    /// The assistants' ids, in order.
    pub fn ids(&self) -> impl Iterator<Item = &String> {
        self.states.keys()
    }

    /// One assistant's pulled config (made on first use).
    pub fn get(&self, id: &str) -> Option<&Pulled> {
        let (cell, state) = (self.pulled.get(id)?, self.states.get(id)?);
        Some(cell.get_or_init(|| {
            let origin = crate::webhook::Origin {
                environment: &self.environment,
                commit: &self.commit,
                version: self.version,
                sequence: self.sequence,
            };
            let data = crate::webhook::data(&origin, id, Some(&state.config), Some(&state.channels));
            Pulled { etag: crate::webhook::etag(&data), data: data.into() }
        }))
    }
}

/// One assistant's pulled config.
#[derive(Debug, Clone)]
pub struct Pulled {
    /// The `data` object, serialized canonically (the bytes the `ETag` hashes).
    pub data: axum::body::Bytes,
    pub etag: String,
}

/// A delivery waiting in a runtime's queue.
#[derive(Debug, Clone)]
pub struct Queued {
    pub delivery: PendingDelivery,
    /// When it was recorded (or loaded at start), for the latency histogram.
    pub since: Instant,
}

/// What a runtime's worker reports.
#[derive(Debug, Clone, Default, Serialize)]
pub struct RuntimeStatus {
    /// `idle`, `delivering`, `retrying`, `parked`.
    pub state: String,
    pub last_error: Option<String>,
    /// The sequence of the newest state it acknowledged (this run).
    pub acknowledged_sequence: Option<u64>,
    /// The version of the newest state it acknowledged (this run).
    pub acknowledged_version: Option<u32>,
}

/// One runtime's pending deliveries (one per assistant, the newest) and its wake-up.
#[derive(Debug)]
pub struct RuntimeQueue {
    pub config: RuntimeConfig,
    pub secrets: Vec<Secret>,
    pending: Mutex<BTreeMap<String, Queued>>,
    pub wake: Notify,
    pub status: Mutex<RuntimeStatus>,
}

impl RuntimeQueue {
    pub fn new(config: RuntimeConfig, secrets: Vec<Secret>) -> RuntimeQueue {
        RuntimeQueue {
            config,
            secrets,
            pending: Mutex::new(BTreeMap::new()),
            wake: Notify::new(),
            status: Mutex::new(RuntimeStatus { state: "idle".into(), ..RuntimeStatus::default() }),
        }
    }

    /// Adds deliveries, each superseding an older one of the same assistant, and wakes the
    /// worker. Returns the queue's length.
    pub fn push(&self, deliveries: impl IntoIterator<Item = Queued>) -> usize {
        let mut pending = self.pending.lock().expect("queue lock");
        for queued in deliveries {
            match pending.get(&queued.delivery.assistant) {
                // Sequences count per environment: only compare within one.
                Some(existing)
                    if existing.delivery.environment == queued.delivery.environment
                        && existing.delivery.sequence > queued.delivery.sequence => {}
                _ => {
                    pending.insert(queued.delivery.assistant.clone(), queued);
                }
            }
        }
        let len = pending.len();
        drop(pending);
        self.wake.notify_one();
        len
    }

    /// The next delivery to attempt, in (sequence, assistant) order: the oldest, or after
    /// a failure the one following the failed one (wrapping round), so that one delivery
    /// a runtime keeps refusing does not block its others.
    pub fn next(&self, after: Option<&(u64, String)>) -> Option<Queued> {
        let pending = self.pending.lock().expect("queue lock");
        let key = |q: &Queued| (q.delivery.sequence, q.delivery.assistant.clone());
        let mut ordered: Vec<&Queued> = pending.values().collect();
        ordered.sort_by_key(|q| key(q));
        let following = after.and_then(|after| ordered.iter().find(|q| &key(q) > after));
        following.or(ordered.first()).map(|q| (*q).clone())
    }

    /// Drops a delivery once acknowledged, unless a newer one replaced it. Returns the
    /// queue's length.
    pub fn done(&self, delivery: &PendingDelivery) -> usize {
        let mut pending = self.pending.lock().expect("queue lock");
        if pending.get(&delivery.assistant).is_some_and(|q| q.delivery.webhook_id == delivery.webhook_id) {
            pending.remove(&delivery.assistant);
        }
        pending.len()
    }

    /// True when nothing of `environment` up to `sequence` waits in this queue.
    pub fn is_caught_up(&self, environment: &str, sequence: u64) -> bool {
        let pending = self.pending.lock().expect("queue lock");
        !pending.values().any(|q| q.delivery.environment == environment && q.delivery.sequence <= sequence)
    }

    pub fn len(&self) -> usize {
        self.pending.lock().expect("queue lock").len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn set_status(&self, change: impl FnOnce(&mut RuntimeStatus)) {
        change(&mut self.status.lock().expect("status lock"));
    }
}

/// Everything shared, behind one `Arc`.
pub struct Shared {
    pub config: RwLock<Arc<LoadedConfig>>,
    pub store: Mutex<Box<dyn DeliveryStore>>,
    pub health: RwLock<BTreeMap<String, EnvHealth>>,
    pub runtimes: RwLock<BTreeMap<String, Arc<RuntimeQueue>>>,
    pub metrics: Metrics,
    pub ready: AtomicBool,
    /// Asks for a fetch (remote mode) and a re-scan: a forge's push webhook.
    pub kick: Notify,
    /// Per environment, what runtimes pull.
    pub pull: RwLock<BTreeMap<String, Arc<EnvPull>>>,
    /// Bumped whenever a pulled config, a recorded tip or an acknowledgement changes:
    /// long-polls and writes with `wait` watch it.
    pub changes: tokio::sync::watch::Sender<u64>,
    /// The committer of the API's writes (`[repository] identity`, the environment, or
    /// git config); `None`: API writes are refused.
    pub identity: Option<crate::identity::Person>,
    /// The repository's status after the last sync pass that saw a change.
    pub status: RwLock<Option<Arc<crate::wire::Status>>>,
    /// Set when stopping: long-polls answer at once.
    pub stopping: AtomicBool,
    /// The last `/v1/environments` answer and the `changes` count it was made at.
    pub environments_cache: Mutex<Option<(u64, axum::body::Bytes)>>,
}

impl Shared {
    pub fn new(
        config: LoadedConfig,
        store: Box<dyn DeliveryStore>,
        identity: Option<crate::identity::Person>,
    ) -> Shared {
        Shared {
            config: RwLock::new(Arc::new(config)),
            store: Mutex::new(store),
            health: RwLock::new(BTreeMap::new()),
            runtimes: RwLock::new(BTreeMap::new()),
            metrics: Metrics::new(),
            ready: AtomicBool::new(false),
            kick: Notify::new(),
            pull: RwLock::new(BTreeMap::new()),
            changes: tokio::sync::watch::channel(0).0,
            identity,
            status: RwLock::new(None),
            stopping: AtomicBool::new(false),
            environments_cache: Mutex::new(None),
        }
    }

    pub fn config(&self) -> Arc<LoadedConfig> {
        self.config.read().expect("config lock").clone()
    }

    pub fn queue(&self, runtime: &str) -> Option<Arc<RuntimeQueue>> {
        self.runtimes.read().expect("runtimes lock").get(runtime).cloned()
    }

    /// Tells long-polls and waiting writes that something changed.
    pub fn changed(&self) {
        self.changes.send_modify(|n| *n = n.wrapping_add(1));
    }

    pub fn is_ready(&self) -> bool {
        self.ready.load(Ordering::SeqCst)
    }
}
