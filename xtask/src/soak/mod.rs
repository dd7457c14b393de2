//! `cargo xtask soak --cameras N --minutes M [--seed S]`: N cameras recorded by one
//! `recorder run` for M minutes (a decimal), each through its own fault-injecting proxy
//! ([`proxy`]) in front of GStreamer's RTSP server. Every 4 to 12 s (seeded) one camera's
//! connections get a fault: a cut, a stall of 1 to 30 s (at most a third of the run), 5 s
//! of slow reads, or a half-open connection. Every 10 s the recorder's RSS, open file
//! descriptors and CPU are printed. At the end (SIGTERM) every file must pass `recorder
//! verify` and decode with `ffmpeg -xerror`; the report gives the faults, the media kept
//! per camera against the run's length, and the resources at warm-up and at the end.

mod proxy;

use crate::util::Rng;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail, ensure};

use self::proxy::{Fault, Proxy};
use crate::server::RtspServer;
use crate::util::{ChildGuard, tail};

/// How often the resources are sampled.
const SAMPLE_EVERY: Duration = Duration::from_secs(10);

/// What `cargo xtask soak` runs.
#[derive(Clone, Debug)]
pub struct SoakOptions {
    /// Cameras.
    pub cameras: u32,
    /// Length of the run.
    pub duration: Duration,
    /// Seed of the faults.
    pub seed: u64,
}

impl SoakOptions {
    /// Parses `--cameras N`, `--minutes M` (a decimal) and `--seed S` (defaults: 4
    /// cameras, 2 minutes, seed 1).
    pub fn parse(args: &[String]) -> Result<Self> {
        let mut o = Self {
            cameras: 4,
            duration: Duration::from_secs(120),
            seed: 1,
        };
        let mut it = args.iter();
        while let Some(flag) = it.next() {
            let v = it
                .next()
                .with_context(|| format!("soak: {flag} wants a value"))?;
            match flag.as_str() {
                "--cameras" => {
                    o.cameras = v
                        .parse()
                        .with_context(|| format!("--cameras wants a whole number, got {v:?}"))?;
                }
                "--minutes" => {
                    let m: f64 = v
                        .parse()
                        .with_context(|| format!("--minutes wants a number, got {v:?}"))?;
                    ensure!(m > 0.0 && m < 10_000.0, "--minutes must be above 0");
                    o.duration = Duration::from_secs_f64(m * 60.0);
                }
                "--seed" => {
                    o.seed = v
                        .parse()
                        .with_context(|| format!("--seed wants a whole number, got {v:?}"))?;
                }
                other => bail!("soak: unknown option {other}"),
            }
        }
        ensure!(o.cameras > 0, "--cameras must be at least 1");
        Ok(o)
    }
}

/// The fault drawn for a run of `run` length.
fn draw_fault(rng: &mut Rng, run: Duration) -> Fault {
    let max_stall = (run.as_secs() / 3).clamp(1, 30);
    match rng.below(4) {
        0 => Fault::Cut,
        1 => Fault::Stall(Duration::from_secs(1 + rng.below(max_stall))),
        2 => Fault::Slow(Duration::from_secs(5)),
        _ => Fault::HalfOpen,
    }
}

/// The recorder's resources at one instant.
#[derive(Clone, Copy, Debug)]
struct Sample {
    rss_kib: u64,
    fds: usize,
    /// CPU time used so far, in clock ticks.
    cpu_ticks: u64,
}

fn sample(pid: u32) -> Result<Sample> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let rss_kib = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .context("no VmRSS")?;
    let fds = std::fs::read_dir(format!("/proc/{pid}/fd"))?.count();
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    // Fields after the command's closing parenthesis: utime and stime are the 12th and 13th.
    let after = stat.rsplit_once(')').context("bad stat")?.1;
    let f: Vec<&str> = after.split_whitespace().collect();
    let cpu_ticks = f[11].parse::<u64>()? + f[12].parse::<u64>()?;
    Ok(Sample {
        rss_kib,
        fds,
        cpu_ticks,
    })
}

