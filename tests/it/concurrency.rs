//! Concurrency: publishes and promotions from separate processes at once. Each process
//! ends in success, a retryable conflict, or nothing to do; versions stay gapless and
//! distinct; every environment ends on a version.

use std::process::{Child, Stdio};

use crate::common::TestRepo;

const ROUNDS: usize = 3;
const EACH: usize = 8;

#[test]
fn publishes_and_promotions_at_once_keep_versions_gapless() {
    let repo = TestRepo::from_example();
    let mut published = Vec::new();
    for round in 0..ROUNDS {
        repo.commit_file("assistants/support-bot/instructions.md", &format!("Round {round}.\n"));
        let mut children: Vec<(&str, Child)> = Vec::new();
        for index in 0..EACH * 2 {
            let args: &[&str] = if index % 2 == 0 {
                &["publish", "--json"]
            } else {
                &["promote", "sandbox", "--to", "pre-release", "--json"]
            };
            let child = repo
                .env
                .command(env!("CARGO_BIN_EXE_stagecraft"), &repo.root)
                .args(args)
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap();
            children.push((args[0], child));
        }
        let mut successes = 0;
        for (command, child) in children {
            let output = child.wait_with_output().unwrap();
            let stdout = String::from_utf8_lossy(&output.stdout).to_string();
            let code = output.status.code();
            match code {
                Some(0) => {
                    successes += 1;
                    let json: serde_json::Value = serde_json::from_str(&stdout).unwrap();
                    if command == "publish" {
                        published.push(json["version"].as_u64().unwrap());
                    }
                }
                Some(1) => {
                    let json: serde_json::Value =
                        serde_json::from_str(&stdout).unwrap_or_else(|_| panic!("{command}: {stdout}"));
                    assert_eq!(json["error"]["code"], "conflict", "{command}: {stdout}");
                    assert!(json["error"]["message"].as_str().unwrap().ends_with("retry"), "{stdout}");
                    assert_eq!(json["error"]["retryable"], true);
                }
                Some(3) => {}
                other => panic!("{command} exited {other:?}: {stdout} {}", String::from_utf8_lossy(&output.stderr)),
            }
        }
        assert!(successes >= 1, "round {round}: nothing succeeded");
    }
    let mut sorted = published.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(sorted.len(), published.len(), "printed versions are distinct: {published:?}");
    let tags = repo.git(&["tag", "--list", "v*"]);
    let mut numbers: Vec<u64> = tags.lines().map(|t| t[1..].parse().unwrap()).collect();
    numbers.sort();
    let expected: Vec<u64> = (1..=numbers.len() as u64).collect();
    assert_eq!(numbers, expected, "tags 1..N without gaps");
    assert_eq!(numbers.len(), ROUNDS + 1, "one publish a round");
    let status = repo.stagecraft(&["status", "--json"]).success().json();
    for env in status["environments"].as_array().unwrap().iter().skip(1) {
        assert!(env["version"].is_u64(), "{env}");
    }
    let fsck = repo.env.command("git", &repo.root).args(["fsck", "--no-dangling"]).output().unwrap();
    assert!(fsck.status.success());
}
