//! stagecraft: GitOps for AI assistant configurations.
//!
//! Module map, from the bottom up. A module imports only modules above it in this list
//! (never one below), and there is no circle between files or folders.
//!
//! Pure (no files, git, network, environment variables or clock; time, identity and
//! file content come in as arguments or through `BlobReader`):
//! - [`failpoint`]: named crash points for the crash tests (reads its one variable once).
//! - [`model`]: typed config, checked ids, snapshots of trees.
//! - [`identity`], [`history`]: who wrote a commit; trailers and their format.
//! - [`validate`], [`parse`]: a snapshot becomes a config plus every finding.
//! - [`config`]: `stagecraft.toml`, checked with positions (secrets stay references).
//! - [`diff`], [`merge`]: field-level change sets and three-way merges.
//! - [`lifecycle`]: the rules of every write: which version an environment is at, and
//!   the plans of publish, discard, promote, rollback, revert and restore, and the
//!   daemon's gate, each a plan or a refusal.
//! - [`review`]: a pull-request review of a change, as markdown fitted to a forge's
//!   comment limit.
//! - [`testing`]: regression cases and chats: the requests to the assistant under test,
//!   the checks of a turn's expectations, the outcome of a suite, the records of runs.
//! - [`wire`]: every JSON shape that crosses HTTP or `--json`, requests and answers.
//! - [`webhook`]: deliveries as Standard Webhooks, and [`webhook::plan`], what each
//!   runtime should hold and which deliveries bring it there.
//! - [`error`]: the one error type, its codes, exit codes and reports.
//!
//! Adapters (io):
//! - [`store`]: every git2 call, the git CLI for remotes, and the directory loader.
//! - [`ops`]: one function per operation, called by every front end; reads once, asks
//!   `lifecycle` for the plan, applies it with compare-and-swap; never prints.
//! - [`loaded`]: the daemon's config read from disk with its secrets resolved.
//! - [`net`]: the outbound HTTP client settings.
//! - [`deliver`]: delivery workers, the durable ledger, the hub that pullers watch,
//!   metrics.
//! - [`http`]: the whole HTTP surface (`http::router`), its roles and problem documents,
//!   and the dashboard's pages (`http::pages`).
//! - [`client`]: the `--server` client of that surface, on the same `wire` types.
//! - [`tester`]: running cases and chat turns against an OpenAI-compatible endpoint or a
//!   runtime's `test_url`.
//! - [`forge`]: posting a review to GitHub, GitLab or Gitea: one sticky comment and a
//!   commit status; `forge::event` (pure) reads their pull-request hooks.
//! - [`daemon`]: the `serve` process: the sync thread that owns git, the watcher, the
//!   supervisor of workers, reloads and shutdown.
//! - [`example`]: the example repository embedded in the binary.
//! - [`cli`]: one file per command, rendering through `cli::ui`; the one door for the
//!   process environment.
//!
//! Invariants:
//! - A tree loaded from git and the same content loaded from a directory give the same
//!   snapshot (git blob ids) and so the same config and the same diagnostics.
//! - Every ref update is a compare-and-swap on the old value.
//! - The chain of environments is read from the commit tagged `v1`.

pub mod config;
pub mod diff;
pub mod error;
pub mod failpoint;
pub mod history;
pub mod identity;
pub mod lifecycle;
pub mod merge;
pub mod model;
pub mod parse;
pub mod review;
pub mod testing;
pub mod validate;
pub mod webhook;
pub mod wire;

pub mod cli;
pub mod client;
pub mod daemon;
pub mod deliver;
pub mod example;
pub mod forge;
pub mod http;
pub mod loaded;
pub mod net;
pub mod ops;
pub mod store;
pub mod tester;