/// Runs the soak and prints the report; fails when a file does not play or the recorder
/// did not exit cleanly.
pub fn soak(o: &SoakOptions) -> Result<()> {
    let recorder = crate::verify::build_recorder_with(&[])?;
    let root = std::env::temp_dir().join(format!("recorder-soak-{}", std::process::id()));
    if root.exists() {
        std::fs::remove_dir_all(&root)?;
    }
    std::fs::create_dir_all(&root)?;
    let server = RtspServer::start(o.duration.as_secs() + 120, &root.join("server.log"))?;
    let base = server.url("");
    let upstream = base
        .trim_start_matches("rtsp://")
        .parse()
        .with_context(|| format!("server address {base}"))?;
    let proxies: Vec<Proxy> = (0..o.cameras)
        .map(|_| Proxy::start(upstream))
        .collect::<Result<_>>()?;
    let mut config = format!(
        "[defaults]\nsegment_duration = \"60s\"\nstall_timeout = \"3s\"\n\
         output = \"{}/{{name}}/%H-%M-%S.mp4\"\n",
        root.display()
    );
    for (i, p) in proxies.iter().enumerate() {
        config.push_str(&format!(
            "\n[[camera]]\nname = \"cam{i}\"\nurl = \"rtsp://127.0.0.1:{}/h264aac\"\n",
            p.port()
        ));
    }
    let cfg = root.join("cameras.toml");
    std::fs::write(&cfg, config)?;
    let log = root.join("recorder.log");
    let log_file = std::fs::File::create(&log)?;
    let child = Command::new(&recorder)
        .args(["run", "--no-status", "--config"])
        .arg(&cfg)
        .env_remove("RUST_LOG")
        .stdin(Stdio::null())
        .stdout(log_file.try_clone()?)
        .stderr(log_file)
        .spawn()
        .context("cannot start recorder run")?;
    let mut child = ChildGuard::new(child);
    let pid = child.id();
    let started = Instant::now();
    let mut rng = Rng(o.seed);
    let mut next_fault = started + Duration::from_secs(4 + rng.below(9));
    let mut next_sample = started + SAMPLE_EVERY;
    let mut samples: Vec<(Duration, Sample)> = Vec::new();
    let mut faults = 0u32;
    let ticks_per_s = 100.0;
    println!(
        "soak: {} camera(s) for {:.0} s, seed {}",
        o.cameras,
        o.duration.as_secs_f64(),
        o.seed
    );
    while started.elapsed() < o.duration {
        let now = Instant::now();
        if now >= next_fault {
            let cam = rng.below(u64::from(o.cameras)) as usize;
            let fault = draw_fault(&mut rng, o.duration);
            let touched = proxies[cam].inject(fault);
            faults += 1;
            println!(
                "{:>6.1} s: cam{cam}: {fault:?} ({touched} connection(s))",
                started.elapsed().as_secs_f64()
            );
            next_fault = now + Duration::from_secs(4 + rng.below(9));
        }
        if now >= next_sample {
            let s = sample(pid).context("the recorder is gone")?;
            // Over the last interval (the first: since the start).
            let (since, ticks) = samples
                .last()
                .map_or((Duration::ZERO, 0), |(t, p)| (*t, p.cpu_ticks));
            let interval = started.elapsed().saturating_sub(since).as_secs_f64();
            let cpu = s.cpu_ticks.saturating_sub(ticks) as f64 / ticks_per_s / interval * 100.0;
            println!(
                "{:>6.1} s: rss {:.1} MiB, {} fds, cpu {cpu:.1}%",
                started.elapsed().as_secs_f64(),
                s.rss_kib as f64 / 1024.0,
                s.fds
            );
            samples.push((started.elapsed(), s));
            next_sample += SAMPLE_EVERY;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let ran = started.elapsed();
    crate::util::run(Command::new("kill").args(["-TERM", &pid.to_string()]))?;
    let status = child
        .wait_timeout(Duration::from_secs(20))?
        .context("the recorder did not exit within 20 s of SIGTERM")?;
    ensure!(
        status.success(),
        "recorder run exited with {status}; its log:\n{}",
        tail(&log, 30)
    );
    let forwarded: Vec<u64> = proxies
        .iter()
        .map(|p| p.forwarded.load(std::sync::atomic::Ordering::Relaxed))
        .collect();
    drop(proxies);
    server.stop();

    let mut bad = Vec::new();
    let mut files = 0;
    for cam in 0..o.cameras {
        let dir = root.join(format!("cam{cam}"));
        let mut kept = 0.0;
        let list = mp4_files(&dir)?;
        for f in &list {
            match check(&recorder, f) {
                Ok(d) => kept += d,
                Err(e) => bad.push(format!("{}: {e:#}", f.display())),
            }
        }
        files += list.len();
        println!(
            "cam{cam}: {} file(s), {kept:.1} s kept of {:.1} s run, {:.1} MB forwarded",
            list.len(),
            ran.as_secs_f64(),
            forwarded[cam as usize] as f64 / 1e6
        );
    }
    let reconnects = std::fs::read_to_string(&log)?
        .lines()
        .filter(|l| l.contains("reconnecting"))
        .count();
    let warm = samples.get(1).or(samples.first());
    let last = samples.last();
    if let (Some((wt, w)), Some((lt, l))) = (warm, last) {
        println!(
            "soak: {faults} fault(s), {reconnects} reconnect line(s), {files} file(s), {} \
             unplayable; rss {:.1} MiB at {:.0} s, {:.1} MiB at {:.0} s; fds {} then {}",
            bad.len(),
            w.rss_kib as f64 / 1024.0,
            wt.as_secs_f64(),
            l.rss_kib as f64 / 1024.0,
            lt.as_secs_f64(),
            w.fds,
            l.fds
        );
    }
    ensure!(bad.is_empty(), "files that do not play: {bad:#?}");
    std::fs::remove_dir_all(&root)?;
    Ok(())
}

fn mp4_files(dir: &Path) -> Result<Vec<PathBuf>> {
    if !dir.exists() {
        return Ok(Vec::new());
    }
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)?
        .map(|e| e.map(|e| e.path()))
        .collect::<std::io::Result<_>>()?;
    ensure!(
        files
            .iter()
            .all(|p| p.extension().is_some_and(|e| e == "mp4")),
        "unexpected files in {}: {files:?}",
        dir.display()
    );
    files.sort();
    Ok(files)
}

/// `recorder verify` and a clean `ffmpeg -xerror` decode; the file's duration.
fn check(recorder: &Path, file: &Path) -> Result<f64> {
    crate::crash::check(recorder, file)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn options() {
        let o = SoakOptions::parse(&args(&["--cameras", "32", "--minutes", "0.5"])).unwrap();
        assert_eq!(
            (o.cameras, o.duration, o.seed),
            (32, Duration::from_secs(30), 1)
        );
        let e = SoakOptions::parse(&args(&["--minutes", "0"])).unwrap_err();
        assert_eq!(e.to_string(), "--minutes must be above 0");
        let e = SoakOptions::parse(&args(&["--cameras", "0"])).unwrap_err();
        assert_eq!(e.to_string(), "--cameras must be at least 1");
        let e = SoakOptions::parse(&args(&["--hours", "1"])).unwrap_err();
        assert_eq!(e.to_string(), "soak: unknown option --hours");
    }

    #[test]
    fn stalls_last_at_most_a_third_of_the_run_and_every_fault_is_drawn() {
        let mut rng = Rng(3);
        let mut kinds = [0u32; 4];
        for _ in 0..400 {
            match draw_fault(&mut rng, Duration::from_secs(30)) {
                Fault::Cut => kinds[0] += 1,
                Fault::Stall(d) => {
                    assert!((1..=10).contains(&d.as_secs()), "{d:?}");
                    kinds[1] += 1;
                }
                Fault::Slow(_) => kinds[2] += 1,
                Fault::HalfOpen => kinds[3] += 1,
            }
        }
        assert!(kinds.iter().all(|&k| k > 50), "{kinds:?}");
        let mut rng = Rng(3);
        for _ in 0..400 {
            if let Fault::Stall(d) = draw_fault(&mut rng, Duration::from_secs(3600)) {
                assert!(d.as_secs() <= 30);
            }
        }
    }
}
