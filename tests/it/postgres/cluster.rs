//! A throw-away PostgreSQL cluster per test (initdb in a temp folder, 127.0.0.1 on a free port),
//! stopped on drop; snapshots of a database to compare before and after a restore.

use std::ffi::OsString;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::common::{Run, Scratch};

/// A running throw-away PostgreSQL cluster.
pub(super) struct Pg {
    dir: tempfile::TempDir,
    bin: PathBuf,
    port: u16,
    /// `Some("postgres")` when we are root: postgres refuses to run as root.
    run_as: Option<&'static str>,
}

impl Pg {
    /// Starts a cluster, or prints why it cannot and returns `None` (a failure under `CI=true`).
    pub(super) fn start(test: &str) -> Option<Self> {
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

    pub(super) fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    pub(super) fn server_log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("server.log")).unwrap_or_default()
    }

    /// A server program, run as the `postgres` user when we are root.
    pub(super) fn server_tool(&self, program: &str) -> Command {
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

    pub(super) fn url(&self, db: &str) -> String {
        format!("postgresql://postgres@127.0.0.1:{}/{db}", self.port)
    }

    /// PATH with this installation's programs first, for the commands cloudmirror runs.
    pub(super) fn path_env(&self) -> OsString {
        let mut paths = vec![self.bin.clone()];
        paths.extend(std::env::split_paths(
            &std::env::var_os("PATH").unwrap_or_default(),
        ));
        std::env::join_paths(paths).expect("PATH")
    }

    /// Runs SQL in `db` (stops at the first error) and returns psql's unaligned output.
    pub(super) fn sql(&self, db: &str, sql: &str) -> String {
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

    pub(super) fn create_db(&self, db: &str) {
        self.sql("postgres", &format!("CREATE DATABASE {db};"));
    }

    /// Every table of `db` (schema and rows, ordered by primary key), and every sequence's state.
    pub(super) fn snapshot(&self, db: &str) -> Snapshot {
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
    pub(super) fn cloudmirror(&self, s: &Scratch, db: &str, args: &[&str]) -> Run {
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
pub(super) struct Snapshot {
    pub(super) tables: Vec<String>,
    rows: Vec<(String, String)>,
    sequences: String,
    schema: String,
}

impl Snapshot {
    /// Panics with the first difference (not the whole database) unless `self` equals `other`.
    #[track_caller]
    pub(super) fn assert_same(&self, other: &Snapshot, what: &str) {
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

    pub(super) fn rows_of(&self, table: &str) -> usize {
        self.rows
            .iter()
            .find(|(t, _)| t == table)
            .map_or(0, |(_, r)| r.lines().count())
    }
}

pub(super) trait StatusOk {
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

pub(super) fn find_bin() -> Result<PathBuf, String> {
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

pub(super) fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port()
}
