//! `stagecraft diff`: every rendering over fixture pairs, the CLI's operands and exit codes.

use std::cell::Cell;

use stagecraft::diff::render::{self, Format, Labels, Options};
use stagecraft::diff::{self, ChangeSet, Side};
use stagecraft::model::{BlobReader, Entry, ReadError, Snapshot};
use stagecraft::store::dir;

use crate::common::{TestEnv, TestRepo, fixtures};

fn fixture_diff(case: &str) -> ChangeSet {
    let root = fixtures().join("diff").join(case);
    let (old, old_reader) = dir::load(&root.join("old")).unwrap();
    let (new, new_reader) = dir::load(&root.join("new")).unwrap();
    diff::diff(Side { snapshot: &old, reader: &old_reader }, Side { snapshot: &new, reader: &new_reader }).unwrap()
}

fn labels() -> Labels {
    Labels { from: "old".into(), to: "new".into(), from_commit: None, to_commit: None }
}

/// Every rendering of every fixture pair, plus the summary.
#[test]
fn every_rendering_of_every_fixture_pair() {
    let mut cases: Vec<String> = std::fs::read_dir(fixtures().join("diff"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    cases.sort();
    assert!(cases.len() >= 5);
    for case in cases {
        let set = fixture_diff(&case);
        assert!(!set.is_empty(), "{case}");
        // The change set travels as JSON to `--server` clients and comes back whole.
        let travelled: ChangeSet = serde_json::from_str(&serde_json::to_string(&set).unwrap()).unwrap();
        assert_eq!(travelled, set, "{case}");
        insta::assert_snapshot!(format!("{case}-summary"), diff::summary(&set));
        for (name, format) in [
            ("side-by-side", Format::SideBySide),
            ("unified", Format::Unified),
            ("markdown", Format::Markdown),
            ("json", Format::Json),
        ] {
            let text = render::render(&set, &labels(), format, Options { width: 100, color: false });
            insta::assert_snapshot!(format!("{case}-{name}"), text);
        }
    }
}

#[test]
fn side_by_side_fits_the_width_with_wide_characters() {
    let set = fixture_diff("unicode");
    for width in [40, 60, 100] {
        let text = render::render(&set, &labels(), Format::SideBySide, Options { width, color: false });
        for line in text.lines() {
            let columns: usize = line.chars().map(|c| unicode_width::UnicodeWidthChar::width(c).unwrap_or(0)).sum();
            assert!(columns <= width, "width {width}: {columns} columns in {line:?}");
        }
        // Nothing is cut: with the wrapping undone, every character of the new text is there.
        let right: String = text
            .lines()
            .filter_map(|l| {
                l.split_once(" │ ")
                    .map(|(_, r)| r.trim_start_matches(|c: char| c.is_ascii_digit() || c == ' ').to_string())
            })
            .collect();
        for word in ["こんばんは", "お伺いします", "손님", "cre\u{300}me"] {
            assert!(right.replace(['{', '+', '}'], "").contains(word), "width {width}: {word} missing in {right}");
        }
    }
}

#[test]
fn colour_only_when_asked() {
    let set = fixture_diff("every-kind");
    let plain = render::render(&set, &labels(), Format::SideBySide, Options { width: 100, color: false });
    assert!(!plain.contains('\u{1b}'));
    assert!(plain.contains("[-") && plain.contains("{+"), "word marks without colour");
    let coloured = render::render(&set, &labels(), Format::SideBySide, Options { width: 100, color: true });
    assert!(coloured.contains("\u{1b}["));
}

/// A reader that counts reads, to prove what a diff does not read.
struct Counting<'a> {
    inner: &'a dyn BlobReader,
    reads: Cell<usize>,
}

impl BlobReader for Counting<'_> {
    fn size(&self, path: &str, entry: &Entry) -> Result<u64, ReadError> {
        self.inner.size(path, entry)
    }
    fn read(&self, path: &str, entry: &Entry) -> Result<Vec<u8>, ReadError> {
        self.reads.set(self.reads.get() + 1);
        self.inner.read(path, entry)
    }
}

#[test]
fn unchanged_files_are_never_read() {
    let root = fixtures().join("diff/every-kind");
    let (old, old_reader): (Snapshot, _) = dir::load(&root.join("old")).unwrap();
    let counting = Counting { inner: &old_reader, reads: Cell::new(0) };
    let set =
        diff::diff(Side { snapshot: &old, reader: &counting }, Side { snapshot: &old, reader: &counting }).unwrap();
    assert!(set.is_empty());
    assert_eq!(counting.reads.get(), 0);
    // Only the changed config files are read, once per side; README is counted, not read.
    let (new, new_reader) = dir::load(&root.join("new")).unwrap();
    let new_counting = Counting { inner: &new_reader, reads: Cell::new(0) };
    diff::diff(Side { snapshot: &old, reader: &counting }, Side { snapshot: &new, reader: &new_counting }).unwrap();
    let changed_on_both_sides = 9;
    assert_eq!(counting.reads.get(), changed_on_both_sides);
}

