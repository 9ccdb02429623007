//! `stagecraft serve` against real receivers on 127.0.0.1: what reaches each runtime, in
//! which order, with which signature; failures, restarts and crashes. Assertions are on
//! order and outcome, never on durations.

use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::Duration;

use crate::common::TestRepo;
use crate::common::daemon::{Daemon, Receiver, Reply, acked, config, reserve_port, runtime, verify};

fn order() -> Arc<AtomicU64> {
    Arc::new(AtomicU64::new(0))
}

/// The example has two assistants.
const ASSISTANTS: usize = 2;

fn edit_temperature(repo: &TestRepo, value: &str) -> String {
    let path = repo.root.join("assistants/support-bot/assistant.toml");
    let text = std::fs::read_to_string(&path).unwrap();
    let start = text.find("temperature = ").unwrap();
    let end = start + text[start..].find('\n').unwrap();
    let edited = format!("{}temperature = {value}{}", &text[..start], &text[end..]);
    repo.commit_file("assistants/support-bot/assistant.toml", &edited)
}

#[test]
fn a_publish_and_a_promotion_reach_the_runtimes_of_each_environment_signed() {
    let repo = TestRepo::from_example();
    let order = order();
    let (draft, sandbox, live) = (Receiver::start(&order), Receiver::start(&order), Receiver::start(&order));
    let daemon = Daemon::start(
        &repo,
        &config(&[
            runtime("draft-1", "draft", &draft.url),
            runtime("sandbox-1", "sandbox", &sandbox.url),
            runtime("live-1", "live", &live.url),
        ]),
    );
    // At start every runtime gets every assistant of its environment, at v1.
    for receiver in [&draft, &sandbox, &live] {
        let first = receiver.wait_acks(ASSISTANTS);
        for request in &first {
            verify(request);
            assert_eq!(request.json()["type"], "assistant.config.updated");
            assert_eq!(request.data()["sequence"], 1);
        }
    }
    assert_eq!(draft.requests()[0].data()["version"], serde_json::Value::Null, "the draft has no version");
    assert_eq!(live.requests()[0].data()["version"], 1);

    // A commit on the draft reaches the draft's runtime, and only the assistant it changed.
    let commit = edit_temperature(&repo, "0.55");
    let got = draft.wait_acks(ASSISTANTS + 1);
    let delivered = got.last().unwrap();
    verify(delivered);
    assert_eq!(delivered.data()["assistant"], "support-bot");
    assert_eq!(delivered.data()["commit"], commit.as_str());
    assert_eq!(delivered.data()["config"]["model"]["temperature"], 0.55);

    // A publish reaches sandbox as v2.
    repo.stagecraft(&["publish", "-m", "warmer"]).success();
    let published = sandbox.wait_acks(ASSISTANTS + 1).pop().unwrap();
    verify(&published);
    assert_eq!(
        (published.data()["assistant"].as_str(), published.data()["version"].as_u64()),
        (Some("support-bot"), Some(2))
    );
    assert_eq!(published.data()["sequence"], 2);
    let sandbox_tip = repo.git(&["rev-parse", "sandbox"]);
    assert_eq!(published.data()["commit"], sandbox_tip.trim());
    assert_eq!(live.requests().len(), ASSISTANTS, "live does not move on a publish");

    // A promotion to live reaches live; the timestamp is the tip's commit time.
    repo.stagecraft(&["promote", "v2", "--to", "pre-release"]).success();
    repo.stagecraft(&["promote", "v2", "--to", "live", "--yes"]).success();
    let promoted = live.wait_acks(ASSISTANTS + 1).pop().unwrap();
    verify(&promoted);
    assert_eq!(promoted.data()["version"], 2);
    assert_eq!(promoted.data()["config"]["model"]["temperature"], 0.55);
    let live_tip = repo.git(&["rev-parse", "live"]);
    assert_eq!(promoted.data()["commit"], live_tip.trim());
    let time = repo.git(&["log", "-1", "--format=%cI", "live"]);
    let expected: jiff::Timestamp = time.trim().parse().unwrap();
    assert_eq!(promoted.json()["timestamp"], expected.to_string());

    // A rollback is delivered too: the rollback commit, back at v1's config.
    repo.stagecraft(&["rollback", "live", "--yes"]).success();
    let rolled = live.wait_acks(ASSISTANTS + 2).pop().unwrap();
    assert_eq!((rolled.data()["version"].as_u64(), rolled.data()["sequence"].as_u64()), (Some(1), Some(3)));
    assert_eq!(rolled.data()["commit"], repo.git(&["rev-parse", "live"]).trim());
    assert_eq!(daemon.stop(), 0);
}

