//! Pure ISO BMFF (ISO/IEC 14496-12) box encoding, plus an independent reader and box-tree dumper.
//!
//! Each box is a struct named after its fourcc ([`Stts`], [`Co64`], [`Tfdt`], ...), with
//! fields named after the specification. Every box implements [`Encode`]: its exact length
//! is known before anything is written ([`Encode::encoded_len`]), so offsets that depend on
//! box sizes (`stco` entries, `trun.data_offset`) are plain arithmetic, and
//! [`Encode::encode`] appends exactly that many bytes in one pass (checked by a debug
//! assertion). Versions 0/1 are chosen automatically where a time or duration needs 64 bits.
//!
//! Sample entries, the codec descriptions in [`Stsd`], are built from what a stream carries:
//! [`Avc1`] with [`AvcC`] from an H.264 SPS and PPS, [`Hvc1`] with [`HvcC`] from an H.265
//! VPS, SPS and PPS, [`Mp4a`] with [`Esds`] from an AAC AudioSpecificConfig, and
//! [`Mp4v::jpeg`] for Motion JPEG. [`Stsd`] holds them encoded, as [`Bytes`] (what
//! `mp4-track` takes too), so entries of other codecs can be handed in pre-built.
//!
//! The [`read`] module is the one reader of this workspace: a box walker over byte ranges
//! and parsers of `moov` and `moof` into plain structs, with a typed error. It shares no
//! code and no structs with the encoders, so reading back what they wrote checks them.
//! The [`dump`] module prints a box tree as text on top of [`read`]'s walker (its `trun`
//! lines come from [`read::parse_trun`]); it is independent of the encoders too.
//!
//! # Example
//!
//! ```
//! use bmff_boxes::{Encode, Stts, SttsEntry, dump};
//! use bmff_boxes::BytesMut;
//!
//! let stts = Stts {
//!     entries: vec![SttsEntry { sample_count: 300, sample_delta: 3000 }],
//! };
//! let mut out = BytesMut::new();
//! stts.encode(&mut out);
//! assert_eq!(out.len() as u64, stts.encoded_len());
//! assert_eq!(
//!     &out[..],
//!     &[
//!         0, 0, 0, 24, b's', b't', b't', b's', // size 24, type
//!         0, 0, 0, 0, // version 0, flags 0
//!         0, 0, 0, 1, // entry_count
//!         0, 0, 1, 44, // sample_count 300
//!         0, 0, 11, 184, // sample_delta 3000
//!     ][..]
//! );
//! assert_eq!(dump::dump(&out).unwrap(), "stts size=24 entries=1 [300x3000]\n");
//! ```

use bytes::BufMut;

pub use bytes::{Bytes, BytesMut};

pub mod dump;

/// The README's examples, compiled and run as doctests.
#[doc = include_str!("../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;

mod file;
mod fragment;
mod media_info;
mod movie;
pub mod read;
pub mod sample_check;
mod sample_entry;
mod sample_table;
mod user_data;

pub use file::{BoxHeader, Free, Ftyp, MdatHeader};
pub use fragment::{Mfhd, Moof, Mvex, Prft, Tfdt, Tfhd, Traf, Trex, Trun, TrunFields, TrunSample};
pub use media_info::{Dinf, Dref, MediaHeader, Minf, Smhd, Url, Vmhd};
pub use movie::{
    Edts, Elst, ElstEntry, Hdlr, IDENTITY_MATRIX, Mdhd, Mdia, Moov, Mvhd, Tkhd, TrackMedia, Trak,
};
pub use sample_entry::{
    AudioSampleEntry, Avc1, AvcC, AvcCExtension, DecoderConfigDescriptor, DecoderSpecificInfo,
    DfLa, EsDescriptor, Esds, FLaC, G711, Hvc1, HvcC, HvcCArray, Ipcm, Mp4a, Mp4v, PcmC,
    SampleEntryError, SlConfigDescriptor, StreamInfo, VisualSampleEntry,
};
pub use sample_table::{
    ChunkOffsets, Co64, Ctts, CttsEntry, Sbgp, SbgpEntry, Sgpd, Stbl, Stco, Stsc, StscEntry, Stsd,
    Stss, Stsz, Stts, SttsEntry,
};
pub use user_data::{DESC, MetaItems, Udta};

/// `sample_is_non_sync_sample` in the sample flags of ISO/IEC 14496-12 §8.8.3.1 (in
/// `trex`, `tfhd` and `trun`): set on every sample that is not a sync sample.
pub const NON_SYNC_BIT: u32 = 0x0001_0000;

/// Sample flags (§8.8.3.1) of a sync sample: `sample_depends_on` = 2 (depends on no other
/// sample), `sample_is_non_sync_sample` = 0.
pub const SYNC_SAMPLE_FLAGS: u32 = 0x0200_0000;

/// Sample flags (§8.8.3.1) of a non-sync sample: `sample_depends_on` = 1 (depends on
/// others), `sample_is_non_sync_sample` = 1.
pub const NON_SYNC_SAMPLE_FLAGS: u32 = 0x0100_0000 | NON_SYNC_BIT;

