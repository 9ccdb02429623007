//! Several daemons on one forge and one PostgreSQL state database: each runtime is
//! delivered to by one daemon at a time (a lease), the runtimes are spread over the
//! live daemons, and a daemon killed with SIGKILL loses its runtimes to the others,
//! which deliver what comes next with nothing lost and nothing acknowledged sent again.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;

use crate::common::TestRepo;
use crate::common::daemon::{Daemon, Receiver, acked, runtime};
use crate::common::gitserver::{Forge, clone, forge, git};
use crate::common::postgres::{TestDatabase, database};

/// Four runtime names that rendezvous hashing splits two and two between `a` and `b`.
fn split_names() -> Vec<String> {
    let nodes = ["a".to_string(), "b".to_string()];
    let (mut on_a, mut on_b) = (Vec::new(), Vec::new());
    for n in 0.. {
        let name = format!("rt-{n}");
        match stagecraft::deliver::lease::assign(&name, &nodes) {
            Some("a") if on_a.len() < 2 => on_a.push(name),
            Some("b") if on_b.len() < 2 => on_b.push(name),
            _ => {}
        }
        if on_a.len() == 2 && on_b.len() == 2 {
            break;
        }
    }
    [on_a, on_b].concat()
}

fn daemon_config(node: &str, forge: &Forge, database: &TestDatabase, runtimes: &[String]) -> String {
    format!(
        "[repository]\npath = \"mirror-{node}.git\"\nremote = \"{}\"\nfetch_interval = \"100ms\"\n[server]\nlisten = \"127.0.0.1:0\"\npublic_metrics = true\npublic_read = true\n[state]\nurl = \"{}\"\npassword = \"env:STATE_PASSWORD\"\nnode = \"{node}\"\nlease = \"1s\"\n[delivery]\nretry_min = \"50ms\"\nretry_max = \"200ms\"\ntimeout = \"300ms\"\n\n{}",
        forge.url,
        database.url,
        runtimes.join("\n")
    )
}

/// Who delivers to each runtime, as `daemon`'s `/v1/environments` says.
fn owners(daemon: &Daemon) -> BTreeMap<String, String> {
    let (status, body) = daemon.get("/v1/environments");
    assert_eq!(status, 200, "{body}");
    let view: serde_json::Value = serde_json::from_str(&body).unwrap();
    let mut owners = BTreeMap::new();
    for env in view["environments"].as_array().unwrap() {
        for runtime in env["runtimes"].as_array().unwrap() {
            owners.insert(
                runtime["name"].as_str().unwrap().to_string(),
                runtime["owner"].as_str().unwrap_or("-").to_string(),
            );
        }
    }
    owners
}

/// A change merged into sandbox on the forge: a new version for every sandbox runtime.
fn merge_on_the_forge(repo: &TestRepo, forge: &Forge, work: &str, text: &str) {
    let env = &repo.env;
    let dir = if env.path().join(work).exists() {
        let dir = env.path().join(work);
        git(env, &dir, &["checkout", "-q", "draft"]);
        git(env, &dir, &["pull", "-q", "--ff-only", "origin", "draft"]);
        dir
    } else {
        clone(env, forge, work)
    };
    std::fs::write(dir.join("assistants/support-bot/instructions.md"), text).unwrap();
    git(env, &dir, &["commit", "-qam", text.trim()]);
    git(env, &dir, &["checkout", "-q", "sandbox"]);
    git(env, &dir, &["pull", "-q", "--ff-only", "origin", "sandbox"]);
    git(env, &dir, &["merge", "-q", "--no-ff", "-m", &format!("Merge: {}", text.trim()), "draft"]);
    git(env, &dir, &["push", "-q", "origin", "draft", "sandbox"]);
}

/// The example's two assistants: what each runtime is first given.
const ASSISTANTS: usize = 2;

/// Two daemons on one forge and one database, four runtimes split two and two: a starts
/// alone and delivers the first state to all four (its acknowledgements recorded), then
/// b starts and takes its share from a.
struct Split {
    repo: TestRepo,
    forge: Forge,
    names: Vec<String>,
    receivers: Vec<Receiver>,
    runtimes: Vec<String>,
    a: Daemon,
    b: Daemon,
}

