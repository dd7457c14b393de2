//! Running the recorder (or ffmpeg) and the tools that check its files: ffprobe, an ffmpeg
//! decode, `recorder repair`/`verify`; processes, signals, ports and scratch directories.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail, ensure};
use serde_json::Value;

use super::RECORD_SLACK;
use crate::probe::{self, Expect, Measured, StreamFigures};
use crate::util::{ChildGuard, cargo, display, output, tail};
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

    pub(super) fn is_ours(&self) -> bool {
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
pub(super) fn scratch_dir(what: &str) -> Result<PathBuf> {
    let dir = std::env::temp_dir().join(format!("recorder-{what}-{}", std::process::id()));
    if dir.exists() {
        std::fs::remove_dir_all(&dir).with_context(|| format!("cannot clear {}", dir.display()))?;
    }
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    Ok(dir)
}

/// Starts a recording of `url` to `out`; its output goes to `log`.
pub(super) fn spawn_record(
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
pub(super) fn record(
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

pub(super) fn ensure_file(out: &Path, log: &Path) -> Result<()> {
    ensure!(
        out.is_file(),
        "the recorder exited 0 but wrote no {}; its output:\n{}",
        out.display(),
        tail(log, 30)
    );
    Ok(())
}

pub(super) fn read_log(log: &Path) -> Result<String> {
    std::fs::read_to_string(log).with_context(|| format!("cannot read {}", log.display()))
}

pub(super) fn ffprobe_json(args: &[&str], file: &Path) -> Result<Value> {
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
pub(super) fn decode_clean(file: &Path) -> Result<()> {
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
pub(super) fn figures(file: &Path) -> Result<(Option<StreamFigures>, Option<StreamFigures>)> {
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
pub(super) fn recorder_tool(bin: &Path, args: &[&str], file: &Path) -> Result<String> {
    let mut cmd = Command::new(bin);
    cmd.args(args).arg(file);
    output(&mut cmd)
}

/// A free TCP port on 127.0.0.1 (bound, read, released).
pub(super) fn free_port() -> Result<u16> {
    let listener =
        std::net::TcpListener::bind(("127.0.0.1", 0)).context("cannot bind a free port")?;
    Ok(listener.local_addr()?.port())
}

/// Starts `xtask/rtsp-server.py --port PORT` and waits for its READY line; its stderr
/// goes to `log`.
pub(super) fn start_server_on(port: u16, max_seconds: u64, log: &Path) -> Result<ChildGuard> {
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
pub(super) fn wait_for_file(path: &Path, limit: Duration, log: &Path) -> Result<()> {
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
pub(super) fn send_signal(pid: u32, signal: &str) -> Result<()> {
    let status = Command::new("kill")
        .args([&format!("-{signal}"), &pid.to_string()])
        .status()
        .context("cannot run kill")?;
    ensure!(status.success(), "kill -{signal} {pid} failed ({status})");
    Ok(())
}

/// The `.mp4` files directly in `dir`, sorted; fails on a `.partial` left behind.
pub(super) fn finished_files(dir: &Path) -> Result<Vec<PathBuf>> {
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
