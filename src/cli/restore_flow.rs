//! `restore <NAME|latest>`: picks the backup, asks before a destructive restore, makes the safety
//! backup, then restores into a file, standard output or a command (`--into`), and prints the result.

use std::io::{BufRead, IsTerminal, Write};
use std::path::PathBuf;

use chrono::Utc;
use cloudmirror::backup::{self, BackupReport};
use cloudmirror::config::plan::safety_backup_plan;
use cloudmirror::config::Config;
use cloudmirror::destination::Destination;
use cloudmirror::restore::into::{self as restore_into, CommandStdout};
use cloudmirror::restore::target::{self as restore_target, RestoreTarget, LATEST};
use cloudmirror::restore::{self, Output};
use cloudmirror::{Error, ExitStatus};
use cloudmirror_contract::Key;

use super::{human_bytes, progress_bar};
use crate::Cli;

/// What `restore` was asked to do.
#[derive(Debug, Clone, Copy)]
pub(crate) struct RestoreArgs<'a> {
    pub(crate) name: &'a str,
    pub(crate) from: Option<&'a str>,
    pub(crate) output: Option<&'a str>,
    pub(crate) into: Option<&'a str>,
    pub(crate) yes: bool,
    /// Restore a folder backup into a non-empty folder.
    pub(crate) force: bool,
    pub(crate) safety_backup: bool,
}

/// Where the restored bytes go.
enum Sink {
    Output(Output),
    Into(String),
}

pub(crate) async fn run(
    cli: &Cli,
    config: &Config,
    dests: &[Destination],
    args: &RestoreArgs<'_>,
) -> Result<ExitStatus, Error> {
    let candidates = candidates(dests, args.from)?;
    if args.output.is_some() && args.into.is_some() {
        return Err(Error::Usage("give either -o or --into, not both".into()));
    }
    if args.safety_backup {
        // Checked before anything runs: no `[backup] exec`, a bad template or level.
        safety_backup_plan(config, Utc::now())?;
    }
    let mut target = if args.name == LATEST {
        Some(restore_target::latest(&candidates).await?)
    } else {
        None
    };
    if let Some(t) = &target {
        for note in &t.notes {
            crate::cli::logging::warning(format_args!("latest: passed over {note}"));
        }
    }
    let name = target.as_ref().map_or(args.name, |t| t.name.as_str());
    let key =
        Key::parse(name).map_err(|e| Error::Usage(format!("backup name: {}", e.message())))?;
    let (sink, replaces) = sink_for(args, name, target.as_ref())?;
    if let (Some(what), false) = (&replaces, args.yes) {
        if !std::io::stdin().is_terminal() {
            return Err(Error::Usage(match &sink {
                Sink::Output(Output::File(path)) => format!(
                    "output {} already exists; pass --yes to overwrite it",
                    path.display()
                ),
                _ => format!(
                    "restoring {what} replaces data and needs a confirmation, but there is no \
                     terminal to ask on: pass --yes to restore without asking"
                ),
            }));
        }
        if target.is_none() {
            target = Some(restore_target::named(&candidates, &key).await?);
        }
        if let Some(t) = &target {
            confirm(t, what, args.safety_backup)?;
        }
    }
    let order = target
        .as_ref()
        .map_or_else(|| candidates.clone(), |t| t.candidates.clone());
    let safety = if args.safety_backup {
        Some(safety_backup(cli, config, dests).await?)
    } else {
        None
    };
    let mut result = match restore_to(cli, &sink, &order, &key).await {
        Ok(r) => r,
        // Say where the data from before the attempt is, right in the error.
        Err(e) => match &safety {
            Some(s) => {
                return Err(Error::Failed(format!(
                    "{e} (the safety backup {} was stored before the attempt)",
                    s.name
                )))
            }
            None => return Err(e),
        },
    };
    if cli.json {
        result["ok"] = serde_json::Value::Bool(true);
        if let Some(t) = &target {
            result["created_at"] = serde_json::to_value(t.manifest.created_at).unwrap_or_default();
            result["notes"] = serde_json::to_value(&t.notes).unwrap_or_default();
        }
        if let Some(s) = &safety {
            result["safety_backup"] = serde_json::to_value(s).unwrap_or_default();
        }
        super::jobs::print_json(result);
    }
    Ok(ExitStatus::Success)
}

/// Where the bytes go, and what a destructive restore replaces (for the confirmation).
fn sink_for(
    args: &RestoreArgs<'_>,
    name: &str,
    target: Option<&RestoreTarget>,
) -> Result<(Sink, Option<String>), Error> {
    let sink = match (args.into, args.output) {
        (Some(cmd), _) => Sink::Into(cmd.to_owned()),
        (None, Some("-")) => Sink::Output(Output::Stdout),
        (None, Some(path)) => Sink::Output(Output::File(PathBuf::from(path))),
        (None, None) => {
            let compression = target.map_or_else(
                || cloudmirror::backup::compress::Compression::guess_from_name(name),
                |t| t.manifest.compression,
            );
            Sink::Output(Output::File(backup::default_restore_path(
                name,
                compression,
            )))
        }
    };
    let replaces = match &sink {
        Sink::Into(cmd) => Some(format!(
            "into `{}` (on its standard input)",
            restore_into::program_of(cmd)
        )),
        Sink::Output(Output::File(path)) => {
            if path.is_dir() {
                // A folder backup extracts into an existing folder (as `tar -C` does); a
                // non-empty one only when asked. A file backup into a folder fails once the
                // manifest says which it is.
                if let Some(first) = first_entry(path) {
                    if !args.force {
                        return Err(Error::Input(format!(
                            "output {} is not empty (it holds {}); pass --force to restore into                              it, replacing entries with the same names",
                            path.display(),
                            first.display()
                        )));
                    }
                }
                None
            } else {
                path.exists().then(|| format!("over {}", path.display()))
            }
        }
        Sink::Output(Output::Stdout) => None,
    };
    Ok((sink, replaces))
}

