//! The fragmented muxer on fixed inputs: where fragments are cut, the shared timeline,
//! files past 4 GiB, snapshots of both forms, recovery of damaged and half-finalized
//! files, and API misuse.

mod common;

use std::num::NonZeroU32;

use bmff_boxes::{Encode, Mfhd, Moof, Tfhd, Traf, Trun, TrunFields, TrunSample};
use bytes::{Bytes, BytesMut};
use common::fragments::{Parsed, SimFile, by_track, parse_file, top_level};
use mp4_track::{
    Error, FinalizeStep, Fragment, FragmentedMuxer, FragmentedOptions, Mp4Muxer, MuxerOptions,
    Recovered, RecoveryError, SampleInfo, TrackConfig, TrackId, TrackKind,
};

fn video_config() -> TrackConfig {
    TrackConfig {
        kind: TrackKind::Video {
            width: 640,
            height: 360,
        },
        timescale_hz: 90_000,
        sample_entry: Bytes::from_static(b"\0\0\0\x09fakev"),
        default_sample_duration: NonZeroU32::new(3000),
    }
}

fn audio_config() -> TrackConfig {
    TrackConfig {
        kind: TrackKind::Audio,
        timescale_hz: 48_000,
        sample_entry: Bytes::from_static(b"\0\0\0\x09fakea"),
        default_sample_duration: NonZeroU32::new(1024),
    }
}

fn options(fragment_duration_ms: u32, reserve_bytes: u64) -> FragmentedOptions {
    FragmentedOptions {
        movie_timescale_hz: 1000,
        creation_time_1904: 0,
        fragment_duration_ms,
        reserve_bytes,
        user_data: Vec::new(),
    }
}

fn sample(dts: u64, size: u32, is_sync: bool) -> SampleInfo {
    SampleInfo {
        dts,
        cts_offset: 0,
        size,
        is_sync,
    }
}

/// Pushes `(track, sample)` in order, writing fragments as they come; then flushes.
fn record(
    mux: &mut FragmentedMuxer,
    file: &mut SimFile,
    samples: &[(TrackId, SampleInfo)],
) -> Vec<Fragment> {
    let mut out = Vec::new();
    for &(track, s) in samples {
        let data = Bytes::from(vec![0xA5; s.size as usize]);
        mux.push(track, s, data).unwrap();
        while let Some(f) = mux.poll_fragment() {
            file.append_fragment(&f);
            out.push(f);
        }
    }
    while let Some(f) = mux.flush() {
        file.append_fragment(&f);
        out.push(f);
    }
    out
}

/// 30 fps video from t=0 with a keyframe every `gop` frames, and 48 kHz AAC from
/// `audio_start_s`, both for `seconds`, in timeline order.
fn av_samples(
    v: TrackId,
    a: Option<TrackId>,
    seconds: u64,
    gop: u64,
    audio_start_s: f64,
) -> Vec<(TrackId, SampleInfo)> {
    let mut events: Vec<(f64, TrackId, SampleInfo)> = (0..seconds * 30)
        .map(|i| (i as f64 / 30.0, v, sample(i * 3000, 100, i % gop == 0)))
        .collect();
    if let Some(a) = a {
        let start = (audio_start_s * 48_000.0) as u64;
        let n = ((seconds as f64 - audio_start_s) * 48_000.0 / 1024.0) as u64;
        events.extend((0..n).map(|i| {
            let dts = start + i * 1024;
            (dts as f64 / 48_000.0, a, sample(dts, 20, true))
        }));
    }
    events.sort_by(|x, y| x.0.total_cmp(&y.0));
    events.into_iter().map(|(_, t, s)| (t, s)).collect()
}

fn started(
    opts: FragmentedOptions,
    audio: bool,
) -> (FragmentedMuxer, SimFile, TrackId, Option<TrackId>) {
    let mut mux = FragmentedMuxer::new(opts);
    let v = mux.add_track(video_config()).unwrap();
    let a = audio.then(|| mux.add_track(audio_config()).unwrap());
    let mut file = SimFile::default();
    file.write_at(0, mux.start().unwrap());
    (mux, file, v, a)
}

