//! `cargo xtask verify` and `cargo xtask demo`: record from a real RTSP server (GStreamer's)
//! and check the files with tools written elsewhere (ffprobe, ffmpeg, mp4-atom).
//!
//! The cases run concurrently, eight at a time (the server's mounts are shared live pipelines whose
//! timestamps a joining client does not disturb), each with its own files:
//!
//! - `h264aac`, `h265aac`, `mjpeg`, `h264`: 10 s each, default format: ffprobe figures
//!   (exactly 300 video frames, all that the recorder reports), a clean `ffmpeg -xerror`
//!   decode, mp4-atom strict, and the `moov` before the media;
//! - `h264b`, `h265b`: 10 s of /h264b (/h265b: x264 (x265) with two B-frames, sent in
//!   decode order): the standard checks, plus the file really holds reordered frames (some
//!   packets' pts != dts, a `ctts` in the video track), its video starts at 0, and its
//!   sorted pts are every frame once, 1/30 s apart;
//! - `fmp4`: 10 s of /h264aac with `--format fmp4`: a fragmented file (`moof`s) holding
//!   exactly the frames the recorder reports;
//! - `kill9`: /h264aac killed with SIGKILL 8.5 s into the file: the `.partial` plays and
//!   holds all but the fragment in progress; `recorder repair` then makes it faststart;
//! - `power264`, `power265`: copies of a 6 s `--format fmp4` recording of /h264aac
//!   (/h265aac) with fragment data zeroed as a power cut leaves it (the last fragment's
//!   data partly, wholly, from a 4 KiB boundary on; a middle fragment's):
//!   `recorder verify` reports each, `recorder repair` keeps exactly the fragments before
//!   the damaged one (and every fragment of the undamaged copy), and each repaired file
//!   decodes with `ffmpeg -xerror` and passes the strict parser and `recorder verify`;
//! - `segments`: 35 s of /h264aac in 10 s files from a `%H-%M-%S` template: each file
//!   starts on a keyframe, and the files add up to the recording, with no audio gap or
//!   overlap at the switches;
//! - `reconnect`: 25 s of /h264aac from a server of its own that is killed 8 s into the
//!   recording and started again on the same port 4 s later: the recorder reconnects by
//!   itself and exits 0 with at least two files, each decoding cleanly and passing
//!   `recorder verify`;
//! - `run`: `recorder run` with a configuration of three cameras (/h264aac, /h265aac,
//!   /mjpeg), stopped by SIGTERM after 8 s: it exits 0 within a few seconds, with each
//!   camera's file finalized (moov first) and decoding cleanly;
//! - `http`: `recorder run --http` recording /h264aacsmall in 2 s files, its API checked
//!   with curl while it records (`verify/http.rs`): an export across three files (ffprobe
//!   duration within a frame of the range, clean decode, strict, video and audio, first
//!   frame by framemd5 the source's frame at `start`), Range/416/ETag/HEAD, the VOD
//!   playlist read by ffmpeg with the recording's frame count, `/metrics` parsed strictly
//!   with its finished files equal to the catalog's and the disk's, 404 and 400 replies;
//! - `sigint2`: a second signal (SIGINT, then SIGTERM) exits at once with code 130, leaving a `.partial` that
//!   `recorder repair` finishes;
//! - `maxretries`: `--max-retries 0` against a refused port fails at once with one
//!   `error:` line;
//! - `loss1`, `loss1clean`: 10 s of /h264loss1 (1% of the RTP packets dropped) by default
//!   and with `--on-loss skip-to-keyframe`: one session, one file; by default at least 95%
//!   of the frames that arrived whole (300 minus the packets lost) kept; with the option a
//!   clean `ffmpeg -xerror` decode;
//! - `pcmu`, `pcma`, `l16`: 10 s of /h264pcmu, /h264pcma (G.711 8 kHz mono) and /h264l16
//!   (L16 16 kHz stereo), white noise, stored as FLAC by default: the standard checks with
//!   `flac` audio of the stream's rate and channels, audio ending within one 40 ms sample
//!   of the video, and the decoded audio bit-identical to ffmpeg's own decode of the same
//!   RTSP URL captured over a longer interval (found by its first 2000 samples); in
//!   headless Chromium the file plays in a `<video>`, and a `--format fmp4` recording made
//!   beside it plays through Media Source Extensions (`verify/browser.rs`);
//! - `fmp4pcmu`, `kill9pcmu`, `segpcmu`: the `fmp4`, `kill9` and `segments` checks on
//!   /h264pcmu (FLAC audio in 40 ms samples: at the switches within one sample).
//! - `web`: `recorder run` with `[http]` recording /h264pcmu (320x180) in 2 s files, then
//!   the web page in headless Chromium: the camera listed as recording, a span on the
//!   timeline, a click on it playing the export at 320x180 past 1 s, a seek within it
//!   landing within 0.5 s and playing on, the live view playing through MSE, and the live
//!   playlist's media sequence growing (`verify/web.rs`; screenshot
//!   `target/verify-artifacts/web.png`).
//!   /h264pcmu (FLAC audio in 40 ms samples: at the switches within one sample);
//! - `retention`: three 14 s `recorder run`s of /h264pcmu in 2 s files
//!   (`verify/retention.rs`): `retain_for = "4s"` deletes the oldest files, keeping those
//!   that ended within 4 s (plus one file) of the newest; `retain_size` of three mean files
//!   holds after each deletion, and after the catalog is deleted `recorder index --rebuild`
//!   lists the same spans and files; `[storage] min_free` on a private tmpfs (`unshare
//!   --mount`) holding about six files: recording goes on, the oldest files go first with
//!   their reason logged, the files left pass `recorder verify`, and the free space,
//!   sampled every 0.5 s, is never below the limit for more than 4 s.
mod browser;
mod cases;
mod catalog;
mod checks;
mod http;
mod http_checks;
mod lifecycle;
mod loss;
mod pcm;
mod power;
mod recording;
mod retention;
mod tools;
mod web;

