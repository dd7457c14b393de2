//! `cargo xtask soak --cameras N --minutes M [--seed S]`: N cameras recorded by one
//! `recorder run` for M minutes (a decimal), each through its own fault-injecting proxy
//! ([`proxy`]) in front of GStreamer's RTSP server; every fourth camera records the mount
//! that drops 1% of its RTP packets. Every 4 to 12 s (seeded) one camera's connections
//! get a fault: a cut, a stall of 1 to 30 s (at most a third of the run), 5 s of slow
//! reads, a half-open connection or a reset in the middle of an RTP packet. Every 10 s
//! the recorder's RSS, open file descriptors and CPU are printed. Finished files are
//! checked as the run goes ([`checks::spawn_checker`]) and removed once counted. At the
//! end (SIGTERM) the soak asserts, naming each check that fails: the recorder exits 0;
//! every file passes `recorder verify` and decodes; each camera's media covers the time
//! its proxy let media through, minus one fragment per fault ([`checks::Coverage`]);
//! RSS and open fds stay flat after warm-up ([`checks::growth`]); the proxies leave no
//! descriptor of xtask open.

mod checks;
mod framing;
mod proxy;

use crate::util::Rng;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail, ensure};

use self::checks::Sample;
use self::framing::VIDEO_CLOCK;
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

/// Every fourth camera (cam1, cam5, ...) records the mount that drops 1% of its RTP
/// packets, so that the loss path runs in the soak.
const LOSSY_MOUNT: &str = "h264loss1";

/// Whether camera `cam` records [`LOSSY_MOUNT`].
fn lossy(cam: u32) -> bool {
    cam % 4 == 1
}

/// The names of the fault kinds, in the order of [`kind`].
const KINDS: [&str; 5] = ["cut", "stall", "slow", "half-open", "reset"];

/// The index of `fault`'s kind in [`KINDS`].
fn kind(fault: Fault) -> usize {
    match fault {
        Fault::Cut => 0,
        Fault::Stall(_) => 1,
        Fault::Slow(_) => 2,
        Fault::HalfOpen => 3,
        Fault::Reset => 4,
    }
}

/// The fault drawn for a run of `run` length.
fn draw_fault(rng: &mut Rng, run: Duration) -> Fault {
    let max_stall = (run.as_secs() / 3).clamp(1, 30);
    match rng.below(5) {
        0 => Fault::Cut,
        1 => Fault::Stall(Duration::from_secs(1 + rng.below(max_stall))),
        2 => Fault::Slow(Duration::from_secs(5)),
        3 => Fault::HalfOpen,
        _ => Fault::Reset,
    }
}

/// The resources of process `pid` now.
fn sample(pid: u32) -> Result<Sample> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let rss_kib = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .context("no VmRSS")?;
    let fds = open_fds(pid)?;
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

/// Open file descriptors of process `pid`.
fn open_fds(pid: u32) -> Result<usize> {
    Ok(std::fs::read_dir(format!("/proc/{pid}/fd"))?.count())
}

/// Clock ticks per second of `/proc/PID/stat` (`USER_HZ`, 100 on Linux).
const TICKS_PER_S: f64 = 100.0;

