//! The sync loop: one thread that owns the git store. On each trigger (a ref changed, a
//! re-scan) it re-reads the chain's tips and acts only on the values that changed:
//! reconciles the second environment into versions when it moved, puts every changed
//! tip through the gate (valid, not in drift, not held), and for a tip that passes
//! records, in one transaction, the tip's sequence and the deliveries that bring each
//! bound runtime to it, then hands them to the runtimes' queues.
//!
//! Triggers that arrive while a pass runs are coalesced into the next pass, without
//! waiting for more. Parsed and validated trees are cached by tree id, and each
//! environment's delivered states by (tree, environment), so a promotion or rollback to a
//! tree seen before costs a lookup. A new tree costs what changed: its listing is made
//! from the last tree's, skipping subtrees whose ids are unchanged; assistants (and
//! files) whose blobs were seen before are reused, and so are their delivered configs
//! and hashes.
//!
//! I/O: git (this thread owns the store), the delivery ledger and hub.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::deliver::hub::{Delivered, Gate, Hub, Queued};
use crate::deliver::ledger::{DeliveryLedger, NewDelivery, PendingDelivery};
use crate::error::Error;
use crate::history;
use crate::lifecycle::plan::{GateDecision, GateFacts, gate};
use crate::loaded::SharedConfig;
use crate::model::{BlobReader, Chain, Config, Entry, EntryKind, EnvName, ObjectId, Snapshot};
use crate::ops::read::deployed::deployed;
use crate::ops::read::state::current_version;
use crate::ops::read::{EnvState, RepoState, read_reconciled, read_state};
use crate::parse;
use crate::store::Store;
use crate::webhook::plan::{self as desired, AssistantState, Tip};

/// What wakes the sync loop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trigger {
    /// A ref may have changed: re-read the tips, act on the changed ones.
    Refs,
    /// Re-read everything (start, watcher overflow, config reload, polling).
    Rescan,
    /// Finish the pass and stop.
    Stop,
}

/// A tree parsed and validated once.
struct Loaded {
    config: Config,
    /// The first finding and how many, when the tree does not validate.
    problem: Option<String>,
}

/// The wait before a failed pass runs again, doubling up to `RETRY_LAST`.
const RETRY_FIRST: Duration = Duration::from_millis(250);
const RETRY_LAST: Duration = Duration::from_secs(10);

/// Keeps at most this many trees (and environment states); cleared when full.
const CACHE_LIMIT: usize = 64;

/// What the sync loop writes to and reads from besides git.
#[derive(Clone)]
pub struct Ports {
    pub hub: Arc<Hub>,
    pub ledger: Arc<dyn DeliveryLedger>,
    pub config: Arc<SharedConfig>,
    /// The async runtime the ledger's calls run on (this loop is a plain thread).
    pub runtime: tokio::runtime::Handle,
}

pub struct Syncer {
    store: Store,
    chain: Chain,
    ports: Ports,
    trees: HashMap<ObjectId, Arc<Loaded>>,
    states: HashMap<(ObjectId, EnvName), Arc<BTreeMap<String, AssistantState>>>,
    /// The snapshots of the trees read last (the load of a tip, then the status).
    snapshots: Snapshots,
    /// Assistants loaded before, so that a new tree re-reads only the changed ones.
    assistants: parse::AssistantCache,
    /// Delivered configs and hashes of assistants seen before.
    delivered: desired::StateCache,
    seen: Vec<(EnvName, ObjectId)>,
    /// Per runtime, assistant → hash of what it was last sent (pending or acknowledged).
    known: HashMap<String, BTreeMap<String, String>>,
    passes: u64,
}

impl Syncer {
    pub fn new(store: Store, chain: Chain, ports: Ports) -> Syncer {
        Syncer {
            store,
            chain,
            ports,
            trees: HashMap::new(),
            states: HashMap::new(),
            snapshots: Snapshots::default(),
            assistants: parse::AssistantCache::default(),
            delivered: desired::StateCache::default(),
            seen: Vec::new(),
            known: HashMap::new(),
            passes: 0,
        }
    }

