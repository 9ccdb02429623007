//! `show vN`: one version: who published it and when, its description and summary, and
//! where it is deployed now and on hold.
//!
//! I/O: git, through `store`.

use super::read::read_state;
use crate::error::Error;
use crate::model::Version;
use crate::store::Store;
use crate::wire::VersionInfo;

pub fn show(store: &Store, version: Version) -> Result<VersionInfo, Error> {
    let state = read_state(store)?;
    let tagged = state.version(store, version)?;
    let tag = store.tag_info(version)?;
    let commit = store.commit_info(tagged.commit)?;
    let (tagger, time, text) = match tag {
        Some((tagger, when, message)) => (tagger.to_string(), when.to_rfc3339(), message),
        None => (commit.author.to_string(), commit.committer_time.to_rfc3339(), String::new()),
    };
    // Who asked, as history says it: the trailer (`token:ci` for an API write, whose
    // tag carries the daemon's identity), else the tagger.
    let actor = commit.message.get(crate::history::ACTOR).map_or(tagger, str::to_string);
    let description =
        commit.message.description.clone().or_else(|| (!text.trim().is_empty()).then(|| text.trim().to_string()));
    Ok(VersionInfo {
        version: version.number(),
        commit: tagged.commit.to_hex(),
        actor,
        time,
        description,
        summary: commit.message.summary.clone(),
        // Deployed: the environment's current version, or a tip with this version's tree.
        deployed: state
            .envs
            .iter()
            .skip(1)
            .filter(|e| e.current.version() == Some(version) || e.tip.tree == tagged.tree)
            .map(|e| e.env.to_string())
            .collect(),
        on_hold: state.envs.iter().filter(|e| e.holds.contains(&version)).map(|e| e.env.to_string()).collect(),
        tests: super::read::notes::latest_tests(store, tagged.commit),
    })
}
