//! The in-memory state of the Drive fake: files and folders, upload sessions, tokens and faults.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use chrono::{DateTime, Utc};
use md5::{Digest, Md5};
use serde_json::{json, Map, Value};

use super::{FakeGdriveOptions, RequestKind, FOLDER_MIME};

/// One Drive file or folder.
#[derive(Debug, Clone)]
pub(crate) struct File {
    pub(crate) id: String,
    pub(crate) name: String,
    pub(crate) parents: Vec<String>,
    pub(crate) mime_type: String,
    pub(crate) data: Bytes,
    pub(crate) md5: String,
    pub(crate) created: DateTime<Utc>,
    pub(crate) modified: DateTime<Utc>,
    pub(crate) trashed: bool,
    pub(crate) drive_id: Option<String>,
    pub(crate) version: u64,
    /// Creation order, for a stable default listing order.
    pub(crate) seq: u64,
}

impl File {
    pub(crate) fn is_folder(&self) -> bool {
        self.mime_type == FOLDER_MIME
    }

    /// The full File resource (a superset of every field the fake knows).
    pub(crate) fn to_json(&self) -> Map<String, Value> {
        let mut m = Map::new();
        m.insert("kind".into(), json!("drive#file"));
        m.insert("id".into(), json!(self.id));
        m.insert("name".into(), json!(self.name));
        m.insert("mimeType".into(), json!(self.mime_type));
        m.insert("parents".into(), json!(self.parents));
        m.insert("trashed".into(), json!(self.trashed));
        m.insert("createdTime".into(), json!(rfc3339(self.created)));
        m.insert("modifiedTime".into(), json!(rfc3339(self.modified)));
        m.insert("version".into(), json!(self.version.to_string()));
        if !self.is_folder() {
            // Drive encodes int64 as JSON strings.
            m.insert("size".into(), json!(self.data.len().to_string()));
            m.insert("md5Checksum".into(), json!(self.md5));
        }
        if let Some(d) = &self.drive_id {
            m.insert("driveId".into(), json!(d));
        }
        m
    }
}

/// Where a finished upload session writes.
#[derive(Debug, Clone)]
pub(crate) enum Target {
    /// `files.create`: a new file with this metadata.
    Create(Map<String, Value>),
    /// `files.update` of an existing file, with optional metadata changes.
    Update(String, Map<String, Value>),
}

/// An open resumable upload session.
#[derive(Debug)]
pub(crate) struct Session {
    pub(crate) target: Target,
    pub(crate) received: Vec<u8>,
    pub(crate) total: Option<u64>,
    pub(crate) fields: Option<String>,
    /// Set once the last byte arrived: the File id it produced.
    pub(crate) done: Option<String>,
}

/// What an injected chunk fault does with the chunk before failing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ChunkKeep {
    Nothing,
    Half,
}

/// The whole fake's state, behind one mutex.
#[derive(Debug)]
pub(crate) struct State {
    pub(crate) opts: FakeGdriveOptions,
    pub(crate) base: String,
    pub(crate) files: BTreeMap<String, File>,
    pub(crate) sessions: HashMap<String, Session>,
    /// Access token -> (expiry, the JWT's `sub` when domain-wide delegation was used).
    pub(crate) tokens: HashMap<String, (SystemTime, Option<String>)>,
    pub(crate) faults: HashMap<RequestKind, VecDeque<u16>>,
    pub(crate) chunk_faults: VecDeque<(u16, ChunkKeep)>,
    pub(crate) short_writes: u32,
    pub(crate) quota_exceeded: bool,
    /// Content bytes received (see `FakeGdrive::bytes_received`).
    pub(crate) bytes_received: u64,
    /// Content bytes stored by finished uploads, for the daily upload cap.
    pub(crate) uploaded_today: u64,
    pub(crate) counts: HashMap<RequestKind, u64>,
    pub(crate) last_subject: Option<String>,
    pub(crate) rng: fastrand_lite::Rng,
    next_id: u64,
    last_time: DateTime<Utc>,
}

impl State {
    pub(crate) fn new(opts: FakeGdriveOptions, base: String) -> Self {
        let seed = opts.seed;
        let mut s = Self {
            opts,
            base,
            files: BTreeMap::new(),
            sessions: HashMap::new(),
            tokens: HashMap::new(),
            faults: HashMap::new(),
            chunk_faults: VecDeque::new(),
            short_writes: 0,
            quota_exceeded: false,
            bytes_received: 0,
            uploaded_today: 0,
            counts: HashMap::new(),
            last_subject: None,
            rng: fastrand_lite::Rng::new(seed),
            next_id: 1,
            last_time: DateTime::<Utc>::UNIX_EPOCH,
        };
        let root = s.opts.folder_id.clone();
        let drive = s.opts.shared_drive_id.clone();
        let now = s.tick();
        let seq = s.next_seq();
        s.files.insert(
            root.clone(),
            File {
                id: root,
                name: "cloudmirror-backups".into(),
                parents: drive.iter().cloned().collect(),
                mime_type: FOLDER_MIME.into(),
                data: Bytes::new(),
                md5: String::new(),
                created: now,
                modified: now,
                trashed: false,
                drive_id: drive,
                version: 1,
                seq,
            },
        );
        s
    }

