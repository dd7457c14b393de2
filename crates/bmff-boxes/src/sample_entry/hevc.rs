//! H.265 / HEVC: the `hvc1` sample entry and its `hvcC` decoder configuration.

use bytes::{BufMut, Bytes, BytesMut};

use crate::sample_entry::bits::{Bits, rbsp};
use crate::sample_entry::{SampleEntryError, VisualSampleEntry, nal_len};
use crate::{Encode, box_len, write_box};

/// HEVC sample entry (ISO/IEC 14496-15 §8.4.1.1): a `VisualSampleEntry` (ISO/IEC 14496-12
/// §12.1.3) whose samples are length-prefixed H.265 NAL units, with every parameter set in
/// its `hvcC` (none in the samples, as `hvc1` rather than `hev1` promises; Apple players
/// want this form).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Hvc1 {
    /// The visual fields (dimensions, ...).
    pub visual: VisualSampleEntry,
    /// The decoder configuration.
    pub hvcc: HvcC,
}

impl Hvc1 {
    /// An entry for `width` x `height` pictures (the SPS's cropped size) with the usual
    /// visual fields ([`VisualSampleEntry::new`]).
    pub fn new(width: u16, height: u16, hvcc: HvcC) -> Self {
        Self {
            visual: VisualSampleEntry::new(width, height),
            hvcc,
        }
    }
}

impl Encode for Hvc1 {
    fn encoded_len(&self) -> u64 {
        box_len(VisualSampleEntry::LEN + self.hvcc.encoded_len())
    }
    fn encode(&self, out: &mut BytesMut) {
        write_box(out, self.encoded_len(), *b"hvc1", |out| {
            self.visual.encode_fields(out);
            self.hvcc.encode(out);
        })
    }
}

/// HEVC configuration box (ISO/IEC 14496-15 §8.4.1.1) holding an
/// `HEVCDecoderConfigurationRecord` (§8.3.3.1): the SPS's general profile, tier and level,
/// its chroma format and bit depths, and arrays of NAL units.
///
/// Encoding panics if a NAL unit is longer than 65535 bytes or an array holds more than
/// 65535 of them; [`HvcC::new`] checks the lengths.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HvcC {
    /// `general_profile_space` (2 bits).
    pub general_profile_space: u8,
    /// `general_tier_flag`.
    pub general_tier_flag: bool,
    /// `general_profile_idc` (5 bits; 1 = Main).
    pub general_profile_idc: u8,
    /// `general_profile_compatibility_flag[j]`, flag 0 in the highest bit.
    pub general_profile_compatibility_flags: u32,
    /// The 48 bits from `general_progressive_source_flag` on, in the low 48 bits.
    pub general_constraint_indicator_flags: u64,
    /// `general_level_idc` (30 times the level).
    pub general_level_idc: u8,
    /// A bound on spatial segmentation (12 bits); 0 (none stated) from
    /// [`new`](Self::new).
    pub min_spatial_segmentation_idc: u16,
    /// The parallelism the stream allows (2 bits); 0 (unknown or mixed) from
    /// [`new`](Self::new).
    pub parallelism_type: u8,
    /// `chroma_format_idc` of the SPS (1 = 4:2:0).
    pub chroma_format: u8,
    /// `bit_depth_luma_minus8` of the SPS.
    pub bit_depth_luma_minus8: u8,
    /// `bit_depth_chroma_minus8` of the SPS.
    pub bit_depth_chroma_minus8: u8,
    /// Average frame rate in frames per 256 s; 0 (unknown) from [`new`](Self::new).
    pub avg_frame_rate: u16,
    /// 0 (unknown), 1 or 2 (2 bits); 0 from [`new`](Self::new).
    pub constant_frame_rate: u8,
    /// `sps_max_sub_layers_minus1 + 1` (3 bits).
    pub num_temporal_layers: u8,
    /// `sps_temporal_id_nesting_flag`.
    pub temporal_id_nested: bool,
    /// Length of a sample's NAL unit length prefixes minus one: 3 (4-byte lengths) from
    /// [`new`](Self::new).
    pub length_size_minus_one: u8,
    /// NAL units by type: VPS, SPS and PPS from [`new`](Self::new); SEI arrays may follow.
    pub arrays: Vec<HvcCArray>,
}

/// One array of an `HEVCDecoderConfigurationRecord`: NAL units of one type.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HvcCArray {
    /// True when every NAL unit of this type the stream uses is here (required for
    /// parameter sets in `hvc1`).
    pub array_completeness: bool,
    /// `nal_unit_type` (6 bits): 32 VPS, 33 SPS, 34 PPS, 39 prefix SEI.
    pub nal_unit_type: u8,
    /// The NAL units, each without a start code.
    pub nal_units: Vec<Bytes>,
}

