//! The operations (io): one file per operation, one function each, called by every
//! front end (the CLI, the HTTP API, the daemon). They return values and never print.
//!
//! A write reads the repository once ([`read`]), asks the pure
//! [`crate::lifecycle::plan`] for the plan or the refusal, and applies the plan once
//! ([`apply`]) with a compare-and-swap on the tip it planned on. Each write module has a
//! `plan` (what the CLI shows and confirms) and the operation itself (plan, then
//! apply); the CLI applies the very plan it showed. No operation imports another.

pub mod apply;
pub mod diff;
pub mod discard;
pub mod edit;
pub mod history;
pub mod init;
pub mod promote;
pub mod publish;
pub mod read;
pub mod restore;
pub mod revert;
pub mod review;
pub mod rollback;
pub mod show;
pub mod status;
pub mod test;
pub mod validate;

pub use apply::{Done, WriteOptions};
pub use diff::{Diffed, diff};
pub use init::{InitOptions, InitSource, init};
pub use read::{ResolvedTree, Target, resolve_target, resolve_tree};
pub use status::{status, status_with};
pub use validate::validate;
