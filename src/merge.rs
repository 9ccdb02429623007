//! Three-way merge of config trees for `revert`, and other in-place edits of
//! TOML text: works on fields, not lines, so edits to different fields of one file never
//! conflict; a conflict is a value naming the field and its three values, not an error.
//! Write-backs go through `toml_edit`, so comments, key order and untouched lines stay.
//! Pure: no git, no files.

use toml_edit::{DocumentMut, Item};

type FieldChange = (Vec<String>, crate::diff::ChangeKind, Option<toml::Value>, Option<toml::Value>);

/// `draft`'s channels.toml with every `[<env>.<assistant>]` table taken from `version`'s
/// (added, replaced, or removed when the version has none); all else untouched.
pub fn replace_bindings(draft: &str, version: &str, assistant: &str) -> Result<String, String> {
    let mut document: DocumentMut = draft.parse().map_err(|e: toml_edit::TomlError| e.message().to_string())?;
    let source: DocumentMut = version.parse().map_err(|e: toml_edit::TomlError| e.message().to_string())?;
    let envs: Vec<String> =
        document.iter().map(|(k, _)| k.to_string()).chain(source.iter().map(|(k, _)| k.to_string())).collect();
    for env in envs {
        let wanted = source.get(&env).and_then(Item::as_table_like).and_then(|t| t.get(assistant)).cloned();
        match wanted {
            Some(mut binding) => {
                // Keep the comments and place of the table being replaced.
                let existing = document
                    .get(&env)
                    .and_then(Item::as_table_like)
                    .and_then(|t| t.get(assistant))
                    .and_then(Item::as_table);
                if let (Some(existing), Some(new_table)) = (existing, binding.as_table_mut()) {
                    *new_table.decor_mut() = existing.decor().clone();
                    if let Some(position) = existing.position() {
                        new_table.set_position(Some(position));
                    }
                }
                if document.get(&env).is_none() {
                    let mut table = toml_edit::Table::new();
                    table.set_implicit(true);
                    document.insert(&env, Item::Table(table));
                }
                let table = document
                    .get_mut(&env)
                    .and_then(Item::as_table_like_mut)
                    .ok_or_else(|| format!("`{env}` is not a table"))?;
                table.insert(assistant, binding);
            }
            None => {
                if let Some(table) = document.get_mut(&env).and_then(Item::as_table_like_mut) {
                    table.remove(assistant);
                    if table.is_empty() {
                        document.remove(&env);
                    }
                }
            }
        }
    }
    Ok(document.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_assistants_tables_change_and_comments_stay() {
        let draft = "# numbers\n[live.a]\nphone_numbers = [\"+14155550100\"] # main line\n\n[live.b]\nphone_numbers = [\"+14155550111\"]\n";
        let version = "[live.a]\nphone_numbers = [\"+14155550199\"]\n[live.b]\nphone_numbers = [\"+10000000000\"]\n";
        let result = replace_bindings(draft, version, "a").unwrap();
        assert!(result.starts_with("# numbers\n"), "{result}");
        assert!(result.contains("+14155550199"), "{result}");
        assert!(result.contains("+14155550111"), "b untouched: {result}");
        assert!(!result.contains("+10000000000"), "{result}");
        let removed = replace_bindings(draft, "", "a").unwrap();
        assert!(!removed.contains("[live.a]") && removed.contains("[live.b]"), "{removed}");
    }
}

/// One conflict of a three-way merge: the field (or text lines) that both sides changed,
/// with its three values.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Conflict {
    /// The repository path of the file.
    pub file: String,
    /// The key path (`model.temperature`), or `lines` for text.
    pub field: String,
    /// For text: the first and last line in the draft, 1-based.
    pub lines: Option<(usize, usize)>,
    /// The value in the version being reverted (the merge base).
    pub base: String,
    /// The draft's value.
    pub ours: String,
    /// The value before that version (what the revert would bring back).
    pub theirs: String,
}

