//! cloudmirror's project tasks, run as `cargo xtask <task>`. With no task, lists them.

mod bench;
mod ci;
mod contract;
mod demo;
mod fakes;
mod fuzz;
mod man;
mod provision;
mod sdk;
mod targets;

use std::process::ExitCode;

const TASKS: &[(&str, &str)] = &[
    (
        "ci",
        "fmt check, clippy -D warnings, provision test services (s3s-fs, PostgreSQL), every test, official SDKs vs fakes",
    ),
    (
        "contract",
        "the contract suite against every adapter's fake as a table [--provider NAME] [--live]",
    ),
    (
        "fakes",
        "run every provider fake on 127.0.0.1 and print a cloudmirror.toml for them",
    ),
    (
        "demo",
        "mirror a generated JSON export to local + 4 faked clouds, verify, restore from each",
    ),
    (
        "sdk",
        "the providers' official Python SDKs against the fakes [PROVIDER...]",
    ),
    (
        "fuzz",
        "cargo-fuzz targets (config parser, adapters' response parsing) for a bounded time [--seconds N] [TARGET...]",
    ),
    (
        "man",
        "write the cloudmirror(1) man page to target/man/cloudmirror.1 [--out DIR]",
    ),
    (
        "bench",
        "release build, backup/restore benchmarks vs gzip, pigz, sha256sum, rclone [--quick] [--only GROUPS] [--input json|random]",
    ),
];

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("ci") => ci::run(&args[1..]),
        Some("bench") => bench::run(&args[1..]),
        Some("contract") => contract::run(&args[1..]),
        Some("fakes") => fakes::run(&args[1..]),
        Some("demo") => demo::run(&args[1..]),
        Some("sdk") => sdk::run(&args[1..]),
        Some("fuzz") => fuzz::run(&args[1..]),
        Some("man") => man::run(&args[1..]),
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
