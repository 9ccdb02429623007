//! Checked names: ids of assistants and their items, environment names, versions and the
//! environment chain. Each is validated once, when built, so code that holds one never
//! checks it again. Pure: no I/O.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// Why a name was refused; the message says what a valid one looks like.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdError {
    #[error(
        "`{0}` is not a valid id: use 1 to 64 characters of a-z, 0-9, `-` and `_`, starting with a letter or digit"
    )]
    Id(String),
    #[error(
        "`{0}` is not a valid environment name: use 1 to 64 characters of a-z, 0-9, `-` and `_`, starting with a letter or digit"
    )]
    Env(String),
    #[error("`{0}` is not a version: write it as v1, v2, …")]
    Version(String),
    #[error("the environment chain needs at least two environments, got {0}")]
    ChainTooShort(usize),
    #[error("environment `{0}` appears twice in the chain")]
    ChainDuplicate(String),
    #[error("protected environment `{0}` is not in the chain ({1})")]
    ProtectedNotInChain(String, String),
}

/// True when `text` matches `[a-z0-9][a-z0-9_-]{0,63}`.
pub fn is_valid_id(text: &str) -> bool {
    let bytes = text.as_bytes();
    !bytes.is_empty()
        && bytes.len() <= 64
        && (bytes[0].is_ascii_lowercase() || bytes[0].is_ascii_digit())
        && bytes.iter().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'-' || *b == b'_')
}

macro_rules! checked_name {
    ($(#[$doc:meta])* $name:ident, $err:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(String);

        impl $name {
            pub fn new(text: impl Into<String>) -> Result<Self, IdError> {
                let text = text.into();
                if is_valid_id(&text) { Ok(Self(text)) } else { Err(IdError::$err(text)) }
            }
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }
        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
        impl FromStr for $name {
            type Err = IdError;
            fn from_str(text: &str) -> Result<Self, IdError> {
                Self::new(text)
            }
        }
        impl TryFrom<String> for $name {
            type Error = IdError;
            fn try_from(text: String) -> Result<Self, IdError> {
                Self::new(text)
            }
        }
        impl From<$name> for String {
            fn from(name: $name) -> String {
                name.0
            }
        }
        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }
    };
}

checked_name!(
    /// An assistant directory name, or the file stem of a knowledge source, tool,
    /// guardrail or regression case: `[a-z0-9][a-z0-9_-]{0,63}`.
    Id,
    Id
);
checked_name!(
    /// An environment, which is also a branch name: same alphabet as ids.
    EnvName,
    Env
);

/// The id of an assistant (its directory under `assistants/`).
pub type AssistantId = Id;

/// A published version number, written `v12`. Always ≥ 1.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Version(u32);

impl Version {
    pub const FIRST: Version = Version(1);

    pub fn new(number: u32) -> Option<Version> {
        (number >= 1).then_some(Version(number))
    }
    pub fn number(self) -> u32 {
        self.0
    }
    pub fn next(self) -> Version {
        Version(self.0 + 1)
    }
    /// The tag name of this version, `v12`.
    pub fn tag(self) -> String {
        self.to_string()
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "v{}", self.0)
    }
}

impl FromStr for Version {
    type Err = IdError;
    /// Parses `v12`; a bare `12` is accepted too (trailers and API bodies carry integers).
    fn from_str(text: &str) -> Result<Version, IdError> {
        let digits = text.strip_prefix('v').unwrap_or(text);
        if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) || digits.starts_with('0') {
            return Err(IdError::Version(text.to_string()));
        }
        digits.parse::<u32>().ok().and_then(Version::new).ok_or_else(|| IdError::Version(text.to_string()))
    }
}

/// The ordered environments of a repository, `draft → sandbox → pre-release → live` by
/// default, and which of them are protected. At least two environments, no duplicates,
/// every protected one in the chain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Chain {
    environments: Vec<EnvName>,
    protected: Vec<EnvName>,
}

