//! Checks one parsed TOML document against what a file of its kind may hold, keeping the
//! spans of keys and values so that every finding points at a line and column.
//!
//! The document comes from the `toml` crate's recoverable parser (every syntax error at
//! once, spans kept); the accessors here report a wrong type, a missing key or an unknown
//! key as a [`Diagnostic`] and return `None`, so a check goes on and finds the next
//! problem instead of stopping at the first.
//!
//! Pure: no I/O.

use std::ops::Range;

use toml::Spanned;
use toml::de::{DeTable, DeValue};

use super::{Diagnostic, Snippet, suggestion};

pub type Table<'i> = DeTable<'i>;
pub type Value<'i> = Spanned<DeValue<'i>>;

/// One file being checked: its path, its text (for line and column) and its findings.
pub struct FileCheck<'t> {
    pub file: String,
    text: &'t str,
    line_starts: Vec<usize>,
    pub diagnostics: Vec<Diagnostic>,
}

impl<'t> FileCheck<'t> {
    pub fn new(file: impl Into<String>, text: &'t str) -> FileCheck<'t> {
        let line_starts = std::iter::once(0).chain(text.match_indices('\n').map(|(index, _)| index + 1)).collect();
        FileCheck { file: file.into(), text, line_starts, diagnostics: Vec::new() }
    }

    /// Parses the text; on syntax errors, reports them all and returns `None` (a file with
    /// syntax errors reports those only).
    pub fn parse(&mut self) -> Option<Spanned<Table<'t>>> {
        let (document, errors) = DeTable::parse_recoverable(self.text);
        if errors.is_empty() {
            return Some(document);
        }
        for error in errors {
            let span = error.span().unwrap_or(0..0);
            let message = error.message().trim().replace('\n', "; ");
            self.error(
                span,
                format!("TOML syntax error: {message}"),
                Some("fix the syntax; see https://toml.io for the format".into()),
            );
        }
        None
    }

    /// Records a finding at `span` (a byte range of the text).
    pub fn error(&mut self, span: Range<usize>, message: impl Into<String>, hint: Option<String>) {
        let diagnostic = self.at(span, message.into(), hint);
        self.diagnostics.push(diagnostic);
    }

    /// Records a finding at `span` without the source line, for values that must not be
    /// echoed (a secret written where a reference belongs).
    pub fn error_hiding_source(&mut self, span: Range<usize>, message: impl Into<String>, hint: Option<String>) {
        let mut diagnostic = self.at(span, message.into(), hint);
        diagnostic.snippet = None;
        self.diagnostics.push(diagnostic);
    }

    /// Builds a diagnostic at `span` without recording it.
    pub fn at(&self, span: Range<usize>, message: String, hint: Option<String>) -> Diagnostic {
        let start = span.start.min(self.text.len());
        let line_index = self.line_starts.partition_point(|&line_start| line_start <= start).saturating_sub(1);
        let line_start = self.line_starts[line_index];
        let line_end = self.text[line_start..].find('\n').map_or(self.text.len(), |offset| line_start + offset);
        let line_text = self.text[line_start..line_end].trim_end_matches('\r');
        let column = self.text[line_start..start].chars().count() + 1;
        let end = span.end.clamp(start, line_end);
        let width = self.text[start..end].chars().count().max(1);
        Diagnostic {
            file: self.file.clone(),
            line: line_index as u32 + 1,
            column: column as u32,
            message,
            hint,
            snippet: Some(Snippet { text: line_text.to_string(), width }),
        }
    }

    /// Reports every key of `table` that is not in `known`; `context` names the table for
    /// the message (`[model]`, `the top level`).
    pub fn unknown_keys(&mut self, table: &Table<'_>, known: &[&str], context: &str) {
        for (key, _) in table.iter() {
            if !known.contains(&key.get_ref().as_ref()) {
                let hint = suggestion(key.get_ref(), known, "key");
                self.error(key.span(), format!("unknown key `{}` in {context}", key.get_ref()), Some(hint));
            }
        }
    }

    /// Reports a required key that is missing, at `span` (the table it belongs in).
    pub fn missing(&mut self, span: Range<usize>, key: &str, context: &str, hint: &str) {
        self.error(span, format!("missing required key `{key}` in {context}"), Some(hint.to_string()));
    }

    /// A string value, or a finding when the key holds something else.
    pub fn string(&mut self, table: &Table<'_>, key: &str) -> Option<(String, Range<usize>)> {
        let value = table.get(key)?;
        match value.get_ref().as_str() {
            Some(text) => Some((text.to_string(), value.span())),
            None => {
                self.wrong_type(value, key, "a string");
                None
            }
        }
    }