#[test]
fn fragments_start_at_the_first_keyframe_after_the_target_duration() {
    // Keyframes every 0.5 s, 1.2 s target: fragments start at 0, 1.5, 3.0, 4.5 s.
    let (mut mux, mut file, v, a) = started(options(1200, 0), true);
    let frags = record(&mut mux, &mut file, &av_samples(v, a, 5, 15, 0.0));
    let video_starts: Vec<u64> = frags
        .iter()
        .map(|f| f.tracks[0].base_media_decode_time)
        .collect();
    assert_eq!(video_starts, vec![0, 135_000, 270_000, 405_000]);
    let video_counts: Vec<u32> = frags.iter().map(|f| f.tracks[0].sample_count).collect();
    assert_eq!(video_counts, vec![45, 45, 45, 15]);
    // Audio goes with the video up to the cut; each audio run starts where the last ended.
    let audio: Vec<_> = frags.iter().map(|f| f.tracks[1]).collect();
    for w in audio.windows(2) {
        assert_eq!(
            w[0].base_media_decode_time + w[0].duration,
            w[1].base_media_decode_time
        );
    }
    // Cut at 1.5 s = 72000 at 48 kHz. Audio frames 0..=70 start before it, but frame 70
    // (71680) is the last audio pushed when the keyframe arrives: its duration is not
    // known yet, so it opens fragment 2.
    assert_eq!(audio[1].base_media_decode_time, 70 * 1024);
    assert_eq!(audio[0].sample_count, 70);
    let Ok(Parsed::Fragmented { tracks, fragments }) = parse_file(&file) else {
        panic!("not fragmented");
    };
    assert_eq!(by_track(tracks, &fragments)[0].len(), 150);
    assert!(fragments.iter().all(|f| f[0][0].is_sync));
}

#[test]
fn without_keyframes_fragments_are_cut_at_twice_the_target() {
    // A single keyframe at 0, 1 s target: cut at the first sample at or after 2 s.
    let (mut mux, mut file, v, _) = started(options(1000, 0), false);
    let frags = record(&mut mux, &mut file, &av_samples(v, None, 5, 1000, 0.0));
    let starts: Vec<u64> = frags
        .iter()
        .map(|f| f.tracks[0].base_media_decode_time)
        .collect();
    assert_eq!(starts, vec![0, 180_000, 360_000]);
    let Ok(Parsed::Fragmented { fragments, .. }) = parse_file(&file) else {
        panic!("not fragmented");
    };
    assert!(!fragments[1][0][0].is_sync);
}

#[test]
fn audio_only_fragments_are_cut_at_the_target() {
    let mut mux = FragmentedMuxer::new(options(1000, 0));
    let a = mux.add_track(audio_config()).unwrap();
    let mut file = SimFile::default();
    file.write_at(0, mux.start().unwrap());
    let samples: Vec<_> = (0..100u64)
        .map(|i| (a, sample(i * 1024, 10, true)))
        .collect();
    let frags = record(&mut mux, &mut file, &samples);
    let counts: Vec<u32> = frags.iter().map(|f| f.tracks[0].sample_count).collect();
    // 1 s = 46.875 frames: the 48th frame (47 * 1024 >= 48000) starts the next fragment.
    assert_eq!(counts, vec![47, 47, 6]);
    // The flushed last sample gets the previous duration.
    assert_eq!(frags[2].tracks[0].duration, 6 * 1024);
}

#[test]
fn a_late_audio_track_starts_late_in_both_forms() {
    // Video from 0, audio from 0.5 s.
    let (mut mux, mut file, v, a) = started(options(1000, 64 * 1024), true);
    let frags = record(&mut mux, &mut file, &av_samples(v, a, 3, 30, 0.5));
    let audio_first = frags.iter().find_map(|f| f.tracks.get(1)).unwrap();
    assert_eq!(audio_first.base_media_decode_time, 24_000);
    let plan = mux.finalize().unwrap();
    assert!(plan.moov_at_front);
    file.apply_all(&plan.steps);
    let Ok(Parsed::Progressive { movie, .. }) = parse_file(&file) else {
        panic!("not progressive");
    };
    assert_eq!(movie.tracks[0].elst, Some(vec![(3000, 0, 1)]));
    // 117 AAC frames: 2496 ms.
    assert_eq!(movie.tracks[1].elst, Some(vec![(500, -1, 1), (2496, 0, 1)]));
}

