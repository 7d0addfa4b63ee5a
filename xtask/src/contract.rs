//! `cargo xtask contract [--provider NAME] [--live]`: the shared contract suite against every
//! adapter (their fakes, or real accounts with `--live`), printed as a provider × case table.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Result};
use cloudmirror_contract::testkit::CASES;
use cloudmirror_contract::{Prefix, Store, StoreExt};

use crate::targets::{self, Fakes, PROVIDERS};

/// One provider's column: a result per case, or why the provider was skipped.
enum Column {
    Skipped(String),
    Ran(BTreeMap<&'static str, Result<(), String>>),
}

pub(crate) fn run(args: &[String]) -> Result<()> {
    let mut live = false;
    let mut only: Vec<String> = Vec::new();
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--live" => live = true,
            "--provider" => match it.next() {
                Some(p) => only.extend(p.split(',').map(str::to_owned)),
                None => bail!("--provider needs a name ({})", PROVIDERS.join(", ")),
            },
            other => bail!("unknown argument {other:?} (use --provider NAME, --live)"),
        }
    }
    for p in &only {
        if !PROVIDERS.contains(&p.as_str()) {
            bail!("unknown provider {p:?} (one of {})", PROVIDERS.join(", "));
        }
    }
    let providers: Vec<&str> = PROVIDERS
        .iter()
        .copied()
        .filter(|p| only.is_empty() || only.iter().any(|o| o == p))
        .collect();
    // Panics are how cases report broken promises; keep them out of the table's way.
    std::panic::set_hook(Box::new(|_| {}));
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let columns = rt.block_on(async {
        let fakes = if live {
            None
        } else {
            Some(Fakes::start().await)
        };
        let scratch = tempfile::tempdir()?;
        let mut columns = Vec::new();
        for provider in &providers {
            let table = match &fakes {
                Some(f) => Ok(f.destination_toml(provider, provider, scratch.path())),
                None if *provider == "local" => Ok(format!(
                    "[[destinations]]\nname = \"local\"\ntype = \"local\"\npath = {:?}\n",
                    scratch.path().join("live-local").display().to_string()
                )),
                None => targets::live_destination_toml(provider, provider),
            };
            let column = match table {
                Err(why) => Column::Skipped(why),
                Ok(table) => match targets::open_store(&table, scratch.path()).await {
                    Err(e) => Column::Skipped(format!("cannot open: {e:#}")),
                    Ok(store) => Column::Ran(run_cases(store).await),
                },
            };
            columns.push((*provider, column));
        }
        anyhow::Ok(columns)
    })?;
    let _ = std::panic::take_hook();
    print_table(&columns, live);
    let failed: usize = columns
        .iter()
        .map(|(_, c)| match c {
            Column::Ran(r) => r.values().filter(|v| v.is_err()).count(),
            Column::Skipped(_) => 0,
        })
        .sum();
    if failed > 0 {
        bail!("{failed} contract case(s) failed");
    }
    Ok(())
}

/// Runs every case under one throw-away run prefix, then sweeps that prefix.
async fn run_cases(store: Arc<dyn Store>) -> BTreeMap<&'static str, Result<(), String>> {
    let run = format!(
        "cloudmirror-contract-{:012x}/",
        fastrand::u64(..) & 0xffff_ffff_ffff
    );
    let mut results = BTreeMap::new();
    for (name, case) in CASES {
        let prefix = Prefix::parse(&format!("{run}{name}/")).unwrap_or_default();
        let task = tokio::spawn(case(store.clone(), prefix));
        let outcome = match tokio::time::timeout(Duration::from_mins(10), task).await {
            Err(_) => Err("timed out after 600 s".to_owned()),
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(panic_message(e)),
        };
        results.insert(*name, outcome);
    }
    if let Ok(prefix) = Prefix::parse(&run) {
        if let Ok(left) = store.list_all(&prefix).await {
            for m in left {
                let _ = store.delete(&m.key).await;
            }
        }
    }
    results
}

fn panic_message(e: tokio::task::JoinError) -> String {
    match e.try_into_panic() {
        Ok(p) => p
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| p.downcast_ref::<&str>().map(|s| (*s).to_owned()))
            .unwrap_or_else(|| "panicked".into()),
        Err(e) => e.to_string(),
    }
}

fn print_table(columns: &[(&str, Column)], live: bool) {
    println!(
        "contract suite ({}):\n",
        if live {
            "live accounts"
        } else {
            "fakes on 127.0.0.1"
        }
    );
    let width = CASES.iter().map(|(n, _)| n.len()).max().unwrap_or(4);
    print!("| {:<width$} |", "case");
    for (p, _) in columns {
        print!(" {p:<8} |");
    }
    println!();
    print!("|{}|", "-".repeat(width + 2));
    for _ in columns {
        print!("{}|", "-".repeat(10));
    }
    println!();
    for (name, _) in CASES {
        print!("| {name:<width$} |");
        for (_, c) in columns {
            let cell = match c {
                Column::Skipped(_) => "skipped",
                Column::Ran(r) => match r.get(name) {
                    Some(Ok(())) => "pass",
                    Some(Err(_)) => "FAIL",
                    None => "-",
                },
            };
            print!(" {cell:<8} |");
        }
        println!();
    }
    println!();
    for (p, c) in columns {
        match c {
            Column::Skipped(why) => println!("{p}: skipped: {why}"),
            Column::Ran(r) => {
                for (case, res) in r {
                    if let Err(e) = res {
                        println!("{p} / {case}: {e}");
                    }
                }
            }
        }
    }
}
