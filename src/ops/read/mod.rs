//! The shared reading of a repository that every operation starts from (io: git):
//! [`state`] (each environment's tip, current version and holds; the versions; change
//! sets), [`deployed`] (the versions an environment has deployed, with its cache),
//! [`reconcile`] (tagging what is untagged on the second environment, before a write and
//! in the daemon), [`resolve`] (turning what a user typed into a tree), and [`notes`]
//! (the test runs recorded on a version). Operations import this; it imports no operation.

pub mod deployed;
pub mod notes;
pub mod reconcile;
pub mod resolve;
pub mod state;

pub use reconcile::{Reconciled, read_for_write, read_reconciled};
pub use resolve::{ResolvedTree, Target, resolve_target, resolve_tree};
pub use state::{EnvState, RepoState, diff_commits, diff_snapshots, read_state};
