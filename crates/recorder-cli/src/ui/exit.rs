//! Exit codes and the one-line error message.
//!
//! [`classify`] is a pure function over an error chain: it looks for the typed errors
//! the recorder and its libraries raise ([`rtsp_ingest::Error`], by its
//! [`kind`](rtsp_ingest::Error::kind), [`WriteError`], [`std::io::Error`]) and maps the
//! first it finds, from the outermost context inwards, to an [`ExitCause`]. (A second signal while finishing exits at once with 130, without
//! an error value.) [`one_line`] renders the chain on one
//! line without retina's connection/packet context and hex dumps (logged at debug level
//! instead).

use crate::output::error::{EDQUOT, ENOSPC, WriteError};
use crate::session::recording::Disconnected;

/// Linux `EIO`.
const EIO: i32 = 5;
/// Linux `EROFS`: read-only file system.
const EROFS: i32 = 30;
/// Linux `EFBIG`: file too large.
const EFBIG: i32 = 27;

/// Why the process ends, one exit code each.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExitCause {
    /// Everything went well.
    Ok,
    /// An internal or otherwise unclassified error.
    Other,
    /// Bad command-line arguments or URL (clap's own errors use this code too).
    Usage,
    /// The server cannot be reached: bad host, connection refused, timeout, connection
    /// lost, the session ended.
    Unreachable,
    /// Authentication failed (RTSP 401 or 403).
    Auth,
    /// The server or its stream cannot be used: 404 and other RTSP errors, no usable
    /// stream, an unsupported codec, garbage or protocol errors.
    Unusable,
    /// Bad media: bad RTP payloads, packets out of order over TCP.
    Media,
    /// The output cannot be written: disk full, I/O error, unwritable directory.
    Output,
}

impl ExitCause {
    /// The process exit code.
    pub fn code(self) -> u8 {
        match self {
            Self::Ok => 0,
            Self::Other => 1,
            Self::Usage => 2,
            Self::Unreachable => 3,
            Self::Auth => 4,
            Self::Unusable => 5,
            Self::Media => 6,
            Self::Output => 7,
        }
    }
}

/// The exit codes, for `--help` and the README.
pub const EXIT_CODES_HELP: &str = "\
Exit codes:
  0    success: the files are complete
  1    internal or other error
  2    usage error (bad arguments or URL)
  3    cannot reach the server (bad host, connection refused, timeout, connection lost)
  4    authentication failed (RTSP 401/403)
  5    the server or stream is unusable (404 or another RTSP error, no usable stream,
       unsupported codec, garbage or protocol error)
  6    media error (bad RTP payloads, packets out of order over TCP)
  7    output error (disk full, I/O error, unwritable output directory)
  130  interrupted twice (a second SIGINT/SIGTERM while finishing)
Errors are printed as one line starting with `error:`.";

/// A usage error found after the command line was parsed (a bad configuration file):
/// exit code 2, like clap's own.
#[derive(Debug)]
pub struct Usage(pub String);

impl std::fmt::Display for Usage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Usage {}

/// The exit cause of an error: the first error in the chain (outermost first) that says
/// something about the cause; [`ExitCause::Other`] when none does.
pub fn classify(err: &anyhow::Error) -> ExitCause {
    err.chain().find_map(cause_of).unwrap_or(ExitCause::Other)
}

