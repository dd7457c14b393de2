//! MPEG-4 elementary stream descriptions: the `esds` box with its descriptors, and the two
//! sample entries that hold one, `mp4a` (AAC) and `mp4v` (here: JPEG).

use bytes::{BufMut, Bytes, BytesMut};

use crate::sample_entry::bits::Bits;
use crate::sample_entry::{AudioSampleEntry, SampleEntryError, VisualSampleEntry};
use crate::{Encode, box_len, full_box_len, write_box, write_full_box};

/// MPEG-4 audio sample entry (ISO/IEC 14496-14 §6.7.2): an `AudioSampleEntry` (ISO/IEC
/// 14496-12 §12.2.3) with an `esds`; here for AAC, whose samples are raw access units.
///
/// ```
/// use bmff_boxes::{Bytes, Encode, Mp4a};
///
/// // AudioSpecificConfig of AAC-LC, 48 kHz, stereo (from an SDP's `config=1190`).
/// let entry = Mp4a::aac(Bytes::from_static(&[0x11, 0x90]))?;
/// assert_eq!((entry.audio.channelcount, entry.audio.samplerate >> 16), (2, 48_000));
/// let bytes = entry.to_bytes(); // for `Stsd::entries` or `TrackConfig::sample_entry`
/// assert_eq!(&bytes[4..8], b"mp4a");
/// # Ok::<(), bmff_boxes::SampleEntryError>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Mp4a {
    /// The audio fields (channels, rate, ...).
    pub audio: AudioSampleEntry,
    /// The stream's description.
    pub esds: Esds,
}

/// AAC sampling frequencies by `samplingFrequencyIndex` (ISO/IEC 14496-3 §1.6.3.4).
const AAC_RATES: [u32; 13] = [
    96000, 88200, 64000, 48000, 44100, 32000, 24000, 22050, 16000, 12000, 11025, 8000, 7350,
];

impl Mp4a {
    /// The entry for an AAC stream from its AudioSpecificConfig (ISO/IEC 14496-3 §1.6.2.1,
    /// the bytes of an SDP's `config=` or derived from an ADTS header). Channels and rate
    /// come from it; the `esds` says: object type 0x40 (ISO/IEC 14496-3 audio), ES_ID 0 (as
    /// ISO/IEC 14496-14 §3.1.2 asks of files), a decoding buffer of 6144 bits per channel
    /// and a maximum rate of 6144 bits per 1024 samples per channel (ISO/IEC 13818-7
    /// §8.2.2.1, LFE not counted), average rate 0 (variable), the config as
    /// DecoderSpecificInfo, and SLConfig predefined 2. Channel configuration 0 (channels
    /// described by a program config element) is refused: set the fields yourself.
    pub fn aac(audio_specific_config: Bytes) -> Result<Self, SampleEntryError> {
        const WHAT: &str = "aac audio specific config";
        let mut b = Bits::new(&audio_specific_config, WHAT);
        if b.u(5)? == 31 {
            b.skip(6)?; // audioObjectTypeExt
        }
        let rate = match b.u(4)? {
            15 => b.u(24)? as u32,
            i => *AAC_RATES.get(i as usize).ok_or(SampleEntryError::Invalid {
                what: WHAT,
                reason: "reserved sampling frequency index",
            })?,
        };
        // Channels and the channels that count towards the buffer (no LFE) by
        // channelConfiguration (ISO/IEC 14496-3 §1.6.3.5).
        let (channels, counted): (u16, u32) = match b.u(4)? {
            c @ 1..=5 => (c as u16, c as u32),
            6 => (6, 5),
            7 => (8, 7),
            _ => {
                return Err(SampleEntryError::Invalid {
                    what: WHAT,
                    reason: "unsupported channel configuration",
                });
            }
        };
        Ok(Self {
            audio: AudioSampleEntry::new(channels, rate)?,
            esds: Esds {
                es_descriptor: EsDescriptor {
                    es_id: 0,
                    decoder_config: DecoderConfigDescriptor {
                        object_type_indication: 0x40,
                        stream_type: 0x05,
                        up_stream: false,
                        buffer_size_db: 6144 / 8 * counted,
                        max_bitrate: 6144 / 1024 * counted * rate,
                        avg_bitrate: 0,
                        decoder_specific_info: Some(DecoderSpecificInfo {
                            data: audio_specific_config,
                        }),
                    },
                    sl_config: SlConfigDescriptor { predefined: 2 },
                },
            },
        })
    }
}

impl Encode for Mp4a {
    fn encoded_len(&self) -> u64 {
        box_len(AudioSampleEntry::LEN + self.esds.encoded_len())
    }
    fn encode(&self, out: &mut BytesMut) {
        write_box(out, self.encoded_len(), *b"mp4a", |out| {
            self.audio.encode_fields(out);
            self.esds.encode(out);
        })
    }
}

