//! A real SFTP server for tests and the demo (feature `testserver`, never in a release build):
//! OpenSSH's `sshd` (Debian `openssh-server`) as the current user on a free port of 127.0.0.1,
//! with its own `sshd_config`, generated host keys (Ed25519, ECDSA) and user key (`ssh-keygen`), and a
//! `known_hosts` file for the client, all in a temporary folder.
//!
//! The program comes from `CLOUDMIRROR_SSHD`, `/usr/sbin/sshd` or `PATH`.

use std::io::Read;
use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::SftpConfig;

/// The store's folder under the server's temporary root (it exists from the start).
pub const FOLDER: &str = "backups";

/// A running `sshd`; killed, and its folder removed, on drop.
#[derive(Debug)]
pub struct Sshd {
    child: Option<Child>,
    binary: PathBuf,
    port: u16,
    user: String,
    dir: tempfile::TempDir,
}

impl Drop for Sshd {
    fn drop(&mut self) {
        self.stop();
    }
}

impl Sshd {
    /// Finds `sshd`: `CLOUDMIRROR_SSHD`, then `/usr/sbin/sshd`, then `PATH`.
    pub fn find() -> Option<PathBuf> {
        if let Some(path) = std::env::var_os("CLOUDMIRROR_SSHD") {
            return Some(PathBuf::from(path)).filter(|p| p.is_file());
        }
        let on_path = std::env::var_os("PATH")
            .map(|p| {
                std::env::split_paths(&p)
                    .map(|d| d.join("sshd"))
                    .collect::<Vec<_>>()
            })
            .unwrap_or_default();
        std::iter::once(PathBuf::from("/usr/sbin/sshd"))
            .chain(on_path)
            .find(|p| p.is_file())
    }

    /// Generates the keys and config and starts `binary` (an absolute path, as `sshd` requires),
    /// waiting until it answers with its SSH banner.
    pub fn start(binary: PathBuf) -> std::io::Result<Self> {
        let dir = tempfile::tempdir()?;
        let d = dir.path();
        std::fs::create_dir_all(d.join("root").join(FOLDER))?;
        for key in ["host_ed25519", "id_ed25519", "stranger_ed25519"] {
            keygen(&d.join(key), "ed25519")?;
        }
        keygen(&d.join("host_ecdsa"), "ecdsa")?;
        std::fs::copy(d.join("id_ed25519.pub"), d.join("authorized_keys"))?;
        let port = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?
            .local_addr()?
            .port();
        let host_pub = std::fs::read_to_string(d.join("host_ed25519.pub"))?;
        std::fs::write(
            d.join("known_hosts"),
            format!("[127.0.0.1]:{port} {}", host_pub.trim()),
        )?;
        std::fs::write(d.join("sshd_config"), sshd_config(port, d))?;
        let out = Command::new("id").arg("-un").output()?;
        let user = String::from_utf8_lossy(&out.stdout).trim().to_owned();
        let mut server = Self {
            child: None,
            binary,
            port,
            user,
            dir,
        };
        server.restart()?;
        Ok(server)
    }

    /// A store configuration for this server: the current user, the generated key, its
    /// `known_hosts` and the absolute path of `FOLDER`.
    pub fn config(&self) -> SftpConfig {
        let mut c = SftpConfig::new(
            "127.0.0.1",
            self.user.clone(),
            self.folder().display().to_string(),
            self.dir.path().join("id_ed25519"),
        );
        c.port = Some(self.port);
        c.known_hosts = Some(self.known_hosts());
        c
    }

    /// A `[[destinations]]` table named `name` for this server (as `config` describes it).
    pub fn destination_toml(&self, name: &str) -> String {
        let c = self.config();
        let q = |p: Option<PathBuf>| format!("{:?}", p.unwrap_or_default().display().to_string());
        format!(
            "[[destinations]]\nname = \"{name}\"\ntype = \"sftp\"\nhost = \"127.0.0.1\"\nport = {}\nuser = {:?}\npath = {:?}\nprivate_key = {}\nknown_hosts = {}\n",
            self.port,
            c.user,
            c.path,
            q(c.private_key),
            q(c.known_hosts),
        )
    }

    /// The port it listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// A private key the server does not accept.
    pub fn stranger_key(&self) -> PathBuf {
        self.dir.path().join("stranger_ed25519")
    }

    /// The `known_hosts` file holding the server's host key.
    pub fn known_hosts(&self) -> PathBuf {
        self.dir.path().join("known_hosts")
    }

