//! The `--help` of every command: a public interface, snapshotted.

use crate::common::TestEnv;

#[test]
fn every_command_has_help() {
    let env = TestEnv::new();
    let commands = [
        "", "init", "status", "validate", "diff", "publish", "discard", "promote", "rollback", "restore", "revert",
        "review", "history", "show", "test", "chat", "serve", "demo",
    ];
    for command in commands {
        let mut args: Vec<&str> = command.split_whitespace().collect();
        args.push("--help");
        let run = env.stagecraft_in(env.path(), &args).success();
        let name = if command.is_empty() { "stagecraft".to_string() } else { command.to_string() };
        insta::assert_snapshot!(format!("help-{name}"), run.stdout);
    }
}
