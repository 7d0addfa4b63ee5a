//! `[[jobs]]`: several backup jobs in one config. Each job becomes an effective [`Config`]: its
//! `[jobs.backup]` keys override the top-level `[backup]` keys, its `[jobs.retention]` and
//! `[jobs.health]` tables replace the top-level ones, its destinations are the named ones (all by
//! default) and every key it stores lands under its `prefix` (default `"{job}/"`) inside each
//! destination's own prefix. Without `[[jobs]]` the whole file is the implicit job
//! [`DEFAULT_JOB`], with no extra prefix, exactly as before.

use cloudmirror_contract::Prefix;
use serde::Deserialize;

use super::source::{with, Seg, SourceIndex};
use super::{BackupConfig, Config};
use crate::lifecycle::health::HealthPolicy;
use crate::lifecycle::retention::RetentionPolicy;
use crate::schedule::ScheduleConfig;
use crate::Error;

/// The name of the implicit job of a config without `[[jobs]]`.
pub const DEFAULT_JOB: &str = "default";

/// The default `prefix` of a job: its own folder in every destination.
pub const DEFAULT_JOB_PREFIX: &str = "{job}/";

/// One `[[jobs]]` table, validated.
#[derive(Debug, Clone)]
pub struct JobConfig {
    /// Unique name: letters, digits, `-` and `_`.
    pub name: String,
    /// Index in the `jobs` array (for error locations).
    pub index: usize,
    /// `schedule`: when `daemon` runs the job (the top-level `[schedule]` when absent).
    pub schedule: Option<ScheduleConfig>,
    /// `destinations`: names from `[[destinations]]`; `None` means all.
    pub destinations: Option<Vec<String>>,
    /// The rendered `prefix` under each destination's own prefix.
    pub prefix: Prefix,
    /// `[backup]` with the job's `[jobs.backup]` keys applied.
    pub backup: BackupConfig,
    /// `[jobs.retention]`, else `None` (the destinations' own or the top-level rules apply).
    pub retention: Option<RetentionPolicy>,
    /// `[jobs.health]`, else the top-level `[health]`.
    pub health: HealthPolicy,
}

/// The keys a `[[jobs]]` table may have besides `backup`, `retention` and `health`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawJob {
    name: String,
    schedule: Option<String>,
    destinations: Option<Vec<String>>,
    prefix: Option<String>,
    backup: Option<toml::Table>,
    retention: Option<toml::Value>,
    health: Option<toml::Value>,
}

/// Whether `name` is a valid job name.
fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

/// Parses every `[[jobs]]` table against the already parsed top level.
pub(super) fn parse_jobs(
    tables: Vec<toml::Table>,
    top_backup: &toml::Table,
    top: &TopLevel<'_>,
    source: &SourceIndex,
) -> Result<Vec<JobConfig>, Error> {
    let mut jobs: Vec<JobConfig> = Vec::new();
    for (index, table) in tables.into_iter().enumerate() {
        let name_hint = table
            .get("name")
            .and_then(toml::Value::as_str)
            .unwrap_or("")
            .to_owned();
        let at = vec![Seg::Key("jobs".into()), Seg::Named(index, name_hint)];
        let raw: RawJob = source.deserialize(toml::Value::Table(table), &at)?;
        let at = vec![Seg::Key("jobs".into()), Seg::Named(index, raw.name.clone())];
        let field = |key: &str| format!("jobs[{index}] ({}).{key}", raw.name);
        if !valid_name(&raw.name) {
            return Err(source.error(
                &with(&at, "name"),
                &format!(
                    "{}: invalid job name {:?}: use letters, digits, - and _",
                    field("name"),
                    raw.name
                ),
            ));
        }
        if jobs.iter().any(|j| j.name == raw.name) {
            return Err(source.error(
                &with(&at, "name"),
                &format!("{}: duplicate job name {:?}", field("name"), raw.name),
            ));
        }
        if let Some(names) = &raw.destinations {
            if names.is_empty() {
                return Err(source.error(
                    &with(&at, "destinations"),
                    &format!(
                        "{}: the list is empty (leave it out to use every destination)",
                        field("destinations")
                    ),
                ));
            }
            if let Some(unknown) = names
                .iter()
                .find(|n| !top.destinations.contains(&n.as_str()))
            {
                return Err(source.error(
                    &with(&at, "destinations"),
                    &format!(
                        "{}: unknown destination {unknown:?} (configured: {})",
                        field("destinations"),
                        top.destinations.join(", ")
                    ),
                ));
            }
        }
        let template = raw.prefix.as_deref().unwrap_or(DEFAULT_JOB_PREFIX);
        let prefix = render_prefix(template, &raw.name).map_err(|message| {
            source.error(
                &with(&at, "prefix"),
                &format!("{}: {message}", field("prefix")),
            )
        })?;
        let mut merged = top_backup.clone();
        merged.extend(raw.backup.clone().unwrap_or_default());
        let backup: BackupConfig =
            source.deserialize(toml::Value::Table(merged), &with(&at, "backup"))?;
        let (retention, health, schedule) = policies(&raw, &at, top, source)?;
        jobs.push(JobConfig {
            name: raw.name.clone(),
            index,
            schedule,
            destinations: raw.destinations.clone(),
            prefix,
            backup,
            retention,
            health,
        });
    }
    check_apart(&jobs, source)?;
    Ok(jobs)
}

