//! A turn's expectations against what came back (pure): `contains` and `not_contains`
//! (ignoring case), `matches` (regular expressions), `tool_called`, `tool_args` (each
//! named tool was called with arguments containing these values) and `max_latency_ms`.

use serde_json::Value;

use super::{Failure, ToolCall};
use crate::model::Turn;

/// Every expectation of `turn` that `reply`, `calls` and `latency_ms` do not meet, in the
/// order the case file lists them. `turn_index` counts from 1.
pub fn check_turn(turn_index: usize, turn: &Turn, reply: &str, calls: &[ToolCall], latency_ms: u64) -> Vec<Failure> {
    let mut failures = Vec::new();
    let lower = reply.to_lowercase();
    let fail =
        |expectation: String, expected: String, got: String| Failure { turn: turn_index, expectation, expected, got };
    let shown = || shorten(reply, 200);
    for wanted in &turn.contains {
        if !lower.contains(&wanted.to_lowercase()) {
            failures.push(fail("contains".into(), format!("the reply contains {wanted:?}"), shown()));
        }
    }
    for unwanted in &turn.not_contains {
        if lower.contains(&unwanted.to_lowercase()) {
            failures.push(fail("not_contains".into(), format!("the reply does not contain {unwanted:?}"), shown()));
        }
    }
    for pattern in &turn.matches {
        // Validation checked every pattern; one that still fails to compile fails the case.
        let matched = regex::Regex::new(pattern).is_ok_and(|re| re.is_match(reply));
        if !matched {
            failures.push(fail("matches".into(), format!("the reply matches /{pattern}/"), shown()));
        }
    }
    let called: Vec<&str> = calls.iter().map(|c| c.name.as_str()).collect();
    let called_text =
        || if called.is_empty() { "no tool calls".to_string() } else { format!("calls: {}", called.join(", ")) };
    for tool in &turn.tool_called {
        if !called.contains(&tool.as_str()) {
            failures.push(fail("tool_called".into(), format!("a call of {tool}"), called_text()));
        }
    }
    for (tool, wanted) in &turn.tool_args {
        let wanted = crate::model::toml_to_json(&toml::Value::Table(wanted.clone()));
        let of_tool: Vec<&ToolCall> = calls.iter().filter(|c| &c.name == tool).collect();
        if of_tool.is_empty() {
            failures.push(fail("tool_args".into(), format!("a call of {tool} with {wanted}"), called_text()));
        } else if !of_tool.iter().any(|call| contains(&call.arguments, &wanted)) {
            let got: Vec<String> = of_tool.iter().map(|c| format!("{tool}({})", c.arguments)).collect();
            failures.push(fail("tool_args".into(), format!("a call of {tool} with {wanted}"), got.join("; ")));
        }
    }
    if let Some(max) = turn.max_latency_ms
        && latency_ms > max
    {
        failures.push(fail("max_latency_ms".into(), format!("an answer within {max} ms"), format!("{latency_ms} ms")));
    }
    failures
}

/// Whether `value` contains `wanted`: every key of an object with a value that contains
/// the wanted one; numbers compared as numbers (4 equals 4.0); everything else equal.
pub fn contains(value: &Value, wanted: &Value) -> bool {
    match (value, wanted) {
        (Value::Object(have), Value::Object(want)) => {
            want.iter().all(|(key, wanted)| have.get(key).is_some_and(|value| contains(value, wanted)))
        }
        (Value::Number(a), Value::Number(b)) => a.as_f64() == b.as_f64(),
        _ => value == wanted,
    }
}

/// At most `max` characters, with an ellipsis when cut.
pub fn shorten(text: &str, max: usize) -> String {
    let text = text.trim();
    if text.chars().count() <= max {
        return text.to_string();
    }
    let mut cut: String = text.chars().take(max).collect();
    cut.push('…');
    cut
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn turn(text: &str) -> Turn {
        toml::from_str(text).unwrap()
    }

    fn call(name: &str, arguments: Value) -> ToolCall {
        ToolCall { id: "c1".into(), name: name.into(), arguments }
    }

    #[test]
    fn every_expectation_fails_on_its_own() {
        let t = turn(
            r#"user = "hi"
contains = "Order"
not_contains = "sorry"
matches = '\d{8}'
tool_called = "lookup_order"
tool_args = { lookup_order = { id = 12345678, express = true } }
max_latency_ms = 100"#,
        );
        let good = check_turn(
            1,
            &t,
            "Your order 12345678 shipped",
            &[call("lookup_order", json!({"id": 12345678.0, "express": true, "x": 1}))],
            50,
        );
        assert_eq!(good, []);
        let bad = check_turn(2, &t, "Sorry, no.", &[call("lookup_order", json!({"id": 1}))], 150);
        let kinds: Vec<&str> = bad.iter().map(|f| f.expectation.as_str()).collect();
        assert_eq!(kinds, ["contains", "not_contains", "matches", "tool_args", "max_latency_ms"]);
        assert_eq!(bad[0].turn, 2);
        assert_eq!(bad[3].got, "lookup_order({\"id\":1})");
        let none = check_turn(1, &t, "Order 12345678", &[], 1);
        assert_eq!(none[0].expectation, "tool_called");
        assert_eq!(none[0].got, "no tool calls");
    }

    #[test]
    fn containment_is_by_subset_and_numbers_by_value() {
        assert!(contains(&json!({"a": {"b": 1, "c": 2}}), &json!({"a": {"b": 1.0}})));
        assert!(!contains(&json!({"a": [1, 2]}), &json!({"a": [1]})));
        assert!(!contains(&json!({}), &json!({"a": null})));
    }
}
