//! Cheap checks of sample data, without decoding: what a power cut leaves behind (file
//! system blocks that never reached the disk and read back as zeros) breaks structure that
//! every valid sample has.
//!
//! - Length-prefixed video (`avc1`/`avc3`, `hvc1`/`hev1`; ISO/IEC 14496-15): the NAL unit
//!   lengths (`lengthSizeMinusOne + 1` bytes each, from the `avcC`/`hvcC`) tile the sample
//!   exactly, and each NAL unit header is one a sample can hold: `forbidden_zero_bit` 0 and
//!   a type that is not unspecified or reserved for something else (H.264 §7.4.1: types 1
//!   to 23; 0 and 24..=31 are unspecified, used by RTP for aggregation and fragmentation;
//!   H.265 §7.4.2.2: types 0 to 40; 41..=47 reserved, 48..=63 unspecified) and, for H.265,
//!   `nuh_temporal_id_plus1` not 0.
//! - AAC (`mp4a`): a raw data block of zero bytes only is not valid (its first element
//!   would be a mono channel element whose data runs out).
//! - JPEG (`mp4v` with object type 0x6C): the sample starts with the SOI marker `FF D8`.
//!   (Its end is not checked: retina appends the EOI marker only when the last two bytes
//!   both differ from `FF D9`, so a frame may legitimately end otherwise.)
//! - FLAC (`fLaC`): the sample starts with a frame header's sync code, `FF F8` or `FF F9`
//!   (RFC 9639 §9.1).
//! - Integer PCM (`ipcm`, `sowt`, `twos`, `lpcm`): no structure to check, and silence is
//!   all zero bytes, so the zero-block check below does not apply to its samples
//!   ([`SampleFormat::may_be_zero`]); G.711 (`ulaw`/`alaw`) silence is `FF` or `D5`, so it
//!   keeps the check.
//! - Every codec: a file system block ([`BLOCK_BYTES`], aligned in the file; the file's
//!   last block ends at the end of the file) whose bytes are all zero and all media data
//!   ([`ZeroBlocks`]). No sample format this crate writes holds such a run: an H.264/H.265
//!   NAL unit never contains `00 00 00` (emulation prevention), and AAC and JPEG data are
//!   entropy coded.
//!
//! ```
//! use bmff_boxes::sample_check::{NalCodec, SampleDefect, SampleFormat, check_sample};
//!
//! let h264 = SampleFormat::LengthPrefixed { codec: NalCodec::H264, length_size: 4 };
//! // One IDR slice NAL unit of 3 bytes.
//! assert_eq!(check_sample(h264, &[0, 0, 0, 3, 0x65, 0x88, 0x84]), Ok(()));
//! // The same sample whose last 4 bytes were zeroed.
//! assert_eq!(
//!     check_sample(h264, &[0, 0, 0, 3, 0, 0, 0]),
//!     Err(SampleDefect::NalType { at: 4, nal_type: 0 })
//! );
//! ```

use crate::read::{self, RawBox};

mod zero_blocks;

pub use zero_blocks::ZeroBlocks;

/// The file system block size the zero check assumes (ext4, XFS, btrfs: 4 KiB).
pub const BLOCK_BYTES: u64 = 4096;

/// The NAL unit syntax of a length-prefixed video format.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NalCodec {
    /// H.264: a 1-byte NAL unit header.
    H264,
    /// H.265: a 2-byte NAL unit header.
    H265,
}

/// What structure the samples of a sample entry have.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SampleFormat {
    /// NAL units, each after a big-endian length of `length_size` (1, 2 or 4) bytes.
    LengthPrefixed {
        /// The NAL unit header syntax.
        codec: NalCodec,
        /// `lengthSizeMinusOne + 1`.
        length_size: u8,
    },
    /// AAC raw data blocks.
    Aac,
    /// JPEG images.
    Jpeg,
    /// FLAC frames.
    Flac,
    /// Integer PCM, where silence is zero bytes.
    Pcm,
    /// Anything else: only the zero-block check applies.
    Other,
}

