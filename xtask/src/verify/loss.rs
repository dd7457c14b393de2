//! Recording through packet loss: GStreamer's `/h264loss1` mount drops 1% of its RTP
//! packets at random. Loss never ends the session: one file, every frame that arrived
//! whole kept by default, and with `--on-loss skip-to-keyframe` a file that decodes
//! without an error.

use std::path::Path;

use anyhow::{Context, Result, ensure};

use super::DURATION_S;
use super::tools::{Recorder, decode_clean, figures, finished_files, read_log, record};
use crate::probe;

/// Video packets the recorder says were lost: the sum of its `rtp packets lost: N video`
/// warnings (each counts what was lost since the one before).
pub(super) fn lost_video_packets(log: &str) -> Result<u64> {
    let mut total = 0;
    for line in log.lines() {
        if let Some((_, rest)) = line.split_once("rtp packets lost: ") {
            let n = rest
                .split(' ')
                .next()
                .and_then(|w| w.parse::<u64>().ok())
                .with_context(|| format!("no count in {line:?}"))?;
            total += n;
        }
    }
    Ok(total)
}

/// `DURATION_S` seconds of `url` (a lossy mount) with `--on-loss policy`.
pub(super) fn run_loss(
    bin: &Path,
    url: &str,
    policy: &str,
    dir: &Path,
    log: &Path,
) -> Result<String> {
    let rec_dir = dir.join(format!("loss-{policy}"));
    std::fs::create_dir_all(&rec_dir)?;
    let out = rec_dir.join("cam.mp4");
    let recorder = Recorder::Ours(bin.to_path_buf());
    record(
        &recorder,
        url,
        &out,
        DURATION_S,
        &["--max-retries", "0", "--on-loss", policy],
        log,
    )?;
    let text = read_log(log)?;
    ensure!(
        !text.contains("reconnecting in"),
        "the session ended at a loss:\n{text}"
    );
    let files = finished_files(&rec_dir)?;
    ensure!(files == [out.clone()], "expected one file, found {files:?}");
    let (video, _) = figures(&out)?;
    let kept = video.context("no video")?.packets;
    let lost = lost_video_packets(&text)?;
    let reported = probe::parse_recorded(&text)?;
    ensure!(
        reported.video_frames == kept,
        "the recorder reports {} video frames, the file holds {kept}",
        reported.video_frames
    );
    // Each lost packet spoils at most one frame: at least this many arrived whole.
    let sent = DURATION_S * 30;
    let whole = sent.saturating_sub(lost);
    if policy == "keep" {
        ensure!(
            kept as f64 >= 0.95 * whole as f64,
            "{kept} frames kept, {whole} at least arrived whole ({lost} packets lost)"
        );
        Ok(format!(
            "one session, one file: {kept} of {sent} frames kept ({lost} packets lost, so \
             at least {whole} arrived whole)"
        ))
    } else {
        decode_clean(&out)?;
        ensure!(kept > 0, "no frame kept");
        Ok(format!(
            "one session, one file: {kept} of {sent} frames kept ({lost} packets lost), \
             ffmpeg -xerror clean"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lost_packets_add_up_over_the_warnings() {
        let log = "\
2026-01-01T00:00:00Z  WARN recorder::session::loss: rtp packets lost: 1 video, 0 audio (1 in this session) video_packets=1
2026-01-01T00:00:05Z  INFO recorder::output::writer: writing x
2026-01-01T00:01:05Z  WARN recorder::session::loss: at the end of the session: rtp packets lost: 12 video, 3 audio; 4 video frame(s) skipped to the next keyframe (16 in this session)
";
        assert_eq!(lost_video_packets(log).expect("counts"), 13);
        assert_eq!(lost_video_packets("nothing lost").expect("none"), 0);
        assert!(lost_video_packets("rtp packets lost: x video").is_err());
    }
}