/// MPEG-4 visual sample entry (ISO/IEC 14496-14 §6.7.2): a `VisualSampleEntry` (ISO/IEC
/// 14496-12 §12.1.3) with an `esds`; here for Motion JPEG, each sample one JPEG image.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Mp4v {
    /// The visual fields (dimensions, ...).
    pub visual: VisualSampleEntry,
    /// The stream's description.
    pub esds: Esds,
}

impl Mp4v {
    /// The entry for `width` x `height` JPEG images: object type 0x6C (ISO/IEC 10918-1),
    /// visual stream, ES_ID 0, buffer size and rates 0 (not known ahead), no
    /// DecoderSpecificInfo, SLConfig predefined 2.
    pub fn jpeg(width: u16, height: u16) -> Self {
        Self {
            visual: VisualSampleEntry::new(width, height),
            esds: Esds {
                es_descriptor: EsDescriptor {
                    es_id: 0,
                    decoder_config: DecoderConfigDescriptor {
                        object_type_indication: 0x6c,
                        stream_type: 0x04,
                        up_stream: false,
                        buffer_size_db: 0,
                        max_bitrate: 0,
                        avg_bitrate: 0,
                        decoder_specific_info: None,
                    },
                    sl_config: SlConfigDescriptor { predefined: 2 },
                },
            },
        }
    }
}

impl Encode for Mp4v {
    fn encoded_len(&self) -> u64 {
        box_len(VisualSampleEntry::LEN + self.esds.encoded_len())
    }
    fn encode(&self, out: &mut BytesMut) {
        write_box(out, self.encoded_len(), *b"mp4v", |out| {
            self.visual.encode_fields(out);
            self.esds.encode(out);
        })
    }
}

/// Elementary stream descriptor box (ISO/IEC 14496-14 §6.7.2): a full box holding one
/// `ES_Descriptor`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Esds {
    /// The descriptor.
    pub es_descriptor: EsDescriptor,
}

impl Encode for Esds {
    fn encoded_len(&self) -> u64 {
        full_box_len(self.es_descriptor.encoded_len())
    }
    fn encode(&self, out: &mut BytesMut) {
        write_full_box(out, self.encoded_len(), *b"esds", 0, 0, |out| {
            self.es_descriptor.encode(out)
        })
    }
}

/// Length of a descriptor (ISO/IEC 14496-1 §8.3.3): tag, size in 7-bit groups (the
/// shortest form), then `body_len` bytes.
fn descriptor_len(body_len: u64) -> u64 {
    let size_bytes = match body_len {
        0..0x80 => 1,
        0x80..0x4000 => 2,
        0x4000..0x20_0000 => 3,
        _ => 4,
    };
    1 + size_bytes + body_len
}

/// Writes a descriptor's tag and size for a body of `body_len` bytes.
fn put_descriptor_header(out: &mut BytesMut, tag: u8, body_len: u64) {
    assert!(body_len < 1 << 28, "descriptor longer than 2^28 bytes");
    out.put_u8(tag);
    let groups = descriptor_len(body_len) - 1 - body_len;
    for i in (0..groups).rev() {
        let more = if i > 0 { 0x80 } else { 0 };
        out.put_u8(more | ((body_len >> (7 * i)) & 0x7f) as u8);
    }
}

/// `ES_Descriptor` (ISO/IEC 14496-1 §7.2.6.5), tag 0x03, without the optional dependence,
/// URL and OCR fields (their flags and the stream priority are written as 0).
///
/// Descriptors are not boxes, but they implement [`Encode`] all the same: the length is the
/// whole descriptor, tag and size included.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EsDescriptor {
    /// `ES_ID`; 0 in files (ISO/IEC 14496-14 §3.1.2), where the track ID names the stream.
    pub es_id: u16,
    /// How to decode the stream.
    pub decoder_config: DecoderConfigDescriptor,
    /// Sync layer configuration.
    pub sl_config: SlConfigDescriptor,
}

impl EsDescriptor {
    fn body_len(&self) -> u64 {
        3 + self.decoder_config.encoded_len() + self.sl_config.encoded_len()
    }
}

impl Encode for EsDescriptor {
    fn encoded_len(&self) -> u64 {
        descriptor_len(self.body_len())
    }
    fn encode(&self, out: &mut BytesMut) {
        put_descriptor_header(out, 0x03, self.body_len());
        out.put_u16(self.es_id);
        out.put_u8(0); // streamDependenceFlag, URL_Flag, OCRstreamFlag, streamPriority
        self.decoder_config.encode(out);
        self.sl_config.encode(out);
    }
}

