//! H.264 / AVC: the `avc1` sample entry and its `avcC` decoder configuration.

use bytes::{BufMut, Bytes, BytesMut};

use crate::sample_entry::bits::{Bits, rbsp};
use crate::sample_entry::{SampleEntryError, VisualSampleEntry, nal_len};
use crate::{Encode, box_len, write_box};

/// AVC sample entry (ISO/IEC 14496-15 §5.4.2.1): a `VisualSampleEntry` (ISO/IEC 14496-12
/// §12.1.3) whose samples are length-prefixed H.264 NAL units, with the parameter sets in
/// its `avcC`.
///
/// ```
/// use bmff_boxes::{Avc1, AvcC, Bytes, Encode};
///
/// let sps = Bytes::from_static(&[0x67, 0x42, 0xc0, 0x1e, 0xd9, 0x00, 0xa0, 0x47, 0xfe, 0xc8]);
/// let pps = Bytes::from_static(&[0x68, 0xce, 0x3c, 0x80]);
/// let entry = Avc1::new(640, 360, AvcC::new(sps, pps)?);
/// let bytes = entry.to_bytes(); // for `Stsd::entries` or `TrackConfig::sample_entry`
/// assert_eq!(&bytes[4..8], b"avc1");
/// assert_eq!(entry.avcc.avc_profile_indication, 0x42); // Baseline, from the SPS
/// # Ok::<(), bmff_boxes::SampleEntryError>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Avc1 {
    /// The visual fields (dimensions, ...).
    pub visual: VisualSampleEntry,
    /// The decoder configuration.
    pub avcc: AvcC,
}

impl Avc1 {
    /// An entry for `width` x `height` pictures (the SPS's cropped size) with the usual
    /// visual fields ([`VisualSampleEntry::new`]).
    pub fn new(width: u16, height: u16, avcc: AvcC) -> Self {
        Self {
            visual: VisualSampleEntry::new(width, height),
            avcc,
        }
    }
}

impl Encode for Avc1 {
    fn encoded_len(&self) -> u64 {
        box_len(VisualSampleEntry::LEN + self.avcc.encoded_len())
    }
    fn encode(&self, out: &mut BytesMut) {
        write_box(out, self.encoded_len(), *b"avc1", |out| {
            self.visual.encode_fields(out);
            self.avcc.encode(out);
        })
    }
}

/// AVC configuration box (ISO/IEC 14496-15 §5.4.2.1) holding an
/// `AVCDecoderConfigurationRecord` (§5.3.3.1): profile, level, NAL length size and the
/// parameter sets.
///
/// Encoding panics if a parameter set is longer than 65535 bytes, or if there are more than
/// 31 SPSs or 255 PPSs (the record cannot store them); [`AvcC::new`] checks the lengths.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AvcC {
    /// `profile_idc` of the SPS.
    pub avc_profile_indication: u8,
    /// The byte between `profile_idc` and `level_idc` in the SPS (the constraint flags).
    pub profile_compatibility: u8,
    /// `level_idc` of the SPS.
    pub avc_level_indication: u8,
    /// Length of a sample's NAL unit length prefixes minus one: 3 (4-byte lengths) from
    /// [`new`](Self::new).
    pub length_size_minus_one: u8,
    /// Sequence parameter set NAL units (type 7), each without a start code.
    pub sequence_parameter_sets: Vec<Bytes>,
    /// Picture parameter set NAL units (type 8), each without a start code.
    pub picture_parameter_sets: Vec<Bytes>,
    /// The fields the record holds for profiles other than Baseline (66), Main (77) and
    /// Extended (88), e.g. High (100).
    pub extension: Option<AvcCExtension>,
}

