//! Uploads: one `PutObject` for bodies within one part, else a streamed multipart upload with a
//! bounded number of parts in flight, aborted on any failure.

use aws_sdk_s3::types::CompletedPart;
use base64::Engine as _;
use bytes::Bytes;
use cloudmirror_contract::{ByteStream, Checksum, ChunkReader, ErrorKind, Key, ObjectMeta, Result};
use sha2::{Digest, Sha256};
use tokio::task::JoinSet;

use crate::client::Client;
use crate::config::{MAX_PARTS, MAX_PART_SIZE};
use crate::error::error;

const MIB: u64 = 1024 * 1024;

/// How an upload cuts its body.
#[derive(Debug, Clone, Copy)]
pub(crate) struct UploadSettings {
    /// Configured part size (bytes).
    pub(crate) part_size: u64,
    /// Largest part an unknown-length body grows to (bytes).
    pub(crate) max_part_size: u64,
    /// Parts between doublings of an unknown-length body's part size ([`GROWTH_EVERY`]).
    pub(crate) growth_every: u64,
    /// Parts uploaded concurrently.
    pub(crate) parts_in_flight: usize,
    /// Whether SHA-256 checksums go with each request.
    pub(crate) checksums: bool,
}

/// An unknown-length body's part size doubles after this many parts.
pub(crate) const GROWTH_EVERY: u64 = 1000;

/// The size of part `number` (1-based) of a body of unknown length: `part_size` for the first
/// [`GROWTH_EVERY`] parts, then doubling every [`GROWTH_EVERY`] parts, capped at `max_part_size`.
///
/// With the default 16 MiB, parts 1-1,000 are 16 MiB, 1,001-2,000 are 32 MiB, ... and 9,001-10,000
/// are 5 GiB: 10,000 parts hold about 13 TiB, past S3's 5 TiB object limit. Starting at the
/// 5 MiB minimum they hold about 4.9 TiB. Memory at part `n` is about
/// `(parts_in_flight + 1) × part_size_at(n)`.
pub(crate) fn part_size_at(
    part_size: u64,
    max_part_size: u64,
    growth_every: u64,
    number: u64,
) -> u64 {
    let doublings = (number.saturating_sub(1) / growth_every.max(1)).min(40);
    part_size.saturating_mul(1 << doublings).min(max_part_size)
}

/// The most an unknown-length body can hold within 10,000 parts under the schedule.
pub(crate) fn max_unknown_length(part_size: u64, max_part_size: u64, growth_every: u64) -> u64 {
    (1..=MAX_PARTS)
        .map(|n| part_size_at(part_size, max_part_size, growth_every, n))
        .fold(0u64, u64::saturating_add)
}

/// The part size for a body: the configured one, grown (in whole MiB) when a known length would
/// need more than 10,000 parts.
pub(crate) fn part_size_for(configured: u64, len: Option<u64>) -> Result<u64> {
    let Some(len) = len else {
        return Ok(configured);
    };
    let needed = len.div_ceil(MAX_PARTS).div_ceil(MIB) * MIB;
    let size = configured.max(needed);
    if size > MAX_PART_SIZE {
        return Err(error(
            ErrorKind::QuotaExceeded,
            format!("an object of {len} bytes exceeds S3's limit of 10,000 parts of 5 GiB"),
        ));
    }
    Ok(size)
}

