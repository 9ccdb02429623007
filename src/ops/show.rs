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
    let (actor, time, text) = match tag {
        Some((tagger, when, message)) => (tagger.to_string(), when.to_rfc3339(), message),
        None => (commit.author.to_string(), commit.committer_time.to_rfc3339(), String::new()),
    };
    let description =
        commit.message.description.clone().or_else(|| (!text.trim().is_empty()).then(|| text.trim().to_string()));
    Ok(VersionInfo {
        version: version.number(),
        commit: tagged.commit.to_hex(),
        actor,
        time,
        description,
        summary: commit.message.summary.clone(),
        deployed: state
            .envs
            .iter()
            .skip(1)
            .filter(|e| e.current.version() == Some(version))
            .map(|e| e.env.to_string())
            .collect(),
        on_hold: state.envs.iter().filter(|e| e.holds.contains(&version)).map(|e| e.env.to_string()).collect(),
    })
}
