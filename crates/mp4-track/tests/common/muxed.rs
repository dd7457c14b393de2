//! The muxed input of the property tests: random sample sequences over 1-3 tracks pushed
//! through a `FragmentedMuxer` into an in-memory file, with the finalize plan.

use std::num::NonZeroU32;

use bytes::Bytes;
use mp4_track::{FragmentedMuxer, FragmentedOptions, SampleInfo, TrackConfig, TrackId, TrackKind};
use proptest::prelude::*;

use super::fragments::{self, FragSample, Parsed, SimFile, by_track, parse_file};

#[derive(Clone, Debug)]
pub struct Op {
    pub track: usize,
    pub repeat: u8,
    pub dt: u32,
    pub size: u32,
    pub sync: bool,
    pub cts: i32,
}

pub fn op() -> impl Strategy<Value = Op> {
    let cts = prop_oneof![3 => Just(0i32), 1 => -3000i32..6000];
    (
        0usize..3,
        1u8..5,
        1u32..=5000,
        0u32..600,
        any::<bool>(),
        cts,
    )
        .prop_map(|(track, repeat, dt, size, sync, cts)| Op {
            track,
            repeat,
            dt,
            size,
            sync,
            cts,
        })
}

pub const TIMESCALES: [u32; 3] = [90_000, 48_000, 1000];
pub const DEFAULTS: [Option<NonZeroU32>; 3] = [NonZeroU32::new(3000), None, NonZeroU32::new(7)];

/// One pushed sample, with its data.
#[derive(Clone, Debug)]
pub struct Pushed {
    pub info: SampleInfo,
    pub data: Bytes,
}

/// Distinct content per sample, so a wrong offset shows.
pub fn data(index: usize, size: u32) -> Bytes {
    (0..size)
        .map(|k| (index as u32 * 7 + k) as u8)
        .collect::<Vec<u8>>()
        .into()
}

pub struct Built {
    /// The finished fragmented file (before finalization).
    pub file: SimFile,
    pub pushed: Vec<Vec<Pushed>>,
    pub plan: mp4_track::Finalize,
    /// (offset, end) of each fragment.
    pub fragments: Vec<(u64, u64)>,
    /// Length of each fragment's header (`moof` and `mdat` header).
    pub header_lens: Vec<u64>,
    pub init_end: u64,
}

