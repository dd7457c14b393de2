//! The live routes and the page, against the server in process with a test recorder
//! whose live edge is fed synthetic inits and fragments.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use http_api::{Api, CameraLive, CatalogLag, Config, FreeSpace, Metrics, Recorder, Server};
use mp4_export::live::{Live, LiveFragment};

/// `front` has a live edge; `back` has none.
struct Edge(Mutex<Live>);

impl Recorder for Edge {
    fn cameras(&self) -> Vec<CameraLive> {
        ["front", "back"]
            .map(|name| CameraLive {
                name: name.to_owned(),
                state: "recording",
                ..CameraLive::default()
            })
            .to_vec()
    }
    fn free_space(&self) -> Vec<FreeSpace> {
        Vec::new()
    }
    fn catalog_lag(&self) -> CatalogLag {
        CatalogLag::default()
    }
    fn with_live(&self, name: &str, f: &mut dyn FnMut(&mut Live)) -> bool {
        if name != "front" {
            return false;
        }
        f(&mut self.0.lock().unwrap());
        true
    }
}

fn now_ns() -> i64 {
    i64::try_from(
        SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap()
            .as_nanos(),
    )
    .unwrap()
}

const FTYP: &[u8] = b"\0\0\0\x10ftypiso6\0\0\0\0";
const FREE: &[u8] = b"\0\0\0\x0cfreeroom";
const MOOV: &[u8] = b"\0\0\0\x0cmoovinit";

/// Fragment `n`: a `prft`, a `moof` and an `mdat` carrying `n`, in three pieces.
fn fragment(n: u8) -> LiveFragment {
    LiveFragment {
        data: vec![
            Bytes::from(vec![0, 0, 0, 9, b'p', b'r', b'f', b't', n]),
            Bytes::from(vec![0, 0, 0, 9, b'm', b'o', b'o', b'f', n]),
            Bytes::from(vec![0, 0, 0, 10, b'm', b'd', b'a', b't', n, n]),
        ],
        duration_ns: 1_000_000_000,
    }
}

fn fragment_bytes(n: u8) -> Vec<u8> {
    fragment(n).data.concat()
}

fn start(edge: &Arc<Edge>) -> Server {
    let recorder: Arc<dyn Recorder> = edge.clone();
    let dir = tempfile::tempdir().unwrap();
    Server::start(Api {
        config: Config {
            listen: "127.0.0.1:0".parse().unwrap(),
            ..Config::default()
        },
        cameras: vec!["front".to_owned(), "back".to_owned()],
        catalog: dir.path().join("catalog.db"),
        metrics: Metrics::new(Arc::clone(&recorder)),
        recorder,
    })
    .unwrap()
}

/// Status, headers (lower-case names) and body of `GET path`.
fn get(addr: SocketAddr, path: &str) -> (u16, Vec<(String, String)>, Vec<u8>) {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(60)))
        .unwrap();
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).unwrap();
    let split = raw.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
    let head = String::from_utf8(raw[..split].to_vec()).unwrap();
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .unwrap()
        .split(' ')
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    let headers = lines
        .map(|l| {
            let (n, v) = l.split_once(':').unwrap();
            (n.trim().to_ascii_lowercase(), v.trim().to_owned())
        })
        .collect();
    (status, headers, raw[split + 4..].to_vec())
}

fn header<'a>(headers: &'a [(String, String)], name: &str) -> &'a str {
    headers
        .iter()
        .find(|(n, _)| n == name)
        .map_or("", |(_, v)| v.as_str())
}

fn media_sequence(playlist: &str) -> u64 {
    playlist
        .lines()
        .find_map(|l| l.strip_prefix("#EXT-X-MEDIA-SEQUENCE:"))
        .unwrap()
        .parse()
        .unwrap()
}

