//! `cargo xtask verify` and `cargo xtask demo`: record from a real RTSP server (GStreamer's)
//! and check the files with tools written elsewhere (ffprobe, ffmpeg, mp4-atom).
//!
//! The cases run concurrently (the server's mounts are shared live pipelines whose
//! timestamps a joining client does not disturb), each with its own files:
//!
//! - `h264aac`, `h265aac`, `mjpeg`, `h264`: 10 s each, default format: ffprobe figures,
//!   a clean `ffmpeg -xerror` decode, mp4-atom strict, and the `moov` before the media;
//! - `h264b`: 10 s of /h264b (x264 with two B-frames, sent in decode order): the standard
//!   checks, plus the file really holds reordered frames (some packets' pts != dts), its
//!   video starts at 0, and its sorted pts are every frame once, 1/30 s apart;
//! - `fmp4`: 10 s of /h264aac with `--format fmp4`: a fragmented file (`moof`s) holding
//!   exactly the frames the recorder reports;
//! - `kill9`: /h264aac killed with SIGKILL 8.5 s into the file: the `.partial` plays and
//!   holds all but the fragment in progress; `recorder repair` then makes it faststart;
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
//! - `sigint2`: a second signal (SIGINT, then SIGTERM) exits at once with code 130, leaving a `.partial` that
//!   `recorder repair` finishes;
//! - `maxretries`: `--max-retries 0` against a refused port fails at once with one
//!   `error:` line.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail, ensure};
use serde_json::Value;

use crate::probe::{self, Expect, ExpectAudio, Measured, StreamFigures};
use crate::server::{MOUNTS, RtspServer};
use crate::strict::{self, StrictSummary};
use crate::util::{ChildGuard, cargo, display, output, tail};

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

/// What a case checks.
#[derive(Clone, Debug)]
enum Check {
    /// A default recording against these expectations.
    Standard(Expect),
    /// A default recording of a stream with B-frames: [`Check::Standard`] and the
    /// reordering checks.
    BFrames(Expect),
    /// `--format fmp4`.
    Fmp4(Expect),
    /// SIGKILL then repair.
    Kill9,
    /// `--segment-duration`.
    Segments,
    /// The server goes away and comes back.
    Reconnect,
    /// `recorder run` with three cameras, stopped by SIGTERM.
    Run,
    /// A second signal.
    DoubleSignal,
    /// `--max-retries 0` against a refused port.
    MaxRetries,
}

/// One verify case: a server mount and what its recording must contain.
struct Case {
    name: &'static str,
    mount: &'static str,
    check: Check,
}

const AAC: ExpectAudio = ExpectAudio {
    codec: "aac",
    sample_rate_hz: 48_000,
    channels: 2,
};

/// The four standard cases' names, mounts and expectations.
fn standard_expect(duration_s: f64) -> Vec<(&'static str, Expect)> {
    let video = |codec, tag, gop_frames, audio| Expect {
        video_codec: codec,
        video_tag: tag,
        width: 640,
        height: 360,
        fps: 30.0,
        gop_frames,
        duration_s,
        audio,
    };
    vec![
        ("h264aac", video("h264", "avc1", 30, Some(AAC))),
        ("h265aac", video("hevc", "hvc1", 30, Some(AAC))),
        ("mjpeg", video("mjpeg", "mp4v", 1, None)),
        ("h264", video("h264", "avc1", 30, None)),
    ]
}

fn cases(duration_s: f64) -> Vec<Case> {
    let mut all: Vec<Case> = standard_expect(duration_s)
        .into_iter()
        .map(|(name, expect)| Case {
            name,
            mount: MOUNTS
                .iter()
                .map(|(m, _)| *m)
                .find(|m| m[1..] == *name)
                .unwrap_or("/h264aac"),
            check: Check::Standard(expect),
        })
        .collect();
    let h264aac = all[0].check.clone();
    let Check::Standard(expect) = h264aac else {
        unreachable!("the first case is standard")
    };
    all.push(Case {
        name: "h264b",
        mount: "/h264b",
        check: Check::BFrames(expect.clone()),
    });
    all.push(Case {
        name: "fmp4",
        mount: "/h264aac",
        check: Check::Fmp4(expect),
    });
    all.push(Case {
        name: "kill9",
        mount: "/h264aac",
        check: Check::Kill9,
    });
    all.push(Case {
        name: "segments",
        mount: "/h264aac",
        check: Check::Segments,
    });
    all.push(Case {
        name: "reconnect",
        mount: "/h264aac",
        check: Check::Reconnect,
    });
    all.push(Case {
        name: "run",
        mount: "/h264aac",
        check: Check::Run,
    });
    all.push(Case {
        name: "sigint2",
        mount: "/h264",
        check: Check::DoubleSignal,
    });
    all.push(Case {
        name: "maxretries",
        mount: "/h264",
        check: Check::MaxRetries,
    });
    all
}

/// Which program makes the recordings.
#[derive(Clone, Debug)]
pub enum Recorder {
    /// Our `recorder` binary at this path.
    Ours(PathBuf),
    /// `ffmpeg -c copy`, to exercise the harness itself against a reference recorder.
    Ffmpeg,
}

