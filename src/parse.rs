//! Builds the typed [`Config`] of one tree from its [`Snapshot`], reading each file through
//! a [`BlobReader`] only when a rule needs its content, and collects every validation
//! finding of the tree on the way. Only `assistants/` and `channels.toml` are
//! read; everything else in the tree is left alone. Pure: the reader does the I/O.

use std::any::Any;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

use crate::model::ids::is_valid_id;
use crate::model::{Assistant, BlobReader, Chain, Config, Entry, EntryKind, Id, ObjectId, Snapshot};
use crate::validate::walk::FileCheck;
use crate::validate::{Diagnostic, limits, rules, sort, suggestion};

/// The directory that holds the assistants.
pub const ASSISTANTS_DIR: &str = "assistants/";
/// The channel bindings file.
pub const CHANNELS_FILE: &str = "channels.toml";

/// What may sit directly in an assistant's directory.
const ASSISTANT_ENTRIES: [&str; 7] =
    ["assistant.toml", "instructions.md", "knowledge", "files", "tools", "guardrails", "tests"];

/// True when stagecraft reads `path`; other files are "other files".
pub fn is_config_path(path: &str) -> bool {
    path == CHANNELS_FILE || path.starts_with(ASSISTANTS_DIR)
}

/// Loads and validates a tree. The config holds every item that validated; the
/// diagnostics, sorted by file and line, every finding. An empty list means the tree is valid.
pub fn load(snapshot: &Snapshot, reader: &dyn BlobReader, chain: &Chain) -> (Config, Vec<Diagnostic>) {
    load_cached(snapshot, reader, chain, &mut AssistantCache::default())
}

/// [`load`], reusing what `cache` holds of assistants loaded before: an assistant
/// whose files (paths and blob ids) are those of one loaded earlier is not read again,
/// so a change to one assistant of many re-reads that one. The tree's layout and
/// `channels.toml`, which span assistants, are checked every time.
pub fn load_cached(
    snapshot: &Snapshot,
    reader: &dyn BlobReader,
    chain: &Chain,
    cache: &mut AssistantCache,
) -> (Config, Vec<Diagnostic>) {
    let mut diagnostics = Vec::new();
    check_entry_names(snapshot, &mut diagnostics);
    let layout = Layout::of(snapshot, &mut diagnostics);
    let mut config = Config::default();
    cache.loads += 1;
    for (dir_name, files) in &layout.assistants {
        let loaded = cache.get_or_load(dir_name, files, reader);
        diagnostics.extend(loaded.diagnostics.iter().cloned());
        if let Some(assistant) = &loaded.assistant {
            config.assistants.insert(assistant.id.clone(), assistant.clone());
        }
    }
    cache.trim(layout.assistants.len(), snapshot.len());
    if let Some(entry) = snapshot.get(CHANNELS_FILE) {
        let assistant_names: BTreeSet<String> = layout.assistants.keys().cloned().collect();
        if let Some(text) = read_text(CHANNELS_FILE, entry, limits::TOML, reader, &mut diagnostics) {
            let mut check = FileCheck::new(CHANNELS_FILE, &text);
            if let Some(doc) = check.parse()
                && let Some(channels) = rules::channels(&mut check, doc, chain, &assistant_names)
            {
                config.channels = channels;
            }
            diagnostics.append(&mut check.diagnostics);
        }
    }
    sort(&mut diagnostics);
    (config, diagnostics)
}

/// The files of one assistant directory, by path relative to it.
type AssistantFiles<'s> = BTreeMap<&'s str, &'s Entry>;

/// Assistants loaded before, by directory name and files (see [`load_cached`]).
#[derive(Debug, Default)]
pub struct AssistantCache {
    entries: HashMap<AssistantKey, (u64, Arc<LoadedAssistant>)>,
    /// Files whose checks depend on nothing but their own bytes (`assistant.toml`,
    /// tools, guardrails), by path and blob id: a changed assistant re-reads only its
    /// changed files.
    files: FileMemo,
    /// Loads so far; an entry remembers the last load that used it.
    loads: u64,
}

