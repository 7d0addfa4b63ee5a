//! A stateful fake of Supabase Storage (REST object routes, buckets and TUS resumable uploads).
//!
//! [`FakeSupabase`] serves the routes of a hosted project under `/storage/v1` on 127.0.0.1 and
//! keeps buckets, objects and resumable uploads in memory. It enforces what the real service
//! enforces and answers with the real shapes:
//!
//! - every request needs `apikey: <key>` (the gateway) and `Authorization: Bearer <key>` (the
//!   storage server; new `sb_secret_…` keys are sent in `apikey` only, the gateway swaps them for a
//!   JWT). With [`FakeSupabaseOptions::gateway`] off the fake is the storage server reached
//!   directly: routes at the root, no `apikey` check, and the routes' header schema requires
//!   `authorization` (supabase/storage `src/http/schemas/auth.ts`, `src/http/routes-helper.ts`);
//! - REST errors are HTTP 400 with the real code as a *string* `statusCode` in the JSON body
//!   (`"404"` for a missing object or bucket, `"409"` for a duplicate, `"413"` for a file over the
//!   size limit, `"403"` for a bad JWT), except 429 and 500 which keep their HTTP status;
//! - object names must match the server's key pattern (ASCII letters, digits and
//!   `_/!.*'() &$=@;:+,?-`), anything else is `InvalidKey`;
//! - uploads without `x-upsert: true` on an existing name are a `Duplicate`; standard uploads are
//!   also held to [`FakeSupabaseOptions::standard_upload_limit`] (`UPLOAD_FILE_SIZE_LIMIT_STANDARD`);
//! - TUS (`/upload/resumable`, `tus.rs`): creation with exactly one of `Upload-Length` and
//!   `Upload-Defer-Length: 1`, `x-upsert` checked on every request but `HEAD` with that request's
//!   own header, `Upload-Offset` checked on every PATCH (409 on mismatch), every PATCH must end on
//!   a multiple of the platform chunk size (6 MiB) or at the end of the upload, the object appears
//!   only when the last byte arrives, `HEAD` reports the offset, `DELETE` terminates; TUS errors
//!   are plain text with real statuses;
//! - `POST /object/list` (`storage.search`) matches the prefix case-insensitively and names entries
//!   relative to it, folders once per lower-cased name, paged by `limit`/`offset`;
//!   `POST /object/list-v2` lists flat, case-sensitively, with full names and a cursor;
//! - the batch delete answers the rows it deleted, nothing for names it did not find.
//!
//! Fault injection: [`FakeSupabase::fail_next_requests`], [`FakeSupabase::fail_next_patches`],
//! [`FakeSupabase::fail_next_patch_after_storing`], [`FakeSupabase::drop_next_patch_after_storing`],
//! [`FakeSupabase::outage_after`] and [`FakeSupabase::rotate_service_key`].

mod auth;
mod list;
mod multipart;
mod rest;
mod tus;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};

use base64::Engine as _;
use bytes::Bytes;
use chrono::{DateTime, Utc};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

use crate::outage::Outage;

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
    /// Highest `limit` a listing honours (default 1500: `LEAST(coalesce(limits, 100), 1500)` in
    /// `storage.search`, supabase/storage `migrations/tenant/0063-fix-search-name-relative-to-prefix.sql`).
    pub max_list_limit: usize,
    /// A self-hosted server's `UPLOAD_FILE_SIZE_LIMIT_STANDARD`: the limit of standard uploads
    /// (`POST`/`PUT /object`) only, within the global one; TUS is not held to it
    /// (`getStandardMaxFileSizeLimit` in supabase/storage `src/storage/uploader.ts`). Default none.
    pub standard_upload_limit: Option<u64>,
    /// `true` (default): the fake is a project behind the API gateway (`/storage/v1`, `apikey`).
    /// `false`: the storage server reached directly (routes at the root, `Authorization` only).
    pub gateway: bool,
    /// The origin (`https://host:port`) TUS `Location` headers use instead of the fake's own, as
    /// a server behind TLS termination or started with `NODE_ENV=production` answers
    /// (`generateUrl` in supabase/storage `src/http/routes/tus/lifecycle.ts`). Default none.
    pub tus_public_origin: Option<String>,
    /// `true` (default): the server has `POST /object/list-v2` (supabase/storage v1.19.0 and
    /// later); `false`: an older server, whose `POST /object/{bucket}/*` upload route takes the
    /// request instead (an upload into a bucket named `list-v2`: `Bucket not found`).
    pub list_v2: bool,
    /// `true`: objects finished over TUS get a multipart `ETag` (`"<hex>-<parts>"`) as with the S3
    /// backend hosted projects use, not the MD5 of their bytes. Default `false` (file backend).
    pub s3_backend: bool,
}

