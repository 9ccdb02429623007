//! `stagecraft demo`: a working repository from the embedded example, from anywhere.

use crate::common::TestEnv;

#[test]
fn demo_makes_a_repository_from_the_embedded_example() {
    let env = TestEnv::new();
    let elsewhere = env.path().join("elsewhere");
    std::fs::create_dir(&elsewhere).unwrap();
    let run = env.stagecraft_in(&elsewhere, &["demo", "--no-serve", "--dir", "../demo"]).success();
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
        .args(["demo", "--no-serve", "--json"])
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

#[test]
fn demo_serves_and_a_publish_and_a_promotion_reach_its_runtimes() {
    use std::io::{BufRead, BufReader};
    let env = TestEnv::new();
    let mut child = env
        .command(env!("CARGO_BIN_EXE_stagecraft"), env.path())
        .args(["demo", "--dir", "demo"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let (lines, received) = std::sync::mpsc::channel::<String>();
    let stdout = child.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = lines.send(line);
        }
    });
    let mut seen = Vec::new();
    let mut wait_for = |what: &str, matches: &dyn Fn(&str) -> bool| loop {
        let line = received
            .recv_timeout(crate::common::daemon::DEADLINE)
            .unwrap_or_else(|_| panic!("no line for {what}; so far:\n{}", seen.join("\n")));
        seen.push(line.clone());
        if matches(&line) {
            return line;
        }
    };
    let serving = wait_for("the address", &|l| l.starts_with("The daemon serves"));
    assert!(serving.contains("on http://127.0.0.1:"), "{serving}");
    let dashboard = wait_for("the dashboard", &|l| l.starts_with("Open the dashboard: "));
    let dashboard = dashboard.trim_start_matches("Open the dashboard: ").to_string();
    let token_line = wait_for("the demo token", &|l| l.contains("sign in with the demo token "));
    let token = token_line.rsplit(' ').next().unwrap().to_string();
    assert!(token.starts_with("demo-") && token.len() == 37, "a fresh token for this run: {token}");
    wait_for("live's first delivery", &|l| l.starts_with("[       live runtime] support-bot v1"));
    // The commands it printed, from a second terminal.
    let repo = env.path().join("demo");
    let file = repo.join("assistants/support-bot/assistant.toml");
    let text = std::fs::read_to_string(&file).unwrap().replace("temperature = 0.3", "temperature = 0.5");
    std::fs::write(&file, text).unwrap();
    env.git_in(&repo, &["commit", "-qam", "Warmer answers"]);
    env.stagecraft_in(&repo, &["publish", "-m", "warmer answers"]).success();
    let sandbox = wait_for("the publish", &|l| l.starts_with("[    sandbox runtime] support-bot v2"));
    assert!(sandbox.ends_with("temperature 0.5; signature verified"), "{sandbox}");
    env.stagecraft_in(&repo, &["promote", "v2", "--to", "pre-release"]).success();
    env.stagecraft_in(&repo, &["promote", "v2", "--to", "live", "--yes"]).success();
    wait_for("the promotion", &|l| l.starts_with("[       live runtime] support-bot v2"));
    // The printed sign-in opens the dashboard on the Environments page.
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let page = runtime.block_on(async {
        let client = stagecraft::net::http_client();
        let signed = client
            .post(format!("{dashboard}login"))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(format!("token={token}&next=/"))
            .send()
            .await
            .unwrap();
        assert_eq!(signed.status().as_u16(), 303);
        let cookie = signed.headers()["set-cookie"].to_str().unwrap().split(';').next().unwrap().to_string();
        client.get(&dashboard).header("cookie", cookie).send().await.unwrap().text().await.unwrap()
    });
    assert!(page.contains("<h1>Environments</h1>") && page.contains("demo (admin)"), "{page}");
    let status = std::process::Command::new("kill").args(["-INT", &child.id().to_string()]).status().unwrap();
    assert!(status.success());
    assert!(child.wait().unwrap().success(), "Ctrl-C stops the demo cleanly");
}
