//! Sans-IO MP4 muxer core.
//!
//! (Crate docs with a runnable example: to be written by the implementer.)
//!
//! The muxer never does I/O and never reads the clock: the caller hands it
//! sample metadata, writes the media bytes itself at the offsets the muxer
//! returns, and writes the header/trailer bytes the muxer produces.

use std::num::NonZeroU32;

use bytes::Bytes;

/// Identifies a track within one muxer (the `track_ID` of `tkhd`, 1-based).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TrackId(pub NonZeroU32);

/// What kind of media a track carries, with what the track header needs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TrackKind {
    /// Video (`vide` handler, `vmhd`); dimensions go to `tkhd`.
    Video {
        /// Display width in pixels.
        width: u16,
        /// Display height in pixels.
        height: u16,
    },
    /// Audio (`soun` handler, `smhd`).
    Audio,
}

/// Configuration of one track.
#[derive(Clone, Debug)]
pub struct TrackConfig {
    /// Video or audio.
    pub kind: TrackKind,
    /// Media timescale (`mdhd.timescale`), e.g. 90000 for video, the sample rate for audio.
    pub timescale_hz: u32,
    /// The complete first sample entry box (`avc1`, `hvc1`, `mp4v`, `mp4a`, ...), opaque.
    pub sample_entry: Bytes,
    /// Nominal duration of one sample in `timescale_hz` units (from the frame rate or the
    /// audio frame length), used for the last sample when there is no previous one.
    pub default_sample_duration: Option<NonZeroU32>,
}

/// One sample's metadata, as pushed to the muxer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SampleInfo {
    /// Decode time in the track's timescale, on the timeline shared by all tracks of the
    /// muxer (every track's zero is the same instant). Strictly increasing within a track.
    pub dts: u64,
    /// Composition (presentation) time minus decode time, in the track's timescale.
    pub cts_offset: i32,
    /// Size of the sample's data in bytes.
    pub size: u32,
    /// True for a sync sample (keyframe).
    pub is_sync: bool,
}

/// Options for a [`Mp4Muxer`].
#[derive(Clone, Debug)]
pub struct MuxerOptions {
    /// `mvhd.timescale`; 1000 unless there is a reason otherwise.
    pub movie_timescale_hz: u32,
    /// `creation_time`/`modification_time` in seconds since 1904-01-01 UTC.
    pub creation_time_1904: u64,
}

impl Default for MuxerOptions {
    fn default() -> Self {
        Self {
            movie_timescale_hz: 1000,
            creation_time_1904: 0,
        }
    }
}

/// Errors from the muxer.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum Error {
    /// A sample's decode time was not after the previous sample's on the same track.
    #[error("track {track}: non-monotonic timestamp: prev dts {prev}, got {got}")]
    NonMonotonicTimestamp {
        /// The track.
        track: u32,
        /// The previous sample's dts.
        prev: u64,
        /// The offending dts.
        got: u64,
    },
    /// No such track.
    #[error("unknown track {0}")]
    UnknownTrack(u32),
    /// Tracks must all be added before [`Mp4Muxer::start`].
    #[error("tracks must be added before start")]
    AlreadyStarted,
    /// [`Mp4Muxer::push`] before [`Mp4Muxer::start`].
    #[error("push before start")]
    NotStarted,
}

/// Bytes to write at a given absolute file offset (overwriting what is there).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Patch {
    /// Absolute file offset.
    pub offset: u64,
    /// Bytes to write there.
    pub bytes: Bytes,
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
    _private: (),
}

impl Mp4Muxer {
    /// A muxer with no tracks yet.
    pub fn new(options: MuxerOptions) -> Self {
        let _ = options;
        todo!()
    }

    /// Adds a track; must be called before [`start`](Self::start).
    pub fn add_track(&mut self, config: TrackConfig) -> Result<TrackId, Error> {
        let _ = config;
        todo!()
    }

    /// Adds another sample entry to a track's `stsd` (e.g. new SPS/PPS); samples pushed
    /// afterwards refer to it. Returns its 1-based `sample_description_index`.
    pub fn add_sample_entry(&mut self, track: TrackId, entry: Bytes) -> Result<u32, Error> {
        let _ = (track, entry);
        todo!()
    }

    /// Returns the bytes that start the file (`ftyp` and the `mdat` header).
    pub fn start(&mut self) -> Result<Bytes, Error> {
        todo!()
    }

    /// Records one sample; returns the absolute file offset where the caller must write
    /// exactly `sample.size` bytes of data (the current end of the file).
    pub fn push(&mut self, track: TrackId, sample: SampleInfo) -> Result<u64, Error> {
        let _ = (track, sample);
        todo!()
    }

    /// Current length of the file in bytes, as the muxer accounts it.
    pub fn file_len(&self) -> u64 {
        todo!()
    }

    /// Ends the file: builds the `moov` and the `mdat` size patch.
    pub fn finish(self) -> Result<Finished, Error> {
        todo!()
    }
}