    /// The server's Ed25519 host public key, as a `known_hosts` line's key part.
    pub fn host_public_key(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("host_ed25519.pub")).unwrap_or_default()
    }

    /// The server's second (ECDSA) host public key; the generated `known_hosts` records only the
    /// Ed25519 one.
    pub fn host_ecdsa_public_key(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("host_ecdsa.pub")).unwrap_or_default()
    }

    /// The store's folder on disk.
    pub fn folder(&self) -> PathBuf {
        self.dir.path().join("root").join(FOLDER)
    }

    /// What the server logged so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("sshd.log")).unwrap_or_default()
    }

    /// Kills every per-connection process of the server (each open connection drops) and leaves
    /// the listener running, so clients can connect again.
    pub fn drop_connections(&self) -> usize {
        let Some(child) = &self.child else {
            return 0;
        };
        let mut killed = 0;
        for pid in descendants(child.id()) {
            if Command::new("kill")
                .args(["-KILL", &pid.to_string()])
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|s| s.success())
            {
                killed += 1;
            }
        }
        killed
    }

    /// The files the server's processes hold open (from `/proc/<pid>/fd`), e.g. to see that a
    /// client closed its handles.
    pub fn open_files(&self) -> Vec<PathBuf> {
        let Some(child) = &self.child else {
            return Vec::new();
        };
        descendants(child.id())
            .into_iter()
            .flat_map(|pid| {
                std::fs::read_dir(format!("/proc/{pid}/fd"))
                    .into_iter()
                    .flatten()
                    .flatten()
                    .filter_map(|fd| std::fs::read_link(fd.path()).ok())
                    .collect::<Vec<_>>()
            })
            .collect()
    }

    /// Kills the server (every open connection drops); its files stay.
    pub fn stop(&mut self) {
        if self.child.is_some() {
            self.drop_connections();
        }
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts the server (again) on the same port and keys, and waits until it answers.
    pub fn restart(&mut self) -> std::io::Result<()> {
        self.stop();
        if is_root() {
            // sshd as root wants its privilege separation folder.
            std::fs::create_dir_all("/run/sshd")?;
        }
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.path().join("sshd.log"))?;
        let child = Command::new(&self.binary)
            .arg("-D")
            .arg("-e")
            .arg("-f")
            .arg(self.dir.path().join("sshd_config"))
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()?;
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if banner(self.port) {
                return Ok(());
            }
            if let Some(Ok(Some(status))) = self.child.as_mut().map(Child::try_wait) {
                return Err(std::io::Error::other(format!(
                    "sshd exited with {status}:\n{}",
                    self.log()
                )));
            }
            if Instant::now() > deadline {
                return Err(std::io::Error::other(format!(
                    "sshd did not start:\n{}",
                    self.log()
                )));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

/// Whether the server on `port` sends its `SSH-2.0-` banner.
fn banner(port: u16) -> bool {
    let Ok(mut s) = TcpStream::connect((Ipv4Addr::LOCALHOST, port)) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
    let mut buf = [0u8; 8];
    s.read_exact(&mut buf).is_ok() && buf.starts_with(b"SSH-")
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| o.stdout.trim_ascii() == b"0")
}

/// `ssh-keygen -t <kind>` without a passphrase.
fn keygen(path: &Path, kind: &str) -> std::io::Result<()> {
    let status = Command::new("ssh-keygen")
        .args(["-q", "-t", kind, "-N", "", "-C", "cloudmirror-test", "-f"])
        .arg(path)
        .stdin(Stdio::null())
        .status()?;
    if status.success() {
        Ok(())
    } else {
        Err(std::io::Error::other(format!(
            "ssh-keygen failed: {status}"
        )))
    }
}

/// The ids of every process below `pid` (from `/proc/<id>/stat`'s parent field).
fn descendants(pid: u32) -> Vec<u32> {
    let mut parents = Vec::new();
    for e in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Some(id) = e.file_name().to_str().and_then(|n| n.parse::<u32>().ok()) else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(e.path().join("stat")) else {
            continue;
        };
        // `pid (comm) state ppid ...`: comm may hold spaces, so read after the last ')'.
        let parent = stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().nth(1))
            .and_then(|p| p.parse::<u32>().ok());
        if let Some(parent) = parent {
            parents.push((id, parent));
        }
    }
    let mut out = Vec::new();
    let mut frontier = vec![pid];
    while let Some(p) = frontier.pop() {
        for &(id, ppid) in &parents {
            if ppid == p && !out.contains(&id) {
                out.push(id);
                frontier.push(id);
            }
        }
    }
    out
}

/// The server's configuration (`sshd_config(5)`): 127.0.0.1 only, public keys from our file only,
/// no PAM (it needs root), the in-process SFTP server.
fn sshd_config(port: u16, dir: &Path) -> String {
    let d = dir.display();
    format!(
        "Port {port}
ListenAddress 127.0.0.1
HostKey {d}/host_ed25519
HostKey {d}/host_ecdsa
PidFile {d}/sshd.pid
AuthorizedKeysFile {d}/authorized_keys
StrictModes no
UsePAM no
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
PermitRootLogin prohibit-password
Subsystem sftp internal-sftp
LogLevel VERBOSE
"
    )
}
