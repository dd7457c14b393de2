//! Pure evaluation of ffprobe's JSON against what a recording must contain.
//!
//! Kept free of I/O so the checks themselves are unit-tested against recorded samples.

use std::fmt;

use anyhow::{Context, Result, bail, ensure};
use serde_json::Value;

/// Tolerance on the file's duration, in seconds.
pub const DURATION_TOLERANCE_S: f64 = 0.5;
/// Tolerance on the video frame count, as a fraction of the expected count.
pub const FRAME_COUNT_TOLERANCE: f64 = 0.05;
/// Largest allowed difference between the video and audio start times, in milliseconds.
pub const MAX_AV_START_DELTA_MS: f64 = 40.0;

/// What a recording of one mount must look like.
#[derive(Clone, Debug)]
pub struct Expect {
    /// ffprobe `codec_name` of the video stream (`h264`, `hevc`, `mjpeg`).
    pub video_codec: &'static str,
    /// ffprobe `codec_tag_string` of the video stream (the sample entry: `avc1`, `hvc1`, `mp4v`).
    pub video_tag: &'static str,
    /// Frame width in pixels.
    pub width: u64,
    /// Frame height in pixels.
    pub height: u64,
    /// Source frame rate.
    pub fps: f64,
    /// Frames per keyframe interval at the source (1 for intra-only codecs).
    pub gop_frames: u64,
    /// Requested recording length in seconds.
    pub duration_s: f64,
    /// The audio stream, if the source has one.
    pub audio: Option<ExpectAudio>,
}

/// What the audio stream must look like.
#[derive(Clone, Debug)]
pub struct ExpectAudio {
    /// ffprobe `codec_name` (`aac`).
    pub codec: &'static str,
    /// Sample rate in Hz.
    pub sample_rate_hz: u64,
    /// Channel count.
    pub channels: u64,
}

/// The figures measured in one recording.
#[derive(Clone, Debug, PartialEq)]
pub struct Measured {
    /// Video `codec_name`.
    pub video_codec: String,
    /// Video `codec_tag_string`.
    pub video_tag: String,
    /// Video width in pixels.
    pub width: u64,
    /// Video height in pixels.
    pub height: u64,
    /// Number of video packets.
    pub frames: u64,
    /// Number of video packets flagged as keyframes.
    pub keyframes: u64,
    /// `format.duration` in seconds.
    pub duration_s: f64,
    /// Audio `codec_name`, sample rate and channels, if there is an audio stream.
    pub audio: Option<(String, u64, u64)>,
    /// Audio start time minus video start time, in milliseconds.
    pub av_start_delta_ms: Option<f64>,
}

impl fmt::Display for Measured {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "video {}/{} {}x{}, {} frames ({} key), duration {:.3} s",
            self.video_codec,
            self.video_tag,
            self.width,
            self.height,
            self.frames,
            self.keyframes,
            self.duration_s
        )?;
        match (&self.audio, self.av_start_delta_ms) {
            (Some((codec, rate, channels)), Some(delta)) => write!(
                f,
                ", audio {codec} {rate} Hz {channels} ch, A/V start delta {delta:+.1} ms"
            ),
            _ => write!(f, ", no audio"),
        }
    }
}

fn str_field<'a>(v: &'a Value, key: &str) -> Option<&'a str> {
    v.get(key).and_then(Value::as_str)
}

/// ffprobe prints most numbers as strings ("10.022000") and a few as numbers.
fn num_field(v: &Value, key: &str) -> Option<f64> {
    match v.get(key)? {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.parse().ok(),
        _ => None,
    }
}

fn streams_of<'a>(show: &'a Value, codec_type: &str) -> Vec<&'a Value> {
    show.get("streams")
        .and_then(Value::as_array)
        .map(|streams| {
            streams
                .iter()
                .filter(|s| str_field(s, "codec_type") == Some(codec_type))
                .collect()
        })
        .unwrap_or_default()
}