#[test]
fn a_failing_runtime_gets_the_newest_state_once_it_recovers_and_delays_no_other() {
    let repo = TestRepo::from_example();
    let order = order();
    let healthy = Receiver::start(&order);
    let port = reserve_port();
    let failing_url = format!("http://127.0.0.1:{port}/hook");
    let text = config(&[runtime("healthy", "draft", &healthy.url), runtime("failing", "draft", &failing_url)])
        .replace("retry_min = \"50ms\"", "retry_min = \"300ms\"")
        .replace("retry_max = \"200ms\"", "retry_max = \"600ms\"");
    let mut daemon = Daemon::start(&repo, &text);
    // The failing runtime is down: the daemon says so, and the healthy one is served.
    daemon.wait_log("a refused connection", |l| l.contains("delivery to failing failed (cannot connect"));
    healthy.wait_acks(ASSISTANTS);
    // Changes keep coming while it is down.
    edit_temperature(&repo, "0.61");
    let newest = edit_temperature(&repo, "0.62");
    healthy.wait_for("the newest draft", |r| r.iter().any(|q| q.data()["commit"] == newest.as_str()));
    // It comes up answering 500, then hanging past the timeout, then 2xx.
    let failing = Receiver::start_on_port(port, &order);
    failing.script([Reply::Status(500), Reply::Hang(Duration::from_secs(3))]);
    let got = failing.wait_for("the newest state acknowledged", |r| {
        acked(r).iter().any(|q| q.data()["assistant"] == "support-bot" && q.data()["commit"] == newest.as_str())
    });
    assert_eq!(got[0].answered, 500);
    assert_eq!(got[1].answered, 0, "the second attempt hung past the timeout");
    // The healthy runtime was acknowledged before the failing one saw any attempt.
    let first_healthy_ack = acked(&healthy.requests()).first().unwrap().order;
    assert!(first_healthy_ack < got[0].order);
    // Coalesced to the newest state: the intermediate commit's support-bot is never
    // acknowledged after the newest, and nothing older arrives after it.
    let support: Vec<_> = got.iter().filter(|r| r.data()["assistant"] == "support-bot").collect();
    let last = support.last().unwrap();
    assert_eq!(last.data()["commit"], newest.as_str());
    for request in &got {
        verify(request);
    }
    // Retries of one delivery are byte-identical.
    let same_id: Vec<_> = got.iter().filter(|r| r.id() == got[0].id()).collect();
    assert!(same_id.len() >= 2, "the 500 was retried with the same webhook-id");
    assert!(same_id.windows(2).all(|w| w[0].body == w[1].body));
    assert_eq!(daemon.stop(), 0);
}

#[test]
fn rapid_changes_arrive_with_growing_sequences_and_the_newest_last() {
    let repo = TestRepo::from_example();
    let order = order();
    let receiver = Receiver::start(&order);
    let daemon = Daemon::start(&repo, &config(&[runtime("draft-1", "draft", &receiver.url)]));
    receiver.wait_acks(ASSISTANTS);
    let mut newest = String::new();
    for step in 0..8 {
        newest = edit_temperature(&repo, &format!("0.{}", 10 + step));
    }
    let got =
        receiver.wait_for("the newest commit", |r| acked(r).iter().any(|q| q.data()["commit"] == newest.as_str()));
    let support: Vec<u64> = got
        .iter()
        .filter(|r| r.data()["assistant"] == "support-bot")
        .map(|r| r.data()["sequence"].as_u64().unwrap())
        .collect();
    assert!(support.windows(2).all(|w| w[0] < w[1]), "sequences grow: {support:?}");
    assert_eq!(got.last().unwrap().data()["commit"], newest.as_str(), "the newest state arrives last");
    assert_eq!(got.last().unwrap().data()["config"]["model"]["temperature"], 0.17);
    assert_eq!(daemon.stop(), 0);
}

