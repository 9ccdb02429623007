//! `stagecraft serve` against real receivers on 127.0.0.1: what reaches each runtime, in
//! which order, with which signature; failures, restarts and crashes. Assertions are on
//! order and outcome, never on durations.

use std::sync::Arc;
use std::sync::atomic::AtomicU64;

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
    repo.promote_to("v2", "live");
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
    let daemon = Daemon::start(&repo, &text);
    // The failing runtime is down: the daemon says so, and the healthy one is served.
    daemon.wait_log("a refused connection", |l| l.contains("delivery to failing failed (cannot connect"));
    healthy.wait_acks(ASSISTANTS);
    // Changes keep coming while it is down.
    edit_temperature(&repo, "0.61");
    let newest = edit_temperature(&repo, "0.62");
    healthy.wait_for("the newest draft", |r| r.iter().any(|q| q.data()["commit"] == newest.as_str()));
    // It comes up answering 500, then hanging past the timeout, then 2xx.
    let failing = Receiver::start_on_port(port, &order);
    failing.script([Reply::Status(500), Reply::Hang]);
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
    // A quiescent point before counting: a sentinel change, delivered after anything
    // the restart could have sent again (a runtime's deliveries go in sequence order).
    edit_temperature(&repo, "0.8");
    repo.stagecraft(&["publish", "-m", "sentinel"]).success();
    let after = good.wait_for("the sentinel", |r| r.iter().any(|q| q.data()["version"] == 3));
    assert_eq!(after.len(), good_before + 1, "nothing acknowledged is sent again, only the sentinel");
    assert_eq!(after.last().unwrap().data()["version"], 3, "the last one is the sentinel");
    assert_eq!(daemon.stop(), 0);
    assert!(broken.requests().len() >= broken_attempts);
}

#[test]
fn an_invalid_config_pushed_straight_to_live_is_never_delivered() {
    let repo = TestRepo::from_example();
    let order = order();
    let live = Receiver::start(&order);
    let text = config(&[runtime("live-1", "live", &live.url)])
        .replace("public_metrics = true", "public_metrics = true\npublic_read = true");
    let daemon = Daemon::start(&repo, &text);
    live.wait_acks(ASSISTANTS);
    // A broken assistant.toml, committed with plain git onto live (as a forge merge would).
    repo.git(&["checkout", "-q", "live"]);
    let bad = repo.commit_file("assistants/support-bot/assistant.toml", "name = \"Support\"\nmodel = 7\n");
    repo.git(&["checkout", "-q", "draft"]);
    daemon.wait_log("the invalid tip reported", |l| l.contains("live at") && l.contains("does not validate"));
    let (_, metrics) = daemon.get("/metrics");
    assert!(metrics.contains("stagecraft_environment_valid{environment=\"live\"} 0"), "{metrics}");
    // `status` against the daemon says what its gate holds back, and why.
    let url = format!("http://{}", daemon.address);
    let status = repo.env.stagecraft_in(repo.env.path(), &["--server", &url, "status"]).success();
    let line = status.stdout.lines().find(|l| l.starts_with("not delivered: live at")).unwrap_or_default();
    assert!(line.contains("does not validate: assistants/support-bot/assistant.toml:2:"), "{status}");
    // A valid state after it is delivered: the gate held back only the invalid one.
    edit_temperature(&repo, "0.8");
    assert_eq!(repo.release_to("live"), "v2");
    let got = live.wait_acks(ASSISTANTS + 1);
    assert!(got.iter().all(|r| r.data()["commit"] != bad.as_str()), "the invalid commit was never delivered");
    assert_eq!(got.last().unwrap().data()["version"], 2);
    let (_, metrics) = daemon.get("/metrics");
    assert!(metrics.contains("stagecraft_environment_valid{environment=\"live\"} 1"), "{metrics}");
    assert_eq!(daemon.stop(), 0);
}

/// A pull request merged on the forge: a merge commit on `branch` without trailers.
fn forge_merge(repo: &TestRepo, branch: &str, path: &str, content: &str) -> String {
    repo.git(&["checkout", "-q", "-b", "feature", "draft"]);
    repo.commit_file(path, content);
    repo.git(&["checkout", "-q", branch]);
    repo.git(&["merge", "-q", "--no-ff", "-m", "Merge pull request #7", "feature"]);
    repo.git(&["checkout", "-q", "draft"]);
    repo.git(&["branch", "-q", "-D", "feature"]);
    repo.git(&["rev-parse", branch]).trim().to_string()
}

