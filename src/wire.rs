//! The public JSON shapes of stagecraft (`--json` output now; the API later), documented
//! here field by field. They are built from library values by `ops` and rendered by the
//! front ends; changing a field is a breaking change. Pure: no I/O.

use serde::Serialize;

/// `stagecraft status --json`.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Status {
    /// The repository's work tree or git directory.
    pub repository: String,
    /// The environments in order, the draft first.
    pub chain: Vec<String>,
    /// The protected environments.
    pub protected: Vec<String>,
    pub environments: Vec<EnvironmentStatus>,
    /// What a publish would change now.
    pub draft: DraftStatus,
}

/// One environment in `status`.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct EnvironmentStatus {
    pub name: String,
    pub protected: bool,
    /// The branch tip, 40 hex digits.
    pub commit: String,
    /// The current version (SPEC 1) as an integer; `null` on the draft and in drift.
    pub version: Option<u32>,
    /// Who asked for the tip commit: its `Stagecraft-Actor` trailer, else its author.
    pub actor: String,
    /// The tip's commit time, RFC 3339.
    pub time: String,
    /// The tip's subject line.
    pub subject: String,
    /// Versions on hold in this environment, ascending.
    pub holds: Vec<u32>,
    /// True when the tip matches no version (never on the draft).
    pub drift: bool,
}

/// The draft against its base.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct DraftStatus {
    /// The second environment, which a publish writes to.
    pub base: String,
    /// False when the draft's tree equals the base's: nothing to publish.
    pub changed: bool,
    /// Changed paths that stagecraft reads (`assistants/`, `channels.toml`).
    pub changed_config_files: usize,
    /// Changed paths elsewhere in the tree.
    pub changed_other_files: usize,
    /// One line for people.
    pub summary: String,
}

/// `stagecraft validate --json` on success.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Validated {
    /// What was validated: `draft (1a2b3c4)`, `v3 (…)`, or a directory path.
    pub origin: String,
    pub valid: bool,
    pub assistants: Vec<String>,
    pub knowledge_sources: usize,
    pub tools: usize,
    pub guardrails: usize,
    pub tests: usize,
    pub channel_bindings: usize,
}

/// `stagecraft init --json`.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Initialized {
    pub path: String,
    pub bare: bool,
    pub commit: String,
    pub version: u32,
    pub chain: Vec<String>,
    pub protected: Vec<String>,
    pub assistants: Vec<String>,
}
