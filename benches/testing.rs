//! Test-run benchmark: stagecraft's own overhead per regression case, beyond the
//! endpoint's latency. The endpoint is an OpenAI-compatible stand-in on 127.0.0.1 that
//! answers at once (a fixed completion), so what is left is stagecraft's.
//!
//! - `suite`: `tester::run_suite` of 200 one-turn cases of the example's support-bot
//!   (its real instructions and three tools), 16 at once: the request built from the
//!   tested state, sent, the answer read and the expectations checked.
//! - `baseline`: the same 200 requests, pre-built, sent with the same client and 16 at
//!   once, the answers read and dropped: the endpoint and loopback HTTP alone.
//! - `in-process`: one case's pure work without a network (request body built and
//!   serialized, the answer parsed, the expectations checked).
//!
//! Overhead per case = (suite − baseline) / 200. Run: `cargo bench --bench testing`.

use std::sync::Arc;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use serde_json::{Value, json};
use stagecraft::model::{Assistant, TestCase};
use stagecraft::tester::{RunOptions, run_suite};
use stagecraft::testing::expect::check_turn;
use stagecraft::testing::{Message, Planned, Target, chat_request, parse_chat_reply};
use tokio_util::sync::CancellationToken;

const CASES: usize = 200;

fn answer() -> Value {
    json!({"id": "c", "object": "chat.completion", "created": 1, "model": "m",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": "Your order 10482733 is in transit."}, "finish_reason": "stop"}]})
}

/// The example's support-bot, loaded the way `stagecraft test` loads it.
fn assistant() -> Arc<Assistant> {
    let (snapshot, blobs) = stagecraft::example::snapshot();
    let (config, diagnostics) = stagecraft::parse::load(&snapshot, &blobs, &stagecraft::model::Chain::default_chain());
    assert!(diagnostics.is_empty());
    config.assistants.values().find(|a| a.id.as_str() == "support-bot").expect("support-bot").clone()
}

fn bench(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let body = Arc::new(serde_json::to_vec(&answer()).unwrap());
    let listener = runtime.block_on(tokio::net::TcpListener::bind("127.0.0.1:0")).unwrap();
    let address = listener.local_addr().unwrap();
    let served = body.clone();
    let app = axum::Router::new().fallback(move || {
        let body = served.clone();
        async move { ([("content-type", "application/json")], body.as_ref().clone()) }
    });
    runtime.spawn(async move { axum::serve(listener, app).await.unwrap() });
    let endpoint = format!("http://{address}/v1");
    let target = Target::Chat { endpoint: endpoint.clone(), model: None, api_key: None };
    let assistant = assistant();
    let test: TestCase = toml::from_str(
        "[[turn]]\nuser = \"Where is order 10482733?\"\ncontains = \"in transit\"\nmatches = '\\d{8}'\n",
    )
    .unwrap();
    let cases: Vec<Planned> = (0..CASES)
        .map(|n| Planned { assistant: assistant.clone(), case: format!("case-{n}"), test: test.clone() })
        .collect();
    let options = RunOptions { concurrency: 16, timeout: Duration::from_secs(10) };
    let stop = CancellationToken::new();
    let mut group = c.benchmark_group("testing");
    group.sample_size(20).measurement_time(Duration::from_secs(10));
    group.bench_function("suite: 200 one-turn cases, 16 at once, instant endpoint", |b| {
        b.iter(|| {
            let results = runtime.block_on(run_suite(&target, cases.clone(), options, &|_| {}, &stop));
            assert!(results.iter().all(|r| r.outcome == stagecraft::testing::Outcome::Passed));
        })
    });
    let request =
        serde_json::to_vec(&chat_request(&assistant, None, &[Message::user("Where is order 10482733?")])).unwrap();
    let client = stagecraft::net::http_client();
    let url = format!("{endpoint}/chat/completions");
    group.bench_function("baseline: the same 200 requests, pre-built, 16 at once", |b| {
        b.iter(|| {
            runtime.block_on(async {
                let limit = Arc::new(tokio::sync::Semaphore::new(16));
                let mut jobs = tokio::task::JoinSet::new();
                for _ in 0..CASES {
                    let (client, url, request, limit) = (client.clone(), url.clone(), request.clone(), limit.clone());
                    jobs.spawn(async move {
                        let _permit = limit.acquire_owned().await.unwrap();
                        let response = client.post(&url).body(request).send().await.unwrap();
                        response.bytes().await.unwrap().len()
                    });
                }
                while jobs.join_next().await.is_some() {}
            })
        })
    });
    group.bench_function("in-process: one case's request, answer and checks", |b| {
        let reply_body = answer();
        b.iter(|| {
            let conversation = [Message::user("Where is order 10482733?")];
            let body = serde_json::to_vec(&chat_request(&assistant, None, &conversation)).unwrap();
            let reply = parse_chat_reply(&reply_body).unwrap();
            let failures = check_turn(1, &test.turns[0], &reply.text, &reply.tool_calls, 1);
            assert!(failures.is_empty() && !body.is_empty());
        })
    });
    group.bench_function("in-process: the request alone", |b| {
        b.iter(|| {
            let conversation = [Message::user("Where is order 10482733?")];
            serde_json::to_vec(&chat_request(&assistant, None, &conversation)).unwrap()
        })
    });
    group.bench_function("in-process: the checks alone", |b| {
        let reply = parse_chat_reply(&answer()).unwrap();
        b.iter(|| check_turn(1, &test.turns[0], &reply.text, &reply.tool_calls, 1))
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