/// Refuses two jobs that share a destination when one's prefix contains the other's: listings
/// are recursive, so they would list, restore and prune each other's backups.
fn check_apart(jobs: &[JobConfig], source: &SourceIndex) -> Result<(), Error> {
    let shares = |a: &JobConfig, b: &JobConfig| match (&a.destinations, &b.destinations) {
        (Some(x), Some(y)) => x.iter().any(|d| y.contains(d)),
        _ => true,
    };
    for (i, later) in jobs.iter().enumerate() {
        for earlier in &jobs[..i] {
            let (p, q) = (earlier.prefix.as_str(), later.prefix.as_str());
            if shares(earlier, later) && (p.starts_with(q) || q.starts_with(p)) {
                let at = [
                    Seg::Key("jobs".into()),
                    Seg::Named(later.index, later.name.clone()),
                    Seg::Key("prefix".into()),
                ];
                return Err(source.error(
                    &at,
                    &format!(
                        "jobs[{}] ({}).prefix: {q:?} and job {:?}'s prefix {p:?} overlap, so the jobs would see and prune each other's backups (the default \"{{job}}/\" keeps them apart)",
                        later.index, later.name, earlier.name
                    ),
                ));
            }
        }
    }
    Ok(())
}

/// A job's `[jobs.retention]`, `[jobs.health]` and `schedule`, validated (health and schedule
/// fall back to the top level's).
fn policies(
    raw: &RawJob,
    at: &[Seg],
    top: &TopLevel<'_>,
    source: &SourceIndex,
) -> Result<
    (
        Option<RetentionPolicy>,
        HealthPolicy,
        Option<ScheduleConfig>,
    ),
    Error,
> {
    let field = |key: &str| format!("{}.{key}", super::source::path_string(at));
    let retention = match raw.retention.clone() {
        None => None,
        Some(v) => {
            let policy: RetentionPolicy = source.deserialize(v, &with(at, "retention"))?;
            policy.validate().map_err(|e| {
                source.error(
                    &with(&with(at, "retention"), e.field),
                    &format!("{}.{}: {e}", field("retention"), e.field),
                )
            })?;
            Some(policy)
        }
    };
    let health = match raw.health.clone() {
        None => top.health.clone(),
        Some(v) => {
            let policy: HealthPolicy = source.deserialize(v, &with(at, "health"))?;
            policy.validate().map_err(|e| {
                source.error(
                    &with(&with(at, "health"), e.field),
                    &format!("{}.{}: {e}", field("health"), e.field),
                )
            })?;
            policy
        }
    };
    let schedule = match raw.schedule.clone() {
        Some(cron) => {
            let config = ScheduleConfig {
                cron,
                timezone: top.schedule.and_then(|s| s.timezone.clone()),
            };
            crate::schedule::Schedule::parse(&config).map_err(|e| {
                source.error(
                    &with(at, "schedule"),
                    &format!(
                        "{}: {}",
                        field("schedule"),
                        e.to_string().trim_start_matches("schedule.cron: ")
                    ),
                )
            })?;
            Some(config)
        }
        None => top.schedule.cloned(),
    };
    Ok((retention, health, schedule))
}

