//! The contract cases themselves (one public function each, listed in [`super::CASES`]) and the
//! assertions they share.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures::future::BoxFuture;
use futures::stream::{self, StreamExt, TryStreamExt};

use super::{body_in_pieces, data, failing_body};
use crate::{ByteStream, Digests, ErrorKind, Key, ObjectMeta, Prefix, Store, StoreExt};

fn key(prefix: &Prefix, name: &str) -> Key {
    Key::parse(&format!("{}{name}", prefix.as_str())).expect("test keys are valid")
}

fn chunk_size(store: &dyn Store) -> usize {
    store
        .capabilities()
        .chunk_size
        .map_or(1024 * 1024, |c| c as usize)
}

fn large_len(store: &dyn Store) -> usize {
    (2 * chunk_size(store) + chunk_size(store) / 2 + 13).min(64 * 1024 * 1024)
}

fn check_meta(meta: &ObjectMeta, key: &Key, data: &[u8], what: &str) {
    assert_eq!(&meta.key, key, "{what}: key");
    assert_eq!(meta.size, data.len() as u64, "{what}: size of {key}");
    if let Some(cs) = &meta.checksum {
        assert!(
            Digests::of(data).matches(cs),
            "{what}: provider checksum {cs} does not match the content of {key}"
        );
    }
}

async fn listing(store: &dyn Store, prefix: &Prefix) -> BTreeMap<String, ObjectMeta> {
    let items: Vec<ObjectMeta> = store
        .list(prefix)
        .try_collect()
        .await
        .unwrap_or_else(|e| panic!("list {prefix:?} failed: {e}"));
    let mut map = BTreeMap::new();
    for m in items {
        assert!(
            prefix.matches(m.key.as_str()),
            "list {prefix:?} returned {} outside the prefix",
            m.key
        );
        let k = m.key.to_string();
        assert!(
            map.insert(k.clone(), m).is_none(),
            "list returned {k} twice"
        );
    }
    map
}

async fn download(store: &dyn Store, key: &Key) -> Bytes {
    store
        .download_bytes(key)
        .await
        .unwrap_or_else(|e| panic!("download {key} failed: {e}"))
}

async fn upload(
    store: &dyn Store,
    key: &Key,
    data: &Bytes,
    piece: usize,
    known_len: bool,
) -> ObjectMeta {
    let len = known_len.then_some(data.len() as u64);
    store
        .upload(key, body_in_pieces(data, piece), len)
        .await
        .unwrap_or_else(|e| panic!("upload {key} failed: {e}"))
}

async fn cleanup(store: &dyn Store, prefix: &Prefix) {
    let items = listing(store, prefix).await;
    for m in items.values() {
        store
            .delete(&m.key)
            .await
            .unwrap_or_else(|e| panic!("cleanup delete {} failed: {e}", m.key));
    }
}

async fn assert_missing(store: &dyn Store, key: &Key, what: &str) {
    match store.download(key).await {
        Ok(mut body) => {
            // Some providers only fail once the body is read.
            let mut err = None;
            while let Some(item) = body.next().await {
                if let Err(e) = item {
                    err = Some(e);
                    break;
                }
            }
            match err {
                Some(e) => assert_eq!(e.kind(), ErrorKind::NotFound, "{what}: {e}"),
                None => panic!("{what}: {key} can be downloaded but should not exist"),
            }
        }
        Err(e) => assert_eq!(e.kind(), ErrorKind::NotFound, "{what}: {e}"),
    }
    let prefix = Prefix::parse(key.as_str()).expect("a key is a valid prefix");
    assert!(
        !listing(store, &prefix).await.contains_key(key.as_str()),
        "{what}: {key} is listed but should not exist"
    );
}

/// Upload with a known length, download byte-identical, list with size (and checksum if any).
pub fn round_trip(store: Arc<dyn Store>, prefix: Prefix) -> BoxFuture<'static, ()> {
    Box::pin(async move {
        let k = key(&prefix, "db-2026-11-23.json.gz");
        let d = data(1, 1000);
        let meta = upload(&*store, &k, &d, 300, true).await;
        check_meta(&meta, &k, &d, "upload result");
        assert_eq!(download(&*store, &k).await, d);
        let list = listing(&*store, &prefix).await;
        assert_eq!(list.len(), 1, "listing: {list:?}");
        check_meta(&list[k.as_str()], &k, &d, "listing");
        cleanup(&*store, &prefix).await;
    })
}

/// Upload of a body whose length is not known in advance (a compressor's output).
pub fn unknown_length(store: Arc<dyn Store>, prefix: Prefix) -> BoxFuture<'static, ()> {
    Box::pin(async move {
        let k = key(&prefix, "stream.bin");
        let d = data(2, 3 * 1024 + 17);
        let meta = upload(&*store, &k, &d, 100, false).await;
        check_meta(&meta, &k, &d, "upload result");
        assert_eq!(download(&*store, &k).await, d);
        cleanup(&*store, &prefix).await;
    })
}