/// Stores `body` under `key`: one `PutObject` if it fits in one part, else a multipart upload.
pub(crate) async fn upload(
    client: &Client,
    key: &Key,
    body: ByteStream,
    len: Option<u64>,
    settings: UploadSettings,
) -> Result<ObjectMeta> {
    let part_size = part_size_for(settings.part_size, len)?;
    let mut reader = ChunkReader::new(body, usize::try_from(part_size).unwrap_or(usize::MAX));
    // A known length gets one uniform part size; an unknown one grows on a schedule.
    let settings = UploadSettings {
        part_size,
        max_part_size: if len.is_some() {
            part_size
        } else {
            settings.max_part_size.max(part_size)
        },
        ..settings
    };
    let Some(first) = reader.next_chunk().await? else {
        return put_single(client, key, Bytes::new(), settings.checksums).await;
    };
    if first.last {
        return put_single(client, key, first.data, settings.checksums).await;
    }
    let upload_id = client
        .create_multipart(key.as_str(), settings.checksums)
        .await?;
    let mut guard = AbortGuard {
        client: client.clone(),
        key: key.as_str().to_owned(),
        upload_id: Some(upload_id.clone()),
    };
    let mut tasks = JoinSet::new();
    let sent = send_parts(
        client, key, &upload_id, reader, first.data, settings, &mut tasks,
    )
    .await;
    let result = match sent {
        Ok((parts, size)) => client
            .complete_multipart(key.as_str(), &upload_id, parts)
            .await
            .map(|_| size),
        Err(e) => {
            // Stop every part still in flight before aborting, so none lands after the abort.
            tasks.shutdown().await;
            Err(e)
        }
    };
    match result {
        Ok(size) => {
            guard.upload_id = None;
            Ok(ObjectMeta {
                key: key.clone(),
                size,
                modified: None,
                // A multipart SHA-256 is a checksum of part checksums, not the object's SHA-256.
                checksum: None,
            })
        }
        Err(e) => {
            guard.upload_id = None;
            if let Err(abort) = client.abort_multipart(key.as_str(), &upload_id).await {
                tracing::warn!(
                    bucket = client.bucket(),
                    key = key.as_str(),
                    upload_id = %upload_id,
                    "could not abort the failed multipart upload (its parts stay billed until a \
                     lifecycle rule removes them): {abort}"
                );
            }
            Err(e)
        }
    }
}

/// Reads the rest of the body part by part, keeping at most `parts_in_flight` parts uploading; returns
/// the completed parts in order and the object's size.
async fn send_parts(
    client: &Client,
    key: &Key,
    upload_id: &str,
    mut reader: ChunkReader,
    first: Bytes,
    settings: UploadSettings,
    tasks: &mut JoinSet<Result<CompletedPart>>,
) -> Result<(Vec<CompletedPart>, u64)> {
    let mut parts = Vec::new();
    let mut size = 0u64;
    let mut number = 0u64;
    let mut next = Some((first, false));
    loop {
        let (data, last) = if let Some(item) = next.take() {
            item
        } else {
            let size = part_size_at(
                settings.part_size,
                settings.max_part_size,
                settings.growth_every,
                number + 1,
            );
            reader.set_chunk_size(usize::try_from(size).unwrap_or(usize::MAX));
            match reader.next_chunk().await? {
                Some(chunk) => (chunk.data, chunk.last),
                None => break,
            }
        };
        if data.is_empty() {
            break;
        }
        number += 1;
        if number > MAX_PARTS {
            return Err(error(
                ErrorKind::QuotaExceeded,
                format!(
                    "{key}: a body of unknown length needs more than 10,000 parts (parts grow \
                     from part_size = {} MiB to max_part_size = {} MiB, {} GiB in all); raise \
                     max_part_size or part_size",
                    settings.part_size / MIB,
                    settings.max_part_size / MIB,
                    max_unknown_length(
                        settings.part_size,
                        settings.max_part_size,
                        settings.growth_every
                    ) / (1024 * MIB)
                ),
            ));
        }
        size += data.len() as u64;
        while tasks.len() >= settings.parts_in_flight {
            parts.push(join_next(tasks).await?);
        }
        let client = client.clone();
        let s3_key = key.as_str().to_owned();
        let upload_id = upload_id.to_owned();
        let part_number = i32::try_from(number).unwrap_or(i32::MAX);
        tasks.spawn(async move {
            let sha = settings.checksums.then(|| sha256_b64(&data));
            client
                .upload_part(&s3_key, &upload_id, part_number, data, sha.as_deref())
                .await
        });
        if last {
            break;
        }
    }
    while !tasks.is_empty() {
        parts.push(join_next(tasks).await?);
    }
    parts.sort_by_key(CompletedPart::part_number);
    Ok((parts, size))
}

