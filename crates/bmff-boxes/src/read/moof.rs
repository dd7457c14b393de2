//! `moof` (ISO/IEC 14496-12 §8.8.4) and what it holds, read into plain structs, and the
//! resolution of each sample's fields from the `trun`, `tfhd` and `trex` defaults.

use crate::NON_SYNC_BIT;
use crate::read::{Cursor, RawBox, ReadError, Trex, children, malformed, one, optional};

/// A `moof`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Moof {
    /// Absolute offset of the box.
    pub offset: u64,
    /// Its length, header included.
    pub size: u64,
    /// `mfhd.sequence_number` (§8.8.5).
    pub sequence_number: u32,
    /// Its `traf` boxes, in order.
    pub trafs: Vec<Traf>,
}

/// A `traf` (§8.8.6).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Traf {
    /// The track fragment header.
    pub tfhd: Tfhd,
    /// `tfdt.baseMediaDecodeTime` (§8.8.12), if present.
    pub tfdt: Option<u64>,
    /// Its `trun` boxes, in order.
    pub truns: Vec<Trun>,
}

/// `tfhd` (§8.8.7).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Tfhd {
    /// `tf_flags`.
    pub flags: u32,
    /// The track.
    pub track_id: u32,
    /// Flag 0x000001.
    pub base_data_offset: Option<u64>,
    /// Flag 0x000002.
    pub sample_description_index: Option<u32>,
    /// Flag 0x000008.
    pub default_sample_duration: Option<u32>,
    /// Flag 0x000010.
    pub default_sample_size: Option<u32>,
    /// Flag 0x000020.
    pub default_sample_flags: Option<u32>,
    /// Flag 0x010000, `duration-is-empty`.
    pub duration_is_empty: bool,
    /// Flag 0x020000, `default-base-is-moof`.
    pub default_base_is_moof: bool,
}

/// `trun` (§8.8.8).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Trun {
    /// Absolute offset of the box.
    pub offset: u64,
    /// 0: composition offsets unsigned; 1: signed.
    pub version: u8,
    /// `tr_flags`.
    pub flags: u32,
    /// Flag 0x000001: offset of the first sample's data from the base data offset.
    pub data_offset: Option<i32>,
    /// Flag 0x000004: the first sample's flags, overriding the defaults.
    pub first_sample_flags: Option<u32>,
    /// The samples' fields, each `None` when absent from the box.
    pub samples: Vec<TrunEntry>,
}

/// One sample of a [`Trun`]: the fields its `tr_flags` say are present.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TrunEntry {
    /// Flag 0x000100.
    pub duration: Option<u32>,
    /// Flag 0x000200.
    pub size: Option<u32>,
    /// Flag 0x000400.
    pub flags: Option<u32>,
    /// Flag 0x000800: unsigned in version 0, signed in version 1 (§8.8.8.3).
    pub composition_offset: Option<i64>,
}

/// The `tf_flags` defined by §8.8.7.1.
const TF_FLAGS: u32 = 0x1 | 0x2 | 0x8 | 0x10 | 0x20 | 0x01_0000 | 0x02_0000;
/// The `tr_flags` defined by §8.8.8.1.
const TR_FLAGS: u32 = 0x1 | 0x4 | 0x100 | 0x200 | 0x400 | 0x800;

/// Parses a `moof` (the box type is not checked: a `moof` whose type was rewritten, as in
/// an interrupted finalization, parses too). Its first box must be the `mfhd`.
pub fn parse_moof(moof: &RawBox<'_>) -> Result<Moof, ReadError> {
    let kids = children(moof)?;
    let mfhd = kids
        .first()
        .filter(|k| &k.fourcc == b"mfhd")
        .ok_or_else(|| malformed(moof, "mfhd is not the first box"))?;
    let sequence_number = parse_mfhd(mfhd)?;
    let trafs = kids
        .iter()
        .filter(|k| &k.fourcc == b"traf")
        .map(|traf| {
            let tk = children(traf)?;
            Ok(Traf {
                tfhd: parse_tfhd(&one(&tk, traf, b"tfhd")?)?,
                tfdt: optional(&tk, traf, b"tfdt")?
                    .map(|b| parse_tfdt(&b))
                    .transpose()?,
                truns: tk
                    .iter()
                    .filter(|k| &k.fourcc == b"trun")
                    .map(parse_trun)
                    .collect::<Result<_, _>>()?,
            })
        })
        .collect::<Result<_, ReadError>>()?;
    Ok(Moof {
        offset: moof.offset,
        size: moof.size(),
        sequence_number,
        trafs,
    })
}