use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail, ensure};

use crate::probe::Expect;
use crate::server::{MOUNTS, RtspServer};
use crate::util::tail;
use cases::{Case, Check, cases, run_case, standard_expect};
use tools::{Recorder, build_recorder, ensure_file, probe, record, scratch_dir};

pub use tools::build_recorder_with;
/// How much longer than the requested duration a recording may take before it is killed
/// (connecting, waiting for the first keyframe, finishing the files).
const RECORD_SLACK: Duration = Duration::from_secs(50);

/// Length of the standard recordings.
const DURATION_S: u64 = 10;
/// The recorder's default fragment length.
const FRAGMENT_S: f64 = 1.0;
/// When the `kill9` case kills the recorder, from the creation of its file (mid-fragment:
/// fragments end at the 1 s keyframes).
const KILL_AFTER: Duration = Duration::from_millis(8500);
/// Delivery latency allowed on top of one fragment when checking what a kill kept.
const KILL_LATENCY_S: f64 = 0.35;
/// The `segments` case: total and per-file length.
const SEGMENTS_TOTAL_S: u64 = 35;
const SEGMENT_S: u64 = 10;
/// Video frame period of the test streams, in seconds.
const FRAME_S: f64 = 1.0 / 30.0;
/// AAC frame of the test streams (1024 samples at 48 kHz), in seconds.
const AAC_FRAME_S: f64 = 1024.0 / 48_000.0;
/// ffprobe prints times rounded to the movie timescale (ms) in edit lists.
const MS: f64 = 0.0011;

/// Options of `cargo xtask verify`.
#[derive(Clone, Debug, Default)]
pub struct VerifyOptions {
    /// Record with ffmpeg instead of our recorder (checks the harness, not the recorder).
    pub with_ffmpeg: bool,
    /// Only run the cases with these names (all when empty).
    pub only: Vec<String>,
}

/// Cases that record at once. Each case's server pipeline encodes in real time, and a
/// 2-core machine running every case at once starves the H.265 encoders (a mount then
/// sends fewer than 30 frames a second); the cases queue for these slots in list order.
const CONCURRENT_CASES: usize = 8;

