//! The command line (io): one file per command, each with its clap `Args` and a `run`
//! that calls one `ops` function (or, with `--server`, the API [`crate::client`]) and
//! hands the result to [`ui::Ui`]. This module holds the global flags, the dispatch and
//! the [`Context`], the one door for the process environment (current directory,
//! environment variables, the temporary directory). The CLI never imports the HTTP
//! server: it shares only the `wire` types with it.

mod chat;
mod demo;
mod diff;
mod discard;
mod history;
mod init;
mod promote;
mod publish;
mod restore;
mod revert;
mod review;
mod rollback;
mod serve;
mod show;
mod status;
mod test;
pub mod ui;
mod validate;
mod write;

use std::path::PathBuf;

use clap::{Parser, Subcommand};

use crate::config::Secret;
use crate::error::Error;
use crate::identity::{self, Identity, IdentityInputs, When};
use crate::model::Chain;
use crate::store::Store;
use crate::store::remote::{Auth, Remote};
use ui::Ui;

/// GitOps for AI assistant configurations: git branches are environments, merges are versions.
#[derive(Debug, Parser)]
#[command(name = "stagecraft", version, max_term_width = 100)]
pub struct Cli {
    /// The config repository (default: the current directory)
    #[arg(long, global = true, value_name = "PATH")]
    repo: Option<PathBuf>,
    /// Print results and errors as JSON
    #[arg(long, global = true)]
    json: bool,
    /// Never colour the output
    #[arg(long, global = true)]
    no_color: bool,
    /// Who makes the commits of a write: "Name <email>" (default: GIT_AUTHOR_*, then git config)
    #[arg(long, global = true, value_name = "NAME <EMAIL>")]
    author: Option<String>,
    /// Remote mode: fetch from this git remote, plan on its branches, write by `git push
    /// --atomic` (an https token from STAGECRAFT_GIT_TOKEN)
    #[arg(long, global = true, value_name = "NAME")]
    remote: Option<String>,
    /// The daemon's config file: `serve` runs with it; a local write also takes its
    /// `[environments] protected` and `require_tests`, and `test` its `[test]` endpoint
    /// and the runtimes' `test_url` [default for serve: none: the repository in the
    /// current directory, 127.0.0.1:8080]
    #[arg(long, global = true, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Run against a daemon's API instead of a local repository (status, history, show,
    /// diff and every write; the token in STAGECRAFT_TOKEN)
    #[arg(long, global = true, value_name = "URL", conflicts_with_all = ["repo", "remote"])]
    server: Option<String>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    Init(init::Args),
    Status(status::Args),
    Validate(validate::Args),
    Diff(diff::Args),
    Publish(publish::Args),
    Discard(discard::Args),
    Promote(promote::Args),
    Rollback(rollback::Args),
    Restore(restore::Args),
    Revert(revert::Args),
    Review(review::Args),
    History(history::Args),
    Serve(serve::Args),
    Show(show::Args),
    Test(test::Args),
    Chat(chat::Args),
    Demo(demo::Args),
}

/// What a command may read of the process: the parsed global flags, the current
/// directory and the environment variables it uses.
pub struct Context {
    pub cwd: PathBuf,
    pub repo: Option<PathBuf>,
    pub author: Option<String>,
    pub remote: Option<String>,
    pub server: Option<String>,
    /// The global `--config`: the daemon's config file.
    pub config: Option<PathBuf>,
    vars: std::collections::BTreeMap<String, String>,
}

impl Context {
    fn from_process(cli: &Cli) -> Context {
        const USED: [&str; 8] = [
            "GIT_AUTHOR_NAME",
            "GIT_AUTHOR_EMAIL",
            "GIT_AUTHOR_DATE",
            "GIT_COMMITTER_NAME",
            "GIT_COMMITTER_EMAIL",
            "GIT_COMMITTER_DATE",
            "NO_COLOR",
            "COLUMNS",
        ];
        let vars =
            USED.iter().filter_map(|name| std::env::var(name).ok().map(|value| (name.to_string(), value))).collect();
        Context {
            cwd: std::env::current_dir().unwrap_or_else(|_| PathBuf::from(".")),
            repo: cli.repo.clone(),
            author: cli.author.clone(),
            remote: cli.remote.clone(),
            server: cli.server.clone(),
            config: cli.config.clone(),
            vars,
        }
    }

    /// The terminal's width: the terminal itself, else `COLUMNS`, else 100.
    pub fn width(&self) -> usize {
        if let Some((terminal_size::Width(width), _)) = terminal_size::terminal_size() {
            return usize::from(width);
        }
        self.var("COLUMNS").and_then(|c| c.parse().ok()).filter(|w| *w >= 40).unwrap_or(100)
    }

