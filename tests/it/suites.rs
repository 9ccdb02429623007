//! `stagecraft test`: regression cases run against a deterministic OpenAI-compatible
//! server and a runtime-protocol server on 127.0.0.1, results recorded on versions, and
//! the `require_tests` gate.

use serde_json::{Value, json};

use crate::common::llm::{Answer, Llm, Rule, after_tool, answers, calls, says};
use crate::common::{Run, TestRepo};

/// The script under which every case of the example repository passes.
pub fn example_script() -> Vec<Rule> {
    vec![
        // support-bot: return-request (before the order rules: it names the email too).
        calls(
            "I want to return the jacket",
            "lookup_order",
            json!({"order_number": "10482733", "email": "jane.doe@example.com"}),
        ),
        after_tool("I want to return the jacket", "I found the jacket JKT-2041 in order 10482733. Just the one?"),
        calls(
            "Yes, just the one jacket",
            "create_return",
            json!({"order_number": "10482733", "items": [{"sku": "JKT-2041-M-BLU", "quantity": 1}], "reason": "too small"}),
        ),
        after_tool("Yes, just the one jacket", "Your return number is R-7781; the label is in your inbox."),
        // support-bot: order-status.
        says("where is my order", "I can look that up. What is the email address on the order?"),
        calls(
            "jane.doe@example.com",
            "lookup_order",
            json!({"order_number": "10482733", "email": "jane.doe@example.com"}),
        ),
        after_tool("jane.doe@example.com", "Order 10482733 is in transit with UPS, due on Wednesday."),
        // support-bot: refuses-legal-advice.
        says("landlord", "I'm sorry, I can't give legal advice. I can help with orders, returns and shipping."),
        // restaurant-booking: book-table.
        calls("table for four", "check_availability", json!({"date": "2026-12-11", "time": "19:30", "party_size": 4})),
        after_tool("table for four", "Friday at 19:30 is free. May I have your name?"),
        says("It's Rossi", "A table for four under Rossi, Friday at 19:30. Is that right?"),
        calls(
            "Yes, that's right.",
            "create_booking",
            json!({"party_size": 4, "date": "2026-12-11", "time": "19:30", "name": "Rossi", "phone": "+14155550123"}),
        ),
        after_tool("Yes, that's right.", "You're all set; we'll send you a text."),
        // restaurant-booking: cancel-booking.
        says("cancel my booking", "Sure, which booking would you like to cancel?"),
        calls("Please cancel it", "cancel_booking", json!({"phone": "+14155550123", "date": "2026-12-08"})),
        after_tool("Please cancel it", "Your booking at eight is cancelled."),
        // restaurant-booking: large-group-transfer.
        calls("twenty people", "transfer_call", json!({"reason": "large group"})),
        after_tool("twenty people", "For a group that size I'm putting you through to the restaurant."),
    ]
}

/// `stagecraft` in the repository with these variables.
pub fn stagecraft_with(repo: &TestRepo, args: &[&str], vars: &[(&str, &str)]) -> Run {
    let output = repo
        .env
        .command(env!("CARGO_BIN_EXE_stagecraft"), &repo.root)
        .args(args)
        .envs(vars.iter().copied())
        .output()
        .unwrap();
    Run::from_output(output, repo.env.path())
}

