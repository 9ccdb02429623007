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
    /// Files changed in the checked-out draft's work tree and not committed (modified
    /// or untracked): not in the draft, so no publish takes them.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub uncommitted_files: usize,
}

fn is_zero(count: &usize) -> bool {
    *count == 0
}

/// One environment in `status`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, utoipa::ToSchema)]
pub struct EnvironmentStatus {
    pub name: String,
    pub protected: bool,
    /// The branch tip, 40 hex digits.
    pub commit: String,
    /// The current version as an integer; `null` on the draft and in drift.
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
    /// For a forced promotion or rollback: the version was on hold there and the force
    /// lifted it.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub released_hold: bool,
    /// For a rollback to a newer version than the current one (undoing a rollback).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub forward: bool,
    /// The commits the plan was made on (the branch's tip, then for a publish the
    /// draft's tip), comma-separated; send it back as `expected` to write exactly what a
    /// preview showed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub planned_on: Option<String>,
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
            forward: false,
            planned_on: None,
            reconciled_notes: Vec::new(),
        }
    }
}

/// One entry of `stagecraft history --json`.
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
    /// For a publish (or the init), the newest test run recorded on its version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tests: Option<String>,
}

/// `stagecraft history --json`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, utoipa::ToSchema)]
pub struct HistoryPage {
    pub entries: Vec<HistoryEntry>,
    /// The cursor of the next page; `null` when this is the last.
    pub next: Option<String>,
    /// What a person should know about the query (an `--assistant` that no environment
    /// has now), one line each.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
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
    /// The newest recorded test run: "tests: 12/12 passed in sandbox".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tests: Option<String>,
}

/// `POST /v1/test`: run the regression cases of a state.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TestRequest {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub env: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// Only this assistant's cases.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub assistant: Option<String>,
    /// Only the case of this name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub case: Option<String>,
    /// Cases at once, 1 to 64 (4 by default).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub concurrency: Option<u16>,
}

/// One message of a chat: what the user said, or what the assistant answered.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChatMessage {
    /// `user` or `assistant`.
    pub role: String,
    pub content: String,
}

/// `POST /v1/chat`: the assistant's answer to the conversation so far, streamed.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChatRequest {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub env: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    pub assistant: String,
    /// The conversation, oldest first, ending with the user's message (at most 200).
    pub messages: Vec<ChatMessage>,
    /// Per tool, the result its calls get (as a test case's `tool_result`); others get an error.
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub tool_results: std::collections::BTreeMap<String, String>,
}

/// An event of `POST /v1/chat`'s stream (`event: tool`, `reply`, `done` or `error`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, utoipa::ToSchema)]
#[serde(tag = "event", rename_all = "lowercase")]
pub enum ChatEvent {
    /// The assistant called a tool, and got this result.
    Tool {
        name: String,
        #[schema(value_type = Object)]
        arguments: Json,
        result: String,
    },
    /// The assistant's answer.
    Reply { text: String },
    /// The turn is over.
    Done { latency_ms: u64, target: String },
    /// The turn could not complete.
    Error { message: String },
}

/// `stagecraft test --json`, and the answer of `POST /v1/test`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, utoipa::ToSchema)]
pub struct TestAnswer {
    /// What was tested: "sandbox (v3)", "v3", "the draft (1a2b3c4)".
    pub tested: String,
    /// The endpoint or the runtime that answered.
    pub target: String,
    pub passed: usize,
    pub failed: usize,
    /// Cases that could not complete or did not run.
    pub errors: usize,
    pub cases: Vec<TestCaseView>,
    /// The record left on the version ("tests: 12/12 passed in sandbox"), when one was.
    pub recorded: Option<String>,
}

