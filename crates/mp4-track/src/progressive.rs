//! The progressive muxer: `ftyp`, one `mdat` with a 64-bit size, then the `moov`.

use std::num::NonZeroU32;

use bmff_boxes::{Encode, Ftyp, MdatHeader};
use bytes::{Bytes, BytesMut};

use crate::moov;
use crate::{Error, Patch, SampleInfo, TableSample, TrackConfig, TrackId, TrackTables};

/// Options for a [`Mp4Muxer`].
#[derive(Clone, Debug)]
pub struct MuxerOptions {
    /// `mvhd.timescale`, the unit of the movie and track durations and of the edit lists'
    /// segment durations. Default: 1000 (milliseconds). Edits are rounded to the nearest
    /// movie tick, so a track's presented length may differ from its media by up to half a
    /// tick (0.5 ms at 1000 Hz; see the crate's "Defaults"); a multiple of every track's
    /// timescale (e.g. 720000 for 90 kHz video and 48 kHz audio) makes them exact.
    pub movie_timescale_hz: u32,
    /// `creation_time`/`modification_time` in seconds since 1904-01-01 UTC. Default: 0
    /// (the muxer reads no clock).
    pub creation_time_1904: u64,
}

impl Default for MuxerOptions {
    /// 1000 Hz movie timescale, time 0.
    fn default() -> Self {
        Self {
            movie_timescale_hz: 1000,
            creation_time_1904: 0,
        }
    }
}

/// What [`Mp4Muxer::finish`] hands back.
#[derive(Clone, Debug)]
pub struct Finished {
    /// Bytes to append at the current end of the file (the `moov`).
    pub tail: Bytes,
    /// Bytes to overwrite earlier in the file (the `mdat` size).
    pub patches: Vec<Patch>,
}

/// Progressive MP4 muxer: `ftyp`, one `mdat` (64-bit size), then `moov` at the end.
///
/// Usage: [`add_track`](Self::add_track) for each track, [`start`](Self::start) and write
/// the bytes it returns, then for each sample [`push`](Self::push) and write the sample's
/// data at the returned offset (which is always the current end of the file: samples are
/// appended in push order), then [`finish`](Self::finish).
#[derive(Debug)]
pub struct Mp4Muxer {
    options: MuxerOptions,
    tracks: Vec<moov::MovieTrack>,
    started: bool,
    /// Offset of the `mdat` header.
    mdat_start: u64,
    file_len: u64,
}

/// The file's brands: `isom` (minor version 512), compatible with `isom`, `iso2`, `avc1`,
/// `mp41`.
fn ftyp() -> Ftyp {
    Ftyp {
        major_brand: *b"isom",
        minor_version: 512,
        compatible_brands: vec![*b"isom", *b"iso2", *b"avc1", *b"mp41"],
    }
}

impl Mp4Muxer {
    /// A muxer with no tracks yet.
    pub fn new(options: MuxerOptions) -> Self {
        Self {
            options,
            tracks: Vec::new(),
            started: false,
            mdat_start: 0,
            file_len: 0,
        }
    }

    /// Adds a track; must be called before [`start`](Self::start).
    pub fn add_track(&mut self, config: TrackConfig) -> Result<TrackId, Error> {
        if self.started {
            return Err(Error::AlreadyStarted);
        }
        let n = u32::try_from(self.tracks.len() + 1).expect("fewer than u32::MAX tracks");
        if config.timescale_hz == 0 {
            return Err(Error::ZeroTimescale { track: n });
        }
        self.tracks.push(moov::MovieTrack {
            kind: config.kind,
            timescale_hz: config.timescale_hz,
            default_sample_duration: config.default_sample_duration,
            sample_entries: vec![config.sample_entry],
            tables: TrackTables::new(n),
        });
        Ok(TrackId(NonZeroU32::new(n).expect("n >= 1")))
    }

    fn track_mut(&mut self, track: TrackId) -> Result<&mut moov::MovieTrack, Error> {
        let id = track.0.get();
        self.tracks
            .get_mut(id as usize - 1)
            .ok_or(Error::UnknownTrack(id))
    }

    /// Adds another sample entry to a track's `stsd` (e.g. new SPS/PPS); samples pushed
    /// afterwards refer to it. Returns its 1-based `sample_description_index`.
    pub fn add_sample_entry(&mut self, track: TrackId, entry: Bytes) -> Result<u32, Error> {
        let t = self.track_mut(track)?;
        t.sample_entries.push(entry);
        Ok(t.sample_entries.len() as u32)
    }

