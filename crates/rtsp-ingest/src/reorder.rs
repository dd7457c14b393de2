//! The reorder depth of an H.264 / H.265 stream: how many frames may precede a frame in
//! decode order and follow it in presentation order (B-frames). Read from the sequence
//! parameter set in the decoder configuration record retina builds.

use h264_reader::rbsp::{BitRead, BitReaderError, Numeric, Primitive};

use crate::VideoCodec;

/// Depth assumed for H.264 when the SPS does not say (no VUI `bitstream_restriction`, a
/// profile that allows B-frames, no usable `max_dec_frame_buffering`): enough for the
/// usual `IBBP` and `IbBbP` (B-pyramid) structures of cameras.
pub(crate) const DEFAULT_H264_REORDER_DEPTH: u8 = 2;

/// Where a [`ReorderDepth`] comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum DepthSource {
    /// Stated by the bitstream (`max_num_reorder_frames`, `sps_max_num_reorder_pics`), or
    /// implied by the profile (Baseline has no B-frames), or not applicable (JPEG).
    Stream,
    /// [`DEFAULT_H264_REORDER_DEPTH`]: the SPS does not say, or could not be read.
    Default,
}

/// A reorder depth and where it comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct ReorderDepth {
    pub depth: u8,
    pub source: DepthSource,
}

impl ReorderDepth {
    fn stream(depth: u32) -> Self {
        Self {
            depth: clamp(depth),
            source: DepthSource::Stream,
        }
    }

    fn default_depth() -> Self {
        Self {
            depth: DEFAULT_H264_REORDER_DEPTH,
            source: DepthSource::Default,
        }
    }
}

/// At most 16 frames can be reordered in both codecs (the size of the DPB).
fn clamp(depth: u32) -> u8 {
    depth.min(16) as u8
}

/// The reorder depth of a stream from retina's `extra_data` (an `AVCDecoderConfigurationRecord`
/// or `HEVCDecoderConfigurationRecord`, as set up with MP4 framing).
pub(crate) fn reorder_depth(codec: VideoCodec, extra_data: &[u8]) -> ReorderDepth {
    match codec {
        VideoCodec::H264 => match avcc_sps(extra_data) {
            Some(sps) => h264_reorder_depth(sps),
            None => ReorderDepth::default_depth(),
        },
        // An HEVC SPS always states its depth; if it cannot be read, assume the same
        // conservative default as for H.264.
        VideoCodec::H265 => hvcc_sps(extra_data)
            .and_then(h265_max_num_reorder_pics)
            .map_or_else(ReorderDepth::default_depth, ReorderDepth::stream),
        VideoCodec::Jpeg => ReorderDepth::stream(0),
    }
}

/// The first SPS NAL unit of an `AVCDecoderConfigurationRecord` (ISO/IEC 14496-15 5.3.3.1).
fn avcc_sps(record: &[u8]) -> Option<&[u8]> {
    let count = usize::from(*record.get(5)? & 0x1f);
    if count == 0 {
        return None;
    }
    let len = usize::from(u16::from_be_bytes([*record.get(6)?, *record.get(7)?]));
    record.get(8..8 + len)
}

/// The first SPS NAL unit (type 33) of an `HEVCDecoderConfigurationRecord` (ISO/IEC 14496-15
/// 8.3.3.1).
fn hvcc_sps(record: &[u8]) -> Option<&[u8]> {
    let arrays = *record.get(22)?;
    let mut at = 23;
    for _ in 0..arrays {
        let nal_type = *record.get(at)? & 0x3f;
        let count = u16::from_be_bytes([*record.get(at + 1)?, *record.get(at + 2)?]);
        at += 3;
        for _ in 0..count {
            let len = usize::from(u16::from_be_bytes([*record.get(at)?, *record.get(at + 1)?]));
            let nal = record.get(at + 2..at + 2 + len)?;
            if nal_type == 33 {
                return Some(nal);
            }
            at += 2 + len;
        }
    }
    None
}

