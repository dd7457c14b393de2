//! Cases that check what one recording wrote: the standard checks, B-frames, `fmp4`, a
//! SIGKILL then repair, and segmented files.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail, ensure};

use super::checks;
use super::tools::{
    Recorder, decode_clean, ensure_file, ffprobe_json, figures, probe, read_log, record,
    recorder_tool, spawn_record,
};
use super::{
    DURATION_S, FRAGMENT_S, FRAME_S, KILL_AFTER, KILL_LATENCY_S, MS, SEGMENT_S, SEGMENTS_TOTAL_S,
};
use crate::probe::{self, Expect};
use crate::strict::{self, StrictSummary};
use crate::util::tail;
/// A default recording: ffprobe figures, clean decode, strict parse, and (ours) the
/// `moov` before the media, in the room reserved for it.
pub(super) fn run_standard(
    recorder: &Recorder,
    url: &str,
    expect: &Expect,
    file: &Path,
    log: &Path,
) -> Result<String> {
    record(recorder, url, file, DURATION_S, &[], log)?;
    ensure_file(file, log)?;
    let measured = probe(file, expect).context("ffprobe check")?;
    decode_clean(file).context("ffmpeg decode check")?;
    let parsed = strict::check_file(file).context("strict parser check")?;
    let mut line = format!("{measured}; ffmpeg -xerror clean; mp4-atom strict: {parsed}");
    if recorder.is_ours() {
        ensure!(
            parsed.moov_before_mdat(),
            "the moov is not before the first mdat: {parsed}"
        );
        let sizes = probe::parse_moov_sizes(&read_log(log)?);
        let &[(moov, reserved, true)] = sizes.as_slice() else {
            bail!("expected one finalized file with its moov at the front, the log says {sizes:?}");
        };
        line.push_str(&format!(
            "; moov first: {moov} of {reserved} reserved bytes"
        ));
        // `--duration D` keeps exactly `D` of video from the first keyframe: every frame
        // the recorder reports, and no more.
        let reported = probe::parse_recorded(&read_log(log)?)?;
        let exact = (DURATION_S as f64 * expect.fps).round() as u64;
        ensure!(
            measured.frames == reported.video_frames && measured.frames == exact,
            "the file holds {} video frames, the recorder reports {}; {DURATION_S} s at {} fps \
             is exactly {exact}",
            measured.frames,
            reported.video_frames,
            expect.fps
        );
        line.push_str(&format!("; exactly {exact} frames"));
        if let Recorder::Ours(bin) = recorder {
            recorder_tool(bin, &["verify"], file).context("recorder verify")?;
            line.push_str("; recorder verify ok (every sample's data)");
        }
    }
    Ok(line)
}

/// A recording of a stream with B-frames: some video packets are presented after later
/// packets (pts != dts), the video starts at 0 (within a frame), and its pts, sorted, are
/// every frame once at the source's frame period.
pub(super) fn check_reordering(file: &Path) -> Result<String> {
    let show = ffprobe_json(&["-select_streams", "v:0", "-show_streams"], file)?;
    let start_s = show["streams"][0]["start_time"]
        .as_str()
        .and_then(|s| s.parse::<f64>().ok())
        .context("video has no start_time")?;
    let packets = ffprobe_json(
        &[
            "-select_streams",
            "v:0",
            "-show_packets",
            "-show_entries",
            "packet=pts_time,dts_time",
        ],
        file,
    )?;
    let ctts = strict::video_ctts_entries(file).context("ctts check")?;
    ensure!(ctts > 0, "reordered video without a ctts");
    Ok(format!(
        "{}; ctts {ctts} entries",
        checks::reordering(start_s, &packets)?
    ))
}

