//! Sample entries of uncompressed and losslessly compressed audio: `fLaC` with `dfLa`
//! (FLAC), the QuickTime-style `ulaw` and `alaw` (G.711), and `ipcm` with `pcmC`
//! (integer PCM, ISO/IEC 23003-5).

use bytes::{BufMut, BytesMut};

use crate::sample_entry::{AudioSampleEntry, SampleEntryError};
use crate::{Encode, box_len, full_box_len, write_box, write_full_box};

/// FLAC sample entry (the FLAC-in-ISOBMFF encapsulation, "Encapsulation of FLAC in ISO Base
/// Media File Format" §3.3.1): an `AudioSampleEntry` (ISO/IEC 14496-12 §12.2.3) with a
/// `dfLa`. Each sample is one FLAC frame.
///
/// ```
/// use bmff_boxes::{Encode, FLaC, StreamInfo};
///
/// let entry = FLaC::new(StreamInfo::new(8_000, 1, 16, 320))?;
/// let bytes = entry.to_bytes(); // for `Stsd::entries` or `TrackConfig::sample_entry`
/// assert_eq!(&bytes[4..8], b"fLaC");
/// # Ok::<(), bmff_boxes::SampleEntryError>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FLaC {
    /// The audio fields: channels and bits per sample as in `STREAMINFO`, the rate (which
    /// the encapsulation asks to be 0 above 65535 Hz; such rates are refused here).
    pub audio: AudioSampleEntry,
    /// The FLAC metadata.
    pub dfla: DfLa,
}

impl FLaC {
    /// The entry for a stream described by `info`, with `STREAMINFO` as its only
    /// metadata block.
    pub fn new(info: StreamInfo) -> Result<Self, SampleEntryError> {
        let mut audio = AudioSampleEntry::new(u16::from(info.channels), info.sample_rate_hz)?;
        audio.samplesize = u16::from(info.bits_per_sample);
        Ok(Self {
            audio,
            dfla: DfLa { stream_info: info },
        })
    }
}

impl Encode for FLaC {
    fn encoded_len(&self) -> u64 {
        box_len(AudioSampleEntry::LEN + self.dfla.encoded_len())
    }
    fn encode(&self, out: &mut BytesMut) {
        write_box(out, self.encoded_len(), *b"fLaC", |out| {
            self.audio.encode_fields(out);
            self.dfla.encode(out);
        })
    }
}

/// FLAC specific box (FLAC-in-ISOBMFF §3.3.2): a full box (version 0, flags 0) holding
/// the FLAC metadata blocks (RFC 9639 §8) of the stream, `STREAMINFO` first; here it is the
/// only one, so its last-metadata-block flag is set.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DfLa {
    /// The `STREAMINFO` block.
    pub stream_info: StreamInfo,
}

impl Encode for DfLa {
    fn encoded_len(&self) -> u64 {
        full_box_len(4 + StreamInfo::LEN)
    }
    fn encode(&self, out: &mut BytesMut) {
        write_full_box(out, self.encoded_len(), *b"dfLa", 0, 0, |out| {
            // last-metadata-block flag (1), block type 0 (STREAMINFO), 24-bit length.
            out.put_u32(0x8000_0000 | StreamInfo::LEN as u32);
            self.stream_info.encode_fields(out);
        })
    }
}

/// The FLAC `STREAMINFO` metadata block (RFC 9639 §8.2), 34 bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StreamInfo {
    /// Smallest block size in samples (16 to 65535), the last block aside.
    pub min_block_size: u16,
    /// Largest block size in samples (16 to 65535).
    pub max_block_size: u16,
    /// Smallest frame in bytes (24 bits), 0 if unknown.
    pub min_frame_size: u32,
    /// Largest frame in bytes (24 bits), 0 if unknown.
    pub max_frame_size: u32,
    /// Sample rate in Hz (20 bits).
    pub sample_rate_hz: u32,
    /// Number of channels, 1 to 8.
    pub channels: u8,
    /// Bits per sample, 4 to 32.
    pub bits_per_sample: u8,
    /// Samples per channel in the stream (36 bits), 0 if unknown.
    pub total_samples: u64,
    /// MD5 of the unencoded audio, all zero if unknown.
    pub md5: [u8; 16],
}