/// `DecoderConfigDescriptor` (ISO/IEC 14496-1 §7.2.6.6), tag 0x04.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DecoderConfigDescriptor {
    /// The codec (§7.2.6.6.2 Table 5): 0x40 MPEG-4 audio, 0x6C JPEG, ...
    pub object_type_indication: u8,
    /// The kind of stream (6 bits, Table 6): 0x04 visual, 0x05 audio.
    pub stream_type: u8,
    /// True for a stream from the receiver to the sender.
    pub up_stream: bool,
    /// Decoding buffer size in bytes (24 bits).
    pub buffer_size_db: u32,
    /// Highest bit rate over any one-second window, bits per second.
    pub max_bitrate: u32,
    /// Average bit rate in bits per second; 0 when variable.
    pub avg_bitrate: u32,
    /// Codec-specific configuration, e.g. an AAC AudioSpecificConfig.
    pub decoder_specific_info: Option<DecoderSpecificInfo>,
}

impl DecoderConfigDescriptor {
    fn body_len(&self) -> u64 {
        13 + self.decoder_specific_info.encoded_len()
    }
}

impl Encode for DecoderConfigDescriptor {
    fn encoded_len(&self) -> u64 {
        descriptor_len(self.body_len())
    }
    fn encode(&self, out: &mut BytesMut) {
        put_descriptor_header(out, 0x04, self.body_len());
        out.put_u8(self.object_type_indication);
        out.put_u8(self.stream_type << 2 | u8::from(self.up_stream) << 1 | 1); // reserved 1
        out.put_uint(u64::from(self.buffer_size_db), 3);
        out.put_u32(self.max_bitrate);
        out.put_u32(self.avg_bitrate);
        self.decoder_specific_info.encode(out);
    }
}

/// `DecoderSpecificInfo` (ISO/IEC 14496-1 §7.2.6.7), tag 0x05: opaque codec configuration.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DecoderSpecificInfo {
    /// The configuration bytes (for AAC, the AudioSpecificConfig).
    pub data: Bytes,
}

impl Encode for DecoderSpecificInfo {
    fn encoded_len(&self) -> u64 {
        descriptor_len(self.data.len() as u64)
    }
    fn encode(&self, out: &mut BytesMut) {
        put_descriptor_header(out, 0x05, self.data.len() as u64);
        out.put_slice(&self.data);
    }
}

/// `SLConfigDescriptor` (ISO/IEC 14496-1 §7.3.2.3), tag 0x06, in its predefined form only.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SlConfigDescriptor {
    /// 2: reserved for use in MP4 files (ISO/IEC 14496-14 §3.1.2).
    pub predefined: u8,
}

impl Encode for SlConfigDescriptor {
    fn encoded_len(&self) -> u64 {
        descriptor_len(1)
    }
    fn encode(&self, out: &mut BytesMut) {
        put_descriptor_header(out, 0x06, 1);
        out.put_u8(self.predefined);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn descriptor_sizes_take_the_shortest_form() {
        let header = |len| {
            let mut out = BytesMut::new();
            put_descriptor_header(&mut out, 5, len);
            assert_eq!(out.len() as u64 + len, descriptor_len(len));
            out.to_vec()
        };
        assert_eq!(header(0x7f), [5, 0x7f]);
        assert_eq!(header(0x80), [5, 0x81, 0x00]);
        assert_eq!(header(0x3fff), [5, 0xff, 0x7f]);
        assert_eq!(header(0x4000), [5, 0x81, 0x80, 0x00]);
        assert_eq!(header(0x20_0000), [5, 0x81, 0x80, 0x80, 0x00]);
    }

    #[test]
    fn aac_config_gives_channels_rate_and_buffer() {
        // AAC-LC (2), 16 kHz (index 8), mono (1).
        let a = Mp4a::aac(Bytes::from_static(&[0x14, 0x08])).unwrap();
        assert_eq!(
            (a.audio.channelcount, a.audio.samplerate >> 16),
            (1, 16_000)
        );
        let dc = &a.esds.es_descriptor.decoder_config;
        assert_eq!((dc.buffer_size_db, dc.max_bitrate), (768, 96_000));
        // 5.1 (6): six channels, five counted; explicit rate 0x00bb80 (index 15).
        let a = Mp4a::aac(Bytes::from_static(&[0x17, 0x80, 0x5d, 0xc0, 0x30])).unwrap();
        assert_eq!(
            (a.audio.channelcount, a.audio.samplerate >> 16),
            (6, 48_000)
        );
        assert_eq!(a.esds.es_descriptor.decoder_config.buffer_size_db, 3840);
        assert!(
            Mp4a::aac(Bytes::from_static(&[0x11, 0x80])).is_err(),
            "config 0"
        );
        assert!(
            Mp4a::aac(Bytes::from_static(&[0x16, 0x90])).is_err(),
            "index 13"
        );
        assert!(Mp4a::aac(Bytes::from_static(&[0x11])).is_err(), "truncated");
    }
}