/// The part of an `AVCDecoderConfigurationRecord` present for profiles other than 66, 77
/// and 88 (ISO/IEC 14496-15 §5.3.3.1.2).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AvcCExtension {
    /// `chroma_format_idc` of the SPS (1 = 4:2:0).
    pub chroma_format: u8,
    /// `bit_depth_luma_minus8` of the SPS.
    pub bit_depth_luma_minus8: u8,
    /// `bit_depth_chroma_minus8` of the SPS.
    pub bit_depth_chroma_minus8: u8,
    /// Sequence parameter set extension NAL units (type 13); usually none.
    pub sequence_parameter_set_ext: Vec<Bytes>,
}

/// Profiles whose SPS states `chroma_format_idc` and bit depths (ISO/IEC 14496-10
/// §7.3.2.1.1).
const CHROMA_PROFILES: [u8; 13] = [100, 110, 122, 244, 44, 83, 86, 118, 128, 138, 139, 134, 135];

impl AvcC {
    /// The record for one SPS and one PPS (NAL units without start codes or lengths, as in
    /// an SDP's `sprop-parameter-sets` or between Annex B start codes): profile,
    /// compatibility and level come from the SPS, and so do chroma format and bit depths for
    /// the profiles that need them; samples get 4-byte NAL lengths.
    pub fn new(sps: Bytes, pps: Bytes) -> Result<Self, SampleEntryError> {
        const WHAT: &str = "h.264 sps";
        if sps.first().map(|b| b & 0x1f) != Some(7) {
            return Err(SampleEntryError::Invalid {
                what: WHAT,
                reason: "not an sps nal unit (type 7)",
            });
        }
        if pps.first().map(|b| b & 0x1f) != Some(8) {
            return Err(SampleEntryError::Invalid {
                what: "h.264 pps",
                reason: "not a pps nal unit (type 8)",
            });
        }
        nal_len(WHAT, &sps)?;
        nal_len("h.264 pps", &pps)?;
        let rbsp = rbsp(&sps);
        let [_, profile, compat, level, ..] = rbsp[..] else {
            return Err(SampleEntryError::Truncated { what: WHAT });
        };
        let extension = if matches!(profile, 66 | 77 | 88) {
            None
        } else {
            let mut ext = AvcCExtension {
                chroma_format: 1,
                bit_depth_luma_minus8: 0,
                bit_depth_chroma_minus8: 0,
                sequence_parameter_set_ext: Vec::new(),
            };
            if CHROMA_PROFILES.contains(&profile) {
                let mut b = Bits::new(&rbsp[4..], WHAT);
                b.ue()?; // seq_parameter_set_id
                let chroma = b.ue()?;
                if chroma == 3 {
                    b.skip(1)?; // separate_colour_plane_flag
                }
                let (luma, chroma_depth) = (b.ue()?, b.ue()?);
                if chroma > 3 || luma > 6 || chroma_depth > 6 {
                    return Err(SampleEntryError::Invalid {
                        what: WHAT,
                        reason: "chroma format or bit depth out of range",
                    });
                }
                ext.chroma_format = chroma as u8;
                ext.bit_depth_luma_minus8 = luma as u8;
                ext.bit_depth_chroma_minus8 = chroma_depth as u8;
            }
            Some(ext)
        };
        Ok(Self {
            avc_profile_indication: profile,
            profile_compatibility: compat,
            avc_level_indication: level,
            length_size_minus_one: 3,
            sequence_parameter_sets: vec![sps],
            picture_parameter_sets: vec![pps],
            extension,
        })
    }

    /// The RFC 6381 codec string, e.g. `avc1.64001F`.
    pub fn rfc6381_codec(&self) -> String {
        format!(
            "avc1.{:02X}{:02X}{:02X}",
            self.avc_profile_indication, self.profile_compatibility, self.avc_level_indication
        )
    }
}

/// Length of a list of 16-bit-length-prefixed NAL units.
fn nals_len(nals: &[Bytes]) -> u64 {
    nals.iter().map(|n| 2 + n.len() as u64).sum()
}

