//! The router driven with plain values: frames in, actions out.

use std::collections::BTreeMap;
use std::num::NonZeroU32;

use rtsp_ingest::{AudioCodec, VideoCodec};

use super::*;

pub(super) const VIDEO_HZ: u32 = 90_000;
pub(super) const FRAME: i64 = 3000; // 30 fps
pub(super) const AUDIO_HZ: u32 = 48_000;
pub(super) const AAC: i64 = 1024;

pub(super) fn video_info(codec: &str, width: u32, reorder_depth: u8) -> VideoInfo {
    VideoInfo {
        codec: VideoCodec::H264,
        width,
        height: 360,
        clock_rate_hz: VIDEO_HZ,
        sample_entry: Bytes::from_static(b"\0\0\0\x08avc1"),
        rfc6381_codec: codec.to_owned(),
        frame_interval: Some((1, 30)),
        reorder_depth,
    }
}

pub(super) fn audio_info() -> AudioInfo {
    AudioInfo {
        codec: AudioCodec::Aac,
        clock_rate_hz: AUDIO_HZ,
        channels: 1,
        sample_entry: Bytes::from_static(b"\0\0\0\x08mp4a"),
        rfc6381_codec: Some("mp4a.40.2".to_owned()),
        frame_length: NonZeroU32::new(1024),
    }
}

pub(super) fn config(segment_s: Option<u64>, limit_s: Option<u64>) -> RouterConfig {
    RouterConfig {
        segment_duration: segment_s.map(Duration::from_secs),
        max_file_duration: None,
        max_file_bytes: None,
        limit: limit_s.map(Duration::from_secs),
        fragment_duration: Duration::from_secs(1),
        reserve_moov: true,
        audio_storage: audio_pcm::Storage::Flac,
    }
}

/// The wall clock when a frame at `secs` of media arrives.
pub(super) fn wall(secs: f64) -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000) + Duration::from_secs_f64(secs)
}

/// What the actions did to one file.
#[derive(Debug, Default)]
pub(super) struct FileOut {
    pub(super) start_wall: Option<SystemTime>,
    /// Per track id: (first decode time, samples, total duration) over its fragments.
    pub(super) tracks: BTreeMap<u32, (Option<u64>, u64, u64)>,
    pub(super) summary: Option<FileSummary>,
    pub(super) writes_after_close: u32,
    /// Finished as written ([`Action::Cut`]).
    pub(super) cut: bool,
}

/// Carries out actions as a writer would, remembering what each file received.
#[derive(Debug, Default)]
pub(super) struct Sink {
    pub(super) files: BTreeMap<FileId, FileOut>,
}

impl Sink {
    pub(super) fn add(&mut self, file: FileId, f: &Fragment) {
        let out = self.files.get_mut(&file).expect("written after its Open");
        if out.summary.is_some() {
            out.writes_after_close += 1;
        }
        for t in &f.tracks {
            let e = out.tracks.entry(t.track.0.get()).or_default();
            e.0.get_or_insert(t.base_media_decode_time);
            e.1 += u64::from(t.sample_count);
            e.2 += t.duration;
        }
    }

    pub(super) fn drain(&mut self, r: &mut Router) {
        while let Some(a) = r.poll_action() {
            match a {
                Action::Open {
                    file,
                    start_wall,
                    init,
                } => {
                    // The init moov carries the wall-clock start to the nanosecond.
                    let day = super::file::wall_clock_text(start_wall);
                    assert!(
                        init.windows(day.len()).any(|w| w == day.as_bytes()),
                        "no {day} in the init segment"
                    );
                    let prev = self.files.insert(
                        file,
                        FileOut {
                            start_wall: Some(start_wall),
                            ..FileOut::default()
                        },
                    );
                    assert!(prev.is_none(), "{file:?} opened twice");
                }
                Action::Write { file, fragment } => self.add(file, &fragment),
                Action::Close {
                    file,
                    mut muxer,
                    summary,
                } => {
                    while let Some(f) = muxer.flush() {
                        self.add(file, &f);
                    }
                    muxer.finalize().expect("a finished file finalizes");
                    let out = self.files.get_mut(&file).expect("closed after its Open");
                    assert!(out.summary.is_none(), "{file:?} closed twice");
                    out.summary = Some(summary);
                }
                Action::Cut { file, summary } => self.cut(file, summary),
            }
        }
    }

    pub(super) fn cut(&mut self, file: FileId, summary: FileSummary) {
        let out = self.files.get_mut(&file).expect("cut after its Open");
        assert!(out.summary.is_none(), "{file:?} closed twice");
        out.summary = Some(summary);
        out.cut = true;
    }

    pub(super) fn summaries(&self) -> Vec<&FileSummary> {
        self.files
            .values()
            .map(|f| f.summary.as_ref().expect("every file closed"))
            .collect()
    }
}

