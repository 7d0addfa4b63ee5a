//! The SSH connection, host key verification, authentication and the retry loop.
//!
//! One SSH connection with one SFTP channel is kept open and shared; a request that fails because
//! the connection dropped forgets it, and [`Client::run`] (every request goes through it, inside
//! [`RetryPolicy::run`]) connects again on the next attempt.

use std::future::Future;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use cloudmirror_contract::{Error, ErrorKind, Result, RetryPolicy};
use russh::keys::{HashAlg, PrivateKeyWithHashAlg};
use russh_sftp::client::RawSftpSession;
use secrecy::ExposeSecret;

use crate::config::Settings;
use crate::error::{error, sftp_error, ssh_error};

/// The extension that renames over an existing name atomically (`rename(2)`), from OpenSSH's
/// `PROTOCOL` file, section 4.3 (<https://github.com/openssh/openssh-portable/blob/master/PROTOCOL>).
const POSIX_RENAME: &str = "posix-rename@openssh.com";
/// How long to wait for the server to accept the TCP connection and finish the SSH handshake.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(30);
/// How long one SFTP request may wait for its answer.
const REQUEST_TIMEOUT_SECS: u64 = 60;

/// An open SSH connection with its SFTP channel.
pub(crate) struct Conn {
    handle: russh::client::Handle<Verifier>,
    /// The SFTP session (draft-ietf-secsh-filexfer-02, the version OpenSSH speaks).
    pub(crate) sftp: RawSftpSession,
    /// Whether the server offers `posix-rename@openssh.com`.
    pub(crate) posix_rename: bool,
    /// Which connection this is (a file handle belongs to one).
    pub(crate) id: u64,
}

impl std::fmt::Debug for Conn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Conn")
            .field("id", &self.id)
            .field("posix_rename", &self.posix_rename)
            .finish_non_exhaustive()
    }
}

impl Conn {
    /// `SSH_FXP_EXTENDED` `posix-rename@openssh.com`: `from` replaces `to` atomically.
    pub(crate) async fn posix_rename(&self, from: &str, to: &str) -> Result<()> {
        let what = format!("renaming {from} to {to}");
        let reply = self
            .sftp
            .extended(POSIX_RENAME, rename_request(from, to))
            .await
            .map_err(|e| sftp_error(&what, &e))?;
        match reply {
            russh_sftp::protocol::Packet::Status(s)
                if s.status_code == russh_sftp::protocol::StatusCode::Ok =>
            {
                Ok(())
            }
            russh_sftp::protocol::Packet::Status(s) => Err(sftp_error(
                &what,
                &russh_sftp::client::error::Error::Status(s),
            )),
            _ => Err(error(
                ErrorKind::Other,
                format!("{what}: unexpected answer to {POSIX_RENAME}"),
            )),
        }
    }
}

/// The request data of `posix-rename@openssh.com`: two SSH strings (RFC 4251 section 5: a
/// `uint32` length, then the bytes).
fn rename_request(from: &str, to: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(8 + from.len() + to.len());
    for s in [from, to] {
        out.extend_from_slice(&(s.len() as u32).to_be_bytes());
        out.extend_from_slice(s.as_bytes());
    }
    out
}

/// An open file handle and the id of the connection it belongs to (a handle dies with its
/// connection, so after a reconnect the file is opened again).
pub(crate) type OpenFile = Arc<std::sync::Mutex<Option<(u64, String)>>>;

/// The shared state behind every clone of a [`Client`].
#[derive(Debug)]
struct Inner {
    settings: Settings,
    conn: tokio::sync::Mutex<Option<Arc<Conn>>>,
    next_id: AtomicU64,
}

/// An SFTP client for one destination: settings, the current connection and the retry policy.
#[derive(Debug, Clone)]
pub(crate) struct Client {
    inner: Arc<Inner>,
    pub(crate) retry: RetryPolicy,
}

impl Client {
    pub(crate) fn new(settings: Settings) -> Self {
        Self {
            inner: Arc::new(Inner {
                settings,
                conn: tokio::sync::Mutex::new(None),
                next_id: AtomicU64::new(1),
            }),
            retry: RetryPolicy::default(),
        }
    }

    pub(crate) fn settings(&self) -> &Settings {
        &self.inner.settings
    }

    /// Runs `op` on the current connection (connecting first when there is none) inside the retry
    /// policy. A transient failure forgets the connection, so the next attempt reconnects.
    pub(crate) async fn run<T, F, Fut>(&self, what: &str, op: F) -> Result<T>
    where
        F: Fn(Arc<Conn>) -> Fut,
        Fut: Future<Output = Result<T>>,
    {
        let op = &op;
        self.retry
            .run(what, || async move {
                let conn = self.conn().await?;
                let result = op(conn.clone()).await;
                if result.as_ref().is_err_and(Error::is_retryable) {
                    self.forget(&conn).await;
                }
                result
            })
            .await
    }

