//! Timestamp jumps: a frame flagged as a discontinuity starts a new file in the same
//! session, at the next keyframe.

use bytes::Bytes;
use rtsp_ingest::Frame;

use super::tests::{AAC, FRAME, FileOut, Sink, audio_info, config, video_info, wall};
use super::*;

/// A video frame as the source hands it out, `discontinuity` flagged or not.
fn video_frame(i: i64, gop: i64, discontinuity: bool) -> Frame {
    Frame::Video {
        pts: i * FRAME,
        is_sync: i % gop == 0,
        data: Bytes::from(vec![1u8; 100]),
        new_info: None,
        loss: 0,
        discontinuity,
    }
}

#[test]
fn a_discontinuity_starts_a_new_file_at_the_next_keyframe() {
    let mut r = Router::new(
        Some(&video_info("avc1.64001F", 640, 0)),
        Some(&audio_info()),
        config(None, None),
    )
    .unwrap();
    let mut sink = Sink::default();
    let mut next_audio = 0i64;
    for i in 0..90 {
        // The source re-based the jump at frame 40: its timestamps go on as before.
        r.push(video_frame(i, 30, i == 40), wall(i as f64 / 30.0))
            .unwrap();
        while next_audio * 90_000 < i * FRAME * 48_000 {
            r.push_audio(
                next_audio,
                Bytes::from(vec![2u8; 10]),
                wall(i as f64 / 30.0),
            )
            .unwrap();
            next_audio += AAC;
        }
        sink.drain(&mut r);
    }
    r.finish(EndReason::Stopped).unwrap();
    sink.drain(&mut r);
    let s = sink.summaries();
    assert_eq!(s.len(), 2, "two files in one session");
    assert_eq!(s[0].end, EndReason::TimestampJump);
    assert!(!s[0].end.is_gap());
    let (v0, v1) = (s[0].video.as_ref().unwrap(), s[1].video.as_ref().unwrap());
    // Not at frame 40 (not a keyframe) but at the next keyframe, 60.
    assert_eq!((v0.samples, v1.samples), (60, 30));
    assert!((v0.end_s - 2.0).abs() < 1e-9);
    assert_eq!(s[1].start_wall, wall(2.0));
    // The new file's video starts at its own zero, audio split at the keyframe.
    let files: Vec<&FileOut> = sink.files.values().collect();
    assert_eq!(files[1].tracks[&1].0, Some(0));
    let (a0, a1) = (s[0].audio.as_ref().unwrap(), s[1].audio.as_ref().unwrap());
    assert!((a0.end_s - 2.0).abs() < AAC as f64 / 48_000.0);
    assert!(a1.start_s.abs() < AAC as f64 / 48_000.0);
    assert_eq!(a0.samples + a1.samples, next_audio as u64 / AAC as u64);
}

#[test]
fn a_discontinuity_before_the_first_file_changes_nothing() {
    let mut r = Router::new(
        Some(&video_info("avc1.64001F", 640, 0)),
        None,
        config(None, None),
    )
    .unwrap();
    let mut sink = Sink::default();
    for i in 0..60 {
        r.push(video_frame(i, 30, i == 0), wall(i as f64 / 30.0))
            .unwrap();
        sink.drain(&mut r);
    }
    r.finish(EndReason::Stopped).unwrap();
    sink.drain(&mut r);
    let s = sink.summaries();
    assert_eq!(s.len(), 1);
    assert_eq!(s[0].video.as_ref().unwrap().samples, 60);
}

#[test]
fn audio_only_discontinuity_switches_at_once() {
    let mut r = Router::new(None, Some(&audio_info()), config(None, None)).unwrap();
    let mut sink = Sink::default();
    for k in 0..100 {
        let frame = Frame::Audio {
            pts: k * AAC,
            duration: AAC as u32,
            data: Bytes::from_static(b"aa"),
            loss: 0,
            discontinuity: k == 70,
        };
        r.push(frame, wall(k as f64 * AAC as f64 / 48_000.0))
            .unwrap();
        sink.drain(&mut r);
    }
    r.finish(EndReason::Stopped).unwrap();
    sink.drain(&mut r);
    let s = sink.summaries();
    assert_eq!(s.len(), 2);
    assert_eq!(s[0].end, EndReason::TimestampJump);
    let (a0, a1) = (s[0].audio.as_ref().unwrap(), s[1].audio.as_ref().unwrap());
    assert_eq!((a0.samples, a1.samples), (70, 30));
}
