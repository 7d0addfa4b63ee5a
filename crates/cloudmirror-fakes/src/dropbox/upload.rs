//! The fake's upload routes: `files/upload` and the upload session (`start`, `append_v2`,
//! `finish`), with the per-call `content_hash` check and offsets enforced as the spec says.
//!
//! References (dropbox/dropbox-api-spec, `files.stone`):
//! - `UploadArg`, `UploadSessionStartArg`, `UploadSessionAppendArg`, `UploadSessionFinishArg`:
//!   `content_hash` is "a hash of the file content uploaded in this call. If provided and the
//!   uploaded content does not match this hash, an error will be returned". So each call's hash is
//!   checked against that call's body only, and a whole-file hash sent with a partial body fails.
//! - `UploadError`, `UploadSessionStartError`, `UploadSessionAppendError` and
//!   `UploadSessionFinishError` each have a top-level void member `content_hash_mismatch`: "The
//!   content received by the Dropbox server in this call does not match the provided content
//!   hash." The refused call stores nothing: the session stays at its offset.
//! - `UploadSessionFinishError.path`: "Unable to save the uploaded contents to a file. Data has
//!   already been appended to the upload session. Please retry with empty data body and updated
//!   offset." So after a `path` error the session holds the finish call's bytes and only the
//!   updated offset (old offset + that body's length) is accepted.
//! - `UploadWriteFailed.upload_session_id` (the `path` member of `UploadError`): "data has already
//!   been uploaded to the corresponding upload session and this ID may be used to retry the commit
//!   with `upload_session/finish`".
//! - Route `upload_session/start` and `UploadSessionType`: sessions are *sequential* by default
//!   and then take appends of any length; only a session started with `session_type =
//!   concurrent` requires every append but the closing one to be a multiple of 2^22 (4,194,304)
//!   bytes (`UploadSessionAppendError.concurrent_session_invalid_data_size`) and forbids data in
//!   `start`/`finish`. This fake refuses concurrent sessions outright (no client of it opens
//!   one), and enforces no multiple on sequential ones, as Dropbox does not.
//! - `alias Sha256HexHash = String(max_length=64, min_length=64)`: other lengths are bad input
//!   (HTTP 400).

use serde_json::{json, Value};
use wiremock::ResponseTemplate;

use super::files::{cursor_of, str_field, tag_of, write_failure, WriteShape};
use super::wire::{route_error, text};
use super::{Ctx, Session, State};

impl State {
    /// `files/upload`, `files/upload_session/{start,append_v2,finish}`.
    pub(super) fn upload_route(
        &mut self,
        route: &str,
        arg: &Value,
        body: &[u8],
        ctx: &Ctx,
    ) -> ResponseTemplate {
        let hash = match content_hash_arg(route, arg) {
            Ok(h) => h,
            Err(resp) => return resp,
        };
        *self.bytes_in.entry(route.to_owned()).or_insert(0) += body.len() as u64;
        // A damaged transfer (fault injection): the server sees other bytes than were sent.
        let damaged;
        let body = if self.corrupt_next.remove(route) {
            let mut copy = body.to_vec();
            match copy.first_mut() {
                Some(b) => *b ^= 0xFF,
                None => copy.push(0),
            }
            damaged = copy;
            damaged.as_slice()
        } else {
            body
        };
        // `payload_too_large` is a top-level member of each of the four error unions.
        if body.len() as u64 > self.opts.single_upload_limit {
            return route_error(json!({".tag": "payload_too_large"}));
        }
        let mismatch = hash.is_some_and(|h| {
            !h.eq_ignore_ascii_case(&cloudmirror_contract::dropbox_content_hash(body))
        });
        match route {
            "files/upload" => {
                if mismatch {
                    return route_error(json!({".tag": "content_hash_mismatch"}));
                }
                let path = str_field(arg, "path");
                let mode = arg.get("mode").cloned().unwrap_or(json!("add"));
                let mut data = body.to_vec();
                match self.commit_or_injected(route, &ctx.ns, &path, &mode, &mut data) {
                    Ok(meta) => ResponseTemplate::new(200).set_body_json(meta),
                    Err(e) => {
                        // UploadWriteFailed: the bytes wait in a session that finish may commit.
                        let id = self.new_session(data, false);
                        write_failure(e, WriteShape::Upload(id))
                    }
                }
            }
            "files/upload_session/start" => {
                if mismatch {
                    return route_error(json!({".tag": "content_hash_mismatch"}));
                }
                if arg.get("session_type").and_then(tag_of) == Some("concurrent") {
                    return text(
                        400,
                        route,
                        "concurrent sessions are not supported by this fake",
                    );
                }
                let closed = arg.get("close").and_then(Value::as_bool).unwrap_or(false);
                let id = self.new_session(body.to_vec(), closed);
                ResponseTemplate::new(200).set_body_json(json!({"session_id": id}))
            }
            "files/upload_session/append_v2" => {
                let (id, offset) = cursor_of(arg);
                let close = arg.get("close").and_then(Value::as_bool).unwrap_or(false);
                let partial = self.partial_append.take();
                let session = match self.session_at(&id, offset, false) {
                    Ok(s) => s,
                    Err(lookup) => return route_error(lookup),
                };
                if let Some(keep) = partial {
                    session
                        .data
                        .extend_from_slice(&body[..keep.min(body.len())]);
                    return text(503, route, "connection reset while reading the body");
                }
                if mismatch {
                    return route_error(json!({".tag": "content_hash_mismatch"}));
                }
                session.data.extend_from_slice(body);
                session.closed = close;
                ResponseTemplate::new(200).set_body_json(Value::Null)
            }
            "files/upload_session/finish" => self.finish(route, arg, body, mismatch, ctx),
            _ => text(404, route, "Unknown API function"),
        }
    }