    /// A required string with a length limit, non-empty.
    pub fn required_text(
        &mut self,
        table: &Table<'_>,
        table_span: Range<usize>,
        key: &str,
        context: &str,
        max_chars: usize,
    ) -> Option<String> {
        if table.get(key).is_none() {
            self.missing(table_span, key, context, &format!("add `{key} = \"…\"`"));
            return None;
        };
        let (text, span) = self.string(table, key)?;
        let chars = text.chars().count();
        if text.trim().is_empty() {
            self.error(span, format!("`{key}` must not be empty"), Some(format!("write a {key}")));
            None
        } else if chars > max_chars {
            self.error(
                span,
                format!("`{key}` is {chars} characters long, more than the {max_chars} allowed"),
                Some(format!("shorten the {key}")),
            );
            None
        } else {
            Some(text)
        }
    }

    /// A boolean value.
    pub fn boolean(&mut self, table: &Table<'_>, key: &str) -> Option<bool> {
        let value = table.get(key)?;
        match value.get_ref() {
            DeValue::Boolean(flag) => Some(*flag),
            _ => {
                self.wrong_type(value, key, "true or false");
                None
            }
        }
    }

    /// An integer value.
    pub fn integer(&mut self, table: &Table<'_>, key: &str) -> Option<(i128, Range<usize>)> {
        let value = table.get(key)?;
        match value.get_ref() {
            DeValue::Integer(integer) => match i128::from_str_radix(integer.as_str(), integer.radix()) {
                Ok(number) => Some((number, value.span())),
                Err(_) => {
                    self.error(value.span(), format!("`{key}` is out of range"), None);
                    None
                }
            },
            _ => {
                self.wrong_type(value, key, "an integer");
                None
            }
        }
    }

    /// A number, integer or float.
    pub fn number(&mut self, table: &Table<'_>, key: &str) -> Option<(f64, Range<usize>)> {
        let value = table.get(key)?;
        let parsed = match value.get_ref() {
            DeValue::Integer(integer) => i64::from_str_radix(integer.as_str(), integer.radix()).ok().map(|n| n as f64),
            DeValue::Float(float) => float.as_str().replace('_', "").parse::<f64>().ok(),
            _ => {
                self.wrong_type(value, key, "a number");
                return None;
            }
        };
        parsed.map(|number| (number, value.span()))
    }

    /// A table value.
    pub fn table<'v, 'i>(&mut self, table: &'v Table<'i>, key: &str) -> Option<(&'v Table<'i>, Range<usize>)> {
        let value = table.get(key)?;
        match value.get_ref() {
            DeValue::Table(inner) => Some((inner, value.span())),
            _ => {
                self.wrong_type(value, key, "a table");
                None
            }
        }
    }

    /// The tables of an array of tables (`[[runtime]]`), each with its span; anything
    /// else under `key` is reported.
    pub fn array_of_tables<'v, 'i>(&mut self, table: &'v Table<'i>, key: &str) -> Vec<(&'v Table<'i>, Range<usize>)> {
        let Some(value) = table.get(key) else { return Vec::new() };
        let Some(array) = value.get_ref().as_array() else {
            self.error(
                value.span(),
                format!("`{key}` must be an array of tables"),
                Some(format!("write each as a `[[{key}]]` section")),
            );
            return Vec::new();
        };
        let mut tables = Vec::new();
        for item in array.iter() {
            match item.get_ref().as_table() {
                Some(inner) => tables.push((inner, item.span())),
                None => self.error(
                    item.span(),
                    format!("each `{key}` must be a table"),
                    Some(format!("write each as a `[[{key}]]` section")),
                ),
            }
        }
        tables
    }

    /// A string, or an array of strings: each with its span. `non_empty` refuses `[]`.
    pub fn strings(
        &mut self,
        table: &Table<'_>,
        key: &str,
        allow_single: bool,
        non_empty: bool,
    ) -> Option<Vec<(String, Range<usize>)>> {
        let value = table.get(key)?;
        let expected = if allow_single { "a string or an array of strings" } else { "an array of strings" };
        let items = match value.get_ref() {
            DeValue::String(text) if allow_single => vec![(text.to_string(), value.span())],
            DeValue::Array(array) => {
                let mut items = Vec::new();
                for item in array.iter() {
                    match item.get_ref().as_str() {
                        Some(text) => items.push((text.to_string(), item.span())),
                        None => {
                            self.error(
                                item.span(),
                                format!("`{key}` must be {expected}, but this item is {}", describe(item.get_ref())),
                                None,
                            );
                            return None;
                        }
                    }
                }
                items
            }
            _ => {
                self.wrong_type(value, key, expected);
                return None;
            }
        };
        if non_empty && items.is_empty() {
            self.error(
                value.span(),
                format!("`{key}` must not be empty"),
                Some(format!("list at least one entry in `{key}`")),
            );
            return None;
        }
        Some(items)
    }

