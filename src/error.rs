//! The one error type of the library, its stable codes, and the one place that
//! turns an error into a report for people and for JSON. Front ends (the CLI's `Ui`, the
//! HTTP problem responses) print reports; they decide nothing. Pure: no I/O.

use serde::Serialize;

use crate::model::ids::IdError;
use crate::validate::Diagnostic;

/// The stable error codes, each with its exit code and HTTP status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Code {
    ValidationFailed,
    Conflict,
    VersionConflict,
    MergeConflict,
    Held,
    NotPromotable,
    TestsRequired,
    Drift,
    DirtyWorktree,
    NothingToDo,
    ConfirmationRequired,
    Usage,
    NotFound,
    Unauthenticated,
    Forbidden,
    TooLarge,
    Git,
    Io,
}

impl Code {
    pub const ALL: [Code; 18] = [
        Code::ValidationFailed,
        Code::Conflict,
        Code::VersionConflict,
        Code::MergeConflict,
        Code::Held,
        Code::NotPromotable,
        Code::TestsRequired,
        Code::Drift,
        Code::DirtyWorktree,
        Code::NothingToDo,
        Code::ConfirmationRequired,
        Code::Usage,
        Code::NotFound,
        Code::Unauthenticated,
        Code::Forbidden,
        Code::TooLarge,
        Code::Git,
        Code::Io,
    ];

    /// The code named `text`.
    pub fn parse(text: &str) -> Option<Code> {
        Code::ALL.into_iter().find(|code| code.as_str() == text)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Code::ValidationFailed => "validation_failed",
            Code::Conflict => "conflict",
            Code::VersionConflict => "version_conflict",
            Code::MergeConflict => "merge_conflict",
            Code::Held => "held",
            Code::NotPromotable => "not_promotable",
            Code::TestsRequired => "tests_required",
            Code::Drift => "drift",
            Code::DirtyWorktree => "dirty_worktree",
            Code::NothingToDo => "nothing_to_do",
            Code::ConfirmationRequired => "confirmation_required",
            Code::Usage => "usage",
            Code::NotFound => "not_found",
            Code::Unauthenticated => "unauthenticated",
            Code::Forbidden => "forbidden",
            Code::TooLarge => "too_large",
            Code::Git => "git",
            Code::Io => "io",
        }
    }

    /// The process exit code of the CLI (401/403 from a server exit 1).
    pub fn exit_code(self) -> u8 {
        match self {
            Code::NothingToDo => 3,
            Code::ConfirmationRequired | Code::Usage => 2,
            _ => 1,
        }
    }

    /// The HTTP status of the API.
    pub fn http_status(self) -> u16 {
        match self {
            Code::ValidationFailed => 422,
            Code::Conflict
            | Code::VersionConflict
            | Code::MergeConflict
            | Code::Held
            | Code::NotPromotable
            | Code::TestsRequired
            | Code::Drift
            | Code::DirtyWorktree
            | Code::NothingToDo => 409,
            Code::ConfirmationRequired | Code::Usage => 400,
            Code::NotFound => 404,
            Code::Unauthenticated => 401,
            Code::Forbidden => 403,
            Code::TooLarge => 413,
            Code::Git | Code::Io => 500,
        }
    }

    /// Only a lost compare-and-swap race is worth retrying as is.
    pub fn retryable(self) -> bool {
        self == Code::Conflict
    }
}