#[test]
fn files_past_4_gib_get_co64_and_keep_the_moov_in_front() {
    // 300 samples of 16 MiB sharing one buffer: 4.7 GiB of file, 16 MiB of memory.
    let big = Bytes::from(vec![0x5A; 16 << 20]);
    // Keyframes every 0.5 s; 400 ms target (audio would cut at 800 ms without them).
    let (mut mux, mut file, v, a) = started(options(400, 64 * 1024), true);
    let (a, mut frags) = (a.unwrap(), 0);
    for i in 0..300u64 {
        mux.push(
            v,
            sample(i * 9000, big.len() as u32, i % 5 == 0),
            big.clone(),
        )
        .unwrap();
        mux.push(a, sample(i * 4800, 3, true), Bytes::from_static(b"aac"))
            .unwrap();
        while let Some(f) = mux.poll_fragment() {
            file.append_fragment(&f);
            frags += 1;
        }
    }
    while let Some(f) = mux.flush() {
        file.append_fragment(&f);
        frags += 1;
    }
    assert!(file.len > 300 * (16 << 20));
    assert_eq!(frags, 60); // keyframes every 0.5 s
    let plan = mux.finalize().unwrap();
    assert!(plan.moov_at_front);
    let mut done = file.clone();
    done.apply_all(&plan.steps);
    let Ok(Parsed::Progressive { movie, moov_offset }) = parse_file(&done) else {
        panic!("not progressive");
    };
    assert!(movie.tracks.iter().all(|t| t.co64));
    assert_eq!(movie.tracks[0].chunk_count, 60);
    assert!(movie.tracks[0].samples.last().unwrap().offset > u64::from(u32::MAX));
    let first_mdat = top_level(&done)
        .unwrap()
        .into_iter()
        .find(|b| &b.fourcc == b"mdat")
        .unwrap();
    assert!(moov_offset < first_mdat.offset);
    // Recovery of the unfinalized file plans the same.
    let Ok(Recovered::Fragmented(r)) = file.recover() else {
        panic!("recovery failed");
    };
    assert_eq!(r.finalize, plan);
}

#[test]
fn the_moov_goes_last_when_the_reserve_is_too_small() {
    let (mut mux, mut file, v, a) = started(options(500, 300), true);
    record(&mut mux, &mut file, &av_samples(v, a, 2, 15, 0.0));
    let fragmented_len = file.len;
    let plan = mux.finalize().unwrap();
    assert!(!plan.moov_at_front);
    assert_eq!(plan.reserved_bytes, 300);
    assert_eq!(plan.file_len, fragmented_len + plan.moov_bytes);
    // Order: append the moov, sync, hide the moofs (last first), sync, hide the init
    // moov (the commit), sync.
    let FinalizeStep::Write(first) = &plan.steps[0] else {
        panic!("first step is not a write");
    };
    assert_eq!(first.offset, fragmented_len);
    assert_eq!(plan.steps[1], FinalizeStep::Sync);
    let n = plan.steps.len();
    assert_eq!(plan.steps[n - 1], FinalizeStep::Sync);
    assert_eq!(plan.steps[n - 3], FinalizeStep::Sync);
    let FinalizeStep::Write(commit) = &plan.steps[n - 2] else {
        panic!("commit is not a write");
    };
    // The reserved box (after the 36-byte ftyp) grows over the init moov and moof 1.
    let top = top_level(&file).unwrap();
    assert_eq!(
        (&top[1].fourcc, &top[2].fourcc, &top[3].fourcc),
        (b"free", b"moov", b"moof")
    );
    let hidden = (top[1].size + top[2].size + top[3].size) as u32;
    assert_eq!(
        (commit.offset, &commit.bytes[..]),
        (36, &hidden.to_be_bytes()[..])
    );
    file.apply_all(&plan.steps);
    assert!(matches!(parse_file(&file), Ok(Parsed::Progressive { .. })));
}

/// A small A/V file: 6 video frames (keyframe every 3rd), 5 AAC frames from 0.1 s,
/// 100 ms fragments.
fn small_file(reserve: u64) -> (SimFile, mp4_track::Finalize) {
    let (mut mux, mut file, v, a) = started(options(100, reserve), true);
    let mut s = av_samples(v, a, 1, 3, 0.1);
    s.retain(|(t, x)| {
        if *t == v {
            x.dts < 6 * 3000
        } else {
            x.dts < 4800 + 5 * 1024
        }
    });
    record(&mut mux, &mut file, &s);
    let plan = mux.finalize().unwrap();
    (file, plan)
}

