//! The `retention` case: `recorder run` of /h264pcmu (320x180) in 2 s files, three runs one
//! after the other:
//!
//! - `aged` (`retain_for = "4s"`, on the normal disk): files that ended more than 4 s
//!   before the newest go, oldest first; also gives the mean file size the other runs are
//!   sized by;
//! - `sized` (`retain_size` = three mean files): the camera's files, summed each time the
//!   sampler sees one deleted, stay within it; then the catalog is deleted and
//!   `recorder index --rebuild` must give the same spans and files;
//! - `lowfree` (`[storage] min_free` = two mean files on a private tmpfs holding about six):
//!   recording goes on with every file full of frames, the deleted files are the oldest in
//!   start order, each logged with its reason, the files left pass `recorder verify`, and
//!   the free space, sampled every 0.5 s, is never below the limit for longer than
//!   [`BELOW_LIMIT_S`].

use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, ensure};
use serde_json::Value;

use super::tools::{read_log, recorder_tool};
use crate::util::{ChildGuard, tail};

/// Length of each run; files of [`SEGMENT_S`].
const RUN_S: u64 = 14;
const SEGMENT_S: f64 = 2.0;
/// The sampling period of the free space and of the files.
const SAMPLE: Duration = Duration::from_millis(500);
/// Longest the free space may stay below `min_free`: one file (2 s, up to 3 s since a cut
/// waits for the next keyframe, 1 s apart), the sampling period (0.5 s), and 0.5 s for the
/// catalog keeper to take the finished file and delete.
const BELOW_LIMIT_S: f64 = 4.0;
/// How long before the newest file's end a file kept by `retain_for = "4s"` may end: the
/// limit, and one file more (retention runs when a file finishes, then not again until
/// the next one).
const AGE_S: f64 = 4.0 + SEGMENT_S;

/// A file the recorder logged as finished.
#[derive(Debug)]
struct Finished {
    path: String,
    frames: u64,
    bytes: u64,
}

/// The `file finalized: PATH: N video frame(s), M audio frame(s), D s, LEN bytes...` lines.
fn finalized(log: &str) -> Vec<Finished> {
    log.lines()
        .filter_map(|l| l.split("file finalized: ").nth(1))
        .filter_map(|l| {
            let (path, rest) = l.split_once(": ")?;
            let parts: Vec<&str> = rest.split(", ").collect();
            Some(Finished {
                path: path.to_owned(),
                frames: parts.first()?.split(' ').next()?.parse().ok()?,
                bytes: parts.get(3)?.split(' ').next()?.parse().ok()?,
            })
        })
        .collect()
}

/// The `retention: deleted PATH (CAMERA, N bytes): REASON` lines: (path, reason).
fn deleted(log: &str) -> Vec<(String, String)> {
    log.lines()
        .filter_map(|l| l.split("retention: deleted ").nth(1))
        .filter_map(|l| {
            let (path, rest) = l.split_once(" (")?;
            let (_, reason) = rest.split_once("): ")?;
            Some((path.to_owned(), reason.to_owned()))
        })
        .collect()
}

/// A file in a listing: path, size, start and end.
type Row = (String, u64, String, String);