pub fn build(
    n_tracks: usize,
    bases: &[u64],
    ops: &[Op],
    fragment_duration_ms: u32,
    reserve_bytes: u64,
) -> Built {
    let mut mux = FragmentedMuxer::new(FragmentedOptions {
        movie_timescale_hz: 1000,
        creation_time_1904: 3_900_000_000,
        fragment_duration_ms,
        reserve_bytes,
        user_data: Vec::new(),
    });
    let ids: Vec<TrackId> = (0..n_tracks)
        .map(|i| {
            mux.add_track(TrackConfig {
                kind: if i == 1 {
                    TrackKind::Audio
                } else {
                    TrackKind::Video {
                        width: 640,
                        height: 360,
                    }
                },
                timescale_hz: TIMESCALES[i],
                sample_entry: Bytes::from(vec![0, 0, 0, 9, b'f', b'a', b'k', b'e', i as u8]),
                default_sample_duration: DEFAULTS[i],
            })
            .unwrap()
        })
        .collect();
    let mut file = SimFile::default();
    let start = mux.start().unwrap();
    let init_end = start.len() as u64;
    file.write_at(0, start);
    let mut pushed: Vec<Vec<Pushed>> = vec![Vec::new(); n_tracks];
    let mut next_dts = bases[..n_tracks].to_vec();
    let mut fragments = Vec::new();
    let mut header_lens = Vec::new();
    let mut count = 0;
    let mut write = |f: mp4_track::Fragment, file: &mut SimFile| {
        header_lens.push(f.header.len() as u64);
        assert_eq!(f.sequence_number as usize, fragments.len() + 1);
        // The header is a `moof` then the `mdat` header, whose declared size covers
        // exactly the data handed out with it.
        let h = &f.header;
        let moof_len = u32::from_be_bytes(h[..4].try_into().unwrap()) as usize;
        assert_eq!(&h[4..8], b"moof");
        let mdat = &h[moof_len..];
        assert_eq!(&mdat[4..8], b"mdat");
        let mdat_len = match u32::from_be_bytes(mdat[..4].try_into().unwrap()) {
            1 => u64::from_be_bytes(mdat[8..16].try_into().unwrap()),
            n => u64::from(n),
        };
        let data_len: u64 = f.data.iter().map(|d| d.len() as u64).sum();
        assert_eq!(mdat_len, mdat.len() as u64 + data_len);
        file.append_fragment(&f);
        fragments.push((f.offset, f.end_offset()));
    };
    for op in ops {
        let t = op.track % n_tracks;
        for _ in 0..op.repeat {
            let info = SampleInfo {
                dts: next_dts[t],
                cts_offset: op.cts,
                size: op.size,
                is_sync: op.sync,
            };
            next_dts[t] += u64::from(op.dt);
            let d = data(count, op.size);
            count += 1;
            mux.push(ids[t], info, d.clone()).unwrap();
            pushed[t].push(Pushed { info, data: d });
            while let Some(f) = mux.poll_fragment() {
                write(f, &mut file);
            }
        }
    }
    while let Some(f) = mux.flush() {
        write(f, &mut file);
    }
    assert_eq!(mux.file_len(), file.len);
    let plan = mux.finalize().unwrap();
    Built {
        file,
        pushed,
        plan,
        fragments,
        header_lens,
        init_end,
    }
}

/// Expected duration of each pushed sample: up to the next one; the last one gets the
/// previous duration, else the default, else 1.
pub fn durations(p: &[Pushed], default: Option<NonZeroU32>) -> Vec<u32> {
    (0..p.len())
        .map(|i| match p.get(i + 1) {
            Some(next) => (next.info.dts - p[i].info.dts) as u32,
            None if i > 0 => (p[i].info.dts - p[i - 1].info.dts) as u32,
            None => default.map_or(1, NonZeroU32::get),
        })
        .collect()
}

pub fn check_data(file: &SimFile, offset: u64, want: &Bytes) -> Result<(), TestCaseError> {
    prop_assert_eq!(&file.read(offset, want.len() as u64)[..], &want[..]);
    Ok(())
}

/// The fragmented file holds exactly the pushed samples. Returns them per track, and the
/// number of fragments each track has samples in.
pub fn check_fragmented(b: &Built) -> Result<(Vec<Vec<FragSample>>, Vec<usize>), TestCaseError> {
    let (tracks, fragments) = match parse_file(&b.file) {
        Ok(Parsed::Fragmented { tracks, fragments }) => (tracks, fragments),
        other => return Err(TestCaseError::fail(format!("not fragmented: {other:?}"))),
    };
    prop_assert_eq!(fragments.len(), b.fragments.len());
    let got = by_track(tracks, &fragments);
    for (t, (g, p)) in got.iter().zip(&b.pushed).enumerate() {
        prop_assert_eq!(g.len(), p.len(), "track {}", t);
        let d = durations(p, DEFAULTS[t]);
        for (i, (g, p)) in g.iter().zip(p).enumerate() {
            prop_assert_eq!(g.dts, p.info.dts, "track {} sample {}", t, i);
            prop_assert_eq!(g.duration, d[i], "track {} sample {}", t, i);
            prop_assert_eq!(g.cts_offset, p.info.cts_offset);
            prop_assert_eq!(g.size, p.info.size);
            prop_assert_eq!(g.is_sync, p.info.is_sync);
            check_data(&b.file, g.offset, &p.data)?;
        }
    }
    let chunks = (0..tracks)
        .map(|t| fragments.iter().filter(|f| !f[t].is_empty()).count())
        .collect();
    Ok((got, chunks))
}

