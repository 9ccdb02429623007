//! Named failpoints for crash tests: compiled into every build, armed once per process
//! by the command line from `STAGECRAFT_FAILPOINT=<name>`, they abort the process (no
//! unwinding, so lock files and half-done work stay exactly as a real crash leaves
//! them). Unarmed, a failpoint costs one comparison. The only effect is the abort.
//!
//! No I/O besides that abort and its one line on stderr.

use std::sync::OnceLock;

static ARMED: OnceLock<Option<String>> = OnceLock::new();

/// Arms the failpoint `name` (or none) for this process; only the first call counts.
pub fn arm(name: Option<String>) {
    let _ = ARMED.set(name.filter(|v| !v.is_empty()));
}

/// Aborts the process when the failpoint `name` is armed.
pub fn hit(name: &str) {
    if ARMED.get().and_then(Option::as_deref) == Some(name) {
        eprintln!("stagecraft: failpoint {name} hit, aborting");
        std::process::abort();
    }
}

/// Every failpoint, for tests that walk them all.
pub const ALL: [&str; 14] = [
    "publish-after-reconcile",
    "publish-after-commit",
    "publish-after-ref",
    "promote-after-commit",
    "promote-after-ref",
    "rollback-after-commit",
    "rollback-after-ref",
    "discard-after-commit",
    "discard-after-ref",
    "restore-after-commit",
    "restore-after-ref",
    "revert-after-commit",
    "revert-after-ref",
    "reconcile-after-tag",
];
