//! Loading `cloudmirror.toml`: discovery, `${VAR}` substitution, and errors that name file, line and field.

pub mod destinations;
pub mod duration;
pub mod prefixed;
pub mod secrets;

use std::collections::BTreeSet;
use std::fmt;
use std::path::{Path, PathBuf};

use cloudmirror_contract::Prefix;
use serde::de::DeserializeOwned;
use serde::Deserialize;

use crate::Error;

/// The configuration used when no file is found: one local destination, `./backups`.
pub const EMBEDDED_DEFAULT: &str = r#"# cloudmirror's embedded default: one local folder.
[backup]
compress = "gzip"

[[destinations]]
name = "local"
type = "local"
path = "./backups"
"#;

/// Environment variable naming the config file when `--config` is not given.
pub const CONFIG_ENV: &str = "CLOUDMIRROR_CONFIG";
/// File looked for in the current folder when neither `--config` nor the variable is set.
pub const DEFAULT_FILE: &str = "cloudmirror.toml";

/// Destination types cloudmirror knows.
pub const DESTINATION_TYPES: &[&str] = &["local", "s3", "dropbox", "gdrive", "supabase", "webdav"];

/// Where the configuration came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConfigOrigin {
    /// A file (from `--config`, `CLOUDMIRROR_CONFIG` or the current folder).
    File(PathBuf),
    /// The embedded default (no file found).
    Embedded,
}

impl fmt::Display for ConfigOrigin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConfigOrigin::File(p) => write!(f, "{}", p.display()),
            ConfigOrigin::Embedded => f.write_str("<embedded default config>"),
        }
    }
}

/// How stored bytes are compressed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Compression {
    /// gzip (the default), compressed in parallel as independent members; restores read
    /// multi-member streams.
    #[default]
    Gzip,
    /// zstd (multithreaded), `.zst`.
    Zstd,
    /// Stored as is.
    None,
}

impl Compression {
    /// The manifest's name for it.
    pub fn as_str(self) -> &'static str {
        match self {
            Compression::Gzip => "gzip",
            Compression::Zstd => "zstd",
            Compression::None => "none",
        }
    }

    /// The file extension it adds (with the dot), if any.
    pub fn extension(self) -> Option<&'static str> {
        match self {
            Compression::Gzip => Some(".gz"),
            Compression::Zstd => Some(".zst"),
            Compression::None => None,
        }
    }

    /// A guess from a backup's name (by its extension), for when no manifest is at hand.
    pub fn guess_from_name(name: &str) -> Compression {
        let ext = std::path::Path::new(name)
            .extension()
            .map(|e| e.to_string_lossy().to_ascii_lowercase());
        match ext.as_deref() {
            Some("gz") => Compression::Gzip,
            Some("zst") => Compression::Zstd,
            _ => Compression::None,
        }
    }
}

/// The `[backup]` section.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BackupConfig {
    /// Name template of stored backups (see [`crate::backup::template`]); default `{stem}-{timestamp}{ext}`.
    pub name: Option<String>,
    /// Compression of stored bytes.
    #[serde(default)]
    pub compress: Compression,
    /// Compression level: gzip 0-9 (default 6), zstd 1-22 (default 3); see [`crate::backup::compress`].
    pub level: Option<u32>,
    /// Shell command whose standard output is backed up when `backup` gets no source.
    pub exec: Option<String>,
    /// File backed up when `backup` gets no source and no `exec` is set (the daemon's job).
    pub source: Option<PathBuf>,
    /// Folder for the spool file the compressed backup is staged in (default: the system temp
    /// folder); its free space is checked before each backup.
    pub spool_dir: Option<PathBuf>,
    /// The most disk the spool may use (default `"2GiB"`; `"unlimited"` stages the whole backup);
    /// see [`crate::backup::spool::SpoolLimit`].
    pub spool_limit: Option<crate::backup::spool::SpoolLimit>,
    /// How long one destination may take to store the backup and its manifest (default 30m;
    /// see [`crate::config::duration`]); a destination past it fails alone.
    #[serde(
        default,
        deserialize_with = "crate::config::duration::deserialize_option"
    )]
    pub destination_timeout: Option<std::time::Duration>,
    /// How long each request to a destination is retried through transient failures (503s,
    /// throttling, restarts, dropped connections) before it fails (default 5m, waits capped at
    /// 30 s); a destination's own `retry_for` overrides it.
    #[serde(
        default,
        deserialize_with = "crate::config::duration::deserialize_option"
    )]
    pub retry_for: Option<std::time::Duration>,
}

