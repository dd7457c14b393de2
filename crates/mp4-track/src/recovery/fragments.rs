//! What [`Recovery`] builds from what it read: the tracks of the init `moov`, the samples
//! of each complete fragment checked against its `mdat` and added to the tables, and at
//! the end the plan.

use std::num::NonZeroU32;

use bmff_boxes::read::{self, Movie, RawBox, Trex, fourcc_str};
use bmff_boxes::sample_check::SampleFormat;
use bytes::Bytes;

use super::{Phase, Recovered, Recovery, RecoveryError, Repair, Want};
use crate::finalize;
use crate::moov::{self, MovieTrack};
use crate::{Error, TableSample, TrackKind, TrackTables};

/// One track of the init `moov`, and what its fragments so far have added.
#[derive(Debug)]
pub(super) struct Track {
    movie: MovieTrack,
    trex: Trex,
    /// Decode time just past the track's last recovered sample.
    end_dts: Option<u64>,
    last_dts: Option<u64>,
    /// The structure of the samples of each sample entry.
    formats: Vec<SampleFormat>,
}

/// The init `moov`, parsed.
#[derive(Debug)]
pub(super) struct Init {
    movie_hz: u32,
    creation_time: u64,
    /// The init `moov`'s user data boxes, carried into the final `moov`.
    user_data: Vec<Bytes>,
    tracks: Vec<Track>,
}

/// A `moof` (or a former one, typed `free`), parsed.
#[derive(Debug)]
pub(super) struct ParsedMoof {
    pub(super) moof: read::Moof,
    /// Not yet turned into `free` by a finalization (typed `moof`, or torn half way).
    pub(super) is_moof: bool,
}

fn malformed(offset: u64, fourcc: &[u8; 4], what: impl Into<String>) -> RecoveryError {
    RecoveryError::Malformed {
        offset,
        fourcc: fourcc_str(fourcc),
        what: what.into(),
    }
}

/// Parses an init `moov`: `None` when it has no `mvex` (a progressive file, whose tables
/// are not read at all).
pub(super) fn parse_init_moov(moov: &RawBox<'_>) -> Result<Option<Init>, RecoveryError> {
    let mut has_mvex = false;
    for k in moov.children() {
        let k = k.map_err(|e| malformed(moov.offset, &moov.fourcc, e.to_string()))?;
        has_mvex |= &k.fourcc == b"mvex";
    }
    if !has_mvex {
        return Ok(None);
    }
    let movie: Movie = read::parse_moov(moov)?;
    let trexes = movie.mvex.as_deref().unwrap_or_default();
    if movie.mvhd.timescale_hz == 0 {
        return Err(malformed(moov.offset, b"mvhd", "timescale 0"));
    }
    let mut tracks = Vec::with_capacity(movie.tracks.len());
    for (index, t) in movie.tracks.into_iter().enumerate() {
        let track_id = t.track_id();
        if track_id as usize != index + 1 {
            return Err(RecoveryError::UnexpectedTrackId { index, track_id });
        }
        let trex = *trexes
            .iter()
            .find(|x| x.track_id == track_id)
            .ok_or_else(|| {
                malformed(
                    moov.offset,
                    b"mvex",
                    format!("no trex for track {track_id}"),
                )
            })?;
        if t.mdhd.timescale_hz == 0 {
            return Err(malformed(t.offset, b"mdhd", "timescale 0"));
        }
        let kind = match &t.handler {
            b"vide" => TrackKind::Video {
                width: t.tkhd.width() as u16,
                height: t.tkhd.height() as u16,
            },
            b"soun" => TrackKind::Audio,
            _ => {
                return Err(RecoveryError::UnsupportedHandler {
                    track_id,
                    handler: fourcc_str(&t.handler),
                });
            }
        };
        if t.sample_entries.is_empty() {
            return Err(malformed(t.offset, b"stsd", "entry_count 0 but 0 entries"));
        }
        // A fragmented file's init moov describes no samples itself.
        if !t.stbl.stts.is_empty() || t.stbl.sample_count() != 0 {
            return Err(malformed(
                t.offset,
                b"stbl",
                "samples in the init moov's sample table",
            ));
        }
        let formats = t
            .sample_entries
            .iter()
            .map(|e| SampleFormat::of_entry(&e.bytes))
            .collect();
        tracks.push(Track {
            movie: MovieTrack {
                kind,
                timescale_hz: t.mdhd.timescale_hz,
                default_sample_duration: NonZeroU32::new(trex.default_sample_duration),
                sample_entries: t
                    .sample_entries
                    .into_iter()
                    .map(|e| Bytes::from(e.bytes))
                    .collect(),
                tables: TrackTables::new(track_id),
            },
            trex,
            end_dts: None,
            last_dts: None,
            formats,
        });
    }
    Ok(Some(Init {
        movie_hz: movie.mvhd.timescale_hz,
        creation_time: movie.mvhd.creation_time,
        user_data: movie
            .user_data
            .iter()
            .map(|u| Bytes::from(u.to_box_bytes()))
            .collect(),
        tracks,
    }))
}

