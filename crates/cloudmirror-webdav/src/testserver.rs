//! A real WebDAV server for tests and the demo (feature `testserver`, never in a release build):
//! `wsgidav` (PyPI) on `127.0.0.1`, a temporary root folder, one Basic-auth user.
//!
//! The program comes from `CLOUDMIRROR_WSGIDAV`, `target/webdav-venv/bin/wsgidav` (where
//! `cargo xtask ci` installs it) or `PATH`.

use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The user name the server accepts.
pub const USER: &str = "alice";
/// That user's password.
pub const PASSWORD: &str = "cloudmirror-test-pw";
/// The store's folder under the server's root (it exists from the start).
pub const FOLDER: &str = "backups";

/// A running `wsgidav`; killed, and its folder removed, on drop.
#[derive(Debug)]
pub struct Wsgidav {
    child: Option<Child>,
    binary: PathBuf,
    port: u16,
    dir: tempfile::TempDir,
}

impl Drop for Wsgidav {
    fn drop(&mut self) {
        self.stop();
    }
}

impl Wsgidav {
    /// Finds `wsgidav`: `CLOUDMIRROR_WSGIDAV`, then `target/webdav-venv/bin/wsgidav` of this
    /// workspace, then `PATH`.
    pub fn find() -> Option<PathBuf> {
        if let Some(path) = std::env::var_os("CLOUDMIRROR_WSGIDAV") {
            return Some(PathBuf::from(path)).filter(|p| p.is_file());
        }
        let venv =
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/webdav-venv/bin/wsgidav");
        let on_path = std::env::var_os("PATH")
            .map(|p| {
                std::env::split_paths(&p)
                    .map(|d| d.join("wsgidav"))
                    .collect::<Vec<_>>()
            })
            .unwrap_or_default();
        std::iter::once(venv).chain(on_path).find(|p| p.is_file())
    }

    /// Starts `binary` on a free port of 127.0.0.1 with an empty `FOLDER`, waiting until it accepts
    /// connections.
    pub fn start(binary: PathBuf) -> std::io::Result<Self> {
        let dir = tempfile::tempdir()?;
        std::fs::create_dir_all(dir.path().join("root").join(FOLDER))?;
        let port = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?
            .local_addr()?
            .port();
        let mut server = Self {
            child: None,
            binary,
            port,
            dir,
        };
        server.restart()?;
        Ok(server)
    }

    /// The store's folder URL.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}/dav/{FOLDER}/", self.port)
    }

    /// The store's folder on disk.
    pub fn folder(&self) -> PathBuf {
        self.dir.path().join("root").join(FOLDER)
    }

    /// What the server logged so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("wsgidav.log")).unwrap_or_default()
    }

    /// Kills the server (every open connection drops); its files stay.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts the server (again) on the same port and folder, and waits until it accepts connections.
    pub fn restart(&mut self) -> std::io::Result<()> {
        self.stop();
        let config_path = self.dir.path().join("wsgidav.json");
        std::fs::write(
            &config_path,
            config_json(self.port, &self.dir.path().join("root")),
        )?;
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.path().join("wsgidav.log"))?;
        let child = Command::new(&self.binary)
            .arg("--config")
            .arg(&config_path)
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()?;
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(30);
        while TcpStream::connect((Ipv4Addr::LOCALHOST, self.port)).is_err() {
            if Instant::now() > deadline {
                return Err(std::io::Error::other(format!(
                    "wsgidav did not start:\n{}",
                    self.log()
                )));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Ok(())
    }
}

/// The server's configuration, with wsgidav 4.x keys (`wsgidav/default_conf.py`): Basic auth only,
/// one user, the root folder mounted at `/dav`.
fn config_json(port: u16, root: &Path) -> String {
    let root = root
        .display()
        .to_string()
        .replace('\\', "\\\\")
        .replace('"', "\\\"");
    format!(
        r#"{{
  "host": "127.0.0.1",
  "port": {port},
  "provider_mapping": {{ "/dav": "{root}" }},
  "http_authenticator": {{ "accept_basic": true, "accept_digest": false, "default_to_digest": false }},
  "simple_dc": {{ "user_mapping": {{ "*": {{ "{USER}": {{ "password": "{PASSWORD}" }} }} }} }},
  "verbose": 2
}}"#
    )
}
