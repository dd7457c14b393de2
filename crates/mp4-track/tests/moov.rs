//! The muxer's `moov`: snapshot of a small A/V file, and unit checks of the timing fields.

mod common;

use std::num::NonZeroU32;

use bytes::Bytes;
use common::{FileSim, parse_moov};
use mp4_track::{Error, Mp4Muxer, MuxerOptions, SampleInfo, TrackConfig, TrackId, TrackKind};

fn fake_entry(tag: u8) -> Bytes {
    Bytes::from(vec![0, 0, 0, 9, b'f', b'a', b'k', b'e', tag])
}

fn video(mux: &mut Mp4Muxer) -> TrackId {
    mux.add_track(TrackConfig {
        kind: TrackKind::Video {
            width: 640,
            height: 360,
        },
        timescale_hz: 90_000,
        sample_entry: fake_entry(b'v'),
        default_sample_duration: NonZeroU32::new(3000),
    })
    .unwrap()
}

fn audio(mux: &mut Mp4Muxer, default: Option<NonZeroU32>) -> TrackId {
    mux.add_track(TrackConfig {
        kind: TrackKind::Audio,
        timescale_hz: 48_000,
        sample_entry: fake_entry(b'a'),
        default_sample_duration: default,
    })
    .unwrap()
}

fn sample(dts: u64, size: u32, is_sync: bool) -> SampleInfo {
    SampleInfo {
        dts,
        cts_offset: 0,
        size,
        is_sync,
    }
}

/// Video: 20 frames at 30 fps from t=0, keyframes every 5th. Audio: 8 AAC frames of 1024
/// samples at 48 kHz starting at t=0.5 s. Pushed in timeline order, so chunks interleave.
fn av_file() -> (Vec<u8>, mp4_track::Finished) {
    let mut mux = Mp4Muxer::new(MuxerOptions {
        movie_timescale_hz: 1000,
        creation_time_1904: 0,
    });
    let v = video(&mut mux);
    let a = audio(&mut mux, NonZeroU32::new(1024));
    let mut file = FileSim::default();
    file.write_at(0, &mux.start().unwrap());
    let mut events: Vec<(f64, bool, u64)> =
        (0..20u64).map(|i| (i as f64 / 30.0, true, i)).collect();
    events.extend((0..8u64).map(|i| (0.5 + i as f64 * 1024.0 / 48_000.0, false, i)));
    events.sort_by(|x, y| x.0.total_cmp(&y.0));
    for (_, is_video, i) in events {
        let (track, s) = if is_video {
            (v, sample(i * 3000, 100 + i as u32, i % 5 == 0))
        } else {
            (a, sample(24_000 + i * 1024, 20, true))
        };
        let off = mux.push(track, s).unwrap();
        file.write_at(off, &vec![0xAB; s.size as usize]);
    }
    let finished = mux.finish().unwrap();
    file.finish(&finished);
    (file.bytes, finished)
}

#[test]
fn snapshot_av_file_with_late_audio() {
    let (bytes, _) = av_file();
    insta::assert_snapshot!(bmff_boxes::dump::dump(&bytes).unwrap());
}

#[test]
fn av_timing_fields() {
    let (_, finished) = av_file();
    let m = parse_moov(&finished.tail);
    assert_eq!(m.next_track_id, 3);
    let (v, a) = (&m.tracks[0], &m.tracks[1]);
    // Video: 20 x 3000 at 90 kHz = 666.7 ms -> 667 in the movie timescale.
    assert_eq!(v.mdhd_duration, 60_000);
    assert_eq!(v.elst, Some(vec![(667, 0, 1)]));
    assert_eq!(v.tkhd_duration, 667);
    assert_eq!((v.width, v.height, v.volume), (640 << 16, 360 << 16, 0));
    assert_eq!(&v.handler, b"vide");
    assert_eq!(v.tkhd_flags, 0x3);
    // Audio: starts 500 ms late -> empty edit 500; 8 x 1024 at 48 kHz = 170.7 ms -> 171.
    assert_eq!(a.mdhd_duration, 8192);
    assert_eq!(a.elst, Some(vec![(500, -1, 1), (171, 0, 1)]));
    // tkhd duration is in the movie timescale (1000), not the audio's 48000.
    assert_eq!(a.tkhd_duration, 671);
    assert_eq!((a.width, a.height, a.volume), (0, 0, 0x0100));
    assert_eq!(&a.handler, b"soun");
    assert_eq!(a.language, "und");
    assert_eq!(m.duration, 671);
    // Keyframes only where pushed; all audio frames are sync, so no stss.
    assert!(v.has_stss && !a.has_stss);
    let syncs: Vec<bool> = v.samples.iter().map(|s| s.is_sync).collect();
    assert_eq!(syncs, (0..20).map(|i| i % 5 == 0).collect::<Vec<_>>());
    // Interleaved from 0.5 s: video frames 15.. and audio alternate in the file.
    assert!(v.chunk_count > 1 && a.chunk_count > 1);
    // Audio sizes are all 20: constant stsz.
    assert!(a.stsz_constant && !v.stsz_constant);
}