/// A second upload to the same key replaces the first (shorter content: no stale tail).
pub fn overwrite(store: Arc<dyn Store>, prefix: Prefix) -> BoxFuture<'static, ()> {
    Box::pin(async move {
        let k = key(&prefix, "same.txt");
        upload(&*store, &k, &data(3, 5000), 1000, true).await;
        let second = data(4, 1234);
        let meta = upload(&*store, &k, &second, 1000, true).await;
        check_meta(&meta, &k, &second, "second upload");
        assert_eq!(download(&*store, &k).await, second);
        let list = listing(&*store, &prefix).await;
        assert_eq!(
            list.len(),
            1,
            "exactly one object after overwrite: {list:?}"
        );
        check_meta(&list[k.as_str()], &k, &second, "listing after overwrite");
        cleanup(&*store, &prefix).await;
    })
}

/// Nested folders and any UTF-8 (accents, emoji, spaces, quotes, symbols) round-trip.
pub fn nested_and_unicode_keys(store: Arc<dyn Store>, prefix: Prefix) -> BoxFuture<'static, ()> {
    Box::pin(async move {
        let names = [
            "top.txt",
            "a/b/c/deep.json.gz",
            "Résumé ü/😀 it's a \"quote\".txt",
            "with space/plus+and&amp=percent%20.txt",
            "日本語/データ.sql.gz",
        ];
        let mut expected = BTreeMap::new();
        for (i, name) in names.iter().enumerate() {
            let k = key(&prefix, name);
            let d = data(10 + i as u64, 100 + i);
            let meta = upload(&*store, &k, &d, 64, true).await;
            check_meta(&meta, &k, &d, "upload result");
            expected.insert(k.to_string(), (k, d));
        }
        let list = listing(&*store, &prefix).await;
        assert_eq!(
            list.keys().collect::<Vec<_>>(),
            expected.keys().collect::<Vec<_>>(),
            "listed keys"
        );
        for (k, d) in expected.values() {
            check_meta(&list[k.as_str()], k, d, "listing");
            assert_eq!(&download(&*store, k).await, d, "content of {k}");
        }
        cleanup(&*store, &prefix).await;
    })
}

/// A zero-byte object is stored, listed with size 0 and downloads as nothing.
pub fn empty_object(store: Arc<dyn Store>, prefix: Prefix) -> BoxFuture<'static, ()> {
    Box::pin(async move {
        let k = key(&prefix, "empty");
        let meta = upload(&*store, &k, &Bytes::new(), 1, true).await;
        check_meta(&meta, &k, &[], "upload result");
        let k2 = key(&prefix, "empty-unknown-length");
        let meta = upload(&*store, &k2, &Bytes::new(), 1, false).await;
        check_meta(&meta, &k2, &[], "upload result (unknown length)");
        assert!(download(&*store, &k).await.is_empty());
        let list = listing(&*store, &prefix).await;
        assert_eq!(list.len(), 2, "{list:?}");
        check_meta(&list[k.as_str()], &k, &[], "listing");
        cleanup(&*store, &prefix).await;
    })
}

/// An object over 2.5 chunks takes the adapter's chunked path and round-trips (known length).
pub fn large_chunked(store: Arc<dyn Store>, prefix: Prefix) -> BoxFuture<'static, ()> {
    Box::pin(async move {
        let k = key(&prefix, "large.bin");
        let d = data(20, large_len(&*store));
        let meta = upload(&*store, &k, &d, 64 * 1024, true).await;
        check_meta(&meta, &k, &d, "upload result");
        let got = download(&*store, &k).await;
        assert_eq!(got.len(), d.len(), "downloaded size");
        assert!(got == d, "downloaded content differs");
        check_meta(
            &listing(&*store, &prefix).await[k.as_str()],
            &k,
            &d,
            "listing",
        );
        cleanup(&*store, &prefix).await;
    })
}

/// The chunked path with a length not known in advance, in odd-sized pieces.
pub fn large_chunked_unknown_length(
    store: Arc<dyn Store>,
    prefix: Prefix,
) -> BoxFuture<'static, ()> {
    Box::pin(async move {
        let k = key(&prefix, "large-stream.bin");
        let d = data(21, large_len(&*store));
        let meta = upload(&*store, &k, &d, 100_003, false).await;
        check_meta(&meta, &k, &d, "upload result");
        let got = download(&*store, &k).await;
        assert!(
            got == d,
            "downloaded content differs ({} vs {} bytes)",
            got.len(),
            d.len()
        );
        cleanup(&*store, &prefix).await;
    })
}

