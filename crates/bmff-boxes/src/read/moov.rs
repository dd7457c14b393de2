//! `moov` (ISO/IEC 14496-12 §8.2.1) and what it holds, read into plain structs.

use crate::FourCc;
use crate::read::{
    Boxes, Cursor, RawBox, ReadError, SampleTable, boxes_at, children, malformed, one, optional,
    parse_stbl,
};

/// A `moov`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Movie {
    /// The movie header.
    pub mvhd: Mvhd,
    /// The tracks, in file order.
    pub tracks: Vec<Track>,
    /// `Some` when the movie has an `mvex` (a fragmented file): its `trex` boxes.
    pub mvex: Option<Vec<Trex>>,
    /// The children of the `moov`'s `udta` (§8.10.1), if it has one.
    pub user_data: Vec<UserData>,
}

/// One child box of a `udta`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UserData {
    /// Its type (`meta`, `cprt`, ...).
    pub fourcc: FourCc,
    /// Its payload (after the box header).
    pub payload: Vec<u8>,
}

impl UserData {
    /// The text items of an iTunes-style metadata list (`meta` with an `ilst`): each item's
    /// type (`desc`, ...) and the UTF-8 text of its `data`; empty when this is not a
    /// `meta` or holds none.
    pub fn items(&self) -> Vec<(FourCc, String)> {
        let mut out = Vec::new();
        if &self.fourcc != b"meta" || self.payload.len() < 4 {
            return out;
        }
        // `meta` is a full box: its children follow the version and flags.
        let kids = crate::read::boxes(&self.payload[4..]);
        for ilst in kids.flatten().filter(|b| &b.fourcc == b"ilst") {
            for item in crate::read::boxes(ilst.payload).flatten() {
                for data in crate::read::boxes(item.payload).flatten() {
                    // type indicator 1 (UTF-8), then the locale, then the text.
                    if &data.fourcc == b"data"
                        && data.payload.get(..4) == Some(&[0, 0, 0, 1])
                        && let Some(Ok(text)) = data.payload.get(8..).map(std::str::from_utf8)
                    {
                        out.push((item.fourcc, text.to_owned()));
                    }
                }
            }
        }
        out
    }

    /// The whole box again (an 8-byte header, or a 16-byte one past 32 bits).
    pub fn to_box_bytes(&self) -> Vec<u8> {
        let len = self.payload.len() as u64 + 8;
        let mut out = Vec::with_capacity(self.payload.len() + 16);
        match u32::try_from(len) {
            Ok(size) => out.extend_from_slice(&size.to_be_bytes()),
            Err(_) => out.extend_from_slice(&1u32.to_be_bytes()),
        }
        out.extend_from_slice(&self.fourcc);
        if len > u64::from(u32::MAX) {
            out.extend_from_slice(&(len + 8).to_be_bytes());
        }
        out.extend_from_slice(&self.payload);
        out
    }
}

/// `mvhd` (§8.2.2).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Mvhd {
    /// 0, or 1 for 64-bit times.
    pub version: u8,
    /// Seconds since 1904-01-01 UTC.
    pub creation_time: u64,
    /// Seconds since 1904-01-01 UTC.
    pub modification_time: u64,
    /// Ticks per second of the movie's durations.
    pub timescale_hz: u32,
    /// Length of the movie, in `timescale_hz` ticks.
    pub duration: u64,
    /// One more than the largest track id.
    pub next_track_id: u32,
}

/// `trex` (§8.8.3): a track's defaults for its fragments.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Trex {
    /// The track.
    pub track_id: u32,
    /// Default 1-based index into `stsd`.
    pub default_sample_description_index: u32,
    /// Default sample duration, media timescale.
    pub default_sample_duration: u32,
    /// Default sample size in bytes.
    pub default_sample_size: u32,
    /// Default sample flags (§8.8.3.1).
    pub default_sample_flags: u32,
}

/// A `trak` (§8.3.1).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Track {
    /// Absolute offset of the `trak`.
    pub offset: u64,
    /// The track header.
    pub tkhd: Tkhd,
    /// The media header.
    pub mdhd: Mdhd,
    /// `hdlr.handler_type` (§8.4.3): `vide`, `soun`, ...
    pub handler: FourCc,
    /// The `elst` entries, when the track has an edit list (§8.6.6).
    pub edits: Option<Vec<Edit>>,
    /// The `stsd` entries (§8.5.2).
    pub sample_entries: Vec<SampleEntry>,
    /// The sample tables.
    pub stbl: SampleTable,
}

