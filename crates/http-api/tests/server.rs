//! The server in process on 127.0.0.1:0, with a catalog in a temporary directory, asked
//! over plain TCP (so that any byte of a request can be chosen).

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use catalog::{Catalog, EndReason, FileRecord, VideoTrack, WallTime};
use http_api::{Api, CameraLive, CatalogLag, Config, FreeSpace, Metrics, Recorder, Server, User};

struct Fake;

impl Recorder for Fake {
    fn cameras(&self) -> Vec<CameraLive> {
        vec![
            CameraLive {
                name: "front".to_owned(),
                state: "recording",
                video_fps: 25.0,
                video_frames: 250,
                bytes: 1_000_000,
                reconnects: 2,
                packets_lost: 3,
                last_error: Some("connection refused".to_owned()),
                ..CameraLive::default()
            },
            CameraLive {
                name: "back".to_owned(),
                state: "connecting",
                ..CameraLive::default()
            },
        ]
    }

    fn free_space(&self) -> Vec<FreeSpace> {
        vec![FreeSpace {
            path: "/srv/rec".to_owned(),
            total_bytes: 1000,
            available_bytes: 400,
        }]
    }

    fn catalog_lag(&self) -> CatalogLag {
        CatalogLag {
            pending_files: 1,
            oldest: Some(Duration::from_millis(1500)),
        }
    }
}

const S: i64 = 1_000_000_000;
/// 2026-11-30T08:00:00Z.
const T0: i64 = 1_796_025_600 * S;

fn record(start_s: i64, end_s: i64) -> FileRecord {
    FileRecord {
        camera: "front".to_owned(),
        path: format!("/srv/rec/front/{start_s}.mp4").into(),
        start: WallTime(T0 + start_s * S),
        end: WallTime(T0 + end_s * S),
        media_duration_ms: u64::try_from((end_s - start_s) * 1000).unwrap(),
        size_bytes: 1000,
        video: Some(VideoTrack {
            codec: "avc1.64001F".to_owned(),
            width: 640,
            height: 360,
            samples: u64::try_from((end_s - start_s) * 25).unwrap(),
        }),
        audio: None,
        end_reason: EndReason::Continued,
    }
}

/// A catalog with two spans of `front`: 0..20 s (two files) and 30..40 s.
fn make_catalog(dir: &Path) -> std::path::PathBuf {
    let path = dir.join("catalog.db");
    let mut c = Catalog::open(&path).unwrap();
    c.upsert_many(&[record(0, 10), record(10, 20), record(30, 40)])
        .unwrap();
    path
}

fn start(config: Config, catalog: &Path) -> (Server, Arc<Metrics>) {
    let recorder: Arc<dyn Recorder> = Arc::new(Fake);
    let metrics = Metrics::new(Arc::clone(&recorder));
    let server = Server::start(Api {
        config: Config {
            listen: "127.0.0.1:0".parse().unwrap(),
            ..config
        },
        cameras: vec!["front".to_owned(), "back".to_owned()],
        catalog: catalog.to_owned(),
        recorder,
        metrics: Arc::clone(&metrics),
    })
    .unwrap();
    (server, metrics)
}

#[derive(Debug)]
struct Response {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Response {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&self.body)))
    }

    fn text(&self) -> String {
        String::from_utf8(self.body.clone()).unwrap()
    }
}

/// Sends `GET path` with `headers` (lines without CRLF) and reads the whole response.
fn get(addr: SocketAddr, path: &str, headers: &[&str]) -> Response {
    let mut head = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    for h in headers {
        head.push_str(h);
        head.push_str("\r\n");
    }
    head.push_str("\r\n");
    exchange(addr, head.as_bytes())
}

fn exchange(addr: SocketAddr, request: &[u8]) -> Response {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(60)))
        .unwrap();
    stream.write_all(request).unwrap();
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).unwrap();
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or_else(|| panic!("no head in {:?}", String::from_utf8_lossy(&raw)));
    let head = String::from_utf8(raw[..split].to_vec()).unwrap();
    let mut lines = head.split("\r\n");
    let status: u16 = lines
        .next()
        .unwrap()
        .split(' ')
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    let headers: Vec<(String, String)> = lines
        .map(|l| {
            let (n, v) = l.split_once(':').unwrap();
            (n.trim().to_owned(), v.trim().to_owned())
        })
        .collect();
    let mut body = raw[split + 4..].to_vec();
    let chunked = headers
        .iter()
        .any(|(n, v)| n.eq_ignore_ascii_case("transfer-encoding") && v.contains("chunked"));
    if chunked {
        body = dechunk(&body);
    }
    Response {
        status,
        headers,
        body,
    }
}

