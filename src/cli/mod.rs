//! Runs one parsed command and prints its result (human lines or `--json`).

use std::io::IsTerminal;
use std::path::PathBuf;

use chrono::Utc;
use cloudmirror::backup::template::{self, NameInputs, DEFAULT_TEMPLATE};
use cloudmirror::backup::{self, BackupPlan, Source};
use cloudmirror::catalog;
use cloudmirror::config::destinations;
use cloudmirror::config::Config;
use cloudmirror::destination::Destination;
use cloudmirror::lifecycle;
use cloudmirror::{Error, ExitStatus};
use cloudmirror_contract::Key;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::{Cli, Command};

mod check;
mod daemon;
mod docs;
mod init;
mod jobs;
pub(crate) mod logging;
mod prometheus;
mod restore_flow;
mod status;

/// Runs the command; errors are printed here and turned into exit statuses.
pub(crate) async fn run(cli: &Cli) -> ExitStatus {
    match dispatch(cli).await {
        Ok(status) => status,
        Err(e) => {
            if cli.json {
                println!(
                    "{}",
                    serde_json::json!({ "ok": false, "error": e.to_string() })
                );
            }
            crate::cli::logging::error(format_args!("{e}"));
            // Bad config or input, or nothing could be done: 2 either way.
            ExitStatus::Failure
        }
    }
}

async fn dispatch(cli: &Cli) -> Result<ExitStatus, Error> {
    // Commands that need no config.
    match &cli.command {
        Command::Init { with, path } => {
            init::run(with, path)?;
            return Ok(ExitStatus::Success);
        }
        Command::Completions { shell } => {
            docs::completions(*shell);
            return Ok(ExitStatus::Success);
        }
        Command::Man => {
            docs::man()?;
            return Ok(ExitStatus::Success);
        }
        _ => {}
    }
    let env = |name: &str| std::env::var(name).ok();
    let config = Config::discover(cli.config.as_deref(), &env)?;
    if let Some(w) = cloudmirror::config::secrets::world_readable_warning(&config.origin) {
        crate::cli::logging::warning(format_args!("{w}"));
    }
    tracing::debug!(config = %config.origin, "configuration loaded");
    jobs::run(cli, &config).await
}

/// Runs a command that needs a config, for one job's effective configuration.
async fn run_job(cli: &Cli, config: &Config) -> Result<ExitStatus, Error> {
    match &cli.command {
        Command::Daemon => daemon::run(cli, config, config.all_jobs()).await,
        Command::Backup {
            source,
            exec,
            name,
            verify,
            ..
        } => {
            let dests = destinations::open_selected(config, &cli.to).await?;
            let opts = BackupOpts {
                source: source.as_deref(),
                exec: exec.as_deref(),
                name: name.as_deref(),
                verify: *verify,
                cancel: None,
            };
            backup_cmd(cli, config, &dests, &opts).await
        }
        Command::Prune { dry_run } => {
            let dests = destinations::open_selected(config, &cli.to).await?;
            Ok(prune_cmd(cli, config, &dests, *dry_run).await)
        }
        Command::Status { format } => {
            let dests = destinations::open_selected(config, &cli.to).await?;
            Ok(status::run(cli, config, &dests, *format).await)
        }
        Command::Verify { name, deep } => {
            let dests = destinations::open_selected(config, &cli.to).await?;
            verify_cmd(cli, &dests, name.as_deref(), *deep).await
        }
        Command::List => {
            let dests = destinations::open_selected(config, &cli.to).await?;
            Ok(list_cmd(cli, &dests).await)
        }
        Command::Restore {
            name,
            from,
            output,
            into,
            safety_backup,
            yes,
            force,
            identity,
        } => {
            if let Some(path) = identity {
                cloudmirror::backup::encrypt::use_identity_file(path)?;
            }
            let dests = destinations::open_selected(config, &cli.to).await?;
            let args = restore_flow::RestoreArgs {
                name,
                from: from.as_deref(),
                output: output.as_deref(),
                into: into.as_deref(),
                yes: *yes,
                force: *force,
                safety_backup: *safety_backup,
            };
            restore_flow::run(cli, config, &dests, &args).await
        }
        Command::Init { .. } | Command::Completions { .. } | Command::Man => {
            Ok(ExitStatus::Success)
        }
        Command::Check { read_only } => {
            let dests = destinations::open_selected(config, &cli.to).await?;
            Ok(check::run(cli, config, &dests, *read_only).await)
        }
        Command::Delete { name } => {
            let dests = destinations::open_selected(config, &cli.to).await?;
            delete_cmd(cli, &dests, name).await
        }
    }
}

