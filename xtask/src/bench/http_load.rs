//! `cargo xtask bench http-load`: does serving HTTP slow the recording down?
//!
//! 32 cameras of the GStreamer server's `/h264aac` record with one `recorder run --http`
//! (release build, 10 s files so that finished files reach the catalog during the run)
//! twice: without clients, then with 8 clients downloading exports of recent ranges in a
//! loop and 4 following a camera's newest media (live playlists are not served yet: each
//! polls the VOD playlist of the last minute every second and fetches its newest
//! segment). Over a window of S seconds that starts once the cameras record, it compares
//! the CPU of the recording (the process's CPU less its `http` threads', read from
//! `/proc`) per stream-minute and the video frames each camera wrote
//! (`recorder_camera_frames_total` from `/metrics`); after the run, the video frames in
//! each camera's files (`ffprobe`).

use std::collections::HashMap;
use std::fmt::Write as _;
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail, ensure};

use super::client::{self, TICKS_PER_SECOND, get};
use super::export::free_port;
use super::machine::machine;
use super::measure::{TempDir, build_recorder, count_frames};
use super::{FPS, MOUNT, bench_dir};
use crate::server::RtspServer;
use crate::util::{ChildGuard, tail};

/// Cameras recording.
const CAMERAS: usize = 32;
/// Clients downloading exports.
const EXPORTERS: usize = 8;
/// Clients following a camera's newest segments.
const FOLLOWERS: usize = 4;
/// Seconds from the start to the window's start (connecting, first fragments).
const SETTLE: u64 = 12;

/// Parses `[--seconds S] [--debug]`: the window (default 60 s) and the build.
pub fn parse(args: &[String]) -> Result<(u64, bool)> {
    let (mut seconds, mut release) = (60, true);
    let mut args = args.iter();
    while let Some(flag) = args.next() {
        match flag.as_str() {
            "--debug" => release = false,
            "--seconds" => {
                let value = args.next().context("--seconds wants a value")?;
                seconds = value
                    .parse()
                    .ok()
                    .filter(|&s| s >= 10)
                    .with_context(|| format!("--seconds wants at least 10, got {value:?}"))?;
            }
            other => {
                bail!("usage: cargo xtask bench http-load [--seconds S] [--debug]; got {other:?}")
            }
        }
    }
    Ok((seconds, release))
}

/// One run's figures over the window.
#[derive(Debug, Default)]
struct Run {
    /// Recording CPU (the process less its `http` threads), seconds.
    recording_cpu_s: f64,
    /// The `http` threads' CPU, seconds.
    http_cpu_s: f64,
    /// Video frames each camera wrote in the window.
    frames: Vec<u64>,
    /// Video frames in each camera's files (the whole run).
    file_frames: Vec<u64>,
    /// Export bytes read and exports finished, segments fetched.
    export_bytes: u64,
    exports: u64,
    segments: u64,
}

