//! A scheduled outage every fake shares: after a number of requests, the server answers every
//! request with `503 Service Unavailable` for a while, as a real service does while it restarts.
//!
//! Each fake calls [`Outage::check`] first in its dispatcher; tests arm it through the fake's
//! `outage_after` method to cut a chunked upload in the middle and prove the adapter rides it out
//! and resumes where the server says it stopped.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use wiremock::ResponseTemplate;

/// A shared outage switch (cheap to clone; clones share the schedule).
#[derive(Debug, Clone, Default)]
pub struct Outage {
    inner: Arc<Mutex<Schedule>>,
}

#[derive(Debug, Default)]
struct Schedule {
    /// Requests still served normally before the outage starts (`None`: none armed).
    requests_before: Option<u64>,
    /// How long the armed outage lasts.
    length: Duration,
    /// The end of the outage under way.
    until: Option<Instant>,
    /// Requests refused during outages so far.
    refused: u64,
}

impl Outage {
    /// Serves `requests` more requests normally, then refuses every request for `length`.
    pub fn arm(&self, requests: u64, length: Duration) {
        let mut s = self.lock();
        s.requests_before = Some(requests);
        s.length = length;
        s.until = None;
    }

    /// Called first for every request: the 503 to answer while the outage lasts, else `None`.
    pub fn check(&self) -> Option<ResponseTemplate> {
        let mut s = self.lock();
        let now = Instant::now();
        if let Some(until) = s.until {
            if now < until {
                s.refused += 1;
                return Some(unavailable());
            }
            s.until = None;
        }
        match s.requests_before {
            Some(0) => {
                s.requests_before = None;
                s.until = Some(now + s.length);
                s.refused += 1;
                Some(unavailable())
            }
            Some(n) => {
                s.requests_before = Some(n - 1);
                None
            }
            None => None,
        }
    }

    /// Requests refused by outages so far (tests check the outage really happened).
    pub fn refused(&self) -> u64 {
        self.lock().refused
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Schedule> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// What a service answers while it is down behind its load balancer.
fn unavailable() -> ResponseTemplate {
    ResponseTemplate::new(503)
        .insert_header("content-type", "text/plain")
        .set_body_string("Service Unavailable")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serves_then_refuses_for_the_length_then_serves() {
        let o = Outage::default();
        assert!(o.check().is_none());
        o.arm(2, Duration::from_millis(50));
        assert!(o.check().is_none());
        assert!(o.check().is_none());
        assert!(o.check().is_some());
        assert!(o.check().is_some());
        std::thread::sleep(Duration::from_millis(60));
        assert!(o.check().is_none());
        assert_eq!(o.refused(), 2);
    }
}
