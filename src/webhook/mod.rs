//! Deliveries to runtimes as Standard Webhooks: the `data` object of one assistant in
//! one environment, the body, the `webhook-id`, the signatures, the `ETag` of the pull
//! API, and the retry schedule; [`plan`] decides which deliveries each runtime needs.
//! Pure: the clock and randomness come in as arguments, and file contents through a
//! closure.

pub mod plan;

use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use hmac::{Hmac, KeyInit, Mac};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::diff::text::is_text;
use crate::model::toml_to_json;
use crate::model::{Assistant, Binding, KnowledgeSource};

/// The event types of a delivery.
pub const UPDATED: &str = "assistant.config.updated";
pub const DELETED: &str = "assistant.config.deleted";

/// Where a delivered state comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin<'a> {
    pub environment: &'a str,
    /// The environment's tip (after a rollback, the rollback commit).
    pub commit: &'a str,
    /// The tip's current version; `None` on the draft.
    pub version: Option<u32>,
    /// The per-environment counter assigned when the daemon recorded this tip.
    pub sequence: u64,
}

/// The `channels` object of an assistant's binding in an environment (empty without one).
pub fn channels(binding: Option<&Binding>) -> Value {
    match binding {
        Some(binding) => json!({"phone_numbers": binding.phone_numbers, "sip_headers": binding.sip_headers}),
        None => json!({"phone_numbers": [], "sip_headers": {}}),
    }
}

/// The `data` object of one assistant, serialized canonically (compact, keys in order):
/// `config: null` and empty channels when it was removed. Written straight from borrowed
/// values, so a large config is never copied.
pub fn data(origin: &Origin<'_>, assistant_id: &str, config: Option<&Value>, channels: Option<&Value>) -> Vec<u8> {
    /// The fields in the order a JSON object's keys sort, as `serde_json` writes a `Value`.
    #[derive(serde::Serialize)]
    struct Data<'a> {
        assistant: &'a str,
        channels: &'a Value,
        commit: &'a str,
        config: Option<&'a Value>,
        environment: &'a str,
        sequence: u64,
        version: Option<u32>,
    }
    let empty;
    let channels = match channels {
        Some(channels) => channels,
        None => {
            empty = self::channels(None);
            &empty
        }
    };
    let data = Data {
        assistant: assistant_id,
        channels,
        commit: origin.commit,
        config,
        environment: origin.environment,
        sequence: origin.sequence,
        version: origin.version,
    };
    serde_json::to_vec(&data).expect("JSON values serialize")
}

/// The `config` object of an assistant. `file` reads a file under the assistant's
/// `files/` (path relative to it): text is delivered inline, other bytes as base64.
pub fn assistant_config(assistant: &Assistant, file: &dyn Fn(&str) -> Option<Vec<u8>>) -> Value {
    let meta = &assistant.meta;
    let knowledge: Vec<Value> = assistant
        .knowledge
        .iter()
        .map(|(id, source)| {
            let mut item = json!({"id": id.as_str(), "title": source.title, "description": source.description});
            match &source.source {
                KnowledgeSource::Url { uri } => {
                    item["kind"] = json!("url");
                    item["uri"] = json!(uri);
                }
                KnowledgeSource::Text { text } => {
                    item["kind"] = json!("text");
                    item["text"] = json!(text);
                }
                KnowledgeSource::File { uri } => {
                    item["kind"] = json!("file");
                    item["uri"] = json!(uri);
                    item["content"] = match file(uri) {
                        Some(bytes) if is_text(&bytes) => {
                            json!({"encoding": "utf-8", "data": String::from_utf8_lossy(&bytes)})
                        }
                        Some(bytes) => json!({"encoding": "base64", "data": BASE64.encode(bytes)}),
                        None => Value::Null,
                    };
                }
            }
            item
        })
        .collect();
    let tools: Vec<Value> = assistant
        .tools
        .iter()
        .map(|(name, tool)| {
            json!({
                "name": name.as_str(),
                "description": tool.description,
                "parameters": tool.parameters.as_ref().map(|p| toml_to_json(&toml::Value::Table(p.clone()))),
                "http": tool.http.as_ref().map(|http| json!({"method": http.method, "url": http.url, "headers": http.headers, "timeout_ms": http.timeout_ms})),
            })
        })
        .collect();
    let guardrails: Vec<Value> = assistant
        .guardrails
        .iter()
        .map(|(id, guardrail)| {
            let mut item = serde_json::to_value(&guardrail.rule).expect("guardrails serialize");
            item["id"] = json!(id.as_str());
            item["description"] = json!(guardrail.description);
            item
        })
        .collect();
    json!({
        "name": meta.name,
        "description": meta.description,
        "model": {
            "provider": meta.model.provider,
            "name": meta.model.name,
            "temperature": meta.model.temperature,
            "max_output_tokens": meta.model.max_output_tokens,
        },
        "settings": toml_to_json(&toml::Value::Table(meta.settings.clone())),
        "instructions": assistant.instructions,
        "knowledge": knowledge,
        "tools": tools,
        "guardrails": guardrails,
    })
}

