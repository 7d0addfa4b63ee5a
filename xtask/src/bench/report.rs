//! The results table, the ratios and target checks, and writing them into `docs/benchmarks.md`.

use anyhow::Result;

use super::measure::human_size;
use super::measure::machine;
use super::measure::Run;
use super::DOC_BEGIN;
use super::DOC_END;
use anyhow::Context;
use std::fmt::Write as _;
use std::path::Path;
use std::time::Duration;

/// A row of the results table.
#[derive(Debug, Clone)]
pub(super) struct Row {
    pub(super) input: String,
    pub(super) what: String,
    pub(super) source_bytes: u64,
    pub(super) run: Run,
    pub(super) note: String,
}

/// Everything measured, for the target checks.
#[derive(Debug, Default)]
pub(super) struct Results {
    pub(super) rows: Vec<Row>,
}

impl Results {
    pub(super) fn push(
        &mut self,
        input: &str,
        what: &str,
        source_bytes: u64,
        run: &Run,
        note: String,
    ) {
        let row = Row {
            input: input.to_owned(),
            what: what.to_owned(),
            source_bytes,
            run: run.clone(),
            note,
        };
        println!("{}", row_md(&row));
        self.rows.push(row);
    }

    pub(super) fn get(&self, input: &str, what: &str) -> Option<&Run> {
        self.rows
            .iter()
            .find(|r| r.input == input && r.what == what && r.run.ok)
            .map(|r| &r.run)
    }
}

