//! End to end against a real PostgreSQL: `backup --exec pg_dump` to a local folder and a faked S3,
//! `restore latest --into psql --safety-backup`, table-by-table comparison; a tampered backup
//! leaves the database untouched; a failing dump leaves nothing anywhere.
//!
//! Each test starts its own throw-away cluster (initdb in a temp folder, 127.0.0.1 on a free port,
//! socket in the temp folder) and stops it on drop, even when the test panics. The server binaries
//! come from `CLOUDMIRROR_PG_BIN` (set by `cargo xtask ci`) or `/usr/lib/postgresql/*/bin`; without
//! them a test prints one "skipped" line, except under `CI=true`, where that is a failure.

use std::path::Path;

use cloudmirror_fakes::s3::FakeS3;

use crate::common::{listed_names, Scratch};
use crate::restore_into::tamper_valid_gzip;

mod cluster;

use cluster::Pg;

/// A few related tables, thousands of rows, unicode, NULLs, bytea, jsonb, a sequence.
const SEED: &str = r"
CREATE TABLE orgs (id int PRIMARY KEY, name text NOT NULL, country text);
CREATE TABLE users (
    id bigint PRIMARY KEY,
    org_id int REFERENCES orgs(id),
    email text UNIQUE NOT NULL,
    display_name text,
    bio text,
    score numeric(10, 2),
    active boolean,
    created_at timestamptz,
    profile jsonb
);
CREATE TABLE events (
    id bigserial PRIMARY KEY,
    user_id bigint REFERENCES users(id),
    kind text,
    payload bytea,
    at timestamptz
);
INSERT INTO orgs
SELECT g, 'Org ' || g || ' — Ünïcödé ✓ 組織', CASE WHEN g % 5 = 0 THEN NULL ELSE 'DE' END
FROM generate_series(1, 100) g;
INSERT INTO users
SELECT g, 1 + g % 100, 'user' || g || '@example.com',
       CASE WHEN g % 13 = 0 THEN NULL ELSE 'Ünïcödé 用户 ' || g || ' 🚀' END,
       CASE WHEN g % 7 = 0 THEN NULL
            ELSE repeat(E'tab\there, newline\nand a backslash \\ and a quote '' ', 1 + g % 3) END,
       (g * 1.25) % 1000, CASE WHEN g % 17 = 0 THEN NULL ELSE g % 3 = 0 END,
       timestamptz '2026-01-01 00:00:00+00' + g * interval '1 minute',
       jsonb_build_object('n', g, 'tags', jsonb_build_array('a', 'ü', NULL))
FROM generate_series(1, 5000) g;
INSERT INTO events (user_id, kind, payload, at)
SELECT 1 + g % 5000, CASE WHEN g % 11 = 0 THEN NULL ELSE 'login' END,
       decode(md5(g::text), 'hex'), timestamptz '2026-02-01 00:00:00+00' + g * interval '1 second'
FROM generate_series(1, 20000) g;
";

/// What happens to the database after the backup, before the restore.
const CHANGE: &str = r"
UPDATE users SET display_name = 'changed', score = NULL WHERE id % 2 = 0;
DELETE FROM events WHERE id % 3 = 0;
INSERT INTO orgs VALUES (1000, 'new org after the backup', NULL);
INSERT INTO events (user_id, kind) VALUES (1, 'after-backup');
";

/// A config with `[backup] exec` dumping `DATABASE_URL` in `format`, to a local folder and `s3`.
fn config(s3: &FakeS3, format: &str) -> String {
    format!(
        r#"
[backup]
exec = "pg_dump --format={format} --no-owner \"$DATABASE_URL\""
name = "app-{{timestamp}}.{ext}"

[[destinations]]
name = "local"
type = "local"
path = "backups"

{}
"#,
        s3.destination_toml("s3"),
        ext = if format == "plain" { "sql" } else { "dump" },
    )
}

/// The fake S3 and the runtime it runs on, for as long as the test holds them.
struct FakeCloud {
    s3: FakeS3,
    _rt: tokio::runtime::Runtime,
}

impl FakeCloud {
    fn start() -> Self {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .expect("runtime");
        let s3 = rt.block_on(FakeS3::start());
        Self { s3, _rt: rt }
    }
}