impl Recorder {
    fn command(&self, url: &str, out: &Path, duration_s: u64, extra: &[&str]) -> Command {
        match self {
            Recorder::Ours(bin) => {
                let mut cmd = Command::new(bin);
                cmd.args(["record", url, "-o"])
                    .arg(out)
                    .args(["--duration", &format!("{duration_s}s")])
                    .args(extra);
                cmd
            }
            Recorder::Ffmpeg => {
                let mut cmd = Command::new("ffmpeg");
                cmd.args([
                    "-nostdin",
                    "-v",
                    "error",
                    "-rtsp_transport",
                    "tcp",
                    "-i",
                    url,
                ])
                .args(["-t", &duration_s.to_string(), "-c", "copy"])
                // mp4-atom (strict) rejects the ©nam that ffmpeg copies from the SDP.
                .args(["-map_metadata", "-1", "-y"])
                .arg(out);
                cmd
            }
        }
    }

    fn is_ours(&self) -> bool {
        matches!(self, Recorder::Ours(_))
    }
}

/// Builds the `recorder` binary (debug) and returns its path, wherever the target dir is
/// (`CARGO_TARGET_DIR` or `<workspace>/target`): cargo reports it in its JSON messages.
pub fn build_recorder() -> Result<PathBuf> {
    build_recorder_with(&[])
}

/// Builds the `recorder` binary with extra cargo arguments (e.g. `--release`) and returns
/// its path as cargo reports it.
pub fn build_recorder_with(extra: &[&str]) -> Result<PathBuf> {
    let mut cmd = cargo();
    cmd.arg("build")
        .args(extra)
        .args([
            "-p",
            "recorder-cli",
            "--bin",
            "recorder",
            "--message-format=json-render-diagnostics",
        ])
        .stderr(Stdio::inherit());
    println!("$ {}", display(&cmd));
    let stdout = output(&mut cmd)?;
    for line in stdout.lines() {
        let Ok(msg) = serde_json::from_str::<Value>(line) else {
            continue;
        };
        if msg["reason"] == "compiler-artifact"
            && msg["target"]["name"] == "recorder"
            && let Some(exe) = msg["executable"].as_str()
        {
            return Ok(PathBuf::from(exe));
        }
    }
    bail!("cargo build reported no `recorder` executable")
}

/// A fresh scratch directory under the system temp dir.
fn scratch_dir(what: &str) -> Result<PathBuf> {
    let dir = std::env::temp_dir().join(format!("recorder-{what}-{}", std::process::id()));
    if dir.exists() {
        std::fs::remove_dir_all(&dir).with_context(|| format!("cannot clear {}", dir.display()))?;
    }
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    Ok(dir)
}

/// Starts a recording of `url` to `out`; its output goes to `log`.
fn spawn_record(
    recorder: &Recorder,
    url: &str,
    out: &Path,
    duration_s: u64,
    extra: &[&str],
    log: &Path,
) -> Result<ChildGuard> {
    let mut cmd = recorder.command(url, out, duration_s, extra);
    println!("$ {}", display(&cmd));
    let log_file =
        std::fs::File::create(log).with_context(|| format!("cannot create {}", log.display()))?;
    let child = cmd
        .stdin(Stdio::null())
        .stdout(log_file.try_clone()?)
        .stderr(log_file)
        .spawn()
        .with_context(|| format!("cannot start `{}`", display(&cmd)))?;
    Ok(ChildGuard::new(child))
}

/// Records `url` to `out` with a time limit and waits for a successful exit; the
/// recorder's output goes to `log`.
fn record(
    recorder: &Recorder,
    url: &str,
    out: &Path,
    duration_s: u64,
    extra: &[&str],
    log: &Path,
) -> Result<()> {
    let mut child = spawn_record(recorder, url, out, duration_s, extra, log)?;
    let started = Instant::now();
    let timeout = Duration::from_secs(duration_s) + RECORD_SLACK;
    match child.wait_timeout(timeout)? {
        None => bail!(
            "recording did not finish within {timeout:?} (killed); its output:\n{}",
            tail(log, 30)
        ),
        Some(status) if !status.success() => bail!(
            "recording failed ({status}) after {:.1} s; its output:\n{}",
            started.elapsed().as_secs_f64(),
            tail(log, 30)
        ),
        Some(_) => Ok(()),
    }
}

fn ensure_file(out: &Path, log: &Path) -> Result<()> {
    ensure!(
        out.is_file(),
        "the recorder exited 0 but wrote no {}; its output:\n{}",
        out.display(),
        tail(log, 30)
    );
    Ok(())
}

fn read_log(log: &Path) -> Result<String> {
    std::fs::read_to_string(log).with_context(|| format!("cannot read {}", log.display()))
}

fn ffprobe_json(args: &[&str], file: &Path) -> Result<Value> {
    let mut cmd = Command::new("ffprobe");
    cmd.args(["-v", "error", "-of", "json"])
        .args(args)
        .arg(file);
    let text = output(&mut cmd)?;
    serde_json::from_str(&text).with_context(|| format!("`{}` printed bad JSON", display(&cmd)))
}

/// ffprobe figures for a recording, checked against `expect`.
pub fn probe(file: &Path, expect: &Expect) -> Result<Measured> {
    let show = ffprobe_json(&["-show_streams", "-show_format"], file)?;
    let packets = ffprobe_json(
        &[
            "-select_streams",
            "v:0",
            "-show_packets",
            "-show_entries",
            "packet=pts_time,dts_time,flags",
        ],
        file,
    )?;
    probe::evaluate(expect, &show, &packets)
}