/// Runs the cases concurrently ([`CONCURRENT_CASES`] at a time) and reports each; fails
/// if any failed.
pub fn verify(options: &VerifyOptions) -> Result<()> {
    let all = cases(DURATION_S as f64);
    for name in &options.only {
        ensure!(
            all.iter().any(|c| c.name == name),
            "unknown case {name:?}; cases: {}",
            all.iter().map(|c| c.name).collect::<Vec<_>>().join(", ")
        );
    }
    let selected: Vec<&Case> = all
        .iter()
        .filter(|c| options.only.is_empty() || options.only.iter().any(|n| n == c.name))
        // ffmpeg only makes standard recordings.
        .filter(|c| {
            !options.with_ffmpeg || matches!(c.check, Check::Standard(_) | Check::BFrames(_))
        })
        .collect();
    ensure!(!selected.is_empty(), "no case to run");

    let recorder = if options.with_ffmpeg {
        Recorder::Ffmpeg
    } else {
        Recorder::Ours(build_recorder()?)
    };
    let dir = scratch_dir("verify")?;
    let server = RtspServer::start(300, &dir.join("rtsp-server.log"))?;
    let started = Instant::now();
    let slots = Slots::new(CONCURRENT_CASES);
    let results: Vec<Result<String>> = std::thread::scope(|scope| {
        let handles: Vec<_> = selected
            .iter()
            .map(|case| {
                // Cases on the same mount get distinct URLs, hence their own pipelines:
                // clients joining one shared pipeline at the same instant can see its
                // sequence numbers jump.
                let url = match case.check {
                    Check::Standard(_) => server.url(case.mount),
                    _ => format!("{}?case={}", server.url(case.mount), case.name),
                };
                let base = server.url("");
                let (recorder, dir, slots) = (&recorder, &dir, &slots);
                scope.spawn(move || {
                    let _slot = slots.take();
                    run_case(recorder, &url, &base, case, dir)
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|_| Err(anyhow::anyhow!("the case's thread panicked")))
            })
            .collect()
    });
    server.stop();
    let mut failed = Vec::new();
    for (case, result) in selected.iter().zip(results) {
        match result {
            Ok(line) => println!("{:<8} OK  {line}", case.name),
            Err(e) => {
                println!("{:<8} FAIL {e:#}", case.name);
                failed.push(case.name);
            }
        }
    }
    if !failed.is_empty() {
        bail!(
            "verify case(s) {} failed; files kept in {}",
            failed.join(", "),
            dir.display()
        );
    }
    // Only a passing run removes its files; failures keep them for a look.
    std::fs::remove_dir_all(&dir).with_context(|| format!("cannot remove {}", dir.display()))?;
    println!(
        "verify: {} case(s) passed in {:.0} s",
        selected.len(),
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

/// `cargo xtask demo`: records /h264aac for `seconds` to ./demo.mp4 and describes it.
pub fn demo(seconds: u64) -> Result<()> {
    let recorder = build_recorder()?;
    let dir = scratch_dir("demo")?;
    let server = RtspServer::start(seconds + 120, &dir.join("rtsp-server.log"))?;
    println!("test streams (live, 640x360 at 30 fps):");
    for (mount, what) in MOUNTS {
        println!("  {:<40} {what}", server.url(mount));
    }
    let out = std::env::current_dir()
        .context("no current directory")?
        .join("demo.mp4");
    // The recorder never overwrites: make room for this demo's file.
    if out.is_file() {
        std::fs::remove_file(&out).with_context(|| format!("cannot remove {}", out.display()))?;
    }
    let log = dir.join("recorder.log");
    record(
        &Recorder::Ours(recorder),
        &server.url("/h264aac"),
        &out,
        seconds,
        &[],
        &log,
    )?;
    ensure_file(&out, &log)?;
    server.stop();
    println!("{}", tail(&log, 20));
    let expect = Expect {
        duration_s: seconds as f64,
        ..standard_expect(seconds as f64).remove(0).1
    };
    let measured = probe(&out, &expect)?;
    println!("wrote {}: {measured}", out.display());
    std::fs::remove_dir_all(&dir).with_context(|| format!("cannot remove {}", dir.display()))?;
    Ok(())
}

/// A counting semaphore: at most `n` holders of a [`Slot`] at once.
struct Slots {
    free: std::sync::Mutex<usize>,
    freed: std::sync::Condvar,
}

/// A taken slot, given back when dropped.
struct Slot<'a>(&'a Slots);

impl Slots {
    fn new(n: usize) -> Self {
        Self {
            free: std::sync::Mutex::new(n),
            freed: std::sync::Condvar::new(),
        }
    }

    /// Waits for a free slot and takes it.
    fn take(&self) -> Slot<'_> {
        let mut free = self
            .free
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        while *free == 0 {
            free = self
                .freed
                .wait(free)
                .unwrap_or_else(std::sync::PoisonError::into_inner);
        }
        *free -= 1;
        Slot(self)
    }
}

impl Drop for Slot<'_> {
    fn drop(&mut self) {
        *self
            .0
            .free
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) += 1;
        self.0.freed.notify_one();
    }
}