/// One second of A/V (keyframes every 0.1 s, audio from 0.1 s) in 100 ms fragments.
fn second_file(reserve: u64) -> (SimFile, mp4_track::Finalize) {
    let (mut mux, mut file, v, a) = started(options(100, reserve), true);
    record(&mut mux, &mut file, &av_samples(v, a, 1, 3, 0.1));
    let plan = mux.finalize().unwrap();
    (file, plan)
}

#[test]
fn snapshot_small_fragmented_file_and_its_finalized_form() {
    let (file, plan) = small_file(2048);
    insta::assert_snapshot!(
        "fragmented",
        bmff_boxes::dump::dump(&file.to_vec()).unwrap()
    );
    let mut done = file.clone();
    done.apply_all(&plan.steps);
    insta::assert_snapshot!("finalized", bmff_boxes::dump::dump(&done.to_vec()).unwrap());
}

#[test]
fn api_misuse_is_refused() {
    let mut mux = FragmentedMuxer::new(options(1000, 1 << 32));
    let v = mux.add_track(video_config()).unwrap();
    assert_eq!(
        mux.push(v, sample(0, 1, true), Bytes::from_static(b"x")),
        Err(Error::NotStarted)
    );
    assert_eq!(mux.start(), Err(Error::InvalidReserve { bytes: 1 << 32 }));
    let mut mux = FragmentedMuxer::new(options(1000, 0));
    let v = mux.add_track(video_config()).unwrap();
    mux.start().unwrap();
    assert_eq!(mux.add_track(audio_config()), Err(Error::AlreadyStarted));
    assert_eq!(
        mux.push(v, sample(0, 2, true), Bytes::from_static(b"x")),
        Err(Error::SizeMismatch {
            track: 1,
            size: 2,
            data_len: 1
        })
    );
    mux.push(v, sample(10, 1, true), Bytes::from_static(b"x"))
        .unwrap();
    assert_eq!(
        mux.push(v, sample(10, 1, true), Bytes::from_static(b"x")),
        Err(Error::NonMonotonicTimestamp {
            track: 1,
            prev: 10,
            got: 10
        })
    );
    assert_eq!(
        mux.push(v, sample(10 + (1 << 32), 1, true), Bytes::from_static(b"x")),
        Err(Error::SampleDurationTooLong {
            track: 1,
            duration: 1 << 32
        })
    );
    let unknown = TrackId(NonZeroU32::new(9).unwrap());
    assert_eq!(
        mux.push(unknown, sample(20, 1, true), Bytes::from_static(b"x")),
        Err(Error::UnknownTrack(9))
    );
    let f = mux.flush().unwrap();
    assert_eq!(f.tracks[0].duration, 3000); // the default, with a single sample
    assert!(mux.flush().is_none());
    assert_eq!(
        mux.push(v, sample(20, 1, true), Bytes::from_static(b"x")),
        Err(Error::AlreadyFlushed)
    );
    assert!(mux.finalize().is_ok());

    let (mut mux, _, v, _) = started(options(1000, 0), false);
    mux.push(v, sample(0, 1, true), Bytes::from_static(b"x"))
        .unwrap();
    assert_eq!(
        mux.finalize().unwrap_err(),
        Error::NotFlushed {
            pending_samples: 1,
            unwritten_fragments: 0
        }
    );
}

fn recover(file: &SimFile) -> Result<Recovered, RecoveryError> {
    file.recover()
}

