//! Which daemon delivers to which runtime (no I/O): with a shared PostgreSQL ledger each
//! runtime's deliveries belong to one daemon at a time, through a lease in the database
//! (owner, epoch, expiry). This module holds the parts that decide and the record of
//! what this daemon holds; the database's side is [`super::postgres`], the keeper that
//! renews is the daemon's.
//!
//! - [`assign`]: runtimes spread over the live daemons by rendezvous hashing, so each
//!   daemon gets an even share, a daemon that leaves moves only its own runtimes, and
//!   they move back when it returns.
//! - [`Ownership`]: the leases this daemon holds, each with its epoch (every write of
//!   delivery state is checked against it in the database: fencing) and the instant
//!   until which it may send (its last renewal plus nine tenths of the lease, by its own
//!   clock, so that a daemon that was paused stops sending before another can take over).
//!   With the SQLite ledger there is one daemon and it owns every runtime.

use std::collections::BTreeMap;
use std::sync::RwLock;
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};

/// The live daemon that should deliver to `runtime`: the highest hash of (daemon,
/// runtime). `None` when no daemon is live.
pub fn assign<'a>(runtime: &str, nodes: &'a [String]) -> Option<&'a str> {
    nodes
        .iter()
        .max_by_key(|node| {
            let digest = Sha256::new().chain_update(node.as_bytes()).chain_update([0]).chain_update(runtime).finalize();
            (u64::from_be_bytes(digest[..8].try_into().expect("8 bytes")), node.as_str())
        })
        .map(String::as_str)
}

/// How much of a lease a daemon trusts its own clock for: it stops sending at nine
/// tenths of the lease after the renewal began.
pub fn valid_until(renewal_began: Instant, lease: Duration) -> Instant {
    renewal_began + lease.mul_f64(0.9)
}

/// One lease this daemon holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Held {
    pub epoch: i64,
    /// It may send until then.
    pub valid_until: Instant,
}

/// The leases this daemon holds and who holds the others (for display), shared by the
/// keeper (which writes), the workers, the sync loop, the API and the ledger's fencing.
#[derive(Debug)]
pub struct Ownership {
    /// This daemon's name among the others.
    pub node: String,
    /// `false` with the SQLite ledger: this daemon owns every runtime.
    leased: bool,
    held: RwLock<BTreeMap<String, Held>>,
    /// Leases given up and not expired yet: nothing new is sent under them, but what was
    /// in flight is still recorded under them.
    letting_go: RwLock<BTreeMap<String, Held>>,
    owners: RwLock<BTreeMap<String, String>>,
}

impl Ownership {
    /// The one daemon of a SQLite ledger: every runtime is its own, without leases.
    pub fn alone(node: String) -> Ownership {
        Ownership {
            node,
            leased: false,
            held: RwLock::default(),
            letting_go: RwLock::default(),
            owners: RwLock::default(),
        }
    }

    /// A daemon among others: it owns what its leases say.
    pub fn leased(node: String) -> Ownership {
        Ownership {
            node,
            leased: true,
            held: RwLock::default(),
            letting_go: RwLock::default(),
            owners: RwLock::default(),
        }
    }

    pub fn is_leased(&self) -> bool {
        self.leased
    }

    /// Whether this daemon delivers to `runtime` (it may still have to wait for a renewal
    /// before sending: [`Ownership::may_send_for`]).
    pub fn owns(&self, runtime: &str) -> bool {
        !self.leased || self.held.read().expect("leases lock").contains_key(runtime)
    }

    /// How long this daemon may still send to `runtime`: `None` without leases (no
    /// limit); zero when it holds no valid lease.
    pub fn may_send_for(&self, runtime: &str, now: Instant) -> Option<Duration> {
        if !self.leased {
            return None;
        }
        let held = self.held.read().expect("leases lock");
        Some(held.get(runtime).map_or(Duration::ZERO, |held| held.valid_until.saturating_duration_since(now)))
    }

    /// The leases held, with their epochs.
    pub fn held(&self) -> BTreeMap<String, Held> {
        self.held.read().expect("leases lock").clone()
    }

