//! The daemon's configuration, `stagecraft.toml`: parsed with every finding at
//! once (file:line:col, "did you mean" for unknown keys), durations like `"30s"`, and
//! secrets kept as references (`env:NAME`, `file:/path`) that the daemon resolves at
//! start, so that no secret is ever written in the file, a log or an error. Pure: the
//! text and the repository's chain come in; nothing is read here.

use std::collections::BTreeSet;
use std::fmt;
use std::net::SocketAddr;
use std::ops::Range;
use std::path::PathBuf;
use std::time::Duration;

use crate::identity::Person;
use crate::model::{Chain, EnvName, ids::is_valid_id};
use crate::validate::walk::{FileCheck, Table};
use crate::validate::{Diagnostic, did_you_mean, sort, suggestion};

/// A secret value: `Debug` prints `REDACTED` and there is no `Display`, so it cannot
/// reach a log or an error message by accident.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: String) -> Secret {
        Secret(value)
    }
    /// The value, for the one place that uses it (signing, comparing).
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(REDACTED)")
    }
}

/// Where a secret comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SecretRef {
    /// `env:NAME`: an environment variable.
    Env(String),
    /// `file:/path`: a file's content, trimmed.
    File(PathBuf),
}

impl fmt::Display for SecretRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SecretRef::Env(name) => write!(f, "env:{name}"),
            SecretRef::File(path) => write!(f, "file:{}", path.display()),
        }
    }
}

/// The roles of API tokens, weakest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Role {
    Viewer,
    Publisher,
    Releaser,
    Admin,
}

