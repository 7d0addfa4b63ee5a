//! Which jobs a command runs for (`--job NAME`, `--all-jobs`, every job), the `== job NAME`
//! headers between them, and the `"job"` field of their JSON output.

use std::sync::Mutex;

use cloudmirror::catalog;
use cloudmirror::config::destinations;
use cloudmirror::config::jobs::Job;
use cloudmirror::config::Config;
use cloudmirror::{Error, ExitStatus};

use crate::{Cli, Command};

/// The job whose output is being printed, when the config declares `[[jobs]]`.
static CURRENT_JOB: Mutex<Option<String>> = Mutex::new(None);

/// Prints one JSON object on stdout, with a `"job"` field while a `[[jobs]]` job runs.
pub(crate) fn print_json(mut value: serde_json::Value) {
    let job = CURRENT_JOB.lock().ok().and_then(|j| j.clone());
    if let (Some(job), Some(map)) = (job, value.as_object_mut()) {
        map.insert("job".into(), job.into());
    }
    println!("{value}");
}

fn set_current(job: Option<&str>) {
    if let Ok(mut current) = CURRENT_JOB.lock() {
        *current = job.map(str::to_owned);
    }
}

/// Runs the command for each job it covers, in file order; without `[[jobs]]` it runs once,
/// exactly as before.
pub(super) async fn run(cli: &Cli, config: &Config) -> Result<ExitStatus, Error> {
    let jobs = select(cli, config).await?;
    if matches!(cli.command, Command::Daemon) {
        return super::daemon::run(cli, config, jobs).await;
    }
    if !config.has_jobs() {
        // The implicit job: output stays as it always was.
        let [job] = <[Job; 1]>::try_from(jobs)
            .map_err(|_| Error::Usage("the implicit job is a single job".into()))?;
        return super::run_job(cli, &job.config).await;
    }
    if is_prometheus(cli) && !cli.json {
        // One exposition for every selected job, each series labelled with its job.
        return super::status::prometheus_jobs(cli, &jobs).await;
    }
    if let [job] = jobs.as_slice() {
        set_current(Some(&job.name));
        let result = super::run_job(cli, &job.config).await;
        set_current(None);
        return result;
    }
    let mut statuses = Vec::new();
    for job in &jobs {
        if !cli.json {
            println!("== job {}", job.name);
        }
        set_current(Some(&job.name));
        let status = match super::run_job(cli, &job.config).await {
            Ok(status) => status,
            Err(e) => {
                if cli.json {
                    print_json(serde_json::json!({ "ok": false, "error": e.to_string() }));
                }
                super::logging::error(format_args!("job {}: {e}", job.name));
                ExitStatus::Failure
            }
        };
        set_current(None);
        statuses.push(status);
    }
    Ok(combine(&cli.command, &statuses))
}

fn is_prometheus(cli: &Cli) -> bool {
    matches!(
        cli.command,
        Command::Status {
            format: crate::StatusFormat::Prometheus
        }
    )
}

/// Several jobs' exit statuses as one: `status` reports the worst; other commands are 0 when every
/// job succeeded, 2 when every job failed, 1 otherwise.
fn combine(command: &Command, statuses: &[ExitStatus]) -> ExitStatus {
    if matches!(command, Command::Status { .. }) {
        return statuses
            .iter()
            .copied()
            .max_by_key(|s| s.code())
            .unwrap_or(ExitStatus::Success);
    }
    if statuses.iter().all(|s| *s == ExitStatus::Success) {
        ExitStatus::Success
    } else if statuses.iter().all(|s| *s == ExitStatus::Failure) {
        ExitStatus::Failure
    } else {
        ExitStatus::Partial
    }
}

/// The jobs the command covers.
async fn select(cli: &Cli, config: &Config) -> Result<Vec<Job>, Error> {
    if let Some(name) = &cli.job {
        return Ok(vec![config.job(name)?]);
    }
    let all = config.all_jobs();
    if all.len() == 1 {
        return Ok(all);
    }
    let names = config.job_names().join(", ");
    match &cli.command {
        Command::Backup { all_jobs: true, .. } | Command::Daemon => Ok(all),
        Command::Backup { .. } => Err(Error::Usage(format!(
            "this config has several jobs: give --job NAME or --all-jobs (jobs: {names})"
        ))),
        Command::Restore { name, .. } if name == "latest" => Err(Error::Usage(format!(
            "`restore latest` needs --job NAME when the config has several jobs (jobs: {names})"
        ))),
        Command::Restore { name, .. } | Command::Delete { name } => {
            Ok(vec![job_holding(cli, all, name).await?])
        }
        _ => Ok(all),
    }
}

/// The first job (in file order) whose destinations hold a backup named `name`.
async fn job_holding(cli: &Cli, jobs: Vec<Job>, name: &str) -> Result<Job, Error> {
    let names: Vec<String> = jobs.iter().map(|j| j.name.clone()).collect();
    for job in jobs {
        let dests = destinations::open_selected(&job.config, &cli.to).await?;
        let listings = catalog::list(&dests).await;
        if catalog::summarize(&listings).iter().any(|r| r.name == name) {
            return Ok(job);
        }
    }
    Err(Error::Usage(format!(
        "no job has a backup named {name:?}; give --job NAME (jobs: {})",
        names.join(", ")
    )))
}
