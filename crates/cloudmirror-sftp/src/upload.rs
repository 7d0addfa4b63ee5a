//! Uploads: make the parents, write `.<name>.<random>.partial` beside the target, rename it into
//! place with `posix-rename@openssh.com`.
//!
//! The body is read in chunks of [`CHUNK_SIZE`] (the memory bound); each chunk is written as
//! pipelined `SSH_FXP_WRITE`s at its offset and retried as a whole: after a dropped connection
//! the temporary file is opened again (without truncating) and the chunk rewritten at its offset,
//! so an upload resumes instead of starting over. Plain `SSH_FXP_RENAME` fails when the target
//! exists (draft-ietf-secsh-filexfer-02 section 6.5); OpenSSH's `posix-rename@openssh.com` is
//! `rename(2)`, which replaces the target atomically.

use std::sync::{Arc, Mutex};

use bytes::Bytes;
use chrono::Utc;
use cloudmirror_contract::temp::temp_path;
use cloudmirror_contract::{ByteStream, ChunkReader, ErrorKind, Key, ObjectMeta, Result};
use futures::stream::{self, StreamExt, TryStreamExt};
use russh_sftp::protocol::{FileAttributes, OpenFlags};

use crate::client::{Client, Conn, OpenFile};
use crate::error::{error, sftp_error, BACKEND};
use crate::list::{modified, stat};

/// Bytes read from the body and held (and resent after a reconnect) at a time.
pub(crate) const CHUNK_SIZE: usize = 4 * 1024 * 1024;
/// Bytes per `SSH_FXP_WRITE`: every server accepts 32 KiB (filexfer-02 section 3).
const WRITE_LEN: usize = 32 * 1024;
/// Writes awaiting their answer at once (pipelining, as OpenSSH's `sftp` does).
const IN_FLIGHT: usize = 32;

/// Stores `body` under `key` atomically and returns what the server then reports for it.
pub(crate) async fn upload(client: &Client, key: &Key, body: ByteStream) -> Result<ObjectMeta> {
    let s = client.settings();
    make_parents(client, key).await?;
    let temp = s.remote(&temp_path(key));
    let target = s.remote(key.as_str());
    let result = write_then_rename(client, key, &temp, &target, body).await;
    if result.is_err() {
        let removed = client
            .run("removing the temporary upload", |conn| {
                let temp = temp.clone();
                async move {
                    match conn.sftp.remove(temp.as_str()).await {
                        Err(e) if !crate::error::is_no_such_file(&e) => {
                            Err(sftp_error(&format!("removing {temp}"), &e))
                        }
                        _ => Ok(()),
                    }
                }
            })
            .await;
        if let Err(e) = removed {
            tracing::warn!(
                backend = BACKEND,
                "could not remove the temporary upload: {e}"
            );
        }
    }
    result
}

/// Makes each missing parent folder, top down (`mkdir -p`).
async fn make_parents(client: &Client, key: &Key) -> Result<()> {
    let mut dir = String::new();
    for seg in key.dir_segments() {
        dir.push_str(seg);
        dir.push('/');
        let path = client.settings().remote(&dir);
        client
            .run("making a folder", |conn| {
                let path = path.clone();
                async move {
                    let made = conn
                        .sftp
                        .mkdir(path.as_str(), FileAttributes::default())
                        .await;
                    match made {
                        Ok(_) => Ok(()),
                        // It exists (SSH_FX_FAILURE), unless it is a file or we may not make it.
                        Err(e) => match stat(&conn, &path).await? {
                            Some(attrs) if attrs.is_dir() => Ok(()),
                            Some(_) => Err(error(
                                ErrorKind::Conflict,
                                format!("{path} is a file on the server, not a folder"),
                            )),
                            None => Err(sftp_error(&format!("making folder {path}"), &e)),
                        },
                    }
                }
            })
            .await?;
    }
    Ok(())
}

