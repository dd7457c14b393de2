//! Sample table boxes (ISO/IEC 14496-12 §8.5-§8.9): `stbl` and its children.

use bytes::{BufMut, Bytes, BytesMut};

use crate::{
    Encode, FourCc, box_len, encode_all, entry_count, full_box_len, sum_len, write_box,
    write_full_box,
};

/// Sample table box (ISO/IEC 14496-12 §8.5.1).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Stbl {
    /// Sample descriptions (§8.5.2).
    pub stsd: Stsd,
    /// Decoding time to sample (§8.6.1.2).
    pub stts: Stts,
    /// Composition time to sample, absent when every offset is 0 (§8.6.1.3).
    pub ctts: Option<Ctts>,
    /// Sync samples, absent when every sample is a sync sample (§8.6.2).
    pub stss: Option<Stss>,
    /// Sample to chunk (§8.7.4).
    pub stsc: Stsc,
    /// Sample sizes (§8.7.3.2).
    pub stsz: Stsz,
    /// Chunk offsets, `stco` or `co64` (§8.7.5).
    pub chunk_offsets: ChunkOffsets,
    /// Sample group descriptions (§8.9.3).
    pub sgpd: Vec<Sgpd>,
    /// Sample to group (§8.9.2).
    pub sbgp: Vec<Sbgp>,
}

impl Encode for Stbl {
    fn encoded_len(&self) -> u64 {
        box_len(
            self.stsd.encoded_len()
                + self.stts.encoded_len()
                + self.ctts.encoded_len()
                + self.stss.encoded_len()
                + self.stsc.encoded_len()
                + self.stsz.encoded_len()
                + self.chunk_offsets.encoded_len()
                + sum_len(&self.sgpd)
                + sum_len(&self.sbgp),
        )
    }
    fn encode(&self, out: &mut BytesMut) {
        write_box(out, self.encoded_len(), *b"stbl", |out| {
            self.stsd.encode(out);
            self.stts.encode(out);
            self.ctts.encode(out);
            self.stss.encode(out);
            self.stsc.encode(out);
            self.stsz.encode(out);
            self.chunk_offsets.encode(out);
            encode_all(&self.sgpd, out);
            encode_all(&self.sbgp, out);
        })
    }
}

/// Sample description box (ISO/IEC 14496-12 §8.5.2).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Stsd {
    /// Complete sample entry boxes (`avc1`, `mp4a`, ...), opaque; the
    /// `sample_description_index` of a sample is 1-based into this list.
    pub entries: Vec<Bytes>,
}

impl Encode for Stsd {
    fn encoded_len(&self) -> u64 {
        full_box_len(4 + self.entries.iter().map(|e| e.len() as u64).sum::<u64>())
    }
    fn encode(&self, out: &mut BytesMut) {
        write_full_box(out, self.encoded_len(), *b"stsd", 0, 0, |out| {
            out.put_u32(entry_count(self.entries.len()));
            for e in &self.entries {
                out.put_slice(e);
            }
        })
    }
}

/// Decoding time to sample box (ISO/IEC 14496-12 §8.6.1.2): run-length sample durations.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Stts {
    /// Runs of samples with equal durations, in decoding order.
    pub entries: Vec<SttsEntry>,
}

/// One run of an [`Stts`] (ISO/IEC 14496-12 §8.6.1.2.3).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SttsEntry {
    /// Number of consecutive samples with this delta.
    pub sample_count: u32,
    /// Duration of each of these samples, in the media timescale.
    pub sample_delta: u32,
}

impl Encode for Stts {
    fn encoded_len(&self) -> u64 {
        full_box_len(4 + 8 * self.entries.len() as u64)
    }
    fn encode(&self, out: &mut BytesMut) {
        write_full_box(out, self.encoded_len(), *b"stts", 0, 0, |out| {
            out.put_u32(entry_count(self.entries.len()));
            for e in &self.entries {
                out.put_u32(e.sample_count);
                out.put_u32(e.sample_delta);
            }
        })
    }
}

/// Composition time to sample box (ISO/IEC 14496-12 §8.6.1.3). Version 1 (signed offsets)
/// is used when any offset is negative, version 0 otherwise.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Ctts {
    /// Runs of samples with equal composition offsets, in decoding order.
    pub entries: Vec<CttsEntry>,
}

/// One run of a [`Ctts`] (ISO/IEC 14496-12 §8.6.1.3.3).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CttsEntry {
    /// Number of consecutive samples with this offset.
    pub sample_count: u32,
    /// Composition time minus decoding time, in the media timescale.
    pub sample_offset: i32,
}

