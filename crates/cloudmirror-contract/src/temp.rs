//! Temporary names for adapters that write an object beside its final name and then rename it
//! into place (SFTP, WebDAV): `.<name>.<8 hex>.partial` in the same folder. Listings hide them, so
//! a half-written object is never seen, and every such adapter recognises the others' leftovers.

use crate::Key;

/// A fresh temporary path for `key`, in the same folder (`dir/.name.1a2b3c4d.partial`).
pub fn temp_path(key: &Key) -> String {
    format!(
        "{}.{}.{:08x}.partial",
        key.dir(),
        key.name(),
        fastrand::u32(..)
    )
}

/// Whether a file name (the last path segment) is one of [`temp_path`]'s names.
pub fn is_temp_name(name: &str) -> bool {
    let Some(rest) = name
        .strip_prefix('.')
        .and_then(|n| n.strip_suffix(".partial"))
    else {
        return false;
    };
    match rest.rsplit_once('.') {
        Some((stem, hex)) => {
            !stem.is_empty() && hex.len() == 8 && hex.bytes().all(|b| b.is_ascii_hexdigit())
        }
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn temporary_names_are_recognised_and_nothing_else() {
        let key = Key::parse("daily/db 1.gz").unwrap();
        let temp = temp_path(&key);
        assert!(temp.starts_with("daily/.db 1.gz."), "{temp}");
        assert!(is_temp_name(temp.rsplit('/').next().unwrap()));
        for name in [
            "db.gz",
            ".db.gz",
            ".db.gz.partial",
            ".db.gz.1234567.partial",
            "..12345678.partial",
            ".x.1234567g.partial",
        ] {
            assert!(!is_temp_name(name), "{name}");
        }
    }
}
