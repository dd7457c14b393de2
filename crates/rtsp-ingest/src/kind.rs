//! What kind of failure an [`Error`](crate::Error) is, classified here, where retina is
//! known, so that callers can pick a reaction (reconnect or not, an exit code) without
//! reading messages.
//!
//! retina's errors are opaque apart from the RTSP status code: the other failures are told
//! apart by the start of their description (retina's variants' `Display` prefixes, e.g.
//! `Unable to connect to RTSP server: ...`) and by the phase of the exchange they happened
//! in. That knowledge stays in [`classify_retina`] and its tests.

/// The step of the RTSP exchange an [`Error::Rtsp`](crate::Error::Rtsp) happened in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Phase {
    /// Connecting and `DESCRIBE`.
    Describe,
    /// `SETUP` of a stream.
    Setup,
    /// `PLAY`.
    Play,
    /// Receiving media after `PLAY`.
    Receive,
    /// `TEARDOWN`.
    Teardown,
}

impl std::fmt::Display for Phase {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Phase::Describe => "describe",
            Phase::Setup => "setup",
            Phase::Play => "play",
            Phase::Receive => "receive",
            Phase::Teardown => "teardown",
        })
    }
}

/// The kind of an ingest failure, from [`Error::kind`](crate::Error::kind).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The URL cannot be used (not `rtsp://`, no host, unparseable).
    InvalidUrl,
    /// The server cannot be reached: a name that does not resolve, no route, another
    /// failure to connect.
    Unreachable,
    /// The server refused the TCP connection.
    Refused,
    /// The server did not answer in time.
    Timeout,
    /// The connection broke: reading or writing failed, the server closed it, UDP packets
    /// could not be received.
    ConnectionLost,
    /// The server ended the session before the first usable frame.
    SessionEnded,
    /// The server rejected the credentials (RTSP 401, 403 or 407).
    Auth,
    /// The server has no such stream (RTSP 404).
    NotFound,
    /// The server rejected a request with another client error (4xx, e.g. 461
    /// Unsupported Transport), which asking again will not change.
    Rejected,
    /// The server answered with an error that may pass: 5xx, 408 Request Timeout, or a
    /// status that is not an error class of its own (3xx redirects are not followed).
    ServerError,
    /// The server does not speak RTSP as expected: unparseable or unexpected messages,
    /// data on an unknown channel, a feature retina does not support.
    Protocol,
    /// Nothing that can be recorded: no usable stream, or a codec whose sample entry
    /// cannot be built.
    Unsupported,
    /// Bad media: undecodable RTP payloads, packets out of order over TCP, a timestamp
    /// jump. (Lost packets are not an error: see [`LossPolicy`](crate::LossPolicy).)
    Media,
    /// A bug or broken invariant in retina or this crate.
    Internal,
}

impl ErrorKind {
    /// Whether trying again later (reconnecting) may succeed: network trouble, server
    /// errors, protocol and media trouble and an ended session may pass; a bad URL,
    /// rejected credentials, other client errors and unsupported streams do not.
    pub fn is_retryable(self) -> bool {
        match self {
            Self::InvalidUrl | Self::Auth | Self::NotFound | Self::Rejected | Self::Unsupported => {
                false
            }
            Self::Unreachable
            | Self::Refused
            | Self::Timeout
            | Self::ConnectionLost
            | Self::SessionEnded
            | Self::ServerError
            | Self::Protocol
            | Self::Media
            | Self::Internal => true,
        }
    }
}