/// One `[[destinations]]` table, with its adapter-specific settings kept for the adapter to parse.
#[derive(Debug, Clone)]
pub struct DestinationConfig {
    /// Unique name used by `--to` and `--from`.
    pub name: String,
    /// One of [`DESTINATION_TYPES`].
    pub kind: String,
    /// Folder prefix inside the destination (e.g. `daily/`), applied to every key.
    pub prefix: Prefix,
    /// Retention rules of this destination (its own `retention` table, else `[retention]`).
    pub retention: Option<crate::lifecycle::retention::RetentionPolicy>,
    /// This destination's retry budget (`retry_for`), else `[backup] retry_for`.
    pub retry_for: Option<std::time::Duration>,
    /// The remaining keys, for the adapter's own config type.
    pub settings: toml::Table,
    /// Index in the `destinations` array (for error locations).
    pub index: usize,
}

/// A loaded configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// Where it came from.
    pub origin: ConfigOrigin,
    /// Folder that relative paths in it are resolved against.
    pub base_dir: PathBuf,
    /// `[backup]`.
    pub backup: BackupConfig,
    /// `[[destinations]]`, in file order.
    pub destinations: Vec<DestinationConfig>,
    /// `[retention]`: rules applied after each backup and by `prune` (unless a destination has its own).
    pub retention: Option<crate::lifecycle::retention::RetentionPolicy>,
    /// `[health]`: thresholds of `status`.
    pub health: crate::lifecycle::health::HealthPolicy,
    /// `[schedule]`: when `daemon` runs the backup job.
    pub schedule: Option<crate::schedule::ScheduleConfig>,
    /// `[notify]`: the webhook told about each backup run.
    pub notify: Option<crate::schedule::notify::NotifyConfig>,
    /// `[encryption]`: age recipients every backup is encrypted to.
    pub encryption: Option<crate::backup::encrypt::EncryptionConfig>,
    source: SourceIndex,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    #[serde(default)]
    backup: BackupConfig,
    #[serde(default)]
    destinations: Vec<toml::Table>,
    retention: Option<crate::lifecycle::retention::RetentionPolicy>,
    #[serde(default)]
    health: crate::lifecycle::health::HealthPolicy,
    schedule: Option<crate::schedule::ScheduleConfig>,
    notify: Option<crate::schedule::notify::NotifyConfig>,
    encryption: Option<crate::backup::encrypt::EncryptionConfig>,
}