/// Checks `ffprobe -show_streams -show_format` output (`show`) and
/// `-select_streams v:0 -show_packets -show_entries packet=pts_time,dts_time,flags`
/// output (`packets`) against `expect`. Fails at the first mismatch with a message that
/// names the measured and the expected figure.
pub fn evaluate(expect: &Expect, show: &Value, packets: &Value) -> Result<Measured> {
    let videos = streams_of(show, "video");
    ensure!(
        videos.len() == 1,
        "expected exactly 1 video stream, found {}",
        videos.len()
    );
    let video = videos[0];
    let video_codec = str_field(video, "codec_name").unwrap_or("?").to_string();
    let video_tag = str_field(video, "codec_tag_string")
        .unwrap_or("?")
        .to_string();
    ensure!(
        video_codec == expect.video_codec,
        "video codec is {video_codec}, expected {}",
        expect.video_codec
    );
    ensure!(
        video_tag == expect.video_tag,
        "video sample entry (codec tag) is {video_tag}, expected {}",
        expect.video_tag
    );
    let width = num_field(video, "width").unwrap_or(0.0) as u64;
    let height = num_field(video, "height").unwrap_or(0.0) as u64;
    ensure!(
        (width, height) == (expect.width, expect.height),
        "video is {width}x{height}, expected {}x{}",
        expect.width,
        expect.height
    );

    let duration_s = show
        .get("format")
        .and_then(|f| num_field(f, "duration"))
        .context("ffprobe reports no format duration")?;
    ensure!(
        (duration_s - expect.duration_s).abs() <= DURATION_TOLERANCE_S,
        "duration is {duration_s:.3} s, expected {:.1} s +- {DURATION_TOLERANCE_S} s",
        expect.duration_s
    );

    let packets = packets
        .get("packets")
        .and_then(Value::as_array)
        .context("ffprobe reports no video packets")?;
    let frames = packets.len() as u64;
    let keyframes = packets
        .iter()
        .filter(|p| str_field(p, "flags").is_some_and(|f| f.starts_with('K')))
        .count() as u64;
    for (what, reference) in [
        ("the measured duration", duration_s * expect.fps),
        ("the requested duration", expect.duration_s * expect.fps),
    ] {
        let allowed = reference * FRAME_COUNT_TOLERANCE;
        ensure!(
            (frames as f64 - reference).abs() <= allowed,
            "video frame count {frames} is not within {:.0}% of {reference:.0} \
             ({what} at {} fps)",
            FRAME_COUNT_TOLERANCE * 100.0,
            expect.fps
        );
    }
    let first_flags = str_field(&packets[0], "flags").unwrap_or("");
    ensure!(
        first_flags.starts_with('K'),
        "first video packet is not a keyframe (flags {first_flags:?})"
    );
    let expected_keyframes = frames.div_ceil(expect.gop_frames);
    ensure!(
        keyframes.abs_diff(expected_keyframes) <= 1,
        "{keyframes} video keyframes in {frames} frames, expected {expected_keyframes} +- 1 \
         (one every {} frames)",
        expect.gop_frames
    );
    let mut prev_dts: Option<f64> = None;
    for (i, p) in packets.iter().enumerate() {
        let dts = num_field(p, "dts_time")
            .with_context(|| format!("video packet {i} has no dts_time"))?;
        if let Some(prev) = prev_dts {
            ensure!(
                dts > prev,
                "video packet {i}: dts {dts:.6} s is not after the previous one ({prev:.6} s)"
            );
        }
        prev_dts = Some(dts);
    }

    let audios = streams_of(show, "audio");
    let (audio, av_start_delta_ms) = match (&expect.audio, audios.as_slice()) {
        (None, []) => (None, None),
        (None, found) => bail!("expected no audio stream, found {}", found.len()),
        (Some(want), [a]) => {
            let codec = str_field(a, "codec_name").unwrap_or("?").to_string();
            let rate = num_field(a, "sample_rate").unwrap_or(0.0) as u64;
            let channels = num_field(a, "channels").unwrap_or(0.0) as u64;
            ensure!(
                (codec.as_str(), rate, channels)
                    == (want.codec, want.sample_rate_hz, want.channels),
                "audio is {codec} {rate} Hz {channels} ch, expected {} {} Hz {} ch",
                want.codec,
                want.sample_rate_hz,
                want.channels
            );
            let audio_duration_s = num_field(a, "duration").context("audio has no duration")?;
            ensure!(
                (audio_duration_s - expect.duration_s).abs() <= DURATION_TOLERANCE_S,
                "audio duration is {audio_duration_s:.3} s, expected {:.1} s +- \
                 {DURATION_TOLERANCE_S} s",
                expect.duration_s
            );
            let v_start = num_field(video, "start_time").context("video has no start_time")?;
            let a_start = num_field(a, "start_time").context("audio has no start_time")?;
            let delta_ms = (a_start - v_start) * 1000.0;
            ensure!(
                delta_ms.abs() <= MAX_AV_START_DELTA_MS,
                "audio starts {delta_ms:+.1} ms after video (video {v_start:.6} s, audio \
                 {a_start:.6} s); allowed +- {MAX_AV_START_DELTA_MS} ms"
            );
            (Some((codec, rate, channels)), Some(delta_ms))
        }
        (Some(_), found) => bail!("expected exactly 1 audio stream, found {}", found.len()),
    };

    Ok(Measured {
        video_codec,
        video_tag,
        width,
        height,
        frames,
        keyframes,
        duration_s,
        audio,
        av_start_delta_ms,
    })
}