/// Per-destination seconds from a backup's `--json` report.
pub(super) fn dest_seconds(run: &Run) -> Vec<(String, f64)> {
    let Ok(v) = serde_json::from_str::<serde_json::Value>(&run.stdout) else {
        return Vec::new();
    };
    v["destinations"]
        .as_array()
        .map(|ds| {
            ds.iter()
                .map(|d| {
                    (
                        d["destination"].as_str().unwrap_or("?").to_owned(),
                        d["seconds"].as_f64().unwrap_or(f64::NAN),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

pub(super) fn dest_times(run: &Run) -> String {
    if !run.ok {
        return format!(
            "FAILED: {}",
            run.stderr_tail.lines().last().unwrap_or_default()
        );
    }
    let times = dest_seconds(run)
        .iter()
        .map(|(d, s)| format!("{d} {s:.1} s"))
        .collect::<Vec<_>>()
        .join(", ");
    format!("{times}; servers used {:.1} CPU s", run.servers_cpu_secs)
}

pub(super) fn stored_note(run: &Run, source: u64) -> String {
    if !run.ok {
        return dest_times(run);
    }
    ratio_note(stored_of(run).unwrap_or(0), source)
}

/// Bytes a run stored: a baseline's output file, or a backup's `stored_size` from its report.
pub(super) fn stored_of(run: &Run) -> Option<u64> {
    run.stored_bytes.or_else(|| {
        serde_json::from_str::<serde_json::Value>(&run.stdout)
            .ok()
            .and_then(|v| v["manifest"]["stored_size"].as_u64())
    })
}

pub(super) fn ratio_note(stored: u64, source: u64) -> String {
    if source == 0 {
        return String::new();
    }
    format!(
        "stored {:.1} % of source",
        stored as f64 * 100.0 / source as f64
    )
}

pub(super) fn table_header() -> String {
    "| input | what | wall s | MB/s of source | CPU s | peak RSS MiB | notes |\n|---|---|---:|---:|---:|---:|---|".into()
}

pub(super) fn row_md(r: &Row) -> String {
    if r.run.secs == 0.0 {
        return format!("| {} | {} | – | – | – | – | {} |", r.input, r.what, r.note);
    }
    format!(
        "| {} | {} | {:.2} | {:.0} | {:.1} | {:.0} | {}{} |",
        r.input,
        r.what,
        r.run.secs,
        r.source_bytes as f64 / 1e6 / r.run.secs,
        r.run.cpu_secs,
        mib(r.run.rss_kib),
        if r.run.ok { "" } else { "FAILED " },
        r.note
    )
}

/// The Markdown report: table, ratios, target checks.
pub(super) fn report(res: &Results, size_mib: u64, quick: bool, took: Duration) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "Measured by `cargo xtask bench{}` on {} ({} MiB inputs, whole run {:.0} s).\n",
        if quick { " --quick" } else { "" },
        machine(),
        size_mib,
        took.as_secs_f64()
    );
    let _ = writeln!(out, "{}", table_header());
    for r in &res.rows {
        let _ = writeln!(out, "{}", row_md(r));
    }
    let _ = writeln!(out, "\n### Ratios and targets\n");
    for input in ["json", "random"] {
        input_ratios(&mut out, res, input);
    }
    slow_and_memory(&mut out, res);
    out
}

/// The ratios and target checks of one input.
pub(super) fn input_ratios(out: &mut String, res: &Results, input: &str) {
    {
        let _ = writeln!(out, "**{input}**\n");
        let secs = |what: &str| res.get(input, what).map(|r| r.secs);
        // Compression: our gzip (scenario 1, hashing and writing included) against pigz -p 2.
        if let (Some(ours), Some(pigz)) = (secs("scenario 1: local"), secs("pigz -6 -p 2")) {
            let _ = writeln!(
                out,
                "- gzip: scenario 1 (compress + hash + write) takes {:.2}× the time of `pigz -6 -p 2` alone; target ≤ 1× (5 % allowed for noise): {}",
                ours / pigz,
                verdict(ours <= pigz * 1.05)
            );
        }
        libdeflate_targets(out, res, input);
        if let (Some(z), Some(g)) = (
            secs("scenario 1, zstd -3: local"),
            secs("scenario 1: local"),
        ) {
            let _ = writeln!(
                out,
                "- zstd -3 takes {:.2}× the time of gzip -6: {}",
                z / g,
                verdict(z < g)
            );
        }
        let alone: Vec<(&str, f64)> = [
            ("local", "scenario 1: local"),
            ("s3", "s3 alone"),
            ("dropbox", "dropbox alone (fake)"),
            ("gdrive", "gdrive alone (fake)"),
            ("supabase", "supabase alone (fake)"),
        ]
        .iter()
        .filter_map(|(d, what)| secs(what).map(|s| (*d, s)))
        .collect();
        let slowest = alone
            .iter()
            .copied()
            .fold(("", 0.0), |a, b| if b.1 > a.1 { b } else { a });
        if let Some(s3) = secs("scenario 3: 5 destinations") {
            if slowest.1 > 0.0 {
                let _ = writeln!(
                    out,
                    "- fan-out: scenario 3 takes {:.2}× the slowest destination alone ({} {:.2} s); target ≤ 1.25×: {}",
                    s3 / slowest.1,
                    slowest.0,
                    slowest.1,
                    verdict(s3 <= 1.25 * slowest.1)
                );
            }
            if let Some(run) = res.get(input, "scenario 3: 5 destinations") {
                // The same cores run the client and every server: no schedule beats their CPU
                // seconds divided by the cores.
                let cores = std::thread::available_parallelism().map_or(1, usize::from);
                let bound = (run.cpu_secs + run.servers_cpu_secs) / cores as f64;
                let _ = writeln!(
                    out,
                    "  - on these {cores} cores scenario 3 cannot take less than (cloudmirror {:.1} + servers {:.1} CPU s) / {cores} = {bound:.1} s ({:.2}× the slowest alone)",
                    run.cpu_secs,
                    run.servers_cpu_secs,
                    if slowest.1 > 0.0 { bound / slowest.1 } else { 0.0 }
                );
            }
            let gzip = secs("gzip -6 -c (1 thread)");
            let rl = secs("rclone copy to local");
            let rs = secs("rclone copy to s3");
            if let (Some(g), Some(l), Some(s)) = (gzip, rl, rs) {
                let naive = g + l + s;
                let _ = writeln!(
                    out,
                    "- rclone's naive mirror to local + s3 only (gzip {g:.1} s + copies {l:.1} s + {s:.1} s = {naive:.1} s) is {:.2}× scenario 3 (5 destinations); target ≥ 2×: {}",
                    naive / s3,
                    verdict(naive >= 2.0 * s3)
                );
                if let Some(s2) = secs("scenario 2: local + s3") {
                    let _ = writeln!(
                        out,
                        "- same destinations: rclone's mirror is {:.2}× scenario 2 (local + s3)",
                        naive / s2
                    );
                }
                if let Some(p) = secs("pigz -6 -p 2") {
                    let _ = writeln!(
                        out,
                        "- with `pigz -p 2` ({p:.1} s) instead of gzip, rclone's mirror would take {:.1} s: {:.2}× scenario 3",
                        p + l + s,
                        (p + l + s) / s3
                    );
                }
            }
        }
        if let Some(r) = res.get(input, "scenario 3: 5 destinations") {
            let rss = mib(r.rss_kib);
            let _ = writeln!(
                out,
                "- peak RSS with five destinations: {rss:.0} MiB; target ≤ 256 MiB: {}",
                verdict(rss <= 256.0)
            );
        }
        let _ = writeln!(out);
    }
}

/// Issue 24's targets: libdeflate members against `pigz`, and restore against `pigz -dc`.
fn libdeflate_targets(out: &mut String, res: &Results, input: &str) {
    let ours = res.get(input, "scenario 1: local");
    if let (Some(ours), Some(pigz)) = (ours, res.get(input, "pigz -6 -p 2")) {
        let (mine, theirs) = (stored_of(ours), stored_of(pigz));
        let _ = writeln!(
            out,
            "- libdeflate: scenario 1 (compress + hash + write) takes {:.2}× the wall time of `pigz -6 -p 2`; target ≤ 0.55×: {}. Stored {} against pigz's {}; target ≤: {}",
            ours.secs / pigz.secs,
            verdict(ours.secs <= 0.55 * pigz.secs),
            mine.map_or_else(|| "?".into(), human_size),
            theirs.map_or_else(|| "?".into(), human_size),
            verdict(matches!((mine, theirs), (Some(m), Some(t)) if m <= t))
        );
    }
    if let (Some(ours), Some(lib)) = (ours, res.get(input, "libdeflate-gzip -6 (1 thread)")) {
        let _ = writeln!(
            out,
            "- against `libdeflate-gzip -6` on one thread: {:.2}× its wall time, {:.2}× its CPU time",
            ours.secs / lib.secs,
            ours.cpu_secs / lib.cpu_secs.max(0.001)
        );
    }
    if let (Some(three), Some(naive)) = (
        res.get(input, super::scenarios::THREE),
        res.get(input, super::baselines::NAIVE_THREE),
    ) {
        let _ = writeln!(
            out,
            "- three destinations (local + two S3 prefixes): the naive mirror (pigz, sha256sum, rclone × 3) takes {:.2}× cloudmirror's time; target ≥ 1.5×: {}",
            naive.secs / three.secs,
            verdict(naive.secs >= 1.5 * three.secs)
        );
    }
    let restore = res.get(input, "scenario 1: restore from local");
    if let (Some(r), Some(p)) = (restore, res.get(input, "pigz -dc of the pigz output")) {
        let _ = writeln!(
            out,
            "- restore from the local folder (read, verify SHA-256, decompress, write) takes {:.2}× `pigz -dc` alone; target ≤ 1×: {}",
            r.secs / p.secs,
            verdict(r.secs <= p.secs)
        );
    }
    if let (Some(r), Some(p)) = (
        res.get(input, super::scenarios::RESTORE_NULL),
        res.get(input, "pigz -dc of the pigz output"),
    ) {
        let _ = writeln!(
            out,
            "- restore to standard output into `/dev/null` against `pigz -dc` into `/dev/null` (like for like): {:.2}×",
            r.secs / p.secs
        );
    }
    if let (Some(r), Some(p)) = (restore, res.get(input, super::baselines::PIGZ_DC_FILE)) {
        let _ = writeln!(
            out,
            "- the same against `pigz -dc` into a file (like for like: both write the file): {:.2}×",
            r.secs / p.secs
        );
    }
    if let (Some(r), Some(old)) = (restore, res.get(input, super::scenarios::RESTORE_STREAMED)) {
        let _ = writeln!(
            out,
            "- restore: the streaming decoder (every gzip restore before issue 24) takes {:.2}× the member-parallel restore; target ≥ 2×: {}. Peak RSS {:.0} MiB against {:.0} MiB",
            old.secs / r.secs,
            verdict(old.secs >= 2.0 * r.secs),
            mib(r.rss_kib),
            mib(old.rss_kib)
        );
    }
    if let (Some(r), Some(old), Some(plain)) = (
        restore,
        res.get(input, super::scenarios::RESTORE_STREAMED),
        res.get(input, super::scenarios::RESTORE_PLAIN),
    ) {
        let _ = writeln!(
            out,
            "- restore peak RSS {:.1} MiB, the streaming decoder {:.1} MiB, a restore with nothing to decompress {:.1} MiB: decompressing adds {:.1} MiB against {:.1} MiB; within 10 % of the streaming decoder: {}",
            mib(r.rss_kib),
            mib(old.rss_kib),
            mib(plain.rss_kib),
            mib(r.rss_kib.saturating_sub(plain.rss_kib)),
            mib(old.rss_kib.saturating_sub(plain.rss_kib)),
            verdict(r.rss_kib * 10 <= old.rss_kib * 11)
        );
    }
}

/// The slow-destination and memory-versus-size checks.
pub(super) fn slow_and_memory(out: &mut String, res: &Results) {
    if let (Some(slow), Some(base)) = (
        res.get("json", "scenario 3, dropbox throttled to 10 MB/s"),
        res.get("json", "scenario 3: 5 destinations"),
    ) {
        let base_t = dest_seconds(base);
        let mut worst: f64 = 0.0;
        let mut parts = Vec::new();
        for (d, t) in dest_seconds(slow) {
            if d == "dropbox" {
                parts.push(format!("dropbox (throttled) {t:.1} s"));
                continue;
            }
            if let Some((_, b)) = base_t.iter().find(|(n, _)| *n == d) {
                worst = worst.max(t / b);
                parts.push(format!("{d} {t:.1} s vs {b:.1} s"));
            }
        }
        let rss = mib(slow.rss_kib);
        let _ = writeln!(
            out,
            "**slow destination** (json): {}. Worst ratio of the others {:.2}×; target ≤ 1.2×: {}. Peak RSS {rss:.0} MiB: {}\n",
            parts.join(", "),
            worst,
            verdict(worst <= 1.2),
            verdict(rss <= 256.0)
        );
    }
    let big = res
        .rows
        .iter()
        .find(|r| r.input.starts_with("json×4") && r.run.ok);
    if let (Some(big), Some(one)) = (big, res.get("json", "scenario 3: 5 destinations")) {
        let ratio = big.run.rss_kib as f64 / one.rss_kib as f64;
        let _ = writeln!(
            out,
            "**memory vs size**: peak RSS {:.0} MiB for the 4× source, {:.0} MiB for 1×: {:.2}×; target within 10 %: {}\n",
            mib(big.run.rss_kib),
            mib(one.rss_kib),
            ratio,
            verdict(ratio <= 1.10)
        );
    }
}

/// KiB (as `VmHWM` counts) in MiB.
fn mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

pub(super) fn verdict(met: bool) -> &'static str {
    if met {
        "**met**"
    } else {
        "**NOT met**"
    }
}

/// Replaces what lies between the markers in `path` (or creates the file with them).
pub(super) fn write_between_markers(path: &Path, body: &str) -> Result<()> {
    let old = std::fs::read_to_string(path).unwrap_or_default();
    let block = format!("{DOC_BEGIN}\n{body}\n{DOC_END}");
    let new = match (old.find(DOC_BEGIN), old.find(DOC_END)) {
        (Some(a), Some(b)) if b > a => format!("{}{block}{}", &old[..a], &old[b + DOC_END.len()..]),
        _ if old.is_empty() => format!("# Benchmarks\n\n{block}\n"),
        _ => format!("{old}\n{block}\n"),
    };
    std::fs::write(path, new).with_context(|| format!("writing {}", path.display()))
}
