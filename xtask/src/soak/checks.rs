//! What the soak asserts once the recorder has stopped: media kept against the time the
//! proxy let media through, and the recorder's resources flat after warm-up; and the
//! file checker that runs beside the recording (so that an hour of 32 cameras never
//! fills the disk: every finished file is checked, counted, then removed).

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use anyhow::{Context, Result, ensure};

/// The recorder's fragment duration in the soak (its `fragment_duration`), which is also
/// the mounts' keyframe interval (30 frames at 30 fps).
pub const FRAGMENT: Duration = Duration::from_secs(1);

/// Media a camera may miss beyond the faults: the frames in flight when the recorder is
/// stopped and when each session ends (a part of one frame at each).
const SLACK: Duration = Duration::from_millis(500);

/// Open descriptors the recorder may hold at the end beyond its most after warm-up: a
/// few files being finalized or sockets being replaced at the instant of a sample.
pub fn fd_slack(cameras: u32) -> usize {
    4 + cameras as usize / 8
}

/// RSS growth allowed after warm-up: 10% (allocator arenas and the buffers of fragments
/// in flight, which vary with the bitrate of the moment) plus 4 MiB (a few fragments of
/// every camera at once).
const RSS_GROWTH: f64 = 0.10;
const RSS_SLACK_KIB: u64 = 4 * 1024;

/// Fewest samples (10 s apart) for the flatness checks: thirds of a minute.
const MIN_SAMPLES: usize = 6;

/// One camera's media, to check.
#[derive(Clone, Copy, Debug)]
pub struct Coverage {
    /// Video the proxy forwarded up to the recorder's SIGTERM, in media time (the
    /// steps of its RTP timestamps, seconds): a server that cannot keep up in real time
    /// sends less media than wall time, so wall time is only reported.
    pub flowed: f64,
    /// Durations of the video of the camera's files (seconds).
    pub kept: f64,
    /// Faults injected into the camera's proxy.
    pub faults: u32,
    /// Length of the run (seconds).
    pub ran: f64,
}

impl Coverage {
    /// The most media the camera may miss: one fragment per fault, one for the start,
    /// and [`SLACK`]. A fault ends at most one session (a cut, a reset, a half-open
    /// connection or a stall past the stall timeout; slow reads and short stalls lose
    /// nothing), and the media the recorder then misses while the proxy lets media
    /// through is the frames before the next session's first keyframe, at most one
    /// keyframe interval, which is one fragment here. The first session waits for its
    /// keyframe too. Media not forwarded (held in a stall past the stall timeout, after
    /// a half-open or reset point, during reconnect delays) is not in `flowed`.
    pub fn allowed(&self) -> f64 {
        f64::from(self.faults + 1) * FRAGMENT.as_secs_f64() + SLACK.as_secs_f64()
    }

    /// Why the media kept is not what flowed, if it is not: less than `flowed` minus
    /// [`Self::allowed`], or more than the run (media kept twice).
    pub fn problem(&self) -> Option<String> {
        if self.kept < self.flowed - self.allowed() {
            Some(format!(
                "kept {:.1} s, less than the {:.1} s the proxy let through minus {:.1} s \
                 ({} fault(s))",
                self.kept,
                self.flowed,
                self.allowed(),
                self.faults
            ))
        } else if self.kept > self.ran + SLACK.as_secs_f64() {
            Some(format!(
                "kept {:.1} s, more than the {:.1} s run",
                self.kept, self.ran
            ))
        } else {
            None
        }
    }
}

/// The recorder's resources at one instant.
#[derive(Clone, Copy, Debug)]
pub struct Sample {
    /// Resident memory.
    pub rss_kib: u64,
    /// Open file descriptors.
    pub fds: usize,
    /// CPU time used so far, in clock ticks.
    pub cpu_ticks: u64,
}

/// The largest RSS and fd count of the second and last thirds of `samples`; `None` with
/// fewer than [`MIN_SAMPLES`] (the first third is warm-up).
pub fn thirds(samples: &[Sample]) -> Option<[(u64, usize); 2]> {
    if samples.len() < MIN_SAMPLES {
        return None;
    }
    let third = samples.len() / 3;
    let max = |s: &[Sample]| {
        (
            s.iter().map(|s| s.rss_kib).max().unwrap_or(0),
            s.iter().map(|s| s.fds).max().unwrap_or(0),
        )
    };
    Some([max(&samples[third..2 * third]), max(&samples[2 * third..])])
}

/// What grew after warm-up: the last third's largest RSS over the second third's plus
/// 10% and 4 MiB, its largest fd count over the second third's plus [`fd_slack`].
pub fn growth(samples: &[Sample], cameras: u32) -> Vec<String> {
    let Some([(rss2, fds2), (rss3, fds3)]) = thirds(samples) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    let rss_max = (rss2 as f64 * (1.0 + RSS_GROWTH)) as u64 + RSS_SLACK_KIB;
    if rss3 > rss_max {
        out.push(format!(
            "RSS grew: {:.1} MiB in the last third, {:.1} MiB in the second (at most {:.1})",
            rss3 as f64 / 1024.0,
            rss2 as f64 / 1024.0,
            rss_max as f64 / 1024.0
        ));
    }
    if fds3 > fds2 + fd_slack(cameras) {
        out.push(format!(
            "open fds grew: {fds3} in the last third, {fds2} in the second (at most {})",
            fds2 + fd_slack(cameras)
        ));
    }
    out
}