#[test]
fn cli_diff_defaults_to_base_and_draft() {
    let repo = TestRepo::from_example();
    let none = repo.stagecraft(&["diff"]).success();
    assert!(none.stdout.starts_with("no differences between sandbox ("), "{none}");
    assert_eq!(repo.stagecraft(&["diff", "--exit-code"]).code, 0);
    let path = "assistants/support-bot/assistant.toml";
    let text = std::fs::read_to_string(repo.root.join(path)).unwrap().replace("temperature = 0.3", "temperature = 0.5");
    repo.commit_file(path, &text);
    insta::assert_snapshot!(repo.stagecraft(&["diff"]), @"
    --- sandbox (d6a7760)
    +++ draft (9ac5071)
    @@ summary @@ support-bot: model.temperature 0.3 → 0.5
    @@ support-bot › model › temperature @@
    -0.3
    +0.5
    [exit status: 0]
    ");
    assert_eq!(repo.stagecraft(&["diff", "--exit-code"]).code, 1);
    let json = repo.stagecraft(&["diff", "--json", "v1", "draft"]).success().json();
    assert_eq!(json["format_version"], 1);
    assert_eq!(json["summary"], "support-bot: model.temperature 0.3 → 0.5");
    assert_eq!(json["assistants"][0]["changes"][0]["path"], serde_json::json!(["model", "temperature"]));
    let markdown = repo.stagecraft(&["diff", "--format", "markdown", "live"]).success();
    assert!(markdown.stdout.contains("| `model › temperature` | `0.3` | `0.5` |"), "{markdown}");
    // Another assistant has no changes; an unknown one is an error naming those that exist.
    assert!(
        repo.stagecraft(&["diff", "--assistant", "restaurant-booking"]).success().stdout.starts_with("no differences")
    );
    let unknown = repo.stagecraft(&["diff", "--assistant", "nope", "--exit-code"]);
    assert_eq!(unknown.code, 2);
    assert!(unknown.stderr.contains("hint: the assistants are: restaurant-booking, support-bot"), "{unknown}");
}

#[test]
fn cli_diff_errors_name_what_exists_and_exit_2_with_exit_code() {
    let repo = TestRepo::from_example();
    let run = repo.stagecraft(&["diff", "v9", "draft"]);
    assert_eq!(run.code, 1);
    assert!(run.stderr.contains("error: no version `v9`"), "{run}");
    assert_eq!(repo.stagecraft(&["diff", "v9", "--exit-code"]).code, 2);
    let run = repo.stagecraft(&["diff", "prod"]);
    assert!(run.stderr.contains("hint: the environments are draft → sandbox → pre-release → live"), "{run}");
}

#[test]
fn cli_diff_of_directories_needs_no_repository() {
    let env = TestEnv::new();
    let root = fixtures().join("diff/every-kind");
    let run = env.stagecraft_in(&root, &["diff", "./old", "./new", "--format", "unified"]).success();
    assert!(run.stdout.contains("@@ bot › tool handoff @@ renamed from handoff_to_human"), "{run}");
    assert_eq!(env.stagecraft_in(&root, &["diff", "./old", "./old", "--exit-code"]).code, 0);
    assert_eq!(env.stagecraft_in(&root, &["diff", "./old", "./new", "--exit-code"]).code, 1);
}

#[test]
fn cli_diff_of_a_work_tree_against_the_draft() {
    let repo = TestRepo::from_example();
    std::fs::write(repo.root.join("assistants/support-bot/instructions.md"), "Only this.\n").unwrap();
    let run = repo.stagecraft(&["diff", "draft", "."]).success();
    assert!(run.stdout.contains("@@ support-bot › instructions @@ +1 −"), "{run}");
}

#[test]
fn issue_13_operands_are_git_refs_first_slashes_included_and_directories_when_written_as_paths() {
    let repo = TestRepo::from_example();
    repo.git(&["checkout", "-q", "-b", "feature/x"]);
    let path = repo.root.join("assistants/support-bot/instructions.md");
    std::fs::write(&path, "Be brief.\n").unwrap();
    repo.git(&["commit", "-qam", "brief"]);
    repo.git(&["checkout", "-q", "draft"]);
    repo.git(&["update-ref", "refs/pull/7/head", "feature/x"]);
    repo.git(&["update-ref", "refs/remotes/origin/draft", "draft"]);
    let short = repo.git(&["rev-parse", "--short=7", "feature/x"]).trim().to_string();
    let run = repo.stagecraft(&["diff", "draft", "feature/x", "--json"]).success();
    assert_eq!(run.json()["to"]["label"], format!("feature/x ({short})"), "{run}");
    for (from, to) in [("origin/draft", "feature/x"), ("sandbox", "refs/pull/7/head")] {
        let run = repo.stagecraft(&["diff", from, to, "--exit-code"]);
        assert_eq!(run.code, 1, "{from} {to}: {run}");
        assert!(run.stdout.contains("instructions"), "{from} {to}: {run}");
    }
    repo.stagecraft(&["validate", "feature/x"]).success();
    // A name that is both a branch and a directory is ambiguous; ./ picks the directory.
    std::fs::create_dir_all(repo.root.join("feature/x/assistants")).unwrap();
    let ambiguous = repo.stagecraft(&["diff", "draft", "feature/x"]);
    assert_eq!(ambiguous.code, 2, "{ambiguous}");
    assert!(
        ambiguous.stderr.contains("`feature/x` names both a git ref (refs/heads/feature/x) and a directory"),
        "{ambiguous}"
    );
    let directory = repo.stagecraft(&["validate", "./feature/x"]);
    assert!(!directory.stderr.contains("names both"), "{directory}");
}
