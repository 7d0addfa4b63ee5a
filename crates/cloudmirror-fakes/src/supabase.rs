//! A stateful fake of Supabase Storage (REST object routes, buckets and TUS resumable uploads).
//!
//! [`FakeSupabase`] serves the routes of a hosted project under `/storage/v1` on 127.0.0.1 and
//! keeps buckets, objects and resumable uploads in memory. It enforces what the real service
//! enforces and answers with the real shapes:
//!
//! - every request needs `apikey: <key>` (the gateway) and `Authorization: Bearer <key>` (the
//!   storage server; new `sb_secret_…` keys are sent in `apikey` only);
//! - REST errors are HTTP 400 with the real code as a *string* `statusCode` in the JSON body
//!   (`"404"` for a missing object or bucket, `"409"` for a duplicate, `"413"` for a file over the
//!   size limit, `"403"` for a bad JWT), except 429 and 500 which keep their HTTP status;
//! - object names must match the server's key pattern (ASCII letters, digits and
//!   `_/!.*'() &$=@;:+,?-`), anything else is `InvalidKey`;
//! - uploads without `x-upsert: true` on an existing name are a `Duplicate`;
//! - TUS (`/upload/resumable`): creation with `Upload-Length` or `Upload-Defer-Length: 1`,
//!   `Upload-Offset` checked on every PATCH (409 on mismatch), every PATCH must end on a multiple
//!   of the platform chunk size (6 MiB) or at the end of the upload, the object appears only when
//!   the last byte arrives, `HEAD` reports the offset, `DELETE` terminates; TUS errors are plain
//!   text with real statuses;
//! - listings are one level deep, folders as entries with a null `id`, paged by `limit`/`offset`.
//!
//! Fault injection: [`FakeSupabase::fail_next_requests`], [`FakeSupabase::fail_next_patches`],
//! [`FakeSupabase::fail_next_patch_after_storing`], [`FakeSupabase::drop_next_patch_after_storing`]
//! and [`FakeSupabase::rotate_service_key`].

mod rest;
mod tus;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};

use base64::Engine as _;
use bytes::Bytes;
use chrono::{DateTime, Utc};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

/// The route prefix the hosted gateway puts in front of the storage server.
pub const STORAGE_PATH: &str = "/storage/v1";

/// The TUS chunk size the hosted platform requires (every chunk but the last).
pub const PLATFORM_CHUNK_SIZE: u64 = 6 * 1024 * 1024;

/// Knobs of a [`FakeSupabase`].
#[derive(Debug, Clone)]
pub struct FakeSupabaseOptions {
    /// The service-role key every request must carry (default: a JWT-shaped key with
    /// `"role": "service_role"`, see [`test_jwt`]).
    pub service_role_key: String,
    /// Buckets that exist from the start (default: `["backups"]`).
    pub buckets: Vec<String>,
    /// The project's global file size limit in bytes (default: 50 MiB, the Free plan's maximum);
    /// larger objects are refused with `EntityTooLarge` (standard uploads) or 413 (TUS).
    pub file_size_limit: u64,
    /// Every TUS PATCH must end on a multiple of this (or at the end of the upload); default 6 MiB.
    pub tus_chunk_size: u64,
    /// Highest `limit` a listing honours (default 1500, the cap these notes give for the server).
    pub max_list_limit: usize,
}

impl Default for FakeSupabaseOptions {
    fn default() -> Self {
        Self {
            service_role_key: test_jwt("service_role"),
            buckets: vec!["backups".to_owned()],
            file_size_limit: 50 * 1024 * 1024,
            tus_chunk_size: PLATFORM_CHUNK_SIZE,
            max_list_limit: 1500,
        }
    }
}