#[test]
fn the_example_cases_pass_and_a_run_on_a_version_is_recorded_where_show_and_history_see_it() {
    let repo = TestRepo::from_example();
    let llm = Llm::start(example_script());
    let endpoint = llm.endpoint.as_str();
    // The draft, unpublished: nothing is recorded.
    let draft = repo.stagecraft(&["test", "--draft", "--endpoint", endpoint]);
    assert_eq!(draft.code, 0, "{draft}");
    assert!(draft.stdout.contains("the draft (") && draft.stdout.contains("6 passed, 0 failed, 0 not run"), "{draft}");
    assert!(!draft.stdout.contains("recorded"), "{draft}");
    let book = draft.stdout.lines().find(|l| l.contains("book-table")).unwrap();
    assert!(book.contains("passed (2/2)"), "two runs decide a case that needs two of three: {book}");
    // sandbox: recorded on v1, as a note, seen by show and history.
    let junit = repo.env.path().join("junit.xml");
    let sandbox = stagecraft_with(
        &repo,
        &["test", "--env", "sandbox", "--junit", junit.to_str().unwrap()],
        &[("STAGECRAFT_TEST_ENDPOINT", endpoint), ("STAGECRAFT_TEST_MODEL", "small-model")],
    );
    assert_eq!(sandbox.code, 0, "{sandbox}");
    assert!(sandbox.stdout.contains("recorded on v1: tests: 6/6 passed in sandbox"), "{sandbox}");
    let note = repo.git(&["notes", "--ref", "refs/notes/stagecraft/tests", "show", "v1^{commit}"]);
    let record: Value = serde_json::from_str(note.lines().last().unwrap()).unwrap();
    assert_eq!((record["version"].as_u64(), record["passed"].as_u64()), (Some(1), Some(6)), "{note}");
    assert_eq!(record["by"], "Test User <test@example.com>");
    assert!(repo.stagecraft(&["show", "v1"]).success().stdout.contains("tests: 6/6 passed in sandbox"));
    let shown = repo.stagecraft(&["show", "v1", "--json"]).success().json();
    assert_eq!(shown["tests"], "tests: 6/6 passed in sandbox");
    let xml = std::fs::read_to_string(&junit).unwrap();
    assert_eq!(xml.matches("<testcase ").count(), 6, "{xml}");
    assert!(xml.contains("<testsuite name=\"restaurant-booking\"") && xml.contains("failures=\"0\""), "{xml}");
    // What was sent: the tested state's own prompt, tools and model settings.
    let sent = llm.requests("/v1/chat/completions");
    let booking = sent
        .iter()
        .find(|r| {
            r["model"] == "small-model" && r["messages"][1]["content"].as_str().unwrap().contains("table for four")
        })
        .expect("STAGECRAFT_TEST_MODEL names the model");
    assert_eq!(booking["temperature"], 0.5);
    assert_eq!(booking["max_tokens"], 300);
    let instructions =
        std::fs::read_to_string(crate::common::example_repo().join("assistants/restaurant-booking/instructions.md"))
            .unwrap();
    assert_eq!(booking["messages"][0], json!({"role": "system", "content": instructions}));
    let tools: Vec<&str> =
        booking["tools"].as_array().unwrap().iter().map(|t| t["function"]["name"].as_str().unwrap()).collect();
    assert_eq!(tools, ["cancel_booking", "check_availability", "create_booking", "transfer_call"]);
    assert_eq!(booking["tools"][1]["function"]["parameters"]["properties"]["party_size"]["maximum"], 12);
    // The scripted tool result went back to the model.
    let second = sent
        .iter()
        .find(|r| {
            r["messages"]
                .as_array()
                .unwrap()
                .iter()
                .any(|m| m["role"] == "tool" && m["content"].as_str().unwrap().contains("19:30"))
        })
        .expect("the scripted result of check_availability");
    assert_eq!(second["messages"][2]["tool_calls"][0]["function"]["name"], "check_availability");
    // A JSON report.
    let json =
        repo.stagecraft(&["test", "--env", "sandbox", "--endpoint", endpoint, "--json", "--assistant", "support-bot"]);
    let answer = json.success().json();
    assert_eq!((answer["passed"].as_u64(), answer["cases"].as_array().unwrap().len()), (Some(3), 3), "{answer}");
    assert_eq!(answer["recorded"], "tests: 3/3 passed in sandbox (assistant support-bot only)");
    let history = repo.stagecraft(&["history"]).success();
    assert!(history.stdout.contains("[tests: 3/3 passed in sandbox (assistant support-bot only)]"), "{history}");
    dump_for_openai_check(&sent);
}

