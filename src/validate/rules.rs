//! The rules of each file kind (`docs/config-format.md`): a check walks the parsed
//! document, records every finding, and only when the file has none builds its typed
//! value with serde. Cross-file facts (which files exist under `files/`, which tools an
//! assistant has, which assistants and environments exist) come in as arguments.
//!
//! Pure: no I/O.

use std::collections::{BTreeMap, BTreeSet};
use std::ops::Range;

use serde::de::DeserializeOwned;
use toml::Spanned;
use toml::de::DeValue;

use super::walk::{FileCheck, Table, span_of_pointer, table_to_json};
use super::{did_you_mean, suggestion};
use crate::model::{
    AssistantToml, Chain, Channels, EnvName, GUARDRAIL_KINDS, Guardrail, Knowledge, PII_ENTITIES, TestCase, Tool,
    ids::is_valid_id,
};

const NAME_MAX: usize = 200;

/// `assistant.toml`.
pub fn assistant_toml(check: &mut FileCheck<'_>, doc: Spanned<Table<'_>>) -> Option<AssistantToml> {
    let root = doc.get_ref();
    let root_span = doc.span();
    check.unknown_keys(root, &["name", "description", "model", "settings"], "assistant.toml");
    check.required_text(root, root_span.clone(), "name", "assistant.toml", NAME_MAX);
    check.string(root, "description");
    match check.table(root, "model") {
        Some((model, model_span)) => {
            check.unknown_keys(model, &["provider", "name", "temperature", "max_output_tokens"], "[model]");
            check.string(model, "provider");
            check.required_text(model, model_span, "name", "[model]", NAME_MAX);
            if let Some((temperature, span)) = check.number(model, "temperature")
                && !(0.0..=2.0).contains(&temperature)
            {
                check.error(
                    span,
                    format!("`temperature` must be between 0 and 2, found {temperature}"),
                    Some("use a value from 0 (focused) to 2 (creative)".into()),
                );
            }
            if let Some((tokens, span)) = check.integer(model, "max_output_tokens")
                && !(1..=i128::from(u32::MAX)).contains(&tokens)
            {
                check.error(
                    span,
                    format!("`max_output_tokens` must be greater than 0, found {tokens}"),
                    Some("use a positive number of tokens, e.g. 800".into()),
                );
            }
        }
        None if root.get("model").is_none() => {
            check.missing(root_span, "model", "assistant.toml", "add a `[model]` table with at least `name = \"…\"`")
        }
        None => {}
    }
    check.table(root, "settings");
    build(check, doc)
}

/// `knowledge/<id>.toml`; `files` are the paths under the assistant's `files/`.
pub fn knowledge(check: &mut FileCheck<'_>, doc: Spanned<Table<'_>>, files: &BTreeSet<String>) -> Option<Knowledge> {
    let root = doc.get_ref();
    let root_span = doc.span();
    check.unknown_keys(root, &["title", "kind", "uri", "text", "description"], "a knowledge source");
    check.required_text(root, root_span.clone(), "title", "a knowledge source", NAME_MAX);
    check.string(root, "description");
    let uri = check.string(root, "uri");
    let text = check.string(root, "text");
    let kind = required_enum(check, root, root_span.clone(), "kind", &["url", "file", "text"], "a knowledge source");
    let key_span = |key: &str| root.get(key).map(|v| v.span()).unwrap_or(root_span.clone());
    match kind.as_deref() {
        Some("url") => {
            match &uri {
                None if root.get("uri").is_none() => {
                    check.missing(root_span.clone(), "uri", "a `url` knowledge source", "add `uri = \"https://…\"`")
                }
                Some((uri, span)) if !is_http_url(uri) => check.error(
                    span.clone(),
                    format!("`uri` must be an http or https URL, found `{uri}`"),
                    Some("write the address as https://…".into()),
                ),
                _ => {}
            }
            if text.is_some() {
                check.error(
                    key_span("text"),
                    "`text` is only allowed when `kind = \"text\"`",
                    Some("remove `text`, or change `kind`".into()),
                );
            }
        }
        Some("file") => {
            match &uri {
                None if root.get("uri").is_none() => check.missing(
                    root_span.clone(),
                    "uri",
                    "a `file` knowledge source",
                    "add `uri = \"<path under files/>\"`",
                ),
                Some((uri, span)) => check_file_uri(check, uri, span.clone(), files),
                None => {}
            }
            if text.is_some() {
                check.error(
                    key_span("text"),
                    "`text` is only allowed when `kind = \"text\"`",
                    Some("remove `text`, or change `kind`".into()),
                );
            }
        }
        Some("text") => {
            if root.get("text").is_none() {
                check.missing(
                    root_span.clone(),
                    "text",
                    "a `text` knowledge source",
                    "add `text = \"…\"` (a multi-line string with \"\"\" works well)",
                );
            }
            if uri.is_some() {
                check.error(
                    key_span("uri"),
                    "`uri` is not allowed when `kind = \"text\"`",
                    Some("remove `uri`, or use `kind = \"url\"` or `\"file\"`".into()),
                );
            }
        }
        _ => {}
    }
    build(check, doc)
}