async fn join_next(tasks: &mut JoinSet<Result<CompletedPart>>) -> Result<CompletedPart> {
    match tasks.join_next().await {
        Some(Ok(part)) => part,
        Some(Err(join)) => Err(error(
            ErrorKind::Other,
            format!("a part upload task failed: {join}"),
        )),
        None => Err(error(ErrorKind::Other, "no part upload in flight")),
    }
}

async fn put_single(
    client: &Client,
    key: &Key,
    data: Bytes,
    checksums: bool,
) -> Result<ObjectMeta> {
    let sha = checksums.then(|| sha256_b64(&data));
    let size = data.len() as u64;
    let out = client
        .put_object(key.as_str(), data, sha.as_deref())
        .await?;
    Ok(ObjectMeta {
        key: key.clone(),
        size,
        modified: None,
        checksum: out.checksum_sha256().and_then(full_object_sha256),
    })
}

/// The base64 SHA-256 of `data`, as `x-amz-checksum-sha256` carries it.
pub(crate) fn sha256_b64(data: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(Sha256::digest(data))
}

/// A server-reported `ChecksumSHA256` as a hex full-object checksum; `None` for composite
/// (multipart, `<base64>-<parts>`) or malformed values.
pub(crate) fn full_object_sha256(value: &str) -> Option<Checksum> {
    if value.contains('-') {
        return None;
    }
    let raw = base64::engine::general_purpose::STANDARD
        .decode(value)
        .ok()?;
    (raw.len() == 32).then(|| Checksum::Sha256(hex::encode(raw)))
}

/// Aborts the multipart upload if the upload future is dropped half-way (cancellation).
struct AbortGuard {
    client: Client,
    key: String,
    upload_id: Option<String>,
}

impl Drop for AbortGuard {
    fn drop(&mut self) {
        let Some(upload_id) = self.upload_id.take() else {
            return;
        };
        let Ok(handle) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let client = self.client.clone();
        let key = std::mem::take(&mut self.key);
        handle.spawn(async move {
            if let Err(e) = client.abort_multipart(&key, &upload_id).await {
                tracing::warn!(
                    key,
                    upload_id,
                    "could not abort a cancelled multipart upload: {e}"
                );
            }
        });
    }
}

#[cfg(test)]
mod growth_tests;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn part_size_grows_for_huge_known_lengths() {
        let p16 = 16 * MIB;
        assert_eq!(part_size_for(p16, None).unwrap(), p16);
        assert_eq!(part_size_for(p16, Some(100 * MIB)).unwrap(), p16);
        // 1 TiB needs parts of at least 104.9 MiB: rounded up to 105 MiB.
        let tib = 1024 * 1024 * MIB;
        let size = part_size_for(p16, Some(tib)).unwrap();
        assert_eq!(size, 105 * MIB);
        assert!(tib.div_ceil(size) <= MAX_PARTS);
        assert!(part_size_for(p16, Some(MAX_PARTS * MAX_PART_SIZE + 1)).is_err());
    }

    #[test]
    fn checksums() {
        assert_eq!(
            sha256_b64(b"hello"),
            "LPJNul+wow4m6DsqxbninhsWHlwfp0JecwQzYpOLmCQ="
        );
        assert_eq!(
            full_object_sha256("LPJNul+wow4m6DsqxbninhsWHlwfp0JecwQzYpOLmCQ="),
            Some(Checksum::Sha256(
                "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824".into()
            ))
        );
        assert_eq!(
            full_object_sha256("LPJNul+wow4m6DsqxbninhsWHlwfp0JecwQzYpOLmCQ=-3"),
            None
        );
        assert_eq!(full_object_sha256("bm90IGEgZGlnZXN0"), None);
    }
}
