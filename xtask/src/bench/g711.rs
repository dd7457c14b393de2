//! `cargo xtask bench g711`: what storing G.711 costs in each `--audio-format`. One
//! `recorder run` of N cameras (default 32) of the server's µ-law mount (320x180 H.264
//! beside it, recorded too, the same in every run), once per format (`flac`, `g711` =
//! passthrough, `pcm`), in an order rotating over the rounds: CPU per stream-minute from
//! `/usr/bin/time` (the difference between two formats is the audio's), and the audio
//! bytes per minute in the files (the sum of the audio packets' sizes over the audio's
//! duration, from ffprobe).
//!
//! Why not audio alone: GStreamer's RTSP server drops the streams a client does not set
//! up from a shared media when it plays, so the next clients of that URL get `503` to
//! `DESCRIBE`; one pipeline per camera instead would load the server more than the
//! recorder.

use std::fmt::Write as _;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use anyhow::{Context, Result, bail, ensure};
use serde_json::Value;

use super::BenchOptions;
use super::machine::machine;
use super::measure::{TIME, TempDir, Usage, build_release_recorder, run_timed};
use super::report::median;
use crate::server::RtspServer;
use crate::util::{display, output, project_root};

/// The mount recorded: G.711 µ-law, 8 kHz mono (white noise at volume 0.3), beside
/// 320x180 30 fps H.264.
const MOUNT: &str = "/h264pcmu";
/// The formats, with the sample entry each must write.
const FORMATS: [(&str, &str); 3] = [("flac", "fLaC"), ("g711", "ulaw"), ("pcm", "ipcm")];
/// Audio samples per second of stream (40 ms each).
const SAMPLES_PER_S: u64 = 25;

/// One run: one format, N cameras, S seconds.
#[derive(Debug, Clone)]
struct Run {
    format: &'static str,
    cameras: usize,
    seconds: u64,
    usage: Usage,
    /// Audio bytes and seconds over every camera's files.
    audio_bytes: u64,
    audio_s: f64,
    /// Audio samples in each camera's files.
    samples: Vec<u64>,
}

impl Run {
    fn cpu_per_stream_minute(&self) -> f64 {
        (self.usage.user_s + self.usage.sys_s) / self.cameras as f64 / (self.seconds as f64 / 60.0)
    }

    fn bytes_per_minute(&self) -> f64 {
        self.audio_bytes as f64 / self.audio_s * 60.0
    }
}

/// The options' defaults for this benchmark: N = 32.
pub fn default_options() -> BenchOptions {
    BenchOptions {
        cameras: vec![32],
        ..BenchOptions::default()
    }
}

/// Runs the benchmark, prints the report and writes it to `target/bench/g711.md`.
pub fn bench_g711(options: &BenchOptions) -> Result<()> {
    if !Path::new(TIME).is_file() {
        bail!("{TIME} is missing; install it with: apt-get install -y time");
    }
    let bin = build_release_recorder()?;
    let dir = TempDir::new()?;
    let max_cameras = options.cameras.iter().copied().max().unwrap_or(1) as u64;
    let runs = (options.cameras.len() * FORMATS.len() * options.rounds) as u64;
    let server_seconds = runs * (options.seconds + 45 + max_cameras) + 60;
    let server = RtspServer::start(server_seconds, &dir.0.join("server.log"))?;
    let mut done = Vec::new();
    for &n in &options.cameras {
        for round in 0..options.rounds {
            let mut order = FORMATS;
            order.rotate_left(round % FORMATS.len());
            for (format, entry) in order {
                let name = format!("{format}-{n}-r{round}");
                // A fresh shared pipeline (one encode) per run.
                let url = server.url(&format!("{MOUNT}?bench={name}"));
                let run = run_format(
                    &bin,
                    format,
                    entry,
                    n,
                    options.seconds,
                    &url,
                    &dir.0.join(&name),
                )
                .with_context(|| {
                    format!("--audio-format {format}, N = {n}, round {}", round + 1)
                })?;
                println!(
                    "{format:<5} N={n} round {}/{}: {:.4} CPU-s per stream-minute, {:.0} audio bytes per minute",
                    round + 1,
                    options.rounds,
                    run.cpu_per_stream_minute(),
                    run.bytes_per_minute()
                );
                done.push(run);
                std::thread::sleep(Duration::from_secs(2));
            }
        }
    }
    server.stop();
    let report = render(&done, options, &machine(&bin));
    println!("\n{report}");
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map_or_else(|| project_root().join("target"), std::path::PathBuf::from);
    let out_dir = target.join("bench");
    std::fs::create_dir_all(&out_dir)
        .with_context(|| format!("cannot create {}", out_dir.display()))?;
    let path = out_dir.join("g711.md");
    std::fs::write(&path, report).with_context(|| format!("cannot write {}", path.display()))?;
    println!("wrote {}", path.display());
    Ok(())
}

