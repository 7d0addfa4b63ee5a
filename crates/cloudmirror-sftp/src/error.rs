//! SSH and SFTP failures mapped to the contract's error kinds, in one place.
//!
//! SFTP status codes are those of draft-ietf-secsh-filexfer-02 section 7 (the version OpenSSH
//! speaks, <https://datatracker.ietf.org/doc/html/draft-ietf-secsh-filexfer-02#section-7>):
//! `SSH_FX_NO_SUCH_FILE`, `SSH_FX_PERMISSION_DENIED`, `SSH_FX_FAILURE`, `SSH_FX_NO_CONNECTION`,
//! `SSH_FX_CONNECTION_LOST`, `SSH_FX_OP_UNSUPPORTED`.

use cloudmirror_contract::{Error, ErrorKind};
use russh_sftp::client::error::Error as SftpError;
use russh_sftp::protocol::StatusCode;

/// The backend name in every error.
pub(crate) const BACKEND: &str = "sftp";

/// An error of this backend.
pub(crate) fn error(kind: ErrorKind, message: impl Into<String>) -> Error {
    Error::new(kind, BACKEND, message)
}

/// Maps an SFTP request's failure; `what` names the operation and path.
pub(crate) fn sftp_error(what: &str, err: &SftpError) -> Error {
    let kind = match err {
        SftpError::Status(status) => match status.status_code {
            StatusCode::NoSuchFile => ErrorKind::NotFound,
            StatusCode::PermissionDenied => ErrorKind::Unauthorized,
            StatusCode::NoConnection | StatusCode::ConnectionLost => ErrorKind::Transient,
            StatusCode::OpUnsupported | StatusCode::BadMessage => ErrorKind::InvalidInput,
            StatusCode::Ok | StatusCode::Eof | StatusCode::Failure => ErrorKind::Other,
        },
        // The channel is gone (the connection dropped) or the server stopped answering.
        SftpError::IO(_) | SftpError::Timeout | SftpError::UnexpectedBehavior(_) => {
            ErrorKind::Transient
        }
        SftpError::Limited(_) | SftpError::UnexpectedPacket => ErrorKind::Other,
    };
    let text = match err {
        SftpError::Status(s) if s.error_message.trim().is_empty() => s.status_code.to_string(),
        SftpError::Status(s) => s.error_message.trim().to_owned(),
        SftpError::Timeout => "the server did not answer in time".to_owned(),
        SftpError::UnexpectedBehavior(_) | SftpError::IO(_) => {
            format!("the connection was lost ({err})")
        }
        other => other.to_string(),
    };
    error(kind, format!("{what}: {}", one_line(&text))).with_source(err.clone())
}

/// Whether an SFTP failure is the server's "no such file".
pub(crate) fn is_no_such_file(err: &SftpError) -> bool {
    matches!(err, SftpError::Status(s) if s.status_code == StatusCode::NoSuchFile)
}

/// Whether an SFTP failure is the end of a file or a folder listing.
pub(crate) fn is_eof(err: &SftpError) -> bool {
    matches!(err, SftpError::Status(s) if s.status_code == StatusCode::Eof)
}

/// Maps an SSH-level failure (connecting, key exchange, opening the SFTP channel) towards
/// `endpoint`. A dropped or refused connection is retried; anything else is permanent.
pub(crate) fn ssh_error(endpoint: &str, what: &str, err: russh::Error) -> Error {
    use russh::Error as E;
    match err {
        E::IO(io) => Error::transport(BACKEND, &format!("sftp://{endpoint}"), what, io),
        E::Disconnect
        | E::HUP
        | E::ConnectionTimeout
        | E::KeepaliveTimeout
        | E::InactivityTimeout
        | E::SendError
        | E::RecvError
        | E::ChannelOpenFailure(_)
        | E::Elapsed(_) => error(
            ErrorKind::Transient,
            format!("{what}: sftp://{endpoint}: the connection was lost ({err})"),
        )
        .with_source(err),
        other => error(
            ErrorKind::Other,
            format!(
                "{what}: sftp://{endpoint}: {}",
                one_line(&other.to_string())
            ),
        )
        .with_source(other),
    }
}

fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use russh_sftp::protocol::Status;

    fn status(code: StatusCode) -> SftpError {
        SftpError::Status(Status {
            id: 1,
            status_code: code,
            error_message: "server says\nno".to_owned(),
            language_tag: String::new(),
        })
    }

    #[test]
    fn statuses_map_to_kinds() {
        let kind = |e: SftpError| sftp_error("stat x", &e).kind();
        assert_eq!(kind(status(StatusCode::NoSuchFile)), ErrorKind::NotFound);
        assert_eq!(
            kind(status(StatusCode::PermissionDenied)),
            ErrorKind::Unauthorized
        );
        assert_eq!(
            kind(status(StatusCode::ConnectionLost)),
            ErrorKind::Transient
        );
        assert_eq!(kind(status(StatusCode::Failure)), ErrorKind::Other);
        assert_eq!(kind(SftpError::Timeout), ErrorKind::Transient);
        assert_eq!(
            kind(SftpError::UnexpectedBehavior("SendError".into())),
            ErrorKind::Transient
        );
        let e = sftp_error("stat x", &status(StatusCode::Failure));
        assert_eq!(e.message(), "stat x: server says no");
        assert_eq!(
            ssh_error("h", "connecting", russh::Error::HUP).kind(),
            ErrorKind::Transient
        );
        let refused = std::io::Error::from(std::io::ErrorKind::ConnectionRefused);
        let e = ssh_error("h:2", "connecting", russh::Error::IO(refused));
        assert_eq!(e.kind(), ErrorKind::Transient);
        assert!(e.message().contains("sftp://h:2"), "{e}");
    }
}