/// Keeps the requests for the check against the `openai` library's types, which runs
/// them when Python has the library (CI installs it).
fn dump_for_openai_check(sent: &[Value]) {
    let dir = tempfile::tempdir().unwrap();
    let mut paths = Vec::new();
    for (index, body) in sent.iter().enumerate() {
        let path = dir.path().join(format!("request-{index}.json"));
        std::fs::write(&path, serde_json::to_vec_pretty(body).unwrap()).unwrap();
        paths.push(path);
    }
    let probe = std::process::Command::new("python3").args(["-c", "import openai, pydantic"]).output();
    if !probe.is_ok_and(|out| out.status.success()) {
        crate::common::skip_notice(
            "the openai Python library (pip install openai): requests not checked against its types",
        );
        return;
    }
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/openai/check_requests.py");
    let output = std::process::Command::new("python3").arg(script).args(&paths).output().unwrap();
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "the requests are not valid Chat Completions requests:\n{text}");
    assert!(text.contains(&format!("checked {} request(s)", paths.len())), "{text}");
}

/// Writes `cases` (name, TOML) as the support-bot's only cases on the draft.
fn with_cases(repo: &TestRepo, cases: &[(&str, &str)]) {
    let dir = repo.root.join("assistants/support-bot/tests");
    std::fs::remove_dir_all(&dir).unwrap();
    std::fs::create_dir_all(&dir).unwrap();
    for (name, text) in cases {
        std::fs::write(dir.join(format!("{name}.toml")), text).unwrap();
    }
    repo.git(&["add", "-A"]);
    repo.git(&["commit", "-q", "-m", "cases"]);
}

#[test]
fn each_expectation_can_fail_and_names_what_it_expected_and_what_came_back() {
    let repo = TestRepo::from_example();
    with_cases(
        &repo,
        &[
            ("contains", "[[turn]]\nuser = \"hello\"\ncontains = \"goodbye\"\n"),
            ("not-contains", "[[turn]]\nuser = \"hello\"\nnot_contains = \"HELLO there\"\n"),
            ("matches", "[[turn]]\nuser = \"hello\"\nmatches = '^\\d+$'\n"),
            ("tool-called", "[[turn]]\nuser = \"hello\"\ntool_called = \"lookup_order\"\n"),
            (
                "tool-args",
                "[[turn]]\nuser = \"look it up\"\ntool_args = { lookup_order = { order_number = \"99999999\" } }\n",
            ),
            ("latency", "[[turn]]\nuser = \"slowly\"\nmax_latency_ms = 50\n"),
            ("unscripted-tool", "[[turn]]\nuser = \"look it up\"\ncontains = \"no scripted result\"\n"),
            ("min-pass", "runs = 3\nmin_pass = 2\n[[turn]]\nuser = \"hello\"\ncontains = \"goodbye\"\n"),
        ],
    );
    let llm = Llm::start(vec![
        says("hello", "Hello there!"),
        calls("look it up", "lookup_order", json!({"order_number": "10482733", "email": "a@example.com"})),
        // The model repeats what the tool answered (the error of an unscripted call).
        Rule {
            user: "look it up".into(),
            after_tool: true,
            answer: Answer::Text("It said: no scripted result".into()),
        },
        answers("slowly", Answer::Slow(120, Box::new(Answer::Text("finally".into())))),
    ]);
    let run = repo.stagecraft(&["test", "--endpoint", &llm.endpoint, "--assistant", "support-bot", "--json"]);
    assert_eq!(run.code, 1, "a failed case exits 1: {run}");
    let answer = run.json();
    let by_case = |name: &str| answer["cases"].as_array().unwrap().iter().find(|c| c["case"] == name).unwrap().clone();
    let failed = |name: &str, key: &str| {
        let case = by_case(name);
        assert_eq!((case["result"].as_str(), case["expectation"].as_str()), (Some("failed"), Some(key)), "{case}");
        case
    };
    assert_eq!(failed("contains", "contains")["got"], "Hello there!");
    assert_eq!(failed("not-contains", "not_contains")["expected"], "the reply does not contain \"HELLO there\"");
    failed("matches", "matches");
    assert_eq!(failed("tool-called", "tool_called")["got"], "no tool calls");
    let args = failed("tool-args", "tool_args");
    assert!(args["got"].as_str().unwrap().contains("\"order_number\":\"10482733\""), "{args}");
    let latency = failed("latency", "max_latency_ms");
    assert!(latency["latency_ms"].as_u64().unwrap() >= 120, "{latency}");
    assert_eq!(by_case("unscripted-tool")["result"], "passed");
    let min_pass = failed("min-pass", "contains");
    assert_eq!(
        (min_pass["runs"].as_u64(), min_pass["passed_runs"].as_u64()),
        (Some(2), Some(0)),
        "two failures decide it"
    );
    assert_eq!((answer["passed"].as_u64(), answer["failed"].as_u64()), (Some(1), Some(7)));
    // The table names the first failed expectation.
    let table =
        repo.stagecraft(&["test", "--endpoint", &llm.endpoint, "--assistant", "support-bot", "--case", "contains"]);
    assert!(
        table.stdout.contains("FAILED")
            && table.stdout.contains("turn 1: contains: expected the reply contains \"goodbye\", got Hello there!"),
        "{table}"
    );
}

