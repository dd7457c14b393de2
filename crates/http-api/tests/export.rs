//! `export.mp4` in process: two recorded files made with `mp4-track`, a catalog in a
//! temporary directory, and requests over plain TCP.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

mod support;

use support::{request, setup, start};

const RANGE: &str =
    "/api/cameras/front/export.mp4?start=2026-11-30T08:00:00.5Z&end=2026-11-30T08:00:03.5Z";

#[test]
fn ranges_heads_and_conditions_give_the_bytes_of_the_whole_body() {
    let dir = tempfile::tempdir().unwrap();
    let catalog = setup(dir.path(), 1000, 2);
    let server = start(&catalog, 4);
    let addr = server.local_addr();
    let full = request(addr, "GET", RANGE, &[]);
    assert_eq!(full.status, 200, "{}", String::from_utf8_lossy(&full.body));
    let len = full.body.len();
    assert_eq!(full.header("content-length"), Some(len.to_string()));
    assert_eq!(full.header("accept-ranges").as_deref(), Some("bytes"));
    assert_eq!(full.header("content-type").as_deref(), Some("video/mp4"));
    assert_eq!(&full.body[4..8], b"ftyp");
    // Media of both files: at least the 3 s of samples the range needs after the
    // keyframe at 0 s (3.5 s of 1000-byte samples, less the tail after 3.5 s).
    assert!(len > 100 * 1000, "{len}");
    assert_eq!(
        full.header("content-disposition").as_deref(),
        Some("attachment; filename=\"front_2026-11-30T08_00_00.5Z_2026-11-30T08_00_03.5Z.mp4\"")
    );
    let etag = full.header("etag").unwrap();
    assert!(etag.starts_with('"') && etag.len() == 34, "{etag}");

    let head = request(addr, "HEAD", RANGE, &[]);
    assert_eq!(head.status, 200);
    assert_eq!(head.header("content-length"), Some(len.to_string()));
    assert!(head.body.is_empty());

    for (range, a, b) in [
        ("bytes=0-99".to_owned(), 0, 100),
        (format!("bytes={}-", len - 10), len - 10, len),
        ("bytes=-4096".to_owned(), len - 4096, len),
        (format!("bytes=1000-{}", len + 5), 1000, len),
    ] {
        let r = request(addr, "GET", RANGE, &[format!("Range: {range}")]);
        assert_eq!(r.status, 206, "{range}");
        assert_eq!(r.body, full.body[a..b], "{range}");
        assert_eq!(
            r.header("content-range"),
            Some(format!("bytes {a}-{}/{len}", b - 1))
        );
    }
    let past = request(addr, "GET", RANGE, &[format!("Range: bytes={len}-")]);
    assert_eq!(past.status, 416);
    assert_eq!(past.header("content-range"), Some(format!("bytes */{len}")));

    let same = request(addr, "GET", RANGE, &[format!("If-None-Match: {etag}")]);
    assert_eq!(same.status, 304);
    assert!(same.body.is_empty());
    assert_eq!(same.header("etag"), Some(etag.clone()));
    let other = request(addr, "GET", RANGE, &["If-None-Match: \"0\"".to_owned()]);
    assert_eq!(other.status, 200);
    // If-Range: the range only while the entity is the same.
    let r = request(
        addr,
        "GET",
        RANGE,
        &["Range: bytes=0-9".to_owned(), format!("If-Range: {etag}")],
    );
    assert_eq!((r.status, r.body.len()), (206, 10));
    let r = request(
        addr,
        "GET",
        RANGE,
        &["Range: bytes=0-9".to_owned(), "If-Range: \"0\"".to_owned()],
    );
    assert_eq!((r.status, r.body.len()), (200, len));
    // Another range, another entity.
    let shorter = request(
        addr,
        "GET",
        "/api/cameras/front/export.mp4?start=2026-11-30T08:00:00.5Z&end=2026-11-30T08:00:01.5Z",
        &[],
    );
    assert_eq!(shorter.status, 200);
    assert_ne!(shorter.header("etag"), Some(etag));
    assert!(shorter.body.len() < len);
}

#[test]
fn no_media_bad_times_and_unknown_cameras() {
    let dir = tempfile::tempdir().unwrap();
    let catalog = setup(dir.path(), 100, 2);
    let server = start(&catalog, 4);
    let addr = server.local_addr();
    let none = request(
        addr,
        "GET",
        "/api/cameras/front/export.mp4?start=2026-11-30T09:00:00Z&end=2026-11-30T10:00:00Z",
        &[],
    );
    assert_eq!(none.status, 404);
    assert!(String::from_utf8_lossy(&none.body).contains("no recorded media"));
    let bad = request(
        addr,
        "GET",
        "/api/cameras/front/export.mp4?start=x&end=y",
        &[],
    );
    assert_eq!(bad.status, 400);
    let missing = request(addr, "GET", "/api/cameras/front/export.mp4", &[]);
    assert_eq!(missing.status, 400);
    let unknown = request(
        addr,
        "GET",
        "/api/cameras/..%2Ffront/export.mp4?start=2026-11-30T08:00:00Z&end=2026-11-30T08:00:01Z",
        &[],
    );
    assert_eq!(unknown.status, 404);
}

