//! `cargo xtask contract [--provider NAME] [--live]`: the shared contract suite against every
//! adapter (their fakes, or real accounts with `--live`), printed as a provider × case table.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Result};
use cloudmirror_contract::testkit::CASES;
use cloudmirror_contract::{Prefix, Store, StoreExt};

use crate::targets::{self, Fakes, LiveSettings, PROVIDERS};

/// One provider's column: a result per case, why the provider was skipped (no settings at all),
/// or why it could not run (settings set but incomplete or wrong: a failure, as `docs/testing.md`
/// promises).
enum Column {
    Skipped(String),
    Broken(String),
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
            let env = |name: &str| std::env::var(name).ok();
            let settings = match &fakes {
                Some(f) if *provider == "azure" => match &f.azurite {
                    Ok(_) => {
                        LiveSettings::Table(f.destination_toml(provider, provider, scratch.path()))
                    }
                    Err(why) if std::env::var("CI").as_deref() == Ok("true") => {
                        LiveSettings::Incomplete(format!("CI=true: {why}"))
                    }
                    Err(why) => LiveSettings::Unset(why.clone()),
                },
                Some(f) => {
                    LiveSettings::Table(f.destination_toml(provider, provider, scratch.path()))
                }
                None if *provider == "local" => LiveSettings::Table(format!(
                    "[[destinations]]\nname = \"local\"\ntype = \"local\"\npath = {:?}\n",
                    scratch.path().join("live-local").display().to_string()
                )),
                None => targets::live_destination(provider, provider, &env),
            };
            let column = column_for(settings, scratch.path()).await;
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
            Column::Broken(_) => CASES.len(),
            Column::Skipped(_) => 0,
        })
        .sum();
    if failed > 0 {
        bail!("{failed} contract case(s) failed");
    }
    Ok(())
}

/// Opens one provider's store from its settings and runs the cases, or says why it did not.
async fn column_for(settings: LiveSettings, scratch: &std::path::Path) -> Column {
    match settings {
        LiveSettings::Unset(why) => Column::Skipped(why),
        LiveSettings::Incomplete(why) => Column::Broken(why),
        // Any open error is a failure: the settings are there, so they are wrong (an
        // `InvalidInput` such as a malformed service-account JSON or a publishable Supabase
        // key) or the service is unreachable. Neither is a pass.
        LiveSettings::Table(table) => match targets::open_store(&table, scratch).await {
            Err(e) => Column::Broken(format!("cannot open: {e:#}")),
            Ok(store) => Column::Ran(run_cases(store).await),
        },
    }
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
                Column::Broken(_) => "FAIL",
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
            Column::Broken(why) => println!("{p}: FAILED: {why}"),
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

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn settings_that_are_set_but_wrong_fail_instead_of_skipping() {
        let dir = tempfile::tempdir().expect("temp dir");
        // A publishable key where the secret one belongs: the adapter refuses it when opening
        // (InvalidInput), before any request.
        let table = "[[destinations]]\nname = \"supabase\"\ntype = \"supabase\"\n\
                     url = \"https://example.supabase.co\"\nbucket = \"b\"\n\
                     service_role_key = \"sb_publishable_x\"\n";
        match column_for(LiveSettings::Table(table.to_owned()), dir.path()).await {
            Column::Broken(why) => assert!(why.contains("publishable"), "{why}"),
            Column::Skipped(why) => panic!("set but wrong was skipped: {why}"),
            Column::Ran(_) => panic!("a publishable key opened"),
        }
        assert!(matches!(
            column_for(LiveSettings::Incomplete("x".into()), dir.path()).await,
            Column::Broken(_)
        ));
        assert!(matches!(
            column_for(LiveSettings::Unset("x".into()), dir.path()).await,
            Column::Skipped(_)
        ));
    }
}
