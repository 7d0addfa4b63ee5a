//! Loading `cloudmirror.toml`: discovery, `${VAR}` substitution, and errors that name file, line and field.

pub mod daemon;
pub mod destinations;
pub mod duration;
mod hint;
pub mod jobs;
pub mod named;
pub mod plan;
pub(crate) mod prefixed;
pub mod secrets;
mod source;
mod vars;

use std::collections::BTreeSet;
use std::fmt;
use std::path::{Path, PathBuf};

use cloudmirror_contract::Prefix;
use serde::de::DeserializeOwned;
use serde::Deserialize;

use crate::backup::compress::Compression;
use crate::lifecycle::retention::RetentionPolicy;
use crate::Error;
use source::{path_string, with, Seg, SourceIndex};
use vars::substitute_env;

/// The configuration used when no file is found: one local destination, `./backups`.
pub(crate) const EMBEDDED_DEFAULT: &str = r#"# cloudmirror's embedded default: one local folder.
[backup]
compress = "gzip"

[[destinations]]
name = "local"
type = "local"
path = "./backups"
"#;

/// Environment variable naming the config file when `--config` is not given.
pub(crate) const CONFIG_ENV: &str = "CLOUDMIRROR_CONFIG";
/// File looked for in the current folder when neither `--config` nor the variable is set.
pub(crate) const DEFAULT_FILE: &str = "cloudmirror.toml";

/// Destination types cloudmirror knows.
pub const DESTINATION_TYPES: &[&str] = &[
    "local", "s3", "dropbox", "gdrive", "supabase", "webdav", "sftp", "azure",
];

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
    pub retention: Option<RetentionPolicy>,
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
    pub retention: Option<RetentionPolicy>,
    /// `[health]`: thresholds of `status`.
    pub health: crate::lifecycle::health::HealthPolicy,
    /// `[schedule]`: when `daemon` runs the backup job.
    pub schedule: Option<crate::schedule::ScheduleConfig>,
    /// `[notify]`: the webhook told about each backup run.
    pub notify: Option<crate::schedule::notify::NotifyConfig>,
    /// `[encryption]`: age recipients every backup is encrypted to.
    pub encryption: Option<crate::backup::encrypt::EncryptionConfig>,
    /// `[daemon]`: how `daemon` runs the jobs.
    pub daemon: daemon::DaemonConfig,
    /// `[[jobs]]`, in file order (empty: the file is the one implicit job; see [`jobs`]).
    pub jobs: Vec<jobs::JobConfig>,
    source: SourceIndex,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    #[serde(default)]
    backup: BackupConfig,
    #[serde(default)]
    destinations: Vec<toml::Table>,
    retention: Option<RetentionPolicy>,
    #[serde(default)]
    health: crate::lifecycle::health::HealthPolicy,
    schedule: Option<crate::schedule::ScheduleConfig>,
    notify: Option<crate::schedule::notify::NotifyConfig>,
    encryption: Option<crate::backup::encrypt::EncryptionConfig>,
    #[serde(default)]
    jobs: Vec<toml::Table>,
    #[serde(default)]
    daemon: daemon::DaemonConfig,
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
        let top_backup = value
            .get("backup")
            .and_then(toml::Value::as_table)
            .cloned()
            .unwrap_or_default();
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
        let top = jobs::TopLevel {
            destinations: destinations.iter().map(|d| d.name.as_str()).collect(),
            health: &raw.health,
            schedule: raw.schedule.as_ref(),
        };
        let jobs = jobs::parse_jobs(raw.jobs, &top_backup, &top, &source)?;
        raw.daemon
            .validate()
            .map_err(|e| source.error(&[Seg::Key("daemon".into())], &format!("daemon.{e}")))?;
        Ok(Self {
            jobs,
            daemon: raw.daemon,
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
    pub(crate) fn adapter_settings<T: DeserializeOwned>(
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
    pub(crate) fn recipients(&self) -> Result<Option<crate::backup::encrypt::Recipients>, Error> {
        self.encryption
            .as_ref()
            .map(crate::backup::encrypt::EncryptionConfig::recipients)
            .transpose()
    }

    /// The retention rules of the destination named `destination` (its own, else `[retention]`).
    pub fn retention_of(&self, destination: &str) -> Option<&RetentionPolicy> {
        self.destinations
            .iter()
            .find(|d| d.name == destination)
            .and_then(|d| d.retention.as_ref())
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

/// Parses one `[[destinations]]` table: the common keys, its retention, and the adapter's settings.
fn parse_destination(
    index: usize,
    mut table: toml::Table,
    global_retention: Option<&RetentionPolicy>,
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
                "destination {name:?}: unknown type {kind:?} (expected one of {}){}",
                DESTINATION_TYPES.join(", "),
                hint::did_you_mean(&kind, DESTINATION_TYPES)
                    .map(|t| format!(" (did you mean `{t}`?)"))
                    .unwrap_or_default()
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
            let policy: RetentionPolicy = source.deserialize(v, &with(&at, "retention"))?;
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

#[cfg(test)]
mod tests;