/// One case's result.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, utoipa::ToSchema)]
pub struct TestCaseView {
    pub assistant: String,
    pub case: String,
    /// passed, failed or error.
    pub result: String,
    pub runs: u32,
    pub passed_runs: u32,
    pub latency_ms: u64,
    /// The first failed expectation (`turn 2: contains: expected …, got …`) or the error.
    pub detail: Option<String>,
    /// The failed expectation's key, what it expected and what came back.
    pub expectation: Option<String>,
    pub expected: Option<String>,
    pub got: Option<String>,
}

impl From<&crate::testing::CaseResult> for TestCaseView {
    fn from(result: &crate::testing::CaseResult) -> TestCaseView {
        use crate::testing::Outcome;
        let (kind, detail, failure) = match &result.outcome {
            Outcome::Passed => ("passed", None, None),
            Outcome::Failed { failure } => ("failed", Some(failure.describe()), Some(failure)),
            Outcome::Error { error } => ("error", Some(error.clone()), None),
        };
        TestCaseView {
            assistant: result.assistant.clone(),
            case: result.case.clone(),
            result: kind.into(),
            runs: result.runs,
            passed_runs: result.passed_runs,
            latency_ms: result.latency_ms,
            detail,
            expectation: failure.map(|f| f.expectation.clone()),
            expected: failure.map(|f| f.expected.clone()),
            got: failure.map(|f| f.got.clone()),
        }
    }
}

/// What a runtime's worker is doing.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum RuntimeState {
    /// Nothing to send.
    #[default]
    Idle,
    /// A request is in flight.
    Delivering,
    /// The last attempt failed; the next waits for its backoff.
    Retrying,
    /// It answered `410 Gone`: nothing is sent until the config is reloaded.
    Parked,
    /// Another daemon sharing the state database delivers to it (see `owner`); its state
    /// is shown by that daemon.
    Elsewhere,
}

/// `GET /v1/environments`.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct EnvironmentsView {
    /// The environments in order, the draft first.
    pub chain: Vec<String>,
    pub protected: Vec<String>,
    pub environments: Vec<EnvironmentView>,
    /// What a publish would change now.
    pub draft: DraftStatus,
}

/// One environment: its status, the daemon's gate, and its runtimes.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct EnvironmentView {
    #[serde(flatten)]
    pub status: EnvironmentStatus,
    /// The tip validates.
    pub valid: bool,
    /// The tip's current version is on hold there (and the tip is not forced).
    pub held: bool,
    /// Why the tip is not delivered (invalid, drift, held); `null` when it is.
    pub problem: Option<String>,
    /// The tip whose configuration runtimes were last given.
    pub delivered_commit: Option<String>,
    pub runtimes: Vec<RuntimeView>,
}

/// One runtime bound to an environment.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct RuntimeView {
    pub name: String,
    /// The version it holds (the environment's delivered one once it caught up).
    pub acknowledged_version: Option<u32>,
    pub state: RuntimeState,
    /// Deliveries not acknowledged yet.
    pub pending: usize,
    pub last_error: Option<String>,
    /// With several daemons on one state database: the daemon (`[state] node`) that
    /// delivers to it, `null` while none holds its lease. Absent with a single daemon.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<String>,
}

/// The `data` object of a delivery and of a pull.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct AssistantData {
    pub environment: String,
    pub assistant: String,
    /// The tip's current version; `null` on the draft.
    pub version: Option<u32>,
    /// The environment's tip the state was read from.
    pub commit: String,
    /// Grows with every change of the environment.
    pub sequence: u64,
    /// The assistant's configuration; `null` when it was removed.
    #[schema(value_type = Option<Object>)]
    pub config: Option<Json>,
    #[schema(value_type = Object)]
    pub channels: Json,
}

/// `GET /v1/environments/{env}/assistants`.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct AssistantsView {
    pub environment: String,
    pub commit: String,
    pub assistants: Vec<AssistantData>,
}

/// The query of `GET /v1/environments/{env}/assistants/{id}`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct PullParams {
    /// Seconds to hold the request while `If-None-Match` still matches.
    pub wait: Option<u64>,
}

