//! `cargo xtask crash --trials N [--seed S]`: `kill -9` at random instants.
//!
//! Each trial records `/h264aac` from GStreamer's RTSP server (`xtask/rtsp-server.py`) in
//! 2 s segments of 1 s fragments and kills the recorder with SIGKILL at an instant drawn
//! from a seeded generator, in one of three ways: at a random time, within 5 ms of a
//! segment switch (the log's `writing NAME.partial` line: the new file is being created
//! while the previous one is finalized), or 5 to 100 ms after one. Then `recorder repair`
//! finishes every `.partial` left, and every file must pass `recorder verify` and decode
//! with `ffmpeg -xerror`. The media kept (the files' durations) is compared with the
//! media the recorder received (the time from its first keyframe to the kill). The report
//! gives the unplayable files (goal: none) and the most media lost in a trial (goal: at
//! most one fragment).

use crate::util::Rng;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail, ensure};

use crate::server::RtspServer;
use crate::util::{ChildGuard, display, tail};

/// Segment length of the recordings.
const SEGMENT_S: u64 = 2;
/// Fragment length (the server sends a keyframe every second: fragments of 1 s).
const FRAGMENT_S: f64 = 1.0;
/// The media a trial may lose beyond one fragment: the frames in flight between the
/// server and the muxer, and the last sample, held until the next gives its duration.
const LOSS_SLACK_S: f64 = 0.5;
/// How long to wait for the recorder's log lines.
const LOG_TIMEOUT: Duration = Duration::from_secs(15);

/// What `cargo xtask crash` runs.
#[derive(Clone, Debug)]
pub struct CrashOptions {
    /// Trials to run.
    pub trials: u32,
    /// Seed of the kill instants.
    pub seed: u64,
}

impl CrashOptions {
    /// Parses `--trials N` and `--seed S` (defaults: 20 trials, seed 1).
    pub fn parse(args: &[String]) -> Result<Self> {
        let mut options = Self {
            trials: 20,
            seed: 1,
        };
        let mut it = args.iter();
        while let Some(flag) = it.next() {
            let value = it
                .next()
                .with_context(|| format!("crash: {flag} wants a value"))?;
            match flag.as_str() {
                "--trials" => {
                    options.trials = value
                        .parse()
                        .with_context(|| format!("--trials wants a whole number, got {value:?}"))?;
                }
                "--seed" => {
                    options.seed = value
                        .parse()
                        .with_context(|| format!("--seed wants a whole number, got {value:?}"))?;
                }
                other => bail!("crash: unknown option {other}"),
            }
        }
        ensure!(options.trials > 0, "--trials must be at least 1");
        Ok(options)
    }
}

/// When a trial kills the recorder.
#[derive(Clone, Copy, Debug)]
enum Kill {
    /// This long after the first keyframe.
    AtRandom(Duration),
    /// This long after the `n`th file was created (a segment switch for `n` > 1).
    AfterSwitch { n: usize, delay: Duration },
}

impl Kill {
    fn draw(rng: &mut Rng) -> Self {
        match rng.next() % 3 {
            0 => Kill::AtRandom(rng.millis(1000, 6000)),
            1 => Kill::AfterSwitch {
                n: 2 + (rng.next() % 2) as usize,
                delay: rng.millis(0, 5),
            },
            _ => Kill::AfterSwitch {
                n: 2 + (rng.next() % 2) as usize,
                delay: rng.millis(5, 100),
            },
        }
    }

    fn describe(self) -> String {
        match self {
            Kill::AtRandom(d) => format!("{} ms after the first keyframe", d.as_millis()),
            Kill::AfterSwitch { n, delay } => {
                format!("{} ms after file {n} was created", delay.as_millis())
            }
        }
    }
}

/// What one trial left.
#[derive(Debug)]
struct Trial {
    files: usize,
    repaired: usize,
    /// `.partial` files without a complete fragment (no media), which repair removed.
    removed: usize,
    unplayable: Vec<String>,
    received_s: f64,
    kept_s: f64,
}

