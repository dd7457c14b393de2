//! Movie fragment boxes (ISO/IEC 14496-12 §8.8): `mvex`/`trex` in the `moov`, and
//! `moof`/`mfhd`/`traf`/`tfhd`/`tfdt`/`trun` per fragment, and the `prft` before a `moof`
//! (§8.16.5).

use bytes::{BufMut, BytesMut};

use crate::{
    Encode, box_len, encode_all, entry_count, full_box_len, sum_len, write_box, write_full_box,
};

/// Movie extends box (ISO/IEC 14496-12 §8.8.1): announces fragments, one `trex` per track.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Mvex {
    /// Per-track fragment defaults (§8.8.3).
    pub trex: Vec<Trex>,
}

impl Encode for Mvex {
    fn encoded_len(&self) -> u64 {
        box_len(sum_len(&self.trex))
    }
    fn encode(&self, out: &mut BytesMut) {
        write_box(out, self.encoded_len(), *b"mvex", |out| {
            encode_all(&self.trex, out)
        })
    }
}

/// Track extends box (ISO/IEC 14496-12 §8.8.3): defaults for a track's fragments.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Trex {
    /// The track these defaults apply to (§8.8.3.3).
    pub track_id: u32,
    /// Default 1-based index into `stsd` (§8.8.3.3).
    pub default_sample_description_index: u32,
    /// Default sample duration in the media timescale (§8.8.3.3).
    pub default_sample_duration: u32,
    /// Default sample size in bytes (§8.8.3.3).
    pub default_sample_size: u32,
    /// Default sample flags (§8.8.3.3, layout in §8.8.3.1).
    pub default_sample_flags: u32,
}

impl Encode for Trex {
    fn encoded_len(&self) -> u64 {
        full_box_len(20)
    }
    fn encode(&self, out: &mut BytesMut) {
        write_full_box(out, self.encoded_len(), *b"trex", 0, 0, |out| {
            out.put_u32(self.track_id);
            out.put_u32(self.default_sample_description_index);
            out.put_u32(self.default_sample_duration);
            out.put_u32(self.default_sample_size);
            out.put_u32(self.default_sample_flags);
        })
    }
}

/// Movie fragment box (ISO/IEC 14496-12 §8.8.4).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Moof {
    /// Fragment header (§8.8.5).
    pub mfhd: Mfhd,
    /// One track fragment per track with samples in this fragment (§8.8.6).
    pub traf: Vec<Traf>,
}

impl Encode for Moof {
    fn encoded_len(&self) -> u64 {
        box_len(self.mfhd.encoded_len() + sum_len(&self.traf))
    }
    fn encode(&self, out: &mut BytesMut) {
        write_box(out, self.encoded_len(), *b"moof", |out| {
            self.mfhd.encode(out);
            encode_all(&self.traf, out);
        })
    }
}

/// Movie fragment header box (ISO/IEC 14496-12 §8.8.5).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Mfhd {
    /// Fragment number, increasing from 1 (§8.8.5.3).
    pub sequence_number: u32,
}

impl Encode for Mfhd {
    fn encoded_len(&self) -> u64 {
        full_box_len(4)
    }
    fn encode(&self, out: &mut BytesMut) {
        write_full_box(out, self.encoded_len(), *b"mfhd", 0, 0, |out| {
            out.put_u32(self.sequence_number);
        })
    }
}

/// Track fragment box (ISO/IEC 14496-12 §8.8.6).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Traf {
    /// Track fragment header (§8.8.7).
    pub tfhd: Tfhd,
    /// Decode time of the first sample (§8.8.12).
    pub tfdt: Option<Tfdt>,
    /// Runs of samples (§8.8.8).
    pub trun: Vec<Trun>,
}

impl Encode for Traf {
    fn encoded_len(&self) -> u64 {
        box_len(self.tfhd.encoded_len() + self.tfdt.encoded_len() + sum_len(&self.trun))
    }
    fn encode(&self, out: &mut BytesMut) {
        write_box(out, self.encoded_len(), *b"traf", |out| {
            self.tfhd.encode(out);
            self.tfdt.encode(out);
            encode_all(&self.trun, out);
        })
    }
}

/// Track fragment header box (ISO/IEC 14496-12 §8.8.7). The `tf_flags` are derived from
/// which optional fields are present.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Tfhd {
    /// The track (§8.8.7.3).
    pub track_id: u32,
    /// Base for data offsets, flag 0x000001 (§8.8.7.3).
    pub base_data_offset: Option<u64>,
    /// 1-based index into `stsd`, flag 0x000002 (§8.8.7.3).
    pub sample_description_index: Option<u32>,
    /// Default sample duration, flag 0x000008 (§8.8.7.3).
    pub default_sample_duration: Option<u32>,
    /// Default sample size, flag 0x000010 (§8.8.7.3).
    pub default_sample_size: Option<u32>,
    /// Default sample flags, flag 0x000020 (§8.8.7.3).
    pub default_sample_flags: Option<u32>,
    /// `duration-is-empty`, flag 0x010000 (§8.8.7.1).
    pub duration_is_empty: bool,
    /// `default-base-is-moof`, flag 0x020000 (§8.8.7.1).
    pub default_base_is_moof: bool,
}