/// `tools/<name>.toml`.
pub fn tool(check: &mut FileCheck<'_>, doc: Spanned<Table<'_>>) -> Option<Tool> {
    let root = doc.get_ref();
    let root_span = doc.span();
    check.unknown_keys(root, &["description", "parameters", "http"], "a tool");
    check.required_text(root, root_span, "description", "a tool", 4000);
    if let Some((parameters, span)) = check.table(root, "parameters") {
        check_json_schema(check, parameters, span);
    }
    if let Some((http, http_span)) = check.table(root, "http") {
        check.unknown_keys(http, &["method", "url", "headers", "timeout_ms"], "[http]");
        required_enum(check, http, http_span.clone(), "method", &["GET", "POST", "PUT", "PATCH", "DELETE"], "[http]");
        match check.string(http, "url") {
            Some((url, span)) if !is_http_url(&url) => check.error(
                span,
                format!("`url` must be an http or https URL, found `{url}`"),
                Some("write the endpoint as https://…".into()),
            ),
            None if http.get("url").is_none() => check.missing(http_span, "url", "[http]", "add `url = \"https://…\"`"),
            _ => {}
        }
        check.string_map(http, "headers");
        if let Some((timeout, span)) = check.integer(http, "timeout_ms")
            && timeout <= 0
        {
            check.error(
                span,
                format!("`timeout_ms` must be greater than 0, found {timeout}"),
                Some("use a timeout in milliseconds, e.g. 5000".into()),
            );
        }
    }
    build(check, doc)
}

/// `guardrails/<id>.toml`.
pub fn guardrail(check: &mut FileCheck<'_>, doc: Spanned<Table<'_>>) -> Option<Guardrail> {
    let root = doc.get_ref();
    let root_span = doc.span();
    check.string(root, "description");
    let kind = required_enum(check, root, root_span.clone(), "kind", &GUARDRAIL_KINDS, "a guardrail")?;
    let (fields, required): (&[&str], &[&str]) = match kind.as_str() {
        "blocked_topics" => (&["topics", "message"], &["topics"]),
        "pii_redaction" => (&["entities", "replacement"], &["entities"]),
        "max_turns" => (&["max_turns", "message"], &["max_turns"]),
        "regex_block" => (&["patterns", "message"], &["patterns"]),
        _ => (&["triggers", "target", "message"], &["triggers", "target"]),
    };
    let known: Vec<&str> = ["kind", "description"].iter().chain(fields).copied().collect();
    check.unknown_keys(root, &known, &format!("a `{kind}` guardrail"));
    for key in required {
        if root.get(*key).is_none() {
            check.missing(
                root_span.clone(),
                key,
                &format!("a `{kind}` guardrail"),
                &format!("add `{key}`; see docs/config-format.md"),
            );
        }
    }
    for key in ["message", "replacement", "target"] {
        if fields.contains(&key) {
            check.string(root, key);
        }
    }
    match kind.as_str() {
        "blocked_topics" => {
            check.strings(root, "topics", false, true);
        }
        "pii_redaction" => {
            for (entity, span) in check.strings(root, "entities", false, true).unwrap_or_default() {
                if !PII_ENTITIES.contains(&entity.as_str()) {
                    check.error(
                        span,
                        format!("unknown PII entity `{entity}`"),
                        Some(suggestion(&entity, &PII_ENTITIES, "entitie")),
                    );
                }
            }
        }
        "max_turns" => {
            if let Some((turns, span)) = check.integer(root, "max_turns")
                && !(1..=i128::from(u32::MAX)).contains(&turns)
            {
                check.error(
                    span,
                    format!("`max_turns` must be greater than 0, found {turns}"),
                    Some("use the number of turns after which the conversation ends, e.g. 30".into()),
                );
            }
        }
        "regex_block" => {
            for (pattern, span) in check.strings(root, "patterns", false, true).unwrap_or_default() {
                check_regex(check, &pattern, span);
            }
        }
        _ => {
            check.strings(root, "triggers", false, true);
            if let Some((target, span)) = check.string(root, "target") {
                if target.trim().is_empty() {
                    check.error(
                        span,
                        "`target` must not be empty",
                        Some("name a queue, or an E.164 number such as +14155550100".into()),
                    );
                } else if target.starts_with('+') && !is_e164(&target) {
                    check.error(
                        span,
                        format!("`target` `{target}` is not an E.164 phone number"),
                        Some(E164_HINT.into()),
                    );
                }
            }
        }
    }
    build(check, doc)
}

