//! Uploads: Put Block for each chunk, then Put Block List, which makes the blob visible whole.
//!
//! "Put Block" (<https://learn.microsoft.com/en-us/rest/api/storageservices/put-block>) stages a
//! block under a base64 block id (all ids of one blob the same length, at most 64 bytes before
//! encoding); the service checks each block's `Content-MD5`. Staged blocks are invisible: readers
//! see no blob, or the previous one, until "Put Block List"
//! (<https://learn.microsoft.com/en-us/rest/api/storageservices/put-block-list>) commits the list,
//! which replaces the blob atomically. A failed upload therefore leaves nothing under the key;
//! its uncommitted blocks are discarded by the next commit of that name, or garbage-collected by
//! the service after a week. A blob holds at most 50,000 committed blocks.
//!
//! The whole blob's MD5 is computed while streaming and sent as `x-ms-blob-content-md5`, which
//! the service stores as the blob's `Content-MD5` (listings report it, `verify` compares it).

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use bytes::Bytes;
use chrono::{DateTime, Utc};
use cloudmirror_contract::{ByteStream, Checksum, ChunkReader, ErrorKind, Key, ObjectMeta, Result};
use md5::Digest as _;
use reqwest::Method;

use crate::client::{Call, Client};
use crate::error::error;

/// The most committed blocks one blob may have (Put Block List, "Remarks").
pub(crate) const MAX_BLOCKS: u64 = 50_000;

/// The block id of block `index` of the upload tagged `tag`: base64 of a fixed-length string.
fn block_id(tag: u32, index: usize) -> String {
    BASE64.encode(format!("cloudmirror-{tag:08x}-{index:06}"))
}

/// Stores `body` under `key` atomically and returns its metadata.
pub(crate) async fn upload(
    client: &Client,
    key: &Key,
    body: ByteStream,
    len: Option<u64>,
) -> Result<ObjectMeta> {
    let chunk_size = client.settings.chunk_size;
    if let Some(len) = len {
        if len > MAX_BLOCKS * chunk_size as u64 {
            return Err(error(
                ErrorKind::InvalidInput,
                format!("{len} bytes need more than {MAX_BLOCKS} blocks of chunk_size; raise chunk_size"),
            ));
        }
    }
    // A random tag per upload: two uploads of one name never share a block id.
    let tag = fastrand::u32(..);
    let mut reader = ChunkReader::new(body, chunk_size);
    let mut ids = Vec::new();
    let mut whole = md5::Md5::new();
    let mut sent = 0u64;
    while let Some(chunk) = reader.next_chunk().await? {
        if !chunk.data.is_empty() {
            if ids.len() as u64 >= MAX_BLOCKS {
                return Err(error(
                    ErrorKind::InvalidInput,
                    format!("the body needs more than {MAX_BLOCKS} blocks of chunk_size; raise chunk_size"),
                ));
            }
            let id = block_id(tag, ids.len());
            whole.update(&chunk.data);
            sent += chunk.data.len() as u64;
            put_block(client, key, &id, chunk.data).await?;
            ids.push(id);
        }
        if chunk.last {
            break;
        }
    }
    let md5: [u8; 16] = whole.finalize().into();
    let modified = put_block_list(client, key, &ids, &md5).await?;
    Ok(ObjectMeta {
        key: key.clone(),
        size: sent,
        modified: modified.or_else(|| Some(Utc::now())),
        checksum: Some(Checksum::Md5(hex::encode(md5))),
    })
}

/// Put Block: `PUT ?comp=block&blockid=…` with the block and its `Content-MD5`, retried.
async fn put_block(client: &Client, key: &Key, id: &str, data: Bytes) -> Result<()> {
    let call = Call::new(Method::PUT, Some(key.as_str()))
        .query("comp", "block")
        .query("blockid", id)
        .body(data);
    let what = format!("staging a block of {key}");
    client
        .send(&what, &call, &[reqwest::StatusCode::CREATED])
        .await
        .map(drop)
}

/// Put Block List: commits `ids` as the blob's content, with the whole blob's MD5. Returns the
/// blob's `Last-Modified`.
async fn put_block_list(
    client: &Client,
    key: &Key,
    ids: &[String],
    md5: &[u8; 16],
) -> Result<Option<DateTime<Utc>>> {
    let mut xml = String::from(r#"<?xml version="1.0" encoding="utf-8"?><BlockList>"#);
    for id in ids {
        // Base64 ids need no XML escaping.
        xml.push_str("<Latest>");
        xml.push_str(id);
        xml.push_str("</Latest>");
    }
    xml.push_str("</BlockList>");
    let call = Call::new(Method::PUT, Some(key.as_str()))
        .query("comp", "blocklist")
        .header("x-ms-blob-content-md5", BASE64.encode(md5))
        .header("x-ms-blob-content-type", "application/octet-stream")
        .body(Bytes::from(xml));
    let what = format!("committing {key}");
    let resp = client
        .send(&what, &call, &[reqwest::StatusCode::CREATED])
        .await?;
    Ok(resp
        .headers()
        .get(reqwest::header::LAST_MODIFIED)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| DateTime::parse_from_rfc2822(v).ok())
        .map(|d| d.with_timezone(&Utc)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn block_ids_have_one_length_and_stay_within_64_bytes() {
        let a = block_id(0, 0);
        let b = block_id(u32::MAX, MAX_BLOCKS as usize - 1);
        assert_eq!(a.len(), b.len());
        assert!(BASE64.decode(&b).unwrap().len() <= 64);
        assert_ne!(block_id(1, 0), block_id(2, 0));
    }
}