/// The query of `GET /v1/history`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct HistoryParams {
    /// Only this environment.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub environment: Option<String>,
    /// Entries per page, 1 to 500.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub limit: Option<usize>,
    /// The cursor of the page before.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub before: Option<String>,
    /// Only this action.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub action: Option<String>,
    /// Only commits that change this assistant.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub assistant: Option<String>,
}

/// How `GET /v1/diff` answers.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum DiffFormat {
    /// The documented diff JSON.
    #[default]
    Json,
    /// The change set with its labels, as the CLI renders it (`--server`).
    Changes,
    Markdown,
    Unified,
}

/// The query of `GET /v1/diff`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct DiffParams {
    /// An environment, `vN` or a commit id (default: the second environment).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
    /// An environment, `vN` or a commit id (default: the draft).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub to: Option<String>,
    /// Only this assistant.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub assistant: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub format: Option<DiffFormat>,
}

/// `format=changes` of `GET /v1/diff`: a change set and what its sides are.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LabelledChanges {
    pub labels: crate::diff::render::Labels,
    pub changes: crate::diff::ChangeSet,
}

/// A version in a request: `12` or `"v12"`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(untagged)]
pub enum VersionField {
    Number(u32),
    Text(String),
}

/// `POST /v1/publish`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PublishRequest {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// Publish a tree equal to a version on hold (admin; needs `message`).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub force: bool,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub confirm: bool,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub preview: bool,
    /// Seconds to wait for the runtimes' acknowledgements (at most 60).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wait: Option<u64>,
    /// The tip a preview was planned on (`planned_on` of its answer): the write is a
    /// `conflict` if the branch moved since, so what was shown is what is written.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expected: Option<String>,
}

/// `POST /v1/discard`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DiscardRequest {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub confirm: bool,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub preview: bool,
    /// The tip a preview was planned on (`planned_on` of its answer): the write is a
    /// `conflict` if the branch moved since, so what was shown is what is written.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expected: Option<String>,
}

/// `POST /v1/promote`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PromoteRequest {
    /// The version, or the environment whose current version to promote.
    pub version: VersionField,
    /// The environment to promote into.
    pub to: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// Promote a version on hold there (admin; needs `message`).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub force: bool,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub confirm: bool,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub preview: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wait: Option<u64>,
    /// The tip a preview was planned on (`planned_on` of its answer): the write is a
    /// `conflict` if the branch moved since, so what was shown is what is written.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expected: Option<String>,
}

/// `POST /v1/rollback`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RollbackRequest {
    pub environment: String,
    /// The version to return to (default: the newest earlier deployed one not on hold).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to: Option<VersionField>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// Roll back to a version on hold there (admin; needs `message`; lifts the hold).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub force: bool,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub confirm: bool,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub preview: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wait: Option<u64>,
    /// The tip a preview was planned on (`planned_on` of its answer): the write is a
    /// `conflict` if the branch moved since, so what was shown is what is written.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expected: Option<String>,
}

/// `POST /v1/revert` and `POST /v1/restore`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DraftRequest {
    pub version: VersionField,
    /// Only this assistant.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub assistant: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub preview: bool,
    /// Needed only when the draft itself is protected.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub confirm: bool,
    /// The tip a preview was planned on (`planned_on` of its answer): the write is a
    /// `conflict` if the branch moved since, so what was shown is what is written.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expected: Option<String>,
}

/// The answer of a write: what the CLI's `--json` prints, the diff of a preview, and
/// the runtimes' acknowledgements when asked to wait.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct WriteAnswer {
    #[serde(flatten)]
    pub written: Written,
    /// A preview's diff (the documented diff JSON).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub diff: Option<Json>,
    /// A preview's change set as the CLI renders it (`--server`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub changes: Option<crate::diff::ChangeSet>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wait: Option<Waited>,
}

