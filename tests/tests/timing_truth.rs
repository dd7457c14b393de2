//! Ground truth for time: the scripted server sends H.264 or H.265 with B-frames (decode
//! order I0 P3 B1 B2 P6 B4 B5 ..., an IDR every 30 frames) and AAC starting a known offset
//! after (+500 ms) or before (-37 ms) the video on the `RTP-Info` timeline. Every file's
//! edit lists (`elst`: empty edit, `media_time`, segment durations) and every sample's
//! decode time, duration and composition offset (`stts`/`ctts`, or `tfdt`/`trun` with
//! `--format fmp4`), read back with `bmff_boxes::read`, must equal what the script and the
//! README's rules give, computed here independently of the recorder:
//!
//! - zero is the first keyframe's presentation; with `RTP-Info` (`--initial-timestamp`
//!   `default`, `require`, `permissive`) both streams share it, with `ignore` each stream's
//!   first packet is its zero; audio presented before zero is dropped (audio received
//!   before the first keyframe is kept when presented at or after it);
//! - decode times of reordered video: with reorder depth K (what the SPS states: the least
//!   that decodes the clip, 1), the `(j-K)`-th smallest presentation time seen, the first
//!   K extrapolated one frame apart below the first presentation;
//! - each file's decode times start at 0 at its first video sample, whose composition
//!   offset (the lead) every track is shifted by; a track starts on the movie timeline at
//!   `first decode time + earliest composition time`, rounded to the 1000 Hz movie
//!   timescale, and the later one gets an empty edit for the difference;
//! - `--segment-duration 1s`: files switch at the first keyframe 1 s after the file's
//!   start; audio at its first frame at or after that keyframe's instant; a file's last
//!   sample lasts until the next file's first, the recording's last one as long as the
//!   one before it.
//!
//! Needs ffmpeg (libx264, libx265) and ffprobe (`apt-get install -y ffmpeg`).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use bmff_boxes::read::{self, Movie};
use tests::fake_rtsp::{End, FakeRtspServer, H264Clip, Script, VideoCodec};
use tests::harness::{Invocation, RUN_TIMEOUT, Scratch, assert_decodes, run};

/// 90 kHz ticks per frame at 30 fps.
const FRAME: i64 = 3000;
/// AAC samples per frame, at 48 kHz.
const AAC_FRAME: i64 = 1024;

/// Where each stream's zero comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Zero {
    /// `RTP-Info`'s rtptime: the offset is kept.
    RtpInfo,
    /// Each stream's first packet.
    FirstPacket,
}

/// One track's timing as a file holds it.
#[derive(Clone, Debug, PartialEq, Eq)]
struct TrackTimes {
    /// `elst` as `(segment_duration, media_time)`; `None` without one.
    edits: Option<Vec<(u64, i64)>>,
    /// `(decode time, duration, composition offset)` of each sample.
    samples: Vec<(i64, i64, i64)>,
}

/// The video's and the audio's timing in one file.
#[derive(Clone, Debug, PartialEq, Eq)]
struct FileTimes {
    video: TrackTimes,
    audio: TrackTimes,
}

/// Rounds `v` ticks of `from_hz` to the nearest `to_hz` tick, halves up.
fn rescale(v: i64, from_hz: i64, to_hz: i64) -> i64 {
    (2 * v * to_hz + from_hz).div_euclid(2 * from_hz)
}

