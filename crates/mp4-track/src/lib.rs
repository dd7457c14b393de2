//! Sans-IO MP4 muxer core.
//!
//! The muxer never does I/O and never reads the clock: the caller hands it
//! sample metadata, writes the media bytes itself at the offsets the muxer
//! returns, and writes the header/trailer bytes the muxer produces.
//!
//! [`Mp4Muxer`] writes a progressive file: `ftyp`, one `mdat` with a 64-bit size (so the
//! file may exceed 4 GiB), and the `moov` at the end. Per-track accounting lives in
//! [`TrackTables`], reusable on its own.
//!
//! All tracks share one timeline whose zero is the same instant: a track whose first
//! sample is presented later than the earliest track's gets an empty edit for the gap, so
//! players keep audio and video in sync.
//!
//! # Example
//!
//! ```
//! use std::num::NonZeroU32;
//! use bytes::Bytes;
//! use mp4_track::{Mp4Muxer, MuxerOptions, SampleInfo, TrackConfig, TrackKind};
//!
//! # fn main() -> Result<(), mp4_track::Error> {
//! let mut mux = Mp4Muxer::new(MuxerOptions::default());
//! let video = mux.add_track(TrackConfig {
//!     kind: TrackKind::Video { width: 320, height: 240 },
//!     timescale_hz: 90_000,
//!     // Opaque to the muxer; in practice an `avc1`/`mp4v`/... box built by the caller.
//!     sample_entry: Bytes::from_static(b"\0\0\0\x08fake"),
//!     default_sample_duration: NonZeroU32::new(3000),
//! })?;
//! let mut file = mux.start()?.to_vec(); // ftyp + mdat header
//! for (i, size) in [500u32, 120, 130].into_iter().enumerate() {
//!     let sample = SampleInfo { dts: i as u64 * 3000, cts_offset: 0, size, is_sync: i == 0 };
//!     let offset = mux.push(video, sample)?;
//!     assert_eq!(offset, file.len() as u64); // always the end of the file
//!     file.resize(file.len() + size as usize, 0xAA); // the caller writes the data
//! }
//! let finished = mux.finish()?;
//! file.extend_from_slice(&finished.tail); // the moov
//! for patch in &finished.patches {
//!     let at = patch.offset as usize;
//!     file[at..at + patch.bytes.len()].copy_from_slice(&patch.bytes); // the mdat size
//! }
//! let dump = bmff_boxes::dump::dump(&file).unwrap();
//! assert!(dump.contains("stts size=24 entries=1 [3x3000]"));
//! assert!(dump.contains("stsz size=32 sample_size=0 count=3 [500, 120, 130]"));
//! assert!(dump.contains("stss size=20 entries=1 [1]"));
//! assert!(dump.contains("mdat size=766")); // 16-byte header + 750 bytes
//! # Ok(())
//! # }
//! ```

use std::num::NonZeroU32;

use bmff_boxes::{
    Dinf, Edts, Elst, Encode, Ftyp, Hdlr, IDENTITY_MATRIX, MdatHeader, Mdhd, Mdia, MediaHeader,
    Minf, Moov, Mvhd, Smhd, Stsd, Tkhd, Trak, Vmhd,
};
use bytes::{Bytes, BytesMut};

mod tables;
mod timing;

pub use tables::{TableSample, TrackTables};

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
    /// [`Mp4Muxer::push`] or [`Mp4Muxer::finish`] before [`Mp4Muxer::start`].
    #[error("muxer not started")]
    NotStarted,
    /// The gap between two consecutive samples of a track does not fit the 32-bit
    /// `stts` sample delta.
    #[error("track {track}: sample duration {duration} exceeds 32 bits")]
    SampleDurationTooLong {
        /// The track.
        track: u32,
        /// The duration, in the track's timescale.
        duration: u64,
    },
    /// A track reached u32::MAX samples.
    #[error("track {track}: too many samples")]
    TooManySamples {
        /// The track.
        track: u32,
    },
    /// A track's timescale is 0.
    #[error("track {track}: timescale must be non-zero")]
    ZeroTimescale {
        /// The track that would have been added.
        track: u32,
    },
    /// [`MuxerOptions::movie_timescale_hz`] is 0.
    #[error("movie timescale must be non-zero")]
    ZeroMovieTimescale,
    /// A sample refers to a sample description that does not exist (indices are 1-based).
    #[error("track {track}: bad sample description index {index}")]
    BadSampleDescriptionIndex {
        /// The track.
        track: u32,
        /// The index.
        index: u32,
    },
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
    options: MuxerOptions,
    tracks: Vec<Track>,
    started: bool,
    /// Offset of the `mdat` header.
    mdat_start: u64,
    file_len: u64,
}