/// Parses an `mfhd`: its `sequence_number`.
pub fn parse_mfhd(b: &RawBox<'_>) -> Result<u32, ReadError> {
    let mut c = Cursor::new(b);
    c.full_v01()?;
    let sequence_number = c.u32()?;
    c.end()?;
    Ok(sequence_number)
}

/// Parses a `tfdt`: its `baseMediaDecodeTime`.
pub fn parse_tfdt(b: &RawBox<'_>) -> Result<u64, ReadError> {
    let mut c = Cursor::new(b);
    let (version, _) = c.full_v01()?;
    let t = c.uv(version)?;
    c.end()?;
    Ok(t)
}

/// Parses a `tfhd`.
pub fn parse_tfhd(b: &RawBox<'_>) -> Result<Tfhd, ReadError> {
    let mut c = Cursor::new(b);
    let (_, flags) = c.full_v01()?;
    if flags & !TF_FLAGS != 0 {
        return Err(c.err(format!("unknown tf_flags {flags:#x}")));
    }
    let track_id = c.u32()?;
    // The optional fields in the order of §8.8.7.2: the 64-bit base_data_offset first.
    let base_data_offset = if flags & 0x1 != 0 {
        Some(c.u64()?)
    } else {
        None
    };
    let mut opt = |bit: u32| -> Result<Option<u32>, ReadError> {
        if flags & bit != 0 {
            c.u32().map(Some)
        } else {
            Ok(None)
        }
    };
    let tfhd = Tfhd {
        flags,
        track_id,
        base_data_offset,
        sample_description_index: opt(0x2)?,
        default_sample_duration: opt(0x8)?,
        default_sample_size: opt(0x10)?,
        default_sample_flags: opt(0x20)?,
        duration_is_empty: flags & 0x01_0000 != 0,
        default_base_is_moof: flags & 0x02_0000 != 0,
    };
    c.end()?;
    Ok(tfhd)
}

/// Parses a `trun`. The sample table must fill the rest of the box exactly.
pub fn parse_trun(b: &RawBox<'_>) -> Result<Trun, ReadError> {
    let mut c = Cursor::new(b);
    let (version, flags) = c.full_v01()?;
    if flags & !TR_FLAGS != 0 {
        return Err(c.err(format!("unknown tr_flags {flags:#x}")));
    }
    let n = c.u32()?;
    let data_offset = if flags & 0x1 != 0 {
        Some(c.i32()?)
    } else {
        None
    };
    let first_sample_flags = if flags & 0x4 != 0 {
        Some(c.u32()?)
    } else {
        None
    };
    let per_sample = 4 * (flags & 0xf00).count_ones() as usize;
    let left = c.left() as u64;
    if per_sample as u64 * u64::from(n) != left {
        return Err(c.err(format!(
            "{n} samples of {per_sample} bytes but {left} bytes of table"
        )));
    }
    let mut samples = Vec::with_capacity(n as usize);
    for _ in 0..n {
        let mut field = |bit: u32| -> Result<Option<u32>, ReadError> {
            if flags & bit != 0 {
                c.u32().map(Some)
            } else {
                Ok(None)
            }
        };
        let duration = field(0x100)?;
        let size = field(0x200)?;
        let sample_flags = field(0x400)?;
        // Unsigned in version 0, signed in version 1 (§8.8.8.2).
        let composition_offset = field(0x800)?.map(|raw| {
            if version == 1 {
                i64::from(raw as i32)
            } else {
                i64::from(raw)
            }
        });
        samples.push(TrunEntry {
            duration,
            size,
            flags: sample_flags,
            composition_offset,
        });
    }
    Ok(Trun {
        offset: b.offset,
        version,
        flags,
        data_offset,
        first_sample_flags,
        samples,
    })
}

