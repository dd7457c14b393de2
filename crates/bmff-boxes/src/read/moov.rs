//! `moov` (ISO/IEC 14496-12 §8.2.1) and what it holds, read into plain structs.

use crate::FourCc;
use crate::read::{Boxes, Cursor, RawBox, ReadError, boxes_at, children, malformed, one, optional};

/// A `moov`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Movie {
    /// The movie header.
    pub mvhd: Mvhd,
    /// The tracks, in file order.
    pub tracks: Vec<Track>,
    /// `Some` when the movie has an `mvex` (a fragmented file): its `trex` boxes.
    pub mvex: Option<Vec<Trex>>,
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

/// `stts` (§8.6.1.2): a run of samples of one duration.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TimeToSample {
    /// Samples in the run.
    pub sample_count: u32,
    /// Their duration, media timescale.
    pub sample_delta: u32,
}

/// `ctts` (§8.6.1.3): a run of samples of one composition offset.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CompositionOffset {
    /// Samples in the run.
    pub sample_count: u32,
    /// Composition minus decode time, media timescale: unsigned in version 0, signed in
    /// version 1.
    pub sample_offset: i64,
}

/// `stsc` (§8.7.4): a run of chunks with the same number of samples.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SampleToChunk {
    /// 1-based first chunk of the run.
    pub first_chunk: u32,
    /// Samples in each chunk of the run.
    pub samples_per_chunk: u32,
    /// 1-based index into `stsd`.
    pub sample_description_index: u32,
}

/// `stsz` or `stz2` (§8.7.3).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SampleSizes {
    /// Non-zero when every sample has this size (`stsz` only).
    pub sample_size: u32,
    /// Number of samples.
    pub sample_count: u32,
    /// Per-sample sizes (empty when `sample_size` is non-zero).
    pub entry_sizes: Vec<u32>,
}

/// The tables of an `stbl` (§8.5.1), except `stsd`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SampleTable {
    /// `stts` runs.
    pub stts: Vec<TimeToSample>,
    /// `ctts` runs, if present.
    pub ctts: Option<Vec<CompositionOffset>>,
    /// `stss` sample numbers (1-based), if present.
    pub stss: Option<Vec<u32>>,
    /// `stsc` entries.
    pub stsc: Vec<SampleToChunk>,
    /// `stsz` or `stz2`.
    pub sizes: SampleSizes,
    /// `stco` or `co64` chunk offsets.
    pub chunk_offsets: Vec<u64>,
    /// Which of `stco`/`co64` held them.
    pub chunk_offset_box: FourCc,
}

impl SampleTable {
    /// Number of samples (`stsz.sample_count`).
    pub fn sample_count(&self) -> u32 {
        self.sizes.sample_count
    }

    /// Size of sample `i` (0-based); 0 past the table.
    pub fn size(&self, i: usize) -> u32 {
        if self.sizes.sample_size != 0 {
            self.sizes.sample_size
        } else {
            self.sizes.entry_sizes.get(i).copied().unwrap_or(0)
        }
    }

    /// Sum of the `stts` counts.
    pub fn stts_count(&self) -> u64 {
        self.stts.iter().map(|e| u64::from(e.sample_count)).sum()
    }

    /// Sum of the `stts` durations.
    pub fn stts_duration(&self) -> u64 {
        self.stts
            .iter()
            .map(|e| u64::from(e.sample_count) * u64::from(e.sample_delta))
            .sum()
    }

    /// Every sample's duration, in order.
    pub fn durations(&self) -> Vec<u32> {
        self.stts
            .iter()
            .flat_map(|e| std::iter::repeat_n(e.sample_delta, e.sample_count as usize))
            .collect()
    }