/// Runs the benchmark (windows of `seconds`), prints the report and writes it to
/// `target/bench/http-load.md`.
pub fn bench_http_load(seconds: u64, release: bool) -> Result<()> {
    let bin = build_recorder(release)?;
    let dir = TempDir::new()?;
    let server = RtspServer::start(2 * (seconds + SETTLE + 60) + 60, &dir.0.join("rtsp.log"))?;
    let mut runs = Vec::new();
    for clients in [false, true] {
        let name = if clients { "clients" } else { "quiet" };
        let url = server.url(&format!("{MOUNT}?bench=http-{name}"));
        let run = run_one(&bin, &dir.0.join(name), &url, seconds, clients)?;
        println!(
            "{name}: recording {:.2} CPU-s, http {:.2} CPU-s, frames {}..{}",
            run.recording_cpu_s,
            run.http_cpu_s,
            run.frames.iter().min().unwrap_or(&0),
            run.frames.iter().max().unwrap_or(&0)
        );
        runs.push(run);
    }
    server.stop();
    let expected = seconds * FPS;
    let run_frames = (seconds + SETTLE + 5) * FPS;
    let per_min = |r: &Run| r.recording_cpu_s / CAMERAS as f64 / (seconds as f64 / 60.0);
    let mut report = format!(
        "## HTTP load benchmark\n\n{}\n\n{CAMERAS} cameras of `{MOUNT}`, one `recorder run --http` \
         ({} build, 10 s files), window of {seconds} s after {SETTLE} s; clients: {EXPORTERS} \
         export downloaders (last 40 s to last 5 s of a camera, in a loop), {FOLLOWERS} \
         followers (VOD playlist of the last minute and its newest segment, every second).\n\n\
         | Run | Recording CPU-s / stream-minute | HTTP threads CPU-s | Video frames / camera in the window (expected {expected}) | Video frames / camera in the files (expected {run_frames}) | Exports (bytes) | Segments |\n\
         |---|---:|---:|---:|---:|---:|---:|\n",
        machine(&bin).replace(
            "(release build)",
            if release {
                "(release build)"
            } else {
                "(debug build)"
            }
        ),
        if release { "release" } else { "debug" },
    );
    for (r, label) in runs.iter().zip(["no clients", "8 exports + 4 followers"]) {
        let _ = writeln!(
            report,
            "| {label} | {:.4} | {:.2} | {}..{} | {}..{} | {} ({}) | {} |",
            per_min(r),
            r.http_cpu_s,
            r.frames.iter().min().unwrap_or(&0),
            r.frames.iter().max().unwrap_or(&0),
            r.file_frames.iter().min().unwrap_or(&0),
            r.file_frames.iter().max().unwrap_or(&0),
            r.exports,
            r.export_bytes,
            r.segments
        );
    }
    let ratio = per_min(&runs[1]) / per_min(&runs[0]);
    let worst = runs[1]
        .file_frames
        .iter()
        .zip(&runs[0].file_frames)
        .map(|(&a, &b)| a.abs_diff(b).max(a.abs_diff(run_frames)))
        .max()
        .unwrap_or(u64::MAX);
    let _ = writeln!(
        report,
        "\nRecording CPU with clients / without: {ratio:.3}x (goal: within 1.10x); largest \
         difference of a camera's frames in its files from the quiet run's or from \
         {run_frames}: {worst} (goal: within one fragment, {FPS} frames). The window's \
         counts come from `/metrics` read at its edges (a fragment's granularity, and the \
         reads' own latency)."
    );
    println!("\n{report}");
    let path = bench_dir()?.join("http-load.md");
    std::fs::write(&path, report).with_context(|| format!("cannot write {}", path.display()))?;
    println!("wrote {}", path.display());
    Ok(())
}

