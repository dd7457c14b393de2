//! What the in-process HTTP tests share: recorded files made with `mp4-track`, a catalog
//! in a temporary directory, a server, and requests over plain TCP.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::num::NonZeroU32;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use catalog::{Catalog, EndReason, FileRecord, VideoTrack, WallTime};
use http_api::{Api, CameraLive, CatalogLag, Config, FreeSpace, Metrics, Recorder, Server};
use mp4_track::{Mp4Muxer, MuxerOptions, SampleInfo, TrackConfig, TrackKind};

pub struct Idle;

impl Recorder for Idle {
    fn cameras(&self) -> Vec<CameraLive> {
        Vec::new()
    }
    fn free_space(&self) -> Vec<FreeSpace> {
        Vec::new()
    }
    fn catalog_lag(&self) -> CatalogLag {
        CatalogLag::default()
    }
}

pub const S: i64 = 1_000_000_000;
/// 2026-11-30T08:00:00Z.
pub const T0: i64 = 1_796_025_600 * S;

/// A 2 s file of 30 fps video (a keyframe every second), `sample_bytes` per sample.
pub fn recording(path: &Path, sample_bytes: u32) {
    let mut mux = Mp4Muxer::new(MuxerOptions::default());
    let v = mux
        .add_track(TrackConfig {
            kind: TrackKind::Video {
                width: 320,
                height: 240,
            },
            timescale_hz: 90_000,
            sample_entry: Bytes::from_static(b"\0\0\0\x08avc1"),
            default_sample_duration: NonZeroU32::new(3000),
        })
        .unwrap();
    let mut file = mux.start().unwrap().to_vec();
    for i in 0..60u32 {
        let sample = SampleInfo {
            dts: u64::from(i) * 3000,
            cts_offset: 0,
            size: sample_bytes,
            is_sync: i % 30 == 0,
        };
        mux.push(v, sample).unwrap();
        file.resize(file.len() + sample_bytes as usize, i as u8);
    }
    let done = mux.finish().unwrap();
    file.extend_from_slice(&done.tail);
    for p in &done.patches {
        file[p.offset as usize..][..p.bytes.len()].copy_from_slice(&p.bytes);
    }
    std::fs::write(path, file).unwrap();
}

/// `files` touching 2 s files of `front` from T0 (0..2 s, 2..4 s, ...) in `dir`, and the
/// catalog.
pub fn setup(dir: &Path, sample_bytes: u32, files: i64) -> PathBuf {
    let mut c = Catalog::open(dir.join("catalog.db")).unwrap();
    for i in 0..files {
        let path = dir.join(format!("{i}.mp4"));
        recording(&path, sample_bytes);
        c.upsert(&FileRecord {
            camera: "front".to_owned(),
            size_bytes: std::fs::metadata(&path).unwrap().len(),
            path,
            start: WallTime(T0 + 2 * i * S),
            end: WallTime(T0 + 2 * (i + 1) * S),
            media_duration_ms: 2000,
            video: Some(VideoTrack {
                codec: "avc1".to_owned(),
                width: 320,
                height: 240,
                samples: 60,
            }),
            audio: None,
            end_reason: EndReason::Continued,
        })
        .unwrap();
    }
    dir.join("catalog.db")
}

pub fn start(catalog: &Path, max_exports: usize) -> Server {
    let recorder: Arc<dyn Recorder> = Arc::new(Idle);
    Server::start(Api {
        config: Config {
            listen: "127.0.0.1:0".parse().unwrap(),
            max_exports,
            ..Config::default()
        },
        cameras: vec!["front".to_owned()],
        catalog: catalog.to_owned(),
        metrics: Metrics::new(Arc::clone(&recorder)),
        recorder,
    })
    .unwrap()
}

pub struct Response {
    pub status: u16,
    pub head: String,
    pub body: Vec<u8>,
}

impl Response {
    pub fn header(&self, name: &str) -> Option<String> {
        self.head.lines().find_map(|l| {
            let (n, v) = l.split_once(':')?;
            n.eq_ignore_ascii_case(name).then(|| v.trim().to_owned())
        })
    }
}

pub fn request(addr: SocketAddr, method: &str, path: &str, headers: &[String]) -> Response {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(60)))
        .unwrap();
    let mut head = format!("{method} {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n");
    for h in headers {
        head.push_str(h);
        head.push_str("\r\n");
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes()).unwrap();
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).unwrap();
    let split = raw.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
    let head = String::from_utf8(raw[..split].to_vec()).unwrap();
    let status = head.split(' ').nth(1).unwrap().parse().unwrap();
    let body = raw[split + 4..].to_vec();
    let r = Response { status, head, body };
    assert!(
        r.header("transfer-encoding").is_none(),
        "an export has a length: {}",
        r.head
    );
    r
}
