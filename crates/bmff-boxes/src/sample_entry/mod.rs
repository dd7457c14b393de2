//! Sample entries, the codec descriptions an `stsd` holds: `avc1` with `avcC`, `hvc1` with
//! `hvcC`, `mp4a` with `esds` (AAC), `mp4v` with `esds` (JPEG), `fLaC` with `dfLa`
//! (FLAC), `ulaw`/`alaw` (G.711) and `ipcm` with `pcmC` (integer PCM), each built from what a
//! stream carries (parameter sets, an AudioSpecificConfig) without knowing box layouts.
//!
//! Every entry is a box with [`Encode`](crate::Encode); its
//! [`to_bytes`](crate::Encode::to_bytes) is what [`Stsd::entries`](crate::Stsd::entries)
//! (and `mp4-track`'s `TrackConfig::sample_entry`) take.

use bytes::{BufMut, BytesMut};

mod avc;
mod bits;
mod esds;
mod hevc;
mod pcm;

pub use avc::{Avc1, AvcC, AvcCExtension};
pub use esds::{
    DecoderConfigDescriptor, DecoderSpecificInfo, EsDescriptor, Esds, Mp4a, Mp4v,
    SlConfigDescriptor,
};
pub use hevc::{Hvc1, HvcC, HvcCArray};
pub use pcm::{DfLa, FLaC, G711, Ipcm, PcmC, StreamInfo};

/// Why a sample entry cannot be built from the given parameters.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SampleEntryError {
    /// A parameter set or configuration ends before a field the entry needs.
    #[error("{what} is truncated")]
    Truncated {
        /// What was being read (`h.264 sps`, `aac audio specific config`, ...).
        what: &'static str,
    },
    /// A parameter set or configuration holds a value the entry cannot describe.
    #[error("{what}: {reason}")]
    Invalid {
        /// What was being read.
        what: &'static str,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// A NAL unit is longer than the 16-bit length a decoder configuration record stores.
    #[error("{what} is {len} bytes long; at most 65535 fit")]
    TooLong {
        /// What was being stored.
        what: &'static str,
        /// Its length in bytes.
        len: usize,
    },
}

/// The fields every visual sample entry starts with: `SampleEntry` (ISO/IEC 14496-12
/// §8.5.2.2) and `VisualSampleEntry` (§12.1.3.2), 78 bytes before the entry's boxes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct VisualSampleEntry {
    /// 1-based index into `dref`; 1 (media in this file) from [`new`](Self::new).
    pub data_reference_index: u16,
    /// Width in pixels (the cropped, displayed width).
    pub width: u16,
    /// Height in pixels (the cropped, displayed height).
    pub height: u16,
    /// Horizontal resolution, 16.16 pixels per inch; 72 dpi (`0x0048_0000`) by default.
    pub horizresolution: u32,
    /// Vertical resolution, 16.16 pixels per inch; 72 dpi (`0x0048_0000`) by default.
    pub vertresolution: u32,
    /// Frames per sample; 1 by default.
    pub frame_count: u16,
    /// A name for the compressor: a length byte then up to 31 bytes, zero padded; all
    /// zero (no name) by default. See [`with_compressorname`](Self::with_compressorname).
    pub compressorname: [u8; 32],
    /// 0x0018 (colour, no alpha) by default.
    pub depth: u16,
}

impl VisualSampleEntry {
    /// Length of the fields in bytes, after the box header.
    pub(crate) const LEN: u64 = 78;

    /// The usual fields for a `width` x `height` picture: data reference 1, 72 dpi, one
    /// frame per sample, no compressor name, depth 0x0018.
    pub fn new(width: u16, height: u16) -> Self {
        Self {
            data_reference_index: 1,
            width,
            height,
            horizresolution: 0x0048_0000,
            vertresolution: 0x0048_0000,
            frame_count: 1,
            compressorname: [0; 32],
            depth: 0x0018,
        }
    }

