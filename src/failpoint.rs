//! Named failpoints for crash tests: compiled into every build, armed by
//! `STAGECRAFT_FAILPOINT=<name>`, they abort the process (no unwinding, so lock files and
//! half-done work stay exactly as a real crash leaves them). Unarmed, a failpoint costs
//! one environment lookup, made once per process.

use std::sync::OnceLock;

/// Aborts the process when the failpoint `name` is armed.
pub fn hit(name: &str) {
    static ARMED: OnceLock<Option<String>> = OnceLock::new();
    let armed = ARMED.get_or_init(|| std::env::var("STAGECRAFT_FAILPOINT").ok().filter(|v| !v.is_empty()));
    if armed.as_deref() == Some(name) {
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
