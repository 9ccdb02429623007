//! The operations: one function per operation, called by every front end (CLI now; the
//! daemon and the HTTP API later). They return values and never print.

pub mod diff;
pub mod discard;
pub mod history;
pub mod init;
pub mod promote;
pub mod publish;
pub mod reconcile;
pub mod resolve;
pub mod restore;
pub mod revert;
pub mod rollback;
pub mod show;
pub mod state;
pub mod status;
pub mod validate;
pub mod write;

pub use diff::{Diffed, diff};
pub use init::{InitOptions, InitSource, init};
pub use resolve::{ResolvedTree, Target, resolve_target, resolve_tree};
pub use status::{status, status_with};
pub use validate::validate;