/// A four-character code naming a box type, e.g. `*b"moov"`.
pub type FourCc = [u8; 4];

/// A box that knows its exact encoded length before it is written (also implemented by the
/// MPEG-4 descriptors inside [`Esds`], whose "header" is their tag and size).
pub trait Encode {
    /// Whole box length, header included.
    fn encoded_len(&self) -> u64;
    /// Appends exactly `encoded_len()` bytes.
    fn encode(&self, out: &mut BytesMut);

    /// Encodes into a fresh buffer of exactly the right capacity.
    fn to_bytes(&self) -> Bytes {
        let mut out = BytesMut::with_capacity(
            usize::try_from(self.encoded_len()).expect("box does not fit in memory"),
        );
        self.encode(&mut out);
        out.freeze()
    }
}

/// Length of a box whose body (after the header) is `body_len` bytes: an 8-byte header, or
/// a 16-byte one (`size` = 1 plus a 64-bit `largesize`, ISO/IEC 14496-12 §4.2) when the box
/// would not fit a 32-bit size.
pub(crate) const fn box_len(body_len: u64) -> u64 {
    if body_len + 8 <= u32::MAX as u64 {
        body_len + 8
    } else {
        body_len + 16
    }
}

/// Length of a full box (version and flags after the header, §4.2) with `body_len` bytes
/// after the flags.
pub(crate) const fn full_box_len(body_len: u64) -> u64 {
    box_len(body_len + 4)
}

/// Writes a box header for a box of total length `len`, then the body, and checks in debug
/// builds that the body brought the box to exactly `len` bytes.
pub(crate) fn write_box(
    out: &mut BytesMut,
    len: u64,
    fourcc: FourCc,
    body: impl FnOnce(&mut BytesMut),
) {
    let start = out.len();
    out.reserve(usize::try_from(len).expect("box does not fit in memory"));
    put_header(out, len, fourcc);
    body(out);
    debug_assert_eq!(
        (out.len() - start) as u64,
        len,
        "{}: encoded_len disagrees with encode",
        String::from_utf8_lossy(&fourcc)
    );
}

/// Writes the 8-byte header, or the 16-byte `largesize` form when `len` needs 64 bits.
fn put_header(out: &mut BytesMut, len: u64, fourcc: FourCc) {
    match u32::try_from(len) {
        Ok(size) => {
            out.put_u32(size);
            out.put_slice(&fourcc);
        }
        Err(_) => {
            out.put_u32(1);
            out.put_slice(&fourcc);
            out.put_u64(len);
        }
    }
}

/// Like [`write_box`] for a full box: writes `version` and the 24-bit `flags` first.
pub(crate) fn write_full_box(
    out: &mut BytesMut,
    len: u64,
    fourcc: FourCc,
    version: u8,
    flags: u32,
    body: impl FnOnce(&mut BytesMut),
) {
    debug_assert!(flags < 1 << 24, "flags are 24 bits");
    write_box(out, len, fourcc, |out| {
        out.put_u32(u32::from(version) << 24 | flags);
        body(out);
    })
}

/// A table's entry count as the `u32` the format stores.
pub(crate) fn entry_count(n: usize) -> u32 {
    u32::try_from(n).expect("table has more than u32::MAX entries")
}

/// Sum of the encoded lengths of a list of boxes.
pub(crate) fn sum_len<T: Encode>(items: &[T]) -> u64 {
    items.iter().map(Encode::encoded_len).sum()
}

/// Encodes a list of boxes in order.
pub(crate) fn encode_all<T: Encode>(items: &[T], out: &mut BytesMut) {
    for item in items {
        item.encode(out);
    }
}

impl<T: Encode> Encode for Option<T> {
    fn encoded_len(&self) -> u64 {
        self.as_ref().map_or(0, Encode::encoded_len)
    }
    fn encode(&self, out: &mut BytesMut) {
        if let Some(b) = self {
            b.encode(out);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn box_len_switches_to_largesize_past_32_bits() {
        assert_eq!(box_len(0), 8);
        assert_eq!(box_len(u64::from(u32::MAX) - 8), u64::from(u32::MAX));
        assert_eq!(box_len(u64::from(u32::MAX) - 7), u64::from(u32::MAX) + 9);
        assert_eq!(full_box_len(4), 16);
    }

    #[test]
    fn header_uses_largesize_form_past_32_bits() {
        let mut out = BytesMut::new();
        put_header(&mut out, 100, *b"free");
        assert_eq!(&out[..], &[0, 0, 0, 100, b'f', b'r', b'e', b'e']);
        let mut out = BytesMut::new();
        put_header(&mut out, u64::from(u32::MAX) + 9, *b"stsz");
        assert_eq!(
            &out[..],
            &[
                0, 0, 0, 1, // size 1: largesize follows
                b's', b't', b's', b'z', // type
                0, 0, 0, 1, 0, 0, 0, 8, // largesize 2^32 + 8
            ]
        );
    }
}