/// What a job inherits from the top level.
pub(super) struct TopLevel<'a> {
    pub(super) destinations: Vec<&'a str>,
    pub(super) health: &'a HealthPolicy,
    pub(super) schedule: Option<&'a ScheduleConfig>,
}

/// Renders a job's `prefix` template (`{job}` is the job's name) into a folder prefix.
fn render_prefix(template: &str, job: &str) -> Result<Prefix, String> {
    let rendered = template.replace("{job}", job);
    let p = rendered.trim_start_matches('/');
    let p = if p.is_empty() || p.ends_with('/') {
        p.to_owned()
    } else {
        format!("{p}/")
    };
    Prefix::parse(&p).map_err(|e| format!("invalid prefix: {}", e.message()))
}

/// A job and its effective configuration.
#[derive(Debug, Clone)]
pub struct Job {
    /// The job's name ([`DEFAULT_JOB`] for a config without `[[jobs]]`).
    pub name: String,
    /// The configuration every command uses for this job.
    pub config: Config,
}

impl Config {
    /// Whether the file declares `[[jobs]]` (otherwise it is the one implicit job).
    pub fn has_jobs(&self) -> bool {
        !self.jobs.is_empty()
    }

    /// The names of the jobs, in file order (`["default"]` without `[[jobs]]`).
    pub fn job_names(&self) -> Vec<&str> {
        if self.jobs.is_empty() {
            vec![DEFAULT_JOB]
        } else {
            self.jobs.iter().map(|j| j.name.as_str()).collect()
        }
    }

    /// Every job's effective configuration, in file order.
    pub fn all_jobs(&self) -> Vec<Job> {
        if self.jobs.is_empty() {
            return vec![Job {
                name: DEFAULT_JOB.to_owned(),
                config: self.clone(),
            }];
        }
        self.jobs.iter().map(|j| self.effective(j)).collect()
    }

    /// The job named `name`; an unknown name is a usage error listing the configured ones.
    pub fn job(&self, name: &str) -> Result<Job, Error> {
        self.all_jobs()
            .into_iter()
            .find(|j| j.name == name)
            .ok_or_else(|| {
                Error::Usage(format!(
                    "unknown job {name:?} in --job (configured: {})",
                    self.job_names().join(", ")
                ))
            })
    }

    /// `job`'s effective configuration.
    fn effective(&self, job: &JobConfig) -> Job {
        let mut config = self.clone();
        config.jobs = Vec::new();
        config.backup = job.backup.clone();
        config.health = job.health.clone();
        config.schedule.clone_from(&job.schedule);
        if job.retention.is_some() {
            config.retention.clone_from(&job.retention);
        }
        config.destinations = self
            .destinations
            .iter()
            .filter(|d| {
                job.destinations
                    .as_ref()
                    .is_none_or(|names| names.contains(&d.name))
            })
            .cloned()
            .map(|mut d| {
                d.prefix = d.prefix.join(&job.prefix);
                if job.retention.is_some() {
                    d.retention.clone_from(&job.retention);
                }
                d
            })
            .collect();
        Job {
            name: job.name.clone(),
            config,
        }
    }
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::*;
    use crate::config::ConfigOrigin;

    fn parse(text: &str) -> Result<Config, Error> {
        Config::parse(
            text,
            ConfigOrigin::File("cm.toml".into()),
            PathBuf::from("/etc/cm"),
            &|_| None,
        )
    }

