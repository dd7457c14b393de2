//! A tiny HTTP/1.1 file server on 127.0.0.1 for pages under test: `GET` and `HEAD` of the
//! files in one directory, with single `Range: bytes=` requests (Chromium's `<video>`
//! reads media by ranges). One thread per connection, one request per connection.

use std::io::{BufRead, BufReader, Read, Seek, SeekFrom, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use anyhow::{Context, Result};

/// Serves the files of a directory until dropped.
pub struct FileServer {
    port: u16,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl FileServer {
    /// Serves `root` (files directly in it, by name) on `127.0.0.1:0`.
    pub fn start(root: &Path) -> Result<Self> {
        let listener =
            TcpListener::bind(("127.0.0.1", 0)).context("cannot bind the page server")?;
        let port = listener.local_addr()?.port();
        let stop = Arc::new(AtomicBool::new(false));
        let (root, flag) = (root.to_path_buf(), Arc::clone(&stop));
        let thread = std::thread::spawn(move || {
            for conn in listener.incoming() {
                if flag.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(conn) = conn else { continue };
                let root = root.clone();
                std::thread::spawn(move || {
                    // A client that goes away mid-response is no error of ours.
                    let _ = handle(conn, &root);
                });
            }
        });
        Ok(Self {
            port,
            stop,
            thread: Some(thread),
        })
    }

    /// `http://127.0.0.1:{port}/{name}`.
    pub fn url(&self, name: &str) -> String {
        format!("http://127.0.0.1:{}/{name}", self.port)
    }
}

impl Drop for FileServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wake the accept loop so that it sees the flag.
        let _ = TcpStream::connect(("127.0.0.1", self.port));
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// A parsed `Range: bytes=...` header against a file of `size` bytes: the inclusive
/// `(first, last)` byte, or `None` when it cannot be satisfied (416).
pub(super) fn parse_range(header: &str, size: u64) -> Option<(u64, u64)> {
    let spec = header.trim().strip_prefix("bytes=")?;
    let (first, last) = spec.split_once('-')?;
    let (first, last) = (first.trim(), last.trim());
    let (first, last) = if first.is_empty() {
        // The last N bytes.
        let n: u64 = last.parse().ok()?;
        (size.checked_sub(n.min(size))?, size.checked_sub(1)?)
    } else {
        let first: u64 = first.parse().ok()?;
        let last = if last.is_empty() {
            size.checked_sub(1)?
        } else {
            last.parse::<u64>().ok()?.min(size.checked_sub(1)?)
        };
        (first, last)
    };
    (first <= last && last < size).then_some((first, last))
}

fn content_type(path: &Path) -> &'static str {
    match path.extension().and_then(|e| e.to_str()) {
        Some("html") => "text/html; charset=utf-8",
        Some("js") => "text/javascript",
        Some("mp4") => "video/mp4",
        Some("json") => "application/json",
        _ => "application/octet-stream",
    }
}

fn handle(conn: TcpStream, root: &Path) -> Result<()> {
    conn.set_read_timeout(Some(Duration::from_secs(30)))?;
    let mut reader = BufReader::new(conn.try_clone()?);
    let mut request = String::new();
    reader.read_line(&mut request)?;
    let mut range = None;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 || line == "\r\n" {
            break;
        }
        if let Some((name, value)) = line.split_once(':')
            && name.eq_ignore_ascii_case("range")
        {
            range = Some(value.trim().to_string());
        }
    }
    let mut out = conn;
    let mut parts = request.split_whitespace();
    let (method, target) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    let name = target
        .split('?')
        .next()
        .unwrap_or("")
        .trim_start_matches('/');
    let path: PathBuf = root.join(name);
    let plain = !name.is_empty() && !name.contains(['/', '\\']) && !name.starts_with('.');
    if !matches!(method, "GET" | "HEAD") {
        return respond(&mut out, "405 Method Not Allowed", "text/plain", b"");
    }
    if !plain || !path.is_file() {
        return respond(&mut out, "404 Not Found", "text/plain", b"not found\n");
    }
    let mut file = std::fs::File::open(&path)?;
    let size = file.metadata()?.len();
    let (status, first, last) = match range.as_deref() {
        None => ("200 OK", 0, size.saturating_sub(1)),
        Some(header) => match parse_range(header, size) {
            Some((first, last)) => ("206 Partial Content", first, last),
            None => {
                let head = format!(
                    "HTTP/1.1 416 Range Not Satisfiable\r\nContent-Range: bytes */{size}\r\n\
                     Content-Length: 0\r\nConnection: close\r\n\r\n"
                );
                return Ok(out.write_all(head.as_bytes())?);
            }
        },
    };
    let len = if size == 0 { 0 } else { last - first + 1 };
    let mut head = format!(
        "HTTP/1.1 {status}\r\nContent-Type: {}\r\nContent-Length: {len}\r\n\
         Accept-Ranges: bytes\r\nCache-Control: no-store\r\nConnection: close\r\n",
        content_type(&path)
    );
    if status.starts_with("206") {
        head.push_str(&format!("Content-Range: bytes {first}-{last}/{size}\r\n"));
    }
    head.push_str("\r\n");
    out.write_all(head.as_bytes())?;
    if method == "GET" {
        file.seek(SeekFrom::Start(first))?;
        std::io::copy(&mut file.take(len), &mut out)?;
    }
    Ok(())
}