impl SampleFormat {
    /// The format of the samples of a sample entry (the whole entry box, header included,
    /// as [`read::SampleEntry::bytes`]). An entry whose decoder configuration is missing
    /// or malformed is [`SampleFormat::Other`].
    pub fn of_entry(entry: &[u8]) -> Self {
        let Some(fourcc) = entry.get(4..8) else {
            return Self::Other;
        };
        let (codec, config, fixed) = match fourcc {
            b"avc1" | b"avc3" => (NalCodec::H264, b"avcC", VISUAL_FIXED),
            b"hvc1" | b"hev1" => (NalCodec::H265, b"hvcC", VISUAL_FIXED),
            b"mp4a" => return Self::Aac,
            b"fLaC" => return Self::Flac,
            b"ipcm" | b"sowt" | b"twos" | b"lpcm" => return Self::Pcm,
            b"mp4v" => {
                return match child(entry, VISUAL_FIXED, b"esds").and_then(object_type) {
                    Some(JPEG_OBJECT_TYPE) => Self::Jpeg,
                    _ => Self::Other,
                };
            }
            _ => return Self::Other,
        };
        // avcC: configurationVersion, profile, compatibility, level, then 6 reserved bits
        // and lengthSizeMinusOne (ISO/IEC 14496-15 §5.3.3.1). hvcC: 21 bytes of profile,
        // tier, level and format fields, then lengthSizeMinusOne likewise (§8.3.3.1).
        let at = match codec {
            NalCodec::H264 => 4,
            NalCodec::H265 => 21,
        };
        match child(entry, fixed, config).and_then(|c| c.get(at).copied()) {
            Some(b) if b & 3 != 2 => Self::LengthPrefixed {
                codec,
                length_size: (b & 3) + 1,
            },
            _ => Self::Other,
        }
    }

    /// True when a valid sample may hold a file system block of zero bytes (PCM silence):
    /// such samples are left out of [`ZeroBlocks`].
    pub fn may_be_zero(self) -> bool {
        self == Self::Pcm
    }
}

/// Header and fixed fields of a `VisualSampleEntry` (§12.1.3), before its child boxes.
const VISUAL_FIXED: usize = 8 + 78;
/// `objectTypeIndication` of JPEG (ISO/IEC 14496-1, the MP4 registration authority).
const JPEG_OBJECT_TYPE: u8 = 0x6C;

/// The payload of the child box `fourcc` of an entry whose children start at `from`.
fn child<'a>(entry: &'a [u8], from: usize, fourcc: &[u8; 4]) -> Option<&'a [u8]> {
    read::boxes_at(entry.get(from..)?, from as u64)
        .map_while(Result::ok)
        .find(|b: &RawBox<'_>| &b.fourcc == fourcc)
        .map(|b| b.payload)
}

/// The `objectTypeIndication` of an `esds` payload: version and flags, then an
/// `ES_Descriptor` (tag 3) whose `DecoderConfigDescriptor` (tag 4) starts with it.
fn object_type(esds: &[u8]) -> Option<u8> {
    let mut p = esds.get(4..)?;
    let mut want = 3;
    loop {
        let (&tag, rest) = p.split_first()?;
        // A size of 1 to 4 bytes, 7 bits each, high bit set on all but the last.
        let n = rest.iter().take(4).position(|b| b & 0x80 == 0)? + 1;
        p = &rest[n..];
        match (tag, want) {
            (3, 3) => {
                // ES_ID, then flags: streamDependence, URL, OCRstream.
                let (&flags, rest) = p.get(2..)?.split_first()?;
                let skip = usize::from(flags & 0x80 != 0) * 2
                    + if flags & 0x40 != 0 {
                        1 + usize::from(*rest.first()?)
                    } else {
                        0
                    }
                    + usize::from(flags & 0x20 != 0) * 2;
                p = rest.get(skip..)?;
                want = 4;
            }
            (4, 4) => return p.first().copied(),
            _ => return None,
        }
    }
}