/// The first entry of folder `dir` in name order (`None` when it is empty or unreadable).
fn first_entry(dir: &std::path::Path) -> Option<PathBuf> {
    let mut names: Vec<PathBuf> = std::fs::read_dir(dir)
        .ok()?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    names.sort();
    names.into_iter().next()
}

/// Restores to the sink and prints the human result; returns the JSON result.
async fn restore_to(
    cli: &Cli,
    sink: &Sink,
    order: &[Destination],
    key: &Key,
) -> Result<serde_json::Value, Error> {
    Ok(match sink {
        Sink::Into(cmd) => {
            let stdout = if cli.json {
                CommandStdout::Stderr
            } else {
                CommandStdout::Inherit
            };
            let report = restore_into::run(order, key, cmd, stdout, interrupted()).await?;
            if !cli.json {
                println!(
                    "restored {} from {} into {} ({}, verified sha256; {} succeeded)",
                    report.name,
                    report.destination,
                    report.command,
                    human_bytes(report.restored_bytes),
                    report.command
                );
            }
            serde_json::to_value(&report).unwrap_or_default()
        }
        Sink::Output(output) => {
            let report = restore::run(order, key, output).await?;
            if cli.json {
                // Printed below, with the safety backup.
            } else if *output == Output::Stdout {
                crate::cli::logging::info(format_args!(
                    "restored {} from {} (verified sha256)",
                    report.name, report.destination
                ));
            } else {
                println!(
                    "restored {} from {} to {} ({}, verified sha256)",
                    report.name,
                    report.destination,
                    report.output,
                    human_bytes(report.restored_bytes)
                );
            }
            serde_json::to_value(&report).unwrap_or_default()
        }
    })
}

/// The destinations to restore from: `--from DEST`, or every selected one (`--from any`, the default).
fn candidates(dests: &[Destination], from: Option<&str>) -> Result<Vec<Destination>, Error> {
    match from {
        None | Some("any") => Ok(dests.to_vec()),
        Some(d) => {
            let found: Vec<_> = dests.iter().filter(|x| x.name == d).cloned().collect();
            if found.is_empty() {
                let known: Vec<_> = dests.iter().map(|x| x.name.as_str()).collect();
                return Err(Error::Usage(format!(
                    "unknown destination {d:?} in --from (selected: {})",
                    known.join(", ")
                )));
            }
            Ok(found)
        }
    }
}

/// Shows what is about to be restored (on stderr) and asks y/N on the terminal.
fn confirm(target: &RestoreTarget, replaces: &str, safety_backup: bool) -> Result<(), Error> {
    let m = &target.manifest;
    let mut err = std::io::stderr().lock();
    let _ = writeln!(err, "About to restore {replaces}:");
    let _ = writeln!(err, "  backup        {}", target.name);
    let _ = writeln!(
        err,
        "  created       {}",
        m.created_at.format("%Y-%m-%d %H:%M:%S UTC")
    );
    let _ = writeln!(
        err,
        "  size          {} ({} stored, {})",
        human_bytes(m.original_size),
        human_bytes(m.stored_size),
        m.compression.as_str()
    );
    let _ = writeln!(err, "  destinations  {}", target.present_on.join(", "));
    if safety_backup {
        let _ = writeln!(
            err,
            "  a safety backup of the current data is made first (--safety-backup)"
        );
    }
    let _ = write!(err, "Restore? [y/N] ");
    let _ = err.flush();
    drop(err);
    let mut answer = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut answer)
        .map_err(|e| Error::io("reading the answer", e))?;
    if matches!(answer.trim().to_ascii_lowercase().as_str(), "y" | "yes") {
        Ok(())
    } else {
        Err(Error::Usage("not confirmed: nothing was restored".into()))
    }
}

/// Runs the configured backup job once as a pre-restore backup to every selected destination; the
/// restore goes ahead only if it landed on at least one.
async fn safety_backup(
    cli: &Cli,
    config: &Config,
    dests: &[Destination],
) -> Result<BackupReport, Error> {
    let plan = safety_backup_plan(config, Utc::now())?;
    let pb = progress_bar(cli);
    cloudmirror::lifecycle::space::check_spool_space(&plan, dests).await?;
    let report = backup::run(&plan, dests, &pb).await?;
    pb.finish_and_clear();
    let landed: Vec<&str> = report
        .destinations
        .iter()
        .filter(|d| d.ok)
        .map(|d| d.destination.as_str())
        .collect();
    for d in report.destinations.iter().filter(|d| !d.ok) {
        crate::cli::logging::warning(format_args!(
            "safety backup {} failed on {}: {}",
            report.name,
            d.destination,
            d.error.as_deref().unwrap_or("unknown error")
        ));
    }
    if landed.is_empty() {
        return Err(Error::Failed(format!(
            "the safety backup {} failed on every destination{}; nothing was restored",
            report.name,
            report
                .error
                .as_deref()
                .map(|e| format!(" ({e})"))
                .unwrap_or_default()
        )));
    }
    crate::cli::logging::info(format_args!(
        "safety backup {} stored on {}",
        report.name,
        landed.join(", ")
    ));
    Ok(report)
}

/// Resolves on Ctrl-C or SIGTERM, so a running `--into` command is killed rather than left to see
/// the end of its input.
async fn interrupted() {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
    let term = async {
        match term.as_mut() {
            Some(t) => {
                t.recv().await;
            }
            None => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        r = tokio::signal::ctrl_c() => {
            if r.is_err() {
                std::future::pending::<()>().await;
            }
        }
        () = term => {}
    }
}
