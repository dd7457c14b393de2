//! The memory an export needs: what [`export_from`] holds at its peak and what the
//! finished [`Export`] keeps, counted by `allocation-counter`'s global allocator (per
//! thread, so tests in parallel do not disturb each other; the workspace forbids the
//! `unsafe` a `GlobalAlloc` of our own would need), for 1 hour and 4 hours of 60 s files
//! whose `moov`s are read one at a time, as a server reads them from disk.
//!
//! The goal: memory per export independent of the range's length beyond its `moov`.

use std::borrow::Cow;
use std::num::NonZeroU32;

use allocation_counter::measure;
use bmff_boxes::read::{self, Movie};
use bytes::Bytes;
use mp4_export::{Export, ExportError, SourceFile, Sources, export_from};
use mp4_track::{Mp4Muxer, MuxerOptions, SampleInfo, TrackConfig, TrackKind};

const SEC: i64 = 1_000_000_000;
const T0: i64 = 1_700_000_000 * SEC;
const FILE_NS: i64 = 60 * SEC;

/// One minute as a camera records it: 30 fps video with a keyframe a second, AAC-like
/// audio (1024 samples at 48 kHz), sizes that vary (so `stsz` lists every sample).
fn minute() -> Movie {
    let mut mux = Mp4Muxer::new(MuxerOptions::default());
    let v = mux
        .add_track(TrackConfig {
            kind: TrackKind::Video {
                width: 1920,
                height: 1080,
            },
            timescale_hz: 90_000,
            sample_entry: Bytes::from_static(b"\0\0\0\x08avc1"),
            default_sample_duration: NonZeroU32::new(3000),
        })
        .unwrap();
    let a = mux
        .add_track(TrackConfig {
            kind: TrackKind::Audio,
            timescale_hz: 48_000,
            sample_entry: Bytes::from_static(b"\0\0\0\x08mp4a"),
            default_sample_duration: NonZeroU32::new(1024),
        })
        .unwrap();
    mux.start().unwrap();
    // A second of video, then that second's audio: one chunk per track per second, as
    // in a recorder's file of one-second fragments.
    let mut audio = 0u64;
    for f in 0..1800u64 {
        let dts = f * 3000;
        mux.push(
            v,
            SampleInfo {
                dts,
                cts_offset: 0,
                size: 20_000 + (f % 13) as u32 * 37,
                is_sync: f % 30 == 0,
            },
        )
        .unwrap();
        if f % 30 < 29 {
            continue;
        }
        // Audio up to the video's time (48 kHz ticks = 90 kHz ticks * 8 / 15).
        while audio * 1024 * 15 < (dts + 3000) * 8 {
            mux.push(
                a,
                SampleInfo {
                    dts: audio * 1024,
                    cts_offset: 0,
                    size: 300 + (audio % 11) as u32,
                    is_sync: true,
                },
            )
            .unwrap();
            audio += 1;
        }
    }
    let done = mux.finish().unwrap();
    let moov = read::boxes(&done.tail)
        .map(Result::unwrap)
        .find(|b| &b.fourcc == b"moov")
        .expect("a moov in the tail");
    read::parse_moov(&moov).unwrap()
}

/// `files` consecutive minutes, each `moov` handed out as a new copy (as if read from
/// its file) and dropped by the export when done with it.
struct Minutes {
    movie: Movie,
    files: usize,
}

impl Sources for Minutes {
    fn count(&self) -> usize {
        self.files
    }

    fn load(&self, index: usize) -> Result<Cow<'_, SourceFile>, ExportError> {
        Ok(Cow::Owned(SourceFile {
            movie: self.movie.clone(),
            wall_start_ns: T0 + index as i64 * FILE_NS,
        }))
    }
}

/// Peak bytes while building an export of `hours`, bytes the export keeps, its `moov`.
fn export_memory(movie: &Movie, hours: i64) -> (u64, u64, u64) {
    let minutes = Minutes {
        movie: movie.clone(),
        files: hours as usize * 60,
    };
    let mut kept: Option<Export> = None;
    let info = measure(|| {
        kept = Some(export_from(&minutes, T0, T0 + hours * 3600 * SEC).unwrap());
    });
    let e = kept.expect("an export");
    assert_eq!(e.duration_ns, hours * 3600 * SEC);
    assert_eq!(e.video_samples as i64, hours * 3600 * 30);
    // ftyp + moov + mdat header: the body's inline parts (one per track).
    let moov = e
        .body
        .parts()
        .iter()
        .filter(|p| matches!(p, mp4_export::Part::Bytes(_)))
        .map(mp4_export::Part::len)
        .sum();
    (info.bytes_max, info.bytes_current.max(0) as u64, moov)
}

#[test]
fn export_memory_grows_with_the_moov_only() {
    let movie = minute();
    let mut ratios = Vec::new();
    for hours in [1, 4] {
        let (peak, kept, moov) = export_memory(&movie, hours);
        let (peak_r, kept_r) = (peak as f64 / moov as f64, kept as f64 / moov as f64);
        eprintln!(
            "{hours} h: moov {moov} B, peak while built {peak} B ({peak_r:.2}x), kept {kept} B ({kept_r:.2}x)"
        );
        // Built: the tables, then (per track) their encoding; kept: the encoded head and
        // the body's list of source ranges (one per chunk).
        assert!(peak_r < 1.8, "{hours} h: peak {peak} B for a {moov} B moov");
        assert!(kept_r < 1.2, "{hours} h: kept {kept} B for a {moov} B moov");
        ratios.push(peak_r);
    }
    // Four times the range: the same memory per byte of moov (within 5%).
    assert!(
        (ratios[1] / ratios[0] - 1.0).abs() < 0.05,
        "peak per moov byte: {ratios:?}"
    );
}