/// 30 fps video with a keyframe every `gop` frames and 48 kHz AAC, audio arriving
/// `audio_lag` video frames late (negative: early), for `secs` seconds, through a router.
pub(super) fn simulate(cfg: RouterConfig, gop: i64, secs: i64, audio_lag: i64) -> (Router, Sink) {
    let mut r = Router::new(
        Some(&video_info("avc1.64001F", 640, 0)),
        Some(&audio_info()),
        cfg,
    )
    .expect("router");
    let mut sink = Sink::default();
    let frames = secs * 30;
    let mut next_audio = 0i64;
    for i in 0..frames + audio_lag.abs() + 1 {
        if i < frames {
            let pts = i * FRAME;
            r.push_video(
                pts,
                i % gop == 0,
                Bytes::from(vec![1u8; 100]),
                None,
                wall(pts as f64 / 90_000.0),
            )
            .unwrap();
        }
        // Audio up to the instant of video frame `i - audio_lag`.
        let until = (i - audio_lag) * FRAME;
        while next_audio * 90_000 < until * 48_000 && next_audio < frames * FRAME * 48 / 90 {
            let pts = next_audio;
            r.push_audio(pts, Bytes::from(vec![2u8; 10]), wall(pts as f64 / 48_000.0))
                .unwrap();
            next_audio += AAC;
        }
        sink.drain(&mut r);
    }
    r.finish(EndReason::Stopped).unwrap();
    sink.drain(&mut r);
    (r, sink)
}

#[test]
fn one_file_without_segments_holds_every_frame() {
    let (r, sink) = simulate(config(None, None), 30, 3, 0);
    let s = sink.summaries();
    assert_eq!(s.len(), 1);
    let v = s[0].video.as_ref().unwrap();
    let a = s[0].audio.as_ref().unwrap();
    assert_eq!(v.samples, 90);
    assert_eq!(
        (v.codec.as_str(), v.dimensions),
        ("avc1.64001F", Some((640, 360)))
    );
    // 3 s of 48 kHz in 1024-sample frames: ceil(144000 / 1024).
    assert_eq!(a.samples, 141);
    assert_eq!(a.codec, "mp4a.40.2");
    assert_eq!(s[0].end, EndReason::Stopped);
    assert_eq!(r.written().video_frames, 90);
    assert_eq!(r.written().audio_frames, 141);
    assert_eq!(r.written().bytes, 90 * 100 + 141 * 10);
    // The muxer's own counts match the summary's.
    let out = sink.files.values().next().unwrap();
    assert_eq!(out.tracks[&1].1, 90);
    assert_eq!(out.tracks[&2].1, 141);
    assert_eq!(out.tracks[&1].0, Some(0));
    assert_eq!(out.start_wall, Some(wall(0.0)));
    assert_eq!(
        super::file::wall_clock_text(wall(0.25)),
        "2023-11-14T22:13:20.250000000Z"
    );
}

/// Segments switch at the first keyframe at least the segment duration after the
/// file's start; audio is split at the keyframe's instant, whenever it arrives; each
/// track of a file ends exactly where the next file's begins.
fn check_segments(audio_lag: i64) {
    let (_, sink) = simulate(config(Some(2), None), 30, 7, audio_lag);
    let s = sink.summaries();
    // Keyframes every second, 2 s segments over 7 s: files start at 0, 2, 4 and 6 s.
    assert_eq!(s.len(), 4, "lag {audio_lag}");
    let starts = [0.0, 2.0, 4.0, 6.0];
    let mut audio_total = 0;
    for (i, f) in s.iter().enumerate() {
        let v = f.video.as_ref().unwrap();
        let a = f.audio.as_ref().unwrap();
        assert_eq!(
            v.samples,
            if i < 3 { 60 } else { 30 },
            "file {i}, lag {audio_lag}"
        );
        // Audio frames presented in [start, next start): first index ceil(start * 48000 / 1024).
        let first = |t: f64| (t * 48_000.0 / 1024.0).ceil() as u64;
        // The simulation sends the audio frames presented before 7 s.
        let end = if i < 3 {
            first(starts[i + 1])
        } else {
            first(7.0)
        };
        assert_eq!(
            a.samples,
            end - first(starts[i]),
            "file {i}, lag {audio_lag}"
        );
        audio_total += a.samples;
        assert_eq!(f.start_wall, wall(starts[i]));
        assert_eq!(
            f.end,
            if i < 3 {
                EndReason::Switch
            } else {
                EndReason::Stopped
            }
        );
        // The audio starts after the video by the gap to its first frame.
        let gap = first(starts[i]) as f64 * 1024.0 / 48_000.0 - starts[i];
        assert!(
            (a.start_s - gap).abs() < 1e-6,
            "file {i}: {} vs {gap}",
            a.start_s
        );
        if i < 3 {
            // Each track ends where the next file's begins.
            let next = s[i + 1];
            let next_v = starts[i + 1] - starts[i];
            assert!(
                (v.end_s - next_v).abs() < 1e-6,
                "file {i}: video ends at {}",
                v.end_s
            );
            let next_a = next_v + next.audio.as_ref().unwrap().start_s;
            assert!(
                (a.end_s - next_a).abs() < 1e-4,
                "file {i}: audio ends at {}",
                a.end_s
            );
        }
    }
    assert_eq!(audio_total, (7 * 48_000_u64).div_ceil(1024));
    for (id, out) in &sink.files {
        assert_eq!(out.writes_after_close, 0, "{id:?}");
        // Decode times start at 0 in every file.
        assert_eq!(out.tracks[&1].0, Some(0));
    }
}