#[derive(Debug)]
struct Track {
    kind: TrackKind,
    timescale_hz: u32,
    default_sample_duration: Option<NonZeroU32>,
    sample_entries: Vec<Bytes>,
    tables: TrackTables,
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
        self.tracks.push(Track {
            kind: config.kind,
            timescale_hz: config.timescale_hz,
            default_sample_duration: config.default_sample_duration,
            sample_entries: vec![config.sample_entry],
            tables: TrackTables::new(n),
        });
        Ok(TrackId(NonZeroU32::new(n).expect("n >= 1")))
    }

    fn track_mut(&mut self, track: TrackId) -> Result<&mut Track, Error> {
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

    /// Current length of the file in bytes, as the muxer accounts it.
    pub fn file_len(&self) -> u64 {
        self.file_len
    }

    /// Ends the file: builds the `moov` and the `mdat` size patch.
    pub fn finish(self) -> Result<Finished, Error> {
        if !self.started {
            return Err(Error::NotStarted);
        }
        let movie_hz = self.options.movie_timescale_hz;
        let spans: Vec<Option<timing::MediaSpan>> = self
            .tracks
            .iter()
            .map(|t| {
                let tables = &t.tables;
                Some(timing::MediaSpan {
                    timescale_hz: t.timescale_hz,
                    first_dts: tables.first_dts()?,
                    min_composition_time: tables.min_composition_time()?,
                    media_duration: tables.media_duration(t.default_sample_duration),
                })
            })
            .collect();
        let edits = timing::plan_edits(&spans, movie_hz);
        let movie_duration = edits
            .iter()
            .flatten()
            .map(|e| e.track_duration())
            .max()
            .unwrap_or(0);
        let time = self.options.creation_time_1904;
        let mut mvhd = Mvhd::new(movie_hz, movie_duration, self.tracks.len() as u32 + 1);
        mvhd.creation_time = time;
        mvhd.modification_time = time;

        let traks = self
            .tracks
            .into_iter()
            .zip(edits)
            .enumerate()
            .map(|(i, (t, edit))| {
                let media_duration = t.tables.media_duration(t.default_sample_duration);
                let (width, height, volume, hdlr, media_header) = match t.kind {
                    TrackKind::Video { width, height } => (
                        u32::from(width) << 16,
                        u32::from(height) << 16,
                        0,
                        Hdlr::video(),
                        MediaHeader::Video(Vmhd::default()),
                    ),
                    TrackKind::Audio => (
                        0,
                        0,
                        0x0100,
                        Hdlr::sound(),
                        MediaHeader::Sound(Smhd::default()),
                    ),
                };
                let stsd = Stsd {
                    entries: t.sample_entries,
                };
                Trak {
                    tkhd: Tkhd {
                        flags: Tkhd::ENABLED | Tkhd::IN_MOVIE,
                        creation_time: time,
                        modification_time: time,
                        track_id: i as u32 + 1,
                        duration: edit.map_or(0, |e| e.track_duration()),
                        layer: 0,
                        alternate_group: 0,
                        volume,
                        matrix: IDENTITY_MATRIX,
                        width,
                        height,
                    },
                    edts: edit.map(|e| Edts {
                        elst: Elst {
                            entries: e.entries(),
                        },
                    }),
                    mdia: Mdia {
                        mdhd: Mdhd {
                            creation_time: time,
                            modification_time: time,
                            timescale: t.timescale_hz,
                            duration: media_duration,
                            language: *b"und",
                        },
                        hdlr,
                        minf: Minf {
                            media_header,
                            dinf: Dinf::default(),
                            stbl: t.tables.into_stbl(stsd, t.default_sample_duration),
                        },
                    },
                }
            })
            .collect();
        let moov = Moov {
            mvhd,
            traks,
            mvex: None,
        };
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
