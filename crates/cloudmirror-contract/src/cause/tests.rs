//! Cause chains as hyper, reqwest, rustls and the AWS SDK build them.

use super::*;

/// A chain of messages, optionally ending in a real `io::Error` (as hyper's connector does).
#[derive(Debug)]
struct Level(
    &'static str,
    Option<Box<dyn std::error::Error + Send + Sync>>,
);
impl fmt::Display for Level {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0)
    }
}
impl std::error::Error for Level {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.1.as_deref().map(|e| e as _)
    }
}

fn chain(levels: &[&'static str], io: Option<std::io::Error>) -> Level {
    let mut inner: Option<Box<dyn std::error::Error + Send + Sync>> =
        io.map(|e| Box::new(e) as Box<dyn std::error::Error + Send + Sync>);
    for text in levels.iter().rev() {
        inner = Some(Box::new(Level(text, inner)));
    }
    match inner {
        Some(b) => Level("", Some(b)),
        None => Level("", None),
    }
}

/// The AWS SDK's refused connection, as the issue quotes it.
fn aws_refused() -> Level {
    chain(
        &[
            "dispatch failure",
            "io error",
            "error trying to connect: tcp connect error: Connection refused (os error 111)",
            "tcp connect error: Connection refused (os error 111)",
        ],
        Some(std::io::Error::from_raw_os_error(111)),
    )
}

#[test]
fn each_cause_is_printed_once() {
    let c = cause_chain(&aws_refused());
    assert_eq!(
        c,
        vec![
            "dispatch failure",
            "io error",
            "error trying to connect",
            "tcp connect error",
            "Connection refused (os error 111)"
        ]
    );
    let line = one_line(&aws_refused());
    assert_eq!(line.matches("Connection refused").count(), 1, "{line}");
    assert!(
        !line.contains("DispatchFailure") && !line.contains('{'),
        "{line}"
    );
}

#[test]
fn refused_connections_name_the_endpoint_and_the_root_cause() {
    assert_eq!(
        transport_message("http://127.0.0.1:1", &aws_refused()),
        "cannot connect to http://127.0.0.1:1: connection refused"
    );
    // reqwest: `error sending request` -> hyper-util `client error (Connect)` -> ConnectError.
    let reqwest = chain(
        &[
            "error sending request",
            "client error (Connect)",
            "tcp connect error",
        ],
        Some(std::io::Error::from(std::io::ErrorKind::ConnectionRefused)),
    );
    assert_eq!(ConnectFailure::classify(&reqwest), ConnectFailure::Refused);
}

#[test]
fn unknown_hosts_certificates_timeouts_and_resets() {
    let dns = chain(
        &[
            "error sending request",
            "client error (Connect)",
            "dns error",
            "failed to lookup address information: Name or service not known",
        ],
        None,
    );
    assert_eq!(
        transport_message("https://nope.invalid", &dns),
        "cannot connect to https://nope.invalid: DNS name not found (name or service not known)"
    );
    let tls = chain(
        &[
            "error sending request",
            "client error (Connect)",
            "invalid peer certificate: UnknownIssuer",
        ],
        None,
    );
    assert_eq!(
        transport_message("https://127.0.0.1:8443", &tls),
        "cannot connect to https://127.0.0.1:8443: TLS certificate problem: invalid peer certificate: UnknownIssuer"
    );
    let connect_timeout = chain(
        &["error sending request", "client error (Connect)"],
        Some(std::io::Error::from(std::io::ErrorKind::TimedOut)),
    );
    assert_eq!(
        transport_message("https://h", &connect_timeout),
        "cannot connect to https://h: timed out"
    );
    let read_timeout = chain(
        &["error decoding response body", "operation timed out"],
        None,
    );
    assert_eq!(
        transport_message("https://h", &read_timeout),
        "connection to https://h lost: timed out"
    );
    let reset = chain(
        &["error sending request", "connection error"],
        Some(std::io::Error::from(std::io::ErrorKind::ConnectionReset)),
    );
    assert_eq!(
        transport_message("https://h", &reset),
        "connection to https://h lost: connection reset"
    );
    let other = chain(&["error sending request", "something odd"], None);
    assert_eq!(
        ConnectFailure::classify(&other),
        ConnectFailure::Other("something odd".into())
    );
}

#[test]
fn endpoints_drop_paths_queries_and_user_info() {
    assert_eq!(
        endpoint_of("https://u:pw@host:8443/b/k?X-Amz-Signature=s"),
        "https://host:8443"
    );
    assert_eq!(endpoint_of("http://127.0.0.1:1"), "http://127.0.0.1:1");
    assert_eq!(endpoint_of("host/x"), "host");
}