/// Runs the trials and prints the report; fails when a file was left unplayable or a
/// trial lost more than a fragment (and the slack).
pub fn crash(options: &CrashOptions) -> Result<()> {
    let recorder = crate::verify::build_recorder_with(&[])?;
    let root = std::env::temp_dir().join(format!("recorder-crash-{}", std::process::id()));
    if root.exists() {
        std::fs::remove_dir_all(&root)?;
    }
    std::fs::create_dir_all(&root)?;
    let server_s = u64::from(options.trials) * 20 + 30;
    let server = RtspServer::start(server_s, &root.join("server.log"))?;
    let url = server.url("/h264aac");
    let mut rng = Rng(options.seed);
    let mut trials = Vec::new();
    let started = Instant::now();
    for i in 0..options.trials {
        let kill = Kill::draw(&mut rng);
        let dir = root.join(format!("trial-{i}"));
        std::fs::create_dir_all(&dir)?;
        let trial = run_trial(&recorder, &url, &dir, kill)
            .with_context(|| format!("trial {i} ({})", kill.describe()))?;
        println!(
            "trial {i:>3}: killed {:<38} {} file(s), {} repaired, {} removed empty, {} unplayable; \
             received {:.2} s, kept {:.2} s, lost {:.2} s",
            kill.describe(),
            trial.files,
            trial.repaired,
            trial.removed,
            trial.unplayable.len(),
            trial.received_s,
            trial.kept_s,
            trial.received_s - trial.kept_s
        );
        trials.push(trial);
    }
    server.stop();
    let unplayable: Vec<&String> = trials.iter().flat_map(|t| &t.unplayable).collect();
    let worst = trials
        .iter()
        .map(|t| t.received_s - t.kept_s)
        .fold(f64::MIN, f64::max);
    let files: usize = trials.iter().map(|t| t.files).sum();
    let repaired: usize = trials.iter().map(|t| t.repaired).sum();
    let removed: usize = trials.iter().map(|t| t.removed).sum();
    println!(
        "crash: {} trial(s) (seed {}) in {:.0} s: {files} file(s), {repaired} repaired, \
         {removed} removed empty, {} unplayable; most media lost in a trial: {worst:.2} s ({:.2} fragment(s) of \
         {FRAGMENT_S} s)",
        trials.len(),
        options.seed,
        started.elapsed().as_secs_f64(),
        unplayable.len(),
        worst / FRAGMENT_S
    );
    ensure!(unplayable.is_empty(), "unplayable files: {unplayable:#?}");
    ensure!(
        worst <= FRAGMENT_S + LOSS_SLACK_S,
        "a trial lost {worst:.2} s, more than a fragment ({FRAGMENT_S} s) and {LOSS_SLACK_S} s"
    );
    std::fs::remove_dir_all(&root)?;
    Ok(())
}

/// Records into `dir` until `kill`, kills, repairs and checks what was left.
fn run_trial(recorder: &Path, url: &str, dir: &Path, kill: Kill) -> Result<Trial> {
    let template = dir.join("%H-%M-%S.mp4");
    let mut cmd = Command::new(recorder);
    cmd.args(["record", url, "-o"])
        .arg(&template)
        .args(["--segment-duration", &format!("{SEGMENT_S}s")])
        .args(["--duration", "60s", "--no-status"])
        .env_remove("RUST_LOG")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    let mut child = cmd
        .spawn()
        .with_context(|| format!("cannot start `{}`", display(&cmd)))?;
    let stderr = child.stderr.take().context("no stderr pipe")?;
    let mut child = ChildGuard::new(child);
    let log = dir.join("recorder.log");
    let (tx, rx) = mpsc::channel();
    let log_path = log.clone();
    std::thread::spawn(move || {
        let mut file = std::fs::File::create(&log_path).ok();
        for line in BufReader::new(stderr).lines() {
            let Ok(line) = line else { break };
            if let Some(f) = file.as_mut() {
                use std::io::Write;
                let _ = writeln!(f, "{line}");
            }
            let _ = tx.send((Instant::now(), line));
        }
    });
    let wait_for = |what: &str, n: usize| -> Result<Instant> {
        let mut seen = 0;
        let deadline = Instant::now() + LOG_TIMEOUT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match rx.recv_timeout(left) {
                Ok((at, line)) if line.contains(what) => {
                    seen += 1;
                    if seen == n {
                        return Ok(at);
                    }
                }
                Ok(_) => {}
                Err(_) => bail!(
                    "no {n}th {what:?} line within {LOG_TIMEOUT:?}; the recorder's log:\n{}",
                    tail(&log, 20)
                ),
            }
        }
    };
    let first_keyframe = wait_for("first keyframe after", 1)?;
    let at = match kill {
        Kill::AtRandom(d) => first_keyframe + d,
        Kill::AfterSwitch { n, delay } => wait_for("writing ", n)? + delay,
    };
    std::thread::sleep(at.saturating_duration_since(Instant::now()));
    let killed_at = Instant::now();
    // SIGKILL, by pid.
    child.kill();
    let received_s = killed_at.duration_since(first_keyframe).as_secs_f64();

    let (mut repaired, mut removed) = (0, 0);
    for partial in files_with(dir, "partial")? {
        let out = Command::new(recorder)
            .args(["repair", "--no-status", "-q"])
            .arg(&partial)
            .stdin(Stdio::null())
            .output()
            .context("cannot run recorder repair")?;
        ensure!(
            out.status.success(),
            "recorder repair {} failed: {}",
            partial.display(),
            String::from_utf8_lossy(&out.stderr).trim_end()
        );
        if String::from_utf8_lossy(&out.stdout).starts_with("removed ") {
            removed += 1;
        } else {
            repaired += 1;
        }
    }
    let leftovers = files_with(dir, "partial")?;
    let mut unplayable: Vec<String> = leftovers
        .iter()
        .map(|p| format!("{}: left by repair", p.display()))
        .collect();
    let mut kept_s = 0.0;
    let files = files_with(dir, "mp4")?;
    for file in &files {
        match check(recorder, file) {
            Ok(duration) => kept_s += duration,
            Err(e) => unplayable.push(format!("{}: {e:#}", file.display())),
        }
    }
    Ok(Trial {
        files: files.len(),
        repaired,
        removed,
        unplayable,
        received_s,
        kept_s,
    })
}

