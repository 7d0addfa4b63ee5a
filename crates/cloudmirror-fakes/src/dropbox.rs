//! A stateful fake of the Dropbox API v2 (OAuth token route, RPC and content routes) on 127.0.0.1.
//!
//! [`FakeDropbox`] keeps files in memory per namespace (one home namespace per member and, with a
//! team space, one team root namespace) and enforces what the real API enforces: bearer tokens
//! that expire, the refresh-token grant with the right app key and secret, `Dropbox-API-Select-User`
//! for team tokens, `Dropbox-API-Path-Root` checked against the member's root namespace (HTTP 422
//! `invalid_root` otherwise), an ASCII-only `Dropbox-API-Arg` header, the single-request upload
//! size limit, the per-call `content_hash` of every upload call checked against that call's body
//! only (`content_hash_mismatch`), upload-session offsets (`incorrect_offset` with
//! `correct_offset`, and after a `path` error at finish the offset that includes its bytes),
//! case-insensitive paths (`path_lower` is the key, `path_display` keeps the case) and paginated
//! `list_folder`. The rules and their sources in the official spec (dropbox/dropbox-api-spec,
//! `files.stone`, `users.stone`, `common.stone`) are cited where they are enforced
//! (`dropbox/upload.rs` for uploads). Errors use the real shapes: 409 route errors with nested
//! `.tag`s, 401 `AuthError`s, 400 plain text, 429 with `Retry-After`; every response carries
//! `X-Dropbox-Request-Id`. Fault injection (`dropbox/faults.rs`) fails, throttles, damages or cuts
//! requests, fails commits with a `WriteError`, and schedules outages (every request `503`).
//! `cargo xtask sdk dropbox` runs Dropbox's official Python SDK against this fake.
//!
//! The RPC, content and token routes all live on one server: point `api_url` and `content_url` at
//! [`FakeDropbox::uri`] and `token_url` at [`FakeDropbox::token_url`].

// Reason: handlers return ready responses as their error; one per request, size is irrelevant.
#![allow(clippy::result_large_err)]

mod auth;
mod faults;
mod files;
mod upload;
mod wire;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt::{self, Write as _};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

use crate::outage::Outage;
use wire::{content_arg, rpc_arg, text};

/// The app key the fake accepts by default.
pub const APP_KEY: &str = "fake-dropbox-app-key";
/// The app secret the fake accepts by default.
pub const APP_SECRET: &str = "fake-dropbox-app-secret";
/// The refresh token the fake accepts by default.
pub const REFRESH_TOKEN: &str = "fake-dropbox-refresh-token";
/// The folder [`FakeDropbox::destination_toml`] points the adapter at.
pub const FOLDER: &str = "/DATABASE-BACKUPS";
/// The team member ids of [`FakeDropboxOptions::team`] (the first is the one used by default).
pub const MEMBER_IDS: [&str; 2] = ["dbmid:AAFakeMemberOne", "dbmid:AAFakeMemberTwo"];
/// The team root namespace id in team-space mode.
pub const TEAM_ROOT_NAMESPACE_ID: &str = "7001";

/// Knobs of a [`FakeDropbox`].
#[derive(Debug, Clone)]
pub struct FakeDropboxOptions {
    /// The app key the token route accepts.
    pub app_key: String,
    /// The app secret the token route accepts.
    pub app_secret: String,
    /// The refresh token the token route accepts.
    pub refresh_token: String,
    /// The `expires_in` of issued access tokens.
    pub token_lifetime: Duration,
    /// Largest body of one `files/upload` or upload-session request (150 MiB like the real API).
    pub single_upload_limit: u64,
    /// Upper bound of `list_folder` pages, whatever `limit` the client asks for.
    pub max_page_size: Option<usize>,
    /// Issued tokens are team tokens: user calls need `Dropbox-API-Select-User` with a member id.
    pub team_token: bool,
    /// Members have a team space: the root namespace differs from their home namespace.
    pub team_space: bool,
    /// The refresh token came from a PKCE authorization (no app secret involved): the token route
    /// then accepts it with the app key alone, as Dropbox does. Otherwise the secret is required.
    pub pkce: bool,
}

impl Default for FakeDropboxOptions {
    fn default() -> Self {
        Self {
            app_key: APP_KEY.to_owned(),
            app_secret: APP_SECRET.to_owned(),
            refresh_token: REFRESH_TOKEN.to_owned(),
            token_lifetime: Duration::from_hours(4),
            single_upload_limit: 150 * 1024 * 1024,
            max_page_size: None,
            team_token: false,
            team_space: false,
            pkce: false,
        }
    }
}

impl FakeDropboxOptions {
    /// A Dropbox Business team: team tokens (Select-User required) and a team space.
    pub fn team() -> Self {
        Self {
            team_token: true,
            team_space: true,
            ..Self::default()
        }
    }
}