fn progress_bar(cli: &Cli) -> ProgressBar {
    if cli.json || !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let pb = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
    pb.set_style(
        ProgressStyle::with_template(
            "{spinner} {bytes}/{total_bytes} read ({bytes_per_sec}, {elapsed})",
        )
        .unwrap_or_else(|_| ProgressStyle::default_spinner()),
    );
    pb
}

/// What `backup` was asked to do.
#[derive(Debug, Clone, Copy)]
struct BackupOpts<'a> {
    source: Option<&'a str>,
    exec: Option<&'a str>,
    name: Option<&'a str>,
    verify: bool,
    /// Cancels the run (the daemon's shutdown).
    cancel: Option<&'a cloudmirror::backup::cancel::Cancel>,
}

/// `backup --verify`: checks each copy that landed; a bad one turns its destination into a failure.
async fn verify_after_backup(report: &mut backup::BackupReport, dests: &[Destination], name: &Key) {
    for (result, dest) in report.destinations.iter_mut().zip(dests) {
        if result.ok {
            let check = cloudmirror::lifecycle::verify::check_copy(dest, name, false).await;
            if !check.ok() {
                result.ok = false;
                result.error = Some(format!(
                    "verification ({}) failed: {}",
                    check.method,
                    check.detail.unwrap_or_else(|| check.status.to_owned())
                ));
            }
        }
    }
}

/// Retention runs only where this backup landed intact.
async fn retention_after_backup(
    config: &Config,
    report: &backup::BackupReport,
    dests: &[Destination],
) -> Vec<lifecycle::PruneReport> {
    let mut pruned = Vec::new();
    for (result, dest) in report.destinations.iter().zip(dests) {
        let retention = config.retention_of(&dest.name);
        if result.ok
            && retention.is_some_and(cloudmirror::lifecycle::retention::RetentionPolicy::has_rules)
        {
            let p = lifecycle::prune(dest, retention, Utc::now(), false).await;
            if p.failed {
                tracing::warn!(destination = %dest.name, "retention failed: {}", p.note.as_deref().unwrap_or(""));
            }
            pruned.push(p);
        }
    }
    pruned
}

/// Turns the command line and `[backup]` into a plan: source, stored name, compression.
fn plan_backup(config: &Config, opts: &BackupOpts<'_>) -> Result<BackupPlan, Error> {
    let BackupOpts {
        source, exec, name, ..
    } = *opts;
    if source.is_some() && exec.is_some() {
        return Err(Error::Usage(
            "give either a source or --exec, not both".into(),
        ));
    }
    let source = match (source, exec.or(config.backup.exec.as_deref())) {
        (Some("-"), _) => Source::Stdin,
        (Some(path), _) => Source::File(PathBuf::from(path)),
        (None, Some(cmd)) => Source::Exec(cmd.to_owned()),
        (None, None) => match &config.backup.source {
            Some(path) => Source::File(config.resolve_path(path)),
            None => {
                return Err(Error::Usage(
                    "nothing to back up: give a FILE, - for standard input, or --exec COMMAND (or set [backup] exec or source)".into(),
                ))
            }
        },
    };
    let compression = config.backup.compress;
    let name = if let Some(n) = name {
        Key::parse(n).map_err(|e| Error::Usage(format!("--name: {}", e.message())))?
    } else {
        let template = config.backup.name.as_deref().unwrap_or(DEFAULT_TEMPLATE);
        let inputs = NameInputs::for_source(source.file_name().as_deref(), Utc::now());
        template::render(template, &inputs, compression)?
    };
    let mut plan = BackupPlan::from_config(config, source, name, false)?;
    plan.cancel = opts.cancel.cloned();
    Ok(plan)
}

async fn backup_cmd(
    cli: &Cli,
    config: &Config,
    dests: &[Destination],
    opts: &BackupOpts<'_>,
) -> Result<ExitStatus, Error> {
    backup_run(cli, config, dests, opts)
        .await
        .map(|(status, _)| status)
}

