//! `stagecraft demo`: a working repository from the embedded example, from anywhere.

use crate::common::TestEnv;

#[test]
fn demo_makes_a_repository_from_the_embedded_example() {
    let env = TestEnv::new();
    let elsewhere = env.path().join("elsewhere");
    std::fs::create_dir(&elsewhere).unwrap();
    let run = env.stagecraft_in(&elsewhere, &["demo", "--dir", "../demo"]).success();
    assert!(run.stdout.contains("initialized config repository $TMP/elsewhere/../demo at v1"), "{run}");
    assert!(run.stdout.contains("live (protected)  v1"), "{run}");
    assert!(run.stdout.contains("cd $TMP/elsewhere/../demo"), "{run}");
    let repo = env.path().join("demo");
    env.stagecraft_in(&repo, &["validate"]).success();
    assert_eq!(env.git_in(&repo, &["tag"]), "v1\n");
}

#[test]
fn demo_without_a_directory_uses_a_new_temporary_one() {
    let env = TestEnv::new();
    let run = env
        .command(env!("CARGO_BIN_EXE_stagecraft"), env.path())
        .args(["demo", "--json"])
        .env("TMPDIR", env.path())
        .output()
        .unwrap();
    assert!(run.status.success(), "{}", String::from_utf8_lossy(&run.stderr));
    let json: serde_json::Value = serde_json::from_slice(&run.stdout).unwrap();
    let path = json["initialized"]["path"].as_str().unwrap();
    assert!(path.contains("stagecraft-demo-"), "{path}");
    assert!(std::path::Path::new(path).join("assistants/support-bot/assistant.toml").is_file());
    assert_eq!(json["status"]["environments"][3]["version"], 1);
}