/// H.264 (ISO/IEC 14496-10 E.2.1 and A.2): the VUI's `max_num_reorder_frames` when its
/// `bitstream_restriction` is present (it always comes with `max_dec_frame_buffering`, so
/// that one never serves alone); else 0 for a stream that obeys Baseline (`profile_idc`
/// 66, Constrained Baseline included, or `constraint_set0_flag`), which has no B-frames;
/// else [`DEFAULT_H264_REORDER_DEPTH`].
pub(crate) fn h264_reorder_depth(sps_nal: &[u8]) -> ReorderDepth {
    let restrictions = h264_reader::rbsp::decode_nal(sps_nal)
        .ok()
        .and_then(|rbsp| {
            h264_reader::nal::sps::SeqParameterSet::from_bits(TolerantBitReader(
                h264_reader::rbsp::BitReader::new(&*rbsp),
            ))
            .ok()
        })
        .and_then(|sps| sps.vui_parameters?.bitstream_restrictions);
    if let Some(r) = restrictions {
        return ReorderDepth::stream(r.max_num_reorder_frames);
    }
    // The profile and constraint flags are the bytes after the NAL header (readable even
    // when the rest is not). constraint_set1 ("obeys Main") does not rule B-frames out;
    // constraint_set0 ("obeys Baseline") does.
    match sps_nal.get(1..3) {
        Some(&[profile_idc, constraints]) if profile_idc == 66 || constraints & 0x80 != 0 => {
            ReorderDepth::stream(0)
        }
        _ => ReorderDepth::default_depth(),
    }
}

/// H.265 (ISO/IEC 23008-2 7.3.2.2.1): `sps_max_num_reorder_pics` of the highest sub-layer.
pub(crate) fn h265_max_num_reorder_pics(sps_nal: &[u8]) -> Option<u32> {
    let rbsp = unescape(sps_nal.get(2..)?);
    let mut r = Bits::new(&rbsp);
    r.skip(4)?; // sps_video_parameter_set_id
    let max_sub_layers_minus1 = r.bits(3)?;
    r.skip(1)?; // sps_temporal_id_nesting_flag
    // profile_tier_level(1, sps_max_sub_layers_minus1), 7.3.3: general part, 96 bits.
    r.skip(96)?;
    let mut sub_layer_flags = Vec::new();
    for _ in 0..max_sub_layers_minus1 {
        let profile_present = r.bits(1)? == 1;
        let level_present = r.bits(1)? == 1;
        sub_layer_flags.push((profile_present, level_present));
    }
    if max_sub_layers_minus1 > 0 {
        for _ in max_sub_layers_minus1..8 {
            r.skip(2)?; // reserved_zero_2bits
        }
    }
    for (profile_present, level_present) in sub_layer_flags {
        if profile_present {
            r.skip(88)?;
        }
        if level_present {
            r.skip(8)?;
        }
    }
    r.ue()?; // sps_seq_parameter_set_id
    let chroma_format_idc = r.ue()?;
    if chroma_format_idc == 3 {
        r.skip(1)?; // separate_colour_plane_flag
    }
    r.ue()?; // pic_width_in_luma_samples
    r.ue()?; // pic_height_in_luma_samples
    if r.bits(1)? == 1 {
        // conformance_window offsets
        for _ in 0..4 {
            r.ue()?;
        }
    }
    r.ue()?; // bit_depth_luma_minus8
    r.ue()?; // bit_depth_chroma_minus8
    r.ue()?; // log2_max_pic_order_cnt_lsb_minus4
    let ordering_info_present = r.bits(1)? == 1;
    let first = if ordering_info_present {
        0
    } else {
        max_sub_layers_minus1
    };
    let mut reorder = 0;
    for _ in first..=max_sub_layers_minus1 {
        r.ue()?; // sps_max_dec_pic_buffering_minus1
        reorder = r.ue()?; // sps_max_num_reorder_pics
        r.ue()?; // sps_max_latency_increase_plus1
    }
    Some(reorder)
}

/// Removes emulation prevention bytes (`00 00 03` -> `00 00`).
fn unescape(nal: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(nal.len());
    let mut zeros = 0;
    for &b in nal {
        if zeros >= 2 && b == 3 {
            zeros = 0;
            continue;
        }
        zeros = if b == 0 { zeros + 1 } else { 0 };
        out.push(b);
    }
    out
}

