//! Sans-IO MP4 muxer core.
//!
//! The muxer never does I/O and never reads the clock: the caller hands it
//! sample metadata, writes the media bytes itself at the offsets the muxer
//! returns, and writes the header/trailer bytes the muxer produces.
//!
//! Two muxers share the per-track accounting of [`TrackTables`] (reusable on its own):
//!
//! - [`Mp4Muxer`] writes a progressive file: `ftyp`, one `mdat` with a 64-bit size (so
//!   the file may exceed 4 GiB), and the `moov` at the end.
//! - [`FragmentedMuxer`] is crash-safe: while recording it writes a fragmented file
//!   (`moof`/`mdat` pairs after an init `moov`), which stays playable up to its last
//!   complete fragment after a kill or a power loss; at a clean close,
//!   [`FragmentedMuxer::finalize`] returns a [`Finalize`] plan of small in-place writes
//!   and syncs that turns it into a progressive file with the `moov` first (in space
//!   reserved at the start, sized with [`estimate_moov_bytes`]) without moving media
//!   data, every intermediate state being playable. [`Recovery`] reads a file left by a
//!   crash (header by header, never the media) and plans its repair: the torn tail cut,
//!   then the same finalization.
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
//!
//! The crash-safe form: fragments are written as they complete, and the plan applied at
//! the end (a real writer issues `fsync` at each [`FinalizeStep::Sync`]).
//!
//! ```
//! use std::num::NonZeroU32;
//! use bytes::Bytes;
//! use mp4_track::{
//!     FinalizeStep, FragmentedMuxer, FragmentedOptions, Recovered, Recovery, SampleInfo,
//!     TrackConfig, TrackKind,
//! };
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let mut mux = FragmentedMuxer::new(FragmentedOptions {
//!     fragment_duration_ms: 100,
//!     reserve_bytes: 4096,
//!     ..FragmentedOptions::default()
//! });
//! let video = mux.add_track(TrackConfig {
//!     kind: TrackKind::Video { width: 320, height: 240 },
//!     timescale_hz: 90_000,
//!     sample_entry: Bytes::from_static(b"\0\0\0\x08fake"),
//!     default_sample_duration: NonZeroU32::new(3000),
//! })?;
//! let mut file = mux.start()?.to_vec(); // ftyp, free (the reserve), init moov
//! let mut write = |file: &mut Vec<u8>, f: mp4_track::Fragment| {
//!     assert_eq!(f.offset, file.len() as u64); // always appended
//!     file.extend_from_slice(&f.header); // moof + mdat header
//!     f.data.iter().for_each(|d| file.extend_from_slice(d)); // the samples, uncopied until here
//! };
//! for i in 0..9u64 {
//!     let sample = SampleInfo { dts: i * 3000, cts_offset: 0, size: 4, is_sync: i % 3 == 0 };
//!     mux.push(video, sample, Bytes::from_static(b"data"))?;
//!     while let Some(f) = mux.poll_fragment() {
//!         write(&mut file, f); // a fragment per keyframe here: 100 ms = 3 frames
//!     }
//! }
//! while let Some(f) = mux.flush() {
//!     write(&mut file, f);
//! }
//! // Killed now, the file plays as is, and recovery would plan the same finalization.
//! let Recovered::Fragmented(repair) = Recovery::from_bytes(&file)? else { panic!() };
//! assert_eq!(repair.fragments, 3);
//!
//! let plan = mux.finalize()?;
//! assert_eq!(plan, repair.finalize);
//! assert!(plan.moov_at_front);
//! for step in &plan.steps {
//!     match step {
//!         FinalizeStep::Write(p) => {
//!             let at = p.offset as usize;
//!             file[at..at + p.bytes.len()].copy_from_slice(&p.bytes);
//!         }
//!         FinalizeStep::Sync => {} // fsync
//!         FinalizeStep::SetLen(n) => file.truncate(*n as usize),
//!     }
//! }
//! let dump = bmff_boxes::dump::dump(&file)?;
//! let top: Vec<&str> = dump.lines().filter(|l| !l.starts_with(' ')).collect();
//! // [ftyp][free 8][moov][free: rest of the reserve, init moov, moof 1][mdat 1][free][mdat 2]...
//! assert_eq!(top[1], "free size=8");
//! assert_eq!(top[2], format!("moov size={}", plan.moov_bytes));
//! assert_eq!(&top[4..6], ["mdat size=20", "free size=100"]);
//! assert!(dump.contains("stsz size=20 sample_size=4 count=9"));
//! # Ok(())
//! # }
//! ```

use std::num::NonZeroU32;

use bmff_boxes::{Encode, Ftyp, MdatHeader};
use bytes::{Bytes, BytesMut};

mod estimate;
mod finalize;
mod fragmented;
mod moov;
mod recovery;
mod tables;
mod timing;

pub use estimate::{TrackEstimate, estimate_moov_bytes};
pub use finalize::{Finalize, FinalizeStep};
pub use fragmented::{Fragment, FragmentTrack, FragmentedMuxer, FragmentedOptions};
pub use recovery::{ReadRequest, Recovered, Recovery, RecoveryError, Repair};
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
    /// [`FragmentedOptions::reserve_bytes`] is above `u32::MAX`.
    #[error("invalid reserve of {bytes} bytes: at most 4294967295")]
    InvalidReserve {
        /// The requested reserve.
        bytes: u64,
    },
    /// A sample's data is not as long as its [`SampleInfo::size`].
    #[error("track {track}: sample size {size} but {data_len} bytes of data")]
    SizeMismatch {
        /// The track.
        track: u32,
        /// The declared size.
        size: u32,
        /// The data's length.
        data_len: u64,
    },
    /// [`FragmentedMuxer::push`] after [`FragmentedMuxer::flush`].
    #[error("muxer already flushed")]
    AlreadyFlushed,
    /// [`FragmentedMuxer::finalize`] with samples or fragments not yet handed out by
    /// [`FragmentedMuxer::flush`].
    #[error("not flushed: {pending_samples} pending samples, {unwritten_fragments} fragments")]
    NotFlushed {
        /// Samples not in any fragment yet.
        pending_samples: usize,
        /// Fragments not yet returned.
        unwritten_fragments: usize,
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

    /// Current length of the file in bytes, as the muxer accounts it.
    pub fn file_len(&self) -> u64 {
        self.file_len
    }

    /// Ends the file: builds the `moov` and the `mdat` size patch.
    pub fn finish(self) -> Result<Finished, Error> {
        if !self.started {
            return Err(Error::NotStarted);
        }
        let moov = moov::progressive(
            self.tracks,
            self.options.movie_timescale_hz,
            self.options.creation_time_1904,
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
