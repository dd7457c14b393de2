//! `recorder run` with `[http]`, against the scripted RTSP server: `/api/cameras` never
//! shows a camera's password, whatever its errors say, and `/metrics`'s files-finished
//! counter equals the files on disk and in `/api/cameras/{name}/recordings`; `run` raises
//! its soft limit of open files to the hard one.
//!
//! Needs ffmpeg (`apt-get install -y ffmpeg`) for the test clip.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use tests::fake_rtsp::{Auth, FakeRtspServer, Pacing, Script};
use tests::harness::{RUN_TIMEOUT, Scratch, recorder};

/// `GET path`: (status, body).
fn get(addr: SocketAddr, path: &str) -> (u16, String) {
    let mut stream = TcpStream::connect(addr).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut raw = String::new();
    stream.read_to_string(&mut raw).expect("read");
    let (head, body) = raw.split_once("\r\n\r\n").expect("a head");
    let status = head.split(' ').nth(1).unwrap().parse().unwrap();
    assert!(
        !head
            .to_ascii_lowercase()
            .contains("transfer-encoding: chunked"),
        "{head}"
    );
    (status, body.to_owned())
}

/// The value of a sample `series` in OpenMetrics text (0 when absent).
fn sample(text: &str, series: &str) -> f64 {
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
        .unwrap_or(0.0)
}

/// Finished recordings in `dir` (not `.partial`).
fn finished(dir: &Path) -> usize {
    std::fs::read_dir(dir).map_or(0, |d| {
        d.filter_map(Result::ok)
            .filter(|e| e.path().extension().is_some_and(|x| x == "mp4"))
            .count()
    })
}

struct Recorder(Child);

impl Drop for Recorder {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn status_hides_passwords_and_metrics_count_the_files() {
    recorder();
    let script = Script::normal()
        .expect("ffmpeg makes the test clip (apt-get install -y ffmpeg)")
        .with_frames(200)
        .with_pacing(Pacing::RealTime)
        .with_auth(Auth::basic("user", "p@ss"));
    let server = FakeRtspServer::start(script.with_timeout(RUN_TIMEOUT + Duration::from_secs(10)))
        .expect("start fake server");
    let dir = Scratch::new("http", "status");
    // A port that was free a moment ago.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let config = dir.0.join("cameras.toml");
    std::fs::write(
        &config,
        format!(
            "[http]\nlisten = \"{addr}\"\n\n[defaults]\nsegment_duration = \"2s\"\n\
             output = \"{}/rec/{{name}}/%H-%M-%S.mp4\"\n\n\
             [[camera]]\nname = \"front\"\nurl = \"{}\"\n\n\
             [[camera]]\nname = \"side\"\nurl = \"rtsp://user:p%40ss@127.0.0.1:1/x\"\n",
            dir.0.display(),
            server.url_with_credentials("user", "p%40ss"),
        ),
    )
    .unwrap();
    // Started with a soft limit of 256 open files (util-linux's prlimit execs it: same
    // pid): `run` raises it to the hard limit, as an export of a day holds 1441 files.
    let mut child = Command::new("prlimit")
        .arg("--nofile=256:")
        .arg(recorder())
        .args(["run", "--no-status", "--config"])
        .arg(&config)
        .env_remove("RUST_LOG")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start recorder");
    // The server is up once it says so.
    let stderr = child.stderr.take().unwrap();
    let child = Recorder(child);
    let mut lines = BufReader::new(stderr).lines();
    let listening = lines
        .by_ref()
        .map_while(Result::ok)
        .find(|l| l.contains("http: listening on"));
    assert!(listening.is_some(), "the recorder never listened");
    // Drain the rest so the recorder never blocks on a full pipe.
    let drain = std::thread::spawn(move || lines.map_while(Result::ok).collect::<Vec<_>>());
    let limits = std::fs::read_to_string(format!("/proc/{}/limits", child.0.id())).unwrap();
    let open_files: Vec<&str> = limits
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .expect("a limit of open files")
        .split_whitespace()
        .skip(3)
        .take(2)
        .collect();
    assert_eq!(
        open_files[0], open_files[1],
        "soft limit not raised: {limits}"
    );
    assert_ne!(open_files[0], "256", "{limits}");

    let deadline = Instant::now() + Duration::from_secs(40);
    // The very first request, once a file is being written, already has rates (measured
    // since the start).
    let front = dir.0.join("rec/front");
    while std::fs::read_dir(&front).map_or(0, Iterator::count) == 0 {
        assert!(Instant::now() < deadline, "front never started a file");
        std::thread::sleep(Duration::from_millis(100));
    }
    std::thread::sleep(Duration::from_millis(600));
    let (status, body) = get(addr, "/api/cameras");
    assert_eq!(status, 200, "{body}");
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["cameras"][0]["state"], "recording", "{body}");
    assert!(
        v["cameras"][0]["video_fps"].as_f64().unwrap() > 0.0,
        "{body}"
    );
    assert!(
        v["cameras"][0]["bit_rate_bps"].as_f64().unwrap() > 0.0,
        "{body}"
    );
    // The failing camera's error is shown, redacted.
    loop {
        let (status, body) = get(addr, "/api/cameras");
        assert_eq!(status, 200, "{body}");
        for secret in ["p@ss", "p%40ss", "p%2540ss"] {
            assert!(!body.contains(secret), "{secret} in {body}");
        }
        let v: serde_json::Value = serde_json::from_str(&body).unwrap();
        let side = &v["cameras"][1];
        assert_eq!(side["name"], "side");
        if let Some(error) = side["last_error"].as_str() {
            assert!(error.contains("rtsp://user:***@127.0.0.1:1/x"), "{error}");
            break;
        }
        assert!(Instant::now() < deadline, "no error shown: {body}");
        std::thread::sleep(Duration::from_millis(200));
    }
    // Files finished, as counted, on disk and in the catalog agree once they settle.
    loop {
        let (_, before) = get(addr, "/metrics");
        let on_disk = finished(&front);
        let (_, listing) = get(addr, "/api/cameras/front/recordings?files=1");
        let (_, after) = get(addr, "/metrics");
        let series = "recorder_files_finished_total{camera=\"front\"}";
        let (a, b) = (sample(&before, series), sample(&after, series));
        let listed = serde_json::from_str::<serde_json::Value>(&listing).unwrap()["files"]
            .as_array()
            .map_or(0, Vec::len);
        if a >= 2.0 && a == b && a as usize == on_disk && listed == on_disk {
            assert!(after.ends_with("# EOF\n"));
            assert_eq!(
                sample(&after, "recorder_files_failed_total{camera=\"front\"}"),
                0.0
            );
            let writes = sample(
                &after,
                "recorder_fragment_write_seconds_count{camera=\"front\"}",
            );
            assert!(writes >= a, "{writes} fragment writes for {a} files");
            assert!(
                after.contains(
                    "recorder_http_requests_total{route=\"/api/cameras\",status=\"200\"}"
                ),
                "{after}"
            );
            break;
        }
        assert!(
            Instant::now() < deadline,
            "counted {a}/{b}, {on_disk} on disk, {listed} listed"
        );
        std::thread::sleep(Duration::from_millis(300));
    }
    drop(child);
    let _ = drain.join();
}