#[test]
fn the_live_playlist_waits_for_a_fragment_grows_and_forgets() {
    let edge = Arc::new(Edge(Mutex::new(Live::new(3))));
    {
        let mut live = edge.0.lock().unwrap();
        live.open(&[FTYP, FREE, MOOV].concat(), 1_700_000_000_000_000_000)
            .unwrap();
        // Nobody watches yet: not kept (its sequence number, 0, is used all the same).
        live.push(fragment(0), now_ns());
        assert!(live.is_empty());
    }
    let server = start(&edge);
    let addr = server.local_addr();

    // The first request finds nothing kept, marks the edge watched, and waits for the
    // fragment pushed once the edge is watched.
    let before = now_ns();
    let first = std::thread::spawn(move || get(addr, "/api/cameras/front/live.m3u8"));
    while !edge.0.lock().unwrap().is_watched(now_ns()) {
        std::thread::yield_now();
    }
    edge.0.lock().unwrap().push(fragment(1), now_ns());
    let (status, headers, body) = first.join().unwrap();
    let after = now_ns();
    let text = String::from_utf8(body).unwrap();
    assert_eq!(status, 200, "{text}");
    assert_eq!(
        header(&headers, "content-type"),
        "application/vnd.apple.mpegurl"
    );
    assert_eq!(media_sequence(&text), 1, "{text}");
    assert!(
        text.contains("#EXT-X-MAP:URI=\"live/init/0.mp4\"\n")
            && text.contains("#EXTINF:1.000,\nlive/seg/1.m4s\n")
            && !text.contains("ENDLIST"),
        "{text}"
    );
    {
        // Watched for a minute from the request.
        let live = edge.0.lock().unwrap();
        let minute = 60_000_000_000;
        assert!(live.is_watched(before + minute));
        assert!(!live.is_watched(after + minute + 1));
    }

    // The init without its reserved room; the segment as handed over, prft included.
    let (status, _, init) = get(addr, "/api/cameras/front/live/init/0.mp4");
    assert_eq!((status, init), (200, [FTYP, MOOV].concat()));
    let (status, headers, seg) = get(addr, "/api/cameras/front/live/seg/1.m4s");
    assert_eq!((status, seg), (200, fragment_bytes(1)));
    assert_eq!(header(&headers, "content-type"), "video/iso.segment");

    // More fragments: the playlist moves on, keeping the last three.
    for n in 2..=5 {
        edge.0.lock().unwrap().push(fragment(n), now_ns());
    }
    let (status, _, body) = get(addr, "/api/cameras/front/live.m3u8");
    let text = String::from_utf8(body).unwrap();
    assert_eq!((status, media_sequence(&text)), (200, 3), "{text}");
    let listed: Vec<&str> = text.lines().filter(|l| !l.starts_with('#')).collect();
    assert_eq!(
        listed,
        ["live/seg/3.m4s", "live/seg/4.m4s", "live/seg/5.m4s"]
    );
    let (status, _, seg) = get(addr, "/api/cameras/front/live/seg/5.m4s");
    assert_eq!((status, seg), (200, fragment_bytes(5)));

    // Gone: 404 with a JSON reason.
    for gone in [
        "seg/1.m4s",
        "seg/6.m4s",
        "init/1.mp4",
        "seg/x.m4s",
        "seg/3.mp4",
    ] {
        let (status, headers, body) = get(addr, &format!("/api/cameras/front/live/{gone}"));
        assert_eq!(status, 404, "{gone}");
        assert_eq!(
            header(&headers, "content-type"),
            "application/json",
            "{gone}"
        );
        let json: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert!(json["error"].is_string(), "{gone}: {json}");
    }
    // A camera without a live edge, and one that is not configured.
    for path in [
        "/api/cameras/back/live.m3u8",
        "/api/cameras/back/live/seg/3.m4s",
        "/api/cameras/side/live.m3u8",
        "/api/cameras/..%2Ffront/live.m3u8",
    ] {
        assert_eq!(get(addr, path).0, 404, "{path}");
    }
    server.stop();
}

#[test]
fn the_page_is_served_with_a_strict_policy() {
    let edge = Arc::new(Edge(Mutex::new(Live::new(3))));
    let server = start(&edge);
    let addr = server.local_addr();
    for (path, content_type, body) in [
        ("/", "text/html; charset=utf-8", http_api::page::INDEX_HTML),
        (
            "/app.js",
            "text/javascript; charset=utf-8",
            http_api::page::APP_JS,
        ),
        (
            "/app.css",
            "text/css; charset=utf-8",
            http_api::page::APP_CSS,
        ),
    ] {
        let (status, headers, got) = get(addr, path);
        assert_eq!(status, 200, "{path}");
        assert_eq!(got, body.as_bytes(), "{path}");
        assert_eq!(header(&headers, "content-type"), content_type, "{path}");
        assert_eq!(header(&headers, "x-content-type-options"), "nosniff");
        let csp = header(&headers, "content-security-policy");
        assert!(
            csp.starts_with("default-src 'self'; media-src 'self' blob:;"),
            "{csp}"
        );
        assert!(!csp.contains("unsafe"), "{csp}");
        assert_eq!(header(&headers, "access-control-allow-origin"), "");
    }
    server.stop();
}