/// The fake S3, a seeded `app` database and a scratch folder whose config dumps `app` in `format`
/// to a local folder and the fake.
fn seeded_app(pg: &Pg, format: &str) -> (FakeCloud, Scratch) {
    let cloud = FakeCloud::start();
    pg.create_db("app");
    pg.sql("app", SEED);
    let s = Scratch::new();
    s.write("cloudmirror.toml", config(&cloud.s3, format));
    (cloud, s)
}

/// Backs up `app` with the configured job and returns the stored name.
fn backup_app(pg: &Pg, s: &Scratch) -> String {
    pg.cloudmirror(s, "app", &["backup", "--json"])
        .expect_code(0)
        .json()["name"]
        .as_str()
        .unwrap()
        .to_owned()
}

const PSQL_INTO: &str = "psql --single-transaction -v ON_ERROR_STOP=1 -X -q \"$RESTORE_URL\"";

#[test]
fn pg_dump_backup_then_restore_latest_into_psql_with_a_safety_backup() {
    let Some(pg) = Pg::start("pg_dump_backup_then_restore_latest_into_psql_with_a_safety_backup")
    else {
        return;
    };
    let (cloud, s) = seeded_app(&pg, "plain");
    let original = pg.snapshot("app");
    assert_eq!(original.rows_of("users"), 5000);
    assert_eq!(original.rows_of("events"), 20000);

    let name = backup_app(&pg, &s);
    assert!(
        cloud
            .s3
            .object_keys()
            .contains(&format!("{name}.manifest.json")),
        "{:?}",
        cloud.s3.object_keys()
    );

    pg.sql("app", CHANGE);
    let changed = pg.snapshot("app");
    assert!(changed != original, "the change changed nothing");

    pg.create_db("restored");
    let run = pg
        .cloudmirror(
            &s,
            "app",
            &[
                "restore",
                "latest",
                "--into",
                PSQL_INTO,
                "--safety-backup",
                "--yes",
                "--json",
            ],
        )
        .expect_code(0);
    let v = run.json();
    assert_eq!(
        v["name"],
        name.as_str(),
        "latest is the backup, not the safety backup"
    );
    assert_eq!(
        pg.snapshot("restored"),
        original,
        "every table as backed up"
    );

    // The safety backup holds the state from just before the restore, on both destinations.
    let safety = v["safety_backup"]["name"].as_str().unwrap().to_owned();
    assert!(safety.starts_with("pre-restore-"), "{safety}");
    assert_eq!(v["safety_backup"]["manifest"]["pre_restore"], true);
    let listed = listed_names(
        &pg.cloudmirror(&s, "app", &["list", "--json"])
            .expect_code(0),
    );
    assert!(listed.contains(&safety), "{listed:?}");
    pg.sql("postgres", "DROP DATABASE restored;");
    pg.create_db("restored");
    pg.cloudmirror(
        &s,
        "app",
        &[
            "restore", &safety, "--from", "s3", "--into", PSQL_INTO, "--yes",
        ],
    )
    .expect_code(0);
    assert_eq!(
        pg.snapshot("restored"),
        changed,
        "the safety backup is usable"
    );

    // `latest` is still the real backup, now from the fake cloud.
    let run = pg
        .cloudmirror(
            &s,
            "app",
            &[
                "restore",
                "latest",
                "--from",
                "s3",
                "-o",
                "again.sql",
                "--json",
            ],
        )
        .expect_code(0);
    assert_eq!(run.json()["name"], name.as_str());
}

#[test]
fn pg_custom_format_restores_with_pg_restore() {
    let Some(pg) = Pg::start("pg_custom_format_restores_with_pg_restore") else {
        return;
    };
    let (_cloud, s) = seeded_app(&pg, "custom");
    let original = pg.snapshot("app");
    pg.cloudmirror(&s, "app", &["backup"]).expect_code(0);
    pg.create_db("restored");
    pg.cloudmirror(
        &s,
        "app",
        &[
            "restore",
            "latest",
            "--from",
            "s3",
            "--into",
            "pg_restore --single-transaction --exit-on-error --no-owner -d \"$RESTORE_URL\"",
            "--yes",
        ],
    )
    .expect_code(0);
    pg.snapshot("restored")
        .assert_same(&original, "restored with pg_restore");
}

