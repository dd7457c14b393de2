//! Pure checks on what ffprobe reports, kept apart from the runs that produce it so that
//! each can be tested on synthetic input.

use anyhow::{Context, Result, bail, ensure};
use serde_json::Value;

use super::{FRAME_S, MS};
use crate::probe::StreamFigures;

/// The reordering checks of [`check_reordering`](super::recording::check_reordering) on a
/// video stream's `start_time` and ffprobe's `-show_packets` JSON (`pts_time`, `dts_time`).
pub(super) fn reordering(start_s: f64, packets: &Value) -> Result<String> {
    ensure!(
        start_s.abs() <= FRAME_S,
        "video start_time is {start_s:.6} s, expected 0 +- one frame"
    );
    let packets = packets["packets"]
        .as_array()
        .context("ffprobe reports no video packets")?;
    let time = |p: &Value, key: &str| p[key].as_str().and_then(|s| s.parse::<f64>().ok());
    let mut pts = Vec::with_capacity(packets.len());
    let mut reordered = 0;
    for (i, p) in packets.iter().enumerate() {
        let (Some(pt), Some(dt)) = (time(p, "pts_time"), time(p, "dts_time")) else {
            bail!("video packet {i} lacks pts_time or dts_time");
        };
        ensure!(
            dt <= pt + 1e-6,
            "video packet {i}: dts {dt:.6} s after pts {pt:.6} s"
        );
        if (pt - dt).abs() > 1e-6 {
            reordered += 1;
        }
        pts.push(pt);
    }
    ensure!(
        reordered > 0,
        "no video packet has pts != dts: the file holds no reordered frames"
    );
    let presented_late = pts.windows(2).filter(|w| w[1] < w[0]).count();
    ensure!(
        presented_late > 0,
        "the pts never go back in decode order: no B-frames"
    );
    pts.sort_by(f64::total_cmp);
    ensure!(
        (pts[0] - start_s).abs() <= MS,
        "the earliest pts {:.6} s is not the start_time {start_s:.6} s",
        pts[0]
    );
    for (i, w) in pts.windows(2).enumerate() {
        let step = w[1] - w[0];
        ensure!(
            (step - FRAME_S).abs() <= MS,
            "sorted pts {i} -> {}: {:.6} s -> {:.6} s, a step of {:.1} ms (expected {:.1} ms: \
             each frame presented once)",
            i + 1,
            w[0],
            w[1],
            step * 1000.0,
            FRAME_S * 1000.0
        );
    }
    Ok(format!(
        "b-frames: {reordered} of {} packets with pts != dts, {presented_late} presented \
         before their predecessor; video start {start_s:.6} s; sorted pts uniform",
        pts.len()
    ))
}

/// At each switch between segment files, `(video, audio)` figures per file in order: the old
/// file's audio ends, and the new one's starts, within one audio frame after the video's, and
/// the next file's audio starts where this one's ends. Returns the latest audio start past
/// the video at a switch, in ms.
pub(super) fn audio_switches(
    per_file: &[(StreamFigures, StreamFigures)],
    audio_frame_s: f64,
) -> Result<f64> {
    // At each switch the old file's audio ends, and the new one's starts, within one
    // audio frame after the video's: no gap, no overlap. (Audio is held until video
    // presented at or after it has come, so a keyframe arriving after the audio that
    // follows it, as a large IDR on a loaded machine does, still splits the audio right.)
    let switch_slack = audio_frame_s + MS;
    let mut worst_ms: f64 = 0.0;
    for (k, (v, a)) in per_file.iter().enumerate() {
        let start = a.start_s - v.start_s;
        let end = (a.start_s + a.duration_s) - (v.start_s + v.duration_s);
        if k > 0 {
            ensure!(
                (-MS..=switch_slack).contains(&start),
                "file {}: audio starts {:.1} ms after the video",
                k + 1,
                start * 1000.0
            );
            worst_ms = worst_ms.max(start * 1000.0);
        }
        if k + 1 < per_file.len() {
            ensure!(
                (-MS..=switch_slack).contains(&end),
                "file {}: audio ends {:.1} ms after the video",
                k + 1,
                end * 1000.0
            );
            // The next file's audio starts where this one's ends.
            let next = per_file[k + 1].1.start_s - per_file[k + 1].0.start_s;
            ensure!(
                (end - next).abs() <= 2.0 * MS,
                "files {} and {}: audio ends {:.1} ms past the switch but the next starts \
                 {:.1} ms past it",
                k + 1,
                k + 2,
                end * 1000.0,
                next * 1000.0
            );
        }
    }
    Ok(worst_ms)
}

/// Samples of a recording's decoded audio used to find where it lies in a capture.
const PCM_KEY: usize = 2000;