impl Chain {
    pub const DEFAULT: [&'static str; 4] = ["draft", "sandbox", "pre-release", "live"];

    pub fn new(environments: Vec<EnvName>, protected: Vec<EnvName>) -> Result<Chain, IdError> {
        if environments.len() < 2 {
            return Err(IdError::ChainTooShort(environments.len()));
        }
        for (index, env) in environments.iter().enumerate() {
            if environments[..index].contains(env) {
                return Err(IdError::ChainDuplicate(env.to_string()));
            }
        }
        for env in &protected {
            if !environments.contains(env) {
                let names = environments.iter().map(|e| e.as_str()).collect::<Vec<_>>().join(", ");
                return Err(IdError::ProtectedNotInChain(env.to_string(), names));
            }
        }
        let mut protected_in_order: Vec<EnvName> =
            environments.iter().filter(|env| protected.contains(env)).cloned().collect();
        protected_in_order.dedup();
        Ok(Chain { environments, protected: protected_in_order })
    }

    /// `draft → sandbox → pre-release → live`, with `live` protected.
    pub fn default_chain() -> Chain {
        let environments: Vec<EnvName> =
            Self::DEFAULT.iter().map(|name| EnvName::new(*name).expect("default names are valid")).collect();
        let protected = vec![environments[environments.len() - 1].clone()];
        Chain::new(environments, protected).expect("the default chain is valid")
    }

    /// Parses a comma- or space-separated list of environment names.
    pub fn parse_list(text: &str) -> Result<Vec<EnvName>, IdError> {
        text.split([',', ' ']).map(str::trim).filter(|part| !part.is_empty()).map(EnvName::new).collect()
    }

    pub fn environments(&self) -> &[EnvName] {
        &self.environments
    }
    pub fn protected(&self) -> &[EnvName] {
        &self.protected
    }
    /// The first environment, where edits land.
    pub fn draft(&self) -> &EnvName {
        &self.environments[0]
    }
    /// The second environment, which a publish writes to: the base of the draft.
    pub fn base(&self) -> &EnvName {
        &self.environments[1]
    }
    pub fn contains(&self, env: &str) -> bool {
        self.environments.iter().any(|e| e.as_str() == env)
    }
    pub fn position(&self, env: &EnvName) -> Option<usize> {
        self.environments.iter().position(|e| e == env)
    }
    pub fn is_protected(&self, env: &EnvName) -> bool {
        self.protected.contains(env)
    }
    /// `draft sandbox pre-release live`, as the `Stagecraft-Chain` trailer writes it.
    pub fn to_trailer(&self) -> String {
        join(&self.environments)
    }
    pub fn protected_trailer(&self) -> String {
        join(&self.protected)
    }
    /// `draft → sandbox → pre-release → live`, for people.
    pub fn display_arrows(&self) -> String {
        self.environments.iter().map(EnvName::as_str).collect::<Vec<_>>().join(" → ")
    }
}

fn join(names: &[EnvName]) -> String {
    names.iter().map(EnvName::as_str).collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_follow_the_spec_alphabet() {
        for good in ["a", "support-bot", "x_1", "0abc", &"a".repeat(64)] {
            assert!(is_valid_id(good), "{good}");
        }
        for bad in ["", "-a", "_a", "A", "Support_Bot", "a b", "a.b", "é", &"a".repeat(65)] {
            assert!(!is_valid_id(bad), "{bad}");
        }
    }

    #[test]
    fn versions_parse_and_print_as_v_n() {
        assert_eq!("v12".parse::<Version>().unwrap().number(), 12);
        assert_eq!("12".parse::<Version>().unwrap().to_string(), "v12");
        for bad in ["v0", "v", "v01", "x1", "v-1", "v1.0", "v99999999999"] {
            assert!(bad.parse::<Version>().is_err(), "{bad}");
        }
    }

    #[test]
    fn chain_rejects_short_duplicate_and_stray_protected() {
        let names = |s: &str| Chain::parse_list(s).unwrap();
        assert_eq!(Chain::new(names("a"), vec![]), Err(IdError::ChainTooShort(1)));
        assert_eq!(Chain::new(names("a,b,a"), vec![]), Err(IdError::ChainDuplicate("a".into())));
        assert!(matches!(Chain::new(names("a,b"), names("c")), Err(IdError::ProtectedNotInChain(..))));
        let chain = Chain::new(names("staging, production"), names("production")).unwrap();
        assert_eq!(chain.base().as_str(), "production");
        assert_eq!(chain.to_trailer(), "staging production");
    }
}
