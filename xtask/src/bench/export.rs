//! `cargo xtask bench export`: the HTTP API's exports over a synthetic archive of one
//! camera, served by `recorder run --http` (release build).
//!
//! The archive: one recording of the GStreamer server's `/h264aac` in 60 s files, whose
//! longest file is linked (symbolic links) as many times as 24 hours need and entered
//! into a catalog of its own with consecutive wall-clock times, so that the files touch
//! and form one span. Every export therefore reads one file's bytes from the page cache,
//! and each 60 s of the range is one more file (sample tables, a `flock`) to the server.
//!
//! Measured with a plain HTTP/1.1 client: time to first byte of a 1-hour and a 24-hour
//! export (built, then asked again: kept by the server) and each one's `moov` size; the throughput of whole 1-hour exports (the first
//! warms the cache); the server's peak RSS (`VmHWM`, reset through `clear_refs` before
//! each step) while 1, 4 and 8 exports of 1 hour and of 24 hours stream at once (each
//! client reads the `moov` and [`STREAM_BYTES`] of media of a range of its own); the time to produce a 24-hour
//! VOD playlist.

use std::fmt::Write as _;
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail, ensure};
use catalog::{Catalog, EndReason, FileRecord, WallTime};

use super::client::{self, Fetched, get};
use super::machine::machine;
use super::measure::{TempDir, build_recorder, run_timed};
use super::{MOUNT, bench_dir};
use crate::server::RtspServer;
use crate::util::{ChildGuard, tail};

/// Media bytes each client of the memory steps reads after the `moov`.
pub const STREAM_BYTES: u64 = 128 << 20;
/// The archive's first instant.
const BASE: &str = "2026-01-01T00:00:00Z";
/// The camera the archive belongs to.
const CAMERA: &str = "bench";
const HOUR: Duration = Duration::from_secs(3600);
const DAY: Duration = Duration::from_secs(24 * 3600);