impl Conflict {
    /// `assistants/x/assistant.toml: model.temperature: base 0.5, draft 0.7, before v3 0.3`
    pub fn describe(&self, version: &str) -> String {
        let place = match self.lines {
            Some((start, end)) if start == end => format!("{}:{start}", self.file),
            Some((start, end)) => format!("{}:{start}-{end}", self.file),
            None => format!("{}: {}", self.file, self.field),
        };
        let show =
            |text: &str| if text.is_empty() { "(absent)".to_string() } else { text.trim_end().replace('\n', "⏎") };
        format!(
            "{place}: in {version} {}, in the draft {}, before {version} {}",
            show(&self.base),
            show(&self.ours),
            show(&self.theirs)
        )
    }
}

/// Field-level three-way merge of TOML text: the changes base → theirs are applied to
/// ours, in place (comments, key order and untouched lines stay). Changes of both sides
/// to the same field (or a field and one inside it) conflict unless they agree; changes
/// to different fields never conflict, even on adjacent lines. `keep` restricts which
/// changed paths are applied (the others are left as ours has them).
pub fn merge_toml(
    file: &str,
    base: &str,
    ours: &str,
    theirs: &str,
    keep: &dyn Fn(&[String]) -> bool,
) -> Result<String, Vec<Conflict>> {
    let parse = |text: &str| text.parse::<toml::Table>().map_err(|e| e.message().to_string());
    let unparsable = |which: &str, reason: String| {
        vec![Conflict {
            file: file.into(),
            field: "(whole file)".into(),
            lines: None,
            base: String::new(),
            ours: format!("{which} does not parse: {reason}"),
            theirs: String::new(),
        }]
    };
    let base_table = parse(base).map_err(|r| unparsable("the version", r))?;
    let ours_table = parse(ours).map_err(|r| unparsable("the draft", r))?;
    let theirs_table = parse(theirs).map_err(|r| unparsable("the earlier version", r))?;
    let mut theirs_changes = Vec::new();
    crate::diff::diff_tables(&base_table, &theirs_table, &mut Vec::new(), &mut theirs_changes);
    let mut ours_changes = Vec::new();
    crate::diff::diff_tables(&base_table, &ours_table, &mut Vec::new(), &mut ours_changes);
    // Arrays merge as whole values: element indices shift when either side inserts or
    // removes, so element-by-element changes of one side say nothing about the other's.
    let tables = [&base_table, &ours_table, &theirs_table];
    let collapse = |changes: Vec<FieldChange>, side: &toml::Table| {
        let mut collapsed: Vec<(Vec<String>, Option<toml::Value>)> = Vec::new();
        for (path, ..) in changes {
            let cut = (1..=path.len())
                .find(|len| tables.iter().any(|t| matches!(lookup(t, &path[..*len]), Some(toml::Value::Array(_)))))
                .unwrap_or(path.len());
            let path = path[..cut].to_vec();
            if !collapsed.iter().any(|(p, _)| *p == path) {
                let value = lookup(side, &path).cloned();
                collapsed.push((path, value));
            }
        }
        collapsed
    };
    let theirs_changes = collapse(theirs_changes, &theirs_table);
    let ours_changes = collapse(ours_changes, &ours_table);
    let mut document: DocumentMut =
        ours.parse().map_err(|e: toml_edit::TomlError| unparsable("the draft", e.message().to_string()))?;
    let mut conflicts = Vec::new();
    let mut to_apply = Vec::new();
    for (path, new_value) in theirs_changes.into_iter().filter(|(path, _)| keep(path)) {
        let related = ours_changes.iter().any(|(other, _)| other.starts_with(&path) || path.starts_with(other));
        if related {
            let ours_value = lookup(&ours_table, &path);
            if ours_value == new_value.as_ref() {
                continue;
            }
            conflicts.push(Conflict {
                file: file.into(),
                field: path.join("."),
                lines: None,
                base: lookup(&base_table, &path).map(ToString::to_string).unwrap_or_default(),
                ours: ours_value.map(ToString::to_string).unwrap_or_default(),
                theirs: new_value.map(|v| v.to_string()).unwrap_or_default(),
            });
            continue;
        }
        to_apply.push((path, new_value));
    }
    if !conflicts.is_empty() {
        return Err(conflicts);
    }
    // Sets first in order, then removals deepest and last index first.
    to_apply.sort_by(|a, b| {
        a.1.is_none().cmp(&b.1.is_none()).then_with(|| {
            if a.1.is_none() { index_key(&b.0).cmp(&index_key(&a.0)) } else { index_key(&a.0).cmp(&index_key(&b.0)) }
        })
    });
    for (path, value) in to_apply {
        set_item(document.as_item_mut(), &path, value).map_err(|reason| {
            vec![Conflict {
                file: file.into(),
                field: path.join("."),
                lines: None,
                base: String::new(),
                ours: reason.to_string(),
                theirs: String::new(),
            }]
        })?;
    }
    Ok(document.to_string())
}

