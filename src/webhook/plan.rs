//! What each runtime should hold, pure: from an environment's config, the
//! state of every assistant a runtime is bound to; compared with what the runtime was
//! last sent, the deliveries to make: only assistants whose delivered config changed,
//! and `assistant.config.deleted` for one that left the environment or the runtime's
//! filter.
//!
//! A state's hash covers what the runtime holds (`config` and `channels`), not where it
//! came from (`commit`, `version`, `sequence`), so a promotion that changes one assistant
//! sends one delivery, not one per assistant.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::model::{Assistant, AssistantId, Config, EnvName};
use crate::webhook::{self, DELETED, Origin, UPDATED};

/// The hash recorded for an assistant a runtime was told is deleted.
pub const DELETED_HASH: &str = "deleted";

/// One assistant as an environment delivers it.
#[derive(Debug, Clone, PartialEq)]
pub struct AssistantState {
    /// Shared: the same assistant in several environments and trees is one value.
    pub config: Arc<Value>,
    pub channels: Value,
    /// SHA-256 of the canonical `{"channels", "config"}`.
    pub hash: String,
}

/// Every assistant of an environment's config. `file` reads a file of an assistant
/// (path relative to its `files/`).
pub fn environment_states(
    env: &EnvName,
    config: &Config,
    file: &dyn Fn(&AssistantId, &str) -> Option<Vec<u8>>,
) -> BTreeMap<String, AssistantState> {
    environment_states_cached(env, config, file, &mut StateCache::default())
}

/// [`environment_states`], reusing what `cache` holds: an assistant (the same loaded
/// value, as [`crate::parse::load_cached`] shares between trees) is turned into its
/// delivered config and hashed once, not once per tree.
pub fn environment_states_cached(
    env: &EnvName,
    config: &Config,
    file: &dyn Fn(&AssistantId, &str) -> Option<Vec<u8>>,
    cache: &mut StateCache,
) -> BTreeMap<String, AssistantState> {
    cache.calls += 1;
    let states = config
        .assistants
        .iter()
        .map(|(id, assistant)| {
            let channels = webhook::channels(config.channels.binding(env, id));
            let entry = cache.entries.entry(Arc::as_ptr(assistant) as usize).or_insert_with(|| CachedAssistant {
                _assistant: assistant.clone(),
                config: Arc::new(webhook::assistant_config(assistant, &|path| file(id, path))),
                hashes: Vec::new(),
                used: 0,
            });
            entry.used = cache.calls;
            let hash = match entry.hashes.iter().find(|(c, _)| *c == channels) {
                Some((_, hash)) => hash.clone(),
                None => {
                    let hash = state_hash(&entry.config, &channels);
                    entry.hashes.push((channels.clone(), hash.clone()));
                    hash
                }
            };
            (id.as_str().to_string(), AssistantState { config: entry.config.clone(), channels, hash })
        })
        .collect();
    cache.trim(config.assistants.len());
    states
}

/// Delivered configs and state hashes of assistants seen before (see
/// [`environment_states_cached`]).
#[derive(Debug, Default)]
pub struct StateCache {
    entries: HashMap<usize, CachedAssistant>,
    calls: u64,
}

#[derive(Debug)]
struct CachedAssistant {
    /// Never read: held so that the assistant's address, the key, is not reused.
    _assistant: Arc<Assistant>,
    config: Arc<Value>,
    /// The state's hash for each `channels` value it was delivered with.
    hashes: Vec<(Value, String)>,
    used: u64,
}

impl StateCache {
    /// Entries unused for this many calls go when the cache grows past its bound.
    const KEEP_CALLS: u64 = 32;

    fn trim(&mut self, assistants: usize) {
        if self.entries.len() > 4 * assistants.max(16) {
            let since = self.calls.saturating_sub(Self::KEEP_CALLS);
            self.entries.retain(|_, entry| entry.used > since);
        }
    }
}

fn state_hash(config: &Value, channels: &Value) -> String {
    /// `{"channels", "config"}` with its keys in order, borrowed.
    #[derive(serde::Serialize)]
    struct State<'a> {
        channels: &'a Value,
        config: &'a Value,
    }
    let canonical = serde_json::to_vec(&State { channels, config }).expect("JSON serializes");
    hex::encode(Sha256::digest(&canonical))
}

/// Whether a runtime's `assistants` filter (`*` or ids) takes an assistant.
pub fn takes(filter: &[String], assistant: &str) -> bool {
    filter.iter().any(|f| f == "*" || f == assistant)
}

/// A delivery to make, before the tip's sequence is known.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Planned {
    pub assistant: String,
    /// [`UPDATED`] or [`DELETED`].
    pub event: &'static str,
    pub hash: String,
}

/// The deliveries that bring a runtime from `known` (assistant → hash last sent, whether
/// acknowledged yet or not) to `states` filtered by `filter`, by assistant id.
pub fn plan(
    filter: &[String],
    states: &BTreeMap<String, AssistantState>,
    known: &BTreeMap<String, String>,
) -> Vec<Planned> {
    let mut planned: Vec<Planned> = states
        .iter()
        .filter(|(id, state)| takes(filter, id) && known.get(*id) != Some(&state.hash))
        .map(|(id, state)| Planned { assistant: id.clone(), event: UPDATED, hash: state.hash.clone() })
        .collect();
    planned.extend(
        known
            .iter()
            .filter(|(id, hash)| {
                hash.as_str() != DELETED_HASH && !(takes(filter, id) && states.contains_key(id.as_str()))
            })
            .map(|(id, _)| Planned { assistant: id.clone(), event: DELETED, hash: DELETED_HASH.to_string() }),
    );
    planned.sort_by(|a, b| a.assistant.cmp(&b.assistant));
    planned
}