/// A full decode with ffmpeg that must print nothing.
fn decode_clean(file: &Path) -> Result<()> {
    let mut cmd = Command::new("ffmpeg");
    cmd.args(["-nostdin", "-v", "error", "-xerror", "-i"])
        .arg(file)
        .args(["-f", "null", "-"]);
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .with_context(|| format!("cannot start `{}`", display(&cmd)))?;
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    ensure!(
        out.status.success() && said.trim().is_empty(),
        "`{}` did not decode cleanly ({}):\n{}",
        display(&cmd),
        out.status,
        said.trim_end()
    );
    Ok(())
}

/// Video and audio figures of every stream's packets.
fn figures(file: &Path) -> Result<(Option<StreamFigures>, Option<StreamFigures>)> {
    let show = ffprobe_json(&["-show_streams", "-show_format"], file)?;
    let packets = ffprobe_json(
        &[
            "-show_packets",
            "-show_entries",
            "packet=stream_index,pts_time,duration_time,flags",
        ],
        file,
    )?;
    probe::stream_figures(&show, &packets)
}

/// Runs `recorder <args> <file>` and returns its stdout; fails unless it exits 0.
fn recorder_tool(bin: &Path, args: &[&str], file: &Path) -> Result<String> {
    let mut cmd = Command::new(bin);
    cmd.args(args).arg(file);
    output(&mut cmd)
}

/// Options of `cargo xtask verify`.
#[derive(Clone, Debug, Default)]
pub struct VerifyOptions {
    /// Record with ffmpeg instead of our recorder (checks the harness, not the recorder).
    pub with_ffmpeg: bool,
    /// Only run the cases with these names (all when empty).
    pub only: Vec<String>,
}

/// Runs the cases concurrently and reports each; fails if any failed.
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
                let (recorder, dir) = (&recorder, &dir);
                scope.spawn(move || run_case(recorder, &url, &base, case, dir))
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

fn run_case(recorder: &Recorder, url: &str, base: &str, case: &Case, dir: &Path) -> Result<String> {
    let log = dir.join(format!("{}.log", case.name));
    let file = dir.join(format!("{}.mp4", case.name));
    let bin = match recorder {
        Recorder::Ours(bin) => Some(bin.as_path()),
        Recorder::Ffmpeg => None,
    };
    match (&case.check, bin) {
        (Check::Standard(expect), _) => run_standard(recorder, url, expect, &file, &log),
        (Check::BFrames(expect), _) => {
            let line = run_standard(recorder, url, expect, &file, &log)?;
            let reorder = check_reordering(&file).context("b-frame check")?;
            Ok(format!("{line}; {reorder}"))
        }
        (Check::Fmp4(expect), Some(_)) => run_fmp4(recorder, url, expect, &file, &log),
        (Check::Kill9, Some(bin)) => run_kill9(recorder, bin, url, &file, &log),
        (Check::Segments, Some(_)) => run_segments(recorder, url, dir, &log),
        (Check::Reconnect, Some(bin)) => run_reconnect(bin, dir, &log),
        (Check::Run, Some(bin)) => run_run(bin, base, dir, &log),
        (Check::DoubleSignal, Some(bin)) => run_double_signal(bin, url, dir, &log),
        (Check::MaxRetries, Some(bin)) => run_max_retries(bin, dir, &log),
        (_, None) => bail!("case {} needs our recorder", case.name),
    }
}

/// A default recording: ffprobe figures, clean decode, strict parse, and (ours) the
/// `moov` before the media, in the room reserved for it.
fn run_standard(
    recorder: &Recorder,
    url: &str,
    expect: &Expect,
    file: &Path,
    log: &Path,
) -> Result<String> {
    record(recorder, url, file, DURATION_S, &[], log)?;
    ensure_file(file, log)?;
    let measured = probe(file, expect).context("ffprobe check")?;
    decode_clean(file).context("ffmpeg decode check")?;
    let parsed = strict::check_file(file).context("strict parser check")?;
    let mut line = format!("{measured}; ffmpeg -xerror clean; mp4-atom strict: {parsed}");
    if recorder.is_ours() {
        ensure!(
            parsed.moov_before_mdat(),
            "the moov is not before the first mdat: {parsed}"
        );
        let sizes = probe::parse_moov_sizes(&read_log(log)?);
        let &[(moov, reserved, true)] = sizes.as_slice() else {
            bail!("expected one finalized file with its moov at the front, the log says {sizes:?}");
        };
        line.push_str(&format!(
            "; moov first: {moov} of {reserved} reserved bytes"
        ));
    }
    Ok(line)
}

