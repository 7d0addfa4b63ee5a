//! `check`: tests each selected destination (list, write, read back, find, delete; `--read-only`
//! lists only) and the config itself (retention that keeps nothing new, a `[backup] exec` program
//! that is not on PATH, a spool folder too small for the last backup). Exit 0 all good, 1 some
//! destinations fail, 2 none usable or a bad config.

use std::path::Path;

use chrono::Utc;
use cloudmirror::catalog;
use cloudmirror::config::Config;
use cloudmirror::destination::Destination;
use cloudmirror::lifecycle::probe::{self, Probe};
use cloudmirror::lifecycle::retention::{self, BackupInfo};
use cloudmirror::ExitStatus;
use serde::Serialize;

use super::human_bytes;
use crate::Cli;

/// A problem in the config itself.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct ConfigProblem {
    /// The setting (`[backup] exec`, `destinations.<name>.retention`, ...).
    pub(crate) setting: String,
    /// What is wrong and what to change.
    pub(crate) problem: String,
}

/// Runs the checks and prints them.
pub(crate) async fn run(
    cli: &Cli,
    config: &Config,
    dests: &[Destination],
    read_only: bool,
) -> ExitStatus {
    let probes = futures::future::join_all(dests.iter().map(|d| probe::probe(d, read_only))).await;
    let mut problems = retention_problems(config, dests);
    if let Some(p) = exec_problem(
        config.backup.exec.as_deref(),
        std::env::var_os("PATH").as_deref(),
    ) {
        problems.push(p);
    }
    let spool = config
        .backup
        .spool_dir
        .as_ref()
        .map_or_else(std::env::temp_dir, |d| config.resolve_path(d));
    if let Some(p) = spool_problem(&spool, last_backup_size(dests).await) {
        problems.push(p);
    }
    let usable = probes.iter().filter(|p| p.ok).count();
    let status = if !problems.is_empty() || usable == 0 {
        ExitStatus::Failure
    } else {
        ExitStatus::from_counts(usable, probes.len())
    };
    if cli.json {
        super::jobs::print_json(serde_json::json!({
            "ok": status == ExitStatus::Success,
            "read_only": read_only,
            "config": problems,
            "destinations": probes,
        }));
    } else {
        print_text(&probes, &problems, read_only);
    }
    status
}

fn print_text(probes: &[Probe], problems: &[ConfigProblem], read_only: bool) {
    for p in probes {
        println!(
            "{:<8} {:<16} ({})",
            if p.ok { "ok" } else { "FAILED" },
            p.destination,
            p.kind
        );
        for s in &p.steps {
            println!(
                "  {:<4} {:<7} {}",
                if s.ok { "ok" } else { "fail" },
                s.step,
                s.detail
            );
            if let Some(h) = &s.hint {
                println!("               -> {h}");
            }
        }
    }
    if read_only {
        println!("(--read-only: nothing was written)");
    }
    for c in problems {
        println!("config   {}: {}", c.setting, c.problem);
    }
}

/// Retention that keeps nothing but the newest backup. The planner always keeps the newest, so
/// "nothing new" shows as a policy under which, after two months of daily backups, tonight's is
/// the only copy left: one bad backup and there is nothing to restore from.
fn retention_problems(config: &Config, dests: &[Destination]) -> Vec<ConfigProblem> {
    let now = Utc::now();
    dests
        .iter()
        .filter_map(|d| {
            let policy = config.retention_of(&d.name).filter(|p| p.has_rules())?;
            keeps_only_the_newest(policy, now).then(|| ConfigProblem {
                setting: format!("destination {:?} retention", d.name),
                problem: "keeps nothing but the newest backup: after a bad backup there is                           nothing to restore from (raise keep_last, or add keep_daily)"
                    .into(),
            })
        })
        .collect()
}

