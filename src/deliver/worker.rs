//! One runtime's delivery loop (io: HTTP): one worker per runtime, so a slow or dead runtime delays no other,
//! each with at most one request in flight (so the client opens at least as many
//! connections as there are runtimes); and one writer that records acknowledgements,
//! grouping those that arrive together into one transaction.
//!
//! A worker sends its queue oldest first; the queue holds only the newest state of each
//! assistant, so retries are coalesced to the newest state. After a failure the next
//! attempt takes the following delivery in the queue (round robin), so one delivery a
//! runtime keeps refusing does not hold back its other assistants; the backoff is the
//! runtime's, reset by any 2xx. Any 2xx acknowledges (a 3xx
//! is a failure: redirects are not followed); `429` and `503` wait their `Retry-After`
//! (at least `retry_min`, at most `retry_max`);
//! `410 Gone` parks the runtime until the config is reloaded; anything else is retried
//! with exponential backoff and full jitter, without limit. The body is the recorded
//! bytes, so retries and restarts send byte-identical bodies; only `webhook-timestamp`
//! and the signatures are made per attempt.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use reqwest::StatusCode;
use reqwest::header::{CONTENT_TYPE, HeaderMap, RETRY_AFTER, USER_AGENT};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::hub::{Hub, RuntimeQueue};
use super::ledger::{DeliveryLedger, PendingDelivery};
use crate::webhook;
use crate::wire::RuntimeState;

/// How one attempt ended.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Outcome {
    Acknowledged(StatusCode),
    Gone,
    Failed { reason: String, retry_after: Option<Duration> },
}

/// How often a worker whose lease lapsed looks again.
const LEASE_WAIT: Duration = Duration::from_millis(100);

/// Backoff settings of a worker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    pub retry_min: Duration,
    pub retry_max: Duration,
    pub timeout: Duration,
}