    fn new_session(&mut self, data: Vec<u8>, closed: bool) -> String {
        let id = format!("pid_upload_session:fake-{}", self.next_seq());
        self.sessions.insert(id.clone(), Session { data, closed });
        id
    }

    fn finish(
        &mut self,
        route: &str,
        arg: &Value,
        body: &[u8],
        mismatch: bool,
        ctx: &Ctx,
    ) -> ResponseTemplate {
        let (id, offset) = cursor_of(arg);
        let session = match self.session_at(&id, offset, true) {
            Ok(s) => s,
            Err(lookup) => {
                return route_error(json!({".tag": "lookup_failed", "lookup_failed": lookup}))
            }
        };
        if mismatch {
            return route_error(json!({".tag": "content_hash_mismatch"}));
        }
        // The body is appended first; a write failure leaves it in the session (see the module
        // doc: "Data has already been appended to the upload session").
        session.data.extend_from_slice(body);
        let mut data = std::mem::take(&mut session.data);
        let commit = arg.get("commit").cloned().unwrap_or(Value::Null);
        let path = str_field(&commit, "path");
        let mode = commit.get("mode").cloned().unwrap_or(json!("add"));
        match self.commit_or_injected(route, &ctx.ns, &path, &mode, &mut data) {
            Ok(meta) => {
                self.sessions.remove(&id);
                ResponseTemplate::new(200).set_body_json(meta)
            }
            Err(e) => {
                if let Some(s) = self.sessions.get_mut(&id) {
                    s.data = data;
                }
                write_failure(e, WriteShape::Finish)
            }
        }
    }

    /// [`State::commit`], unless a write error was injected for the next commit on `route`.
    fn commit_or_injected(
        &mut self,
        route: &str,
        ns: &str,
        path: &str,
        mode: &Value,
        data: &mut Vec<u8>,
    ) -> Result<Value, Value> {
        if let Some(i) = self.write_errors.iter().position(|(r, _)| r == route) {
            let (_, error) = self.write_errors.remove(i);
            return Err(error);
        }
        self.commit(ns, path, mode, data)
    }

    /// The session `id` if `offset` is where it stands, else the `UploadSessionLookupError`.
    fn session_at(&mut self, id: &str, offset: u64, finish: bool) -> Result<&mut Session, Value> {
        let Some(session) = self.sessions.get_mut(id) else {
            return Err(json!({".tag": "not_found"}));
        };
        if session.data.len() as u64 != offset {
            return Err(json!({".tag": "incorrect_offset", "correct_offset": session.data.len()}));
        }
        if session.closed && !finish {
            return Err(json!({".tag": "closed"}));
        }
        Ok(session)
    }
}

/// The call's optional `content_hash` (`Sha256HexHash?`), or the 400 a malformed one gets.
fn content_hash_arg<'a>(route: &str, arg: &'a Value) -> Result<Option<&'a str>, ResponseTemplate> {
    match arg.get("content_hash") {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(h)) if h.len() == 64 => Ok(Some(h)),
        Some(other) => Err(text(
            400,
            route,
            &format!("content_hash: '{other}' must be 64 characters long"),
        )),
    }
}