    /// A table whose values are all strings (headers).
    pub fn string_map(&mut self, table: &Table<'_>, key: &str) -> Option<Vec<(String, String)>> {
        let (inner, _) = self.table(table, key)?;
        let mut pairs = Vec::new();
        let mut ok = true;
        for (name, value) in inner.iter() {
            match value.get_ref().as_str() {
                Some(text) => pairs.push((name.get_ref().to_string(), text.to_string())),
                None => {
                    ok = false;
                    self.error(
                        value.span(),
                        format!("`{key}.{}` must be a string, found {}", name.get_ref(), describe(value.get_ref())),
                        Some("quote the value".into()),
                    );
                }
            }
        }
        ok.then_some(pairs)
    }

    pub fn wrong_type(&mut self, value: &Value<'_>, key: &str, expected: &str) {
        let found = describe(value.get_ref());
        self.error(value.span(), format!("`{key}` must be {expected}, found {found}"), None);
    }
}

/// "a string", "an integer", … for messages.
pub fn describe(value: &DeValue<'_>) -> &'static str {
    match value {
        DeValue::String(_) => "a string",
        DeValue::Integer(_) => "an integer",
        DeValue::Float(_) => "a float",
        DeValue::Boolean(_) => "a boolean",
        DeValue::Datetime(_) => "a date-time",
        DeValue::Array(_) => "an array",
        DeValue::Table(_) => "a table",
    }
}

/// Converts a TOML value to JSON (date-times become strings), for JSON Schema checks.
pub fn to_json(value: &DeValue<'_>) -> serde_json::Value {
    use serde_json::Value as Json;
    match value {
        DeValue::String(text) => Json::String(text.to_string()),
        DeValue::Integer(integer) => i64::from_str_radix(integer.as_str(), integer.radix())
            .map(Json::from)
            .unwrap_or_else(|_| Json::String(integer.as_str().to_string())),
        DeValue::Float(float) => float
            .as_str()
            .replace('_', "")
            .parse::<f64>()
            .ok()
            .and_then(serde_json::Number::from_f64)
            .map_or(Json::Null, Json::Number),
        DeValue::Boolean(flag) => Json::Bool(*flag),
        DeValue::Datetime(datetime) => Json::String(datetime.to_string()),
        DeValue::Array(array) => Json::Array(array.iter().map(|item| to_json(item.get_ref())).collect()),
        DeValue::Table(table) => table_to_json(table),
    }
}

pub fn table_to_json(table: &Table<'_>) -> serde_json::Value {
    serde_json::Value::Object(
        table.iter().map(|(key, value)| (key.get_ref().to_string(), to_json(value.get_ref()))).collect(),
    )
}

/// The span of the value at a JSON pointer (`/properties/x/type`) inside `table`, or of the
/// deepest part of the pointer that exists.
pub fn span_of_pointer(table: &Table<'_>, table_span: Range<usize>, pointer: &str) -> Range<usize> {
    let mut span = table_span;
    let mut current: Option<&DeValue<'_>> = None;
    let mut current_table = Some(table);
    for raw in pointer.split('/').skip(1) {
        let segment = raw.replace("~1", "/").replace("~0", "~");
        let next = match (current_table, current) {
            (Some(table), _) => table.get(segment.as_str()),
            (None, Some(DeValue::Array(array))) => segment.parse::<usize>().ok().and_then(|index| array.get(index)),
            _ => None,
        };
        let Some(next) = next else { break };
        span = next.span();
        current = Some(next.get_ref());
        current_table = next.get_ref().as_table();
    }
    span
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_count_lines_and_characters_from_one() {
        let text = "a = 1\nbé = \"x\"\n";
        let check = FileCheck::new("f.toml", text);
        let offset = text.find('"').unwrap();
        let diagnostic = check.at(offset..offset + 3, "m".into(), None);
        assert_eq!((diagnostic.line, diagnostic.column), (2, 6));
        assert_eq!(diagnostic.snippet.unwrap(), Snippet { text: "bé = \"x\"".into(), width: 3 });
    }

    #[test]
    fn every_syntax_error_is_reported() {
        let text = "name = \"unterminated\nother = \nok = 1\n";
        let mut check = FileCheck::new("f.toml", text);
        assert!(check.parse().is_none());
        assert!(check.diagnostics.len() >= 2, "{:#?}", check.diagnostics);
        assert_eq!(check.diagnostics[0].line, 1);
        assert!(check.diagnostics.iter().any(|d| d.line == 2), "{:#?}", check.diagnostics);
    }
}
