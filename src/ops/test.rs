//! `test`: which state is tested (an environment, a version or the draft) and its cases,
//! and the record a finished run leaves on the version's commit (a git note, pushed at
//! once in remote mode). Running the cases is [`crate::tester`]'s.
//!
//! I/O: git, through `store`.

use std::sync::Arc;

use super::read::read_state;
use crate::error::Error;
use crate::identity::{Person, When};
use crate::model::{Config, EnvName, ObjectId, Version};
use crate::parse;
use crate::store::Store;
use crate::testing::Planned;
use crate::testing::record::{self, NOTES_REF, TestRecord};

/// What is tested.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Subject {
    /// An environment's tip (its current version, when it has one).
    Env(String),
    Version(Version),
    Draft,
}

/// A state ready to test.
#[derive(Debug, Clone)]
pub struct Tested {
    /// The run is narrowed to some cases (`assistant support-bot`, `case order-status`).
    pub scope: Option<String>,
    /// "sandbox (v3)", "v3", "the draft (1a2b3c4)".
    pub label: String,
    /// The environment named with `--env`.
    pub environment: Option<EnvName>,
    /// The version tested, and its commit (where the record goes).
    pub version: Option<(Version, ObjectId)>,
    pub config: Config,
}

impl Tested {
    /// The cases to run, in order (assistant, then case), narrowed to `assistant` and `case`.
    pub fn cases(&mut self, assistant: Option<&str>, case: Option<&str>) -> Result<Vec<Planned>, Error> {
        self.scope = match (assistant, case) {
            (_, Some(case)) => Some(format!("case {case}")),
            (Some(assistant), None) => Some(format!("assistant {assistant}")),
            (None, None) => None,
        };
        if let Some(wanted) = assistant
            && !self.config.assistants.keys().any(|id| id.as_str() == wanted)
        {
            let known: Vec<&str> = self.config.assistants.keys().map(|id| id.as_str()).collect();
            return Err(Error::NotFound {
                what: "assistant",
                name: wanted.to_string(),
                hint: format!("{} has {}", self.label, known.join(", ")),
            });
        }
        let mut cases = Vec::new();
        for (id, assistant_config) in &self.config.assistants {
            if assistant.is_some_and(|wanted| wanted != id.as_str()) {
                continue;
            }
            for (name, test) in &assistant_config.tests {
                if case.is_some_and(|wanted| wanted != name.as_str()) {
                    continue;
                }
                cases.push(Planned {
                    assistant: Arc::clone(assistant_config),
                    case: name.to_string(),
                    test: test.clone(),
                });
            }
        }
        if cases.is_empty() {
            let what = match (assistant, case) {
                (_, Some(case)) => format!("no case `{case}`"),
                (Some(assistant), None) => format!("{assistant} has no cases"),
                (None, None) => "no cases".to_string(),
            };
            return Err(Error::NotFound {
                what: "test case",
                name: format!("{what} in {}", self.label),
                hint: "cases are the files assistants/<id>/tests/<case>.toml".into(),
            });
        }
        Ok(cases)
    }
}

/// Reads the state to test; it must validate.
pub fn prepare(store: &Store, subject: &Subject) -> Result<Tested, Error> {
    let state = read_state(store)?;
    let (label, environment, version, commit) = match subject {
        Subject::Env(name) => {
            let env = state.env_named(name)?;
            let version = env.current.version();
            let label = match version {
                Some(version) => format!("{} ({version})", env.env),
                None => format!("{} ({})", env.env, env.tip.id.short()),
            };
            let environment = (env.env != *state.chain.draft()).then(|| env.env.clone());
            (label, environment, version, env.tip.id)
        }
        Subject::Version(version) => {
            let tagged = state.version(store, *version)?;
            (version.to_string(), None, Some(*version), tagged.commit)
        }
        Subject::Draft => {
            let draft = state.draft();
            (format!("the draft ({})", draft.tip.id.short()), None, None, draft.tip.id)
        }
    };
    let snapshot = store.snapshot(commit)?;
    let (config, diagnostics) = parse::load(&snapshot, &store.blobs(), &state.chain);
    if !diagnostics.is_empty() {
        return Err(Error::Invalid { origin: label, diagnostics });
    }
    let version = match version {
        Some(version) => Some((version, state.version(store, version)?.commit)),
        None => None,
    };
    Ok(Tested { scope: None, label, environment, version, config })
}

/// Records a finished run (passed and failed counts) on the version's commit, by `by`
/// (`Name <email>` or `token:<name>`), the note signed by `signer`; nothing for the
/// draft or a state without a version.
pub fn record(
    store: &Store,
    tested: &Tested,
    target: &str,
    (passed, failed): (usize, usize),
    by: &str,
    signer: &Person,
    when: When,
) -> Result<Option<TestRecord>, Error> {
    let Some((version, commit)) = tested.version else { return Ok(None) };
    let entry = TestRecord {
        version: version.number(),
        environment: tested.environment.as_ref().map(ToString::to_string),
        target: target.to_string(),
        passed,
        failed,
        scope: tested.scope.clone(),
        at: when.to_utc_rfc3339(),
        by: by.to_string(),
    };
    store.edit_note(NOTES_REF, commit, signer, when, &|old| record::append(old, &entry))?;
    Ok(Some(entry))
}