#[test]
fn recovery_rejects_what_is_not_a_fragmented_recording() {
    let mut f = SimFile::default();
    f.write_at(0, Bytes::from_static(b"\0\0\0\x08free"));
    assert_eq!(recover(&f), Err(RecoveryError::NoFtyp));

    // The init moov cut short: nothing to recover.
    let (file, _) = small_file(0);
    let top = top_level(&file).unwrap();
    let moov = top.iter().find(|b| &b.fourcc == b"moov").unwrap();
    let mut cut = file.clone();
    cut.set_len(moov.offset + 20);
    assert!(matches!(
        recover(&cut),
        Err(RecoveryError::BrokenBeforeMoov { offset, .. }) if offset == moov.offset
    ));
    cut.set_len(moov.offset);
    assert_eq!(
        recover(&cut),
        Err(RecoveryError::NoMoov {
            file_len: moov.offset
        })
    );

    // A progressive file from Mp4Muxer: nothing to do.
    let mut mux = Mp4Muxer::new(MuxerOptions::default());
    let v = mux.add_track(video_config()).unwrap();
    let mut p = SimFile::default();
    p.write_at(0, mux.start().unwrap());
    let off = mux.push(v, sample(0, 4, true)).unwrap();
    p.write_at(off, Bytes::from_static(b"data"));
    let finished = mux.finish().unwrap();
    let moov_offset = p.len;
    p.write_at(p.len, finished.tail);
    for patch in finished.patches {
        p.write_at(patch.offset, patch.bytes);
    }
    assert_eq!(
        recover(&p),
        Ok(Recovered::AlreadyProgressive { moov_offset })
    );
}

#[test]
fn corruption_in_the_middle_is_an_error_but_at_the_end_a_torn_tail() {
    let (file, _) = second_file(0);
    let top = top_level(&file).unwrap();
    let moofs: Vec<_> = top.iter().filter(|b| &b.fourcc == b"moof").collect();
    assert!(moofs.len() >= 3);
    // Break the first trun's sample count (trun: 8 header + 4 version/flags) in the
    // second and the last moof.
    let break_trun = |f: &mut SimFile, moof: &common::fragments::Top| {
        let bytes = f.read(moof.offset, moof.size);
        let at = bytes.windows(4).position(|w| w == b"trun").unwrap() as u64 + 8;
        f.write_at(moof.offset + at, Bytes::from_static(&[0, 0, 0x10, 0]));
    };
    let mut mid = file.clone();
    break_trun(&mut mid, moofs[1]);
    // The video runs have no per-sample table: 4096 samples of the default size do not
    // fit the mdat; valid fragments follow, so this is corruption, not a torn tail.
    match recover(&mid) {
        Err(RecoveryError::DataOutsideMdat {
            offset, track_id, ..
        }) => assert_eq!((offset, track_id), (moofs[1].offset, 1)),
        other => panic!("{other:?}"),
    }
    // A syntax error in the middle: an unknown trun flag.
    let mut bad_flags = file.clone();
    let bytes = file.read(moofs[1].offset, moofs[1].size);
    let trun_at = bytes.windows(4).position(|w| w == b"trun").unwrap() as u64 - 4;
    bad_flags.write_at(moofs[1].offset + trun_at + 9, Bytes::from_static(&[0x10]));
    match recover(&bad_flags) {
        Err(RecoveryError::Malformed {
            offset,
            fourcc,
            what,
        }) => {
            assert_eq!(
                (offset, fourcc.as_str()),
                (moofs[1].offset + trun_at, "trun")
            );
            assert!(what.starts_with("unknown tr_flags 0x10"), "{what}");
        }
        other => panic!("{other:?}"),
    }
    let mut last = file.clone();
    break_trun(&mut last, moofs[moofs.len() - 1]);
    let Ok(Recovered::Fragmented(r)) = recover(&last) else {
        panic!("not recovered");
    };
    assert_eq!(r.fragments as usize, moofs.len() - 1);
    assert_eq!(r.finalize.truncate_to, Some(moofs[moofs.len() - 1].offset));
    assert_eq!(r.dropped_bytes, file.len - moofs[moofs.len() - 1].offset);

    // An unknown box among the fragments.
    let mut odd = file.clone();
    odd.write_at(moofs[1].offset + 4, Bytes::from_static(b"uuid"));
    assert_eq!(
        recover(&odd),
        Err(RecoveryError::UnexpectedBox {
            offset: moofs[1].offset,
            fourcc: "uuid".into(),
            context: "expected a moof"
        })
    );
}

