//! Media information boxes: `minf` and what it holds besides the sample table (`vmhd`, `smhd`, `dinf`, `dref`, `url `).

use bytes::{BufMut, BytesMut};

use crate::{
    Encode, Stbl, box_len, encode_all, entry_count, full_box_len, sum_len, write_box,
    write_full_box,
};

/// Media information box (ISO/IEC 14496-12 §8.4.4).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Minf {
    /// Media-type specific header (`vmhd` or `smhd`).
    pub media_header: MediaHeader,
    /// Data information (§8.7.1).
    pub dinf: Dinf,
    /// Sample table (§8.5.1).
    pub stbl: Stbl,
}

impl Encode for Minf {
    fn encoded_len(&self) -> u64 {
        box_len(self.media_header.encoded_len() + self.dinf.encoded_len() + self.stbl.encoded_len())
    }
    fn encode(&self, out: &mut BytesMut) {
        write_box(out, self.encoded_len(), *b"minf", |out| {
            self.media_header.encode(out);
            self.dinf.encode(out);
            self.stbl.encode(out);
        })
    }
}

/// The media-type specific header inside `minf` (ISO/IEC 14496-12 §12.1.2, §12.2.2).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MediaHeader {
    /// Video media header.
    Video(Vmhd),
    /// Sound media header.
    Sound(Smhd),
}

impl Encode for MediaHeader {
    fn encoded_len(&self) -> u64 {
        match self {
            Self::Video(b) => b.encoded_len(),
            Self::Sound(b) => b.encoded_len(),
        }
    }
    fn encode(&self, out: &mut BytesMut) {
        match self {
            Self::Video(b) => b.encode(out),
            Self::Sound(b) => b.encode(out),
        }
    }
}

/// Video media header box (ISO/IEC 14496-12 §12.1.2); flags are always 1.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Vmhd {
    /// Composition mode, 0 = copy (§12.1.2.3).
    pub graphicsmode: u16,
    /// Red, green, blue for graphics modes (§12.1.2.3).
    pub opcolor: [u16; 3],
}

impl Encode for Vmhd {
    fn encoded_len(&self) -> u64 {
        full_box_len(8)
    }
    fn encode(&self, out: &mut BytesMut) {
        write_full_box(out, self.encoded_len(), *b"vmhd", 0, 1, |out| {
            out.put_u16(self.graphicsmode);
            for c in self.opcolor {
                out.put_u16(c);
            }
        })
    }
}

/// Sound media header box (ISO/IEC 14496-12 §12.2.2).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Smhd {
    /// Stereo balance, 8.8 fixed point, 0 = centre (§12.2.2.3).
    pub balance: i16,
}

impl Encode for Smhd {
    fn encoded_len(&self) -> u64 {
        full_box_len(4)
    }
    fn encode(&self, out: &mut BytesMut) {
        write_full_box(out, self.encoded_len(), *b"smhd", 0, 0, |out| {
            out.put_i16(self.balance);
            out.put_u16(0); // reserved
        })
    }
}

/// Data information box (ISO/IEC 14496-12 §8.7.1).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Dinf {
    /// Data reference box (§8.7.2).
    pub dref: Dref,
}

impl Encode for Dinf {
    fn encoded_len(&self) -> u64 {
        box_len(self.dref.encoded_len())
    }
    fn encode(&self, out: &mut BytesMut) {
        write_box(out, self.encoded_len(), *b"dinf", |out| {
            self.dref.encode(out)
        })
    }
}

/// Data reference box (ISO/IEC 14496-12 §8.7.2). The default holds one self-contained
/// `url ` entry: media data is in this file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Dref {
    /// Data entries; `sample_entry.data_reference_index` is 1-based into this list.
    pub entries: Vec<Url>,
}

impl Default for Dref {
    fn default() -> Self {
        Self { entries: vec![Url] }
    }
}

impl Encode for Dref {
    fn encoded_len(&self) -> u64 {
        full_box_len(4 + sum_len(&self.entries))
    }
    fn encode(&self, out: &mut BytesMut) {
        write_full_box(out, self.encoded_len(), *b"dref", 0, 0, |out| {
            out.put_u32(entry_count(self.entries.len()));
            encode_all(&self.entries, out);
        })
    }
}

/// Data entry URL box (ISO/IEC 14496-12 §8.7.2), self-contained form only: flags = 1 and no
/// location string, meaning the media data is in the same file.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Url;

impl Encode for Url {
    fn encoded_len(&self) -> u64 {
        full_box_len(0)
    }
    fn encode(&self, out: &mut BytesMut) {
        write_full_box(out, self.encoded_len(), *b"url ", 0, 1, |_| {})
    }
}
