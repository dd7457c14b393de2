//! Per-track sample table accounting.

use std::num::NonZeroU32;

use bmff_boxes::{
    ChunkOffsets, Ctts, CttsEntry, Stbl, Stsc, StscEntry, Stsd, Stss, Stsz, Stts, SttsEntry,
};

use crate::Error;

/// One sample as recorded in a track's tables.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TableSample {
    /// Decode time in the track's timescale; strictly increasing within a track.
    pub dts: u64,
    /// Composition time minus decode time, in the track's timescale.
    pub cts_offset: i32,
    /// Size of the sample's data in bytes.
    pub size: u32,
    /// True for a sync sample (keyframe).
    pub is_sync: bool,
    /// 1-based index into the track's `stsd` of the sample's entry.
    pub sample_description_index: u32,
    /// Absolute file offset of the sample's data.
    pub offset_bytes: u64,
}

/// Run-length sample tables of one track, built incrementally, one push per sample.
///
/// A *chunk* is a run of consecutive samples of this track with the same sample entry
/// whose data is contiguous in the file; interleaving with another track, a gap, or a new
/// sample entry starts a new one. The per-sample cost is amortized `Vec` growth only: one
/// `u32` size per sample, plus run-length entries for `stts`, `ctts`, `stsc`, and one entry
/// per sync sample and per chunk.
///
/// The duration of the last sample is not known from decode times; see
/// [`last_sample_duration`](Self::last_sample_duration).
#[derive(Clone, Debug)]
pub struct TrackTables {
    track: u32,
    sample_count: u32,
    first_dts: u64,
    last_dts: u64,
    /// Durations of every sample but the last (that one is only known at the end).
    stts: Vec<SttsEntry>,
    ctts: Vec<CttsEntry>,
    any_cts_offset: bool,
    /// Earliest `dts - first_dts + cts_offset` over all samples.
    min_composition_time: i64,
    /// Sync sample numbers, kept only once a sample that is not one was pushed (an audio
    /// track of a day would otherwise list its millions of samples for nothing).
    stss: Vec<u32>,
    /// Every sample so far is a sync sample.
    all_sync: bool,
    sizes: Vec<u32>,
    chunk_offsets: Vec<u64>,
    /// Entries for closed chunks; the open chunk is described by the `chunk_*` fields.
    stsc: Vec<StscEntry>,
    chunk_samples: u32,
    chunk_sdi: u32,
    chunk_end_bytes: u64,
    /// Duration of the last sample when known (set by
    /// [`set_last_sample_duration`](Self::set_last_sample_duration)); cleared by a push.
    last_duration: Option<NonZeroU32>,
}

/// Appends one sample to a run-length table, extending the last run when `same`.
fn push_run<T>(
    runs: &mut Vec<T>,
    same: impl Fn(&T) -> bool,
    count: impl Fn(&mut T) -> &mut u32,
    new: T,
) {
    match runs.last_mut() {
        Some(last) if same(last) => *count(last) += 1,
        _ => runs.push(new),
    }
}

impl TrackTables {
    /// Empty tables for track number `track` (used in errors).
    pub fn new(track: u32) -> Self {
        Self {
            track,
            sample_count: 0,
            first_dts: 0,
            last_dts: 0,
            stts: Vec::new(),
            ctts: Vec::new(),
            any_cts_offset: false,
            min_composition_time: 0,
            stss: Vec::new(),
            all_sync: true,
            sizes: Vec::new(),
            chunk_offsets: Vec::new(),
            stsc: Vec::new(),
            chunk_samples: 0,
            chunk_sdi: 0,
            chunk_end_bytes: 0,
            last_duration: None,
        }
    }

    /// Makes room for `samples` more samples' sizes, the largest table, so that tables of
    /// a known length are allocated once instead of growing by doubling (which holds
    /// up to twice the memory while it copies).
    pub fn reserve(&mut self, samples: usize) {
        self.sizes.reserve_exact(samples);
    }