impl Split {
    fn start(database: &TestDatabase) -> Split {
        let repo = TestRepo::from_example();
        let forge = forge(&repo.env, false);
        let order = Arc::new(AtomicU64::new(0));
        let names = split_names();
        let receivers: Vec<Receiver> = names.iter().map(|_| Receiver::start(&order)).collect();
        let runtimes: Vec<String> =
            names.iter().zip(&receivers).map(|(name, receiver)| runtime(name, "sandbox", &receiver.url)).collect();
        let a = Daemon::start_in(&repo, "a.toml", &daemon_config("a", &forge, database, &runtimes), &vars(database));
        for receiver in &receivers {
            receiver.wait_acks(ASSISTANTS);
        }
        database.wait_nothing_pending("a's acknowledgements recorded");
        let b = start_b(&repo, &forge, database, &runtimes);
        // b's share comes to it once a's leases of it lapse (a stops renewing them).
        a.stderr.wait_count("a lets two go", 2, |l| l.contains("no longer delivers to"));
        Split { repo, forge, names, receivers, runtimes, a, b }
    }
}

/// Starts b and waits until it holds its two runtimes.
fn start_b(repo: &TestRepo, forge: &Forge, database: &TestDatabase, runtimes: &[String]) -> Daemon {
    let b = Daemon::start_in(repo, "b.toml", &daemon_config("b", forge, database, runtimes), &vars(database));
    b.stderr.wait_count("b takes its two runtimes", 2, |l| l.contains("took the lease of"));
    b
}

/// Who should own each runtime: the first two a, the others b.
fn expected(names: &[String]) -> BTreeMap<String, String> {
    names.iter().enumerate().map(|(i, n)| (n.clone(), if i < 2 { "a" } else { "b" }.to_string())).collect()
}

/// Fails unless every runtime acknowledged `count` deliveries and got no webhook-id twice.
fn assert_each_once(names: &[String], receivers: &[Receiver], count: usize) {
    for (name, receiver) in names.iter().zip(receivers) {
        let requests = receiver.requests();
        let mut ids: Vec<String> = requests.iter().map(|r| r.id()).collect();
        let all = ids.len();
        ids.sort();
        ids.dedup();
        assert_eq!(ids.len(), all, "{name} got a webhook-id twice");
        let seen: Vec<String> = requests
            .iter()
            .map(|r| format!("{} v{} {} {}", r.id(), r.data()["version"], r.data()["assistant"], r.answered))
            .collect();
        assert_eq!(acked(&requests).len(), count, "{name}: {seen:#?}");
    }
}