/// Runs the benchmark, prints the report and writes it to `target/bench/export.md`.
pub fn bench_export(release: bool) -> Result<()> {
    let bin = build_recorder(release)?;
    let dir = TempDir::new()?;
    let source = record_source(&bin, &dir.0)?;
    let (files, per_file) = build_archive(&dir.0, &source)?;
    let port = free_port()?;
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse()?;
    let config = dir.0.join("server.toml");
    std::fs::write(
        &config,
        format!(
            "catalog = \"{}/bench.sqlite3\"\n\n[defaults]\noutput = \"{}/live/{{name}}/rec.mp4\"\n\n\
             [http]\nlisten = \"{addr}\"\nmax_exports = 16\n\n\
             [[camera]]\nname = \"{CAMERA}\"\nurl = \"rtsp://127.0.0.1:9/none\"\n",
            dir.0.display(),
            dir.0.display()
        ),
    )?;
    let log = dir.0.join("server.log");
    let child = Command::new(&bin)
        .args(["run", "--config"])
        .arg(&config)
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&log)?)
        .stderr(std::fs::File::create(&log)?)
        .spawn()
        .context("cannot start recorder run")?;
    let mut child = ChildGuard::new(child);
    let pid = child.id();
    wait_ready(addr, &mut child, &log)?;
    println!("recorder run (pid {pid}) serving {files} files on http://{addr}");

    let mut report = String::new();
    let _ = writeln!(
        report,
        "## Export benchmark\n\n{}\n\nArchive: {files} links to one {:.1} s file of `{MOUNT}` \
         (640x360 30 fps H.264 + AAC), {:.0} KiB/s, in one span from {BASE}; server: \
         `recorder run --http` ({} build), idle RSS {} KiB.\n",
        machine(&bin).replace(
            "(release build)",
            if release {
                "(release build)"
            } else {
                "(debug build)"
            }
        ),
        per_file.as_secs_f64(),
        source.size_bytes as f64 / 1024.0 / per_file.as_secs_f64(),
        if release { "release" } else { "debug" },
        client::status_kib(pid, "VmRSS")?,
    );

    let _ = writeln!(
        report,
        "| Range | Bytes | `moov` | First byte (built, then kept) |\n|---|---:|---:|---:|"
    );
    let mut moovs = Vec::new();
    for (label, span) in [("1 h", HOUR), ("24 h", DAY)] {
        let timed = Instant::now();
        let (first, second) = match export(addr, span, Some(64 << 10))
            .and_then(|f| Ok((f, export(addr, span, Some(64 << 10))?)))
        {
            Ok(two) => two,
            Err(e) => {
                let line = format!(
                    "| {label} | - | - | failed after {:.0} ms: {e:#} |",
                    ms(timed.elapsed())
                );
                println!("{line}");
                let _ = writeln!(report, "{line}");
                moovs.push(None);
                continue;
            }
        };
        let moov = client::moov_size(&first.body_start).context("no moov after ftyp")?;
        moovs.push(Some(moov));
        let total = first.content_length.context("no Content-Length")?;
        let line = format!(
            "| {label} | {total} | {moov} | {:.0} ms, {:.0} ms |",
            ms(first.first_byte),
            ms(second.first_byte)
        );
        println!("{line}");
        let _ = writeln!(report, "{line}");
    }

    let _ = writeln!(
        report,
        "\n| Whole 1 h export | Bytes | Time | Throughput |\n|---|---:|---:|---:|"
    );
    for run in ["first", "second"] {
        let f = export(addr, HOUR, None)?;
        let line = format!(
            "| {run} | {} | {:.2} s | {:.0} MB/s |",
            f.body_bytes,
            f.total.as_secs_f64(),
            f.body_bytes as f64 / f.total.as_secs_f64() / 1e6
        );
        println!("{line}");
        let _ = writeln!(report, "{line}");
    }

    let _ = writeln!(
        report,
        "\n| Range | Exports at once | Idle RSS (KiB) | Peak RSS (KiB) | Peak over idle / export (KiB) | Throughput, all |\n|---|---:|---:|---:|---:|---:|"
    );
    // Every client of every step asks for a range of its own (the span less a few
    // milliseconds), so that each export is built: the server keeps built exports.
    let mut trim_ms = 0u64;
    for ((label, span), moov) in [("1 h", HOUR), ("24 h", DAY)].into_iter().zip(moovs) {
        let Some(moov) = moov else { continue };
        for n in [1usize, 4, 8] {
            let idle = client::status_kib(pid, "VmRSS")?;
            client::reset_peak(pid)?;
            let started = Instant::now();
            let bytes = AtomicU64::new(0);
            let failed = AtomicBool::new(false);
            std::thread::scope(|s| {
                for _ in 0..n {
                    trim_ms += 1;
                    let span = span - Duration::from_millis(trim_ms);
                    let (bytes, failed) = (&bytes, &failed);
                    // The moov, then STREAM_BYTES of media.
                    s.spawn(
                        move || match export(addr, span, Some(moov + STREAM_BYTES)) {
                            Ok(f) => {
                                bytes.fetch_add(f.body_bytes, Ordering::Relaxed);
                            }
                            Err(e) => {
                                eprintln!("export: {e:#}");
                                failed.store(true, Ordering::Relaxed);
                            }
                        },
                    );
                }
            });
            ensure!(!failed.load(Ordering::Relaxed), "an export failed");
            let elapsed = started.elapsed();
            let peak = client::status_kib(pid, "VmHWM")?;
            let line = format!(
                "| {label} | {n} | {idle} | {peak} | {} | {:.0} MB/s |",
                peak.saturating_sub(idle) / n as u64,
                bytes.load(Ordering::Relaxed) as f64 / elapsed.as_secs_f64() / 1e6
            );
            println!("{line}");
            let _ = writeln!(report, "{line}");
        }
    }

    let _ = writeln!(
        report,
        "\n| 24 h VOD playlist | Bytes | Segments | Time |\n|---|---:|---:|---:|"
    );
    for run in ["first", "second (plan kept)"] {
        let f = get(addr, &range_path("vod.m3u8", DAY), None)?;
        if f.status != 200 {
            let line = format!(
                "| {run} | - | - | status {} after {:.0} ms |",
                f.status,
                ms(f.total)
            );
            println!("{line}");
            let _ = writeln!(report, "{line}");
            continue;
        }
        let segments = String::from_utf8_lossy(&f.body_start)
            .lines()
            .filter(|l| l.starts_with("#EXTINF"))
            .count();
        let line = format!(
            "| {run} | {} | {segments}{} | {:.0} ms |",
            f.body_bytes,
            if f.body_start.len() < f.body_bytes as usize {
                "+ (first MiB)"
            } else {
                ""
            },
            ms(f.total)
        );
        println!("{line}");
        let _ = writeln!(report, "{line}");
    }
    let _ = writeln!(
        report,
        "\nEach memory step: N clients at once, each reading the `moov` and then {} MiB \
         of media of a range of its own (a few ms shorter than the others, so that every \
         export is built); peak RSS is the server's `VmHWM` after `clear_refs`; the idle \
         RSS includes the exports the server keeps (60 s, up to 64 MiB of `moov`s).",
        STREAM_BYTES >> 20
    );
    child.kill();
    println!("\n{report}");
    let path = bench_dir()?.join("export.md");
    std::fs::write(&path, report).with_context(|| format!("cannot write {}", path.display()))?;
    println!("wrote {}", path.display());
    Ok(())
}

