//! User data: the `udta` box of a `moov` and QuickTime-style text items in it, such as
//! `©day` (the recording's date and time), which ffmpeg reports as the `date` tag.

use bytes::{BufMut, Bytes, BytesMut};

use crate::{Encode, FourCc, box_len, write_box};

/// `©day`: the date (and time) of the recording, as text.
pub const DAY: FourCc = [0xA9, b'd', b'a', b'y'];

/// The packed ISO 639-2 code `und` (undetermined), as QuickTime text items carry it.
const LANGUAGE_UND: u16 = 0x55C4;

/// User data box (ISO/IEC 14496-12 §8.10.1): a container whose children are held as
/// encoded boxes, in order.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Udta {
    /// The child boxes, each complete (header included).
    pub children: Vec<Bytes>,
}

impl Encode for Udta {
    fn encoded_len(&self) -> u64 {
        box_len(self.children.iter().map(|c| c.len() as u64).sum())
    }
    fn encode(&self, out: &mut BytesMut) {
        write_box(out, self.encoded_len(), *b"udta", |out| {
            for c in &self.children {
                out.put_slice(c);
            }
        })
    }
}

/// A QuickTime user data text item (QuickTime File Format, "User data text strings and
/// language codes"): a box named `fourcc` (`©day`, `©nam`, ...) holding a 16-bit text
/// length, a 16-bit language code (`und`) and the UTF-8 text.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UserText {
    /// The item's type, e.g. [`DAY`].
    pub fourcc: FourCc,
    /// The text (at most 65535 bytes; longer text is cut at a character boundary).
    pub text: String,
}

impl UserText {
    /// The text as written: cut to 65535 bytes at a character boundary.
    fn bytes(&self) -> &str {
        let mut end = self.text.len().min(usize::from(u16::MAX));
        while !self.text.is_char_boundary(end) {
            end -= 1;
        }
        &self.text[..end]
    }

    /// The encoded box, ready for [`Udta::children`].
    pub fn to_bytes(&self) -> Bytes {
        let mut out = BytesMut::new();
        self.encode(&mut out);
        out.freeze()
    }
}

impl Encode for UserText {
    fn encoded_len(&self) -> u64 {
        box_len(4 + self.bytes().len() as u64)
    }
    fn encode(&self, out: &mut BytesMut) {
        let text = self.bytes();
        write_box(out, self.encoded_len(), self.fourcc, |out| {
            out.put_u16(text.len() as u16); // checked above: at most 65535
            out.put_u16(LANGUAGE_UND);
            out.put_slice(text.as_bytes());
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn day_text_item_and_udta_bytes() {
        let day = UserText {
            fourcc: DAY,
            text: "2026-11-30T07:00:00.5Z".to_owned(),
        };
        let bytes = day.to_bytes();
        assert_eq!(
            &bytes[..12],
            &[
                0, 0, 0, 34, // size: 8 + 4 + 22
                0xA9, b'd', b'a', b'y', // type
                0, 22, // text length
                0x55, 0xC4, // language: und
            ]
        );
        assert_eq!(&bytes[12..], b"2026-11-30T07:00:00.5Z");
        let udta = Udta {
            children: vec![bytes.clone()],
        };
        let mut out = BytesMut::new();
        udta.encode(&mut out);
        assert_eq!(&out[..8], &[0, 0, 0, 42, b'u', b'd', b't', b'a']);
        assert_eq!(&out[8..], &bytes[..]);
    }

    #[test]
    fn long_text_is_cut_at_a_character_boundary() {
        let t = UserText {
            fourcc: DAY,
            text: "é".repeat(40_000),
        };
        assert_eq!(t.bytes().len(), 65_534);
        assert_eq!(t.to_bytes().len(), 8 + 4 + 65_534);
    }
}