#[test]
fn recovery_finishes_an_interrupted_finalization() {
    let (file, plan) = second_file(2048);
    let mut done = file.clone();
    done.apply_all(&plan.steps);
    // Crash after the moov write and two moofs turned into free.
    let mut state = file.clone();
    let mut frees = 0;
    for step in &plan.steps {
        if let FinalizeStep::Write(p) = step
            && &p.bytes[..] == b"free"
        {
            if frees == 2 {
                break;
            }
            frees += 1;
        }
        state.apply(step);
    }
    let r = match recover(&state) {
        Ok(Recovered::Fragmented(r)) => r,
        other => panic!("{other:?}"),
    };
    assert!(r.finalize_was_interrupted);
    assert_eq!(r.finalize.truncate_to, None);
    // Fragments already hidden need no write.
    let type_writes = r
        .finalize
        .steps
        .iter()
        .filter(|s| matches!(s, FinalizeStep::Write(p) if &p.bytes[..] == b"free"))
        .count();
    // The commit hides moof 1; two others were hidden before the crash.
    let moofs = top_level(&file)
        .unwrap()
        .iter()
        .filter(|b| &b.fourcc == b"moof")
        .count();
    assert_eq!(type_writes, moofs - 1 - 2);
    state.apply_all(&r.finalize.steps);
    assert_eq!(state.to_vec(), done.to_vec());
}

#[test]
fn recovery_follows_base_data_offset_and_missing_tfdt() {
    // An init moov from the muxer, then a hand-made fragment: absolute base_data_offset,
    // no tfdt (decode time starts at 0), a trun without data_offset, and a second trun
    // continuing after it.
    let mut mux = FragmentedMuxer::new(options(1000, 0));
    mux.add_track(video_config()).unwrap();
    let mut f = SimFile::default();
    f.write_at(0, mux.start().unwrap());
    let moof_at = f.len;
    let trun = |sizes: &[u32]| Trun {
        data_offset: None,
        first_sample_flags: None,
        fields: TrunFields {
            sample_size: true,
            ..TrunFields::default()
        },
        samples: sizes
            .iter()
            .map(|&s| TrunSample {
                sample_size: s,
                ..TrunSample::default()
            })
            .collect(),
    };
    let mut moof = Moof {
        mfhd: Mfhd { sequence_number: 5 },
        traf: vec![Traf {
            tfhd: Tfhd {
                track_id: 1,
                base_data_offset: Some(0),
                default_sample_duration: Some(3000),
                default_sample_flags: Some(0x0200_0000),
                ..Tfhd::default()
            },
            tfdt: None,
            trun: vec![trun(&[3, 4]), trun(&[5])],
        }],
    };
    let data_at = moof_at + moof.encoded_len() + 8;
    moof.traf[0].tfhd.base_data_offset = Some(data_at);
    let mut header = BytesMut::new();
    moof.encode(&mut header);
    header.extend_from_slice(&[0, 0, 0, 20, b'm', b'd', b'a', b't']);
    f.write_at(moof_at, header.freeze());
    f.write_at(data_at, Bytes::from_static(b"aaabbbbccccc"));
    let Ok(Recovered::Fragmented(r)) = recover(&f) else {
        panic!("not recovered");
    };
    assert_eq!(r.sample_counts, vec![3]);
    f.apply_all(&r.finalize.steps);
    let Ok(Parsed::Progressive { movie, .. }) = parse_file(&f) else {
        panic!("not progressive");
    };
    let s = &movie.tracks[0].samples;
    let offsets: Vec<u64> = s.iter().map(|s| s.offset).collect();
    assert_eq!(offsets, vec![data_at, data_at + 3, data_at + 7]);
    assert_eq!(f.read(s[2].offset, 5), b"ccccc");
    assert!(s.iter().all(|s| s.duration == 3000 && s.is_sync));
}

#[test]
fn recovery_accepts_a_torn_type_rewrite() {
    let (file, plan) = second_file(0);
    let mut done = file.clone();
    done.apply_all(&plan.steps);
    // The moov is appended and synced, then the last moof's type rewrite is torn across
    // a sector boundary: half "free", half "moof".
    let mut state = file.clone();
    state.apply_all(&plan.steps[..2]);
    let top = top_level(&file).unwrap();
    let last_moof = top.iter().rev().find(|b| &b.fourcc == b"moof").unwrap();
    state.write_at(last_moof.offset + 4, Bytes::from_static(b"frof"));
    let r = match recover(&state) {
        Ok(Recovered::Fragmented(r)) => r,
        other => panic!("{other:?}"),
    };
    assert!(r.finalize_was_interrupted);
    assert_eq!(
        r.fragments as usize,
        top.iter().filter(|b| &b.fourcc == b"moof").count()
    );
    // The leftover appended moov is cut and written again.
    assert_eq!(r.finalize.truncate_to, Some(file.len));
    state.apply_all(&r.finalize.steps);
    assert_eq!(state.to_vec(), done.to_vec());
}