    /// Runs until `Stop`, or until the triggers' senders are gone. `poll` is the re-scan
    /// interval; `done` is called after every pass (readiness, the watchdog).
    pub fn run(mut self, triggers: Receiver<Trigger>, poll: Duration, done: &dyn Fn(u64)) {
        let mut next_scan = Instant::now() + poll;
        let mut retry = RETRY_FIRST;
        loop {
            let wait = next_scan.saturating_duration_since(Instant::now());
            let first = match triggers.recv_timeout(wait) {
                Ok(trigger) => trigger,
                Err(RecvTimeoutError::Timeout) => Trigger::Rescan,
                Err(RecvTimeoutError::Disconnected) => return,
            };
            let mut full = first == Trigger::Rescan;
            let mut stop = first == Trigger::Stop;
            while let Ok(more) = triggers.try_recv() {
                full |= more == Trigger::Rescan;
                stop |= more == Trigger::Stop;
            }
            if stop {
                return;
            }
            if full {
                next_scan = Instant::now() + poll;
            }
            match self.pass(full) {
                Ok(()) => retry = RETRY_FIRST,
                Err(error) => {
                    // A full pass again soon (the ledger's database back, a lock gone),
                    // sooner than the next poll, backing off while it keeps failing.
                    tracing::error!(error = %error, "sync pass failed; trying again in {} ms", retry.as_millis());
                    next_scan = next_scan.min(Instant::now() + retry);
                    retry = (retry * 2).min(RETRY_LAST);
                }
            }
            self.passes += 1;
            done(self.passes);
        }
    }

    /// One pass; `full` re-reads every environment and what the runtimes were sent.
    pub fn pass(&mut self, full: bool) -> Result<(), Error> {
        let tips = self.store.chain_tips(&self.chain)?;
        if !full && tips == self.seen {
            return Ok(());
        }
        if full {
            self.known.clear();
        }
        let base = 1.min(tips.len() - 1);
        let base_moved = full || self.seen.get(base) != tips.get(base);
        let state = if base_moved {
            let (state, reconciled) = read_reconciled(&self.store)?;
            for tagged in &reconciled.tagged {
                self.ports.hub.metrics.reconciled.inc();
                tracing::info!(
                    version = %tagged.version,
                    commit = %tagged.commit.short(),
                    repaired = tagged.repaired,
                    "{} {} on {}",
                    if tagged.repaired { "tagged a publish cut off before its tag:" } else { "tagged a merge as" },
                    tagged.version,
                    self.chain.base()
                );
            }
            for (commit, reason) in &reconciled.skipped {
                tracing::warn!(commit = %commit.short(), "a merge into {} does not validate and gets no version: {reason}", self.chain.base());
            }
            state
        } else {
            read_state(&self.store)?
        };
        for (index, env) in state.envs.iter().enumerate() {
            let changed = self.seen.get(index) != tips.get(index);
            if full || base_moved || changed {
                self.env(&state, index, env, changed || full)?;
            }
        }
        let moved: Vec<bool> = (0..state.envs.len()).map(|i| full || self.seen.get(i) != tips.get(i)).collect();
        self.seen = tips;
        // Keeps each environment's deployed-versions cache up to date (a walk of the
        // commits since the last pass; the whole history once), so a rollback preview
        // on the dashboard reads it instead of the history.
        for (env, _) in state.envs.iter().zip(moved).skip(1).filter(|(_, moved)| *moved) {
            if let Err(error) = deployed(&self.store, &state, &env.env) {
                tracing::debug!(env = %env.env, error = %error, "cannot update the deployed-versions cache");
            }
        }
        let mut snapshots = std::mem::take(&mut self.snapshots);
        let status = crate::ops::status_with(&self.store, &mut |tree| snapshot(&self.store, &mut snapshots, tree));
        self.snapshots = snapshots;
        let status = status?;
        self.ports.hub.set_status(status);
        Ok(())
    }