/// Everything an operation can fail with. Variants carry what a user needs to act.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{origin} does not validate: {} error{}", .diagnostics.len(), if .diagnostics.len() == 1 { "" } else { "s" })]
    Invalid { origin: String, diagnostics: Vec<Diagnostic> },

    #[error("{file} does not validate: {} error{}", .diagnostics.len(), if .diagnostics.len() == 1 { "" } else { "s" })]
    InvalidConfig { file: String, diagnostics: Vec<Diagnostic> },

    #[error("no {what} `{name}`")]
    NotFound { what: &'static str, name: String, hint: String },

    #[error("{path} is not a git repository")]
    NotARepository { path: String },

    #[error("{path} uses {format}, which stagecraft cannot open")]
    UnsupportedFormat { path: String, format: &'static str, hint: String },

    #[error("{path} is not a stagecraft repository: {reason}")]
    NotStagecraft { path: String, reason: String },

    #[error("environment branch `{branch}` is missing")]
    MissingBranch { branch: String, chain: String, remote: Option<String> },

    #[error("cannot init in {path}: {reason}")]
    InitTarget { path: String, reason: &'static str },

    #[error("no identity to write commits with")]
    NoIdentity,

    #[error("{0}")]
    Id(#[from] IdError),

    #[error("{message}")]
    Usage { message: String, hint: Option<String> },

    #[error("{0}")]
    Read(#[from] crate::model::ReadError),

    #[error("conflict: {branch} moved from {expected} to {actual}, retry")]
    Conflict { branch: String, expected: String, actual: String },

    #[error("tag {tag} already exists on commit {existing}, not on {wanted}")]
    VersionConflict { tag: String, existing: String, wanted: String },

    #[error("{version} is on hold in {environment}")]
    Held { version: String, environment: String, hint: String },

    #[error("{message}")]
    NotPromotable { message: String, hint: String },

    #[error("{version} has no passing test run recorded in {source_env}, and {environment} requires one")]
    TestsRequired { version: String, environment: String, source_env: String, hint: String },

    #[error("{environment} is in drift: its tip {commit} matches no version")]
    Drift { environment: String, commit: String, hint: String },

    #[error("the draft's work tree has uncommitted changes")]
    DirtyWorktree { files: Vec<String> },

    #[error("{message}")]
    NothingToDo { message: String, hint: String },

    #[error("reverting {version} conflicts with the draft: {} conflict{}", .conflicts.len(), if .conflicts.len() == 1 { "" } else { "s" })]
    MergeConflict { version: String, conflicts: Vec<crate::merge::Conflict> },

    #[error("{environment} is protected: confirm to write to it")]
    ConfirmationRequired { environment: String, hint: String },

    #[error("git failed to {step}: {}", .source.message)]
    Git { step: String, source: GitFailure },

    #[error("cannot {step}: {detail}")]
    Remote { step: String, detail: String, hint: String },

    /// The delivery state's database (PostgreSQL) failed or refused.
    #[error("the state database: cannot {step}: {detail}")]
    State { step: String, detail: String, hint: String },

    /// A problem a daemon's API answered (`--server`), with its own code.
    #[error("{message}")]
    Api { code: Code, message: String, details: Vec<String>, hint: Option<String> },

    #[error("could not {step} {path}: {source}")]
    Io { step: &'static str, path: String, source: std::io::Error },

    /// An error after something was done first (reconciliation tagged a merge): the
    /// notes say what, before the error itself.
    #[error("{error}")]
    Noted { notes: Vec<String>, error: Box<Error> },
}

/// What git said when it failed, kept as plain values (the git library stays in
/// `store`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct GitFailure {
    pub message: String,
    /// A lock file was in the way (another writer, or one that crashed).
    pub locked: bool,
}

impl Error {
    pub fn io(step: &'static str, path: impl AsRef<std::path::Path>) -> impl FnOnce(std::io::Error) -> Error {
        let path = path.as_ref().display().to_string();
        move |source| Error::Io { step, path, source }
    }

    /// `self`, with what was done before it (nothing added when `notes` is empty).
    pub fn noted(self, notes: Vec<String>) -> Error {
        if notes.is_empty() { self } else { Error::Noted { notes, error: Box::new(self) } }
    }

    pub fn code(&self) -> Code {
        match self {
            Error::Noted { error, .. } => error.code(),
            Error::Invalid { .. } | Error::InvalidConfig { .. } => Code::ValidationFailed,
            Error::NotFound { .. }
            | Error::NotARepository { .. }
            | Error::NotStagecraft { .. }
            | Error::MissingBranch { .. } => Code::NotFound,
            Error::UnsupportedFormat { .. } => Code::Git,
            Error::InitTarget { .. } | Error::NoIdentity | Error::Id(_) | Error::Usage { .. } => Code::Usage,
            Error::Git { .. } | Error::Remote { .. } => Code::Git,
            Error::Api { code, .. } => *code,
            Error::Io { .. } | Error::Read(_) | Error::State { .. } => Code::Io,
            Error::Conflict { .. } => Code::Conflict,
            Error::VersionConflict { .. } => Code::VersionConflict,
            Error::Held { .. } => Code::Held,
            Error::NotPromotable { .. } => Code::NotPromotable,
            Error::TestsRequired { .. } => Code::TestsRequired,
            Error::Drift { .. } => Code::Drift,
            Error::DirtyWorktree { .. } => Code::DirtyWorktree,
            Error::NothingToDo { .. } => Code::NothingToDo,
            Error::ConfirmationRequired { .. } => Code::ConfirmationRequired,
            Error::MergeConflict { .. } => Code::MergeConflict,
        }
    }

    /// What to do next.
    pub fn hint(&self) -> Option<String> {
        match self {
            Error::Noted { error, .. } => error.hint(),
            Error::Invalid { .. } => Some("fix the errors above, then validate again with `stagecraft validate`".into()),
            Error::InvalidConfig { .. } => Some("fix the config, then check it again with `stagecraft serve --check`".into()),
            Error::NotFound { hint, .. } | Error::UnsupportedFormat { hint, .. } => Some(hint.clone()),
            Error::NotARepository { .. } => Some("run stagecraft inside a config repository, pass `--repo PATH`, or create one with `stagecraft init`".into()),
            Error::NotStagecraft { .. } => Some("create a config repository with `stagecraft init`, or point `--repo` at one".into()),
            Error::MissingBranch { remote: Some(remote), .. } => Some(format!("the environment branches are on `{remote}` only (a fresh clone): run the command with `--remote {remote}`, which reads and writes them there")),
            Error::MissingBranch { chain, .. } => Some(format!("every environment of the chain ({chain}) needs its branch; fetch it or recreate it from `v1`")),
            Error::InitTarget { .. } => Some("choose a new or empty directory: `stagecraft init DIR`".into()),
            Error::NoIdentity => Some("pass `--author \"Name <email>\"`, set GIT_AUTHOR_NAME and GIT_AUTHOR_EMAIL, or run `git config --global user.name \"Name\"` and `git config --global user.email you@example.com`".into()),
            Error::Usage { hint, .. } => hint.clone(),
            Error::Id(_) => None,
            Error::Git { .. } => Some("check the repository with `git fsck`; the message above names the failed step".into()),
            Error::Remote { hint, .. } | Error::State { hint, .. } => Some(hint.clone()),
            Error::Api { hint, .. } => hint.clone(),
            Error::Io { .. } => Some("check that the path exists and is readable and writable".into()),
            Error::Read(_) => Some("check the file, or the repository with `git fsck`".into()),
            Error::Conflict { .. } => Some("another write won the race; run it again".into()),
            Error::VersionConflict { tag, .. } => Some(format!("tags are never moved; inspect `git show {tag}` and remove the stray tag if it is wrong")),
            Error::Held { hint, .. }
            | Error::NotPromotable { hint, .. }
            | Error::TestsRequired { hint, .. }
            | Error::NothingToDo { hint, .. }
            | Error::ConfirmationRequired { hint, .. } => Some(hint.clone()),
            Error::Drift { hint, .. } => Some(hint.clone()),
            Error::DirtyWorktree { .. } => Some("commit or stash your changes first (`git stash`), then run the command again".into()),
            Error::MergeConflict { .. } => Some("nothing was written; edit those fields on the draft by hand, or restore the version with `stagecraft restore`".into()),
        }
    }

    /// The report front ends print: code, message, detail lines, hint.
    pub fn report(&self) -> Report {
        if let Error::Noted { notes, error } = self {
            let mut report = error.report();
            report.notes.splice(0..0, notes.iter().cloned());
            return report;
        }
        let (details, diagnostics) = match self {
            Error::Invalid { diagnostics, .. } | Error::InvalidConfig { diagnostics, .. } => {
                (Vec::new(), diagnostics.clone())
            }
            Error::MissingBranch { chain, .. } => (vec![format!("the chain is {chain}")], Vec::new()),
            Error::DirtyWorktree { files } => (files.clone(), Vec::new()),
            Error::Api { details, .. } => (details.clone(), Vec::new()),
            Error::MergeConflict { version, conflicts } => {
                (conflicts.iter().map(|c| c.describe(version)).collect(), Vec::new())
            }
            _ => (Vec::new(), Vec::new()),
        };
        let code = self.code();
        // Names echoed from input are shown, never obeyed: no control or bidi characters.
        let escape = crate::model::escape_for_display;
        Report {
            code,
            message: escape(&self.to_string()),
            details: details.iter().map(|d| escape(d)).collect(),
            diagnostics,
            hint: self.hint().map(|hint| escape(&hint)),
            retryable: code.retryable(),
            notes: Vec::new(),
        }
    }
}

/// An error as front ends show it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    pub code: Code,
    pub message: String,
    pub details: Vec<String>,
    pub diagnostics: Vec<Diagnostic>,
    pub hint: Option<String>,
    pub retryable: bool,
    /// What was done before the error (reconciliation), one line each.
    pub notes: Vec<String>,
}

impl Report {
    /// `error: …`, indented details (each diagnostic with its source line), `hint: …`.
    pub fn render_text(&self) -> String {
        let mut out: String = self.notes.iter().map(|note| format!("{note}\n")).collect();
        out.push_str(&format!("error: {}\n", self.message));
        for detail in &self.details {
            out.push_str(&indent(detail));
        }
        for diagnostic in &self.diagnostics {
            out.push_str(&indent(&diagnostic.render()));
        }
        if let Some(hint) = &self.hint {
            out.push_str(&format!("hint: {hint}\n"));
        }
        out
    }

    /// `{"error": {"code", "message", "details", "hint", "retryable"}}`; `details` holds
    /// the diagnostics (objects with file, line, column, message, hint) or detail strings.
    pub fn to_json(&self) -> serde_json::Value {
        let details: Vec<serde_json::Value> = if self.diagnostics.is_empty() {
            self.details.iter().map(|d| serde_json::Value::String(d.clone())).collect()
        } else {
            self.diagnostics.iter().map(|d| serde_json::to_value(d).expect("diagnostics serialize")).collect()
        };
        let mut error = serde_json::json!({
            "code": self.code.as_str(),
            "message": self.message,
            "details": details,
            "hint": self.hint,
            "retryable": self.retryable,
        });
        if !self.notes.is_empty() {
            error["notes"] = serde_json::json!(self.notes);
        }
        serde_json::json!({ "error": error })
    }
}

fn indent(text: &str) -> String {
    text.lines().map(|line| if line.is_empty() { "\n".to_string() } else { format!("  {line}\n") }).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_code_has_its_spec_exit_code_and_status() {
        let table: Vec<(&str, u8, u16, bool)> = Code::ALL
            .iter()
            .map(|code| (code.as_str(), code.exit_code(), code.http_status(), code.retryable()))
            .collect();
        assert_eq!(
            table,
            [
                ("validation_failed", 1, 422, false),
                ("conflict", 1, 409, true),
                ("version_conflict", 1, 409, false),
                ("merge_conflict", 1, 409, false),
                ("held", 1, 409, false),
                ("not_promotable", 1, 409, false),
                ("tests_required", 1, 409, false),
                ("drift", 1, 409, false),
                ("dirty_worktree", 1, 409, false),
                ("nothing_to_do", 3, 409, false),
                ("confirmation_required", 2, 400, false),
                ("usage", 2, 400, false),
                ("not_found", 1, 404, false),
                ("unauthenticated", 1, 401, false),
                ("forbidden", 1, 403, false),
                ("too_large", 1, 413, false),
                ("git", 1, 500, false),
                ("io", 1, 500, false),
            ]
        );
        for code in Code::ALL {
            assert_eq!(serde_json::to_value(code).unwrap(), code.as_str());
        }
    }

    #[test]
    fn an_unreadable_blob_is_an_io_error_not_a_usage_error() {
        let error = Error::from(crate::model::ReadError {
            path: "assistants/bot/instructions.md".into(),
            reason: "object not found".into(),
        });
        assert_eq!((error.code(), error.code().exit_code()), (Code::Io, 1));
        assert_eq!(error.to_string(), "could not read assistants/bot/instructions.md: object not found");
    }

    #[test]
    fn json_report_has_the_spec_shape() {
        let error = Error::NotFound {
            what: "environment",
            name: "prod".into(),
            hint: "the environments are: draft, live".into(),
        };
        let json = error.report().to_json();
        assert_eq!(
            json,
            serde_json::json!({"error": {"code": "not_found", "message": "no environment `prod`", "details": [], "hint": "the environments are: draft, live", "retryable": false}})
        );
    }
}