fn dechunk(mut data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let eol = data.windows(2).position(|w| w == b"\r\n").unwrap();
        let size =
            usize::from_str_radix(std::str::from_utf8(&data[..eol]).unwrap().trim(), 16).unwrap();
        if size == 0 {
            return out;
        }
        out.extend_from_slice(&data[eol + 2..eol + 2 + size]);
        data = &data[eol + 4 + size..];
    }
}

fn basic(name: &str, password: &str) -> String {
    let token = base64::engine::general_purpose::STANDARD.encode(format!("{name}:{password}"));
    format!("Authorization: Basic {token}")
}

#[test]
fn a_non_loopback_address_without_users_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let recorder: Arc<dyn Recorder> = Arc::new(Fake);
    let err = Server::start(Api {
        config: Config {
            listen: "0.0.0.0:0".parse().unwrap(),
            ..Config::default()
        },
        cameras: vec!["front".to_owned()],
        catalog: dir.path().join("catalog.db"),
        metrics: Metrics::new(Arc::clone(&recorder)),
        recorder,
    })
    .unwrap_err();
    assert!(matches!(err, http_api::Error::Config(_)), "{err:?}");
    let text = err.to_string();
    assert!(
        text.contains("0.0.0.0:0") && text.contains("[http] users"),
        "{text}"
    );
    assert!(!text.contains('\n'));
}

#[test]
fn with_users_every_route_needs_the_right_credentials() {
    let dir = tempfile::tempdir().unwrap();
    let catalog = make_catalog(dir.path());
    let config = Config {
        users: vec![User {
            name: "ana".to_owned(),
            password_hash: http_api::auth::hash_password("right horse").unwrap(),
        }],
        ..Config::default()
    };
    let (server, _) = start(config, &catalog);
    let addr = server.local_addr();
    for path in [
        "/api/cameras",
        "/api/cameras/front/recordings",
        "/metrics",
        "/nothing",
    ] {
        let r = get(addr, path, &[]);
        assert_eq!(r.status, 401, "{path}");
        assert_eq!(
            r.header("www-authenticate"),
            Some("Basic realm=\"recorder\", charset=\"UTF-8\"")
        );
        assert_eq!(r.json()["error"], "authentication required");
        let wrong = get(addr, path, &[&basic("ana", "wrong horse")]);
        assert_eq!(wrong.status, 401, "{path}");
        let unknown = get(addr, path, &[&basic("bob", "right horse")]);
        assert_eq!(unknown.status, 401, "{path}");
    }
    let ok = get(addr, "/api/cameras", &[&basic("ana", "right horse")]);
    assert_eq!(ok.status, 200);
    assert_eq!(ok.json()["cameras"][0]["name"], "front");
    let ok = get(addr, "/metrics", &[&basic("ana", "right horse")]);
    assert_eq!(ok.status, 200);
    server.stop();
}

#[test]
fn cameras_show_live_figures_and_recorded_range() {
    let dir = tempfile::tempdir().unwrap();
    let catalog = make_catalog(dir.path());
    let (server, _) = start(Config::default(), &catalog);
    let r = get(server.local_addr(), "/api/cameras", &[]);
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-type"), Some("application/json"));
    let v = r.json();
    let front = &v["cameras"][0];
    assert_eq!(front["state"], "recording");
    assert_eq!(front["video_fps"], 25.0);
    assert_eq!(front["reconnects"], 2);
    assert_eq!(front["last_error"], "connection refused");
    assert_eq!(front["first_recorded"], "2026-11-30T08:00:00Z");
    assert_eq!(front["last_recorded"], "2026-11-30T08:00:40Z");
    let back = &v["cameras"][1];
    assert_eq!(back["name"], "back");
    assert_eq!(back["first_recorded"], serde_json::Value::Null);
}

