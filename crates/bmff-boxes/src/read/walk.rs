//! The box walker: box headers (ISO/IEC 14496-12 §4.2) over a byte slice, payloads untouched.

use crate::FourCc;
use crate::read::{ReadError, fourcc_str};

/// A box header (ISO/IEC 14496-12 §4.2), decoded from the first 8 or 16 bytes of a box.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Header {
    /// Absolute offset of the box's first byte.
    pub offset: u64,
    /// The box type.
    pub fourcc: FourCc,
    /// Header length: 8, or 16 with a 64-bit `largesize`.
    pub header_len: u64,
    /// Whole box length, header included (for a box declared with size 0, the bytes that
    /// were available: it runs to the end of its container or file).
    pub size: u64,
    /// Declared with size 0: runs to the end of its container or file.
    pub to_end: bool,
}

impl Header {
    /// Offset just past the box.
    pub fn end(&self) -> u64 {
        self.offset + self.size
    }

    /// Offset of the payload.
    pub fn payload_start(&self) -> u64 {
        self.offset + self.header_len
    }

    /// Payload length.
    pub fn payload_len(&self) -> u64 {
        self.size - self.header_len
    }

    /// The type as text, non-printable bytes escaped.
    pub fn fourcc_str(&self) -> String {
        fourcc_str(&self.fourcc)
    }
}

/// True when every byte of `fourcc` is printable ASCII, or `0xa9` (`©`, which starts
/// QuickTime metadata atom names): a plausible box type rather than garbage.
pub fn is_box_type(fourcc: &FourCc) -> bool {
    fourcc
        .iter()
        .all(|&b| (0x20..0x7f).contains(&b) || b == 0xa9)
}

/// Decodes the header of a box starting at absolute offset `offset`, from `head` (its
/// first bytes: 16 are enough) and `available`, the bytes from `offset` to the end of the
/// enclosing buffer, container or file. The box must fit in `available`; a box of size 0
/// takes all of it.
///
/// ```
/// use bmff_boxes::read::header;
///
/// let h = header(&[0, 0, 0, 8, b'f', b'r', b'e', b'e'], 100, 8).unwrap();
/// assert_eq!((&h.fourcc, h.header_len, h.size, h.end()), (b"free", 8, 8, 108));
/// assert!(header(&[0, 0, 0, 9, b'f', b'r', b'e', b'e'], 100, 8).is_err());
/// ```
pub fn header(head: &[u8], offset: u64, available: u64) -> Result<Header, ReadError> {
    let have = (head.len() as u64).min(available);
    if have < 8 {
        return Err(ReadError::Truncated {
            offset,
            what: "box header".into(),
            needed: 8,
            available,
        });
    }
    let size32 = u32::from_be_bytes([head[0], head[1], head[2], head[3]]);
    let fourcc = [head[4], head[5], head[6], head[7]];
    if !is_box_type(&fourcc) {
        return Err(ReadError::Garbage {
            offset,
            fourcc: fourcc_str(&fourcc),
        });
    }
    let (size, header_len, to_end) = match size32 {
        0 => (available, 8, true),
        1 => {
            if have < 16 {
                return Err(ReadError::Truncated {
                    offset,
                    what: format!("{} largesize header", fourcc_str(&fourcc)),
                    needed: 16,
                    available,
                });
            }
            let large = u64::from_be_bytes(head[8..16].try_into().expect("8 bytes"));
            (large, 16, false)
        }
        n => (u64::from(n), 8, false),
    };
    if size < header_len {
        return Err(ReadError::BadSize { offset, size });
    }
    if size > available {
        return Err(ReadError::Truncated {
            offset,
            what: fourcc_str(&fourcc),
            needed: size,
            available,
        });
    }
    Ok(Header {
        offset,
        fourcc,
        header_len,
        size,
        to_end,
    })
}

/// One box as found in a buffer: its header decoded, its payload untouched.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RawBox<'a> {
    /// Absolute offset of the box's first byte.
    pub offset: u64,
    /// The box type.
    pub fourcc: FourCc,
    /// Header length: 8, or 16 with a 64-bit `largesize`.
    pub header_len: u64,
    /// The bytes after the header.
    pub payload: &'a [u8],
}

impl<'a> RawBox<'a> {
    /// The box whose header is `h` and whose payload is `payload` (which must hold
    /// `h.payload_len()` bytes: the caller read them).
    pub fn from_header(h: &Header, payload: &'a [u8]) -> Self {
        debug_assert_eq!(payload.len() as u64, h.payload_len());
        Self {
            offset: h.offset,
            fourcc: h.fourcc,
            header_len: h.header_len,
            payload,
        }
    }

    /// Whole box length, header included.
    pub fn size(&self) -> u64 {
        self.header_len + self.payload.len() as u64
    }

    /// Absolute offset of the payload.
    pub fn payload_offset(&self) -> u64 {
        self.offset + self.header_len
    }

    /// The fourcc as text, with non-printable bytes escaped.
    pub fn fourcc_str(&self) -> String {
        fourcc_str(&self.fourcc)
    }

    /// Boxes nested directly in the payload (for container boxes).
    pub fn children(&self) -> Boxes<'a> {
        boxes_at(self.payload, self.offset + self.header_len)
    }

    /// Boxes nested in the payload after `skip` bytes of fields (e.g. 8 for `stsd`).
    pub fn children_after(&self, skip: usize) -> Boxes<'a> {
        let skip = skip.min(self.payload.len());
        boxes_at(
            &self.payload[skip..],
            self.offset + self.header_len + skip as u64,
        )
    }
}

/// Iterator over consecutive boxes in a buffer; stops after the first error.
#[derive(Clone, Debug)]
pub struct Boxes<'a> {
    buf: &'a [u8],
    pos: usize,
    base_offset: u64,
    failed: bool,
}

/// Walks the boxes of `buf`, whose first byte is at absolute offset 0.
pub fn boxes(buf: &[u8]) -> Boxes<'_> {
    boxes_at(buf, 0)
}

/// Walks the boxes of `buf`, whose first byte is at absolute offset `base_offset`.
pub fn boxes_at(buf: &[u8], base_offset: u64) -> Boxes<'_> {
    Boxes {
        buf,
        pos: 0,
        base_offset,
        failed: false,
    }
}

impl<'a> Iterator for Boxes<'a> {
    type Item = Result<RawBox<'a>, ReadError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed || self.pos >= self.buf.len() {
            return None;
        }
        let rest = &self.buf[self.pos..];
        let offset = self.base_offset + self.pos as u64;
        let r = header(rest, offset, rest.len() as u64).map(|h| {
            self.pos += h.size as usize;
            RawBox {
                offset,
                fourcc: h.fourcc,
                header_len: h.header_len,
                payload: &rest[h.header_len as usize..h.size as usize],
            }
        });
        self.failed = r.is_err();
        Some(r)
    }
}
