//! Who a write is made by: `--author "Name <email>"`, else `GIT_AUTHOR_*` and
//! `GIT_COMMITTER_*` (dates included, so tests can pin them), else git config. This module
//! parses and decides; the values come in from the CLI's context and the store. Pure.

use jiff::Timestamp;
use jiff::tz::Offset;

/// A name and an email, as git writes them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Person {
    pub name: String,
    pub email: String,
}

impl Person {
    /// Parses `Name <email>`.
    pub fn parse(text: &str) -> Option<Person> {
        let (name, rest) = text.trim().split_once('<')?;
        let email = rest.strip_suffix('>')?.trim();
        let name = name.trim();
        (!name.is_empty() && !email.is_empty() && !email.contains(['<', '>']))
            .then(|| Person { name: name.into(), email: email.into() })
    }
}

impl std::fmt::Display for Person {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} <{}>", self.name, self.email)
    }
}

/// A point in time with the offset it was written in, as git stores it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct When {
    pub seconds: i64,
    /// Minutes east of UTC.
    pub offset_minutes: i32,
}

impl When {
    pub fn from_timestamp(timestamp: Timestamp) -> When {
        When { seconds: timestamp.as_second(), offset_minutes: 0 }
    }

    /// RFC 3339 in UTC, e.g. `2026-11-21T09:00:00Z`.
    pub fn to_utc_rfc3339(self) -> String {
        Timestamp::from_second(self.seconds).map_or_else(|_| self.seconds.to_string(), |t| t.to_string())
    }

    /// RFC 3339 in its own offset, e.g. `2026-11-21T10:00:00+01:00`.
    pub fn to_rfc3339(self) -> String {
        let Ok(timestamp) = Timestamp::from_second(self.seconds) else { return self.seconds.to_string() };
        let offset = Offset::from_seconds(self.offset_minutes * 60).unwrap_or(Offset::UTC);
        let zoned = timestamp.to_zoned(offset.to_time_zone());
        zoned.strftime("%Y-%m-%dT%H:%M:%S%:z").to_string()
    }

    /// Parses the date formats git accepts in `GIT_AUTHOR_DATE`: `@1700000000 +0100`,
    /// `1700000000 +0100`, RFC 3339 / ISO 8601 (`2026-11-21T10:00:00+01:00`) and RFC 2822.
    pub fn parse_git_date(text: &str) -> Option<When> {
        let text = text.trim();
        let raw = text.strip_prefix('@').unwrap_or(text);
        let mut parts = raw.split_whitespace();
        if let Some(first) = parts.next()
            && let Ok(seconds) = first.parse::<i64>()
        {
            let offset_minutes = match parts.next() {
                Some(offset) => parse_offset(offset)?,
                None => 0,
            };
            return parts.next().is_none().then_some(When { seconds, offset_minutes });
        }
        if let Ok(zoned) = text.parse::<jiff::Zoned>() {
            return Some(When {
                seconds: zoned.timestamp().as_second(),
                offset_minutes: zoned.offset().seconds() / 60,
            });
        }
        if let Ok(timestamp) = text.parse::<Timestamp>() {
            let offset_minutes = rfc3339_offset(text).unwrap_or(0);
            return Some(When { seconds: timestamp.as_second(), offset_minutes });
        }
        if let Ok(zoned) = jiff::fmt::rfc2822::parse(text) {
            return Some(When {
                seconds: zoned.timestamp().as_second(),
                offset_minutes: zoned.offset().seconds() / 60,
            });
        }
        None
    }
}

fn parse_offset(text: &str) -> Option<i32> {
    let (sign, digits) = match text.as_bytes().first()? {
        b'+' => (1, &text[1..]),
        b'-' => (-1, &text[1..]),
        _ => return None,
    };
    let digits = digits.replace(':', "");
    if digits.len() != 4 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let hours: i32 = digits[..2].parse().ok()?;
    let minutes: i32 = digits[2..].parse().ok()?;
    Some(sign * (hours * 60 + minutes))
}

fn rfc3339_offset(text: &str) -> Option<i32> {
    if text.ends_with('Z') || text.ends_with('z') {
        return Some(0);
    }
    let tail = &text[text.len().checked_sub(6)?..];
    parse_offset(tail)
}

/// Where the identity of a write comes from, gathered by the front end.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IdentityInputs {
    /// `--author "Name <email>"`.
    pub author_flag: Option<String>,
    pub author_name: Option<String>,
    pub author_email: Option<String>,
    pub author_date: Option<String>,
    pub committer_name: Option<String>,
    pub committer_email: Option<String>,
    pub committer_date: Option<String>,
    /// `user.name` and `user.email` from git config.
    pub config_name: Option<String>,
    pub config_email: Option<String>,
}

