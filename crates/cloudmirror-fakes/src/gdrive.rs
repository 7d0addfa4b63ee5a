//! A stateful fake of Google Drive API v3 plus Google's OAuth token endpoint, for service accounts.
//!
//! [`FakeGdrive`] serves, on 127.0.0.1:
//!
//! - `POST /token`: the service-account JWT bearer grant. The assertion must be an RS256 JWT signed
//!   with the test key ([`TEST_PRIVATE_KEY_PEM`], a throwaway key made for these tests), with
//!   `iss` = the test service account, `aud` = this endpoint, the Drive scope, a sane `iat`/`exp`
//!   (at most one hour); `sub` (domain-wide delegation) is accepted unless disabled. Tokens live
//!   [`FakeGdriveOptions::token_lifetime`] seconds and can be expired at once
//!   ([`FakeGdrive::expire_tokens`]); Drive routes answer 401 `authError` without a valid one.
//! - `/drive/v3/files`: `files.list` (the `q` subset `'<id>' in parents`, `name = '…'`,
//!   `mimeType = '…'`/`!=`, `trashed = false` joined by `and`, with `\\` and `\'` escapes;
//!   `pageSize` 1..=1000 and `pageToken` paging; `orderBy`; `fields` honoured at the top level and
//!   inside `files(…)`, with Drive's short default when absent), `files.get` (metadata and
//!   `alt=media`), `files.create` (metadata only, e.g. folders), `files.update` (metadata) and a
//!   permanent `files.delete` (204; folders take their content along).
//! - `/upload/drive/v3/files`: `uploadType=multipart` (a strict `multipart/related` parser:
//!   exactly a JSON part then a media part), `media`, and `resumable` sessions: `Location` session
//!   URIs, `PUT` chunks with `Content-Range`, `308` with `Range: bytes=0-N` (absent when nothing is
//!   stored), every non-final chunk a multiple of 256 KiB, `bytes */N` status probes, `DELETE` to
//!   cancel. A file appears only when its last byte arrives.
//!
//! Duplicate names are allowed, as on Drive. `size` is a JSON string. By default the backup
//! folder is in a shared drive ([`FakeGdriveOptions::shared_drive_id`]), where users must put it:
//! every file carries `driveId`, requests on them without `supportsAllDrives=true` get 404, and
//! listings must say `corpora=drive`, `driveId=…`, `includeItemsFromAllDrives=true` and
//! `supportsAllDrives=true`. Outside shared drives, a service account without domain-wide
//! delegation cannot create files (403 `storageQuotaExceeded`, as on Drive). In a shared drive,
//! permanent deletes need the Manager role and trashing the Content manager role
//! ([`FakeGdriveOptions::shared_drive_role`], 403 `insufficientFilePermissions`). New uploads past
//! [`FakeGdriveOptions::daily_upload_cap`] get 403 `userRateLimitExceeded`. `alt=media` honours a
//! `Range` header (206). Outages: [`FakeGdrive::outage_after`].
//!
//! Fault injection: [`FakeGdrive::fail_next`] (any request kind, any status, Drive-shaped error
//! reasons), [`FakeGdrive::fail_next_chunks`] (a chunk is lost, or half of it is stored, then an
//! error), [`FakeGdrive::short_write_next_chunks`] and the random
//! [`FakeGdriveOptions::random_short_writes`] (the server stores less than was sent and says so in
//! `Range`), [`FakeGdrive::set_quota_exceeded`] (403 `storageQuotaExceeded`, as for a service
//! account without a shared drive) and [`FakeGdrive::expire_tokens`].

mod auth;
mod files;
mod query;
mod state;
mod upload;

use std::sync::{Arc, Mutex, MutexGuard};

use bytes::Bytes;
use serde_json::json;
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

use state::{ChunkKeep, State};

use crate::outage::Outage;

/// The private half of the TEST-ONLY RSA key pair the fake's service account signs with
/// (PKCS#8 PEM, generated for these tests; it protects nothing).
pub const TEST_PRIVATE_KEY_PEM: &str = include_str!("gdrive/TEST_ONLY_service_account_key.pem");

/// The public half of the test key pair (PKCS#1 PEM), used to verify JWT signatures.
pub const TEST_PUBLIC_KEY_PEM: &str = include_str!("gdrive/TEST_ONLY_service_account_key.pub.pem");

/// The MIME type of Drive folders.
pub const FOLDER_MIME: &str = "application/vnd.google-apps.folder";

/// The full Drive scope the fake requires in the JWT.
pub const DRIVE_SCOPE: &str = "https://www.googleapis.com/auth/drive";