/// Parses a `moof` payload (also one whose type was turned into `free`). The tables hold
/// composition offsets as `i32`: a version-0 `trun` offset above `i32::MAX` (valid
/// syntax, unsigned) cannot be recovered.
pub(super) fn parse_moof(raw: &RawBox<'_>, is_moof: bool) -> Result<ParsedMoof, RecoveryError> {
    let moof = read::parse_moof(raw)?;
    for trun in moof.trafs.iter().flat_map(|t| &t.truns) {
        if let Some(c) = trun
            .samples
            .iter()
            .filter_map(|s| s.composition_offset)
            .find(|&c| c > i64::from(i32::MAX))
        {
            return Err(malformed(
                trun.offset,
                b"trun",
                format!("composition offset {c} does not fit 31 bits"),
            ));
        }
    }
    Ok(ParsedMoof { moof, is_moof })
}

impl Recovery {
    /// Ends the walk: everything from `end_of_kept` on is dropped (a torn fragment, a
    /// leftover final `moov`), and the plan is made.
    pub(super) fn conclude(&mut self, end_of_kept: u64) -> Result<(), RecoveryError> {
        // A fragment dropped from its moof on also loses the prft before it.
        let end_of_kept = match self.prft {
            Some((p, _)) if p + super::PRFT_LEN == end_of_kept => p,
            _ => end_of_kept,
        };
        debug_assert_eq!(end_of_kept, self.layout.end);
        self.phase = Phase::Done;
        self.want = Want::Nothing;
        let init = self.init.take().expect("fragments follow the init moov");
        let sample_counts = init
            .tracks
            .iter()
            .map(|t| t.movie.tables.sample_count())
            .collect();
        let tracks = init.tracks.into_iter().map(|t| t.movie).collect();
        let moov = moov::progressive(
            tracks,
            init.movie_hz,
            init.creation_time,
            moov::udta(&init.user_data),
        );
        let end = self.layout.end;
        let truncate_to = (end < self.file_len).then_some(end);
        self.result = Some(Recovered::Fragmented(Repair {
            finalize: finalize::plan(&self.layout, &moov, truncate_to),
            fragments: self.fragments,
            sample_counts,
            dropped_bytes: self.file_len - end,
            damage: self.damage.take(),
            checked_bytes: self.checked_bytes,
            unchecked_samples: self.unchecked_samples,
            finalize_was_interrupted: self.interrupted,
        }));
        Ok(())
    }

