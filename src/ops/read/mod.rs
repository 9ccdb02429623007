//! The shared reading of a repository that every operation starts from (io: git):
//! [`state`] (each environment's tip, current version and holds; the versions; what an
//! environment deployed; change sets), [`reconcile`] (tagging what is untagged on the
//! second environment, before a write and in the daemon), and [`resolve`] (turning
//! what a user typed into a tree), [`notes`] (the test runs recorded on a version). Operations import this; it imports no operation.

pub mod notes;
pub mod reconcile;
pub mod resolve;
pub mod state;

pub use reconcile::{Reconciled, read_for_write, read_reconciled};
pub use resolve::{ResolvedTree, Target, resolve_target, resolve_tree};
pub use state::{EnvState, RepoState, diff_commits, diff_snapshots, read_state};
