//! A stateful fake of the S3 API subset cloudmirror uses, path-style, on 127.0.0.1.
//!
//! [`FakeS3`] keeps one bucket in memory and serves `PutObject`, `GetObject`, `HeadObject`,
//! `DeleteObject`, `DeleteObjects`, `ListObjectsV2`, the multipart calls and
//! `ListMultipartUploads`, with S3's XML shapes. It enforces what S3 enforces: a valid `SigV4`
//! signature by the configured key (wrong key: 403 `InvalidAccessKeyId`; wrong secret:
//! 403 `SignatureDoesNotMatch`), `x-amz-content-sha256` and `x-amz-checksum-sha256` matching the
//! body, parts of at least 5 MiB except the last, part numbers 1–10,000, `ETag`s and checksums on
//! completion, parts invisible until completion, at most 1,000 keys per `DeleteObjects` and a
//! checksum on it, ranged `GetObject` (206/416). Faults can be injected (the next N requests fail with a status), and outages
//! scheduled ([`FakeS3::outage_after`]: every request `503` for a while).

mod listing;
mod ops;
mod sigv4;
mod xml;

use std::collections::BTreeMap;
use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard};

use bytes::Bytes;
use chrono::{DateTime, Utc};
use wiremock::matchers::any;
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

use crate::outage::Outage;

/// Smallest part S3 accepts in a multipart upload (every part but the last).
pub const MIN_PART_SIZE: usize = 5 * 1024 * 1024;

/// An S3 operation, as the fake recognises requests (for counters and targeted faults).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[non_exhaustive]
pub enum S3Op {
    /// `PUT /bucket/key`.
    PutObject,
    /// `GET /bucket/key`.
    GetObject,
    /// `HEAD /bucket/key`.
    HeadObject,
    /// `DELETE /bucket/key`.
    DeleteObject,
    /// `POST /bucket?delete`.
    DeleteObjects,
    /// `GET /bucket?list-type=2`.
    ListObjectsV2,
    /// `POST /bucket/key?uploads`.
    CreateMultipartUpload,
    /// `PUT /bucket/key?partNumber=N&uploadId=U`.
    UploadPart,
    /// `POST /bucket/key?uploadId=U`.
    CompleteMultipartUpload,
    /// `DELETE /bucket/key?uploadId=U`.
    AbortMultipartUpload,
    /// `GET /bucket?uploads`.
    ListMultipartUploads,
    /// `PUT /bucket`.
    CreateBucket,
    /// `HEAD /bucket`.
    HeadBucket,
    /// Anything else (answered 501 `NotImplemented`).
    Unsupported,
}

/// Knobs of a [`FakeS3`].
#[derive(Debug, Clone)]
pub struct FakeS3Options {
    /// The one bucket the fake serves (requests to others get 404 `NoSuchBucket`).
    pub bucket: String,
    /// The region requests must be signed for.
    pub region: String,
    /// The access key id requests must be signed with.
    pub access_key_id: String,
    /// The secret the signatures are checked against.
    pub secret_access_key: String,
    /// Most keys the server returns per `ListObjectsV2` page, whatever `max-keys` asks (S3: 1000).
    pub max_keys: usize,
    /// Smallest size of every multipart part but the last (S3: 5 MiB, [`MIN_PART_SIZE`]). Tests
    /// that push a scaled-down huge stream lower it.
    pub min_part_size: usize,
    /// "Count, don't store": parts are checked and their sizes recorded, but their bytes are
    /// dropped, and a completed multipart upload is kept only as its part sizes
    /// ([`FakeS3::counted_upload`]), so a test can stream far more than memory holds.
    pub count_only: bool,
}

impl Default for FakeS3Options {
    fn default() -> Self {
        Self {
            bucket: "cloudmirror-test".to_owned(),
            region: "us-east-1".to_owned(),
            access_key_id: "AKIDCLOUDMIRRORFAKE".to_owned(),
            secret_access_key: "fake-secret-key-for-tests-only".to_owned(),
            max_keys: 1000,
            min_part_size: MIN_PART_SIZE,
            count_only: false,
        }
    }
}