/// A JWT-shaped test key for `role` (`"service_role"` or `"anon"`): real header and payload
/// shapes, a dummy signature. The fake compares keys as strings; it does not verify signatures.
pub fn test_jwt(role: &str) -> String {
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let header = b64.encode(br#"{"alg":"HS256","typ":"JWT"}"#);
    let payload = b64.encode(
        format!(r#"{{"iss":"supabase-demo","role":"{role}","exp":1983812996}}"#).as_bytes(),
    );
    let sig = b64.encode(format!("fake-signature-{role}").as_bytes());
    format!("{header}.{payload}.{sig}")
}

/// A running fake Supabase Storage server; stops when dropped.
#[derive(Debug)]
pub struct FakeSupabase {
    server: MockServer,
    state: Arc<Mutex<State>>,
}

/// One stored object.
#[derive(Debug, Clone)]
pub(crate) struct Object {
    pub(crate) id: uuid::Uuid,
    pub(crate) data: Bytes,
    pub(crate) mimetype: String,
    pub(crate) created_at: DateTime<Utc>,
    pub(crate) updated_at: DateTime<Utc>,
}

/// A bucket's settings.
#[derive(Debug, Clone)]
pub(crate) struct Bucket {
    pub(crate) public: bool,
    pub(crate) file_size_limit: Option<u64>,
    pub(crate) created_at: DateTime<Utc>,
}

/// An unfinished TUS upload.
#[derive(Debug, Clone)]
pub(crate) struct TusUpload {
    pub(crate) bucket: String,
    pub(crate) name: String,
    pub(crate) length: Option<u64>,
    pub(crate) data: Vec<u8>,
    pub(crate) upsert: bool,
    pub(crate) content_type: String,
    /// Finished: the object is committed, `data` is emptied and `length` is the final offset.
    pub(crate) completed: bool,
}

impl TusUpload {
    /// Bytes received so far.
    pub(crate) fn offset(&self) -> u64 {
        if self.completed {
            self.length.unwrap_or_default()
        } else {
            self.data.len() as u64
        }
    }
}

/// A fault waiting for the next matching request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PatchFault {
    /// Answer with this status before storing anything.
    Status(u16),
    /// Store the first half of the body, then answer 500.
    StoreHalfThen500,
    /// Store the first half of the body, then drop the connection without an answer.
    StoreHalfThenDrop,
}

/// Counters of requests by kind.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RequestCounts {
    /// Standard uploads (`POST`/`PUT /object/{bucket}/{name}`).
    pub standard_uploads: usize,
    /// TUS creations (`POST /upload/resumable`).
    pub tus_creates: usize,
    /// TUS PATCH requests.
    pub tus_patches: usize,
    /// TUS HEAD requests.
    pub tus_heads: usize,
    /// TUS terminations (`DELETE /upload/resumable/{id}`).
    pub tus_deletes: usize,
    /// Listing requests.
    pub lists: usize,
    /// Batch deletes.
    pub deletes: usize,
    /// Downloads.
    pub downloads: usize,
    /// Bucket creations.
    pub bucket_creates: usize,
    /// Requests refused for bad credentials.
    pub unauthorized: usize,
}

#[derive(Debug)]
pub(crate) struct State {
    pub(crate) options: FakeSupabaseOptions,
    pub(crate) key: String,
    pub(crate) buckets: BTreeMap<String, Bucket>,
    pub(crate) objects: BTreeMap<(String, String), Object>,
    pub(crate) uploads: BTreeMap<String, TusUpload>,
    pub(crate) fail_next: Vec<u16>,
    pub(crate) patch_faults: Vec<PatchFault>,
    pub(crate) counts: RequestCounts,
    pub(crate) base_uri: String,
}

impl FakeSupabase {
    /// Starts a fake with default options (bucket `backups`, [`test_jwt`] service key).
    pub async fn start() -> Self {
        Self::start_with(FakeSupabaseOptions::default()).await
    }

    /// Starts a fake with `options`.
    pub async fn start_with(options: FakeSupabaseOptions) -> Self {
        let server = MockServer::builder()
            .disable_request_recording()
            .start()
            .await;
        let now = Utc::now();
        let buckets = options
            .buckets
            .iter()
            .map(|b| {
                (
                    b.clone(),
                    Bucket {
                        public: false,
                        file_size_limit: None,
                        created_at: now,
                    },
                )
            })
            .collect();
        let state = Arc::new(Mutex::new(State {
            key: options.service_role_key.clone(),
            options,
            buckets,
            objects: BTreeMap::new(),
            uploads: BTreeMap::new(),
            fail_next: Vec::new(),
            patch_faults: Vec::new(),
            counts: RequestCounts::default(),
            base_uri: server.uri(),
        }));
        Mock::given(DropMatcher(state.clone()))
            .respond_with_err({
                let state = state.clone();
                move |req: &Request| drop_patch(&state, req)
            })
            .with_priority(1)
            .mount(&server)
            .await;
        Mock::given(wiremock::matchers::any())
            .respond_with(Handler(state.clone()))
            .with_priority(2)
            .mount(&server)
            .await;
        Self { server, state }
    }