/// The files in `dir` whose name ends in `.EXT`, sorted.
fn files_with(dir: &Path, ext: &str) -> Result<Vec<PathBuf>> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .with_context(|| format!("cannot list {}", dir.display()))?
        .map(|e| e.map(|e| e.path()))
        .collect::<std::io::Result<_>>()?;
    files.retain(|p| p.extension().is_some_and(|e| e == ext));
    files.sort();
    Ok(files)
}

/// `recorder verify` and a clean `ffmpeg -xerror` decode; returns the file's duration.
pub fn check(recorder: &Path, file: &Path) -> Result<f64> {
    check_decode(recorder, file, true)
}

/// `recorder verify` and a full `ffmpeg` decode, which must print nothing with `clean`
/// (`-xerror`) and otherwise only exit 0 (a stream that lost packets decodes with
/// concealed errors); returns the file's duration.
pub fn check_decode(recorder: &Path, file: &Path, clean: bool) -> Result<f64> {
    let out = Command::new(recorder)
        .args(["verify", "--no-status", "-q"])
        .arg(file)
        .stdin(Stdio::null())
        .output()
        .context("cannot run recorder verify")?;
    ensure!(
        out.status.success(),
        "recorder verify: {}",
        String::from_utf8_lossy(&out.stderr).trim_end()
    );
    let out = Command::new("ffmpeg")
        .args(["-nostdin", "-v", "error"])
        .args(clean.then_some("-xerror"))
        .arg("-i")
        .arg(file)
        .args(["-f", "null", "-"])
        .stdin(Stdio::null())
        .output()
        .context("cannot run ffmpeg")?;
    let said = String::from_utf8_lossy(&out.stderr);
    ensure!(
        out.status.success() && (!clean || said.trim().is_empty()),
        "ffmpeg{}: {}",
        if clean { " -xerror" } else { "" },
        said.trim_end()
    );
    let out = Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-show_entries",
            "format=duration",
            "-of",
            "csv=p=0",
        ])
        .arg(file)
        .stdin(Stdio::null())
        .output()
        .context("cannot run ffprobe")?;
    let text = String::from_utf8_lossy(&out.stdout);
    text.trim()
        .parse()
        .with_context(|| format!("ffprobe gave no duration: {text:?}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn options() {
        let o = CrashOptions::parse(&args(&["--trials", "7", "--seed", "42"])).unwrap();
        assert_eq!((o.trials, o.seed), (7, 42));
        let o = CrashOptions::parse(&[]).unwrap();
        assert_eq!((o.trials, o.seed), (20, 1));
        let e = CrashOptions::parse(&args(&["--trials", "x"])).unwrap_err();
        assert_eq!(e.to_string(), "--trials wants a whole number, got \"x\"");
        let e = CrashOptions::parse(&args(&["--trials", "0"])).unwrap_err();
        assert_eq!(e.to_string(), "--trials must be at least 1");
        let e = CrashOptions::parse(&args(&["--trials"])).unwrap_err();
        assert_eq!(e.to_string(), "crash: --trials wants a value");
        let e = CrashOptions::parse(&args(&["--fast", "1"])).unwrap_err();
        assert_eq!(e.to_string(), "crash: unknown option --fast");
    }

    #[test]
    fn kills_are_seeded_and_cover_every_kind() {
        let draw = |seed| {
            let mut rng = Rng(seed);
            (0..30)
                .map(|_| Kill::draw(&mut rng).describe())
                .collect::<Vec<_>>()
        };
        assert_eq!(draw(1), draw(1));
        assert_ne!(draw(1), draw(2));
        let mut rng = Rng(1);
        let (mut random, mut at_switch, mut after_switch) = (0, 0, 0);
        for _ in 0..300 {
            match Kill::draw(&mut rng) {
                Kill::AtRandom(d) => {
                    assert!((1000..6000).contains(&d.as_millis()));
                    random += 1;
                }
                Kill::AfterSwitch { n, delay } => {
                    assert!((2..=3).contains(&n));
                    if delay.as_millis() < 5 {
                        at_switch += 1;
                    } else {
                        assert!(delay.as_millis() < 100);
                        after_switch += 1;
                    }
                }
            }
        }
        assert!(random > 50 && at_switch > 50 && after_switch > 50);
    }
}