/// A running S3 fake; stops when dropped.
pub struct FakeS3 {
    server: MockServer,
    state: Arc<Mutex<State>>,
    options: FakeS3Options,
    outage: Outage,
}

impl fmt::Debug for FakeS3 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FakeS3")
            .field("uri", &self.server.uri())
            .field("bucket", &self.options.bucket)
            .finish_non_exhaustive()
    }
}

#[derive(Debug, Clone)]
struct StoredObject {
    data: Bytes,
    etag: String,
    modified: DateTime<Utc>,
    /// Base64 SHA-256 (full object) or `<base64>-<parts>` (composite, multipart).
    checksum_sha256: Option<String>,
}

#[derive(Debug, Clone)]
struct Part {
    data: Bytes,
    /// The part's size (its bytes are dropped in `count_only` mode).
    len: usize,
    etag: String,
    checksum_sha256: Option<String>,
}

#[derive(Debug, Clone)]
struct Upload {
    key: String,
    initiated: DateTime<Utc>,
    sha256: bool,
    parts: BTreeMap<i32, Part>,
}

#[derive(Debug, Clone, Copy)]
struct Fault {
    op: Option<S3Op>,
    remaining: usize,
    status: u16,
}

#[derive(Debug, Default)]
struct State {
    objects: BTreeMap<String, StoredObject>,
    /// `count_only` mode: completed multipart uploads by key, as their part sizes in order.
    counted: BTreeMap<String, Vec<u64>>,
    uploads: BTreeMap<String, Upload>,
    next_id: u64,
    faults: Vec<Fault>,
    counts: BTreeMap<S3Op, usize>,
    unsigned_payloads: usize,
    virtual_hosted: usize,
}

impl FakeS3 {
    /// Starts a fake with the default bucket, region and test keys.
    pub async fn start() -> Self {
        Self::start_with(FakeS3Options::default()).await
    }

    /// Starts a fake with `options`.
    pub async fn start_with(options: FakeS3Options) -> Self {
        let server = MockServer::start().await;
        let state = Arc::new(Mutex::new(State::default()));
        let outage = Outage::default();
        Mock::given(any())
            .respond_with(Handler {
                state: state.clone(),
                options: options.clone(),
                outage: outage.clone(),
            })
            .mount(&server)
            .await;
        Self {
            server,
            state,
            options,
            outage,
        }
    }

    /// The endpoint URL (`http://127.0.0.1:PORT`), for path-style requests.
    pub fn uri(&self) -> String {
        self.server.uri()
    }

    /// The options the fake runs with (bucket, region, keys).
    pub fn options(&self) -> &FakeS3Options {
        &self.options
    }

    /// A ready `[[destinations]]` table pointing the S3 adapter at this fake with working keys.
    pub fn destination_toml(&self, name: &str) -> String {
        format!(
            "[[destinations]]\nname = \"{name}\"\ntype = \"s3\"\nbucket = \"{}\"\nregion = \"{}\"\n\
             endpoint = \"{}\"\naccess_key_id = \"{}\"\nsecret_access_key = \"{}\"\n",
            self.options.bucket,
            self.options.region,
            self.uri(),
            self.options.access_key_id,
            self.options.secret_access_key
        )
    }

    /// Every stored (completed) object key, sorted.
    pub fn object_keys(&self) -> Vec<String> {
        self.lock().objects.keys().cloned().collect()
    }

    /// The content of a stored object.
    pub fn object(&self, key: &str) -> Option<Vec<u8>> {
        self.lock().objects.get(key).map(|o| o.data.to_vec())
    }

    /// The `ChecksumSHA256` stored with an object (base64; composite ones end in `-<parts>`).
    pub fn object_checksum_sha256(&self, key: &str) -> Option<String> {
        self.lock()
            .objects
            .get(key)
            .and_then(|o| o.checksum_sha256.clone())
    }

    /// `count_only` mode: the part sizes of the multipart upload completed under `key`, in part
    /// order (their sum is the object's size).
    pub fn counted_upload(&self, key: &str) -> Option<Vec<u64>> {
        self.lock().counted.get(key).cloned()
    }