/// Runs one runtime's worker until `stop` is cancelled (a request in flight finishes
/// first). Acknowledged deliveries go to `acks`, whose writer records them.
pub async fn worker(
    hub: Arc<Hub>,
    queue: Arc<RuntimeQueue>,
    client: reqwest::Client,
    backoff: Backoff,
    acks: mpsc::Sender<PendingDelivery>,
    stop: CancellationToken,
) {
    let name = queue.config.name.clone();
    let mut attempt = 0u32;
    let mut failed: Option<(u64, String)> = None;
    loop {
        if stop.is_cancelled() {
            return;
        }
        let Some(next) = queue.next(failed.as_ref()) else {
            if queue.set_status(|s| s.state = RuntimeState::Idle) {
                hub.changed();
            }
            tokio::select! {
                _ = queue.wake.notified() => continue,
                _ = stop.cancelled() => return,
            }
        };
        // With leases, a send only within this daemon's lease, and never outlasting it:
        // once its own clock says the lease may be gone (a pause, a lost database), it
        // waits for a renewal, so that the runtime's next owner and it never both send.
        let timeout = match hub.ownership.may_send_for(&name, std::time::Instant::now()) {
            None => backoff.timeout,
            Some(left) if left.is_zero() => {
                tokio::select! {
                    _ = queue.wake.notified() => {}
                    _ = tokio::time::sleep(LEASE_WAIT) => {}
                    _ = stop.cancelled() => return,
                }
                continue;
            }
            Some(left) => backoff.timeout.min(left),
        };
        queue.set_status(|s| s.state = RuntimeState::Delivering);
        let delivery = &next.delivery;
        let outcome = send(&client, &queue, delivery, timeout).await;
        match outcome {
            Outcome::Acknowledged(status) => {
                queue.done(delivery);
                hub.metrics.delivery(&name, "acknowledged");
                hub.metrics.latency.with_label_values(&[&name]).observe(next.since.elapsed().as_secs_f64());
                tracing::info!(
                    runtime = name.as_str(),
                    assistant = delivery.assistant.as_str(),
                    environment = delivery.environment.as_str(),
                    sequence = delivery.sequence,
                    webhook_id = delivery.webhook_id.as_str(),
                    status = status.as_u16(),
                    "delivered {} of {} to {name}",
                    delivery.event,
                    delivery.assistant
                );
                let version = serde_json::from_slice::<serde_json::Value>(&delivery.body)
                    .ok()
                    .and_then(|body| body["data"]["version"].as_u64())
                    .map(|v| v as u32);
                queue.set_status(|s| {
                    s.last_error = None;
                    if s.acknowledged_sequence.is_none_or(|seen| seen <= delivery.sequence) {
                        s.acknowledged_sequence = Some(delivery.sequence);
                        s.acknowledged_version = version;
                    }
                });
                attempt = 0;
                failed = None;
                hub.changed();
                // Bounded: when the writer lags, the worker waits for it.
                if acks.send(next.delivery).await.is_err() {
                    return;
                }
            }
            Outcome::Gone => {
                hub.metrics.delivery(&name, "gone");
                hub.metrics.park(&name, true);
                tracing::error!(
                    runtime = name.as_str(),
                    "{name} answered 410 Gone: parked, nothing more is sent to it until the config is reloaded"
                );
                queue.set_status(|s| {
                    s.state = RuntimeState::Parked;
                    s.last_error = Some("410 Gone: parked until the config is reloaded".into());
                });
                hub.changed();
                stop.cancelled().await;
                return;
            }
            Outcome::Failed { reason, retry_after } => {
                hub.metrics.delivery(&name, "failed");
                // Retry-After is honoured between retry_min and retry_max.
                let delay = retry_after
                    .map(|d| webhook::retry_after_delay(d, backoff.retry_min, backoff.retry_max))
                    .unwrap_or_else(|| {
                        webhook::retry_delay(attempt, backoff.retry_min, backoff.retry_max, fastrand::f64())
                    });
                attempt = attempt.saturating_add(1);
                failed = Some((delivery.sequence, delivery.assistant.clone()));
                tracing::warn!(
                    runtime = name.as_str(),
                    assistant = delivery.assistant.as_str(),
                    webhook_id = delivery.webhook_id.as_str(),
                    attempt,
                    "delivery to {name} failed ({reason}); retrying in {}",
                    humantime::format_duration(Duration::from_millis(delay.as_millis() as u64))
                );
                queue.set_status(|s| {
                    s.state = RuntimeState::Retrying;
                    s.last_error = Some(reason);
                });
                hub.changed();
                tokio::select! {
                    _ = tokio::time::sleep(delay) => {}
                    _ = stop.cancelled() => return,
                }
            }
        }
    }
}

/// One attempt: POST the recorded body with fresh `webhook-timestamp` and signatures.
async fn send(
    client: &reqwest::Client,
    queue: &RuntimeQueue,
    delivery: &PendingDelivery,
    timeout: Duration,
) -> Outcome {
    let timestamp = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default().as_secs() as i64;
    let secrets: Vec<&str> = queue.secrets.iter().map(|s| s.expose()).collect();
    let Ok(signature) = webhook::signature(&secrets, &delivery.webhook_id, timestamp, &delivery.body) else {
        return Outcome::Failed { reason: "a secret of this runtime cannot sign".into(), retry_after: None };
    };
    let response = client
        .post(&queue.config.url)
        .timeout(timeout)
        .header(CONTENT_TYPE, "application/json")
        .header(USER_AGENT, concat!("stagecraft/", env!("CARGO_PKG_VERSION")))
        .header("webhook-id", &delivery.webhook_id)
        .header("webhook-timestamp", timestamp.to_string())
        .header("webhook-signature", signature)
        .body(delivery.body.clone())
        .send()
        .await;
    match response {
        Err(error) => Outcome::Failed { reason: describe(&error, timeout), retry_after: None },
        Ok(response) => classify(response.status(), response.headers()),
    }
}