    /// Puts one environment's tip through the gate and records its deliveries.
    fn env(&mut self, state: &RepoState, index: usize, env: &EnvState, log: bool) -> Result<(), Error> {
        let name = env.env.as_str();
        let loaded = self.load(env.tip.tree)?;
        let version = env.current.version();
        let facts = env.facts();
        let GateDecision { drift, held, problem, .. } = gate(&GateFacts {
            chain: &state.chain,
            env: &facts,
            invalid: loaded.problem.as_deref(),
            forced: env.tip.message.get(history::FORCE).is_some(),
        });
        let metrics = &self.ports.hub.metrics;
        metrics.gate(name, loaded.problem.is_none(), drift, held);
        let previous = self.ports.hub.gate(name).unwrap_or_default();
        let mut gate = Gate {
            commit: env.tip.id.to_hex(),
            version: version.map(|v| v.number()),
            valid: loaded.problem.is_none(),
            drift,
            held,
            problem: problem.clone(),
            delivered: previous.delivered,
        };
        if let Some(problem) = problem {
            if log || previous.problem.as_ref() != Some(&problem) {
                tracing::warn!(environment = name, commit = %env.tip.id.short(), "not delivered, runtimes keep the last good configuration: {problem}");
            }
            // The last good configuration is the tip recorded last: still what pullers
            // get and what a runtime added meanwhile is sent, after a restart too.
            if let Some(good) = self.last_good(state, index, env)? {
                let states = self.states(&env.env, good.1, &good.2);
                let sequence = self.record(&env.env, &good.0, &states)?;
                self.ports.hub.set_pull(&good.0, sequence, &states);
                gate.delivered = Some(Delivered { commit: good.0.commit.clone(), sequence, version: good.0.version });
            }
            self.ports.hub.set_gate(name, gate);
            return Ok(());
        }
        let tip = Tip {
            environment: name.to_string(),
            commit: env.tip.id.to_hex(),
            version: if index == 0 { None } else { version.map(|v| v.number()) },
            timestamp: env.tip.committer_time.to_utc_rfc3339(),
        };
        let states = self.states(&env.env, env.tip.tree, &loaded);
        let sequence = self.record(&env.env, &tip, &states)?;
        self.ports.hub.set_pull(&tip, sequence, &states);
        gate.delivered = Some(Delivered { commit: tip.commit.clone(), sequence, version: tip.version });
        self.ports.hub.set_gate(name, gate);
        let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default().as_secs_f64();
        self.ports.hub.metrics.last_sync.with_label_values(&[name]).set(now);
        Ok(())
    }

    /// The tip recorded last for an environment whose tip is held back, when it is
    /// another commit that still validates: as a tip, with its tree and its config.
    fn last_good(
        &mut self,
        state: &RepoState,
        index: usize,
        env: &EnvState,
    ) -> Result<Option<(Tip, ObjectId, Arc<Loaded>)>, Error> {
        let (_, recorded) = self.ports.runtime.block_on(self.ports.ledger.tip(env.env.as_str()))?;
        let Some(commit) = recorded.as_deref().and_then(ObjectId::from_hex) else { return Ok(None) };
        if commit == env.tip.id {
            return Ok(None);
        }
        let Ok(info) = self.store.commit_info(commit) else { return Ok(None) };
        let loaded = self.load(info.tree)?;
        if loaded.problem.is_some() {
            return Ok(None);
        }
        let version = if index == 0 {
            None
        } else {
            current_version(&self.store, &info, &state.index)?.version().map(|v| v.number())
        };
        let tip = Tip {
            environment: env.env.to_string(),
            commit: info.id.to_hex(),
            version,
            timestamp: info.committer_time.to_utc_rfc3339(),
        };
        Ok(Some((tip, info.tree, loaded)))
    }

