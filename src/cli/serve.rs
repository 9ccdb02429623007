//! `stagecraft serve [--check]`

use std::path::PathBuf;

use super::Context;
use super::ui::Ui;
use crate::daemon::load_config;
use crate::error::Error;

/// The daemon (SPEC 7). This build checks its configuration only: `serve --check`
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The daemon's config file [default: none: the repository in the current directory, 127.0.0.1:8080]
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Check the configuration (syntax, keys, environments, secrets) and exit
    #[arg(long)]
    check: bool,
}

pub fn run(args: Args, context: &Context, ui: &Ui) -> Result<u8, Error> {
    if !args.check {
        return Err(Error::Usage {
            message: "the daemon does not run in this build yet; `serve --check` checks its configuration".into(),
            hint: Some("run `stagecraft serve --check --config stagecraft.toml`".into()),
        });
    }
    let file = args.config.map(|f| context.cwd.join(f));
    let loaded = load_config(file.as_deref(), &context.cwd, &|name| context.env_var(name))?;
    let config = &loaded.config;
    let runtimes: Vec<String> = config.runtimes.iter().map(|r| format!("{} → {}", r.name, r.environment)).collect();
    let summary = serde_json::json!({
        "valid": true,
        "file": loaded.file.as_ref().map(|f| f.display().to_string()),
        "listen": config.server.listen.to_string(),
        "mode": if config.repository.remote.is_some() { "remote" } else { "local" },
        "runtimes": config.runtimes.iter().map(|r| serde_json::json!({"name": r.name, "environment": r.environment.as_str(), "secrets": r.secrets.len()})).collect::<Vec<_>>(),
        "receivers": config.receivers.iter().map(|r| r.forge.clone()).collect::<Vec<_>>(),
        "tokens": config.tokens.len(),
    });
    ui.json(&summary);
    let file =
        loaded.file.as_ref().map_or_else(|| "no config file (defaults)".to_string(), |f| f.display().to_string());
    let chain = loaded
        .chain
        .as_ref()
        .map_or_else(|| "not found yet: environment names unchecked".to_string(), |c| c.display_arrows());
    ui.text(&format!(
        "{file} is valid: listen {}, {} repository, chain {chain}\n{} runtime{}{}, {} receiver{}, {} token{}; every secret resolved\n",
        config.server.listen,
        if config.repository.remote.is_some() { "remote" } else { "local" },
        config.runtimes.len(),
        if config.runtimes.len() == 1 { "" } else { "s" },
        if runtimes.is_empty() { String::new() } else { format!(" ({})", runtimes.join(", ")) },
        config.receivers.len(),
        if config.receivers.len() == 1 { "" } else { "s" },
        config.tokens.len(),
        if config.tokens.len() == 1 { "" } else { "s" },
    ));
    Ok(0)
}