pub(crate) const JWT_GRANT_TYPE: &str = "urn:ietf:params:oauth:grant-type:jwt-bearer";

/// Every chunk of a resumable upload but the last must be a multiple of this (256 KiB).
pub const CHUNK_GRANULARITY: u64 = 256 * 1024;

/// The kinds of request the fake counts and can fail on demand.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RequestKind {
    /// `POST /token`.
    Token,
    /// `files.list`.
    List,
    /// `files.get` of metadata.
    Get,
    /// `files.get` with `alt=media`.
    Download,
    /// `files.create` without media (folders).
    Create,
    /// `files.update` of metadata only.
    Update,
    /// `files.delete`.
    Delete,
    /// A media upload request: multipart, media or the start of a resumable session.
    Upload,
    /// A `PUT` (chunk or status probe) or `DELETE` on a resumable session URI.
    Chunk,
}

/// The test service account's role on the shared drive (Drive API `permissions` roles).
///
/// Source: the Drive v3 reference, `files.delete`: "If the file belongs to a shared drive, the
/// user must be an `organizer` on the parent folder"; the roles are listed in "Roles and
/// permissions" (<https://developers.google.com/workspace/drive/api/guides/ref-roles>):
/// `organizer` is the Manager, `fileOrganizer` the Content manager, `writer` the Contributor.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SharedDriveRole {
    /// Manager: may delete files permanently.
    #[default]
    Organizer,
    /// Content manager: may move files to the trash, not delete them permanently.
    FileOrganizer,
    /// Contributor: may add and edit files, neither trash nor delete them.
    Writer,
}

/// The id of the shared drive the default fake's backup folder lives in.
pub const DEFAULT_SHARED_DRIVE_ID: &str = "0AFakeSharedDrive0001";

/// Drive's daily upload cap per user, service accounts included: 750 GB
/// (Shared drives limits, <https://support.google.com/a/answer/7338880>: "Individual users can only
/// upload 750 GB each day between My Drive and all shared drives. [...] Uploads that are in progress
/// will complete.").
pub const DAILY_UPLOAD_CAP: u64 = 750 * 1000 * 1000 * 1000;

/// Knobs of a [`FakeGdrive`].
#[derive(Debug, Clone)]
pub struct FakeGdriveOptions {
    /// The id of the backup folder that exists from the start (the adapter's `folder_id`).
    pub folder_id: String,
    /// When set (the default, [`DEFAULT_SHARED_DRIVE_ID`]), the backup folder and everything in it
    /// live in this shared drive; `None` puts it in a My Drive, where a service account without
    /// domain-wide delegation cannot create files (403 `storageQuotaExceeded`, as on Drive).
    pub shared_drive_id: Option<String>,
    /// The service account's role on the shared drive (default Manager, `organizer`).
    pub shared_drive_role: SharedDriveRole,
    /// Bytes the service account may upload before Drive refuses new uploads with 403
    /// `userRateLimitExceeded` (default [`DAILY_UPLOAD_CAP`]; the fake's "day" never ends).
    pub daily_upload_cap: u64,
    /// The test service account's e-mail (`client_email` and the JWT's `iss`).
    pub client_email: String,
    /// Lifetime of issued access tokens in seconds (default 3600).
    pub token_lifetime: u64,
    /// Whether JWTs with `sub` (domain-wide delegation) are accepted (default true).
    pub allow_delegation: bool,
    /// Store a random multiple of 256 KiB (possibly nothing) of each non-final chunk.
    pub random_short_writes: bool,
    /// Seed of the fake's ids and random short writes.
    pub seed: u64,
    /// The origin (`http://host:port`) that session `Location` headers and the key's `token_uri`
    /// name instead of the fake's own: the fake behind a proxy (the bench's wide-area link), as
    /// Google's answers name the host the client reached. Default none.
    pub public_base: Option<String>,
}

impl Default for FakeGdriveOptions {
    fn default() -> Self {
        Self {
            folder_id: "fake-backup-folder-0001".into(),
            shared_drive_id: Some(DEFAULT_SHARED_DRIVE_ID.into()),
            shared_drive_role: SharedDriveRole::default(),
            daily_upload_cap: DAILY_UPLOAD_CAP,
            client_email: "cloudmirror-test@fake-project.iam.gserviceaccount.com".into(),
            token_lifetime: 3600,
            allow_delegation: true,
            random_short_writes: false,
            seed: 0x5eed_d21e,
            public_base: None,
        }
    }
}

