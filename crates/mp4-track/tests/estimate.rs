//! `estimate_moov_bytes` against the real final `moov` of synthetic recordings: 30 fps
//! video with a keyframe every second and 48 kHz AAC in 2 s fragments, with regular or
//! jittery video timestamps, with or without B-frame composition offsets.

use std::num::NonZeroU32;

use bytes::Bytes;
use mp4_track::{
    FragmentedMuxer, FragmentedOptions, SampleInfo, TrackConfig, TrackEstimate, TrackKind,
    estimate_moov_bytes,
};

static ZEROS: [u8; 1 << 16] = [0; 1 << 16];

const VIDEO_ENTRY: usize = 150;
const AUDIO_ENTRY: usize = 90;

/// Final `moov` length of a recording of `seconds`.
fn final_moov_bytes(seconds: u64, jitter: bool, b_frames: bool) -> u64 {
    let mut mux = FragmentedMuxer::new(FragmentedOptions {
        fragment_duration_ms: 2000,
        reserve_bytes: 0,
        ..FragmentedOptions::default()
    });
    let entry = |n: usize| Bytes::from(vec![0u8; n]);
    let v = mux
        .add_track(TrackConfig {
            kind: TrackKind::Video {
                width: 1920,
                height: 1080,
            },
            timescale_hz: 90_000,
            sample_entry: entry(VIDEO_ENTRY),
            default_sample_duration: NonZeroU32::new(3000),
        })
        .unwrap();
    let a = mux
        .add_track(TrackConfig {
            kind: TrackKind::Audio,
            timescale_hz: 48_000,
            sample_entry: entry(AUDIO_ENTRY),
            default_sample_duration: NonZeroU32::new(1024),
        })
        .unwrap();
    mux.start().unwrap();
    let mut rng = 0x2545_f491_4f6c_dd1du64;
    let mut next = move || {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        rng
    };
    let (n_video, n_audio) = (seconds * 30, seconds * 48_000 / 1024);
    let (mut i, mut j) = (0, 0);
    while i < n_video || j < n_audio {
        // Timeline order: video frame i at i / 30 s, audio frame j at j * 1024 / 48000 s.
        let video_first = j >= n_audio || (i < n_video && i * 48_000 <= j * 1024 * 30);
        let (track, s) = if video_first {
            let dts = i * 3000 + if jitter && i > 0 { next() % 40 } else { 0 };
            let s = SampleInfo {
                dts,
                cts_offset: if b_frames {
                    [6000, 0, 3000][(i % 3) as usize]
                } else {
                    0
                },
                size: 2000 + (next() % 20_000) as u32,
                is_sync: i % 30 == 0,
            };
            i += 1;
            (v, s)
        } else {
            let s = SampleInfo {
                dts: j * 1024,
                cts_offset: 0,
                size: 200 + (next() % 200) as u32,
                is_sync: true,
            };
            j += 1;
            (a, s)
        };
        let data = Bytes::from_static(&ZEROS[..s.size as usize]);
        mux.push(track, s, data).unwrap();
        while mux.poll_fragment().is_some() {}
    }
    while mux.flush().is_some() {}
    mux.finalize().unwrap().moov_bytes
}

fn estimate(seconds: u64, jitter: bool, b_frames: bool) -> u64 {
    let tracks = [
        TrackEstimate {
            samples_per_s: 30.0,
            sync_samples_per_s: 1.0,
            regular_durations: !jitter,
            composition_offsets: b_frames,
            sample_entry_len: VIDEO_ENTRY as u64,
        },
        TrackEstimate {
            samples_per_s: 48_000.0 / 1024.0,
            sync_samples_per_s: 48_000.0 / 1024.0,
            regular_durations: true,
            composition_offsets: false,
            sample_entry_len: AUDIO_ENTRY as u64,
        },
    ];
    estimate_moov_bytes(&tracks, seconds * 1000, 2000)
}

#[test]
fn estimate_covers_the_real_moov_with_a_bounded_margin() {
    for seconds in [10, 600] {
        for (jitter, b_frames) in [(false, false), (true, false), (false, true), (true, true)] {
            let actual = final_moov_bytes(seconds, jitter, b_frames);
            let est = estimate(seconds, jitter, b_frames);
            let case = format!("{seconds} s, jitter {jitter}, b-frames {b_frames}");
            assert!(est >= actual, "{case}: estimate {est} < actual {actual}");
            assert!(
                est <= actual + actual / 2 + 2048,
                "{case}: estimate {est} too far above actual {actual}"
            );
        }
    }
}

#[test]
fn the_estimate_grows_with_what_costs_bytes() {
    let base = estimate(600, false, false);
    // 18000 jittery video samples add up to 8 bytes each to stts.
    assert!(estimate(600, true, false) >= base + 18_000 * 8);
    assert!(estimate(600, false, true) >= base + 18_000 * 8);
    assert!(estimate(1200, false, false) > 2 * base - 4096);
    assert_eq!(estimate_moov_bytes(&[], 0, 0), 1024 + 128 + 128 / 8);
}