impl Config {
    /// Finds and loads the configuration: `explicit`, then `$CLOUDMIRROR_CONFIG`, then
    /// `./cloudmirror.toml`, then the embedded default. `env` looks variables up (the process
    /// environment in the binary; a map in tests).
    pub fn discover(
        explicit: Option<&Path>,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Self, Error> {
        let path = explicit
            .map(Path::to_path_buf)
            .or_else(|| env(CONFIG_ENV).filter(|s| !s.is_empty()).map(PathBuf::from))
            .or_else(|| {
                let p = PathBuf::from(DEFAULT_FILE);
                p.is_file().then_some(p)
            });
        match path {
            Some(path) => {
                let text = std::fs::read_to_string(&path).map_err(|e| {
                    Error::Config(format!("cannot read config file {}: {e}", path.display()))
                })?;
                let base = path
                    .parent()
                    .filter(|p| !p.as_os_str().is_empty())
                    .map_or_else(|| PathBuf::from("."), Path::to_path_buf);
                Self::parse(&text, ConfigOrigin::File(path), base, env)
            }
            None => Self::parse(
                EMBEDDED_DEFAULT,
                ConfigOrigin::Embedded,
                PathBuf::from("."),
                env,
            ),
        }
    }

    /// Parses configuration text.
    pub fn parse(
        text: &str,
        origin: ConfigOrigin,
        base_dir: PathBuf,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Self, Error> {
        let source = SourceIndex::new(text, &origin)?;
        let mut value: toml::Value = toml::from_str(text)
            .map_err(|e| source.error(&[], &format!("invalid TOML: {}", e.message())))?;
        substitute_env(&mut value, &mut Vec::new(), env, &source)?;
        let raw: RawConfig = source.deserialize(value, &[])?;
        let mut names = BTreeSet::new();
        let mut destinations = Vec::new();
        for (index, table) in raw.destinations.into_iter().enumerate() {
            let dest = parse_destination(index, table, raw.retention.as_ref(), &source)?;
            if !names.insert(dest.name.clone()) {
                return Err(source.error(
                    &[
                        Seg::Key("destinations".into()),
                        Seg::Index(index),
                        Seg::Key("name".into()),
                    ],
                    &format!("duplicate destination name {:?}", dest.name),
                ));
            }
            destinations.push(dest);
        }
        if destinations.is_empty() {
            return Err(source.error(&[], "no [[destinations]] configured"));
        }
        if let Some(policy) = &raw.retention {
            policy.validate().map_err(|e| {
                source.error(
                    &[Seg::Key("retention".into()), Seg::Key(e.field.into())],
                    &e.to_string(),
                )
            })?;
        }
        if let Some(enc) = &raw.encryption {
            enc.recipients().map_err(|e| {
                source.error(
                    &[Seg::Key("encryption".into()), Seg::Key("recipients".into())],
                    &e.to_string(),
                )
            })?;
        }
        raw.health.validate().map_err(|e| {
            source.error(
                &[Seg::Key("health".into()), Seg::Key(e.field.into())],
                &e.to_string(),
            )
        })?;
        Ok(Self {
            origin,
            base_dir,
            backup: raw.backup,
            destinations,
            retention: raw.retention,
            health: raw.health,
            schedule: raw.schedule,
            notify: raw.notify,
            encryption: raw.encryption,
            source,
        })
    }

    /// Deserializes a destination's adapter settings into the adapter's config type, with errors
    /// naming the file, line, destination and field.
    pub fn adapter_settings<T: DeserializeOwned>(
        &self,
        dest: &DestinationConfig,
    ) -> Result<T, Error> {
        let at = [Seg::Key("destinations".into()), Seg::Index(dest.index)];
        self.source
            .deserialize(toml::Value::Table(dest.settings.clone()), &at)
            .map_err(|e| match e {
                Error::Config(m) => {
                    Error::Config(m.replacen(": ", &format!(": destination {:?}: ", dest.name), 1))
                }
                other => other,
            })
    }

    /// An error located at a destination's field (or the destination itself).
    pub fn destination_error(
        &self,
        dest: &DestinationConfig,
        field: Option<&str>,
        message: &str,
    ) -> Error {
        let mut at = vec![Seg::Key("destinations".into()), Seg::Index(dest.index)];
        if let Some(f) = field {
            at.push(Seg::Key(f.into()));
        }
        self.source
            .error(&at, &format!("destination {:?}: {message}", dest.name))
    }

    /// The parsed `[encryption]` recipients, when backups are to be encrypted.
    pub fn recipients(&self) -> Result<Option<crate::backup::encrypt::Recipients>, Error> {
        self.encryption
            .as_ref()
            .map(crate::backup::encrypt::EncryptionConfig::recipients)
            .transpose()
    }

    /// Resolves a path from the config against the config file's folder.
    pub fn resolve_path(&self, p: &Path) -> PathBuf {
        if p.is_absolute() {
            p.to_path_buf()
        } else {
            self.base_dir.join(p)
        }
    }

    /// The destinations `--to` selects (all when `to` is empty), in config order.
    pub fn select(&self, to: &[String]) -> Result<Vec<&DestinationConfig>, Error> {
        if to.is_empty() {
            return Ok(self.destinations.iter().collect());
        }
        for name in to {
            if !self.destinations.iter().any(|d| &d.name == name) {
                let known: Vec<_> = self.destinations.iter().map(|d| d.name.as_str()).collect();
                return Err(Error::Usage(format!(
                    "unknown destination {name:?} in --to (configured: {})",
                    known.join(", ")
                )));
            }
        }
        Ok(self
            .destinations
            .iter()
            .filter(|d| to.contains(&d.name))
            .collect())
    }
}

/// One step of a path into the TOML document.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Seg {
    Key(String),
    Index(usize),
}

fn with(at: &[Seg], key: &str) -> Vec<Seg> {
    let mut v = at.to_vec();
    v.push(Seg::Key(key.into()));
    v
}

fn path_string(path: &[Seg]) -> String {
    let mut s = String::new();
    for seg in path {
        match seg {
            Seg::Key(k) => {
                if !s.is_empty() {
                    s.push('.');
                }
                s.push_str(k);
            }
            Seg::Index(i) => {
                s.push('[');
                s.push_str(&i.to_string());
                s.push(']');
            }
        }
    }
    s
}

/// The original text, kept to turn a field path into a line number.
#[derive(Debug, Clone)]
struct SourceIndex {
    file: String,
    doc: Option<toml_edit::ImDocument<String>>,
    text: String,
}

impl SourceIndex {
    fn new(text: &str, origin: &ConfigOrigin) -> Result<Self, Error> {
        let file = origin.to_string();
        let doc = text.parse::<toml_edit::ImDocument<String>>().map_err(|e| {
            let line = e.span().map(|s| line_of(text, s.start));
            let msg = e.message().trim().to_owned();
            match line {
                Some(l) => Error::Config(format!("{file}:{l}: invalid TOML: {msg}")),
                None => Error::Config(format!("{file}: invalid TOML: {msg}")),
            }
        })?;
        Ok(Self {
            file,
            doc: Some(doc),
            text: text.to_owned(),
        })
    }

