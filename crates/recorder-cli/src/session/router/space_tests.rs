//! The output running out of space: the router closes its files, drops frames while
//! there is no space, and resumes at the next keyframe in a new file.

use super::tests::{AAC, FRAME, Sink, audio_info, config, video_info, wall};
use super::*;

/// 30 fps video with a keyframe every second and 48 kHz AAC for 7 s; the output is lost
/// after video frame `lost_at` and back after frame `back_at`.
fn run_with_loss(lost_at: i64, back_at: i64) -> (Router, Sink, u64) {
    let mut r = Router::new(
        Some(&video_info("avc1.64001F", 640, 0)),
        Some(&audio_info()),
        config(None, None),
    )
    .expect("router");
    let mut sink = Sink::default();
    let mut next_audio = 0i64;
    let mut audio_pushed = 0u64;
    for i in 0..210 {
        let pts = i * FRAME;
        r.push_video(
            pts,
            i % 30 == 0,
            Bytes::from(vec![1u8; 100]),
            None,
            wall(pts as f64 / 90_000.0),
        )
        .unwrap();
        while next_audio * 90_000 < pts * 48_000 {
            r.push_audio(
                next_audio,
                Bytes::from(vec![2u8; 10]),
                wall(next_audio as f64 / 48_000.0),
            )
            .unwrap();
            audio_pushed += 1;
            next_audio += AAC;
        }
        sink.drain(&mut r);
        if i == lost_at {
            r.output_lost();
            assert!(r.output_is_lost());
            sink.drain(&mut r);
        }
        if i == back_at {
            r.output_back();
        }
    }
    r.finish(EndReason::Stopped).unwrap();
    sink.drain(&mut r);
    (r, sink, audio_pushed)
}

#[test]
fn a_full_disk_closes_the_file_and_recording_resumes_at_a_keyframe_in_a_new_file() {
    // Lost after frame 74 (2.467 s), back after frame 125 (4.167 s): frames 75..=149 are
    // dropped, the keyframe at frame 150 (5 s) opens the second file.
    let (r, sink, audio_pushed) = run_with_loss(74, 125);
    let s = sink.summaries();
    assert_eq!(s.len(), 2);
    let first = s[0];
    assert_eq!(first.end, EndReason::DiskFull);
    assert!(first.end.is_gap());
    assert_eq!(first.video.as_ref().unwrap().samples, 75);
    let second = s[1];
    assert_eq!(second.end, EndReason::Stopped);
    assert_eq!(second.video.as_ref().unwrap().samples, 60);
    assert_eq!(second.start_wall, wall(5.0));
    // Its decode times start at 0 like every file's.
    let out = sink.files.values().nth(1).unwrap();
    assert_eq!(out.tracks[&1].0, Some(0));
    assert!(!r.output_is_lost());
    // Every frame is written, dropped for want of space, or (audio frames around the
    // resuming keyframe: presented before it but sent after it) dropped as late.
    let written = r.written();
    assert_eq!(written.video_frames, 135);
    let audio_dropped = r.dropped_no_space() - 75;
    let late = audio_pushed - written.audio_frames - audio_dropped;
    assert!(late <= 2, "{late} audio frame(s) unaccounted for");
    // About 2.5 s of audio (from the loss to the keyframe) is dropped: 117 frames.
    assert!((110..=120).contains(&audio_dropped), "{audio_dropped}");
    let a2 = second.audio.as_ref().unwrap();
    assert!(
        a2.start_s >= 0.0 && a2.start_s < 1024.0 / 48_000.0,
        "{}",
        a2.start_s
    );
}

#[test]
fn space_back_before_a_loss_changes_nothing() {
    let mut r = Router::new(Some(&video_info("avc1", 640, 0)), None, config(None, None)).unwrap();
    r.output_back();
    r.push_video(0, true, Bytes::from_static(b"x"), None, wall(0.0))
        .unwrap();
    assert!(matches!(r.poll_action(), Some(Action::Open { .. })));
    assert_eq!(r.dropped_no_space(), 0);
    // A loss with no file open drops until the next keyframe after space is back.
    r.output_lost();
    assert!(matches!(r.poll_action(), Some(Action::Close { .. })));
    r.push_video(FRAME, false, Bytes::from_static(b"x"), None, wall(0.1))
        .unwrap();
    r.output_back();
    r.push_video(2 * FRAME, false, Bytes::from_static(b"x"), None, wall(0.2))
        .unwrap();
    assert!(r.poll_action().is_none());
    assert_eq!(r.dropped_no_space(), 2);
    r.push_video(3 * FRAME, true, Bytes::from_static(b"x"), None, wall(0.3))
        .unwrap();
    assert!(matches!(r.poll_action(), Some(Action::Open { .. })));
}

#[test]
fn audio_only_resumes_at_the_next_frame() {
    let mut r = Router::new(None, Some(&audio_info()), config(None, None)).unwrap();
    let mut sink = Sink::default();
    for i in 0..100 {
        if i == 20 {
            r.output_lost();
        }
        if i == 40 {
            r.output_back();
        }
        r.push_audio(
            i * AAC,
            Bytes::from_static(b"a"),
            wall(i as f64 * 1024.0 / 48_000.0),
        )
        .unwrap();
        sink.drain(&mut r);
    }
    r.finish(EndReason::Stopped).unwrap();
    sink.drain(&mut r);
    let s = sink.summaries();
    assert_eq!(s.len(), 2);
    assert_eq!(s[0].audio.as_ref().unwrap().samples, 20);
    assert_eq!(s[1].audio.as_ref().unwrap().samples, 60);
    assert_eq!(r.dropped_no_space(), 20);
}
