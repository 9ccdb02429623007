//! Which versions an environment has deployed, now or before: the versions of the
//! commits on its first-parent history (a commit's own `Stagecraft-Version` trailer,
//! else its highest `vN` tag, else a version with the same tree).
//!
//! The whole set needs the whole history, which is long (100,000 commits on a busy
//! base environment), so the walk is kept in a cache file per environment
//! (`stagecraft/deployed-ENV` in the git directory): the tip it was taken at, the
//! trailer versions (fixed by the commit ids), and the commits without a trailer, whose
//! tags and trees are looked up again on every read since a tag can be added later. A
//! newer tip walks only the commits since the cached one; a tip whose history does not
//! hold the cached one (a forced push) walks again from the start. So the answer is the
//! same as a full walk's, and the first read after a clone pays for the walk once.
//!
//! I/O: git and the cache file, through `store`.

use std::collections::{BTreeMap, BTreeSet};

use super::state::{RepoState, facts};
use crate::error::Error;
use crate::model::{EnvName, ObjectId, Version};
use crate::store::Store;

/// Every version `env` has deployed (see the module's documentation).
pub fn deployed(store: &Store, state: &RepoState, env: &EnvName) -> Result<BTreeSet<Version>, Error> {
    let tip = state.env(env).tip.id;
    let name = format!("deployed-{env}");
    let cached = store.read_cache(&name).and_then(|bytes| Walked::parse(&bytes));
    let walked = match cached {
        Some(cached) if cached.tip == tip => cached,
        cached => {
            let walked = walk(store, tip, cached)?;
            store.write_cache(&name, walked.to_text().as_bytes());
            walked
        }
    };
    let mut deployed = walked.own;
    if walked.loose.is_empty() {
        return Ok(deployed);
    }
    let by_tree: BTreeMap<ObjectId, Version> = state.index.all(store)?.values().map(|t| (t.tree, t.version)).collect();
    for (commit, tree) in &walked.loose {
        let tagged = state.index.tags_of(store, *commit)?.into_iter().max();
        if let Some(version) = tagged.or_else(|| by_tree.get(tree).copied()) {
            deployed.insert(version);
        }
    }
    Ok(deployed)
}

/// Whether `env` ever deployed `version`, walking only as far as its first sight (a
/// promotion's source is usually its environment's tip, so one commit is read).
pub fn has_deployed(store: &Store, state: &RepoState, env: &EnvName, version: Version) -> Result<bool, Error> {
    let mut by_tree: Option<BTreeMap<ObjectId, Version>> = None;
    let mut next = Some(state.env(env).tip.id);
    while let Some(id) = next {
        let info = store.commit_info(id)?;
        let own = facts(store, &info, &state.index)?;
        let found = match own.trailer_version.or_else(|| own.tags.iter().max().copied()) {
            Some(found) => Some(found),
            None => {
                if by_tree.is_none() {
                    by_tree = Some(state.index.all(store)?.values().map(|t| (t.tree, t.version)).collect());
                }
                by_tree.as_ref().and_then(|m| m.get(&info.tree)).copied()
            }
        };
        if found == Some(version) {
            return Ok(true);
        }
        next = info.parents.first().copied();
    }
    Ok(false)
}

/// The first-parent history from `tip`, joining `cached` where the walk reaches its tip.
fn walk(store: &Store, tip: ObjectId, cached: Option<Walked>) -> Result<Walked, Error> {
    let mut walked = Walked { tip, own: BTreeSet::new(), loose: Vec::new() };
    let mut next = Some(tip);
    while let Some(id) = next {
        if let Some(cached) = cached.as_ref().filter(|cached| cached.tip == id) {
            walked.own.extend(cached.own.iter().copied());
            walked.loose.extend(cached.loose.iter().copied());
            break;
        }
        let info = store.commit_info(id)?;
        match info.message.version() {
            Some(version) => {
                walked.own.insert(version);
            }
            None => walked.loose.push((id, info.tree)),
        }
        next = info.parents.first().copied();
    }
    Ok(walked)
}

/// One walk of an environment's first-parent history, as the cache keeps it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Walked {
    /// The commit the walk started from.
    tip: ObjectId,
    /// The versions of the commits with a `Stagecraft-Version` trailer.
    own: BTreeSet<Version>,
    /// The commits without one, and their trees.
    loose: Vec<(ObjectId, ObjectId)>,
}

const HEADER: &str = "stagecraft deployed 1";

impl Walked {
    /// `HEADER`, `tip ID`, `own 1-40,42` (runs of versions), then `loose COMMIT TREE` lines.
    fn to_text(&self) -> String {
        let mut runs: Vec<(u32, u32)> = Vec::new();
        for number in self.own.iter().map(|v| v.number()) {
            match runs.last_mut() {
                Some((_, end)) if *end + 1 == number => *end = number,
                _ => runs.push((number, number)),
            }
        }
        let runs: Vec<String> =
            runs.iter().map(|(a, b)| if a == b { a.to_string() } else { format!("{a}-{b}") }).collect();
        let mut text = format!("{HEADER}\ntip {}\nown {}\n", self.tip.to_hex(), runs.join(","));
        for (commit, tree) in &self.loose {
            text.push_str(&format!("loose {} {}\n", commit.to_hex(), tree.to_hex()));
        }
        text
    }

    /// The cache's text, or `None` when it is not one this code wrote (then the walk runs again).
    fn parse(bytes: &[u8]) -> Option<Walked> {
        let text = std::str::from_utf8(bytes).ok()?;
        let mut lines = text.lines();
        (lines.next()? == HEADER).then_some(())?;
        let tip = ObjectId::from_hex(lines.next()?.strip_prefix("tip ")?)?;
        let mut own = BTreeSet::new();
        for run in lines.next()?.strip_prefix("own ")?.split(',').filter(|run| !run.is_empty()) {
            let (first, last) = run.split_once('-').unwrap_or((run, run));
            let (first, last): (u32, u32) = (first.parse().ok()?, last.parse().ok()?);
            if first > last {
                return None;
            }
            for number in first..=last {
                own.insert(Version::new(number)?);
            }
        }
        let mut loose = Vec::new();
        for line in lines {
            let (commit, tree) = line.strip_prefix("loose ")?.split_once(' ')?;
            loose.push((ObjectId::from_hex(commit)?, ObjectId::from_hex(tree)?));
        }
        Some(Walked { tip, own, loose })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(byte: u8) -> ObjectId {
        ObjectId([byte; 20])
    }

    #[test]
    fn the_cache_text_reads_back_as_written() {
        let own = [1, 2, 3, 5, 7, 8].into_iter().filter_map(Version::new).collect();
        let walked = Walked { tip: id(1), own, loose: vec![(id(2), id(3))] };
        let text = walked.to_text();
        assert!(text.contains("\nown 1-3,5,7-8\n"), "{text}");
        assert_eq!(Walked::parse(text.as_bytes()), Some(walked));
    }

    #[test]
    fn a_cache_it_did_not_write_is_not_read() {
        let good = Walked { tip: id(1), own: BTreeSet::new(), loose: Vec::new() }.to_text();
        assert!(Walked::parse(good.as_bytes()).is_some());
        for bad in ["", "stagecraft deployed 2\n", &good.replace("own ", "own 9-3"), &good.replace("tip ", "tip x")] {
            assert_eq!(Walked::parse(bad.as_bytes()), None, "{bad:?}");
        }
    }
}
