//! `cargo xtask verify` and `cargo xtask demo`: record from a real RTSP server (GStreamer's)
//! and check the files with tools written elsewhere (ffprobe, ffmpeg, mp4-atom).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail, ensure};
use serde_json::Value;

use crate::probe::{self, Expect, ExpectAudio, Measured};
use crate::server::{MOUNTS, RtspServer};
use crate::strict;
use crate::util::{ChildGuard, cargo, display, output, tail};

/// How much longer than the requested duration a recording may take before it is killed
/// (connecting, waiting for the first keyframe, writing the moov).
const RECORD_SLACK: Duration = Duration::from_secs(50);

/// One verify case: a server mount and what its recording must contain.
struct Case {
    name: &'static str,
    mount: &'static str,
    expect: Expect,
}

const AAC: ExpectAudio = ExpectAudio {
    codec: "aac",
    sample_rate_hz: 48_000,
    channels: 2,
};

fn cases(duration_s: f64) -> Vec<Case> {
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
        Case {
            name: "h264aac",
            mount: "/h264aac",
            expect: video("h264", "avc1", 30, Some(AAC)),
        },
        Case {
            name: "h265aac",
            mount: "/h265aac",
            expect: video("hevc", "hvc1", 30, Some(AAC)),
        },
        Case {
            name: "mjpeg",
            mount: "/mjpeg",
            expect: video("mjpeg", "mp4v", 1, None),
        },
        Case {
            name: "h264",
            mount: "/h264",
            expect: video("h264", "avc1", 30, None),
        },
    ]
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
    fn command(&self, url: &str, out: &Path, duration_s: u64) -> Command {
        match self {
            Recorder::Ours(bin) => {
                let mut cmd = Command::new(bin);
                cmd.args(["record", url, "-o"])
                    .arg(out)
                    .args(["--duration", &format!("{duration_s}s")]);
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
}

/// Builds the `recorder` binary (debug) and returns its path, wherever the target dir is
/// (`CARGO_TARGET_DIR` or `<workspace>/target`): cargo reports it in its JSON messages.
pub fn build_recorder() -> Result<PathBuf> {
    let mut cmd = cargo();
    cmd.args([
        "build",
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

/// Records `url` to `out` with a time limit; the recorder's output goes to `log`.
fn record(recorder: &Recorder, url: &str, out: &Path, duration_s: u64, log: &Path) -> Result<()> {
    let mut cmd = recorder.command(url, out, duration_s);
    println!("$ {}", display(&cmd));
    let log_file =
        std::fs::File::create(log).with_context(|| format!("cannot create {}", log.display()))?;
    let child = cmd
        .stdin(Stdio::null())
        .stdout(log_file.try_clone()?)
        .stderr(log_file)
        .spawn()
        .with_context(|| format!("cannot start `{}`", display(&cmd)))?;
    let mut child = ChildGuard::new(child);
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
        Some(_) => {}
    }
    ensure!(
        out.is_file(),
        "the recorder exited 0 but wrote no {}; its output:\n{}",
        out.display(),
        tail(log, 30)
    );
    Ok(())
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

/// Options of `cargo xtask verify`.
#[derive(Clone, Debug, Default)]
pub struct VerifyOptions {
    /// Record with ffmpeg instead of our recorder (checks the harness, not the recorder).
    pub with_ffmpeg: bool,
    /// Only run the cases with these names (all when empty).
    pub only: Vec<String>,
}

/// Runs every case in turn; fails at the first failing check.
pub fn verify(options: &VerifyOptions) -> Result<()> {
    const DURATION_S: u64 = 10;
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
        .collect();

    let recorder = if options.with_ffmpeg {
        Recorder::Ffmpeg
    } else {
        Recorder::Ours(build_recorder()?)
    };
    let dir = scratch_dir("verify")?;
    let server = RtspServer::start(300, &dir.join("rtsp-server.log"))?;
    let started = Instant::now();
    for case in &selected {
        let file = dir.join(format!("{}.mp4", case.name));
        let result = run_case(&recorder, &server, case, &file, &dir, DURATION_S);
        match result {
            Ok(line) => println!("{:<8} OK  {line}", case.name),
            Err(e) => {
                println!("{:<8} FAIL", case.name);
                server.stop();
                return Err(e.context(format!(
                    "verify case {} ({}) failed; files kept in {}",
                    case.name,
                    case.mount,
                    dir.display()
                )));
            }
        }
    }
    server.stop();
    // Only a passing run removes its files; failures keep them for a look.
    std::fs::remove_dir_all(&dir).with_context(|| format!("cannot remove {}", dir.display()))?;
    println!(
        "verify: {} case(s) passed in {:.0} s",
        selected.len(),
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

fn run_case(
    recorder: &Recorder,
    server: &RtspServer,
    case: &Case,
    file: &Path,
    dir: &Path,
    duration_s: u64,
) -> Result<String> {
    let log = dir.join(format!("{}.log", case.name));
    record(recorder, &server.url(case.mount), file, duration_s, &log)?;
    let measured = probe(file, &case.expect).context("ffprobe check")?;
    decode_clean(file).context("ffmpeg decode check")?;
    let parsed = strict::check_file(file).context("strict parser check")?;
    Ok(format!(
        "{measured}; ffmpeg -xerror clean; mp4-atom strict: {parsed}"
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
    let log = dir.join("recorder.log");
    record(
        &Recorder::Ours(recorder),
        &server.url("/h264aac"),
        &out,
        seconds,
        &log,
    )?;
    server.stop();
    println!("{}", tail(&log, 20));
    let expect = Expect {
        duration_s: seconds as f64,
        ..cases(seconds as f64).remove(0).expect
    };
    let measured = probe(&out, &expect)?;
    println!("wrote {}: {measured}", out.display());
    std::fs::remove_dir_all(&dir).with_context(|| format!("cannot remove {}", dir.display()))?;
    Ok(())
}