/// An assistant directory's name and the SHA-256 of its files (paths relative to it,
/// blob ids and kinds), as a git tree id names a directory's content.
type AssistantKey = (String, [u8; 32]);

fn files_digest(files: &AssistantFiles<'_>) -> [u8; 32] {
    use sha2::{Digest, Sha256};
    let mut hasher = Sha256::new();
    for (path, entry) in files {
        hasher.update(path.as_bytes());
        hasher.update([0, entry.kind as u8]);
        hasher.update(entry.id.0);
    }
    hasher.finalize().into()
}

/// One assistant directory, loaded: the assistant when it validated, and its findings.
#[derive(Debug)]
struct LoadedAssistant {
    assistant: Option<Arc<Assistant>>,
    diagnostics: Vec<Diagnostic>,
}

impl AssistantCache {
    /// Entries unused for this many loads go when the cache grows past its bound.
    const KEEP_LOADS: u64 = 16;

    fn get_or_load(
        &mut self,
        dir_name: &str,
        files: &AssistantFiles<'_>,
        reader: &dyn BlobReader,
    ) -> Arc<LoadedAssistant> {
        let key = (dir_name.to_string(), files_digest(files));
        if let Some((used, loaded)) = self.entries.get_mut(&key) {
            *used = self.loads;
            return loaded.clone();
        }
        let mut diagnostics = Vec::new();
        let mut memo = Memo { files: &mut self.files, load: self.loads };
        let assistant = load_assistant(dir_name, files, reader, &mut diagnostics, &mut memo).map(Arc::new);
        let loaded = Arc::new(LoadedAssistant { assistant, diagnostics });
        self.entries.insert(key, (self.loads, loaded.clone()));
        loaded
    }

    /// Bounds the cache: past a few versions of every assistant (and file) of the last
    /// tree, only the entries of the last [`Self::KEEP_LOADS`] loads stay.
    fn trim(&mut self, assistants: usize, files: usize) {
        let since = self.loads.saturating_sub(Self::KEEP_LOADS);
        if self.entries.len() > 4 * assistants.max(16) {
            self.entries.retain(|_, (used, _)| *used > since);
        }
        if self.files.len() > 4 * files.max(256) {
            self.files.retain(|_, (used, _, _)| *used > since);
        }
    }
}

/// Checked files by path and blob id: the last load that used each, the value when it
/// validated, and its findings.
type FileMemo = HashMap<(String, ObjectId), (u64, Option<Arc<dyn Any + Send + Sync>>, Vec<Diagnostic>)>;

/// The file memo of one load.
struct Memo<'m> {
    files: &'m mut FileMemo,
    load: u64,
}

impl Memo<'_> {
    /// [`with_toml`] for a file whose checks depend only on its bytes: once per path
    /// and blob id.
    fn toml<T: Clone + Send + Sync + 'static>(
        &mut self,
        path: &str,
        entry: &Entry,
        reader: &dyn BlobReader,
        diagnostics: &mut Vec<Diagnostic>,
        rule: impl FnOnce(&mut FileCheck<'_>, toml::Spanned<toml::de::DeTable<'_>>) -> Option<T>,
    ) -> Option<T> {
        let key = (path.to_string(), entry.id);
        if let Some((used, value, found)) = self.files.get_mut(&key) {
            *used = self.load;
            diagnostics.extend(found.iter().cloned());
            return value.as_ref().and_then(|v| v.downcast_ref::<T>()).cloned();
        }
        let mut found = Vec::new();
        let value = with_toml(path, entry, reader, &mut found, rule);
        diagnostics.extend(found.iter().cloned());
        let stored = value.clone().map(|v| Arc::new(v) as Arc<dyn Any + Send + Sync>);
        self.files.insert(key, (self.load, stored, found));
        value
    }
}