/// A most-significant-bit-first reader with Exp-Golomb codes; `None` past the end.
struct Bits<'a> {
    data: &'a [u8],
    at_bits: usize,
}

impl<'a> Bits<'a> {
    fn new(data: &'a [u8]) -> Self {
        Self { data, at_bits: 0 }
    }

    fn bit(&mut self) -> Option<u32> {
        let byte = *self.data.get(self.at_bits / 8)?;
        let bit = (byte >> (7 - self.at_bits % 8)) & 1;
        self.at_bits += 1;
        Some(u32::from(bit))
    }

    fn bits(&mut self, n: u32) -> Option<u32> {
        let mut v = 0;
        for _ in 0..n {
            v = (v << 1) | self.bit()?;
        }
        Some(v)
    }

    fn skip(&mut self, n: usize) -> Option<()> {
        if self.at_bits + n > self.data.len() * 8 {
            return None;
        }
        self.at_bits += n;
        Some(())
    }

    /// `ue(v)`, 9.2 of both standards; values above `u32::MAX - 1` are refused.
    fn ue(&mut self) -> Option<u32> {
        let mut zeros = 0;
        while self.bit()? == 0 {
            zeros += 1;
            if zeros > 31 {
                return None;
            }
        }
        let rest = self.bits(zeros)?;
        ((1u64 << zeros) - 1 + u64::from(rest)).try_into().ok()
    }
}

/// h264-reader's bit reader, tolerating data after the SPS's trailing bits (some cameras
/// send it; retina tolerates it too).
struct TolerantBitReader<R>(R);

impl<R: BitRead> BitRead for TolerantBitReader<R> {
    fn read_ue(&mut self, name: &'static str) -> Result<u32, BitReaderError> {
        self.0.read_ue(name)
    }

    fn read_se(&mut self, name: &'static str) -> Result<i32, BitReaderError> {
        self.0.read_se(name)
    }

    fn read_bool(&mut self, name: &'static str) -> Result<bool, BitReaderError> {
        self.0.read_bool(name)
    }

    fn read<U: Numeric>(
        &mut self,
        bit_count: u32,
        name: &'static str,
    ) -> Result<U, BitReaderError> {
        self.0.read(bit_count, name)
    }

    fn read_to<V: Primitive>(&mut self, name: &'static str) -> Result<V, BitReaderError> {
        self.0.read_to(name)
    }

    fn skip(&mut self, bit_count: u32, name: &'static str) -> Result<(), BitReaderError> {
        self.0.skip(bit_count, name)
    }

    fn has_more_rbsp_data(&mut self, name: &'static str) -> Result<bool, BitReaderError> {
        self.0.has_more_rbsp_data(name)
    }

    fn finish_rbsp(self) -> Result<(), BitReaderError> {
        match self.0.finish_rbsp() {
            Err(BitReaderError::RemainingData) => Ok(()),
            other => other,
        }
    }

