//! What a test run leaves on a version's commit (pure): one JSON line per run in the git
//! note of `refs/notes/stagecraft/tests`, the newest last, and how it reads
//! ("tests: 12/12 passed in sandbox"). The promotion gate asks [`passing_in`].

use serde::{Deserialize, Serialize};

/// The notes ref of test runs.
pub const NOTES_REF: &str = "refs/notes/stagecraft/tests";

/// The most runs a note keeps (the oldest go first).
pub const KEPT: usize = 50;

/// One run of a version's suite.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TestRecord {
    pub version: u32,
    /// The environment the version was tested in (`--env`), if it was.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub environment: Option<String>,
    /// The endpoint or the runtime that answered.
    pub target: String,
    pub passed: usize,
    pub failed: usize,
    /// A run narrowed to some cases (`assistant support-bot`, `case order-status`); such a
    /// run is shown but never opens a promotion gate.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
    /// RFC 3339.
    pub at: String,
    /// `Name <email>`.
    pub by: String,
}

impl TestRecord {
    pub fn all_passed(&self) -> bool {
        self.failed == 0 && self.passed > 0
    }

    /// "tests: 12/12 passed in sandbox".
    pub fn display(&self) -> String {
        let total = self.passed + self.failed;
        let place = match &self.environment {
            Some(env) => format!("in {env}"),
            None => format!("against {}", self.target),
        };
        let scope = self.scope.as_ref().map(|s| format!(" ({s} only)")).unwrap_or_default();
        format!("tests: {}/{total} passed {place}{scope}", self.passed)
    }
}

/// The records of a note, oldest first; lines that are not records are skipped (a note
/// written by hand).
pub fn parse(note: &str) -> Vec<TestRecord> {
    note.lines().filter_map(|line| serde_json::from_str(line.trim()).ok()).collect()
}

/// The note with `record` added (at most [`KEPT`] records).
pub fn append(note: Option<&str>, record: &TestRecord) -> String {
    let mut records = note.map(parse).unwrap_or_default();
    records.push(record.clone());
    let skip = records.len().saturating_sub(KEPT);
    let mut text = String::new();
    for record in &records[skip..] {
        text.push_str(&serde_json::to_string(record).expect("records serialize"));
        text.push('\n');
    }
    text
}

/// The newest whole-suite run recorded in `environment`, if it passed (a run narrowed to
/// some cases never counts).
pub fn passing_in<'r>(records: &'r [TestRecord], environment: &str) -> Option<&'r TestRecord> {
    records
        .iter()
        .rev()
        .find(|r| r.environment.as_deref() == Some(environment) && r.scope.is_none())
        .filter(|r| r.all_passed())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(environment: Option<&str>, passed: usize, failed: usize) -> TestRecord {
        TestRecord {
            version: 3,
            environment: environment.map(str::to_string),
            target: "http://127.0.0.1:1/v1".into(),
            passed,
            failed,
            scope: None,
            at: "2026-12-07T10:00:00Z".into(),
            by: "Ana <ana@example.com>".into(),
        }
    }

    #[test]
    fn a_note_keeps_runs_in_order_and_the_newest_in_an_environment_decides() {
        let note = append(None, &record(Some("sandbox"), 12, 0));
        let note = append(Some(&note), &record(None, 3, 1));
        let records = parse(&format!("written by hand\n{note}"));
        assert_eq!(records.len(), 2);
        assert_eq!(records[0].display(), "tests: 12/12 passed in sandbox");
        assert_eq!(records[1].display(), "tests: 3/4 passed against http://127.0.0.1:1/v1");
        assert!(passing_in(&records, "sandbox").is_some());
        assert!(passing_in(&records, "pre-release").is_none());
        let failed_later = parse(&append(Some(&note), &record(Some("sandbox"), 11, 1)));
        assert!(passing_in(&failed_later, "sandbox").is_none(), "the newest run in sandbox failed");
        let narrowed = TestRecord { scope: Some("case order-status".into()), ..record(Some("sandbox"), 1, 0) };
        let records = parse(&append(Some(&append(None, &record(Some("sandbox"), 5, 1))), &narrowed));
        assert!(passing_in(&records, "sandbox").is_none(), "one case passing opens nothing");
        assert_eq!(records[1].display(), "tests: 1/1 passed in sandbox (case order-status only)");
    }
}