/// What the script makes the recorder write, per file.
fn expected(
    clip: &H264Clip,
    frames: usize,
    audio_offset_ms: i64,
    zero: Zero,
    segment_s: Option<i64>,
    fmp4: bool,
) -> Vec<FileTimes> {
    let len = clip.access_units.len();
    // Video presentation times (90 kHz, from the first frame) and IDR flags, decode order.
    let pts: Vec<i64> = (0..frames)
        .map(|i| ((i / len * len) as i64 + i64::from(clip.access_units[i % len].pts)) * FRAME)
        .collect();
    let idr: Vec<bool> = (0..frames)
        .map(|i| clip.access_units[i % len].idr)
        .collect();
    let k = i64::from(clip.reorder_depth());
    let dts: Vec<i64> = (0..frames)
        .map(|j| {
            let jk = j as i64 - k;
            if jk < 0 {
                pts[0] + jk * FRAME
            } else {
                let mut seen = pts[..=j].to_vec();
                seen.sort_unstable();
                seen[jk as usize]
            }
        })
        .collect();
    // Audio: frame j is presented at offset + 1024 j (48 kHz) and sent while it is due
    // before the last video frame's send time (frame N-1 at 30 fps); frames presented
    // before zero are dropped (those sent before the first keyframe are kept when they are
    // not: with `ignore`, the first audio packet is the audio's zero, the keyframe's
    // instant).
    let offset = audio_offset_ms * 48;
    let sent: Vec<i64> = (0..)
        .map(|j| offset + j * AAC_FRAME)
        .take_while(|&t| 30 * t < 48_000 * (frames as i64 - 1))
        .collect();
    let first_packet = sent[0];
    let audio: Vec<i64> = sent
        .iter()
        .map(|&t| match zero {
            Zero::RtpInfo => t,
            Zero::FirstPacket => t - first_packet,
        })
        .filter(|&a| a >= 0)
        .collect();
    // File starts: decode indices of the keyframes that switch.
    let mut starts = vec![0usize];
    if let Some(s) = segment_s {
        for i in 1..frames {
            if idr[i] && pts[i] >= pts[*starts.last().unwrap()] + s * 90_000 {
                starts.push(i);
            }
        }
    }
    let mut files = Vec::new();
    for (f, &s) in starts.iter().enumerate() {
        let end = starts.get(f + 1).copied().unwrap_or(frames);
        let lead = pts[s] - dts[s];
        let video_samples: Vec<(i64, i64, i64)> = (s..end)
            .map(|i| {
                let next = if i + 1 < frames {
                    dts[i + 1]
                } else {
                    2 * dts[i] - dts[i - 1]
                };
                (dts[i] - dts[s], next - dts[i], pts[i] - dts[i])
            })
            .collect();
        // Audio from this keyframe's instant (48 kHz) to the next one's.
        let from = pts[s] * 48_000 / 90_000;
        let to = starts.get(f + 1).map(|&n| pts[n] * 48_000 / 90_000);
        let lead_48 = rescale(lead, 90_000, 48_000);
        let audio_samples: Vec<(i64, i64, i64)> = audio
            .iter()
            .filter(|&&a| a >= from && to.is_none_or(|to| a < to))
            .map(|&a| (a - from + lead_48, AAC_FRAME, 0))
            .collect();
        let media_time_v = video_samples.iter().map(|s| s.0 + s.2).min().unwrap();
        let start_v = rescale(media_time_v, 90_000, 1000);
        let start_a = rescale(audio_samples[0].0, 48_000, 1000);
        let movie_start = start_v.min(start_a);
        let edit = |start: i64, samples: &[(i64, i64, i64)], media_time: i64, hz: i64| {
            let media: i64 = samples.iter().map(|s| s.1).sum();
            let mut e = Vec::new();
            if start > movie_start {
                e.push(((start - movie_start) as u64, -1));
            }
            e.push((rescale(media, hz, 1000) as u64, media_time));
            e
        };
        // A progressive file's tables start at 0: the edit list carries the start.
        let from_zero = |samples: Vec<(i64, i64, i64)>| {
            let first = if fmp4 { 0 } else { samples[0].0 };
            samples
                .into_iter()
                .map(|(d, n, c)| (d - first, n, c))
                .collect()
        };
        let edits_v = (!fmp4).then(|| edit(start_v, &video_samples, media_time_v, 90_000));
        let edits_a = (!fmp4).then(|| edit(start_a, &audio_samples, 0, 48_000));
        files.push(FileTimes {
            video: TrackTimes {
                edits: edits_v,
                samples: from_zero(video_samples),
            },
            audio: TrackTimes {
                edits: edits_a,
                samples: from_zero(audio_samples),
            },
        });
    }
    files
}

