//! The one retry loop: a budget of elapsed time, jittered exponential backoff, provider hints honoured.
//!
//! Real services have 503 storms, throttling and restarts that last a minute or more, so a
//! retryable failure is retried until the policy's [`RetryPolicy::budget`] of elapsed time (default
//! five minutes, `retry_for` in the config) would be exceeded by the next wait, with each wait
//! capped at [`RetryPolicy::max_delay`] (default 30 s). Each retry logs one short line: what,
//! attempt, wait and reason. The error that ends the loop says how long it was retried.

use std::future::Future;
use std::time::Duration;

use crate::{Error, ErrorKind, Result};

/// The default retry budget per operation: five minutes.
pub const DEFAULT_RETRY_FOR: Duration = Duration::from_mins(5);

/// How retryable failures ([`Error::is_retryable`]) are retried. Every adapter uses this one loop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts in all, the first included (1 = no retry); [`u32::MAX`] leaves the bound to
    /// [`RetryPolicy::budget`].
    pub max_attempts: u32,
    /// Backoff before the first retry; doubles each time, with full jitter.
    pub base_delay: Duration,
    /// Upper bound of any single wait, the provider's `Retry-After` included.
    pub max_delay: Duration,
    /// Elapsed time after which no further retry starts (`retry_for`): a retry whose wait would
    /// end past the budget is not made.
    pub budget: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_attempts: u32::MAX,
            base_delay: Duration::from_millis(250),
            max_delay: Duration::from_secs(30),
            budget: DEFAULT_RETRY_FOR,
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

    /// A fast policy for tests: six attempts, millisecond waits.
    pub fn fast() -> Self {
        Self {
            max_attempts: 6,
            base_delay: Duration::from_millis(5),
            max_delay: Duration::from_millis(50),
            budget: Duration::from_secs(10),
        }
    }

    /// The default policy with the elapsed-time budget `retry_for`.
    pub fn with_budget(retry_for: Duration) -> Self {
        Self {
            budget: retry_for,
            ..Self::default()
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

    /// Runs `op` until it succeeds, fails with a non-retryable error, or the attempts or the
    /// elapsed-time budget run out. `what` names the operation in logs (never a secret).
    pub async fn run<T, F, Fut>(&self, what: &str, mut op: F) -> Result<T>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T>>,
    {
        let started = tokio::time::Instant::now();
        let mut attempt = 1;
        loop {
            match op().await {
                Ok(v) => return Ok(v),
                // An error that already used up a retry loop of its own (a token refresh inside
                // this request) is not retried again: nested loops would square the attempts.
                Err(e) if e.is_retryable() && !e.was_retried() => {
                    let wait = self.delay(attempt, &e);
                    let elapsed = started.elapsed();
                    if attempt >= self.max_attempts || elapsed + wait > self.budget {
                        // The cause first (it is what a person acts on), then how hard we tried.
                        return Err(if attempt > 1 {
                            e.tried(format_args!(
                                " ({what}: {attempt} attempts in {})",
                                human_duration(elapsed)
                            ))
                        } else {
                            e
                        });
                    }
                    // One short line; the destination comes from the caller's span.
                    tracing::warn!(
                        "{}: {what}: attempt {attempt} failed, retrying in {}: {}",
                        e.backend(),
                        human_duration(wait),
                        short_reason(e.message())
                    );
                    tokio::time::sleep(wait).await;
                    attempt += 1;
                }
                Err(e) => return Err(e),
            }
        }
    }
}

/// The wait a server asks for in a `Retry-After` header value given in seconds (RFC 9110
/// §10.2.3); `None` for anything else (an HTTP date, garbage), and the policy backs off itself.
pub fn parse_retry_after(value: &str) -> Option<Duration> {
    value.trim().parse::<u64>().ok().map(Duration::from_secs)
}

/// `1.5s`, `2m05s`: short enough for a log line.
fn human_duration(d: Duration) -> String {
    let secs = d.as_secs();
    if secs >= 60 {
        format!("{}m{:02}s", secs / 60, secs % 60)
    } else {
        format!("{:.1}s", d.as_secs_f64())
    }
}

/// The first line of a message, at most 160 characters: a retry line stays one short line.
fn short_reason(message: &str) -> String {
    let line = message.lines().next().unwrap_or_default();
    if line.chars().count() > 160 {
        let cut: String = line.chars().take(159).collect();
        format!("{cut}…")
    } else {
        line.to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU32, Ordering};

    #[test]
    fn retry_after_takes_seconds_and_ignores_the_rest() {
        assert_eq!(parse_retry_after(" 7 "), Some(Duration::from_secs(7)));
        assert_eq!(parse_retry_after("0"), Some(Duration::ZERO));
        assert_eq!(parse_retry_after("Wed, 21 Oct 2026 07:28:00 GMT"), None);
        assert_eq!(parse_retry_after("-3"), None);
    }

    #[tokio::test(start_paused = true)]
    async fn an_error_that_used_up_an_inner_loop_is_not_retried_again() {
        let calls = AtomicU32::new(0);
        let err = RetryPolicy::fast()
            .run("outer", || async {
                calls.fetch_add(1, Ordering::SeqCst);
                RetryPolicy::fast()
                    .run("token", || async {
                        Err::<(), _>(Error::new(ErrorKind::Transient, "t", "refused"))
                    })
                    .await
            })
            .await
            .unwrap_err();
        assert_eq!(calls.load(Ordering::SeqCst), 1);
        assert!(
            err.message().starts_with("refused (token: 6 attempts in "),
            "{}",
            err.message()
        );
        assert!(!err.message().contains("outer"), "{}", err.message());
    }

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
        let policy = RetryPolicy::fast();
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

    #[tokio::test(start_paused = true)]
    async fn retries_for_the_whole_budget_and_no_longer() {
        let calls = AtomicU32::new(0);
        let policy = RetryPolicy::default();
        let started = tokio::time::Instant::now();
        let err = policy
            .run("upload part 3", || async {
                calls.fetch_add(1, Ordering::SeqCst);
                Err::<(), _>(Error::new(ErrorKind::Transient, "t", "HTTP 503"))
            })
            .await
            .unwrap_err();
        let elapsed = started.elapsed();
        assert!(elapsed <= policy.budget, "{elapsed:?}");
        // The last wait is at most max_delay, so the loop stops within one wait of the budget.
        assert!(elapsed + policy.max_delay >= policy.budget, "{elapsed:?}");
        assert!(calls.load(Ordering::SeqCst) > 6, "{calls:?}");
        assert_eq!(err.kind(), ErrorKind::Transient);
        assert!(
            err.message().starts_with("HTTP 503 (upload part 3: ")
                && err.message().contains(" attempts in "),
            "{}",
            err.message()
        );
    }

    #[tokio::test(start_paused = true)]
    async fn an_outage_shorter_than_the_budget_is_ridden_out() {
        let policy = RetryPolicy::with_budget(Duration::from_mins(1));
        let started = tokio::time::Instant::now();
        let out = policy
            .run("op", || async {
                if started.elapsed() < Duration::from_secs(20) {
                    Err(Error::new(ErrorKind::Transient, "t", "connection refused"))
                } else {
                    Ok(1)
                }
            })
            .await
            .unwrap();
        assert_eq!(out, 1);
        assert!(started.elapsed() < Duration::from_secs(20) + policy.max_delay);
    }

    #[test]
    fn waits_are_capped_at_thirty_seconds_by_default() {
        let p = RetryPolicy::default();
        let t = Error::new(ErrorKind::Transient, "t", "x");
        assert_eq!(p.max_delay, Duration::from_secs(30));
        assert!((1..40).all(|r| p.delay(r, &t) <= Duration::from_secs(30)));
        assert_eq!(p.budget, Duration::from_mins(5));
    }

    #[test]
    fn a_retry_line_is_one_short_line() {
        assert_eq!(short_reason("refused\ncaused by: x"), "refused");
        assert_eq!(short_reason(&"x".repeat(500)).chars().count(), 160);
        assert_eq!(human_duration(Duration::from_secs(125)), "2m05s");
        assert_eq!(human_duration(Duration::from_millis(1500)), "1.5s");
    }
}
