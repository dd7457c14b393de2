//! Measuring one run: the recorders' processes under `/usr/bin/time`, their figures, and
//! the frames their files hold.

use std::fmt::Write as _;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

use super::{FPS, Tool};
use crate::util::{descendants, display, output, tail};
/// The `/usr/bin/time` format: wall seconds, user seconds, system seconds, peak RSS (KiB).
const TIME_FORMAT: &str = "%e %U %S %M";
pub(super) const TIME: &str = "/usr/bin/time";

/// One process's figures from `/usr/bin/time`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) struct Usage {
    pub(super) wall_s: f64,
    pub(super) user_s: f64,
    pub(super) sys_s: f64,
    pub(super) max_rss_kib: u64,
}

/// Parses what `/usr/bin/time -f "%e %U %S %M"` wrote: its last non-empty line (a line
/// such as `Command exited with non-zero status 1` may come before it).
fn parse_time(text: &str) -> Result<Usage> {
    let line = text
        .lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .context("empty /usr/bin/time output")?;
    let fields: Vec<&str> = line.split_whitespace().collect();
    let [wall, user, sys, rss] = fields.as_slice() else {
        bail!("expected 4 fields from /usr/bin/time, got {line:?}");
    };
    let num = |s: &str| -> Result<f64> {
        s.parse::<f64>()
            .with_context(|| format!("bad number {s:?} in /usr/bin/time output {line:?}"))
    };
    Ok(Usage {
        wall_s: num(wall)?,
        user_s: num(user)?,
        sys_s: num(sys)?,
        max_rss_kib: rss
            .parse()
            .with_context(|| format!("bad RSS {rss:?} in /usr/bin/time output {line:?}"))?,
    })
}

/// One recorder recording N cameras for S seconds.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Measurement {
    pub(super) tool: Tool,
    pub(super) cameras: usize,
    pub(super) seconds: u64,
    /// One per process (1 for `recorder run`, N for the others).
    pub(super) usages: Vec<Usage>,
    /// Video frames in each camera's files.
    pub(super) frames: Vec<u64>,
    /// Processes that exited non-zero.
    pub(super) failures: usize,
}

impl Measurement {
    pub(super) fn cpu_s(&self) -> f64 {
        self.usages.iter().map(|u| u.user_s + u.sys_s).sum()
    }

    /// (user + sys) / N / (S / 60).
    pub(super) fn cpu_per_stream_minute(&self) -> f64 {
        self.cpu_s() / self.cameras as f64 / (self.seconds as f64 / 60.0)
    }

    /// Sum of every process's peak RSS.
    pub(super) fn rss_total_mib(&self) -> f64 {
        self.usages.iter().map(|u| u.max_rss_kib).sum::<u64>() as f64 / 1024.0
    }

    pub(super) fn rss_per_stream_mib(&self) -> f64 {
        self.rss_total_mib() / self.cameras as f64
    }

    pub(super) fn wall_s(&self) -> f64 {
        self.usages.iter().map(|u| u.wall_s).fold(0.0, f64::max)
    }

    pub(super) fn expected_frames(&self) -> u64 {
        self.seconds * FPS
    }

    pub(super) fn frames_min(&self) -> u64 {
        self.frames.iter().copied().min().unwrap_or(0)
    }

    pub(super) fn frames_max(&self) -> u64 {
        self.frames.iter().copied().max().unwrap_or(0)
    }

    /// Every stream holds at least `expected - 1` frames (one frame of slack at the
    /// boundaries) and every process exited 0.
    pub(super) fn no_frame_lost(&self) -> bool {
        self.failures == 0
            && self.frames.len() == self.cameras
            && self.frames_min() + 1 >= self.expected_frames()
    }
}

/// A process under `/usr/bin/time`; on drop, it and its descendants are killed by pid.
#[derive(Debug)]
struct Timed {
    child: Option<Child>,
    status: Option<ExitStatus>,
    time_file: PathBuf,
    log: PathBuf,
}

impl Timed {
    /// Starts `program args...` under `/usr/bin/time -o time_file`, output to `log`.
    fn spawn(program: &str, args: &[String], time_file: &Path, log: &Path) -> Result<Self> {
        let mut cmd = Command::new(TIME);
        cmd.arg("-o")
            .arg(time_file)
            .args(["-f", TIME_FORMAT, program])
            .args(args);
        let log_file =
            File::create(log).with_context(|| format!("cannot create {}", log.display()))?;
        let child = cmd
            .stdin(Stdio::null())
            .stdout(log_file.try_clone()?)
            .stderr(log_file)
            .spawn()
            .with_context(|| format!("cannot start `{}`", display(&cmd)))?;
        Ok(Self {
            child: Some(child),
            status: None,
            time_file: time_file.to_path_buf(),
            log: log.to_path_buf(),
        })
    }

    /// True once the process has exited (and been reaped).
    fn poll(&mut self) -> Result<bool> {
        if let Some(child) = self.child.as_mut()
            && let Some(status) = child.try_wait().context("cannot wait for child")?
        {
            self.status = Some(status);
            self.child = None;
        }
        Ok(self.child.is_none())
    }

