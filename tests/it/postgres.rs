//! End to end against a real PostgreSQL: `backup --exec pg_dump` to a local folder and a faked S3,
//! `restore latest --into psql --safety-backup`, table-by-table comparison; a tampered backup
//! leaves the database untouched; a failing dump leaves nothing anywhere.
//!
//! Each test starts its own throw-away cluster (initdb in a temp folder, 127.0.0.1 on a free port,
//! socket in the temp folder) and stops it on drop, even when the test panics. The server binaries
//! come from `CLOUDMIRROR_PG_BIN` (set by `cargo xtask ci`) or `/usr/lib/postgresql/*/bin`; without
//! them a test prints one "skipped" line, except under `CI=true`, where that is a failure.

use std::ffi::OsString;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use cloudmirror_fakes::s3::FakeS3;

use crate::common::{listed_names, Run, Scratch};
use crate::restore_into::tamper_valid_gzip;

/// A running throw-away PostgreSQL cluster.
struct Pg {
    dir: tempfile::TempDir,
    bin: PathBuf,
    port: u16,
    /// `Some("postgres")` when we are root: postgres refuses to run as root.
    run_as: Option<&'static str>,
}

impl Pg {
    /// Starts a cluster, or prints why it cannot and returns `None` (a failure under `CI=true`).
    fn start(test: &str) -> Option<Self> {
        let bin = match find_bin() {
            Ok(bin) => bin,
            Err(why) => {
                assert!(
                    std::env::var("CI").as_deref() != Ok("true"),
                    "CI=true and PostgreSQL is unavailable: {why}"
                );
                println!("skipped: {test}: {why}");
                return None;
            }
        };
        let run_as = rustix::process::getuid().is_root().then_some("postgres");
        let dir = tempfile::Builder::new()
            .prefix("cm-pg-")
            .tempdir()
            .expect("temp dir");
        if let Some(user) = run_as {
            let ok = Command::new("chown")
                .arg(format!("{user}:"))
                .arg(dir.path())
                .status()
                .is_ok_and(|s| s.success());
            assert!(ok, "cannot chown the cluster folder to {user}");
        }
        let mut pg = Self {
            dir,
            bin,
            port: 0,
            run_as,
        };
        let data = pg.data_dir();
        pg.server_tool("initdb")
            .args(["--no-sync", "-U", "postgres", "--auth=trust", "-E", "UTF8"])
            .args(["--locale=C.UTF-8", "-D"])
            .arg(&data)
            .stdout(Stdio::null())
            .status_ok("initdb");
        // A free port can be taken between our probe and the server's bind: try a few.
        for attempt in 0..5 {
            pg.port = free_port();
            let started = pg
                .server_tool("pg_ctl")
                .arg("-D")
                .arg(&data)
                .arg("-l")
                .arg(pg.dir.path().join("server.log"))
                .arg("-o")
                .arg(format!(
                    "-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off -c full_page_writes=off",
                    pg.port,
                    pg.dir.path().display()
                ))
                .args(["-w", "start"])
                .stdout(Stdio::null())
                .status()
                .is_ok_and(|s| s.success());
            if started {
                return Some(pg);
            }
            assert!(attempt < 4, "pg_ctl start failed: {}", pg.server_log());
        }
        unreachable!()
    }

    fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    fn server_log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("server.log")).unwrap_or_default()
    }

    /// A server program, run as the `postgres` user when we are root.
    fn server_tool(&self, program: &str) -> Command {
        let path = self.bin.join(program);
        match self.run_as {
            Some(user) => {
                let mut c = Command::new("runuser");
                c.args(["-u", user, "--"]).arg(path);
                c
            }
            None => Command::new(path),
        }
    }

    fn url(&self, db: &str) -> String {
        format!("postgresql://postgres@127.0.0.1:{}/{db}", self.port)
    }

    /// PATH with this installation's programs first, for the commands cloudmirror runs.
    fn path_env(&self) -> OsString {
        let mut paths = vec![self.bin.clone()];
        paths.extend(std::env::split_paths(
            &std::env::var_os("PATH").unwrap_or_default(),
        ));
        std::env::join_paths(paths).expect("PATH")
    }

    /// Runs SQL in `db` (stops at the first error) and returns psql's unaligned output.
    fn sql(&self, db: &str, sql: &str) -> String {
        let out = Command::new(self.bin.join("psql"))
            .args(["-X", "-q", "-v", "ON_ERROR_STOP=1", "-At", "-d"])
            .arg(self.url(db))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .and_then(|mut child| {
                child
                    .stdin
                    .take()
                    .expect("stdin")
                    .write_all(sql.as_bytes())?;
                child.wait_with_output()
            })
            .expect("psql");
        assert!(
            out.status.success(),
            "psql failed: {}\n{sql}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).expect("utf-8")
    }

    fn create_db(&self, db: &str) {
        self.sql("postgres", &format!("CREATE DATABASE {db};"));
    }

    /// Every table of `db` (schema and rows, ordered by primary key), and every sequence's state.
    fn snapshot(&self, db: &str) -> Snapshot {
        let tables: Vec<String> = self
            .sql(
                db,
                "SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY 1;",
            )
            .lines()
            .map(str::to_owned)
            .collect();
        let mut rows = Vec::new();
        for t in &tables {
            let copy = self.sql(
                db,
                &format!("COPY (SELECT * FROM {t} ORDER BY 1) TO STDOUT WITH (FORMAT text);"),
            );
            rows.push((t.clone(), copy));
        }
        let sequences = self.sql(
            db,
            "SELECT sequencename, last_value FROM pg_sequences WHERE schemaname = 'public' ORDER BY 1;",
        );
        let schema = Command::new(self.bin.join("pg_dump"))
            .args(["--schema-only", "--no-owner", "-d"])
            .arg(self.url(db))
            .output()
            .expect("pg_dump --schema-only");
        assert!(schema.status.success());
        Snapshot {
            tables,
            rows,
            sequences,
            // pg_dump >= 15.14 brackets its output with `\restrict KEY` lines, KEY random per run.
            schema: String::from_utf8(schema.stdout)
                .expect("utf-8")
                .lines()
                .filter(|l| !l.starts_with("\\restrict") && !l.starts_with("\\unrestrict"))
                .collect::<Vec<_>>()
                .join("\n"),
        }
    }

    /// Runs cloudmirror in `s` with this server's programs on PATH and `DATABASE_URL` set.
    fn cloudmirror(&self, s: &Scratch, db: &str, args: &[&str]) -> Run {
        let out = s
            .command(args)
            .env("PATH", self.path_env())
            .env("DATABASE_URL", self.url(db))
            .env("RESTORE_URL", self.url("restored"))
            .env_remove("PGPASSWORD")
            .env_remove("PGDATABASE")
            .output()
            .expect("run cloudmirror");
        Run {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }
}

impl Drop for Pg {
    fn drop(&mut self) {
        if self.port != 0 {
            let _ = self
                .server_tool("pg_ctl")
                .arg("-D")
                .arg(self.data_dir())
                .args(["-m", "immediate", "stop"])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
        }
    }
}

/// What a database holds, comparable as a whole.
#[derive(Debug, PartialEq, Eq)]
struct Snapshot {
    tables: Vec<String>,
    rows: Vec<(String, String)>,
    sequences: String,
    schema: String,
}

impl Snapshot {
    /// Panics with the first difference (not the whole database) unless `self` equals `other`.
    #[track_caller]
    fn assert_same(&self, other: &Snapshot, what: &str) {
        assert_eq!(self.tables, other.tables, "{what}: tables");
        for ((table, mine), (_, theirs)) in self.rows.iter().zip(&other.rows) {
            let (m, t): (Vec<&str>, Vec<&str>) = (mine.lines().collect(), theirs.lines().collect());
            if let Some(i) = (0..m.len().max(t.len())).find(|&i| m.get(i) != t.get(i)) {
                panic!(
                    "{what}: table {table} differs at row {i} ({} vs {} rows):\n  {:?}\n  {:?}",
                    m.len(),
                    t.len(),
                    m.get(i),
                    t.get(i)
                );
            }
        }
        assert_eq!(self.sequences, other.sequences, "{what}: sequences");
        assert!(
            self.schema == other.schema,
            "{what}: schemas differ:\n{}\n---\n{}",
            self.schema,
            other.schema
        );
    }

    fn rows_of(&self, table: &str) -> usize {
        self.rows
            .iter()
            .find(|(t, _)| t == table)
            .map_or(0, |(_, r)| r.lines().count())
    }
}

trait StatusOk {
    fn status_ok(&mut self, what: &str);
}

impl StatusOk for Command {
    fn status_ok(&mut self, what: &str) {
        let out = self.stderr(Stdio::piped()).output().expect(what);
        assert!(
            out.status.success(),
            "{what} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

fn find_bin() -> Result<PathBuf, String> {
    const NEEDED: [&str; 6] = [
        "initdb",
        "pg_ctl",
        "postgres",
        "psql",
        "pg_dump",
        "pg_restore",
    ];
    let complete = |p: &Path| NEEDED.iter().all(|n| p.join(n).is_file());
    if let Some(p) = std::env::var_os("CLOUDMIRROR_PG_BIN").map(PathBuf::from) {
        return if complete(&p) {
            Ok(p)
        } else {
            Err(format!(
                "CLOUDMIRROR_PG_BIN={} lacks one of {NEEDED:?}",
                p.display()
            ))
        };
    }
    let mut found: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .map_err(|_| "no PostgreSQL server (/usr/lib/postgresql is missing; set CLOUDMIRROR_PG_BIN or run `cargo xtask ci`)".to_owned())?
        .filter_map(Result::ok)
        .filter_map(|e| {
            let v = e.file_name().to_string_lossy().parse().ok()?;
            let bin = e.path().join("bin");
            complete(&bin).then_some((v, bin))
        })
        .collect();
    found.sort();
    found
        .pop()
        .map(|(_, bin)| bin)
        .ok_or_else(|| format!("no /usr/lib/postgresql/*/bin holds all of {NEEDED:?}"))
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port()
}

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