    /// Any environment variable (the secret references of the daemon's config, tokens):
    /// the one place the process environment is read.
    pub fn env_var(&self, name: &str) -> Option<String> {
        std::env::var(name).ok()
    }

    /// An environment variable that is set and not blank, trimmed.
    fn secret_var(&self, name: &str) -> Option<String> {
        self.env_var(name).map(|value| value.trim().to_string()).filter(|value| !value.is_empty())
    }

    /// How the daemon reads the variables its config's secret references name.
    pub fn lookup(&self) -> crate::daemon::Lookup {
        std::sync::Arc::new(|name| std::env::var(name).ok())
    }

    /// Where temporary directories go.
    pub fn temp_dir(&self) -> PathBuf {
        std::env::temp_dir()
    }

    /// This program's path, for the commands a demo prints.
    pub fn program(&self) -> String {
        std::env::current_exe().map(|p| p.display().to_string()).unwrap_or_else(|_| "stagecraft".into())
    }

    pub fn var(&self, name: &str) -> Option<String> {
        self.vars.get(name).cloned()
    }

    /// The repository directory: `--repo` (relative to the current directory) or the
    /// current directory.
    pub fn repo_path(&self) -> PathBuf {
        match &self.repo {
            Some(path) => self.cwd.join(path),
            None => self.cwd.clone(),
        }
    }

    pub fn open_store(&self) -> Result<Store, Error> {
        self.remote_mode(Store::open(&self.repo_path())?)
    }

    /// The daemon's config (the global `--config`) applied to a local write: the
    /// environments it protects besides the chain's own ask for a confirmation too, and
    /// those that require tests gate promotions the same way the daemon does.
    pub fn apply_config(&self, store: &Store, options: &mut crate::ops::WriteOptions) -> Result<(), Error> {
        if let Some(config) = self.daemon_config(store)? {
            options.protected = config.protected;
            options.require_tests = config.require_tests;
        }
        Ok(())
    }

    /// The daemon's config given with the global `--config`, checked against `store`'s chain.
    pub fn daemon_config(&self, store: &Store) -> Result<Option<crate::config::DaemonConfig>, Error> {
        let Some(file) = &self.config else { return Ok(None) };
        let path = self.cwd.join(file);
        let text = std::fs::read_to_string(&path).map_err(Error::io("read the config", &path))?;
        let shown = file.display().to_string();
        let (config, diagnostics) = crate::config::parse(&shown, &text, Some(&store.chain()?));
        if !diagnostics.is_empty() {
            return Err(Error::InvalidConfig { file: shown, diagnostics });
        }
        Ok(Some(config))
    }

    /// With `--server URL`: the daemon's API client.
    pub fn client(&self) -> Result<Option<crate::client::Client>, Error> {
        match &self.server {
            Some(url) => crate::client::Client::new(url, self.secret_var("STAGECRAFT_TOKEN")).map(Some),
            None => Ok(None),
        }
    }

    /// With `--remote NAME`: the store in remote mode, fetched.
    fn remote_mode(&self, store: Store) -> Result<Store, Error> {
        let Some(name) = &self.remote else { return Ok(store) };
        if !store.has_remote(name) {
            return Err(Error::Usage {
                message: format!("this repository has no remote `{name}`"),
                hint: Some(format!("add it with `git remote add {name} URL`, or name another with --remote")),
            });
        }
        let token = self.secret_var("STAGECRAFT_GIT_TOKEN");
        let auth = Auth { token: token.map(Secret::new), ssh_key: None };
        let store = store.with_remote(Remote::named(name, auth));
        store.fetch()?;
        Ok(store)
    }

    /// For commands that may read only directories (`validate`, `diff`): the repository
    /// when there is one, and the chain: `--environments`, else the repository's, else
    /// (when `only_paths` and no stagecraft repository is around) the default chain.
    pub fn store_and_chain(
        &self,
        only_paths: bool,
        environments: Option<&str>,
    ) -> Result<(Option<Store>, Chain), Error> {
        let store = match Store::open(&self.repo_path()) {
            Ok(store) => Some(self.remote_mode(store)?),
            Err(Error::NotARepository { .. }) if only_paths => None,
            Err(error) => return Err(error),
        };
        let chain = match (environments, &store) {
            (Some(list), _) => Chain::new(Chain::parse_list(list)?, Vec::new())?,
            (None, Some(store)) => match store.chain() {
                Ok(chain) => chain,
                // Directories inside a repository that stagecraft does not manage.
                Err(Error::NotStagecraft { .. }) if only_paths => Chain::default_chain(),
                Err(error) => return Err(error),
            },
            (None, None) => Chain::default_chain(),
        };
        Ok((store, chain))
    }

