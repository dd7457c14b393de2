//! Movie structure boxes: `moov` and the track hierarchy down to `minf`.

use bytes::{BufMut, BytesMut};

use crate::{
    Dinf, Encode, FourCc, MediaHeader, Minf, Mvex, Smhd, Stbl, Udta, Vmhd, box_len, encode_all,
    entry_count, full_box_len, sum_len, write_box, write_full_box,
};

/// The unity transformation matrix of `mvhd`/`tkhd` (ISO/IEC 14496-12 §6.2.2), as nine
/// 32-bit values: a, b, u (16.16, 16.16, 2.30), c, d, v, x, y, w.
pub const IDENTITY_MATRIX: [i32; 9] = [
    0x0001_0000, // a = 1.0 (16.16)
    0,           // b
    0,           // u (2.30)
    0,           // c
    0x0001_0000, // d = 1.0 (16.16)
    0,           // v (2.30)
    0,           // x
    0,           // y
    0x4000_0000, // w = 1.0 (2.30)
];

fn put_matrix(out: &mut BytesMut, matrix: &[i32; 9]) {
    for v in matrix {
        out.put_i32(*v);
    }
}

/// True when a value needs the 64-bit (version 1) form of a box.
fn needs_u64(v: u64) -> bool {
    v > u64::from(u32::MAX)
}

/// Movie box (ISO/IEC 14496-12 §8.2.1): container of the whole presentation's metadata.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Moov {
    /// Movie header (§8.2.2).
    pub mvhd: Mvhd,
    /// One track box per track (§8.3.1).
    pub traks: Vec<Trak>,
    /// Movie extends box, present in fragmented files (§8.8.1).
    pub mvex: Option<Mvex>,
    /// User data (§8.10.1), e.g. the recording's date and time.
    pub udta: Option<Udta>,
}

impl Encode for Moov {
    fn encoded_len(&self) -> u64 {
        box_len(
            self.mvhd.encoded_len()
                + sum_len(&self.traks)
                + self.mvex.encoded_len()
                + self.udta.encoded_len(),
        )
    }
    fn encode(&self, out: &mut BytesMut) {
        write_box(out, self.encoded_len(), *b"moov", |out| {
            self.mvhd.encode(out);
            encode_all(&self.traks, out);
            self.mvex.encode(out);
            self.udta.encode(out);
        })
    }
}

/// Movie header box (ISO/IEC 14496-12 §8.2.2). Version 1 is used when a time or the
/// duration exceeds 32 bits.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Mvhd {
    /// Creation time in seconds since 1904-01-01 UTC (§8.2.2.3).
    pub creation_time: u64,
    /// Modification time in seconds since 1904-01-01 UTC (§8.2.2.3).
    pub modification_time: u64,
    /// Time units per second for the movie-level durations (§8.2.2.3).
    pub timescale: u32,
    /// Length of the presentation in `timescale` units (§8.2.2.3).
    pub duration: u64,
    /// Preferred playback rate, 16.16 fixed point; 1.0 is `0x0001_0000` (§8.2.2.3).
    pub rate: i32,
    /// Preferred volume, 8.8 fixed point; 1.0 is `0x0100` (§8.2.2.3).
    pub volume: i16,
    /// Video transformation matrix (§8.2.2.3, §6.2.2).
    pub matrix: [i32; 9],
    /// A value larger than every track ID in use (§8.2.2.3).
    pub next_track_id: u32,
}

impl Mvhd {
    /// A movie header with rate 1.0, volume 1.0 and the identity matrix.
    pub fn new(timescale: u32, duration: u64, next_track_id: u32) -> Self {
        Self {
            creation_time: 0,
            modification_time: 0,
            timescale,
            duration,
            rate: 0x0001_0000,
            volume: 0x0100,
            matrix: IDENTITY_MATRIX,
            next_track_id,
        }
    }

    fn version(&self) -> u8 {
        let wide = needs_u64(self.creation_time)
            || needs_u64(self.modification_time)
            || needs_u64(self.duration);
        u8::from(wide)
    }
}

impl Encode for Mvhd {
    fn encoded_len(&self) -> u64 {
        let times = if self.version() == 1 { 28 } else { 16 };
        // rate 4, volume 2, reserved 2 + 8, matrix 36, pre_defined 24, next_track_ID 4
        full_box_len(times + 80)
    }
    fn encode(&self, out: &mut BytesMut) {
        let version = self.version();
        write_full_box(out, self.encoded_len(), *b"mvhd", version, 0, |out| {
            if version == 1 {
                out.put_u64(self.creation_time);
                out.put_u64(self.modification_time);
                out.put_u32(self.timescale);
                out.put_u64(self.duration);
            } else {
                out.put_u32(self.creation_time as u32);
                out.put_u32(self.modification_time as u32);
                out.put_u32(self.timescale);
                out.put_u32(self.duration as u32);
            }
            out.put_i32(self.rate);
            out.put_i16(self.volume);
            out.put_bytes(0, 2 + 8); // reserved u16, reserved u32[2]
            put_matrix(out, &self.matrix);
            out.put_bytes(0, 24); // pre_defined u32[6]
            out.put_u32(self.next_track_id);
        })
    }
}

