//! cloudmirror's project tasks, run as `cargo xtask <task>`. With no task, lists them.

mod ci;
mod provision;

use std::process::ExitCode;

const TASKS: &[(&str, &str)] = &[(
    "ci",
    "fmt check, clippy -D warnings, provision test services (s3s-fs), every test",
)];

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("ci") => ci::run(&args[1..]),
        Some(other) => Err(anyhow::anyhow!("unknown task {other:?}")),
        None => {
            println!("usage: cargo xtask <task>\n\ntasks:");
            for (name, what) in TASKS {
                println!("  {name:<10} {what}");
            }
            return ExitCode::SUCCESS;
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("xtask: {e:#}");
            ExitCode::FAILURE
        }
    }
}
