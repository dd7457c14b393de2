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
//!
//! `cargo xtask bench g711` ([`g711`]) measures the `--audio-format`s of G.711 instead;
//! `cargo xtask bench export` ([`export`]) the HTTP API's exports, and
//! `cargo xtask bench http-load` ([`http_load`]) recording while HTTP clients download.
mod client;
pub mod export;
pub mod g711;
pub mod http_load;
mod machine;
mod measure;
mod report;

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result, bail, ensure};

use crate::server::RtspServer;
use crate::util::project_root;
use machine::machine;
use measure::{TIME, TempDir, build_release_recorder, run_one};
use report::{progress, render_report};
/// The server's frame rate and GOP (see `xtask/rtsp-server.py`).
const FPS: u64 = 30;
/// The mount all clients record: 640x360 30 fps H.264 + AAC.
const MOUNT: &str = "/h264aac";

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
        Self::parse_over(Self::default(), args)
    }

    /// Parses the same flags over other defaults.
    pub fn parse_over(defaults: Self, args: &[String]) -> Result<Self> {
        let mut options = defaults;
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
    let path = bench_dir()?.join("report.md");
    std::fs::write(&path, report).with_context(|| format!("cannot write {}", path.display()))?;
    println!("wrote {}", path.display());
    ensure!(failed.is_empty(), "{} run(s) failed", failed.len());
    Ok(())
}

/// `$CARGO_TARGET_DIR/bench` (default `target/bench`), created.
fn bench_dir() -> Result<PathBuf> {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map_or_else(|| project_root().join("target"), PathBuf::from);
    let out_dir = target.join("bench");
    std::fs::create_dir_all(&out_dir)
        .with_context(|| format!("cannot create {}", out_dir.display()))?;
    Ok(out_dir)
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