    /// The project URL (`http://127.0.0.1:<port>`), what goes in the adapter's `url`.
    pub fn uri(&self) -> String {
        self.server.uri()
    }

    /// The service-role key the fake currently accepts.
    pub fn service_role_key(&self) -> String {
        self.lock().key.clone()
    }

    /// A ready `[[destinations]]` TOML table pointing at this fake (bucket `backups`).
    pub fn destination_toml(&self, name: &str) -> String {
        let bucket = self
            .lock()
            .options
            .buckets
            .first()
            .cloned()
            .unwrap_or_else(|| "backups".to_owned());
        format!(
            "[[destinations]]\nname = \"{name}\"\ntype = \"supabase\"\nurl = \"{}\"\nservice_role_key = \"{}\"\nbucket = \"{bucket}\"\n",
            self.uri(),
            self.service_role_key()
        )
    }

    /// Names of the objects in `bucket`, sorted.
    pub fn object_keys(&self, bucket: &str) -> Vec<String> {
        self.lock()
            .objects
            .keys()
            .filter(|(b, _)| b == bucket)
            .map(|(_, n)| n.clone())
            .collect()
    }

    /// The content of one object, if it exists.
    pub fn object(&self, bucket: &str, name: &str) -> Option<Vec<u8>> {
        self.lock()
            .objects
            .get(&(bucket.to_owned(), name.to_owned()))
            .map(|o| o.data.to_vec())
    }

    /// Whether `bucket` exists.
    pub fn has_bucket(&self, bucket: &str) -> bool {
        self.lock().buckets.contains_key(bucket)
    }

    /// Whether `bucket` exists and is public.
    pub fn bucket_is_public(&self, bucket: &str) -> Option<bool> {
        self.lock().buckets.get(bucket).map(|b| b.public)
    }

    /// Sets `bucket`'s own file size limit (it exists already).
    pub fn set_bucket_file_size_limit(&self, bucket: &str, limit: Option<u64>) {
        if let Some(b) = self.lock().buckets.get_mut(bucket) {
            b.file_size_limit = limit;
        }
    }

    /// Number of unfinished (neither completed nor terminated) TUS uploads.
    pub fn pending_uploads(&self) -> usize {
        self.lock()
            .uploads
            .values()
            .filter(|u| !u.completed)
            .count()
    }

    /// Request counters so far.
    pub fn counts(&self) -> RequestCounts {
        self.lock().counts.clone()
    }

    /// The next `n` requests (of any kind) fail with `status` (500, 503, or 429 with
    /// `Retry-After: 1`), shaped as the real server's errors.
    pub fn fail_next_requests(&self, n: usize, status: u16) {
        self.lock().fail_next.extend(std::iter::repeat_n(status, n));
    }

    /// The next `n` TUS `PATCH` requests fail with `status` before storing anything.
    pub fn fail_next_patches(&self, n: usize, status: u16) {
        self.lock()
            .patch_faults
            .extend(std::iter::repeat_n(PatchFault::Status(status), n));
    }

    /// The next TUS PATCH stores the first half of its body, then answers 500 (the client must
    /// `HEAD` to learn the offset and send the rest).
    pub fn fail_next_patch_after_storing(&self) {
        self.lock().patch_faults.push(PatchFault::StoreHalfThen500);
    }

    /// The next TUS PATCH stores the first half of its body, then drops the connection.
    pub fn drop_next_patch_after_storing(&self) {
        self.lock().patch_faults.push(PatchFault::StoreHalfThenDrop);
    }

    /// Replaces the accepted service-role key (like rotating the JWT secret): requests with the
    /// old key are refused from now on.
    pub fn rotate_service_key(&self, new_key: &str) {
        new_key.clone_into(&mut self.lock().key);
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        lock(&self.state)
    }
}

