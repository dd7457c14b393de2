//! Property test: random sample sequences over 1-3 tracks, muxed, then the `moov` tables
//! expanded back into per-sample values and compared with what was pushed.

mod common;

use std::num::NonZeroU32;

use bytes::Bytes;
use mp4_track::{Mp4Muxer, MuxerOptions, SampleInfo, TrackConfig, TrackId, TrackKind};
use proptest::prelude::*;

#[derive(Clone, Debug)]
enum Op {
    /// Push `repeat` consecutive samples on a track, `dt` apart.
    Push {
        track: usize,
        repeat: u8,
        dt: u32,
        size: u32,
        sync: bool,
        cts: i32,
    },
    /// Switch a track to a new sample entry.
    NewEntry { track: usize },
}

fn op() -> impl Strategy<Value = Op> {
    let size = prop_oneof![
        30 => 0u32..3000,
        1 => (u32::MAX - 1000)..=u32::MAX, // pushes offsets past 4 GiB: co64
    ];
    let cts = prop_oneof![3 => Just(0i32), 1 => -3000i32..6000];
    prop_oneof![
        20 => (0usize..3, 1u8..5, 1u32..=5000, size, any::<bool>(), cts)
            .prop_map(|(track, repeat, dt, size, sync, cts)| Op::Push { track, repeat, dt, size, sync, cts }),
        1 => (0usize..3).prop_map(|track| Op::NewEntry { track }),
    ]
}

/// A distinct opaque sample entry per (track, index).
fn entry(track: usize, index: u32) -> Bytes {
    let mut v = vec![0, 0, 0, 12];
    v.extend_from_slice(b"fake");
    v.extend_from_slice(&[track as u8, index as u8, 0, 0]);
    Bytes::from(v)
}

/// What the test pushed, per sample.
#[derive(Clone, Copy, Debug)]
struct Pushed {
    dts: u64,
    cts: i32,
    size: u32,
    sync: bool,
    sdi: u32,
    offset: u64,
    starts_chunk: bool,
}