fn index_key(path: &[String]) -> Vec<(u64, String)> {
    path.iter().map(|p| (p.parse().unwrap_or(0), p.clone())).collect()
}

fn lookup<'t>(table: &'t toml::Table, path: &[String]) -> Option<&'t toml::Value> {
    let (first, rest) = path.split_first()?;
    let mut value = table.get(first)?;
    for part in rest {
        value = match value {
            toml::Value::Table(t) => t.get(part)?,
            toml::Value::Array(a) => a.get(part.parse::<usize>().ok()?)?,
            _ => return None,
        };
    }
    Some(value)
}

/// Sets (or removes, with `None`) the item at `path` in a `toml_edit` document.
fn set_item(item: &mut Item, path: &[String], value: Option<toml::Value>) -> Result<(), &'static str> {
    let (first, rest) = path.split_first().ok_or("empty path")?;
    if let Some(array) = item.as_array_mut() {
        let index: usize = first.parse().map_err(|_| "not an array index")?;
        if rest.is_empty() {
            match value {
                Some(value) => {
                    let value = to_edit_value(&value)?;
                    if index < array.len() {
                        array.replace(index, value);
                    } else {
                        array.push(value);
                    }
                }
                None if index < array.len() => {
                    array.remove(index);
                }
                None => return Err("the element is missing"),
            }
            return Ok(());
        }
        let element = array.get_mut(index).ok_or("the element is missing")?;
        let mut wrapped = Item::Value(element.clone());
        set_item(&mut wrapped, rest, value)?;
        *element = wrapped.into_value().map_err(|_| "not a value")?;
        return Ok(());
    }
    if let Some(array) = item.as_array_of_tables_mut() {
        let index: usize = first.parse().map_err(|_| "not an array index")?;
        if rest.is_empty() {
            match value {
                Some(toml::Value::Table(table)) => {
                    let new_table = to_edit_table(&table)?;
                    if index < array.len() {
                        *array.get_mut(index).ok_or("the element is missing")? = new_table;
                    } else {
                        array.push(new_table);
                    }
                }
                Some(_) => return Err("an array of tables needs a table"),
                None if index < array.len() => {
                    array.remove(index);
                }
                None => return Err("the element is missing"),
            }
            return Ok(());
        }
        let table = array.get_mut(index).ok_or("the element is missing")?;
        let mut wrapped = Item::Table(table.clone());
        set_item(&mut wrapped, rest, value)?;
        *table = wrapped.into_table().map_err(|_| "not a table")?;
        return Ok(());
    }
    let table = item.as_table_like_mut().ok_or("a path goes through a scalar")?;
    if rest.is_empty() {
        match value {
            None => {
                table.remove(first).ok_or("the key is missing")?;
            }
            Some(toml::Value::Table(new_table))
                if table.get(first).is_none_or(|i| i.is_table()) && !table.is_dotted() =>
            {
                let is_inline = table.get(first).is_some_and(|i| i.is_inline_table());
                let item = if is_inline {
                    Item::Value(to_edit_value(&toml::Value::Table(new_table))?)
                } else {
                    Item::Table(to_edit_table(&new_table)?)
                };
                table.insert(first, item);
            }
            Some(value) => {
                let new_value = to_edit_value(&value)?;
                match table.get_mut(first).and_then(Item::as_value_mut) {
                    // Keep the comment and spacing around the old value.
                    Some(old) => {
                        let decor = old.decor().clone();
                        *old = new_value;
                        *old.decor_mut() = decor;
                    }
                    None => {
                        table.insert(first, Item::Value(new_value));
                    }
                }
            }
        }
        return Ok(());
    }
    if table.get(first).is_none() {
        let mut new_table = toml_edit::Table::new();
        new_table.set_implicit(true);
        table.insert(first, Item::Table(new_table));
    }
    let child = table.get_mut(first).ok_or("the key is missing")?;
    if let Some(inline) = child.as_inline_table_mut() {
        let mut wrapped = Item::Table(inline.clone().into_table());
        set_item(&mut wrapped, rest, value)?;
        let table = wrapped.into_table().map_err(|_| "not a table")?;
        *child = Item::Value(toml_edit::Value::InlineTable(table.into_inline_table()));
        return Ok(());
    }
    set_item(child, rest, value)
}

