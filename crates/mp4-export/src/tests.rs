//! Unit tests: sources built with `mp4_track::Mp4Muxer` from synthetic samples whose
//! bytes name them (file, track, decode number), outputs read back with
//! `bmff_boxes::read`.

use std::num::NonZeroU32;

use bmff_boxes::read::{self, Movie};
use bytes::Bytes;
use mp4_track::{Mp4Muxer, MuxerOptions, SampleInfo, TrackConfig, TrackKind};

use crate::source::Samples;
use crate::{Body, ExportError, Part, SourceFile, export, hls};

/// Frames per file: 3m + 1, so the B-frame pattern closes (`I P B B P B B ...`).
pub(crate) const FRAMES: u32 = 121;
pub(crate) const SEC: i64 = 1_000_000_000;
/// Wall start of the first file.
pub(crate) const T0: i64 = 1_700_000_000 * SEC;

/// Presentation number of decode number `d` in the pattern `I0 P3 B1 B2 P6 B4 B5 ...`.
fn pres(d: u32) -> u32 {
    match d {
        0 => 0,
        d if d % 3 == 1 => d + 2, // P
        d => d - 1,
    }
}

/// A file of `FRAMES` video frames (30 fps, 90 kHz, B-frames, keyframe every 30
/// presented frames) and as many audio samples of 1/30 s (48 kHz), interleaved; each
/// sample's bytes start with `[file, track, d >> 8, d]`.
fn make_file(id: u8, video_entry: &'static [u8]) -> (Vec<u8>, Movie) {
    let mut mux = Mp4Muxer::new(MuxerOptions::default());
    let v = mux
        .add_track(TrackConfig {
            kind: TrackKind::Video {
                width: 320,
                height: 240,
            },
            timescale_hz: 90_000,
            sample_entry: Bytes::from_static(video_entry),
            default_sample_duration: NonZeroU32::new(3000),
        })
        .unwrap();
    let a = mux
        .add_track(TrackConfig {
            kind: TrackKind::Audio,
            timescale_hz: 48_000,
            sample_entry: Bytes::from_static(b"\0\0\0\x08mp4a"),
            default_sample_duration: NonZeroU32::new(1600),
        })
        .unwrap();
    let mut file = mux.start().unwrap().to_vec();
    let put = |file: &mut Vec<u8>, offset: u64, track: u8, d: u32, size: u32| {
        assert_eq!(offset, file.len() as u64);
        let mut bytes = vec![id, track, (d >> 8) as u8, d as u8];
        bytes.extend((4..size).map(|k| (k as u8).wrapping_mul(id + track)));
        file.extend_from_slice(&bytes);
    };
    for d in 0..FRAMES {
        let p = pres(d);
        let size = 100 + (d % 7) * 10;
        let sample = SampleInfo {
            dts: u64::from(d) * 3000,
            cts_offset: (i64::from(p) * 3000 + 6000 - i64::from(d) * 3000) as i32,
            size,
            is_sync: p.is_multiple_of(30),
        };
        let at = mux.push(v, sample).unwrap();
        put(&mut file, at, 1, d, size);
        // The file's lead (2 frames) is added to the audio too, as the recorder does.
        let sample = SampleInfo {
            dts: u64::from(d) * 1600 + 3200,
            cts_offset: 0,
            size: 50,
            is_sync: true,
        };
        let at = mux.push(a, sample).unwrap();
        put(&mut file, at, 2, d, 50);
    }
    let done = mux.finish().unwrap();
    file.extend_from_slice(&done.tail);
    for p in &done.patches {
        let at = p.offset as usize;
        file[at..at + p.bytes.len()].copy_from_slice(&p.bytes);
    }
    let movie = moov_of(&file);
    (file, movie)
}

pub(crate) fn moov_of(file: &[u8]) -> Movie {
    let moov = read::boxes(file)
        .map(Result::unwrap)
        .find(|b| &b.fourcc == b"moov")
        .expect("a moov");
    read::parse_moov(&moov).unwrap()
}

