//! `[encryption]`: backups encrypted on this machine with age before they leave it, so no cloud
//! can read them; `restore --identity FILE` decrypts. Manifests record the SHA-256 of the stored
//! (encrypted) bytes, so `verify` works without the key.

use std::io::{self, Read};
use std::path::Path;
use std::sync::OnceLock;

use serde::Deserialize;

use crate::Error;

/// The `[encryption]` section.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EncryptionConfig {
    /// age recipients (`age1...` public keys); any one of their identities can decrypt.
    pub recipients: Vec<String>,
}

/// Parsed recipients a backup is encrypted to.
pub type Recipients = Vec<age::x25519::Recipient>;

impl EncryptionConfig {
    /// Parses every recipient; errors name the entry (`encryption.recipients[1]`).
    pub(crate) fn recipients(&self) -> Result<Recipients, Error> {
        if self.recipients.is_empty() {
            return Err(Error::Config(
                "encryption.recipients: give at least one age recipient (age1...)".into(),
            ));
        }
        self.recipients
            .iter()
            .enumerate()
            .map(|(i, r)| {
                r.trim().parse::<age::x25519::Recipient>().map_err(|e| {
                    Error::Config(format!(
                        "encryption.recipients[{i}]: not an age recipient (expected age1...): {e}"
                    ))
                })
            })
            .collect()
    }
}

/// Wraps `output` so what is written to it is encrypted to `recipients`.
pub(crate) fn encrypting_writer<W: io::Write>(
    recipients: &Recipients,
    output: W,
) -> io::Result<age::stream::StreamWriter<W>> {
    let encryptor =
        age::Encryptor::with_recipients(recipients.iter().map(|r| r as &dyn age::Recipient))
            .map_err(io::Error::other)?;
    encryptor.wrap_output(output)
}

type Identities = Vec<Box<dyn age::Identity + Send + Sync>>;

/// Identities this process decrypts with: set once by the CLI from `restore --identity FILE`.
static IDENTITIES: OnceLock<Identities> = OnceLock::new();

/// Loads an age identity file (`AGE-SECRET-KEY-...` lines) for the restores of this process.
/// Errors name the file and never echo its content.
pub fn use_identity_file(path: &Path) -> Result<(), Error> {
    let file = age::IdentityFile::from_file(path.display().to_string()).map_err(|e| {
        Error::Input(format!(
            "--identity {}: cannot read the identity file: {e}",
            path.display()
        ))
    })?;
    let identities = file.into_identities().map_err(|_| {
        Error::Input(format!(
            "--identity {}: not an age identity file",
            path.display()
        ))
    })?;
    if identities.is_empty() {
        return Err(Error::Input(format!(
            "--identity {}: holds no identity",
            path.display()
        )));
    }
    let _ = IDENTITIES.set(identities);
    Ok(())
}

/// A reader that decrypts `input` with the identities given by `--identity`.
pub(crate) fn decrypting_reader<'a, R: Read + 'a>(input: R) -> io::Result<Box<dyn Read + 'a>> {
    let identities = IDENTITIES.get().ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            "this backup is encrypted: pass --identity FILE with an age identity of one of its recipients",
        )
    })?;
    let decryptor = age::Decryptor::new_buffered(io::BufReader::new(input)).map_err(|e| {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!("not a readable age file: {e}"),
        )
    })?;
    let reader = decryptor
        .decrypt(identities.iter().map(|i| i.as_ref() as &dyn age::Identity))
        .map_err(|e| match e {
            age::DecryptError::NoMatchingKeys => io::Error::new(
                io::ErrorKind::PermissionDenied,
                "the --identity given does not match any recipient of this backup (wrong key)",
            ),
            other => io::Error::new(
                io::ErrorKind::InvalidData,
                format!("cannot decrypt: {other}"),
            ),
        })?;
    Ok(Box::new(reader))
}