    fn finish_sei_payload(self) -> Result<(), BitReaderError> {
        self.0.finish_sei_payload()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // SPS NAL units (header included, emulation prevention bytes in place) from real
    // encoders, 640x360 at 30 fps; extracted from the encoders' Annex B output.

    /// `x264enc speed-preset=ultrafast bframes=2 b-adapt=false key-int-max=30`, main
    /// profile (GStreamer 1.22): VUI `max_num_reorder_frames` 2 (as ffmpeg's
    /// `trace_headers` reads it too).
    const X264_BFRAMES_SPS: &[u8] = &[
        0x67, 0x4d, 0x40, 0x1e, 0xec, 0xa0, 0x50, 0x17, 0xfc, 0xb8, 0x0b, 0x50, 0x60, 0x60, 0x6a,
        0x50, 0x00, 0x00, 0x03, 0x00, 0x10, 0x00, 0x00, 0x03, 0x03, 0xc8, 0xf1, 0x62, 0xd9, 0x60,
    ];
    /// `x264enc tune=zerolatency speed-preset=ultrafast key-int-max=30` (no B-frames; x264
    /// picks Constrained Baseline): VUI `max_num_reorder_frames` 0.
    const X264_NO_BFRAMES_SPS: &[u8] = &[
        0x67, 0x42, 0xc0, 0x1e, 0xda, 0x02, 0x80, 0xbf, 0xe5, 0xc0, 0x5a, 0x83, 0x03, 0x03, 0x52,
        0x80, 0x00, 0x00, 0x03, 0x00, 0x80, 0x00, 0x00, 0x1e, 0x47, 0x8b, 0x17, 0x50,
    ];
    /// `x265enc speed-preset=ultrafast key-int-max=30` (B-frames on):
    /// `sps_max_num_reorder_pics[0]` 2.
    const X265_SPS: &[u8] = &[
        0x42, 0x01, 0x01, 0x01, 0x60, 0x00, 0x00, 0x03, 0x00, 0x90, 0x00, 0x00, 0x03, 0x00, 0x00,
        0x03, 0x00, 0x3f, 0xa0, 0x05, 0x02, 0x01, 0x71, 0xf2, 0xe5, 0x95, 0x95, 0x29, 0x30, 0xbf,
        0xfc, 0x00, 0x04, 0x00, 0x05, 0xa8, 0x30, 0x30, 0x30, 0x20, 0x00, 0x00, 0x03, 0x00, 0x20,
        0x00, 0x00, 0x03, 0x03, 0xc1,
    ];
    const X265_REORDER: u32 = 2;
    /// `x265enc tune=zerolatency speed-preset=ultrafast key-int-max=30` (no B-frames):
    /// `sps_max_num_reorder_pics[0]` 0.
    const X265_NO_BFRAMES_SPS: &[u8] = &[
        0x42, 0x01, 0x01, 0x01, 0x60, 0x00, 0x00, 0x03, 0x00, 0x90, 0x00, 0x00, 0x03, 0x00, 0x00,
        0x03, 0x00, 0x3f, 0xa0, 0x05, 0x02, 0x01, 0x71, 0xf2, 0xe5, 0xba, 0x4a, 0x4c, 0x2f, 0xff,
        0x00, 0x01, 0x00, 0x01, 0x6a, 0x0c, 0x0c, 0x0c, 0x08, 0x00, 0x00, 0x03, 0x00, 0x08, 0x00,
        0x00, 0x03, 0x00, 0xf0, 0x40,
    ];

    /// A minimal H.264 SPS without VUI: `profile_idc`, `constraint_set0_flag`.
    fn sps_without_vui(profile_idc: u8, constraint_set0: bool) -> Vec<u8> {
        let mut w = BitWriter::default();
        w.put(0x67, 8); // forbidden_zero_bit, nal_ref_idc 3, nal_unit_type 7
        w.put(u32::from(profile_idc), 8);
        w.put(if constraint_set0 { 0x80 } else { 0 }, 8);
        w.put(30, 8); // level_idc 3.0
        w.ue(0); // seq_parameter_set_id
        w.ue(0); // log2_max_frame_num_minus4
        w.ue(2); // pic_order_cnt_type
        w.ue(1); // max_num_ref_frames
        w.put(0, 1); // gaps_in_frame_num_value_allowed_flag
        w.ue(39); // pic_width_in_mbs_minus1: 640
        w.ue(22); // pic_height_in_map_units_minus1: 368
        w.put(1, 1); // frame_mbs_only_flag
        w.put(1, 1); // direct_8x8_inference_flag
        w.put(0, 1); // frame_cropping_flag
        w.put(0, 1); // vui_parameters_present_flag
        w.finish()
    }

    #[derive(Default)]
    struct BitWriter {
        bytes: Vec<u8>,
        bits: usize,
    }

    impl BitWriter {
        fn put(&mut self, v: u32, n: u32) {
            for i in (0..n).rev() {
                if self.bits.is_multiple_of(8) {
                    self.bytes.push(0);
                }
                let bit = ((v >> i) & 1) as u8;
                *self.bytes.last_mut().unwrap() |= bit << (7 - self.bits % 8);
                self.bits += 1;
            }
        }

        fn ue(&mut self, v: u32) {
            let x = v + 1;
            let len = 32 - x.leading_zeros();
            self.put(0, len - 1);
            self.put(x, len);
        }

        /// With the rbsp trailing bits.
        fn finish(mut self) -> Vec<u8> {
            self.put(1, 1);
            self.bytes
        }
    }

    /// An `AVCDecoderConfigurationRecord` holding `sps` and a dummy PPS.
    fn avcc(sps: &[u8]) -> Vec<u8> {
        let mut r = vec![1, sps[1], sps[2], sps[3], 0xff, 0xe1];
        r.extend((sps.len() as u16).to_be_bytes());
        r.extend(sps);
        r.extend([1, 0, 2, 0x68, 0xce]);
        r
    }

    /// An `HEVCDecoderConfigurationRecord` holding a dummy VPS, `sps` and a dummy PPS.
    fn hvcc(sps: &[u8]) -> Vec<u8> {
        let mut r = vec![1; 22];
        r.push(3); // numOfArrays
        r.extend([0x20, 0, 1, 0, 3, 0x40, 0x01, 0x0c]); // VPS (type 32)
        r.push(0x21); // SPS (type 33)
        r.extend(1u16.to_be_bytes());
        r.extend((sps.len() as u16).to_be_bytes());
        r.extend(sps);
        r.extend([0x22, 0, 1, 0, 3, 0x44, 0x01, 0xc1]); // PPS (type 34)
        r
    }

    #[test]
    fn h264_depth_from_the_vui() {
        let b = reorder_depth(VideoCodec::H264, &avcc(X264_BFRAMES_SPS));
        assert_eq!((b.depth, b.source), (2, DepthSource::Stream));
        let none = reorder_depth(VideoCodec::H264, &avcc(X264_NO_BFRAMES_SPS));
        assert_eq!((none.depth, none.source), (0, DepthSource::Stream));
    }

    #[test]
    fn h264_without_vui_by_profile() {
        let baseline = h264_reorder_depth(&sps_without_vui(66, false));
        assert_eq!((baseline.depth, baseline.source), (0, DepthSource::Stream));
        let obeys_baseline = h264_reorder_depth(&sps_without_vui(77, true));
        assert_eq!(obeys_baseline.depth, 0);
        let main = h264_reorder_depth(&sps_without_vui(77, false));
        assert_eq!(
            (main.depth, main.source),
            (DEFAULT_H264_REORDER_DEPTH, DepthSource::Default)
        );
        // Unreadable: by the profile bytes, else the default.
        let bad = reorder_depth(VideoCodec::H264, &avcc(&[0x67, 0x4d, 0x00, 0x1e]));
        assert_eq!(bad.source, DepthSource::Default);
        let bad_baseline = reorder_depth(VideoCodec::H264, &avcc(&[0x67, 0x42, 0xc0, 0x1e]));
        assert_eq!(
            (bad_baseline.depth, bad_baseline.source),
            (0, DepthSource::Stream)
        );
        assert_eq!(
            reorder_depth(VideoCodec::H264, &[]).source,
            DepthSource::Default
        );
    }

    #[test]
    fn h265_depth_from_the_sps() {
        assert_eq!(h265_max_num_reorder_pics(X265_SPS), Some(X265_REORDER));
        let d = reorder_depth(VideoCodec::H265, &hvcc(X265_SPS));
        assert_eq!(
            (d.depth, d.source),
            (X265_REORDER as u8, DepthSource::Stream)
        );
        let none = reorder_depth(VideoCodec::H265, &hvcc(X265_NO_BFRAMES_SPS));
        assert_eq!((none.depth, none.source), (0, DepthSource::Stream));
        // Truncated: unreadable, the default.
        assert_eq!(h265_max_num_reorder_pics(&X265_SPS[..12]), None);
        let cut = reorder_depth(VideoCodec::H265, &hvcc(&X265_SPS[..12]));
        assert_eq!(cut.source, DepthSource::Default);
        assert_eq!(reorder_depth(VideoCodec::Jpeg, &[]).depth, 0);
    }

    #[test]
    fn unescape_removes_emulation_prevention() {
        assert_eq!(
            unescape(&[0, 0, 3, 1, 0, 0, 3, 0, 3]),
            [0, 0, 1, 0, 0, 0, 3]
        );
        assert_eq!(unescape(&[0, 3, 0, 0, 3]), [0, 3, 0, 0]);
    }
}