impl Role {
    pub const NAMES: [&'static str; 4] = ["viewer", "publisher", "releaser", "admin"];

    pub fn from_name(name: &str) -> Option<Role> {
        match name {
            "viewer" => Some(Role::Viewer),
            "publisher" => Some(Role::Publisher),
            "releaser" => Some(Role::Releaser),
            "admin" => Some(Role::Admin),
            _ => None,
        }
    }
}

/// `stagecraft.toml`, checked. Defaults as docs/ and the README say.
#[derive(Debug, Clone, PartialEq)]
pub struct DaemonConfig {
    pub repository: RepositoryConfig,
    /// Protected beyond the chain's own.
    pub protected: Vec<EnvName>,
    pub require_tests: Vec<EnvName>,
    /// `None`: `<git dir>/stagecraft/state.db`.
    pub state_path: Option<PathBuf>,
    /// `[state] url`: the delivery state in PostgreSQL, shared by several daemons.
    pub database: Option<DatabaseConfig>,
    pub delivery: DeliveryConfig,
    pub server: ServerConfig,
    pub runtimes: Vec<RuntimeConfig>,
    pub receivers: Vec<ReceiverConfig>,
    pub review: Option<ReviewConfig>,
    pub test: Option<TestConfig>,
    pub tokens: Vec<TokenConfig>,
}

/// `[state] url = "postgres://…"`: the delivery ledger in PostgreSQL, which several
/// daemons share, each owning some runtimes through a lease.
#[derive(Debug, Clone, PartialEq)]
pub struct DatabaseConfig {
    /// `postgres://USER@HOST:PORT/DATABASE`, with no password in it.
    pub url: String,
    /// `[state] password`.
    pub password: Option<SecretRef>,
    /// Connections in the pool; 8 by default.
    pub pool: usize,
    /// How long a daemon owns a runtime without renewing; 10 s by default.
    pub lease: Duration,
    /// This daemon's name among the others; `None`: host name and process id.
    pub node: Option<String>,
}

/// `[test]`: the OpenAI-compatible endpoint that tests and chats go to, when no
/// runtime's `test_url` is used.
#[derive(Debug, Clone, PartialEq)]
pub struct TestConfig {
    /// `http://HOST/v1`: requests go to `{endpoint}/chat/completions`.
    pub endpoint: String,
    /// Overrides each assistant's `[model] name`.
    pub model: Option<String>,
    /// Sent as a bearer token.
    pub api_key: Option<SecretRef>,
    /// Per request; 60 s by default.
    pub timeout: Duration,
}

#[derive(Debug, Clone, PartialEq)]
pub struct RepositoryConfig {
    /// `None`: the current directory.
    pub path: Option<PathBuf>,
    /// Remote mode when set.
    pub remote: Option<String>,
    pub fetch_interval: Duration,
    /// The committer of API writes; `None`: from the environment or git config.
    pub identity: Option<Person>,
    /// An https token for the remote; `None`: `STAGECRAFT_GIT_TOKEN`, else none.
    pub token: Option<SecretRef>,
    /// An ssh key file for the remote; `None`: the agent and ssh's configuration.
    pub ssh_key: Option<PathBuf>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct DeliveryConfig {
    pub retry_min: Duration,
    pub retry_max: Duration,
    pub timeout: Duration,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ServerConfig {
    pub listen: SocketAddr,
    pub public_read: bool,
    pub public_metrics: bool,
    /// The key that signs the dashboard's session cookies, shared by several daemons;
    /// `None`: a random key per start.
    pub session_secret: Option<SecretRef>,
}

/// One `[[runtime]]`.
#[derive(Debug, Clone, PartialEq)]
pub struct RuntimeConfig {
    pub name: String,
    pub environment: EnvName,
    pub url: String,
    /// One or more (during a rotation): Standard Webhooks secrets `whsec_<base64>`.
    pub secrets: Vec<SecretRef>,
    /// Assistant ids, or `*` for all.
    pub assistants: Vec<String>,
    pub test_url: Option<String>,
}

/// A forge: where pull requests are reviewed and whose hooks are received.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ForgeKind {
    GitHub,
    GitLab,
    Gitea,
}

impl ForgeKind {
    pub const NAMES: [&'static str; 3] = ["github", "gitlab", "gitea"];

    pub fn from_name(name: &str) -> Option<ForgeKind> {
        match name {
            "github" => Some(ForgeKind::GitHub),
            "gitlab" => Some(ForgeKind::GitLab),
            "gitea" => Some(ForgeKind::Gitea),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            ForgeKind::GitHub => "github",
            ForgeKind::GitLab => "gitlab",
            ForgeKind::Gitea => "gitea",
        }
    }
}

/// `[review]`: the daemon reviews pull requests on this forge.
#[derive(Debug, Clone, PartialEq)]
pub struct ReviewConfig {
    pub forge: ForgeKind,
    /// The forge's REST API: `https://api.github.com`, `https://gitea.example/api/v1`,
    /// `https://gitlab.example/api/v4`.
    pub api_url: String,
    /// `owner/name`; for GitLab the project's path.
    pub repository: String,
    pub token: SecretRef,
}

/// One `[receiver.<forge>]`.
#[derive(Debug, Clone, PartialEq)]
pub struct ReceiverConfig {
    pub forge: String,
    pub secret: SecretRef,
}

/// One `[[token]]`.
#[derive(Debug, Clone, PartialEq)]
pub struct TokenConfig {
    pub name: String,
    /// The hex SHA-256 of the bearer token, lowercase.
    pub sha256: String,
    pub role: Role,
}

impl Default for DaemonConfig {
    /// The daemon without a config file: the repository in the current directory,
    /// 127.0.0.1:8080, no runtimes, no tokens (reads on loopback only, writes refused).
    fn default() -> DaemonConfig {
        DaemonConfig {
            repository: RepositoryConfig {
                path: None,
                remote: None,
                fetch_interval: Duration::from_secs(30),
                identity: None,
                token: None,
                ssh_key: None,
            },
            protected: Vec::new(),
            require_tests: Vec::new(),
            state_path: None,
            database: None,
            delivery: DeliveryConfig {
                retry_min: Duration::from_secs(1),
                retry_max: Duration::from_secs(300),
                timeout: Duration::from_secs(15),
            },
            server: ServerConfig {
                listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
                public_read: false,
                public_metrics: false,
                session_secret: None,
            },
            runtimes: Vec::new(),
            receivers: Vec::new(),
            review: None,
            test: None,
            tokens: Vec::new(),
        }
    }
}

const TOP: [&str; 10] =
    ["repository", "environments", "state", "delivery", "server", "runtime", "receiver", "review", "test", "token"];
const FORGES: [&str; 3] = ForgeKind::NAMES;

/// Parses and checks `stagecraft.toml`. `chain` is the repository's, when it is known;
/// without it environment names are checked against nothing.
pub fn parse(file: &str, text: &str, chain: Option<&Chain>) -> (DaemonConfig, Vec<Diagnostic>) {
    let mut config = DaemonConfig::default();
    let mut check = FileCheck::new(file, text);
    let Some(doc) = check.parse() else {
        return (config, check.diagnostics);
    };
    let root = doc.get_ref();
    check.unknown_keys(root, &TOP, "stagecraft.toml");
    if let Some((repository, _)) = check.table(root, "repository") {
        check.unknown_keys(
            repository,
            &["path", "remote", "fetch_interval", "identity", "token", "ssh_key"],
            "[repository]",
        );
        config.repository.token = secret(&mut check, repository, "token");
        config.repository.ssh_key = check.string(repository, "ssh_key").map(|(p, _)| PathBuf::from(p));
        config.repository.path = check.string(repository, "path").map(|(p, _)| PathBuf::from(p));
        if let Some((remote, span)) = check.string(repository, "remote") {
            let known = ["https://", "http://", "ssh://", "file://", "git@"];
            if known.iter().any(|prefix| remote.starts_with(prefix)) || remote.contains(':') {
                config.repository.remote = Some(remote);
            } else {
                check.error(
                    span,
                    format!("`remote` `{remote}` is not a git URL"),
                    Some("use https://…, ssh://…, git@host:path or file://…".into()),
                );
            }
        }
        if let Some(interval) = duration(&mut check, repository, "fetch_interval") {
            config.repository.fetch_interval = interval;
        }
        if let Some((identity, span)) = check.string(repository, "identity") {
            match Person::parse(&identity) {
                Some(person) => config.repository.identity = Some(person),
                None => {
                    check.error(span, format!("`identity` must look like \"Name <email>\", found `{identity}`"), None)
                }
            }
        }
    }
    if let Some((environments, _)) = check.table(root, "environments") {
        check.unknown_keys(environments, &["protected", "require_tests"], "[environments]");
        config.protected = env_list(&mut check, environments, "protected", chain);
        config.require_tests = env_list(&mut check, environments, "require_tests", chain);
    }
    if let Some((state, state_span)) = check.table(root, "state") {
        check.unknown_keys(state, &["path", "url", "password", "pool", "lease", "node"], "[state]");
        config.state_path = check.string(state, "path").map(|(p, _)| PathBuf::from(p));
        config.database = database(&mut check, state, state_span);
    }
    if let Some((delivery, delivery_span)) = check.table(root, "delivery") {
        check.unknown_keys(delivery, &["retry_min", "retry_max", "timeout"], "[delivery]");
        if let Some(value) = duration(&mut check, delivery, "retry_min") {
            config.delivery.retry_min = value;
        }
        if let Some(value) = duration(&mut check, delivery, "retry_max") {
            config.delivery.retry_max = value;
        }
        if let Some(value) = duration(&mut check, delivery, "timeout") {
            config.delivery.timeout = value;
        }
        if config.delivery.retry_min > config.delivery.retry_max {
            check.error(
                delivery_span,
                "`retry_min` is longer than `retry_max`",
                Some("retries back off from retry_min doubling up to retry_max".into()),
            );
        }
    }
    if let Some((server, _)) = check.table(root, "server") {
        check.unknown_keys(server, &["listen", "public_read", "public_metrics", "session_secret"], "[server]");
        config.server.session_secret = secret(&mut check, server, "session_secret");
        if let Some((listen, span)) = check.string(server, "listen") {
            match listen.parse::<SocketAddr>() {
                Ok(address) => config.server.listen = address,
                Err(_) => check.error(
                    span,
                    format!("`listen` `{listen}` is not an address and port"),
                    Some("write it as 127.0.0.1:8080 or [::1]:8080".into()),
                ),
            }
        }
        config.server.public_read = check.boolean(server, "public_read").unwrap_or(false);
        config.server.public_metrics = check.boolean(server, "public_metrics").unwrap_or(false);
    }
    config.runtimes = runtimes(&mut check, root, chain);
    if let Some((receivers, _)) = check.table(root, "receiver") {
        for (forge, value) in receivers.iter() {
            let forge = forge.get_ref().to_string();
            let Some(table) = value.get_ref().as_table() else {
                check.error(value.span(), format!("`receiver.{forge}` must be a table"), None);
                continue;
            };
            if !FORGES.contains(&forge.as_str()) {
                check.error(
                    value.span(),
                    format!("unknown forge `{forge}`"),
                    Some(suggestion(&forge, &FORGES, "forge")),
                );
                continue;
            }
            check.unknown_keys(table, &["secret"], &format!("[receiver.{forge}]"));
            match secret(&mut check, table, "secret") {
                Some(secret) => config.receivers.push(ReceiverConfig { forge, secret }),
                None if table.get("secret").is_none() => {
                    check.missing(value.span(), "secret", &format!("[receiver.{forge}]"), "add `secret = \"env:NAME\"`")
                }
                None => {}
            }
        }
    }
    config.review = review(&mut check, root);
    config.test = test(&mut check, root);
    config.tokens = tokens(&mut check, root);
    let mut diagnostics = check.diagnostics;
    sort(&mut diagnostics);
    (config, diagnostics)
}

/// `[state] url` and what goes with it: the URL a `postgres://` one without a password
/// (that is `password`, a secret reference), not together with `path`.
fn database(check: &mut FileCheck<'_>, state: &Table<'_>, state_span: Range<usize>) -> Option<DatabaseConfig> {
    let url = match check.string(state, "url") {
        Some((url, span)) => {
            let rest = url.strip_prefix("postgres://").or_else(|| url.strip_prefix("postgresql://"));
            let userinfo = rest.and_then(|rest| rest.split('/').next()?.rsplit_once('@').map(|(user, _)| user));
            match rest {
                None => {
                    check.error(
                        span,
                        "`url` is not a PostgreSQL URL",
                        Some("write it as postgres://USER@HOST:5432/DATABASE".into()),
                    );
                    None
                }
                Some(_) if userinfo.is_some_and(|user| user.contains(':')) => {
                    // Pointed at the table, not the value: the excerpt would show the password.
                    let _ = span;
                    check.error(
                        state_span,
                        "`url` in [state] holds a password",
                        Some(
                            "remove it from the URL and set `password = \"env:NAME\"` (or file:/path) in [state]"
                                .into(),
                        ),
                    );
                    None
                }
                Some(_) if state.get("path").is_some() => {
                    check.error(
                        span,
                        "[state] has both `path` and `url`",
                        Some(
                            "`path` is the SQLite file of a single daemon; `url` a PostgreSQL database; keep one"
                                .into(),
                        ),
                    );
                    None
                }
                Some(_) => Some(url),
            }
        }
        None => None,
    };
    let password = secret(check, state, "password");
    let lease = duration(check, state, "lease");
    if let (Some(lease), Some(value)) = (lease, state.get("lease"))
        && !(Duration::from_secs(1)..=Duration::from_secs(600)).contains(&lease)
    {
        check.error(
            value.span(),
            "`lease` must be between 1s and 10m",
            Some("10s suits most; see docs/scaling.md".into()),
        );
    }
    let pool = match check.integer(state, "pool") {
        Some((pool, _)) if (1..=64).contains(&pool) => Some(pool as usize),
        Some((_, span)) => {
            check.error(span, "`pool` must be between 1 and 64", Some("8 suits most; see docs/scaling.md".into()));
            None
        }
        None => None,
    };
    let node = match check.string(state, "node") {
        Some((node, span))
            if node.is_empty()
                || node.len() > 64
                || !node.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b)) =>
        {
            check.error(
                span,
                format!("`node` `{node}` is not a name"),
                Some("use up to 64 of A-Z, a-z, 0-9, `-`, `_` and `.`".into()),
            );
            None
        }
        other => other.map(|(node, _)| node),
    };
    let url = url?;
    Some(DatabaseConfig {
        url,
        password,
        pool: pool.unwrap_or(8),
        lease: lease.unwrap_or(Duration::from_secs(10)),
        node,
    })
}

/// `[test]`: `endpoint` is needed.
fn test(check: &mut FileCheck<'_>, root: &Table<'_>) -> Option<TestConfig> {
    let (table, span) = check.table(root, "test")?;
    check.unknown_keys(table, &["endpoint", "model", "api_key", "timeout"], "[test]");
    let endpoint = match check.string(table, "endpoint") {
        Some((url, span)) if !(url.starts_with("https://") || url.starts_with("http://")) => {
            check.error(
                span,
                format!("`endpoint` `{url}` is not an http(s) URL"),
                Some("the OpenAI-compatible API's base, like http://127.0.0.1:8000/v1".into()),
            );
            None
        }
        Some((url, _)) => Some(url.trim_end_matches('/').to_string()),
        None => {
            if table.get("endpoint").is_none() {
                check.missing(span, "endpoint", "[test]", "add `endpoint = \"http://127.0.0.1:8000/v1\"`");
            }
            None
        }
    };
    let model = check.string(table, "model").map(|(m, _)| m);
    let api_key = secret(check, table, "api_key");
    let timeout = duration(check, table, "timeout").unwrap_or(Duration::from_secs(60));
    Some(TestConfig { endpoint: endpoint?, model, api_key, timeout })
}

/// `[review]`: every key is needed.
fn review(check: &mut FileCheck<'_>, root: &Table<'_>) -> Option<ReviewConfig> {
    let (table, span) = check.table(root, "review")?;
    check.unknown_keys(table, &["forge", "api_url", "repository", "token"], "[review]");
    let forge = match check.string(table, "forge") {
        Some((name, span)) => match ForgeKind::from_name(&name) {
            Some(forge) => Some(forge),
            None => {
                check.error(span, format!("unknown forge `{name}`"), Some(suggestion(&name, &FORGES, "forge")));
                None
            }
        },
        None => None,
    };
    let api_url = match check.string(table, "api_url") {
        Some((url, span)) if !(url.starts_with("https://") || url.starts_with("http://")) => {
            check.error(
                span,
                format!("`api_url` `{url}` is not an http(s) URL"),
                Some("GitHub: https://api.github.com; Gitea: https://HOST/api/v1; GitLab: https://HOST/api/v4".into()),
            );
            None
        }
        other => other.map(|(url, _)| url.trim_end_matches('/').to_string()),
    };
    let repository = match check.string(table, "repository") {
        Some((name, span)) if name.trim().is_empty() || name.len() > 512 || name.chars().any(char::is_whitespace) => {
            check.error(
                span,
                format!("`repository` `{name}` is not a repository"),
                Some("write it as owner/name".into()),
            );
            None
        }
        other => other.map(|(name, _)| name),
    };
    let token = secret(check, table, "token");
    for (key, present, hint) in [
        ("forge", forge.is_some() || table.get("forge").is_some(), "add `forge = \"github\"` (or gitlab, gitea)"),
        ("api_url", api_url.is_some() || table.get("api_url").is_some(), "add `api_url = \"https://api.github.com\"`"),
        ("repository", repository.is_some() || table.get("repository").is_some(), "add `repository = \"owner/name\"`"),
        ("token", token.is_some() || table.get("token").is_some(), "add `token = \"env:NAME\"`"),
    ] {
        if !present {
            check.missing(span.clone(), key, "[review]", hint);
        }
    }
    Some(ReviewConfig { forge: forge?, api_url: api_url?, repository: repository?, token: token? })
}

fn runtimes(check: &mut FileCheck<'_>, root: &Table<'_>, chain: Option<&Chain>) -> Vec<RuntimeConfig> {
    let mut runtimes = Vec::new();
    let mut names = BTreeSet::new();
    for (table, item_span) in check.array_of_tables(root, "runtime") {
        check.unknown_keys(table, &["name", "environment", "url", "secret", "assistants", "test_url"], "a [[runtime]]");
        let name = check.required_text(table, item_span.clone(), "name", "a [[runtime]]", 64);
        if let Some(name) = &name {
            if !is_valid_id(name) {
                let span = table.get("name").map(|v| v.span()).unwrap_or(item_span.clone());
                check.error(
                    span,
                    format!("runtime name `{name}` is not a valid id"),
                    Some("use a-z, 0-9, `-` and `_`".into()),
                );
            } else if !names.insert(name.clone()) {
                let span = table.get("name").map(|v| v.span()).unwrap_or(item_span.clone());
                check.error(
                    span,
                    format!("runtime `{name}` is defined twice"),
                    Some("give each runtime its own name".into()),
                );
            }
        }
        let environment = match table.get("environment") {
            None => {
                check.missing(item_span.clone(), "environment", "a [[runtime]]", "add `environment = \"live\"`");
                None
            }
            Some(_) => {
                let (env, span) = check.string(table, "environment").unzip();
                env.and_then(|env| environment(check, &env, span.unwrap_or(item_span.clone()), chain))
            }
        };
        let url = match check.string(table, "url") {
            Some((url, span)) if !crate::validate::rules::is_http_url(&url) => {
                check.error(span, format!("`url` must be an http or https URL, found `{url}`"), None);
                None
            }
            Some((url, _)) => Some(url),
            None if table.get("url").is_none() => {
                check.missing(
                    item_span.clone(),
                    "url",
                    "a [[runtime]]",
                    "add `url = \"https://…\"`, where the runtime receives deliveries",
                );
                None
            }
            None => None,
        };
        let secrets = match table.get("secret") {
            None => {
                check.missing(
                    item_span.clone(),
                    "secret",
                    "a [[runtime]]",
                    "add `secret = \"env:NAME\"` (a Standard Webhooks secret, whsec_…)",
                );
                None
            }
            Some(value) if value.get_ref().as_array().is_some() => {
                let items = check.strings(table, "secret", false, true).unwrap_or_default();
                let refs: Vec<SecretRef> =
                    items.into_iter().filter_map(|(text, span)| secret_ref(check, &text, span)).collect();
                (!refs.is_empty()).then_some(refs)
            }
            Some(_) => secret(check, table, "secret").map(|s| vec![s]),
        };
        let assistants = match check.strings(table, "assistants", false, true) {
            Some(items) => {
                for (id, span) in &items {
                    if id != "*" && !is_valid_id(id) {
                        check.error(span.clone(), format!("`{id}` is not an assistant id or `*`"), None);
                    }
                }
                items.into_iter().map(|(id, _)| id).collect()
            }
            None => vec!["*".to_string()],
        };
        let test_url = check.string(table, "test_url").map(|(u, _)| u);
        if let (Some(name), Some(environment), Some(url), Some(secrets)) = (name, environment, url, secrets) {
            runtimes.push(RuntimeConfig { name, environment, url, secrets, assistants, test_url });
        }
    }
    runtimes
}

fn tokens(check: &mut FileCheck<'_>, root: &Table<'_>) -> Vec<TokenConfig> {
    let mut tokens = Vec::new();
    let mut names = BTreeSet::new();
    for (table, item_span) in check.array_of_tables(root, "token") {
        check.unknown_keys(table, &["name", "sha256", "role"], "a [[token]]");
        let name = check.required_text(table, item_span.clone(), "name", "a [[token]]", 64);
        if let Some(name) = &name
            && !names.insert(name.clone())
        {
            let span = table.get("name").map(|v| v.span()).unwrap_or(item_span.clone());
            check.error(span, format!("token `{name}` is defined twice"), None);
        }
        let sha256 = match check.string(table, "sha256") {
            Some((hash, span)) if hash.len() != 64 || !hash.bytes().all(|b| b.is_ascii_hexdigit()) => {
                check.error(
                    span,
                    "`sha256` must be 64 hex digits: the SHA-256 of the token, never the token itself",
                    Some("compute it with `printf %s \"$TOKEN\" | sha256sum`".into()),
                );
                None
            }
            Some((hash, _)) => Some(hash.to_ascii_lowercase()),
            None if table.get("sha256").is_none() => {
                check.missing(item_span.clone(), "sha256", "a [[token]]", "add `sha256 = \"<hex>\"`");
                None
            }
            None => None,
        };
        let role = match check.string(table, "role") {
            Some((role, span)) => match Role::from_name(&role) {
                Some(role) => Some(role),
                None => {
                    check.error(span, format!("unknown role `{role}`"), Some(suggestion(&role, &Role::NAMES, "role")));
                    None
                }
            },
            None if table.get("role").is_none() => {
                check.missing(
                    item_span.clone(),
                    "role",
                    "a [[token]]",
                    "add `role = \"viewer\"` (viewer, publisher, releaser or admin)",
                );
                None
            }
            None => None,
        };
        if let (Some(name), Some(sha256), Some(role)) = (name, sha256, role) {
            tokens.push(TokenConfig { name, sha256, role });
        }
    }
    tokens
}

/// `"30s"`, `"5m"`, `"250ms"`.
fn duration(check: &mut FileCheck<'_>, table: &Table<'_>, key: &str) -> Option<Duration> {
    let (text, span) = check.string(table, key)?;
    match humantime::parse_duration(&text) {
        Ok(value) if !value.is_zero() => Some(value),
        Ok(_) => {
            check.error(span, format!("`{key}` must be longer than zero"), None);
            None
        }
        Err(error) => {
            check.error(
                span,
                format!("`{key}` `{text}` is not a duration: {error}"),
                Some("write it like \"30s\", \"5m\" or \"250ms\"".into()),
            );
            None
        }
    }
}

fn secret(check: &mut FileCheck<'_>, table: &Table<'_>, key: &str) -> Option<SecretRef> {
    let (text, span) = check.string(table, key)?;
    secret_ref(check, &text, span)
}

fn secret_ref(check: &mut FileCheck<'_>, text: &str, span: std::ops::Range<usize>) -> Option<SecretRef> {
    if let Some(name) = text.strip_prefix("env:").filter(|n| !n.is_empty()) {
        return Some(SecretRef::Env(name.to_string()));
    }
    if let Some(path) = text.strip_prefix("file:").filter(|p| p.starts_with('/')) {
        return Some(SecretRef::File(PathBuf::from(path)));
    }
    // Never echo what may be a secret written in the file.
    check.error_hiding_source(
        span,
        "a secret must be a reference, `env:NAME` or `file:/absolute/path`, never the secret itself",
        Some("move the secret into an environment variable or a file readable by the daemon only".into()),
    );
    None
}

fn env_list(check: &mut FileCheck<'_>, table: &Table<'_>, key: &str, chain: Option<&Chain>) -> Vec<EnvName> {
    check
        .strings(table, key, false, false)
        .unwrap_or_default()
        .into_iter()
        .filter_map(|(name, span)| environment(check, &name, span, chain))
        .collect()
}

fn environment(
    check: &mut FileCheck<'_>,
    name: &str,
    span: std::ops::Range<usize>,
    chain: Option<&Chain>,
) -> Option<EnvName> {
    match chain {
        Some(chain) if !chain.contains(name) => {
            let names: Vec<&str> = chain.environments().iter().map(EnvName::as_str).collect();
            let hint = match did_you_mean(name, names.iter().copied()) {
                Some(close) => format!("did you mean `{close}`? the chain is {}", chain.display_arrows()),
                None => format!("the chain is {}", chain.display_arrows()),
            };
            check.error(span, format!("environment `{name}` is not in the repository's chain"), Some(hint));
            None
        }
        _ => match EnvName::new(name) {
            Ok(env) => Some(env),
            Err(error) => {
                check.error(span, error.to_string(), None);
                None
            }
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FULL: &str = r#"
[repository]
path = "/var/lib/stagecraft/repo"
remote = "https://git.example.com/acme/assistants.git"
fetch_interval = "30s"
identity = "stagecraft <stagecraft@example.com>"
[environments]
protected = ["live"]
require_tests = ["live"]
[state]
path = "/var/lib/stagecraft/state.db"
[delivery]
retry_min = "1s"
retry_max = "5m"
timeout = "15s"
[server]
listen = "127.0.0.1:8080"
public_read = false
public_metrics = false
[[runtime]]
name = "live-eu"
environment = "live"
url = "http://127.0.0.1:9000/stagecraft"
secret = "env:LIVE_EU_SECRET"
assistants = ["*"]
test_url = "http://127.0.0.1:9000/test"
[receiver.github]
secret = "env:GITHUB_WEBHOOK_SECRET"
[[token]]
name = "ci"
sha256 = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
role = "publisher"
"#;

    #[test]
    fn the_spec_example_parses_to_its_values() {
        let (config, diagnostics) = parse("stagecraft.toml", FULL, Some(&Chain::default_chain()));
        assert_eq!(diagnostics, []);
        assert_eq!(config.repository.fetch_interval, Duration::from_secs(30));
        assert_eq!(config.delivery.retry_max, Duration::from_secs(300));
        assert_eq!(config.runtimes[0].secrets, [SecretRef::Env("LIVE_EU_SECRET".into())]);
        assert_eq!(config.tokens[0].role, Role::Publisher);
        assert_eq!(config.receivers[0].forge, "github");
        assert_eq!(config.protected[0].as_str(), "live");
    }

    #[test]
    fn every_problem_is_reported_with_its_position() {
        let text = "[repository]\nfetch_intervall = \"30s\"\n[delivery]\nretry_min = \"soon\"\n[[runtime]]\nname = \"eu\"\nenvironment = \"prod\"\nurl = \"http://x\"\nsecret = \"whsec_c2VjcmV0\"\n[[token]]\nname = \"ci\"\nsha256 = \"abc\"\nrole = \"releasr\"\n";
        let (_, diagnostics) = parse("stagecraft.toml", text, Some(&Chain::default_chain()));
        let lines: Vec<String> = diagnostics.iter().map(|d| format!("{}:{} {}", d.line, d.column, d.message)).collect();
        assert_eq!(
            lines,
            [
                "2:1 unknown key `fetch_intervall` in [repository]",
                "4:13 `retry_min` `soon` is not a duration: expected number at 0",
                "7:15 environment `prod` is not in the repository's chain",
                "9:10 a secret must be a reference, `env:NAME` or `file:/absolute/path`, never the secret itself",
                "12:10 `sha256` must be 64 hex digits: the SHA-256 of the token, never the token itself",
                "13:8 unknown role `releasr`",
            ]
        );
        assert!(!format!("{diagnostics:?}").contains("whsec_c2VjcmV0"), "a secret written in the file is never echoed");
    }

    #[test]
    fn state_url_takes_postgresql_without_a_password_and_bounded_settings() {
        let good = "[state]\nurl = \"postgres://stagecraft@db.internal:5432/stagecraft\"\npassword = \"env:PGPASSWORD\"\nlease = \"15s\"\nnode = \"eu-1\"\npool = 16\n";
        let (config, diagnostics) = parse("stagecraft.toml", good, None);
        assert_eq!(diagnostics, []);
        let database = config.database.unwrap();
        assert_eq!(
            (database.lease, database.pool, database.node.as_deref()),
            (Duration::from_secs(15), 16, Some("eu-1"))
        );
        let defaults = parse("stagecraft.toml", "[state]\nurl = \"postgresql://u@h/d\"\n", None).0.database.unwrap();
        assert_eq!((defaults.lease, defaults.pool, defaults.node), (Duration::from_secs(10), 8, None));
        let bad =
            "[state]\npath = \"state.db\"\nurl = \"mysql://u@h/d\"\nlease = \"100ms\"\npool = 0\nnode = \"a b\"\n";
        let (config, diagnostics) = parse("stagecraft.toml", bad, None);
        assert_eq!(config.database, None);
        let lines: Vec<String> = diagnostics.iter().map(|d| format!("{}:{} {}", d.line, d.column, d.message)).collect();
        assert_eq!(
            lines,
            [
                "3:7 `url` is not a PostgreSQL URL",
                "4:9 `lease` must be between 1s and 10m",
                "5:8 `pool` must be between 1 and 64",
                "6:8 `node` `a b` is not a name",
            ]
        );
        let both = "[state]\npath = \"state.db\"\nurl = \"postgres://u@h/d\"\n";
        let messages: Vec<String> = parse("stagecraft.toml", both, None).1.iter().map(|d| d.message.clone()).collect();
        assert_eq!(messages, ["[state] has both `path` and `url`"]);
    }

    #[test]
    fn review_needs_every_key_a_known_forge_and_a_secret_reference() {
        let good = "[review]\nforge = \"gitlab\"\napi_url = \"https://gitlab.example/api/v4/\"\nrepository = \"group/config\"\ntoken = \"env:REVIEW_TOKEN\"\n";
        let (config, diagnostics) = parse("stagecraft.toml", good, None);
        assert_eq!(diagnostics, []);
        let review = config.review.unwrap();
        assert_eq!((review.forge, review.api_url.as_str()), (ForgeKind::GitLab, "https://gitlab.example/api/v4"));
        let bad = "[review]\nforge = \"gitlub\"\napi_url = \"gitlab.example\"\ntoken = \"glpat-abcdef\"\n";
        let (config, diagnostics) = parse("stagecraft.toml", bad, None);
        assert_eq!(config.review, None);
        let lines: Vec<String> = diagnostics.iter().map(|d| format!("{}:{} {}", d.line, d.column, d.message)).collect();
        assert_eq!(
            lines,
            [
                "1:1 missing required key `repository` in [review]",
                "2:9 unknown forge `gitlub`",
                "3:11 `api_url` `gitlab.example` is not an http(s) URL",
                "4:9 a secret must be a reference, `env:NAME` or `file:/absolute/path`, never the secret itself",
            ]
        );
        assert!(!format!("{diagnostics:?}").contains("glpat-abcdef"), "a token written in the file is never echoed");
    }

    #[test]
    fn secrets_never_print() {
        assert_eq!(format!("{:?}", Secret::new("whsec_abc".into())), "Secret(REDACTED)");
    }
}
