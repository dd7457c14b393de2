//! `cargo xtask bench`: CPU, memory and frames of `recorder run` against N ffmpeg and N
//! GStreamer processes recording the same streams from one local GStreamer RTSP server.
//!
//! Every recorder process runs under `/usr/bin/time`, so CPU time and peak RSS come from
//! the kernel's accounting (`wait4`) of that process and its children. The runs are
//! sequential: one recorder and one N at a time. The server's own CPU is not counted.
//!
//! With `--rounds R`, every N is measured R times: in each round the three recorders run
//! one after another, in an order that rotates from round to round so that none always
//! goes first, and the report shows the median over the rounds with the range beside it.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail, ensure};

use crate::server::RtspServer;
use crate::util::{display, output, project_root, tail};

/// The server's frame rate and GOP (see `xtask/rtsp-server.py`).
const FPS: u64 = 30;
/// The mount all clients record: 640x360 30 fps H.264 + AAC.
const MOUNT: &str = "/h264aac";
/// The `/usr/bin/time` format: wall seconds, user seconds, system seconds, peak RSS (KiB).
const TIME_FORMAT: &str = "%e %U %S %M";
const TIME: &str = "/usr/bin/time";

/// What `cargo xtask bench` was asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BenchOptions {
    /// Seconds each recording lasts.
    pub seconds: u64,
    /// The numbers of cameras to record at once, one run per recorder, number and round.
    pub cameras: Vec<usize>,
    /// Rounds per number of cameras (at least 1); the report shows medians over them.
    pub rounds: usize,
}

impl Default for BenchOptions {
    fn default() -> Self {
        Self {
            seconds: 60,
            cameras: vec![1, 8, 32],
            rounds: 1,
        }
    }
}

impl BenchOptions {
    /// Parses `[--seconds S] [--cameras 1,8,32] [--rounds R]`.
    pub fn parse(args: &[String]) -> Result<Self> {
        let mut options = Self::default();
        let mut args = args.iter();
        while let Some(flag) = args.next() {
            let value = args
                .next()
                .with_context(|| format!("bench: {flag} wants a value"))?;
            match flag.as_str() {
                "--seconds" => {
                    options.seconds = value.parse().with_context(|| {
                        format!("--seconds wants a whole number, got {value:?}")
                    })?;
                    ensure!(options.seconds >= 1, "--seconds must be at least 1");
                }
                "--cameras" => options.cameras = parse_cameras(value)?,
                "--rounds" => {
                    options.rounds = value
                        .parse()
                        .with_context(|| format!("--rounds wants a whole number, got {value:?}"))?;
                    ensure!(options.rounds >= 1, "--rounds must be at least 1");
                }
                other => bail!(
                    "usage: cargo xtask bench [--seconds S] [--cameras 1,8,32] [--rounds R]; \
                     got {other:?}"
                ),
            }
        }
        Ok(options)
    }
}

/// `1,8,32` into `[1, 8, 32]`.
fn parse_cameras(list: &str) -> Result<Vec<usize>> {
    let cameras = list
        .split(',')
        .map(|n| {
            let n = n.trim();
            match n.parse::<usize>() {
                Ok(n) if n >= 1 => Ok(n),
                _ => bail!("--cameras wants numbers of at least 1 separated by commas, got {n:?}"),
            }
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(cameras)
}

/// The recorders compared.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Tool {
    /// One `recorder run` process with N cameras.
    Ours,
    /// N `ffmpeg -c copy` processes.
    Ffmpeg,
    /// N `gst-launch-1.0 ... mp4mux` pipelines (video only).
    Gst,
}

impl Tool {
    const ALL: [Tool; 3] = [Tool::Ours, Tool::Ffmpeg, Tool::Gst];

    /// The order of the runs in `round` (0-based): `ALL` rotated to start at
    /// `ALL[round % 3]`, so that no recorder always goes first.
    fn order(round: usize) -> [Tool; 3] {
        let mut order = Self::ALL;
        order.rotate_left(round % Self::ALL.len());
        order
    }

    fn key(self) -> &'static str {
        match self {
            Tool::Ours => "recorder",
            Tool::Ffmpeg => "ffmpeg",
            Tool::Gst => "gst",
        }
    }

    fn label(self) -> &'static str {
        match self {
            Tool::Ours => "recorder run (1 process)",
            Tool::Ffmpeg => "ffmpeg -c copy (N processes)",
            Tool::Gst => "gst-launch-1.0 mp4mux (N processes, video only)",
        }
    }
}

/// One process's figures from `/usr/bin/time`.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Usage {
    wall_s: f64,
    user_s: f64,
    sys_s: f64,
    max_rss_kib: u64,
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
struct Measurement {
    tool: Tool,
    cameras: usize,
    seconds: u64,
    /// One per process (1 for `recorder run`, N for the others).
    usages: Vec<Usage>,
    /// Video frames in each camera's files.
    frames: Vec<u64>,
    /// Processes that exited non-zero.
    failures: usize,
}