/// A running fake Dropbox; stops when dropped.
pub struct FakeDropbox {
    server: MockServer,
    state: Arc<Mutex<State>>,
    outage: Outage,
}

impl fmt::Debug for FakeDropbox {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FakeDropbox")
            .field("uri", &self.server.uri())
            .finish_non_exhaustive()
    }
}

impl FakeDropbox {
    /// Starts a fake personal account with the default credentials.
    pub async fn start() -> Self {
        Self::start_with(FakeDropboxOptions::default()).await
    }

    /// Starts a fake with `options`.
    pub async fn start_with(options: FakeDropboxOptions) -> Self {
        let server = MockServer::builder()
            .disable_request_recording()
            .start()
            .await;
        let state = Arc::new(Mutex::new(State::new(options)));
        let outage = Outage::default();
        Mock::given(wiremock::matchers::any())
            .respond_with(Router {
                state: state.clone(),
                outage: outage.clone(),
            })
            .mount(&server)
            .await;
        Self {
            server,
            state,
            outage,
        }
    }

    /// The base URL of the RPC and content routes (`http://127.0.0.1:PORT`).
    pub fn uri(&self) -> String {
        self.server.uri()
    }

    /// The OAuth token route.
    pub fn token_url(&self) -> String {
        format!("{}/oauth2/token", self.server.uri())
    }

    /// A ready `[[destinations]]` table pointing the adapter at this fake with working credentials
    /// (and, in team mode, the first member and the team root namespace).
    pub fn destination_toml(&self, name: &str) -> String {
        let st = self.lock();
        let mut out = format!(
            "[[destinations]]\nname = \"{name}\"\ntype = \"dropbox\"\nfolder = \"{FOLDER}\"\n\
             app_key = \"{}\"\nrefresh_token = \"{}\"\n",
            st.opts.app_key, st.opts.refresh_token
        );
        // A PKCE app has no secret to configure.
        if !st.opts.pkce {
            let _ = writeln!(out, "app_secret = \"{}\"", st.opts.app_secret);
        }
        if st.opts.team_token {
            let _ = writeln!(out, "select_user = \"{}\"", MEMBER_IDS[0]);
        }
        if st.opts.team_space {
            let _ = writeln!(out, "root_namespace_id = \"{TEAM_ROOT_NAMESPACE_ID}\"");
        }
        let _ = writeln!(
            out,
            "chunk_size = \"4MiB\"\napi_url = \"{uri}\"\ncontent_url = \"{uri}\"\ntoken_url = \"{uri}/oauth2/token\"",
            uri = self.server.uri()
        );
        out
    }

    /// The first member's home namespace id.
    pub fn home_namespace_id(&self) -> String {
        self.lock().members[0].home_ns.clone()
    }

    /// The first member's root namespace id (the team root in team-space mode, else the home).
    pub fn root_namespace_id(&self) -> String {
        let st = self.lock();
        st.root_ns(0)
    }

    /// `path_display` of every file in the namespace `ns_id`, sorted.
    pub fn paths_in(&self, ns_id: &str) -> Vec<String> {
        let st = self.lock();
        let mut out: Vec<String> = st
            .namespaces
            .get(ns_id)
            .map(|ns| ns.values().map(|f| f.path_display.clone()).collect())
            .unwrap_or_default();
        out.sort();
        out
    }

    /// `path_display` of every file in the namespace the adapter writes to when configured by
    /// [`FakeDropbox::destination_toml`] (the root namespace), sorted.
    pub fn object_keys(&self) -> Vec<String> {
        self.paths_in(&self.root_namespace_id())
    }

    /// The content of the file at the Dropbox `path` (e.g. `/DATABASE-BACKUPS/a.gz`, any case) in
    /// the root namespace.
    pub fn object(&self, path: &str) -> Option<Vec<u8>> {
        let st = self.lock();
        let ns = st.root_ns(0);
        st.namespaces
            .get(&ns)
            .and_then(|files| files.get(&path.to_lowercase()))
            .map(|f| f.data.clone())
    }

    /// Stores a file directly (no request), e.g. one whose case differs from the adapter's folder.
    pub fn put_object(&self, path: &str, data: &[u8]) {
        let mut st = self.lock();
        let ns = st.root_ns(0);
        let _ = st.commit(&ns, path, &json!("overwrite"), &mut data.to_vec());
    }

    /// Requests received so far for `route` (`"files/upload"`, `"oauth2/token"`, ...).
    pub fn requests(&self, route: &str) -> u64 {
        self.lock().counts.get(route).copied().unwrap_or(0)
    }

    /// Access tokens issued so far.
    pub fn token_requests(&self) -> u64 {
        self.lock().tokens_issued
    }