    /// Samples per chunk, for `chunks` chunks, from `stsc` (`None` when `stsc` does not
    /// start at chunk 1 or does not increase).
    pub fn samples_per_chunk(&self, chunks: usize) -> Option<Vec<u32>> {
        let mut out = Vec::with_capacity(chunks);
        for (i, e) in self.stsc.iter().enumerate() {
            let start = e.first_chunk as usize;
            let end = self
                .stsc
                .get(i + 1)
                .map_or(chunks + 1, |n| n.first_chunk as usize);
            if start == 0 || start != out.len() + 1 || end < start || end > chunks + 1 {
                return None;
            }
            out.extend(std::iter::repeat_n(e.samples_per_chunk, end - start));
        }
        (out.len() == chunks).then_some(out)
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
    Ok(Movie { mvhd, tracks, mvex })
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

/// Parses the tables of an `stbl` (its `stsd` aside): `stts`, `stsc`, `stsz` or `stz2`,
/// and `stco` or `co64` are required; `ctts` and `stss` are optional.
pub fn parse_stbl(stbl: &RawBox<'_>) -> Result<SampleTable, ReadError> {
    let kids = children(stbl)?;
    let mut c = Cursor::new(&one(&kids, stbl, b"stts")?);
    c.full()?;
    let n = c.u32()?;
    c.table(n, 8)?;
    let stts = (0..n)
        .map(|_| {
            Ok(TimeToSample {
                sample_count: c.u32()?,
                sample_delta: c.u32()?,
            })
        })
        .collect::<Result<_, ReadError>>()?;
    let ctts = match optional(&kids, stbl, b"ctts")? {
        None => None,
        Some(b) => {
            let mut c = Cursor::new(&b);
            let (version, _) = c.full_v01()?;
            let n = c.u32()?;
            c.table(n, 8)?;
            let runs = (0..n)
                .map(|_| {
                    let sample_count = c.u32()?;
                    // Unsigned in version 0, signed in version 1 (§8.6.1.3.2).
                    let sample_offset = if version == 1 {
                        i64::from(c.i32()?)
                    } else {
                        i64::from(c.u32()?)
                    };
                    Ok(CompositionOffset {
                        sample_count,
                        sample_offset,
                    })
                })
                .collect::<Result<_, ReadError>>()?;
            Some(runs)
        }
    };
    let stss = match optional(&kids, stbl, b"stss")? {
        None => None,
        Some(b) => {
            let mut c = Cursor::new(&b);
            c.full()?;
            let n = c.u32()?;
            c.table(n, 4)?;
            Some((0..n).map(|_| c.u32()).collect::<Result<_, _>>()?)
        }
    };
    let mut c = Cursor::new(&one(&kids, stbl, b"stsc")?);
    c.full()?;
    let n = c.u32()?;
    c.table(n, 12)?;
    let stsc = (0..n)
        .map(|_| {
            Ok(SampleToChunk {
                first_chunk: c.u32()?,
                samples_per_chunk: c.u32()?,
                sample_description_index: c.u32()?,
            })
        })
        .collect::<Result<_, ReadError>>()?;
    let sizes = match (
        optional(&kids, stbl, b"stsz")?,
        optional(&kids, stbl, b"stz2")?,
    ) {
        (Some(b), None) => parse_stsz(&b)?,
        (None, Some(b)) => parse_stz2(&b)?,
        (None, None) => return Err(malformed(stbl, "neither stsz nor stz2")),
        (Some(_), Some(_)) => return Err(malformed(stbl, "both stsz and stz2")),
    };
    let (chunk_offsets, chunk_offset_box) = match (
        optional(&kids, stbl, b"stco")?,
        optional(&kids, stbl, b"co64")?,
    ) {
        (Some(b), None) => {
            let mut c = Cursor::new(&b);
            c.full()?;
            let n = c.u32()?;
            c.table(n, 4)?;
            let v = (0..n)
                .map(|_| c.u32().map(u64::from))
                .collect::<Result<_, _>>()?;
            (v, *b"stco")
        }
        (None, Some(b)) => {
            let mut c = Cursor::new(&b);
            c.full()?;
            let n = c.u32()?;
            c.table(n, 8)?;
            let v = (0..n).map(|_| c.u64()).collect::<Result<_, _>>()?;
            (v, *b"co64")
        }
        (None, None) => return Err(malformed(stbl, "neither stco nor co64")),
        (Some(_), Some(_)) => return Err(malformed(stbl, "both stco and co64")),
    };
    Ok(SampleTable {
        stts,
        ctts,
        stss,
        stsc,
        sizes,
        chunk_offsets,
        chunk_offset_box,
    })
}

fn parse_stsz(b: &RawBox<'_>) -> Result<SampleSizes, ReadError> {
    let mut c = Cursor::new(b);
    c.full()?;
    let sample_size = c.u32()?;
    let sample_count = c.u32()?;
    let entry_sizes = if sample_size == 0 {
        c.table(sample_count, 4)?;
        (0..sample_count)
            .map(|_| c.u32())
            .collect::<Result<_, _>>()?
    } else {
        Vec::new()
    };
    Ok(SampleSizes {
        sample_size,
        sample_count,
        entry_sizes,
    })
}

/// `stz2` (§8.7.3.3): sizes of 4, 8 or 16 bits.
fn parse_stz2(b: &RawBox<'_>) -> Result<SampleSizes, ReadError> {
    let mut c = Cursor::new(b);
    c.full()?;
    c.skip(3)?; // reserved
    let field_size = c.u8()?;
    let sample_count = c.u32()?;
    let bytes = match field_size {
        4 => u64::from(sample_count).div_ceil(2),
        8 => u64::from(sample_count),
        16 => 2 * u64::from(sample_count),
        _ => return Err(c.err(format!("field_size {field_size}"))),
    };
    if bytes > c.left() as u64 {
        return Err(c.err(format!(
            "{sample_count} sizes of {field_size} bits but {} bytes left",
            c.left()
        )));
    }
    let table = c.rest();
    let entry_sizes = (0..sample_count as usize)
        .map(|i| match field_size {
            4 => u32::from((table[i / 2] >> (4 - 4 * (i % 2))) & 0x0f),
            8 => u32::from(table[i]),
            _ => u32::from(u16::from_be_bytes([table[2 * i], table[2 * i + 1]])),
        })
        .collect();
    Ok(SampleSizes {
        sample_size: 0,
        sample_count,
        entry_sizes,
    })
}