impl Measurement {
    fn cpu_s(&self) -> f64 {
        self.usages.iter().map(|u| u.user_s + u.sys_s).sum()
    }

    /// (user + sys) / N / (S / 60).
    fn cpu_per_stream_minute(&self) -> f64 {
        self.cpu_s() / self.cameras as f64 / (self.seconds as f64 / 60.0)
    }

    /// Sum of every process's peak RSS.
    fn rss_total_mib(&self) -> f64 {
        self.usages.iter().map(|u| u.max_rss_kib).sum::<u64>() as f64 / 1024.0
    }

    fn rss_per_stream_mib(&self) -> f64 {
        self.rss_total_mib() / self.cameras as f64
    }

    fn wall_s(&self) -> f64 {
        self.usages.iter().map(|u| u.wall_s).fold(0.0, f64::max)
    }

    fn expected_frames(&self) -> u64 {
        self.seconds * FPS
    }

    fn frames_min(&self) -> u64 {
        self.frames.iter().copied().min().unwrap_or(0)
    }

    fn frames_max(&self) -> u64 {
        self.frames.iter().copied().max().unwrap_or(0)
    }

    /// Every stream holds at least `expected - 1` frames (one frame of slack at the
    /// boundaries) and every process exited 0.
    fn no_frame_lost(&self) -> bool {
        self.failures == 0
            && self.frames.len() == self.cameras
            && self.frames_min() + 1 >= self.expected_frames()
    }
}

/// `ours / peer` as `0.42x`.
fn ratio(ours: f64, peer: f64) -> String {
    if peer > 0.0 && ours.is_finite() {
        format!("{:.2}x", ours / peer)
    } else {
        "n/a".to_string()
    }
}

/// The middle value, or the mean of the two middle values for an even count; `None` for
/// no values.
fn median(values: &[f64]) -> Option<f64> {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let mid = sorted.len() / 2;
    match sorted.len() {
        0 => None,
        len if len % 2 == 1 => Some(sorted[mid]),
        _ => Some((sorted[mid - 1] + sorted[mid]) / 2.0),
    }
}

/// One recorder at one N over every round that ran.
#[derive(Debug, Clone, PartialEq)]
struct Summary<'a> {
    tool: Tool,
    cameras: usize,
    /// One per round that ran, in the order run; never empty.
    runs: Vec<&'a Measurement>,
}

impl Summary<'_> {
    fn values(&self, f: fn(&Measurement) -> f64) -> Vec<f64> {
        self.runs.iter().map(|m| f(m)).collect()
    }

    fn median_of(&self, f: fn(&Measurement) -> f64) -> f64 {
        median(&self.values(f)).unwrap_or(f64::NAN)
    }

    /// `min-max` of `f` over the rounds, or `-` for a single round.
    fn range_of(&self, f: fn(&Measurement) -> f64, decimals: usize) -> String {
        let values = self.values(f);
        if values.len() < 2 {
            return "-".to_string();
        }
        let min = values.iter().copied().fold(f64::INFINITY, f64::min);
        let max = values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        format!("{min:.decimals$}-{max:.decimals$}")
    }

    fn rounds(&self) -> usize {
        self.runs.len()
    }

    /// Median of the rounds' CPU-s (all processes).
    fn cpu_s(&self) -> f64 {
        self.median_of(Measurement::cpu_s)
    }

    /// Median of the rounds' CPU-s per stream-minute.
    fn cpu_per_stream_minute(&self) -> f64 {
        self.median_of(Measurement::cpu_per_stream_minute)
    }

    /// Median of the rounds' summed peak RSS.
    fn rss_total_mib(&self) -> f64 {
        self.median_of(Measurement::rss_total_mib)
    }

    /// The largest of the rounds' summed peak RSS, or `-` for a single round.
    fn rss_total_max_mib(&self) -> String {
        if self.rounds() < 2 {
            return "-".to_string();
        }
        let max = self
            .values(Measurement::rss_total_mib)
            .into_iter()
            .fold(f64::NEG_INFINITY, f64::max);
        format!("{max:.1}")
    }

    /// Median of the rounds' summed peak RSS per stream.
    fn rss_per_stream_mib(&self) -> f64 {
        self.median_of(Measurement::rss_per_stream_mib)
    }

    fn expected_frames(&self) -> u64 {
        self.runs.first().map_or(0, |m| m.expected_frames())
    }

    /// Fewest frames of any stream in any round.
    fn frames_min(&self) -> u64 {
        self.runs.iter().map(|m| m.frames_min()).min().unwrap_or(0)
    }

    /// Most frames of any stream in any round.
    fn frames_max(&self) -> u64 {
        self.runs.iter().map(|m| m.frames_max()).max().unwrap_or(0)
    }

    /// Processes that exited non-zero, summed over the rounds.
    fn failures(&self) -> usize {
        self.runs.iter().map(|m| m.failures).sum()
    }

    /// No frame lost in any round.
    fn no_frame_lost(&self) -> bool {
        self.runs.iter().all(|m| m.no_frame_lost())
    }
}