    /// 401 responses sent so far.
    pub fn unauthorized_responses(&self) -> u64 {
        self.lock().unauthorized
    }

    /// Upload sessions started and not finished.
    pub fn open_sessions(&self) -> usize {
        self.lock().sessions.len()
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        lock(&self.state)
    }
}

fn lock(state: &Mutex<State>) -> MutexGuard<'_, State> {
    state
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// One stored file.
#[derive(Debug, Clone)]
struct FileEntry {
    path_display: String,
    data: Vec<u8>,
    rev: String,
    id: String,
    server_modified: String,
    content_hash: String,
}

#[derive(Debug)]
struct Member {
    id: String,
    home_ns: String,
    name: String,
}

#[derive(Debug)]
struct Session {
    data: Vec<u8>,
    closed: bool,
}

#[derive(Debug)]
struct Listing {
    entries: Vec<Value>,
    pos: usize,
    page: usize,
}

#[derive(Debug)]
struct Fault {
    route: String,
    remaining: u32,
    status: u16,
    retry_after: Option<u64>,
    after: bool,
}

/// Everything the fake remembers; handlers live in `files.rs`.
#[derive(Debug)]
struct State {
    opts: FakeDropboxOptions,
    /// access token -> expiry.
    tokens: HashMap<String, Instant>,
    tokens_issued: u64,
    refresh_revoked: bool,
    unauthorized: u64,
    /// namespace id -> (`path_lower` -> file).
    namespaces: HashMap<String, BTreeMap<String, FileEntry>>,
    members: Vec<Member>,
    sessions: HashMap<String, Session>,
    cursors: HashMap<String, Listing>,
    seq: u64,
    faults: Vec<Fault>,
    counts: HashMap<String, u64>,
    expire_after: Option<String>,
    truncate_after: Option<(String, usize)>,
    partial_append: Option<usize>,
    /// Routes whose next call's body arrives damaged.
    corrupt_next: HashSet<String>,
    /// (route, `WriteError`): the next commit on the route fails with it.
    write_errors: Vec<(String, Value)>,
    /// Body bytes received per upload route.
    bytes_in: HashMap<String, u64>,
}

/// Who is calling and in which namespace paths resolve.
#[derive(Debug, Clone)]
struct Ctx {
    member: usize,
    ns: String,
}

impl State {
    fn new(opts: FakeDropboxOptions) -> Self {
        let members: Vec<Member> = if opts.team_token {
            MEMBER_IDS
                .iter()
                .enumerate()
                .map(|(i, id)| Member {
                    id: (*id).to_owned(),
                    home_ns: format!("{}", 1001 + i),
                    name: format!("Fake Member {}", i + 1),
                })
                .collect()
        } else {
            vec![Member {
                id: MEMBER_IDS[0].to_owned(),
                home_ns: "1001".to_owned(),
                name: "Fake Member 1".to_owned(),
            }]
        };
        let mut namespaces = HashMap::new();
        for m in &members {
            namespaces.insert(m.home_ns.clone(), BTreeMap::new());
        }
        if opts.team_space {
            namespaces.insert(TEAM_ROOT_NAMESPACE_ID.to_owned(), BTreeMap::new());
        }
        Self {
            opts,
            tokens: HashMap::new(),
            tokens_issued: 0,
            refresh_revoked: false,
            unauthorized: 0,
            namespaces,
            members,
            sessions: HashMap::new(),
            cursors: HashMap::new(),
            seq: 0,
            faults: Vec::new(),
            counts: HashMap::new(),
            expire_after: None,
            truncate_after: None,
            partial_append: None,
            corrupt_next: HashSet::new(),
            write_errors: Vec::new(),
            bytes_in: HashMap::new(),
        }
    }

    fn next_seq(&mut self) -> u64 {
        self.seq += 1;
        self.seq
    }

    fn root_ns(&self, member: usize) -> String {
        if self.opts.team_space {
            TEAM_ROOT_NAMESPACE_ID.to_owned()
        } else {
            self.members[member].home_ns.clone()
        }
    }

    fn root_info(&self, member: usize) -> Value {
        let m = &self.members[member];
        if self.opts.team_space {
            json!({".tag": "team", "root_namespace_id": TEAM_ROOT_NAMESPACE_ID,
                   "home_namespace_id": m.home_ns, "home_path": format!("/{}", m.name)})
        } else {
            json!({".tag": "user", "root_namespace_id": m.home_ns, "home_namespace_id": m.home_ns})
        }
    }