/// The delivery body: compact JSON with sorted keys, so the same state gives the same
/// bytes (retries send byte-identical bodies).
pub fn body(event: &str, timestamp: &str, data: &[u8]) -> Vec<u8> {
    let mut body = Vec::with_capacity(data.len() + 96);
    body.extend_from_slice(b"{\"data\":");
    body.extend_from_slice(data);
    body.extend_from_slice(b",\"timestamp\":");
    serde_json::to_writer(&mut body, timestamp).expect("a string serializes");
    body.extend_from_slice(b",\"type\":");
    serde_json::to_writer(&mut body, event).expect("a string serializes");
    body.push(b'}');
    body
}

/// `msg_` + hex SHA-256 of (runtime, assistant, commit, sequence): stable across retries
/// and restarts, new when a branch returns to an earlier commit.
pub fn webhook_id(runtime: &str, assistant: &str, commit: &str, sequence: u64) -> String {
    let mut hasher = Sha256::new();
    for part in [runtime, assistant, commit, &sequence.to_string()] {
        hasher.update(part.as_bytes());
        hasher.update([0]);
    }
    format!("msg_{}", hex::encode(hasher.finalize()))
}

/// A strong `ETag` of a `data` object: the hex SHA-256 of its canonical JSON, quoted.
pub fn etag(data: &[u8]) -> String {
    format!("\"{}\"", hex::encode(Sha256::digest(data)))
}

/// Why a secret cannot sign.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("a Standard Webhooks secret must be whsec_ followed by base64")]
pub struct BadSecret;

/// The `webhook-signature` header: one `v1,<base64 HMAC-SHA256 of "id.timestamp.body">`
/// per secret, space-separated (several during a rotation).
pub fn signature(secrets: &[&str], id: &str, timestamp: i64, body: &[u8]) -> Result<String, BadSecret> {
    let mut signatures = Vec::new();
    for secret in secrets {
        let key = BASE64.decode(secret.strip_prefix("whsec_").ok_or(BadSecret)?).map_err(|_| BadSecret)?;
        let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(&key).map_err(|_| BadSecret)?;
        mac.update(format!("{id}.{timestamp}.").as_bytes());
        mac.update(body);
        signatures.push(format!("v1,{}", BASE64.encode(mac.finalize().into_bytes())));
    }
    Ok(signatures.join(" "))
}

/// The wait before retry number `attempt` (0 for the first retry): exponential backoff
/// with full jitter between `retry_min` and the ceiling `min(retry_max, retry_min ×
/// 2^attempt)`, `random` in [0, 1) placing it. The floor is `retry_min` rather than zero
/// so that `retry_min` means what its name says: no retry comes sooner.
pub fn retry_delay(attempt: u32, retry_min: Duration, retry_max: Duration, random: f64) -> Duration {
    let retry_min = retry_min.min(retry_max);
    let ceiling = retry_min.checked_mul(2u32.saturating_pow(attempt.min(31))).unwrap_or(retry_max).min(retry_max);
    retry_min + (ceiling - retry_min).mul_f64(random.clamp(0.0, 1.0))
}