/// The numbers of cameras measured, in order of first appearance.
fn camera_counts(ms: &[Measurement]) -> Vec<usize> {
    let mut ns: Vec<usize> = Vec::new();
    for m in ms {
        if !ns.contains(&m.cameras) {
            ns.push(m.cameras);
        }
    }
    ns
}

/// The measurements grouped per (N, recorder): N in order of first appearance, then the
/// recorders in `Tool::ALL` order whatever order the rounds ran them in.
fn summarize(ms: &[Measurement]) -> Vec<Summary<'_>> {
    let mut out = Vec::new();
    for n in camera_counts(ms) {
        for tool in Tool::ALL {
            let runs: Vec<&Measurement> = ms
                .iter()
                .filter(|m| m.tool == tool && m.cameras == n)
                .collect();
            if !runs.is_empty() {
                out.push(Summary {
                    tool,
                    cameras: n,
                    runs,
                });
            }
        }
    }
    out
}

fn find<'s, 'a>(ss: &'s [Summary<'a>], tool: Tool, cameras: usize) -> Option<&'s Summary<'a>> {
    ss.iter().find(|s| s.tool == tool && s.cameras == cameras)
}

/// The main table: one row per N and recorder, medians over the rounds.
fn render_table(ms: &[Measurement]) -> String {
    let mut s = String::from(
        "| N | recorder | rounds | CPU-s / stream-minute (median) | CPU range (min-max) \
         | peak RSS, all (MiB, median) | peak RSS, all, max (MiB) \
         | peak RSS / stream (MiB, median) | video frames / stream (min-max) | expected \
         | exit != 0 |\n\
         |---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n",
    );
    for m in summarize(ms) {
        let _ = writeln!(
            s,
            "| {} | {} | {} | {:.3} | {} | {:.1} | {} | {:.1} | {}-{} | {} | {} |",
            m.cameras,
            m.tool.label(),
            m.rounds(),
            m.cpu_per_stream_minute(),
            m.range_of(Measurement::cpu_per_stream_minute, 3),
            m.rss_total_mib(),
            m.rss_total_max_mib(),
            m.rss_per_stream_mib(),
            m.frames_min(),
            m.frames_max(),
            m.expected_frames(),
            m.failures()
        );
    }
    s
}

/// Our figures (medians over the rounds) as ratios to each peer's, per N.
fn render_ratios(ms: &[Measurement]) -> String {
    let ss = summarize(ms);
    let mut s = String::from(
        "| N | CPU vs ffmpeg | CPU vs gst | RSS (all) vs ffmpeg | RSS (all) vs gst |\n\
         |---:|---:|---:|---:|---:|\n",
    );
    for n in camera_counts(ms) {
        let Some(ours) = find(&ss, Tool::Ours, n) else {
            continue;
        };
        let cell = |tool: Tool, f: &dyn Fn(&Summary<'_>) -> f64| {
            find(&ss, tool, n).map_or_else(|| "n/a".to_string(), |peer| ratio(f(ours), f(peer)))
        };
        let cpu = |s: &Summary<'_>| s.cpu_s();
        let rss = |s: &Summary<'_>| s.rss_total_mib();
        let _ = writeln!(
            s,
            "| {n} | {} | {} | {} | {} |",
            cell(Tool::Ffmpeg, &cpu),
            cell(Tool::Gst, &cpu),
            cell(Tool::Ffmpeg, &rss),
            cell(Tool::Gst, &rss),
        );
    }
    s
}

fn verdict(holds: bool) -> &'static str {
    if holds { "holds" } else { "does not hold" }
}

