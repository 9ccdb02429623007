//! The README's walk-throughs, run as written: the commands of its `sh` blocks, pasted
//! in order. The first block is CI's own (`cargo run`, `cargo test`); the systemd
//! install needs root and systemd (`.ci/run` checks the unit with `systemd-analyze`).

use std::path::Path;

use crate::common::TestEnv;

/// The command lines of the README's ```` ```sh ```` blocks, comments kept.
fn sh_blocks() -> Vec<Vec<String>> {
    let readme = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md")).unwrap();
    let mut blocks = Vec::new();
    let mut current: Option<Vec<String>> = None;
    for line in readme.lines() {
        match (&mut current, line) {
            (None, "```sh") => current = Some(Vec::new()),
            (Some(_), "```") => blocks.push(current.take().unwrap()),
            (Some(block), line) => block.push(line.to_string()),
            (None, _) => {}
        }
    }
    blocks
}

/// Runs one pasted line with bash in `dir`, `stagecraft` on the PATH; returns its exit code.
fn run(env: &TestEnv, dir: &Path, line: &str) -> (i32, String) {
    let bin = env.path().join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    let link = bin.join("stagecraft");
    if !link.exists() {
        std::os::unix::fs::symlink(env!("CARGO_BIN_EXE_stagecraft"), &link).unwrap();
    }
    let path = format!("{}:{}", bin.display(), std::env::var("PATH").unwrap_or_default());
    let output = env.command("bash", dir).args(["-c", line]).env("PATH", path).output().unwrap();
    let text = format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    (output.status.code().unwrap_or(-1), text)
}

#[test]
fn the_readme_walk_throughs_run_as_written() {
    let blocks = sh_blocks();
    let try_it =
        blocks.iter().find(|b| b.iter().any(|l| l.contains("init /tmp/assistants"))).expect("the try-it block");
    let release =
        blocks.iter().find(|b| b.iter().any(|l| l.starts_with("stagecraft publish"))).expect("the release block");
    let env = TestEnv::new();
    let project = Path::new(env!("CARGO_MANIFEST_DIR"));
    let target = env.path().join("assistants");
    for line in try_it.iter().filter(|l| !l.starts_with("cargo build")) {
        let line = line
            .replace("./target/release/stagecraft", env!("CARGO_BIN_EXE_stagecraft"))
            .replace("/tmp/assistants", target.to_str().unwrap());
        let (code, output) = run(&env, project, &line);
        // The README shows that one failing on purpose: every error of a broken tree.
        let expected = if line.contains("fixtures/invalid") { 1 } else { 0 };
        assert_eq!(code, expected, "{line}\n{output}");
    }
    // The release, in the work tree of a repository made by `demo`.
    let demo = env.path().join("demo");
    env.stagecraft_in(env.path(), &["demo", "--no-serve", "--dir", demo.to_str().unwrap()]).success();
    for line in release {
        let (code, output) = run(&env, &demo, line);
        assert_eq!(code, 0, "{line}\n{output}");
    }
    assert_eq!(env.git_in(&demo, &["tag", "--list", "v*"]), "v1\nv2\n");
    let holds = env.stagecraft_in(&demo, &["status", "--json"]).success().json();
    assert_eq!(holds["environments"][3]["holds"], serde_json::json!([2]), "v2 is on hold in live");
}
