//! Rules of the official Dropbox spec the adapter must follow (issue 16): per-call content hashes,
//! resending damaged calls, finishing again after a `path` error, and riding out an outage.

use std::time::Duration;

use bytes::Bytes;
use cloudmirror_contract::testkit::{body_in_pieces, data};
use cloudmirror_contract::{
    dropbox_content_hash, ByteSize, Digests, ErrorKind, Key, RetryPolicy, Store,
};
use cloudmirror_dropbox::{DropboxConfig, DropboxStore};
use cloudmirror_fakes::dropbox::{FakeDropbox, APP_KEY, APP_SECRET, FOLDER, REFRESH_TOKEN};
use serde_json::{json, Value};

const MIB: usize = 1024 * 1024;
const START: &str = "files/upload_session/start";
const APPEND: &str = "files/upload_session/append_v2";
const FINISH: &str = "files/upload_session/finish";

fn store_with(fake: &FakeDropbox, policy: RetryPolicy) -> DropboxStore {
    let mut c = DropboxConfig::new(FOLDER, APP_KEY, APP_SECRET, REFRESH_TOKEN);
    c.chunk_size = Some(ByteSize::mib(4));
    c.api_url = Some(fake.uri());
    c.content_url = Some(fake.uri());
    c.token_url = Some(fake.token_url());
    DropboxStore::new(c)
        .expect("valid config")
        .with_retry_policy(policy)
}

fn store(fake: &FakeDropbox) -> DropboxStore {
    store_with(fake, RetryPolicy::fast())
}

fn key(k: &str) -> Key {
    Key::parse(k).expect("valid test key")
}

/// 20 MiB and a bit: start, four appends, finish with 4 MiB chunks.
fn twenty_mib() -> Bytes {
    data(16, 20 * MIB + 77)
}

async fn upload(s: &DropboxStore, name: &str, body: &Bytes) -> cloudmirror_contract::Result<()> {
    let meta = s
        .upload(
            &key(name),
            body_in_pieces(body, MIB),
            Some(body.len() as u64),
        )
        .await?;
    let sum = meta.checksum.as_ref().expect("a dropbox content hash");
    assert!(Digests::of(body).matches(sum), "checksum of {name}");
    Ok(())
}

fn stored(fake: &FakeDropbox, name: &str) -> Option<Vec<u8>> {
    fake.object(&format!("{FOLDER}/{name}"))
}

#[tokio::test]
async fn a_chunked_upload_sends_each_call_the_hash_of_its_own_body() {
    let fake = FakeDropbox::start().await;
    let body = twenty_mib();
    upload(&store(&fake), "daily/db.gz", &body).await.unwrap();
    assert!(stored(&fake, "daily/db.gz").unwrap() == body.to_vec());
    assert_eq!(fake.requests(START), 1);
    assert_eq!(fake.requests(APPEND), 4);
    assert_eq!(fake.requests(FINISH), 1);
    assert_eq!(fake.open_sessions(), 0);
}

/// A bare client of the fake, as the spec describes the wire (no adapter involved).
struct Raw {
    http: reqwest::Client,
    base: String,
    token: String,
}

impl Raw {
    async fn new(fake: &FakeDropbox) -> Self {
        let http = reqwest::Client::new();
        let token: Value = http
            .post(fake.token_url())
            .form(&[
                ("grant_type", "refresh_token"),
                ("refresh_token", REFRESH_TOKEN),
                ("client_id", APP_KEY),
                ("client_secret", APP_SECRET),
            ])
            .send()
            .await
            .expect("the token route answers")
            .json()
            .await
            .expect("a JSON token");
        Self {
            http,
            base: fake.uri(),
            token: token["access_token"]
                .as_str()
                .expect("an access token")
                .to_owned(),
        }
    }

    async fn call(&self, route: &str, arg: Value, body: &[u8]) -> (u16, Value) {
        let resp = self
            .http
            .post(format!("{}/2/{route}", self.base))
            .bearer_auth(&self.token)
            .header("Content-Type", "application/octet-stream")
            .header("Dropbox-API-Arg", arg.to_string())
            .body(body.to_vec())
            .send()
            .await
            .expect("the fake answers");
        let status = resp.status().as_u16();
        (status, resp.json().await.unwrap_or(Value::Null))
    }
}