#[test]
fn segments_split_audio_at_the_keyframe_in_time() {
    check_segments(0);
}

#[test]
fn segments_split_audio_at_the_keyframe_when_audio_comes_late() {
    check_segments(20);
}

#[test]
fn segments_split_audio_at_the_keyframe_when_audio_comes_early() {
    check_segments(-10);
}

#[test]
fn duration_limit_keeps_exactly_the_requested_media() {
    let (r, sink) = simulate(config(None, Some(2)), 30, 4, 0);
    assert!(r.all_done() && r.primary_done());
    let s = sink.summaries();
    assert_eq!(s.len(), 1);
    assert_eq!(s[0].video.as_ref().unwrap().samples, 60);
    // Audio frames presented before 2 s.
    assert_eq!(
        s[0].audio.as_ref().unwrap().samples,
        (2 * 48_000_u64).div_ceil(1024)
    );
    assert!(
        (s[0].duration_s() - 2.0).abs() < 0.03,
        "{}",
        s[0].duration_s()
    );
}

#[test]
fn audio_before_the_first_keyframe_is_dropped() {
    let mut r = Router::new(
        Some(&video_info("avc1.4D401E", 640, 0)),
        Some(&audio_info()),
        config(None, None),
    )
    .unwrap();
    let mut sink = Sink::default();
    // Audio at 0..0.5 s, video from 0.5 s on (the session's zero).
    for k in 0..24 {
        r.push_audio(k * AAC, Bytes::from_static(b"aa"), wall(0.0))
            .unwrap();
    }
    for i in 15..45 {
        r.push_video(
            i * FRAME,
            i == 15,
            Bytes::from_static(b"vvvv"),
            None,
            wall(0.5),
        )
        .unwrap();
        sink.drain(&mut r);
    }
    r.finish(EndReason::SessionEnded).unwrap();
    sink.drain(&mut r);
    let s = sink.summaries();
    assert_eq!(s.len(), 1);
    assert_eq!(s[0].video.as_ref().unwrap().samples, 30);
    // Frames 0..23 end before 0.5 s (frame 23 starts at 0.490 s): all before zero.
    assert_eq!(s[0].audio.as_ref().map(|a| a.samples), Some(0));
    assert_eq!(s[0].end, EndReason::SessionEnded);
    assert!(s[0].end.is_gap());
}

#[test]
fn new_parameters_start_a_new_file_at_once() {
    let mut r = Router::new(
        Some(&video_info("avc1.4D401E", 640, 0)),
        None,
        config(None, None),
    )
    .unwrap();
    let mut sink = Sink::default();
    for i in 0..60 {
        let info = (i == 45).then(|| video_info("avc1.640028", 1280, 0));
        r.push_video(
            i * FRAME,
            i % 30 == 0 || i == 45,
            Bytes::from_static(b"v"),
            info.as_ref(),
            wall(i as f64 / 30.0),
        )
        .unwrap();
        sink.drain(&mut r);
    }
    r.finish(EndReason::Stopped).unwrap();
    sink.drain(&mut r);
    let s = sink.summaries();
    assert_eq!(s.len(), 2);
    assert_eq!(s[0].end, EndReason::NewParameters);
    let (v0, v1) = (s[0].video.as_ref().unwrap(), s[1].video.as_ref().unwrap());
    assert_eq!((v0.samples, v1.samples), (45, 15));
    assert_eq!(
        (v0.codec.as_str(), v0.dimensions),
        ("avc1.4D401E", Some((640, 360)))
    );
    assert_eq!(
        (v1.codec.as_str(), v1.dimensions),
        ("avc1.640028", Some((1280, 360)))
    );
    assert!((v0.end_s - 1.5).abs() < 1e-9);
    assert_eq!(s[1].start_wall, wall(1.5));
}