/// Records `n` cameras of `url` with `--audio-format format` for `seconds` and measures it.
fn run_format(
    bin: &Path,
    format: &'static str,
    entry: &str,
    n: usize,
    seconds: u64,
    url: &str,
    run_dir: &Path,
) -> Result<Run> {
    std::fs::create_dir_all(run_dir)?;
    let mut config = format!(
        "[defaults]\noutput = \"{}/{{name}}/rec.mp4\"\naudio_format = \"{format}\"\n",
        run_dir.display()
    );
    for i in 0..n {
        let _ = write!(config, "\n[[camera]]\nname = \"cam{i}\"\nurl = \"{url}\"\n");
    }
    let config_path = run_dir.join("cameras.toml");
    std::fs::write(&config_path, config)?;
    let args: Vec<String> = ["run", "--config"]
        .iter()
        .map(|s| s.to_string())
        .chain([
            config_path.display().to_string(),
            "--duration".to_string(),
            format!("{seconds}s"),
        ])
        .collect();
    let program = bin.to_str().context("recorder path is not UTF-8")?;
    println!("$ {TIME} {program} {}", args.join(" "));
    let log = run_dir.join("log.txt");
    let limit = Duration::from_secs(seconds + 30 + n as u64);
    let (usage, ok) = run_timed(program, &args, &run_dir.join("time.txt"), &log, limit)?;
    ensure!(
        ok,
        "recorder run failed; its log:\n{}",
        crate::util::tail(&log, 20)
    );
    let (mut audio_bytes, mut audio_s, mut samples) = (0, 0.0, Vec::new());
    for i in 0..n {
        let file = run_dir.join(format!("cam{i}/rec.mp4"));
        let (bytes, s, count) = audio_figures(&file, entry)?;
        audio_bytes += bytes;
        audio_s += s;
        samples.push(count);
    }
    let _ = std::fs::remove_dir_all(run_dir);
    Ok(Run {
        format,
        cameras: n,
        seconds,
        usage,
        audio_bytes,
        audio_s,
        samples,
    })
}

/// The audio's bytes, seconds and samples in `file`, whose audio stream must have the
/// sample entry `entry`.
fn audio_figures(file: &Path, entry: &str) -> Result<(u64, f64, u64)> {
    let mut cmd = Command::new("ffprobe");
    cmd.args([
        "-v",
        "error",
        "-of",
        "json",
        "-select_streams",
        "a:0",
        "-show_entries",
    ])
    .arg("stream=codec_type,codec_tag_string,duration:packet=size")
    .arg(file);
    let json: Value = serde_json::from_str(&output(&mut cmd)?)
        .with_context(|| format!("`{}` printed bad JSON", display(&cmd)))?;
    let streams = json["streams"].as_array().cloned().unwrap_or_default();
    let [stream] = streams.as_slice() else {
        bail!(
            "{}: {} audio streams, expected one",
            file.display(),
            streams.len()
        );
    };
    ensure!(
        stream["codec_type"] == "audio" && stream["codec_tag_string"] == entry,
        "{}: a {} stream tagged {}, expected audio in {entry}",
        file.display(),
        stream["codec_type"],
        stream["codec_tag_string"]
    );
    let duration: f64 = stream["duration"]
        .as_str()
        .and_then(|d| d.parse().ok())
        .with_context(|| format!("{}: no audio duration", file.display()))?;
    let packets = json["packets"].as_array().cloned().unwrap_or_default();
    let bytes = packets
        .iter()
        .map(|p| p["size"].as_str().and_then(|s| s.parse::<u64>().ok()))
        .sum::<Option<u64>>()
        .with_context(|| format!("{}: a packet without a size", file.display()))?;
    Ok((bytes, duration, packets.len() as u64))
}