    /// The identity of a write: `--author`, the environment, then git config
    /// (the repository's when there is one, else the global one).
    pub fn identity(&self, store: Option<&Store>) -> Result<Identity, Error> {
        let (config_name, config_email) = match store {
            Some(store) => store.config_identity(),
            None => crate::store::global_identity(),
        };
        let inputs = IdentityInputs {
            author_flag: self.author.clone(),
            author_name: self.var("GIT_AUTHOR_NAME"),
            author_email: self.var("GIT_AUTHOR_EMAIL"),
            author_date: self.var("GIT_AUTHOR_DATE"),
            committer_name: self.var("GIT_COMMITTER_NAME"),
            committer_email: self.var("GIT_COMMITTER_EMAIL"),
            committer_date: self.var("GIT_COMMITTER_DATE"),
            config_name,
            config_email,
        };
        identity::resolve(&inputs, now()).map_err(|error| match error {
            identity::IdentityError::Missing => Error::NoIdentity,
            other => Error::Usage {
                message: other.to_string(),
                hint: Some("see `stagecraft --help` for the identity flags".into()),
            },
        })
    }
}

/// The clock, read here only.
fn now() -> When {
    When::from_timestamp(jiff::Timestamp::now())
}

/// Runs the command line of this process; returns the exit code.
pub fn main() -> u8 {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        // With --json, a usage error is the JSON error object like any other.
        Err(error) if error.use_stderr() && std::env::args_os().any(|arg| arg == "--json") => {
            let text = error.render().to_string();
            let mut lines = text.lines().map(str::trim).filter(|line| !line.is_empty());
            let message = lines.next().unwrap_or("bad command line").trim_start_matches("error: ").to_string();
            let usage = lines.find(|line| line.starts_with("Usage:")).unwrap_or("Usage: stagecraft --help");
            let hint = Some(format!("{usage} (see --help)"));
            return Ui::new(true, true, true).error(&Error::Usage { message, hint });
        }
        Err(error) => {
            let _ = error.print();
            return if error.use_stderr() { 2 } else { 0 };
        }
    };
    let context = Context::from_process(&cli);
    crate::failpoint::arm(context.env_var("STAGECRAFT_FAILPOINT"));
    let ui = Ui::new(cli.json, cli.no_color, context.var("NO_COLOR").is_some_and(|v| !v.is_empty()));
    if context.server.is_some() {
        let name = match &cli.command {
            Command::Init(_) => Some("init"),
            Command::Validate(_) => Some("validate"),
            Command::Serve(_) => Some("serve"),
            Command::Demo(_) => Some("demo"),
            _ => None,
        };
        if let Some(name) = name {
            return ui.error(&Error::Usage {
                message: format!("{name} needs a local repository"),
                hint: Some("run it without --server, in or with --repo pointing at a repository".into()),
            });
        }
    }
    let local_only = matches!(cli.command, Command::Init(_) | Command::Serve(_) | Command::Demo(_));
    if local_only && context.remote.is_some() {
        return ui.error(&Error::Usage {
            message: "--remote applies to commands on an existing repository".into(),
            hint: Some("the daemon's remote is `[repository] remote` in its config".into()),
        });
    }
    let result = match cli.command {
        Command::Init(args) => init::run(args, &context, &ui),
        Command::Status(args) => status::run(args, &context, &ui),
        Command::Validate(args) => validate::run(args, &context, &ui),
        Command::Diff(args) => diff::run(args, &context, &ui),
        Command::Publish(args) => publish::run(args, &context, &ui),
        Command::Discard(args) => discard::run(args, &context, &ui),
        Command::Promote(args) => promote::run(args, &context, &ui),
        Command::Rollback(args) => rollback::run(args, &context, &ui),
        Command::Restore(args) => restore::run(args, &context, &ui),
        Command::Revert(args) => revert::run(args, &context, &ui),
        Command::Review(args) => review::run(args, &context, &ui),
        Command::History(args) => history::run(args, &context, &ui),
        Command::Serve(args) => serve::run(args, &context, &ui),
        Command::Show(args) => show::run(args, &context, &ui),
        Command::Test(args) => test::run(args, &context, &ui),
        Command::Chat(args) => chat::run(args, &context, &ui),
        Command::Demo(args) => demo::run(args, &context, &ui),
    };
    match result {
        Ok(code) => code,
        Err(error) => ui.error(&error),
    }
}