/// The wait a runtime's `Retry-After` asks for, kept between `retry_min` (a `0` would
/// spin) and `retry_max` (a runtime cannot stall its own worker for days).
pub fn retry_after_delay(retry_after: Duration, retry_min: Duration, retry_max: Duration) -> Duration {
    retry_after.max(retry_min.min(retry_max)).min(retry_max)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_stays_between_retry_min_and_retry_max() {
        let (min, max) = (Duration::from_secs(1), Duration::from_secs(300));
        assert_eq!(retry_after_delay(Duration::ZERO, min, max), min);
        assert_eq!(retry_after_delay(Duration::from_secs(7), min, max), Duration::from_secs(7));
        assert_eq!(retry_after_delay(Duration::from_secs(86_400 * 3), min, max), max, "three days is capped");
    }

    /// The known answer of the Standard Webhooks specification (checked with Python's
    /// `hmac` module, an implementation other than the one signing here).
    #[test]
    fn signature_matches_the_standard_webhooks_known_answer() {
        let signed = signature(
            &["whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"],
            "msg_p5jXN8AQM9LWM0D4loKWxJek",
            1614265330,
            br#"{"test": 2432232314}"#,
        );
        assert_eq!(signed.unwrap(), "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
    }

    #[test]
    fn a_rotation_signs_with_every_secret() {
        let secrets = ["whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "whsec_c2Vjb25kIHNlY3JldCBvZiB0aGUgcm90YXRpb24="];
        let signed = signature(&secrets, "msg_1", 1, b"{}").unwrap();
        let parts: Vec<&str> = signed.split(' ').collect();
        assert_eq!(parts.len(), 2);
        assert!(parts.iter().all(|p| p.starts_with("v1,")));
        assert_ne!(parts[0], parts[1]);
        assert_eq!(signature(&["nope"], "msg_1", 1, b"{}"), Err(BadSecret));
    }

    #[test]
    fn webhook_ids_are_stable_and_change_with_the_sequence() {
        let id = webhook_id("live-eu", "support-bot", "abc", 7);
        assert_eq!(id, webhook_id("live-eu", "support-bot", "abc", 7));
        assert_ne!(id, webhook_id("live-eu", "support-bot", "abc", 8));
        assert!(id.starts_with("msg_") && id.len() == 4 + 64);
    }

    #[test]
    fn retry_delays_grow_and_never_pass_the_cap() {
        let (min, max) = (Duration::from_millis(100), Duration::from_secs(5));
        for attempt in 0..64 {
            for step in 0..=10 {
                let delay = retry_delay(attempt, min, max, f64::from(step) / 10.0);
                assert!(delay <= max && delay >= min, "{attempt} {step}: {delay:?}");
            }
        }
        assert_eq!(retry_delay(0, min, max, 1.0), min);
        assert_eq!(retry_delay(3, min, max, 1.0), Duration::from_millis(800));
        assert_eq!(retry_delay(40, min, max, 1.0), max);
        assert_eq!(retry_delay(5, min, max, 0.0), min);
        assert_eq!(retry_delay(3, min, max, 0.5), Duration::from_millis(450), "jitter spreads over [min, ceiling]");
    }

    #[test]
    fn bodies_are_canonical_and_etags_follow_the_data() {
        let origin = Origin { environment: "live", commit: "abc", version: Some(3), sequence: 9 };
        let config = json!({"b": 1, "a": 2});
        let a = data(&origin, "bot", Some(&config), None);
        let value: Value = serde_json::from_slice(&a).unwrap();
        assert_eq!(value["channels"], channels(None));
        assert_eq!(a, serde_json::to_vec(&value).unwrap(), "the bytes of the same object as a Value");
        let bytes = body(UPDATED, "2026-11-21T10:00:00Z", &a);
        assert_eq!(
            String::from_utf8(bytes).unwrap(),
            r#"{"data":{"assistant":"bot","channels":{"phone_numbers":[],"sip_headers":{}},"commit":"abc","config":{"a":2,"b":1},"environment":"live","sequence":9,"version":3},"timestamp":"2026-11-21T10:00:00Z","type":"assistant.config.updated"}"#
        );
        assert_eq!(etag(&a), etag(&a.clone()));
        assert_ne!(etag(&a), etag(&data(&origin, "bot", None, None)));
    }
}
