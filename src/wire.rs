//! The public JSON shapes of stagecraft (`--json` output now; the API later), documented
//! here field by field. They are built from library values by `ops` and rendered by the
//! front ends; changing a field is a breaking change. Pure: no I/O.

use serde::{Deserialize, Serialize};
use serde_json::Value as Json;

/// `stagecraft status --json`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, utoipa::ToSchema)]
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
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, utoipa::ToSchema)]
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
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, utoipa::ToSchema)]
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
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, utoipa::ToSchema)]
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
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, utoipa::ToSchema)]
pub struct Initialized {
    pub path: String,
    pub bare: bool,
    pub commit: String,
    pub version: u32,
    pub chain: Vec<String>,
    pub protected: Vec<String>,
    pub assistants: Vec<String>,
}

/// `--json` of every write (publish, promote, rollback, discard, restore, revert).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, utoipa::ToSchema)]
pub struct Written {
    /// `publish`, `promote`, `rollback`, `discard`, `restore`, `revert`.
    pub action: String,
    /// The branch written (or that would be).
    pub environment: String,
    /// The version the environment holds after the write (publish, promote, rollback).
    pub version: Option<u32>,
    /// For discard, restore, revert: the version acted on.
    pub source: Option<u32>,
    /// For promote: the environment the version came from.
    pub from: Option<String>,
    /// The new commit; `null` on a dry run.
    pub commit: Option<String>,
    /// The one-line summary of what changed.
    pub summary: String,
    /// The hold set after a rollback; the version a forced promotion took off hold.
    pub holds: Option<Vec<u32>>,
    /// Versions tagged by reconciliation before a publish.
    pub reconciled: Vec<u32>,
    pub dry_run: bool,
    /// For a rollback: the version it left (now on hold there).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub left: Option<u32>,
    /// For a promotion: the version was on hold there and the forced promotion lifted it.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub released_hold: bool,
    /// What reconciliation did before a publish, one line each for people.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub reconciled_notes: Vec<String>,
}

impl Written {
    /// A write's answer with the fields every action has; the rest empty.
    pub fn new(action: &str, environment: &str, commit: Option<String>, summary: &str, dry_run: bool) -> Written {
        Written {
            action: action.to_string(),
            environment: environment.to_string(),
            version: None,
            source: None,
            from: None,
            commit,
            summary: summary.to_string(),
            holds: None,
            reconciled: Vec::new(),
            dry_run,
            left: None,
            released_hold: false,
            reconciled_notes: Vec::new(),
        }
    }
}

/// One entry of `stagecraft history --json` (SPEC 6).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, utoipa::ToSchema)]
pub struct HistoryEntry {
    /// The commit, 40 hex digits.
    pub id: String,
    /// Pass as `--before` to list what comes after this entry.
    pub cursor: String,
    /// `init`, `publish`, `promote`, `rollback`, `revert`, `restore`, `discard`, or for
    /// commits made outside stagecraft `edit` (on the draft) and `merge` (elsewhere).
    pub action: String,
    /// The branch; `null` for init (every environment).
    pub environment: Option<String>,
    /// The version the commit holds (publish, promote, rollback, init; merges by the
    /// current-version rule).
    pub version: Option<u32>,
    /// For revert, restore, discard: the version acted on.
    pub source: Option<u32>,
    /// Who asked: the `Stagecraft-Actor` trailer, else the author.
    pub actor: String,
    /// Commit time, RFC 3339.
    pub time: String,
    pub description: Option<String>,
    /// The `Summary:` line; for commits made outside stagecraft, the changed paths.
    pub summary: String,
    /// The hold set the commit records, if it records one.
    pub holds: Option<Vec<u32>>,
    /// The `Stagecraft-Force` reason.
    pub forced: Option<String>,
    /// True for a merge whose tree matches no version.
    pub drift: bool,
}

/// `stagecraft history --json`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, utoipa::ToSchema)]
pub struct HistoryPage {
    pub entries: Vec<HistoryEntry>,
    /// The cursor of the next page; `null` when this is the last.
    pub next: Option<String>,
}

/// `stagecraft show vN --json`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, utoipa::ToSchema)]
pub struct VersionInfo {
    pub version: u32,
    pub commit: String,
    /// Who published (the tagger), and when.
    pub actor: String,
    pub time: String,
    pub description: Option<String>,
    pub summary: Option<String>,
    /// Environments whose current version this is.
    pub deployed: Vec<String>,
    /// Environments where it is on hold.
    pub on_hold: Vec<String>,
}

/// TOML to JSON; date-times become their TOML text.
pub fn toml_to_json(value: &toml::Value) -> Json {
    match value {
        toml::Value::String(text) => Json::String(text.clone()),
        toml::Value::Integer(number) => Json::from(*number),
        toml::Value::Float(number) => {
            serde_json::Number::from_f64(*number).map_or_else(|| Json::String(number.to_string()), Json::Number)
        }
        toml::Value::Boolean(flag) => Json::Bool(*flag),
        toml::Value::Datetime(datetime) => Json::String(datetime.to_string()),
        toml::Value::Array(items) => Json::Array(items.iter().map(toml_to_json).collect()),
        toml::Value::Table(table) => Json::Object(table.iter().map(|(k, v)| (k.clone(), toml_to_json(v))).collect()),
    }
}