/// `--format fmp4`: a fragmented file with every frame the recorder reports.
pub(super) fn run_fmp4(
    recorder: &Recorder,
    url: &str,
    expect: &Expect,
    file: &Path,
    log: &Path,
) -> Result<String> {
    record(recorder, url, file, DURATION_S, &["--format", "fmp4"], log)?;
    ensure_file(file, log)?;
    let measured = probe(file, expect).context("ffprobe check")?;
    decode_clean(file).context("ffmpeg decode check")?;
    let parsed = strict::check_file(file).context("strict parser check")?;
    ensure!(
        parsed.fragments > 0,
        "--format fmp4 wrote no moof: {parsed}"
    );
    let reported = probe::parse_recorded(&read_log(log)?)?;
    ensure!(
        measured.frames == reported.video_frames,
        "the file holds {} video frames, the recorder reports {}",
        measured.frames,
        reported.video_frames
    );
    let nominal = (DURATION_S as f64 / FRAME_S).round() as u64;
    ensure!(
        measured.frames.abs_diff(nominal) <= 1,
        "{} video frames for {DURATION_S} s, expected {nominal} +- 1",
        measured.frames
    );
    if let Recorder::Ours(bin) = recorder {
        recorder_tool(bin, &["verify"], file).context("recorder verify")?;
    }
    Ok(format!(
        "{measured}; ffmpeg -xerror clean; mp4-atom strict: {parsed}; recorder verify ok"
    ))
}