/// The author and committer of a write, with their times.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    pub author: Person,
    pub author_time: When,
    pub committer: Person,
    pub committer_time: When,
}

/// Why no identity could be resolved.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdentityError {
    #[error("`--author` must look like \"Name <email>\", got `{0}`")]
    BadAuthor(String),
    #[error("{0} is not a date git understands")]
    BadDate(String),
    #[error("no identity")]
    Missing,
}

/// Decides the identity: the flag, then the environment, then git config; `now` when no
/// date is pinned.
pub fn resolve(inputs: &IdentityInputs, now: When) -> Result<Identity, IdentityError> {
    let from_config = match (&inputs.config_name, &inputs.config_email) {
        (Some(name), Some(email)) if !name.trim().is_empty() && !email.trim().is_empty() => {
            Some(Person { name: name.trim().into(), email: email.trim().into() })
        }
        _ => None,
    };
    let pick = |name: &Option<String>, email: &Option<String>| -> Option<Person> {
        let fallback = from_config.clone();
        match (
            name.as_deref().map(str::trim).filter(|n| !n.is_empty()),
            email.as_deref().map(str::trim).filter(|e| !e.is_empty()),
        ) {
            (Some(name), Some(email)) => Some(Person { name: name.into(), email: email.into() }),
            (Some(name), None) => fallback.map(|p| Person { name: name.into(), email: p.email }),
            (None, Some(email)) => fallback.map(|p| Person { name: p.name, email: email.into() }),
            (None, None) => fallback,
        }
    };
    let author = match &inputs.author_flag {
        Some(flag) => Person::parse(flag).ok_or_else(|| IdentityError::BadAuthor(flag.clone()))?,
        None => pick(&inputs.author_name, &inputs.author_email).ok_or(IdentityError::Missing)?,
    };
    let committer = pick(&inputs.committer_name, &inputs.committer_email).unwrap_or_else(|| author.clone());
    let date = |text: &Option<String>, name: &str| -> Result<When, IdentityError> {
        match text.as_deref().filter(|t| !t.trim().is_empty()) {
            Some(text) => When::parse_git_date(text).ok_or_else(|| IdentityError::BadDate(format!("{name}={text}"))),
            None => Ok(now),
        }
    };
    let author_time = date(&inputs.author_date, "GIT_AUTHOR_DATE")?;
    let committer_time = match &inputs.committer_date {
        Some(_) => date(&inputs.committer_date, "GIT_COMMITTER_DATE")?,
        None => author_time,
    };
    Ok(Identity { author, author_time, committer, committer_time })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn person_parses_name_and_email() {
        assert_eq!(
            Person::parse("Ada Lovelace <ada@example.com>").unwrap().to_string(),
            "Ada Lovelace <ada@example.com>"
        );
        assert!(Person::parse("ada@example.com").is_none());
        assert!(Person::parse("<ada@example.com>").is_none());
    }

    #[test]
    fn git_dates_in_every_accepted_form() {
        let expect = When { seconds: 1_700_000_000, offset_minutes: 60 };
        assert_eq!(When::parse_git_date("@1700000000 +0100"), Some(expect));
        assert_eq!(When::parse_git_date("1700000000 +01:00"), Some(expect));
        assert_eq!(When::parse_git_date("2023-11-14T23:13:20+01:00"), Some(expect));
        assert_eq!(When::parse_git_date("Tue, 14 Nov 2023 23:13:20 +0100"), Some(expect));
        assert_eq!(When::parse_git_date("yesterday"), None);
        assert_eq!(expect.to_rfc3339(), "2023-11-14T23:13:20+01:00");
    }

    #[test]
    fn resolution_order_is_flag_then_environment_then_config() {
        let now = When { seconds: 5, offset_minutes: 0 };
        let mut inputs = IdentityInputs {
            config_name: Some("Conf".into()),
            config_email: Some("conf@x".into()),
            ..Default::default()
        };
        assert_eq!(resolve(&inputs, now).unwrap().author.name, "Conf");
        inputs.author_name = Some("Env".into());
        inputs.author_email = Some("env@x".into());
        inputs.author_date = Some("@100 +0000".into());
        let identity = resolve(&inputs, now).unwrap();
        assert_eq!((identity.author.name.as_str(), identity.author_time.seconds), ("Env", 100));
        assert_eq!(identity.committer.name, "Conf");
        inputs.author_flag = Some("Flag <flag@x>".into());
        assert_eq!(resolve(&inputs, now).unwrap().author.name, "Flag");
        assert_eq!(resolve(&IdentityInputs::default(), now), Err(IdentityError::Missing));
        inputs.author_flag = Some("nobody".into());
        assert!(matches!(resolve(&inputs, now), Err(IdentityError::BadAuthor(_))));
    }
}