    /// Sets [`compressorname`](Self::compressorname) to `name`, cut to 31 bytes.
    pub fn with_compressorname(mut self, name: &str) -> Self {
        let name = &name.as_bytes()[..name.len().min(31)];
        self.compressorname = [0; 32];
        self.compressorname[0] = name.len() as u8;
        self.compressorname[1..=name.len()].copy_from_slice(name);
        self
    }

    /// Appends the 78 bytes of fields.
    pub(crate) fn encode_fields(&self, out: &mut BytesMut) {
        out.put_bytes(0, 6); // SampleEntry.reserved
        out.put_u16(self.data_reference_index);
        out.put_u16(0); // pre_defined
        out.put_u16(0); // reserved
        out.put_bytes(0, 12); // pre_defined[3]
        out.put_u16(self.width);
        out.put_u16(self.height);
        out.put_u32(self.horizresolution);
        out.put_u32(self.vertresolution);
        out.put_u32(0); // reserved
        out.put_u16(self.frame_count);
        out.put_slice(&self.compressorname);
        out.put_u16(self.depth);
        out.put_i16(-1); // pre_defined
    }
}

/// The fields every audio sample entry starts with: `SampleEntry` (ISO/IEC 14496-12
/// §8.5.2.2) and a version 0 `AudioSampleEntry` (§12.2.3.2), 28 bytes before the entry's
/// boxes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AudioSampleEntry {
    /// 1-based index into `dref`; 1 (media in this file) from [`new`](Self::new).
    pub data_reference_index: u16,
    /// Number of channels.
    pub channelcount: u16,
    /// Bits per sample; 16 by default.
    pub samplesize: u16,
    /// Sample rate in Hz as 16.16 fixed point (`rate << 16`).
    pub samplerate: u32,
}

impl AudioSampleEntry {
    /// Length of the fields in bytes, after the box header.
    pub(crate) const LEN: u64 = 28;

    /// The usual fields: data reference 1, 16 bits per sample. A version 0 entry stores the
    /// rate as 16.16 fixed point, so rates above 65535 Hz (which need a `srat` box) are
    /// refused.
    pub fn new(channelcount: u16, sample_rate_hz: u32) -> Result<Self, SampleEntryError> {
        let rate = u16::try_from(sample_rate_hz).map_err(|_| SampleEntryError::Invalid {
            what: "audio sample entry",
            reason: "sample rate above 65535 hz",
        })?;
        Ok(Self {
            data_reference_index: 1,
            channelcount,
            samplesize: 16,
            samplerate: u32::from(rate) << 16,
        })
    }

    /// Appends the 28 bytes of fields.
    pub(crate) fn encode_fields(&self, out: &mut BytesMut) {
        out.put_bytes(0, 6); // SampleEntry.reserved
        out.put_u16(self.data_reference_index);
        out.put_bytes(0, 8); // reserved[2]
        out.put_u16(self.channelcount);
        out.put_u16(self.samplesize);
        out.put_u16(0); // pre_defined
        out.put_u16(0); // reserved
        out.put_u32(self.samplerate);
    }
}

/// The `u16` length a decoder configuration record stores before a NAL unit.
pub(crate) fn nal_len(what: &'static str, nal: &[u8]) -> Result<u16, SampleEntryError> {
    u16::try_from(nal.len()).map_err(|_| SampleEntryError::TooLong {
        what,
        len: nal.len(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compressorname_is_a_counted_string_cut_to_31_bytes() {
        let e = VisualSampleEntry::new(1, 1).with_compressorname("Lavc");
        assert_eq!(&e.compressorname[..6], b"\x04Lavc\0");
        let e = VisualSampleEntry::new(1, 1).with_compressorname(&"x".repeat(40));
        assert_eq!(e.compressorname[0], 31);
        assert_eq!(e.compressorname[31], b'x');
    }

    #[test]
    fn audio_sample_rate_must_fit_16_bits() {
        assert_eq!(
            AudioSampleEntry::new(2, 48_000).unwrap().samplerate,
            0xbb80_0000
        );
        assert!(matches!(
            AudioSampleEntry::new(2, 96_000),
            Err(SampleEntryError::Invalid { .. })
        ));
    }
}