#[test]
fn a_forge_merge_into_sandbox_becomes_a_version_and_an_invalid_one_does_not() {
    let repo = TestRepo::from_example();
    let order = order();
    let sandbox = Receiver::start(&order);
    let daemon = Daemon::start(&repo, &config(&[runtime("sandbox-1", "sandbox", &sandbox.url)]));
    sandbox.wait_acks(ASSISTANTS);
    let merge = forge_merge(&repo, "sandbox", "assistants/support-bot/instructions.md", "Merged on the forge.\n");
    let delivered = sandbox.wait_acks(ASSISTANTS + 1).pop().unwrap();
    assert_eq!(delivered.data()["version"], 2, "tagged and delivered as v2");
    assert_eq!(delivered.data()["commit"], merge.as_str());
    assert_eq!(delivered.data()["config"]["instructions"], "Merged on the forge.\n");
    assert_eq!(repo.git(&["rev-parse", "v2^{commit}"]).trim(), merge);
    assert_eq!(repo.git(&["log", "-1", "--format=%an", "v2"]).trim(), "Test User", "the merge's author is the actor");
    assert!(
        repo.git(&["tag", "-l", "--format=%(contents)", "v2"]).contains("support-bot"),
        "the summary is in the tag"
    );
    daemon.wait_log("the tag logged", |l| l.contains("tagged a merge as v2"));

    // An invalid merge is reported, gets no version and is not delivered.
    let bad = forge_merge(&repo, "sandbox", "assistants/support-bot/assistant.toml", "name = 1\n");
    daemon.wait_log("the invalid merge reported", |l| l.contains("does not validate and gets no version"));
    assert_eq!(repo.git(&["tag", "-l", "v3"]).trim(), "");
    assert!(sandbox.requests().iter().all(|r| r.data()["commit"] != bad.as_str()));
    let status = repo.stagecraft(&["status", "--json"]).json();
    assert_eq!(status["environments"][1]["drift"], true, "{status}");
    assert_eq!(daemon.stop(), 0);
}

#[test]
fn a_held_or_drifted_tip_is_not_delivered_and_the_runtime_keeps_the_last_good_config() {
    let repo = TestRepo::from_example();
    let order = order();
    let live = Receiver::start(&order);
    let daemon = Daemon::start(&repo, &config(&[runtime("live-1", "live", &live.url)]));
    live.wait_acks(ASSISTANTS);
    edit_temperature(&repo, "0.9");
    assert_eq!(repo.release_to("live"), "v2");
    live.wait_acks(ASSISTANTS + 1);
    repo.stagecraft(&["rollback", "live", "--yes"]).success();
    live.wait_acks(ASSISTANTS + 2);
    // v2 is on hold in live; a forge merge that brings v2's tree back is held, not sent.
    let v2_tree = repo.git(&["rev-parse", "v2^{tree}"]);
    let live_tip = repo.git(&["rev-parse", "live"]);
    let held = repo.git(&["commit-tree", v2_tree.trim(), "-p", live_tip.trim(), "-m", "Merge v2 back by hand"]);
    repo.git(&["update-ref", "refs/heads/live", held.trim(), live_tip.trim()]);
    daemon.wait_log("the hold reported", |l| l.contains("on hold there"));
    let (_, metrics) = daemon.get("/metrics");
    assert!(metrics.contains("stagecraft_environment_held{environment=\"live\"} 1"), "{metrics}");
    // A tree that is no version at all is drift.
    let other = forge_tree(&repo);
    let drift_commit = repo.git(&["commit-tree", &other, "-p", held.trim(), "-m", "Hotfix by hand"]);
    repo.git(&["update-ref", "refs/heads/live", drift_commit.trim(), held.trim()]);
    daemon.wait_log("the drift reported", |l| l.contains("holds no version (drift)"));
    let (_, metrics) = daemon.get("/metrics");
    assert!(metrics.contains("stagecraft_environment_drift{environment=\"live\"} 1"), "{metrics}");
    // Back to a good version: delivered again. Nothing of the held or drifted tips was sent.
    repo.stagecraft(&["rollback", "live", "--to", "v2", "--yes", "--force", "-m", "v2 is fine after all"]).success();
    let got = live.wait_acks(ASSISTANTS + 3);
    assert!(got.iter().all(|r| r.data()["commit"] != held.trim() && r.data()["commit"] != drift_commit.trim()));
    assert_eq!(got.last().unwrap().data()["config"]["model"]["temperature"], 0.9);
    assert_eq!(daemon.stop(), 0);
}

/// A valid tree that is no version: v1's tree with one instruction changed.
fn forge_tree(repo: &TestRepo) -> String {
    let blob = {
        let path = repo.env.path().join("instructions.md");
        std::fs::write(&path, "Hotfix written by hand.\n").unwrap();
        repo.git(&["hash-object", "-w", path.to_str().unwrap()]).trim().to_string()
    };
    let index = repo.env.path().join("hotfix.index");
    let run = |args: &[&str]| {
        let output = repo.env.command("git", &repo.root).env("GIT_INDEX_FILE", &index).args(args).output().unwrap();
        assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
        String::from_utf8(output.stdout).unwrap()
    };
    run(&["read-tree", "v1^{tree}"]);
    run(&["update-index", "--cacheinfo", &format!("100644,{blob},assistants/support-bot/instructions.md")]);
    run(&["write-tree"]).trim().to_string()
}

