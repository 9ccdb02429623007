//! `stagecraft serve --check`: the daemon's configuration, its environments and secrets.

use crate::common::TestRepo;

const CONFIG: &str = r#"[repository]
path = "."
fetch_interval = "10s"

[environments]
protected = ["pre-release"]

[delivery]
retry_min = "100ms"
retry_max = "2s"

[[runtime]]
name = "live-eu"
environment = "live"
url = "http://127.0.0.1:9000/stagecraft"
secret = ["env:LIVE_EU_SECRET", "env:LIVE_EU_SECRET_OLD"]

[receiver.github]
secret = "env:GITHUB_WEBHOOK_SECRET"

[[token]]
name = "ci"
sha256 = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
role = "releaser"
"#;

const WHSEC: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

fn check(repo: &TestRepo, config: &str, vars: &[(&str, &str)]) -> crate::common::Run {
    std::fs::write(repo.env.path().join("stagecraft.toml"), config).unwrap();
    let mut command = repo.env.command(env!("CARGO_BIN_EXE_stagecraft"), &repo.root);
    command.args(["serve", "--check", "--config", "../stagecraft.toml"]);
    for (name, value) in vars {
        command.env(name, value);
    }
    let output = command.output().unwrap();
    crate::common::Run::from_output(output, repo.env.path())
}

#[test]
fn a_valid_config_with_its_secrets_checks_clean() {
    let repo = TestRepo::from_example();
    let vars = [("LIVE_EU_SECRET", WHSEC), ("LIVE_EU_SECRET_OLD", WHSEC), ("GITHUB_WEBHOOK_SECRET", "topsecret")];
    let run = check(&repo, CONFIG, &vars).success();
    insta::assert_snapshot!(run, @"
    $TMP/repo/../stagecraft.toml is valid: listen 127.0.0.1:8080, local repository, chain draft → sandbox → pre-release → live
    1 runtime (live-eu → live), 1 receiver, 1 token; every secret resolved
    delivery state in SQLite
    [exit status: 0]
    ");
    assert!(!run.stdout.contains("MfKQ9r8G") && !run.stdout.contains("topsecret"));
}

#[test]
fn serve_check_asks_the_postgresql_state_database_without_showing_its_password() {
    let Some(database) = crate::common::postgres::database() else { return };
    let repo = TestRepo::from_example();
    let config = format!(
        "[repository]\npath = \"repo\"\n[state]\nurl = \"{}\"\npassword = \"env:STATE_PASSWORD\"\n",
        database.url
    );
    let good = check(&repo, &config, &[("STATE_PASSWORD", &database.password)]).success();
    assert!(
        good.stdout.contains(&format!(
            "delivery state in PostgreSQL at {} (empty: the first start creates the tables)",
            database.url
        )),
        "{good}"
    );
    let wrong = check(&repo, &config, &[("STATE_PASSWORD", "wrong-password-31")]);
    assert_eq!(wrong.code, 1, "{wrong}");
    assert!(
        wrong.stderr.contains("password authentication failed")
            && wrong.stderr.contains("hint: check [state] password"),
        "{wrong}"
    );
    assert!(!wrong.stderr.contains("wrong-password-31") && !wrong.stdout.contains("wrong-password-31"));
    // A password in the URL is refused before anything connects, and not echoed.
    let inline = config.replace("postgres://stagecraft@", "postgres://stagecraft:hunter2@");
    let refused = check(&repo, &inline, &[("STATE_PASSWORD", &database.password)]);
    assert_eq!(refused.code, 1, "{refused}");
    assert!(refused.stderr.contains("`url` in [state] holds a password"), "{refused}");
    assert!(!refused.stderr.contains("hunter2"), "{refused}");
}

#[test]
fn a_missing_or_malformed_secret_is_a_clear_error_that_never_shows_it() {
    let repo = TestRepo::from_example();
    let run =
        check(&repo, CONFIG, &[("LIVE_EU_SECRET", "not-a-webhook-secret"), ("GITHUB_WEBHOOK_SECRET", "topsecret")]);
    insta::assert_snapshot!(run, @"
    ------- stderr -------
    error: $TMP/repo/../stagecraft.toml does not validate: 2 errors
      $TMP/repo/../stagecraft.toml: runtime `live-eu`: secret env:LIVE_EU_SECRET: a Standard Webhooks secret starts with `whsec_`
      hint: set LIVE_EU_SECRET in the daemon's environment (for systemd: EnvironmentFile=)
      $TMP/repo/../stagecraft.toml: runtime `live-eu`: secret env:LIVE_EU_SECRET_OLD: the variable is not set
      hint: set LIVE_EU_SECRET_OLD in the daemon's environment (for systemd: EnvironmentFile=)
    hint: fix the config, then check it again with `stagecraft serve --check`
    [exit status: 1]
    ");
    assert!(!run.stderr.contains("not-a-webhook-secret"));
}

#[test]
fn config_errors_point_at_their_line() {
    let repo = TestRepo::from_example();
    let broken = CONFIG
        .replace("protected = [\"pre-release\"]", "protected = [\"prerelease\"]")
        .replace("retry_max = \"2s\"", "retry_maxx = \"2s\"")
        .replace("secret = \"env:GITHUB_WEBHOOK_SECRET\"", "secret = \"hunter2\"");
    let run = check(&repo, &broken, &[]);
    assert_eq!(run.code, 1, "{run}");
    insta::assert_snapshot!(run, @r#"
    ------- stderr -------
    error: $TMP/repo/../stagecraft.toml does not validate: 3 errors
      $TMP/repo/../stagecraft.toml:6:14: environment `prerelease` is not in the repository's chain
         |
       6 | protected = ["prerelease"]
         |              ^^^^^^^^^^^^
      hint: did you mean `pre-release`? the chain is draft → sandbox → pre-release → live
      $TMP/repo/../stagecraft.toml:10:1: unknown key `retry_maxx` in [delivery]
          |
       10 | retry_maxx = "2s"
          | ^^^^^^^^^^
      hint: did you mean `retry_max`?
      $TMP/repo/../stagecraft.toml:19:10: a secret must be a reference, `env:NAME` or `file:/absolute/path`, never the secret itself
      hint: move the secret into an environment variable or a file readable by the daemon only
    hint: fix the config, then check it again with `stagecraft serve --check`
    [exit status: 1]
    "#);
    assert!(!run.stderr.contains("hunter2"), "a secret written in the file is never echoed");
}

#[test]
fn without_a_config_file_the_defaults_check() {
    let repo = TestRepo::from_example();
    let run = repo.stagecraft(&["serve", "--check"]).success();
    assert!(run.stdout.starts_with("no config file (defaults) is valid: listen 127.0.0.1:8080, local repository, chain draft → sandbox → pre-release → live"), "{run}");
}

#[test]
fn issue_13_the_global_repo_flag_names_the_repository_without_a_config_file() {
    let repo = TestRepo::from_example();
    // From outside the repository, no config file: --repo is the repository served.
    let run = repo.env.stagecraft_in(repo.env.path(), &["--repo", "repo", "serve", "--check"]).success();
    assert!(run.stdout.contains("local repository, chain draft → sandbox → pre-release → live"), "{run}");
    let without = repo.env.stagecraft_in(repo.env.path(), &["serve", "--check"]).success();
    assert!(without.stdout.contains("chain not found yet"), "{without}");
}