fn round_div(num: u128, den: u128) -> u128 {
    (2 * num + den) / (2 * den)
}

/// The finalized file is progressive and holds exactly the pushed samples at the
/// fragments' offsets, with the edit lists of the shared timeline.
pub fn check_final(
    b: &Built,
    file: &SimFile,
    frag: &[Vec<FragSample>],
    chunks: &[usize],
) -> Result<(), TestCaseError> {
    let plan = &b.plan;
    prop_assert_eq!(file.len, plan.file_len);
    let Ok(Parsed::Progressive { movie, moov_offset }) = parse_file(file) else {
        return Err(TestCaseError::fail("final file is not progressive"));
    };
    let top = fragments::top_level(file).unwrap();
    let first_mdat = top.iter().find(|t| &t.fourcc == b"mdat").map(|t| t.offset);
    prop_assert_eq!(
        plan.moov_at_front,
        plan.moov_bytes + 16 <= plan.reserved_bytes
    );
    if plan.moov_at_front {
        // [ftyp][free 8][moov]
        prop_assert_eq!(&top[1].fourcc, b"free");
        prop_assert_eq!(top[1].size, 8);
        prop_assert_eq!(moov_offset, top[1].offset + 8);
        prop_assert!(first_mdat.is_none_or(|m| moov_offset < m));
    } else {
        prop_assert_eq!(moov_offset + plan.moov_bytes, file.len);
    }
    prop_assert_eq!(movie.tracks.len(), b.pushed.len());
    let starts: Vec<Option<u128>> = b
        .pushed
        .iter()
        .enumerate()
        .map(|(t, p)| {
            let first = p.first()?.info.dts;
            let min_ct = p
                .iter()
                .map(|s| (s.info.dts - first) as i64 + i64::from(s.info.cts_offset))
                .min()?;
            let media_time = min_ct.max(0) as u64;
            Some(round_div(
                u128::from(first + media_time) * 1000,
                u128::from(TIMESCALES[t]),
            ))
        })
        .collect();
    let movie_start = starts.iter().flatten().min().copied();
    for (t, track) in movie.tracks.iter().enumerate() {
        let p = &b.pushed[t];
        prop_assert_eq!(track.track_id, t as u32 + 1);
        prop_assert_eq!(track.timescale, TIMESCALES[t]);
        prop_assert_eq!(track.samples.len(), p.len());
        let d = durations(p, DEFAULTS[t]);
        for (i, (s, want)) in track.samples.iter().zip(p).enumerate() {
            prop_assert_eq!(s.duration, d[i], "track {} sample {}", t, i);
            prop_assert_eq!(s.cts_offset, want.info.cts_offset);
            prop_assert_eq!(s.size, want.info.size);
            prop_assert_eq!(s.is_sync, want.info.is_sync);
            prop_assert_eq!(s.sdi, 1);
            prop_assert_eq!(s.offset, frag[t][i].offset);
            check_data(file, s.offset, &want.data)?;
        }
        // One chunk per track per fragment that has its samples.
        prop_assert_eq!(track.chunk_count, chunks[t]);
        match (&track.elst, starts[t], movie_start) {
            (Some(elst), Some(start), Some(movie_start)) => {
                let empty = start - movie_start;
                if empty > 0 {
                    prop_assert_eq!(elst.len(), 2);
                    prop_assert_eq!((u128::from(elst[0].0), elst[0].1), (empty, -1));
                } else {
                    prop_assert_eq!(elst.len(), 1);
                }
            }
            (None, None, _) => {}
            other => prop_assert!(false, "edit list mismatch: {:?}", other),
        }
    }
    Ok(())
}

pub fn fragment_duration() -> impl Strategy<Value = u32> {
    prop_oneof![Just(0u32), Just(1), Just(40), Just(500), Just(2000)]
}

pub fn reserve() -> impl Strategy<Value = u64> {
    prop_oneof![Just(0u64), Just(16), Just(300), Just(2000), Just(100_000)]
}
