//! `[[jobs]]`: several jobs in one config, each under its own prefix with its own retention;
//! `--job`, `--all-jobs`, per-job output; and the README's single-job config unchanged.

use crate::common::{listed_names, Run, Scratch};

const TWO_JOBS: &str = r#"
[backup]
compress = "gzip"

[[destinations]]
name = "local"
type = "local"
path = "store"

[[destinations]]
name = "second"
type = "local"
path = "store2"

[[jobs]]
name = "prod-db"
[jobs.backup]
source = "prod.txt"
[jobs.retention]
keep_last = 1
protect_larger = false

[[jobs]]
name = "uploads"
destinations = ["local"]
[jobs.backup]
source = "uploads.txt"
"#;

fn two_jobs() -> Scratch {
    let s = Scratch::new();
    s.write("cloudmirror.toml", TWO_JOBS);
    s.write("prod.txt", "production rows\n".repeat(50));
    s.write("uploads.txt", "uploaded files\n".repeat(50));
    s
}

/// Each stdout line of a `--json` run over several jobs, parsed.
fn json_lines(run: &Run) -> Vec<serde_json::Value> {
    run.stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect()
}

fn files_in(s: &Scratch, dir: &str) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(s.join(dir))
        .map(|d| {
            d.filter_map(Result::ok)
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

#[test]
fn per_job_prefixes_keep_retention_separate() {
    let s = two_jobs();
    for i in 1..=3 {
        for job in ["prod-db", "uploads"] {
            s.run(&["backup", "--job", job, "--name", &format!("{job}-{i}.gz")])
                .expect_code(0);
        }
    }
    // prod-db keeps one backup (its retention ran after each backup); uploads keeps all three.
    assert_eq!(
        files_in(&s, "store/prod-db"),
        vec!["prod-db-3.gz", "prod-db-3.gz.manifest.json"]
    );
    assert_eq!(files_in(&s, "store/uploads").len(), 6);
    assert_eq!(files_in(&s, "store2/prod-db").len(), 2);
    assert!(
        !s.join("store2/uploads").exists(),
        "uploads only goes to `local`"
    );
    // Pruning every job (prod-db has keep_last = 1) never touches the other job's backups.
    s.run(&["prune"]).expect_code(0);
    assert_eq!(files_in(&s, "store/uploads").len(), 6);
    let listed = s
        .run(&["list", "--job", "uploads", "--json"])
        .expect_code(0);
    assert_eq!(
        listed_names(&listed),
        vec!["uploads-3.gz", "uploads-2.gz", "uploads-1.gz"]
    );
    assert_eq!(listed.json()["job"], "uploads");
}

#[test]
fn job_selection_and_output_grouped_by_job() {
    let s = two_jobs();
    let refused = s.run(&["backup"]).expect_code(2);
    assert!(
        refused.stderr.contains("--job") && refused.stderr.contains("prod-db, uploads"),
        "{}",
        refused.stderr
    );
    assert!(files_in(&s, "store").is_empty(), "nothing was backed up");
    let unknown = s.run(&["backup", "--job", "nope"]).expect_code(2);
    assert!(
        unknown.stderr.contains("\"nope\"") && unknown.stderr.contains("prod-db, uploads"),
        "{}",
        unknown.stderr
    );
    s.run(&["backup", "--all-jobs"]).expect_code(0);
    assert_eq!(files_in(&s, "store/prod-db").len(), 2);
    assert_eq!(files_in(&s, "store/uploads").len(), 2);

    let list = s.run(&["list"]).expect_code(0);
    let a = list.stdout.find("== job prod-db").expect("prod-db header");
    let b = list.stdout.find("== job uploads").expect("uploads header");
    assert!(a < b, "{}", list.stdout);
    assert!(list.stdout[a..b].contains("prod-"), "{}", list.stdout);
    assert!(list.stdout[b..].contains("uploads-"), "{}", list.stdout);

    let json = json_lines(&s.run(&["list", "--json"]).expect_code(0));
    let jobs: Vec<&str> = json.iter().map(|v| v["job"].as_str().unwrap()).collect();
    assert_eq!(jobs, vec!["prod-db", "uploads"]);

    for cmd in [&["status"][..], &["verify"], &["prune", "--dry-run"]] {
        let run = s.run(cmd).expect_code(0);
        assert!(
            run.stdout.contains("== job prod-db") && run.stdout.contains("== job uploads"),
            "{cmd:?}: {}",
            run.stdout
        );
    }

    // `restore latest` needs a job when there are several; with one it picks that job's newest.
    let ambiguous = s
        .run(&["restore", "latest", "-o", "out.txt"])
        .expect_code(2);
    assert!(ambiguous.stderr.contains("--job"), "{}", ambiguous.stderr);
    s.run(&["restore", "latest", "--job", "uploads", "-o", "out.txt"])
        .expect_code(0);
    assert_eq!(
        std::fs::read(s.join("out.txt")).unwrap(),
        std::fs::read(s.join("uploads.txt")).unwrap()
    );
    // A backup named without --job is found in the job that holds it.
    let prod = listed_names(
        &s.run(&["list", "--job", "prod-db", "--json"])
            .expect_code(0),
    );
    s.run(&["restore", &prod[0], "-o", "prod-out.txt"])
        .expect_code(0);
    assert_eq!(
        std::fs::read(s.join("prod-out.txt")).unwrap(),
        std::fs::read(s.join("prod.txt")).unwrap()
    );
}

#[test]
fn errors_name_the_job() {
    let s = Scratch::new();
    let config = "[[destinations]]\nname = \"local\"\ntype = \"local\"\npath = \"store\"\n\n\
                  [[jobs]]\nname = \"prod-db\"\n\n[[jobs]]\nname = \"extra\"\n\n\
                  [[jobs]]\nname = \"staging-db\"\n[jobs.backup]\nexec = 5\n";
    s.write("cloudmirror.toml", config);
    let run = s.run(&["list"]).expect_code(2);
    assert!(
        run.stderr.contains("jobs[2] (staging-db).backup.exec:")
            && run.stderr.contains("cloudmirror.toml:15:"),
        "{}",
        run.stderr
    );
    for (bad, expected) in [
        (
            "[[jobs]]\nname = \"a b\"\n",
            "jobs[0] (a b).name: invalid job name",
        ),
        (
            "[[jobs]]\nname = \"a\"\n[[jobs]]\nname = \"a\"\n",
            "jobs[1] (a).name: duplicate job name",
        ),
        (
            "[[jobs]]\nname = \"a\"\ndestinations = [\"s3\"]\n",
            "jobs[0] (a).destinations: unknown destination \"s3\"",
        ),
        (
            "[[jobs]]\nname = \"a\"\nschedule = \"every day\"\n",
            "jobs[0] (a).schedule: invalid cron expression",
        ),
        (
            "[[jobs]]\nname = \"a\"\n[jobs.retention]\nkeep_daily = -1\n",
            "jobs[0] (a).retention.keep_daily",
        ),
    ] {
        s.write(
            "cloudmirror.toml",
            format!(
                "[[destinations]]\nname = \"local\"\ntype = \"local\"\npath = \"store\"\n{bad}"
            ),
        );
        let run = s.run(&["list"]).expect_code(2);
        assert!(run.stderr.contains(expected), "{bad}: {}", run.stderr);
    }
}

/// The first TOML block of the README, as a user copies it.
fn readme_config() -> String {
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    let start = readme.find("```toml\n").expect("a toml block") + "```toml\n".len();
    let end = start + readme[start..].find("```").expect("end of block");
    readme[start..end].to_owned()
}

#[test]
fn readme_single_job_config_works_unchanged() {
    let s = Scratch::new();
    let config = readme_config();
    assert!(!config.contains("[[jobs]]"));
    s.write("cloudmirror.toml", &config);
    s.write("db.json", "{\"id\":1}\n".repeat(100));
    s.run(&[
        "backup",
        "db.json",
        "--to",
        "local",
        "--name",
        "db-1.json.gz",
    ])
    .expect_code(0);
    // Stored exactly where it always was: under the destination's prefix, no job folder.
    assert!(s.join("backups/daily/db-1.json.gz").is_file());
    assert!(s.join("backups/daily/db-1.json.gz.manifest.json").is_file());
    // An existing backup (stored before jobs existed) is found, listed and restored as before.
    let list = s.run(&["list", "--to", "local"]).expect_code(0);
    assert!(!list.stdout.contains("== job"), "{}", list.stdout);
    let json = s.run(&["list", "--to", "local", "--json"]).expect_code(0);
    assert!(json.json().get("job").is_none(), "{}", json.stdout);
    assert_eq!(listed_names(&json), vec!["db-1.json.gz"]);
    s.run(&["restore", "latest", "--to", "local", "-o", "back.json"])
        .expect_code(0);
    assert_eq!(
        std::fs::read(s.join("back.json")).unwrap(),
        std::fs::read(s.join("db.json")).unwrap()
    );
    // The implicit job is named `default`.
    s.run(&["list", "--to", "local", "--job", "default"])
        .expect_code(0);
}

#[test]
fn status_prometheus_is_one_exposition_labelled_by_job() {
    let s = two_jobs();
    s.run(&["backup", "--all-jobs"]).expect_code(0);
    let run = s.run(&["status", "--format", "prometheus"]).expect_code(0);
    assert_eq!(
        run.stdout
            .matches("# TYPE cloudmirror_backups gauge\n")
            .count(),
        1,
        "{}",
        run.stdout
    );
    let scrape =
        prometheus_parse::Scrape::parse(run.stdout.lines().map(|l| Ok(l.to_owned()))).unwrap();
    let mut series: Vec<(String, String)> = scrape
        .samples
        .iter()
        .filter(|x| x.metric == "cloudmirror_backups")
        .map(|x| {
            (
                x.labels.get("backup_job").unwrap_or("").to_owned(),
                x.labels.get("destination").unwrap_or("").to_owned(),
            )
        })
        .collect();
    series.sort();
    let pair = |j: &str, d: &str| (j.to_owned(), d.to_owned());
    assert_eq!(
        series,
        vec![
            pair("prod-db", "local"),
            pair("prod-db", "second"),
            pair("uploads", "local")
        ]
    );
}
