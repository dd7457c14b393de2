//! The boxes shared by exports and HLS init segments: `ftyp` and a `trak` around a
//! sample table.

use bmff_boxes::read::Track;
use bmff_boxes::{
    ChunkOffsets, Dinf, Edts, Ftyp, Hdlr, IDENTITY_MATRIX, Mdhd, Mdia, MediaHeader, Minf, Mvhd,
    Smhd, Stbl, Tkhd, Trak, Vmhd,
};

use crate::source::Kind;

/// `trex`/`tfhd` sample flags of a sync sample: depends on no other sample (ISO/IEC
/// 14496-12 §8.8.3.1).
pub(crate) const SYNC_SAMPLE_FLAGS: u32 = 0x0200_0000;
/// Sample flags of a non-sync sample: depends on others, `sample_is_non_sync_sample`.
pub(crate) const NON_SYNC_SAMPLE_FLAGS: u32 = 0x0100_0000 | bmff_boxes::NON_SYNC_BIT;

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

/// A `trak` of id `track_id`: `(tkhd.duration, mdhd.duration)` in `durations`.
pub(crate) fn trak(
    track_id: u32,
    head: &TrackHead,
    durations: (u64, u64),
    edts: Option<Edts>,
    stbl: Stbl,
) -> Trak {
    let (width, height, volume, hdlr, media_header) = match head.kind {
        Kind::Video => (
            head.width_fixed,
            head.height_fixed,
            0,
            Hdlr::video(),
            MediaHeader::Video(Vmhd::default()),
        ),
        Kind::Audio => (
            0,
            0,
            0x0100,
            Hdlr::sound(),
            MediaHeader::Sound(Smhd::default()),
        ),
    };
    Trak {
        tkhd: Tkhd {
            flags: Tkhd::ENABLED | Tkhd::IN_MOVIE,
            creation_time: 0,
            modification_time: 0,
            track_id,
            duration: durations.0,
            layer: 0,
            alternate_group: 0,
            volume,
            matrix: IDENTITY_MATRIX,
            width,
            height,
        },
        edts,
        mdia: Mdia {
            mdhd: Mdhd {
                creation_time: 0,
                modification_time: 0,
                timescale: head.hz,
                duration: durations.1,
                language: *b"und",
            },
            hdlr,
            minf: Minf {
                media_header,
                dinf: Dinf::default(),
                stbl,
            },
        },
    }
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