fn round_div(num: u128, den: u128) -> u128 {
    (2 * num + den) / (2 * den)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn tables_expand_to_pushed_samples(
        n_tracks in 1usize..=3,
        bases in proptest::collection::vec(0u64..2_000_000, 3),
        ops in proptest::collection::vec(op(), 0..120),
    ) {
        let timescales = [90_000u32, 48_000, 1000];
        let defaults = [NonZeroU32::new(3000), None, NonZeroU32::new(7)];
        let mut mux = Mp4Muxer::new(MuxerOptions::default());
        let ids: Vec<TrackId> = (0..n_tracks)
            .map(|i| {
                mux.add_track(TrackConfig {
                    kind: if i == 1 { TrackKind::Audio } else { TrackKind::Video { width: 640, height: 360 } },
                    timescale_hz: timescales[i],
                    sample_entry: entry(i, 1),
                    default_sample_duration: defaults[i],
                })
                .unwrap()
            })
            .collect();
        let start = mux.start().unwrap();
        let mdat_start = start.len() as u64 - 16;

        let mut pushed: Vec<Vec<Pushed>> = vec![Vec::new(); n_tracks];
        let mut next_dts: Vec<u64> = bases[..n_tracks].to_vec();
        let mut sdi = vec![1u32; n_tracks];
        // Expected chunk count: a sample starts a chunk unless it directly follows the
        // previous sample of its track in the file with the same entry.
        let mut chunks = vec![0usize; n_tracks];
        let mut expected_len = start.len() as u64;
        for op in ops {
            match op {
                Op::NewEntry { track } => {
                    let t = track % n_tracks;
                    sdi[t] += 1;
                    prop_assert_eq!(mux.add_sample_entry(ids[t], entry(t, sdi[t])).unwrap(), sdi[t]);
                }
                Op::Push { track, repeat, dt, size, sync, cts } => {
                    let t = track % n_tracks;
                    for _ in 0..repeat {
                        let dts = next_dts[t];
                        next_dts[t] += u64::from(dt);
                        let offset = mux
                            .push(ids[t], SampleInfo { dts, cts_offset: cts, size, is_sync: sync })
                            .unwrap();
                        prop_assert_eq!(offset, expected_len);
                        expected_len += u64::from(size);
                        prop_assert_eq!(mux.file_len(), expected_len);
                        let continues = pushed[t].last().is_some_and(|p: &Pushed| {
                            p.offset + u64::from(p.size) == offset && p.sdi == sdi[t]
                        });
                        if !continues {
                            chunks[t] += 1;
                        }
                        pushed[t].push(Pushed {
                            dts,
                            cts,
                            size,
                            sync,
                            sdi: sdi[t],
                            offset,
                            starts_chunk: !continues,
                        });
                    }
                }
            }
        }
        // Out-of-order dts is refused and changes nothing.
        if let Some(last) = pushed[0].last() {
            let err = mux.push(ids[0], SampleInfo { dts: last.dts, cts_offset: 0, size: 1, is_sync: true });
            prop_assert_eq!(err, Err(mp4_track::Error::NonMonotonicTimestamp { track: 1, prev: last.dts, got: last.dts }));
            prop_assert_eq!(mux.file_len(), expected_len);
        }

        let finished = mux.finish().unwrap();
        // The mdat patch: 64-bit largesize covering everything up to the moov.
        prop_assert_eq!(finished.patches.len(), 1);
        prop_assert_eq!(finished.patches[0].offset, mdat_start + 8);
        prop_assert_eq!(&finished.patches[0].bytes[..], &(expected_len - mdat_start).to_be_bytes()[..]);

        let movie = common::parse_moov(&finished.tail);
        prop_assert_eq!(movie.timescale, 1000);
        prop_assert_eq!(movie.next_track_id, n_tracks as u32 + 1);
        prop_assert_eq!(movie.tracks.len(), n_tracks);

        // Track starts in the movie timescale, for the edit-list check.
        let starts: Vec<Option<u128>> = (0..n_tracks)
            .map(|t| {
                let first = pushed[t].first()?;
                let min_ct = pushed[t].iter().map(|p| (p.dts - first.dts) as i64 + i64::from(p.cts)).min()?;
                let media_time = min_ct.max(0) as u64;
                Some(round_div(u128::from(first.dts + media_time) * 1000, u128::from(timescales[t])))
            })
            .collect();
        let movie_start = starts.iter().flatten().min().copied();
        let mut max_track_duration = 0;

        for (t, track) in movie.tracks.iter().enumerate() {
            let p = &pushed[t];
            prop_assert_eq!(track.track_id, t as u32 + 1);
            prop_assert_eq!(track.timescale, timescales[t]);
            prop_assert_eq!(track.stsd_entries.len() as u32, sdi[t]);
            for (i, e) in track.stsd_entries.iter().enumerate() {
                prop_assert_eq!(&e[..], &entry(t, i as u32 + 1)[..]);
            }
            prop_assert_eq!(track.samples.len(), p.len());
            prop_assert_eq!(track.chunk_count, chunks[t]);
            for (i, (got, want)) in track.samples.iter().zip(p).enumerate() {
                let duration = match p.get(i + 1) {
                    Some(next) => (next.dts - want.dts) as u32,
                    None if i > 0 => (want.dts - p[i - 1].dts) as u32,
                    None => defaults[t].map_or(1, NonZeroU32::get),
                };
                prop_assert_eq!(got.duration, duration, "track {} sample {}", t, i);
                prop_assert_eq!(got.cts_offset, want.cts);
                prop_assert_eq!(got.size, want.size);
                prop_assert_eq!(got.is_sync, want.sync);
                prop_assert_eq!(got.sdi, want.sdi);
                prop_assert_eq!(got.offset, want.offset);
            }
            // Optional boxes appear exactly when needed.
            prop_assert_eq!(track.has_ctts, p.iter().any(|s| s.cts != 0));
            prop_assert_eq!(track.ctts_version == 1, p.iter().any(|s| s.cts < 0));
            prop_assert_eq!(track.has_stss, !p.iter().all(|s| s.sync));
            let all_equal = p.first().is_some_and(|f| f.size != 0 && p.iter().all(|s| s.size == f.size));
            prop_assert_eq!(track.stsz_constant, all_equal);
            prop_assert_eq!(
                track.co64,
                p.iter().any(|s| s.starts_chunk && s.offset > u64::from(u32::MAX))
            );

            // Durations: mdhd in the media timescale, tkhd = sum of edits in the movie's.
            let media_duration: u64 = track.samples.iter().map(|s| u64::from(s.duration)).sum();
            prop_assert_eq!(track.mdhd_duration, media_duration);
            match (&track.elst, starts[t], movie_start) {
                (Some(elst), Some(start), Some(movie_start)) => {
                    let sum: u64 = elst.iter().map(|e| e.0).sum();
                    prop_assert_eq!(track.tkhd_duration, sum);
                    let media = elst.last().unwrap();
                    let segment = round_div(u128::from(media_duration) * 1000, u128::from(timescales[t])).max(1);
                    prop_assert_eq!(u128::from(media.0), segment);
                    prop_assert_eq!(media.2, 1);
                    let empty = start - movie_start;
                    if empty > 0 {
                        prop_assert_eq!(elst.len(), 2);
                        prop_assert_eq!((u128::from(elst[0].0), elst[0].1), (empty, -1));
                    } else {
                        prop_assert_eq!(elst.len(), 1);
                    }
                }
                (None, None, _) => prop_assert_eq!(track.tkhd_duration, 0),
                other => prop_assert!(false, "edit list mismatch: {:?}", other),
            }
            max_track_duration = max_track_duration.max(track.tkhd_duration);
        }
        prop_assert_eq!(movie.duration, max_track_duration);
    }
}