async fn write_then_rename(
    client: &Client,
    key: &Key,
    temp: &str,
    target: &str,
    body: ByteStream,
) -> Result<ObjectMeta> {
    let mut reader = ChunkReader::new(body, CHUNK_SIZE);
    let file: OpenFile = Arc::new(Mutex::new(None));
    let mut sent = 0u64;
    while let Some(chunk) = reader.next_chunk().await? {
        let offset = chunk.offset;
        let data = chunk.data;
        client
            .run("writing the upload", |conn| {
                let (file, data) = (file.clone(), data.clone());
                async move {
                    let handle = open(&conn, &file, temp, offset == 0).await?;
                    write_at(&conn, &handle, offset, &data, temp).await
                }
            })
            .await?;
        sent = offset + data.len() as u64;
        if chunk.last {
            break;
        }
    }
    client.close(&file).await;
    let size = client
        .run("checking the upload", |conn| async move {
            stat(&conn, temp).await
        })
        .await?
        .map(|a| a.len());
    if size != Some(sent) {
        return Err(error(
            ErrorKind::Transient,
            format!("the server holds {size:?} bytes for {temp}, {sent} were sent"),
        ));
    }
    rename(client, temp, target).await?;
    let attrs = client
        .run("checking the upload", |conn| async move {
            stat(&conn, target).await
        })
        .await?;
    let Some(attrs) = attrs else {
        return Err(error(
            ErrorKind::Other,
            format!("{key} is not on the server after renaming the upload into place"),
        ));
    };
    if attrs.len() != sent {
        return Err(error(
            ErrorKind::Transient,
            format!(
                "the server holds {} bytes for {key}, {sent} were sent",
                attrs.len()
            ),
        ));
    }
    Ok(ObjectMeta {
        key: key.clone(),
        size: sent,
        modified: modified(&attrs).or_else(|| Some(Utc::now())),
        checksum: None,
    })
}

/// The handle of the temporary file on `conn`, opening it (again) when it belongs to an older
/// connection. Only the first open truncates.
async fn open(conn: &Conn, file: &OpenFile, temp: &str, truncate: bool) -> Result<String> {
    let current = file.lock().ok().and_then(|f| f.clone());
    if let Some((id, handle)) = current {
        if id == conn.id {
            return Ok(handle);
        }
    }
    let mut flags = OpenFlags::WRITE | OpenFlags::CREATE;
    if truncate {
        flags |= OpenFlags::TRUNCATE;
    }
    let handle = conn
        .sftp
        .open(temp, flags, FileAttributes::default())
        .await
        .map_err(|e| sftp_error(&format!("creating {temp}"), &e))?
        .handle;
    if let Ok(mut f) = file.lock() {
        *f = Some((conn.id, handle.clone()));
    }
    Ok(handle)
}

/// Writes `data` at `offset` as pipelined requests of [`WRITE_LEN`] bytes.
async fn write_at(
    conn: &Arc<Conn>,
    handle: &str,
    offset: u64,
    data: &Bytes,
    temp: &str,
) -> Result<()> {
    let what = format!("writing {temp}");
    let writes: Vec<_> = (0..data.len())
        .step_by(WRITE_LEN)
        .map(|start| {
            let part = data.slice(start..(start + WRITE_LEN).min(data.len()));
            let (conn, handle, what) = (conn.clone(), handle.to_owned(), what.clone());
            async move {
                conn.sftp
                    .write(handle, offset + start as u64, part.to_vec())
                    .await
                    .map(|_| ())
                    .map_err(|e| sftp_error(&what, &e))
            }
        })
        .collect();
    stream::iter(writes)
        .buffer_unordered(IN_FLIGHT)
        .try_collect::<()>()
        .await
}

/// Renames `temp` onto `target`, replacing it atomically. A rename whose answer was lost and that
/// is retried finds `temp` gone: then the caller's check of `target` decides.
async fn rename(client: &Client, temp: &str, target: &str) -> Result<()> {
    let attempts = std::sync::atomic::AtomicU32::new(0);
    let attempts = &attempts;
    let renamed = client
        .run("renaming the upload into place", |conn| async move {
            attempts.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            if conn.posix_rename {
                return conn.posix_rename(temp, target).await;
            }
            // Without the extension, plain SSH_FXP_RENAME refuses an existing target: remove it
            // first. Readers may then briefly see no object, but never a partial one.
            tracing::warn!(
                backend = BACKEND,
                "the server lacks posix-rename@openssh.com: replacing {target} in two steps"
            );
            match conn.sftp.remove(target).await {
                Err(e) if !crate::error::is_no_such_file(&e) => {
                    return Err(sftp_error(&format!("removing {target}"), &e))
                }
                _ => {}
            }
            conn.sftp
                .rename(temp, target)
                .await
                .map(|_| ())
                .map_err(|e| sftp_error(&format!("renaming {temp} to {target}"), &e))
        })
        .await;
    match renamed {
        Err(e)
            if e.kind() == ErrorKind::NotFound
                && attempts.load(std::sync::atomic::Ordering::Relaxed) > 1 =>
        {
            Ok(())
        }
        other => other,
    }
}
