//! Validated object keys and listing prefixes: relative, `/`-separated, never escaping the root.

use std::fmt;

use crate::{Error, ErrorKind, Result};

/// Longest key accepted, in bytes (S3's limit; the others allow at least this much per path).
const MAX_KEY_LEN: usize = 1024;

/// A validated object key relative to a destination's root, e.g. `daily/db-2026-11-23.json.gz`.
///
/// Rules: non-empty, at most 1024 bytes, `/`-separated segments that are neither empty, `.` nor
/// `..`, no leading or trailing `/`, no backslash and no control characters. Any other UTF-8
/// (spaces, accents, emoji, quotes) is allowed and must round-trip through every adapter.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Key(String);

impl Key {
    /// Parses and validates a key.
    pub fn parse(key: &str) -> Result<Self> {
        if key.is_empty() {
            return Err(invalid(key, "the key is empty"));
        }
        if key.len() > MAX_KEY_LEN {
            return Err(invalid(key, "the key is longer than 1024 bytes"));
        }
        if key.starts_with('/') {
            return Err(invalid(key, "absolute keys are not allowed"));
        }
        check_segments(key, key)?;
        Ok(Self(key.to_owned()))
    }

    /// The key as a `/`-separated string.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The last segment (the file name).
    pub fn name(&self) -> &str {
        self.0.rsplit('/').next().unwrap_or(&self.0)
    }

    /// The folder part including its trailing `/`, or `""` for a key at the root.
    pub fn dir(&self) -> &str {
        match self.0.rfind('/') {
            Some(i) => &self.0[..=i],
            None => "",
        }
    }

    /// The folder segments, outermost first (empty for a key at the root).
    pub fn dir_segments(&self) -> impl Iterator<Item = &str> {
        self.dir().split('/').filter(|s| !s.is_empty())
    }

    /// This key under a folder prefix (`prefix` must be `""` or end with `/`).
    pub fn under(&self, prefix: &Prefix) -> Result<Key> {
        Key::parse(&format!("{}{}", prefix.as_str(), self.0))
    }

    /// This key with `prefix` removed from its front, if it starts with it.
    pub fn strip_prefix(&self, prefix: &Prefix) -> Option<Key> {
        self.0
            .strip_prefix(prefix.as_str())
            .and_then(|rest| Key::parse(rest).ok())
    }
}

impl fmt::Display for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.0, f)
    }
}

impl AsRef<str> for Key {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

/// A listing prefix: `""` (everything), a folder such as `daily/`, or a name start such as `daily/db-2026`.
///
/// Listing returns every object whose key starts with the prefix as a plain string. Folder-based
/// providers list [`Prefix::dir`] and filter by the rest.
#[derive(Clone, PartialEq, Eq, Hash, Default)]
pub struct Prefix(String);

impl Prefix {
    /// The empty prefix: every object under the destination root.
    pub fn root() -> Self {
        Self(String::new())
    }

    /// Parses and validates a prefix (the same rules as [`Key`], but it may be empty or end with `/`).
    pub fn parse(prefix: &str) -> Result<Self> {
        if prefix.is_empty() {
            return Ok(Self::root());
        }
        if prefix.len() > MAX_KEY_LEN {
            return Err(invalid(prefix, "the prefix is longer than 1024 bytes"));
        }
        if prefix.starts_with('/') {
            return Err(invalid(prefix, "absolute prefixes are not allowed"));
        }
        check_segments(prefix.strip_suffix('/').unwrap_or(prefix), prefix)?;
        Ok(Self(prefix.to_owned()))
    }

    /// The prefix as a string.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether this is the empty prefix.
    pub fn is_root(&self) -> bool {
        self.0.is_empty()
    }

    /// The folder part to list: everything up to and including the last `/` (`""` at the root).
    pub fn dir(&self) -> &str {
        match self.0.rfind('/') {
            Some(i) => &self.0[..=i],
            None => "",
        }
    }

    /// Whether `key` falls under this prefix.
    pub fn matches(&self, key: &str) -> bool {
        key.starts_with(&self.0)
    }

    /// This prefix extended by `more` (e.g. a destination prefix plus a listing prefix).
    pub fn join(&self, more: &Prefix) -> Prefix {
        Prefix(format!("{}{}", self.0, more.0))
    }
}

impl fmt::Display for Prefix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for Prefix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.0, f)
    }
}

fn check_segments(path: &str, shown: &str) -> Result<()> {
    for segment in path.split('/') {
        match segment {
            "" => {
                return Err(invalid(
                    shown,
                    "empty path segments ('//' or a trailing '/') are not allowed",
                ))
            }
            "." | ".." => return Err(invalid(shown, "'.' and '..' segments are not allowed")),
            _ => {}
        }
        if segment.chars().any(|c| c.is_control() || c == '\\') {
            return Err(invalid(
                shown,
                "control characters and '\\' are not allowed",
            ));
        }
    }
    Ok(())
}

fn invalid(key: &str, why: &str) -> Error {
    Error::new(
        ErrorKind::InvalidInput,
        "key",
        format!("invalid key {key:?}: {why}"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_nested_and_unicode_keys() {
        for k in [
            "a",
            "daily/db-2026-11-23.json.gz",
            "Résumé ü/😀 it's.txt",
            "a b/c",
        ] {
            assert_eq!(Key::parse(k).unwrap().as_str(), k);
        }
    }

    #[test]
    fn rejects_escaping_and_malformed_keys() {
        for k in [
            "", "/abs", "a/../b", "..", "./a", "a//b", "a/", "a\\b", "a\nb",
        ] {
            let err = Key::parse(k).unwrap_err();
            assert_eq!(err.kind(), ErrorKind::InvalidInput, "{k:?}");
        }
        assert!(Key::parse(&"x".repeat(1025)).is_err());
    }

    #[test]
    fn key_parts() {
        let k = Key::parse("a/b/c.txt").unwrap();
        assert_eq!(k.name(), "c.txt");
        assert_eq!(k.dir(), "a/b/");
        assert_eq!(k.dir_segments().collect::<Vec<_>>(), ["a", "b"]);
        let root = Key::parse("c.txt").unwrap();
        assert_eq!(root.dir(), "");
        assert_eq!(root.dir_segments().count(), 0);
    }

    #[test]
    fn prefixes() {
        assert!(Prefix::parse("").unwrap().is_root());
        let p = Prefix::parse("daily/db-").unwrap();
        assert_eq!(p.dir(), "daily/");
        assert!(p.matches("daily/db-1"));
        assert!(!p.matches("daily/x"));
        assert_eq!(Prefix::parse("daily/").unwrap().dir(), "daily/");
        assert_eq!(Prefix::parse("db").unwrap().dir(), "");
        assert!(Prefix::parse("../x").is_err());
        assert!(Prefix::parse("/x").is_err());
        assert!(Prefix::parse("a//").is_err());
        let k = Key::parse("x.gz").unwrap();
        let under = k.under(&Prefix::parse("daily/").unwrap()).unwrap();
        assert_eq!(under.as_str(), "daily/x.gz");
        assert_eq!(
            under
                .strip_prefix(&Prefix::parse("daily/").unwrap())
                .unwrap(),
            k
        );
    }
}