#[test]
fn exports_beyond_the_cap_get_503() {
    let dir = tempfile::tempdir().unwrap();
    // 2 x 60 samples of 150 kB: far more than the socket buffers and the chunk queue.
    let catalog = setup(dir.path(), 150_000, 2);
    let server = start(&catalog, 1);
    let addr = server.local_addr();
    // A client that asks and does not read holds its export.
    let mut slow = TcpStream::connect(addr).unwrap();
    write!(slow, "GET {RANGE} HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    let mut first = [0u8; 12];
    slow.read_exact(&mut first).unwrap();
    assert_eq!(&first, b"HTTP/1.1 200");
    let r = request(addr, "GET", RANGE, &[]);
    assert_eq!(r.status, 503);
    let reason = String::from_utf8(r.body).unwrap();
    assert!(
        reason.contains("too many exports at once (at most 1)"),
        "{reason}"
    );
    drop(slow);
    // Once the slow client is gone, its export ends and the next one is served.
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let r = request(addr, "HEAD", RANGE, &[]);
        if r.status == 200 {
            break;
        }
        assert_eq!(r.status, 503);
        assert!(
            std::time::Instant::now() < deadline,
            "the permit was never released"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn the_vod_playlist_and_its_segments() {
    let dir = tempfile::tempdir().unwrap();
    let catalog = setup(dir.path(), 500, 2);
    let server = start(&catalog, 4);
    let addr = server.local_addr();
    let q = "start=2026-11-30T08:00:00Z&end=2026-11-30T08:00:04Z";
    let r = request(
        addr,
        "GET",
        &format!("/api/cameras/front/vod.m3u8?{q}"),
        &[],
    );
    assert_eq!(r.status, 200);
    assert_eq!(
        r.header("content-type").as_deref(),
        Some("application/vnd.apple.mpegurl")
    );
    let text = String::from_utf8(r.body).unwrap();
    assert!(text.starts_with("#EXTM3U\n"), "{text}");
    assert!(text.contains("#EXT-X-VERSION:7"), "{text}");
    assert!(text.contains("#EXT-X-PLAYLIST-TYPE:VOD"), "{text}");
    assert!(text.trim_end().ends_with("#EXT-X-ENDLIST"), "{text}");
    assert!(
        text.contains(&format!("#EXT-X-MAP:URI=\"vod/init/0.mp4?{q}\"")),
        "{text}"
    );
    let segments: Vec<&str> = text.lines().filter(|l| l.starts_with("vod/seg/")).collect();
    // Two 2 s files, never cut across: at least one segment each.
    assert!(segments.len() >= 2, "{text}");
    let init = request(
        addr,
        "GET",
        &format!("/api/cameras/front/vod/init/0.mp4?{q}"),
        &[],
    );
    assert_eq!(init.status, 200);
    assert_eq!(&init.body[4..8], b"ftyp");
    let mut media = 0;
    for s in &segments {
        let r = request(addr, "GET", &format!("/api/cameras/front/{s}"), &[]);
        assert_eq!(r.status, 200, "{s}");
        assert_eq!(r.header("content-length"), Some(r.body.len().to_string()));
        assert!(r.body.windows(4).any(|w| w == b"moof"), "{s}");
        media += r.body.len();
    }
    // Every sample of both files (120 x 500 bytes) is in some segment.
    assert!(media >= 120 * 500, "{media}");
    let past = request(
        addr,
        "GET",
        &format!("/api/cameras/front/vod/seg/{}.m4s?{q}", segments.len()),
        &[],
    );
    assert_eq!(past.status, 404);
    let other = request(addr, "GET", &format!("/api/cameras/side/vod.m3u8?{q}"), &[]);
    assert_eq!(other.status, 404);
}

/// Renames the `moov` box of `path` (same size) and puts its modification time back:
/// the file's identity is unchanged, its movie unreadable.
fn hide_moov(path: &std::path::Path) {
    let modified = std::fs::metadata(path).unwrap().modified().unwrap();
    let mut bytes = std::fs::read(path).unwrap();
    let at = bytes.windows(4).position(|w| w == b"moov").unwrap();
    bytes[at + 3] = b'x';
    std::fs::write(path, bytes).unwrap();
    let f = std::fs::File::options().write(true).open(path).unwrap();
    f.set_modified(modified).unwrap();
}

#[test]
fn an_export_is_kept_while_its_files_are_unchanged() {
    let dir = tempfile::tempdir().unwrap();
    let catalog = setup(dir.path(), 1000, 2);
    let server = start(&catalog, 4);
    let addr = server.local_addr();
    let first = request(addr, "GET", RANGE, &[]);
    assert_eq!(first.status, 200);
    // The file's movie can no longer be read, but its identity (path, size, mtime) is
    // the same: the kept export serves a range, same ETag, same bytes.
    hide_moov(&dir.path().join("1.mp4"));
    let part = request(addr, "GET", RANGE, &["Range: bytes=100-199".to_owned()]);
    assert_eq!(part.status, 206, "{}", String::from_utf8_lossy(&part.body));
    assert_eq!(part.header("etag"), first.header("etag"));
    assert_eq!(part.body, first.body[100..200]);
    // Another modification time: the export is built again, from the broken file.
    let f = std::fs::File::options()
        .write(true)
        .open(dir.path().join("1.mp4"))
        .unwrap();
    f.set_modified(std::time::SystemTime::now() + Duration::from_secs(1))
        .unwrap();
    let again = request(addr, "GET", RANGE, &[]);
    assert_eq!(again.status, 500);
    assert!(
        String::from_utf8_lossy(&again.body).contains("a recording cannot be read"),
        "{}",
        String::from_utf8_lossy(&again.body)
    );
}