/// [`backup_cmd`], also returning the report (the daemon's metrics).
async fn backup_run(
    cli: &Cli,
    config: &Config,
    dests: &[Destination],
    opts: &BackupOpts<'_>,
) -> Result<(ExitStatus, backup::BackupReport), Error> {
    let plan = plan_backup(config, opts)?;
    let pb = progress_bar(cli);
    let timeout = config
        .backup
        .destination_timeout
        .unwrap_or(cloudmirror::backup::DEFAULT_DESTINATION_TIMEOUT);
    cloudmirror::lifecycle::space::check_spool_space(&plan, dests).await?;
    let mut report = backup::run_with_timeout(&plan, dests, &pb, timeout).await?;
    pb.finish_and_clear();
    if opts.verify {
        verify_after_backup(&mut report, dests, &plan.name).await;
    }
    let pruned = retention_after_backup(config, &report, dests).await;
    let status = if report.error.is_some() {
        ExitStatus::Failure
    } else {
        report.exit_status()
    };
    notify(config, &report, status).await;
    if cli.json {
        let mut v = serde_json::to_value(&report).unwrap_or_default();
        v["ok"] = serde_json::Value::Bool(status == ExitStatus::Success);
        v["retention"] = serde_json::to_value(&pruned).unwrap_or_default();
        jobs::print_json(v);
    } else {
        for p in &pruned {
            if !p.deleted.is_empty() {
                println!(
                    "pruned  {:<16} {} old backup(s): {}",
                    p.destination,
                    p.deleted.len(),
                    p.deleted.join(", ")
                );
            }
            if p.failed {
                println!(
                    "warning {:<16} retention failed: {}",
                    p.destination,
                    p.note.as_deref().unwrap_or("")
                );
            }
        }
        for d in &report.destinations {
            if d.ok {
                println!(
                    "ok      {:<16} {}  {:>10}  {:.1}s",
                    d.destination,
                    report.name,
                    human_bytes(d.bytes),
                    d.seconds
                );
            } else {
                println!(
                    "failed  {:<16} {}  {}",
                    d.destination,
                    report.name,
                    d.error.as_deref().unwrap_or("unknown error")
                );
            }
        }
        if let Some(p) = report.paced_by.first() {
            println!("{p}");
        }
        if let Some(e) = &report.error {
            crate::cli::logging::error(format_args!("{e}"));
        }
    }
    Ok((status, report))
}

/// `[notify]`: tells the webhook how the run went; a failed notification is a warning, not a failure.
async fn notify(config: &Config, report: &backup::BackupReport, status: ExitStatus) {
    let Some(n) = &config.notify else { return };
    let ok = status == ExitStatus::Success;
    if !n.wants(ok) {
        return;
    }
    let summary = cloudmirror::schedule::notify::Summary {
        tool: "cloudmirror",
        ok,
        exit_code: status.code(),
        report,
    };
    if let Err(e) = n.send(&summary).await {
        tracing::warn!("notification failed: {e}");
        crate::cli::logging::warning(format_args!("notification failed: {e}"));
    }
}

async fn list_cmd(cli: &Cli, dests: &[Destination]) -> ExitStatus {
    let listings = catalog::list(dests).await;
    let rows = catalog::summarize(&listings);
    let ok = listings.iter().filter(|l| l.error.is_none()).count();
    if cli.json {
        jobs::print_json(serde_json::json!({ "destinations": listings, "backups": rows }));
    } else {
        for l in &listings {
            if let Some(e) = &l.error {
                crate::cli::logging::warning(format_args!("cannot list {}: {e}", l.destination));
            }
        }
        if rows.is_empty() {
            println!("no backups");
        } else {
            let width = rows.iter().map(|r| r.name.len()).max().unwrap_or(4).max(4);
            println!(
                "{:<width$}  {:>10}  {:<19}  DESTINATIONS",
                "NAME", "SIZE", "MODIFIED (UTC)"
            );
            for r in &rows {
                let when = r
                    .modified
                    .map(|m| m.format("%Y-%m-%d %H:%M:%S").to_string())
                    .unwrap_or_default();
                let agree = if r.copies_agree {
                    ""
                } else {
                    "  (copies differ in size: run `cloudmirror verify`)"
                };
                println!(
                    "{:<width$}  {:>10}  {:<19}  {}{agree}",
                    r.name,
                    human_bytes(r.size),
                    when,
                    r.destinations.join(", ")
                );
            }
        }
    }
    ExitStatus::from_counts(ok, listings.len())
}