fn respond(out: &mut TcpStream, status: &str, kind: &str, body: &[u8]) -> Result<()> {
    let head = format!(
        "HTTP/1.1 {status}\r\nContent-Type: {kind}\r\nContent-Length: {}\r\n\
         Connection: close\r\n\r\n",
        body.len()
    );
    out.write_all(head.as_bytes())?;
    out.write_all(body)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_ranges() {
        assert_eq!(parse_range("bytes=0-99", 1000), Some((0, 99)));
        assert_eq!(parse_range("bytes=900-", 1000), Some((900, 999)));
        assert_eq!(parse_range("bytes=-100", 1000), Some((900, 999)));
        assert_eq!(parse_range("bytes=990-2000", 1000), Some((990, 999)));
        assert_eq!(parse_range("bytes=-2000", 1000), Some((0, 999)));
        assert_eq!(parse_range("bytes=1000-", 1000), None);
        assert_eq!(parse_range("bytes=5-4", 1000), None);
        assert_eq!(parse_range("items=0-1", 1000), None);
        assert_eq!(parse_range("bytes=0-", 0), None);
    }

    #[test]
    fn serves_whole_files_and_ranges() {
        let dir = std::env::temp_dir().join(format!("xtask-serve-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let data: Vec<u8> = (0..=255u8).cycle().take(5000).collect();
        std::fs::write(dir.join("a.mp4"), &data).unwrap();
        let server = FileServer::start(&dir).unwrap();
        let get = |target: &str, range: Option<&str>| -> (String, Vec<u8>) {
            let mut conn = TcpStream::connect(("127.0.0.1", server.port)).unwrap();
            let range = range.map_or(String::new(), |r| format!("Range: {r}\r\n"));
            write!(conn, "GET {target} HTTP/1.1\r\nHost: x\r\n{range}\r\n").unwrap();
            let mut all = Vec::new();
            conn.read_to_end(&mut all).unwrap();
            let split = all.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
            let head = String::from_utf8(all[..split].to_vec()).unwrap();
            (head, all[split + 4..].to_vec())
        };
        let (head, body) = get("/a.mp4", None);
        assert!(head.starts_with("HTTP/1.1 200"), "{head}");
        assert_eq!(body, data);
        let (head, body) = get("/a.mp4", Some("bytes=1000-1999"));
        assert!(head.starts_with("HTTP/1.1 206"), "{head}");
        assert!(
            head.contains("Content-Range: bytes 1000-1999/5000"),
            "{head}"
        );
        assert_eq!(body, &data[1000..2000]);
        let (head, _) = get("/a.mp4", Some("bytes=6000-"));
        assert!(head.starts_with("HTTP/1.1 416"), "{head}");
        let (head, _) = get("/../etc/passwd", None);
        assert!(head.starts_with("HTTP/1.1 404"), "{head}");
        drop(server);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