/// Refuses, anywhere in the tree, what a checkout or git itself treats specially: the
/// names `.`, `..` and `.git` (in any case), names with a backslash or a control
/// character, and symbolic links (those under `assistants/` are reported by the layout).
/// A tree made with `git mktree` can hold them; `git fsck` flags them, and a checkout
/// of them can write outside the work tree.
fn check_entry_names(snapshot: &Snapshot, diagnostics: &mut Vec<Diagnostic>) {
    let mut reported = BTreeSet::new();
    for (path, entry) in snapshot.entries() {
        let mut prefix = String::new();
        for name in path.split('/') {
            prefix.push_str(name);
            let why = if name.is_empty() || name == "." || name == ".." {
                Some("is a path step, not a name")
            } else if name.eq_ignore_ascii_case(".git") {
                Some("is git's own directory")
            } else if name.contains('\\') {
                Some("holds a backslash, a directory separator on Windows")
            } else if name.chars().any(char::is_control) {
                Some("holds a control character")
            } else {
                None
            };
            if let Some(why) = why
                && reported.insert(prefix.clone())
            {
                let shown: String = prefix.chars().flat_map(char::escape_debug).collect();
                diagnostics.push(Diagnostic::whole(
                    shown.clone(),
                    format!("`{shown}` is not a safe name for a file or directory: it {why}"),
                    Some(
                        "remove or rename it (git fsck flags it, and a checkout could write outside the work tree)"
                            .into(),
                    ),
                ));
                break;
            }
            prefix.push('/');
        }
        if entry.kind == EntryKind::Symlink && !path.starts_with(ASSISTANTS_DIR) && reported.insert(path.clone()) {
            diagnostics.push(Diagnostic::whole(
                path,
                "a symbolic link is not allowed in a config tree",
                Some("replace it with a regular file holding the content".into()),
            ));
        }
    }
}

/// The shape of `assistants/`: which assistant directories exist and what they hold.
/// Shape errors (bad ids, unknown entries, symbolic links) are reported here, once.
struct Layout<'s> {
    assistants: BTreeMap<String, AssistantFiles<'s>>,
}