/// What the file checker found.
#[derive(Debug, Default)]
pub struct Checked {
    /// Seconds kept per camera.
    pub kept: Vec<f64>,
    /// Files checked per camera.
    pub files: Vec<usize>,
    /// Files that failed, with why (left on disk).
    pub bad: Vec<String>,
}

/// Checks every finished file (`.mp4`) under `root/camN/` every 5 s until `stop`, then
/// once more: `recorder verify` and a full decode (`ffmpeg -xerror` unless the camera is
/// `lossy`); a good file's video duration is counted and the file removed.
pub fn spawn_checker(
    recorder: PathBuf,
    root: PathBuf,
    lossy: Vec<bool>,
    stop: Arc<AtomicBool>,
) -> JoinHandle<Result<Checked>> {
    std::thread::spawn(move || {
        let mut c = Checked {
            kept: vec![0.0; lossy.len()],
            files: vec![0; lossy.len()],
            bad: Vec::new(),
        };
        let mut bad = HashSet::new();
        loop {
            let last = stop.load(Ordering::Relaxed);
            for (cam, &lossy) in lossy.iter().enumerate() {
                let dir = root.join(format!("cam{cam}"));
                for f in finished(&dir)? {
                    // Only bad files stay; a good one's name may come again.
                    if bad.contains(&f) {
                        continue;
                    }
                    c.files[cam] += 1;
                    let checked = crate::crash::check_decode(&recorder, &f, !lossy)
                        .and_then(|_| video_seconds(&f));
                    match checked {
                        Ok(d) => {
                            c.kept[cam] += d;
                            std::fs::remove_file(&f)?;
                        }
                        Err(e) => {
                            c.bad.push(format!("{}: {e:#}", f.display()));
                            bad.insert(f);
                        }
                    }
                }
            }
            if last {
                return Ok(c);
            }
            for _ in 0..50 {
                if stop.load(Ordering::Relaxed) {
                    break;
                }
                std::thread::sleep(Duration::from_millis(100));
            }
        }
    })
}

/// The duration of the first video track of `file`. Video, as the proxy counts video: a
/// server that falls behind real time sends its audio ahead of its video, and a file cut
/// after 60 s of video can then hold twice as much audio.
fn video_seconds(file: &Path) -> Result<f64> {
    let out = std::process::Command::new("ffprobe")
        .args(["-v", "error", "-select_streams", "v:0", "-show_entries"])
        .args(["stream=duration", "-of", "csv=p=0"])
        .arg(file)
        .stdin(std::process::Stdio::null())
        .output()
        .context("cannot run ffprobe")?;
    let text = String::from_utf8_lossy(&out.stdout);
    text.trim()
        .parse()
        .with_context(|| format!("ffprobe gave no video duration: {text:?}"))
}

/// The finished files in `dir`, sorted; fails on anything but `.mp4` and `.partial`.
fn finished(dir: &Path) -> Result<Vec<PathBuf>> {
    if !dir.exists() {
        return Ok(Vec::new());
    }
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)?
        .map(|e| e.map(|e| e.path()))
        .collect::<std::io::Result<_>>()?;
    ensure!(
        files
            .iter()
            .all(|p| p.extension().is_some_and(|e| e == "mp4" || e == "partial")),
        "unexpected files in {}: {files:?}",
        dir.display()
    );
    files.retain(|p| p.extension().is_some_and(|e| e == "mp4"));
    files.sort();
    Ok(files)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(rss_mib: u64, fds: usize) -> Sample {
        Sample {
            rss_kib: rss_mib * 1024,
            fds,
            cpu_ticks: 0,
        }
    }

    #[test]
    fn coverage_allows_a_fragment_per_fault_and_no_more_than_the_run() {
        let c = |kept, faults| Coverage {
            flowed: 100.0,
            kept,
            faults,
            ran: 110.0,
        };
        assert_eq!(c(96.5, 3).allowed(), 4.5);
        assert_eq!(c(95.5, 3).problem(), None);
        assert_eq!(
            c(95.4, 3).problem().unwrap(),
            "kept 95.4 s, less than the 100.0 s the proxy let through minus 4.5 s (3 fault(s))"
        );
        assert_eq!(c(110.5, 0).problem(), None);
        assert_eq!(
            c(110.6, 0).problem().unwrap(),
            "kept 110.6 s, more than the 110.0 s run"
        );
    }

    #[test]
    fn growth_compares_the_last_third_with_the_second() {
        // Too short to judge.
        assert!(growth(&[s(10, 20); 5], 8).is_empty());
        // Warm-up growth (first third) is fine; then flat within the tolerances.
        let flat = [
            s(5, 10),
            s(6, 12),
            s(20, 30),
            s(21, 31),
            s(26, 36),
            s(22, 30),
        ];
        assert_eq!(thirds(&flat), Some([(21 * 1024, 31), (26 * 1024, 36)]));
        assert!(growth(&flat, 8).is_empty());
        let leaky = [
            s(5, 10),
            s(6, 12),
            s(20, 30),
            s(21, 31),
            s(28, 37),
            s(22, 30),
        ];
        assert_eq!(
            growth(&leaky, 8),
            [
                "RSS grew: 28.0 MiB in the last third, 21.0 MiB in the second (at most 27.1)",
                "open fds grew: 37 in the last third, 31 in the second (at most 36)"
            ]
        );
        assert_eq!(fd_slack(32), 8);
    }
}
