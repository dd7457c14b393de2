//! The recorded files an export reads: their tracks, their samples one by one, and where
//! each sample lies on the wall clock.

use std::borrow::Cow;

use bmff_boxes::read::{Movie, SampleTable, Track};

use crate::ExportError;

/// Where an export or an HLS plan finds its source files: by number, one at a time.
///
/// An export of a long range reads each file's `moov` when it gets to that file and
/// drops it before the next, so it never holds every file's sample tables at once: a
/// caller that reads the files from disk returns [`Cow::Owned`] (see the crate's example);
/// a slice of [`SourceFile`]s lends its own.
pub trait Sources {
    /// Number of source files; they are numbered `0..count()`.
    fn count(&self) -> usize;
    /// Source file number `index` (`< count()`). An error (say, a file that cannot be
    /// read) ends the export; [`ExportError::BadSource`] names the file.
    fn load(&self, index: usize) -> Result<Cow<'_, SourceFile>, ExportError>;
}

impl Sources for [SourceFile] {
    fn count(&self) -> usize {
        self.len()
    }

    fn load(&self, index: usize) -> Result<Cow<'_, SourceFile>, ExportError> {
        self.get(index)
            .map(Cow::Borrowed)
            .ok_or(ExportError::NoSuchIndex {
                what: "source",
                index,
                count: self.len(),
            })
    }
}

impl Sources for Vec<SourceFile> {
    fn count(&self) -> usize {
        self.len()
    }

    fn load(&self, index: usize) -> Result<Cow<'_, SourceFile>, ExportError> {
        self.as_slice().load(index)
    }
}

impl<const N: usize> Sources for [SourceFile; N] {
    fn count(&self) -> usize {
        N
    }

    fn load(&self, index: usize) -> Result<Cow<'_, SourceFile>, ExportError> {
        self.as_slice().load(index)
    }
}

/// One recorded, finalized (progressive) MP4 file.
///
/// The caller reads the file's `moov` with [`bmff_boxes::read::parse_moov`] and says when
/// its movie time 0 was on the wall clock (as the catalog stores a file's start). Sample
/// offsets in the `moov` are byte offsets of this file: the [`Part::Source`](crate::Part)
/// ranges of a body built from it point there.
#[derive(Clone, Debug)]
pub struct SourceFile {
    /// The file's `moov`.
    pub movie: Movie,
    /// Unix time, in nanoseconds, of the file's movie time 0.
    pub wall_start_ns: i64,
}

impl SourceFile {
    /// The first video track, if any.
    pub fn video(&self) -> Option<&Track> {
        self.movie.tracks.iter().find(|t| t.is_video())
    }

    /// The first audio (`soun`) track, if any.
    pub fn audio(&self) -> Option<&Track> {
        self.movie.tracks.iter().find(|t| &t.handler == b"soun")
    }

    /// The track of `kind`, if any.
    pub(crate) fn track(&self, kind: Kind) -> Option<&Track> {
        match kind {
            Kind::Video => self.video(),
            Kind::Audio => self.audio(),
        }
    }

    /// Length of the movie (`mvhd.duration`), in nanoseconds.
    pub fn duration_ns(&self) -> i64 {
        ticks_to_ns(
            self.movie.mvhd.duration as i128,
            self.movie.mvhd.timescale_hz,
        )
    }

    /// Unix time, in nanoseconds, at which the media ends: the end of the video's decode
    /// times placed through its edit list (the audio's without video; the movie's
    /// duration without either). Exact in the media timescale, where `mvhd.duration` may
    /// be rounded to a coarser movie timescale.
    pub fn wall_end_ns(&self) -> i64 {
        match self.video().or(self.audio()) {
            Some(t) => {
                let time = TrackTime::new(self, t);
                time.wall_ns(t.stbl.stts_duration() as i64 + time.media_time)
            }
            None => self.wall_start_ns + self.duration_ns(),
        }
    }
}

/// The two kinds of track an export carries.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    Video,
    Audio,
}

/// `v` ticks of `hz` in nanoseconds, rounded to the nearest.
pub(crate) fn ticks_to_ns(v: i128, hz: u32) -> i64 {
    rescale(v, u64::from(hz.max(1)), 1_000_000_000) as i64
}

/// `ns` nanoseconds in ticks of `hz`, rounded to the nearest.
pub(crate) fn ns_to_ticks(ns: i128, hz: u32) -> i64 {
    rescale(ns, 1_000_000_000, u64::from(hz)) as i64
}

