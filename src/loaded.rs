//! The daemon's configuration as it runs (io): `stagecraft.toml` read from disk, checked
//! against the repository's chain, and every secret reference resolved, so that a
//! missing variable or file is a clear error at start (and at a reload), never a panic
//! or an empty secret. The parsing itself is the pure [`crate::config`]; this module
//! reads the file, the secret files and, through a lookup function, the environment.

use std::path::{Path, PathBuf};

use base64::Engine;

use crate::config::{self, DaemonConfig, Secret, SecretRef};
use crate::error::Error;
use crate::model::Chain;
use crate::store::Store;
use crate::validate::Diagnostic;

/// A checked configuration with its secrets resolved.
#[derive(Debug)]
pub struct LoadedConfig {
    /// The file read, or `None` without one (the defaults).
    pub file: Option<PathBuf>,
    pub config: DaemonConfig,
    /// The repository's chain, when the repository exists already.
    pub chain: Option<Chain>,
    /// Per runtime, in order, its secrets (several during a rotation).
    pub runtime_secrets: Vec<Vec<Secret>>,
    /// Per receiver, in order.
    pub receiver_secrets: Vec<Secret>,
    /// The https token for the remote: `[repository] token`, else `STAGECRAFT_GIT_TOKEN`.
    pub git_token: Option<Secret>,
    /// `[review]`, with its token: where the daemon reviews pull requests.
    pub review: Option<crate::forge::Forge>,
    /// `[test] api_key`, resolved.
    pub test_key: Option<Secret>,
    /// `[server] session_secret`, resolved.
    pub session_secret: Option<Secret>,
    /// `[state] password`, resolved.
    pub state_password: Option<Secret>,
}

impl LoadedConfig {
    /// The repository to serve when the config names none (the global `--repo`): its
    /// chain is read from it, so that the config's checks and `serve --check` see it.
    pub fn with_repository(mut self, path: PathBuf) -> LoadedConfig {
        if self.config.repository.path.is_none() {
            self.chain = Store::open(&path).ok().and_then(|store| store.chain().ok()).or(self.chain);
            self.config.repository.path = Some(path);
        }
        self
    }
}

/// The repository a config serves: `[repository] path` relative to `cwd`, else `cwd`.
pub fn repository_path(loaded: &LoadedConfig, cwd: &Path) -> PathBuf {
    loaded.config.repository.path.as_ref().map_or_else(|| cwd.to_path_buf(), |p| cwd.join(p))
}