    /// Replaces the leases held; whether the set of runtimes changed. A lease no longer
    /// held is let go of: its deliveries in flight may still be recorded until it expires.
    pub fn set_held(&self, held: BTreeMap<String, Held>) -> bool {
        let mut current = self.held.write().expect("leases lock");
        let changed = current.len() != held.len()
            || current.iter().zip(&held).any(|((a, x), (b, y))| a != b || x.epoch != y.epoch);
        let mut letting_go = self.letting_go.write().expect("leases lock");
        let now = Instant::now();
        letting_go.retain(|runtime, old| old.valid_until > now && !held.contains_key(runtime));
        for (runtime, old) in current.iter() {
            if !held.contains_key(runtime) && old.valid_until > now {
                letting_go.insert(runtime.clone(), *old);
            }
        }
        *current = held;
        changed
    }

    /// The epochs this daemon may still record delivery state under: the leases it holds
    /// and those it let go of that have not expired by its clock.
    pub fn recordable(&self) -> BTreeMap<String, i64> {
        let now = Instant::now();
        let letting_go = self.letting_go.read().expect("leases lock");
        let held = self.held.read().expect("leases lock");
        letting_go
            .iter()
            .filter(|(_, h)| h.valid_until > now)
            .chain(held.iter())
            .map(|(runtime, h)| (runtime.clone(), h.epoch))
            .collect()
    }

    /// Who delivers to `runtime`: this daemon's name when it owns it, else the holder
    /// the keeper saw last (`None`: nobody holds it now).
    pub fn owner(&self, runtime: &str) -> Option<String> {
        if self.owns(runtime) {
            return Some(self.node.clone());
        }
        self.owners.read().expect("owners lock").get(runtime).cloned()
    }

    /// The holders of every runtime's lease, as the keeper read them; whether they changed.
    pub fn set_owners(&self, owners: BTreeMap<String, String>) -> bool {
        let mut current = self.owners.write().expect("owners lock");
        let changed = *current != owners;
        *current = owners;
        changed
    }
}

/// This daemon's default name: the host's name and the process id.
pub fn default_node(host: Option<&str>) -> String {
    let host = host.map(str::trim).filter(|h| !h.is_empty()).unwrap_or("stagecraft");
    format!("{host}-{}", std::process::id())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nodes(names: &[&str]) -> Vec<String> {
        names.iter().map(|n| n.to_string()).collect()
    }

    #[test]
    fn runtimes_spread_evenly_and_only_a_leaving_daemons_share_moves() {
        let three = nodes(&["a", "b", "c"]);
        let runtimes: Vec<String> = (0..3000).map(|n| format!("rt-{n}")).collect();
        let before: Vec<&str> = runtimes.iter().map(|r| assign(r, &three).unwrap()).collect();
        for node in ["a", "b", "c"] {
            let share = before.iter().filter(|n| **n == node).count();
            assert!((850..=1150).contains(&share), "{node} gets {share} of 3000");
        }
        // c leaves: only c's runtimes move; it returns: each goes back where it was.
        let two = nodes(&["a", "b"]);
        for (runtime, owner) in runtimes.iter().zip(&before) {
            let now = assign(runtime, &two).unwrap();
            if *owner != "c" {
                assert_eq!(now, *owner, "{runtime} moved though its daemon stayed");
            }
        }
        let again: Vec<&str> = runtimes.iter().map(|r| assign(r, &three).unwrap()).collect();
        assert_eq!(again, before);
        assert_eq!(assign("rt", &[]), None);
    }

    #[test]
    fn alone_owns_everything_and_a_lease_bounds_sending() {
        let alone = Ownership::alone("one".into());
        assert!(alone.owns("any") && alone.may_send_for("any", Instant::now()).is_none());
        let leased = Ownership::leased("n1".into());
        let now = Instant::now();
        assert!(!leased.owns("eu"));
        assert_eq!(leased.may_send_for("eu", now), Some(Duration::ZERO));
        let held = Held { epoch: 3, valid_until: valid_until(now, Duration::from_secs(10)) };
        assert!(leased.set_held([("eu".to_string(), held)].into()));
        assert!(!leased.set_held([("eu".to_string(), held)].into()), "the same set: no change");
        assert_eq!(leased.may_send_for("eu", now), Some(Duration::from_secs(9)));
        assert_eq!(leased.may_send_for("eu", now + Duration::from_secs(30)), Some(Duration::ZERO), "paused past it");
        leased.set_owners([("us".to_string(), "n2".to_string())].into());
        assert_eq!((leased.owner("eu").as_deref(), leased.owner("us").as_deref()), (Some("n1"), Some("n2")));
        // Let go of: no longer owned, still recordable until it expires.
        assert!(leased.set_held(BTreeMap::new()));
        assert!(!leased.owns("eu"));
        assert_eq!(leased.recordable(), [("eu".to_string(), 3)].into());
    }
}