/// A recording of a stream with B-frames: some video packets are presented after later
/// packets (pts != dts), the video starts at 0 (within a frame), and its pts, sorted, are
/// every frame once at the source's frame period.
fn check_reordering(file: &Path) -> Result<String> {
    let show = ffprobe_json(&["-select_streams", "v:0", "-show_streams"], file)?;
    let start_s = show["streams"][0]["start_time"]
        .as_str()
        .and_then(|s| s.parse::<f64>().ok())
        .context("video has no start_time")?;
    ensure!(
        start_s.abs() <= FRAME_S,
        "video start_time is {start_s:.6} s, expected 0 +- one frame"
    );
    let packets = ffprobe_json(
        &[
            "-select_streams",
            "v:0",
            "-show_packets",
            "-show_entries",
            "packet=pts_time,dts_time",
        ],
        file,
    )?;
    let packets = packets["packets"]
        .as_array()
        .context("ffprobe reports no video packets")?;
    let time = |p: &Value, key: &str| p[key].as_str().and_then(|s| s.parse::<f64>().ok());
    let mut pts = Vec::with_capacity(packets.len());
    let mut reordered = 0;
    for (i, p) in packets.iter().enumerate() {
        let (Some(pt), Some(dt)) = (time(p, "pts_time"), time(p, "dts_time")) else {
            bail!("video packet {i} lacks pts_time or dts_time");
        };
        ensure!(
            dt <= pt + 1e-6,
            "video packet {i}: dts {dt:.6} s after pts {pt:.6} s"
        );
        if (pt - dt).abs() > 1e-6 {
            reordered += 1;
        }
        pts.push(pt);
    }
    ensure!(
        reordered > 0,
        "no video packet has pts != dts: the file holds no reordered frames"
    );
    let presented_late = pts.windows(2).filter(|w| w[1] < w[0]).count();
    ensure!(
        presented_late > 0,
        "the pts never go back in decode order: no B-frames"
    );
    pts.sort_by(f64::total_cmp);
    ensure!(
        (pts[0] - start_s).abs() <= MS,
        "the earliest pts {:.6} s is not the start_time {start_s:.6} s",
        pts[0]
    );
    for (i, w) in pts.windows(2).enumerate() {
        let step = w[1] - w[0];
        ensure!(
            (step - FRAME_S).abs() <= MS,
            "sorted pts {i} -> {}: {:.6} s -> {:.6} s, a step of {:.1} ms (expected {:.1} ms: \
             each frame presented once)",
            i + 1,
            w[0],
            w[1],
            step * 1000.0,
            FRAME_S * 1000.0
        );
    }
    Ok(format!(
        "b-frames: {reordered} of {} packets with pts != dts, {presented_late} presented \
         before their predecessor; video start {start_s:.6} s; sorted pts uniform",
        pts.len()
    ))
}

/// `--format fmp4`: a fragmented file with every frame the recorder reports.
fn run_fmp4(
    recorder: &Recorder,
    url: &str,
    expect: &Expect,
    file: &Path,
    log: &Path,
) -> Result<String> {
    record(recorder, url, file, DURATION_S, &["--format", "fmp4"], log)?;
    ensure_file(file, log)?;
    let measured = probe(file, expect).context("ffprobe check")?;
    decode_clean(file).context("ffmpeg decode check")?;
    let parsed = strict::check_file(file).context("strict parser check")?;
    ensure!(
        parsed.fragments > 0,
        "--format fmp4 wrote no moof: {parsed}"
    );
    let reported = probe::parse_recorded(&read_log(log)?)?;
    ensure!(
        measured.frames == reported.video_frames,
        "the file holds {} video frames, the recorder reports {}",
        measured.frames,
        reported.video_frames
    );
    let nominal = (DURATION_S as f64 / FRAME_S).round() as u64;
    ensure!(
        measured.frames.abs_diff(nominal) <= 1,
        "{} video frames for {DURATION_S} s, expected {nominal} +- 1",
        measured.frames
    );
    Ok(format!(
        "{measured}; ffmpeg -xerror clean; mp4-atom strict: {parsed}"
    ))
}