/// Classifies a retina error from its RTSP status code (when the server answered with
/// one), its description (`Display`, first line first) and the phase it happened in.
pub(crate) fn classify_retina(phase: Phase, status: Option<u16>, description: &str) -> ErrorKind {
    if let Some(status) = status {
        return match status {
            401 | 403 | 407 => ErrorKind::Auth,
            404 => ErrorKind::NotFound,
            408 => ErrorKind::ServerError,
            400..=499 => ErrorKind::Rejected,
            _ => ErrorKind::ServerError,
        };
    }
    // retina's `ErrorInt` variants, by their `Display` prefix.
    if let Some(cause) = description.strip_prefix("Unable to connect to RTSP server:") {
        // The `std::io::Error` of `connect`, as its `Display` words it.
        let first_line = cause.lines().next().unwrap_or_default();
        return if first_line.contains("Connection refused") {
            ErrorKind::Refused
        } else if first_line.contains("timed out") {
            ErrorKind::Timeout
        } else {
            ErrorKind::Unreachable
        };
    }
    const LOST: &[&str] = &[
        "Error reading from RTSP peer",
        "Error writing to RTSP peer",
        "Error receiving UDP packet",
    ];
    const PROTOCOL: &[&str] = &[
        "RTSP framing error",
        "Received interleaved data on unassigned channel",
        "Unsupported",
    ];
    if LOST.iter().any(|p| description.starts_with(p)) {
        ErrorKind::ConnectionLost
    } else if description.starts_with("Timeout") {
        ErrorKind::Timeout
    } else if PROTOCOL.iter().any(|p| description.starts_with(p)) {
        ErrorKind::Protocol
    } else if description.starts_with("Internal error") {
        ErrorKind::Internal
    } else if phase == Phase::Receive {
        // Packet and depacketization errors (`PacketError`, `RtpPacketError`), whose
        // descriptions are free text.
        ErrorKind::Media
    } else {
        // Invalid arguments and failed preconditions while setting up: the server's
        // answers did not fit.
        ErrorKind::Protocol
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_codes() {
        let kind = |status| classify_retina(Phase::Describe, Some(status), "x");
        assert_eq!(kind(401), ErrorKind::Auth);
        assert_eq!(kind(403), ErrorKind::Auth);
        assert_eq!(kind(407), ErrorKind::Auth);
        assert_eq!(kind(404), ErrorKind::NotFound);
        assert_eq!(kind(461), ErrorKind::Rejected);
        assert_eq!(kind(400), ErrorKind::Rejected);
        assert_eq!(kind(408), ErrorKind::ServerError);
        assert_eq!(kind(503), ErrorKind::ServerError);
        assert_eq!(kind(301), ErrorKind::ServerError);
    }

    /// Descriptions as retina words them (seen in the bad-input tests).
    #[test]
    fn retina_descriptions() {
        let cases = [
            (
                Phase::Describe,
                "Unable to connect to RTSP server: Connection refused (os error 111)",
                ErrorKind::Refused,
            ),
            (
                Phase::Describe,
                "Unable to connect to RTSP server: Connection timed out (os error 110)",
                ErrorKind::Timeout,
            ),
            (
                Phase::Describe,
                "Unable to connect to RTSP server: failed to lookup address information: \
                 Name or service not known",
                ErrorKind::Unreachable,
            ),
            (
                Phase::Describe,
                "Unable to connect to RTSP server: No route to host (os error 113)",
                ErrorKind::Unreachable,
            ),
            (
                Phase::Setup,
                "Error reading from RTSP peer: EOF while expecting response to SETUP CSeq 2\n\n\
                 conn: a->b\nmsg: 412@t",
                ErrorKind::ConnectionLost,
            ),
            (
                Phase::Receive,
                "Error reading from RTSP peer: Connection reset by peer (os error 104)",
                ErrorKind::ConnectionLost,
            ),
            (
                Phase::Teardown,
                "Error writing to RTSP peer: Broken pipe (os error 32)",
                ErrorKind::ConnectionLost,
            ),
            (
                Phase::Receive,
                "Error receiving UDP packet: Connection refused (os error 111)",
                ErrorKind::ConnectionLost,
            ),
            (Phase::Play, "Timeout", ErrorKind::Timeout),
            (
                Phase::Describe,
                "RTSP framing error: Invalid RTSP message: byte 0: request-line > method",
                ErrorKind::Protocol,
            ),
            (
                Phase::Receive,
                "Received interleaved data on unassigned channel 5: \n[00 01]",
                ErrorKind::Protocol,
            ),
            (Phase::Setup, "Unsupported: multicast", ErrorKind::Protocol),
            (
                Phase::Receive,
                "bad nal header 7f\n\nconn: a->b\nstream: TCP\nssrc: 5eed0001\nseq: 1\npkt: 2",
                ErrorKind::Media,
            ),
            (Phase::Receive, "FU-A len 1 too short", ErrorKind::Media),
            (
                Phase::Setup,
                "Failed precondition: no session id",
                ErrorKind::Protocol,
            ),
            (Phase::Describe, "Internal error: oops", ErrorKind::Internal),
        ];
        for (phase, description, want) in cases {
            assert_eq!(
                classify_retina(phase, None, description),
                want,
                "{description}"
            );
        }
    }

    #[test]
    fn retryable_kinds() {
        let not = [
            ErrorKind::InvalidUrl,
            ErrorKind::Auth,
            ErrorKind::NotFound,
            ErrorKind::Rejected,
            ErrorKind::Unsupported,
        ];
        for kind in not {
            assert!(!kind.is_retryable(), "{kind:?}");
        }
        let yes = [
            ErrorKind::Unreachable,
            ErrorKind::Refused,
            ErrorKind::Timeout,
            ErrorKind::ConnectionLost,
            ErrorKind::SessionEnded,
            ErrorKind::ServerError,
            ErrorKind::Protocol,
            ErrorKind::Media,
            ErrorKind::Internal,
        ];
        for kind in yes {
            assert!(kind.is_retryable(), "{kind:?}");
        }
    }
}