/// Track box (ISO/IEC 14496-12 §8.3.1).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Trak {
    /// Track header (§8.3.2).
    pub tkhd: Tkhd,
    /// Edit box holding the edit list (§8.6.5).
    pub edts: Option<Edts>,
    /// Media box (§8.4.1).
    pub mdia: Mdia,
}

/// What a track's headers say about its media, for [`Trak::new`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TrackMedia {
    /// Video: `vide` handler, `vmhd`, and the `tkhd` width and height in 16.16 fixed
    /// point.
    Video {
        /// `tkhd` width, 16.16 fixed point.
        width_fixed: u32,
        /// `tkhd` height, 16.16 fixed point.
        height_fixed: u32,
    },
    /// Audio: `soun` handler, `smhd`, `tkhd` volume 1.0.
    Audio,
}

impl Trak {
    /// An enabled, in-movie track `track_id` around `stbl`: `tkhd` and `mdhd` with
    /// `time` as creation and modification time (seconds since 1904), `durations` as
    /// (`tkhd.duration` in the movie timescale, `mdhd.duration` in `timescale_hz`),
    /// language `und`, the identity matrix, and the handler and media header of `media`.
    pub fn new(
        track_id: u32,
        media: TrackMedia,
        timescale_hz: u32,
        time: u64,
        durations: (u64, u64),
        edts: Option<Edts>,
        stbl: Stbl,
    ) -> Trak {
        let (width, height, volume, hdlr, media_header) = match media {
            TrackMedia::Video {
                width_fixed,
                height_fixed,
            } => (
                width_fixed,
                height_fixed,
                0,
                Hdlr::video(),
                MediaHeader::Video(Vmhd::default()),
            ),
            TrackMedia::Audio => (
                0,
                0,
                0x0100,
                Hdlr::sound(),
                MediaHeader::Sound(Smhd::default()),
            ),
        };
        Trak {
            tkhd: Tkhd {
                flags: Tkhd::ENABLED | Tkhd::IN_MOVIE,
                creation_time: time,
                modification_time: time,
                track_id,
                duration: durations.0,
                layer: 0,
                alternate_group: 0,
                volume,
                matrix: IDENTITY_MATRIX,
                width,
                height,
            },
            edts,
            mdia: Mdia {
                mdhd: Mdhd {
                    creation_time: time,
                    modification_time: time,
                    timescale: timescale_hz,
                    duration: durations.1,
                    language: *b"und",
                },
                hdlr,
                minf: Minf {
                    media_header,
                    dinf: Dinf::default(),
                    stbl,
                },
            },
        }
    }
}

impl Encode for Trak {
    fn encoded_len(&self) -> u64 {
        box_len(self.tkhd.encoded_len() + self.edts.encoded_len() + self.mdia.encoded_len())
    }
    fn encode(&self, out: &mut BytesMut) {
        write_box(out, self.encoded_len(), *b"trak", |out| {
            self.tkhd.encode(out);
            self.edts.encode(out);
            self.mdia.encode(out);
        })
    }
}

/// Track header box (ISO/IEC 14496-12 §8.3.2). Version 1 is used when a time or the
/// duration exceeds 32 bits.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Tkhd {
    /// Flags (§8.3.2.3): [`Tkhd::ENABLED`], [`Tkhd::IN_MOVIE`], [`Tkhd::IN_PREVIEW`].
    pub flags: u32,
    /// Creation time in seconds since 1904-01-01 UTC (§8.3.2.3).
    pub creation_time: u64,
    /// Modification time in seconds since 1904-01-01 UTC (§8.3.2.3).
    pub modification_time: u64,
    /// Track identifier, never 0 (§8.3.2.3).
    pub track_id: u32,
    /// Duration of the track in the MOVIE timescale (`mvhd.timescale`): the sum of its edits
    /// (§8.3.2.3).
    pub duration: u64,
    /// Front-to-back ordering of video tracks (§8.3.2.3).
    pub layer: i16,
    /// Group of alternate tracks, 0 for none (§8.3.2.3).
    pub alternate_group: i16,
    /// Audio volume, 8.8 fixed point: `0x0100` for audio tracks, 0 otherwise (§8.3.2.3).
    pub volume: i16,
    /// Video transformation matrix (§8.3.2.3, §6.2.2).
    pub matrix: [i32; 9],
    /// Visual presentation width, 16.16 fixed point (§8.3.2.3).
    pub width: u32,
    /// Visual presentation height, 16.16 fixed point (§8.3.2.3).
    pub height: u32,
}