impl HvcC {
    /// The record for one VPS, SPS and PPS (NAL units without start codes or lengths, as in
    /// an SDP's `sprop-vps`/`sprop-sps`/`sprop-pps` or between Annex B start codes), each in
    /// a complete array; the general profile, tier and level, temporal layers, chroma format
    /// and bit depths come from the SPS; samples get 4-byte NAL lengths.
    pub fn new(vps: Bytes, sps: Bytes, pps: Bytes) -> Result<Self, SampleEntryError> {
        for (nal, ty, what) in [
            (&vps, 32, "h.265 vps"),
            (&sps, 33, "h.265 sps"),
            (&pps, 34, "h.265 pps"),
        ] {
            if nal.first().map(|b| (b >> 1) & 0x3f) != Some(ty) {
                return Err(SampleEntryError::Invalid {
                    what,
                    reason: "wrong nal unit type",
                });
            }
            nal_len(what, nal)?;
        }
        let s = parse_sps(&sps)?;
        let array = |nal_unit_type, nal| HvcCArray {
            array_completeness: true,
            nal_unit_type,
            nal_units: vec![nal],
        };
        Ok(Self {
            min_spatial_segmentation_idc: 0,
            parallelism_type: 0,
            avg_frame_rate: 0,
            constant_frame_rate: 0,
            length_size_minus_one: 3,
            arrays: vec![array(32, vps), array(33, sps), array(34, pps)],
            ..s
        })
    }
}

/// The fields of an `HvcC` that come from the SPS (ITU-T H.265 §7.3.2.2.1 and the
/// `profile_tier_level` of §7.3.3), the others zero and no arrays.
fn parse_sps(sps: &[u8]) -> Result<HvcC, SampleEntryError> {
    const WHAT: &str = "h.265 sps";
    let rbsp = rbsp(sps);
    let mut b = Bits::new(rbsp.get(2..).unwrap_or_default(), WHAT);
    b.skip(4)?; // sps_video_parameter_set_id
    let max_sub_layers_minus1 = b.u(3)? as u8;
    let temporal_id_nested = b.flag()?;
    let general_profile_space = b.u(2)? as u8;
    let general_tier_flag = b.flag()?;
    let general_profile_idc = b.u(5)? as u8;
    let general_profile_compatibility_flags = b.u(32)? as u32;
    let general_constraint_indicator_flags = b.u(48)?;
    let general_level_idc = b.u(8)? as u8;
    let mut sub_layers = [(false, false); 7];
    for s in sub_layers.iter_mut().take(max_sub_layers_minus1.into()) {
        *s = (b.flag()?, b.flag()?); // sub_layer_profile_present, sub_layer_level_present
    }
    if max_sub_layers_minus1 > 0 {
        b.skip(2 * (8 - u32::from(max_sub_layers_minus1)))?; // reserved_zero_2bits
    }
    for &(profile, level) in sub_layers.iter().take(max_sub_layers_minus1.into()) {
        if profile {
            b.skip(88)?;
        }
        if level {
            b.skip(8)?;
        }
    }
    b.ue()?; // sps_seq_parameter_set_id
    let chroma_format = b.ue()?;
    if chroma_format == 3 {
        b.skip(1)?; // separate_colour_plane_flag
    }
    b.ue()?; // pic_width_in_luma_samples
    b.ue()?; // pic_height_in_luma_samples
    if b.flag()? {
        for _ in 0..4 {
            b.ue()?; // conf_win_{left,right,top,bottom}_offset
        }
    }
    let (luma, chroma) = (b.ue()?, b.ue()?);
    if chroma_format > 3 || luma > 8 || chroma > 8 {
        return Err(SampleEntryError::Invalid {
            what: WHAT,
            reason: "chroma format or bit depth out of range",
        });
    }
    Ok(HvcC {
        general_profile_space,
        general_tier_flag,
        general_profile_idc,
        general_profile_compatibility_flags,
        general_constraint_indicator_flags,
        general_level_idc,
        min_spatial_segmentation_idc: 0,
        parallelism_type: 0,
        chroma_format: chroma_format as u8,
        bit_depth_luma_minus8: luma as u8,
        bit_depth_chroma_minus8: chroma as u8,
        avg_frame_rate: 0,
        constant_frame_rate: 0,
        num_temporal_layers: max_sub_layers_minus1 + 1,
        temporal_id_nested,
        length_size_minus_one: 3,
        arrays: Vec::new(),
    })
}