/// `tests/<case>.toml`; `tools` are the tool ids of the same assistant.
pub fn test_case(check: &mut FileCheck<'_>, doc: Spanned<Table<'_>>, tools: &BTreeSet<String>) -> Option<TestCase> {
    let root = doc.get_ref();
    let root_span = doc.span();
    check.unknown_keys(root, &["description", "runs", "min_pass", "turn"], "a regression case");
    check.string(root, "description");
    let runs = bounded(check, root, "runs", 1, 100, "run a case 1 to 100 times");
    if let Some((min_pass, span)) = check.integer(root, "min_pass") {
        let most = i128::from(runs.unwrap_or(1));
        if min_pass < 1 || min_pass > most {
            check.error(
                span,
                format!("`min_pass` is {min_pass}, but the case runs {most} time(s)"),
                Some("min_pass is how many of the `runs` must pass: from 1 to runs".into()),
            );
        }
    }
    match root.get("turn") {
        None => check.error(
            root_span,
            "a regression case needs at least one `[[turn]]`",
            Some("add `[[turn]]` with `user = \"…\"` and what the reply must contain".into()),
        ),
        Some(turns) => match turns.get_ref() {
            DeValue::Array(array) if !array.is_empty() => {
                for turn in array.iter() {
                    let Some(table) = turn.get_ref().as_table() else {
                        check.error(
                            turn.span(),
                            "each `turn` must be a table",
                            Some("write turns as `[[turn]]` sections".into()),
                        );
                        continue;
                    };
                    test_turn(check, table, turn.span(), tools);
                }
            }
            _ => check.error(
                turns.span(),
                "`turn` must be a non-empty array of tables",
                Some("write turns as `[[turn]]` sections".into()),
            ),
        },
    }
    build(check, doc)
}

/// An integer key within `low..=high`.
fn bounded(check: &mut FileCheck<'_>, table: &Table<'_>, key: &str, low: i128, high: i128, hint: &str) -> Option<u32> {
    let (value, span) = check.integer(table, key)?;
    if value < low || value > high {
        check.error(span, format!("`{key}` is {value}, not from {low} to {high}"), Some(hint.to_string()));
        return None;
    }
    u32::try_from(value).ok()
}