#[test]
fn a_run_that_cannot_complete_exits_4_and_records_nothing() {
    let repo = TestRepo::from_example();
    let broken = |answer: Answer| Llm::start(vec![answers("", answer)]);
    let cases = [
        (broken(Answer::Status(500)), "answered HTTP 500 Internal Server Error"),
        (broken(Answer::Html), "is not JSON (text/html)"),
        (broken(Answer::Malformed), "is malformed: the answer has no choices[0].message"),
        (broken(Answer::Hang), "no answer from"),
    ];
    for (llm, expected) in &cases {
        let run = repo.stagecraft(&[
            "test",
            "--env",
            "sandbox",
            "--endpoint",
            &llm.endpoint,
            "--case",
            "order-status",
            "--timeout",
            "300ms",
        ]);
        assert_eq!(run.code, 4, "{expected}: {run}");
        assert!(run.stdout.contains("ERROR") && run.stdout.contains(expected), "{expected}: {run}");
        assert!(!run.stdout.contains("recorded"), "{run}");
    }
    // Nobody listening.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
    let unreachable = format!("http://{closed}/v1");
    let run = repo.stagecraft(&["test", "--env", "sandbox", "--endpoint", &unreachable, "--case", "order-status"]);
    assert_eq!(run.code, 4, "{run}");
    assert!(run.stdout.contains("cannot reach"), "{run}");
    // A key the endpoint refuses.
    let llm = Llm::start(example_script());
    let refused = stagecraft_with(
        &repo,
        &["test", "--endpoint", &llm.endpoint, "--case", "order-status"],
        &[("STAGECRAFT_TEST_API_KEY", "wrong-key")],
    );
    assert_eq!(refused.code, 4, "{refused}");
    assert!(refused.stdout.contains("the API key is missing or wrong"), "{refused}");
    assert_eq!(repo.git(&["notes", "--ref", "refs/notes/stagecraft/tests", "list"]), "", "nothing recorded");
    // A key the config names but the environment lacks: nothing runs.
    let config = repo.env.path().join("keyed.toml");
    std::fs::write(&config, format!("[test]\nendpoint = \"{}\"\napi_key = \"env:NO_SUCH_KEY\"\n", llm.endpoint))
        .unwrap();
    let missing = repo.stagecraft(&["--config", config.to_str().unwrap(), "test", "--env", "sandbox"]);
    assert_eq!(missing.code, 2, "{missing}");
    assert!(missing.stderr.contains("[test] api_key: env:NO_SUCH_KEY is not set"), "{missing}");
    // No target at all, a bad endpoint, an unknown case: usage and not-found errors.
    let none = repo.stagecraft(&["test"]);
    assert_eq!(none.code, 2, "{none}");
    assert!(none.stderr.contains("--endpoint"), "{none}");
    assert_eq!(repo.stagecraft(&["test", "--endpoint", "ftp://x"]).code, 2);
    let unknown = repo.stagecraft(&["test", "--endpoint", &llm.endpoint, "--case", "no-such-case"]);
    assert_eq!(unknown.code, 1, "{unknown}");
    assert!(unknown.stderr.contains("no case `no-such-case`"), "{unknown}");
}