/// `v * to / from`, rounded to the nearest (halves up).
pub(crate) fn rescale(v: i128, from: u64, to: u64) -> i128 {
    let num = v * i128::from(to);
    let den = i128::from(from);
    (2 * num + den).div_euclid(2 * den)
}

/// How a track's media times map to its movie's timeline: from its edit list, the empty
/// edits before the first media edit and that edit's `media_time` (none: 0 and 0).
#[derive(Clone, Copy, Debug)]
pub(crate) struct TrackTime {
    /// Media timescale.
    pub hz: u32,
    /// Empty edits before the media, nanoseconds.
    pub empty_ns: i64,
    /// Composition time shown at the start of the media edit, media timescale.
    pub media_time: i64,
    /// The file's wall-clock start.
    pub wall_start_ns: i64,
}

impl TrackTime {
    pub fn new(file: &SourceFile, track: &Track) -> Self {
        let movie_hz = file.movie.mvhd.timescale_hz;
        let mut empty = 0u64;
        let mut media_time = 0;
        for e in track.edits.iter().flatten() {
            if e.media_time < 0 {
                empty += e.segment_duration;
            } else {
                media_time = e.media_time;
                break;
            }
        }
        Self {
            hz: track.mdhd.timescale_hz.max(1),
            empty_ns: ticks_to_ns(i128::from(empty), movie_hz),
            media_time,
            wall_start_ns: file.wall_start_ns,
        }
    }

    /// Wall-clock instant, in Unix nanoseconds, at which composition time `cts` is shown.
    pub fn wall_ns(&self, cts: i64) -> i64 {
        self.wall_start_ns + self.empty_ns + ticks_to_ns(i128::from(cts - self.media_time), self.hz)
    }

    /// The tick count to add to this track's times to put them on an output timeline on
    /// which an instant is `wall + offset_ns` nanoseconds, before a per-track constant.
    pub fn shift(&self, offset_ns: i64) -> i64 {
        ns_to_ticks(
            i128::from(self.wall_start_ns) + i128::from(self.empty_ns) + i128::from(offset_ns),
            self.hz,
        ) - self.media_time
    }
}

/// One sample of a source track.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Sample {
    /// 0-based sample number.
    pub index: u32,
    /// Decode time, media timescale.
    pub dts: u64,
    /// Duration, media timescale.
    pub duration: u32,
    /// Composition minus decode time.
    pub cts_offset: i64,
    /// Bytes.
    pub size: u32,
    /// A sync sample.
    pub is_sync: bool,
    /// 1-based `stsd` index.
    pub sdi: u32,
    /// Byte offset in the source file.
    pub offset: u64,
}

impl Sample {
    /// Composition time.
    pub fn cts(&self) -> i64 {
        self.dts as i64 + self.cts_offset
    }
}

/// Every sample of a track, in decode order, from its run-length tables, without
/// expanding them.
pub(crate) struct Samples<'a> {
    t: &'a SampleTable,
    source: usize,
    n: u32,
    i: u32,
    dts: u64,
    stts: (usize, u32),
    ctts: (usize, u32),
    stss: usize,
    stsc: usize,
    chunk: usize,
    chunk_left: u32,
    offset: u64,
}

impl<'a> Samples<'a> {
    /// The samples of `track`, of source number `source` (for errors).
    pub fn new(track: &'a Track, source: usize) -> Self {
        let t = &track.stbl;
        Self {
            t,
            source,
            n: t.sample_count(),
            i: 0,
            dts: 0,
            stts: (0, 0),
            ctts: (0, 0),
            stss: 0,
            stsc: 0,
            chunk: 0,
            chunk_left: 0,
            offset: 0,
        }
    }

    fn bad(&self, what: &str) -> ExportError {
        ExportError::BadSource {
            index: self.source,
            reason: format!("sample {}: {what}", self.i + 1),
        }
    }