fn vars(database: &TestDatabase) -> [(&'static str, &str); 1] {
    [("STATE_PASSWORD", database.password.as_str())]
}

#[test]
fn two_daemons_share_the_runtimes_and_one_takes_over_from_a_killed_one() {
    let Some(database) = database() else { return };
    let Split { repo, forge, names, receivers, runtimes, a, b } = Split::start(&database);
    let assistants = ASSISTANTS;
    assert_eq!(owners(&b), expected(&names), "each runtime has one owner, two each");

    // A merge on the forge reaches every runtime once, from its owner.
    merge_on_the_forge(&repo, &forge, "work", "Version two.\n");
    for receiver in &receivers {
        let acks = receiver.wait_acks(assistants + 1);
        let seen: Vec<String> =
            acks.iter().map(|r| format!("{} v{} {}", r.id(), r.data()["version"], r.data()["assistant"])).collect();
        assert_eq!(acks.last().unwrap().data()["version"], 2, "{seen:#?}\nA:\n{}\nB:\n{}", a.log(), b.log());
    }

    // b is killed once every acknowledgement is recorded (a kill before that makes the
    // next owner send those deliveries again, which is what at-least-once means); a takes
    // b's runtimes once their leases expire, and delivers the next change.
    database.wait_nothing_pending("every acknowledgement recorded");
    b.kill9();
    a.stderr.wait_count("a takes b's runtimes", 6, |l| l.contains("took the lease of"));
    assert!(owners(&a).values().all(|owner| owner == "a"), "{:?}", owners(&a));
    merge_on_the_forge(&repo, &forge, "work", "Version three.\n");
    for receiver in &receivers {
        let acks = receiver.wait_acks(assistants + 2);
        assert_eq!(acks.last().unwrap().data()["version"], 3);
    }
    let (_, metrics) = a.get("/metrics");
    for name in &names {
        assert!(metrics.contains(&format!("stagecraft_runtime_owner{{node=\"a\",runtime=\"{name}\"}} 1")), "{metrics}");
    }
    // Nothing lost, nothing acknowledged sent again: every runtime acknowledged each
    // state once and got no webhook-id twice.
    assert_each_once(&names, &receivers, assistants + 2);
    // b returns under its name: its share moves back to it (its view, said once updated).
    let b = start_b(&repo, &forge, &database, &runtimes);
    a.stderr.wait_count("a lets them go", 4, |l| l.contains("no longer delivers to"));
    assert_eq!(owners(&b), expected(&names));
    assert_eq!(b.stop(), 0);
    assert_eq!(a.stop(), 0);
}

#[test]
fn while_the_state_database_is_down_the_daemon_is_not_ready_and_then_delivers_what_it_missed() {
    let Some(server) = crate::common::postgres::OwnServer::start() else { return };
    let database = &server.database;
    let repo = TestRepo::from_example();
    let order = Arc::new(AtomicU64::new(0));
    let receiver = Receiver::start(&order);
    let config = format!(
        "[repository]\npath = \"repo\"\n[server]\nlisten = \"127.0.0.1:0\"\n[state]\nurl = \"{}\"\npassword = \"env:STATE_PASSWORD\"\nlease = \"1s\"\n[delivery]\nretry_min = \"50ms\"\nretry_max = \"200ms\"\ntimeout = \"300ms\"\n\n{}",
        database.url,
        runtime("sandbox-1", "sandbox", &receiver.url)
    );
    let daemon = Daemon::start_with(&repo, &config, &[("STATE_PASSWORD", database.password.as_str())]);
    receiver.wait_acks(2);
    assert_eq!(daemon.get("/readyz").0, 200);

    // /readyz asks the database on every call: the first call after it is down says so.
    server.stop();
    assert_eq!(daemon.get("/readyz"), (503, "not ready: the state database does not answer\n".to_string()));
    // A publish while it is down: recorded and delivered once it is back.
    repo.commit_file("assistants/support-bot/instructions.md", "Answer while the database was away.\n");
    repo.stagecraft(&["publish", "-m", "during the outage"]).success();
    daemon.wait_log("the failed pass", |l| l.contains("sync pass failed; trying again"));
    server.restart();
    assert_eq!(daemon.get("/readyz").0, 200, "ready again on the first call once it is back");
    let acks = receiver.wait_acks(3);
    assert_eq!(acks.last().unwrap().data()["version"], 2);
    database.wait_nothing_pending("the acknowledgement recorded");
    assert_eq!(acked(&receiver.requests()).len(), 3, "nothing sent twice");
    assert_eq!(daemon.stop(), 0);
}

/// A POST of `body` to `path` with a bearer token; the status and the JSON answer.
fn post_json(daemon: &Daemon, path: &str, token: &str, body: &str) -> (u16, serde_json::Value) {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    runtime.block_on(async {
        let response = stagecraft::net::http_client()
            .post(format!("http://{}{path}", daemon.address))
            .bearer_auth(token)
            .header("content-type", "application/json")
            .body(body.to_string())
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        let text = response.text().await.unwrap();
        (status, serde_json::from_str(&text).unwrap_or(serde_json::Value::String(text)))
    })
}

#[test]
fn publishes_racing_through_two_daemons_make_contiguous_versions_and_the_loser_says_so() {
    use sha2::Digest;
    let Some(database) = database() else { return };
    let repo = TestRepo::from_example();
    let forge = forge(&repo.env, false);
    let hash = hex::encode(sha2::Sha256::digest(b"race-token"));
    let token = format!("[[token]]\nname = \"racer\"\nsha256 = \"{hash}\"\nrole = \"publisher\"\n");
    let config = |node: &str| {
        daemon_config(node, &forge, &database, std::slice::from_ref(&token))
            .replace("[repository]\n", "[repository]\nidentity = \"stagecraft daemon <daemon@example.com>\"\n")
    };
    let vars = [("STATE_PASSWORD", database.password.as_str())];
    let a = Daemon::start_in(&repo, "a.toml", &config("a"), &vars);
    let b = Daemon::start_in(&repo, "b.toml", &config("b"), &vars);
    let env = &repo.env;
    let work = clone(env, &forge, "work");
    for round in 2..=4 {
        // A change on the forge's draft, then a publish through each daemon at once.
        std::fs::write(work.join("assistants/support-bot/instructions.md"), format!("Round {round}.\n")).unwrap();
        git(env, &work, &["commit", "-qam", &format!("Round {round}")]);
        git(env, &work, &["push", "-q", "origin", "draft"]);
        let answers: Vec<(u16, serde_json::Value)> = std::thread::scope(|scope| {
            let body = format!("{{\"message\": \"round {round}\"}}");
            let handles: Vec<_> = [&a, &b]
                .into_iter()
                .map(|daemon| {
                    let body = body.clone();
                    scope.spawn(move || post_json(daemon, "/v1/publish", "race-token", &body))
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        let won: Vec<_> = answers.iter().filter(|(status, _)| *status == 201).collect();
        assert!(!won.is_empty(), "one publish wins each round: {answers:#?}");
        assert_eq!(won[0].1["version"], round, "{answers:#?}");
        if won.len() == 2 {
            // Both made the same commit (same draft, same second, same committer): the
            // second push found it there already. One version, and both say which.
            assert_eq!(won[0].1["commit"], won[1].1["commit"], "{answers:#?}");
            continue;
        }
        let (status, lost) = answers.iter().find(|(status, _)| *status != 201).unwrap();
        // The loser either lost the push race (a retryable conflict) or saw the winner's
        // version first and has nothing left to publish.
        assert_eq!(*status, 409, "{lost:#}");
        let code = lost["code"].as_str().unwrap();
        assert!(code == "conflict" && lost["retryable"] == true || code == "nothing_to_do", "{lost:#}");
    }
    let tags = env.git_in(&forge.path, &["tag", "--list", "v*"]);
    assert_eq!(tags, "v1\nv2\nv3\nv4\n", "contiguous, none twice");
    assert_eq!(a.stop(), 0);
    assert_eq!(b.stop(), 0);
}

#[test]
fn a_paused_daemon_neither_sends_nor_writes_once_another_took_its_runtimes() {
    let Some(database) = database() else { return };
    let Split { repo, forge, names, receivers, a, b, .. } = Split::start(&database);
    let assistants = ASSISTANTS;

    // b stops (SIGSTOP, as a frozen VM would); a takes b's runtimes after the lease and
    // delivers the next change to all four.
    b.signal("STOP");
    a.stderr.wait_count("a takes b's runtimes", 6, |l| l.contains("took the lease of"));
    merge_on_the_forge(&repo, &forge, "work", "Version two.\n");
    for receiver in &receivers {
        receiver.wait_acks(assistants + 1);
    }
    database.wait_nothing_pending("a's acknowledgements recorded");

    // b wakes up believing it holds two runtimes: it sends nothing (its own clock says
    // its leases lapsed) and writes nothing (the database's epochs moved on); it gives
    // them up (and takes them back later, by new leases), and the next change reaches
    // every runtime once.
    b.signal("CONT");
    b.stderr.wait_count("b lets its old share go", 2, |l| l.contains("no longer delivers to"));
    merge_on_the_forge(&repo, &forge, "work", "Version three.\n");
    for receiver in &receivers {
        let acks = receiver.wait_acks(assistants + 2);
        let seen: Vec<String> =
            acks.iter().map(|r| format!("{} v{} {}", r.id(), r.data()["version"], r.data()["assistant"])).collect();
        assert_eq!(acks.last().unwrap().data()["version"], 3, "{seen:#?}\nA:\n{}\nB:\n{}", a.log(), b.log());
    }
    // Nothing stale from b: no webhook-id twice (a delivery sent again) and no extra
    // delivery (one planned again) at any runtime.
    assert_each_once(&names, &receivers, assistants + 2);
    assert_eq!(b.stop(), 0);
    assert_eq!(a.stop(), 0);
}