    /// Records one sample. On error nothing is recorded.
    pub fn push(&mut self, s: TableSample) -> Result<(), Error> {
        let track = self.track;
        if s.sample_description_index == 0 {
            return Err(Error::BadSampleDescriptionIndex { track, index: 0 });
        }
        if self.sample_count == u32::MAX {
            return Err(Error::TooManySamples { track });
        }
        let delta = if self.sample_count > 0 {
            if s.dts <= self.last_dts {
                return Err(Error::NonMonotonicTimestamp {
                    track,
                    prev: self.last_dts,
                    got: s.dts,
                });
            }
            let delta = s.dts - self.last_dts;
            Some(
                u32::try_from(delta).map_err(|_| Error::SampleDurationTooLong {
                    track,
                    duration: delta,
                })?,
            )
        } else {
            None
        };

        // Checks done: record.
        self.last_duration = None;
        match delta {
            Some(d) => push_run(
                &mut self.stts,
                |e| e.sample_delta == d,
                |e| &mut e.sample_count,
                SttsEntry {
                    sample_count: 1,
                    sample_delta: d,
                },
            ),
            None => self.first_dts = s.dts,
        }
        self.last_dts = s.dts;
        push_run(
            &mut self.ctts,
            |e| e.sample_offset == s.cts_offset,
            |e| &mut e.sample_count,
            CttsEntry {
                sample_count: 1,
                sample_offset: s.cts_offset,
            },
        );
        self.any_cts_offset |= s.cts_offset != 0;
        let composition = i64::try_from(s.dts - self.first_dts)
            .unwrap_or(i64::MAX)
            .saturating_add(i64::from(s.cts_offset));
        if self.sample_count == 0 || composition < self.min_composition_time {
            self.min_composition_time = composition;
        }
        self.sample_count += 1;
        if !s.is_sync && self.all_sync {
            self.all_sync = false;
            self.stss = (1..self.sample_count).collect();
        } else if s.is_sync && !self.all_sync {
            self.stss.push(self.sample_count);
        }
        self.sizes.push(s.size);

        let continues_chunk = self.chunk_samples > 0
            && s.offset_bytes == self.chunk_end_bytes
            && s.sample_description_index == self.chunk_sdi;
        if continues_chunk {
            self.chunk_samples += 1;
        } else {
            self.close_chunk();
            self.chunk_offsets.push(s.offset_bytes);
            self.chunk_samples = 1;
            self.chunk_sdi = s.sample_description_index;
        }
        self.chunk_end_bytes = s.offset_bytes.saturating_add(u64::from(s.size));
        Ok(())
    }

    /// Moves the open chunk (if any) into `stsc`.
    fn close_chunk(&mut self) {
        if self.chunk_samples == 0 {
            return;
        }
        let (n, sdi) = (self.chunk_samples, self.chunk_sdi);
        let same = self
            .stsc
            .last()
            .is_some_and(|e| e.samples_per_chunk == n && e.sample_description_index == sdi);
        if !same {
            self.stsc.push(StscEntry {
                // The open chunk is the last one whose offset was recorded (1-based).
                first_chunk: self.chunk_offsets.len() as u32,
                samples_per_chunk: n,
                sample_description_index: sdi,
            });
        }
        self.chunk_samples = 0;
    }

    /// Number of samples pushed.
    pub fn sample_count(&self) -> u32 {
        self.sample_count
    }

    /// Decode time of the first sample, if any.
    pub fn first_dts(&self) -> Option<u64> {
        (self.sample_count > 0).then_some(self.first_dts)
    }

    /// Decode time of the last sample, if any.
    pub fn last_dts(&self) -> Option<u64> {
        (self.sample_count > 0).then_some(self.last_dts)
    }

    /// Earliest composition time relative to the first sample's decode time (0 without
    /// B-frames, positive with positive composition offsets, possibly negative with
    /// negative ones); `None` without samples.
    pub fn min_composition_time(&self) -> Option<i64> {
        (self.sample_count > 0).then_some(self.min_composition_time)
    }