#[test]
fn a_gone_runtime_is_parked_until_a_reload_and_a_reload_adds_runtimes() {
    let repo = TestRepo::from_example();
    let order = order();
    let gone = Receiver::start(&order);
    gone.script([Reply::Status(410)]);
    let text = config(&[runtime("gone", "live", &gone.url)]);
    let daemon = Daemon::start(&repo, &text);
    daemon.wait_log("the runtime parked", |l| l.contains("answered 410 Gone: parked"));
    let (_, metrics) = daemon.get("/metrics");
    assert!(metrics.contains("stagecraft_runtime_parked{runtime=\"gone\"} 1"), "{metrics}");
    assert_eq!(gone.requests().len(), 1, "no retries while parked");

    // An invalid new config is reported and the old one kept.
    std::fs::write(repo.env.path().join("stagecraft.toml"), format!("{text}\n[[runtime]]\nname = 1\n")).unwrap();
    daemon.signal("HUP");
    daemon.wait_log("the invalid config reported", |l| l.contains("the new config is not valid; keeping the old one"));
    let (status, _) = daemon.get("/readyz");
    assert_eq!(status, 200);

    // A valid one unparks the runtime and adds another, which gets the current state.
    let added = Receiver::start(&order);
    std::fs::write(
        repo.env.path().join("stagecraft.toml"),
        config(&[runtime("gone", "live", &gone.url), runtime("added", "live", &added.url)]),
    )
    .unwrap();
    daemon.signal("HUP");
    added.wait_acks(ASSISTANTS);
    gone.wait_acks(ASSISTANTS);
    let (_, metrics) = daemon.get("/metrics");
    assert!(metrics.contains("stagecraft_runtime_parked{runtime=\"gone\"} 0"), "{metrics}");
    assert!(!daemon.log().contains(crate::common::daemon::SECRET), "a secret never reaches the log");
    assert!(!daemon.log().contains(&crate::common::daemon::SECRET[6..]), "not even its key");
    assert_eq!(daemon.stop(), 0);
}

#[test]
fn health_readiness_and_metrics_are_served_and_metrics_pass_promtool() {
    let repo = TestRepo::from_example();
    let order = order();
    let receiver = Receiver::start(&order);
    let daemon = Daemon::start(&repo, &config(&[runtime("draft-1", "draft", &receiver.url)]));
    receiver.wait_acks(ASSISTANTS);
    assert_eq!(daemon.get("/healthz"), (200, "ok\n".to_string()));
    assert_eq!(daemon.get("/readyz"), (200, "ready\n".to_string()));
    let metrics = daemon.metrics_after_acks("draft-1", 2);
    for wanted in [
        "stagecraft_deliveries_total{result=\"acknowledged\",runtime=\"draft-1\"} 2",
        "stagecraft_delivery_queue_depth{runtime=\"draft-1\"} 0",
        "stagecraft_delivery_latency_seconds_count{runtime=\"draft-1\"} 2",
        "stagecraft_last_successful_sync_timestamp_seconds{environment=\"live\"}",
        "stagecraft_environment_valid{environment=\"draft\"} 1",
    ] {
        assert!(metrics.contains(wanted), "/metrics lacks {wanted}:\n{metrics}");
    }
    promtool(&metrics);
    assert_eq!(daemon.stop(), 0);
}

/// Checks metrics with `promtool check metrics` when it is installed (required under
/// CI=true, where `.ci/run` installs it).
fn promtool(metrics: &str) {
    use std::io::Write;
    let child = std::process::Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn();
    let Ok(mut child) = child else {
        crate::common::skip_notice("promtool is not installed (apt-get install prometheus); metrics not linted");
        return;
    };
    child.stdin.take().unwrap().write_all(metrics.as_bytes()).unwrap();
    let output = child.wait_with_output().unwrap();
    let said = format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    assert!(output.status.success() && said.trim().is_empty(), "promtool check metrics: {said}");
}