    /// Records the tip and the deliveries it needs, then queues them.
    fn record(
        &mut self,
        env: &EnvName,
        tip: &Tip,
        states: &Arc<BTreeMap<String, AssistantState>>,
    ) -> Result<u64, Error> {
        let config = self.ports.config.get();
        // The runtimes this daemon delivers to (with leases, its share).
        let ownership = &self.ports.hub.ownership;
        let bound: Vec<_> =
            config.config.runtimes.iter().filter(|r| &r.environment == env && ownership.owns(&r.name)).collect();
        let mut plans = Vec::new();
        for runtime in &bound {
            if !self.known.contains_key(&runtime.name) {
                let known = self.ports.runtime.block_on(self.ports.ledger.known(&runtime.name))?;
                self.known.insert(runtime.name.clone(), known);
            }
            let planned = desired::plan(&runtime.assistants, states, &self.known[&runtime.name]);
            plans.push((runtime.name.clone(), planned));
        }
        let (recorded_sequence, recorded_commit) = self.ports.runtime.block_on(self.ports.ledger.tip(env.as_str()))?;
        if recorded_commit.as_deref() == Some(tip.commit.as_str()) && plans.iter().all(|(_, p)| p.is_empty()) {
            return Ok(recorded_sequence);
        }
        let (build_tip, build_states) = (tip.clone(), states.clone());
        let build = Box::new(move |sequence: u64| {
            let mut bodies = desired::Bodies::default();
            plans
                .iter()
                .flat_map(|(runtime, planned)| {
                    desired::build_shared(runtime, &build_tip, sequence, planned, &build_states, &mut bodies)
                        .into_iter()
                        .map(|d| NewDelivery {
                            runtime: runtime.clone(),
                            assistant: d.assistant,
                            webhook_id: d.webhook_id,
                            event: d.event.to_string(),
                            body: d.body,
                            config_hash: d.hash,
                        })
                })
                .collect()
        });
        let recorded = self.ports.runtime.block_on(self.ports.ledger.record_tip(env.as_str(), &tip.commit, build))?;
        let sequence = recorded.sequence;
        let since = Instant::now();
        let mut by_runtime: BTreeMap<String, Vec<NewDelivery>> = BTreeMap::new();
        for delivery in recorded.deliveries {
            by_runtime.entry(delivery.runtime.clone()).or_default().push(delivery);
        }
        // Every queue first, so that no runtime waits for the others' bookkeeping; then
        // what was queued, one line (a line per runtime at debug level).
        let mut queued: Vec<(String, Vec<String>)> = Vec::with_capacity(by_runtime.len());
        for (runtime, deliveries) in by_runtime {
            let assistants: Vec<String> = deliveries.iter().map(|d| d.assistant.clone()).collect();
            let known = self.known.entry(runtime.clone()).or_default();
            for d in &deliveries {
                known.insert(d.assistant.clone(), d.config_hash.clone());
            }
            if let Some(queue) = self.ports.hub.runtime(&runtime) {
                queue.push(deliveries.into_iter().map(|d| Queued {
                    delivery: PendingDelivery {
                        runtime: runtime.clone(),
                        assistant: d.assistant,
                        environment: env.to_string(),
                        sequence,
                        webhook_id: d.webhook_id,
                        event: d.event,
                        body: d.body,
                        config_hash: d.config_hash,
                    },
                    since,
                }));
            }
            queued.push((runtime, assistants));
        }
        let commit = &tip.commit[..12.min(tip.commit.len())];
        for (runtime, assistants) in &queued {
            tracing::debug!(
                environment = env.as_str(),
                runtime = runtime.as_str(),
                sequence,
                commit,
                "queued {}",
                assistants.join(", ")
            );
        }
        if !queued.is_empty() {
            let count: usize = queued.iter().map(|(_, a)| a.len()).sum();
            let mut assistants: Vec<&str> = queued.iter().flat_map(|(_, a)| a.iter().map(String::as_str)).collect();
            assistants.sort_unstable();
            assistants.dedup();
            tracing::info!(
                environment = env.as_str(),
                sequence,
                commit,
                "queued {count} deliver{} to {} runtime{} ({})",
                if count == 1 { "y" } else { "ies" },
                queued.len(),
                if queued.len() == 1 { "" } else { "s" },
                assistants.join(", ")
            );
        }
        Ok(sequence)
    }

