//! The sample tables of an `stbl` (ISO/IEC 14496-12 §8.5-§8.7), read into plain structs.

use crate::FourCc;
use crate::read::{Cursor, RawBox, ReadError, children, malformed, one, optional};

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
