//! `cargo xtask bench http-load`: does serving HTTP slow the recording down?
//!
//! 32 cameras of the GStreamer server's `/h264aac` record with one `recorder run --http`
//! (release build, 10 s files so that finished files reach the catalog during the run)
//! twice: without clients, then with 8 clients downloading exports of recent ranges in a
//! loop and 4 following a camera's live edge as an HLS player does (each polls the camera's
//! `live.m3u8` every second and fetches every segment it has not fetched yet). Over a window of S seconds that starts once the cameras record, it compares
//! the CPU of the recording (its threads' exact runtimes from `/proc/PID/task/*/schedstat`,
//! every thread but the `http` ones, polled every 100 ms so that a thread that ends in the
//! window still counts) per stream-minute and the video frames each camera wrote
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
    /// Recording CPU (every thread but the `http` ones), seconds.
    recording_cpu_s: f64,
    /// The whole process's CPU from `/proc/PID/stat` (tick-sampled), seconds.
    process_cpu_s: f64,
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
            "{name}: recording {:.2} CPU-s, http {:.2} CPU-s, process {:.2} CPU-s, frames {}..{}",
            run.recording_cpu_s,
            run.http_cpu_s,
            run.process_cpu_s,
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
         followers (`live.m3u8` every second, each new segment fetched once). Recording CPU: \
         every thread of the process but the `http` ones (`schedstat` runtimes); the process \
         column is `/proc/PID/stat`'s tick-sampled total, http included.\n\n\
         | Run | Recording CPU-s / stream-minute | HTTP threads CPU-s | Process CPU-s | Video frames / camera in the window (expected {expected}) | Video frames / camera in the files (expected {run_frames}) | Exports (bytes) | Segments |\n\
         |---|---:|---:|---:|---:|---:|---:|---:|\n",
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
            "| {label} | {:.4} | {:.2} | {:.2} | {}..{} | {}..{} | {} ({}) | {} |",
            per_min(r),
            r.http_cpu_s,
            r.process_cpu_s,
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
    // Per thread: name, runtime at the window's start (0 for a thread born in it), last
    // runtime seen.
    let seen: std::sync::Mutex<HashMap<u32, (String, u64, u64)>> = Default::default();
    let mut run = Run::default();
    std::thread::scope(|s| -> Result<()> {
        let poll = |start: bool| {
            let mut seen = seen.lock().unwrap_or_else(|e| e.into_inner());
            for (tid, name, ns) in client::thread_runtimes(pid) {
                let t = seen
                    .entry(tid)
                    .or_insert((name, if start { ns } else { 0 }, ns));
                t.2 = t.2.max(ns);
            }
        };
        poll(true);
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
                    let mut fetched = std::collections::HashSet::new();
                    while !stop.load(Ordering::Relaxed) {
                        let tick = Instant::now();
                        if let Ok(n) = follow(addr, &camera, &mut fetched) {
                            segments.fetch_add(n, Ordering::Relaxed);
                        }
                        std::thread::sleep(Duration::from_secs(1).saturating_sub(tick.elapsed()));
                    }
                });
            }
        }
        while started.elapsed() < Duration::from_secs(SETTLE + seconds) {
            poll(false);
            std::thread::sleep(Duration::from_millis(100));
        }
        poll(false);
        let total_after = client::process_ticks(pid)?;
        let frames_after = frames(addr)?;
        stop.store(true, Ordering::Relaxed);
        let seen = seen.lock().unwrap_or_else(|e| e.into_inner());
        let (mut http, mut recording) = (0u64, 0u64);
        for (name, first, last) in seen.values() {
            let ns = last - first;
            if name.starts_with("http") {
                http += ns;
            } else {
                recording += ns;
            }
        }
        run.http_cpu_s = http as f64 / 1e9;
        run.recording_cpu_s = recording as f64 / 1e9;
        run.process_cpu_s = (total_after - total_before) as f64 / TICKS_PER_SECOND;
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

/// Polls `camera`'s live playlist once and fetches the segments not in `fetched` yet;
/// returns how many it fetched.
fn follow(
    addr: SocketAddr,
    camera: &str,
    fetched: &mut std::collections::HashSet<String>,
) -> Result<u64> {
    let playlist = get(addr, &format!("/api/cameras/{camera}/live.m3u8"), None)?;
    if playlist.status != 200 {
        return Ok(0);
    }
    let text = String::from_utf8_lossy(&playlist.body_start).into_owned();
    let mut n = 0;
    for uri in text
        .lines()
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
    {
        if fetched.insert(uri.to_owned()) {
            let segment = get(addr, &format!("/api/cameras/{camera}/{uri}"), None)?;
            n += u64::from(segment.status == 200);
        }
    }
    Ok(n)
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