/// Why a sample's data cannot be what was recorded. `at` is the byte offset within the
/// sample.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SampleDefect {
    /// A NAL unit length that runs past the end of the sample, or is too short for the
    /// NAL unit header.
    #[error("NAL unit length {length} at byte {at} does not fit the {left} bytes left")]
    NalLength {
        /// Where the length field starts.
        at: u64,
        /// The length read.
        length: u64,
        /// Bytes left in the sample after the length field.
        left: u64,
    },
    /// The sample ends inside a NAL unit length field.
    #[error("the sample ends inside the NAL unit length field at byte {at}")]
    CutLength {
        /// Where the length field starts.
        at: u64,
    },
    /// A NAL unit header with `forbidden_zero_bit` set.
    #[error("NAL unit header at byte {at} has forbidden_zero_bit set")]
    ForbiddenBit {
        /// Where the NAL unit header is.
        at: u64,
    },
    /// A NAL unit type that a sample cannot hold.
    #[error("NAL unit type {nal_type} at byte {at} is not allowed in a sample")]
    NalType {
        /// Where the NAL unit header is.
        at: u64,
        /// The type.
        nal_type: u8,
    },
    /// An H.265 NAL unit header with `nuh_temporal_id_plus1` 0.
    #[error("H.265 NAL unit header at byte {at} has nuh_temporal_id_plus1 0")]
    TemporalIdZero {
        /// Where the NAL unit header is.
        at: u64,
    },
    /// An AAC sample of zero bytes only.
    #[error("AAC sample of {len} zero bytes")]
    ZeroAac {
        /// The sample's length.
        len: u64,
    },
    /// A JPEG sample that does not start with `FF D8`.
    #[error("JPEG sample does not start with the SOI marker FF D8 (at byte {at})")]
    NoSoi {
        /// Always 0.
        at: u64,
    },
    /// A FLAC sample that does not start with a frame sync code (`FF F8` or `FF F9`).
    #[error("FLAC sample does not start with a frame sync code FF F8 (at byte {at})")]
    NoFlacSync {
        /// Always 0.
        at: u64,
    },
    /// A whole file system block of zero bytes ([`ZeroBlocks`]).
    #[error("{len} zero bytes from byte {at}: a whole file system block")]
    ZeroBlock {
        /// Where the block starts, from the start of the sample (it may start in an
        /// earlier sample).
        at: i64,
        /// The block's length.
        len: u64,
    },
}

impl SampleDefect {
    /// Where the defect is, from the start of the sample (negative when a zero block
    /// starts in an earlier sample).
    pub fn at(&self) -> i64 {
        match *self {
            Self::NalLength { at, .. }
            | Self::CutLength { at }
            | Self::ForbiddenBit { at }
            | Self::NalType { at, .. }
            | Self::TemporalIdZero { at }
            | Self::NoSoi { at }
            | Self::NoFlacSync { at } => at as i64,
            Self::ZeroAac { .. } => 0,
            Self::ZeroBlock { at, .. } => at,
        }
    }
}

/// Checks the structure of one sample (see the module docs). An empty sample passes.
pub fn check_sample(format: SampleFormat, sample: &[u8]) -> Result<(), SampleDefect> {
    match format {
        SampleFormat::LengthPrefixed { codec, length_size } => {
            check_nal_units(codec, length_size, sample)
        }
        SampleFormat::Aac if !sample.is_empty() && sample.iter().all(|&b| b == 0) => {
            Err(SampleDefect::ZeroAac {
                len: sample.len() as u64,
            })
        }
        SampleFormat::Jpeg if !sample.is_empty() && !sample.starts_with(&[0xFF, 0xD8]) => {
            Err(SampleDefect::NoSoi { at: 0 })
        }
        SampleFormat::Flac if !sample.is_empty() && !matches!(sample, [0xFF, 0xF8 | 0xF9, ..]) => {
            Err(SampleDefect::NoFlacSync { at: 0 })
        }
        _ => Ok(()),
    }
}