/// Per-stream figures of one file, from `ffprobe -show_streams` (`show`) and
/// `-show_packets -show_entries packet=stream_index,pts_time,duration_time,flags`
/// (`packets`, all streams).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct StreamFigures {
    /// Packets of the stream.
    pub packets: u64,
    /// True when its first packet is a keyframe.
    pub starts_with_keyframe: bool,
    /// `start_time` in seconds.
    pub start_s: f64,
    /// End of its last packet (`pts_time + duration_time`, the largest), in seconds.
    pub end_s: f64,
    /// The stream's `duration` in seconds.
    pub duration_s: f64,
}

/// The video and audio figures of a file (the first stream of each type).
pub fn stream_figures(
    show: &Value,
    packets: &Value,
) -> Result<(Option<StreamFigures>, Option<StreamFigures>)> {
    let packets = packets
        .get("packets")
        .and_then(Value::as_array)
        .context("ffprobe reports no packets")?;
    let figures = |codec_type: &str| -> Result<Option<StreamFigures>> {
        let Some(stream) = streams_of(show, codec_type).into_iter().next() else {
            return Ok(None);
        };
        let index = num_field(stream, "index").context("stream without index")?;
        let mine: Vec<&Value> = packets
            .iter()
            .filter(|p| num_field(p, "stream_index") == Some(index))
            .collect();
        let end_s = mine
            .iter()
            .filter_map(|p| Some(num_field(p, "pts_time")? + num_field(p, "duration_time")?))
            .fold(0.0, f64::max);
        Ok(Some(StreamFigures {
            packets: mine.len() as u64,
            starts_with_keyframe: mine
                .first()
                .and_then(|p| str_field(p, "flags"))
                .is_some_and(|f| f.starts_with('K')),
            start_s: num_field(stream, "start_time").unwrap_or(0.0),
            end_s,
            duration_s: num_field(stream, "duration").unwrap_or(0.0),
        }))
    };
    Ok((figures("video")?, figures("audio")?))
}

/// The recorder's last line: `recorded V video frames, A audio frames, S s, in N file(s)`.
#[derive(Clone, Debug, PartialEq)]
pub struct Recorded {
    /// Video frames written.
    pub video_frames: u64,
    /// Audio frames written.
    pub audio_frames: u64,
    /// Media length in seconds.
    pub duration_s: f64,
    /// Files written.
    pub files: u64,
}

/// Finds and parses the recorder's `recorded ...` line in its log.
pub fn parse_recorded(log: &str) -> Result<Recorded> {
    let line = log
        .lines()
        .rev()
        .find_map(|l| l.split_once("recorded ").map(|(_, rest)| rest))
        .context("the recorder printed no `recorded ...` line")?;
    let mut words = line.split([' ', ',']).filter(|w| !w.is_empty());
    let mut next = |what: &str| -> Result<f64> {
        let w = words
            .next()
            .with_context(|| format!("no {what} in {line:?}"))?;
        w.parse()
            .with_context(|| format!("bad {what} {w:?} in {line:?}"))
    };
    let video_frames = next("video frame count")? as u64;
    let _ = (next("word"), next("word")); // "video frames"
    let audio_frames = next("audio frame count")? as u64;
    let _ = (next("word"), next("word")); // "audio frames"
    let duration_s = next("duration")?;
    let _ = (next("word"), next("word")); // "s in"
    let files = next("file count")? as u64;
    Ok(Recorded {
        video_frames,
        audio_frames,
        duration_s,
        files,
    })
}