/// What one error in a chain says about the cause, if anything.
fn cause_of(e: &(dyn std::error::Error + 'static)) -> Option<ExitCause> {
    if let Some(e) = e.downcast_ref::<rtsp_ingest::Error>() {
        return Some(rtsp_cause(e));
    }
    if e.is::<Usage>() {
        return Some(ExitCause::Usage);
    }
    if e.is::<Disconnected>() {
        return Some(ExitCause::Unreachable);
    }
    if e.is::<WriteError>() {
        return Some(ExitCause::Output);
    }
    if let Some(e) = e.downcast_ref::<std::io::Error>() {
        return match e.raw_os_error() {
            Some(ENOSPC | EDQUOT | EIO | EROFS | EFBIG) => Some(ExitCause::Output),
            _ => None,
        };
    }
    None
}

/// The exit cause of an ingest error, from its kind.
fn rtsp_cause(e: &rtsp_ingest::Error) -> ExitCause {
    kind_cause(e.kind())
}

/// The exit cause of each kind of ingest failure (see the README's table).
fn kind_cause(kind: rtsp_ingest::ErrorKind) -> ExitCause {
    use rtsp_ingest::ErrorKind;
    match kind {
        ErrorKind::InvalidUrl => ExitCause::Usage,
        ErrorKind::Unreachable
        | ErrorKind::Refused
        | ErrorKind::Timeout
        | ErrorKind::ConnectionLost
        | ErrorKind::SessionEnded => ExitCause::Unreachable,
        ErrorKind::Auth => ExitCause::Auth,
        ErrorKind::NotFound
        | ErrorKind::Rejected
        | ErrorKind::ServerError
        | ErrorKind::Protocol
        | ErrorKind::Unsupported => ExitCause::Unusable,
        ErrorKind::Media => ExitCause::Media,
        ErrorKind::Internal => ExitCause::Other,
        // Kinds added later: a transient failure is the server's or network's.
        other if other.is_retryable() => ExitCause::Unreachable,
        _ => ExitCause::Unusable,
    }
}

/// The error chain on one line (`outer: inner: ...`), without retina's context lines
/// (`conn:`, `msg:`, `stream:`, `ssrc:`, `seq:`, `pkt:`, `at:`, `data:`) and hex dumps,
/// which make it unreadable; log the full chain at debug level.
pub fn one_line(err: &anyhow::Error) -> String {
    let full = format!("{err:#}");
    let mut parts: Vec<&str> = Vec::new();
    let mut dropping_dump = false;
    for part in full.split(['\n', ';']).map(str::trim) {
        if part.is_empty() {
            continue;
        }
        const CONTEXT: &[&str] = &[
            "conn:", "msg:", "stream:", "ssrc:", "seq:", "pkt:", "at:", "data:",
        ];
        if CONTEXT.iter().any(|c| part.starts_with(c)) {
            continue;
        }
        // retina's hex dumps: `buffered:`, `Length: N (0xN) bytes`, then `0000:   00 ff ..`.
        if part.starts_with("buffered:") || part.starts_with("Length:") {
            dropping_dump = true;
            continue;
        }
        if dropping_dump && is_hex_row(part) {
            continue;
        }
        dropping_dump = false;
        parts.push(part);
    }
    parts.join("; ")
}

/// `0010:   47 0d 0a ...`: a hex dump row.
fn is_hex_row(s: &str) -> bool {
    s.split_once(':').is_some_and(|(offset, _)| {
        offset.len() >= 4 && offset.bytes().all(|b| b.is_ascii_hexdigit())
    })
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use anyhow::Context;
    use rtsp_ingest::{Error, ErrorKind, Phase};

    use super::*;
    use crate::output::error::{WriteAction, WriteErrorKind};

    fn rtsp(phase: Phase, kind: ErrorKind, message: &str) -> anyhow::Error {
        anyhow::Error::from(Error::Rtsp {
            phase,
            status: None,
            kind,
            message: message.to_owned(),
        })
        .context("cannot record rtsp://user:***@cam/x")
    }

    fn code(e: &anyhow::Error) -> u8 {
        classify(e).code()
    }

    /// Each kind of ingest failure has the exit code of the README's table.
    #[test]
    fn rtsp_kinds() {
        let cases = [
            (ErrorKind::InvalidUrl, 2),
            (ErrorKind::Unreachable, 3),
            (ErrorKind::Refused, 3),
            (ErrorKind::Timeout, 3),
            (ErrorKind::ConnectionLost, 3),
            (ErrorKind::SessionEnded, 3),
            (ErrorKind::Auth, 4),
            (ErrorKind::NotFound, 5),
            (ErrorKind::Rejected, 5),
            (ErrorKind::ServerError, 5),
            (ErrorKind::Protocol, 5),
            (ErrorKind::Unsupported, 5),
            (ErrorKind::Media, 6),
            (ErrorKind::Internal, 1),
        ];
        for (kind, want) in cases {
            assert_eq!(code(&rtsp(Phase::Describe, kind, "x")), want, "{kind:?}");
        }
    }

    #[test]
    fn other_ingest_errors() {
        let e = |err: Error| code(&anyhow::Error::from(err).context("receiving failed"));
        assert_eq!(
            e(Error::InvalidUrl {
                url: "rtsp://[x".to_owned(),
                reason: "invalid IPv6 address".to_owned()
            }),
            2
        );
        assert_eq!(
            e(Error::NoUsableStream {
                what: "video",
                offered: "0: video/mp4v-es".to_owned()
            }),
            5
        );
        assert_eq!(
            e(Error::UnsupportedCodec {
                stream: 0,
                encoding: "h264".to_owned(),
                reason: "bad sps".to_owned()
            }),
            5
        );
        assert_eq!(
            e(Error::EndedBeforeStart {
                what: "video keyframe"
            }),
            3
        );
    }

    #[test]
    fn output_errors() {
        let enospc = std::io::Error::from_raw_os_error(ENOSPC);
        let write = WriteError::new(WriteAction::Write, Path::new("/x/y.mp4.partial"), &enospc);
        assert_eq!(write.kind, WriteErrorKind::DiskFull);
        let err = anyhow::Error::from(write).context("recording stopped early");
        assert_eq!(code(&err), 7);
        assert!(WriteError::find(&err).is_some_and(WriteError::is_disk_full));
        // A bare I/O error: by its errno.
        let io = |errno: i32| {
            code(&anyhow::Error::from(std::io::Error::from_raw_os_error(errno)).context("x"))
        };
        assert_eq!(io(ENOSPC), 7);
        assert_eq!(io(EIO), 7);
        assert_eq!(io(EROFS), 7);
        // ENOENT (e.g. a missing password file) says nothing about the output.
        assert_eq!(io(2), 1);
        let denied = std::io::Error::from_raw_os_error(13);
        let probe = WriteError::new(WriteAction::Probe, Path::new("/ro"), &denied);
        assert_eq!(probe.kind, WriteErrorKind::Unwritable);
        assert_eq!(code(&probe.into()), 7);
    }

    #[test]
    fn unclassified_errors_are_other() {
        assert_eq!(code(&anyhow::anyhow!("something else")), 1);
        let none: anyhow::Result<()> = Err(anyhow::anyhow!("x"));
        assert_eq!(code(&none.context("y").unwrap_err()), 1);
        // The outermost cause wins.
        let err = rtsp(Phase::Receive, ErrorKind::Media, "bad nal header 7f").context("x");
        assert_eq!(code(&err), 6);
    }

    #[test]
    fn one_line_drops_retina_context_and_hex_dumps() {
        let garbage = rtsp(
            Phase::Describe,
            ErrorKind::Protocol,
            "RTSP framing error: Invalid RTSP message: byte 0: request-line > method; \
             buffered:; Length: 39 (0x27) bytes; \
             0000:   00 ff 13 37  20 67 61 72  62 61 67 65  20 89 50 4e   ...7 garbage .PN; \
             0010:   47 0d 0a 1a  0a 20 6e 6f  74 20 61 6e  20 61 6e 73   G.... not an ans; \
             conn: 127.0.0.1:48746(me)->127.0.0.1:38791@2026-11-24T21:18:08Z; msg: 0@t",
        );
        assert_eq!(
            one_line(&garbage),
            "cannot record rtsp://user:***@cam/x: rtsp describe failed: RTSP framing error: \
             Invalid RTSP message: byte 0: request-line > method"
        );
        let nal = rtsp(
            Phase::Receive,
            ErrorKind::Media,
            "bad nal header 7f; conn: a(me)->b@t; stream: TCP, interleaved channel ids 0-1; \
             ssrc: 5eed0001; seq: 65304; pkt: 8873@t",
        );
        assert_eq!(
            one_line(&nal),
            "cannot record rtsp://user:***@cam/x: rtsp receive failed: bad nal header 7f"
        );
        // Multi-line messages are joined.
        let e = anyhow::anyhow!("first\nsecond").context("outer");
        assert_eq!(one_line(&e), "outer: first; second");
    }
}