/// Reads a file's timing with `bmff_boxes::read`: the tables of a progressive file, or
/// each fragment's `tfdt` and `trun`s (checked to follow on from the previous fragment).
fn read_times(path: &Path) -> FileTimes {
    let data = std::fs::read(path).expect("read the file");
    let mut movie: Option<Movie> = None;
    let mut moofs = Vec::new();
    for b in read::boxes(&data) {
        let b = b.expect("top-level box");
        match &b.fourcc {
            b"moov" => movie = Some(read::parse_moov(&b).expect("moov")),
            b"moof" => moofs.push(read::parse_moof(&b).expect("moof")),
            _ => {}
        }
    }
    let movie = movie.expect("a moov");
    let track = |video: bool| {
        let t = movie
            .tracks
            .iter()
            .find(|t| t.is_video() == video)
            .expect("track");
        let edits = t.edits.as_ref().map(|e| {
            e.iter()
                .map(|e| (e.segment_duration, e.media_time))
                .collect()
        });
        let mut samples = Vec::new();
        let mut dts = 0i64;
        let ctts: Vec<i64> = t
            .stbl
            .ctts
            .iter()
            .flatten()
            .flat_map(|c| std::iter::repeat_n(c.sample_offset, c.sample_count as usize))
            .collect();
        for e in &t.stbl.stts {
            for _ in 0..e.sample_count {
                let cts = ctts.get(samples.len()).copied().unwrap_or(0);
                samples.push((dts, i64::from(e.sample_delta), cts));
                dts += i64::from(e.sample_delta);
            }
        }
        let trex = movie.mvex.as_deref().unwrap_or_default();
        let mut end: Option<i64> = None;
        for m in &moofs {
            for tf in m.resolve(trex).expect("resolve").iter() {
                if tf.track_id != t.track_id() {
                    continue;
                }
                let mut d = tf.tfdt.expect("tfdt") as i64;
                assert!(
                    end.is_none_or(|e| e == d),
                    "{}: tfdt {d} after {end:?}",
                    path.display()
                );
                for s in &tf.samples {
                    samples.push((d, i64::from(s.duration), s.composition_offset));
                    d += i64::from(s.duration);
                }
                end = Some(d);
            }
        }
        TrackTimes { edits, samples }
    };
    FileTimes {
        video: track(true),
        audio: track(false),
    }
}

/// The wall-clock start the recorder writes in a file's `udta` (`recorder: first sample
/// at RFC3339`), which sorts files in recording order.
fn start_tag(path: &Path) -> String {
    let data = std::fs::read(path).expect("read the file");
    let moov = read::boxes(&data)
        .map(|b| b.expect("top-level box"))
        .find(|b| &b.fourcc == b"moov")
        .expect("a moov");
    let movie = read::parse_moov(&moov).expect("moov");
    movie
        .user_data
        .iter()
        .flat_map(|u| u.items())
        .map(|(_, text)| text)
        .find(|t| t.starts_with("recorder: first sample at "))
        .expect("the start tag")
}

/// The recording's files (`out.mp4`, `out-N.mp4`) in recording order. Not the order of
/// their names: each file's writer thread takes the first free name when it starts, and
/// when files open a few milliseconds apart (a burst of media, as here) a later file's
/// thread can get there first.
fn files_in(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<(String, PathBuf)> = std::fs::read_dir(dir)
        .expect("list dir")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "mp4"))
        .map(|p| (start_tag(&p), p))
        .collect();
    files.sort();
    files.into_iter().map(|(_, p)| p).collect()
}