impl Default for FakeSupabaseOptions {
    fn default() -> Self {
        Self {
            service_role_key: test_jwt("service_role"),
            buckets: vec!["backups".to_owned()],
            file_size_limit: 50 * 1024 * 1024,
            tus_chunk_size: PLATFORM_CHUNK_SIZE,
            max_list_limit: 1500,
            standard_upload_limit: None,
            gateway: true,
            tus_public_origin: None,
            s3_backend: false,
            list_v2: true,
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
    /// The `ETag` the backend reports (quoted).
    pub(crate) etag: String,
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
    pub(crate) content_type: String,
    /// PATCH requests that stored bytes (for the multipart `ETag` of the S3 backend).
    pub(crate) parts: u64,
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
    /// Answer the upsert check's refusal, `409 The resource already exists`.
    Exists,
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
    /// TUS creations with `Upload-Defer-Length: 1` (the others carried `Upload-Length`).
    pub tus_creates_deferred: usize,
    /// Bytes stored by TUS PATCH requests (a resent byte counts twice).
    pub tus_patch_bytes: u64,
    /// TUS PATCH requests.
    pub tus_patches: usize,
    /// TUS HEAD requests.
    pub tus_heads: usize,
    /// TUS terminations (`DELETE /upload/resumable/{id}`).
    pub tus_deletes: usize,
    /// Listing requests (`POST /object/list`).
    pub lists: usize,
    /// Flat listing requests (`POST /object/list-v2`).
    pub lists_v2: usize,
    /// Object info requests (`GET /object/info/...`).
    pub infos: usize,
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
    pub(crate) outage: Outage,
    /// Objects a storage policy hides from deletes.
    pub(crate) delete_denied: std::collections::BTreeSet<(String, String)>,
    /// Names whose next commit stores damaged bytes (see [`FakeSupabase::damage_next_commit_of`]).
    pub(crate) damage_next: std::collections::BTreeSet<String>,
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
            damage_next: std::collections::BTreeSet::new(),
            counts: RequestCounts::default(),
            base_uri: server.uri(),
            outage: Outage::default(),
            delete_denied: std::collections::BTreeSet::new(),
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

    /// The next TUS PATCH is refused by the upsert check (`409 The resource already exists`), as
    /// the server refuses a PATCH without `x-upsert` on an existing name.
    pub fn fail_next_patch_as_existing(&self) {
        self.lock().patch_faults.push(PatchFault::Exists);
    }

    /// The next TUS PATCH stores the first half of its body, then answers 500 (the client must
    /// `HEAD` to learn the offset and send the rest).
    pub fn fail_next_patch_after_storing(&self) {
        self.lock().patch_faults.push(PatchFault::StoreHalfThen500);
    }

    /// The next commit of an object named `name` (in any bucket, by any upload route) stores its
    /// bytes with the first one flipped while answering success as usual: silent damage at rest,
    /// which only reading the copy back (`backup --verify`, `verify`) can catch. A test fault: a
    /// real server does not do this on purpose.
    pub fn damage_next_commit_of(&self, name: &str) {
        self.lock().damage_next.insert(name.to_owned());
    }

    /// The next TUS PATCH stores the first half of its body, then drops the connection.
    pub fn drop_next_patch_after_storing(&self) {
        self.lock().patch_faults.push(PatchFault::StoreHalfThenDrop);
    }

    /// Serves `requests` more requests normally, then answers every request `503` for `length`
    /// (a restart behind the load balancer).
    pub fn outage_after(&self, requests: u64, length: std::time::Duration) {
        self.lock().outage.arm(requests, length);
    }

    /// Requests refused by outages so far.
    pub fn outage_refused(&self) -> u64 {
        self.lock().outage.refused()
    }

    /// A storage policy hides `bucket/name` from deletes: the batch delete leaves it in place and
    /// answers without it, as `DELETE ... RETURNING *` under row-level security does.
    pub fn deny_delete(&self, bucket: &str, name: &str) {
        self.lock()
            .delete_denied
            .insert((bucket.to_owned(), name.to_owned()));
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
        if let Some(down) = st.outage.check() {
            return down;
        }
        if let Some(status) = (!st.fail_next.is_empty()).then(|| st.fail_next.remove(0)) {
            return injected(status);
        }
        let path = if st.options.gateway {
            let Some(path) = req.url.path().strip_prefix(STORAGE_PATH) else {
                return ResponseTemplate::new(404).set_body_json(
                    serde_json::json!({"message": "no Route matched with those values"}),
                );
            };
            path.to_owned()
        } else {
            req.url.path().to_owned()
        };
        let tus = path == "/upload/resumable" || path.starts_with("/upload/resumable/");
        // The REST routes but list-v2 declare `headers: authSchema` (createDefaultSchema in
        // supabase/storage `src/http/routes-helper.ts`); TUS and list-v2 do not.
        let schema = !tus && !path.starts_with("/object/list-v2/");
        if let Some(refusal) = auth::check_auth(&mut st, req, schema) {
            return refusal;
        }
        if tus {
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

pub(crate) fn header<'a>(req: &'a Request, name: &str) -> Option<&'a str> {
    req.headers.get(name).and_then(|v| v.to_str().ok())
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
