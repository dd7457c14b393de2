//! The Markdown report: medians over the rounds, ratios to the peers, and the targets.

use std::fmt::Write as _;

use super::measure::Measurement;
use super::{BenchOptions, FPS, MOUNT, Tool};
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
pub(super) fn median(values: &[f64]) -> Option<f64> {
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

/// The progress line printed after each run.
pub(super) fn progress(m: &Measurement, round: usize, rounds: usize) -> String {
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

/// The whole Markdown report.
pub(super) fn render_report(ms: &[Measurement], options: &BenchOptions, machine: &str) -> String {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bench::measure::Usage;

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