fn check_nal_units(codec: NalCodec, length_size: u8, sample: &[u8]) -> Result<(), SampleDefect> {
    let n = usize::from(length_size);
    let header_len = match codec {
        NalCodec::H264 => 1,
        NalCodec::H265 => 2,
    };
    let mut pos = 0usize;
    while pos < sample.len() {
        let at = pos as u64;
        let Some(field) = sample.get(pos..pos + n) else {
            return Err(SampleDefect::CutLength { at });
        };
        let length = field.iter().fold(0u64, |v, &b| v << 8 | u64::from(b));
        let left = (sample.len() - pos - n) as u64;
        if length < header_len || length > left {
            return Err(SampleDefect::NalLength { at, length, left });
        }
        let h = pos + n;
        let head_at = h as u64;
        if sample[h] & 0x80 != 0 {
            return Err(SampleDefect::ForbiddenBit { at: head_at });
        }
        match codec {
            NalCodec::H264 => {
                let nal_type = sample[h] & 0x1F;
                if !(1..=23).contains(&nal_type) {
                    return Err(SampleDefect::NalType {
                        at: head_at,
                        nal_type,
                    });
                }
            }
            NalCodec::H265 => {
                let nal_type = (sample[h] >> 1) & 0x3F;
                if nal_type > 40 {
                    return Err(SampleDefect::NalType {
                        at: head_at,
                        nal_type,
                    });
                }
                if sample[h + 1] & 0x07 == 0 {
                    return Err(SampleDefect::TemporalIdZero { at: head_at });
                }
            }
        }
        pos = h + length as usize;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const H264: SampleFormat = SampleFormat::LengthPrefixed {
        codec: NalCodec::H264,
        length_size: 4,
    };
    const H265: SampleFormat = SampleFormat::LengthPrefixed {
        codec: NalCodec::H265,
        length_size: 4,
    };

    #[test]
    fn h264_nal_units_tile_the_sample() {
        let sample = [
            0, 0, 0, 2, 0x09, 0xF0, // access unit delimiter
            0, 0, 0, 3, 0x65, 0x88, 0x80, // IDR slice
        ];
        assert_eq!(check_sample(H264, &sample), Ok(()));
        // Two bytes short: the second length runs past the end.
        assert_eq!(
            check_sample(H264, &sample[..11]),
            Err(SampleDefect::NalLength {
                at: 6,
                length: 3,
                left: 1
            })
        );
        // Cut inside the second length field.
        assert_eq!(
            check_sample(H264, &sample[..8]),
            Err(SampleDefect::CutLength { at: 6 })
        );
        // A 2-byte length size.
        let short = SampleFormat::LengthPrefixed {
            codec: NalCodec::H264,
            length_size: 2,
        };
        assert_eq!(check_sample(short, &[0, 2, 0x41, 0x9A]), Ok(()));
    }

    #[test]
    fn h264_headers() {
        // Zeroed from the second NAL unit on: a length of 0.
        assert_eq!(
            check_sample(H264, &[0, 0, 0, 2, 0x09, 0xF0, 0, 0, 0, 0, 0, 0]),
            Err(SampleDefect::NalLength {
                at: 6,
                length: 0,
                left: 2
            })
        );
        // forbidden_zero_bit.
        assert_eq!(
            check_sample(H264, &[0, 0, 0, 1, 0x85]),
            Err(SampleDefect::ForbiddenBit { at: 4 })
        );
        // Type 28 (FU-A) belongs to RTP, never to a sample; type 0 is unspecified.
        assert_eq!(
            check_sample(H264, &[0, 0, 0, 1, 0x7C]),
            Err(SampleDefect::NalType {
                at: 4,
                nal_type: 28
            })
        );
        assert_eq!(
            check_sample(H264, &[0, 0, 0, 1, 0x60]),
            Err(SampleDefect::NalType { at: 4, nal_type: 0 })
        );
        for ok in [0x01, 0x06, 0x67, 0x68, 0x17] {
            assert_eq!(check_sample(H264, &[0, 0, 0, 1, ok]), Ok(()), "{ok:#x}");
        }
    }

    #[test]
    fn h265_headers() {
        // IDR_W_RADL (19): 0x26 0x01; VPS (32): 0x40 0x01; SEI suffix (40): 0x50 0x01.
        for ok in [[0x26, 0x01], [0x40, 0x01], [0x50, 0x01], [0x02, 0x01]] {
            assert_eq!(
                check_sample(H265, &[0, 0, 0, 2, ok[0], ok[1]]),
                Ok(()),
                "{ok:x?}"
            );
        }
        // Type 49 (RTP fragmentation unit).
        assert_eq!(
            check_sample(H265, &[0, 0, 0, 2, 0x62, 0x01]),
            Err(SampleDefect::NalType {
                at: 4,
                nal_type: 49
            })
        );
        // nuh_temporal_id_plus1 0.
        assert_eq!(
            check_sample(H265, &[0, 0, 0, 2, 0x26, 0x00]),
            Err(SampleDefect::TemporalIdZero { at: 4 })
        );
        // A 1-byte NAL unit cannot hold the 2-byte header.
        assert_eq!(
            check_sample(H265, &[0, 0, 0, 1, 0x26]),
            Err(SampleDefect::NalLength {
                at: 0,
                length: 1,
                left: 1
            })
        );
    }

    #[test]
    fn aac_and_jpeg() {
        assert_eq!(check_sample(SampleFormat::Aac, &[0x21, 0x10, 0x05]), Ok(()));
        assert_eq!(
            check_sample(SampleFormat::Aac, &[0, 0, 0]),
            Err(SampleDefect::ZeroAac { len: 3 })
        );
        assert_eq!(
            check_sample(SampleFormat::Jpeg, &[0xFF, 0xD8, 0xFF, 0xDB]),
            Ok(())
        );
        assert_eq!(
            check_sample(SampleFormat::Jpeg, &[0, 0, 0xFF, 0xD9]),
            Err(SampleDefect::NoSoi { at: 0 })
        );
        assert_eq!(check_sample(SampleFormat::Other, &[0; 8]), Ok(()));
        assert_eq!(check_sample(H264, &[]), Ok(()));
    }

    #[test]
    fn formats_of_entries() {
        let visual = |fourcc: &[u8; 4], children: &[u8]| {
            let mut e = vec![0u8; VISUAL_FIXED];
            e[..4].copy_from_slice(&((VISUAL_FIXED + children.len()) as u32).to_be_bytes());
            e[4..8].copy_from_slice(fourcc);
            e.extend_from_slice(children);
            e
        };
        let avcc = [
            0, 0, 0, 15, b'a', b'v', b'c', b'C', //
            1, 100, 0, 31,   // version, profile, compatibility, level
            0xFF, // reserved, lengthSizeMinusOne 3
            0xE0, 0, // no SPS, no PPS
        ];
        assert_eq!(SampleFormat::of_entry(&visual(b"avc1", &avcc)), H264);
        let mut two = avcc;
        two[12] = 0xFD; // lengthSizeMinusOne 1
        assert_eq!(
            SampleFormat::of_entry(&visual(b"avc1", &two)),
            SampleFormat::LengthPrefixed {
                codec: NalCodec::H264,
                length_size: 2
            }
        );
        // No avcC: nothing known of the samples' structure.
        assert_eq!(
            SampleFormat::of_entry(&visual(b"avc1", &[])),
            SampleFormat::Other
        );
        let mut hvcc = vec![0, 0, 0, 31, b'h', b'v', b'c', b'C'];
        hvcc.extend_from_slice(&[1; 21]);
        hvcc.extend_from_slice(&[0x0F, 0]); // lengthSizeMinusOne 3, no arrays
        assert_eq!(SampleFormat::of_entry(&visual(b"hvc1", &hvcc)), H265);
        let esds = [
            0, 0, 0, 28, b'e', b's', b'd', b's', 0, 0, 0, 0, // version, flags
            0x03, 14, 0, 1, 0, // ES_Descriptor: ES_ID 1, no flags
            0x04, 9, 0x6C, 0x11, 0, 0, 0, 0, 0, 0, 0, // DecoderConfigDescriptor: JPEG
        ];
        assert_eq!(
            SampleFormat::of_entry(&visual(b"mp4v", &esds)),
            SampleFormat::Jpeg
        );
        let mut mpeg4 = esds;
        mpeg4[19] = 0x20;
        assert_eq!(
            SampleFormat::of_entry(&visual(b"mp4v", &mpeg4)),
            SampleFormat::Other
        );
        assert_eq!(SampleFormat::of_entry(b"\0\0\0\x08mp4a"), SampleFormat::Aac);
        assert_eq!(
            SampleFormat::of_entry(b"\0\0\0\x08fLaC"),
            SampleFormat::Flac
        );
        assert_eq!(SampleFormat::of_entry(b"\0\0\0\x08ipcm"), SampleFormat::Pcm);
        assert_eq!(
            SampleFormat::of_entry(b"\0\0\0\x08ulaw"),
            SampleFormat::Other
        );
        assert!(SampleFormat::Pcm.may_be_zero() && !SampleFormat::Other.may_be_zero());
        assert_eq!(
            check_sample(SampleFormat::Flac, &[0xFF, 0xF8, 0x69, 0x08]),
            Ok(())
        );
        assert_eq!(
            check_sample(SampleFormat::Flac, &[0, 0, 0, 0]),
            Err(SampleDefect::NoFlacSync { at: 0 })
        );
        assert_eq!(check_sample(SampleFormat::Pcm, &[0; 8192]), Ok(()));
        assert_eq!(SampleFormat::of_entry(b"\0\0"), SampleFormat::Other);
    }

    #[test]
    fn zero_blocks() {
        let b = BLOCK_BYTES as usize;
        // Media from 100 to 3 blocks + 500 (the end of the file), the second block zero.
        let mut media = vec![1u8; 3 * b + 400];
        media[b - 100..2 * b - 100].fill(0);
        assert_eq!(
            ZeroBlocks::new(3 * BLOCK_BYTES + 500).feed(100, &media),
            Some(BLOCK_BYTES)
        );
        // Fed in pieces split inside the block.
        let mut z = ZeroBlocks::new(3 * BLOCK_BYTES + 500);
        assert_eq!(z.feed(100, &media[..b]), None);
        assert_eq!(z.feed(100 + b as u64, &media[b..]), Some(BLOCK_BYTES));
        // A gap between the pieces: the block is not known to be zero.
        let mut z = ZeroBlocks::new(3 * BLOCK_BYTES + 500);
        assert_eq!(z.feed(100, &media[..b]), None);
        assert_eq!(z.feed(101 + b as u64, &media[b + 1..]), None);
        // 4095 zero bytes are not a block.
        let mut one_short = vec![1u8; 3 * b];
        one_short[b + 1..2 * b].fill(0);
        assert_eq!(ZeroBlocks::new(1 << 20).feed(0, &one_short), None);
        // The file's last, partial block (500 bytes) zeroed.
        let mut tail = vec![1u8; 3 * b + 400];
        tail[3 * b - 100..].fill(0);
        assert_eq!(
            ZeroBlocks::new(3 * BLOCK_BYTES + 500).feed(100, &tail),
            Some(3 * BLOCK_BYTES)
        );
        // A block that starts before the bytes fed (a box header there) never counts.
        assert_eq!(ZeroBlocks::new(1 << 20).feed(100, &vec![0; b]), None);
    }
}