/// One `[[turn]]` of a regression case.
fn test_turn(check: &mut FileCheck<'_>, table: &Table<'_>, span: Range<usize>, tools: &BTreeSet<String>) {
    check.unknown_keys(
        table,
        &["user", "contains", "not_contains", "matches", "tool_called", "tool_args", "tool_result", "max_latency_ms"],
        "a `[[turn]]`",
    );
    check.required_text(table, span, "user", "a `[[turn]]`", 100_000);
    check.strings(table, "contains", true, false);
    check.strings(table, "not_contains", true, false);
    for (pattern, span) in check.strings(table, "matches", true, false).unwrap_or_default() {
        check_regex(check, &pattern, span);
    }
    let known_tool = |check: &mut FileCheck<'_>, tool: &str, key: &str, span: Range<usize>| {
        if !tools.contains(tool) {
            let known: Vec<&str> = tools.iter().map(String::as_str).collect();
            check.error(
                span,
                format!("`{key}` names `{tool}`, which is not a tool of this assistant"),
                Some(suggestion(tool, &known, "tool")),
            );
        }
    };
    for (tool, span) in check.strings(table, "tool_called", true, false).unwrap_or_default() {
        known_tool(check, &tool, "tool_called", span);
    }
    bounded(check, table, "max_latency_ms", 1, 600_000, "a latency in milliseconds, at most 600000 (10 minutes)");
    if let Some(args) = table.get("tool_args") {
        match args.get_ref().as_table() {
            None => check.error(
                args.span(),
                "`tool_args` must be a table of tools, each a table of argument values",
                Some("write it as tool_args = { check_availability = { party_size = 4 } }".into()),
            ),
            Some(per_tool) => {
                for (tool, values) in per_tool.iter() {
                    known_tool(check, tool.get_ref(), "tool_args", tool.span());
                    if values.get_ref().as_table().is_none() {
                        check.error(
                            values.span(),
                            format!("`tool_args.{}` must be a table of argument values", tool.get_ref()),
                            Some("write it as { party_size = 4 }".into()),
                        );
                    }
                }
            }
        }
    }
    if let Some(result) = table.get("tool_result") {
        match result.get_ref() {
            DeValue::String(_) => {}
            DeValue::Table(per_tool) => {
                for (tool, value) in per_tool.iter() {
                    known_tool(check, tool.get_ref(), "tool_result", tool.span());
                    if value.get_ref().as_str().is_none() {
                        check.error(
                            value.span(),
                            format!(
                                "`tool_result.{}` must be a string: the tool's result as the model sees it",
                                tool.get_ref()
                            ),
                            Some("write it as '{\"available\": true}'".into()),
                        );
                    }
                }
            }
            _ => check.error(
                result.span(),
                "`tool_result` must be a string (every call's result) or a table of strings keyed by tool",
                Some("write it as tool_result = '{\"available\": true}'".into()),
            ),
        }
    }
}

/// `channels.toml`; `assistants` are the assistant directories of the tree.
pub fn channels(
    check: &mut FileCheck<'_>,
    doc: Spanned<Table<'_>>,
    chain: &Chain,
    assistants: &BTreeSet<String>,
) -> Option<Channels> {
    let root = doc.get_ref();
    let env_names: Vec<&str> = chain.environments().iter().map(EnvName::as_str).collect();
    let assistant_names: Vec<&str> = assistants.iter().map(String::as_str).collect();
    let mut seen: BTreeMap<String, (String, Range<usize>)> = BTreeMap::new();
    for (env, env_value) in root.iter() {
        let env = env.get_ref().to_string();
        let Some(env_table) = env_value.get_ref().as_table() else {
            check.error(
                env_value.span(),
                format!("`{env}` must be a table of assistants, like `[{env}.<assistant>]`"),
                None,
            );
            continue;
        };
        if !chain.contains(&env) {
            let hint = match did_you_mean(&env, env_names.iter().copied()) {
                Some(close) => format!("did you mean `{close}`? the chain is {}", chain.display_arrows()),
                None => format!("use an environment of the chain: {}", chain.display_arrows()),
            };
            check.error(env_value.span(), format!("environment `{env}` is not in the chain"), Some(hint));
        }
        for (assistant, binding) in env_table.iter() {
            let assistant = assistant.get_ref().to_string();
            let Some(binding_table) = binding.get_ref().as_table() else {
                check.error(
                    binding.span(),
                    format!("`{env}.{assistant}` must be a table with `phone_numbers` and `sip_headers`"),
                    None,
                );
                continue;
            };
            if !assistants.contains(&assistant) {
                let hint = match did_you_mean(&assistant, assistant_names.iter().copied()) {
                    Some(close) => format!("did you mean `{close}`?"),
                    None if assistant_names.is_empty() => "there are no assistants; add one under assistants/".into(),
                    None => format!("the assistants are: {}", assistant_names.join(", ")),
                };
                check.error(
                    binding.span(),
                    format!("`[{env}.{assistant}]` binds assistant `{assistant}`, which does not exist"),
                    Some(hint),
                );
            }
            let context = format!("[{env}.{assistant}]");
            check.unknown_keys(binding_table, &["phone_numbers", "sip_headers"], &context);
            for (number, span) in check.strings(binding_table, "phone_numbers", false, false).unwrap_or_default() {
                if !is_e164(&number) {
                    check.error(
                        span.clone(),
                        format!("`{number}` is not an E.164 phone number"),
                        Some(E164_HINT.into()),
                    );
                    continue;
                }
                let owner = format!("{env}.{assistant}");
                if let Some((first_owner, first_span)) = seen.get(&number) {
                    let first = check.at(first_span.clone(), String::new(), None);
                    check.error(
                        span,
                        format!(
                            "phone number {number} is bound twice: to {first_owner} (line {}) and to {owner}",
                            first.line
                        ),
                        Some(
                            "a number may be bound to one environment and one assistant only; remove one binding"
                                .into(),
                        ),
                    );
                } else {
                    seen.insert(number, (owner, span));
                }
            }
            check.string_map(binding_table, "sip_headers");
        }
    }
    if !check.diagnostics.is_empty() {
        return None;
    }
    let environments = build(check, doc)?;
    Some(Channels { environments })
}