/// The targets, checked against the medians (reported, not asserted).
fn render_targets(ms: &[Measurement]) -> String {
    let ss = summarize(ms);
    let mut s = String::new();
    // 1. CPU per stream <= 0.5x ffmpeg's, at every N measured.
    let mut parts = Vec::new();
    let mut all = true;
    for n in camera_counts(ms) {
        if let (Some(ours), Some(ff)) = (find(&ss, Tool::Ours, n), find(&ss, Tool::Ffmpeg, n)) {
            let r = ours.cpu_s() / ff.cpu_s();
            all &= r <= 0.5;
            parts.push(format!("N={n}: {}", ratio(ours.cpu_s(), ff.cpu_s())));
        }
    }
    let _ = writeln!(
        s,
        "- CPU per stream <= 0.5x ffmpeg's: {} ({})",
        if parts.is_empty() {
            "not measured"
        } else {
            verdict(all)
        },
        parts.join(", ")
    );
    // 2. Total RSS at N=32 <= 0.1x the sum of 32 ffmpeg processes.
    match (find(&ss, Tool::Ours, 32), find(&ss, Tool::Ffmpeg, 32)) {
        (Some(ours), Some(ff)) => {
            let _ = writeln!(
                s,
                "- total RSS at N=32 <= 0.1x the 32 ffmpeg processes': {} ({:.1} MiB vs {:.1} MiB, {})",
                verdict(ours.rss_total_mib() <= 0.1 * ff.rss_total_mib()),
                ours.rss_total_mib(),
                ff.rss_total_mib(),
                ratio(ours.rss_total_mib(), ff.rss_total_mib())
            );
        }
        _ => {
            let _ = writeln!(
                s,
                "- total RSS at N=32 <= 0.1x the 32 ffmpeg processes': not measured (N=32 not run)"
            );
        }
    }
    // 3. No frame lost at N=32, in any round.
    match find(&ss, Tool::Ours, 32) {
        Some(ours) => {
            let _ = writeln!(
                s,
                "- no frame lost at N=32: {} (min {} frames per stream, expected {}, {} exit != 0)",
                verdict(ours.no_frame_lost()),
                ours.frames_min(),
                ours.expected_frames(),
                ours.failures()
            );
        }
        None => {
            let _ = writeln!(s, "- no frame lost at N=32: not measured (N=32 not run)");
        }
    }
    s
}

/// The parent pid from the text of `/proc/PID/stat` (the field after the state, which
/// follows the command name in parentheses; the name may itself hold `)`).
fn parse_ppid(stat: &str) -> Option<u32> {
    let rest = &stat[stat.rfind(')')? + 1..];
    rest.split_whitespace().nth(1)?.parse().ok()
}