impl Ctts {
    /// 1 when some offset is negative (only version 1 may carry them), else 0.
    pub fn version(&self) -> u8 {
        u8::from(self.entries.iter().any(|e| e.sample_offset < 0))
    }
}

impl Encode for Ctts {
    fn encoded_len(&self) -> u64 {
        full_box_len(4 + 8 * self.entries.len() as u64)
    }
    fn encode(&self, out: &mut BytesMut) {
        write_full_box(
            out,
            self.encoded_len(),
            *b"ctts",
            self.version(),
            0,
            |out| {
                out.put_u32(entry_count(self.entries.len()));
                for e in &self.entries {
                    out.put_u32(e.sample_count);
                    // Same bits for v0 (unsigned, all offsets >= 0 here) and v1 (signed).
                    out.put_i32(e.sample_offset);
                }
            },
        )
    }
}

/// Sync sample box (ISO/IEC 14496-12 §8.6.2).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Stss {
    /// 1-based numbers of the sync samples, strictly increasing.
    pub sample_number: Vec<u32>,
}

impl Encode for Stss {
    fn encoded_len(&self) -> u64 {
        full_box_len(4 + 4 * self.sample_number.len() as u64)
    }
    fn encode(&self, out: &mut BytesMut) {
        write_full_box(out, self.encoded_len(), *b"stss", 0, 0, |out| {
            out.put_u32(entry_count(self.sample_number.len()));
            for n in &self.sample_number {
                out.put_u32(*n);
            }
        })
    }
}

/// Sample to chunk box (ISO/IEC 14496-12 §8.7.4): run-length chunk layout.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Stsc {
    /// Runs of chunks sharing samples-per-chunk and sample description.
    pub entries: Vec<StscEntry>,
}

/// One run of an [`Stsc`] (ISO/IEC 14496-12 §8.7.4.3).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StscEntry {
    /// 1-based index of the first chunk of this run.
    pub first_chunk: u32,
    /// Number of samples in each chunk of this run.
    pub samples_per_chunk: u32,
    /// 1-based index into `stsd` of the samples in these chunks.
    pub sample_description_index: u32,
}

impl Encode for Stsc {
    fn encoded_len(&self) -> u64 {
        full_box_len(4 + 12 * self.entries.len() as u64)
    }
    fn encode(&self, out: &mut BytesMut) {
        write_full_box(out, self.encoded_len(), *b"stsc", 0, 0, |out| {
            out.put_u32(entry_count(self.entries.len()));
            for e in &self.entries {
                out.put_u32(e.first_chunk);
                out.put_u32(e.samples_per_chunk);
                out.put_u32(e.sample_description_index);
            }
        })
    }
}

/// Sample size box (ISO/IEC 14496-12 §8.7.3.2).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Stsz {
    /// Size of every sample when all are equal, else 0 and `entry_size` lists them.
    pub sample_size: u32,
    /// Number of samples.
    pub sample_count: u32,
    /// Per-sample sizes; empty when `sample_size` is non-zero.
    pub entry_size: Vec<u32>,
}

impl Stsz {
    /// Builds the compact form (`sample_size` set, no table) when all sizes are equal and
    /// non-zero, else the table form.
    pub fn from_sizes(sizes: Vec<u32>) -> Self {
        let sample_count = entry_count(sizes.len());
        match sizes.first() {
            Some(&first) if first != 0 && sizes.iter().all(|&s| s == first) => Self {
                sample_size: first,
                sample_count,
                entry_size: Vec::new(),
            },
            _ => Self {
                sample_size: 0,
                sample_count,
                entry_size: sizes,
            },
        }
    }
}

impl Encode for Stsz {
    fn encoded_len(&self) -> u64 {
        let table = if self.sample_size == 0 {
            self.entry_size.len() as u64
        } else {
            0
        };
        full_box_len(8 + 4 * table)
    }
    fn encode(&self, out: &mut BytesMut) {
        debug_assert!(self.sample_size == 0 || self.entry_size.is_empty());
        write_full_box(out, self.encoded_len(), *b"stsz", 0, 0, |out| {
            out.put_u32(self.sample_size);
            out.put_u32(self.sample_count);
            if self.sample_size == 0 {
                for s in &self.entry_size {
                    out.put_u32(*s);
                }
            }
        })
    }
}

/// Chunk offset box, 32-bit form (ISO/IEC 14496-12 §8.7.5).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Stco {
    /// Absolute file offset of each chunk.
    pub chunk_offset: Vec<u32>,
}

impl Encode for Stco {
    fn encoded_len(&self) -> u64 {
        full_box_len(4 + 4 * self.chunk_offset.len() as u64)
    }
    fn encode(&self, out: &mut BytesMut) {
        write_full_box(out, self.encoded_len(), *b"stco", 0, 0, |out| {
            out.put_u32(entry_count(self.chunk_offset.len()));
            for o in &self.chunk_offset {
                out.put_u32(*o);
            }
        })
    }
}