impl<'s> Layout<'s> {
    fn of(snapshot: &'s Snapshot, diagnostics: &mut Vec<Diagnostic>) -> Layout<'s> {
        let mut assistants: BTreeMap<String, Vec<(&'s str, &'s Entry)>> = BTreeMap::new();
        let mut reported_dirs = BTreeSet::new();
        for (path, entry) in snapshot.under(ASSISTANTS_DIR) {
            let rest = &path[ASSISTANTS_DIR.len()..];
            if matches!(entry.kind, EntryKind::Symlink | EntryKind::Submodule) {
                let what = if entry.kind == EntryKind::Symlink { "a symbolic link" } else { "a git submodule" };
                diagnostics.push(Diagnostic::whole(
                    path,
                    format!("{what} is not allowed under assistants/"),
                    Some("replace it with a regular file holding the content".into()),
                ));
                continue;
            }
            let Some((dir_name, inner)) = rest.split_once('/') else {
                diagnostics.push(Diagnostic::whole(
                    path,
                    "a file directly under assistants/ is not allowed",
                    Some("put each assistant in its own directory, assistants/<id>/".into()),
                ));
                continue;
            };
            // An assistant with an invalid id is reported once and not loaded, but its
            // entries are still checked so that every finding shows at once.
            let valid_dir = is_valid_id(dir_name);
            if !valid_dir && reported_dirs.insert(format!("{ASSISTANTS_DIR}{dir_name}/")) {
                diagnostics.push(Diagnostic::whole(
                    format!("{ASSISTANTS_DIR}{dir_name}/"),
                    format!("`{dir_name}` is not a valid assistant id"),
                    Some(rules::id_hint(dir_name)),
                ));
            }
            let top = inner.split('/').next().unwrap_or(inner);
            let is_dir = inner.contains('/');
            let known = if is_dir {
                ["knowledge", "files", "tools", "guardrails", "tests"].contains(&top)
            } else {
                ["assistant.toml", "instructions.md"].contains(&top)
            };
            if !known {
                let shown = if is_dir { format!("{ASSISTANTS_DIR}{dir_name}/{top}/") } else { path.clone() };
                if reported_dirs.insert(shown.clone()) {
                    let what = if is_dir { "directory" } else { "file" };
                    diagnostics.push(Diagnostic::whole(
                        shown,
                        format!("unknown {what} `{top}` in assistant `{dir_name}`"),
                        Some(suggestion(top, &ASSISTANT_ENTRIES, "entrie")),
                    ));
                }
                continue;
            }
            if let Some(item) = inner.strip_prefix(top).and_then(|r| r.strip_prefix('/'))
                && top != "files"
            {
                let stem = item.strip_suffix(".toml");
                let problem = match stem {
                    _ if item.contains('/') => Some((
                        format!("subdirectories are not allowed in {top}/"),
                        format!("move the file directly into {top}/"),
                    )),
                    None => Some((
                        format!("only .toml files are allowed in {top}/"),
                        format!("rename it to <id>.toml, or move it out of {top}/"),
                    )),
                    Some(stem) if !is_valid_id(stem) => {
                        Some((format!("`{stem}` is not a valid id"), rules::id_hint(stem)))
                    }
                    Some(_) => None,
                };
                if let Some((message, hint)) = problem {
                    diagnostics.push(Diagnostic::whole(path, message, Some(hint)));
                    continue;
                }
            }
            if valid_dir {
                match assistants.get_mut(dir_name) {
                    Some(files) => files.push((inner, entry)),
                    None => assistants.entry(dir_name.to_string()).or_default().push((inner, entry)),
                }
            }
        }
        // Built in bulk: the snapshot's paths come in order.
        let assistants = assistants.into_iter().map(|(dir, files)| (dir, files.into_iter().collect())).collect();
        Layout { assistants }
    }
}

fn load_assistant(
    dir_name: &str,
    files: &AssistantFiles<'_>,
    reader: &dyn BlobReader,
    diagnostics: &mut Vec<Diagnostic>,
    memo: &mut Memo<'_>,
) -> Option<Assistant> {
    let dir = format!("{ASSISTANTS_DIR}{dir_name}/");
    let id = Id::new(dir_name).expect("the layout keeps only valid ids");
    let mut complete = true;
    for required in ["assistant.toml", "instructions.md"] {
        if !files.contains_key(required) {
            complete = false;
            diagnostics.push(Diagnostic::whole(
                format!("{dir}{required}"),
                format!("assistant `{dir_name}` has no {required}"),
                Some(format!("create {dir}{required}; every assistant needs one")),
            ));
        }
    }
    // files/: existence and size only; content is read when a diff or delivery needs it.
    let mut file_ids = BTreeMap::new();
    for (inner, entry) in files.iter().filter(|(inner, _)| inner.starts_with("files/")) {
        let path = format!("{dir}{inner}");
        match reader.size(&path, entry) {
            Ok(size) if size > limits::FILE => diagnostics.push(too_large(&path, size, limits::FILE)),
            Ok(_) => {}
            Err(error) => diagnostics.push(Diagnostic::whole(&path, error.to_string(), None)),
        }
        file_ids.insert(inner["files/".len()..].to_string(), entry.id);
    }
    let file_names: BTreeSet<String> = file_ids.keys().cloned().collect();
    let tool_names: BTreeSet<String> = items(files, "tools").map(|(id, _)| id.to_string()).collect();

    let meta = files.get("assistant.toml").and_then(|entry| {
        memo.toml(&format!("{dir}assistant.toml"), entry, reader, diagnostics, rules::assistant_toml)
    });
    let instructions = files.get("instructions.md").and_then(|entry| {
        read_text(&format!("{dir}instructions.md"), entry, limits::INSTRUCTIONS, reader, diagnostics)
    });
    let mut knowledge = BTreeMap::new();
    for (item, entry) in items(files, "knowledge") {
        if let Some(value) =
            with_toml(&format!("{dir}knowledge/{item}.toml"), entry, reader, diagnostics, |check, doc| {
                rules::knowledge(check, doc, &file_names)
            })
        {
            knowledge.insert(Id::new(item).expect("checked by the layout"), value);
        }
    }
    let mut tools = BTreeMap::new();
    for (item, entry) in items(files, "tools") {
        if let Some(value) = memo.toml(&format!("{dir}tools/{item}.toml"), entry, reader, diagnostics, rules::tool) {
            tools.insert(Id::new(item).expect("checked by the layout"), value);
        }
    }
    let mut guardrails = BTreeMap::new();
    for (item, entry) in items(files, "guardrails") {
        if let Some(value) =
            memo.toml(&format!("{dir}guardrails/{item}.toml"), entry, reader, diagnostics, rules::guardrail)
        {
            guardrails.insert(Id::new(item).expect("checked by the layout"), value);
        }
    }
    let mut tests = BTreeMap::new();
    for (item, entry) in items(files, "tests") {
        if let Some(value) = with_toml(&format!("{dir}tests/{item}.toml"), entry, reader, diagnostics, |check, doc| {
            rules::test_case(check, doc, &tool_names)
        }) {
            tests.insert(Id::new(item).expect("checked by the layout"), value);
        }
    }
    if !complete {
        return None;
    }
    Some(Assistant {
        id,
        meta: meta?,
        instructions: instructions?,
        knowledge,
        files: file_ids,
        tools,
        guardrails,
        tests,
    })
}

/// The `(<id>, entry)` pairs of `knowledge/`, `tools/`, … (the layout kept only `<id>.toml`).
fn items<'a, 's>(files: &'a AssistantFiles<'s>, dir: &'a str) -> impl Iterator<Item = (&'s str, &'s Entry)> + 'a {
    files.iter().filter_map(move |(inner, entry)| {
        let item = inner.strip_prefix(dir)?.strip_prefix('/')?.strip_suffix(".toml")?;
        Some((item, *entry))
    })
}

/// Reads, parses and checks one TOML file with `rule`.
fn with_toml<T>(
    path: &str,
    entry: &Entry,
    reader: &dyn BlobReader,
    diagnostics: &mut Vec<Diagnostic>,
    rule: impl FnOnce(&mut FileCheck<'_>, toml::Spanned<toml::de::DeTable<'_>>) -> Option<T>,
) -> Option<T> {
    let text = read_text(path, entry, limits::TOML, reader, diagnostics)?;
    let mut check = FileCheck::new(path, &text);
    let value = check.parse().and_then(|doc| rule(&mut check, doc));
    diagnostics.append(&mut check.diagnostics);
    value
}

/// Reads a text file: its size first (against `limit`), then its bytes, which must be UTF-8.
fn read_text(
    path: &str,
    entry: &Entry,
    limit: u64,
    reader: &dyn BlobReader,
    diagnostics: &mut Vec<Diagnostic>,
) -> Option<String> {
    let size = match reader.size(path, entry) {
        Ok(size) => size,
        Err(error) => {
            diagnostics.push(Diagnostic::whole(path, error.to_string(), None));
            return None;
        }
    };
    if size > limit {
        diagnostics.push(too_large(path, size, limit));
        return None;
    }
    let bytes = match reader.read(path, entry) {
        Ok(bytes) => bytes,
        Err(error) => {
            diagnostics.push(Diagnostic::whole(path, error.to_string(), None));
            return None;
        }
    };
    match String::from_utf8(bytes) {
        Ok(text) => Some(text),
        Err(error) => {
            let bytes = error.as_bytes();
            let valid_up_to = error.utf8_error().valid_up_to();
            let before = String::from_utf8_lossy(&bytes[..valid_up_to]);
            let line = before.matches('\n').count() + 1;
            let column = before.rsplit('\n').next().unwrap_or("").chars().count() + 1;
            diagnostics.push(Diagnostic {
                file: path.to_string(),
                line: line as u32,
                column: column as u32,
                message: format!("not valid UTF-8 (byte 0x{:02x} at offset {valid_up_to})", bytes[valid_up_to]),
                hint: Some("save the file as UTF-8".into()),
                snippet: None,
            });
            None
        }
    }
}

fn too_large(path: &str, size: u64, limit: u64) -> Diagnostic {
    Diagnostic::whole(
        path,
        format!("file is {} , over the limit of {}", human_size(size), human_size(limit)).replace(" ,", ","),
        Some("split the content or move it out of the repository".into()),
    )
}

/// `1.5 MiB`, `20 MiB`, `512 bytes`.
pub fn human_size(bytes: u64) -> String {
    const MIB: f64 = 1024.0 * 1024.0;
    if bytes >= 1024 * 1024 {
        let mib = bytes as f64 / MIB;
        if mib.fract() == 0.0 { format!("{mib:.0} MiB") } else { format!("{mib:.1} MiB") }
    } else if bytes >= 1024 {
        format!("{:.1} KiB", bytes as f64 / 1024.0)
    } else {
        format!("{bytes} bytes")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::EnvName;

    /// The example tree with one file's content replaced.
    fn example_with(path: &str, change: impl Fn(&str) -> String) -> (Snapshot, crate::model::MemoryBlobs) {
        let (snapshot, blobs) = crate::example::snapshot();
        let files: Vec<(String, Vec<u8>)> = snapshot
            .entries()
            .iter()
            .map(|(p, entry)| {
                let bytes = blobs.read(p, entry).unwrap();
                let bytes = if p == path { change(std::str::from_utf8(&bytes).unwrap()).into_bytes() } else { bytes };
                (p.clone(), bytes)
            })
            .collect();
        crate::store::memory_tree(files.iter().map(|(p, b)| (p.clone(), b.as_slice())))
    }

    #[test]
    fn a_cached_load_equals_a_fresh_one_and_rereads_only_changed_assistants() {
        let chain = Chain::default_chain();
        let path = "assistants/support-bot/assistant.toml";
        let trees = [
            crate::example::snapshot(),
            example_with(path, |t| t.replace("temperature = 0.3", "temperature = 0.4")),
            example_with(path, |t| t.replace("temperature = 0.3", "temperature = \"warm\"")),
            crate::example::snapshot(),
            example_with("assistants/support-bot/tools/lookup_order.toml", |t| format!("{t}\nbogus = 1\n")),
            crate::example::snapshot(),
        ];
        let mut cache = AssistantCache::default();
        let mut loaded = Vec::new();
        for (snapshot, blobs) in &trees {
            let cached = load_cached(snapshot, blobs, &chain, &mut cache);
            assert_eq!(cached, load(snapshot, blobs, &chain), "the same config and findings as a fresh load");
            loaded.push(cached);
        }
        assert!(!loaded[2].1.is_empty(), "the third tree does not validate");
        assert!(loaded[4].1.iter().any(|d| d.file.ends_with("lookup_order.toml")), "nor the fifth: {:?}", loaded[4].1);
        assert_eq!(loaded[5], loaded[0], "and the example comes back whole");
        let bot =
            |i: usize, id: &str| loaded[i].0.assistants.iter().find(|(k, _)| k.as_str() == id).map(|(_, a)| a.clone());
        let (other, changed) = ("restaurant-booking", "support-bot");
        assert!(Arc::ptr_eq(&bot(0, other).unwrap(), &bot(1, other).unwrap()), "an unchanged assistant is reused");
        assert!(!Arc::ptr_eq(&bot(0, changed).unwrap(), &bot(1, changed).unwrap()), "a changed one is read again");
        assert!(bot(2, changed).is_none(), "an invalid assistant is left out, its findings kept");
        assert!(Arc::ptr_eq(&bot(0, changed).unwrap(), &bot(3, changed).unwrap()), "an earlier version comes back");

        // The delivered states from a shared cache equal fresh ones, in every environment.
        let mut states = crate::webhook::plan::StateCache::default();
        for (config, _) in &loaded {
            for env in ["draft", "live"] {
                let env = EnvName::new(env).unwrap();
                let file = |_: &crate::model::AssistantId, _: &str| None;
                assert_eq!(
                    crate::webhook::plan::environment_states_cached(&env, config, &file, &mut states),
                    crate::webhook::plan::environment_states(&env, config, &file)
                );
            }
        }
    }
}