    /// A strictly increasing clock, so "newest" is always well defined.
    pub(crate) fn tick(&mut self) -> DateTime<Utc> {
        let now = Utc::now();
        let t = if now > self.last_time {
            now
        } else {
            self.last_time + chrono::Duration::milliseconds(1)
        };
        self.last_time = t;
        t
    }

    fn next_seq(&mut self) -> u64 {
        self.next_id += 1;
        self.next_id
    }

    pub(crate) fn new_id(&mut self, prefix: &str) -> String {
        let n = self.next_seq();
        format!("{prefix}{n:06}{:08x}", self.rng.u32())
    }

    pub(crate) fn count(&mut self, kind: RequestKind) {
        *self.counts.entry(kind).or_default() += 1;
    }

    /// Pops an injected failure status for `kind`, if one is pending.
    pub(crate) fn take_fault(&mut self, kind: RequestKind) -> Option<u16> {
        self.faults.get_mut(&kind).and_then(VecDeque::pop_front)
    }

    pub(crate) fn token_valid(&self, token: &str) -> bool {
        self.tokens
            .get(token)
            .is_some_and(|(exp, _)| *exp > SystemTime::now())
    }

    /// Whether `token` was issued through domain-wide delegation (it acts as a Workspace user).
    pub(crate) fn token_delegated(&self, token: &str) -> bool {
        self.tokens.get(token).is_some_and(|(_, sub)| sub.is_some())
    }

    pub(crate) fn issue_token(&mut self, subject: Option<String>) -> (String, u64) {
        let token = format!("fake-ya29.{:016x}{:016x}", self.rng.u64(), self.rng.u64());
        let life = self.opts.token_lifetime;
        self.tokens.insert(
            token.clone(),
            (SystemTime::now() + Duration::from_secs(life), subject),
        );
        (token, life)
    }

    /// Creates a file or folder and returns its id.
    pub(crate) fn insert(
        &mut self,
        name: &str,
        parent: &str,
        mime_type: &str,
        data: Bytes,
    ) -> String {
        let id = self.new_id(if mime_type == FOLDER_MIME { "fo" } else { "fi" });
        let now = self.tick();
        let seq = self.next_seq();
        let drive_id = self.files.get(parent).and_then(|p| p.drive_id.clone());
        let md5 = hex::encode(Md5::digest(&data));
        self.files.insert(
            id.clone(),
            File {
                id: id.clone(),
                name: name.to_owned(),
                parents: vec![parent.to_owned()],
                mime_type: mime_type.to_owned(),
                data,
                md5,
                created: now,
                modified: now,
                trashed: false,
                drive_id,
                version: 1,
                seq,
            },
        );
        id
    }

    /// Replaces a file's content (a new revision).
    pub(crate) fn replace(&mut self, id: &str, data: Bytes) {
        let now = self.tick();
        if let Some(f) = self.files.get_mut(id) {
            f.md5 = hex::encode(Md5::digest(&data));
            f.data = data;
            f.modified = now;
            f.version += 1;
        }
    }

    /// Permanently deletes a file, or a folder with everything under it.
    pub(crate) fn delete_tree(&mut self, id: &str) {
        let children: Vec<String> = self
            .files
            .values()
            .filter(|f| f.parents.iter().any(|p| p == id))
            .map(|f| f.id.clone())
            .collect();
        for c in children {
            self.delete_tree(&c);
        }
        self.files.remove(id);
    }

    /// The `/`-separated path of a file below the root folder, if it is under it.
    pub(crate) fn path_of(&self, id: &str) -> Option<String> {
        let mut parts = Vec::new();
        let mut cur = self.files.get(id)?;
        loop {
            if cur.id == self.opts.folder_id {
                parts.reverse();
                return Some(parts.join("/"));
            }
            if cur.trashed {
                return None;
            }
            parts.push(cur.name.clone());
            cur = self.files.get(cur.parents.first()?)?;
        }
    }

    /// Non-trashed files (not folders) under the root, with their paths.
    pub(crate) fn live_files(&self) -> Vec<(String, &File)> {
        self.files
            .values()
            .filter(|f| !f.is_folder() && !f.trashed)
            .filter_map(|f| self.path_of(&f.id).map(|p| (p, f)))
            .collect()
    }

    /// The id of the folder at `path` below the root (`""` is the root).
    pub(crate) fn folder_at(&self, path: &str) -> Option<String> {
        let mut cur = self.opts.folder_id.clone();
        for seg in path.split('/').filter(|s| !s.is_empty()) {
            cur = self
                .files
                .values()
                .filter(|f| {
                    f.is_folder() && !f.trashed && f.name == seg && f.parents.contains(&cur)
                })
                .min_by_key(|f| f.seq)?
                .id
                .clone();
        }
        Some(cur)
    }
}

fn rfc3339(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// A tiny seeded xorshift generator (no extra dependency; quality is irrelevant here).
pub(crate) mod fastrand_lite {
    /// A seeded pseudo-random generator.
    #[derive(Debug)]
    pub(crate) struct Rng(u64);

    impl Rng {
        pub(crate) fn new(seed: u64) -> Self {
            Self(seed | 1)
        }
        pub(crate) fn u64(&mut self) -> u64 {
            let mut x = self.0;
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            self.0 = x;
            x
        }
        pub(crate) fn u32(&mut self) -> u32 {
            (self.u64() >> 32) as u32
        }
    }
}
