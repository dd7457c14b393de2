//! The boxes shared by exports and HLS init segments: `ftyp` and a `trak` around a
//! sample table.

use bmff_boxes::read::Track;
use bmff_boxes::{ChunkOffsets, Edts, Ftyp, Mvhd, Stbl, TrackMedia, Trak};

use crate::source::Kind;

pub(crate) use bmff_boxes::{NON_SYNC_SAMPLE_FLAGS, SYNC_SAMPLE_FLAGS};

/// The flags of a sample.
pub(crate) fn sample_flags(is_sync: bool) -> u32 {
    if is_sync {
        SYNC_SAMPLE_FLAGS
    } else {
        NON_SYNC_SAMPLE_FLAGS
    }
}

/// `ftyp` of an export (`isom`, compatible with `isom`, `iso2`, `avc1`, `mp41`) or, with
/// `fragmented`, of an HLS init segment (`iso6` added, as RFC 8216 §3.3 fMP4 needs).
pub(crate) fn ftyp(fragmented: bool) -> Ftyp {
    let mut compatible_brands = vec![*b"isom", *b"iso2", *b"avc1", *b"mp41"];
    if fragmented {
        compatible_brands.insert(1, *b"iso6");
    }
    Ftyp {
        major_brand: *b"isom",
        minor_version: 512,
        compatible_brands,
    }
}

/// What a `trak` takes from the source track it was built from.
#[derive(Clone, Copy, Debug)]
pub(crate) struct TrackHead {
    pub kind: Kind,
    pub hz: u32,
    pub width_fixed: u32,
    pub height_fixed: u32,
}

impl TrackHead {
    pub fn of(kind: Kind, t: &Track) -> Self {
        Self {
            kind,
            hz: t.mdhd.timescale_hz.max(1),
            width_fixed: t.tkhd.width_fixed,
            height_fixed: t.tkhd.height_fixed,
        }
    }
}

/// A `trak` of id `track_id`: `(tkhd.duration, mdhd.duration)` in `durations` (no
/// creation time: nothing here reads a clock).
pub(crate) fn trak(
    track_id: u32,
    head: &TrackHead,
    durations: (u64, u64),
    edts: Option<Edts>,
    stbl: Stbl,
) -> Trak {
    let media = match head.kind {
        Kind::Video => TrackMedia::Video {
            width_fixed: head.width_fixed,
            height_fixed: head.height_fixed,
        },
        Kind::Audio => TrackMedia::Audio,
    };
    Trak::new(track_id, media, head.hz, 0, durations, edts, stbl)
}

/// An `mvhd` (no creation time: nothing here reads a clock).
pub(crate) fn mvhd(hz: u32, duration: u64, tracks: usize) -> Mvhd {
    Mvhd::new(hz, duration, tracks as u32 + 1)
}

/// `offsets` with `base` added to each (`stco` or `co64`, whichever they then need).
pub(crate) fn rebase(offsets: &ChunkOffsets, base: u64) -> ChunkOffsets {
    let v: Vec<u64> = match offsets {
        ChunkOffsets::Stco(s) => s
            .chunk_offset
            .iter()
            .map(|&o| u64::from(o) + base)
            .collect(),
        ChunkOffsets::Co64(c) => c.chunk_offset.iter().map(|&o| o + base).collect(),
    };
    ChunkOffsets::from_offsets(v)
}
