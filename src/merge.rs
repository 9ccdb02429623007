//! Edits of TOML text that keep everything else as it was (comments, key order,
//! untouched lines), with `toml_edit`. For now: replacing one assistant's channel
//! bindings (`restore --assistant`). Pure.

use toml_edit::{DocumentMut, Item};

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
