//! An error's cause chain read the way a person needs it: each distinct message once, and the
//! root cause of a failed connection in plain words (refused, DNS name not found, TLS certificate,
//! timed out, reset).
//!
//! hyper, reqwest and the AWS SDK each put their source's text into their own `Display`
//! (`tcp connect error: Connection refused (os error 111)` three times over), so printing every
//! level repeats the cause; printing `Debug` shows type internals. These helpers are the one place
//! that walks a chain; adapters and the binary call them instead of writing their own loop.

use std::fmt;

/// The messages of `err` and its sources, outermost first, each once: a level whose text is
/// already contained in the previous kept one, or that contains the next level's text as its
/// tail, is folded so no cause is printed twice. Never uses `Debug`.
pub fn cause_chain(err: &(dyn std::error::Error + 'static)) -> Vec<String> {
    let mut raw: Vec<String> = Vec::new();
    let mut next: Option<&(dyn std::error::Error + 'static)> = Some(err);
    while let Some(e) = next {
        let text = e.to_string();
        let text = text.trim();
        if !text.is_empty() {
            raw.push(text.to_owned());
        }
        next = e.source();
    }
    let mut out: Vec<String> = Vec::new();
    for (i, text) in raw.iter().enumerate() {
        // A level that ends with its source's text (`tcp connect error: Connection refused`,
        // then `Connection refused`) keeps its own words only.
        let own = match raw.get(i + 1) {
            Some(inner) => text
                .strip_suffix(inner.as_str())
                .map_or(text.as_str(), |head| head.trim_end_matches([':', ' '])),
            None => text.as_str(),
        };
        // Empty after stripping, or already said by an outer level: skip it.
        if own.is_empty() || out.iter().any(|kept| kept.contains(own)) {
            continue;
        }
        out.push(own.to_owned());
    }
    out
}

/// The cause chain on one line: `a: b: c` ([`cause_chain`]).
pub fn one_line(err: &(dyn std::error::Error + 'static)) -> String {
    cause_chain(err).join(": ")
}

/// Why a request got no HTTP answer, in a person's words (the root cause of a transport failure).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ConnectFailure {
    /// Nothing listens on that host and port (`ECONNREFUSED`).
    Refused,
    /// The host name does not resolve; the text is the resolver's own reason.
    DnsNotFound(String),
    /// The TLS handshake failed over the server's certificate (untrusted issuer, wrong host name,
    /// expired); the text is the TLS library's reason.
    Certificate(String),
    /// The connection or the answer took too long.
    TimedOut,
    /// The server (or a middlebox) reset or closed the connection.
    Reset,
    /// Anything else: the deepest distinct cause.
    Other(String),
}

impl ConnectFailure {
    /// Classifies a transport error by its chain: an `io::Error` kind where one is found, the
    /// well-known texts of hyper, rustls, native-tls and `getaddrinfo` otherwise.
    pub fn classify(err: &(dyn std::error::Error + 'static)) -> Self {
        use std::io::ErrorKind as Io;
        let chain = cause_chain(err);
        let mut next: Option<&(dyn std::error::Error + 'static)> = Some(err);
        while let Some(e) = next {
            if let Some(io) = e.downcast_ref::<std::io::Error>() {
                match io.kind() {
                    Io::ConnectionRefused => return Self::Refused,
                    Io::ConnectionReset | Io::ConnectionAborted | Io::BrokenPipe => {
                        return Self::Reset
                    }
                    Io::TimedOut => return Self::TimedOut,
                    _ => {}
                }
            }
            next = e.source();
        }
        let lower: Vec<String> = chain.iter().map(|c| c.to_ascii_lowercase()).collect();
        let has = |needle: &str| lower.iter().any(|c| c.contains(needle));
        let root = chain.last().cloned().unwrap_or_default();
        if has("certificate") || has("unknownissuer") || has("notvalidforname") {
            // The most specific level naming the certificate (rustls: `invalid peer certificate: ...`).
            let detail = chain
                .iter()
                .rev()
                .find(|c| c.to_ascii_lowercase().contains("certificate"))
                .cloned()
                .unwrap_or(root);
            return Self::Certificate(detail);
        }
        if has("connection refused") {
            return Self::Refused;
        }
        // getaddrinfo (`failed to lookup address information: Name or service not known`),
        // hyper's resolver (`dns error`), Windows (`No such host is known`).
        if has("dns error")
            || has("failed to lookup address")
            || has("name or service not known")
            || has("no such host")
            || has("nodename nor servname")
            || has("name resolution")
        {
            // The resolver's own words: the root, without getaddrinfo's generic lead-in.
            let root = root
                .strip_prefix("failed to lookup address information:")
                .unwrap_or(&root)
                .trim();
            let reason = if root.eq_ignore_ascii_case("dns error") {
                String::new()
            } else {
                lowercase_first(root)
            };
            return Self::DnsNotFound(reason);
        }
        if has("timed out") || has("timeout") || has("deadline has elapsed") {
            return Self::TimedOut;
        }
        if has("connection reset")
            || has("broken pipe")
            || has("connection closed")
            || has("incompletemessage")
            || has("unexpected eof")
        {
            return Self::Reset;
        }
        Self::Other(root)
    }

    /// Whether the failure happened before a connection existed (so "cannot connect to").
    fn before_connecting(&self, chain_mentions_connect: bool) -> bool {
        match self {
            Self::Refused | Self::DnsNotFound(_) | Self::Certificate(_) => true,
            Self::TimedOut | Self::Reset | Self::Other(_) => chain_mentions_connect,
        }
    }
}

impl fmt::Display for ConnectFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Refused => f.write_str("connection refused"),
            Self::DnsNotFound(r) if r.is_empty() => f.write_str("DNS name not found"),
            Self::DnsNotFound(r) => write!(f, "DNS name not found ({r})"),
            Self::Certificate(r) => write!(f, "TLS certificate problem: {r}"),
            Self::TimedOut => f.write_str("timed out"),
            Self::Reset => f.write_str("connection reset"),
            Self::Other(r) => f.write_str(r),
        }
    }
}

/// The one-line text of a transport failure towards `endpoint` (scheme, host and port only):
/// `cannot connect to http://127.0.0.1:1: connection refused`, or
/// `connection to https://host lost: connection reset` when it broke after connecting.
pub fn transport_message(endpoint: &str, err: &(dyn std::error::Error + 'static)) -> String {
    let failure = ConnectFailure::classify(err);
    let connecting = cause_chain(err).iter().any(|c| mentions_connecting(c));
    if failure.before_connecting(connecting) {
        format!("cannot connect to {endpoint}: {failure}")
    } else {
        format!("connection to {endpoint} lost: {failure}")
    }
}

/// The scheme, host and port of `url` (`https://host:8443/a/b?sig=...` gives `https://host:8443`):
/// what a connection message may show. Paths and queries can be signed, user info is a secret.
pub fn endpoint_of(url: &str) -> String {
    let (scheme, rest) = url.split_once("://").unwrap_or(("", url));
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    if scheme.is_empty() {
        host.to_owned()
    } else {
        format!("{scheme}://{host}")
    }
}

/// `tcp connect error`, `error trying to connect`, `client error (Connect)`: the word "connect"
/// itself, not "connection" (which also names a connection that broke later).
fn mentions_connecting(text: &str) -> bool {
    let lower = text.to_ascii_lowercase();
    lower.match_indices("connect").any(|(i, m)| {
        let rest = &lower[i + m.len()..];
        !rest.starts_with("ion")
    })
}

fn lowercase_first(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(first) if !s.chars().nth(1).is_some_and(char::is_uppercase) => {
            first.to_lowercase().chain(c).collect()
        }
        _ => s.to_owned(),
    }
}

#[cfg(test)]
mod tests;