#[tokio::test]
async fn the_fake_refuses_a_whole_file_hash_on_a_partial_body() {
    let fake = FakeDropbox::start().await;
    let raw = Raw::new(&fake).await;
    let file = data(5, 9 * MIB);
    let (a, b) = (&file[..4 * MIB], &file[4 * MIB..]);
    let whole = dropbox_content_hash(&file);

    let (status, err) = raw.call(START, json!({"content_hash": whole}), a).await;
    assert_eq!(status, 409, "{err}");
    assert_eq!(err["error"], json!({".tag": "content_hash_mismatch"}));
    assert!(err["error_summary"]
        .as_str()
        .unwrap()
        .starts_with("content_hash_mismatch/"));
    assert_eq!(fake.open_sessions(), 0, "a refused start opens no session");

    let (status, ok) = raw
        .call(START, json!({"content_hash": dropbox_content_hash(a)}), a)
        .await;
    assert_eq!(status, 200, "{ok}");
    let id = ok["session_id"].as_str().unwrap().to_owned();
    let cursor = |offset: usize| json!({"session_id": id, "offset": offset});

    // append_v2 with the whole file's hash: refused, nothing appended.
    let (half1, half2) = (&b[..MIB], &b[MIB..]);
    let (status, err) = raw
        .call(
            APPEND,
            json!({"cursor": cursor(a.len()), "content_hash": whole}),
            half1,
        )
        .await;
    assert_eq!(
        (status, &err["error"]),
        (409, &json!({".tag": "content_hash_mismatch"}))
    );
    let arg = json!({"cursor": cursor(a.len()), "content_hash": dropbox_content_hash(half1)});
    assert_eq!(raw.call(APPEND, arg, half1).await.0, 200);

    // finish with the whole file's hash on its last part: refused at the top level.
    let commit = json!({"path": format!("{FOLDER}/raw.bin"), "mode": "overwrite"});
    let done = a.len() + half1.len();
    let (status, err) = raw
        .call(
            FINISH,
            json!({"cursor": cursor(done), "commit": commit, "content_hash": whole}),
            half2,
        )
        .await;
    assert_eq!(
        (status, &err["error"]),
        (409, &json!({".tag": "content_hash_mismatch"}))
    );
    assert!(stored(&fake, "raw.bin").is_none());

    // The same finish with its own body's hash commits the file, whose hash is the whole file's.
    let arg = json!({"cursor": cursor(done), "commit": commit,
        "content_hash": dropbox_content_hash(half2)});
    let (status, meta) = raw.call(FINISH, arg, half2).await;
    assert_eq!(status, 200, "{meta}");
    assert_eq!(meta["content_hash"], json!(whole));
    assert!(stored(&fake, "raw.bin").unwrap() == file.to_vec());

    // files/upload carries the whole file, so its hash is the whole file's.
    let arg = json!({"path": format!("{FOLDER}/one.bin"), "mode": "overwrite",
        "content_hash": dropbox_content_hash(a)});
    let (status, err) = raw.call("files/upload", arg, &file).await;
    assert_eq!(
        (status, &err["error"]),
        (409, &json!({".tag": "content_hash_mismatch"}))
    );
}

#[tokio::test]
async fn after_a_path_error_the_fake_wants_the_updated_offset() {
    let fake = FakeDropbox::start().await;
    let raw = Raw::new(&fake).await;
    let (a, b) = (data(1, 1000), data(2, 500));
    let (_, ok) = raw.call(START, json!({}), &a).await;
    let id = ok["session_id"].as_str().unwrap().to_owned();
    let commit = json!({"path": format!("{FOLDER}/c.bin"), "mode": "overwrite"});
    fake.fail_next_commit(
        FINISH,
        json!({".tag": "conflict", "conflict": {".tag": "file"}}),
    );
    let finish = |offset: u64, body: &Bytes| {
        json!({"cursor": {"session_id": id, "offset": offset}, "commit": commit,
            "content_hash": dropbox_content_hash(body)})
    };
    let (status, err) = raw.call(FINISH, finish(1000, &b), &b).await;
    assert_eq!(status, 409);
    assert_eq!(
        err["error_summary"].as_str().unwrap(),
        "path/conflict/file/.."
    );
    assert_eq!(err["error"]["path"]["conflict"][".tag"], "file");
    // The finish body is appended: the old offset is refused with the updated one.
    let (status, err) = raw.call(FINISH, finish(1000, &b), &b).await;
    assert_eq!(status, 409);
    assert_eq!(
        err["error"],
        json!({".tag": "lookup_failed", "lookup_failed": {".tag": "incorrect_offset", "correct_offset": 1500}})
    );
    let empty = Bytes::new();
    let (status, meta) = raw.call(FINISH, finish(1500, &empty), &empty).await;
    assert_eq!(status, 200, "{meta}");
    assert_eq!(stored(&fake, "c.bin").unwrap(), [&a[..], &b[..]].concat());
}