fn classify(status: StatusCode, headers: &HeaderMap) -> Outcome {
    if status.is_success() {
        return Outcome::Acknowledged(status);
    }
    if status == StatusCode::GONE {
        return Outcome::Gone;
    }
    let retry_after = if status == StatusCode::TOO_MANY_REQUESTS || status == StatusCode::SERVICE_UNAVAILABLE {
        headers.get(RETRY_AFTER).and_then(|v| v.to_str().ok()).and_then(parse_retry_after)
    } else {
        None
    };
    let reason = if status.is_redirection() {
        format!("HTTP {status}: redirects are not followed, point the runtime's url at the final address")
    } else {
        format!("HTTP {status}")
    };
    Outcome::Failed { reason, retry_after }
}

/// `Retry-After`: seconds, or an HTTP date.
fn parse_retry_after(value: &str) -> Option<Duration> {
    if let Ok(seconds) = value.trim().parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let when = jiff::fmt::rfc2822::parse(value.trim()).ok()?.timestamp();
    let now = jiff::Timestamp::now();
    Some(Duration::try_from(when.duration_since(now)).unwrap_or(Duration::ZERO))
}

fn describe(error: &reqwest::Error, timeout: Duration) -> String {
    if error.is_timeout() {
        return format!("no answer within {}", humantime::format_duration(timeout));
    }
    let mut text = if error.is_connect() { "cannot connect".to_string() } else { "request failed".to_string() };
    let mut source = std::error::Error::source(error);
    let mut last = None;
    while let Some(inner) = source {
        last = Some(inner.to_string());
        source = inner.source();
    }
    if let Some(last) = last {
        text.push_str(": ");
        text.push_str(&last);
    }
    text
}

/// How many acknowledgements may wait for the writer before workers wait for it.
pub const ACK_BACKLOG: usize = 1024;

/// Records acknowledgements: those that arrived while the previous transaction ran go
/// into the next one together. Ends when every worker is gone.
pub async fn ack_writer(ledger: Arc<dyn DeliveryLedger>, mut acks: mpsc::Receiver<PendingDelivery>) {
    while let Some(first) = acks.recv().await {
        let mut batch = vec![first];
        while let Ok(more) = acks.try_recv() {
            batch.push(more);
        }
        // A ledger that cannot write now (its database restarting) gets the batch again,
        // with what arrived meanwhile, until it can: acknowledgements are never dropped.
        let mut delay = Duration::from_millis(100);
        loop {
            let count = batch.len();
            match ledger.acknowledge(batch.clone()).await {
                Ok(()) => {
                    tracing::debug!(count, "recorded acknowledgements");
                    break;
                }
                Err(error) => {
                    tracing::error!(error = %error, count, "cannot record acknowledgements; trying again in {} ms", delay.as_millis());
                    tokio::time::sleep(delay).await;
                    delay = (delay * 2).min(Duration::from_secs(5));
                    while let Ok(more) = acks.try_recv() {
                        batch.push(more);
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_are_classified_as_the_runtime_protocol_says() {
        let none = HeaderMap::new();
        assert_eq!(classify(StatusCode::NO_CONTENT, &none), Outcome::Acknowledged(StatusCode::NO_CONTENT));
        assert_eq!(classify(StatusCode::GONE, &none), Outcome::Gone);
        assert!(matches!(classify(StatusCode::FOUND, &none), Outcome::Failed { retry_after: None, .. }));
        let mut headers = HeaderMap::new();
        headers.insert(RETRY_AFTER, "7".parse().unwrap());
        assert!(matches!(
            classify(StatusCode::TOO_MANY_REQUESTS, &headers),
            Outcome::Failed { retry_after: Some(d), .. } if d == Duration::from_secs(7)
        ));
        assert!(matches!(
            classify(StatusCode::SERVICE_UNAVAILABLE, &headers),
            Outcome::Failed { retry_after: Some(_), .. }
        ));
        assert!(matches!(
            classify(StatusCode::INTERNAL_SERVER_ERROR, &headers),
            Outcome::Failed { retry_after: None, .. }
        ));
    }

    #[test]
    fn retry_after_takes_seconds_or_a_date() {
        assert_eq!(parse_retry_after(" 120 "), Some(Duration::from_secs(120)));
        assert_eq!(parse_retry_after("Sun, 06 Nov 1994 08:49:37 GMT"), Some(Duration::ZERO), "a past date: now");
        assert_eq!(parse_retry_after("soon"), None);
    }
}
