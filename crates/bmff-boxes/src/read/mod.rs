//! One reader of ISO BMFF (ISO/IEC 14496-12) metadata: a box walker over byte ranges, and
//! parsers of `moov` and `moof` into plain structs.
//!
//! It is pure (byte slices and absolute offsets in, values out) and independent of the
//! encoders of this crate: it neither calls them nor shares their structs, so a round trip
//! (encode, then read back) checks both. Callers that read files fetch the box headers with
//! [`header`] (16 bytes are enough), then the payloads they need, and hand those over as
//! [`RawBox`]es.
//!
//! - [`header`], [`boxes`], [`boxes_at`], [`RawBox`]: the walker (`largesize` and size 0,
//!   "to the end", included).
//! - [`parse_moov`] into a [`Movie`]: `mvhd`, each `trak` (`tkhd`, `mdhd`, `hdlr`,
//!   `edts`/`elst`, the `stsd` entries, and the `stbl` tables `stts`, `ctts`, `stss`,
//!   `stsc`, `stsz`/`stz2`, `stco`/`co64`), and `mvex`/`trex`.
//! - [`parse_moof`] into a [`Moof`]: `mfhd`, each `traf` (`tfhd`, `tfdt`, `trun`), and
//!   [`Moof::resolve`], which applies the `tfhd` and `trex` defaults to every sample.
//!
//! The input is untrusted: every table's entry count is checked against its box's length
//! before anything is allocated, and every error says which box, at which offset, is wrong.
//! Boxes of fixed layout (`mvhd`, `tkhd`, `mdhd`, `trex`, `mfhd`, `tfhd`, `tfdt`, `trun`)
//! must be exactly as long as their fields; versions above 1 and undefined `tf_flags` or
//! `tr_flags` are errors, since their fields cannot be known.
//!
//! ```
//! use bmff_boxes::read::{self, parse_moof};
//!
//! let moof = [
//!     0, 0, 0, 52, b'm', b'o', b'o', b'f', //
//!     0, 0, 0, 16, b'm', b'f', b'h', b'd', 0, 0, 0, 0, 0, 0, 0, 7, // sequence_number 7
//!     0, 0, 0, 28, b't', b'r', b'a', b'f', //
//!     0, 0, 0, 20, b't', b'r', b'u', b'n', 0, 0, 0x02, 0, // v0, sample-size-present
//!     0, 0, 0, 1, // sample_count
//!     0, 0, 0, 5, // sample_size
//! ];
//! let raw = read::boxes(&moof).next().unwrap().unwrap();
//! // A traf needs its tfhd.
//! assert!(parse_moof(&raw).is_err());
//! ```

mod cursor;
mod moof;
mod moov;
mod stbl;
mod walk;

use crate::FourCc;

pub(crate) use cursor::Cursor;
pub use moof::{
    FragmentSample, Moof, Tfhd, TrackFragment, Traf, Trun, TrunEntry, parse_mfhd, parse_moof,
    parse_tfdt, parse_tfhd, parse_trun,
};
pub(crate) use moov::{AUDIO_ENTRIES, VISUAL_ENTRIES};
pub use moov::{
    AudioFields, Edit, Mdhd, Movie, Mvhd, SampleEntry, Tkhd, Track, Trex, UserData, VisualFields,
    parse_elst, parse_mdhd, parse_moov, parse_mvhd, parse_stsd, parse_tkhd, parse_trak, parse_trex,
};
pub use stbl::{
    CompositionOffset, SampleSizes, SampleTable, SampleToChunk, TimeToSample, parse_stbl,
};
pub use walk::{Boxes, Header, RawBox, boxes, boxes_at, header, is_box_type};

/// Why some bytes could not be read as boxes.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ReadError {
    /// The bytes end inside a box or a box header.
    #[error("truncated at offset {offset}: {what} needs {needed} bytes, {available} available")]
    Truncated {
        /// Absolute offset of the box (or header) that does not fit.
        offset: u64,
        /// What was being read.
        what: String,
        /// Bytes it needs.
        needed: u64,
        /// Bytes left in the buffer, parent box or file.
        available: u64,
    },
    /// A box declares a size smaller than its own header.
    #[error("bad box size {size} at offset {offset}")]
    BadSize {
        /// Absolute offset of the box.
        offset: u64,
        /// The declared size.
        size: u64,
    },
    /// A box type that is not four printable characters: not a box boundary.
    #[error("garbage at offset {offset}: box type {fourcc}")]
    Garbage {
        /// Absolute offset of the would-be box.
        offset: u64,
        /// The type bytes, escaped.
        fourcc: String,
    },
    /// A box whose payload does not match its syntax, or a container missing a box it
    /// must hold.
    #[error("malformed {fourcc} at offset {offset}: {what}")]
    Malformed {
        /// Absolute offset of the box.
        offset: u64,
        /// The box type.
        fourcc: String,
        /// What is wrong.
        what: String,
    },
    /// A `traf` for a track that has no `trex` (so its defaults are unknown).
    #[error("moof at offset {offset}: traf for track {track_id} which has no trex")]
    NoTrex {
        /// Absolute offset of the `moof`.
        offset: u64,
        /// The `tfhd.track_ID`.
        track_id: u32,
    },
}

/// Largest `moov` or `moof` that callers reading files should load into memory: far more
/// than any recording holds, small enough that a corrupt size cannot exhaust memory.
pub const MAX_METADATA_BYTES: u64 = 256 << 20;

/// The fourcc as text, non-printable bytes escaped (`\xNN`).
pub fn fourcc_str(fourcc: &FourCc) -> String {
    fourcc
        .iter()
        .map(|&b| {
            if (0x20..0x7f).contains(&b) {
                char::from(b).to_string()
            } else {
                format!("\\x{b:02x}")
            }
        })
        .collect()
}

/// A [`ReadError::Malformed`] about `b`.
pub(crate) fn malformed(b: &RawBox<'_>, what: impl Into<String>) -> ReadError {
    ReadError::Malformed {
        offset: b.offset,
        fourcc: b.fourcc_str(),
        what: what.into(),
    }
}

/// The children of a container box, all of them well-formed (a broken child makes the
/// container malformed).
pub(crate) fn children<'a>(b: &RawBox<'a>) -> Result<Vec<RawBox<'a>>, ReadError> {
    b.children()
        .collect::<Result<_, _>>()
        .map_err(|e| malformed(b, e.to_string()))
}

/// The single child of type `fourcc`: missing or repeated is an error.
pub(crate) fn one<'a>(
    kids: &[RawBox<'a>],
    parent: &RawBox<'_>,
    fourcc: &FourCc,
) -> Result<RawBox<'a>, ReadError> {
    let mut it = kids.iter().filter(|k| &k.fourcc == fourcc);
    match (it.next(), it.next()) {
        (Some(k), None) => Ok(*k),
        (None, _) => Err(malformed(parent, format!("no {}", fourcc_str(fourcc)))),
        (Some(_), Some(_)) => Err(malformed(parent, format!("two {}", fourcc_str(fourcc)))),
    }
}

/// The single child of type `fourcc`, if any; repeated is an error.
pub(crate) fn optional<'a>(
    kids: &[RawBox<'a>],
    parent: &RawBox<'_>,
    fourcc: &FourCc,
) -> Result<Option<RawBox<'a>>, ReadError> {
    if kids.iter().any(|k| &k.fourcc == fourcc) {
        one(kids, parent, fourcc).map(Some)
    } else {
        Ok(None)
    }
}
