//! The `cloudmirror` command line: parses arguments, loads the config, runs one command, prints
//! results to stdout and logs to stderr, and exits 0 (all good), 1 (partial) or 2 (failed / bad input).

// Doc comments in this file are --help text for people, not Markdown.
#![allow(clippy::doc_markdown)]

mod cli;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};

/// Compress and checksum a backup once, mirror it to several clouds at once, verify and restore it.
#[derive(Debug, Parser)]
#[command(name = "cloudmirror", version, about, propagate_version = true)]
pub(crate) struct Cli {
    /// Config file (default: $CLOUDMIRROR_CONFIG, then ./cloudmirror.toml, then a local ./backups folder).
    #[arg(long, global = true, value_name = "FILE")]
    pub(crate) config: Option<PathBuf>,
    /// Only these destinations (comma-separated names).
    #[arg(long, global = true, value_delimiter = ',', value_name = "NAME[,NAME]")]
    pub(crate) to: Vec<String>,
    /// Only this job of the config's [[jobs]] (default: every job; `backup` needs it, or
    /// --all-jobs, when there are several).
    #[arg(long, global = true, value_name = "NAME")]
    pub(crate) job: Option<String>,
    /// Machine-readable JSON on stdout.
    #[arg(long, global = true)]
    pub(crate) json: bool,
    /// More logging on stderr (-v debug, -vv trace).
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub(crate) verbose: u8,
    /// Log format on stderr.
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text)]
    pub(crate) log_format: LogFormat,
    #[command(subcommand)]
    pub(crate) command: Command,
}

/// `status --format`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum StatusFormat {
    Text,
    Prometheus,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Back up a file (or - for standard input) to every selected destination.
    Backup {
        /// The file to back up, or - for standard input.
        source: Option<String>,
        /// Back up the standard output of this shell command (e.g. "pg_dump $DATABASE_URL");
        /// a non-zero exit fails the backup everywhere.
        #[arg(long, value_name = "COMMAND")]
        exec: Option<String>,
        /// Stored name, instead of the `[backup] name` template.
        #[arg(long)]
        name: Option<String>,
        /// Check each stored copy right after upload (size and the provider's checksum).
        #[arg(long)]
        verify: bool,
        /// Run every job of the config's [[jobs]] in turn.
        #[arg(long, conflicts_with = "job")]
        all_jobs: bool,
    },
    /// Run the backup job on `[schedule] cron`, one run at a time, until SIGTERM or Ctrl-C.
    /// The job backs up `[backup] exec` (or `[backup] source`).
    Daemon,
    /// List the backups on each destination and where each one is present.
    List,
    /// Download, verify and decompress a backup.
    Restore {
        /// The backup's name (as `list` shows it), or `latest`: the newest backup that is present
        /// and intact (safety backups only when nothing else exists).
        #[arg(value_name = "NAME|latest")]
        name: String,
        /// Restore from this destination only (default: the first selected one that has an intact copy;
        /// `any` tries each in turn).
        #[arg(long, value_name = "DEST|any")]
        from: Option<String>,
        /// Output file, or - for standard output (default: the backup's name without .gz, here).
        #[arg(short, long, value_name = "FILE|-", conflicts_with = "into")]
        output: Option<String>,
        /// Stream the verified backup into this shell command's standard input (e.g.
        /// "psql --single-transaction -v ON_ERROR_STOP=1 $DATABASE_URL"). The command is killed
        /// unless every byte matched the manifest; its exit code decides success.
        #[arg(long, value_name = "COMMAND")]
        into: Option<String>,
        /// First run the configured backup job ([backup] exec) once, as a pre-restore backup to
        /// the selected destinations; if it fails everywhere, nothing is restored.
        #[arg(long)]
        safety_backup: bool,
        /// Do not ask before a destructive restore (--into, or -o over an existing file).
        #[arg(long)]
        yes: bool,
        /// Restore a folder backup into a folder that is not empty, replacing entries with the
        /// same names (an existing empty folder needs no flag).
        #[arg(long)]
        force: bool,
        /// age identity file (AGE-SECRET-KEY-...) to decrypt encrypted backups.
        #[arg(long, value_name = "FILE")]
        identity: Option<PathBuf>,
    },
    /// Check that each destination still holds intact copies (size and provider checksum;
    /// --deep downloads and re-hashes).
    Verify {
        /// One backup (default: every backup on each destination).
        name: Option<String>,
        /// Download every copy and re-hash it.
        #[arg(long)]
        deep: bool,
    },
    /// Apply the retention rules: print what is kept (and by which rule) and what is deleted.
    Prune {
        /// Only print the plan; delete nothing.
        #[arg(long)]
        dry_run: bool,
    },
    /// Health of each destination: newest backup's age, count, size, warnings.
    /// Exit 0 healthy, 1 warning, 2 critical.
    Status {
        /// Output format: text lines, or Prometheus text for node_exporter's textfile collector
        /// (--json still gives JSON).
        #[arg(long, value_enum, default_value_t = StatusFormat::Text)]
        format: StatusFormat,
    },
    /// Test each destination before trusting it: list, write a probe, read it back, find it,
    /// delete it; and check the config (retention, [backup] exec, spool space).
    /// Exit 0 all good, 1 some destinations fail, 2 none usable or a bad config.
    Check {
        /// Only list: write nothing.
        #[arg(long)]
        read_only: bool,
    },
    /// Write a commented starter config (secrets as ${VAR} references, mode 0600); never
    /// overwrites a file.
    Init {
        /// Destination types, one destination each: local, s3, dropbox, gdrive, supabase, webdav,
        /// azure.
        #[arg(
            long,
            value_delimiter = ',',
            value_name = "TYPE[,TYPE]",
            required = true
        )]
        with: Vec<String>,
        /// Where to write it.
        #[arg(long, value_name = "FILE", default_value = "cloudmirror.toml")]
        path: PathBuf,
    },
    /// Print a shell completion script, e.g. `cloudmirror completions bash >
    /// /etc/bash_completion.d/cloudmirror`.
    Completions {
        /// The shell.
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Print the man page (roff); `cargo xtask man` writes it to cloudmirror.1.
    #[command(hide = true)]
    Man,
    /// Delete a backup and its manifest from the selected destinations.
    Delete {
        /// The backup's name.
        name: String,
    },
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let code = if e.use_stderr() { 2 } else { 0 };
            let _ = e.print();
            return ExitCode::from(code);
        }
    };
    init_logging(cli.verbose, cli.log_format);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            cli::logging::error(format_args!("cannot start the async runtime: {e}"));
            return ExitCode::from(2);
        }
    };
    let status = runtime.block_on(cli::run(&cli));
    ExitCode::from(status.code() as u8)
}

fn init_logging(verbose: u8, format: LogFormat) {
    let filter = cli::logging::filter(verbose, std::env::var("CLOUDMIRROR_LOG").ok().as_deref());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(cli::logging::use_colour(
            std::io::IsTerminal::is_terminal(&std::io::stderr()),
            std::env::var_os("NO_COLOR").as_deref(),
        ))
        .with_target(verbose > 0);
    cli::logging::set_json(format == LogFormat::Json);
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
}