async fn prune_cmd(cli: &Cli, config: &Config, dests: &[Destination], dry_run: bool) -> ExitStatus {
    let now = Utc::now();
    let reports = futures::future::join_all(
        dests
            .iter()
            .map(|d| lifecycle::prune(d, config.retention_of(&d.name), now, dry_run)),
    )
    .await;
    if cli.json {
        jobs::print_json(serde_json::json!({ "dry_run": dry_run, "destinations": reports }));
    } else {
        for r in &reports {
            println!(
                "== {}{}",
                r.destination,
                if dry_run {
                    " (dry run: nothing deleted)"
                } else {
                    ""
                }
            );
            if let Some(plan) = &r.plan {
                print!("{}", plan.describe());
                let deleting = plan.to_delete().count();
                if dry_run {
                    println!("would delete {deleting} of {} backups", plan.entries.len());
                } else {
                    println!(
                        "deleted {} of {} backups",
                        r.deleted.len(),
                        plan.entries.len()
                    );
                }
            }
            if let Some(note) = &r.note {
                println!("{note}");
            }
        }
    }
    let ok = reports.iter().filter(|r| !r.failed).count();
    ExitStatus::from_counts(ok, reports.len())
}

async fn verify_cmd(
    cli: &Cli,
    dests: &[Destination],
    name: Option<&str>,
    deep: bool,
) -> Result<ExitStatus, Error> {
    let mut checks = Vec::new();
    for dest in dests {
        let names: Vec<Key> =
            match name {
                Some(n) => vec![Key::parse(n)
                    .map_err(|e| Error::Usage(format!("backup name: {}", e.message())))?],
                None => match catalog::backups_on(dest).await {
                    Ok(list) => list
                        .iter()
                        .filter_map(|b| Key::parse(&b.name).ok())
                        .collect(),
                    Err(e) => {
                        checks.push(cloudmirror::lifecycle::verify::CopyCheck {
                            destination: dest.name.clone(),
                            name: String::new(),
                            status: "error",
                            method: "listing".into(),
                            detail: Some(e.to_string()),
                        });
                        continue;
                    }
                },
            };
        for n in &names {
            checks.push(cloudmirror::lifecycle::verify::check_copy(dest, n, deep).await);
        }
    }
    let ok = checks.iter().filter(|c| c.ok()).count();
    if cli.json {
        jobs::print_json(serde_json::json!({ "ok": ok == checks.len(), "checks": checks }));
    } else if checks.is_empty() {
        println!("no backups to verify");
    } else {
        for c in &checks {
            let detail = c
                .detail
                .as_deref()
                .map(|d| format!("  {d}"))
                .unwrap_or_default();
            println!(
                "{:<8} {:<16} {}  ({}){detail}",
                c.status, c.destination, c.name, c.method
            );
        }
    }
    Ok(if checks.is_empty() {
        ExitStatus::Success
    } else {
        ExitStatus::from_counts(ok, checks.len())
    })
}

async fn delete_cmd(cli: &Cli, dests: &[Destination], name: &str) -> Result<ExitStatus, Error> {
    let key =
        Key::parse(name).map_err(|e| Error::Usage(format!("backup name: {}", e.message())))?;
    let results = catalog::delete(dests, &key).await;
    let deleted = results.iter().filter(|r| r.status == "deleted").count();
    let failed = results.iter().filter(|r| r.status == "failed").count();
    if cli.json {
        jobs::print_json(
            serde_json::json!({ "name": name, "ok": failed == 0 && deleted > 0, "destinations": results }),
        );
    } else {
        for r in &results {
            match &r.error {
                Some(e) => println!("failed     {:<16} {name}  {e}", r.destination),
                None => println!(
                    "{:<10} {:<16} {name}",
                    r.status.replace('_', " "),
                    r.destination
                ),
            }
        }
    }
    Ok(if deleted == 0 && failed == 0 {
        crate::cli::logging::error(format_args!(
            "no backup named {name} on the selected destinations"
        ));
        ExitStatus::Failure
    } else if failed == 0 {
        ExitStatus::Success
    } else if deleted > 0 {
        ExitStatus::Partial
    } else {
        ExitStatus::Failure
    })
}

pub(crate) fn human_bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = n as f64;
    let mut unit = 0;
    while v >= 1024.0 && unit < UNITS.len() - 1 {
        v /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{n} B")
    } else {
        format!("{v:.1} {}", UNITS[unit])
    }
}