    /// Duration given to the last sample: the one set by
    /// [`set_last_sample_duration`](Self::set_last_sample_duration) since the last push if
    /// any; else the previous sample's duration; with a single sample, `default`; and 1
    /// when there is neither, since a zero duration would make the sample invisible to
    /// most players.
    pub fn last_sample_duration(&self, default: Option<NonZeroU32>) -> u32 {
        self.last_duration
            .map(NonZeroU32::get)
            .or(self.stts.last().map(|e| e.sample_delta))
            .or(default.map(NonZeroU32::get))
            .unwrap_or(1)
    }

    /// Sets the duration of the most recently pushed sample, when it is known from
    /// elsewhere (e.g. a movie fragment's `trun`); the next push forgets it, since that
    /// sample's decode time then gives the duration. No effect without samples.
    pub fn set_last_sample_duration(&mut self, duration: NonZeroU32) {
        if self.sample_count > 0 {
            self.last_duration = Some(duration);
        }
    }

    /// Media duration in the track's timescale (the sum of all sample durations, the last
    /// one by [`last_sample_duration`](Self::last_sample_duration)); 0 without samples.
    pub fn media_duration(&self, default: Option<NonZeroU32>) -> u64 {
        if self.sample_count == 0 {
            return 0;
        }
        self.last_dts - self.first_dts + u64::from(self.last_sample_duration(default))
    }

    /// Builds the sample table box with the given sample descriptions; `default` is as for
    /// [`last_sample_duration`](Self::last_sample_duration). `ctts` is omitted when every
    /// composition offset is 0, `stss` when every sample is a sync sample; `stsz` takes its
    /// constant form when all sizes are equal; `co64` replaces `stco` when an offset needs
    /// 64 bits.
    pub fn into_stbl(mut self, stsd: Stsd, default: Option<NonZeroU32>) -> Stbl {
        self.close_chunk();
        if self.sample_count > 0 {
            let d = self.last_sample_duration(default);
            push_run(
                &mut self.stts,
                |e| e.sample_delta == d,
                |e| &mut e.sample_count,
                SttsEntry {
                    sample_count: 1,
                    sample_delta: d,
                },
            );
        }
        let stss = (!self.all_sync).then_some(Stss {
            sample_number: self.stss,
        });
        Stbl {
            stsd,
            stts: Stts { entries: self.stts },
            ctts: self.any_cts_offset.then_some(Ctts { entries: self.ctts }),
            stss,
            stsc: Stsc { entries: self.stsc },
            stsz: Stsz::from_sizes(self.sizes),
            chunk_offsets: ChunkOffsets::from_offsets(self.chunk_offsets),
            sgpd: Vec::new(),
            sbgp: Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(dts: u64) -> TableSample {
        TableSample {
            dts,
            cts_offset: 0,
            size: 1,
            is_sync: true,
            sample_description_index: 1,
            offset_bytes: dts,
        }
    }

    #[test]
    fn explicit_last_duration_holds_until_the_next_push() {
        let d = |n| NonZeroU32::new(n).unwrap();
        let mut t = TrackTables::new(1);
        t.set_last_sample_duration(d(5)); // no samples: ignored
        assert_eq!(t.last_sample_duration(None), 1);
        t.push(sample(0)).unwrap();
        t.push(sample(10)).unwrap();
        assert_eq!(t.last_sample_duration(None), 10);
        t.set_last_sample_duration(d(4));
        assert_eq!(t.last_sample_duration(Some(d(99))), 4);
        assert_eq!(t.media_duration(None), 14);
        let stbl = t.clone().into_stbl(Stsd { entries: vec![] }, None);
        assert_eq!(
            stbl.stts.entries,
            vec![
                SttsEntry {
                    sample_count: 1,
                    sample_delta: 10
                },
                SttsEntry {
                    sample_count: 1,
                    sample_delta: 4
                }
            ]
        );
        t.push(sample(30)).unwrap();
        assert_eq!(t.last_sample_duration(None), 20);
    }
}