fn to_edit_value(value: &toml::Value) -> Result<toml_edit::Value, &'static str> {
    format!("{value}").parse::<toml_edit::Value>().map_err(|_| "the value cannot be written as TOML")
}

fn to_edit_table(table: &toml::Table) -> Result<toml_edit::Table, &'static str> {
    let text = toml::to_string(table).map_err(|_| "the table cannot be written as TOML")?;
    let document: DocumentMut = text.parse().map_err(|_| "the table cannot be written as TOML")?;
    Ok(document.as_table().clone())
}

/// Line-based three-way merge of text (instructions, text files): the changes base →
/// theirs applied to ours; overlapping changes conflict, with their lines in the draft.
pub fn merge_text(file: &str, base: &str, ours: &str, theirs: &str) -> Result<String, Vec<Conflict>> {
    match diffy::merge(base, ours, theirs) {
        Ok(merged) => Ok(merged),
        Err(conflicted) => {
            let conflicts = conflicts_of(file, &conflicted);
            if conflicts.is_empty() {
                // Markers glued to a last line without a newline: report the whole file.
                return Err(vec![Conflict {
                    file: file.into(),
                    field: "lines".into(),
                    lines: None,
                    base: base.into(),
                    ours: ours.into(),
                    theirs: theirs.into(),
                }]);
            }
            Err(conflicts)
        }
    }
}

/// Reads the conflict blocks of diff3-style markers.
fn conflicts_of(file: &str, conflicted: &str) -> Vec<Conflict> {
    let mut conflicts = Vec::new();
    let mut ours_line = 0;
    let mut section: Option<usize> = None;
    let mut parts = [String::new(), String::new(), String::new()];
    let mut start = 0;
    for line in conflicted.lines() {
        match (section, line) {
            (None, l) if l.starts_with("<<<<<<<") => {
                section = Some(0);
                start = ours_line + 1;
                parts = Default::default();
            }
            (Some(0), l) if l.starts_with("|||||||") => section = Some(1),
            (Some(0 | 1), l) if l.starts_with("=======") => section = Some(2),
            (Some(2), l) if l.starts_with(">>>>>>>") => {
                section = None;
                let [ours, base, theirs] = std::mem::take(&mut parts);
                conflicts.push(Conflict {
                    file: file.into(),
                    field: "lines".into(),
                    lines: Some((start, ours_line.max(start))),
                    base,
                    ours,
                    theirs,
                });
            }
            (Some(index), l) => {
                if index == 0 {
                    ours_line += 1;
                }
                parts[index].push_str(l);
                parts[index].push('\n');
            }
            (None, _) => ours_line += 1,
        }
    }
    conflicts
}

#[cfg(test)]
mod merge_tests {
    use super::*;