    /// Kills the descendants, then the process itself, by pid.
    fn kill_tree(&mut self) {
        if let Some(mut child) = self.child.take() {
            for pid in descendants(child.id()) {
                // Fails only if it has already exited.
                let _ = Command::new("kill")
                    .args(["-KILL", &pid.to_string()])
                    .stderr(Stdio::null())
                    .status();
            }
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    fn usage(&self) -> Result<Usage> {
        let text = std::fs::read_to_string(&self.time_file)
            .with_context(|| format!("cannot read {}", self.time_file.display()))?;
        parse_time(&text).with_context(|| format!("in {}", self.time_file.display()))
    }
}

impl Drop for Timed {
    fn drop(&mut self) {
        self.kill_tree();
    }
}

/// Runs `program args...` under `/usr/bin/time` (output to `log`) until it exits, killing
/// it after `limit`; returns its figures and whether it exited 0.
pub(super) fn run_timed(
    program: &str,
    args: &[String],
    time_file: &Path,
    log: &Path,
    limit: Duration,
) -> Result<(Usage, bool)> {
    let mut timed = Timed::spawn(program, args, time_file, log)?;
    let started = Instant::now();
    while !timed.poll()? {
        if started.elapsed() > limit {
            drop(timed);
            bail!(
                "{program} still running after {limit:?} (killed); its log:\n{}",
                tail(log, 20)
            );
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    Ok((timed.usage()?, timed.status.is_some_and(|s| s.success())))
}

/// A scratch directory removed when dropped.
#[derive(Debug)]
pub(super) struct TempDir(pub(super) PathBuf);

impl TempDir {
    pub(super) fn new() -> Result<Self> {
        let dir = std::env::temp_dir().join(format!("recorder-bench-{}", std::process::id()));
        if dir.exists() {
            std::fs::remove_dir_all(&dir)
                .with_context(|| format!("cannot clear {}", dir.display()))?;
        }
        std::fs::create_dir_all(&dir)
            .with_context(|| format!("cannot create {}", dir.display()))?;
        Ok(Self(dir))
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Builds the release `recorder` and returns its path.
pub(super) fn build_release_recorder() -> Result<PathBuf> {
    crate::verify::build_recorder_with(&["--release"])
}

/// Builds the release `recorder` (or with `release` false the debug one) and returns its
/// path.
pub(super) fn build_recorder(release: bool) -> Result<PathBuf> {
    if release {
        build_release_recorder()
    } else {
        crate::verify::build_recorder_with(&[])
    }
}

/// Video frames (packets of `v:0`) in the `.mp4` files of `dir`.
pub(super) fn count_frames(dir: &Path) -> Result<u64> {
    let mut total = 0;
    for entry in std::fs::read_dir(dir).with_context(|| format!("cannot list {}", dir.display()))? {
        let path = entry?.path();
        if path.extension().is_none_or(|e| e != "mp4") {
            continue;
        }
        let mut cmd = Command::new("ffprobe");
        cmd.args([
            "-v",
            "error",
            "-select_streams",
            "v:0",
            "-count_packets",
            "-show_entries",
            "stream=nb_read_packets",
            "-of",
            "csv=p=0",
        ])
        .arg(&path);
        let text = output(&mut cmd)?;
        let n = text.trim();
        total += n
            .parse::<u64>()
            .with_context(|| format!("ffprobe counted {n:?} packets in {}", path.display()))?;
    }
    Ok(total)
}

/// Records `n` cameras of `url` with `tool` for `seconds` into `run_dir` (removed
/// afterwards) and measures it.
pub(super) fn run_one(
    tool: Tool,
    n: usize,
    seconds: u64,
    url: &str,
    bin: &Path,
    run_dir: &Path,
) -> Result<Measurement> {
    let cam_dir = |i: usize| run_dir.join(format!("cam{i}"));
    for i in 0..n {
        std::fs::create_dir_all(cam_dir(i))?;
    }
    let mut procs = Vec::new();
    let time_file = |i: usize| run_dir.join(format!("time-{i}.txt"));
    let log = |i: usize| run_dir.join(format!("log-{i}.txt"));
    match tool {
        Tool::Ours => {
            let mut config = format!(
                "[defaults]\noutput = \"{}/{{name}}/rec.mp4\"\n",
                run_dir.display()
            );
            for i in 0..n {
                let _ = write!(config, "\n[[camera]]\nname = \"cam{i}\"\nurl = \"{url}\"\n");
            }
            let config_path = run_dir.join("cameras.toml");
            std::fs::write(&config_path, config)?;
            let args = vec![
                "run".to_string(),
                "--config".to_string(),
                config_path.display().to_string(),
                "--duration".to_string(),
                format!("{seconds}s"),
            ];
            let program = bin.to_str().context("recorder path is not UTF-8")?;
            println!("$ {TIME} -f '{TIME_FORMAT}' {program} {}", args.join(" "));
            procs.push(Timed::spawn(program, &args, &time_file(0), &log(0))?);
        }
        Tool::Ffmpeg => {
            for i in 0..n {
                let out = cam_dir(i).join("out.mp4");
                let args: Vec<String> = [
                    "-nostdin",
                    "-loglevel",
                    "warning",
                    "-nostats",
                    "-rtsp_transport",
                    "tcp",
                    "-i",
                    url,
                    "-t",
                    &seconds.to_string(),
                    "-c",
                    "copy",
                    "-y",
                ]
                .iter()
                .map(|s| s.to_string())
                .chain([out.display().to_string()])
                .collect();
                if i == 0 {
                    println!(
                        "$ {n} x {TIME} -f '{TIME_FORMAT}' ffmpeg {}",
                        args.join(" ")
                    );
                }
                procs.push(Timed::spawn("ffmpeg", &args, &time_file(i), &log(i))?);
            }
        }
        Tool::Gst => {
            for i in 0..n {
                let out = cam_dir(i).join("out.mp4");
                let args: Vec<String> = [
                    "-s",
                    "INT",
                    "-k",
                    "15",
                    "--preserve-status",
                    // Signal gst-launch-1.0 alone: a second SIGINT (timeout's to its
                    // process group) would abort the EOS that finishes the file.
                    "--foreground",
                    &seconds.to_string(),
                    "gst-launch-1.0",
                    "-e",
                    "rtspsrc",
                    &format!("location={url}"),
                    "protocols=tcp",
                    "!",
                    "rtph264depay",
                    "!",
                    "h264parse",
                    "!",
                    "mp4mux",
                    "!",
                    "filesink",
                    &format!("location={}", out.display()),
                ]
                .iter()
                .map(|s| s.to_string())
                .collect();
                if i == 0 {
                    println!(
                        "$ {n} x {TIME} -f '{TIME_FORMAT}' timeout {}",
                        args.join(" ")
                    );
                }
                procs.push(Timed::spawn("timeout", &args, &time_file(i), &log(i))?);
            }
        }
    }

    // Connecting 32 clients and finalizing their files takes a few seconds.
    let limit = Duration::from_secs(seconds + 30 + n as u64);
    let started = Instant::now();
    loop {
        let mut running = 0;
        for p in &mut procs {
            if !p.poll()? {
                running += 1;
            }
        }
        if running == 0 {
            break;
        }
        if started.elapsed() > limit {
            let log = procs
                .iter()
                .find(|p| p.child.is_some())
                .map(|p| p.log.clone());
            drop(procs);
            bail!(
                "{running} {} process(es) still running after {limit:?} (killed); a log:\n{}",
                tool.key(),
                log.map_or_else(String::new, |l| tail(&l, 20))
            );
        }
        std::thread::sleep(Duration::from_millis(100));
    }

    let mut usages = Vec::new();
    let mut failures = 0;
    for p in &procs {
        usages.push(p.usage()?);
        if p.status.is_some_and(|s| !s.success()) && !finished_anyway(tool, &p.log) {
            failures += 1;
            println!(
                "warning: {} exited with {:?}; its log ends:\n{}",
                tool.key(),
                p.status,
                tail(&p.log, 10)
            );
        }
    }
    let frames = (0..n)
        .map(|i| {
            count_frames(&cam_dir(i)).unwrap_or_else(|e| {
                println!(
                    "warning: {} N={n} camera {i}: counted as 0 frames: {e:#}",
                    tool.key()
                );
                0
            })
        })
        .collect::<Vec<_>>();
    // The media is not needed any more: free the disk before the next run.
    let _ = std::fs::remove_dir_all(run_dir);
    Ok(Measurement {
        tool,
        cameras: n,
        seconds,
        usages,
        frames,
        failures,
    })
}

/// gst-launch-1.0 exits 1 after an `Unhandled error` from rtspsrc while tearing down,
/// after the EOS has reached the sink and mp4mux has finished the file: that is no failure.
fn finished_anyway(tool: Tool, log: &Path) -> bool {
    tool == Tool::Gst
        && std::fs::read_to_string(log)
            .is_ok_and(|text| text.contains("Got EOS from element \"pipeline0\""))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_time_output() {
        let u = parse_time("20.53 0.31 0.12 23456\n").unwrap();
        assert_eq!(
            u,
            Usage {
                wall_s: 20.53,
                user_s: 0.31,
                sys_s: 0.12,
                max_rss_kib: 23456
            }
        );
    }

    #[test]
    fn parses_time_output_after_exit_status_line() {
        let u =
            parse_time("Command exited with non-zero status 1\n1.00 0.50 0.25 1024\n\n").unwrap();
        assert_eq!(u.user_s + u.sys_s, 0.75);
        assert_eq!(u.max_rss_kib, 1024);
    }

    #[test]
    fn rejects_bad_time_output() {
        assert!(parse_time("").is_err());
        assert!(parse_time("1.0 2.0 3.0\n").is_err());
        assert!(parse_time("1.0 x 3.0 4\n").is_err());
        assert!(parse_time("1.0 2.0 3.0 4.5\n").is_err());
    }
}