    fn line(&self, path: &[Seg]) -> Option<usize> {
        enum Node<'a> {
            Table(&'a toml_edit::Table),
            Inline(&'a toml_edit::InlineTable),
            Tables(&'a toml_edit::ArrayOfTables),
            Array(&'a toml_edit::Array),
            Leaf,
        }
        fn of_item(item: &toml_edit::Item) -> Node<'_> {
            match item {
                toml_edit::Item::Table(t) => Node::Table(t),
                toml_edit::Item::ArrayOfTables(a) => Node::Tables(a),
                toml_edit::Item::Value(v) => of_value(v),
                toml_edit::Item::None => Node::Leaf,
            }
        }
        fn of_value(value: &toml_edit::Value) -> Node<'_> {
            match value {
                toml_edit::Value::InlineTable(t) => Node::Inline(t),
                toml_edit::Value::Array(a) => Node::Array(a),
                _ => Node::Leaf,
            }
        }
        let doc = self.doc.as_ref()?;
        let mut node = Node::Table(doc.as_table());
        let mut best = None;
        for seg in path {
            node = match (seg, node) {
                (Seg::Key(k), Node::Table(t)) => {
                    best = t
                        .key(k)
                        .and_then(toml_edit::Key::span)
                        .map(|s| s.start)
                        .or(best);
                    match t.get(k) {
                        Some(item) => of_item(item),
                        None => break,
                    }
                }
                (Seg::Key(k), Node::Inline(t)) => {
                    best = t
                        .key(k)
                        .and_then(toml_edit::Key::span)
                        .map(|s| s.start)
                        .or(best);
                    match t.get(k) {
                        Some(v) => of_value(v),
                        None => break,
                    }
                }
                (Seg::Index(i), Node::Tables(a)) => match a.get(*i) {
                    Some(t) => {
                        best = t.span().map(|s| s.start).or(best);
                        Node::Table(t)
                    }
                    None => break,
                },
                (Seg::Index(i), Node::Array(a)) => match a.get(*i) {
                    Some(v) => {
                        best = v.span().map(|s| s.start).or(best);
                        of_value(v)
                    }
                    None => break,
                },
                _ => break,
            };
        }
        best.map(|offset| line_of(&self.text, offset))
    }

    fn error(&self, path: &[Seg], message: &str) -> Error {
        let field = path_string(path);
        match (self.line(path), field.is_empty()) {
            (Some(l), _) => Error::Config(format!("{}:{l}: {message}", self.file)),
            (None, false) => Error::Config(format!("{}: {field}: {message}", self.file)),
            (None, true) => Error::Config(format!("{}: {message}", self.file)),
        }
    }

    fn deserialize<T: DeserializeOwned>(&self, value: toml::Value, at: &[Seg]) -> Result<T, Error> {
        serde_path_to_error::deserialize(value).map_err(|e| {
            let mut path = at.to_vec();
            for seg in e.path() {
                match seg {
                    serde_path_to_error::Segment::Map { key } => path.push(Seg::Key(key.clone())),
                    serde_path_to_error::Segment::Seq { index } => path.push(Seg::Index(*index)),
                    _ => {}
                }
            }
            let message = redact_value(&e.inner().to_string());
            if let Some(unknown) = backticked_after(&message, "unknown field `") {
                // Some deserializers already put the unknown key at the end of the path.
                let unknown = Seg::Key(unknown);
                if path.last() != Some(&unknown) {
                    path.push(unknown);
                }
            }
            let field = path_string(&path);
            self.error(&path, &format!("{field}: {message}"))
        })
    }
}

/// Drops echoed values from serde messages (`invalid type: string "...", expected ...`), which
/// could be secrets: the message keeps the type and what was expected.
fn redact_value(message: &str) -> String {
    // `unknown variant `<value>`, expected one of ...`: the value may come from `${VAR}`.
    const VARIANT: &str = "unknown variant `";
    const MARKER: &str = "string \"";
    if let Some(start) = message.find(VARIANT) {
        let value_start = start + VARIANT.len();
        if let Some(end) = message[value_start..].find("`, expected") {
            return format!(
                "{}unknown value{}",
                &message[..start],
                &message[value_start + end + 1..]
            );
        }
    }
    if let Some(start) = message.find(MARKER) {
        let value_start = start + MARKER.len();
        if let Some(end) = message[value_start..].find("\", expected") {
            return format!(
                "{}string{}",
                &message[..start],
                &message[value_start + end + 1..]
            );
        }
    }
    message.to_owned()
}

fn backticked_after(message: &str, marker: &str) -> Option<String> {
    let start = message.find(marker)? + marker.len();
    let end = message[start..].find('`')?;
    Some(message[start..start + end].to_owned())
}

fn line_of(text: &str, offset: usize) -> usize {
    text[..offset.min(text.len())].matches('\n').count() + 1
}

/// Parses one `[[destinations]]` table: the common keys, its retention, and the adapter's settings.
fn parse_destination(
    index: usize,
    mut table: toml::Table,
    global_retention: Option<&crate::lifecycle::retention::RetentionPolicy>,
    source: &SourceIndex,
) -> Result<DestinationConfig, Error> {
    let at = [Seg::Key("destinations".into()), Seg::Index(index)];
    let name = take_string(&mut table, "name", &at, source)?
        .ok_or_else(|| source.error(&at, "destination has no `name`"))?;
    if name.trim().is_empty() || name.contains(',') {
        return Err(source.error(
            &with(&at, "name"),
            &format!(
                "invalid destination name {name:?}: it must be non-empty and contain no comma"
            ),
        ));
    }
    let kind = take_string(&mut table, "type", &at, source)?.ok_or_else(|| {
        source.error(
            &at,
            &format!(
                "destination {name:?} has no `type` (one of {})",
                DESTINATION_TYPES.join(", ")
            ),
        )
    })?;
    if !DESTINATION_TYPES.contains(&kind.as_str()) {
        return Err(source.error(
            &with(&at, "type"),
            &format!(
                "destination {name:?}: unknown type {kind:?} (expected one of {})",
                DESTINATION_TYPES.join(", ")
            ),
        ));
    }
    let prefix = match take_string(&mut table, "prefix", &at, source)? {
        None => Prefix::root(),
        Some(p) => {
            let p = p.trim_start_matches('/');
            let p = if p.is_empty() || p.ends_with('/') {
                p.to_owned()
            } else {
                format!("{p}/")
            };
            Prefix::parse(&p).map_err(|e| {
                source.error(
                    &with(&at, "prefix"),
                    &format!("destination {name:?}: invalid prefix: {}", e.message()),
                )
            })?
        }
    };
    let retry_for = match table.remove("retry_for") {
        None => None,
        Some(v) => crate::config::duration::deserialize_option(v).map_err(|e| {
            source.error(
                &with(&at, "retry_for"),
                &format!("destination {name:?}: retry_for: {e}"),
            )
        })?,
    };
    let retention = match table.remove("retention") {
        None => None,
        Some(v) => {
            let policy: crate::lifecycle::retention::RetentionPolicy =
                source.deserialize(v, &with(&at, "retention"))?;
            policy.validate().map_err(|e| {
                source.error(
                    &with(&with(&at, "retention"), e.field),
                    &format!("destination {name:?}: {e}"),
                )
            })?;
            Some(policy)
        }
    }
    .or_else(|| global_retention.cloned());
    Ok(DestinationConfig {
        name,
        retention,
        retry_for,
        kind,
        prefix,
        settings: table,
        index,
    })
}

fn take_string(
    table: &mut toml::Table,
    key: &str,
    at: &[Seg],
    source: &SourceIndex,
) -> Result<Option<String>, Error> {
    match table.remove(key) {
        None => Ok(None),
        Some(toml::Value::String(s)) => Ok(Some(s)),
        Some(other) => Err(source.error(
            &with(at, key),
            &format!(
                "{}.{key}: expected a string, found {}",
                path_string(at),
                other.type_str()
            ),
        )),
    }
}

/// Replaces `${NAME}` in every string with the variable's value; a missing variable is an error
/// naming it and the field. `$${` writes a literal `${`.
fn substitute_env(
    value: &mut toml::Value,
    path: &mut Vec<Seg>,
    env: &dyn Fn(&str) -> Option<String>,
    source: &SourceIndex,
) -> Result<(), Error> {
    match value {
        toml::Value::String(s) if s.contains('$') => {
            *s = expand(s, env).map_err(|var| {
                source.error(
                    path,
                    &format!(
                        "{}: environment variable {var} is not set",
                        path_string(path)
                    ),
                )
            })?;
        }
        toml::Value::Array(items) => {
            for (i, item) in items.iter_mut().enumerate() {
                path.push(Seg::Index(i));
                substitute_env(item, path, env, source)?;
                path.pop();
            }
        }
        toml::Value::Table(t) => {
            for (k, item) in t.iter_mut() {
                path.push(Seg::Key(k.clone()));
                substitute_env(item, path, env, source)?;
                path.pop();
            }
        }
        _ => {}
    }
    Ok(())
}

/// Expands `${NAME}`; returns the first missing variable's name as the error.
pub fn expand(s: &str, env: &dyn Fn(&str) -> Option<String>) -> Result<String, String> {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find('$') {
        out.push_str(&rest[..i]);
        let after = &rest[i..];
        if let Some(lit) = after.strip_prefix("$${") {
            out.push_str("${");
            rest = lit;
        } else if let Some(body) = after.strip_prefix("${") {
            let Some(end) = body.find('}') else {
                out.push_str(after);
                rest = "";
                break;
            };
            let name = &body[..end];
            let value = env(name).ok_or_else(|| name.to_owned())?;
            out.push_str(&value);
            rest = &body[end + 1..];
        } else {
            out.push('$');
            rest = &after[1..];
        }
    }
    out.push_str(rest);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(name: &str) -> Option<String> {
        match name {
            "BUCKET" => Some("acme".into()),
            "EMPTY" => Some(String::new()),
            _ => None,
        }
    }

    fn parse(text: &str) -> Result<Config, Error> {
        Config::parse(
            text,
            ConfigOrigin::File("cm.toml".into()),
            PathBuf::from("/etc/cm"),
            &env,
        )
    }

    #[test]
    fn retry_for_is_global_with_per_destination_overrides() {
        use std::time::Duration;
        let c = parse(
            "[backup]\nretry_for = \"2m\"\n[[destinations]]\nname='a'\ntype='local'\npath='x'\n\
             [[destinations]]\nname='b'\ntype='local'\npath='y'\nretry_for = 15\n",
        )
        .unwrap();
        let budget =
            |i: usize| crate::config::destinations::retry_policy(&c, &c.destinations[i]).budget;
        assert_eq!(budget(0), Duration::from_mins(2));
        assert_eq!(budget(1), Duration::from_secs(15));
        let d = parse("[[destinations]]\nname='a'\ntype='local'\npath='x'\n").unwrap();
        assert_eq!(
            crate::config::destinations::retry_policy(&d, &d.destinations[0]).budget,
            cloudmirror_contract::DEFAULT_RETRY_FOR
        );
        let err = parse("[[destinations]]\nname='a'\ntype='local'\npath='x'\nretry_for='soon'\n")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("cm.toml:5:") && err.contains("retry_for"),
            "{err}"
        );
    }

