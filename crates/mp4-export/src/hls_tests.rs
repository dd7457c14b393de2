//! Unit tests of HLS plans and segments, on the sources of [`crate::tests`].

use bmff_boxes::read;

use crate::hls::{Plan, plan};
use crate::tests::{AVC, AVC2, FRAMES, SEC, T0, fixture, materialize, moov_of};

fn file_ns() -> i64 {
    i64::from(FRAMES) * SEC / 30
}

/// `(track_id, tfdt, durations, first sample's name)` of a traf.
type TrafFacts = (u32, u64, Vec<u32>, (u8, u8, u32));

/// The [`TrafFacts`] of each traf of segment `i`.
fn segment(p: &Plan, files: &[Vec<u8>], sources: &[crate::SourceFile], i: usize) -> Vec<TrafFacts> {
    let bytes = materialize(&p.media_segment(sources, i).unwrap(), files);
    let top: Vec<_> = read::boxes(&bytes).map(Result::unwrap).collect();
    assert_eq!(top.len(), 2);
    assert_eq!(&top[1].fourcc, b"mdat");
    let moof = read::parse_moof(&top[0]).unwrap();
    assert_eq!(moof.sequence_number, i as u32 + 1);
    moof.trafs
        .iter()
        .map(|t| {
            let run = &t.truns[0];
            let at = run.data_offset.unwrap() as usize;
            let name = (
                bytes[at],
                bytes[at + 1],
                u32::from(bytes[at + 2]) << 8 | u32::from(bytes[at + 3]),
            );
            let sizes: u64 = run.samples.iter().map(|s| u64::from(s.size.unwrap())).sum();
            assert!(at as u64 + sizes <= bytes.len() as u64);
            (
                t.tfhd.track_id,
                t.tfdt.unwrap(),
                run.samples.iter().map(|s| s.duration.unwrap()).collect(),
                name,
            )
        })
        .collect()
}

#[test]
fn segments_start_at_keyframes_and_decode_times_run_on() {
    let (files, sources) = fixture(&[AVC, AVC, AVC], 0);
    let start = T0 + 1_300_000_000;
    let end = T0 + 2 * file_ns() + 2_100_000_000;
    let p = plan(&sources, start, end, 3 * SEC / 2).unwrap();
    let segs = p.segments();
    // The first starts at the keyframe at 1.0 s; they add up to the range from there.
    assert_eq!(segs[0].wall_start_ns, T0 + SEC);
    assert_eq!(p.duration_ns(), end - (T0 + SEC));
    for w in segs.windows(2) {
        let (a, b) = (&w[0], &w[1]);
        assert!(!b.discontinuity);
        assert_eq!(a.init, 0);
        // Within a file, each starts where the previous ends.
        if a.source == b.source {
            assert_eq!(a.wall_start_ns + a.duration_ns, b.wall_start_ns);
        }
    }
    // Keyframes every second from 1.0 s: cuts at 1.0, 3.0 in file 1; 0, 2, 4 in file 2.
    let starts: Vec<_> = segs
        .iter()
        .map(|s| {
            (
                (s.wall_start_ns - sources[s.source].wall_start_ns) / 1_000_000,
                s.source,
            )
        })
        .collect();
    assert_eq!(
        starts,
        [
            (1000, 0),
            (3000, 0),
            (0, 1),
            (2000, 1),
            (4000, 1),
            (0, 2),
            (2000, 2)
        ]
    );
    // Video decode time 0 at the first keyframe, presented 12000 ticks later (two
    // frames of reorder delay); the audio at that same instant (0.1333 s at 48 kHz).
    let mut next = [0u64, 12_000 * 48_000 / 90_000];
    let mut video = 0;
    for (i, seg) in segs.iter().enumerate() {
        for (track, tfdt, durations, name) in segment(&p, &files, &sources, i) {
            let t = track as usize - 1;
            assert_eq!(tfdt, next[t], "segment {i} track {track}");
            next[t] = tfdt + durations.iter().map(|&d| u64::from(d)).sum::<u64>();
            assert_eq!(name.0 as usize, seg.source + 1);
            assert_eq!(name.1, track as u8);
            if track == 1 {
                video += durations.len();
            }
        }
    }
    // Video: 1.0 s to the end of file 1 (decode 28..121), file 2, file 3 to decode 63.
    assert_eq!(video, (FRAMES - 28 + FRAMES + 64) as usize);
    let init = p.init_segment(&sources, 0).unwrap();
    let movie = moov_of(&init);
    assert!(movie.mvex.is_some());
    assert_eq!(movie.tracks.len(), 2);
    assert_eq!(movie.tracks[0].stbl.sample_count(), 0);
}

#[test]
fn gaps_and_new_sample_entries_are_discontinuities() {
    let (_, sources) = fixture(&[AVC, AVC2, AVC], 7 * SEC);
    let p = plan(&sources, T0, T0 + 3 * file_ns() + 7 * SEC, 2 * SEC).unwrap();
    let marks: Vec<_> = p
        .segments()
        .iter()
        .map(|s| (s.source, s.init, s.discontinuity))
        .collect();
    assert_eq!(
        marks,
        [
            (0, 0, false),
            (0, 0, false),
            (0, 0, false),
            (1, 1, true),
            (1, 1, false),
            (1, 1, false),
            (2, 0, true),
            (2, 0, false),
            (2, 0, false),
        ]
    );
    assert_eq!(p.init_count(), 2);
    let text = p.playlist(|i| format!("init{i}.mp4"), |i| format!("seg{i}.m4s"));
    insta::assert_snapshot!(text);
    assert!(p.init_segment(&sources, 2).is_err());
    assert!(p.media_segment(&sources, 9).is_err());
}

#[test]
fn rfc3339_with_milliseconds() {
    assert_eq!(crate::hls::rfc3339_ms(0), "1970-01-01T00:00:00.000Z");
    assert_eq!(
        crate::hls::rfc3339_ms(T0 + 1_234_567_890),
        "2023-11-14T22:13:21.234Z"
    );
    assert_eq!(
        crate::hls::rfc3339_ms(951_782_400_000_000_000),
        "2000-02-29T00:00:00.000Z"
    );
}