#[test]
fn without_a_config_file_it_serves_the_current_repository_on_loopback() {
    let repo = TestRepo::from_example();
    // The port is injected (the default, 127.0.0.1:8080, is what `serve --check` says
    // without a file), so this test never depends on 8080 being free.
    let mut child = repo
        .env
        .command(env!("CARGO_BIN_EXE_stagecraft"), &repo.root)
        .args(["serve", "--log-format", "json", "--listen", "127.0.0.1:0"])
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = crate::common::daemon::Stderr::follow(&mut child);
    let ready = stderr.wait_for("the ready line", |l| l.contains("\"ready\""));
    let line: serde_json::Value = serde_json::from_str(&ready).expect("--log-format json writes JSON lines");
    let listen = line["listen"].as_str().expect("the address it listens on").to_string();
    assert!(listen.starts_with("127.0.0.1:") && !listen.ends_with(":0"), "{line}");
    assert_eq!(line["level"], "INFO");
    let (status, metrics) = crate::common::daemon::http_get(&format!("http://{listen}/metrics"));
    assert_eq!(status, 200, "loopback reads are open without a config file");
    assert!(metrics.contains("stagecraft_environment_valid"));
    assert!(repo.root.join(".git/stagecraft/state.db").exists(), "the state lives under the git directory");
    child.kill().unwrap();
    child.wait().unwrap();
}

#[test]
fn systemd_hears_ready_watchdog_reloading_and_stopping() {
    use std::os::unix::net::UnixDatagram;
    let repo = TestRepo::from_example();
    let socket_path = repo.env.path().join("notify.sock");
    let socket = UnixDatagram::bind(&socket_path).unwrap();
    socket.set_read_timeout(Some(crate::common::daemon::DEADLINE)).unwrap();
    let next = move || {
        let mut buffer = [0u8; 512];
        let n = socket.recv(&mut buffer).expect("a notification before the deadline");
        String::from_utf8_lossy(&buffer[..n]).to_string()
    };
    let daemon = Daemon::start_with(
        &repo,
        &config(&[]),
        &[("NOTIFY_SOCKET", socket_path.to_str().unwrap()), ("WATCHDOG_USEC", "100000")],
    );
    let mut seen = vec![next()];
    assert_eq!(seen[0], "READY=1\n");
    while !seen.iter().any(|m| m.starts_with("WATCHDOG=1")) {
        seen.push(next());
    }
    daemon.signal("HUP");
    let reloading = loop {
        let message = next();
        if message.starts_with("RELOADING=1") {
            break message;
        }
    };
    assert!(reloading.contains("MONOTONIC_USEC="), "{reloading}");
    while next() != "READY=1\n" {}
    let stopping = std::thread::spawn(move || {
        loop {
            let message = next();
            if message.starts_with("STOPPING=1") {
                return message;
            }
        }
    });
    assert_eq!(daemon.stop(), 0);
    assert_eq!(stopping.join().unwrap(), "STOPPING=1\n");
}

#[test]
fn after_a_restart_a_held_back_environment_still_serves_its_last_good_configuration() {
    let repo = TestRepo::from_example();
    let order = order();
    let live = Receiver::start(&order);
    let text = config(&[runtime("live-1", "live", &live.url)])
        .replace("public_metrics = true", "public_metrics = true\npublic_read = true");
    let daemon = Daemon::start(&repo, &text);
    live.wait_acks(ASSISTANTS);
    let good = repo.git(&["rev-parse", "live"]).trim().to_string();
    assert_eq!(daemon.stop(), 0);
    // While the daemon is down, live gets a tip that does not validate.
    repo.git(&["checkout", "-q", "live"]);
    repo.commit_file("assistants/support-bot/assistant.toml", "name = \"Support\"\nmodel = 7\n");
    repo.git(&["checkout", "-q", "draft"]);
    // Restarted with a runtime added: it gets the last good configuration, and so do pullers.
    let late = Receiver::start(&order);
    let daemon = Daemon::start(&repo, &format!("{text}\n{}", runtime("late", "live", &late.url)));
    let got = late.wait_acks(ASSISTANTS);
    assert!(got.iter().all(|r| r.data()["commit"] == good.as_str() && r.data()["version"] == 1));
    let (status, body) = daemon.get("/v1/environments/live/assistants/support-bot");
    assert_eq!(status, 200, "{body}");
    let pulled: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(pulled["commit"], good.as_str());
    // A quiescent point before counting: a sentinel release, delivered after anything the
    // restart could have sent again.
    repo.git(&["checkout", "-q", "-f", "draft"]);
    edit_temperature(&repo, "0.8");
    assert_eq!(repo.release_to("pre-release"), "v2");
    repo.stagecraft(&["rollback", "live", "--to", "v1", "--yes"]).success();
    repo.stagecraft(&["promote", "v2", "--to", "live", "--yes"]).success();
    let after = live.wait_for("the sentinel", |r| r.iter().any(|q| q.data()["version"] == 2));
    assert_eq!(after.len(), ASSISTANTS + 1, "what live-1 holds is not sent again, only the sentinel");
    assert_eq!(daemon.stop(), 0);
}
