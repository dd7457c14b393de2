//! [`Router::fragment_length`], which dates the live edge's segments.

use super::tests::{AAC, AUDIO_HZ, FRAME, VIDEO_HZ, audio_info, config, video_info, wall};
use super::*;

/// Every fragment written for `secs` of 30 fps video (a keyframe a second) and AAC.
fn fragments(video: bool, secs: i64) -> (Router, Vec<Fragment>) {
    let v = video_info("avc1.64001F", 640, 0);
    let mut r =
        Router::new(video.then_some(&v), Some(&audio_info()), config(None, None)).expect("router");
    let mut out = Vec::new();
    let mut next_audio = 0i64;
    for i in 0..secs * 30 {
        let pts = i * FRAME;
        if video {
            let data = Bytes::from(vec![1u8; 100]);
            r.push_video(pts, i % 30 == 0, data, None, wall(pts as f64 / 90_000.0))
                .unwrap();
        }
        while next_audio * i64::from(VIDEO_HZ) <= pts * i64::from(AUDIO_HZ) {
            let at = wall(next_audio as f64 / f64::from(AUDIO_HZ));
            r.push_audio(next_audio, Bytes::from(vec![2u8; 10]), at)
                .unwrap();
            next_audio += AAC;
        }
        while let Some(a) = r.poll_action() {
            if let Action::Write { fragment, .. } = a {
                out.push(fragment);
            }
        }
    }
    (r, out)
}

fn seconds(t: &mp4_track::FragmentTrack, hz: u32) -> f64 {
    t.duration as f64 / f64::from(hz)
}

#[test]
fn a_fragment_lasts_as_long_as_its_longest_track() {
    let (r, frags) = fragments(true, 6);
    assert!(frags.len() >= 4, "{} fragments", frags.len());
    for f in &frags {
        let video = f.tracks.iter().find(|t| t.track.0.get() == 1).unwrap();
        let audio = f.tracks.iter().find(|t| t.track.0.get() == 2);
        assert_eq!(video.sample_count, 30, "a 1 s fragment of 30 fps video");
        let want = audio.map_or(seconds(video, VIDEO_HZ), |a| {
            seconds(video, VIDEO_HZ).max(seconds(a, AUDIO_HZ))
        });
        let got = r.fragment_length(f).as_secs_f64();
        assert!((got - want).abs() < 1e-6, "{got} s, want {want} s");
        assert!(got >= 1.0, "{got} s");
    }
}

#[test]
fn an_audio_only_fragment_is_timed_in_the_audio_clock() {
    let (r, frags) = fragments(false, 4);
    assert!(!frags.is_empty());
    for f in &frags {
        assert_eq!(f.tracks.len(), 1);
        let want = seconds(&f.tracks[0], AUDIO_HZ);
        assert!(want > 0.5, "{want} s");
        assert!((r.fragment_length(f).as_secs_f64() - want).abs() < 1e-6);
    }
}
