//! `[backup] spool_limit` and `spool_dir`: how much disk the spool may use, and the free-space
//! check of the spool folder before a backup starts.

use std::fmt;
use std::path::Path;

use cloudmirror_contract::ByteSize;
use serde::de::{self, Deserialize, Deserializer, Visitor};

/// The default `spool_limit`.
pub const DEFAULT_SPOOL_LIMIT: SpoolLimit = SpoolLimit::Bytes(2 * 1024 * 1024 * 1024);

/// The smallest bounded `spool_limit`: below it the writer would wait for every reader at nearly
/// every write, and hole punching works in file-system blocks anyway.
pub const MIN_SPOOL_LIMIT: u64 = 1024 * 1024;

/// The most disk the spool may use (`[backup] spool_limit`): a size such as `"2GiB"` (the
/// default), or `"unlimited"`, which stages the whole compressed backup on disk as before.
///
/// Bounded, bytes every destination has read are released, and the compressor waits whenever it
/// is this far ahead of the slowest destination still uploading (see `docs/configuration.md`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SpoolLimit {
    /// At most this many bytes on disk.
    Bytes(u64),
    /// No bound: the spool grows to the backup's full size and nothing is released early.
    Unlimited,
}

impl Default for SpoolLimit {
    fn default() -> Self {
        DEFAULT_SPOOL_LIMIT
    }
}

impl SpoolLimit {
    /// The bound in bytes (`None` when unlimited).
    pub fn bytes(self) -> Option<u64> {
        match self {
            SpoolLimit::Bytes(n) => Some(n),
            SpoolLimit::Unlimited => None,
        }
    }
}

impl std::str::FromStr for SpoolLimit {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.trim().eq_ignore_ascii_case("unlimited") {
            return Ok(SpoolLimit::Unlimited);
        }
        let size: ByteSize = s
            .parse()
            .map_err(|e: String| format!("{e}, or \"unlimited\""))?;
        SpoolLimit::try_from(size.bytes())
    }
}

impl TryFrom<u64> for SpoolLimit {
    type Error = String;

    fn try_from(n: u64) -> Result<Self, Self::Error> {
        if n < MIN_SPOOL_LIMIT {
            return Err(format!(
                "spool_limit of {n} bytes is too small: use at least \"1MiB\", or \"unlimited\""
            ));
        }
        Ok(SpoolLimit::Bytes(n))
    }
}

impl fmt::Display for SpoolLimit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SpoolLimit::Bytes(n) => write!(f, "{}", human(*n)),
            SpoolLimit::Unlimited => f.write_str("unlimited"),
        }
    }
}

impl<'de> Deserialize<'de> for SpoolLimit {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = SpoolLimit;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a size such as \"2GiB\", a number of bytes, or \"unlimited\"")
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<SpoolLimit, E> {
                SpoolLimit::try_from(v).map_err(E::custom)
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<SpoolLimit, E> {
                let v = u64::try_from(v)
                    .map_err(|_| E::custom(format!("invalid size {v}: must not be negative")))?;
                self.visit_u64(v)
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<SpoolLimit, E> {
                v.parse().map_err(E::custom)
            }
        }
        deserializer.deserialize_any(V)
    }
}

/// How the spool stores its bytes on disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SpoolMode {
    /// One file; bounded, consumed bytes are released by punching holes where the file system
    /// supports it (Linux `fallocate`), else through a ring of segment files.
    #[default]
    Auto,
    /// Always a ring of segment files (what `Auto` falls back to; tests run it directly).
    Segments,
}

/// Free bytes available to an unprivileged user in `dir`, when the platform can tell.
pub fn free_space(dir: &Path) -> Option<u64> {
    #[cfg(unix)]
    {
        let st = rustix::fs::statvfs(dir).ok()?;
        Some(st.f_bavail.saturating_mul(st.f_frsize))
    }
    #[cfg(not(unix))]
    {
        let _ = dir;
        None
    }
}

