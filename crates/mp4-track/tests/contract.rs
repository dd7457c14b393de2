//! The documented contracts a library user relies on: how fragments are cut when tracks are
//! pushed one after the other, how the last sample's duration is chosen by both muxers, and
//! how much the edit lists' rounding to the movie timescale may cost.

use std::num::NonZeroU32;

use bmff_boxes::read;
use bytes::Bytes;
use mp4_track::{
    Error, Fragment, FragmentedMuxer, FragmentedOptions, Mp4Muxer, MuxerOptions, SampleInfo,
    TrackConfig, TrackId, TrackKind,
};

fn video() -> TrackConfig {
    TrackConfig {
        kind: TrackKind::Video {
            width: 64,
            height: 64,
        },
        timescale_hz: 90_000,
        sample_entry: Bytes::from_static(b"\0\0\0\x09fakev"),
        default_sample_duration: NonZeroU32::new(3000),
    }
}

fn audio() -> TrackConfig {
    TrackConfig {
        kind: TrackKind::Audio,
        timescale_hz: 48_000,
        sample_entry: Bytes::from_static(b"\0\0\0\x09fakea"),
        default_sample_duration: NonZeroU32::new(1024),
    }
}

fn sample(dts: u64, is_sync: bool) -> SampleInfo {
    SampleInfo {
        dts,
        cts_offset: 0,
        size: 1,
        is_sync,
    }
}

/// 10 s of 30 fps video (a keyframe a second) and of 48 kHz AAC, pushed in `order`
/// (`true`: interleaved in time; `false`: all video, then all audio), with 2 s fragments.
fn record(interleaved: bool) -> Vec<Fragment> {
    let mut mux = FragmentedMuxer::new(FragmentedOptions::default());
    let (v, a) = (
        mux.add_track(video()).unwrap(),
        mux.add_track(audio()).unwrap(),
    );
    mux.start().unwrap();
    let videos = (0..300u64).map(|i| (v, sample(i * 3000, i % 30 == 0), i * 3000 * 8));
    let audios = (0..469u64).map(|i| (a, sample(i * 1024, true), i * 1024 * 15));
    // Time in 1/720000 s for the interleaved order.
    let mut all: Vec<(TrackId, SampleInfo, u64)> = videos.chain(audios).collect();
    if interleaved {
        all.sort_by_key(|&(_, _, t)| t);
    }
    let mut out = Vec::new();
    for (track, s, _) in all {
        mux.push(track, s, Bytes::from_static(b"x")).unwrap();
        out.extend(std::iter::from_fn(|| mux.poll_fragment()));
    }
    out.extend(std::iter::from_fn(|| mux.flush()));
    out
}

/// Per fragment, each track's `(first dts in seconds, duration in seconds)`.
fn spans(fragments: &[Fragment]) -> Vec<Vec<(u32, f64, f64)>> {
    fragments
        .iter()
        .map(|f| {
            f.tracks
                .iter()
                .map(|t| {
                    let hz = if t.track.0.get() == 1 {
                        90_000.0
                    } else {
                        48_000.0
                    };
                    let start = t.base_media_decode_time as f64 / hz;
                    (t.track.0.get(), start, t.duration as f64 / hz)
                })
                .collect()
        })
        .collect()
}

#[test]
fn interleaved_tracks_share_every_fragment() {
    let fragments = record(true);
    assert_eq!(fragments.len(), 5, "{:?}", spans(&fragments));
    for f in &spans(&fragments) {
        assert_eq!(f.len(), 2, "both tracks in every fragment: {f:?}");
        // Each covers the same 2 s, within an audio frame (two at the end, where the
        // last audio frame runs past the video).
        assert!((f[0].1 - f[1].1).abs() < 0.022, "{f:?}");
        assert!(
            (f[0].2 - 2.0).abs() < 0.022 && (f[1].2 - 2.0).abs() < 0.043,
            "{f:?}"
        );
    }
}