/// One `recorder run --http` of [`CAMERAS`] cameras, with or without clients.
fn run_one(bin: &Path, dir: &Path, url: &str, seconds: u64, clients: bool) -> Result<Run> {
    std::fs::create_dir_all(dir)?;
    let mut config = format!(
        "[defaults]\noutput = \"{}/{{name}}/rec.mp4\"\nsegment_duration = \"10s\"\n",
        dir.display()
    );
    for i in 0..CAMERAS {
        let _ = write!(config, "\n[[camera]]\nname = \"cam{i}\"\nurl = \"{url}\"\n");
    }
    let config_path = dir.join("cameras.toml");
    std::fs::write(&config_path, config)?;
    let addr: SocketAddr = format!("127.0.0.1:{}", free_port()?).parse()?;
    let log = dir.join("recorder.log");
    let child = Command::new(bin)
        .args(["run", "--config"])
        .arg(&config_path)
        .args(["--http", &addr.to_string()])
        .args(["--duration", &format!("{}s", seconds + SETTLE + 5)])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log)?)
        .spawn()
        .context("cannot start recorder run")?;
    let mut child = ChildGuard::new(child);
    let pid = child.id();
    let started = Instant::now();
    std::thread::sleep(Duration::from_secs(SETTLE));
    if child.try_wait()?.is_some() {
        bail!("recorder run exited early:\n{}", tail(&log, 20));
    }
    let stop = AtomicBool::new(false);
    let export_bytes = AtomicU64::new(0);
    let exports = AtomicU64::new(0);
    let segments = AtomicU64::new(0);
    let http_seen: std::sync::Mutex<HashMap<u32, u64>> = Default::default();
    let mut run = Run::default();
    std::thread::scope(|s| -> Result<()> {
        let record_http = || {
            let mut seen = http_seen.lock().unwrap_or_else(|e| e.into_inner());
            for (tid, name, ticks) in client::thread_ticks(pid) {
                if name.starts_with("http") {
                    let t = seen.entry(tid).or_default();
                    *t = (*t).max(ticks);
                }
            }
        };
        record_http();
        let http_before: HashMap<u32, u64> =
            http_seen.lock().map(|m| m.clone()).unwrap_or_default();
        let total_before = client::process_ticks(pid)?;
        let frames_before = frames(addr)?;
        if clients {
            for c in 0..EXPORTERS {
                let (stop, export_bytes, exports) = (&stop, &export_bytes, &exports);
                s.spawn(move || {
                    while !stop.load(Ordering::Relaxed) {
                        let now = jiff::Timestamp::now();
                        let path = format!(
                            "/api/cameras/cam{}/export.mp4?start={}&end={}",
                            (c * 4) % CAMERAS,
                            now - jiff::SignedDuration::from_secs(40),
                            now - jiff::SignedDuration::from_secs(5)
                        );
                        match get(addr, &path, None) {
                            Ok(f) if f.status == 200 => {
                                export_bytes.fetch_add(f.body_bytes, Ordering::Relaxed);
                                exports.fetch_add(1, Ordering::Relaxed);
                            }
                            _ => std::thread::sleep(Duration::from_millis(500)),
                        }
                    }
                });
            }
            for c in 0..FOLLOWERS {
                let (stop, segments) = (&stop, &segments);
                s.spawn(move || {
                    let camera = format!("cam{}", 1 + c * 8);
                    while !stop.load(Ordering::Relaxed) {
                        let tick = Instant::now();
                        if follow(addr, &camera).is_ok_and(|ok| ok) {
                            segments.fetch_add(1, Ordering::Relaxed);
                        }
                        std::thread::sleep(Duration::from_secs(1).saturating_sub(tick.elapsed()));
                    }
                });
            }
        }
        while started.elapsed() < Duration::from_secs(SETTLE + seconds) {
            record_http();
            std::thread::sleep(Duration::from_millis(250));
        }
        record_http();
        let total_after = client::process_ticks(pid)?;
        let frames_after = frames(addr)?;
        stop.store(true, Ordering::Relaxed);
        let seen = http_seen.lock().unwrap_or_else(|e| e.into_inner());
        let http: u64 = seen
            .iter()
            .map(|(tid, t)| t - http_before.get(tid).copied().unwrap_or(0))
            .sum();
        let total = total_after - total_before;
        run.http_cpu_s = http as f64 / TICKS_PER_SECOND;
        run.recording_cpu_s = total.saturating_sub(http) as f64 / TICKS_PER_SECOND;
        run.frames = (0..CAMERAS)
            .map(|i| {
                let name = format!("cam{i}");
                frames_after.get(&name).copied().unwrap_or(0)
                    - frames_before.get(&name).copied().unwrap_or(0)
            })
            .collect();
        Ok(())
    })?;
    run.export_bytes = export_bytes.load(Ordering::Relaxed);
    run.exports = exports.load(Ordering::Relaxed);
    run.segments = segments.load(Ordering::Relaxed);
    let status = child.wait_timeout(Duration::from_secs(60))?;
    ensure!(
        status.is_some_and(|s| s.success()),
        "recorder run failed ({status:?}):\n{}",
        tail(&log, 20)
    );
    run.file_frames = (0..CAMERAS)
        .map(|i| count_frames(&dir.join(format!("cam{i}"))))
        .collect::<Result<_>>()?;
    Ok(run)
}

/// Fetches the newest segment of `camera`'s last minute; false when there is none yet.
fn follow(addr: SocketAddr, camera: &str) -> Result<bool> {
    let now = jiff::Timestamp::now();
    let playlist = get(
        addr,
        &format!(
            "/api/cameras/{camera}/vod.m3u8?start={}&end={now}",
            now - jiff::SignedDuration::from_secs(60)
        ),
        None,
    )?;
    if playlist.status != 200 {
        return Ok(false);
    }
    let text = String::from_utf8_lossy(&playlist.body_start);
    let Some(uri) = text
        .lines()
        .rev()
        .find(|l| !l.is_empty() && !l.starts_with('#'))
    else {
        return Ok(false);
    };
    let segment = get(addr, &format!("/api/cameras/{camera}/{uri}"), None)?;
    Ok(segment.status == 200)
}

/// Each camera's video frames written (`recorder_camera_frames_total{kind="video"}`).
fn frames(addr: SocketAddr) -> Result<HashMap<String, u64>> {
    let f = get(addr, "/metrics", None)?;
    ensure!(f.status == 200, "/metrics: status {}", f.status);
    let text = String::from_utf8_lossy(&f.body_start);
    let mut out = HashMap::new();
    for line in text.lines() {
        let Some(rest) = line.strip_prefix("recorder_camera_frames_total{") else {
            continue;
        };
        if !rest.contains("kind=\"video\"") {
            continue;
        }
        let camera = rest
            .split("camera=\"")
            .nth(1)
            .and_then(|r| r.split('"').next())
            .context("frames without a camera label")?;
        let value: f64 = line
            .rsplit(' ')
            .next()
            .and_then(|v| v.parse().ok())
            .with_context(|| format!("bad metrics line {line:?}"))?;
        out.insert(camera.to_owned(), value as u64);
    }
    ensure!(
        !out.is_empty(),
        "no recorder_camera_frames_total in /metrics"
    );
    Ok(out)
}