    /// Returns the bytes that start the file (`ftyp` and the `mdat` header).
    ///
    /// The `mdat` header initially describes an empty box; [`finish`](Self::finish) returns
    /// the patch that sets its real size.
    pub fn start(&mut self) -> Result<Bytes, Error> {
        if self.started {
            return Err(Error::AlreadyStarted);
        }
        if self.options.movie_timescale_hz == 0 {
            return Err(Error::ZeroMovieTimescale);
        }
        let ftyp = ftyp();
        let mdat = MdatHeader { payload_len: 0 };
        let mut out = BytesMut::with_capacity((ftyp.encoded_len() + mdat.encoded_len()) as usize);
        ftyp.encode(&mut out);
        self.mdat_start = out.len() as u64;
        mdat.encode(&mut out);
        self.file_len = out.len() as u64;
        self.started = true;
        Ok(out.freeze())
    }

    /// Records one sample; returns the absolute file offset where the caller must write
    /// exactly `sample.size` bytes of data (the current end of the file).
    pub fn push(&mut self, track: TrackId, sample: SampleInfo) -> Result<u64, Error> {
        if !self.started {
            return Err(Error::NotStarted);
        }
        let offset = self.file_len;
        let t = self.track_mut(track)?;
        let sample_description_index = t.sample_entries.len() as u32;
        t.tables.push(TableSample {
            dts: sample.dts,
            cts_offset: sample.cts_offset,
            size: sample.size,
            is_sync: sample.is_sync,
            sample_description_index,
            offset_bytes: offset,
        })?;
        self.file_len += u64::from(sample.size);
        Ok(offset)
    }

    /// Sets where `track`'s media ends: its last pushed sample lasts until `end_dts` (in
    /// the track's timescale, on the shared timeline), e.g. the decode time of the sample
    /// that follows it in the next file of a segmented recording. Without it,
    /// [`finish`](Self::finish) gives the last sample the duration of the one before it. A
    /// later [`push`](Self::push) clears it. No effect on a track without samples. As
    /// [`FragmentedMuxer::set_track_end`](crate::FragmentedMuxer::set_track_end).
    pub fn set_track_end(&mut self, track: TrackId, end_dts: u64) -> Result<(), Error> {
        let id = track.0.get();
        let t = self.track_mut(track)?;
        let Some(last) = t.tables.last_dts() else {
            return Ok(());
        };
        if end_dts <= last {
            return Err(Error::NonMonotonicTimestamp {
                track: id,
                prev: last,
                got: end_dts,
            });
        }
        let d = end_dts - last;
        let d = u32::try_from(d).ok().and_then(NonZeroU32::new).ok_or(
            Error::SampleDurationTooLong {
                track: id,
                duration: d,
            },
        )?;
        t.tables.set_last_sample_duration(d);
        Ok(())
    }

    /// Current length of the file in bytes, as the muxer accounts it.
    pub fn file_len(&self) -> u64 {
        self.file_len
    }

    /// Ends the file: builds the `moov` and the `mdat` size patch.
    ///
    /// A sample's duration is the gap to the next sample's decode time, so each track's
    /// last sample gets: the end set by [`set_track_end`](Self::set_track_end) since the
    /// last push; else the duration of the sample before it; else (a single sample) the
    /// track's [`default_sample_duration`](TrackConfig::default_sample_duration); else 1
    /// (never 0, which would hide the sample from most players). The same rule as
    /// [`FragmentedMuxer::flush`](crate::FragmentedMuxer::flush).
    pub fn finish(self) -> Result<Finished, Error> {
        if !self.started {
            return Err(Error::NotStarted);
        }
        let moov = moov::progressive(
            self.tracks,
            self.options.movie_timescale_hz,
            self.options.creation_time_1904,
            None,
        );
        let largesize = MdatHeader {
            payload_len: self.file_len - self.mdat_start - MdatHeader::LEN,
        }
        .largesize();
        Ok(Finished {
            tail: moov.to_bytes(),
            patches: vec![Patch {
                offset: self.mdat_start + MdatHeader::LARGESIZE_OFFSET,
                bytes: Bytes::copy_from_slice(&largesize.to_be_bytes()),
            }],
        })
    }
}