/// Which runtimes of the environment acknowledged the new state within `wait`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Waited {
    pub acknowledged: Vec<String>,
    pub not_acknowledged: Vec<String>,
    /// Every runtime acknowledged.
    pub complete: bool,
}

/// The problem document of every refused API request (RFC 9457).
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
#[schema(as = Problem)]
pub struct ProblemBody {
    /// `urn:stagecraft:error:<code>`.
    #[serde(rename = "type")]
    pub kind: String,
    /// The code's name, e.g. `conflict`.
    pub title: String,
    pub status: u16,
    /// What failed, for people.
    pub detail: String,
    /// The stable error code, e.g. `held`.
    pub code: String,
    /// Every diagnostic (objects with file, line, column, message, hint) or detail line.
    #[schema(value_type = Vec<Object>)]
    pub details: Vec<Json>,
    pub hint: Option<String>,
    /// True only for `conflict`: run the request again.
    pub retryable: bool,
    /// The environment a refusal is about (for `confirmation_required`: the one to confirm).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub environment: Option<String>,
    /// What was done before the refusal (reconciliation tagged a merge), one line each.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
}

/// What every write request says besides its operands.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WriteFlags {
    pub message: Option<String>,
    pub force: bool,
    pub confirm: bool,
    pub preview: bool,
    pub expected: Option<String>,
}

/// The flags every write request carries, for clients that preview, then confirm, and
/// for the server that reads them.
pub trait WriteRequest {
    fn set_preview(&mut self, preview: bool);
    fn set_confirm(&mut self, confirm: bool);
    fn set_expected(&mut self, expected: Option<String>);
    fn flags(&self) -> WriteFlags;
}

macro_rules! write_request {
    ($($request:ty => |$this:ident| $force:expr),*) => {$(
        impl WriteRequest for $request {
            fn flags(&self) -> WriteFlags {
                let $this = self;
                WriteFlags {
                    message: self.message.clone(),
                    force: $force,
                    confirm: self.confirm,
                    preview: self.preview,
                    expected: self.expected.clone(),
                }
            }
            fn set_preview(&mut self, preview: bool) {
                self.preview = preview;
            }
            fn set_confirm(&mut self, confirm: bool) {
                self.confirm = confirm;
            }
            fn set_expected(&mut self, expected: Option<String>) {
                self.expected = expected;
            }
        }
    )*};
}

write_request!(
    PublishRequest => |request| request.force,
    DiscardRequest => |_request| false,
    PromoteRequest => |request| request.force,
    RollbackRequest => |request| request.force,
    DraftRequest => |_request| false
);

/// `stagecraft review --format json` and `GET /v1/review`: a pull-request review of a
/// change.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ReviewView {
    /// What merging does, one sentence.
    pub merging: String,
    pub head: String,
    pub head_commit: String,
    pub base: String,
    /// The head validates.
    pub valid: bool,
    /// Every finding: objects with file, line, column, message, hint.
    #[schema(value_type = Vec<Object>)]
    pub diagnostics: Vec<Json>,
    /// Every finding as people read it: `file:line:col: message`, the line, a hint.
    pub findings: Vec<String>,
    pub warnings: Vec<String>,
    /// The one-line summary of the change.
    pub summary: String,
    /// The field-level diff, merge base → head (the documented diff JSON).
    #[schema(value_type = Object)]
    pub diff: Json,
    /// The review as a pull-request comment, fitted to `max_chars`.
    pub markdown: String,
}

impl ReviewView {
    /// The first error's first line (`file:line:col: message`), for a commit status.
    pub fn first_error(&self) -> Option<String> {
        self.findings.first().map(|finding| finding.lines().next().unwrap_or_default().to_string())
    }
}

/// The query of `GET /v1/review`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ReviewParams {
    /// The change: a branch, a ref (`refs/pull/7/head`) or a commit.
    pub head: String,
    /// What it merges into: the draft (default) or an environment branch.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub base: Option<String>,
    /// The longest markdown, in characters (default 65,536).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_chars: Option<usize>,
}