    /// Puts an object directly (no request), e.g. a "folder" marker or a pre-existing backup.
    pub fn insert_object(&self, key: &str, data: impl Into<Bytes>) {
        let data = data.into();
        let obj = StoredObject {
            etag: ops::etag_of(&data),
            data,
            modified: Utc::now(),
            checksum_sha256: None,
        };
        self.lock().objects.insert(key.to_owned(), obj);
    }

    /// Keys of the multipart uploads started but neither completed nor aborted (orphans).
    pub fn open_multipart_uploads(&self) -> Vec<String> {
        self.lock()
            .uploads
            .values()
            .map(|u| u.key.clone())
            .collect()
    }

    /// How many requests of `op` the fake received (failed ones included).
    pub fn request_count(&self, op: S3Op) -> usize {
        self.lock().counts.get(&op).copied().unwrap_or(0)
    }

    /// How many requests came with `x-amz-content-sha256: UNSIGNED-PAYLOAD` (a body the signature
    /// does not cover).
    pub fn unsigned_payloads(&self) -> usize {
        self.lock().unsigned_payloads
    }

    /// How many requests named the bucket in the `Host` header (virtual-hosted style) rather than
    /// in the path.
    pub fn virtual_hosted_requests(&self) -> usize {
        self.lock().virtual_hosted
    }

    /// How many requests the fake received in all.
    pub fn total_requests(&self) -> usize {
        self.lock().counts.values().sum()
    }

    /// The next `n` authenticated requests (any operation) fail with `status`
    /// (503 answers `SlowDown`, 500 `InternalError`, others a generic code).
    pub fn fail_next(&self, n: usize, status: u16) {
        self.lock().faults.push(Fault {
            op: None,
            remaining: n,
            status,
        });
    }

    /// The next `n` authenticated requests of `op` fail with `status`.
    pub fn fail_next_op(&self, op: S3Op, n: usize, status: u16) {
        self.lock().faults.push(Fault {
            op: Some(op),
            remaining: n,
            status,
        });
    }

    /// Serves `requests` more requests normally, then answers every request `503` for `length`
    /// (requests refused so are not counted by [`FakeS3::request_count`]).
    pub fn outage_after(&self, requests: u64, length: std::time::Duration) {
        self.outage.arm(requests, length);
    }

    /// Requests refused by outages so far.
    pub fn outage_refusals(&self) -> u64 {
        self.outage.refused()
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

struct Handler {
    state: Arc<Mutex<State>>,
    options: FakeS3Options,
    outage: Outage,
}

impl Respond for Handler {
    fn respond(&self, req: &Request) -> ResponseTemplate {
        if let Some(down) = self.outage.check() {
            return down;
        }
        let mut state = self
            .state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let target = match ops::Target::parse(req) {
            Ok(t) => t,
            Err(resp) => return *resp,
        };
        *state.counts.entry(target.op).or_default() += 1;
        if target.virtual_hosted {
            state.virtual_hosted += 1;
        }
        if req
            .headers
            .get("x-amz-content-sha256")
            .map(http::HeaderValue::as_bytes)
            == Some(b"UNSIGNED-PAYLOAD".as_slice())
        {
            state.unsigned_payloads += 1;
        }
        let head = req.method == http::Method::HEAD;
        if let Err(e) = sigv4::verify(
            req,
            &self.options.access_key_id,
            &self.options.secret_access_key,
            &self.options.region,
        ) {
            return ops::error(e.status, e.code, &e.message, head);
        }
        if let Some(fault) = state
            .faults
            .iter_mut()
            .find(|f| f.remaining > 0 && f.op.is_none_or(|op| op == target.op))
        {
            fault.remaining -= 1;
            let status = fault.status;
            state.faults.retain(|f| f.remaining > 0);
            let code = match status {
                503 => "SlowDown",
                500 => "InternalError",
                _ => "InjectedFault",
            };
            return ops::error(status, code, "injected fault", head);
        }
        if target.bucket != self.options.bucket {
            return ops::error(
                404,
                "NoSuchBucket",
                "The specified bucket does not exist",
                head,
            );
        }
        ops::handle(&mut state, &self.options, &target, req)
    }
}