/// Chunk offset box, 64-bit form (ISO/IEC 14496-12 §8.7.5).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Co64 {
    /// Absolute file offset of each chunk.
    pub chunk_offset: Vec<u64>,
}

impl Encode for Co64 {
    fn encoded_len(&self) -> u64 {
        full_box_len(4 + 8 * self.chunk_offset.len() as u64)
    }
    fn encode(&self, out: &mut BytesMut) {
        write_full_box(out, self.encoded_len(), *b"co64", 0, 0, |out| {
            out.put_u32(entry_count(self.chunk_offset.len()));
            for o in &self.chunk_offset {
                out.put_u64(*o);
            }
        })
    }
}

/// `stco` or `co64` (ISO/IEC 14496-12 §8.7.5).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ChunkOffsets {
    /// 32-bit offsets.
    Stco(Stco),
    /// 64-bit offsets.
    Co64(Co64),
}

impl ChunkOffsets {
    /// `stco` when every offset fits 32 bits, else `co64`.
    pub fn from_offsets(offsets: Vec<u64>) -> Self {
        if offsets.iter().all(|&o| o <= u64::from(u32::MAX)) {
            Self::Stco(Stco {
                chunk_offset: offsets.into_iter().map(|o| o as u32).collect(),
            })
        } else {
            Self::Co64(Co64 {
                chunk_offset: offsets,
            })
        }
    }
}

impl Encode for ChunkOffsets {
    fn encoded_len(&self) -> u64 {
        match self {
            Self::Stco(b) => b.encoded_len(),
            Self::Co64(b) => b.encoded_len(),
        }
    }
    fn encode(&self, out: &mut BytesMut) {
        match self {
            Self::Stco(b) => b.encode(out),
            Self::Co64(b) => b.encode(out),
        }
    }
}

/// Sample group description box, version 1 (ISO/IEC 14496-12 §8.9.3).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Sgpd {
    /// The grouping this describes, e.g. `roll` (§8.9.3.3).
    pub grouping_type: FourCc,
    /// Group description entries, opaque; `default_length` is written when all have the
    /// same length, else each is prefixed with its `description_length`.
    pub entries: Vec<Bytes>,
}

impl Sgpd {
    /// The common length of all entries, or 0 when they differ (§8.9.3.3).
    pub fn default_length(&self) -> u32 {
        match self.entries.first() {
            Some(first) if self.entries.iter().all(|e| e.len() == first.len()) => {
                entry_count(first.len())
            }
            _ => 0,
        }
    }
}

impl Encode for Sgpd {
    fn encoded_len(&self) -> u64 {
        let prefixes = if self.default_length() == 0 {
            4 * self.entries.len() as u64
        } else {
            0
        };
        let data: u64 = self.entries.iter().map(|e| e.len() as u64).sum();
        full_box_len(12 + prefixes + data)
    }
    fn encode(&self, out: &mut BytesMut) {
        let default_length = self.default_length();
        write_full_box(out, self.encoded_len(), *b"sgpd", 1, 0, |out| {
            out.put_slice(&self.grouping_type);
            out.put_u32(default_length);
            out.put_u32(entry_count(self.entries.len()));
            for e in &self.entries {
                if default_length == 0 {
                    out.put_u32(entry_count(e.len())); // description_length
                }
                out.put_slice(e);
            }
        })
    }
}

/// Sample to group box, version 0 (ISO/IEC 14496-12 §8.9.2).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Sbgp {
    /// The grouping, matching an [`Sgpd`] (§8.9.2.3).
    pub grouping_type: FourCc,
    /// Runs of samples in decoding order.
    pub entries: Vec<SbgpEntry>,
}

/// One run of an [`Sbgp`] (ISO/IEC 14496-12 §8.9.2.3).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SbgpEntry {
    /// Number of consecutive samples in this group.
    pub sample_count: u32,
    /// 1-based index into the `sgpd` entries, or 0 for no group.
    pub group_description_index: u32,
}

impl Encode for Sbgp {
    fn encoded_len(&self) -> u64 {
        full_box_len(8 + 8 * self.entries.len() as u64)
    }
    fn encode(&self, out: &mut BytesMut) {
        write_full_box(out, self.encoded_len(), *b"sbgp", 0, 0, |out| {
            out.put_slice(&self.grouping_type);
            out.put_u32(entry_count(self.entries.len()));
            for e in &self.entries {
                out.put_u32(e.sample_count);
                out.put_u32(e.group_description_index);
            }
        })
    }
}
