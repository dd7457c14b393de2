//! User data: the `udta` box of a `moov`, and the iTunes-style metadata list in it
//! (`meta` with an `mdir` handler and an `ilst` of text items such as `desc`), which
//! ffmpeg reports as tags (`description`) and strict parsers accept.

use bytes::{BufMut, Bytes, BytesMut};

use crate::{Encode, FourCc, box_len, full_box_len, write_box, write_full_box};

/// `desc`: the description item of an `ilst`.
pub const DESC: FourCc = *b"desc";

/// The `data` type indicator of UTF-8 text (Apple's well-known types).
const UTF8: u32 = 1;

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

/// A metadata box (ISO/IEC 14496-12 §8.11.1) holding an iTunes-style item list: `hdlr`
/// with handler `mdir`, then `ilst` with one box per item (`desc`, ...), each holding a
/// `data` box (type 1: UTF-8, locale 0) with the text. This is what ffmpeg writes for
/// `-metadata description=...` in MP4 and reads back as a tag.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MetaItems {
    /// The items: their type (e.g. [`DESC`]) and text.
    pub items: Vec<(FourCc, String)>,
}

impl MetaItems {
    fn hdlr_len() -> u64 {
        // pre_defined, handler_type, reserved[3], an empty name.
        full_box_len(4 + 4 + 12 + 1)
    }

    fn item_len(text: &str) -> u64 {
        box_len(box_len(8 + text.len() as u64))
    }

    fn ilst_len(&self) -> u64 {
        box_len(self.items.iter().map(|(_, t)| Self::item_len(t)).sum())
    }

    /// The encoded box, ready for [`Udta::children`].
    pub fn to_bytes(&self) -> Bytes {
        let mut out = BytesMut::new();
        self.encode(&mut out);
        out.freeze()
    }
}

impl Encode for MetaItems {
    fn encoded_len(&self) -> u64 {
        full_box_len(Self::hdlr_len() + self.ilst_len())
    }
    fn encode(&self, out: &mut BytesMut) {
        write_full_box(out, self.encoded_len(), *b"meta", 0, 0, |out| {
            write_full_box(out, Self::hdlr_len(), *b"hdlr", 0, 0, |out| {
                out.put_u32(0); // pre_defined
                out.put_slice(b"mdir"); // handler_type
                out.put_slice(b"appl"); // reserved[0], as iTunes writes it
                out.put_u64(0); // reserved[1..3]
                out.put_u8(0); // name: empty
            });
            write_box(out, self.ilst_len(), *b"ilst", |out| {
                for (item, text) in &self.items {
                    write_box(out, Self::item_len(text), *item, |out| {
                        write_box(out, box_len(8 + text.len() as u64), *b"data", |out| {
                            out.put_u32(UTF8); // type indicator
                            out.put_u32(0); // locale
                            out.put_slice(text.as_bytes());
                        })
                    });
                }
            });
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_description_item_in_meta_ilst() {
        let meta = MetaItems {
            items: vec![(DESC, "hello".to_owned())],
        };
        let bytes = meta.to_bytes();
        #[rustfmt::skip]
        let expected: &[u8] = &[
            0, 0, 0, 82, b'm', b'e', b't', b'a', 0, 0, 0, 0, // meta, v0
            0, 0, 0, 33, b'h', b'd', b'l', b'r', 0, 0, 0, 0, // hdlr, v0
            0, 0, 0, 0, // pre_defined
            b'm', b'd', b'i', b'r', // handler_type
            b'a', b'p', b'p', b'l', 0, 0, 0, 0, 0, 0, 0, 0, // reserved
            0, // name
            0, 0, 0, 37, b'i', b'l', b's', b't', //
            0, 0, 0, 29, b'd', b'e', b's', b'c', //
            0, 0, 0, 21, b'd', b'a', b't', b'a', //
            0, 0, 0, 1, // type: UTF-8
            0, 0, 0, 0, // locale
            b'h', b'e', b'l', b'l', b'o',
        ];
        assert_eq!(&bytes[..], expected);
        let udta = Udta {
            children: vec![bytes.clone()],
        };
        let mut out = BytesMut::new();
        udta.encode(&mut out);
        assert_eq!(&out[..8], &[0, 0, 0, 90, b'u', b'd', b't', b'a']);
        assert_eq!(&out[8..], &bytes[..]);
    }
}