/// A listing longer than several pages returns every object exactly once.
pub fn list_pages(store: Arc<dyn Store>, prefix: Prefix) -> BoxFuture<'static, ()> {
    Box::pin(async move {
        let n = store
            .capabilities()
            .list_page_size
            .map_or(12, |p| 2 * p + 1)
            .min(41);
        let keys: Vec<Key> = (0..n)
            .map(|i| {
                if i % 3 == 0 {
                    key(&prefix, &format!("sub/obj-{i:03}"))
                } else {
                    key(&prefix, &format!("obj-{i:03}"))
                }
            })
            .collect();
        let st = &store;
        stream::iter(keys.iter().enumerate())
            .for_each_concurrent(4, |(i, k)| async move {
                upload(&**st, k, &data(100 + i as u64, 10 + i), 64, true).await;
            })
            .await;
        let list = listing(&*store, &prefix).await;
        let mut want: Vec<String> = keys.iter().map(ToString::to_string).collect();
        want.sort();
        assert_eq!(list.keys().cloned().collect::<Vec<_>>(), want);
        cleanup(&*store, &prefix).await;
    })
}

/// Prefixes match as plain strings, across folders, and a missing prefix lists nothing.
pub fn list_prefix_filters(store: Arc<dyn Store>, prefix: Prefix) -> BoxFuture<'static, ()> {
    Box::pin(async move {
        for name in ["p/a-1", "p/a-2", "p/b-1", "q/a-1", "pa"] {
            upload(&*store, &key(&prefix, name), &data(7, 10), 10, true).await;
        }
        let sub =
            |p: &str| Prefix::parse(&format!("{}{p}", prefix.as_str())).expect("valid prefix");
        let names = |m: BTreeMap<String, ObjectMeta>| -> Vec<String> {
            m.into_keys()
                .map(|k| k[prefix.as_str().len()..].to_owned())
                .collect()
        };
        assert_eq!(
            names(listing(&*store, &sub("p/a")).await),
            ["p/a-1", "p/a-2"]
        );
        assert_eq!(
            names(listing(&*store, &sub("p/")).await),
            ["p/a-1", "p/a-2", "p/b-1"]
        );
        assert_eq!(
            names(listing(&*store, &sub("p")).await),
            ["p/a-1", "p/a-2", "p/b-1", "pa"]
        );
        assert_eq!(names(listing(&*store, &sub("q/a-1")).await), ["q/a-1"]);
        assert!(listing(&*store, &sub("nothing/")).await.is_empty());
        assert!(listing(&*store, &sub("p/zzz")).await.is_empty());
        cleanup(&*store, &prefix).await;
    })
}

/// Deleting a missing key succeeds; a deleted object is gone from downloads and listings.
pub fn delete_idempotent(store: Arc<dyn Store>, prefix: Prefix) -> BoxFuture<'static, ()> {
    Box::pin(async move {
        let k = key(&prefix, "gone/soon.txt");
        store
            .delete(&k)
            .await
            .expect("delete of a missing key succeeds");
        upload(&*store, &k, &data(8, 50), 50, true).await;
        store.delete(&k).await.expect("delete");
        assert_missing(&*store, &k, "after delete").await;
        store.delete(&k).await.expect("second delete succeeds");
        cleanup(&*store, &prefix).await;
    })
}

/// Downloading a missing key (also in a missing folder) is `NotFound`.
pub fn download_missing(store: Arc<dyn Store>, prefix: Prefix) -> BoxFuture<'static, ()> {
    Box::pin(async move {
        assert_missing(&*store, &key(&prefix, "missing.txt"), "missing key").await;
        assert_missing(
            &*store,
            &key(&prefix, "no/such/folder/x.txt"),
            "missing folder",
        )
        .await;
    })
}

/// Concurrent uploads of distinct keys all land; two racing uploads of one key leave one whole version.
pub fn concurrent_uploads(store: Arc<dyn Store>, prefix: Prefix) -> BoxFuture<'static, ()> {
    Box::pin(async move {
        let items: Vec<(Key, Bytes)> = (0..8)
            .map(|i| {
                (
                    key(&prefix, &format!("c/{i}.bin")),
                    data(30 + i, 20_000 + i as usize),
                )
            })
            .collect();
        let st = &store;
        futures::future::join_all(items.iter().map(|(k, d)| async move {
            upload(&**st, k, d, 4096, true).await;
        }))
        .await;
        for (k, d) in &items {
            assert_eq!(&download(&*store, k).await, d, "content of {k}");
        }
        let k = key(&prefix, "race.bin");
        let (a, b) = (data(40, 30_000), data(41, 20_000));
        let (ra, rb) = tokio::join!(
            store.upload(&k, body_in_pieces(&a, 1000), Some(a.len() as u64)),
            store.upload(&k, body_in_pieces(&b, 1000), Some(b.len() as u64)),
        );
        assert!(
            ra.is_ok() || rb.is_ok(),
            "one racing upload must land: {ra:?} {rb:?}"
        );
        let got = download(&*store, &k).await;
        assert!(
            got == a || got == b,
            "racing uploads mixed content ({} bytes)",
            got.len()
        );
        cleanup(&*store, &prefix).await;
    })
}