#[test]
fn a_runtime_test_url_answers_for_the_version_it_holds_and_a_redirect_is_refused() {
    let repo = TestRepo::from_example();
    let llm = Llm::start(example_script());
    let config = repo.env.path().join("stagecraft.toml");
    let write = |url: &str| {
        std::fs::write(
            &config,
            format!(
                "[[runtime]]\nname = \"sandbox-1\"\nenvironment = \"sandbox\"\nurl = \"http://127.0.0.1:9/hook\"\nsecret = \"env:S\"\ntest_url = \"{url}\"\n"
            ),
        )
        .unwrap();
    };
    write(&llm.runtime_url);
    let path = config.to_str().unwrap();
    let run = repo.stagecraft(&["--config", path, "test", "--env", "sandbox"]);
    assert_eq!(run.code, 0, "{run}");
    assert!(run.stdout.contains("against runtime sandbox-1"), "{run}");
    let sent = llm.requests("/runtime");
    assert!(sent.iter().all(|r| r["version"] == 1), "the version the runtime holds");
    let order = sent.iter().find(|r| r["messages"][0]["content"] == "Hi, where is my order 10482733?").unwrap();
    assert_eq!(order["assistant"], "support-bot");
    // A test_url that redirects.
    let redirecting = Llm::start(vec![answers("", Answer::Redirect)]);
    write(&redirecting.runtime_url);
    let run = repo.stagecraft(&["--config", path, "test", "--env", "sandbox", "--case", "order-status"]);
    assert_eq!(run.code, 4, "{run}");
    assert!(run.stdout.contains("redirects to http://127.0.0.1:9/elsewhere"), "{run}");
    // An explicit endpoint wins over the runtime.
    let explicit = repo.stagecraft(&["--config", path, "test", "--env", "sandbox", "--endpoint", &llm.endpoint]);
    assert!(explicit.stdout.contains(&format!("against {}", llm.endpoint)), "{explicit}");
}

#[test]
fn a_suite_of_500_cases_runs_16_at_a_time() {
    let repo = TestRepo::from_example();
    let dir = repo.root.join("assistants/support-bot/tests");
    for n in 0..500 {
        std::fs::write(
            dir.join(format!("bulk-{n:03}.toml")),
            format!("[[turn]]\nuser = \"ping {n}\"\ncontains = \"pong\"\n"),
        )
        .unwrap();
    }
    repo.git(&["add", "-A"]);
    repo.git(&["commit", "-q", "-m", "500 cases"]);
    // The answers wait until 16 are asked at once, so that cases overlap (no timing).
    let llm = Llm::start(vec![answers("ping", Answer::Gate(16, Box::new(Answer::Text("pong".into()))))]);
    let run = repo.stagecraft(&[
        "test",
        "--endpoint",
        &llm.endpoint,
        "--assistant",
        "support-bot",
        "--concurrency",
        "16",
        "--json",
    ]);
    let answer = run.json();
    assert_eq!(run.code, 1, "the three example cases fail under this script: {run}");
    assert_eq!(answer["passed"], 500);
    assert_eq!(answer["cases"].as_array().unwrap().len(), 503);
    let most = llm.most_in_flight();
    assert!((2..=16).contains(&most), "at most 16 at once, and more than one: {most}");
}

#[test]
fn validate_refuses_unknown_expectations_and_bad_new_keys_with_positions() {
    let repo = TestRepo::from_example();
    with_cases(
        &repo,
        &[(
            "bad",
            "runs = 2\nmin_pass = 3\n[[turn]]\nuser = \"hi\"\nresponds = \"x\"\nmatches = '(unclosed'\ntool_args = { no_such_tool = { a = 1 } }\ntool_result = 7\nmax_latency_ms = 0\n",
        )],
    );
    let run = repo.stagecraft(&["validate"]);
    assert_eq!(run.code, 1, "{run}");
    let file = "assistants/support-bot/tests/bad.toml";
    for expected in [
        format!("{file}:2:12: `min_pass` is 3, but the case runs 2 time(s)"),
        format!("{file}:5:1: unknown key `responds` in a `[[turn]]`"),
        format!("{file}:6:11: `(unclosed` is not a valid regular expression"),
        format!("{file}:7:15: `tool_args` names `no_such_tool`, which is not a tool of this assistant"),
        format!("{file}:8:15: `tool_result` must be a string"),
        format!("{file}:9:18: `max_latency_ms` is 0, not from 1 to 600000"),
    ] {
        assert!(run.stderr.contains(&expected) || run.stdout.contains(&expected), "{expected}\n{run}");
    }
}