/// `n` consecutive files, each starting where the previous one's frames end, plus `gap`
/// before the last one.
pub(crate) fn fixture(entries: &[&'static [u8]], gap_ns: i64) -> (Vec<Vec<u8>>, Vec<SourceFile>) {
    let (mut files, mut sources) = (Vec::new(), Vec::new());
    let file_ns = i64::from(FRAMES) * SEC / 30;
    for (i, e) in entries.iter().enumerate() {
        let (bytes, movie) = make_file(i as u8 + 1, e);
        let last = i + 1 == entries.len() && i > 0;
        files.push(bytes);
        sources.push(SourceFile {
            movie,
            wall_start_ns: T0 + i as i64 * file_ns + if last { gap_ns } else { 0 },
        });
    }
    (files, sources)
}

pub(crate) const AVC: &[u8] = b"\0\0\0\x08avc1";
pub(crate) const AVC2: &[u8] = b"\0\0\0\x0cavc1\0\0\0\x02";

pub(crate) fn materialize(body: &Body, files: &[Vec<u8>]) -> Vec<u8> {
    let mut out = Vec::with_capacity(body.len() as usize);
    for p in body.parts() {
        match p {
            Part::Bytes(b) => out.extend_from_slice(b),
            Part::Source {
                source,
                offset,
                len,
            } => out.extend_from_slice(&files[*source][*offset as usize..(offset + len) as usize]),
        }
    }
    assert_eq!(out.len() as u64, body.len());
    out
}

/// `(file, track, d)` of every sample of track `t`, read back through its tables, and
/// every sample's bytes checked against its source.
fn names(out: &[u8], movie: &Movie, t: usize, files: &[Vec<u8>]) -> Vec<(u8, u8, u32)> {
    Samples::new(&movie.tracks[t], 0)
        .map(|s| {
            let s = s.unwrap();
            let at = s.offset as usize;
            let b = &out[at..at + s.size as usize];
            let (f, tr, d) = (b[0], b[1], u32::from(b[2]) << 8 | u32::from(b[3]));
            // The whole sample is the source's.
            let src = &files[f as usize - 1];
            let pos = src
                .windows(4)
                .position(|w| w == &b[..4])
                .expect("sample found in its source");
            assert_eq!(&src[pos..pos + b.len()], b, "bytes of {f}/{tr}/{d}");
            (f, tr, d)
        })
        .collect()
}

#[test]
fn export_spans_three_files_from_the_keyframe_before_start_to_end() {
    let (files, sources) = fixture(&[AVC, AVC, AVC], 0);
    let file_ns = i64::from(FRAMES) * SEC / 30;
    let start = T0 + 1_300_000_000;
    let end = T0 + 2 * file_ns + 2_100_000_000;
    let e = export(&sources, start, end).unwrap();
    assert_eq!(e.start_ns, start);
    assert!(e.gaps.is_empty());
    assert!(
        (e.duration_ns - (end - start)).abs() < 1_000_000,
        "{}",
        e.duration_ns
    );
    let out = materialize(&e.body, &files);
    let top: Vec<_> = read::boxes(&out).map(|b| b.unwrap().fourcc).collect();
    assert_eq!(top, [*b"ftyp", *b"moov", *b"mdat"]);
    let movie = moov_of(&out);
    // Video: file 1 from decode number 28 (presented 30, the keyframe at 1.0 s before
    // 1.3 s), all of file 2, file 3 up to decode number 63 (presented 62, the last before
    // 2.1 s; 61 is presented at 63 but decoded before it).
    let video = names(&out, &movie, 0, &files);
    let want: Vec<_> = (28..FRAMES)
        .map(|d| (1, 1, d))
        .chain((0..FRAMES).map(|d| (2, 1, d)))
        .chain((0..=63).map(|d| (3, 1, d)))
        .collect();
    assert_eq!(video, want);
    assert_eq!(e.video_samples as usize, want.len());
    // Audio: the sample playing at 1.3 s (39) to the last starting before 2.1 s (62).
    let audio = names(&out, &movie, 1, &files);
    let want: Vec<_> = (39..FRAMES)
        .map(|d| (1, 2, d))
        .chain((0..FRAMES).map(|d| (2, 2, d)))
        .chain((0..=62).map(|d| (3, 2, d)))
        .collect();
    assert_eq!(audio, want);
    // Edits: the video shows from the composition time of 1.3 s: the keyframe is
    // presented 12000 ticks after decode time 0, 0.3 s (27000) before start.
    let v = &movie.tracks[0];
    let hz = i64::from(movie.mvhd.timescale_hz);
    let len = (end - start) * hz / SEC;
    let edits = v.edits.as_ref().unwrap();
    assert_eq!(edits.len(), 1);
    assert_eq!(edits[0].media_time, 12_000 + 27_000);
    assert!((edits[0].segment_duration as i64 - len).abs() <= hz / 1000);
    // Audio: sample 39 starts exactly at 1.3 s: decode time 0 is shown first.
    let a = movie.tracks[1].edits.as_ref().unwrap();
    assert_eq!(a.len(), 1);
    assert_eq!(a[0].media_time, 0);
    assert!((a[0].segment_duration as i64 - len).abs() <= hz / 1000);
    // B-frames carried over; decode times continuous across files.
    assert!(v.stbl.ctts.is_some());
    assert_eq!(
        v.stbl.stts,
        vec![read::TimeToSample {
            sample_count: video.len() as u32,
            sample_delta: 3000
        }]
    );
}

#[test]
fn a_gap_is_squeezed_out_and_reported() {
    let gap = 5 * SEC;
    let (files, sources) = fixture(&[AVC, AVC], gap);
    let file_ns = i64::from(FRAMES) * SEC / 30;
    let start = T0;
    let end = T0 + file_ns + gap + SEC;
    let e = export(&sources, start, end).unwrap();
    assert_eq!(e.gaps.len(), 1);
    let (from, to) = e.gaps[0];
    assert_eq!(to, T0 + file_ns + gap);
    assert!((from - (T0 + file_ns)).abs() < 1_000_000);
    // The media: 4.03 s, then 1 s of the second file; not the 5 s between.
    assert!(
        (e.duration_ns - (file_ns + SEC)).abs() < 1_000_000,
        "{}",
        e.duration_ns
    );
    let out = materialize(&e.body, &files);
    let movie = moov_of(&out);
    assert_eq!(names(&out, &movie, 0, &files).len() as u32, FRAMES + 31);
}

#[test]
fn different_sample_entries_are_selected_through_stsc() {
    let (files, sources) = fixture(&[AVC, AVC2, AVC], 0);
    let file_ns = i64::from(FRAMES) * SEC / 30;
    let e = export(&sources, T0 + 3 * SEC, T0 + 2 * file_ns + SEC).unwrap();
    let out = materialize(&e.body, &files);
    let movie = moov_of(&out);
    let v = &movie.tracks[0];
    let entries: Vec<_> = v.sample_entries.iter().map(|e| e.bytes.clone()).collect();
    assert_eq!(entries, [AVC.to_vec(), AVC2.to_vec()]);
    let by_entry: Vec<(u8, u32)> = Samples::new(v, 0)
        .map(|s| {
            let s = s.unwrap();
            (out[s.offset as usize], s.sdi)
        })
        .collect();
    assert!(
        by_entry
            .iter()
            .all(|&(file, sdi)| sdi == if file == 2 { 2 } else { 1 })
    );
    assert!(by_entry.iter().any(|&(f, _)| f == 3));
    // The audio entries are the same everywhere: one.
    assert_eq!(movie.tracks[1].sample_entries.len(), 1);
}

#[test]
fn a_range_without_media_is_a_typed_error() {
    let (_, sources) = fixture(&[AVC], 0);
    let after = T0 + 100 * SEC;
    assert_eq!(
        export(&sources, after, after + SEC).unwrap_err(),
        ExportError::NoMedia {
            start_ns: after,
            end_ns: after + SEC
        }
    );
    assert!(matches!(
        hls::plan(&sources, T0 - 10 * SEC, T0 - SEC, SEC),
        Err(ExportError::NoMedia { .. })
    ));
    assert!(matches!(
        export(&sources, T0 + SEC, T0),
        Err(ExportError::BadRange { .. })
    ));
}

#[test]
fn a_slice_of_an_export_is_the_same_bytes() {
    let (files, sources) = fixture(&[AVC, AVC], 0);
    let e = export(&sources, T0 + SEC / 2, T0 + 6 * SEC).unwrap();
    let whole = materialize(&e.body, &files);
    for (a, b) in [
        (0, 10),
        (100, 5000),
        (whole.len() as u64 - 77, whole.len() as u64),
    ] {
        assert_eq!(
            materialize(&e.body.slice(a, b), &files),
            &whole[a as usize..b as usize]
        );
    }
}

#[test]
fn an_export_past_4_gib_gets_co64_and_a_64_bit_mdat() {
    // Three 3 GB keyframes with an audio sample between them: the data is never read,
    // only its ranges; the third video chunk starts past 4 GiB.
    let mut mux = Mp4Muxer::new(MuxerOptions::default());
    let v = mux
        .add_track(TrackConfig {
            kind: TrackKind::Video {
                width: 320,
                height: 240,
            },
            timescale_hz: 90_000,
            sample_entry: Bytes::from_static(AVC),
            default_sample_duration: NonZeroU32::new(3000),
        })
        .unwrap();
    let a = mux
        .add_track(TrackConfig {
            kind: TrackKind::Audio,
            timescale_hz: 48_000,
            sample_entry: Bytes::from_static(b"\0\0\0\x08mp4a"),
            default_sample_duration: NonZeroU32::new(1600),
        })
        .unwrap();
    let head = mux.start().unwrap().len() as u64;
    let big = 3_000_000_000u32;
    for i in 0..3u64 {
        let sample = SampleInfo {
            dts: i * 3000,
            cts_offset: 0,
            size: big,
            is_sync: true,
        };
        mux.push(v, sample).unwrap();
        let sample = SampleInfo {
            dts: i * 1600,
            cts_offset: 0,
            size: 50,
            is_sync: true,
        };
        mux.push(a, sample).unwrap();
    }
    let tail = mux.finish().unwrap().tail;
    let sources = [SourceFile {
        movie: moov_of(&tail),
        wall_start_ns: T0,
    }];
    let e = export(&sources, T0, T0 + SEC).unwrap();
    assert_eq!((e.video_samples, e.audio_samples), (3, 3));
    let media = 3 * u64::from(big) + 150;
    // The header: one inline part per track (video, then audio with the mdat header).
    let parts = e.body.parts();
    let header: Vec<u8> = parts[..2]
        .iter()
        .flat_map(|p| match p {
            Part::Bytes(b) => b.to_vec(),
            Part::Source { .. } => panic!("a header first"),
        })
        .collect();
    let h = header.len() as u64;
    assert_eq!(e.body.len(), h + media);
    // Interleaved as in the source, so one range.
    assert_eq!(
        &parts[2..],
        &[Part::Source {
            source: 0,
            offset: head,
            len: media
        }]
    );
    // The header: ftyp, moov, then a 16-byte mdat header with the 64-bit size.
    let moov_end = header.len() - 16;
    let boxes: Vec<_> = read::boxes(&header[..moov_end])
        .map(Result::unwrap)
        .map(|b| b.fourcc)
        .collect();
    assert_eq!(boxes, [*b"ftyp", *b"moov"]);
    let mdat = &header[moov_end..];
    assert_eq!(&mdat[..8], &[0, 0, 0, 1, b'm', b'd', b'a', b't']);
    assert_eq!(mdat[8..], (media + 16).to_be_bytes());
    let movie = moov_of(&header[..moov_end]);
    let video = &movie.tracks[0].stbl;
    assert_eq!(&video.chunk_offset_box, b"co64");
    let step = u64::from(big) + 50;
    assert_eq!(video.chunk_offsets, vec![h, h + step, h + 2 * step]);
    let audio = &movie.tracks[1].stbl;
    let first_audio = h + u64::from(big);
    assert_eq!(
        audio.chunk_offsets,
        vec![first_audio, first_audio + step, first_audio + 2 * step]
    );
}

/// Sources read "from disk" one at a time: each load is counted, and a file outside the
/// range is never an error unless it is read.
struct Counted<'a> {
    files: &'a [SourceFile],
    loads: std::cell::RefCell<Vec<u32>>,
}