/// SIGKILL 8.5 s into the file: the `.partial` must play and hold all but the fragment in
/// progress; `recorder repair` must then make a faststart file that `recorder verify`
/// accepts.
fn run_kill9(
    recorder: &Recorder,
    bin: &Path,
    url: &str,
    file: &Path,
    log: &Path,
) -> Result<String> {
    let partial = PathBuf::from(format!("{}.partial", file.display()));
    let mut child = spawn_record(recorder, url, file, 60, &[], log)?;
    let wait_start = Instant::now();
    while !partial.exists() {
        ensure!(
            wait_start.elapsed() < Duration::from_secs(20),
            "no {} within 20 s; the recorder's output:\n{}",
            partial.display(),
            tail(log, 30)
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    let created = Instant::now();
    std::thread::sleep(KILL_AFTER);
    child.kill(); // SIGKILL
    let killed_after_s = created.elapsed().as_secs_f64();
    ensure!(!file.exists(), "{} exists after a kill", file.display());

    let (video, audio) = figures(&partial).context("ffprobe on the .partial")?;
    let video = video.context("no video stream in the .partial")?;
    let audio = audio.context("no audio stream in the .partial")?;
    decode_clean(&partial).context("ffmpeg decode of the .partial")?;
    let parsed = strict::check_file(&partial).context("strict parse of the .partial")?;
    ensure!(
        parsed.fragments > 0,
        "the .partial is not fragmented: {parsed}"
    );
    let kept_s = video.end_s;
    let floor_s = KILL_AFTER.as_secs_f64() - FRAGMENT_S - KILL_LATENCY_S;
    ensure!(
        kept_s >= floor_s,
        "the .partial holds {kept_s:.3} s of video, expected at least {floor_s:.2} s \
         ({:.1} s minus one fragment and {KILL_LATENCY_S} s of latency)",
        KILL_AFTER.as_secs_f64()
    );
    let lost_s = killed_after_s - kept_s;

    let said = recorder_tool(bin, &["repair"], &partial).context("recorder repair")?;
    ensure!(
        file.is_file() && !partial.exists(),
        "recorder repair did not rename {} to {}: {said}",
        partial.display(),
        file.display()
    );
    let repaired = strict::check_file(file).context("strict parse of the repaired file")?;
    ensure!(
        repaired.moov_before_mdat() && repaired.fragments == 0,
        "the repaired file is not faststart: {repaired}"
    );
    let counts = |s: &StrictSummary| s.tracks.iter().map(|t| t.2).collect::<Vec<_>>();
    ensure!(
        counts(&repaired) == vec![video.packets, audio.packets],
        "the repaired file holds {:?} samples, the .partial {} video and {} audio",
        counts(&repaired),
        video.packets,
        audio.packets
    );
    decode_clean(file).context("ffmpeg decode of the repaired file")?;
    let verdict = recorder_tool(bin, &["verify"], file).context("recorder verify")?;
    Ok(format!(
        "killed {killed_after_s:.2} s after the file appeared: the .partial ({} fragments) \
         holds {} video frames, {kept_s:.3} s, and {} audio frames: media lost {lost_s:.3} s; \
         ffmpeg -xerror clean; strict ok; repaired to {}: moov first; recorder verify: {}",
        parsed.fragments,
        video.packets,
        audio.packets,
        file.file_name()
            .map(|n| n.to_string_lossy())
            .unwrap_or_default(),
        verdict.lines().next().unwrap_or("").trim()
    ))
}

/// 35 s in 10 s files from a template: keyframe starts, no frame lost or doubled, no
/// audio gap or overlap at the switches.
fn run_segments(recorder: &Recorder, url: &str, dir: &Path, log: &Path) -> Result<String> {
    let seg_dir = dir.join("segments");
    let template = seg_dir.join("%Y-%m-%d_%H-%M-%S.mp4");
    let seg = format!("{SEGMENT_S}s");
    record(
        recorder,
        url,
        &template,
        SEGMENTS_TOTAL_S,
        &["--segment-duration", &seg],
        log,
    )?;
    let mut names: Vec<PathBuf> = std::fs::read_dir(&seg_dir)
        .with_context(|| format!("cannot list {}", seg_dir.display()))?
        .map(|e| e.map(|e| e.path()))
        .collect::<std::io::Result<_>>()?;
    names.sort();
    ensure!(
        names
            .iter()
            .all(|p| p.extension().is_some_and(|e| e == "mp4")),
        "unexpected files (a .partial left?): {names:?}"
    );
    ensure!(
        names.len() >= 3,
        "{} file(s), expected at least 3",
        names.len()
    );
    let reported = probe::parse_recorded(&read_log(log)?)?;
    ensure!(
        reported.files == names.len() as u64,
        "the recorder reports {} files, the directory holds {}",
        reported.files,
        names.len()
    );
    let mut per_file = Vec::new();
    for (k, path) in names.iter().enumerate() {
        let what = || format!("file {} ({})", k + 1, path.display());
        let (v, a) = figures(path).with_context(what)?;
        let (v, a) = (
            v.with_context(|| format!("{}: no video", what()))?,
            a.with_context(|| format!("{}: no audio", what()))?,
        );
        ensure!(
            v.starts_with_keyframe,
            "{}: does not start with a keyframe",
            what()
        );
        decode_clean(path).with_context(what)?;
        let parsed = strict::check_file(path).with_context(what)?;
        ensure!(
            parsed.moov_before_mdat(),
            "{}: moov not first: {parsed}",
            what()
        );
        per_file.push((v, a));
    }
    let video_frames: u64 = per_file.iter().map(|f| f.0.packets).sum();
    let audio_frames: u64 = per_file.iter().map(|f| f.1.packets).sum();
    let video_s: f64 = per_file.iter().map(|f| f.0.duration_s).sum();
    let audio_s: f64 = per_file.iter().map(|f| f.1.duration_s).sum();
    ensure!(
        video_frames == reported.video_frames && audio_frames == reported.audio_frames,
        "the files hold {video_frames} video and {audio_frames} audio frames, the recorder \
         reports {} and {}",
        reported.video_frames,
        reported.audio_frames
    );
    let nominal = SEGMENTS_TOTAL_S as f64 / FRAME_S;
    ensure!(
        (video_frames as f64 - nominal).abs() <= 1.0,
        "{video_frames} video frames in all, expected {nominal:.0} +- 1"
    );
    ensure!(
        (video_s - SEGMENTS_TOTAL_S as f64).abs() <= FRAME_S + MS,
        "the files' video lasts {video_s:.3} s in all, expected {SEGMENTS_TOTAL_S} s +- 1 frame"
    );
    ensure!(
        (audio_s - audio_frames as f64 * AAC_FRAME_S).abs() <= 2.0 * MS,
        "the files' audio lasts {audio_s:.3} s for {audio_frames} frames"
    );
    // At each switch the old file's audio ends, and the new one's starts, within one
    // audio frame after the video's: no gap, no overlap. (Audio is held until video
    // presented at or after it has come, so a keyframe arriving after the audio that
    // follows it, as a large IDR on a loaded machine does, still splits the audio right.)
    let switch_slack = AAC_FRAME_S + MS;
    let mut worst_ms: f64 = 0.0;
    for (k, (v, a)) in per_file.iter().enumerate() {
        let start = a.start_s - v.start_s;
        let end = (a.start_s + a.duration_s) - (v.start_s + v.duration_s);
        if k > 0 {
            ensure!(
                (-MS..=switch_slack).contains(&start),
                "file {}: audio starts {:.1} ms after the video",
                k + 1,
                start * 1000.0
            );
            worst_ms = worst_ms.max(start * 1000.0);
        }
        if k + 1 < per_file.len() {
            ensure!(
                (-MS..=switch_slack).contains(&end),
                "file {}: audio ends {:.1} ms after the video",
                k + 1,
                end * 1000.0
            );
            // The next file's audio starts where this one's ends.
            let next = per_file[k + 1].1.start_s - per_file[k + 1].0.start_s;
            ensure!(
                (end - next).abs() <= 2.0 * MS,
                "files {} and {}: audio ends {:.1} ms past the switch but the next starts \
                 {:.1} ms past it",
                k + 1,
                k + 2,
                end * 1000.0,
                next * 1000.0
            );
        }
    }
    let counts: Vec<String> = per_file.iter().map(|f| f.0.packets.to_string()).collect();
    Ok(format!(
        "{} files, video {} = {video_frames} frames (recorder: {}), {video_s:.3} s; audio \
         {audio_frames} frames (recorder: {}), {audio_s:.3} s; each starts on a keyframe, \
         decodes clean, strict ok, moov first; audio at the switches within {worst_ms:.1} ms \
         of the video, continuous",
        names.len(),
        counts.join("+"),
        reported.video_frames,
        reported.audio_frames
    ))
}

/// A free TCP port on 127.0.0.1 (bound, read, released).
fn free_port() -> Result<u16> {
    let listener =
        std::net::TcpListener::bind(("127.0.0.1", 0)).context("cannot bind a free port")?;
    Ok(listener.local_addr()?.port())
}

/// Starts `xtask/rtsp-server.py --port PORT` and waits for its READY line; its stderr
/// goes to `log`.
fn start_server_on(port: u16, max_seconds: u64, log: &Path) -> Result<ChildGuard> {
    use std::io::{BufRead, BufReader};
    let script = crate::util::project_root().join("xtask/rtsp-server.py");
    let log_file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)
        .with_context(|| format!("cannot open {}", log.display()))?;
    let mut child = Command::new(crate::deps::PYTHON)
        .arg(&script)
        .args(["--port", &port.to_string()])
        .args(["--max-seconds", &max_seconds.to_string()])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(log_file)
        .spawn()
        .with_context(|| format!("cannot start {}", script.display()))?;
    let stdout = child.stdout.take().context("no stdout pipe")?;
    let guard = ChildGuard::new(child);
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            let _ = tx.send(line);
        }
    });
    loop {
        match rx.recv_timeout(Duration::from_secs(15)) {
            Ok(line) if line.starts_with("READY ") => return Ok(guard),
            Ok(_) => {}
            Err(_) => bail!(
                "rtsp-server.py on port {port} did not start; its stderr:\n{}",
                tail(log, 20)
            ),
        }
    }
}