impl Tkhd {
    /// `track_enabled` flag (§8.3.2.3).
    pub const ENABLED: u32 = 0x1;
    /// `track_in_movie` flag (§8.3.2.3).
    pub const IN_MOVIE: u32 = 0x2;
    /// `track_in_preview` flag (§8.3.2.3).
    pub const IN_PREVIEW: u32 = 0x4;

    fn version(&self) -> u8 {
        let wide = needs_u64(self.creation_time)
            || needs_u64(self.modification_time)
            || needs_u64(self.duration);
        u8::from(wide)
    }
}

impl Encode for Tkhd {
    fn encoded_len(&self) -> u64 {
        let times = if self.version() == 1 { 32 } else { 20 };
        // reserved 8, layer 2, alternate_group 2, volume 2, reserved 2, matrix 36, w 4, h 4
        full_box_len(times + 60)
    }
    fn encode(&self, out: &mut BytesMut) {
        let version = self.version();
        write_full_box(
            out,
            self.encoded_len(),
            *b"tkhd",
            version,
            self.flags,
            |out| {
                if version == 1 {
                    out.put_u64(self.creation_time);
                    out.put_u64(self.modification_time);
                    out.put_u32(self.track_id);
                    out.put_u32(0); // reserved
                    out.put_u64(self.duration);
                } else {
                    out.put_u32(self.creation_time as u32);
                    out.put_u32(self.modification_time as u32);
                    out.put_u32(self.track_id);
                    out.put_u32(0); // reserved
                    out.put_u32(self.duration as u32);
                }
                out.put_bytes(0, 8); // reserved u32[2]
                out.put_i16(self.layer);
                out.put_i16(self.alternate_group);
                out.put_i16(self.volume);
                out.put_u16(0); // reserved
                put_matrix(out, &self.matrix);
                out.put_u32(self.width);
                out.put_u32(self.height);
            },
        )
    }
}

/// Edit box (ISO/IEC 14496-12 §8.6.5).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Edts {
    /// The edit list (§8.6.6).
    pub elst: Elst,
}

impl Encode for Edts {
    fn encoded_len(&self) -> u64 {
        box_len(self.elst.encoded_len())
    }
    fn encode(&self, out: &mut BytesMut) {
        write_box(out, self.encoded_len(), *b"edts", |out| {
            self.elst.encode(out)
        })
    }
}

/// Edit list box (ISO/IEC 14496-12 §8.6.6). Version 1 is used when a duration or media
/// time does not fit 32 bits.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Elst {
    /// The edits, in presentation order.
    pub entries: Vec<ElstEntry>,
}

/// One edit of an [`Elst`] (ISO/IEC 14496-12 §8.6.6.3).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ElstEntry {
    /// Duration of this edit in the MOVIE timescale (§8.6.6.3).
    pub segment_duration: u64,
    /// Start of the edit in media time (media timescale, composition time), or -1 for an
    /// empty edit (§8.6.6.3).
    pub media_time: i64,
    /// Integer part of the playback rate; 1 for normal playback (§8.6.6.3).
    pub media_rate_integer: i16,
    /// Fractional part of the playback rate; 0 (§8.6.6.3).
    pub media_rate_fraction: i16,
}

impl ElstEntry {
    /// An empty edit (`media_time` = -1) lasting `segment_duration` movie-timescale units.
    pub fn empty(segment_duration: u64) -> Self {
        Self {
            segment_duration,
            media_time: -1,
            media_rate_integer: 1,
            media_rate_fraction: 0,
        }
    }

    /// A normal-rate edit playing media from `media_time` for `segment_duration`.
    pub fn media(segment_duration: u64, media_time: i64) -> Self {
        Self {
            segment_duration,
            media_time,
            media_rate_integer: 1,
            media_rate_fraction: 0,
        }
    }
}

impl Elst {
    fn version(&self) -> u8 {
        let wide = self
            .entries
            .iter()
            .any(|e| needs_u64(e.segment_duration) || i32::try_from(e.media_time).is_err());
        u8::from(wide)
    }
}