    /// Checks one complete fragment's metadata against its `mdat` (`mdat_offset`, and
    /// the payload `start..end`) and the tracks' timelines; returns what
    /// [`commit`](Self::commit) adds, once its data is checked. Nothing changes here.
    pub(super) fn stage_fragment(
        &self,
        m: &ParsedMoof,
        mdat_offset: u64,
        mdat: (u64, u64),
    ) -> Result<Staged, RecoveryError> {
        let offset = m.moof.offset;
        if let Some(prev) = self.last_sequence
            && m.moof.sequence_number <= prev
        {
            return Err(RecoveryError::SequenceNotIncreasing {
                offset,
                prev,
                got: m.moof.sequence_number,
            });
        }
        let tracks = &self
            .init
            .as_ref()
            .expect("fragments follow the init moov")
            .tracks;
        let index = |track_id: u32| {
            (track_id as usize)
                .checked_sub(1)
                .filter(|&i| i < tracks.len())
                .ok_or(RecoveryError::UnknownTrack { offset, track_id })
        };
        for traf in &m.moof.trafs {
            index(traf.tfhd.track_id)?;
        }
        let trexes: Vec<Trex> = tracks.iter().map(|t| t.trex).collect();
        let resolved = m.moof.resolve(&trexes)?;
        let tables_err = |source| RecoveryError::Tables { offset, source };
        // Staged per-track state; committed only when the whole fragment is valid.
        let mut last_dts: Vec<Option<u64>> = tracks.iter().map(|t| t.last_dts).collect();
        let mut end_dts: Vec<Option<u64>> = tracks.iter().map(|t| t.end_dts).collect();
        let mut counts: Vec<u32> = tracks
            .iter()
            .map(|t| t.movie.tables.sample_count())
            .collect();
        let mut last_duration: Vec<Option<u32>> = vec![None; tracks.len()];
        let mut staged: Vec<(usize, TableSample)> = Vec::new();
        let mut checks: Vec<CheckSample> = Vec::new();
        for (traf, frag) in m.moof.trafs.iter().zip(&resolved) {
            let track_id = frag.track_id;
            let ti = track_id as usize - 1;
            let sdi = frag.sample_description_index;
            if sdi == 0 || sdi as usize > tracks[ti].movie.sample_entries.len() {
                return Err(tables_err(Error::BadSampleDescriptionIndex {
                    track: track_id,
                    index: sdi,
                }));
            }
            let mut dts = match (traf.tfdt, end_dts[ti]) {
                (Some(tfdt), Some(previous_end)) if tfdt < previous_end => {
                    return Err(RecoveryError::TimelineOverlap {
                        offset,
                        track_id,
                        tfdt,
                        previous_end,
                    });
                }
                (Some(tfdt), _) => tfdt,
                (None, end) => end.unwrap_or(0),
            };
            for s in &frag.samples {
                let end = s.offset + i128::from(s.size);
                if s.offset < i128::from(mdat.0) || end > i128::from(mdat.1) {
                    return Err(RecoveryError::DataOutsideMdat {
                        offset,
                        track_id,
                        start: s.offset,
                        end,
                        payload_start: mdat.0,
                        payload_end: mdat.1,
                    });
                }
                if let Some(prev) = last_dts[ti] {
                    if dts <= prev {
                        return Err(tables_err(Error::NonMonotonicTimestamp {
                            track: track_id,
                            prev,
                            got: dts,
                        }));
                    }
                    if dts - prev > u64::from(u32::MAX) {
                        return Err(tables_err(Error::SampleDurationTooLong {
                            track: track_id,
                            duration: dts - prev,
                        }));
                    }
                }
                if counts[ti] == u32::MAX {
                    return Err(tables_err(Error::TooManySamples { track: track_id }));
                }
                counts[ti] += 1;
                checks.push(CheckSample {
                    track: ti,
                    number: counts[ti],
                    format: tracks[ti].formats[sdi as usize - 1],
                    offset: s.offset as u64,
                    size: s.size,
                });
                staged.push((
                    ti,
                    TableSample {
                        dts,
                        // Checked to fit when the moof was parsed.
                        cts_offset: s.composition_offset as i32,
                        size: s.size,
                        is_sync: s.is_sync(),
                        sample_description_index: sdi,
                        offset_bytes: s.offset as u64,
                    },
                ));
                last_dts[ti] = Some(dts);
                last_duration[ti] = Some(s.duration);
                dts = dts.checked_add(u64::from(s.duration)).ok_or_else(|| {
                    tables_err(Error::SampleDurationTooLong {
                        track: track_id,
                        duration: u64::from(s.duration),
                    })
                })?;
            }
            end_dts[ti] = Some(dts);
        }
        checks.sort_by_key(|c| c.offset);
        Ok(Staged {
            moof_offset: offset,
            is_moof: m.is_moof,
            sequence_number: m.moof.sequence_number,
            moof_len: mdat_offset - offset,
            mdat_end: mdat.1,
            samples: staged,
            last_dts,
            end_dts,
            last_duration,
            checks,
        })
    }

    /// Adds a staged fragment to the tables and the layout.
    pub(super) fn commit(&mut self, s: Staged) -> Result<(), RecoveryError> {
        let offset = s.moof_offset;
        let tables_err = |source| RecoveryError::Tables { offset, source };
        let tracks = &mut self
            .init
            .as_mut()
            .expect("fragments follow the init moov")
            .tracks;
        for (ti, sample) in s.samples {
            tracks[ti].movie.tables.push(sample).map_err(tables_err)?;
        }
        for (ti, t) in tracks.iter_mut().enumerate() {
            if let Some(d) = s.last_duration[ti].and_then(NonZeroU32::new) {
                t.movie.tables.set_last_sample_duration(d);
            }
            t.last_dts = s.last_dts[ti];
            t.end_dts = s.end_dts[ti];
        }
        let prft = self
            .prft
            .take()
            .filter(|&(p, _)| p + super::PRFT_LEN == offset);
        if let Some((p, true)) = prft {
            self.layout.moofs.push(p);
        }
        if s.is_moof {
            self.layout.moofs.push(offset);
        }
        let start = prft.map_or(offset, |(p, _)| p);
        self.layout
            .first_moof
            .get_or_insert((start, offset - start + s.moof_len));
        self.layout.end = s.mdat_end;
        self.last_sequence = Some(s.sequence_number);
        self.fragments += 1;
        Ok(())
    }
}

/// A fragment whose metadata is valid, waiting for its data to be checked.
#[derive(Debug)]
pub(super) struct Staged {
    pub(super) moof_offset: u64,
    is_moof: bool,
    sequence_number: u32,
    moof_len: u64,
    pub(super) mdat_end: u64,
    samples: Vec<(usize, TableSample)>,
    last_dts: Vec<Option<u64>>,
    end_dts: Vec<Option<u64>>,
    last_duration: Vec<Option<u32>>,
    /// Its samples in file order.
    pub(super) checks: Vec<CheckSample>,
}

/// One sample of a staged fragment, for the data check.
#[derive(Clone, Copy, Debug)]
pub(super) struct CheckSample {
    /// Track index (0-based).
    pub(super) track: usize,
    /// 1-based number within its track, in the whole file.
    pub(super) number: u32,
    pub(super) format: SampleFormat,
    /// Absolute file offset.
    pub(super) offset: u64,
    pub(super) size: u32,
}