/// One track's samples in a fragment, every default applied.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TrackFragment {
    /// The track.
    pub track_id: u32,
    /// `tfdt`, if present.
    pub tfdt: Option<u64>,
    /// 1-based index into `stsd`, from the `tfhd` or the `trex`.
    pub sample_description_index: u32,
    /// The samples, in decode order.
    pub samples: Vec<FragmentSample>,
}

/// One fragment sample, every default applied.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FragmentSample {
    /// Absolute offset of its data (out of range, even negative, in a broken file).
    pub offset: i128,
    /// Size in bytes.
    pub size: u32,
    /// Duration, media timescale.
    pub duration: u32,
    /// Sample flags (§8.8.3.1).
    pub flags: u32,
    /// Composition minus decode time (0 when the `trun` has none).
    pub composition_offset: i64,
}

impl FragmentSample {
    /// True unless the flags say `sample_is_non_sync_sample`.
    pub fn is_sync(&self) -> bool {
        self.flags & NON_SYNC_BIT == 0
    }
}

impl Moof {
    /// Applies the defaults of §8.8.7 and §8.8.8 to every sample: each field from the
    /// `trun`, else the `tfhd`, else the track's `trex`; data offsets from the base data
    /// offset (the `tfhd`'s, else the `moof` for the first `traf` or with
    /// `default-base-is-moof`, else where the previous `traf`'s data ended) plus the
    /// `trun`'s `data_offset`, a `trun` without one continuing after the previous run.
    pub fn resolve(&self, trex: &[Trex]) -> Result<Vec<TrackFragment>, ReadError> {
        let mut out = Vec::with_capacity(self.trafs.len());
        let mut previous_end = i128::from(self.offset);
        for (k, traf) in self.trafs.iter().enumerate() {
            let tfhd = &traf.tfhd;
            let track_id = tfhd.track_id;
            let tx = trex
                .iter()
                .find(|t| t.track_id == track_id)
                .ok_or(ReadError::NoTrex {
                    offset: self.offset,
                    track_id,
                })?;
            let base = match tfhd.base_data_offset {
                Some(b) => i128::from(b),
                None if tfhd.default_base_is_moof || k == 0 => i128::from(self.offset),
                None => previous_end,
            };
            let mut samples = Vec::new();
            let mut pos = base;
            for trun in &traf.truns {
                if let Some(d) = trun.data_offset {
                    pos = base + i128::from(d);
                }
                for (i, s) in trun.samples.iter().enumerate() {
                    let flags = match trun.first_sample_flags {
                        Some(first) if i == 0 => first,
                        _ => s
                            .flags
                            .or(tfhd.default_sample_flags)
                            .unwrap_or(tx.default_sample_flags),
                    };
                    let size = s
                        .size
                        .or(tfhd.default_sample_size)
                        .unwrap_or(tx.default_sample_size);
                    samples.push(FragmentSample {
                        offset: pos,
                        size,
                        duration: s
                            .duration
                            .or(tfhd.default_sample_duration)
                            .unwrap_or(tx.default_sample_duration),
                        flags,
                        composition_offset: s.composition_offset.unwrap_or(0),
                    });
                    pos += i128::from(size);
                }
            }
            previous_end = pos;
            out.push(TrackFragment {
                track_id,
                tfdt: traf.tfdt,
                sample_description_index: tfhd
                    .sample_description_index
                    .unwrap_or(tx.default_sample_description_index),
                samples,
            });
        }
        Ok(out)
    }
}
