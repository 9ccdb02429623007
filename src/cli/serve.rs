//! `stagecraft serve [--config FILE] [--check] [--log-format human|json]`

use std::io::IsTerminal;

use super::Context;
use super::ui::Ui;
use crate::daemon::Lookup;
use crate::deliver::postgres::PgLedger;
use crate::error::Error;
use crate::identity::{Identity, When};
use crate::loaded::{LoadedConfig, load_config};

/// Run the daemon: follow the repository, turn merges into versions, deliver each
/// environment's configs to its runtimes
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Check the configuration (syntax, keys, environments, secrets) and exit
    #[arg(long)]
    check: bool,
    /// Listen on this address instead of the config's `[server] listen` (port 0: any free port, logged at start)
    #[arg(long, value_name = "ADDR")]
    listen: Option<std::net::SocketAddr>,
    /// Log lines for people (colour on a terminal) or one JSON object per line (journald, log shippers)
    #[arg(long, value_enum, default_value_t = LogFormat::Human)]
    log_format: LogFormat,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    Human,
    Json,
}

/// Sends `tracing` events to stderr; `STAGECRAFT_LOG` filters (default `info`).
pub fn init_logging(context: &Context, format: LogFormat) {
    init_logging_default(context, format, "info");
}

/// [`init_logging`] with another default filter.
pub fn init_logging_default(context: &Context, format: LogFormat, default: &str) {
    let filter = context
        .env_var("STAGECRAFT_LOG")
        .and_then(|filter| tracing_subscriber::EnvFilter::try_new(filter).ok())
        .unwrap_or_else(|| tracing_subscriber::EnvFilter::new(default));
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    let _ = match format {
        LogFormat::Json => builder.json().flatten_event(true).with_current_span(false).try_init(),
        LogFormat::Human => builder.with_ansi(std::io::stderr().is_terminal()).with_target(false).try_init(),
    };
}

pub fn run(args: Args, context: &Context, ui: &Ui) -> Result<u8, Error> {
    let file = context.config.as_ref().map(|f| context.cwd.join(f));
    let mut loaded = load_config(file.as_deref(), &context.cwd, &|name| context.env_var(name))?;
    // `--repo` names the repository when the config does not (or there is none).
    if context.repo.is_some() {
        loaded = loaded.with_repository(context.repo_path());
    }
    if let Some(listen) = args.listen {
        loaded.config.server.listen = listen;
    }
    if !args.check {
        init_logging(context, args.log_format);
        let identity = match &loaded.config.repository.identity {
            Some(person) => {
                let now = When::from_timestamp(jiff::Timestamp::now());
                Some(Identity {
                    author: person.clone(),
                    author_time: now,
                    committer: person.clone(),
                    committer_time: now,
                })
            }
            None => context.identity(None).ok(),
        };
        let address = loaded.config.server.listen;
        let listener = std::net::TcpListener::bind(address).map_err(|e| Error::Io {
            step: "listen on",
            path: address.to_string(),
            source: e,
        })?;
        run_daemon(loaded, context, identity, context.lookup(), listener)?;
        return Ok(0);
    }
    let config = &loaded.config;
    // The state database is asked too (reading only): a wrong URL or password, a newer
    // schema or another chain fails the check, as it would fail the start.
    let state = match (&config.database, &loaded.chain) {
        (Some(database), chain) => {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(Error::io("start the async runtime for", "the state database"))?;
            let ledger = PgLedger::connect(database, loaded.state_password.as_ref())?;
            let chain = chain.clone().unwrap_or_else(crate::model::Chain::default_chain);
            let said = runtime.block_on(ledger.inspect(&chain))?;
            format!("delivery state in PostgreSQL at {} ({said})", database.url)
        }
        (None, _) => "delivery state in SQLite".to_string(),
    };
    let runtimes: Vec<String> = config.runtimes.iter().map(|r| format!("{} → {}", r.name, r.environment)).collect();
    let summary = serde_json::json!({
        "valid": true,
        "file": loaded.file.as_ref().map(|f| f.display().to_string()),
        "listen": config.server.listen.to_string(),
        "mode": if config.repository.remote.is_some() { "remote" } else { "local" },
        "runtimes": config.runtimes.iter().map(|r| serde_json::json!({"name": r.name, "environment": r.environment.as_str(), "secrets": r.secrets.len()})).collect::<Vec<_>>(),
        "receivers": config.receivers.iter().map(|r| r.forge.clone()).collect::<Vec<_>>(),
        "tokens": config.tokens.len(),
        "state": state,
    });
    ui.json(&summary);
    let file =
        loaded.file.as_ref().map_or_else(|| "no config file (defaults)".to_string(), |f| f.display().to_string());
    let chain = loaded
        .chain
        .as_ref()
        .map_or_else(|| "not found yet: environment names unchecked".to_string(), |c| c.display_arrows());
    ui.text(&format!(
        "{file} is valid: listen {}, {} repository, chain {chain}\n{} runtime{}{}, {} receiver{}, {} token{}; every secret resolved\n{state}\n",
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

/// Runs the daemon in this process until SIGTERM or SIGINT, on `listener`: the async
/// runtime, the signals (installed before anything slow, so that none finds its default
/// action, which ends the process) and the shutdown token are owned here; SIGHUP asks
/// the daemon to reload its config.
pub fn run_daemon(
    loaded: LoadedConfig,
    context: &Context,
    identity: Option<Identity>,
    lookup: Lookup,
    listener: std::net::TcpListener,
) -> Result<(), Error> {
    use tokio::signal::unix::{SignalKind, signal};
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(Error::io("start the async runtime in", &context.cwd))?;
    let result = runtime.block_on(async move {
        let install = |kind: SignalKind| signal(kind).map_err(Error::io("install a signal handler for", "the daemon"));
        let (mut hangup, mut terminate, mut interrupt) =
            (install(SignalKind::hangup())?, install(SignalKind::terminate())?, install(SignalKind::interrupt())?);
        let shutdown = tokio_util::sync::CancellationToken::new();
        let (reload, reloads) = tokio::sync::mpsc::channel(4);
        let stop = shutdown.clone();
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    _ = hangup.recv() => { let _ = reload.try_send(()); }
                    _ = terminate.recv() => break,
                    _ = interrupt.recv() => break,
                }
            }
            stop.cancel();
        });
        listener.set_nonblocking(true).map_err(Error::io("configure the listener in", &context.cwd))?;
        let address = listener.local_addr().map_err(Error::io("read the listening address in", &context.cwd))?;
        let listener =
            tokio::net::TcpListener::from_std(listener).map_err(Error::io("serve on", address.to_string()))?;
        let options = crate::daemon::Options { loaded, cwd: context.cwd.clone(), identity, lookup, reloads };
        crate::daemon::run(options, listener, shutdown).await
    });
    // Blocking work still running past the daemon's own stop bound (a clone, a fetch, a
    // sync pass) does not hold the process.
    runtime.shutdown_timeout(std::time::Duration::from_secs(2));
    result
}