#[test]
fn b_frames_get_decode_times_from_zero_and_every_frame_is_kept() {
    let mut r = Router::new(
        Some(&video_info("avc1.640028", 640, 2)),
        None,
        config(Some(1), None),
    )
    .unwrap();
    let mut sink = Sink::default();
    // Decode order I0 P3 B1 B2 P6 B4 B5 ..., a keyframe every 30 frames (I at 0, 30, 60).
    let mut order = Vec::new();
    for gop in 0..3i64 {
        let base = gop * 30;
        order.push(base);
        let mut k = 0;
        while k + 3 <= 29 {
            order.extend([base + k + 3, base + k + 1, base + k + 2]);
            k += 3;
        }
        order.extend((base + k + 1)..(base + 30));
    }
    assert_eq!(order.len(), 90);
    for (n, &i) in order.iter().enumerate() {
        r.push_video(
            i * FRAME,
            i % 30 == 0,
            Bytes::from_static(b"v"),
            None,
            wall(n as f64 / 30.0),
        )
        .unwrap();
        sink.drain(&mut r);
    }
    r.finish(EndReason::Stopped).unwrap();
    sink.drain(&mut r);
    let s = sink.summaries();
    assert_eq!(s.len(), 3, "{s:?}");
    let total: u64 = s.iter().map(|f| f.video.as_ref().unwrap().samples).sum();
    assert_eq!(total, 90);
    for out in sink.files.values() {
        // Every file's decode times start at 0 (its lead is its first frame's offset).
        assert_eq!(out.tracks[&1].0, Some(0));
        assert_eq!(out.tracks[&1].1, 30);
    }
}

#[test]
fn audio_only_recording_switches_on_audio() {
    let mut r = Router::new(None, Some(&audio_info()), config(Some(1), None)).unwrap();
    let mut sink = Sink::default();
    for k in 0..100 {
        r.push_audio(
            k * AAC,
            Bytes::from_static(b"a"),
            wall(k as f64 * 1024.0 / 48_000.0),
        )
        .unwrap();
        sink.drain(&mut r);
    }
    r.finish(EndReason::Stopped).unwrap();
    sink.drain(&mut r);
    let counts: Vec<u64> = sink
        .summaries()
        .iter()
        .map(|f| f.audio.as_ref().unwrap().samples)
        .collect();
    // A new file at the first frame at least 1 s after the file's start: every 47 frames.
    assert_eq!(counts, vec![47, 47, 6]);
}

#[test]
fn a_router_needs_a_stream() {
    assert!(Router::new(None, None, config(None, None)).is_err());
}

#[test]
fn max_file_duration_bounds_a_single_file() {
    let cfg = RouterConfig {
        max_file_duration: Some(Duration::from_secs(2)),
        ..config(None, None)
    };
    let (_, sink) = simulate(cfg, 30, 7, 5);
    let video: Vec<u64> = sink
        .summaries()
        .iter()
        .map(|f| f.video.as_ref().unwrap().samples)
        .collect();
    assert_eq!(video, vec![60, 60, 60, 30]);
    // The bound and a longer segment duration: the bound wins.
    let cfg = RouterConfig {
        max_file_duration: Some(Duration::from_secs(3)),
        ..config(Some(5), None)
    };
    let (_, sink) = simulate(cfg, 30, 7, 0);
    let video: Vec<u64> = sink
        .summaries()
        .iter()
        .map(|f| f.video.as_ref().unwrap().samples)
        .collect();
    assert_eq!(video, vec![90, 90, 30]);
}

#[test]
fn max_file_size_cuts_at_the_next_keyframe() {
    let mut r = Router::new(
        Some(&video_info("avc1.4D401E", 640, 0)),
        None,
        RouterConfig {
            max_file_bytes: Some(50_000),
            // No room reserved for the moov: the file is its init segment and fragments.
            reserve_moov: false,
            audio_storage: audio_pcm::Storage::Flac,
            ..config(None, None)
        },
    )
    .unwrap();
    let mut sink = Sink::default();
    for i in 0..300 {
        r.push_video(
            i * FRAME,
            i % 30 == 0,
            Bytes::from(vec![0u8; 1000]),
            None,
            wall(i as f64 / 30.0),
        )
        .unwrap();
        sink.drain(&mut r);
    }
    r.finish(EndReason::Stopped).unwrap();
    sink.drain(&mut r);
    // 1 s fragments of 30 kB: a file has passed 50 kB once its second fragment is written,
    // which happens at the keyframe that starts its third second; the next keyframe cuts.
    let video: Vec<u64> = sink
        .summaries()
        .iter()
        .map(|f| f.video.as_ref().unwrap().samples)
        .collect();
    assert_eq!(video, vec![90, 90, 90, 30]);
    for (id, out) in &sink.files {
        let media: u64 = out.tracks[&1].1 * 1000;
        assert!(media <= 90_000, "{id:?}: {media} bytes of media");
    }
}