impl Track {
    /// `tkhd.track_ID`.
    pub fn track_id(&self) -> u32 {
        self.tkhd.track_id
    }

    /// True for a `vide` track.
    pub fn is_video(&self) -> bool {
        &self.handler == b"vide"
    }
}

/// `tkhd` (§8.3.2).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Tkhd {
    /// 0, or 1 for 64-bit times.
    pub version: u8,
    /// `track_enabled` (1), `track_in_movie` (2), ...
    pub flags: u32,
    /// Seconds since 1904-01-01 UTC.
    pub creation_time: u64,
    /// Seconds since 1904-01-01 UTC.
    pub modification_time: u64,
    /// The track's id.
    pub track_id: u32,
    /// Length of the track, movie timescale.
    pub duration: u64,
    /// Front-to-back order.
    pub layer: i16,
    /// Group of alternatives.
    pub alternate_group: i16,
    /// 8.8 fixed point.
    pub volume: i16,
    /// 16.16 fixed point.
    pub width_fixed: u32,
    /// 16.16 fixed point.
    pub height_fixed: u32,
}

impl Tkhd {
    /// Integer part of the width.
    pub fn width(&self) -> u32 {
        self.width_fixed >> 16
    }
    /// Integer part of the height.
    pub fn height(&self) -> u32 {
        self.height_fixed >> 16
    }
}

/// `mdhd` (§8.4.2).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Mdhd {
    /// 0, or 1 for 64-bit times.
    pub version: u8,
    /// Seconds since 1904-01-01 UTC.
    pub creation_time: u64,
    /// Seconds since 1904-01-01 UTC.
    pub modification_time: u64,
    /// Ticks per second of the media.
    pub timescale_hz: u32,
    /// Length of the media, in `timescale_hz` ticks.
    pub duration: u64,
    /// ISO-639-2/T code, three 5-bit letters (`'a'` - 0x60 each).
    pub language: u16,
}

/// One `elst` entry (§8.6.6).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Edit {
    /// Movie timescale.
    pub segment_duration: u64,
    /// Media timescale; -1 for an empty edit.
    pub media_time: i64,
    /// 16.16 fixed point.
    pub media_rate: i32,
}

/// One `stsd` entry (§8.5.2): its bytes and, for known visual and audio entry types,
/// their fixed fields.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SampleEntry {
    /// Absolute offset of the entry.
    pub offset: u64,
    /// Its type (`avc1`, `mp4a`, ...).
    pub fourcc: FourCc,
    /// The whole entry box, header included.
    pub bytes: Vec<u8>,
    /// `data_reference_index` (0 when the entry is too short to hold one).
    pub data_reference_index: u16,
    /// The fields of a `VisualSampleEntry` (§12.1.3), for visual entry types.
    pub visual: Option<VisualFields>,
    /// The fields of an `AudioSampleEntry` (§12.2.3), for audio entry types.
    pub audio: Option<AudioFields>,
}

/// The fixed fields of a `VisualSampleEntry`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct VisualFields {
    /// Coded width in pixels.
    pub width: u16,
    /// Coded height in pixels.
    pub height: u16,
    /// Bit depth (0x18: colour, no alpha).
    pub depth: u16,
}

/// The fixed fields of an `AudioSampleEntry`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct AudioFields {
    /// Number of channels.
    pub channel_count: u16,
    /// Bits per sample.
    pub sample_size: u16,
    /// Sample rate, 16.16 fixed point.
    pub sample_rate_fixed: u32,
}

/// Sample entry types with a `VisualSampleEntry` layout.
pub(crate) const VISUAL_ENTRIES: &[&FourCc] = &[
    b"avc1", b"avc3", b"hvc1", b"hev1", b"mp4v", b"jpeg", b"mjpg", b"vp08", b"vp09", b"av01",
    b"encv", b"s263",
];
/// Sample entry types with an `AudioSampleEntry` layout.
pub(crate) const AUDIO_ENTRIES: &[&FourCc] = &[
    b"mp4a", b"Opus", b"ulaw", b"alaw", b"fLaC", b"ac-3", b"ec-3", b"enca", b"sowt", b"twos",
    b"lpcm",
];
/// Payload bytes of a `VisualSampleEntry` before its child boxes.
pub(crate) const VISUAL_FIELDS_LEN: usize = 78;
/// Payload bytes of an `AudioSampleEntry` before its child boxes.
pub(crate) const AUDIO_FIELDS_LEN: usize = 28;