/// Reads `file` (when given), checks it against the repository it names and resolves
/// its secrets. `lookup` reads an environment variable.
pub fn load_config(
    file: Option<&Path>,
    cwd: &Path,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Result<LoadedConfig, Error> {
    let shown = file.map_or_else(|| "stagecraft.toml".to_string(), |f| f.display().to_string());
    let text = match file {
        Some(file) => Some(std::fs::read_to_string(file).map_err(Error::io("read the config", file))?),
        None => None,
    };
    // First pass without a chain to learn the repository's path.
    let (first, _) = match &text {
        Some(text) => config::parse(&shown, text, None),
        None => (DaemonConfig::default(), Vec::new()),
    };
    let repository = first.repository.path.as_ref().map_or_else(|| cwd.to_path_buf(), |p| cwd.join(p));
    let chain = Store::open(&repository).ok().and_then(|store| store.chain().ok());
    let (config, diagnostics) = match &text {
        Some(text) => config::parse(&shown, text, chain.as_ref()),
        None => (DaemonConfig::default(), Vec::new()),
    };
    if !diagnostics.is_empty() {
        return Err(Error::InvalidConfig { file: shown, diagnostics });
    }
    let mut problems = Vec::new();
    let mut resolve = |owner: String, reference: &SecretRef, webhook: bool| -> Secret {
        match resolve_secret(reference, lookup, webhook) {
            Ok(secret) => secret,
            Err(reason) => {
                problems.push(Diagnostic::whole(
                    &shown,
                    format!("{owner}: secret {reference}: {reason}"),
                    Some(secret_hint(reference)),
                ));
                Secret::new(String::new())
            }
        }
    };
    let runtime_secrets: Vec<Vec<Secret>> = config
        .runtimes
        .iter()
        .map(|rt| rt.secrets.iter().map(|r| resolve(format!("runtime `{}`", rt.name), r, true)).collect())
        .collect();
    let receiver_secrets: Vec<Secret> =
        config.receivers.iter().map(|rc| resolve(format!("receiver `{}`", rc.forge), &rc.secret, false)).collect();
    let git_token = match &config.repository.token {
        Some(reference) => Some(resolve("[repository] token".into(), reference, false)),
        None => lookup("STAGECRAFT_GIT_TOKEN").filter(|t| !t.trim().is_empty()).map(|t| Secret::new(t.trim().into())),
    };
    let review = config.review.as_ref().map(|review| crate::forge::Forge {
        kind: review.forge,
        api_url: review.api_url.clone(),
        repository: review.repository.clone(),
        token: resolve("[review] token".into(), &review.token, false),
    });
    let session_secret =
        config.server.session_secret.as_ref().map(|r| resolve("[server] session_secret".into(), r, false));
    let state_password = config
        .database
        .as_ref()
        .and_then(|database| database.password.as_ref())
        .map(|r| resolve("[state] password".into(), r, false));
    let test_key =
        config.test.as_ref().and_then(|test| test.api_key.as_ref()).map(|r| resolve("[test] api_key".into(), r, false));
    if let (Some(_), Some(remote)) = (&git_token, &config.repository.remote)
        && remote.starts_with("http://")
        && !is_loopback_url(remote)
    {
        problems.push(Diagnostic::whole(
            &shown,
            format!("a git token would cross the network in clear text to {}", crate::store::remote::redact(remote)),
            Some("use an https:// remote (plain http:// is allowed on loopback only)".into()),
        ));
    }
    if let (Some(test), Some(_)) = (&config.test, &test_key)
        && test.endpoint.starts_with("http://")
        && !is_loopback_url(&test.endpoint)
    {
        problems.push(Diagnostic::whole(
            &shown,
            format!("the [test] api_key would cross the network in clear text to {}", test.endpoint),
            Some("use the endpoint's https:// URL (plain http:// is allowed on loopback only)".into()),
        ));
    }
    if let Some(review) = &review
        && review.api_url.starts_with("http://")
        && !is_loopback_url(&review.api_url)
    {
        problems.push(Diagnostic::whole(
            &shown,
            format!("the review token would cross the network in clear text to {}", review.api_url),
            Some("use the forge's https:// API URL (plain http:// is allowed on loopback only)".into()),
        ));
    }
    if !problems.is_empty() {
        return Err(Error::InvalidConfig { file: shown, diagnostics: problems });
    }
    Ok(LoadedConfig {
        file: file.map(Path::to_path_buf),
        config,
        chain,
        runtime_secrets,
        receiver_secrets,
        git_token,
        review,
        test_key,
        session_secret,
        state_password,
    })
}

/// Whether an `http://` URL names this host (127.0.0.0/8, `localhost`, `[::1]`).
pub fn is_loopback_url(url: &str) -> bool {
    let rest = url.split_once("://").map_or(url, |(_, rest)| rest);
    let authority = rest.split('/').next().unwrap_or_default();
    let host = authority.rsplit_once('@').map_or(authority, |(_, host)| host);
    let host = if host.starts_with('[') {
        host.split(']').next().map(|h| &h[1..]).unwrap_or_default()
    } else {
        host.split(':').next().unwrap_or_default()
    };
    host == "localhost" || host.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// The secret behind a reference; a Standard Webhooks secret must be `whsec_<base64>`.
fn resolve_secret(
    reference: &SecretRef,
    lookup: &dyn Fn(&str) -> Option<String>,
    webhook: bool,
) -> Result<Secret, String> {
    let value = match reference {
        SecretRef::Env(name) => lookup(name).ok_or("the variable is not set")?,
        SecretRef::File(path) => std::fs::read_to_string(path).map_err(|e| format!("cannot read the file: {e}"))?,
    };
    let value = value.trim().to_string();
    if value.is_empty() {
        return Err("it is empty".into());
    }
    if webhook {
        let encoded = value.strip_prefix("whsec_").ok_or("a Standard Webhooks secret starts with `whsec_`")?;
        let key = base64::engine::general_purpose::STANDARD
            .decode(encoded)
            .map_err(|_| "the part after `whsec_` is not base64")?;
        if key.len() < 16 {
            return Err("the key is shorter than 16 bytes".into());
        }
    }
    Ok(Secret::new(value))
}

fn secret_hint(reference: &SecretRef) -> String {
    match reference {
        SecretRef::Env(name) => format!("set {name} in the daemon's environment (for systemd: EnvironmentFile=)"),
        SecretRef::File(path) => format!("create {} readable by the daemon's user only", path.display()),
    }
}

/// The config in force, replaced whole on a reload; readers take an `Arc` of it.
#[derive(Debug)]
pub struct SharedConfig(std::sync::RwLock<std::sync::Arc<LoadedConfig>>);

impl SharedConfig {
    pub fn new(loaded: LoadedConfig) -> SharedConfig {
        SharedConfig(std::sync::RwLock::new(std::sync::Arc::new(loaded)))
    }

    pub fn get(&self) -> std::sync::Arc<LoadedConfig> {
        self.0.read().expect("config lock").clone()
    }

    pub fn replace(&self, loaded: LoadedConfig) {
        *self.0.write().expect("config lock") = std::sync::Arc::new(loaded);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_loopback_http_remotes_may_carry_a_token() {
        for url in [
            "http://127.0.0.1:8080/a.git",
            "http://localhost/a.git",
            "http://[::1]:3000/a.git",
            "http://u:p@127.0.0.1/a",
        ] {
            assert!(is_loopback_url(url), "{url}");
        }
        for url in ["http://git.example.com/a.git", "http://10.0.0.1/a.git", "http://127.0.0.1.example.com/a"] {
            assert!(!is_loopback_url(url), "{url}");
        }
    }
}