impl crate::Sources for Counted<'_> {
    fn count(&self) -> usize {
        self.files.len()
    }

    fn load(&self, index: usize) -> Result<std::borrow::Cow<'_, SourceFile>, ExportError> {
        self.loads.borrow_mut()[index] += 1;
        Ok(std::borrow::Cow::Owned(self.files[index].clone()))
    }
}

#[test]
fn sources_loaded_one_at_a_time_give_the_same_export_and_plan() {
    let (_, sources) = fixture(&[AVC, AVC, AVC], 0);
    let counted = Counted {
        files: &sources,
        loads: std::cell::RefCell::new(vec![0; sources.len()]),
    };
    let file_ns = i64::from(FRAMES) * SEC / 30;
    let (start, end) = (T0 + 1_300_000_000, T0 + 2 * file_ns + 2_100_000_000);
    let lazy = crate::export_from(&counted, start, end).unwrap();
    let eager = export(&sources, start, end).unwrap();
    assert_eq!(lazy.body, eager.body);
    assert_eq!(
        (lazy.duration_ns, lazy.video_samples, lazy.audio_samples),
        (eager.duration_ns, eager.video_samples, eager.audio_samples)
    );
    // Once to place the files, once to take their samples.
    assert_eq!(*counted.loads.borrow(), [2, 2, 2]);

    counted.loads.borrow_mut().fill(0);
    let plan = hls::plan(&counted, start, end, SEC).unwrap();
    let want = hls::plan(&sources, start, end, SEC).unwrap();
    assert_eq!(plan.segments(), want.segments());
    // The first file also gives the origin (its keyframe before start).
    assert_eq!(*counted.loads.borrow(), [3, 2, 2]);
    counted.loads.borrow_mut().fill(0);
    let last = plan.segments().len() - 1;
    assert_eq!(
        plan.media_segment(&counted, last).unwrap(),
        want.media_segment(&sources, last).unwrap()
    );
    // A segment reads only its own file.
    assert_eq!(*counted.loads.borrow(), [0, 0, 1]);
}