    #[test]
    fn changes_to_different_fields_never_conflict_even_on_adjacent_lines() {
        let base = "# model\n[model]\nname = \"a\" # keep\ntemperature = 0.3\n";
        let ours = "# model\n[model]\nname = \"b\" # keep\ntemperature = 0.3\n";
        let theirs = "# model\n[model]\nname = \"a\" # keep\ntemperature = 0.7\n";
        let merged = merge_toml("f.toml", base, ours, theirs, &|_| true).unwrap();
        assert_eq!(merged, "# model\n[model]\nname = \"b\" # keep\ntemperature = 0.7\n");
    }

    #[test]
    fn the_same_field_changed_on_both_sides_conflicts_with_three_values() {
        let base = "[model]\ntemperature = 0.5\n";
        let ours = "[model]\ntemperature = 0.7\n";
        let theirs = "[model]\ntemperature = 0.3\n";
        let conflicts = merge_toml("a.toml", base, ours, theirs, &|_| true).unwrap_err();
        assert_eq!(conflicts.len(), 1);
        assert_eq!(
            (
                conflicts[0].field.as_str(),
                conflicts[0].base.as_str(),
                conflicts[0].ours.as_str(),
                conflicts[0].theirs.as_str()
            ),
            ("model.temperature", "0.5", "0.7", "0.3")
        );
        // The same change on both sides is no conflict.
        assert_eq!(merge_toml("a.toml", base, theirs, theirs, &|_| true).unwrap(), theirs);
    }

    #[test]
    fn added_and_removed_keys_and_tables_are_applied_in_place() {
        let base = "a = 1\n[t]\nx = 1\n";
        let ours = "a = 1 # mine\n[t]\nx = 1\n[u]\ny = 2\n";
        let theirs = "a = 1\nb = 2\n";
        let merged = merge_toml("f.toml", base, ours, theirs, &|_| true).unwrap();
        let parsed: toml::Table = merged.parse().unwrap();
        assert_eq!(parsed.get("b").unwrap().as_integer(), Some(2));
        assert!(parsed.get("t").is_none());
        assert!(merged.contains("# mine") && merged.contains("[u]"), "{merged}");
    }

    #[test]
    fn arrays_merge_as_whole_values() {
        let base = "topics = [1, 2, 9]\n";
        // Theirs removed 9; ours removed 1: both touched the array, differently.
        let conflicts = merge_toml("f.toml", base, "topics = [2, 9]\n", "topics = [1, 2]\n", &|_| true).unwrap_err();
        assert_eq!(conflicts[0].field, "topics");
        // Only theirs touched it: theirs' array, whole.
        assert_eq!(
            merge_toml("f.toml", base, "topics = [1, 2, 9] # mine\nx = 1\n", "topics = [1, 2]\n", &|_| true).unwrap(),
            "topics = [1, 2] # mine\nx = 1\n"
        );
        // Arrays of tables too.
        let turns = "[[turn]]\nuser = \"a\"\n[[turn]]\nuser = \"b\"\n";
        let merged = merge_toml("t.toml", turns, turns, "[[turn]]\nuser = \"a\"\n", &|_| true).unwrap();
        assert_eq!(merged.parse::<toml::Table>().unwrap()["turn"].as_array().unwrap().len(), 1, "{merged}");
    }

    #[test]
    fn text_merges_by_line_and_reports_conflicting_lines() {
        let base = "one\ntwo\nthree\nfour\n";
        let ours = "one\ntwo\nthree\nFOUR\n";
        let theirs = "ONE\ntwo\nthree\nfour\n";
        assert_eq!(merge_text("i.md", base, ours, theirs).unwrap(), "ONE\ntwo\nthree\nFOUR\n");
        let conflicts = merge_text("i.md", base, "one\nTWO\nthree\nfour\n", "one\n2\nthree\nfour\n").unwrap_err();
        assert_eq!(conflicts.len(), 1);
        assert_eq!(conflicts[0].lines, Some((2, 2)));
        assert_eq!(
            (conflicts[0].ours.as_str(), conflicts[0].base.as_str(), conflicts[0].theirs.as_str()),
            ("TWO\n", "two\n", "2\n")
        );
        // Without a final newline, a conflict is still one.
        assert!(merge_text("i.md", "a\nb", "a\nB", "a\nc").is_err());
    }
}