/// Checks a `kind`-like key: present, a string, one of `allowed`.
fn required_enum(
    check: &mut FileCheck<'_>,
    table: &Table<'_>,
    table_span: Range<usize>,
    key: &str,
    allowed: &[&str],
    context: &str,
) -> Option<String> {
    if table.get(key).is_none() {
        let list = allowed.iter().map(|a| format!("`{a}`")).collect::<Vec<_>>().join(", ");
        check.missing(table_span, key, context, &format!("add `{key} = …`, one of {list}"));
        return None;
    }
    let (value, span) = check.string(table, key)?;
    if allowed.contains(&value.as_str()) {
        Some(value)
    } else {
        check.error(
            span,
            format!("`{key}` is `{value}`, which is not one of {}", allowed.join(", ")),
            Some(suggestion(&value, allowed, key)),
        );
        None
    }
}

fn check_file_uri(check: &mut FileCheck<'_>, uri: &str, span: Range<usize>, files: &BTreeSet<String>) {
    let bad_shape = uri.is_empty()
        || uri.starts_with('/')
        || uri.contains('\\')
        || uri.split('/').any(|part| part.is_empty() || part == "." || part == "..");
    if bad_shape {
        check.error(
            span,
            format!("`uri` `{uri}` must be a relative path under the assistant's files/"),
            Some("write the path relative to files/, without `..`, e.g. `uri = \"policy.md\"`".into()),
        );
    } else if !files.contains(uri) {
        let known: Vec<&str> = files.iter().map(String::as_str).collect();
        let hint = match did_you_mean(uri, known.iter().copied()) {
            Some(close) => format!("did you mean `{close}`?"),
            None => format!("add the file as files/{uri}, or point `uri` at a file that exists there"),
        };
        check.error(span, format!("`uri` names files/{uri}, which does not exist"), Some(hint));
    }
}

fn check_json_schema(check: &mut FileCheck<'_>, parameters: &Table<'_>, span: Range<usize>) {
    let schema = table_to_json(parameters);
    match parameters.get("type").map(|value| value.get_ref().as_str()) {
        Some(Some("object")) => {}
        Some(_) => {}
        None => check.error(
            span.clone(),
            "`[parameters]` must declare `type = \"object\"`",
            Some(
                "tool parameters are a JSON Schema object: add `type = \"object\"` and `[parameters.properties.…]`"
                    .into(),
            ),
        ),
    }
    match jsonschema::meta::validate(&schema) {
        Err(error) => {
            let pointer = error.instance_path().to_string();
            let at = span_of_pointer(parameters, span, &pointer);
            let place = if pointer.is_empty() {
                String::new()
            } else {
                format!(" at `parameters{}`", pointer.replace('/', "."))
            };
            check.error(
                at,
                format!("`[parameters]` is not a valid JSON Schema{place}: {error}"),
                Some("fix the schema; see https://json-schema.org/understanding-json-schema".into()),
            );
        }
        Ok(()) => {
            if let Some(kind) = parameters.get("type")
                && kind.get_ref().as_str() != Some("object")
            {
                check.error(
                    kind.span(),
                    "`[parameters]` must be a JSON Schema of `type = \"object\"`",
                    Some("tool arguments are named: wrap them as `[parameters.properties.<name>]`".into()),
                );
            }
        }
    }
}