#[test]
fn a_file_without_audio_leaves_a_hole_in_the_audio_and_keeps_sync() {
    let (files, mut sources) = fixture(&[AVC, AVC, AVC], 0);
    // The middle file recorded no audio (the camera's audio dropped out).
    sources[1].movie.tracks.retain(|t| t.is_video());
    let file_ns = i64::from(FRAMES) * SEC / 30;
    let e = export(&sources, T0, T0 + 3 * file_ns).unwrap();
    let out = materialize(&e.body, &files);
    let movie = moov_of(&out);
    let video = names(&out, &movie, 0, &files);
    let audio = names(&out, &movie, 1, &files);
    assert_eq!(video.len() as u32, 3 * FRAMES);
    assert!(audio.iter().all(|&(f, _, _)| f != 2), "{audio:?}");
    assert_eq!(audio.len() as u32, 2 * FRAMES);
    // Decode times in ns, by (file, decode number), per track.
    let times = |t: usize, hz: i64| -> Vec<((u8, u32), i64)> {
        let names = names(&out, &movie, t, &files);
        Samples::new(&movie.tracks[t], 0)
            .zip(names)
            .map(|(s, (f, _, d))| ((f, d), s.unwrap().dts as i64 * SEC / hz))
            .collect()
    };
    let at = |v: &[((u8, u32), i64)], key| v.iter().find(|(k, _)| *k == key).unwrap().1;
    let (v, a) = (times(0, 90_000), times(1, 48_000));
    // File 3 starts two files after file 1 in both tracks: the audio is not pulled
    // forward over the hole (no A/V drift), and nothing fills it.
    let video_step = at(&v, (3, 0)) - at(&v, (1, 0));
    let audio_step = at(&a, (3, 0)) - at(&a, (1, 0));
    assert_eq!(video_step, 2 * file_ns);
    assert!(
        (audio_step - video_step).abs() <= SEC / 48_000,
        "audio {audio_step} ns, video {video_step} ns"
    );
    // The hole is the last audio sample of file 1 lasting until file 3's first.
    let last = at(&a, (1, FRAMES - 1));
    assert!(at(&a, (3, 0)) - last > file_ns, "{last}");
}
