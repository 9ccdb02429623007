//! The lease keeper (io: the PostgreSQL ledger), for daemons that share one: every tenth
//! of the lease it marks this daemon live, reads which daemons are live, works out this
//! daemon's share of the runtimes ([`crate::deliver::lease::assign`]), renews the leases
//! of that share, takes those that are free or expired, and lets go of the others by
//! not renewing them (they expire, then their new owner takes them). When the runtimes
//! it holds change, it tells the daemon, which starts and stops workers and re-plans.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use crate::deliver::hub::Hub;
use crate::deliver::lease::{Held, assign, valid_until};
use crate::deliver::postgres::PgLedger;
use crate::error::Error;
use crate::loaded::SharedConfig;

/// How often the keeper runs: a tenth of the lease, at least every 50 ms and at most
/// every second.
pub fn tick(lease: Duration) -> Duration {
    (lease / 10).clamp(Duration::from_millis(50), Duration::from_secs(1))
}

/// Gives up every lease this daemon holds (at a clean stop, once its workers are done),
/// so that the others take its runtimes at once instead of after the lease.
pub async fn release_all(ledger: &PgLedger, hub: &Hub) {
    let ownership = &hub.ownership;
    for (runtime, held) in ownership.held() {
        if let Err(error) = ledger.release(&runtime, &ownership.node, held.epoch).await {
            tracing::warn!(runtime = runtime.as_str(), error = %error, "cannot release the lease; it expires by itself");
        }
    }
    ownership.set_held(BTreeMap::new());
}

/// Keeps this daemon's leases until `stop`; `changed` is notified when the runtimes it
/// holds change.
pub async fn keep(
    ledger: PgLedger,
    hub: Arc<Hub>,
    config: Arc<SharedConfig>,
    lease: Duration,
    changed: Arc<Notify>,
    stop: CancellationToken,
) {
    let mut interval = tokio::time::interval(tick(lease));
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut failing = false;
    loop {
        tokio::select! {
            _ = interval.tick() => {}
            _ = stop.cancelled() => return,
        }
        match round(&ledger, &hub, &config, lease).await {
            Ok(moved) => {
                if failing {
                    tracing::info!("the state database answers again; leases renewed");
                    failing = false;
                }
                if moved {
                    changed.notify_one();
                }
            }
            Err(error) => {
                if !failing {
                    tracing::error!(error = %error, "cannot renew leases; deliveries pause when they lapse, and resume when the database answers");
                    failing = true;
                }
                // What lapsed by this daemon's clock is no longer held.
                let now = Instant::now();
                let ownership = &hub.ownership;
                let kept: BTreeMap<String, Held> =
                    ownership.held().into_iter().filter(|(_, held)| held.valid_until > now).collect();
                if ownership.set_held(kept) {
                    changed.notify_one();
                }
            }
        }
    }
}

/// One round; whether the runtimes held changed.
async fn round(ledger: &PgLedger, hub: &Hub, config: &SharedConfig, lease: Duration) -> Result<bool, Error> {
    let ownership = &hub.ownership;
    let me = ownership.node.as_str();
    let began = Instant::now();
    ledger.heartbeat(me).await?;
    let nodes = ledger.live_nodes(lease).await?;
    let runtimes: Vec<String> = config.get().config.runtimes.iter().map(|r| r.name.clone()).collect();
    let share: BTreeSet<&str> = runtimes.iter().map(String::as_str).filter(|r| assign(r, &nodes) == Some(me)).collect();
    let held = ownership.held();
    let keep: Vec<(String, i64)> =
        held.iter().filter(|(r, _)| share.contains(r.as_str())).map(|(r, h)| (r.clone(), h.epoch)).collect();
    let renewed = ledger.renew(me, &keep, lease).await?;
    let until = valid_until(began, lease);
    let mut now_held: BTreeMap<String, Held> = keep
        .into_iter()
        .filter(|(r, _)| renewed.contains(r))
        .map(|(r, epoch)| (r, Held { epoch, valid_until: until }))
        .collect();
    let free: Vec<&str> = share.iter().copied().filter(|r| !now_held.contains_key(*r)).collect();
    let mut taken = Vec::new();
    for runtime in free {
        if let Some(epoch) = ledger.acquire(runtime, me, lease).await? {
            taken.push((runtime, epoch));
            now_held.insert(runtime.to_string(), Held { epoch, valid_until: until });
        }
    }
    let let_go: Vec<String> = held.keys().filter(|r| !now_held.contains_key(*r)).cloned().collect();
    let moved = ownership.set_held(now_held);
    let owners: Vec<(String, String)> =
        ledger.leases().await?.into_iter().filter(|l| l.live).map(|l| (l.runtime, l.owner)).collect();
    hub.metrics.owners(&owners);
    if ownership.set_owners(owners.into_iter().collect()) || moved {
        hub.changed();
    }
    // Said once this daemon's view (what it holds, who holds the rest) is updated, so
    // that whoever reads these lines and then asks the daemon sees the same.
    for (runtime, epoch) in taken {
        tracing::info!(runtime, epoch, "took the lease of {runtime}");
    }
    for runtime in let_go {
        tracing::info!(runtime = runtime.as_str(), "no longer delivers to {runtime}");
    }
    Ok(moved)
}