#[test]
fn recordings_are_listed_as_recorder_list_prints_them() {
    let dir = tempfile::tempdir().unwrap();
    let catalog = make_catalog(dir.path());
    let (server, _) = start(Config::default(), &catalog);
    let addr = server.local_addr();
    let r = get(
        addr,
        "/api/cameras/front/recordings?start=2026-11-30T08:00:05Z&end=2026-11-30T08:01:00Z&files=1",
        &[],
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let c = Catalog::open(&catalog).unwrap();
    let expected = catalog::listing::CameraListing::query(
        &c,
        "front",
        Some(WallTime(T0 + 5 * S)),
        Some(WallTime(T0 + 60 * S)),
    )
    .unwrap();
    assert_eq!(
        r.json(),
        serde_json::to_value(expected.to_json(true)).unwrap()
    );
    let v = r.json();
    assert_eq!(v["spans"].as_array().unwrap().len(), 2);
    assert_eq!(v["gaps"][0]["start"], "2026-11-30T08:00:20Z");
    assert_eq!(v["gaps"][0]["duration_s"], 10.0);
    assert_eq!(v["files"].as_array().unwrap().len(), 3);
    let without = get(addr, "/api/cameras/front/recordings", &[]).json();
    assert!(without.get("files").is_none());
    assert_eq!(without["spans"][0]["files"], 2);
    let bad = get(addr, "/api/cameras/front/recordings?start=yesterday", &[]);
    assert_eq!(bad.status, 400);
    assert!(
        bad.json()["error"].as_str().unwrap().contains("RFC 3339"),
        "{}",
        bad.text()
    );
    let backwards = get(
        addr,
        "/api/cameras/front/recordings?start=2026-11-30T09:00:00Z&end=2026-11-30T08:00:00Z",
        &[],
    );
    assert_eq!(backwards.status, 400);
}

#[test]
fn unknown_cameras_and_traversals_are_404_without_touching_the_disk() {
    let dir = tempfile::tempdir().unwrap();
    // No catalog: a handler that reached it would answer 503.
    let catalog = dir.path().join("catalog.db");
    let (server, _) = start(Config::default(), &catalog);
    let addr = server.local_addr();
    for path in [
        "/api/cameras/side/recordings",
        "/api/cameras/..%2F..%2Fetc/recordings",
        "/api/cameras/..%2f..%2fetc%2fpasswd/recordings",
        "/api/cameras/%2e%2e/recordings",
        "/api/cameras/../../etc/recordings",
        "/api/cameras/front%00/recordings",
        "/api/cameras/front/../../../etc/passwd",
        "/../../etc/passwd",
    ] {
        let r = get(addr, path, &[]);
        assert_eq!(r.status, 404, "{path}: {}", r.text());
        assert!(r.json()["error"].is_string(), "{path}");
    }
    assert!(!catalog.exists());
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
}

#[test]
fn no_cors_and_bounded_heads() {
    let dir = tempfile::tempdir().unwrap();
    let catalog = make_catalog(dir.path());
    let (server, _) = start(Config::default(), &catalog);
    let addr = server.local_addr();
    let r = get(addr, "/api/cameras", &["Origin: https://evil.example"]);
    assert_eq!(r.status, 200);
    assert!(
        r.headers
            .iter()
            .all(|(n, _)| !n.to_ascii_lowercase().starts_with("access-control-")),
        "{:?}",
        r.headers
    );
    let preflight = exchange(
        addr,
        b"OPTIONS /api/cameras HTTP/1.1\r\nHost: x\r\nOrigin: https://evil.example\r\n\
          Access-Control-Request-Method: GET\r\nConnection: close\r\n\r\n",
    );
    assert_ne!(preflight.status / 100, 2);
    assert!(preflight.header("access-control-allow-origin").is_none());
    // A head over the limit is refused before any route sees it.
    let big = format!("X-Filler: {}", "a".repeat(http_api::MAX_HEADER_BYTES));
    let r = get(addr, "/api/cameras", &[&big]);
    assert_eq!(r.status, 431);
    // A body over the limit.
    let body = "x".repeat(http_api::MAX_BODY_BYTES + 1);
    let request = format!(
        "POST /api/cameras HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let r = exchange(addr, request.as_bytes());
    assert!(matches!(r.status, 405 | 413), "{}", r.status);
}

/// Checks the OpenMetrics text line by line: comments of known kinds, samples
/// `name{labels} value` with a number, `# EOF` last. Returns the samples.
fn parse_metrics(text: &str) -> Vec<(String, f64)> {
    let mut samples = Vec::new();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.last(), Some(&"# EOF"));
    for line in &lines[..lines.len() - 1] {
        if let Some(comment) = line.strip_prefix("# ") {
            let kind = comment.split(' ').next().unwrap();
            assert!(["HELP", "TYPE", "UNIT"].contains(&kind), "{line}");
            continue;
        }
        let (series, value) = line.rsplit_once(' ').unwrap_or_else(|| panic!("{line}"));
        let value: f64 = value.parse().unwrap_or_else(|_| panic!("value of {line}"));
        let name_end = series.find('{').unwrap_or(series.len());
        let name = &series[..name_end];
        assert!(
            !name.is_empty()
                && name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':'),
            "{line}"
        );
        if name_end < series.len() {
            assert!(series.ends_with('}'), "{line}");
        }
        samples.push((series.to_owned(), value));
    }
    samples
}

