//! What the runtimes' workers, the pullers and the waiting writers watch (in memory, no
//! I/O): each environment's gate and the configuration it serves to pullers, each
//! runtime's queue and state, the repository's status after the last sync pass, and one
//! change counter that wakes long-polls and writes with `wait`. The sync loop writes
//! here; the workers and the HTTP handlers read.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, OnceLock, RwLock};
use std::time::Instant;

use tokio::sync::{Notify, watch};

use super::lease::Ownership;
use super::ledger::PendingDelivery;
use super::metrics::Metrics;
use crate::config::{RuntimeConfig, Secret};
use crate::webhook::plan::{AssistantState, Tip};
use crate::wire::{RuntimeState, Status};

/// An environment's gate, as the daemon last decided it.
#[derive(Debug, Clone, Default)]
pub struct Gate {
    /// The tip seen.
    pub commit: String,
    pub version: Option<u32>,
    pub valid: bool,
    pub drift: bool,
    pub held: bool,
    /// Why the tip is not delivered (invalid, drift, held); `None` when it is.
    pub problem: Option<String>,
    /// The tip whose deliveries were last recorded (the last good configuration).
    pub delivered: Option<Delivered>,
}

/// A tip whose deliveries were recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivered {
    pub commit: String,
    pub sequence: u64,
    /// That tip's version (`None` on the draft).
    pub version: Option<u32>,
}

/// What runtimes pull from an environment: the states of its last good tip; each
/// assistant's canonical `data` object and strong `ETag` are made when first pulled, so
/// a tip that nobody pulls costs nothing here.
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
            Pulled { etag: crate::webhook::etag(&data), data: bytes::Bytes::from(data) }
        }))
    }
}

/// One assistant's pulled config.
#[derive(Debug, Clone)]
pub struct Pulled {
    /// The `data` object, serialized canonically (the bytes the `ETag` hashes).
    pub data: bytes::Bytes,
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
#[derive(Debug, Clone, Default)]
pub struct RuntimeStatus {
    pub state: RuntimeState,
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
    status: Mutex<RuntimeStatus>,
    /// The queue depth metric, set under the queue's lock so that it never shows a
    /// length older than the last change.
    depth: prometheus::IntGauge,
}

impl RuntimeQueue {
    pub fn new(config: RuntimeConfig, secrets: Vec<Secret>, metrics: &Metrics) -> RuntimeQueue {
        let depth = metrics.queue_depth.with_label_values(&[config.name.as_str()]);
        RuntimeQueue {
            config,
            secrets,
            pending: Mutex::new(BTreeMap::new()),
            wake: Notify::new(),
            status: Mutex::new(RuntimeStatus::default()),
            depth,
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
        self.depth.set(len as i64);
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
        self.depth.set(pending.len() as i64);
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

    /// What the worker reported last.
    pub fn status(&self) -> RuntimeStatus {
        self.status.lock().expect("status lock").clone()
    }

    /// Changes the status; returns whether its state changed.
    pub fn set_status(&self, change: impl FnOnce(&mut RuntimeStatus)) -> bool {
        let mut status = self.status.lock().expect("status lock");
        let before = status.state;
        change(&mut status);
        status.state != before
    }
}

/// The environments' gates and pulls, the runtimes' queues, the last status and the
/// change counter; shared behind one `Arc`.
pub struct Hub {
    gates: RwLock<BTreeMap<String, Gate>>,
    pulls: RwLock<BTreeMap<String, Arc<EnvPull>>>,
    runtimes: RwLock<BTreeMap<String, Arc<RuntimeQueue>>>,
    status: RwLock<Option<Arc<Status>>>,
    changes: watch::Sender<u64>,
    pub metrics: Metrics,
    /// Which runtimes this daemon delivers to (all of them, without leases).
    pub ownership: Arc<Ownership>,
}

impl Default for Hub {
    fn default() -> Self {
        Hub::new()
    }
}

impl Hub {
    /// The hub of a daemon alone on its ledger: it delivers to every runtime.
    pub fn new() -> Hub {
        Hub::with_ownership(Arc::new(Ownership::alone(super::lease::default_node(None))))
    }

    /// The hub of a daemon that delivers to the runtimes `ownership` holds.
    pub fn with_ownership(ownership: Arc<Ownership>) -> Hub {
        Hub {
            gates: RwLock::default(),
            pulls: RwLock::default(),
            runtimes: RwLock::default(),
            status: RwLock::default(),
            changes: watch::channel(0).0,
            metrics: Metrics::new(),
            ownership,
        }
    }

    /// Tells long-polls and waiting writes that something changed.
    pub fn changed(&self) {
        self.changes.send_modify(|n| *n = n.wrapping_add(1));
    }

    /// The change counter, to wait on.
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.changes.subscribe()
    }

    /// How many changes there were (a cache key for answers made from this hub).
    pub fn generation(&self) -> u64 {
        *self.changes.borrow()
    }

    pub fn gate(&self, environment: &str) -> Option<Gate> {
        self.gates.read().expect("gates lock").get(environment).cloned()
    }

    pub fn gates(&self) -> BTreeMap<String, Gate> {
        self.gates.read().expect("gates lock").clone()
    }

    /// Records an environment's gate and wakes whoever waits on a delivery.
    pub fn set_gate(&self, environment: &str, gate: Gate) {
        self.gates.write().expect("gates lock").insert(environment.to_string(), gate);
        self.changed();
    }

    pub fn pull(&self, environment: &str) -> Option<Arc<EnvPull>> {
        self.pulls.read().expect("pulls lock").get(environment).cloned()
    }

    /// Makes a recorded tip what runtimes pull (unless it already is), and wakes
    /// long-polls.
    pub fn set_pull(&self, tip: &Tip, sequence: u64, states: &Arc<BTreeMap<String, AssistantState>>) {
        let current = self.pull(&tip.environment);
        if current.is_some_and(|c| c.commit == tip.commit && c.sequence == sequence) {
            return;
        }
        let pull = Arc::new(EnvPull::new(tip, sequence, states.clone()));
        self.pulls.write().expect("pulls lock").insert(tip.environment.clone(), pull);
        self.changed();
    }

    pub fn runtime(&self, name: &str) -> Option<Arc<RuntimeQueue>> {
        self.runtimes.read().expect("runtimes lock").get(name).cloned()
    }

    /// Every runtime's queue, by name.
    pub fn runtimes(&self) -> Vec<Arc<RuntimeQueue>> {
        self.runtimes.read().expect("runtimes lock").values().cloned().collect()
    }

    pub fn add_runtime(&self, queue: Arc<RuntimeQueue>) {
        self.metrics.runtime_started(&queue.config.name);
        self.runtimes.write().expect("runtimes lock").insert(queue.config.name.clone(), queue);
    }

    pub fn remove_runtime(&self, name: &str) {
        self.runtimes.write().expect("runtimes lock").remove(name);
        self.metrics.park(name, false);
    }

    /// The repository's status after the last sync pass that saw a change.
    pub fn status(&self) -> Option<Arc<Status>> {
        self.status.read().expect("status lock").clone()
    }

    pub fn set_status(&self, status: Status) {
        *self.status.write().expect("status lock") = Some(Arc::new(status));
        self.changed();
    }
}
