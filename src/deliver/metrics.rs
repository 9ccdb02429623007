//! The daemon's Prometheus metrics (`/metrics`, the text format 0.0.4 that `promtool
//! check metrics` reads), through the `prometheus` crate (in memory, no I/O): deliveries by runtime and
//! result, the retry queue depth, the delivery latency (from the state being recorded to
//! its acknowledgement), whether each runtime is parked, and per environment the last
//! successful sync and its validation, drift and hold state, and which daemon delivers to
//! each runtime.

use prometheus::{
    Encoder, GaugeVec, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGaugeVec, Opts, Registry,
    TextEncoder, exponential_buckets,
};

/// Every metric, registered once.
pub struct Metrics {
    registry: Registry,
    pub deliveries: IntCounterVec,
    pub queue_depth: IntGaugeVec,
    pub latency: HistogramVec,
    pub parked: IntGaugeVec,
    pub last_sync: GaugeVec,
    pub valid: IntGaugeVec,
    pub drift: IntGaugeVec,
    pub held: IntGaugeVec,
    pub reconciled: IntCounter,
    pub long_polls: prometheus::IntGauge,
    pub owner: IntGaugeVec,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

fn opts(name: &str, help: &str) -> Opts {
    Opts::new(name, help).namespace("stagecraft")
}

impl Metrics {
    pub fn new() -> Metrics {
        let registry = Registry::new();
        let deliveries = IntCounterVec::new(
            opts("deliveries_total", "Delivery attempts by runtime and result (acknowledged, failed, gone)."),
            &["runtime", "result"],
        )
        .expect("valid metric");
        let queue_depth = IntGaugeVec::new(
            opts("delivery_queue_depth", "Deliveries recorded and not acknowledged yet (the retry queue), by runtime."),
            &["runtime"],
        )
        .expect("valid metric");
        let latency = HistogramVec::new(
            HistogramOpts::from(opts(
                "delivery_latency_seconds",
                "Time from recording a state to its acknowledgement by the runtime.",
            ))
            .buckets(exponential_buckets(0.0005, 2.0, 16).expect("valid buckets")),
            &["runtime"],
        )
        .expect("valid metric");
        let parked = IntGaugeVec::new(
            opts("runtime_parked", "1 when a runtime answered 410 Gone and is parked until a reload."),
            &["runtime"],
        )
        .expect("valid metric");
        let last_sync = GaugeVec::new(
            opts(
                "last_successful_sync_timestamp_seconds",
                "When an environment's tip last passed the gate and its deliveries were recorded (Unix time).",
            ),
            &["environment"],
        )
        .expect("valid metric");
        let valid =
            IntGaugeVec::new(opts("environment_valid", "1 when the environment's tip validates."), &["environment"])
                .expect("valid metric");
        let drift = IntGaugeVec::new(
            opts("environment_drift", "1 when the environment's tip holds no version."),
            &["environment"],
        )
        .expect("valid metric");
        let held = IntGaugeVec::new(
            opts("environment_held", "1 when the environment's current version is on hold there."),
            &["environment"],
        )
        .expect("valid metric");
        let reconciled =
            IntCounter::with_opts(opts("reconciled_versions_total", "Version tags written by reconciliation."))
                .expect("valid metric");
        let long_polls = prometheus::IntGauge::with_opts(opts(
            "pull_long_polls",
            "Pull requests held open now, waiting for a change (?wait=N with If-None-Match).",
        ))
        .expect("valid metric");
        let owner = IntGaugeVec::new(
            opts(
                "runtime_owner",
                "1 for the daemon (node) that delivers to each runtime, as this daemon last read the leases.",
            ),
            &["runtime", "node"],
        )
        .expect("valid metric");
        for collector in [
            Box::new(long_polls.clone()) as Box<dyn prometheus::core::Collector>,
            Box::new(deliveries.clone()),
            Box::new(queue_depth.clone()),
            Box::new(latency.clone()),
            Box::new(parked.clone()),
            Box::new(last_sync.clone()),
            Box::new(valid.clone()),
            Box::new(drift.clone()),
            Box::new(held.clone()),
            Box::new(reconciled.clone()),
            Box::new(owner.clone()),
        ] {
            registry.register(collector).expect("each metric is registered once");
        }
        Metrics {
            registry,
            deliveries,
            queue_depth,
            latency,
            parked,
            last_sync,
            valid,
            drift,
            held,
            reconciled,
            long_polls,
            owner,
        }
    }

    /// The text exposition format.
    pub fn encode(&self) -> String {
        let mut buffer = Vec::new();
        TextEncoder::new().encode(&self.registry.gather(), &mut buffer).expect("writing to a Vec");
        String::from_utf8(buffer).expect("the text format is UTF-8")
    }

    pub const CONTENT_TYPE: &'static str = prometheus::TEXT_FORMAT;

    pub fn delivery(&self, runtime: &str, result: &str) {
        self.deliveries.with_label_values(&[runtime, result]).inc();
    }

    /// Makes a runtime's series exist (at zero) from its start.
    pub fn runtime_started(&self, runtime: &str) {
        for result in ["acknowledged", "failed", "gone"] {
            self.deliveries.with_label_values(&[runtime, result]);
        }
        self.latency.with_label_values(&[runtime]);
        self.park(runtime, false);
    }

    /// A runtime's parked state.
    pub fn park(&self, runtime: &str, parked: bool) {
        self.parked.with_label_values(&[runtime]).set(i64::from(parked));
    }

    /// Who delivers to each runtime (one series a runtime; none for a runtime nobody holds).
    pub fn owners(&self, owners: &[(String, String)]) {
        self.owner.reset();
        for (runtime, node) in owners {
            self.owner.with_label_values(&[runtime, node]).set(1);
        }
    }

    /// An environment's gate.
    pub fn gate(&self, environment: &str, valid: bool, drift: bool, held: bool) {
        self.valid.with_label_values(&[environment]).set(i64::from(valid));
        self.drift.with_label_values(&[environment]).set(i64::from(drift));
        self.held.with_label_values(&[environment]).set(i64::from(held));
    }
}
