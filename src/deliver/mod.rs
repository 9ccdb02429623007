//! Delivery (io): what brings each runtime the configuration of its environment.
//!
//! - [`worker`]: one task per runtime, sending its queue as Standard Webhooks, with
//!   retries, `Retry-After` and parking on `410 Gone`; the writer of acknowledgements.
//! - [`ledger`]: the durable record of tips, pending deliveries and acknowledgements
//!   behind the async [`ledger::DeliveryLedger`] trait (SQLite by default).
//! - [`postgres`]: the same ledger in PostgreSQL, shared by several daemons.
//! - [`lease`]: which daemon delivers to which runtime when several share the ledger.
//! - [`hub`]: what workers, pullers and waiting writers watch: gates, pulls, queues,
//!   the change counter.
//! - [`metrics`]: the Prometheus metrics that the workers and the sync loop update.
//!
//! What each runtime should hold is decided by the pure [`crate::webhook::plan`]; this
//! module records and sends it. It never reads git and never imports the daemon or the
//! HTTP server.

pub mod hub;
pub mod lease;
pub mod ledger;
pub mod metrics;
pub mod postgres;
pub mod worker;