#[test]
fn mdat_patch_covers_the_sample_data() {
    let (bytes, finished) = av_file();
    let data: u64 = (0..20).map(|i| 100 + i).sum::<u64>() + 8 * 20;
    let p = &finished.patches[0];
    assert_eq!(p.offset, 32 + 8); // after the 32-byte ftyp and the mdat size/type
    assert_eq!(&p.bytes[..], &(16 + data).to_be_bytes()[..]);
    assert_eq!(
        bytes.len() as u64,
        32 + 16 + data + finished.tail.len() as u64
    );
}

#[test]
fn last_sample_duration_rules() {
    // More than one sample: the previous sample's duration.
    let mut mux = Mp4Muxer::new(MuxerOptions::default());
    let a = audio(&mut mux, NonZeroU32::new(999));
    mux.start().unwrap();
    mux.push(a, sample(0, 10, true)).unwrap();
    mux.push(a, sample(1024, 10, true)).unwrap();
    mux.push(a, sample(3072, 10, true)).unwrap();
    let t = &parse_moov(&mux.finish().unwrap().tail).tracks[0];
    let d: Vec<u32> = t.samples.iter().map(|s| s.duration).collect();
    assert_eq!(d, vec![1024, 2048, 2048]);
    assert_eq!(t.mdhd_duration, 5120);

    // A single sample: the configured default; without one, 1 (never 0).
    for (default, want) in [(NonZeroU32::new(1024), 1024), (None, 1)] {
        let mut mux = Mp4Muxer::new(MuxerOptions::default());
        let a = audio(&mut mux, default);
        mux.start().unwrap();
        mux.push(a, sample(5, 10, true)).unwrap();
        let t = &parse_moov(&mux.finish().unwrap().tail).tracks[0];
        assert_eq!(t.samples[0].duration, want);
        assert_eq!(t.mdhd_duration, u64::from(want));
    }
}

#[test]
fn b_frames_set_media_time_and_ctts() {
    // I P B B at 90 kHz, 3000 per frame, presentation delayed by 2 frames.
    let mut mux = Mp4Muxer::new(MuxerOptions::default());
    let v = video(&mut mux);
    mux.start().unwrap();
    for (i, cts) in [6000, 12_000, 3000, 6000].into_iter().enumerate() {
        let s = SampleInfo {
            dts: i as u64 * 3000,
            cts_offset: cts,
            size: 10,
            is_sync: i == 0,
        };
        mux.push(v, s).unwrap();
    }
    let t = &parse_moov(&mux.finish().unwrap().tail).tracks[0];
    // Composition times (dts + offset): 6000, 15000, 9000, 15000; the earliest is 6000.
    // The media edit starts there, so the first frame shows at movie time 0.
    assert_eq!(t.elst, Some(vec![(133, 6000, 1)]));
    assert!(t.has_ctts);
    assert_eq!(t.ctts_version, 0);
    let cts: Vec<i32> = t.samples.iter().map(|s| s.cts_offset).collect();
    assert_eq!(cts, vec![6000, 12_000, 3000, 6000]);
}

#[test]
fn new_sample_entry_changes_stsc_index() {
    let mut mux = Mp4Muxer::new(MuxerOptions::default());
    let v = video(&mut mux);
    mux.start().unwrap();
    mux.push(v, sample(0, 10, true)).unwrap();
    mux.push(v, sample(3000, 10, false)).unwrap();
    assert_eq!(mux.add_sample_entry(v, fake_entry(b'w')).unwrap(), 2);
    mux.push(v, sample(6000, 10, true)).unwrap();
    mux.push(v, sample(9000, 10, false)).unwrap();
    let t = &parse_moov(&mux.finish().unwrap().tail).tracks[0];
    assert_eq!(
        t.stsd_entries,
        vec![fake_entry(b'v').to_vec(), fake_entry(b'w').to_vec()]
    );
    // Contiguous data, but a new entry starts a new chunk.
    assert_eq!(t.chunk_count, 2);
    let sdi: Vec<u32> = t.samples.iter().map(|s| s.sdi).collect();
    assert_eq!(sdi, vec![1, 1, 2, 2]);
}