impl SampleEntry {
    /// The boxes after the entry's fixed fields (`avcC`, `esds`, `btrt`, ...); none for
    /// an entry type whose layout is unknown here.
    pub fn children(&self) -> Boxes<'_> {
        let header_len = if self.bytes.get(..4) == Some(&[0, 0, 0, 1]) {
            16
        } else {
            8
        };
        let fields = if self.visual.is_some() {
            VISUAL_FIELDS_LEN
        } else if self.audio.is_some() {
            AUDIO_FIELDS_LEN
        } else {
            self.bytes.len()
        };
        let start = (header_len + fields).min(self.bytes.len());
        boxes_at(&self.bytes[start..], self.offset + start as u64)
    }
}

/// Parses a `moov`.
pub fn parse_moov(moov: &RawBox<'_>) -> Result<Movie, ReadError> {
    let kids = children(moov)?;
    let mvhd = parse_mvhd(&one(&kids, moov, b"mvhd")?)?;
    let mvex = match optional(&kids, moov, b"mvex")? {
        None => None,
        Some(mvex) => Some(
            children(&mvex)?
                .iter()
                .filter(|k| &k.fourcc == b"trex")
                .map(parse_trex)
                .collect::<Result<_, _>>()?,
        ),
    };
    let tracks = kids
        .iter()
        .filter(|k| &k.fourcc == b"trak")
        .map(parse_trak)
        .collect::<Result<_, _>>()?;
    let user_data = match optional(&kids, moov, b"udta")? {
        None => Vec::new(),
        Some(udta) => children(&udta)?
            .iter()
            .map(|k| UserData {
                fourcc: k.fourcc,
                payload: k.payload.to_vec(),
            })
            .collect(),
    };
    Ok(Movie {
        mvhd,
        tracks,
        mvex,
        user_data,
    })
}

/// Parses an `mvhd`.
pub fn parse_mvhd(b: &RawBox<'_>) -> Result<Mvhd, ReadError> {
    let mut c = Cursor::new(b);
    let (version, _) = c.full_v01()?;
    let creation_time = c.uv(version)?;
    let modification_time = c.uv(version)?;
    let timescale_hz = c.u32()?;
    let duration = c.uv(version)?;
    c.skip(4 + 2 + 10 + 36 + 24)?; // rate, volume, reserved, matrix, pre_defined
    let next_track_id = c.u32()?;
    c.end()?;
    Ok(Mvhd {
        version,
        creation_time,
        modification_time,
        timescale_hz,
        duration,
        next_track_id,
    })
}

/// Parses a `trex`.
pub fn parse_trex(b: &RawBox<'_>) -> Result<Trex, ReadError> {
    let mut c = Cursor::new(b);
    c.full_v01()?;
    let trex = Trex {
        track_id: c.u32()?,
        default_sample_description_index: c.u32()?,
        default_sample_duration: c.u32()?,
        default_sample_size: c.u32()?,
        default_sample_flags: c.u32()?,
    };
    c.end()?;
    Ok(trex)
}

/// Parses a `trak`: `tkhd`, `edts`/`elst`, `mdia` (`mdhd`, `hdlr`, `minf`/`stbl`).
pub fn parse_trak(trak: &RawBox<'_>) -> Result<Track, ReadError> {
    let kids = children(trak)?;
    let tkhd = parse_tkhd(&one(&kids, trak, b"tkhd")?)?;
    let edits = match optional(&kids, trak, b"edts")? {
        Some(edts) => match optional(&children(&edts)?, &edts, b"elst")? {
            Some(elst) => Some(parse_elst(&elst)?),
            None => None,
        },
        None => None,
    };
    let mdia = one(&kids, trak, b"mdia")?;
    let mdia_kids = children(&mdia)?;
    let mdhd = parse_mdhd(&one(&mdia_kids, &mdia, b"mdhd")?)?;
    let mut c = Cursor::new(&one(&mdia_kids, &mdia, b"hdlr")?);
    c.full()?;
    c.skip(4)?; // pre_defined
    let handler = c.arr()?;
    let minf = one(&mdia_kids, &mdia, b"minf")?;
    let stbl = one(&children(&minf)?, &minf, b"stbl")?;
    let stbl_kids = children(&stbl)?;
    let sample_entries = parse_stsd(&one(&stbl_kids, &stbl, b"stsd")?)?;
    Ok(Track {
        offset: trak.offset,
        tkhd,
        mdhd,
        handler,
        edits,
        sample_entries,
        stbl: parse_stbl(&stbl)?,
    })
}

