//! Keys to Supabase object names and back, and object names to URL paths.
//!
//! The storage server only accepts names made of ASCII letters, digits and `_/!.*'() &$=@;:+,?-`
//! (`InvalidKey` otherwise: every accent, emoji, `"`, `%`, `#`, `~`...). Contract keys are any
//! UTF-8, so names are escaped reversibly: each byte of a character outside that set, and of
//! `*` itself, becomes `*XX` (upper-case hex). Names made of allowed characters stay readable and
//! unchanged in the dashboard (`daily/db-2026-11-23.json.gz`); `Résumé.txt` is stored as
//! `R*C3*A9sum*C3*A9.txt`. The escaping works per character, so a key prefix maps to a name
//! prefix and `/` is never escaped.

use std::fmt::Write as _;

use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};

/// The escape character (a `*` in a key is escaped as `*2A`).
const ESCAPE: char = '*';

/// Characters the storage server accepts in names (besides ASCII letters and digits).
const ALLOWED: &str = "_/!.*'() &$=@;:+,?-";

/// Characters left as they are in URL path segments (RFC 3986 unreserved).
const PATH_SEGMENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// The object name stored for `key` (also works for prefixes).
pub(crate) fn encode(key: &str) -> String {
    let mut out = String::with_capacity(key.len());
    for c in key.chars() {
        if c != ESCAPE && (c.is_ascii_alphanumeric() || ALLOWED.contains(c)) {
            out.push(c);
        } else {
            let mut buf = [0u8; 4];
            for b in c.encode_utf8(&mut buf).bytes() {
                out.push(ESCAPE);
                let _ = write!(out, "{b:02X}");
            }
        }
    }
    out
}

/// The key an object name stands for, or `None` for a name this adapter did not write
/// (a bare `*`, lower-case hex, or bytes that are not UTF-8).
pub(crate) fn decode(name: &str) -> Option<String> {
    let mut bytes = Vec::with_capacity(name.len());
    let mut rest = name.as_bytes();
    while let Some((&b, tail)) = rest.split_first() {
        if b == b'*' {
            let hex = tail.get(..2)?;
            if !hex
                .iter()
                .all(|h| h.is_ascii_digit() || (b'A'..=b'F').contains(h))
            {
                return None;
            }
            let s = std::str::from_utf8(hex).ok()?;
            bytes.push(u8::from_str_radix(s, 16).ok()?);
            rest = &tail[2..];
        } else {
            bytes.push(b);
            rest = tail;
        }
    }
    let decoded = String::from_utf8(bytes).ok()?;
    // Only canonical encodings: `*41` for `A` would make two names for one key.
    (encode(&decoded) == name).then_some(decoded)
}

/// `name` as URL path segments: each `/`-separated segment percent-encoded.
pub(crate) fn url_path(name: &str) -> String {
    name.split('/')
        .map(|s| utf8_percent_encode(s, PATH_SEGMENT).to_string())
        .collect::<Vec<_>>()
        .join("/")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_names_stay_readable() {
        for k in [
            "daily/db-2026-11-23.json.gz",
            "with space/plus+and&amp=x.txt",
            "it's (1).txt",
        ] {
            assert_eq!(encode(k), k);
            assert_eq!(decode(k).as_deref(), Some(k));
        }
    }

    #[test]
    fn other_characters_round_trip_in_the_allowed_set() {
        for k in [
            "Résumé ü/😀 it's a \"quote\".txt",
            "percent%20.txt",
            "日本語/データ.sql.gz",
            "star*and~tilde#hash",
        ] {
            let name = encode(k);
            assert!(
                name.chars()
                    .all(|c| c.is_ascii_alphanumeric() || ALLOWED.contains(c)),
                "{name}"
            );
            assert_eq!(decode(&name).as_deref(), Some(k), "{name}");
        }
        assert_eq!(encode("a*b"), "a*2Ab");
        assert_eq!(encode("é"), "*C3*A9");
    }

    #[test]
    fn foreign_names_do_not_decode() {
        for n in ["a*", "a*zz", "*c3*a9", "*41", "*FF"] {
            assert_eq!(decode(n), None, "{n}");
        }
    }

    #[test]
    fn url_paths_encode_each_segment() {
        assert_eq!(url_path("a b/c+d&e?f"), "a%20b/c%2Bd%26e%3Ff");
        assert_eq!(url_path("x*C3/y"), "x%2AC3/y");
    }
}