/// A running Drive fake; stops when dropped.
#[derive(Debug)]
pub struct FakeGdrive {
    server: MockServer,
    state: Arc<Mutex<State>>,
    outage: Outage,
}

struct Handler(Arc<Mutex<State>>, Outage);

impl Respond for Handler {
    fn respond(&self, req: &Request) -> ResponseTemplate {
        if let Some(down) = self.1.check() {
            return down;
        }
        let mut st = lock(&self.0);
        route(&mut st, req)
    }
}

fn lock(m: &Mutex<State>) -> MutexGuard<'_, State> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl FakeGdrive {
    /// Starts a fake with default options.
    pub async fn start() -> Self {
        Self::start_with(FakeGdriveOptions::default()).await
    }

    /// Starts a fake with `opts`.
    pub async fn start_with(opts: FakeGdriveOptions) -> Self {
        let server = MockServer::builder()
            .disable_request_recording()
            .start()
            .await;
        let base = opts.public_base.clone().unwrap_or_else(|| server.uri());
        let state = Arc::new(Mutex::new(State::new(opts, base)));
        let outage = Outage::default();
        Mock::given(wiremock::matchers::any())
            .respond_with(Handler(state.clone(), outage.clone()))
            .mount(&server)
            .await;
        Self {
            server,
            state,
            outage,
        }
    }

    /// The base URL (`http://127.0.0.1:port`): the adapter's `api_url`.
    pub fn uri(&self) -> String {
        self.server.uri()
    }

    /// The token endpoint (`<uri>/token`), the key JSON's `token_uri`.
    pub fn token_uri(&self) -> String {
        format!("{}/token", self.uri())
    }

    /// The id of the backup folder.
    pub fn folder_id(&self) -> String {
        lock(&self.state).opts.folder_id.clone()
    }

    /// The shared drive the backup folder lives in (`None`: a My Drive folder).
    pub fn shared_drive_id(&self) -> Option<String> {
        lock(&self.state).opts.shared_drive_id.clone()
    }

    /// A service-account key JSON (the test key) whose `token_uri` points at this fake.
    pub fn service_account_json(&self) -> String {
        let st = lock(&self.state);
        json!({
            "type": "service_account",
            "project_id": "fake-project",
            "private_key_id": "0000000000000000000000000000000000000000",
            "private_key": TEST_PRIVATE_KEY_PEM,
            "client_email": st.opts.client_email,
            "client_id": "100000000000000000000",
            "auth_uri": "https://accounts.google.com/o/oauth2/auth",
            "token_uri": format!("{}/token", st.base),
        })
        .to_string()
    }

    /// A ready `[[destinations]]` table pointing a `gdrive` destination at this fake.
    pub fn destination_toml(&self, name: &str) -> String {
        let st = lock(&self.state);
        let drive = st
            .opts
            .shared_drive_id
            .as_ref()
            .map(|d| format!("shared_drive_id = \"{d}\"\n"))
            .unwrap_or_default();
        drop(st);
        format!(
            "[[destinations]]\nname = \"{name}\"\ntype = \"gdrive\"\nfolder_id = \"{}\"\n{drive}api_url = \"{}\"\nservice_account_json = '''{}'''\n",
            self.folder_id(),
            self.uri(),
            self.service_account_json()
        )
    }

    /// Keys (paths below the backup folder) of every live file, sorted; duplicates appear twice.
    pub fn object_keys(&self) -> Vec<String> {
        let st = lock(&self.state);
        let mut keys: Vec<String> = st.live_files().into_iter().map(|(p, _)| p).collect();
        keys.sort();
        keys
    }

    /// The content of the newest live file at `key`.
    pub fn object(&self, key: &str) -> Option<Vec<u8>> {
        let st = lock(&self.state);
        st.live_files()
            .into_iter()
            .filter(|(p, _)| p == key)
            .max_by_key(|(_, f)| (f.modified, f.seq))
            .map(|(_, f)| f.data.to_vec())
    }

    /// How many live files have the path `key` (Drive allows duplicate names).
    pub fn copies(&self, key: &str) -> usize {
        lock(&self.state)
            .live_files()
            .into_iter()
            .filter(|(p, _)| p == key)
            .count()
    }

    /// Paths of the files (not folders) in the trash, sorted.
    pub fn trashed_keys(&self) -> Vec<String> {
        let st = lock(&self.state);
        let mut keys: Vec<String> = st
            .files
            .values()
            .filter(|f| !f.is_folder() && f.trashed)
            .filter_map(|f| {
                let parent = st.path_of(f.parents.first()?)?;
                Some(if parent.is_empty() {
                    f.name.clone()
                } else {
                    format!("{parent}/{}", f.name)
                })
            })
            .collect();
        keys.sort();
        keys
    }

    /// How many folders exist below the backup folder (live or not).
    pub fn folder_count(&self) -> usize {
        let st = lock(&self.state);
        let root = st.opts.folder_id.clone();
        st.files
            .values()
            .filter(|f| f.is_folder() && f.id != root)
            .count()
    }

    /// How many resumable sessions are open (started, neither finished nor cancelled).
    pub fn open_sessions(&self) -> usize {
        lock(&self.state)
            .sessions
            .values()
            .filter(|s| s.done.is_none())
            .count()
    }

    /// Creates a file directly (folders made as needed), even if one of that name exists: use it to
    /// make duplicates. Returns the new file's id.
    pub fn insert_file(&self, key: &str, data: &[u8]) -> String {
        let mut st = lock(&self.state);
        let (dir, name) = key.rsplit_once('/').unwrap_or(("", key));
        let mut parent = st.opts.folder_id.clone();
        let mut path = String::new();
        for seg in dir.split('/').filter(|s| !s.is_empty()) {
            path.push_str(seg);
            path.push('/');
            parent = match st.folder_at(&path) {
                Some(id) => id,
                None => st.insert(seg, &parent, FOLDER_MIME, Bytes::new()),
            };
        }
        st.insert(
            name,
            &parent,
            "application/octet-stream",
            Bytes::copy_from_slice(data),
        )
    }

    /// Moves a file or folder to the trash (it stays retrievable by id, and `files.list` shows it
    /// unless the query says `trashed = false`).
    pub fn trash(&self, id: &str) {
        if let Some(f) = lock(&self.state).files.get_mut(id) {
            f.trashed = true;
        }
    }

    /// Serves `requests` more requests normally, then answers every request `503` for `length`,
    /// as Google's front ends do while a backend restarts.
    pub fn outage_after(&self, requests: u64, length: std::time::Duration) {
        self.outage.arm(requests, length);
    }

    /// Requests refused by outages so far.
    pub fn outage_refusals(&self) -> u64 {
        self.outage.refused()
    }

    /// Content bytes received so far (media bodies and resumable chunk bodies, resent bytes
    /// included; requests refused by an outage are not counted).
    pub fn bytes_received(&self) -> u64 {
        lock(&self.state).bytes_received
    }

    /// Content bytes stored so far, counted against [`FakeGdriveOptions::daily_upload_cap`].
    pub fn bytes_uploaded_today(&self) -> u64 {
        lock(&self.state).uploaded_today
    }

    /// Requests of `kind` received so far (failed ones included).
    pub fn request_count(&self, kind: RequestKind) -> u64 {
        lock(&self.state).counts.get(&kind).copied().unwrap_or(0)
    }

    /// The `sub` of the last accepted JWT (domain-wide delegation), if any.
    pub fn last_subject(&self) -> Option<String> {
        lock(&self.state).last_subject.clone()
    }

    /// The next `n` requests of `kind` (after the auth check) fail with `status` and a Drive error
    /// whose reason follows the status (403 `userRateLimitExceeded`, 429 `rateLimitExceeded`,
    /// 5xx `backendError`, 404 `notFound`). For [`RequestKind::Token`], an OAuth error.
    pub fn fail_next(&self, kind: RequestKind, n: usize, status: u16) {
        let mut st = lock(&self.state);
        st.faults
            .entry(kind)
            .or_default()
            .extend(std::iter::repeat_n(status, n));
    }

    /// The next `n` resumable data chunks fail with `status`; with `keep_half`, the server first
    /// stores the first half of the chunk (rounded down to 256 KiB), like a connection that
    /// dropped part-way. Status probes are not affected.
    pub fn fail_next_chunks(&self, n: usize, status: u16, keep_half: bool) {
        let keep = if keep_half {
            ChunkKeep::Half
        } else {
            ChunkKeep::Nothing
        };
        lock(&self.state)
            .chunk_faults
            .extend(std::iter::repeat_n((status, keep), n));
    }

    /// The next `n` non-final resumable chunks are only half stored (rounded down to 256 KiB) and
    /// answered with a `308` whose `Range` says so.
    pub fn short_write_next_chunks(&self, n: u32) {
        lock(&self.state).short_writes += n;
    }

    /// Makes every issued access token invalid at once (Drive routes answer 401 until a new one).
    pub fn expire_tokens(&self) {
        lock(&self.state).tokens.clear();
    }

    /// While on, every content upload fails with 403 `storageQuotaExceeded`, as for a service
    /// account writing to a My Drive folder.
    pub fn set_quota_exceeded(&self, on: bool) {
        lock(&self.state).quota_exceeded = on;
    }
}

