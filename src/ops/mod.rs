//! The operations: one function per operation, called by every front end (CLI now; the
//! daemon and the HTTP API later). They return values and never print.

pub mod diff;
pub mod init;
pub mod resolve;
pub mod status;
pub mod validate;

pub use diff::{Diffed, diff};
pub use init::{InitOptions, InitSource, init};
pub use resolve::{ResolvedTree, Target, resolve_target, resolve_tree};
pub use status::status;
pub use validate::validate;