pub(crate) fn lock(state: &Mutex<State>) -> MutexGuard<'_, State> {
    state
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// The REST error shape: HTTP 400 (429/500 keep theirs), the real code as a string in the body.
pub(crate) fn storage_error(
    status: &str,
    error: &str,
    message: &str,
    code: &str,
) -> ResponseTemplate {
    let http = match status {
        "429" => 429,
        "500" => 500,
        _ => 400,
    };
    ResponseTemplate::new(http).set_body_json(serde_json::json!({
        "statusCode": status,
        "error": error,
        "message": message,
        "code": code,
    }))
}

/// Whether the storage server accepts `name` as an object key.
pub(crate) fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_/!.*'() &$=@;:+,?-".contains(c))
}

struct Handler(Arc<Mutex<State>>);

impl Respond for Handler {
    fn respond(&self, req: &Request) -> ResponseTemplate {
        let mut st = lock(&self.0);
        if let Some(status) = (!st.fail_next.is_empty()).then(|| st.fail_next.remove(0)) {
            return injected(status);
        }
        if let Some(refusal) = check_auth(&mut st, req) {
            return refusal;
        }
        let Some(path) = req.url.path().strip_prefix(STORAGE_PATH) else {
            return ResponseTemplate::new(404).set_body_json(
                serde_json::json!({"message": "no Route matched with those values"}),
            );
        };
        let path = path.to_owned();
        if path == "/upload/resumable" || path.starts_with("/upload/resumable/") {
            return tus::handle(&mut st, req, &path);
        }
        rest::handle(&mut st, req, &path)
    }
}

fn injected(status: u16) -> ResponseTemplate {
    match status {
        429 => storage_error(
            "429",
            "too_many_connections",
            "Too many connections issued to the database",
            "SlowDown",
        )
        .insert_header("retry-after", "1"),
        500 => storage_error("500", "internal", "Internal Server Error", "InternalError"),
        s => ResponseTemplate::new(s).set_body_json(serde_json::json!({
            "message": "An invalid response was received from the upstream server"
        })),
    }
}

fn header<'a>(req: &'a Request, name: &str) -> Option<&'a str> {
    req.headers.get(name).and_then(|v| v.to_str().ok())
}

/// The gateway checks `apikey`; the storage server checks the bearer JWT.
fn check_auth(st: &mut State, req: &Request) -> Option<ResponseTemplate> {
    let key = st.key.clone();
    let refuse = |st: &mut State, t: ResponseTemplate| {
        st.counts.unauthorized += 1;
        Some(t)
    };
    match header(req, "apikey") {
        None => {
            return refuse(
                st,
                ResponseTemplate::new(401).set_body_json(serde_json::json!({
                    "message": "No API key found in request",
                    "hint": "No `apikey` request header or url param was found."
                })),
            )
        }
        Some(k) if k != key => {
            return refuse(
                st,
                ResponseTemplate::new(401).set_body_json(serde_json::json!({
                    "message": "Invalid API key",
                    "hint": "Double check your Supabase `anon` or `service_role` API key."
                })),
            )
        }
        Some(_) => {}
    }
    let bearer = header(req, "authorization");
    let new_style = key.starts_with("sb_");
    let ok = match bearer {
        Some(b) => b.strip_prefix("Bearer ") == Some(key.as_str()) && !new_style,
        None => new_style,
    };
    if ok {
        return None;
    }
    let message = if new_style {
        "Invalid Compact JWS"
    } else if bearer.is_none() {
        "headers must have required property 'authorization'"
    } else {
        "signature verification failed"
    };
    refuse(
        st,
        storage_error("403", "Unauthorized", message, "AccessDenied"),
    )
}

/// Matches the PATCH a "drop the connection" fault is waiting for.
struct DropMatcher(Arc<Mutex<State>>);

impl wiremock::Match for DropMatcher {
    fn matches(&self, req: &Request) -> bool {
        req.method == wiremock::http::Method::PATCH
            && lock(&self.0).patch_faults.first() == Some(&PatchFault::StoreHalfThenDrop)
    }
}

/// Stores half of the PATCH, then fails the exchange so the connection drops without an answer.
fn drop_patch(state: &Mutex<State>, req: &Request) -> std::io::Error {
    let mut st = lock(state);
    if st.patch_faults.first() == Some(&PatchFault::StoreHalfThenDrop) {
        st.patch_faults.remove(0);
    }
    tus::store_half(&mut st, req);
    std::io::Error::new(
        std::io::ErrorKind::ConnectionReset,
        "fake: connection dropped mid-PATCH",
    )
}