    #[test]
    fn embedded_default_is_one_local_destination() {
        let c = Config::parse(
            EMBEDDED_DEFAULT,
            ConfigOrigin::Embedded,
            PathBuf::from("."),
            &env,
        )
        .unwrap();
        assert_eq!(c.destinations.len(), 1);
        assert_eq!(c.destinations[0].kind, "local");
        assert_eq!(c.backup.compress, Compression::Gzip);
    }

    #[test]
    fn expands_variables() {
        assert_eq!(expand("a-${BUCKET}-b", &env).unwrap(), "a-acme-b");
        assert_eq!(expand("$${BUCKET} $5", &env).unwrap(), "${BUCKET} $5");
        assert_eq!(expand("${NOPE}", &env).unwrap_err(), "NOPE");
    }

    #[test]
    fn destinations_parse_with_prefix_and_settings() {
        let c = parse("[[destinations]]\nname = \"s3\"\ntype = \"s3\"\nbucket = \"${BUCKET}\"\nprefix = \"db\"\n").unwrap();
        let d = &c.destinations[0];
        assert_eq!(d.prefix.as_str(), "db/");
        assert_eq!(d.settings["bucket"].as_str(), Some("acme"));
        assert!(!d.settings.contains_key("name"));
    }

    #[test]
    fn errors_name_file_line_and_field() {
        let cases = [
            ("[backup]\ncompress = \"zip\"\n[[destinations]]\nname='a'\ntype='local'\npath='x'\n", "cm.toml:2:", "compress"),
            ("[backup]\nnmae = 'x'\n[[destinations]]\nname='a'\ntype='local'\npath='x'\n", "cm.toml:2:", "nmae"),
            ("[[destinations]]\nname='a'\ntype='ftp'\n", "cm.toml:3:", "unknown type \"ftp\""),
            ("[[destinations]]\nname='a'\ntype='local'\n[[destinations]]\nname='a'\ntype='local'\n", "cm.toml:5:", "duplicate destination name"),
            ("[[destinations]]\nname='a'\ntype='local'\npath='${NOPE}'\n", "cm.toml:4:", "NOPE is not set"),
            ("[[destinations]]\nname='a'\ntype='local'\nprefix='../x'\n", "cm.toml:4:", "prefix"),
            ("[[destinations]]\nname = \n", "cm.toml:2:", "invalid TOML"),
            ("colour = 1\n[[destinations]]\nname='a'\ntype='local'\n", "cm.toml:1:", "colour"),
            ("", "cm.toml", "no [[destinations]]"),
            ("[[destinations]]\ntype='local'\n", "cm.toml:1:", "no `name`"),
        ];
        for (text, loc, frag) in cases {
            let err = parse(text).unwrap_err().to_string();
            assert!(err.starts_with(loc), "{err:?} should start with {loc:?}");
            assert!(err.contains(frag), "{err:?} should mention {frag:?}");
        }
    }