/// Where `ours` (a recording's decoded audio, channels interleaved) lies in `theirs` (a
/// capture of the same stream over a longer interval): its first [`PCM_KEY`] samples must
/// occur in `theirs` exactly (white noise: nowhere else by chance), and every sample from
/// there on must equal the capture's. Returns the capture's sample where it starts.
pub(super) fn pcm_match(ours: &[i16], theirs: &[i16]) -> Result<usize> {
    ensure!(
        ours.len() > PCM_KEY,
        "only {} decoded audio samples",
        ours.len()
    );
    let key = &ours[..PCM_KEY];
    let at = theirs
        .windows(PCM_KEY)
        .position(|w| w == key)
        .with_context(|| {
            format!(
                "the file's first {PCM_KEY} audio samples are nowhere in the capture ({} samples)",
                theirs.len()
            )
        })?;
    let there = &theirs[at..];
    ensure!(
        there.len() >= ours.len(),
        "the capture ends {} samples before the file's audio",
        ours.len() - there.len()
    );
    if let Some(i) = ours.iter().zip(there).position(|(a, b)| a != b) {
        bail!(
            "decoded audio sample {i} is {}, the capture's is {} ({} of {} samples equal)",
            ours[i],
            there[i],
            i,
            ours.len()
        );
    }
    Ok(at)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    /// ffprobe's `-show_packets` JSON for `(pts, dts)` pairs given in frames of 1/30 s.
    fn packets(frames: &[(i64, i64)]) -> Value {
        let time = |f: i64| format!("{:.6}", f as f64 * FRAME_S);
        let packets: Vec<Value> = frames
            .iter()
            .map(|&(pts, dts)| json!({"pts_time": time(pts), "dts_time": time(dts)}))
            .collect();
        json!({ "packets": packets })
    }

    /// I P B B P B B P B B in decode order: presented 0 3 1 2 6 4 5 9 7 8, decoded one
    /// frame earlier than the first is presented.
    fn b_frames() -> Vec<(i64, i64)> {
        [0, 3, 1, 2, 6, 4, 5, 9, 7, 8]
            .into_iter()
            .enumerate()
            .map(|(k, pts)| (pts, k as i64 - 1))
            .collect()
    }

    #[test]
    fn reordered_frames_pass() {
        let line = reordering(0.0, &packets(&b_frames())).unwrap();
        assert!(
            line.starts_with("b-frames: 4 of 10 packets with pts != dts, 3 presented"),
            "{line}"
        );
    }

    #[test]
    fn reordering_failures_are_named() {
        let err = |start_s: f64, frames: &[(i64, i64)]| {
            format!("{:#}", reordering(start_s, &packets(frames)).unwrap_err())
        };
        let in_order: Vec<(i64, i64)> = (0..10).map(|k| (k, k)).collect();
        assert!(err(0.0, &in_order).contains("no reordered frames"));
        assert!(err(0.1, &b_frames()).contains("video start_time is 0.100000 s"));
        let mut lost = b_frames();
        lost.remove(2); // frame 1 never presented: a two-frame step
        assert!(err(0.0, &lost).contains("a step of 66.7 ms"));
        let mut early = b_frames();
        early[1].1 = 4; // decoded after it is presented
        assert!(err(0.0, &early).contains("video packet 1: dts"));
        let none = reordering(0.0, &json!({})).unwrap_err();
        assert!(format!("{none:#}").contains("no video packets"));
    }

    #[test]
    fn pcm_match_finds_exact_copies_only() {
        // A pseudo-random capture; the recording is a stretch of it from sample 777.
        let mut x = 1u32;
        let capture: Vec<i16> = (0..20_000)
            .map(|_| {
                x = x.wrapping_mul(1_103_515_245).wrapping_add(12_345);
                (x >> 16) as i16
            })
            .collect();
        let ours = capture[777..15_000].to_vec();
        assert_eq!(pcm_match(&ours, &capture).unwrap(), 777);
        let mut changed = ours.clone();
        changed[5000] ^= 1;
        let e = format!("{:#}", pcm_match(&changed, &capture).unwrap_err());
        assert!(e.contains("decoded audio sample 5000"), "{e}");
        let e = format!(
            "{:#}",
            pcm_match(&capture[10_000..], &capture[..12_000]).unwrap_err()
        );
        assert!(e.contains("the capture ends"), "{e}");
        assert!(pcm_match(&[0; 3000], &capture).is_err());
    }

    use crate::verify::AAC_FRAME_S;

    fn figures(start_s: f64, duration_s: f64) -> StreamFigures {
        StreamFigures {
            packets: 1,
            starts_with_keyframe: true,
            start_s,
            end_s: start_s + duration_s,
            duration_s,
        }
    }

    /// Three 10 s files whose audio runs on `late_s` past each switch, the next file's
    /// audio starting `next_s` past it.
    fn three_files(late_s: f64, next_s: f64) -> Vec<(StreamFigures, StreamFigures)> {
        vec![
            (figures(0.0, 10.0), figures(0.0, 10.0 + late_s)),
            (figures(10.0, 10.0), figures(10.0 + next_s, 10.0)),
            (figures(20.0, 10.0), figures(20.0 + next_s, 10.0 - next_s)),
        ]
    }

    #[test]
    fn continuous_audio_at_the_switches_passes() {
        let worst_ms = audio_switches(&three_files(0.010, 0.010), AAC_FRAME_S).unwrap();
        assert!((worst_ms - 10.0).abs() < 1e-6, "{worst_ms}");
        assert_eq!(
            audio_switches(&three_files(0.0, 0.0), AAC_FRAME_S).unwrap(),
            0.0
        );
    }

    #[test]
    fn audio_gaps_and_overlaps_at_the_switches_fail() {
        let err = |files: &[(StreamFigures, StreamFigures)]| {
            format!("{:#}", audio_switches(files, AAC_FRAME_S).unwrap_err())
        };
        // More than one AAC frame (21.3 ms) late, though continuous within 2.2 ms.
        assert!(err(&three_files(0.0222, 0.0235)).contains("file 2: audio starts 23.5 ms"));
        assert!(err(&three_files(0.030, 0.010)).contains("file 1: audio ends 30.0 ms"));
        // Ends 10 ms past the switch, the next starts at it: a gap.
        assert!(err(&three_files(0.010, 0.0)).contains("files 1 and 2"));
        // Audio that starts before the video of its file.
        assert!(err(&three_files(-0.010, -0.010)).contains("audio ends -10.0 ms"));
    }
}