#[test]
fn recovery_of_a_file_without_a_free_box_before_its_init_moov() {
    // Remove the 8-byte free box: moof-relative data offsets stay valid.
    let (with_free, _) = second_file(0);
    let bytes = with_free.to_vec();
    assert_eq!(&bytes[40..44], b"free");
    let mut file = SimFile::default();
    file.write_at(0, Bytes::copy_from_slice(&bytes[..36]));
    file.write_at(36, Bytes::copy_from_slice(&bytes[44..]));
    let Ok(Parsed::Fragmented { tracks, fragments }) = parse_file(&file) else {
        panic!("not fragmented");
    };
    let want = by_track(tracks, &fragments);
    let Ok(Recovered::Fragmented(r)) = recover(&file) else {
        panic!("not recovered");
    };
    let plan = r.finalize;
    assert!(!plan.moov_at_front);
    assert_eq!(plan.reserved_bytes, 0);
    // Every moof is hidden by a type write, then the commit hides the init moov.
    let n = plan.steps.len();
    let FinalizeStep::Write(commit) = &plan.steps[n - 2] else {
        panic!("no commit");
    };
    assert_eq!((commit.offset, &commit.bytes[..]), (36 + 4, &b"free"[..]));
    let mut done = file.clone();
    done.apply_all(&plan.steps);
    let Ok(Parsed::Progressive { movie, .. }) = parse_file(&done) else {
        panic!("not progressive");
    };
    for (track, want) in movie.tracks.iter().zip(&want) {
        let got: Vec<_> = track.samples.iter().map(|s| (s.offset, s.size)).collect();
        let want: Vec<_> = want.iter().map(|s| (s.offset, s.size)).collect();
        assert_eq!(got, want);
    }
    // A torn commit (the init moov's type half rewritten) is still recovered.
    let mut torn = file.clone();
    torn.apply_all(&plan.steps[..n - 2]);
    torn.write_at(40, Bytes::from_static(b"froe"));
    let Ok(Recovered::Fragmented(r)) = recover(&torn) else {
        panic!("not recovered");
    };
    assert!(r.finalize_was_interrupted);
    torn.apply_all(&r.finalize.steps);
    assert_eq!(torn.to_vec(), done.to_vec());
}

#[test]
fn set_track_end_gives_the_last_samples_their_true_durations() {
    // 1 s of video and audio; the next file would start with video at 90_300 (a late
    // frame: 3300 ticks after the last one) and audio at 46 * 1024 + 500.
    let (mut mux, mut file, v, a) = started(options(1000, 64 * 1024), true);
    let a = a.unwrap();
    let samples = av_samples(v, Some(a), 1, 30, 0.0);
    for &(track, s) in &samples {
        mux.push(track, s, Bytes::from(vec![0xA5; s.size as usize]))
            .unwrap();
        while let Some(f) = mux.poll_fragment() {
            file.append_fragment(&f);
        }
    }
    let last_audio = samples.iter().rev().find(|(t, _)| *t == a).unwrap().1.dts;
    assert_eq!(last_audio, 45 * 1024);
    // An end not after the last sample is refused and changes nothing.
    assert!(matches!(
        mux.set_track_end(v, 87_000),
        Err(Error::NonMonotonicTimestamp { .. })
    ));
    mux.set_track_end(v, 90_300).unwrap();
    mux.set_track_end(a, 46 * 1024 + 500).unwrap();
    while let Some(f) = mux.flush() {
        file.append_fragment(&f);
    }
    let plan = mux.finalize().unwrap();
    file.apply_all(&plan.steps);
    let Ok(Parsed::Progressive { movie, .. }) = parse_file(&file) else {
        panic!("not progressive");
    };
    // Video: 29 frames of 3000 and a last one of 3300: 90_300 ticks = 1003 ms.
    assert_eq!(movie.tracks[0].elst, Some(vec![(1003, 0, 1)]));
    // Audio: 45 frames of 1024 and a last one of 1524: 47_604 ticks = 991.75 ms.
    assert_eq!(movie.tracks[1].elst, Some(vec![(992, 0, 1)]));
}