#[test]
fn kill_9_loses_nothing_pending_and_sends_nothing_acknowledged_again() {
    let repo = TestRepo::from_example();
    let order = order();
    let good = Receiver::start(&order);
    let broken = Receiver::start(&order);
    broken.script(std::iter::repeat_n(Reply::Status(503), 1000));
    let text = config(&[runtime("good", "sandbox", &good.url), runtime("broken", "sandbox", &broken.url)]);
    let daemon = Daemon::start(&repo, &text);
    good.wait_acks(ASSISTANTS);
    broken.wait_for("some failed attempts", |r| r.len() >= 3);
    edit_temperature(&repo, "0.7");
    repo.stagecraft(&["publish", "-m", "v2"]).success();
    good.wait_acks(ASSISTANTS + 1);
    // A failing delivery does not block the runtime's others: each is tried in turn.
    let before_kill = broken.wait_for("v2 attempted", |r| r.iter().any(|q| q.data()["version"] == 2));
    daemon.kill9();
    let pending_ids: std::collections::BTreeSet<String> =
        before_kill.iter().filter(|r| r.answered == 503).map(|r| r.id()).collect();
    let good_before = good.requests().len();

    // Restart with the broken runtime healed.
    let broken_attempts = broken.requests().len();
    let healed = Receiver::start(&order);
    let daemon = Daemon::start(&repo, &text.replace(&broken.url, &healed.url));
    let got = healed.wait_acks(ASSISTANTS);
    for request in &got {
        verify(request);
        assert!(pending_ids.contains(&request.id()), "the pending delivery {} was kept", request.id());
        let earlier = before_kill.iter().find(|r| r.id() == request.id()).unwrap();
        assert_eq!(earlier.body, request.body, "a delivery sent again has an identical body");
    }
    let support = got.iter().find(|r| r.data()["assistant"] == "support-bot").unwrap();
    assert_eq!(support.data()["version"], 2, "coalesced to the newest state");
    assert_eq!(daemon.stop(), 0);
    assert_eq!(good.requests().len(), good_before, "nothing acknowledged is sent again");
    assert!(broken.requests().len() >= broken_attempts);
}

#[test]
fn an_invalid_config_pushed_straight_to_live_is_never_delivered() {
    let repo = TestRepo::from_example();
    let order = order();
    let live = Receiver::start(&order);
    let mut daemon = Daemon::start(&repo, &config(&[runtime("live-1", "live", &live.url)]));
    live.wait_acks(ASSISTANTS);
    // A broken assistant.toml, committed with plain git onto live (as a forge merge would).
    repo.git(&["checkout", "-q", "live"]);
    let bad = repo.commit_file("assistants/support-bot/assistant.toml", "name = \"Support\"\nmodel = 7\n");
    repo.git(&["checkout", "-q", "draft"]);
    daemon.wait_log("the invalid tip reported", |l| l.contains("live at") && l.contains("does not validate"));
    let (_, metrics) = daemon.get("/metrics");
    assert!(metrics.contains("stagecraft_environment_valid{environment=\"live\"} 0"), "{metrics}");
    // A valid state after it is delivered: the gate held back only the invalid one.
    edit_temperature(&repo, "0.8");
    repo.stagecraft(&["publish", "-m", "v2"]).success();
    repo.stagecraft(&["promote", "v2", "--to", "pre-release"]).success();
    repo.stagecraft(&["promote", "v2", "--to", "live", "--yes"]).success();
    let got = live.wait_acks(ASSISTANTS + 1);
    assert!(got.iter().all(|r| r.data()["commit"] != bad.as_str()), "the invalid commit was never delivered");
    assert_eq!(got.last().unwrap().data()["version"], 2);
    let (_, metrics) = daemon.get("/metrics");
    assert!(metrics.contains("stagecraft_environment_valid{environment=\"live\"} 1"), "{metrics}");
    assert_eq!(daemon.stop(), 0);
}