/// The free-space check of the spool folder: refuses when `free` is below
/// `min(limit, last_backup)` (`last_backup` is the newest stored backup's size, when known).
/// The message names the folder, the free space and the setting to change.
pub fn check_free_space(
    dir: &Path,
    free: u64,
    limit: SpoolLimit,
    last_backup: Option<u64>,
) -> Result<(), String> {
    let need = match (limit.bytes(), last_backup) {
        (Some(l), Some(last)) => l.min(last),
        (Some(l), None) => l,
        (None, Some(last)) => last,
        (None, None) => return Ok(()),
    };
    if free >= need {
        return Ok(());
    }
    let why = match last_backup {
        Some(last) if limit.bytes().is_none_or(|l| last < l) => {
            format!("the last backup stored {}", human(last))
        }
        _ => format!("[backup] spool_limit is {limit}"),
    };
    Err(format!(
        "the spool folder {} has {} free, but the spool needs up to {} ({why}): free some space, \
         point [backup] spool_dir at a larger folder, or lower [backup] spool_limit",
        dir.display(),
        human(free),
        human(need),
    ))
}

/// A size for messages: whole bytes below 1 KiB, else KiB/MiB/GiB with one decimal.
fn human(n: u64) -> String {
    const UNITS: [&str; 4] = ["KiB", "MiB", "GiB", "TiB"];
    if n < 1024 {
        return format!("{n} B");
    }
    let mut v = n as f64 / 1024.0;
    let mut unit = UNITS[0];
    for u in &UNITS[1..] {
        if v < 1024.0 {
            break;
        }
        v /= 1024.0;
        unit = u;
    }
    format!("{v:.1} {unit}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_sizes_and_unlimited() {
        #[derive(serde::Deserialize)]
        struct T {
            l: SpoolLimit,
        }
        assert_eq!(
            "8MiB".parse::<SpoolLimit>().unwrap(),
            SpoolLimit::Bytes(8 << 20)
        );
        assert_eq!(
            "unlimited".parse::<SpoolLimit>().unwrap(),
            SpoolLimit::Unlimited
        );
        assert_eq!(SpoolLimit::default(), SpoolLimit::Bytes(2 << 30));
        let err = "100KiB".parse::<SpoolLimit>().unwrap_err();
        assert!(err.contains("too small"), "{err}");
        let err = "lots".parse::<SpoolLimit>().unwrap_err();
        assert!(err.contains("\"unlimited\""), "{err}");
        let t: T = toml::from_str("l = \"2GiB\"").unwrap();
        assert_eq!(t.l, SpoolLimit::Bytes(2 << 30));
        let t: T = toml::from_str("l = 16777216").unwrap();
        assert_eq!(t.l, SpoolLimit::Bytes(16 << 20));
        assert!(toml::from_str::<T>("l = -1").is_err());
    }

    #[test]
    fn free_space_check_uses_the_smaller_of_limit_and_last_backup() {
        let dir = Path::new("/var/spool-test");
        let gib = 1u64 << 30;
        let limit = SpoolLimit::Bytes(2 * gib);
        // Enough for the limit.
        assert!(check_free_space(dir, 3 * gib, limit, Some(60 * gib)).is_ok());
        // Below the limit, but above the last backup's size.
        assert!(check_free_space(dir, gib, limit, Some(gib / 2)).is_ok());
        let err = check_free_space(dir, gib, limit, Some(60 * gib)).unwrap_err();
        assert!(err.contains("/var/spool-test"), "{err}");
        assert!(err.contains("1.0 GiB free"), "{err}");
        assert!(err.contains("spool_limit is 2.0 GiB"), "{err}");
        // Unlimited: only the last backup's size counts.
        let err = check_free_space(dir, gib, SpoolLimit::Unlimited, Some(5 * gib)).unwrap_err();
        assert!(err.contains("the last backup stored 5.0 GiB"), "{err}");
        assert!(check_free_space(dir, 1, SpoolLimit::Unlimited, None).is_ok());
    }

    #[test]
    fn free_space_is_measured() {
        let dir = tempfile::tempdir().unwrap();
        if cfg!(unix) {
            assert!(free_space(dir.path()).unwrap() > 0);
        }
    }
}