/// Records the whole script (the server closes after its last frame) and compares every
/// file with [`expected`].
fn check(
    name: &str,
    codec: VideoCodec,
    audio_offset_ms: i32,
    mode: &str,
    format: &str,
    segment_s: Option<i64>,
) {
    // Built before the server starts, whose lifetime is bounded.
    tests::harness::recorder();
    let clip: Arc<H264Clip> = H264Clip::testsrc_bframes(codec).expect("ffmpeg makes the clip");
    let frames = clip.access_units.len();
    let script = Script::from_clip(clip.clone())
        .with_audio()
        .expect("ffmpeg makes the audio")
        .with_audio_offset_ms(audio_offset_ms)
        .with_end(End::Close)
        .with_timeout(RUN_TIMEOUT + Duration::from_secs(5));
    let server = FakeRtspServer::start(script).expect("start fake server");
    let dir = Scratch::new("timing-truth", name);
    let out = dir.out();
    let url = server.url();
    let segment = segment_s.map(|s| format!("{s}s"));
    let mut args = vec!["record", &url, "-o", out.to_str().unwrap()];
    args.extend([
        "--max-retries",
        "0",
        "--initial-timestamp",
        mode,
        "--format",
        format,
    ]);
    if let Some(s) = &segment {
        args.extend(["--segment-duration", s.as_str()]);
    }
    let r = run(
        name,
        &dir.0,
        &Invocation {
            args,
            ..Invocation::default()
        },
    );
    // The server ends the session after the clip: exit 3 with --max-retries 0.
    r.assert_failed_with(3, &["the server ended the session"]);
    assert_eq!(
        server.video_frames_sent(),
        frames,
        "[{name}] the whole clip was sent"
    );
    let zero = if mode == "ignore" {
        Zero::FirstPacket
    } else {
        Zero::RtpInfo
    };
    let want = expected(
        &clip,
        frames,
        i64::from(audio_offset_ms),
        zero,
        segment_s,
        format == "fmp4",
    );
    let files = files_in(&dir.0);
    assert_eq!(
        files.len(),
        want.len(),
        "[{name}] files {files:?}; stderr:\n{}",
        r.stderr
    );
    for (path, want) in files.iter().zip(&want) {
        assert_decodes(path);
        let got = read_times(path);
        assert_eq!(
            got.video.edits,
            want.video.edits,
            "[{name}] {}: video elst",
            path.display()
        );
        assert_eq!(
            got.audio.edits,
            want.audio.edits,
            "[{name}] {}: audio elst",
            path.display()
        );
        assert_eq!(
            got.video.samples,
            want.video.samples,
            "[{name}] {}: video",
            path.display()
        );
        assert_eq!(
            got.audio.samples,
            want.audio.samples,
            "[{name}] {}: audio",
            path.display()
        );
    }
}

#[test]
fn h264_bframes_audio_500ms_late_in_1s_segments_mp4() {
    check(
        "h264-late-mp4",
        VideoCodec::H264,
        500,
        "default",
        "mp4",
        Some(1),
    );
}

#[test]
fn h264_bframes_audio_37ms_early_in_1s_segments_fmp4() {
    check(
        "h264-early-fmp4",
        VideoCodec::H264,
        -37,
        "default",
        "fmp4",
        Some(1),
    );
}

#[test]
fn h264_require_and_permissive_keep_the_rtp_info_offset() {
    check(
        "h264-require",
        VideoCodec::H264,
        -37,
        "require",
        "mp4",
        None,
    );
    check(
        "h264-permissive",
        VideoCodec::H264,
        500,
        "permissive",
        "fmp4",
        None,
    );
}

#[test]
fn h264_ignore_starts_each_stream_at_its_first_packet() {
    check(
        "h264-ignore-late",
        VideoCodec::H264,
        500,
        "ignore",
        "mp4",
        None,
    );
    check(
        "h264-ignore-early",
        VideoCodec::H264,
        -37,
        "ignore",
        "mp4",
        Some(1),
    );
}

#[test]
fn h265_bframes_audio_500ms_late_in_1s_segments_mp4() {
    check(
        "h265-late-mp4",
        VideoCodec::H265,
        500,
        "default",
        "mp4",
        Some(1),
    );
}

#[test]
fn h265_bframes_audio_37ms_early_fmp4_and_ignore() {
    check(
        "h265-early-fmp4",
        VideoCodec::H265,
        -37,
        "default",
        "fmp4",
        Some(1),
    );
    check("h265-ignore", VideoCodec::H265, -37, "ignore", "mp4", None);
}
