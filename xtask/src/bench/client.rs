//! A minimal HTTP/1.1 client for the HTTP benchmarks: one `GET` per connection
//! (`Connection: close`), timing the first byte and counting the body, and the server
//! process's memory and threads from `/proc`.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

/// The body bytes kept for the caller (the start of the body: a playlist, box headers).
const KEEP: usize = 1 << 20;

/// One response.
#[derive(Debug, Clone)]
pub(super) struct Fetched {
    /// The status code.
    pub(super) status: u16,
    /// From the request's start to the response's first byte.
    pub(super) first_byte: Duration,
    /// From the request's start to the last byte read.
    pub(super) total: Duration,
    /// Body bytes read.
    pub(super) body_bytes: u64,
    /// The `Content-Length` header's value.
    pub(super) content_length: Option<u64>,
    /// The body's first bytes (up to 1 MiB).
    pub(super) body_start: Vec<u8>,
}

/// `GET path` from `addr`, reading the body to its end or until `limit` bytes.
pub(super) fn get(addr: SocketAddr, path: &str, limit: Option<u64>) -> Result<Fetched> {
    let started = Instant::now();
    let mut stream =
        TcpStream::connect(addr).with_context(|| format!("cannot connect to {addr}"))?;
    stream.set_read_timeout(Some(Duration::from_secs(120)))?;
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )?;
    let mut buf = vec![0u8; 256 * 1024];
    let mut head = Vec::new();
    let mut first_byte = None;
    let mut body_bytes = 0u64;
    let mut body_start = Vec::new();
    let mut status = None;
    let mut content_length = None;
    loop {
        let n = stream
            .read(&mut buf)
            .with_context(|| format!("GET {path}: read"))?;
        if n == 0 {
            break;
        }
        first_byte.get_or_insert_with(|| started.elapsed());
        let mut chunk = &buf[..n];
        if status.is_none() {
            head.extend_from_slice(chunk);
            let Some(end) = head.windows(4).position(|w| w == b"\r\n\r\n") else {
                if head.len() > 64 * 1024 {
                    bail!("GET {path}: response head over 64 KiB");
                }
                continue;
            };
            status = Some(parse_status(&head[..end]).with_context(|| format!("GET {path}"))?);
            content_length = String::from_utf8_lossy(&head[..end]).lines().find_map(|l| {
                let (name, value) = l.split_once(':')?;
                name.eq_ignore_ascii_case("content-length")
                    .then(|| value.trim().parse().ok())?
            });
            let rest = head.split_off(end + 4);
            chunk = &[];
            body_bytes += rest.len() as u64;
            body_start.extend_from_slice(&rest[..rest.len().min(KEEP)]);
        }
        body_bytes += chunk.len() as u64;
        let room = KEEP.saturating_sub(body_start.len());
        body_start.extend_from_slice(&chunk[..chunk.len().min(room)]);
        if limit.is_some_and(|l| body_bytes >= l) {
            break;
        }
    }
    let status = status.with_context(|| format!("GET {path}: no response head"))?;
    Ok(Fetched {
        status,
        first_byte: first_byte.unwrap_or_default(),
        total: started.elapsed(),
        body_bytes,
        content_length,
        body_start,
    })
}

/// The code of `HTTP/1.1 200 OK`.
fn parse_status(head: &[u8]) -> Result<u16> {
    let text = String::from_utf8_lossy(head);
    let line = text.lines().next().unwrap_or_default();
    line.split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .with_context(|| format!("bad status line {line:?}"))
}

/// The size of the second top-level box of an MP4 (the `moov` after `ftyp`).
pub(super) fn moov_size(body: &[u8]) -> Option<u64> {
    let ftyp = u32::from_be_bytes(body.get(0..4)?.try_into().ok()?) as usize;
    let head = body.get(ftyp..ftyp + 16)?;
    if &head[4..8] != b"moov" {
        return None;
    }
    match u32::from_be_bytes(head[0..4].try_into().ok()?) {
        1 => Some(u64::from_be_bytes(head[8..16].try_into().ok()?)),
        n => Some(u64::from(n)),
    }
}

/// A `/proc/PID/status` field in KiB (`VmRSS`, `VmHWM`).
pub(super) fn status_kib(pid: u32, field: &str) -> Result<u64> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .with_context(|| format!("cannot read /proc/{pid}/status"))?;
    text.lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .with_context(|| format!("no {field} in /proc/{pid}/status"))
}

/// Resets the process's peak RSS (`VmHWM`) to its current RSS.
pub(super) fn reset_peak(pid: u32) -> Result<()> {
    std::fs::write(format!("/proc/{pid}/clear_refs"), "5")
        .with_context(|| format!("cannot reset the peak RSS of {pid}"))
}

/// User + system CPU ticks of a `/proc/.../stat` line (fields 14 and 15), and its name.
fn stat_ticks(text: &str) -> Option<(String, u64)> {
    let open = text.find('(')?;
    let close = text.rfind(')')?;
    let name = text[open + 1..close].to_owned();
    let fields: Vec<&str> = text[close + 2..].split_whitespace().collect();
    // After the name: state is field 3, utime 14, stime 15.
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some((name, utime + stime))
}

/// The process's CPU ticks (all its threads, the exited ones included).
pub(super) fn process_ticks(pid: u32) -> Result<u64> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .with_context(|| format!("cannot read /proc/{pid}/stat"))?;
    stat_ticks(&text)
        .map(|(_, t)| t)
        .with_context(|| format!("bad /proc/{pid}/stat"))
}

/// Each live thread's id, name and time on a CPU in nanoseconds (the first field of
/// `/proc/PID/task/TID/schedstat`: the scheduler's exact runtime, where `stat`'s ticks
/// are a tick-sampled split rounded to 10 ms per thread).
pub(super) fn thread_runtimes(pid: u32) -> Vec<(u32, String, u64)> {
    let Ok(dir) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return Vec::new();
    };
    dir.filter_map(|e| {
        let e = e.ok()?;
        let tid: u32 = e.file_name().to_str()?.parse().ok()?;
        let name = std::fs::read_to_string(e.path().join("comm")).ok()?;
        let sched = std::fs::read_to_string(e.path().join("schedstat")).ok()?;
        let ns = sched.split_whitespace().next()?.parse().ok()?;
        Some((tid, name.trim_end().to_owned(), ns))
    })
    .collect()
}

/// Clock ticks per second of `/proc` CPU times.
pub(super) const TICKS_PER_SECOND: f64 = 100.0;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_stat_lines() {
        let line = "42 (http worker) S 1 42 42 0 -1 4194560 100 0 0 0 7 3 0 0 20 0 4 0";
        assert_eq!(stat_ticks(line), Some(("http worker".to_owned(), 10)));
    }

    #[test]
    fn finds_the_moov_size() {
        let mut body = vec![0, 0, 0, 16];
        body.extend_from_slice(b"ftypisom\0\0\0\0");
        body.extend_from_slice(&[0, 0, 0x12, 0x34]);
        body.extend_from_slice(b"moov\0\0\0\0\0\0\0\0");
        assert_eq!(moov_size(&body), Some(0x1234));
        body[20..24].copy_from_slice(b"mdat");
        assert_eq!(moov_size(&body), None);
    }

    #[test]
    fn parses_status_lines() {
        assert_eq!(parse_status(b"HTTP/1.1 206 Partial Content").unwrap(), 206);
        assert!(parse_status(b"garbage").is_err());
    }
}