    #[test]
    fn adapter_settings_errors_name_destination_and_field() {
        #[derive(Debug, Deserialize)]
        #[serde(deny_unknown_fields)]
        #[allow(dead_code)]
        struct Local {
            path: String,
            depth: Option<u32>,
        }
        let c = parse("[[destinations]]\nname='a'\ntype='local'\npath='x'\npaht='y'\n").unwrap();
        let err = c
            .adapter_settings::<Local>(&c.destinations[0])
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("cm.toml:5:"), "{err}");
        assert!(
            err.contains("destination \"a\"") && err.contains("paht"),
            "{err}"
        );
        let c = parse("[[destinations]]\nname='a'\ntype='local'\npath='x'\ndepth='secret-value'\n")
            .unwrap();
        let err = c
            .adapter_settings::<Local>(&c.destinations[0])
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("cm.toml:5:") && err.contains("depth"),
            "{err}"
        );
        assert!(
            !err.contains("secret-value"),
            "values are not echoed: {err}"
        );
    }

    #[test]
    fn enum_values_are_not_echoed() {
        // Found by `cargo xtask fuzz` (config target): a `${VAR}` value in an enum field was
        // echoed by serde's "unknown variant" message.
        let env = |n: &str| (n == "S").then(|| "secret-from-env".to_owned());
        let err = Config::parse(
            "[backup]\ncompress = \"${S}\"\n[[destinations]]\nname='a'\ntype='local'\n",
            ConfigOrigin::File("cm.toml".into()),
            PathBuf::from("."),
            &env,
        )
        .unwrap_err()
        .to_string();
        assert!(
            err.starts_with("cm.toml:2:") && err.contains("compress"),
            "{err}"
        );
        assert!(err.contains("expected one of"), "{err}");
        assert!(!err.contains("secret-from-env"), "{err}");
    }

    #[test]
    fn select_checks_names() {
        let c = parse(
            "[[destinations]]\nname='a'\ntype='local'\n[[destinations]]\nname='b'\ntype='local'\n",
        )
        .unwrap();
        assert_eq!(c.select(&[]).unwrap().len(), 2);
        assert_eq!(c.select(&["b".into()]).unwrap()[0].name, "b");
        let err = c.select(&["zzz".into()]).unwrap_err().to_string();
        assert!(err.contains("zzz") && err.contains("a, b"), "{err}");
    }
}