/// Waits until `path` exists (at most `limit`).
fn wait_for_file(path: &Path, limit: Duration, log: &Path) -> Result<()> {
    let start = Instant::now();
    while !path.exists() {
        ensure!(
            start.elapsed() < limit,
            "no {} within {limit:?}; the recorder's output:\n{}",
            path.display(),
            tail(log, 30)
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    Ok(())
}

/// Sends `signal` (`TERM`, `INT`) to a process.
fn send_signal(pid: u32, signal: &str) -> Result<()> {
    let status = Command::new("kill")
        .args([&format!("-{signal}"), &pid.to_string()])
        .status()
        .context("cannot run kill")?;
    ensure!(status.success(), "kill -{signal} {pid} failed ({status})");
    Ok(())
}

/// The `.mp4` files directly in `dir`, sorted; fails on a `.partial` left behind.
fn finished_files(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut names: Vec<PathBuf> = std::fs::read_dir(dir)
        .with_context(|| format!("cannot list {}", dir.display()))?
        .map(|e| e.map(|e| e.path()))
        .collect::<std::io::Result<_>>()?;
    names.sort();
    ensure!(
        names
            .iter()
            .all(|p| p.extension().is_some_and(|e| e == "mp4")),
        "unexpected files (a .partial left?): {names:?}"
    );
    Ok(names)
}

/// The server goes away 8 s into the recording and comes back 4 s later on the same
/// port: the recorder reconnects by itself, exits 0, and every file it wrote is sound.
fn run_reconnect(bin: &Path, dir: &Path, log: &Path) -> Result<String> {
    const TOTAL_S: u64 = 25;
    let port = free_port()?;
    let server_log = dir.join("reconnect-server.log");
    let mut server = start_server_on(port, 120, &server_log)?;
    let rec_dir = dir.join("reconnect");
    std::fs::create_dir_all(&rec_dir)?;
    let out = rec_dir.join("cam.mp4");
    let url = format!("rtsp://127.0.0.1:{port}/h264aac");
    let recorder = Recorder::Ours(bin.to_path_buf());
    let mut child = spawn_record(&recorder, &url, &out, TOTAL_S, &[], log)?;
    let started = Instant::now();
    wait_for_file(
        &PathBuf::from(format!("{}.partial", out.display())),
        Duration::from_secs(20),
        log,
    )?;
    std::thread::sleep(Duration::from_secs(8));
    server.kill();
    let down_at = started.elapsed().as_secs_f64();
    std::thread::sleep(Duration::from_secs(4));
    let _server = start_server_on(port, 120, &server_log)?;
    let up_at = started.elapsed().as_secs_f64();
    let status = child
        .wait_timeout(Duration::from_secs(TOTAL_S) + RECORD_SLACK)?
        .with_context(|| {
            format!(
                "the recorder did not finish; its output:\n{}",
                tail(log, 30)
            )
        })?;
    let took = started.elapsed().as_secs_f64();
    ensure!(
        status.success(),
        "the recorder failed ({status}); its output:\n{}",
        tail(log, 30)
    );
    let text = read_log(log)?;
    let reconnects: Vec<&str> = text
        .lines()
        .filter(|l| l.contains("reconnecting in"))
        .collect();
    ensure!(
        !reconnects.is_empty() && reconnects.iter().all(|l| l.contains(&url)),
        "no reconnect line naming {url} in the log:\n{}",
        tail(log, 30)
    );
    let files = finished_files(&rec_dir)?;
    ensure!(
        files.len() >= 2,
        "{} file(s), expected at least 2: {files:?}",
        files.len()
    );
    let mut frames = Vec::new();
    for f in &files {
        let what = || f.display().to_string();
        let (v, a) = figures(f).with_context(what)?;
        let v = v.with_context(|| format!("{}: no video", what()))?;
        ensure!(a.is_some(), "{}: no audio", what());
        ensure!(
            v.starts_with_keyframe,
            "{}: does not start on a keyframe",
            what()
        );
        decode_clean(f).with_context(what)?;
        recorder_tool(bin, &["verify"], f).with_context(what)?;
        frames.push(v.packets);
    }
    let reported = probe::parse_recorded(&text)?;
    let total: u64 = frames.iter().sum();
    ensure!(
        reported.files == files.len() as u64 && reported.video_frames == total,
        "the recorder reports {} files and {} video frames, the directory holds {} files \
         with {total}",
        reported.files,
        reported.video_frames,
        files.len()
    );
    let counts: Vec<String> = frames.iter().map(u64::to_string).collect();
    Ok(format!(
        "server down at {down_at:.1} s, up at {up_at:.1} s; {} reconnect line(s), e.g. {:?}; \
         exit 0 after {took:.1} s; {} files with {} video frames, each decodes clean and \
         passes recorder verify",
        reconnects.len(),
        reconnects[0]
            .split_once("WARN ")
            .map_or(reconnects[0], |(_, l)| l)
            .trim(),
        files.len(),
        counts.join("+")
    ))
}

/// `recorder run` with three cameras, SIGTERM after 8 s: every file finalized.
fn run_run(bin: &Path, base: &str, dir: &Path, log: &Path) -> Result<String> {
    // Start after the standard recordings (10 s) so that fewer encoders run at once.
    std::thread::sleep(Duration::from_secs(DURATION_S + 2));
    let run_dir = dir.join("run");
    std::fs::create_dir_all(&run_dir)?;
    let cams = [
        ("front", "/h264aac", "h264"),
        ("side", "/h265aac", "hevc"),
        ("yard", "/mjpeg", "mjpeg"),
    ];
    let mut config = format!(
        "[defaults]\noutput = \"{}/{{name}}/%H-%M-%S.mp4\"\nstall_timeout = \"5s\"\n",
        run_dir.display()
    );
    for (name, mount, _) in cams {
        config.push_str(&format!(
            "\n[[camera]]\nname = \"{name}\"\nurl = \"{base}{mount}?case=run\"\n"
        ));
    }
    let config_path = dir.join("cameras.toml");
    std::fs::write(&config_path, &config)?;
    let mut cmd = Command::new(bin);
    cmd.args(["run", "--config"]).arg(&config_path);
    println!("$ {}", display(&cmd));
    let log_file = std::fs::File::create(log)?;
    let mut child = ChildGuard::new(
        cmd.stdin(Stdio::null())
            .stdout(log_file.try_clone()?)
            .stderr(log_file)
            .spawn()
            .context("cannot start recorder run")?,
    );
    // Wait until each camera writes its file.
    let start = Instant::now();
    loop {
        let writing = cams.iter().all(|(name, _, _)| {
            std::fs::read_dir(run_dir.join(name)).is_ok_and(|mut d| d.next().is_some())
        });
        if writing {
            break;
        }
        ensure!(
            start.elapsed() < Duration::from_secs(20),
            "not every camera started within 20 s; the output:\n{}",
            tail(log, 30)
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    std::thread::sleep(Duration::from_secs(8));
    send_signal(child.id(), "TERM")?;
    let termed = Instant::now();
    let status = child
        .wait_timeout(Duration::from_secs(20))?
        .with_context(|| {
            format!(
                "recorder run did not exit after SIGTERM:\n{}",
                tail(log, 30)
            )
        })?;
    let exit_s = termed.elapsed().as_secs_f64();
    ensure!(
        status.success(),
        "recorder run failed ({status}) on SIGTERM; its output:\n{}",
        tail(log, 30)
    );
    ensure!(
        exit_s < 6.0,
        "recorder run took {exit_s:.1} s to exit after SIGTERM"
    );
    let text = read_log(log)?;
    let mut parts = Vec::new();
    for (name, _, codec) in cams {
        ensure!(
            text.contains(&format!("name={name}")),
            "no log line tagged with camera {name}:\n{}",
            tail(log, 30)
        );
        let files = finished_files(&run_dir.join(name))?;
        let [file] = files.as_slice() else {
            bail!("camera {name}: expected one file, found {files:?}");
        };
        let what = || format!("camera {name}: {}", file.display());
        let parsed = strict::check_file(file).with_context(what)?;
        ensure!(
            parsed.moov_before_mdat(),
            "{}: moov not first: {parsed}",
            what()
        );
        decode_clean(file).with_context(what)?;
        let show = ffprobe_json(&["-show_streams"], file).with_context(what)?;
        let got = show["streams"][0]["codec_name"].as_str().unwrap_or("?");
        ensure!(got == codec, "{}: codec {got}, expected {codec}", what());
        let (v, _) = figures(file).with_context(what)?;
        let v = v.with_context(|| format!("{}: no video", what()))?;
        ensure!(
            v.duration_s >= 7.0,
            "{}: only {:.2} s of video",
            what(),
            v.duration_s
        );
        parts.push(format!(
            "{name} {codec} {} frames {:.2} s",
            v.packets, v.duration_s
        ));
    }
    Ok(format!(
        "SIGTERM after 8 s: exit 0 in {exit_s:.1} s; {}; each moov first, ffmpeg -xerror \
         clean, log lines tagged per camera",
        parts.join(", ")
    ))
}

/// A second signal (SIGINT then SIGTERM): exit 130 at once, the `.partial` left for
/// `recorder repair`.
fn run_double_signal(bin: &Path, url: &str, dir: &Path, log: &Path) -> Result<String> {
    std::thread::sleep(Duration::from_secs(DURATION_S + 2));
    let sig_dir = dir.join("sigint2");
    std::fs::create_dir_all(&sig_dir)?;
    let out = sig_dir.join("cam.mp4");
    let partial = PathBuf::from(format!("{}.partial", out.display()));
    let recorder = Recorder::Ours(bin.to_path_buf());
    let mut child = spawn_record(&recorder, url, &out, 60, &[], log)?;
    wait_for_file(&partial, Duration::from_secs(20), log)?;
    std::thread::sleep(Duration::from_secs(4));
    // Finishing takes milliseconds, and signals of one kind may coalesce: stop the
    // process, queue a SIGINT and a SIGTERM, and let it go on with both pending.
    send_signal(child.id(), "STOP")?;
    send_signal(child.id(), "INT")?;
    send_signal(child.id(), "TERM")?;
    send_signal(child.id(), "CONT")?;
    let status = child
        .wait_timeout(Duration::from_secs(10))?
        .context("the recorder did not exit after two signals")?;
    ensure!(
        status.code() == Some(130),
        "exit {status} after two signals, expected 130; its output:\n{}",
        tail(log, 20)
    );
    ensure!(
        partial.is_file() && !out.exists(),
        "expected the .partial to stay: {:?}",
        finished_files(&sig_dir).err()
    );
    decode_clean(&partial).context("the .partial")?;
    recorder_tool(bin, &["repair"], &partial).context("recorder repair")?;
    let verdict = recorder_tool(bin, &["verify"], &out).context("recorder verify")?;
    Ok(format!(
        "exit 130 at the second signal; the .partial decodes clean; repaired: {}",
        verdict.lines().next().unwrap_or("").trim()
    ))
}

/// `--max-retries 0` against a refused port: a non-zero exit at once, one error line.
fn run_max_retries(bin: &Path, dir: &Path, log: &Path) -> Result<String> {
    let port = free_port()?;
    let out = dir.join("maxretries.mp4");
    let mut cmd = Command::new(bin);
    cmd.args(["record", &format!("rtsp://127.0.0.1:{port}/x"), "-o"])
        .arg(&out)
        .args(["--max-retries", "0"]);
    println!("$ {}", display(&cmd));
    let started = Instant::now();
    let result = cmd
        .stdin(Stdio::null())
        .output()
        .context("cannot start the recorder")?;
    let took = started.elapsed().as_secs_f64();
    let stderr = String::from_utf8_lossy(&result.stderr);
    std::fs::write(log, stderr.as_bytes())?;
    ensure!(
        !result.status.success() && result.status.code().is_some(),
        "exit {} with --max-retries 0 against a refused port",
        result.status
    );
    ensure!(took < 5.0, "took {took:.1} s to give up");
    let errors: Vec<&str> = stderr.lines().filter(|l| l.starts_with("error:")).collect();
    ensure!(
        errors.len() == 1 && errors[0].to_lowercase().contains("connection refused"),
        "expected one error line naming the refused connection:\n{stderr}"
    );
    ensure!(
        !stderr.contains("reconnecting in"),
        "it tried to reconnect:\n{stderr}"
    );
    ensure!(!out.exists(), "a file was written");
    Ok(format!(
        "exit {} after {took:.2} s: {}",
        result.status.code().unwrap_or(-1),
        errors[0]
    ))
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