#[test]
fn a_track_pushed_after_the_others_is_cut_on_its_own_time() {
    // All video, then all audio: the audio must not wait for one last fragment holding
    // all of it; no track's samples span more than two fragment durations in a fragment.
    let fragments = record(false);
    let spans = spans(&fragments);
    let audio: Vec<&(u32, f64, f64)> = spans.iter().flatten().filter(|t| t.0 == 2).collect();
    assert!(audio.len() >= 3, "audio in several fragments: {spans:?}");
    for t in spans.iter().flatten() {
        assert!(t.2 <= 4.0 + 0.034, "a run longer than 2 x 2 s: {spans:?}");
    }
    // Every sample went out, in decode order per track.
    let count = |track| -> u32 {
        let runs = fragments.iter().flat_map(|f| &f.tracks);
        runs.filter(|t| t.track.0.get() == track)
            .map(|t| t.sample_count)
            .sum()
    };
    assert_eq!((count(1), count(2)), (300, 469));
}

/// The movie of a progressive file written by `mux`, whose `samples` samples are a byte
/// each.
fn finish(mux: Mp4Muxer, start: Bytes, samples: usize) -> read::Movie {
    let mut file = start.to_vec();
    file.resize(file.len() + samples, 0xA5);
    let finished = mux.finish().unwrap();
    file.extend_from_slice(&finished.tail);
    for p in &finished.patches {
        let at = p.offset as usize;
        file[at..at + p.bytes.len()].copy_from_slice(&p.bytes);
    }
    let moov = read::boxes(&file)
        .map(Result::unwrap)
        .find(|b| &b.fourcc == b"moov")
        .unwrap();
    read::parse_moov(&moov).unwrap()
}

#[test]
fn mp4_muxer_last_sample_duration_and_set_track_end() {
    let run = |end: Option<u64>| {
        let mut mux = Mp4Muxer::new(MuxerOptions::default());
        let a = mux.add_track(audio()).unwrap();
        let start = mux.start().unwrap();
        for dts in [0, 1024, 2048] {
            mux.push(a, sample(dts, true)).unwrap();
        }
        if let Some(end) = end {
            mux.set_track_end(a, end).unwrap();
        }
        finish(mux, start, 3).tracks[0].mdhd.duration
    };
    // The last sample lasts as long as the one before it, or until the end set.
    assert_eq!(run(None), 3072);
    assert_eq!(run(Some(2048 + 500)), 2548);

    let mut mux = Mp4Muxer::new(MuxerOptions::default());
    let a = mux.add_track(audio()).unwrap();
    mux.start().unwrap();
    assert_eq!(
        mux.set_track_end(a, 5),
        Ok(()),
        "no samples: nothing to end"
    );
    mux.push(a, sample(1024, true)).unwrap();
    assert!(matches!(
        mux.set_track_end(a, 1024),
        Err(Error::NonMonotonicTimestamp { .. })
    ));
    assert!(matches!(
        mux.set_track_end(a, 1024 + (1 << 32)),
        Err(Error::SampleDurationTooLong { .. })
    ));
    // A single sample without an end set lasts the track's default duration.
    let movie = {
        let mut mux = Mp4Muxer::new(MuxerOptions::default());
        let a = mux.add_track(audio()).unwrap();
        let start = mux.start().unwrap();
        mux.push(a, sample(0, true)).unwrap();
        finish(mux, start, 1)
    };
    assert_eq!(movie.tracks[0].mdhd.duration, 1024);
}

#[test]
fn edit_lists_round_to_the_movie_timescale_within_half_a_tick() {
    // 5.0133 s of 48 kHz audio (235 frames of 1024 ticks, 240640 ticks): the media edit
    // is 5013 ms at the default 1000 Hz, 16 ticks (0.33 ms) short, and exact when the
    // movie timescale is a multiple of the track's.
    let elst = |movie_timescale_hz| {
        let mut mux = Mp4Muxer::new(MuxerOptions {
            movie_timescale_hz,
            ..MuxerOptions::default()
        });
        let a = mux.add_track(audio()).unwrap();
        let start = mux.start().unwrap();
        for i in 0..235u64 {
            mux.push(a, sample(i * 1024, true)).unwrap();
        }
        let movie = finish(mux, start, 235);
        let t = &movie.tracks[0];
        assert_eq!(t.mdhd.duration, 240_640);
        t.edits.as_ref().unwrap().last().unwrap().segment_duration
    };
    let ms = elst(1000);
    assert_eq!(ms, 5013);
    // |5013 ms - 240640 / 48 kHz| <= half a movie tick.
    let error_ticks_48k = (240_640i64 - ms as i64 * 48).abs();
    assert!(error_ticks_48k <= 24, "{error_ticks_48k}");
    assert_eq!(elst(48_000), 240_640);
    assert_eq!(elst(720_000), 240_640 * 15);
}