/// Every descendant of `pid`, found by scanning `/proc`.
fn descendants(pid: u32) -> Vec<u32> {
    let mut children: HashMap<u32, Vec<u32>> = HashMap::new();
    if let Ok(entries) = std::fs::read_dir("/proc") {
        for entry in entries.flatten() {
            let Some(p) = entry
                .file_name()
                .to_str()
                .and_then(|n| n.parse::<u32>().ok())
            else {
                continue;
            };
            if let Some(ppid) = std::fs::read_to_string(entry.path().join("stat"))
                .ok()
                .as_deref()
                .and_then(parse_ppid)
            {
                children.entry(ppid).or_default().push(p);
            }
        }
    }
    let mut out = Vec::new();
    let mut todo = vec![pid];
    while let Some(p) = todo.pop() {
        for &c in children.get(&p).map(Vec::as_slice).unwrap_or_default() {
            out.push(c);
            todo.push(c);
        }
    }
    out
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

/// A scratch directory removed when dropped.
#[derive(Debug)]
struct TempDir(PathBuf);

impl TempDir {
    fn new() -> Result<Self> {
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
fn build_release_recorder() -> Result<PathBuf> {
    crate::verify::build_recorder_with(&["--release"])
}

/// Video frames (packets of `v:0`) in the `.mp4` files of `dir`.
fn count_frames(dir: &Path) -> Result<u64> {
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
fn run_one(
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

/// The progress line printed after each run.
fn progress(m: &Measurement, round: usize, rounds: usize) -> String {
    format!(
        "round {}/{rounds} {} N={}: {:.2} CPU-s ({:.3} per stream-minute), peak RSS {:.1} MiB \
         in all, frames {}-{} per stream, {:.1} s wall",
        round + 1,
        m.tool.key(),
        m.cameras,
        m.cpu_s(),
        m.cpu_per_stream_minute(),
        m.rss_total_mib(),
        m.frames_min(),
        m.frames_max(),
        m.wall_s()
    )
}

/// gst-launch-1.0 exits 1 after an `Unhandled error` from rtspsrc while tearing down,
/// after the EOS has reached the sink and mp4mux has finished the file: that is no failure.
fn finished_anyway(tool: Tool, log: &Path) -> bool {
    tool == Tool::Gst
        && std::fs::read_to_string(log)
            .is_ok_and(|text| text.contains("Got EOS from element \"pipeline0\""))
}

/// The first line a command prints, or `?`.
fn first_line(program: &str, args: &[&str]) -> String {
    Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()
        .ok()
        .and_then(|o| {
            String::from_utf8_lossy(&o.stdout)
                .lines()
                .next()
                .map(str::to_string)
        })
        .unwrap_or_else(|| "?".to_string())
}

/// A field of a `key : value` file such as `/proc/cpuinfo`.
fn proc_field(path: &str, key: &str) -> String {
    std::fs::read_to_string(path)
        .ok()
        .and_then(|text| {
            text.lines().find_map(|l| {
                let (k, v) = l.split_once(':')?;
                (k.trim() == key).then(|| v.trim().to_string())
            })
        })
        .unwrap_or_else(|| "?".to_string())
}

/// `MemTotal` of `/proc/meminfo` in GiB.
fn memory() -> String {
    let total = proc_field("/proc/meminfo", "MemTotal");
    match total
        .strip_suffix(" kB")
        .and_then(|k| k.trim().parse::<f64>().ok())
    {
        Some(kib) => format!("{:.1} GiB", kib / 1024.0 / 1024.0),
        None => total,
    }
}

/// The machine and tool versions, as Markdown list items.
fn machine(bin: &Path) -> String {
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let os = std::fs::read_to_string("/etc/os-release")
        .ok()
        .and_then(|t| {
            t.lines().find_map(|l| {
                l.strip_prefix("PRETTY_NAME=")
                    .map(|v| v.trim_matches('"').to_string())
            })
        })
        .unwrap_or_else(|| "?".to_string());
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .map_or_else(|_| "?".to_string(), |s| s.trim().to_string());
    let gst = first_line("gst-launch-1.0", &["--version"]);
    let gst_lib = Command::new("gst-launch-1.0")
        .arg("--version")
        .output()
        .ok()
        .and_then(|o| {
            String::from_utf8_lossy(&o.stdout)
                .lines()
                .nth(1)
                .map(str::to_string)
        })
        .unwrap_or_default();
    let recorder = bin
        .to_str()
        .map_or_else(|| "?".to_string(), |b| first_line(b, &["--version"]));
    format!(
        "- CPU: {} ({cores} cores, `nproc`)\n- memory: {}\n- OS: {os}, kernel {kernel}\n\
         - {recorder} (release build), {}\n- {}\n- {gst}, {gst_lib}\n",
        proc_field("/proc/cpuinfo", "model name"),
        memory(),
        first_line("rustc", &["-V"]),
        first_line("ffmpeg", &["-version"]),
    )
}

/// The whole Markdown report.
fn render_report(ms: &[Measurement], options: &BenchOptions, machine: &str) -> String {
    let cameras: Vec<String> = options.cameras.iter().map(ToString::to_string).collect();
    format!(
        "# recorder benchmark\n\n\
         `cargo xtask bench --seconds {} --cameras {} --rounds {}`: each recorder records N \
         cameras of the same URL (`{MOUNT}` of GStreamer's RTSP server on 127.0.0.1: 640x360 \
         {FPS} fps H.264 + AAC, encoded once per run), one recorder and one N at a time, {} s \
         each, {} per N. Within a round the three recorders run one after another, and the \
         order rotates from round to round (round 1 starts with `recorder`, round 2 with \
         ffmpeg, round 3 with GStreamer, ...) so that none always goes first. Figures are \
         medians over the rounds (the mean of the two middle ones for an even count), with \
         the range across rounds beside the CPU and the largest round's RSS beside the RSS; \
         frames are the min-max over every round and stream, and exit != 0 is summed over \
         the rounds. CPU (user + sys) and peak RSS from `/usr/bin/time` (the kernel's \
         accounting) of each process; the server's own CPU is not counted. Frames: video packets in each stream's files \
         (`ffprobe -count_packets`); the server sends {FPS} fps. GStreamer records video only \
         and is stopped by SIGINT after {} s (its time includes connecting; `gst-launch-1.0 -e` \
         exits 1 on an rtspsrc teardown error after the EOS has finished the file, which is not \
         counted as a failure); ffmpeg stops by `-t` (run with `-loglevel warning -nostats`), \
         `recorder` by `--duration` from the first keyframe (default options: fsync after each \
         1 s fragment, finalized to a faststart MP4).\n\n\
         ## Machine\n\n{machine}\n## Results\n\n{}\n### recorder / peer\n\n{}\n### Targets\n\n{}",
        options.seconds,
        cameras.join(","),
        options.rounds,
        options.seconds,
        match options.rounds {
            1 => "1 round".to_string(),
            r => format!("{r} rounds"),
        },
        options.seconds,
        render_table(ms),
        render_ratios(ms),
        render_targets(ms)
    )
}

/// Runs the benchmark, prints the report and writes it to `target/bench/report.md`.
pub fn bench(options: &BenchOptions) -> Result<()> {
    if !Path::new(TIME).is_file() {
        bail!("{TIME} is missing; install it with: apt-get install -y time");
    }
    let bin = build_release_recorder()?;
    let dir = TempDir::new()?;
    let runs = (options.cameras.len() * Tool::ALL.len() * options.rounds) as u64;
    let max_cameras = options.cameras.iter().copied().max().unwrap_or(1) as u64;
    let server_seconds = runs * (options.seconds + 45 + max_cameras) + 60;
    let server = RtspServer::start(server_seconds, &dir.0.join("server.log"))?;
    let mut ms = Vec::new();
    let mut failed = Vec::new();
    let rounds = options.rounds;
    for &n in &options.cameras {
        for round in 0..rounds {
            for tool in Tool::order(round) {
                // A separate shared pipeline (one encode) per run, started fresh.
                let run = format!("{}-{n}-r{round}", tool.key());
                let url = server.url(&format!("{MOUNT}?bench={run}"));
                match run_one(tool, n, options.seconds, &url, &bin, &dir.0.join(&run)) {
                    Ok(m) => {
                        println!("{}", progress(&m, round, rounds));
                        ms.push(m);
                    }
                    Err(e) => {
                        println!(
                            "error: round {}/{rounds} {} N={n}: {e:#}",
                            round + 1,
                            tool.key()
                        );
                        failed.push(format!(
                            "- round {}/{rounds}, {} N={n}: {e:#}",
                            round + 1,
                            tool.label()
                        ));
                    }
                }
                std::thread::sleep(Duration::from_secs(2));
            }
        }
    }
    server.stop();
    let mut report = render_report(&ms, options, &machine(&bin));
    if !failed.is_empty() {
        report.push_str("\n### Runs that failed\n\n");
        report.push_str(&failed.join("\n"));
        report.push('\n');
    }
    println!("\n{report}");
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map_or_else(|| project_root().join("target"), PathBuf::from);
    let out_dir = target.join("bench");
    std::fs::create_dir_all(&out_dir)
        .with_context(|| format!("cannot create {}", out_dir.display()))?;
    let path = out_dir.join("report.md");
    std::fs::write(&path, report).with_context(|| format!("cannot write {}", path.display()))?;
    println!("wrote {}", path.display());
    ensure!(failed.is_empty(), "{} run(s) failed", failed.len());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn usage(user_s: f64, sys_s: f64, max_rss_kib: u64) -> Usage {
        Usage {
            wall_s: 20.5,
            user_s,
            sys_s,
            max_rss_kib,
        }
    }

    fn sample() -> Vec<Measurement> {
        vec![
            Measurement {
                tool: Tool::Ours,
                cameras: 2,
                seconds: 30,
                usages: vec![usage(0.3, 0.1, 20 * 1024)],
                frames: vec![900, 899],
                failures: 0,
            },
            Measurement {
                tool: Tool::Ffmpeg,
                cameras: 2,
                seconds: 30,
                usages: vec![usage(0.5, 0.3, 50 * 1024), usage(0.6, 0.2, 54 * 1024)],
                frames: vec![905, 910],
                failures: 0,
            },
            Measurement {
                tool: Tool::Gst,
                cameras: 2,
                seconds: 30,
                usages: vec![usage(0.4, 0.2, 19 * 1024), usage(0.4, 0.2, 19 * 1024)],
                frames: vec![880, 870],
                failures: 1,
            },
        ]
    }

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

    #[test]
    fn parses_options() {
        let args = |s: &[&str]| s.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(BenchOptions::parse(&[]).unwrap(), BenchOptions::default());
        assert_eq!(
            BenchOptions::parse(&args(&["--seconds", "20", "--cameras", "1, 8"])).unwrap(),
            BenchOptions {
                seconds: 20,
                cameras: vec![1, 8],
                rounds: 1,
            }
        );
        assert!(BenchOptions::parse(&args(&["--cameras", "1,0"])).is_err());
        assert!(BenchOptions::parse(&args(&["--cameras", "1,,8"])).is_err());
        assert!(BenchOptions::parse(&args(&["--seconds"])).is_err());
        assert!(BenchOptions::parse(&args(&["--seconds", "0"])).is_err());
        assert!(BenchOptions::parse(&args(&["--fast", "1"])).is_err());
    }

    #[test]
    fn parses_ppid_with_odd_command_names() {
        assert_eq!(parse_ppid("1234 (ffmpeg) S 77 1234 1234 0 -1"), Some(77));
        assert_eq!(parse_ppid("1234 (a) b) (c) R 5 1 1"), Some(5));
        assert_eq!(parse_ppid("garbage"), None);
    }

    #[test]
    fn derives_figures() {
        let ms = sample();
        // 0.4 CPU-s for 2 streams over half a minute: 0.4 per stream-minute.
        assert!((ms[0].cpu_per_stream_minute() - 0.4).abs() < 1e-9);
        assert!((ms[1].cpu_s() - 1.6).abs() < 1e-9);
        assert_eq!(ms[1].rss_total_mib(), 104.0);
        assert_eq!(ms[1].rss_per_stream_mib(), 52.0);
        assert_eq!(ms[0].expected_frames(), 900);
        assert!(ms[0].no_frame_lost(), "899 is within one frame of 900");
        assert!(!ms[2].no_frame_lost());
        assert_eq!(ratio(0.4, 1.6), "0.25x");
        assert_eq!(ratio(1.0, 0.0), "n/a");
    }

    #[test]
    fn renders_tables() {
        let ms = sample();
        let table = render_table(&ms);
        let lines: Vec<&str> = table.lines().collect();
        assert_eq!(lines.len(), 5);
        assert_eq!(
            lines[2],
            "| 2 | recorder run (1 process) | 1 | 0.400 | - | 20.0 | - | 10.0 | 899-900 | 900 | 0 |"
        );
        assert_eq!(
            lines[3],
            "| 2 | ffmpeg -c copy (N processes) | 1 | 1.600 | - | 104.0 | - | 52.0 | 905-910 | 900 | 0 |"
        );
        assert_eq!(
            lines[4],
            "| 2 | gst-launch-1.0 mp4mux (N processes, video only) | 1 | 1.200 | - | 38.0 | - | 19.0 | 870-880 | 900 | 1 |"
        );
        let ratios = render_ratios(&ms);
        assert_eq!(
            ratios.lines().nth(2),
            Some("| 2 | 0.25x | 0.33x | 0.19x | 0.53x |")
        );
        let targets = render_targets(&ms);
        assert!(
            targets.contains("- CPU per stream <= 0.5x ffmpeg's: holds (N=2: 0.25x)"),
            "{targets}"
        );
        assert!(targets.contains("N=32: not measured"), "{targets}");
    }

    #[test]
    fn targets_at_32() {
        let mut ms = sample();
        for m in &mut ms {
            m.cameras = 32;
            m.frames = vec![900; 32];
        }
        // 20 MiB against 104 MiB: 0.19x, above 0.1x.
        let targets = render_targets(&ms);
        assert!(
            targets.contains("total RSS at N=32 <= 0.1x the 32 ffmpeg processes': does not hold (20.0 MiB vs 104.0 MiB, 0.19x)"),
            "{targets}"
        );
        assert!(
            targets.contains("no frame lost at N=32: holds (min 900 frames per stream, expected 900, 0 exit != 0)"),
            "{targets}"
        );
    }

    fn args(s: &[&str]) -> Vec<String> {
        s.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn parses_rounds() {
        let options = BenchOptions::parse(&args(&["--rounds", "3", "--seconds", "8"])).unwrap();
        assert_eq!(
            options,
            BenchOptions {
                seconds: 8,
                cameras: vec![1, 8, 32],
                rounds: 3,
            }
        );
        assert_eq!(BenchOptions::default().rounds, 1);
        let zero = BenchOptions::parse(&args(&["--rounds", "0"])).unwrap_err();
        assert_eq!(zero.to_string(), "--rounds must be at least 1");
        let word = BenchOptions::parse(&args(&["--rounds", "two"])).unwrap_err();
        assert_eq!(
            word.to_string(),
            "--rounds wants a whole number, got \"two\""
        );
        assert!(BenchOptions::parse(&args(&["--rounds", "-1"])).is_err());
        assert!(BenchOptions::parse(&args(&["--rounds", "1.5"])).is_err());
        assert!(BenchOptions::parse(&args(&["--rounds"])).is_err());
    }

    #[test]
    fn rotates_the_order_per_round() {
        assert_eq!(Tool::order(0), [Tool::Ours, Tool::Ffmpeg, Tool::Gst]);
        assert_eq!(Tool::order(1), [Tool::Ffmpeg, Tool::Gst, Tool::Ours]);
        assert_eq!(Tool::order(2), [Tool::Gst, Tool::Ours, Tool::Ffmpeg]);
        assert_eq!(Tool::order(3), [Tool::Ours, Tool::Ffmpeg, Tool::Gst]);
    }

    #[test]
    fn medians() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(median(&[4.0, 1.0, 3.0, 2.0]), Some(2.5));
        assert_eq!(median(&[0.7]), Some(0.7));
        assert_eq!(median(&[5.0, 1.0]), Some(3.0));
        assert_eq!(median(&[]), None);
    }

    /// One round of `tool` at N=2 for 30 s: one process with `cpu_s` and `rss_mib`.
    fn round(
        tool: Tool,
        cpu_s: f64,
        rss_mib: u64,
        frames: [u64; 2],
        failures: usize,
    ) -> Measurement {
        Measurement {
            tool,
            cameras: 2,
            seconds: 30,
            usages: vec![usage(cpu_s, 0.0, rss_mib * 1024)],
            frames: frames.to_vec(),
            failures,
        }
    }

    #[test]
    fn aggregates_rounds_into_medians_and_ranges() {
        // Three rounds of ours, two of ffmpeg, one of gst at N=2, in rotated order, and
        // one round of ours at N=1 in between.
        let mut one = round(Tool::Ours, 0.25, 15, [450, 450], 0);
        one.cameras = 1;
        one.seconds = 15;
        one.frames = vec![450];
        let ms = vec![
            round(Tool::Ours, 0.4, 20, [900, 899], 0),
            round(Tool::Ffmpeg, 1.6, 104, [905, 910], 0),
            round(Tool::Gst, 1.2, 38, [880, 870], 1),
            round(Tool::Ffmpeg, 2.0, 110, [900, 900], 0),
            one,
            round(Tool::Ours, 0.6, 24, [901, 900], 1),
            round(Tool::Ours, 0.5, 22, [898, 900], 0),
        ];
        let table = render_table(&ms);
        let lines: Vec<&str> = table.lines().collect();
        assert_eq!(lines.len(), 6, "{table}");
        // CPU-s per stream-minute = CPU-s / 2 streams / 0.5 min: 0.4, 0.6, 0.5 -> median
        // 0.5; RSS 20, 24, 22 -> median 22, max 24; 11 per stream; frames 898-901.
        assert_eq!(
            lines[2],
            "| 2 | recorder run (1 process) | 3 | 0.500 | 0.400-0.600 | 22.0 | 24.0 | 11.0 | 898-901 | 900 | 1 |"
        );
        // Two rounds: 1.6 and 2.0 -> 1.8; RSS 104 and 110 -> 107, max 110.
        assert_eq!(
            lines[3],
            "| 2 | ffmpeg -c copy (N processes) | 2 | 1.800 | 1.600-2.000 | 107.0 | 110.0 | 53.5 | 900-910 | 900 | 0 |"
        );
        assert_eq!(
            lines[4],
            "| 2 | gst-launch-1.0 mp4mux (N processes, video only) | 1 | 1.200 | - | 38.0 | - | 19.0 | 870-880 | 900 | 1 |"
        );
        // 0.25 CPU-s for one stream over a quarter minute: 1.0 per stream-minute.
        assert_eq!(
            lines[5],
            "| 1 | recorder run (1 process) | 1 | 1.000 | - | 15.0 | - | 15.0 | 450-450 | 450 | 0 |"
        );
        // Ratios of the medians: CPU 0.5 / 1.8 and 0.5 / 1.2, RSS 22 / 107 and 22 / 38.
        let ratios = render_ratios(&ms);
        assert_eq!(
            ratios.lines().nth(2),
            Some("| 2 | 0.28x | 0.42x | 0.21x | 0.58x |")
        );
        assert_eq!(ratios.lines().nth(3), Some("| 1 | n/a | n/a | n/a | n/a |"));
        let targets = render_targets(&ms);
        assert!(
            targets.contains("- CPU per stream <= 0.5x ffmpeg's: holds (N=2: 0.28x)"),
            "{targets}"
        );
    }

    #[test]
    fn no_frame_lost_needs_every_round() {
        let mut ms = vec![
            round(Tool::Ours, 0.4, 20, [900, 900], 0),
            round(Tool::Ours, 0.4, 20, [900, 897], 0),
        ];
        for m in &mut ms {
            m.cameras = 32;
            m.frames = m.frames.repeat(16);
        }
        let targets = render_targets(&ms);
        assert!(
            targets.contains("no frame lost at N=32: does not hold (min 897 frames per stream, expected 900, 0 exit != 0)"),
            "{targets}"
        );
        ms[1].frames = vec![900; 32];
        ms[1].failures = 2;
        let targets = render_targets(&ms);
        assert!(
            targets.contains("no frame lost at N=32: does not hold (min 900 frames per stream, expected 900, 2 exit != 0)"),
            "{targets}"
        );
    }

    #[test]
    fn reports_rounds_and_progress() {
        let ms = vec![round(Tool::Ffmpeg, 1.6, 104, [905, 910], 0)];
        assert_eq!(
            progress(&ms[0], 1, 3),
            "round 2/3 ffmpeg N=2: 1.60 CPU-s (1.600 per stream-minute), peak RSS 104.0 MiB in all, \
             frames 905-910 per stream, 20.5 s wall"
        );
        let options = BenchOptions {
            seconds: 30,
            cameras: vec![2],
            rounds: 3,
        };
        let report = render_report(&ms, &options, "- CPU: test\n");
        assert!(
            report.contains("`cargo xtask bench --seconds 30 --cameras 2 --rounds 3`"),
            "{report}"
        );
        assert!(report.contains("30 s each, 3 rounds per N."), "{report}");
        assert!(
            report.contains("Figures are medians over the rounds"),
            "{report}"
        );
        let single = BenchOptions {
            rounds: 1,
            ..options
        };
        assert!(render_report(&ms, &single, "").contains("30 s each, 1 round per N."));
    }
}