#[test]
fn require_tests_gates_a_local_promotion_until_the_newest_run_in_the_environment_before_passed() {
    let repo = TestRepo::from_example();
    let config = repo.env.path().join("gate.toml");
    std::fs::write(&config, "[environments]\nrequire_tests = [\"live\"]\n").unwrap();
    let config = config.to_str().unwrap();
    repo.commit_file("assistants/support-bot/instructions.md", "Be brief.\n");
    assert_eq!(repo.release_to("pre-release"), "v2");
    let promote = |extra: &[&str]| {
        let mut args = vec!["--config", config, "promote", "v2", "--to", "live", "--yes"];
        args.extend(extra);
        repo.stagecraft(&args)
    };
    // No run at all: refused, and the key is not ignored.
    let refused = promote(&["--json"]);
    assert_eq!(refused.code, 1, "{refused}");
    assert_eq!(refused.json()["error"]["code"], "tests_required", "{refused}");
    let text = promote(&[]);
    assert!(
        text.stderr.contains("v2 has no passing test run recorded in pre-release, and live requires one"),
        "{text}"
    );
    assert!(text.stderr.contains("stagecraft test --env pre-release"), "{text}");
    // A run that fails is the newest: still refused.
    let failing = Llm::start(vec![says("", "I don't know.")]);
    let run = repo.stagecraft(&["test", "--env", "pre-release", "--endpoint", &failing.endpoint]);
    assert_eq!(run.code, 1, "{run}");
    assert!(run.stdout.contains("recorded on v2: tests: 0/6 passed in pre-release"), "{run}");
    assert_eq!(promote(&[]).code, 1);
    // One case passing afterwards opens nothing: the newest whole-suite run failed.
    let llm = Llm::start(example_script());
    let narrowed =
        repo.stagecraft(&["test", "--env", "pre-release", "--endpoint", &llm.endpoint, "--case", "order-status"]);
    assert!(narrowed.stdout.contains("tests: 1/1 passed in pre-release (case order-status only)"), "{narrowed}");
    assert_eq!(promote(&[]).code, 1, "a narrowed run never opens the gate");
    // A run in sandbox does not count for live.
    repo.stagecraft(&["test", "--env", "sandbox", "--endpoint", &llm.endpoint]).success();
    assert_eq!(promote(&[]).code, 1, "the run must be in pre-release");
    // A passing run in pre-release: promoted.
    repo.stagecraft(&["test", "--env", "pre-release", "--endpoint", &llm.endpoint]).success();
    let promoted = promote(&[]);
    assert_eq!(promoted.code, 0, "{promoted}");
    assert!(
        promoted.stderr.contains("v2 tests: 6/6 passed in pre-release") || promoted.stdout.contains("tests: 6/6"),
        "{promoted}"
    );
    // --force -m overrides, and the reason is in the trailers.
    repo.commit_file("assistants/support-bot/instructions.md", "Be very brief.\n");
    assert_eq!(repo.release_to("pre-release"), "v3");
    let mut args = vec!["--config", config, "promote", "v3", "--to", "live", "--yes"];
    assert_eq!(repo.stagecraft(&args).code, 1);
    args.extend(["--force", "-m", "hotfix for the outage"]);
    repo.stagecraft(&args).success();
    let trailers = repo.git(&["log", "-1", "--format=%(trailers:key=Stagecraft-Force,valueonly)", "live"]);
    assert_eq!(trailers.trim(), "hotfix for the outage");
}

/// A chat in the terminal, its input piped.
fn chat(repo: &TestRepo, args: &[&str], vars: &[(&str, &str)], input: &str) -> Run {
    use std::io::Write;
    let mut child = repo
        .env
        .command(env!("CARGO_BIN_EXE_stagecraft"), &repo.root)
        .args(args)
        .envs(vars.iter().copied())
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(input.as_bytes()).unwrap();
    Run::from_output(child.wait_with_output().unwrap(), repo.env.path())
}

const CHAT_INPUT: &str = "Hi, I'd like a table for four this Friday at seven thirty.\n/reset\nIt's Rossi, and my number is +1 415 555 0123.\n/quit\nnever read\n";

