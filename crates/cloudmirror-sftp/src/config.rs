//! Configuration of an SFTP destination, and its validation.

use std::fmt;
use std::path::PathBuf;

use cloudmirror_contract::{Error, ErrorKind};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

use crate::error::BACKEND;

/// The SSH port when `port` is not set.
const DEFAULT_PORT: u16 = 22;

/// A `type = "sftp"` destination: one folder on an SSH server's file system.
///
/// `name`, `type` and `prefix` are handled by the orchestrator and are not part of this struct.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SftpConfig {
    /// The server's host name or address.
    pub host: String,
    /// The SSH port (default 22; a Hetzner Storage Box serves SFTP on 23).
    #[serde(default)]
    pub port: Option<u16>,
    /// The login name.
    pub user: String,
    /// The folder on the server: absolute, or relative to the login folder. It must exist.
    pub path: String,
    /// An OpenSSH private key file (unencrypted: the tool runs unattended).
    #[serde(default)]
    pub private_key: Option<PathBuf>,
    /// The password, when the server takes one: keep it out of config files (`${SFTP_PASSWORD}`).
    #[serde(default)]
    pub password: Option<SecretString>,
    /// The `known_hosts` file holding the server's host key (default `~/.ssh/known_hosts`). An
    /// unknown or changed host key is refused: there is no "accept any host key" setting.
    #[serde(default)]
    pub known_hosts: Option<PathBuf>,
}

impl fmt::Debug for SftpConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SftpConfig")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("user", &self.user)
            .field("path", &self.path)
            .field("private_key", &self.private_key)
            .field("password", &self.password.as_ref().map(|_| "[redacted]"))
            .field("known_hosts", &self.known_hosts)
            .finish()
    }
}

/// How the client proves who it is.
#[derive(Debug, Clone)]
pub(crate) struct Credentials {
    pub(crate) private_key: Option<PathBuf>,
    pub(crate) password: Option<SecretString>,
}

/// A validated configuration.
#[derive(Debug, Clone)]
pub(crate) struct Settings {
    pub(crate) host: String,
    pub(crate) port: u16,
    pub(crate) user: String,
    /// The folder, without a trailing `/` (`.` for the login folder).
    pub(crate) root: String,
    pub(crate) credentials: Credentials,
    pub(crate) known_hosts: PathBuf,
}

impl Settings {
    /// `host:port` as people and `known_hosts` files write it.
    pub(crate) fn endpoint(&self) -> String {
        if self.port == DEFAULT_PORT {
            self.host.clone()
        } else {
            format!("[{}]:{}", self.host, self.port)
        }
    }

    /// The server path of `rel` (a key or a folder relative to the root; `""` is the root).
    pub(crate) fn remote(&self, rel: &str) -> String {
        let rel = rel.trim_end_matches('/');
        if rel.is_empty() {
            if self.root.is_empty() {
                "/".to_owned()
            } else {
                self.root.clone()
            }
        } else {
            format!("{}/{rel}", self.root)
        }
    }
}

impl SftpConfig {
    /// A configuration with the required keys, authenticating with `private_key`.
    pub fn new(
        host: impl Into<String>,
        user: impl Into<String>,
        path: impl Into<String>,
        private_key: impl Into<PathBuf>,
    ) -> Self {
        Self {
            host: host.into(),
            port: None,
            user: user.into(),
            path: path.into(),
            private_key: Some(private_key.into()),
            password: None,
            known_hosts: None,
        }
    }

    /// Checks every setting and reports all problems at once, each naming its key.
    pub fn validate(&self) -> Result<(), Error> {
        self.settings().map(|_| ())
    }