#[test]
fn pg_a_tampered_backup_aborts_the_restore_and_leaves_the_database_as_it_was() {
    let Some(pg) =
        Pg::start("pg_a_tampered_backup_aborts_the_restore_and_leaves_the_database_as_it_was")
    else {
        return;
    };
    let (_cloud, s) = seeded_app(&pg, "plain");
    let name = backup_app(&pg, &s);

    // The stored copy becomes a valid gzip of a valid dump that also plants a table: psql runs
    // every statement; only the checksum, known once the last byte has gone in, can stop it.
    tamper_valid_gzip(
        &s.join(&format!("backups/{name}")),
        b"\nCREATE TABLE public.planted (x int);\n",
    );

    // The target already holds data of its own.
    pg.create_db("restored");
    pg.sql(
        "restored",
        "CREATE TABLE sentinel (id int PRIMARY KEY, note text); INSERT INTO sentinel VALUES (1, 'before');",
    );
    let before = pg.snapshot("restored");
    let run = pg
        .cloudmirror(
            &s,
            "app",
            &[
                "restore", &name, "--from", "local", "--into", PSQL_INTO, "--yes",
            ],
        )
        .expect_code(2);
    assert!(run.stderr.contains("corrupt"), "{}", run.stderr);
    assert!(run.stderr.contains("killed"), "{}", run.stderr);
    pg.snapshot("restored")
        .assert_same(&before, "after the aborted restore");

    // Without --yes and without a terminal, nothing runs at all.
    let run = pg
        .cloudmirror(
            &s,
            "app",
            &[
                "restore",
                "latest",
                "--from",
                "s3",
                "--into",
                PSQL_INTO,
                "--safety-backup",
            ],
        )
        .expect_code(2);
    assert!(run.stderr.contains("--yes"), "{}", run.stderr);
    pg.snapshot("restored")
        .assert_same(&before, "after the refused restore");
    assert_eq!(
        listed_names(
            &pg.cloudmirror(&s, "app", &["list", "--json"])
                .expect_code(0)
        ),
        vec![name.clone()],
        "no safety backup was made"
    );

    // The intact copy on the fake cloud restores (into the same, now emptied, database).
    pg.sql("restored", "DROP TABLE sentinel;");
    pg.cloudmirror(
        &s,
        "app",
        &[
            "restore", &name, "--from", "s3", "--into", PSQL_INTO, "--yes",
        ],
    )
    .expect_code(0);
    let restored = pg.snapshot("restored");
    assert!(!restored.tables.contains(&"planted".to_owned()));
    assert_eq!(restored.rows_of("users"), 5000);
}

#[test]
fn pg_a_failing_dump_leaves_nothing_behind_and_blocks_the_restore() {
    let Some(pg) = Pg::start("pg_a_failing_dump_leaves_nothing_behind_and_blocks_the_restore")
    else {
        return;
    };
    let (cloud, s) = seeded_app(&pg, "plain");
    let name = backup_app(&pg, &s);
    let stored_before = cloud.s3.object_keys();
    let local_before = local_files(&s.join("backups"));

    let run = pg
        .cloudmirror(
            &s,
            "app",
            &[
                "backup",
                "--exec",
                "pg_dump --format=plain \"$DATABASE_URL\"_missing",
            ],
        )
        .expect_code(2);
    assert!(
        run.stderr.contains("app_missing"),
        "pg_dump's stderr is shown: {}",
        run.stderr
    );
    assert_eq!(cloud.s3.object_keys(), stored_before);
    assert_eq!(local_files(&s.join("backups")), local_before);

    // With [backup] exec dumping a missing database, the safety backup fails: nothing is restored.
    pg.create_db("restored");
    let before = pg.snapshot("restored");
    let run = pg
        .cloudmirror(
            &s,
            "app_missing",
            &[
                "restore",
                &name,
                "--into",
                PSQL_INTO,
                "--safety-backup",
                "--yes",
            ],
        )
        .expect_code(2);
    assert!(
        run.stderr.contains("failed on every destination"),
        "{}",
        run.stderr
    );
    pg.snapshot("restored")
        .assert_same(&before, "after the refused restore");
    assert_eq!(cloud.s3.object_keys(), stored_before);
    assert_eq!(local_files(&s.join("backups")), local_before);
}

fn local_files(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .map(|rd| {
            rd.filter_map(Result::ok)
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}