impl Tfhd {
    /// The `tf_flags` implied by the present fields (§8.8.7.1).
    pub fn flags(&self) -> u32 {
        let mut f = 0;
        if self.base_data_offset.is_some() {
            f |= 0x00_0001;
        }
        if self.sample_description_index.is_some() {
            f |= 0x00_0002;
        }
        if self.default_sample_duration.is_some() {
            f |= 0x00_0008;
        }
        if self.default_sample_size.is_some() {
            f |= 0x00_0010;
        }
        if self.default_sample_flags.is_some() {
            f |= 0x00_0020;
        }
        if self.duration_is_empty {
            f |= 0x01_0000;
        }
        if self.default_base_is_moof {
            f |= 0x02_0000;
        }
        f
    }
}

impl Encode for Tfhd {
    fn encoded_len(&self) -> u64 {
        let optional = [
            self.sample_description_index,
            self.default_sample_duration,
            self.default_sample_size,
            self.default_sample_flags,
        ];
        let n32 = optional.iter().filter(|o| o.is_some()).count() as u64;
        let n64 = u64::from(self.base_data_offset.is_some());
        full_box_len(4 + 8 * n64 + 4 * n32)
    }
    fn encode(&self, out: &mut BytesMut) {
        write_full_box(out, self.encoded_len(), *b"tfhd", 0, self.flags(), |out| {
            out.put_u32(self.track_id);
            if let Some(v) = self.base_data_offset {
                out.put_u64(v);
            }
            for v in [
                self.sample_description_index,
                self.default_sample_duration,
                self.default_sample_size,
                self.default_sample_flags,
            ]
            .into_iter()
            .flatten()
            {
                out.put_u32(v);
            }
        })
    }
}

/// Track fragment decode time box (ISO/IEC 14496-12 §8.8.12). Version 1 when the time
/// exceeds 32 bits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Tfdt {
    /// Decode time of the fragment's first sample, in the media timescale (§8.8.12.3).
    pub base_media_decode_time: u64,
}

impl Tfdt {
    fn version(&self) -> u8 {
        u8::from(self.base_media_decode_time > u64::from(u32::MAX))
    }
}

impl Encode for Tfdt {
    fn encoded_len(&self) -> u64 {
        full_box_len(if self.version() == 1 { 8 } else { 4 })
    }
    fn encode(&self, out: &mut BytesMut) {
        let version = self.version();
        write_full_box(out, self.encoded_len(), *b"tfdt", version, 0, |out| {
            if version == 1 {
                out.put_u64(self.base_media_decode_time);
            } else {
                out.put_u32(self.base_media_decode_time as u32);
            }
        })
    }
}

/// Which per-sample fields a [`Trun`] carries (`tr_flags` 0x100..0x800, ISO/IEC 14496-12
/// §8.8.8.1).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TrunFields {
    /// `sample-duration-present`, 0x000100.
    pub sample_duration: bool,
    /// `sample-size-present`, 0x000200.
    pub sample_size: bool,
    /// `sample-flags-present`, 0x000400.
    pub sample_flags: bool,
    /// `sample-composition-time-offsets-present`, 0x000800.
    pub sample_composition_time_offset: bool,
}

/// One sample of a [`Trun`] (ISO/IEC 14496-12 §8.8.8.3); fields not selected by the run's
/// [`TrunFields`] are ignored.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TrunSample {
    /// Duration in the media timescale.
    pub sample_duration: u32,
    /// Size in bytes.
    pub sample_size: u32,
    /// Sample flags (§8.8.3.1).
    pub sample_flags: u32,
    /// Composition time minus decode time.
    pub sample_composition_time_offset: i32,
}

/// Track fragment run box (ISO/IEC 14496-12 §8.8.8). Version 1 (signed composition
/// offsets) when an offset is negative.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Trun {
    /// Offset of the first sample's data from the base data offset, flag 0x000001.
    pub data_offset: Option<i32>,
    /// Flags of the first sample, overriding the defaults, flag 0x000004.
    pub first_sample_flags: Option<u32>,
    /// Which per-sample fields are present.
    pub fields: TrunFields,
    /// The samples.
    pub samples: Vec<TrunSample>,
}