    /// `users/get_current_account`'s `FullAccount` with every field the spec requires
    /// (dropbox-api-spec `users.stone` `Account`/`FullAccount`, `users_common.stone`
    /// `AccountId` = 40 characters, `team_policies.stone` for `FullTeam`): the official SDK's
    /// deserializer refuses an account with a field missing or an id of another length.
    fn full_account(&self, member: usize) -> Value {
        let m = &self.members[member];
        let given = m.name.split(' ').next().unwrap_or_default();
        let mut account = json!({
            "account_id": format!("dbid:AAFakeAccount{:0>22}", member + 1),
            "name": {"given_name": given, "surname": "Member", "familiar_name": given,
                     "display_name": m.name, "abbreviated_name": "FM"},
            "email": format!("member{}@example.invalid", member + 1),
            "email_verified": true,
            "disabled": false,
            "country": "US",
            "locale": "en",
            "referral_link": "https://db.tt/fake",
            "is_paired": false,
            "account_type": {".tag": if self.opts.team_token { "business" } else { "basic" }},
            "root_info": self.root_info(member),
        });
        if self.opts.team_token {
            account["team_member_id"] = json!(m.id);
            account["team"] = json!({
                "id": "dbtid:AAFakeTeam",
                "name": "Fake Team",
                "sharing_policies": {
                    "shared_folder_member_policy": {".tag": "team"},
                    "shared_folder_join_policy": {".tag": "from_anyone"},
                    "shared_link_create_policy": {".tag": "team_only"},
                    "group_creation_policy": {".tag": "admins_only"},
                    "shared_folder_link_restriction_policy": {".tag": "anyone"},
                    "enforce_link_password_policy": {".tag": "optional"},
                    "default_link_expiration_days_policy": {".tag": "none"},
                    "shared_link_default_permissions_policy": {".tag": "default"},
                },
                "office_addin_policy": {".tag": "disabled"},
                "top_level_content_policy": {".tag": "admin_only"},
            });
        }
        account
    }

    fn handle(&mut self, req: &Request) -> ResponseTemplate {
        let path = req.url.path().to_owned();
        let route = path
            .strip_prefix("/2/")
            .or_else(|| path.strip_prefix('/'))
            .unwrap_or(&path)
            .to_owned();
        *self.counts.entry(route.clone()).or_insert(0) += 1;
        if let Some(resp) = self.take_fault(&route, false) {
            return resp;
        }
        let resp = if route == "oauth2/token" {
            self.token(req)
        } else if req.method != wiremock::http::Method::POST {
            text(405, &route, "only POST is supported")
        } else {
            match self.authorize(req, &route) {
                Ok(ctx) => self.route(req, &route, &ctx),
                Err(resp) => resp,
            }
        };
        if self.expire_after.as_deref() == Some(route.as_str()) {
            self.expire_after = None;
            let now = Instant::now();
            for exp in self.tokens.values_mut() {
                *exp = now;
            }
        }
        if self
            .truncate_after
            .as_ref()
            .is_some_and(|(r, _)| *r == route)
        {
            if let Some((_, n)) = self.truncate_after.take() {
                for session in self.sessions.values_mut() {
                    let keep = session.data.len().saturating_sub(n);
                    session.data.truncate(keep);
                }
            }
        }
        if let Some(lost) = self.take_fault(&route, true) {
            return lost;
        }
        resp
    }

    fn route(&mut self, req: &Request, route: &str, ctx: &Ctx) -> ResponseTemplate {
        match route {
            "users/get_current_account" => {
                if !(req.body.is_empty() || req.body == b"null") {
                    return text(400, route, "request body: expected null, got a value");
                }
                ResponseTemplate::new(200).set_body_json(self.full_account(ctx.member))
            }
            "files/list_folder"
            | "files/list_folder/continue"
            | "files/get_metadata"
            | "files/delete_v2" => match rpc_arg(req, route) {
                Ok(arg) => self.rpc(route, &arg, ctx),
                Err(resp) => resp,
            },
            "files/upload"
            | "files/upload_session/start"
            | "files/upload_session/append_v2"
            | "files/upload_session/finish" => match content_arg(req, route, false) {
                Ok(arg) => self.upload_route(route, &arg, &req.body, ctx),
                Err(resp) => resp,
            },
            "files/download" => match content_arg(req, route, true) {
                Ok(arg) => self.download(&arg, ctx),
                Err(resp) => resp,
            },
            _ => text(404, route, "Unknown API function"),
        }
    }
}

/// Numbers the `X-Dropbox-Request-Id` of every response.
static REQUEST_IDS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);

/// Routes every request to the shared state, unless a scheduled outage answers 503 first.
struct Router {
    state: Arc<Mutex<State>>,
    outage: Outage,
}

impl Respond for Router {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let resp = match self.outage.check() {
            Some(down) => down,
            None => lock(&self.state).handle(request),
        };
        // "Every response carries X-Dropbox-Request-Id" (API documentation, request ids).
        let id = REQUEST_IDS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        resp.insert_header("X-Dropbox-Request-Id", format!("fake{id:028x}").as_str())
    }
}
