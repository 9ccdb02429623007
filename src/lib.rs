//! stagecraft: GitOps for AI assistant configurations.
//!
//! Module map (see `../shared/GUIDE.md` for the shape):
//!
//! - [`model`] (pure): typed config, checked ids, snapshots of trees.
//! - [`parse`] and [`validate`] (pure): a snapshot becomes a config plus every finding.
//! - [`error`] (pure): the one error type, its codes, exit codes and reports.
//! - [`store`] (io): every git2 call, and the directory loader.
//! - [`ops`] (io): one function per operation, called by every front end; never prints.
//! - [`webhook`] and [`desired`] (pure): deliveries as Standard Webhooks; what each
//!   runtime should hold and which deliveries bring it there.
//! - [`config`] (pure): `stagecraft.toml`, checked with positions.
//! - [`daemon`] (io): `stagecraft serve`: the watcher, the sync loop, the delivery
//!   workers, the durable delivery state, the HTTP server, signals and systemd.
//! - [`api`] (io): the HTTP API under `/v1` (SPEC 10), its roles and problem documents.
//! - [`cli`] (io): one file per command, rendering through `cli::ui`; `--server` runs
//!   commands against a daemon's API.
//!
//! Invariants:
//! - Pure modules do no I/O: no files, git, network, environment variables or clock.
//!   Time, identity and file content come in as arguments or through `BlobReader`.
//! - A tree loaded from git and the same content loaded from a directory give the same
//!   snapshot (git blob ids) and so the same config and the same diagnostics.
//! - Every ref update is a compare-and-swap on the old value.
//! - The chain of environments is read from the commit tagged `v1`.

pub mod config;
pub mod desired;
pub mod diff;
pub mod error;
pub mod failpoint;
pub mod history;
pub mod identity;
pub mod lifecycle;
pub mod merge;
pub mod model;
pub mod parse;
pub mod validate;
pub mod webhook;
pub mod wire;

pub mod api;
pub mod cli;
pub mod daemon;
pub mod example;
pub mod ops;
pub mod store;