/// Appends 16-bit-length-prefixed NAL units.
fn put_nals(out: &mut BytesMut, nals: &[Bytes]) {
    for n in nals {
        out.put_u16(u16::try_from(n.len()).expect("parameter set longer than 65535 bytes"));
        out.put_slice(n);
    }
}

impl Encode for AvcC {
    fn encoded_len(&self) -> u64 {
        let ext = self
            .extension
            .as_ref()
            .map_or(0, |e| 4 + nals_len(&e.sequence_parameter_set_ext));
        box_len(
            7 + nals_len(&self.sequence_parameter_sets)
                + nals_len(&self.picture_parameter_sets)
                + ext,
        )
    }
    fn encode(&self, out: &mut BytesMut) {
        let count = |n: usize, max: usize, what: &str| {
            assert!(n <= max, "avcC holds at most {max} {what}");
            n as u8
        };
        write_box(out, self.encoded_len(), *b"avcC", |out| {
            out.put_u8(1); // configurationVersion
            out.put_u8(self.avc_profile_indication);
            out.put_u8(self.profile_compatibility);
            out.put_u8(self.avc_level_indication);
            out.put_u8(0xfc | self.length_size_minus_one); // reserved 111111
            let sps = &self.sequence_parameter_sets;
            out.put_u8(0xe0 | count(sps.len(), 31, "spss")); // reserved 111
            put_nals(out, sps);
            let pps = &self.picture_parameter_sets;
            out.put_u8(count(pps.len(), 255, "ppss"));
            put_nals(out, pps);
            if let Some(e) = &self.extension {
                out.put_u8(0xfc | e.chroma_format); // reserved 111111
                out.put_u8(0xf8 | e.bit_depth_luma_minus8); // reserved 11111
                out.put_u8(0xf8 | e.bit_depth_chroma_minus8); // reserved 11111
                let ext = &e.sequence_parameter_set_ext;
                out.put_u8(count(ext.len(), 255, "sps extensions"));
                put_nals(out, ext);
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_profile_level_and_high_profile_fields_from_the_sps() {
        // x264, High 4:2:2 Intra (122), chroma_format_idc 2, 10-bit luma and chroma:
        // seq_parameter_set_id 0 (1), chroma 2 (011), luma 2 (011), chroma 2 (011).
        let sps = Bytes::from_static(&[0x67, 122, 0x10, 0x1f, 0b1011_0110, 0b1100_0000]);
        let c = AvcC::new(sps, Bytes::from_static(&[0x68, 0xce])).unwrap();
        assert_eq!(
            (
                c.avc_profile_indication,
                c.profile_compatibility,
                c.avc_level_indication
            ),
            (122, 0x10, 0x1f)
        );
        let e = c.extension.unwrap();
        assert_eq!(
            (
                e.chroma_format,
                e.bit_depth_luma_minus8,
                e.bit_depth_chroma_minus8
            ),
            (2, 2, 2)
        );
        let main = AvcC::new(
            Bytes::from_static(&[0x67, 77, 0x40, 0x1e]),
            Bytes::from_static(&[0x68]),
        )
        .unwrap();
        assert_eq!(main.extension, None);
        assert_eq!(main.rfc6381_codec(), "avc1.4D401E");
    }

    #[test]
    fn refuses_what_is_not_an_sps_and_pps() {
        let pps = Bytes::from_static(&[0x68, 0xce]);
        assert!(matches!(
            AvcC::new(pps.clone(), pps.clone()),
            Err(SampleEntryError::Invalid { .. })
        ));
        assert_eq!(
            AvcC::new(Bytes::from_static(&[0x67, 100]), pps.clone()),
            Err(SampleEntryError::Truncated { what: "h.264 sps" })
        );
        assert_eq!(
            AvcC::new(Bytes::from_static(&[0x67, 100, 0, 0x1f]), pps),
            Err(SampleEntryError::Truncated { what: "h.264 sps" }),
            "a high profile sps must hold its chroma format"
        );
    }
}