/// `(moov bytes, reserved bytes)` of every `moov N bytes at the front, reserved R bytes`
/// in the recorder's log.
pub fn parse_moov_sizes(log: &str) -> Vec<(u64, u64, bool)> {
    log.lines()
        .filter_map(|l| {
            let rest = l.split_once("; moov ")?.1;
            let mut w = rest.split([' ', ',']).filter(|w| !w.is_empty());
            let moov = w.next()?.parse().ok()?;
            let front = rest.contains("at the front");
            let reserved = rest
                .split_once("reserved ")?
                .1
                .split(' ')
                .next()?
                .parse()
                .ok()?;
            Some((moov, reserved, front))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `ffprobe -show_streams -show_format` of `recorder record rtsp://.../h264aac
    /// --duration 10s` (the /h264aac test mount), trimmed to the fields the checks read and
    /// a few more. Audio starts 18 ms after video: an empty edit in its `elst`.
    const SHOW_H264AAC: &str = r#"{
      "streams": [
        { "index": 0, "codec_name": "h264", "profile": "Constrained Baseline",
          "codec_type": "video", "codec_tag_string": "avc1", "width": 640, "height": 360,
          "r_frame_rate": "30/1", "time_base": "1/90000", "start_pts": 0,
          "start_time": "0.000000", "duration": "10.000000", "nb_frames": "300" },
        { "index": 1, "codec_name": "aac", "profile": "LC", "codec_type": "audio",
          "codec_tag_string": "mp4a", "sample_rate": "48000", "channels": 2,
          "time_base": "1/48000", "start_pts": 864, "start_time": "0.018000",
          "duration": "9.984000", "nb_frames": "468" }
      ],
      "format": { "nb_streams": 2, "format_name": "mov,mp4,m4a,3gp,3g2,mj2",
                  "start_time": "0.000000", "duration": "10.002000" }
    }"#;

    fn expect_h264aac() -> Expect {
        Expect {
            video_codec: "h264",
            video_tag: "avc1",
            width: 640,
            height: 360,
            fps: 30.0,
            gop_frames: 30,
            duration_s: 10.0,
            audio: Some(ExpectAudio {
                codec: "aac",
                sample_rate_hz: 48_000,
                channels: 2,
            }),
        }
    }

    /// `-show_packets` output for `frames` frames at 30 fps, a keyframe every `gop`.
    fn packets(frames: usize, gop: usize) -> Value {
        let packets: Vec<Value> = (0..frames)
            .map(|i| {
                let t = format!("{:.6}", i as f64 / 30.0);
                let flags = if i % gop == 0 { "K_" } else { "__" };
                serde_json::json!({ "pts_time": t, "dts_time": t, "flags": flags })
            })
            .collect();
        serde_json::json!({ "packets": packets })
    }

    fn show() -> Value {
        serde_json::from_str(SHOW_H264AAC).unwrap()
    }

    fn err(expect: &Expect, show: &Value, packets: &Value) -> String {
        format!("{:#}", evaluate(expect, show, packets).unwrap_err())
    }

    #[test]
    fn good_recording_passes_with_its_figures() {
        let mut m = evaluate(&expect_h264aac(), &show(), &packets(300, 30)).unwrap();
        // 18 ms computed from two decimal strings: compare to the microsecond.
        m.av_start_delta_ms = m.av_start_delta_ms.map(|d| (d * 1000.0).round() / 1000.0);
        assert_eq!(
            m,
            Measured {
                video_codec: "h264".into(),
                video_tag: "avc1".into(),
                width: 640,
                height: 360,
                frames: 300,
                keyframes: 10,
                duration_s: 10.002,
                audio: Some(("aac".into(), 48_000, 2)),
                av_start_delta_ms: Some(18.0),
            }
        );
        assert_eq!(
            m.to_string(),
            "video h264/avc1 640x360, 300 frames (10 key), duration 10.002 s, \
             audio aac 48000 Hz 2 ch, A/V start delta +18.0 ms"
        );
    }

    #[test]
    fn short_frame_count_is_reported() {
        let e = err(&expect_h264aac(), &show(), &packets(250, 30));
        assert_eq!(
            e,
            "video frame count 250 is not within 5% of 300 (the measured duration at 30 fps)"
        );
    }

    #[test]
    fn wrong_sample_entry_is_reported() {
        let mut s = show();
        s["streams"][0]["codec_tag_string"] = "hev1".into();
        s["streams"][0]["codec_name"] = "hevc".into();
        let expect = Expect {
            video_codec: "hevc",
            video_tag: "hvc1",
            ..expect_h264aac()
        };
        assert_eq!(
            err(&expect, &s, &packets(300, 30)),
            "video sample entry (codec tag) is hev1, expected hvc1"
        );
    }

    #[test]
    fn av_start_offset_beyond_40_ms_is_reported() {
        let mut s = show();
        s["streams"][1]["start_time"] = "0.050000".into();
        let e = err(&expect_h264aac(), &s, &packets(300, 30));
        assert!(
            e.starts_with("audio starts +50.0 ms after video"),
            "unexpected message: {e}"
        );
        s["streams"][1]["start_time"] = "0.039000".into();
        let m = evaluate(&expect_h264aac(), &s, &packets(300, 30)).unwrap();
        assert!((m.av_start_delta_ms.unwrap() - 39.0).abs() < 1e-6);
    }

    #[test]
    fn first_packet_must_be_a_keyframe() {
        let mut p = packets(300, 30);
        p["packets"][0]["flags"] = "__".into();
        assert_eq!(
            err(&expect_h264aac(), &show(), &p),
            "first video packet is not a keyframe (flags \"__\")"
        );
    }

    #[test]
    fn keyframe_cadence_is_checked() {
        // Every access unit split in two keyframe packets, as ffmpeg's RTSP client does.
        let e = err(&expect_h264aac(), &show(), &packets(300, 15));
        assert_eq!(
            e,
            "20 video keyframes in 300 frames, expected 10 +- 1 (one every 30 frames)"
        );
    }

    #[test]
    fn duration_outside_tolerance_is_reported() {
        let mut s = show();
        s["format"]["duration"] = "10.600000".into();
        assert_eq!(
            err(&expect_h264aac(), &s, &packets(300, 30)),
            "duration is 10.600 s, expected 10.0 s +- 0.5 s"
        );
    }

    #[test]
    fn unexpected_and_missing_audio_are_reported() {
        let no_audio = Expect {
            audio: None,
            ..expect_h264aac()
        };
        assert_eq!(
            err(&no_audio, &show(), &packets(300, 30)),
            "expected no audio stream, found 1"
        );
        let mut s = show();
        s["streams"].as_array_mut().unwrap().pop();
        assert_eq!(
            err(&expect_h264aac(), &s, &packets(300, 30)),
            "expected exactly 1 audio stream, found 0"
        );
    }

    #[test]
    fn decode_times_must_increase() {
        let mut p = packets(300, 30);
        p["packets"][100]["dts_time"] = "3.000000".into();
        assert_eq!(
            err(&expect_h264aac(), &show(), &p),
            "video packet 100: dts 3.000000 s is not after the previous one (3.300000 s)"
        );
    }

    #[test]
    fn recorder_lines_are_parsed() {
        let log = "2026-01-01T00:00:00Z INFO recorder::writer: file finalized: /t/a.mp4: 300 \
                   video frame(s), 469 audio frame(s), 10.003 s, 391234 bytes; moov 4577 bytes \
                   at the front, reserved 9854 bytes (11 ms to close)\n\
                   2026-01-01T00:00:00Z INFO recorder::record: recorded 1050 video frames, \
                   1641 audio frames, 35.011 s, in 4 file(s)\n";
        assert_eq!(
            parse_recorded(log).unwrap(),
            Recorded {
                video_frames: 1050,
                audio_frames: 1641,
                duration_s: 35.011,
                files: 4
            }
        );
        assert_eq!(parse_moov_sizes(log), vec![(4577, 9854, true)]);
        assert!(parse_recorded("nothing here").is_err());
    }

    #[test]
    fn stream_figures_per_type() {
        let show = show();
        let packets = serde_json::json!({ "packets": [
            { "stream_index": 0, "pts_time": "0.000000", "duration_time": "0.033333", "flags": "K_" },
            { "stream_index": 1, "pts_time": "0.018000", "duration_time": "0.021333", "flags": "K_" },
            { "stream_index": 0, "pts_time": "0.033333", "duration_time": "0.033333", "flags": "__" },
        ]});
        let (v, a) = stream_figures(&show, &packets).unwrap();
        let v = v.unwrap();
        assert_eq!((v.packets, v.starts_with_keyframe), (2, true));
        assert!((v.end_s - 0.066666).abs() < 1e-9);
        assert!((v.duration_s - 10.0).abs() < 1e-9);
        let a = a.unwrap();
        assert_eq!(a.packets, 1);
        assert!((a.start_s - 0.018).abs() < 1e-9);
    }
}