    const BASE: &str = "[backup]\nspool_dir = \"/spool\"\ncompress = \"zstd\"\n\
                        [retention]\nkeep_last = 9\n[schedule]\ncron = \"0 1 * * *\"\ntimezone = \"Europe/Berlin\"\n\
                        [[destinations]]\nname = \"a\"\ntype = \"local\"\npath = \"x\"\nprefix = \"daily\"\n\
                        [[destinations]]\nname = \"b\"\ntype = \"local\"\npath = \"y\"\n";

    #[test]
    fn without_jobs_the_file_is_the_implicit_job_unchanged() {
        let c = parse(BASE).unwrap();
        assert!(!c.has_jobs());
        let jobs = c.all_jobs();
        assert_eq!(jobs.len(), 1);
        assert_eq!(jobs[0].name, DEFAULT_JOB);
        assert_eq!(jobs[0].config.destinations[0].prefix.as_str(), "daily/");
        assert_eq!(jobs[0].config.destinations[1].prefix.as_str(), "");
    }

    #[test]
    fn a_job_overrides_backup_keys_and_replaces_retention() {
        let c = parse(&format!(
            "{BASE}[[jobs]]\nname = \"pg\"\nschedule = \"0 3 * * *\"\ndestinations = [\"a\"]\n\
             [jobs.backup]\nexec = \"pg_dump\"\ncompress = \"gzip\"\n[jobs.retention]\nkeep_daily = 7\n\
             [[jobs]]\nname = \"files\"\nprefix = \"up/{{job}}\"\n"
        ))
        .unwrap();
        let pg = c.job("pg").unwrap().config;
        assert_eq!(pg.backup.exec.as_deref(), Some("pg_dump"));
        assert_eq!(
            pg.backup.compress,
            crate::backup::compress::Compression::Gzip
        );
        assert_eq!(
            pg.backup.spool_dir,
            Some(PathBuf::from("/spool")),
            "inherited"
        );
        assert_eq!(pg.destinations.len(), 1);
        assert_eq!(pg.destinations[0].prefix.as_str(), "daily/pg/");
        assert_eq!(pg.retention_of("a").and_then(|r| r.keep_daily), Some(7));
        assert_eq!(pg.retention_of("a").and_then(|r| r.keep_last), None);
        let schedule = pg.schedule.unwrap();
        assert_eq!(schedule.cron, "0 3 * * *");
        assert_eq!(schedule.timezone.as_deref(), Some("Europe/Berlin"));
        let files = c.job("files").unwrap().config;
        assert_eq!(files.destinations.len(), 2);
        assert_eq!(files.destinations[1].prefix.as_str(), "up/files/");
        assert_eq!(files.retention_of("b").and_then(|r| r.keep_last), Some(9));
        assert_eq!(files.schedule.unwrap().cron, "0 1 * * *");
        let err = c.job("nope").unwrap_err().to_string();
        assert!(err.contains("pg, files"), "{err}");
    }

    #[test]
    fn overlapping_prefixes_on_a_shared_destination_are_refused() {
        let two = |first: &str, second: &str| {
            parse(&format!(
                "{BASE}[[jobs]]\nname = \"one\"\n{first}\n[[jobs]]\nname = \"two\"\n{second}\n"
            ))
        };
        let err = two("prefix = \"\"", "").unwrap_err().to_string();
        assert!(
            err.contains("jobs[1] (two).prefix:") && err.contains("overlap"),
            "{err}"
        );
        let err = two("prefix = \"db/\"", "prefix = \"db/two\"")
            .unwrap_err()
            .to_string();
        assert!(err.contains("overlap"), "{err}");
        // Apart, or on different destinations: fine.
        two("prefix = \"db-one\"", "prefix = \"db-two\"").unwrap();
        two(
            "prefix = \"\"\ndestinations = [\"a\"]",
            "destinations = [\"b\"]",
        )
        .unwrap();
    }
}