/// An environment tip as deliveries describe it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tip {
    pub environment: String,
    pub commit: String,
    /// `None` on the draft.
    pub version: Option<u32>,
    /// The tip's commit time, RFC 3339 in UTC.
    pub timestamp: String,
}

/// A delivery with its exact bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Built {
    pub assistant: String,
    pub webhook_id: String,
    pub event: &'static str,
    pub body: Vec<u8>,
    pub hash: String,
}

/// The bodies of a runtime's planned deliveries once the tip's sequence is assigned.
pub fn build(
    runtime: &str,
    tip: &Tip,
    sequence: u64,
    planned: &[Planned],
    states: &BTreeMap<String, AssistantState>,
) -> Vec<Built> {
    build_shared(runtime, tip, sequence, planned, states, &mut Bodies::default())
}

/// The bodies made for one tip and sequence, by assistant and event: the same for every
/// runtime (only the `webhook-id` header differs), so a fan-out to many runtimes
/// serializes each assistant once.
#[derive(Debug, Default)]
pub struct Bodies(HashMap<(String, &'static str), Vec<u8>>);

/// [`build`], taking bodies made for other runtimes of the same tip and sequence from
/// `bodies`.
pub fn build_shared(
    runtime: &str,
    tip: &Tip,
    sequence: u64,
    planned: &[Planned],
    states: &BTreeMap<String, AssistantState>,
    bodies: &mut Bodies,
) -> Vec<Built> {
    let origin = Origin { environment: &tip.environment, commit: &tip.commit, version: tip.version, sequence };
    planned
        .iter()
        .map(|p| {
            let body = bodies
                .0
                .entry((p.assistant.clone(), p.event))
                .or_insert_with(|| {
                    let state = states.get(&p.assistant).filter(|_| p.event == UPDATED);
                    let data =
                        webhook::data(&origin, &p.assistant, state.map(|s| &*s.config), state.map(|s| &s.channels));
                    webhook::body(p.event, &tip.timestamp, &data)
                })
                .clone();
            Built {
                assistant: p.assistant.clone(),
                webhook_id: webhook::webhook_id(runtime, &p.assistant, &tip.commit, sequence),
                event: p.event,
                body,
                hash: p.hash.clone(),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn state(hash: &str) -> AssistantState {
        AssistantState { config: Arc::new(json!({"name": hash})), channels: webhook::channels(None), hash: hash.into() }
    }

    fn map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(a, h)| (a.to_string(), h.to_string())).collect()
    }

    #[test]
    fn only_changed_assistants_are_planned_and_removed_ones_are_deleted() {
        let states: BTreeMap<String, AssistantState> =
            [("a".to_string(), state("h1")), ("b".to_string(), state("h2"))].into();
        let all = vec!["*".to_string()];
        let planned = plan(&all, &states, &map(&[("a", "h1"), ("b", "old"), ("gone", "h3")]));
        let got: Vec<(&str, &str)> = planned.iter().map(|p| (p.assistant.as_str(), p.event)).collect();
        assert_eq!(got, [("b", UPDATED), ("gone", DELETED)]);
        // Once told, a deleted assistant is not deleted again.
        assert_eq!(plan(&all, &states, &map(&[("a", "h1"), ("b", "h2"), ("gone", DELETED_HASH)])), []);
        // A filter takes only its ids; an assistant leaving the filter is deleted too.
        let only_b = vec!["b".to_string()];
        let planned = plan(&only_b, &states, &map(&[("a", "h1")]));
        let got: Vec<(&str, &str)> = planned.iter().map(|p| (p.assistant.as_str(), p.event)).collect();
        assert_eq!(got, [("a", DELETED), ("b", UPDATED)]);
    }

    #[test]
    fn built_bodies_carry_the_tip_and_the_sequence() {
        let states: BTreeMap<String, AssistantState> = [("a".to_string(), state("h1"))].into();
        let tip = Tip {
            environment: "live".into(),
            commit: "c0ffee".into(),
            version: Some(4),
            timestamp: "2026-11-21T10:00:00Z".into(),
        };
        let planned = plan(&["*".to_string()], &states, &map(&[("gone", "h0")]));
        let built = build("eu", &tip, 7, &planned, &states);
        assert_eq!(built[0].webhook_id, webhook::webhook_id("eu", "a", "c0ffee", 7));
        let body: Value = serde_json::from_slice(&built[0].body).unwrap();
        assert_eq!(body["type"], UPDATED);
        assert_eq!(body["timestamp"], "2026-11-21T10:00:00Z");
        assert_eq!(body["data"]["sequence"], 7);
        assert_eq!(body["data"]["version"], 4);
        assert_eq!(body["data"]["config"]["name"], "h1");
        let deleted: Value = serde_json::from_slice(&built[1].body).unwrap();
        assert_eq!(deleted["type"], DELETED);
        assert_eq!(deleted["data"]["config"], Value::Null);
        assert_eq!(built[1].hash, DELETED_HASH);
    }
}