fn assert_chat(run: &Run) {
    assert_eq!(run.code, 0, "{run}");
    let lines: Vec<&str> = run.stdout.lines().collect();
    assert_eq!(
        lines,
        [
            "  tool check_availability({\"date\":\"2026-12-11\",\"party_size\":4,\"time\":\"19:30\"}) -> {\"available\": [\"19:30\"]}",
            "restaurant-booking> Friday at 19:30 is free. May I have your name?",
            "(the conversation starts over)",
            "restaurant-booking> A table for four under Rossi, Friday at 19:30. Is that right?",
        ],
        "{run}"
    );
}

#[test]
fn chat_shows_tool_calls_with_their_scripted_results_and_starts_over_on_reset() {
    let repo = TestRepo::from_example();
    let llm = Llm::start(example_script());
    let args = [
        "chat",
        "--env",
        "sandbox",
        "--assistant",
        "restaurant-booking",
        "--endpoint",
        &llm.endpoint,
        "--tool-result",
        "check_availability={\"available\": [\"19:30\"]}",
    ];
    assert_chat(&chat(&repo, &args, &[], CHAT_INPUT));
    // After /reset the conversation is the system prompt and the new message only.
    let last = llm.requests("/v1/chat/completions").pop().unwrap();
    assert_eq!(last["messages"].as_array().unwrap().len(), 2, "{last}");
    // A turn that fails after a tool call leaves nothing behind.
    let failing = Llm::start(vec![
        calls("first", "check_availability", json!({"date": "2026-12-11", "party_size": 2})),
        Rule { user: "first".into(), after_tool: true, answer: Answer::Status(500) },
        says("second", "Fine."),
    ]);
    let args = ["chat", "--assistant", "restaurant-booking", "--endpoint", &failing.endpoint];
    let run = chat(&repo, &args, &[], "first\nsecond\n");
    assert!(run.stdout.contains("(no answer: ") && run.stdout.contains("restaurant-booking> Fine."), "{run}");
    let last = failing.requests("/v1/chat/completions").pop().unwrap();
    assert_eq!(last["messages"].as_array().unwrap().len(), 2, "only the system prompt and `second`: {last}");
    // An unknown assistant.
    let unknown = repo.stagecraft(&["chat", "--assistant", "nobody", "--endpoint", &llm.endpoint]);
    assert_eq!(unknown.code, 1, "{unknown}");
    assert!(unknown.stderr.contains("no assistant `nobody`"), "{unknown}");
}

#[test]
fn chat_and_test_through_a_daemon() {
    use sha2::Digest;
    let repo = TestRepo::from_example();
    let llm = Llm::start(example_script());
    let hash = hex::encode(sha2::Sha256::digest(b"publisher-token"));
    let config = format!(
        "[repository]\npath = \"repo\"\nidentity = \"stagecraft daemon <daemon@example.com>\"\n[server]\nlisten = \"127.0.0.1:0\"\n[[token]]\nname = \"ci\"\nsha256 = \"{hash}\"\nrole = \"publisher\"\n[test]\nendpoint = \"{}\"\n",
        llm.endpoint
    );
    let daemon = crate::common::daemon::Daemon::start(&repo, &config);
    let server = format!("http://{}", daemon.address);
    let vars = [("STAGECRAFT_TOKEN", "publisher-token")];
    let args = [
        "--server",
        &server,
        "chat",
        "--env",
        "sandbox",
        "--assistant",
        "restaurant-booking",
        "--tool-result",
        "check_availability={\"available\": [\"19:30\"]}",
    ];
    assert_chat(&chat(&repo, &args, &vars, CHAT_INPUT));
    let tested = stagecraft_with(&repo, &["--server", &server, "test", "--env", "sandbox"], &vars);
    assert_eq!(tested.code, 0, "{tested}");
    assert!(tested.stdout.contains("recorded on v1: tests: 6/6 passed in sandbox"), "{tested}");
    let note = repo.git(&["notes", "--ref", "refs/notes/stagecraft/tests", "show", "v1^{commit}"]);
    assert!(note.contains("\"by\":\"token:ci\""), "{note}");
    assert_eq!(daemon.stop(), 0);
}