impl Encode for HvcC {
    fn encoded_len(&self) -> u64 {
        let arrays: u64 = self
            .arrays
            .iter()
            .map(|a| 3 + a.nal_units.iter().map(|n| 2 + n.len() as u64).sum::<u64>())
            .sum();
        box_len(23 + arrays)
    }
    fn encode(&self, out: &mut BytesMut) {
        write_box(out, self.encoded_len(), *b"hvcC", |out| {
            out.put_u8(1); // configurationVersion
            out.put_u8(
                self.general_profile_space << 6
                    | u8::from(self.general_tier_flag) << 5
                    | self.general_profile_idc,
            );
            out.put_u32(self.general_profile_compatibility_flags);
            out.put_uint(self.general_constraint_indicator_flags, 6);
            out.put_u8(self.general_level_idc);
            out.put_u16(0xf000 | self.min_spatial_segmentation_idc); // reserved 1111
            out.put_u8(0xfc | self.parallelism_type); // reserved 111111
            out.put_u8(0xfc | self.chroma_format); // reserved 111111
            out.put_u8(0xf8 | self.bit_depth_luma_minus8); // reserved 11111
            out.put_u8(0xf8 | self.bit_depth_chroma_minus8); // reserved 11111
            out.put_u16(self.avg_frame_rate);
            out.put_u8(
                self.constant_frame_rate << 6
                    | self.num_temporal_layers << 3
                    | u8::from(self.temporal_id_nested) << 2
                    | self.length_size_minus_one,
            );
            out.put_u8(u8::try_from(self.arrays.len()).expect("hvcC holds at most 255 arrays"));
            for a in &self.arrays {
                out.put_u8(u8::from(a.array_completeness) << 7 | a.nal_unit_type); // reserved 0
                out.put_u16(u16::try_from(a.nal_units.len()).expect("too many nal units"));
                for n in &a.nal_units {
                    out.put_u16(u16::try_from(n.len()).expect("nal unit longer than 65535 bytes"));
                    out.put_slice(n);
                }
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_sub_layer_profiles_before_the_chroma_format() {
        // A Main 10 SPS with two sub-layers, the lower one with a profile and a level: the
        // 88 + 8 bits of the sub-layer must be skipped to reach chroma_format_idc.
        let mut bits = String::new();
        bits += "0100001000000001"; // nal header: type 33
        bits += "0000"; // sps_video_parameter_set_id
        bits += "001"; // sps_max_sub_layers_minus1 = 1
        bits += "1"; // sps_temporal_id_nesting_flag
        bits += "00"; // general_profile_space
        bits += "1"; // general_tier_flag
        bits += "00010"; // general_profile_idc 2 (Main 10)
        bits += &format!("{:032b}", 0x2000_0000u32); // compatibility flag 2
        bits += &format!("{:048b}", 0x9000_0000_0000u64); // progressive, frame only
        bits += &format!("{:08b}", 123); // general_level_idc 4.1
        bits += "11"; // sub-layer 0: profile present, level present
        bits += &"00".repeat(7); // reserved_zero_2bits for sub-layers 1..8
        bits += &"1".repeat(88); // the sub-layer's profile
        bits += &"1".repeat(8); // the sub-layer's level
        bits += "1"; // sps_seq_parameter_set_id 0
        bits += "010"; // chroma_format_idc 1
        bits += "0000001000001"; // pic_width_in_luma_samples 64
        bits += "0000001000001"; // pic_height_in_luma_samples 64
        bits += "0"; // conformance_window_flag
        bits += "011"; // bit_depth_luma_minus8 2
        bits += "011"; // bit_depth_chroma_minus8 2
        while !bits.len().is_multiple_of(8) {
            bits.push('0');
        }
        let sps: Vec<u8> = (0..bits.len())
            .step_by(8)
            .map(|i| u8::from_str_radix(&bits[i..i + 8], 2).unwrap())
            .collect();
        let c = parse_sps(&sps).unwrap();
        assert_eq!(
            (
                c.general_tier_flag,
                c.general_profile_idc,
                c.general_level_idc
            ),
            (true, 2, 123)
        );
        assert_eq!(c.general_profile_compatibility_flags, 0x2000_0000);
        assert_eq!(c.general_constraint_indicator_flags, 0x9000_0000_0000);
        assert_eq!((c.num_temporal_layers, c.temporal_id_nested), (2, true));
        assert_eq!(
            (
                c.chroma_format,
                c.bit_depth_luma_minus8,
                c.bit_depth_chroma_minus8
            ),
            (1, 2, 2)
        );
        assert_eq!(
            parse_sps(&sps[..20]),
            Err(SampleEntryError::Truncated { what: "h.265 sps" })
        );
    }

    #[test]
    fn refuses_nal_units_of_the_wrong_type() {
        let nal = |t: u8| Bytes::from(vec![t << 1, 1, 0, 0]);
        assert!(matches!(
            HvcC::new(nal(33), nal(33), nal(34)),
            Err(SampleEntryError::Invalid {
                what: "h.265 vps",
                ..
            })
        ));
    }
}