    pub(crate) fn settings(&self) -> Result<Settings, Error> {
        let mut problems = Vec::new();
        let host = self.host.trim();
        if host.is_empty() || host.contains(['/', '@', ' ']) {
            problems.push(
                "host must be the server's name or address (e.g. u12345.your-storagebox.de), without user or path"
                    .to_owned(),
            );
        }
        if self.port == Some(0) {
            problems.push("port must be between 1 and 65535".to_owned());
        }
        if self.user.trim().is_empty() || self.user.contains(['@', ':']) {
            problems.push("user must be the login name (not empty, without '@' or ':')".to_owned());
        }
        let path = self.path.trim();
        if path.is_empty() {
            problems.push(
                "path must be the folder on the server (absolute, or relative to the login folder)"
                    .to_owned(),
            );
        }
        if let Some(p) = &self.password {
            let p = p.expose_secret();
            if p.is_empty() {
                problems.push("password is empty (set it, e.g. \"${SFTP_PASSWORD}\")".to_owned());
            } else if p.chars().any(char::is_control) {
                problems.push(
                    "password contains control characters (check for a stray newline)".to_owned(),
                );
            }
        }
        if self.private_key.is_none() && self.password.is_none() {
            problems.push(
                "set private_key (an OpenSSH key file) or password (\"${SFTP_PASSWORD}\")"
                    .to_owned(),
            );
        }
        let known_hosts = match &self.known_hosts {
            Some(p) => expand_home(p),
            None => default_known_hosts(),
        };
        let private_key = self.private_key.as_deref().and_then(expand_home);
        if self.private_key.is_some() && private_key.is_none() {
            problems.push("private_key starts with ~ but there is no home folder".to_owned());
        }
        if known_hosts.is_none() {
            problems.push("known_hosts is not set and there is no home folder: set it".to_owned());
        }
        match known_hosts {
            Some(known_hosts) if problems.is_empty() => {
                let trimmed = path.trim_end_matches('/');
                let root = match trimmed {
                    "" => "/".to_owned(),
                    r => r.to_owned(),
                };
                Ok(Settings {
                    host: host.to_owned(),
                    port: self.port.unwrap_or(DEFAULT_PORT),
                    user: self.user.clone(),
                    root: if root == "/" { String::new() } else { root },
                    credentials: Credentials {
                        private_key,
                        password: self.password.clone(),
                    },
                    known_hosts,
                })
            }
            _ => Err(Error::new(
                ErrorKind::InvalidInput,
                BACKEND,
                format!("invalid settings: {}", problems.join("; ")),
            )),
        }
    }
}

/// `path` with a leading `~/` replaced by the home folder (`None` when there is none).
fn expand_home(path: &std::path::Path) -> Option<PathBuf> {
    match path.strip_prefix("~") {
        Ok(rest) => std::env::home_dir().map(|h| h.join(rest)),
        Err(_) => Some(path.to_path_buf()),
    }
}

/// `~/.ssh/known_hosts`, where OpenSSH's `ssh` keeps host keys.
fn default_known_hosts() -> Option<PathBuf> {
    std::env::home_dir().map(|h| h.join(".ssh").join("known_hosts"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_problem_is_named_and_paths_are_normalised() {
        let mut c = SftpConfig::new("nas.local", "alice", "/srv/backups/", "/k");
        c.known_hosts = Some("/kh".into());
        let s = c.settings().unwrap();
        assert_eq!(s.remote("daily/a b.gz"), "/srv/backups/daily/a b.gz");
        assert_eq!(s.remote(""), "/srv/backups");
        assert_eq!(s.endpoint(), "nas.local");
        c.port = Some(23);
        assert_eq!(c.settings().unwrap().endpoint(), "[nas.local]:23");
        c.path = "/".into();
        assert_eq!(c.settings().unwrap().remote("x"), "/x");
        let bad = SftpConfig {
            host: "alice@nas".into(),
            port: Some(0),
            user: String::new(),
            path: " ".into(),
            private_key: None,
            password: None,
            known_hosts: Some("/kh".into()),
        };
        let msg = bad.validate().unwrap_err().to_string();
        let mut empty = c.clone();
        empty.password = Some(SecretString::from(""));
        let empty = empty.validate().unwrap_err().to_string();
        assert!(empty.contains("password is empty"), "{empty}");
        for field in ["host", "port", "user", "path", "password", "private_key"] {
            assert!(msg.contains(field), "{field} missing in {msg}");
        }
    }

    #[test]
    fn toml_keys_and_redaction() {
        let c: SftpConfig = toml::from_str(
            "host = \"h\"\nport = 23\nuser = \"u\"\npath = \"backups\"\npassword = \"hunter22\"\nknown_hosts = \"/kh\"",
        )
        .unwrap();
        assert!(!format!("{c:?}").contains("hunter22"));
        assert_eq!(c.settings().unwrap().remote("k"), "backups/k");
        let err = toml::from_str::<SftpConfig>(
            "host = \"h\"\nuser = \"u\"\npath = \"p\"\nprivate_key = \"/k\"\nknownhosts = \"x\"",
        )
        .unwrap_err();
        assert!(err.to_string().contains("knownhosts"), "{err}");
    }
}