    /// The open connection, or a new one.
    pub(crate) async fn conn(&self) -> Result<Arc<Conn>> {
        let mut slot = self.inner.conn.lock().await;
        if let Some(conn) = slot.as_ref() {
            if !conn.handle.is_closed() {
                return Ok(conn.clone());
            }
        }
        *slot = None;
        let conn = Arc::new(self.connect().await?);
        *slot = Some(conn.clone());
        Ok(conn)
    }

    /// Closes the handle in `file` if its connection is still the current one (a handle of a
    /// dropped connection is gone with it). Best effort: a failure is logged.
    pub(crate) async fn close(&self, file: &OpenFile) {
        let Some((id, handle)) = file.lock().ok().and_then(|mut f| f.take()) else {
            return;
        };
        let current = self.inner.conn.lock().await.clone();
        if let Some(conn) = current.filter(|c| c.id == id) {
            if let Err(e) = conn.sftp.close(handle).await {
                tracing::warn!(backend = crate::error::BACKEND, "closing a file: {e}");
            }
        }
    }

    /// Drops `conn` if it is still the current connection.
    pub(crate) async fn forget(&self, conn: &Arc<Conn>) {
        let mut slot = self.inner.conn.lock().await;
        if slot.as_ref().is_some_and(|c| c.id == conn.id) {
            *slot = None;
        }
    }

    async fn connect(&self) -> Result<Conn> {
        let s = &self.inner.settings;
        let endpoint = s.endpoint();
        let config = Arc::new(russh::client::Config {
            // A silent dead connection is noticed, and the next attempt reconnects.
            keepalive_interval: Some(Duration::from_secs(15)),
            keepalive_max: 3,
            nodelay: true,
            preferred: preferred_for(s),
            ..Default::default()
        });
        let verifier = Verifier {
            host: s.host.clone(),
            port: s.port,
            endpoint: endpoint.clone(),
            known_hosts: s.known_hosts.clone(),
        };
        let connecting = russh::client::connect(config, (s.host.as_str(), s.port), verifier);
        let mut handle = match tokio::time::timeout(CONNECT_TIMEOUT, connecting).await {
            Ok(Ok(handle)) => handle,
            Ok(Err(ConnectError::Refused(e))) => return Err(e),
            Ok(Err(ConnectError::Ssh(e))) => return Err(ssh_error(&endpoint, "connecting", e)),
            Err(_) => {
                return Err(error(
                    ErrorKind::Transient,
                    format!(
                        "cannot connect to sftp://{endpoint}: no SSH handshake within {}s",
                        CONNECT_TIMEOUT.as_secs()
                    ),
                ))
            }
        };
        authenticate(&mut handle, s).await?;
        let channel = handle
            .channel_open_session()
            .await
            .map_err(|e| ssh_error(&endpoint, "opening the SFTP channel", e))?;
        channel
            .request_subsystem(true, "sftp")
            .await
            .map_err(|e| ssh_error(&endpoint, "starting the SFTP subsystem", e))?;
        let sftp = RawSftpSession::new(channel.into_stream());
        sftp.set_timeout(REQUEST_TIMEOUT_SECS);
        let version = sftp
            .init()
            .await
            .map_err(|e| sftp_error(&format!("starting SFTP on {endpoint}"), &e))?;
        let posix_rename = version
            .extensions
            .get(POSIX_RENAME)
            .is_some_and(|v| v == "1");
        let id = self.inner.next_id.fetch_add(1, Ordering::Relaxed);
        tracing::debug!(backend = crate::error::BACKEND, %endpoint, id, posix_rename, "connected");
        Ok(Conn {
            handle,
            sftp,
            posix_rename,
            id,
        })
    }
}

/// russh's default algorithms, with the host key types `known_hosts` records for this host first,
/// as OpenSSH's `ssh` orders them: a host recorded only with, say, its ECDSA key is then asked
/// for that key and not refused for offering an unrecorded Ed25519 one.
fn preferred_for(s: &Settings) -> russh::Preferred {
    let mut preferred = russh::Preferred::default();
    let recorded: Vec<russh::keys::Algorithm> =
        russh::keys::known_hosts::known_host_keys_path(&s.host, s.port, &s.known_hosts)
            .map(|keys| keys.iter().map(|(_, k)| k.algorithm()).collect())
            .unwrap_or_default();
    if !recorded.is_empty() {
        let mut order = preferred.key.to_vec();
        // Stable: recorded types first, each group in russh's order (RSA matches any hash).
        let rsa = |a: &russh::keys::Algorithm| matches!(a, russh::keys::Algorithm::Rsa { .. });
        order.sort_by_key(|a| !recorded.iter().any(|r| r == a || (rsa(r) && rsa(a))));
        preferred.key = order.into();
    }
    preferred
}

