//! File-level boxes: `ftyp`, `free`, and the `mdat` header.

use bytes::{BufMut, BytesMut};

use crate::{Encode, FourCc, box_len, write_box};

/// File type box (ISO/IEC 14496-12 §4.3).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Ftyp {
    /// Brand identifier the file is best used with (§4.3.3), e.g. `isom`.
    pub major_brand: FourCc,
    /// Informative integer for the minor version of the major brand (§4.3.3).
    pub minor_version: u32,
    /// Brands the file is compatible with (§4.3.3).
    pub compatible_brands: Vec<FourCc>,
}

impl Encode for Ftyp {
    fn encoded_len(&self) -> u64 {
        box_len(8 + 4 * self.compatible_brands.len() as u64)
    }
    fn encode(&self, out: &mut BytesMut) {
        write_box(out, self.encoded_len(), *b"ftyp", |out| {
            out.put_slice(&self.major_brand);
            out.put_u32(self.minor_version);
            for brand in &self.compatible_brands {
                out.put_slice(brand);
            }
        })
    }
}

/// Free space box (ISO/IEC 14496-12 §8.1.2): a header and zero bytes to be ignored.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Free {
    /// Number of zero bytes after the header (§8.1.2.2 `data`).
    pub data_len: u32,
}

impl Encode for Free {
    fn encoded_len(&self) -> u64 {
        box_len(u64::from(self.data_len))
    }
    fn encode(&self, out: &mut BytesMut) {
        write_box(out, self.encoded_len(), *b"free", |out| {
            out.put_bytes(0, self.data_len as usize);
        })
    }
}

/// Header of a media data box (ISO/IEC 14496-12 §8.1.1), always in the 16-byte form with
/// a 64-bit `largesize` (§4.2), so that a file may grow past 4 GiB and the size can be
/// patched in place once known. The payload itself is written by the caller.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MdatHeader {
    /// Number of payload bytes following the header.
    pub payload_len: u64,
}

impl MdatHeader {
    /// Length of the header in bytes.
    pub const LEN: u64 = 16;
    /// Offset of the 64-bit `largesize` field from the start of the header.
    pub const LARGESIZE_OFFSET: u64 = 8;

    /// The value of the `largesize` field: the whole box length, header included.
    pub fn largesize(&self) -> u64 {
        Self::LEN + self.payload_len
    }
}

impl Encode for MdatHeader {
    /// The header's length (16); the payload is not included.
    fn encoded_len(&self) -> u64 {
        Self::LEN
    }
    fn encode(&self, out: &mut BytesMut) {
        let start = out.len();
        out.put_u32(1); // size = 1: a 64-bit largesize follows the type
        out.put_slice(b"mdat");
        out.put_u64(self.largesize());
        debug_assert_eq!((out.len() - start) as u64, Self::LEN);
    }
}

/// The header of a box whose body is written separately (ISO/IEC 14496-12 §4.2): the
/// compact 8-byte form when the whole box fits a 32-bit `size`, else the 16-byte form with
/// a 64-bit `largesize`. Used for `mdat` headers of movie fragments and for `free` headers
/// that cover existing bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BoxHeader {
    /// The box type.
    pub fourcc: FourCc,
    /// Number of bytes after the header.
    pub payload_len: u64,
}

impl BoxHeader {
    /// The whole box's length, header included.
    pub fn box_len(&self) -> u64 {
        self.payload_len + self.encoded_len()
    }

    /// The header that makes a box of exactly `box_len` bytes, header included. `None`
    /// when `box_len` is below 8 (the smallest box) or in `u32::MAX + 1 ..= u32::MAX + 8`
    /// (too long for the 8-byte form, and [`box_len`](Self::box_len) of a 16-byte header
    /// only takes the long form past that).
    pub fn with_box_len(fourcc: FourCc, box_len: u64) -> Option<Self> {
        if box_len < 8 {
            return None;
        }
        let h = Self {
            fourcc,
            payload_len: box_len - 8,
        };
        if h.encoded_len() == 8 {
            return Some(h);
        }
        let h = Self {
            fourcc,
            payload_len: box_len.checked_sub(16)?,
        };
        (h.encoded_len() == 16).then_some(h)
    }
}

impl Encode for BoxHeader {
    /// The header's length (8 or 16); the payload is not included.
    fn encoded_len(&self) -> u64 {
        box_len(self.payload_len) - self.payload_len
    }
    fn encode(&self, out: &mut BytesMut) {
        let start = out.len();
        let len = box_len(self.payload_len);
        match u32::try_from(len) {
            Ok(size) => out.put_u32(size),
            Err(_) => {
                out.put_u32(1); // size = 1: a 64-bit largesize follows the type
                out.put_slice(&self.fourcc);
                out.put_u64(len);
                debug_assert_eq!(out.len() - start, 16);
                return;
            }
        }
        out.put_slice(&self.fourcc);
        debug_assert_eq!(out.len() - start, 8);
    }
}