/// The Markdown report: medians over the rounds per N and format.
fn render(runs: &[Run], options: &BenchOptions, machine: &str) -> String {
    let mut out = format!(
        "## G.711 storage: `recorder run`, N cameras of `{MOUNT}` (8 kHz µ-law + 320x180 H.264), \
         {} s, {} round(s)\n\n{machine}\n\n\
         | N | `--audio-format` | sample entry | CPU-s / stream-minute (range) | vs `g711` | audio bytes / minute | audio samples / stream (expected {}) |\n\
         |---:|---|---|---:|---:|---:|---:|\n",
        options.seconds,
        options.rounds,
        options.seconds * SAMPLES_PER_S
    );
    for &n in &options.cameras {
        let of = |format: &str| -> Vec<&Run> {
            runs.iter()
                .filter(|r| r.cameras == n && r.format == format)
                .collect()
        };
        let med = |rs: &[&Run], f: fn(&Run) -> f64| {
            median(&rs.iter().map(|r| f(r)).collect::<Vec<_>>()).unwrap_or(f64::NAN)
        };
        let passthrough = med(&of("g711"), Run::cpu_per_stream_minute);
        for (format, entry) in FORMATS {
            let rs = of(format);
            let cpu = med(&rs, Run::cpu_per_stream_minute);
            let cpus: Vec<f64> = rs.iter().map(|r| r.cpu_per_stream_minute()).collect();
            let spread = if cpus.len() < 2 {
                String::new()
            } else {
                let lo = cpus.iter().copied().fold(f64::INFINITY, f64::min);
                let hi = cpus.iter().copied().fold(f64::NEG_INFINITY, f64::max);
                format!(" ({lo:.4}-{hi:.4})")
            };
            let samples: Vec<u64> = rs.iter().flat_map(|r| r.samples.iter().copied()).collect();
            let (lo, hi) = (
                samples.iter().min().copied().unwrap_or(0),
                samples.iter().max().copied().unwrap_or(0),
            );
            let _ = writeln!(
                out,
                "| {n} | `{format}` | `{entry}` | {cpu:.4}{spread} | {:.2}x | {:.0} | {lo}-{hi} |",
                cpu / passthrough,
                med(&rs, Run::bytes_per_minute),
            );
        }
        let flac = med(&of("flac"), Run::cpu_per_stream_minute);
        let _ = writeln!(
            out,
            "\nN = {n}: FLAC encoding costs {:.4} CPU-s per stream-minute over passthrough \
             ({:.1} ms of CPU per minute of G.711).",
            flac - passthrough,
            (flac - passthrough) * 1000.0
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(format: &'static str, cpu_s: f64, audio_bytes: u64) -> Run {
        Run {
            format,
            cameras: 2,
            seconds: 30,
            usage: Usage {
                wall_s: 31.0,
                user_s: cpu_s / 2.0,
                sys_s: cpu_s / 2.0,
                max_rss_kib: 1024,
            },
            audio_bytes,
            audio_s: 60.0,
            samples: vec![750, 749],
        }
    }

    #[test]
    fn reports_cpu_and_bytes_per_minute() {
        let options = BenchOptions {
            seconds: 30,
            cameras: vec![2],
            rounds: 1,
        };
        // 2 cameras for 30 s: one stream-minute in all; 60 s of audio in all.
        let runs = [
            run("flac", 0.30, 900_000),
            run("g711", 0.10, 480_000),
            run("pcm", 0.12, 960_000),
        ];
        assert!((runs[0].cpu_per_stream_minute() - 0.30).abs() < 1e-9);
        assert!((runs[1].bytes_per_minute() - 480_000.0).abs() < 1e-6);
        let report = render(&runs, &options, "machine");
        assert!(
            report.contains("| 2 | `flac` | `fLaC` | 0.3000 | 3.00x | 900000 | 749-750 |"),
            "{report}"
        );
        assert!(
            report.contains("| 2 | `g711` | `ulaw` | 0.1000 | 1.00x | 480000 | 749-750 |"),
            "{report}"
        );
        assert!(
            report.contains("| 2 | `pcm` | `ipcm` | 0.1200 | 1.20x | 960000 |"),
            "{report}"
        );
        assert!(report.contains("expected 750"), "{report}");
        assert!(
            report.contains("costs 0.2000 CPU-s per stream-minute over passthrough (200.0 ms"),
            "{report}"
        );
    }

    #[test]
    fn reports_medians_and_ranges_over_rounds() {
        let options = BenchOptions {
            seconds: 30,
            cameras: vec![2],
            rounds: 3,
        };
        let runs = [
            run("flac", 0.30, 900_000),
            run("flac", 0.36, 900_000),
            run("flac", 0.33, 900_000),
            run("g711", 0.10, 480_000),
            run("g711", 0.11, 480_000),
            run("g711", 0.12, 480_000),
        ];
        let report = render(&runs, &options, "machine");
        assert!(
            report.contains("| 2 | `flac` | `fLaC` | 0.3300 (0.3000-0.3600) | 3.00x |"),
            "{report}"
        );
        assert!(report.contains("costs 0.2200 CPU-s"), "{report}");
    }

    #[test]
    fn defaults_to_32_cameras() {
        let args = |s: &[&str]| s.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let options =
            BenchOptions::parse_over(default_options(), &args(&["--seconds", "30"])).unwrap();
        assert_eq!(options.cameras, vec![32]);
        assert_eq!(options.seconds, 30);
        let options =
            BenchOptions::parse_over(default_options(), &args(&["--cameras", "4,8"])).unwrap();
        assert_eq!(options.cameras, vec![4, 8]);
        assert_eq!(options.seconds, 60);
    }
}
