//! The G.711 and L16 cases: a default (FLAC) recording that passes the standard checks,
//! whose audio ends with the video's (within one 40 ms sample), whose decoded audio is
//! bit-identical to what ffmpeg decodes from the same RTSP URL over the same interval, and
//! which plays in headless Chromium, as does a `--format fmp4` recording made beside it
//! through Media Source Extensions (see [`super::browser`]).

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use anyhow::{Context, Result, ensure};

use super::browser::check_playback;
use super::checks;
use super::recording::run_standard;
use super::tools::{Recorder, ffprobe_json, spawn_record};
use super::{DURATION_S, MS};
use crate::probe::Expect;
use crate::util::{ChildGuard, tail};

/// Length of one stored sample (`audio-pcm`'s block), in seconds.
const PCM_SAMPLE_S: f64 = 0.040;

/// Records `url` while ffmpeg captures its audio as 16-bit PCM, then compares.
pub(super) fn run_pcm(
    recorder: &Recorder,
    url: &str,
    expect: &Expect,
    file: &Path,
    log: &Path,
) -> Result<String> {
    let capture = file.with_extension("capture.s16");
    let mut ffmpeg = Command::new("ffmpeg");
    ffmpeg
        .args([
            "-nostdin",
            "-v",
            "error",
            "-rtsp_transport",
            "tcp",
            "-i",
            url,
        ])
        .args(["-map", "0:a", "-t"])
        .arg((DURATION_S + 8).to_string())
        .args(["-f", "s16le", "-y"])
        .arg(&capture)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let mut capturing = ChildGuard::new(ffmpeg.spawn().context("cannot start the ffmpeg capture")?);
    // ffmpeg plays before the recorder asks: its capture covers the recording.
    std::thread::sleep(Duration::from_secs(2));
    // The fragmented recording for MSE, from a pipeline of its own (distinct URL).
    let fragmented = file.with_extension("mse.mp4");
    let frag_log = log.with_extension("mse.log");
    let mut frag_rec = spawn_record(
        recorder,
        &format!("{url}&mse=1"),
        &fragmented,
        DURATION_S,
        &["--format", "fmp4"],
        &frag_log,
    )?;
    let line = run_standard(recorder, url, expect, file, log)?;
    let frag_status = frag_rec
        .wait_timeout(Duration::from_secs(40))?
        .context("the --format fmp4 recording did not end")?;
    ensure!(
        frag_status.success() && fragmented.is_file(),
        "the --format fmp4 recording failed ({frag_status}); its output:\n{}",
        tail(&frag_log, 20)
    );
    let status = capturing
        .wait_timeout(Duration::from_secs(30))?
        .context("the ffmpeg capture did not end")?;
    ensure!(status.success(), "the ffmpeg capture failed ({status})");

    // Audio ends with the video, within one stored sample.
    let show = ffprobe_json(&["-show_streams"], file)?;
    let end = |kind: &str| -> Result<f64> {
        let s = show["streams"]
            .as_array()
            .and_then(|a| a.iter().find(|s| s["codec_type"] == kind))
            .with_context(|| format!("no {kind} stream"))?;
        let num = |k: &str| s[k].as_str().and_then(|v| v.parse::<f64>().ok());
        Ok(num("start_time").context("no start_time")? + num("duration").context("no duration")?)
    };
    let end_delta = end("audio")? - end("video")?;
    ensure!(
        end_delta.abs() <= PCM_SAMPLE_S + MS,
        "audio ends {:+.1} ms after the video; allowed one 40 ms sample",
        end_delta * 1000.0
    );

    let decoded = file.with_extension("decoded.s16");
    let mut cmd = Command::new("ffmpeg");
    cmd.args(["-nostdin", "-v", "error", "-i"])
        .arg(file)
        .args(["-map", "0:a", "-f", "s16le", "-y"])
        .arg(&decoded);
    let status = cmd.status().context("cannot run ffmpeg")?;
    ensure!(status.success(), "ffmpeg could not decode the file's audio");
    let read = |p: &Path| -> Result<Vec<i16>> {
        let bytes = std::fs::read(p).with_context(|| format!("cannot read {}", p.display()))?;
        Ok(bytes
            .chunks_exact(2)
            .map(|c| i16::from_le_bytes([c[0], c[1]]))
            .collect())
    };
    let (ours, theirs) = (read(&decoded)?, read(&capture)?);
    let at = checks::pcm_match(&ours, &theirs).context("bit-identity with ffmpeg's capture")?;

    let frag_show = ffprobe_json(&["-show_format"], &fragmented)?;
    let frag_s = frag_show["format"]["duration"]
        .as_str()
        .and_then(|d| d.parse::<f64>().ok())
        .context("ffprobe gives the fmp4 recording no duration")?;
    let name = file
        .file_stem()
        .and_then(|n| n.to_str())
        .context("a file name that is not UTF-8")?;
    let played = check_playback(
        name,
        file,
        &fragmented,
        (expect.width, expect.height),
        frag_s,
    )
    .context("headless Chromium")?;
    Ok(format!(
        "{line}; audio ends {:+.1} ms after the video; {} decoded samples bit-identical to \
         ffmpeg's capture of the stream (from its sample {at}); {played}",
        end_delta * 1000.0,
        ours.len()
    ))
}
