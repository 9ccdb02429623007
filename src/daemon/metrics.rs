//! The daemon's Prometheus metrics (`/metrics`, text format), through `prometheus-client`:
//! deliveries by runtime and result, the retry queue depth, the delivery latency (from
//! the state being recorded to its acknowledgement), whether each runtime is parked, and
//! per environment the last successful sync and its validation, drift and hold state.

use std::sync::atomic::AtomicU64;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::{Registry, Unit};

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RuntimeLabels {
    pub runtime: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ResultLabels {
    pub runtime: String,
    /// `acknowledged`, `failed` (retried), `gone` (410, parked).
    pub result: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct EnvLabels {
    pub environment: String,
}

type Timestamp = Gauge<f64, AtomicU64>;

/// Every metric, registered once.
pub struct Metrics {
    registry: Registry,
    pub deliveries: Family<ResultLabels, Counter>,
    pub queue_depth: Family<RuntimeLabels, Gauge>,
    pub latency: Family<RuntimeLabels, Histogram>,
    pub parked: Family<RuntimeLabels, Gauge>,
    pub last_sync: Family<EnvLabels, Timestamp>,
    pub valid: Family<EnvLabels, Gauge>,
    pub drift: Family<EnvLabels, Gauge>,
    pub held: Family<EnvLabels, Gauge>,
    pub reconciled: Counter,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

impl Metrics {
    pub fn new() -> Metrics {
        let mut registry = Registry::with_prefix("stagecraft");
        let deliveries = Family::<ResultLabels, Counter>::default();
        registry.register("deliveries", "Delivery attempts by runtime and result", deliveries.clone());
        let queue_depth = Family::<RuntimeLabels, Gauge>::default();
        registry.register(
            "delivery_queue_depth",
            "Deliveries recorded and not acknowledged yet (the retry queue), by runtime",
            queue_depth.clone(),
        );
        let latency = Family::<RuntimeLabels, Histogram>::new_with_constructor(|| {
            Histogram::new(exponential_buckets(0.0005, 2.0, 16))
        });
        registry.register_with_unit(
            "delivery_latency",
            "Time from recording a state to its acknowledgement by the runtime",
            Unit::Seconds,
            latency.clone(),
        );
        let parked = Family::<RuntimeLabels, Gauge>::default();
        registry.register("runtime_parked", "1 when a runtime answered 410 Gone and is parked", parked.clone());
        let last_sync = Family::<EnvLabels, Timestamp>::default();
        registry.register_with_unit(
            "last_successful_sync_timestamp",
            "When an environment's tip last passed the gate and its deliveries were recorded (Unix time)",
            Unit::Seconds,
            last_sync.clone(),
        );
        let valid = Family::<EnvLabels, Gauge>::default();
        registry.register("environment_valid", "1 when the environment's tip validates", valid.clone());
        let drift = Family::<EnvLabels, Gauge>::default();
        registry.register("environment_drift", "1 when the environment's tip holds no version", drift.clone());
        let held = Family::<EnvLabels, Gauge>::default();
        registry.register("environment_held", "1 when the environment's current version is on hold", held.clone());
        let reconciled = Counter::default();
        registry.register("reconciled_versions", "Version tags written by reconciliation", reconciled.clone());
        Metrics { registry, deliveries, queue_depth, latency, parked, last_sync, valid, drift, held, reconciled }
    }

    /// The text exposition format.
    pub fn encode(&self) -> String {
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &self.registry).expect("writing to a String");
        text
    }

    pub fn delivery(&self, runtime: &str, result: &str) {
        self.deliveries.get_or_create(&ResultLabels { runtime: runtime.into(), result: result.into() }).inc();
    }

    pub fn runtime(runtime: &str) -> RuntimeLabels {
        RuntimeLabels { runtime: runtime.into() }
    }

    pub fn env(environment: &str) -> EnvLabels {
        EnvLabels { environment: environment.into() }
    }
}