impl Encode for Elst {
    fn encoded_len(&self) -> u64 {
        let entry = if self.version() == 1 { 20 } else { 12 };
        full_box_len(4 + entry * self.entries.len() as u64)
    }
    fn encode(&self, out: &mut BytesMut) {
        let version = self.version();
        write_full_box(out, self.encoded_len(), *b"elst", version, 0, |out| {
            out.put_u32(entry_count(self.entries.len()));
            for e in &self.entries {
                if version == 1 {
                    out.put_u64(e.segment_duration);
                    out.put_i64(e.media_time);
                } else {
                    out.put_u32(e.segment_duration as u32);
                    out.put_i32(e.media_time as i32);
                }
                out.put_i16(e.media_rate_integer);
                out.put_i16(e.media_rate_fraction);
            }
        })
    }
}

/// Media box (ISO/IEC 14496-12 §8.4.1).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Mdia {
    /// Media header (§8.4.2).
    pub mdhd: Mdhd,
    /// Handler reference (§8.4.3).
    pub hdlr: Hdlr,
    /// Media information (§8.4.4).
    pub minf: Minf,
}

impl Encode for Mdia {
    fn encoded_len(&self) -> u64 {
        box_len(self.mdhd.encoded_len() + self.hdlr.encoded_len() + self.minf.encoded_len())
    }
    fn encode(&self, out: &mut BytesMut) {
        write_box(out, self.encoded_len(), *b"mdia", |out| {
            self.mdhd.encode(out);
            self.hdlr.encode(out);
            self.minf.encode(out);
        })
    }
}

/// Media header box (ISO/IEC 14496-12 §8.4.2). Version 1 is used when a time or the
/// duration exceeds 32 bits.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Mdhd {
    /// Creation time in seconds since 1904-01-01 UTC (§8.4.2.3).
    pub creation_time: u64,
    /// Modification time in seconds since 1904-01-01 UTC (§8.4.2.3).
    pub modification_time: u64,
    /// Time units per second of this media (§8.4.2.3).
    pub timescale: u32,
    /// Duration of the media in `timescale` units (§8.4.2.3).
    pub duration: u64,
    /// ISO-639-2/T language code, three lower-case letters, e.g. `*b"und"` (§8.4.2.3).
    pub language: [u8; 3],
}

impl Mdhd {
    fn version(&self) -> u8 {
        let wide = needs_u64(self.creation_time)
            || needs_u64(self.modification_time)
            || needs_u64(self.duration);
        u8::from(wide)
    }

    /// The language packed as three 5-bit letters offset by 0x60 (§8.4.2.3).
    fn packed_language(&self) -> u16 {
        self.language.iter().fold(0u16, |acc, c| {
            acc << 5 | (u16::from(c.wrapping_sub(0x60)) & 0x1f)
        })
    }
}

impl Encode for Mdhd {
    fn encoded_len(&self) -> u64 {
        let times = if self.version() == 1 { 28 } else { 16 };
        full_box_len(times + 4) // language 2, pre_defined 2
    }
    fn encode(&self, out: &mut BytesMut) {
        let version = self.version();
        write_full_box(out, self.encoded_len(), *b"mdhd", version, 0, |out| {
            if version == 1 {
                out.put_u64(self.creation_time);
                out.put_u64(self.modification_time);
                out.put_u32(self.timescale);
                out.put_u64(self.duration);
            } else {
                out.put_u32(self.creation_time as u32);
                out.put_u32(self.modification_time as u32);
                out.put_u32(self.timescale);
                out.put_u32(self.duration as u32);
            }
            out.put_u16(self.packed_language()); // pad bit 0, then 3 x 5 bits
            out.put_u16(0); // pre_defined
        })
    }
}

/// Handler reference box (ISO/IEC 14496-12 §8.4.3).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Hdlr {
    /// Handler type (§8.4.3.3): `vide`, `soun`, ...
    pub handler_type: FourCc,
    /// Human-readable name of the track type, written null-terminated (§8.4.3.3).
    pub name: String,
}

impl Hdlr {
    /// The video handler, named `VideoHandler`.
    pub fn video() -> Self {
        Self {
            handler_type: *b"vide",
            name: "VideoHandler".to_owned(),
        }
    }

    /// The sound handler, named `SoundHandler`.
    pub fn sound() -> Self {
        Self {
            handler_type: *b"soun",
            name: "SoundHandler".to_owned(),
        }
    }
}

impl Encode for Hdlr {
    fn encoded_len(&self) -> u64 {
        // pre_defined 4, handler_type 4, reserved 12, name + NUL
        full_box_len(20 + self.name.len() as u64 + 1)
    }
    fn encode(&self, out: &mut BytesMut) {
        write_full_box(out, self.encoded_len(), *b"hdlr", 0, 0, |out| {
            out.put_u32(0); // pre_defined
            out.put_slice(&self.handler_type);
            out.put_bytes(0, 12); // reserved u32[3]
            out.put_slice(self.name.as_bytes());
            out.put_u8(0); // NUL terminator
        })
    }
}