impl StreamInfo {
    /// Length of the block's data in bytes.
    const LEN: u64 = 34;

    /// A live stream's `STREAMINFO`: blocks of at most `max_block_size` samples (and at
    /// least 16; a block cut short by a gap in the input may be shorter than the others),
    /// frame sizes, length and MD5 unknown (0).
    pub fn new(
        sample_rate_hz: u32,
        channels: u8,
        bits_per_sample: u8,
        max_block_size: u16,
    ) -> Self {
        Self {
            min_block_size: 16,
            max_block_size,
            min_frame_size: 0,
            max_frame_size: 0,
            sample_rate_hz,
            channels,
            bits_per_sample,
            total_samples: 0,
            md5: [0; 16],
        }
    }

    fn encode_fields(&self, out: &mut BytesMut) {
        out.put_u16(self.min_block_size);
        out.put_u16(self.max_block_size);
        out.put_uint(u64::from(self.min_frame_size & 0xff_ffff), 3);
        out.put_uint(u64::from(self.max_frame_size & 0xff_ffff), 3);
        // rate (20 bits), channels - 1 (3), bits per sample - 1 (5), total samples (36).
        let packed = u64::from(self.sample_rate_hz & 0xf_ffff) << 44
            | u64::from(self.channels.saturating_sub(1) & 7) << 41
            | u64::from(self.bits_per_sample.saturating_sub(1) & 0x1f) << 36
            | (self.total_samples & 0xf_ffff_ffff);
        out.put_u64(packed);
        out.put_slice(&self.md5);
    }
}

/// G.711 sample entries in the QuickTime style (QuickTime File Format, "Sound sample
/// descriptions"; ISO/IEC 14496-12 §12.2.3 layout, version 0): `ulaw` (µ-law) or `alaw`
/// (A-law), no extension box. Each byte of a sample is one companded sample per channel.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct G711 {
    /// `ulaw` or `alaw`.
    pub fourcc: [u8; 4],
    /// The audio fields; the sample size is 16 (bits after expansion), as QuickTime writes.
    pub audio: AudioSampleEntry,
}

impl G711 {
    /// The `ulaw` entry for `channels` at `sample_rate_hz`.
    pub fn ulaw(channels: u16, sample_rate_hz: u32) -> Result<Self, SampleEntryError> {
        Ok(Self {
            fourcc: *b"ulaw",
            audio: AudioSampleEntry::new(channels, sample_rate_hz)?,
        })
    }

    /// The `alaw` entry for `channels` at `sample_rate_hz`.
    pub fn alaw(channels: u16, sample_rate_hz: u32) -> Result<Self, SampleEntryError> {
        Ok(Self {
            fourcc: *b"alaw",
            audio: AudioSampleEntry::new(channels, sample_rate_hz)?,
        })
    }
}

impl Encode for G711 {
    fn encoded_len(&self) -> u64 {
        box_len(AudioSampleEntry::LEN)
    }
    fn encode(&self, out: &mut BytesMut) {
        write_box(out, self.encoded_len(), self.fourcc, |out| {
            self.audio.encode_fields(out)
        })
    }
}

/// Integer PCM sample entry (ISO/IEC 23003-5 §5.1): an `AudioSampleEntry` with a `pcmC`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ipcm {
    /// The audio fields; `samplesize` equals `pcmc.pcm_sample_size`.
    pub audio: AudioSampleEntry,
    /// Byte order and sample size.
    pub pcmc: PcmC,
}

impl Ipcm {
    /// The entry for 16-bit big-endian samples (RTP's L16) of `channels` at
    /// `sample_rate_hz`.
    pub fn s16be(channels: u16, sample_rate_hz: u32) -> Result<Self, SampleEntryError> {
        Ok(Self {
            audio: AudioSampleEntry::new(channels, sample_rate_hz)?,
            pcmc: PcmC {
                little_endian: false,
                pcm_sample_size: 16,
            },
        })
    }
}

impl Encode for Ipcm {
    fn encoded_len(&self) -> u64 {
        box_len(AudioSampleEntry::LEN + self.pcmc.encoded_len())
    }
    fn encode(&self, out: &mut BytesMut) {
        write_box(out, self.encoded_len(), *b"ipcm", |out| {
            self.audio.encode_fields(out);
            self.pcmc.encode(out);
        })
    }
}