#[test]
fn metrics_are_openmetrics_text_with_the_recorders_figures() {
    let dir = tempfile::tempdir().unwrap();
    let catalog = make_catalog(dir.path());
    let (server, metrics) = start(Config::default(), &catalog);
    let addr = server.local_addr();
    for _ in 0..3 {
        metrics
            .files_finished
            .get_or_create(&Metrics::camera("front"))
            .inc();
    }
    metrics
        .files_failed
        .get_or_create(&Metrics::camera("front"))
        .inc();
    metrics
        .fragment_write
        .get_or_create(&Metrics::camera("front"))
        .observe(0.002);
    metrics.retention_deletions.inc_by(2);
    metrics.retention_freed_bytes.inc_by(2000);
    assert_eq!(get(addr, "/api/cameras", &[]).status, 200);
    assert_eq!(get(addr, "/api/cameras/side/recordings", &[]).status, 404);
    let r = get(addr, "/metrics", &[]);
    assert_eq!(r.status, 200);
    assert!(
        r.header("content-type")
            .unwrap()
            .starts_with("application/openmetrics-text")
    );
    let samples = parse_metrics(&r.text());
    let value = |series: &str| {
        samples
            .iter()
            .find(|(s, _)| s == series)
            .unwrap_or_else(|| panic!("no {series} in\n{}", r.text()))
            .1
    };
    assert_eq!(
        value("recorder_files_finished_total{camera=\"front\"}"),
        3.0
    );
    assert_eq!(value("recorder_files_failed_total{camera=\"front\"}"), 1.0);
    assert_eq!(
        value("recorder_fragment_write_seconds_count{camera=\"front\"}"),
        1.0
    );
    assert_eq!(value("recorder_retention_deletions_total"), 2.0);
    assert_eq!(value("recorder_retention_freed_bytes_total"), 2000.0);
    assert_eq!(
        value("recorder_camera_state{camera=\"front\",state=\"recording\"}"),
        1.0
    );
    assert_eq!(
        value("recorder_camera_state{camera=\"back\",state=\"recording\"}"),
        0.0
    );
    assert_eq!(
        value("recorder_camera_frames_total{camera=\"front\",kind=\"video\"}"),
        250.0
    );
    assert_eq!(value("recorder_camera_bytes_total{camera=\"front\"}"), 1e6);
    assert_eq!(
        value("recorder_camera_reconnects_total{camera=\"front\"}"),
        2.0
    );
    assert_eq!(
        value("recorder_camera_packets_lost_total{camera=\"front\"}"),
        3.0
    );
    assert_eq!(
        value("recorder_filesystem_available_bytes{path=\"/srv/rec\"}"),
        400.0
    );
    assert_eq!(value("recorder_catalog_pending_files"), 1.0);
    assert_eq!(value("recorder_catalog_lag_seconds"), 1.5);
    assert_eq!(
        value("recorder_http_requests_total{route=\"/api/cameras\",status=\"200\"}"),
        1.0
    );
    assert_eq!(
        value(
            "recorder_http_requests_total{route=\"/api/cameras/{name}/recordings\",status=\"404\"}"
        ),
        1.0
    );
}