/// Parses a `tkhd`.
pub fn parse_tkhd(b: &RawBox<'_>) -> Result<Tkhd, ReadError> {
    let mut c = Cursor::new(b);
    let (version, flags) = c.full_v01()?;
    let creation_time = c.uv(version)?;
    let modification_time = c.uv(version)?;
    let track_id = c.u32()?;
    c.skip(4)?; // reserved
    let duration = c.uv(version)?;
    c.skip(8)?; // reserved
    let (layer, alternate_group, volume) = (c.i16()?, c.i16()?, c.i16()?);
    c.skip(2 + 36)?; // reserved, matrix
    let (width_fixed, height_fixed) = (c.u32()?, c.u32()?);
    c.end()?;
    Ok(Tkhd {
        version,
        flags,
        creation_time,
        modification_time,
        track_id,
        duration,
        layer,
        alternate_group,
        volume,
        width_fixed,
        height_fixed,
    })
}

/// Parses an `mdhd`.
pub fn parse_mdhd(b: &RawBox<'_>) -> Result<Mdhd, ReadError> {
    let mut c = Cursor::new(b);
    let (version, _) = c.full_v01()?;
    let creation_time = c.uv(version)?;
    let modification_time = c.uv(version)?;
    let timescale_hz = c.u32()?;
    let duration = c.uv(version)?;
    let language = c.u16()?;
    c.skip(2)?; // pre_defined
    c.end()?;
    Ok(Mdhd {
        version,
        creation_time,
        modification_time,
        timescale_hz,
        duration,
        language,
    })
}

/// Parses an `elst`.
pub fn parse_elst(b: &RawBox<'_>) -> Result<Vec<Edit>, ReadError> {
    let mut c = Cursor::new(b);
    let (version, _) = c.full_v01()?;
    let n = c.u32()?;
    c.table(n, if version == 1 { 20 } else { 12 })?;
    (0..n)
        .map(|_| {
            let segment_duration = c.uv(version)?;
            let media_time = if version == 1 {
                c.i64()?
            } else {
                i64::from(c.i32()?)
            };
            let media_rate = c.i32()?;
            Ok(Edit {
                segment_duration,
                media_time,
                media_rate,
            })
        })
        .collect()
}

/// Parses an `stsd`: its entries, whose count must match `entry_count`.
pub fn parse_stsd(stsd: &RawBox<'_>) -> Result<Vec<SampleEntry>, ReadError> {
    let mut c = Cursor::new(stsd);
    c.full()?;
    let n = c.u32()?;
    let entries: Vec<RawBox<'_>> = stsd
        .children_after(c.pos)
        .collect::<Result<_, _>>()
        .map_err(|e| malformed(stsd, e.to_string()))?;
    if entries.len() != n as usize {
        return Err(malformed(
            stsd,
            format!("entry_count {n} but {} entries", entries.len()),
        ));
    }
    Ok(entries
        .iter()
        .map(|e| {
            let start = (e.offset - stsd.payload_offset()) as usize;
            sample_entry(e, &stsd.payload[start..start + e.size() as usize])
        })
        .collect())
}

/// An entry's fields, from its box `e` and its bytes `whole`, header included; lenient
/// (an entry too short for its layout has no fields).
fn sample_entry(e: &RawBox<'_>, whole: &[u8]) -> SampleEntry {
    let p = e.payload;
    let u16_at = |i: usize| u16::from_be_bytes([p[i], p[i + 1]]);
    let data_reference_index = if p.len() >= 8 { u16_at(6) } else { 0 };
    let visual = (VISUAL_ENTRIES.contains(&&e.fourcc) && p.len() >= VISUAL_FIELDS_LEN).then(|| {
        VisualFields {
            width: u16_at(24),
            height: u16_at(26),
            depth: u16_at(74),
        }
    });
    let audio =
        (AUDIO_ENTRIES.contains(&&e.fourcc) && p.len() >= AUDIO_FIELDS_LEN).then(|| AudioFields {
            channel_count: u16_at(16),
            sample_size: u16_at(18),
            sample_rate_fixed: u32::from_be_bytes([p[24], p[25], p[26], p[27]]),
        });
    SampleEntry {
        offset: e.offset,
        fourcc: e.fourcc,
        bytes: whole.to_vec(),
        data_reference_index,
        visual,
        audio,
    }
}