/// PCM configuration box (ISO/IEC 23003-5 §5.2): a full box (version 0, flags 0) with the
/// byte order (`format_flags` bit 0: little-endian) and the sample size in bits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PcmC {
    /// Samples are little-endian (else big-endian).
    pub little_endian: bool,
    /// Bits per sample: 16, 24 or 32.
    pub pcm_sample_size: u8,
}

impl Encode for PcmC {
    fn encoded_len(&self) -> u64 {
        full_box_len(2)
    }
    fn encode(&self, out: &mut BytesMut) {
        write_full_box(out, self.encoded_len(), *b"pcmC", 0, 0, |out| {
            out.put_u8(u8::from(self.little_endian));
            out.put_u8(self.pcm_sample_size);
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The 28 bytes of `AudioSampleEntry` fields for mono 16-bit at 8000 Hz.
    const MONO_8K: [u8; 28] = [
        0, 0, 0, 0, 0, 0, // SampleEntry.reserved
        0, 1, // data_reference_index
        0, 0, 0, 0, 0, 0, 0, 0, // reserved[2]
        0, 1, // channelcount
        0, 16, // samplesize
        0, 0, // pre_defined
        0, 0, // reserved
        0x1f, 0x40, 0, 0, // samplerate 8000 << 16
    ];

    #[test]
    fn flac_entry_bytes() {
        let bytes = FLaC::new(StreamInfo::new(8_000, 1, 16, 320))
            .unwrap()
            .to_bytes();
        let mut want = vec![0, 0, 0, 86, b'f', b'L', b'a', b'C'];
        want.extend_from_slice(&MONO_8K);
        want.extend_from_slice(&[
            0, 0, 0, 50, b'd', b'f', b'L', b'a', // dfLa header
            0, 0, 0, 0, // version 0, flags 0
            0x80, 0, 0, 34, // last block, STREAMINFO, 34 bytes
            0, 16, // min block size
            0x01, 0x40, // max block size 320
            0, 0, 0, // min frame size unknown
            0, 0, 0, // max frame size unknown
            // 8000 Hz (0x01f40, 20 bits), 1 channel (0), 16 bits (15), 0 samples (36 bits)
            0x01, 0xf4, 0x00, 0xf0, 0, 0, 0, 0,
        ]);
        want.extend_from_slice(&[0; 16]); // MD5 unknown
        assert_eq!(bytes.as_ref(), want.as_slice());
    }

    #[test]
    fn stream_info_packs_rate_channels_and_bits() {
        let mut out = BytesMut::new();
        StreamInfo::new(48_000, 2, 16, 1920).encode_fields(&mut out);
        // 48000 = 0x0bb80, channels 2 -> 1, bits 16 -> 15.
        assert_eq!(&out[10..14], &[0x0b, 0xb8, 0x02, 0xf0]);
        assert_eq!(out.len() as u64, StreamInfo::LEN);
    }

    #[test]
    fn g711_entry_bytes() {
        for (entry, fourcc) in [
            (G711::ulaw(1, 8_000).unwrap(), b"ulaw"),
            (G711::alaw(1, 8_000).unwrap(), b"alaw"),
        ] {
            let mut want = vec![0, 0, 0, 36];
            want.extend_from_slice(fourcc);
            want.extend_from_slice(&MONO_8K);
            assert_eq!(entry.to_bytes().as_ref(), want.as_slice());
        }
    }

    #[test]
    fn ipcm_entry_bytes() {
        let mut want = vec![0, 0, 0, 50, b'i', b'p', b'c', b'm'];
        want.extend_from_slice(&MONO_8K);
        want.extend_from_slice(&[
            0, 0, 0, 14, b'p', b'c', b'm', b'C', // pcmC header
            0, 0, 0, 0,  // version 0, flags 0
            0,  // format_flags: big-endian
            16, // PCM_sample_size
        ]);
        assert_eq!(
            Ipcm::s16be(1, 8_000).unwrap().to_bytes().as_ref(),
            want.as_slice()
        );
    }

    #[test]
    fn rates_above_16_bits_are_refused() {
        assert!(FLaC::new(StreamInfo::new(96_000, 2, 16, 4096)).is_err());
        assert!(Ipcm::s16be(2, 96_000).is_err());
    }
}