    /// A tree, parsed and validated (cached by tree id; a new tree reuses the
    /// assistants it shares with trees loaded before).
    fn load(&mut self, tree: ObjectId) -> Result<Arc<Loaded>, Error> {
        if let Some(loaded) = self.trees.get(&tree) {
            return Ok(loaded.clone());
        }
        let snapshot = snapshot(&self.store, &mut self.snapshots, tree)?;
        let (config, diagnostics) =
            parse::load_cached(&snapshot, &self.store.blobs(), &self.chain, &mut self.assistants);
        let problem = diagnostics.first().map(|first| {
            let line = first.render().lines().next().unwrap_or_default().to_string();
            if diagnostics.len() == 1 { line } else { format!("{line} (and {} more)", diagnostics.len() - 1) }
        });
        if self.trees.len() >= CACHE_LIMIT {
            self.trees.clear();
        }
        let loaded = Arc::new(Loaded { config, problem });
        self.trees.insert(tree, loaded.clone());
        Ok(loaded)
    }

    /// The delivered state of every assistant of a tree in an environment (cached).
    fn states(&mut self, env: &EnvName, tree: ObjectId, loaded: &Loaded) -> Arc<BTreeMap<String, AssistantState>> {
        if let Some(states) = self.states.get(&(tree, env.clone())) {
            return states.clone();
        }
        let blobs = self.store.blobs();
        let config = &loaded.config;
        let file = |id: &crate::model::AssistantId, path: &str| {
            let blob = *config.assistants.get(id)?.files.get(path)?;
            let full = format!("assistants/{id}/files/{path}");
            blobs.read(&full, &Entry { id: blob, kind: EntryKind::File }).ok()
        };
        let states = Arc::new(desired::environment_states_cached(env, config, &file, &mut self.delivered));
        if self.states.len() >= CACHE_LIMIT {
            self.states.clear();
        }
        self.states.insert((tree, env.clone()), states.clone());
        states
    }
}

/// Keeps at most this many snapshots (a tree of 10,000 files is about a megabyte).
const SNAPSHOT_LIMIT: usize = 8;

/// The snapshots of the trees read last, and which was read last.
#[derive(Default)]
struct Snapshots {
    trees: HashMap<ObjectId, Arc<Snapshot>>,
    last: Option<ObjectId>,
}

/// A tree's snapshot, from `cache`, or made from the last one read
/// ([`Store::tree_snapshot_from`]; a walk of the whole tree when there is none), and kept.
fn snapshot(store: &Store, cache: &mut Snapshots, tree: ObjectId) -> Result<Arc<Snapshot>, Error> {
    if let Some(snapshot) = cache.trees.get(&tree) {
        return Ok(snapshot.clone());
    }
    let base = cache.last.and_then(|last| cache.trees.get(&last).map(|snapshot| (last, snapshot)));
    let snapshot = Arc::new(match base {
        Some((base_tree, base)) => store.tree_snapshot_from(base_tree, base, tree)?,
        None => store.tree_snapshot(tree)?,
    });
    if cache.trees.len() >= SNAPSHOT_LIMIT {
        cache.trees.clear();
    }
    cache.trees.insert(tree, snapshot.clone());
    cache.last = Some(tree);
    Ok(snapshot)
}