/// Whether `policy`, after 60 daily backups of equal size ending at `now`, keeps only one.
fn keeps_only_the_newest(policy: &retention::RetentionPolicy, now: chrono::DateTime<Utc>) -> bool {
    let history: Vec<BackupInfo> = (0..60)
        .map(|i| BackupInfo {
            name: format!("b{i:02}"),
            created_at: now - chrono::Duration::days(i),
            size: 1,
            pre_restore: false,
        })
        .collect();
    retention::plan(&history, policy, now).kept().count() <= 1
}

/// `[backup] exec`'s program (its first word after `VAR=value` assignments) must be on PATH.
fn exec_problem(exec: Option<&str>, path: Option<&std::ffi::OsStr>) -> Option<ConfigProblem> {
    let program = exec?
        .split_whitespace()
        .find(|w| !w.contains('=') || w.starts_with('='))?;
    // Shell syntax (`(`, `$VAR`, builtins) cannot be judged without running it.
    if program.starts_with(['(', '$', '{']) || ["exec", "env", "cd"].contains(&program) {
        return None;
    }
    let found = if program.contains('/') {
        Path::new(program).is_file()
    } else {
        path.map(std::env::split_paths)
            .into_iter()
            .flatten()
            .any(|dir| dir.join(program).is_file())
    };
    (!found).then(|| ConfigProblem {
        setting: "[backup] exec".into(),
        problem: format!(
            "the program `{program}` is not on PATH: install it or give its full path"
        ),
    })
}

/// The size of the newest backup on any reachable destination.
async fn last_backup_size(dests: &[Destination]) -> Option<u64> {
    let listed = futures::future::join_all(dests.iter().map(catalog::backups_on)).await;
    listed
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|b| Some((b.modified?, b.size)))
        .max_by_key(|(t, _)| *t)
        .map(|(_, size)| size)
}

/// The spool folder must exist and have room for a backup as large as the last one.
fn spool_problem(dir: &Path, last_size: Option<u64>) -> Option<ConfigProblem> {
    let stat = match rustix::fs::statvfs(dir) {
        Ok(s) => s,
        Err(e) => {
            return Some(ConfigProblem {
                setting: "[backup] spool_dir".into(),
                problem: format!("cannot use {}: {e}", dir.display()),
            })
        }
    };
    let free = stat.f_bavail.saturating_mul(stat.f_frsize);
    let need = last_size?;
    (free < need).then(|| ConfigProblem {
        setting: "[backup] spool_dir".into(),
        problem: format!(
            "{} has {} free, less than the last backup ({}): free space or set spool_dir",
            dir.display(),
            human_bytes(free),
            human_bytes(need)
        ),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retention_that_keeps_only_the_newest_is_found() {
        let now = Utc::now();
        let policy = |keep_last, keep_daily| retention::RetentionPolicy {
            keep_last,
            keep_daily,
            ..Default::default()
        };
        assert!(keeps_only_the_newest(&policy(Some(1), None), now));
        assert!(keeps_only_the_newest(&policy(None, Some(1)), now));
        assert!(!keeps_only_the_newest(&policy(Some(2), None), now));
        assert!(!keeps_only_the_newest(&policy(Some(1), Some(7)), now));
    }

    #[test]
    fn exec_programs_are_looked_up_on_path() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("pg_dump"), "").unwrap();
        let path = Some(dir.path().as_os_str());
        assert!(exec_problem(Some("pg_dump -Fc db"), path).is_none());
        assert!(exec_problem(Some("PGPASSWORD=x pg_dump db"), path).is_none());
        let p = exec_problem(Some("mysqldumpp --all"), path).unwrap();
        assert!(p.problem.contains("`mysqldumpp` is not on PATH"), "{p:?}");
        assert!(exec_problem(None, path).is_none());
        assert!(exec_problem(Some("/no/such/prog x"), path).is_some());
    }

    #[test]
    fn a_spool_folder_smaller_than_the_last_backup_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path().to_path_buf();
        assert!(spool_problem(&d, Some(1)).is_none());
        let p = spool_problem(&d, Some(u64::MAX)).unwrap();
        assert!(p.problem.contains("less than the last backup"), "{p:?}");
        assert!(spool_problem(&d.join("missing"), None).is_some());
    }
}