/// A body that yields `head`, then waits at a gate (telling the test it got there), then `tail`:
/// returns the body, the "reached the gate" signal and the sender that opens the gate. Adapter
/// tests use it to act (cut a connection, look at the server) in the middle of an upload.
pub fn gated_body(
    head: Bytes,
    tail: Bytes,
) -> (
    ByteStream,
    tokio::sync::oneshot::Receiver<()>,
    tokio::sync::oneshot::Sender<()>,
) {
    let (reached_tx, reached_rx) = tokio::sync::oneshot::channel::<()>();
    let (release_tx, release_rx) = tokio::sync::oneshot::channel::<()>();
    let state = (0u8, Some(reached_tx), Some(release_rx), head, tail);
    let body = stream::unfold(state, |(step, reached, release, head, tail)| async move {
        match step {
            0 => Some((Ok(head.clone()), (1, reached, release, head, tail))),
            1 => {
                if let Some(tx) = reached {
                    let _ = tx.send(());
                }
                if let Some(rx) = release {
                    let _ = rx.await;
                }
                Some((Ok(tail.clone()), (2, None, None, head, tail)))
            }
            _ => None,
        }
    })
    .boxed();
    (body, reached_rx, release_tx)
}

/// While an upload is under way (first chunk sent), readers see no object, or the old one whole.
pub fn invisible_until_complete(store: Arc<dyn Store>, prefix: Prefix) -> BoxFuture<'static, ()> {
    Box::pin(async move {
        let chunk = chunk_size(&*store);
        let new = data(50, 2 * chunk + 5);
        let (head, tail) = (new.slice(..=chunk), new.slice(chunk + 1..));

        // A new key: absent until the upload completes.
        let k = key(&prefix, "in-progress.bin");
        let (body, reached, release) = gated_body(head.clone(), tail.clone());
        let st = store.clone();
        let k2 = k.clone();
        let task = tokio::spawn(async move { st.upload(&k2, body, None).await });
        tokio::time::timeout(Duration::from_mins(1), reached)
            .await
            .expect("the adapter read the body up to the gate")
            .expect("gate signal");
        assert_missing(&*store, &k, "during upload").await;
        let _ = release.send(());
        task.await.expect("upload task").expect("gated upload");
        assert!(download(&*store, &k).await == new, "content after upload");

        // An existing key: the old version stays whole until the new one is complete.
        let k = key(&prefix, "replaced.bin");
        let old = data(51, 777);
        upload(&*store, &k, &old, 100, true).await;
        let (body, reached, release) = gated_body(head, tail);
        let st = store.clone();
        let k2 = k.clone();
        let task = tokio::spawn(async move { st.upload(&k2, body, None).await });
        tokio::time::timeout(Duration::from_mins(1), reached)
            .await
            .expect("the adapter read the body up to the gate")
            .expect("gate signal");
        assert_eq!(
            download(&*store, &k).await,
            old,
            "old version during upload"
        );
        let _ = release.send(());
        task.await.expect("upload task").expect("gated upload");
        assert!(
            download(&*store, &k).await == new,
            "new version after upload"
        );
        cleanup(&*store, &prefix).await;
    })
}

/// A body that fails part-way (early, or after a chunk went out) leaves no object and the old version intact.
pub fn failed_upload_leaves_nothing(
    store: Arc<dyn Store>,
    prefix: Prefix,
) -> BoxFuture<'static, ()> {
    Box::pin(async move {
        let chunk = chunk_size(&*store);
        for (name, n) in [("early.bin", 10), ("after-a-chunk.bin", chunk + chunk / 2)] {
            let k = key(&prefix, name);
            let res = store.upload(&k, failing_body(data(60, n)), None).await;
            assert!(
                res.is_err(),
                "an upload whose body failed must fail ({name})"
            );
            assert_missing(&*store, &k, "after failed upload").await;
        }
        let k = key(&prefix, "keep-old.bin");
        let old = data(61, 999);
        upload(&*store, &k, &old, 100, true).await;
        let res = store
            .upload(&k, failing_body(data(60, chunk + 1)), None)
            .await;
        assert!(res.is_err(), "an upload whose body failed must fail");
        assert_eq!(
            download(&*store, &k).await,
            old,
            "old version after failed overwrite"
        );
        let list = listing(&*store, &prefix).await;
        assert_eq!(list.len(), 1, "only the old object is listed: {list:?}");
        cleanup(&*store, &prefix).await;
    })
}