#[tokio::test]
async fn a_damaged_call_is_resent_on_every_upload_route() {
    for route in ["files/upload", START, APPEND, FINISH] {
        let fake = FakeDropbox::start().await;
        let s = store(&fake);
        let body = if route == "files/upload" {
            data(3, MIB)
        } else {
            data(3, 10 * MIB + 5)
        };
        fake.corrupt_next_body(route);
        upload(&s, "d.bin", &body)
            .await
            .unwrap_or_else(|e| panic!("{route}: {e}"));
        assert!(stored(&fake, "d.bin").unwrap() == body.to_vec(), "{route}");
        assert_eq!(
            fake.requests(route),
            2,
            "{route}: the damaged call and its resend"
        );
        assert_eq!(fake.open_sessions(), 0, "{route}");
    }
}

#[tokio::test]
async fn a_conflict_at_finish_is_retried_with_an_empty_body_at_the_updated_offset() {
    let fake = FakeDropbox::start().await;
    let s = store(&fake);
    let body = data(4, 10 * MIB + 9);
    let last = (body.len() - 8 * MIB) as u64;
    fake.fail_next_commit(
        FINISH,
        json!({".tag": "conflict", "conflict": {".tag": "file"}}),
    );
    upload(&s, "conflict.bin", &body).await.unwrap();
    assert!(stored(&fake, "conflict.bin").unwrap() == body.to_vec());
    assert_eq!(fake.requests(FINISH), 2, "the refused finish and one retry");
    assert_eq!(
        fake.bytes_received(FINISH),
        last,
        "the retry carries no bytes"
    );
    assert_eq!(fake.open_sessions(), 0);

    // Two busy answers in a row are waited out too.
    let write_ops = json!({".tag": "too_many_write_operations"});
    fake.fail_next_commit(FINISH, write_ops.clone());
    fake.fail_next_commit(FINISH, write_ops);
    upload(&s, "busy.bin", &body).await.unwrap();
    assert!(stored(&fake, "busy.bin").unwrap() == body.to_vec());
    assert_eq!(fake.requests(FINISH), 5);
}

#[tokio::test]
async fn a_conflict_at_files_upload_is_committed_through_its_session() {
    let fake = FakeDropbox::start().await;
    let s = store(&fake);
    let body = data(6, 1000);
    fake.fail_next_commit(
        "files/upload",
        json!({".tag": "conflict", "conflict": {".tag": "file"}}),
    );
    upload(&s, "small.bin", &body).await.unwrap();
    assert!(stored(&fake, "small.bin").unwrap() == body.to_vec());
    assert_eq!(fake.requests("files/upload"), 1);
    assert_eq!(fake.requests(FINISH), 1);
    assert_eq!(fake.bytes_received(FINISH), 0);
}

#[tokio::test]
async fn a_finish_whose_answer_was_lost_is_found_committed() {
    let fake = FakeDropbox::start().await;
    let s = store(&fake);
    let body = data(8, 9 * MIB);
    // The finish commits the file, but its answer is lost: the retry finds no session.
    fake.lose_next_response(FINISH, 503);
    upload(&s, "lost-finish.bin", &body).await.unwrap();
    assert!(stored(&fake, "lost-finish.bin").unwrap() == body.to_vec());
    assert_eq!(fake.requests(FINISH), 2);
    assert_eq!(fake.requests("files/get_metadata"), 1);
}

#[tokio::test]
async fn a_full_space_at_finish_fails_at_once_with_a_clear_message() {
    let fake = FakeDropbox::start().await;
    let s = store(&fake);
    fake.fail_next_commit(FINISH, json!({".tag": "insufficient_space"}));
    let err = upload(&s, "full.bin", &data(7, 5 * MIB)).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::QuotaExceeded, "{err}");
    assert!(err.to_string().contains("insufficient_space"), "{err}");
    assert!(err.to_string().contains("is full"), "{err}");
    assert_eq!(fake.requests(FINISH), 1, "not retried");
    assert!(fake.object_keys().is_empty());
}

#[tokio::test]
async fn a_20_second_outage_mid_session_is_ridden_out_without_restarting() {
    let fake = FakeDropbox::start().await;
    let policy = RetryPolicy {
        budget: Duration::from_secs(90),
        max_delay: Duration::from_secs(2),
        ..RetryPolicy::default()
    };
    let s = store_with(&fake, policy);
    let body = twenty_mib();
    // The token, start and the first append go through; then Dropbox is down for 20 s.
    fake.outage_after(3, Duration::from_secs(20));
    let started = std::time::Instant::now();
    upload(&s, "outage.bin", &body).await.unwrap();
    assert!(started.elapsed() >= Duration::from_secs(20));
    assert!(fake.outage_refusals() >= 5, "{}", fake.outage_refusals());
    assert!(stored(&fake, "outage.bin").unwrap() == body.to_vec());
    assert_eq!(fake.requests(START), 1, "the session was not restarted");
    let received: u64 = [START, APPEND, FINISH]
        .iter()
        .map(|r| fake.bytes_received(r))
        .sum();
    assert_eq!(received, body.len() as u64, "no byte was sent twice");
}