/// Records ~95 s of `/h264aac` in 60 s files and returns the catalog row of the longest.
fn record_source(bin: &Path, dir: &Path) -> Result<FileRecord> {
    let server = RtspServer::start(200, &dir.join("rtsp.log"))?;
    let url = server.url(&format!("{MOUNT}?bench=export"));
    let config = dir.join("source.toml");
    std::fs::write(
        &config,
        format!(
            "catalog = \"{0}/source.sqlite3\"\n\n[defaults]\noutput = \"{0}/source/{{name}}/rec.mp4\"\n\
             segment_duration = \"60s\"\n\n[[camera]]\nname = \"source\"\nurl = \"{url}\"\n",
            dir.display()
        ),
    )?;
    let args: Vec<String> = [
        "run",
        "--config",
        config.to_str().context("path not UTF-8")?,
        "--duration",
        "95s",
    ]
    .map(String::from)
    .to_vec();
    println!("recording the source: {} {}", bin.display(), args.join(" "));
    let (_, ok) = run_timed(
        bin.to_str().context("path not UTF-8")?,
        &args,
        &dir.join("source-time.txt"),
        &dir.join("source.log"),
        Duration::from_secs(180),
    )?;
    server.stop();
    ensure!(
        ok,
        "recording the source failed:\n{}",
        tail(&dir.join("source.log"), 20)
    );
    let catalog = Catalog::open(dir.join("source.sqlite3"))?;
    catalog
        .files(Some("source"), None, None)?
        .into_iter()
        .max_by_key(|f| f.end.nanos_since(f.start))
        .context("the source recording made no file")
}

/// Links `source` as 24 h of consecutive files of [`CAMERA`] in `dir/bench.sqlite3`;
/// returns the number of files and each one's duration.
fn build_archive(dir: &Path, source: &FileRecord) -> Result<(usize, Duration)> {
    let ns = source.end.nanos_since(source.start);
    ensure!(ns > 1_000_000_000, "the source file is too short: {ns} ns");
    let files = (DAY.as_nanos() as u64).div_ceil(ns as u64) as usize;
    let base = WallTime::parse_rfc3339(BASE)?;
    let links = dir.join("archive");
    std::fs::create_dir_all(&links)?;
    let mut records = Vec::with_capacity(files);
    for i in 0..files {
        let path: PathBuf = links.join(format!("{i:05}.mp4"));
        std::os::unix::fs::symlink(&source.path, &path)
            .with_context(|| format!("cannot link {}", path.display()))?;
        let start = WallTime(base.0 + i as i64 * ns);
        records.push(FileRecord {
            camera: CAMERA.to_owned(),
            path,
            start,
            end: WallTime(start.0 + ns),
            end_reason: EndReason::Continued,
            ..source.clone()
        });
    }
    let mut catalog = Catalog::open(dir.join("bench.sqlite3"))?;
    catalog.upsert_many(&records)?;
    Ok((files, Duration::from_nanos(ns as u64)))
}

/// Waits until the server answers `/api/cameras`.
fn wait_ready(addr: SocketAddr, child: &mut ChildGuard, log: &Path) -> Result<()> {
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline {
        if child.try_wait()?.is_some() {
            bail!("recorder run exited:\n{}", tail(log, 20));
        }
        if get(addr, "/api/cameras", None).is_ok_and(|f| f.status == 200) {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    bail!("recorder run did not answer in 60 s:\n{}", tail(log, 20))
}

/// A free port on 127.0.0.1 (bound, then released).
pub(super) fn free_port() -> Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// `/api/cameras/bench/{route}?start=BASE&end=BASE+span`.
fn range_path(route: &str, span: Duration) -> String {
    let base = WallTime::parse_rfc3339(BASE).expect("BASE is RFC 3339");
    format!(
        "/api/cameras/{CAMERA}/{route}?start={}&end={}",
        base.to_rfc3339(),
        base.saturating_add(span).to_rfc3339()
    )
}

/// `GET` an export of the archive's first `span`, reading up to `limit` body bytes.
fn export(addr: SocketAddr, span: Duration, limit: Option<u64>) -> Result<Fetched> {
    let f = get(addr, &range_path("export.mp4", span), limit)?;
    ensure!(f.status == 200, "export.mp4: status {}", f.status);
    Ok(f)
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}