/// `recorder list --json --files`: each file's (path, size, start, end) and the span count.
fn listing(bin: &Path, config: &Path, camera: &str) -> Result<(Vec<Row>, usize)> {
    let out = Command::new(bin)
        .args(["list", "--json", "--files", "--camera", camera, "--config"])
        .arg(config)
        .stdin(Stdio::null())
        .output()
        .context("cannot run recorder list")?;
    ensure!(
        out.status.success(),
        "recorder list failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).context("recorder list --json")?;
    let cam = v["cameras"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|c| c["name"] == camera)
        .with_context(|| format!("no camera {camera} in the listing: {v}"))?;
    let files = cam["files"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|f| {
            (
                f["path"].as_str().unwrap_or_default().to_owned(),
                f["size_bytes"].as_u64().unwrap_or(0),
                f["start"].as_str().unwrap_or_default().to_owned(),
                f["end"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect();
    Ok((files, cam["spans"].as_array().map_or(0, Vec::len)))
}

fn millis(t: &str) -> i64 {
    t.parse::<jiff::Timestamp>()
        .map_or(0, |t| t.as_millisecond())
}

/// Runs `cmd` (stdout and stderr to `log`), calling `sample` every [`SAMPLE`] until it
/// exits; fails when it runs [`RUN_S`] + 40 s.
fn run_sampling(mut cmd: Command, log: &Path, mut sample: impl FnMut(u32)) -> Result<ExitStatus> {
    let mut child = ChildGuard::spawn_logged(&mut cmd, log)?;
    let started = Instant::now();
    loop {
        if let Some(status) = child.try_wait()? {
            return Ok(status);
        }
        ensure!(
            started.elapsed() < Duration::from_secs(RUN_S + 40),
            "recorder run did not end:\n{}",
            tail(log, 30)
        );
        sample(child.id());
        std::thread::sleep(SAMPLE);
    }
}

/// The `.mp4` files in `dir` and their sizes.
fn mp4s(dir: &Path) -> Vec<(PathBuf, u64)> {
    std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "mp4"))
        .filter_map(|p| Some((p.clone(), p.metadata().ok()?.len())))
        .collect()
}

fn config(dir: &Path, camera: &str, url: &str, top: &str, keys: &str) -> Result<PathBuf> {
    let path = dir.join(format!("{camera}.toml"));
    std::fs::write(
        &path,
        format!(
            "catalog = \"{}/{camera}.sqlite3\"\n{top}\n[[camera]]\nname = \"{camera}\"\n\
             url = \"{url}\"\noutput = \"{}/{camera}/%H-%M-%S.mp4\"\n\
             segment_duration = \"{SEGMENT_S}s\"\n{keys}\n",
            dir.display(),
            dir.display()
        ),
    )?;
    Ok(path)
}

fn run_args(config: &Path) -> Vec<String> {
    [
        "run",
        "--no-status",
        "--config",
        config.to_str().unwrap_or_default(),
        "--duration",
        &format!("{RUN_S}s"),
    ]
    .map(str::to_owned)
    .to_vec()
}

/// The `unshare` arguments that give a private mount namespace where a tmpfs can be
/// mounted: as root `--mount`, else an unprivileged user namespace.
fn unshare_prefix() -> Result<&'static [&'static str]> {
    const CANDIDATES: [&[&str]; 2] = [
        &["unshare", "--mount"],
        &["unshare", "--user", "--map-root-user", "--mount"],
    ];
    for c in CANDIDATES {
        let ok = Command::new(c[0])
            .args(&c[1..])
            .args(["sh", "-c", "mount -t tmpfs -o size=64k tmpfs /mnt"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if ok {
            return Ok(c);
        }
    }
    anyhow::bail!(
        "lowfree: cannot mount a tmpfs in a private mount namespace (tried `unshare --mount` \
         and `unshare --user --map-root-user --mount`): run as root or enable unprivileged \
         user namespaces"
    )
}

/// Every finished file holds frames of 2 s of 30 fps video (at least 80% of them): the
/// recording went on.
fn check_going_on(name: &str, files: &[Finished], log: &Path) -> Result<()> {
    ensure!(
        files.len() as f64 >= RUN_S as f64 / SEGMENT_S - 2.0,
        "{name}: only {} files finished in {RUN_S} s:\n{}",
        files.len(),
        tail(log, 30)
    );
    let min = (SEGMENT_S * 30.0 * 0.8) as u64;
    for f in &files[..files.len() - 1] {
        ensure!(f.frames >= min, "{name}: {f:?} holds under {min} frames");
    }
    Ok(())
}

/// The deletions are the oldest files, in the order they were recorded.
fn check_oldest_first(name: &str, files: &[Finished], gone: &[(String, String)]) -> Result<()> {
    let first: Vec<&str> = files
        .iter()
        .take(gone.len())
        .map(|f| f.path.as_str())
        .collect();
    let gone_paths: Vec<&str> = gone.iter().map(|g| g.0.as_str()).collect();
    ensure!(
        first == gone_paths,
        "{name}: deleted {gone_paths:?}, not the oldest {first:?}"
    );
    Ok(())
}

pub(super) fn run_retention(bin: &Path, url: &str, dir: &Path, log: &Path) -> Result<String> {
    let dir = dir.join("retention");
    std::fs::create_dir_all(&dir)?;
    let stem = log.with_extension("");
    let log_of = |run: &str| PathBuf::from(format!("{}-{run}.log", stem.display()));

    // retain_for.
    let aged_log = log_of("aged");
    let cfg = config(
        &dir,
        "aged",
        &format!("{url}-aged"),
        "",
        "retain_for = \"4s\"",
    )?;
    let mut cmd = Command::new(bin);
    cmd.args(run_args(&cfg));
    let status = run_sampling(cmd, &aged_log, |_| {})?;
    ensure!(
        status.success(),
        "aged: recorder run failed ({status}):\n{}",
        tail(&aged_log, 30)
    );
    let text = read_log(&aged_log)?;
    let files = finalized(&text);
    check_going_on("aged", &files, &aged_log)?;
    let gone = deleted(&text);
    ensure!(
        !gone.is_empty()
            && gone
                .iter()
                .all(|g| g.1.starts_with("older than retain_for")),
        "aged: deletions {gone:?}"
    );
    check_oldest_first("aged", &files, &gone)?;
    let (kept, _) = listing(bin, &cfg, "aged")?;
    let newest = kept
        .iter()
        .map(|f| millis(&f.3))
        .max()
        .context("aged: no file kept")?;
    let oldest_kept_s = kept
        .iter()
        .map(|f| (newest - millis(&f.3)) as f64 / 1000.0)
        .fold(0.0, f64::max);
    ensure!(
        oldest_kept_s <= AGE_S && kept.len() + gone.len() == files.len(),
        "aged: kept files ending up to {oldest_kept_s:.1} s before the newest: {kept:?}"
    );
    let mean = files.iter().map(|f| f.bytes).sum::<u64>() / files.len() as u64;

    // retain_size, then a rebuild of the catalog.
    let budget = 3 * mean;
    let sized_log = log_of("sized");
    let keys = format!("retain_size = \"{}KB\"", budget / 1000);
    let budget = budget / 1000 * 1000;
    let cfg = config(&dir, "sized", &format!("{url}-sized"), "", &keys)?;
    let mut cmd = Command::new(bin);
    cmd.args(run_args(&cfg));
    let cam_dir = dir.join("sized");
    let mut seen: Vec<PathBuf> = Vec::new();
    let mut after_deletion: Vec<u64> = Vec::new();
    let status = run_sampling(cmd, &sized_log, |_| {
        let now = mp4s(&cam_dir);
        if seen.iter().any(|p| !now.iter().any(|n| &n.0 == p)) {
            after_deletion.push(now.iter().map(|n| n.1).sum());
        }
        seen = now.into_iter().map(|n| n.0).collect();
    })?;
    ensure!(
        status.success(),
        "sized: recorder run failed ({status}):\n{}",
        tail(&sized_log, 30)
    );
    let text = read_log(&sized_log)?;
    let files = finalized(&text);
    check_going_on("sized", &files, &sized_log)?;
    let gone = deleted(&text);
    ensure!(
        !gone.is_empty() && gone.iter().all(|g| g.1.starts_with("over retain_size")),
        "sized: deletions {gone:?}"
    );
    check_oldest_first("sized", &files, &gone)?;
    ensure!(
        !after_deletion.is_empty() && after_deletion.iter().all(|&b| b <= budget),
        "sized: bytes after deletions {after_deletion:?}, retain_size {budget}"
    );
    let before = listing(bin, &cfg, "sized")?;
    for ext in ["sqlite3", "sqlite3-wal", "sqlite3-shm"] {
        let db = dir.join(format!("sized.{ext}"));
        if db.exists() {
            std::fs::remove_file(&db).with_context(|| format!("delete {}", db.display()))?;
        }
    }
    recorder_tool(bin, &["index", "--rebuild", "--config"], &cfg).context("index --rebuild")?;
    let after = listing(bin, &cfg, "sized")?;
    ensure!(
        before.1 == after.1
            && before.0.len() == after.0.len()
            && before.0.iter().zip(&after.0).all(|(a, b)| {
                (&a.0, a.1) == (&b.0, b.1)
                    && (millis(&a.2) - millis(&b.2)).abs() <= 1
                    && (millis(&a.3) - millis(&b.3)).abs() <= 1
            }),
        "sized: after index --rebuild {after:?}, before {before:?}"
    );

    // min_free on a private tmpfs.
    let low_log = log_of("lowfree");
    let min_free = 2 * mean / 1000 * 1000;
    let fs_kib = (min_free + 4 * mean) / 1024 + 1;
    let top = format!("[storage]\nmin_free = \"{}KB\"\n", min_free / 1000);
    let cfg = config(&dir, "lowfree", &format!("{url}-lowfree"), &top, "")?;
    let mnt = dir.join("lowfree");
    let copy = dir.join("lowfree-left");
    std::fs::create_dir_all(&mnt)?;
    std::fs::create_dir_all(&copy)?;
    let prefix = unshare_prefix()?;
    let mut cmd = Command::new(prefix[0]);
    cmd.args(&prefix[1..])
        .args(["sh", "-c"])
        .arg(
            r#"m=$1; out=$2; opts=$3; shift 3
mount -t tmpfs -o "$opts" tmpfs "$m" || exit 99
"$@"; rc=$?
cp -a "$m"/. "$out"/ || exit 98
exit $rc"#,
        )
        .arg("sh")
        .arg(&mnt)
        .arg(&copy)
        .arg(format!("size={fs_kib}k"))
        .arg(bin)
        .args(run_args(&cfg));
    let mut free: Vec<(f64, u64)> = Vec::new();
    let started = Instant::now();
    let status = run_sampling(cmd, &low_log, |pid| {
        let path = format!("/proc/{pid}/root{}", mnt.display());
        let out = Command::new("stat")
            .args(["-f", "-c", "%a %S %T", &path])
            .output();
        let text = out.map(|o| String::from_utf8_lossy(&o.stdout).into_owned());
        let fields: Vec<String> = text
            .unwrap_or_default()
            .split_whitespace()
            .map(str::to_owned)
            .collect();
        if let [avail, size, kind] = fields.as_slice()
            && kind == "tmpfs"
            && let (Ok(a), Ok(s)) = (avail.parse::<u64>(), size.parse::<u64>())
        {
            free.push((started.elapsed().as_secs_f64(), a * s));
        }
    })?;
    ensure!(
        status.success(),
        "lowfree: recorder run failed ({status}):\n{}",
        tail(&low_log, 30)
    );
    let text = read_log(&low_log)?;
    ensure!(
        !text.contains("disk full"),
        "lowfree: the disk filled:\n{}",
        tail(&low_log, 30)
    );
    let files = finalized(&text);
    check_going_on("lowfree", &files, &low_log)?;
    let gone = deleted(&text);
    ensure!(
        gone.len() >= 2 && gone.iter().all(|g| g.1.starts_with("low free space")),
        "lowfree: deletions {gone:?}"
    );
    check_oldest_first("lowfree", &files, &gone)?;
    let left = mp4s(&copy);
    ensure!(
        left.len() + gone.len() == files.len(),
        "lowfree: {} left + {} deleted != {} finished",
        left.len(),
        gone.len(),
        files.len()
    );
    for (p, _) in &left {
        recorder_tool(bin, &["verify"], p)
            .with_context(|| format!("lowfree: verify {}", p.display()))?;
    }
    ensure!(
        free.len() as f64 >= RUN_S as f64 / SAMPLE.as_secs_f64() * 0.8,
        "lowfree: {} free-space samples",
        free.len()
    );
    // Each shortfall from its first sample below the limit to the first one back above
    // (or the last sample plus a period): an upper bound on how long it lasted.
    let (mut below_since, mut longest) = (None, 0.0_f64);
    for &(t, bytes) in &free {
        match (bytes < min_free, below_since) {
            (true, None) => below_since = Some(t),
            (false, Some(since)) => {
                longest = longest.max(t - since);
                below_since = None;
            }
            _ => {}
        }
    }
    if let (Some(since), Some(&(last, _))) = (below_since, free.last()) {
        longest = longest.max(last + SAMPLE.as_secs_f64() - since);
    }
    let shortfalls = free
        .windows(2)
        .filter(|w| w[0].1 >= min_free && w[1].1 < min_free)
        .count()
        + usize::from(free.first().is_some_and(|f| f.1 < min_free));
    ensure!(
        longest <= BELOW_LIMIT_S,
        "lowfree: free space below {min_free} bytes for {longest:.1} s"
    );
    let lowest = free.iter().map(|f| f.1).min().unwrap_or(0);
    Ok(format!(
        "aged: {} deleted, kept ending <= {oldest_kept_s:.1} s before the newest; \
         sized: {} deleted, <= {} of {budget} bytes after each, rebuild same {} files; \
         lowfree: {} KiB fs, min_free {min_free}: {} deleted oldest first, {} left verified, \
         {} free samples, lowest {lowest} bytes, {shortfalls} shortfall(s), longest <= {longest:.1} s",
        deleted(&read_log(&aged_log)?).len(),
        deleted(&read_log(&sized_log)?).len(),
        after_deletion.iter().max().unwrap_or(&0),
        after.0.len(),
        fs_kib,
        gone.len(),
        left.len(),
        free.len(),
    ))
}
