//! Drive's 750 GB a day upload cap: a lasting 403 `userRateLimitExceeded` on uploads is taken as the
//! cap and ends the retry budget early with a message naming it.
//!
//! Each user, service accounts included, may upload 750 GB a day; past it "users [...] cannot
//! upload additional files that day. Uploads that are in progress will complete" (Google Workspace
//! Admin Help, "Shared drives limits", <https://support.google.com/a/answer/7338880>). Drive does
//! not document the answer; users see 403 `userRateLimitExceeded`, "User rate limit exceeded."
//! (rclone/rclone#1591, labbots/google-drive-upload#192), the same reason as a short burst of
//! requests. So a short run of them is retried as a rate limit, and a run lasting
//! [`CAP_AFTER`] (or half the retry budget, if shorter) is taken as the daily cap: retrying for
//! the rest of the budget, on every destination run, could not help.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use cloudmirror_contract::{Error, ErrorKind};
use tokio::time::Instant;

use crate::error::has_reason;
use crate::BACKEND;

/// How long uploads must keep getting 403 `userRateLimitExceeded` to be taken as the daily cap.
pub(crate) const CAP_AFTER: Duration = Duration::from_mins(2);

/// The streak of upload refusals seen by one store.
#[derive(Debug, Default)]
pub(crate) struct DailyCap {
    /// When the current run of 403 `userRateLimitExceeded` answers to uploads began.
    since: Mutex<Option<Instant>>,
    /// Set once the cap was concluded: later refusals fail at once.
    reached: AtomicBool,
}

impl DailyCap {
    /// An upload request succeeded: the streak is over.
    pub(crate) fn upload_succeeded(&self) {
        *self.lock() = None;
        self.reached.store(false, Ordering::Relaxed);
    }

    /// Looks at an upload request's error: a 403 `userRateLimitExceeded` that has lasted long
    /// enough (see the module doc) becomes a non-retryable [`ErrorKind::QuotaExceeded`].
    pub(crate) fn judge(&self, err: Error, budget: Duration) -> Error {
        if !has_reason(&err, 403, "userRateLimitExceeded") {
            return err;
        }
        let now = Instant::now();
        let since = *self.lock().get_or_insert(now);
        let lasted = now.duration_since(since);
        let threshold = CAP_AFTER.min(budget / 2);
        if !self.reached.load(Ordering::Relaxed) && lasted < threshold {
            return err;
        }
        self.reached.store(true, Ordering::Relaxed);
        Error::new(
            ErrorKind::QuotaExceeded,
            BACKEND,
            format!(
                "{}; Drive has refused uploads this way for {}s, taken as its daily upload cap (750 GB a day per user, service accounts included): uploads resume when the cap resets, within 24 hours",
                err.message(),
                lasted.as_secs()
            ),
        )
        .with_source(err)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Option<Instant>> {
        self.since
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refusal() -> Error {
        let body = br#"{"error":{"code":403,"message":"User rate limit exceeded.","errors":[{"domain":"usageLimits","reason":"userRateLimitExceeded","message":"User rate limit exceeded."}]}}"#;
        crate::error::parse_error(
            reqwest::StatusCode::FORBIDDEN,
            &reqwest::header::HeaderMap::new(),
            body,
        )
    }

    #[tokio::test(start_paused = true)]
    async fn a_lasting_refusal_becomes_the_daily_cap() {
        let cap = DailyCap::default();
        let budget = Duration::from_mins(5);
        assert!(cap.judge(refusal(), budget).is_retryable());
        tokio::time::advance(Duration::from_secs(119)).await;
        assert!(cap.judge(refusal(), budget).is_retryable());
        tokio::time::advance(Duration::from_secs(1)).await;
        let e = cap.judge(refusal(), budget);
        assert_eq!(e.kind(), ErrorKind::QuotaExceeded);
        assert!(e.message().contains("750 GB a day"), "{e}");
        // Once concluded, later refusals fail at once; a success starts over.
        assert_eq!(
            cap.judge(refusal(), budget).kind(),
            ErrorKind::QuotaExceeded
        );
        cap.upload_succeeded();
        assert!(cap.judge(refusal(), budget).is_retryable());
    }

    #[tokio::test(start_paused = true)]
    async fn a_short_budget_concludes_at_half_of_it() {
        let cap = DailyCap::default();
        let budget = Duration::from_secs(10);
        assert!(cap.judge(refusal(), budget).is_retryable());
        tokio::time::advance(Duration::from_secs(5)).await;
        assert_eq!(
            cap.judge(refusal(), budget).kind(),
            ErrorKind::QuotaExceeded
        );
    }

    #[test]
    fn other_errors_pass_through() {
        let cap = DailyCap::default();
        let e = Error::new(ErrorKind::Transient, BACKEND, "HTTP 503");
        assert_eq!(cap.judge(e, Duration::ZERO).kind(), ErrorKind::Transient);
    }
}