#[test]
fn ctrl_c_in_the_middle_of_a_run_exits_4_and_records_nothing() {
    let repo = TestRepo::from_example();
    let llm = Llm::start(vec![answers("", Answer::Hang)]);
    let child = repo
        .env
        .command(env!("CARGO_BIN_EXE_stagecraft"), &repo.root)
        .args(["test", "--env", "sandbox", "--endpoint", &llm.endpoint])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Every case is waiting on the endpoint (4 at once), then the user presses Ctrl-C.
    llm.wait_requests(4);
    let status = std::process::Command::new("kill").args(["-INT", &child.id().to_string()]).status().unwrap();
    assert!(status.success());
    let run = Run::from_output(child.wait_with_output().unwrap(), repo.env.path());
    assert_eq!(run.code, 4, "{run}");
    assert!(run.stdout.contains("0 passed, 0 failed, 6 not run"), "{run}");
    assert!(run.stderr.contains("stopped"), "{run}");
    assert_eq!(repo.git(&["notes", "--ref", "refs/notes/stagecraft/tests", "list"]), "", "nothing recorded");
}

#[test]
fn with_remote_the_record_is_pushed_at_once_on_top_of_the_remotes_notes() {
    use crate::common::gitserver::{clone, forge, git};
    let env = crate::common::TestEnv::new();
    let hosted = forge(&env, false);
    let llm = Llm::start(example_script());
    let first = clone(&env, &hosted, "first");
    let second = clone(&env, &hosted, "second");
    let test = |dir: &std::path::Path, case: &str| {
        let output = env
            .command(env!("CARGO_BIN_EXE_stagecraft"), dir)
            .args(["--remote", "origin", "test", "--env", "sandbox", "--endpoint", &llm.endpoint, "--case", case])
            .output()
            .unwrap();
        let run = Run::from_output(output, env.path());
        assert_eq!(run.code, 0, "{run}");
    };
    // A run recorded in the first clone alone stays there whatever --remote fetches.
    let local = env
        .command(env!("CARGO_BIN_EXE_stagecraft"), &first)
        .args(["test", "--env", "sandbox", "--endpoint", &llm.endpoint, "--case", "cancel-booking"])
        .output()
        .unwrap();
    assert!(local.status.success(), "{}", String::from_utf8_lossy(&local.stderr));
    // Two people record runs from two clones: both records are on the remote.
    test(&first, "order-status");
    test(&second, "book-table");
    let note = env.git_in(&hosted.path, &["notes", "--ref", "refs/notes/stagecraft/tests", "show", "v1^{commit}"]);
    let records: Vec<Value> = note.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(records.len(), 2, "{note}");
    assert_eq!(records.iter().map(|r| r["passed"].as_u64().unwrap()).sum::<u64>(), 2);
    // The first clone sees the remote's newest with --remote, and keeps its own.
    let shown = env.stagecraft_in(&first, &["--remote", "origin", "show", "v1"]).success();
    assert!(shown.stdout.contains("tests: 1/1 passed in sandbox (case book-table only)"), "{shown}");
    let own = git(&env, &first, &["notes", "--ref", "refs/notes/stagecraft/tests", "show", "v1^{commit}"]);
    assert!(own.contains("case cancel-booking") && own.lines().count() == 1, "{own}");
}

/// The example repository's README names only commands that exist.
#[test]
fn the_example_readme_names_only_commands_that_exist() {
    let readme = std::fs::read_to_string(crate::common::example_repo().join("README.md")).unwrap();
    let env = crate::common::TestEnv::new();
    let mut named = std::collections::BTreeSet::new();
    for piece in readme.split('`').skip(1).step_by(2) {
        if let Some(rest) = piece.strip_prefix("stagecraft ") {
            named.insert(rest.split_whitespace().next().unwrap().to_string());
        }
    }
    assert!(named.contains("test") && named.contains("chat"), "{named:?}");
    for command in &named {
        let help = env.stagecraft_in(env.path(), &[command, "--help"]);
        assert_eq!(help.code, 0, "`stagecraft {command}` is named in example-repo/README.md: {help}");
    }
}
