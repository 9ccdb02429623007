//! The test runs recorded on a version's commit (io: git): what `show`, `history` and the
//! promotion gate read.

use crate::model::ObjectId;
use crate::store::Store;
use crate::testing::record::{self, NOTES_REF, TestRecord};

/// Every run recorded on a version's commit, oldest first.
pub fn test_records(store: &Store, commit: ObjectId) -> Vec<TestRecord> {
    store.note(NOTES_REF, commit).map(|note| record::parse(&note)).unwrap_or_default()
}

/// How the newest run reads ("tests: 12/12 passed in sandbox"), if there is one.
pub fn latest_tests(store: &Store, commit: ObjectId) -> Option<String> {
    test_records(store, commit).last().map(TestRecord::display)
}

/// How the newest run in `environment` reads, when it passed.
pub fn passing_in(store: &Store, commit: ObjectId, environment: &str) -> Option<String> {
    record::passing_in(&test_records(store, commit), environment).map(TestRecord::display)
}