#[test]
fn offsets_past_4_gib_use_co64() {
    let mut mux = Mp4Muxer::new(MuxerOptions::default());
    let v = video(&mut mux);
    let a = audio(&mut mux, None);
    mux.start().unwrap();
    let o1 = mux.push(v, sample(0, u32::MAX, true)).unwrap();
    let o2 = mux.push(a, sample(0, 100, true)).unwrap();
    let o3 = mux.push(v, sample(3000, 5, true)).unwrap();
    assert_eq!(
        (o1, o2, o3),
        (48, 48 + u64::from(u32::MAX), 148 + u64::from(u32::MAX))
    );
    let f = mux.finish().unwrap();
    assert_eq!(
        &f.patches[0].bytes[..],
        &(16 + u64::from(u32::MAX) + 105).to_be_bytes()[..]
    );
    let m = parse_moov(&f.tail);
    assert!(m.tracks[0].co64 && m.tracks[1].co64);
    assert_eq!(m.tracks[0].samples[1].offset, o3);
    assert_eq!(m.tracks[1].samples[0].offset, o2);
}

#[test]
fn errors() {
    let mut mux = Mp4Muxer::new(MuxerOptions::default());
    let v = video(&mut mux);
    assert_eq!(mux.push(v, sample(0, 1, true)), Err(Error::NotStarted));
    let bad = TrackConfig {
        kind: TrackKind::Audio,
        timescale_hz: 0,
        sample_entry: fake_entry(b'a'),
        default_sample_duration: None,
    };
    assert_eq!(
        mux.add_track(bad.clone()),
        Err(Error::ZeroTimescale { track: 2 })
    );
    mux.start().unwrap();
    assert_eq!(mux.start(), Err(Error::AlreadyStarted));
    assert_eq!(mux.add_track(bad), Err(Error::AlreadyStarted));
    let ghost = TrackId(NonZeroU32::new(7).unwrap());
    assert_eq!(
        mux.push(ghost, sample(0, 1, true)),
        Err(Error::UnknownTrack(7))
    );
    assert_eq!(
        mux.add_sample_entry(ghost, fake_entry(b'x')),
        Err(Error::UnknownTrack(7))
    );
    mux.push(v, sample(100, 1, true)).unwrap();
    assert_eq!(
        mux.push(v, sample(99, 1, true)),
        Err(Error::NonMonotonicTimestamp {
            track: 1,
            prev: 100,
            got: 99
        })
    );
    let far = 100 + u64::from(u32::MAX) + 1;
    assert_eq!(
        mux.push(v, sample(far, 1, true)),
        Err(Error::SampleDurationTooLong {
            track: 1,
            duration: far - 100
        })
    );
    // Refused pushes leave no trace.
    assert_eq!(mux.file_len(), 48 + 1);
    let t = &parse_moov(&mux.finish().unwrap().tail).tracks[0];
    assert_eq!(t.samples.len(), 1);

    let mut mux = Mp4Muxer::new(MuxerOptions {
        movie_timescale_hz: 0,
        creation_time_1904: 0,
    });
    assert_eq!(mux.start(), Err(Error::ZeroMovieTimescale));
    assert!(matches!(mux.finish(), Err(Error::NotStarted)));
}

#[test]
fn track_without_samples_has_no_edits() {
    let mut mux = Mp4Muxer::new(MuxerOptions {
        movie_timescale_hz: 600,
        creation_time_1904: 5,
    });
    let v = video(&mut mux);
    let _a = audio(&mut mux, None);
    mux.start().unwrap();
    mux.push(v, sample(90_000, 1, true)).unwrap();
    let m = parse_moov(&mux.finish().unwrap().tail);
    assert_eq!(m.timescale, 600);
    // One sample of 3000/90000 s = 20 units of 1/600 s; the video starts the movie.
    assert_eq!(m.tracks[0].elst, Some(vec![(20, 0, 1)]));
    assert_eq!(m.duration, 20);
    assert_eq!(m.tracks[1].elst, None);
    assert_eq!(
        (m.tracks[1].tkhd_duration, m.tracks[1].samples.len()),
        (0, 0)
    );
}
