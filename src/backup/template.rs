//! Backup name templates: `{stem}`, `{ext}`, `{date}`, `{time}`, `{timestamp}`.

use chrono::{DateTime, Utc};
use cloudmirror_contract::Key;

use crate::backup::compress::Compression;
use crate::Error;

/// The template used when `[backup] name` is not set.
pub const DEFAULT_TEMPLATE: &str = "{stem}-{timestamp}{ext}";

/// What a template is filled with.
#[derive(Debug, Clone)]
pub struct NameInputs {
    /// The source's file name without its last extension (`db` for `db.json`; `stdin` for `-`).
    pub stem: String,
    /// The source's last extension with its dot (`.json`), or empty.
    pub ext: String,
    /// The backup's time (UTC).
    pub now: DateTime<Utc>,
}

impl NameInputs {
    /// Inputs for a source file name (or `None` for standard input).
    pub fn for_source(file_name: Option<&str>, now: DateTime<Utc>) -> Self {
        let name = file_name.unwrap_or("stdin");
        let (stem, ext) = match name.rfind('.') {
            Some(i) if i > 0 => (name[..i].to_owned(), name[i..].to_owned()),
            _ => (name.to_owned(), String::new()),
        };
        Self { stem, ext, now }
    }
}

/// Renders `template`, adds the compression's extension unless the name already ends with it,
/// and validates the result as a key (non-empty, relative, no `..`).
pub fn render(template: &str, inputs: &NameInputs, compression: Compression) -> Result<Key, Error> {
    let mut out = String::new();
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        let Some(close) = rest[open..].find('}') else {
            return Err(Error::Config(format!(
                "backup.name: template {template:?} has an unclosed '{{'"
            )));
        };
        let field = &rest[open + 1..open + close];
        match field {
            "stem" => out.push_str(&inputs.stem),
            "ext" => out.push_str(&inputs.ext),
            "date" => out.push_str(&inputs.now.format("%Y-%m-%d").to_string()),
            "time" => out.push_str(&inputs.now.format("%H%M%S").to_string()),
            "timestamp" => out.push_str(&inputs.now.format("%Y-%m-%d-%H%M%S").to_string()),
            other => {
                return Err(Error::Config(format!(
                    "backup.name: unknown placeholder {{{other}}} in template {template:?} (use {{stem}}, {{ext}}, {{date}}, {{time}}, {{timestamp}})"
                )))
            }
        }
        rest = &rest[open + close + 1..];
    }
    out.push_str(rest);
    if let Some(ext) = compression.extension() {
        if !out.ends_with(ext) {
            out.push_str(ext);
        }
    }
    if out.ends_with(crate::backup::manifest::MANIFEST_SUFFIX) {
        return Err(Error::Config(format!(
            "backup.name: template {template:?} produces {out:?}, which ends like a manifest"
        )));
    }
    Key::parse(&out).map_err(|e| {
        Error::Config(format!(
            "backup.name: template {template:?} produces an invalid backup name: {}",
            e.message()
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn inputs() -> NameInputs {
        NameInputs::for_source(
            Some("db.json"),
            Utc.with_ymd_and_hms(2026, 11, 23, 2, 5, 9).unwrap(),
        )
    }

    #[test]
    fn renders_placeholders_and_adds_gz() {
        let k = render(DEFAULT_TEMPLATE, &inputs(), Compression::Gzip).unwrap();
        assert_eq!(k.as_str(), "db-2026-11-23-020509.json.gz");
        let k = render(
            "database-backup-{date}.json.gz",
            &inputs(),
            Compression::Gzip,
        )
        .unwrap();
        assert_eq!(k.as_str(), "database-backup-2026-11-23.json.gz");
        let k = render("daily/{stem}-{time}{ext}", &inputs(), Compression::None).unwrap();
        assert_eq!(k.as_str(), "daily/db-020509.json");
    }

    #[test]
    fn stdin_and_extensionless_sources() {
        let now = Utc::now();
        let i = NameInputs::for_source(None, now);
        assert_eq!((i.stem.as_str(), i.ext.as_str()), ("stdin", ""));
        let i = NameInputs::for_source(Some(".hidden"), now);
        assert_eq!((i.stem.as_str(), i.ext.as_str()), (".hidden", ""));
    }

    #[test]
    fn rejects_bad_names() {
        for t in ["", "/abs/{stem}", "../{stem}", "{nope}", "{stem", "a//b"] {
            let err = render(t, &inputs(), Compression::None)
                .unwrap_err()
                .to_string();
            assert!(err.starts_with("backup.name"), "{t:?}: {err}");
        }
    }
}
