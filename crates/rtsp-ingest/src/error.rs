//! The crate's error type.

use crate::kind::{ErrorKind, Phase, classify_retina};

/// Errors from connecting to and receiving from an RTSP source.
///
/// No variant's `Display` ever contains a password: URLs are redacted with
/// [`redact_url`](crate::redact_url) before they are stored.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The URL could not be used.
    #[error("invalid url {url}: {reason}")]
    InvalidUrl {
        /// The URL, redacted.
        url: String,
        /// Why it was rejected.
        reason: String,
    },

    /// An RTSP request failed, or the connection broke while playing.
    #[error("rtsp {phase} failed: {message}")]
    Rtsp {
        /// What was being done: `describe`, `setup`, `play` or `receive`.
        phase: Phase,
        /// The RTSP status code, when the server answered with an error.
        status: Option<u16>,
        /// What kind of failure it is, classified from retina's error.
        kind: ErrorKind,
        /// retina's description of the problem, on one line.
        message: String,
    },

    /// The server described no stream this crate can record.
    #[error("no usable {what} stream (server offers: {offered})")]
    NoUsableStream {
        /// The kind of stream that was wanted: `video`, `audio` or `video or audio`.
        what: &'static str,
        /// The streams the server offered, as `media/encoding` pairs.
        offered: String,
    },

    /// A selected stream cannot be described for MP4 (e.g. its sample entry cannot be built).
    #[error("stream {stream} ({encoding}) is not supported: {reason}")]
    UnsupportedCodec {
        /// Index of the stream in the presentation.
        stream: usize,
        /// Its encoding name.
        encoding: String,
        /// What is wrong.
        reason: String,
    },

    /// The server ended the session before the first usable frame arrived.
    #[error("server ended the session before the first {what}")]
    EndedBeforeStart {
        /// What was awaited: `video keyframe` or `audio frame`.
        what: &'static str,
    },
}

impl Error {
    /// What kind of failure this is.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::InvalidUrl { .. } => ErrorKind::InvalidUrl,
            Error::Rtsp { kind, .. } => *kind,
            Error::NoUsableStream { .. } | Error::UnsupportedCodec { .. } => ErrorKind::Unsupported,
            Error::EndedBeforeStart { .. } => ErrorKind::SessionEnded,
        }
    }

    /// Whether trying again later (reconnecting) may succeed: see
    /// [`ErrorKind::is_retryable`].
    ///
    /// Network trouble, server errors (5xx), bad media and an ended session are retryable;
    /// a bad URL, rejected credentials or other client errors (4xx, except 408 Request
    /// Timeout) and unsupported streams are not.
    pub fn is_retryable(&self) -> bool {
        self.kind().is_retryable()
    }

    /// Wraps a retina error, flattening its multi-line description onto one line.
    pub(crate) fn rtsp(phase: Phase, e: &retina::Error) -> Self {
        let description = e.to_string();
        let status = e.status_code();
        Error::Rtsp {
            phase,
            status,
            kind: classify_retina(phase, status, &description),
            message: one_line(&description),
        }
    }
}

/// Joins the non-empty lines of `text` with `"; "`.
pub(crate) fn one_line(text: &str) -> String {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join("; ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rtsp(status: Option<u16>) -> Error {
        Error::Rtsp {
            phase: Phase::Describe,
            status,
            kind: classify_retina(Phase::Describe, status, "Timeout"),
            message: "x".to_owned(),
        }
    }

    #[test]
    fn retryable_classification() {
        assert!(rtsp(None).is_retryable());
        assert!(rtsp(Some(503)).is_retryable());
        assert!(rtsp(Some(408)).is_retryable());
        assert!(!rtsp(Some(401)).is_retryable());
        assert!(!rtsp(Some(404)).is_retryable());
        assert!(
            !Error::NoUsableStream {
                what: "video",
                offered: String::new()
            }
            .is_retryable()
        );
    }

    #[test]
    fn kinds_of_the_crates_own_errors() {
        assert_eq!(rtsp(Some(404)).kind(), ErrorKind::NotFound);
        assert_eq!(rtsp(None).kind(), ErrorKind::Timeout);
        let url = Error::InvalidUrl {
            url: "http://cam/x".to_owned(),
            reason: "scheme".to_owned(),
        };
        assert_eq!(url.kind(), ErrorKind::InvalidUrl);
        assert!(!url.is_retryable());
        let codec = Error::UnsupportedCodec {
            stream: 0,
            encoding: "h264".to_owned(),
            reason: "bad sps".to_owned(),
        };
        assert_eq!(codec.kind(), ErrorKind::Unsupported);
        assert!(!codec.is_retryable());
        let ended = Error::EndedBeforeStart {
            what: "video keyframe",
        };
        assert_eq!(ended.kind(), ErrorKind::SessionEnded);
        assert!(ended.is_retryable());
    }

    #[test]
    fn one_line_joins_lines() {
        assert_eq!(
            one_line("401 response to DESCRIBE CSeq=2: Unauthorized\n\nconn: a->b\nmsg: c"),
            "401 response to DESCRIBE CSeq=2: Unauthorized; conn: a->b; msg: c"
        );
    }

    #[test]
    fn display_is_short_lower_case() {
        assert_eq!(rtsp(Some(401)).to_string(), "rtsp describe failed: x");
    }
}