    fn step(&mut self) -> Result<Sample, ExportError> {
        let t = self.t;
        while self.stts.0 < t.stts.len() && self.stts.1 >= t.stts[self.stts.0].sample_count {
            self.stts = (self.stts.0 + 1, 0);
        }
        let duration = t
            .stts
            .get(self.stts.0)
            .ok_or_else(|| self.bad("past the end of stts"))?
            .sample_delta;
        self.stts.1 += 1;
        let mut cts_offset = 0;
        if let Some(ctts) = &t.ctts {
            while self.ctts.0 < ctts.len() && self.ctts.1 >= ctts[self.ctts.0].sample_count {
                self.ctts = (self.ctts.0 + 1, 0);
            }
            cts_offset = ctts
                .get(self.ctts.0)
                .ok_or_else(|| self.bad("past the end of ctts"))?
                .sample_offset;
            self.ctts.1 += 1;
        }
        let is_sync = match &t.stss {
            None => true,
            Some(stss) => {
                while self.stss < stss.len() && stss[self.stss] < self.i + 1 {
                    self.stss += 1;
                }
                stss.get(self.stss) == Some(&(self.i + 1))
            }
        };
        if self.chunk_left == 0 {
            // Next chunk (the first one at the start).
            if self.i > 0 {
                self.chunk += 1;
            }
            while self.chunk_left == 0 {
                let chunk1 = self.chunk as u32 + 1;
                while self.stsc + 1 < t.stsc.len() && t.stsc[self.stsc + 1].first_chunk <= chunk1 {
                    self.stsc += 1;
                }
                let e = t.stsc.get(self.stsc).ok_or_else(|| self.bad("no stsc"))?;
                self.chunk_left = e.samples_per_chunk;
                self.offset = *t
                    .chunk_offsets
                    .get(self.chunk)
                    .ok_or_else(|| self.bad("past the last chunk offset"))?;
                if self.chunk_left == 0 {
                    self.chunk += 1;
                }
            }
        }
        let sdi = t.stsc[self.stsc].sample_description_index;
        let size = t.size(self.i as usize);
        let s = Sample {
            index: self.i,
            dts: self.dts,
            duration,
            cts_offset,
            size,
            is_sync,
            sdi,
            offset: self.offset,
        };
        self.chunk_left -= 1;
        self.offset += u64::from(size);
        self.dts += u64::from(duration);
        self.i += 1;
        Ok(s)
    }
}

impl Iterator for Samples<'_> {
    type Item = Result<Sample, ExportError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.i >= self.n {
            return None;
        }
        let r = self.step();
        if r.is_err() {
            self.i = self.n; // stop after an error
        }
        Some(r)
    }
}

/// A sync sample's place, found without walking the other samples.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct SyncSample {
    /// 0-based sample number.
    pub index: u32,
    /// Decode time.
    pub dts: u64,
    /// Composition time.
    pub cts: i64,
}

/// The track's sync samples (every sample when it has no `stss`), from the `stss`, `stts`
/// and `ctts` runs: the cost is the number of runs and sync samples, not of samples.
pub(crate) fn sync_samples(track: &Track) -> Vec<SyncSample> {
    let t = &track.stbl;
    let all: Vec<u32>;
    let numbers: &[u32] = match &t.stss {
        Some(s) => s,
        None => {
            all = (1..=t.sample_count()).collect();
            &all
        }
    };
    let mut out = Vec::with_capacity(numbers.len());
    // Runs walked so far: samples before the current stts run and its start time.
    let (mut stts_i, mut stts_first, mut stts_dts) = (0usize, 0u64, 0u64);
    let (mut ctts_i, mut ctts_first) = (0usize, 0u64);
    for &n in numbers {
        let Some(i) = n.checked_sub(1) else { continue };
        let i = u64::from(i);
        if i >= u64::from(t.sample_count()) {
            break;
        }
        while let Some(e) = t.stts.get(stts_i) {
            if i < stts_first + u64::from(e.sample_count) {
                break;
            }
            stts_first += u64::from(e.sample_count);
            stts_dts += u64::from(e.sample_count) * u64::from(e.sample_delta);
            stts_i += 1;
        }
        let Some(e) = t.stts.get(stts_i) else { break };
        let dts = stts_dts + (i - stts_first) * u64::from(e.sample_delta);
        let mut cts_offset = 0;
        if let Some(ctts) = &t.ctts {
            while let Some(c) = ctts.get(ctts_i) {
                if i < ctts_first + u64::from(c.sample_count) {
                    break;
                }
                ctts_first += u64::from(c.sample_count);
                ctts_i += 1;
            }
            cts_offset = ctts.get(ctts_i).map_or(0, |c| c.sample_offset);
        }
        out.push(SyncSample {
            index: i as u32,
            dts,
            cts: dts as i64 + cts_offset,
        });
    }
    out
}

/// Decode time of the last sample and the end of the track's decode times (its media
/// duration), from the `stts` runs.
pub(crate) fn last_dts(track: &Track) -> Option<u64> {
    let t = &track.stbl;
    let end = t.stts_duration();
    let last = t.stts.iter().rev().find(|e| e.sample_count > 0)?;
    Some(end - u64::from(last.sample_delta))
}