fn check_regex(check: &mut FileCheck<'_>, pattern: &str, span: Range<usize>) {
    if let Err(error) = regex::Regex::new(pattern) {
        let reason = error.to_string().lines().last().unwrap_or_default().trim().to_string();
        check.error(
            span,
            format!("`{pattern}` is not a valid regular expression: {reason}"),
            Some("use the syntax of https://docs.rs/regex (no look-around or back-references)".into()),
        );
    }
}

const E164_HINT: &str = "write it in E.164 form: `+`, the country code and the number, digits only, e.g. +14155550100";

/// `+`, then 7 to 15 digits, the first not 0.
pub fn is_e164(number: &str) -> bool {
    let Some(digits) = number.strip_prefix('+') else { return false };
    (7..=15).contains(&digits.len()) && digits.bytes().all(|b| b.is_ascii_digit()) && !digits.starts_with('0')
}

pub(crate) fn is_http_url(text: &str) -> bool {
    let rest = text.strip_prefix("https://").or_else(|| text.strip_prefix("http://"));
    rest.is_some_and(|rest| !rest.is_empty() && !rest.starts_with('/') && !rest.contains(char::is_whitespace))
}

/// Builds the typed value of a file that has no findings.
fn build<T: DeserializeOwned>(check: &mut FileCheck<'_>, doc: Spanned<Table<'_>>) -> Option<T> {
    if !check.diagnostics.is_empty() {
        return None;
    }
    match T::deserialize(toml::de::Deserializer::from(doc)) {
        Ok(value) => Some(value),
        Err(error) => {
            check.error(error.span().unwrap_or(0..0), error.message().to_string(), None);
            None
        }
    }
}

/// The fixed name for an id-like file or directory that does not match the id alphabet.
pub fn id_hint(name: &str) -> String {
    const RULE: &str = "ids use a-z, 0-9, `-` and `_`, start with a letter or digit, at most 64 characters";
    // A suggestion made by replacing letters outside ASCII (`café-bot` → `caf--bot`)
    // would mangle the name: state the rule and let a person choose.
    if !name.is_ascii() {
        return format!("{RULE}; letters outside a-z (like accents) are not allowed, so choose an ASCII spelling");
    }
    let fixed: String = name
        .to_lowercase()
        .chars()
        .map(|c| if c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_' { c } else { '-' })
        .collect::<String>()
        .trim_start_matches(['-', '_'])
        .chars()
        .take(64)
        .collect();
    if is_valid_id(&fixed) { format!("rename it to `{fixed}`: {RULE}") } else { RULE.to_string() }
}

#[cfg(test)]
mod tests {
    #[test]
    fn id_hints_never_mangle_names_outside_ascii() {
        let hint = super::id_hint("café-bot");
        assert!(!hint.contains("caf--bot") && hint.contains("ASCII spelling"), "{hint}");
        assert!(super::id_hint("Support Bot").starts_with("rename it to `support-bot`"));
    }

    use super::*;

    #[test]
    fn e164_numbers() {
        for good in ["+14155550100", "+442071838750", "+4930123456"] {
            assert!(is_e164(good), "{good}");
        }
        for bad in ["14155550100", "+0123456789", "+1 415 555 0100", "415-555-0100", "+123", "+1234567890123456"] {
            assert!(!is_e164(bad), "{bad}");
        }
    }

    #[test]
    fn http_urls() {
        assert!(is_http_url("https://example.com/x"));
        assert!(!is_http_url("ftp://example.com"));
        assert!(!is_http_url("https://"));
    }
}