/// Public key authentication first (when `private_key` is set), then the password.
async fn authenticate(handle: &mut russh::client::Handle<Verifier>, s: &Settings) -> Result<()> {
    let endpoint = s.endpoint();
    let mut tried = Vec::new();
    if let Some(path) = &s.credentials.private_key {
        let key = load_key(path)?;
        let hash = handle
            .best_supported_rsa_hash()
            .await
            .map_err(|e| ssh_error(&endpoint, "authenticating", e))?
            .flatten();
        let result = handle
            .authenticate_publickey(&s.user, PrivateKeyWithHashAlg::new(Arc::new(key), hash))
            .await
            .map_err(|e| ssh_error(&endpoint, "authenticating", e))?;
        if result.success() {
            return Ok(());
        }
        tried.push(format!("private_key {}", path.display()));
    }
    if let Some(password) = &s.credentials.password {
        let result = handle
            .authenticate_password(&s.user, password.expose_secret())
            .await
            .map_err(|e| ssh_error(&endpoint, "authenticating", e))?;
        if result.success() {
            return Ok(());
        }
        tried.push("password".to_owned());
    }
    Err(error(
        ErrorKind::Unauthorized,
        format!(
            "sftp://{endpoint} refused user {} with {} (check `user`, and that the key is in the server's authorized_keys or the password is right)",
            s.user,
            tried.join(" and ")
        ),
    ))
}

fn load_key(path: &Path) -> Result<russh::keys::PrivateKey> {
    russh::keys::load_secret_key(path, None).map_err(|e| {
        let why = match &e {
            russh::keys::Error::IO(io) if io.kind() == std::io::ErrorKind::NotFound => {
                "no such file".to_owned()
            }
            russh::keys::Error::KeyIsEncrypted => {
                "the key is protected by a passphrase; use a key without one for unattended backups"
                    .to_owned()
            }
            other => other.to_string(),
        };
        error(
            ErrorKind::InvalidInput,
            format!("cannot read private_key {}: {why}", path.display()),
        )
    })
}

/// Why a connection was refused before authentication.
#[derive(Debug)]
enum ConnectError {
    /// A failure of the SSH protocol or the network.
    Ssh(russh::Error),
    /// The host key is unknown or does not match `known_hosts`: never retried.
    Refused(Error),
}

impl From<russh::Error> for ConnectError {
    fn from(e: russh::Error) -> Self {
        Self::Ssh(e)
    }
}

/// Checks the server's host key against the `known_hosts` file (OpenSSH's format, `sshd(8)`
/// `SSH_KNOWN_HOSTS FILE FORMAT`), the way `ssh` does with `StrictHostKeyChecking yes`.
#[derive(Debug)]
struct Verifier {
    host: String,
    port: u16,
    endpoint: String,
    known_hosts: std::path::PathBuf,
}

impl russh::client::Handler for Verifier {
    type Error = ConnectError;

    async fn check_server_key(
        &mut self,
        key: &russh::keys::PublicKey,
    ) -> std::result::Result<bool, Self::Error> {
        let file = self.known_hosts.display();
        let fingerprint = key.fingerprint(HashAlg::Sha256);
        let algorithm = key.algorithm();
        let add = format!(
            "check it with the server's owner, then add it: ssh-keyscan -p {} {} >> {file}",
            self.port, self.host
        );
        match russh::keys::check_known_hosts_path(&self.host, self.port, key, &self.known_hosts) {
            Ok(true) => Ok(true),
            Ok(false) => {
                let whose = if self.known_hosts.is_file() {
                    format!("is not in known_hosts {file}")
                } else {
                    format!("cannot be checked: known_hosts {file} does not exist")
                };
                Err(ConnectError::Refused(error(
                    ErrorKind::Other,
                    format!(
                        "unknown host: the host key of {} ({algorithm} {fingerprint}) {whose}; {add}",
                        self.endpoint
                    ),
                )))
            }
            Err(russh::keys::Error::KeyChanged { line }) => Err(ConnectError::Refused(error(
                ErrorKind::Other,
                format!(
                    "HOST KEY MISMATCH: {} offered {algorithm} {fingerprint}, which differs from line {line} of known_hosts {file}; refusing to connect (someone may be intercepting the connection; if the server's key really changed, replace that line)",
                    self.endpoint
                ),
            ))),
            Err(e) => Err(ConnectError::Refused(error(
                ErrorKind::InvalidInput,
                format!("cannot read known_hosts {file}: {e}"),
            ))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rename_request_is_two_ssh_strings() {
        assert_eq!(
            rename_request("a", "bé"),
            [&[0, 0, 0, 1][..], b"a", &[0, 0, 0, 3], "bé".as_bytes()].concat()
        );
    }
}