/// SIGKILL 8.5 s into the file: the `.partial` must play and hold all but the fragment in
/// progress; `recorder repair` must then make a faststart file that `recorder verify`
/// accepts.
pub(super) fn run_kill9(
    recorder: &Recorder,
    bin: &Path,
    url: &str,
    file: &Path,
    log: &Path,
) -> Result<String> {
    let partial = PathBuf::from(format!("{}.partial", file.display()));
    let mut child = spawn_record(recorder, url, file, 60, &[], log)?;
    let wait_start = Instant::now();
    while !partial.exists() {
        ensure!(
            wait_start.elapsed() < Duration::from_secs(20),
            "no {} within 20 s; the recorder's output:\n{}",
            partial.display(),
            tail(log, 30)
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    let created = Instant::now();
    std::thread::sleep(KILL_AFTER);
    child.kill(); // SIGKILL
    let killed_after_s = created.elapsed().as_secs_f64();
    ensure!(!file.exists(), "{} exists after a kill", file.display());

    let (video, audio) = figures(&partial).context("ffprobe on the .partial")?;
    let video = video.context("no video stream in the .partial")?;
    let audio = audio.context("no audio stream in the .partial")?;
    decode_clean(&partial).context("ffmpeg decode of the .partial")?;
    let parsed = strict::check_file(&partial).context("strict parse of the .partial")?;
    ensure!(
        parsed.fragments > 0,
        "the .partial is not fragmented: {parsed}"
    );
    let kept_s = video.end_s;
    let floor_s = KILL_AFTER.as_secs_f64() - FRAGMENT_S - KILL_LATENCY_S;
    ensure!(
        kept_s >= floor_s,
        "the .partial holds {kept_s:.3} s of video, expected at least {floor_s:.2} s \
         ({:.1} s minus one fragment and {KILL_LATENCY_S} s of latency)",
        KILL_AFTER.as_secs_f64()
    );
    let lost_s = killed_after_s - kept_s;

    let said = recorder_tool(bin, &["repair"], &partial).context("recorder repair")?;
    ensure!(
        file.is_file() && !partial.exists(),
        "recorder repair did not rename {} to {}: {said}",
        partial.display(),
        file.display()
    );
    let repaired = strict::check_file(file).context("strict parse of the repaired file")?;
    ensure!(
        repaired.moov_before_mdat() && repaired.fragments == 0,
        "the repaired file is not faststart: {repaired}"
    );
    let counts = |s: &StrictSummary| s.tracks.iter().map(|t| t.2).collect::<Vec<_>>();
    ensure!(
        counts(&repaired) == vec![video.packets, audio.packets],
        "the repaired file holds {:?} samples, the .partial {} video and {} audio",
        counts(&repaired),
        video.packets,
        audio.packets
    );
    decode_clean(file).context("ffmpeg decode of the repaired file")?;
    let verdict = recorder_tool(bin, &["verify"], file).context("recorder verify")?;
    Ok(format!(
        "killed {killed_after_s:.2} s after the file appeared: the .partial ({} fragments) \
         holds {} video frames, {kept_s:.3} s, and {} audio frames: media lost {lost_s:.3} s; \
         ffmpeg -xerror clean; strict ok; repaired to {}: moov first; recorder verify: {}",
        parsed.fragments,
        video.packets,
        audio.packets,
        file.file_name()
            .map(|n| n.to_string_lossy())
            .unwrap_or_default(),
        verdict.lines().next().unwrap_or("").trim()
    ))
}

/// 35 s in 10 s files from a template in `dir/name`: keyframe starts, no frame lost or
/// doubled, no audio gap or overlap at the switches (audio samples of `audio_frame_s`).
pub(super) fn run_segments(
    recorder: &Recorder,
    url: &str,
    dir: &Path,
    name: &str,
    audio_frame_s: f64,
    log: &Path,
) -> Result<String> {
    let seg_dir = dir.join(name);
    let template = seg_dir.join("%Y-%m-%d_%H-%M-%S.mp4");
    let seg = format!("{SEGMENT_S}s");
    record(
        recorder,
        url,
        &template,
        SEGMENTS_TOTAL_S,
        &["--segment-duration", &seg],
        log,
    )?;
    let mut names: Vec<PathBuf> = std::fs::read_dir(&seg_dir)
        .with_context(|| format!("cannot list {}", seg_dir.display()))?
        .map(|e| e.map(|e| e.path()))
        .collect::<std::io::Result<_>>()?;
    names.sort();
    ensure!(
        names
            .iter()
            .all(|p| p.extension().is_some_and(|e| e == "mp4")),
        "unexpected files (a .partial left?): {names:?}"
    );
    ensure!(
        names.len() >= 3,
        "{} file(s), expected at least 3",
        names.len()
    );
    let reported = probe::parse_recorded(&read_log(log)?)?;
    ensure!(
        reported.files == names.len() as u64,
        "the recorder reports {} files, the directory holds {}",
        reported.files,
        names.len()
    );
    let mut per_file = Vec::new();
    for (k, path) in names.iter().enumerate() {
        let what = || format!("file {} ({})", k + 1, path.display());
        let (v, a) = figures(path).with_context(what)?;
        let (v, a) = (
            v.with_context(|| format!("{}: no video", what()))?,
            a.with_context(|| format!("{}: no audio", what()))?,
        );
        ensure!(
            v.starts_with_keyframe,
            "{}: does not start with a keyframe",
            what()
        );
        decode_clean(path).with_context(what)?;
        if let Recorder::Ours(bin) = recorder {
            recorder_tool(bin, &["verify"], path).with_context(what)?;
        }
        let parsed = strict::check_file(path).with_context(what)?;
        ensure!(
            parsed.moov_before_mdat(),
            "{}: moov not first: {parsed}",
            what()
        );
        per_file.push((v, a));
    }
    let video_frames: u64 = per_file.iter().map(|f| f.0.packets).sum();
    let audio_frames: u64 = per_file.iter().map(|f| f.1.packets).sum();
    let video_s: f64 = per_file.iter().map(|f| f.0.duration_s).sum();
    let audio_s: f64 = per_file.iter().map(|f| f.1.duration_s).sum();
    ensure!(
        video_frames == reported.video_frames && audio_frames == reported.audio_frames,
        "the files hold {video_frames} video and {audio_frames} audio frames, the recorder \
         reports {} and {}",
        reported.video_frames,
        reported.audio_frames
    );
    let nominal = SEGMENTS_TOTAL_S as f64 / FRAME_S;
    ensure!(
        (video_frames as f64 - nominal).abs() <= 1.0,
        "{video_frames} video frames in all, expected {nominal:.0} +- 1"
    );
    ensure!(
        (video_s - SEGMENTS_TOTAL_S as f64).abs() <= FRAME_S + MS,
        "the files' video lasts {video_s:.3} s in all, expected {SEGMENTS_TOTAL_S} s +- 1 frame"
    );
    ensure!(
        (audio_s - audio_frames as f64 * audio_frame_s).abs() <= 2.0 * MS,
        "the files' audio lasts {audio_s:.3} s for {audio_frames} frames"
    );
    let worst_ms = checks::audio_switches(&per_file, audio_frame_s)?;
    let counts: Vec<String> = per_file.iter().map(|f| f.0.packets.to_string()).collect();
    Ok(format!(
        "{} files, video {} = {video_frames} frames (recorder: {}), {video_s:.3} s; audio \
         {audio_frames} frames (recorder: {}), {audio_s:.3} s; each starts on a keyframe, \
         decodes clean, strict ok, moov first; audio at the switches within {worst_ms:.1} ms \
         of the video, continuous",
        names.len(),
        counts.join("+"),
        reported.video_frames,
        reported.audio_frames
    ))
}
