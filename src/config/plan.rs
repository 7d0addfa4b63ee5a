//! `config` → plans: the one place a [`BackupPlan`] is built from a [`Config`] (the stages never
//! read the configuration themselves).

use chrono::{DateTime, Utc};
use cloudmirror_contract::Key;

use crate::backup::compress::resolve_level;
use crate::backup::template::{self, NameInputs};
use crate::backup::{BackupPlan, Source};
use crate::config::Config;
use crate::restore::target::SAFETY_TEMPLATE;
use crate::Error;

impl BackupPlan {
    /// A plan for `source` stored as `name`, with compression, level, spool folder and encryption
    /// from `[backup]` / `[encryption]`; errors name the bad setting.
    pub fn from_config(
        config: &Config,
        source: Source,
        name: Key,
        pre_restore: bool,
    ) -> Result<Self, Error> {
        let compression = config.backup.compress;
        let level = resolve_level(compression, config.backup.level)
            .map_err(|e| Error::Config(format!("{}: {e}", config.origin)))?;
        Ok(Self {
            source,
            name,
            compression,
            level,
            spool_dir: config
                .backup
                .spool_dir
                .as_ref()
                .map(|p| config.resolve_path(p)),
            spool_limit: config.backup.spool_limit.unwrap_or_default(),
            spool_mode: crate::backup::spool::SpoolMode::Auto,
            pre_restore,
            recipients: config.recipients()?,
            cancel: None,
        })
    }
}

/// The plan of a safety backup: the configured `[backup] exec` job, named after [`SAFETY_TEMPLATE`]
/// and marked `pre_restore`. Without `[backup] exec` there is nothing to run: a usage error.
pub fn safety_backup_plan(config: &Config, now: DateTime<Utc>) -> Result<BackupPlan, Error> {
    let Some(command) = config.backup.exec.as_deref() else {
        return Err(Error::Usage(format!(
            "--safety-backup runs the configured backup job, but {} has no [backup] exec \
             (e.g. exec = \"pg_dump --format=plain $DATABASE_URL\")",
            config.origin
        )));
    };
    let source = Source::Exec(command.to_owned());
    let compression = config.backup.compress;
    let inputs = NameInputs::for_source(source.file_name().as_deref(), now);
    let name = template::render(SAFETY_TEMPLATE, &inputs, compression)?;
    BackupPlan::from_config(config, source, name, true)
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use chrono::TimeZone;

    use super::*;
    use crate::backup::compress::Compression;
    use crate::config::ConfigOrigin;

    fn config(text: &str) -> Config {
        Config::parse(
            &format!("{text}\n[[destinations]]\nname = \"l\"\ntype = \"local\"\npath = \"b\"\n"),
            ConfigOrigin::File("cm.toml".into()),
            PathBuf::from("/etc/cm"),
            &|_| None,
        )
        .unwrap()
    }

    #[test]
    fn the_safety_backup_is_the_exec_job_marked_pre_restore() {
        let c = config(
            "[backup]\nexec = \"/usr/bin/pg_dump --format=plain $DATABASE_URL\"\nname = \"db-{date}.sql\"\ncompress = \"zstd\"\n",
        );
        let now = Utc.with_ymd_and_hms(2026, 11, 23, 2, 5, 9).unwrap();
        let plan = safety_backup_plan(&c, now).unwrap();
        assert!(plan.pre_restore);
        assert_eq!(
            plan.name.as_str(),
            "pre-restore-2026-11-23-020509-pg_dump.zst"
        );
        assert_eq!(plan.compression, Compression::Zstd);
        assert_eq!(
            plan.source,
            Source::Exec("/usr/bin/pg_dump --format=plain $DATABASE_URL".into())
        );
    }

    #[test]
    fn a_safety_backup_needs_backup_exec() {
        let err = safety_backup_plan(&config("[backup]\n"), Utc::now())
            .unwrap_err()
            .to_string();
        assert!(err.contains("[backup] exec"), "{err}");
        assert!(err.contains("cm.toml"), "{err}");
    }
}