/// Dispatches one request.
fn route(st: &mut State, req: &Request) -> ResponseTemplate {
    let path = req.url.path().to_owned();
    let method = req.method.as_str().to_owned();
    let has_session = req.url.query_pairs().any(|(k, _)| k == "upload_id");
    let segs: Vec<String> = path
        .split('/')
        .filter(|s| !s.is_empty())
        .map(|s| {
            percent_encoding::percent_decode_str(s)
                .decode_utf8_lossy()
                .into_owned()
        })
        .collect();
    let segs: Vec<&str> = segs.iter().map(String::as_str).collect();
    let (kind, id) = match (method.as_str(), segs.as_slice()) {
        ("POST", ["token"]) => (RequestKind::Token, None),
        ("PUT" | "DELETE", ["upload", "drive", "v3", "files", rest @ ..])
            if has_session && rest.len() <= 1 =>
        {
            (RequestKind::Chunk, None)
        }
        ("POST", ["upload", "drive", "v3", "files"]) => (RequestKind::Upload, None),
        ("PATCH", ["upload", "drive", "v3", "files", id]) => (RequestKind::Upload, Some(*id)),
        ("GET", ["drive", "v3", "files"]) => (RequestKind::List, None),
        ("POST", ["drive", "v3", "files"]) => (RequestKind::Create, None),
        ("GET", ["drive", "v3", "files", id]) => {
            let media = req
                .url
                .query_pairs()
                .any(|(k, v)| k == "alt" && v == "media");
            (
                if media {
                    RequestKind::Download
                } else {
                    RequestKind::Get
                },
                Some(*id),
            )
        }
        ("PATCH", ["drive", "v3", "files", id]) => (RequestKind::Update, Some(*id)),
        ("DELETE", ["drive", "v3", "files", id]) => (RequestKind::Delete, Some(*id)),
        _ => {
            return drive_error(
                404,
                "notFound",
                &format!("fake: no route for {method} {path}"),
            )
        }
    };
    st.count(kind);
    if kind == RequestKind::Token {
        if let Some(status) = st.take_fault(kind) {
            return ResponseTemplate::new(status).set_body_json(
                json!({"error": "internal_failure", "error_description": "fake: injected failure"}),
            );
        }
        return auth::token_endpoint(st, req);
    }
    // Session URIs authorize by themselves, as on Google's upload servers; a bearer token sent
    // along must still be valid.
    let sent_token = req.headers.contains_key("authorization");
    if (kind != RequestKind::Chunk || sent_token) && !auth::authorized(st, req) {
        return auth::unauthenticated();
    }
    if kind != RequestKind::Chunk {
        if let Some(status) = st.take_fault(kind) {
            return injected(status);
        }
    }
    let id = id.map(str::to_owned);
    match kind {
        RequestKind::List => files::list(st, req),
        RequestKind::Get | RequestKind::Download => files::get(
            st,
            req,
            id.as_deref().unwrap_or_default(),
            kind == RequestKind::Download,
        ),
        RequestKind::Create => files::create(st, req),
        RequestKind::Update => files::update(st, req, id.as_deref().unwrap_or_default()),
        RequestKind::Delete => files::delete(st, req, id.as_deref().unwrap_or_default()),
        RequestKind::Upload => upload::start(st, req, id.as_deref()),
        RequestKind::Chunk | RequestKind::Token => upload::session(st, req),
    }
}

/// The response to an injected failure of `status`.
pub(crate) fn injected(status: u16) -> ResponseTemplate {
    let reason = match status {
        403 => "userRateLimitExceeded",
        429 => "rateLimitExceeded",
        404 => "notFound",
        401 => "authError",
        s if s >= 500 => "backendError",
        _ => "badRequest",
    };
    drive_error(status, reason, "fake: injected failure")
}

/// A Drive-shaped JSON error.
pub(crate) fn drive_error(status: u16, reason: &str, message: &str) -> ResponseTemplate {
    let domain = if reason.contains("RateLimit") || reason == "rateLimitExceeded" {
        "usageLimits"
    } else {
        "global"
    };
    ResponseTemplate::new(status).set_body_json(json!({"error": {
        "code": status,
        "message": message,
        "errors": [{"domain": domain, "reason": reason, "message": message}],
    }}))
}
