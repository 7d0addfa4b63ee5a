//! The one retry loop: bounded attempts, jittered exponential backoff, provider hints honoured.

use std::future::Future;
use std::time::Duration;

use crate::{Error, ErrorKind, Result};

/// How retryable failures ([`Error::is_retryable`]) are retried. Every adapter uses this one loop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts in all, the first included (1 = no retry).
    pub max_attempts: u32,
    /// Backoff before the first retry; doubles each time, with full jitter.
    pub base_delay: Duration,
    /// Upper bound of any single wait, the provider's `Retry-After` included.
    pub max_delay: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_attempts: 6,
            base_delay: Duration::from_millis(250),
            max_delay: Duration::from_secs(30),
        }
    }
}

impl RetryPolicy {
    /// A policy that never retries.
    pub fn none() -> Self {
        Self {
            max_attempts: 1,
            ..Self::default()
        }
    }

    /// A fast policy for tests: same attempts, millisecond waits.
    pub fn fast() -> Self {
        Self {
            max_attempts: 6,
            base_delay: Duration::from_millis(5),
            max_delay: Duration::from_millis(50),
        }
    }

    /// The wait before retry number `retry` (1-based) after `err`.
    pub fn delay(&self, retry: u32, err: &Error) -> Duration {
        if let ErrorKind::RateLimited {
            retry_after: Some(hint),
        } = err.kind()
        {
            return hint.min(self.max_delay);
        }
        let exp = self
            .base_delay
            .saturating_mul(1u32 << retry.saturating_sub(1).min(16))
            .min(self.max_delay);
        // Full jitter between half and all of the exponential step.
        let half = exp / 2;
        half + Duration::from_nanos(fastrand::u64(0..=half.as_nanos() as u64))
    }

    /// Runs `op` until it succeeds, fails with a non-retryable error, or attempts run out.
    /// `what` names the operation in logs (never a secret).
    pub async fn run<T, F, Fut>(&self, what: &str, mut op: F) -> Result<T>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T>>,
    {
        let mut attempt = 1;
        loop {
            match op().await {
                Ok(v) => return Ok(v),
                Err(e) if e.is_retryable() && attempt < self.max_attempts => {
                    let wait = self.delay(attempt, &e);
                    tracing::warn!(
                        backend = e.backend(),
                        attempt,
                        wait_ms = wait.as_millis() as u64,
                        "{what} failed, retrying: {}",
                        e.message()
                    );
                    tokio::time::sleep(wait).await;
                    attempt += 1;
                }
                Err(e) => return Err(e),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU32, Ordering};

    #[tokio::test(start_paused = true)]
    async fn retries_transient_then_succeeds() {
        let calls = AtomicU32::new(0);
        let out = RetryPolicy::default()
            .run("op", || async {
                if calls.fetch_add(1, Ordering::SeqCst) < 2 {
                    Err(Error::new(ErrorKind::Transient, "t", "503"))
                } else {
                    Ok(7)
                }
            })
            .await
            .unwrap();
        assert_eq!(out, 7);
        assert_eq!(calls.load(Ordering::SeqCst), 3);
    }

    #[tokio::test(start_paused = true)]
    async fn never_retries_unauthorized_and_gives_up_eventually() {
        let calls = AtomicU32::new(0);
        let err = RetryPolicy::default()
            .run("op", || async {
                calls.fetch_add(1, Ordering::SeqCst);
                Err::<(), _>(Error::new(ErrorKind::Unauthorized, "t", "401"))
            })
            .await
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Unauthorized);
        assert_eq!(calls.load(Ordering::SeqCst), 1);

        let calls = AtomicU32::new(0);
        let policy = RetryPolicy::default();
        let err = policy
            .run("op", || async {
                calls.fetch_add(1, Ordering::SeqCst);
                Err::<(), _>(Error::new(ErrorKind::Transient, "t", "503"))
            })
            .await
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Transient);
        assert_eq!(calls.load(Ordering::SeqCst), policy.max_attempts);
    }

    #[test]
    fn honours_retry_after_up_to_the_cap() {
        let p = RetryPolicy::default();
        let e = Error::new(
            ErrorKind::RateLimited {
                retry_after: Some(Duration::from_secs(3)),
            },
            "t",
            "429",
        );
        assert_eq!(p.delay(1, &e), Duration::from_secs(3));
        let long = Error::new(
            ErrorKind::RateLimited {
                retry_after: Some(Duration::from_mins(5)),
            },
            "t",
            "429",
        );
        assert_eq!(p.delay(1, &long), p.max_delay);
        let t = Error::new(ErrorKind::Transient, "t", "x");
        for retry in 1..10 {
            let d = p.delay(retry, &t);
            assert!(d <= p.max_delay && d >= p.base_delay / 2, "{d:?}");
        }
    }
}