/// Runs the soak and prints the report; fails, naming every check that failed, when a
/// file does not play, a camera's media does not cover what the proxy let through, the
/// recorder's RSS or open files grew after warm-up, the proxies leaked descriptors or
/// the recorder did not exit cleanly.
pub fn soak(o: &SoakOptions) -> Result<()> {
    let built = crate::verify::build_recorder_with(&[])?;
    let root = std::env::temp_dir().join(format!("recorder-soak-{}", std::process::id()));
    if root.exists() {
        std::fs::remove_dir_all(&root)?;
    }
    std::fs::create_dir_all(&root)?;
    // A copy, so that a build during a long run cannot change the binary under it.
    let recorder = root.join("recorder");
    std::fs::copy(&built, &recorder).context("cannot copy the recorder")?;
    let server = RtspServer::start(o.duration.as_secs() + 120, &root.join("server.log"))?;
    let base = server.url("");
    let upstream = base
        .trim_start_matches("rtsp://")
        .parse()
        .with_context(|| format!("server address {base}"))?;
    let own_fds = open_fds(std::process::id())?;
    let proxies: Vec<Proxy> = (0..o.cameras)
        .map(|_| Proxy::start(upstream))
        .collect::<Result<_>>()?;
    let mut config = format!(
        "[defaults]\nsegment_duration = \"60s\"\nstall_timeout = \"3s\"\n\
         fragment_duration = \"{}s\"\noutput = \"{}/{{name}}/%H-%M-%S.mp4\"\n",
        checks::FRAGMENT.as_secs(),
        root.display()
    );
    for (i, p) in (0..o.cameras).zip(&proxies) {
        let mount = if lossy(i) { LOSSY_MOUNT } else { "h264aac" };
        config.push_str(&format!(
            "\n[[camera]]\nname = \"cam{i}\"\nurl = \"rtsp://127.0.0.1:{}/{mount}\"\n",
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
    let stop_checker = Arc::new(AtomicBool::new(false));
    let checker = checks::spawn_checker(
        recorder.clone(),
        root.clone(),
        (0..o.cameras).map(lossy).collect(),
        Arc::clone(&stop_checker),
    );
    let started = Instant::now();
    let mut rng = Rng(o.seed);
    let mut next_fault = started + Duration::from_secs(4 + rng.below(9));
    let mut next_sample = started + SAMPLE_EVERY;
    let mut samples: Vec<(Duration, Sample)> = Vec::new();
    let mut faults = vec![0u32; o.cameras as usize];
    let mut kinds = [0u32; KINDS.len()];
    println!(
        "soak: {} camera(s) for {:.0} s, seed {}, {LOSSY_MOUNT} on cam1, cam5, ...",
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
            faults[cam] += 1;
            kinds[kind(fault)] += 1;
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
            let cpu = s.cpu_ticks.saturating_sub(ticks) as f64 / TICKS_PER_S / interval * 100.0;
            println!(
                "{:>6.1} s: rss {:.1} MiB, {} fds, cpu {cpu:.1}% (xtask: {} fds)",
                started.elapsed().as_secs_f64(),
                s.rss_kib as f64 / 1024.0,
                s.fds,
                open_fds(std::process::id())?
            );
            samples.push((started.elapsed(), s));
            next_sample += SAMPLE_EVERY;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let ran = started.elapsed();
    let term = Instant::now();
    let cpu_ticks = sample(pid).map_or(0, |s| s.cpu_ticks);
    // The video let through up to the SIGTERM, in media time.
    let let_through: Vec<f64> = proxies
        .iter()
        .map(|p| p.video_ticks.load(Ordering::Relaxed) as f64 / f64::from(VIDEO_CLOCK))
        .collect();
    crate::util::run(Command::new("kill").args(["-TERM", &pid.to_string()]))?;
    let status = child
        .wait_timeout(Duration::from_secs(20))?
        .context("the recorder did not exit within 20 s of SIGTERM")?;
    stop_checker.store(true, Ordering::Relaxed);
    let checked = checker
        .join()
        .map_err(|_| anyhow::anyhow!("the file checker panicked"))??;
    let flowed: Vec<f64> = proxies
        .iter()
        .map(|p| p.flow.total(term).as_secs_f64())
        .collect();
    let resets: u64 = proxies
        .iter()
        .map(|p| p.resets.load(Ordering::Relaxed))
        .sum();
    // With the recorder gone every connection ends; then the listeners close.
    drop(proxies);
    let proxy_fds = settle_fds(own_fds);
    server.stop();

    let mut failed = Vec::new();
    if !status.success() {
        failed.push(format!(
            "recorder run exited with {status}; its log:\n{}",
            tail(&log, 30)
        ));
    }
    for cam in 0..o.cameras as usize {
        let c = checks::Coverage {
            flowed: let_through[cam],
            kept: checked.kept[cam],
            faults: faults[cam],
            ran: ran.as_secs_f64(),
        };
        println!(
            "cam{cam}{}: {} file(s), {:.1} s kept of {:.1} s of video the proxy let through \
             ({:.1} s of {:.1} s run with media flowing, {} fault(s), at most {:.1} s missing)",
            if lossy(cam as u32) { " (1% loss)" } else { "" },
            checked.files[cam],
            c.kept,
            c.flowed,
            flowed[cam],
            c.ran,
            c.faults,
            c.allowed()
        );
        if let Some(p) = c.problem() {
            failed.push(format!("coverage: cam{cam}: {p}"));
        }
    }
    let reconnects = std::fs::read_to_string(&log)?
        .lines()
        .filter(|l| l.contains("reconnecting"))
        .count();
    let files: usize = checked.files.iter().sum();
    let by_kind: Vec<String> = KINDS
        .iter()
        .zip(kinds)
        .map(|(k, n)| format!("{n} {k}"))
        .collect();
    println!(
        "soak: {} fault(s) ({}; {resets} reset(s) made mid-packet), {reconnects} reconnect \
         line(s), {files} file(s), {} unplayable",
        kinds.iter().sum::<u32>(),
        by_kind.join(", "),
        checked.bad.len()
    );
    let only: Vec<Sample> = samples.iter().map(|(_, s)| *s).collect();
    if let (Some((wt, w)), Some((lt, l))) = (samples.get(1).or(samples.first()), samples.last()) {
        println!(
            "soak: rss {:.1} MiB at {:.0} s, {:.1} MiB at {:.0} s; fds {} then {}; cpu {:.1}% \
             of a core over the run",
            w.rss_kib as f64 / 1024.0,
            wt.as_secs_f64(),
            l.rss_kib as f64 / 1024.0,
            lt.as_secs_f64(),
            w.fds,
            l.fds,
            cpu_ticks as f64 / TICKS_PER_S / ran.as_secs_f64() * 100.0
        );
    }
    match checks::thirds(&only) {
        Some([(r2, f2), (r3, f3)]) => println!(
            "soak: after warm-up, largest rss {:.1} MiB then {:.1} MiB, fds {f2} then {f3} \
             (second and last thirds of {} samples)",
            r2 as f64 / 1024.0,
            r3 as f64 / 1024.0,
            only.len()
        ),
        None => println!(
            "soak: {} sample(s): too few to judge growth after warm-up (a minute at least)",
            only.len()
        ),
    }
    failed.extend(checks::growth(&only, o.cameras));
    if let Err(leaked) = proxy_fds {
        failed.push(format!(
            "the proxies left {leaked} descriptor(s) of xtask open"
        ));
    }
    failed.extend(checked.bad.iter().map(|b| format!("file: {b}")));
    if !failed.is_empty() {
        bail!(
            "soak failed ({} kept in {}):\n{}",
            failed.len(),
            root.display(),
            failed.join("\n")
        );
    }
    std::fs::remove_dir_all(&root)?;
    Ok(())
}

/// Waits up to 5 s for xtask's open descriptors to come back to `before` (the count
/// before the proxies started); `Err` with how many more there are.
fn settle_fds(before: usize) -> std::result::Result<(), usize> {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let now = open_fds(std::process::id()).unwrap_or(usize::MAX);
        if now <= before {
            return Ok(());
        }
        if Instant::now() >= deadline {
            return Err(now - before);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
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
        let mut kinds = [0u32; KINDS.len()];
        for _ in 0..500 {
            let f = draw_fault(&mut rng, Duration::from_secs(30));
            if let Fault::Stall(d) = f {
                assert!((1..=10).contains(&d.as_secs()), "{d:?}");
            }
            kinds[kind(f)] += 1;
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