impl Trun {
    /// The `tr_flags` implied by the present fields (§8.8.8.1).
    pub fn flags(&self) -> u32 {
        let mut f = 0;
        if self.data_offset.is_some() {
            f |= 0x00_0001;
        }
        if self.first_sample_flags.is_some() {
            f |= 0x00_0004;
        }
        if self.fields.sample_duration {
            f |= 0x00_0100;
        }
        if self.fields.sample_size {
            f |= 0x00_0200;
        }
        if self.fields.sample_flags {
            f |= 0x00_0400;
        }
        if self.fields.sample_composition_time_offset {
            f |= 0x00_0800;
        }
        f
    }

    fn version(&self) -> u8 {
        u8::from(
            self.fields.sample_composition_time_offset
                && self
                    .samples
                    .iter()
                    .any(|s| s.sample_composition_time_offset < 0),
        )
    }

    fn bytes_per_sample(&self) -> u64 {
        let f = self.fields;
        4 * [
            f.sample_duration,
            f.sample_size,
            f.sample_flags,
            f.sample_composition_time_offset,
        ]
        .iter()
        .filter(|&&b| b)
        .count() as u64
    }
}

impl Encode for Trun {
    fn encoded_len(&self) -> u64 {
        let head = 4
            + 4 * u64::from(self.data_offset.is_some())
            + 4 * u64::from(self.first_sample_flags.is_some());
        full_box_len(head + self.bytes_per_sample() * self.samples.len() as u64)
    }
    fn encode(&self, out: &mut BytesMut) {
        let f = self.fields;
        write_full_box(
            out,
            self.encoded_len(),
            *b"trun",
            self.version(),
            self.flags(),
            |out| {
                out.put_u32(entry_count(self.samples.len()));
                if let Some(v) = self.data_offset {
                    out.put_i32(v);
                }
                if let Some(v) = self.first_sample_flags {
                    out.put_u32(v);
                }
                for s in &self.samples {
                    if f.sample_duration {
                        out.put_u32(s.sample_duration);
                    }
                    if f.sample_size {
                        out.put_u32(s.sample_size);
                    }
                    if f.sample_flags {
                        out.put_u32(s.sample_flags);
                    }
                    if f.sample_composition_time_offset {
                        out.put_i32(s.sample_composition_time_offset);
                    }
                }
            },
        )
    }
}

/// Producer reference time box (ISO/IEC 14496-12 §8.16.5), version 1: the wall-clock
/// (NTP) time of a media time of a track, written at the top level just before the `moof`
/// it describes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Prft {
    /// The track whose media time is given (§8.16.5.3).
    pub reference_track_id: u32,
    /// Wall-clock time in NTP format: seconds since 1900-01-01 UTC as 32.32 fixed point
    /// (§8.16.5.3).
    pub ntp_timestamp: u64,
    /// The reference track's media time (its timescale) at `ntp_timestamp` (§8.16.5.3).
    pub media_time: u64,
    /// What `ntp_timestamp` means (§8.16.5.3): [`Prft::CAPTURE_TIME`] for the time the
    /// media at `media_time` was captured, with a small, consistent offset.
    pub flags: u32,
}

impl Prft {
    /// Flags 0x18 (14496-12:2022): the time is consistent across the boxes of a track
    /// (0x08) and within a small, constant offset of the capture (0x10).
    pub const CAPTURE_TIME: u32 = 0x18;

    /// Seconds from 1900-01-01 (the NTP epoch) to 1970-01-01 (the Unix epoch).
    pub const NTP_TO_UNIX_SECS: i128 = 2_208_988_800;

    /// An NTP timestamp (32.32 seconds since 1900, era 0) as nanoseconds since the Unix
    /// epoch (negative before 1970), rounded down.
    pub fn unix_nanos_from_ntp(ntp: u64) -> i128 {
        let secs = i128::from(ntp >> 32) - Self::NTP_TO_UNIX_SECS;
        let frac = (i128::from(ntp & 0xffff_ffff) * 1_000_000_000) >> 32;
        secs * 1_000_000_000 + frac
    }

    /// Nanoseconds since the Unix epoch as an NTP timestamp (32.32 seconds since 1900),
    /// rounded to the nearest 2^-32 s; clamped to NTP era 0 (1900 to 2036).
    pub fn ntp_from_unix_nanos(unix_ns: i128) -> u64 {
        let ns = unix_ns + Self::NTP_TO_UNIX_SECS * 1_000_000_000;
        let ntp = ((ns << 32) + 500_000_000) / 1_000_000_000;
        u64::try_from(ntp.max(0)).unwrap_or(u64::MAX)
    }
}

impl Encode for Prft {
    fn encoded_len(&self) -> u64 {
        full_box_len(20)
    }
    fn encode(&self, out: &mut BytesMut) {
        write_full_box(out, self.encoded_len(), *b"prft", 1, self.flags, |out| {
            out.put_u32(self.reference_track_id);
            out.put_u64(self.ntp_timestamp);
            out.put_u64(self.media_time);
        })
    }
}
