//! Fault injection of the Dropbox fake: failed, throttled, lost, damaged or conflicting calls,
//! outages and server-side losses, for tests of the adapter's recovery paths.

use std::time::{Duration, Instant};

use serde_json::{json, Value};
use wiremock::ResponseTemplate;

use super::wire::{auth_error, route_error, text};
use super::{FakeDropbox, Fault, State};

impl FakeDropbox {
    /// Makes the next `n` requests to `route` (`""` = any route) fail with `status`: 429 carries
    /// `Retry-After: 1` and a `too_many_requests` body, 409 a top-level `too_many_write_operations`
    /// route error (a member of `DeleteError` and `UploadSessionFinishError` in the spec; other
    /// routes' unions lack it, so use 409 only with those), 401 `expired_access_token`, anything
    /// else a plain-text body.
    pub fn fail_next(&self, route: &str, n: u32, status: u16) {
        self.push_fault(route, n, status, Some(1), false);
    }

    /// Makes the next `n` requests to `route` answer 429 with `Retry-After: retry_after_secs`.
    pub fn throttle_next(&self, route: &str, n: u32, retry_after_secs: u64) {
        self.push_fault(route, n, 429, Some(retry_after_secs), false);
    }

    /// Carries out the next request to `route` but answers `status` (a lost response).
    pub fn lose_next_response(&self, route: &str, status: u16) {
        self.push_fault(route, 1, status, None, true);
    }

    /// The next `upload_session/append_v2` keeps only the first `bytes` of its body and answers 503
    /// (a connection dropped mid-body).
    pub fn accept_partial_next_append(&self, bytes: usize) {
        self.lock().partial_append = Some(bytes);
    }

    /// Expires every access token issued so far (the next call gets 401 `expired_access_token`).
    pub fn expire_tokens(&self) {
        let now = Instant::now();
        for exp in self.lock().tokens.values_mut() {
            *exp = now;
        }
    }

    /// Expires every access token right after the next request to `route` is answered.
    pub fn expire_tokens_after_next(&self, route: &str) {
        self.lock().expire_after = Some(route.to_owned());
    }

    /// Right after the next request to `route` is answered, every open upload session loses its
    /// last `bytes` bytes (a server-side loss the client cannot repair from the chunk it holds).
    pub fn truncate_sessions_after_next(&self, route: &str, bytes: usize) {
        self.lock().truncate_after = Some((route.to_owned(), bytes));
    }

    /// Revokes the refresh token: the token route answers `invalid_grant` from now on.
    pub fn revoke_refresh_token(&self) {
        self.lock().refresh_revoked = true;
    }

    fn push_fault(&self, route: &str, n: u32, status: u16, retry_after: Option<u64>, after: bool) {
        self.lock().faults.push(Fault {
            route: route.to_owned(),
            remaining: n,
            status,
            retry_after,
            after,
        });
    }

    /// The next call to `route` (`files/upload` or an `upload_session` route) arrives damaged: the
    /// server sees its body with one byte changed, so a per-call `content_hash` no longer matches
    /// and the call is refused with `content_hash_mismatch`, storing nothing.
    pub fn corrupt_next_body(&self, route: &str) {
        self.lock().corrupt_next.insert(route.to_owned());
    }

    /// The next commit by `route` (`files/upload_session/finish` or `files/upload`) fails with the
    /// `WriteError` `write_error` (e.g. `{".tag": "conflict", "conflict": {".tag": "file"}}` or
    /// `{".tag": "insufficient_space"}`) after the call's bytes were appended to the session.
    pub fn fail_next_commit(&self, route: &str, write_error: Value) {
        self.lock()
            .write_errors
            .push((route.to_owned(), write_error));
    }

    /// Serves `requests` more requests, then answers every request `503` for `length` (a service
    /// restarting behind its load balancer).
    pub fn outage_after(&self, requests: u64, length: Duration) {
        self.outage.arm(requests, length);
    }

    /// Requests refused by outages so far.
    pub fn outage_refusals(&self) -> u64 {
        self.outage.refused()
    }

    /// Body bytes received so far by the upload route `route` (refused calls included).
    pub fn bytes_received(&self, route: &str) -> u64 {
        self.lock().bytes_in.get(route).copied().unwrap_or(0)
    }
}

impl State {
    pub(super) fn take_fault(&mut self, route: &str, after: bool) -> Option<ResponseTemplate> {
        let i = self.faults.iter().position(|f| {
            f.after == after && f.remaining > 0 && (f.route.is_empty() || f.route == route)
        })?;
        let f = &mut self.faults[i];
        f.remaining -= 1;
        let (status, retry_after) = (f.status, f.retry_after);
        if f.remaining == 0 {
            self.faults.remove(i);
        }
        Some(match status {
            429 => {
                let secs = retry_after.unwrap_or(1);
                ResponseTemplate::new(429)
                    .insert_header("Retry-After", secs.to_string().as_str())
                    .set_body_json(json!({"error_summary": "too_many_requests/..",
                        "error": {"reason": {".tag": "too_many_requests"}, "retry_after": secs}}))
            }
            409 => route_error(json!({".tag": "too_many_write_operations"})),
            401 => {
                self.unauthorized += 1;
                auth_error("expired_access_token")
            }
            s => text(s, route, "injected failure"),
        })
    }
}
