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
//!   crash (header by header, then each fragment's samples, checked for the damage a
//!   power cut leaves) and plans its repair: the torn tail or the damaged fragments cut,
//!   then the same finalization.
//!
//! All tracks share one timeline whose zero is the same instant: a track whose first
//! sample is presented later than the earliest track's gets an empty edit for the gap, so
//! players keep audio and video in sync.
//!
//! The sample entries a track needs ([`TrackConfig::sample_entry`]) come from
//! `bmff-boxes`: `Avc1::new(width, height, AvcC::new(sps, pps)?)`, `Hvc1`, `Mp4a::aac(asc)`,
//! `Mp4v::jpeg(width, height)`, each `.to_bytes()`. [`DecodeTimes`] derives decode times
//! for video with B-frames from presentation times and the reorder depth.
//!
//! # Defaults
//!
//! | Option | Default | Meaning |
//! |---|---|---|
//! | [`FragmentedOptions::fragment_duration_ms`] | 2000 | a fragment ends at the first video keyframe 2 s after its start (4 s at most; 2 s without video) |
//! | [`FragmentedOptions::reserve_bytes`] | 262144 | 256 KiB of `free` after the `ftyp` for the final `moov` (about 10 minutes of 30 fps video with AAC); size it with [`estimate_moov_bytes`] |
//! | `movie_timescale_hz` (both muxers) | 1000 | `mvhd` timescale: movie and track durations and edit-list segment durations in ms; each edit is rounded to the nearest tick (at most 0.5 ms off, e.g. `elst` 5013 for 5.0133 s of 48 kHz audio); a common multiple of the track timescales (720000 for 90 kHz and 48 kHz) makes edits exact |
//! | `creation_time_1904` (both muxers) | 0 | the muxers read no clock |
//! | [`TrackConfig::default_sample_duration`] | none | the last sample's duration when a track has a single sample |
//!
//! The last sample of each track lasts until the end set by `set_track_end` (both
//! muxers), else as long as the sample before it, else the track's
//! `default_sample_duration`, else 1 tick.
//!
//! # From `rtsp-ingest`
//!
//! `rtsp-ingest` (which this crate does not depend on) hands out what a track needs, in
//! its own types; the conversions are:
//!
//! - `VideoInfo::width`/`height` are `u32`; [`TrackKind::Video`] and the sample entries
//!   take `u16` (the `tkhd` and `VisualSampleEntry` fields): `u16::try_from(width)`.
//! - `VideoInfo::sample_entry`/`AudioInfo::sample_entry` are the complete boxes
//!   [`TrackConfig::sample_entry`] takes; `clock_rate_hz` is the track's `timescale_hz`,
//!   and `VideoInfo::nominal_frame_duration()`/`AudioInfo::frame_length` its
//!   `default_sample_duration`.
//! - `Frame::pts` is an `i64` presentation time in that clock, from the session's zero
//!   (the same instant for every stream); [`SampleInfo::dts`] is a `u64` decode time on
//!   the file's timeline. Pick the file's zero (e.g. the first video keyframe's `pts`;
//!   rescale it to each track's clock) and subtract it, dropping frames before it. Without
//!   B-frames (`VideoInfo::reorder_depth` 0, and audio) the decode time is that
//!   difference and `cts_offset` is 0; with B-frames, feed the differences in arrival
//!   order to a [`DecodeTimes`] of that depth, use `pts - dts` as `cts_offset`, and shift
//!   every track by the first (negative) decode time.
//!
//! # Examples
//!
//! In `crates/mp4-track/examples/` (`cargo run -p mp4-track --example NAME -- ...`; each
//! file's doc says how to make its input with ffmpeg):
//!
//! - `h264_aac`: an H.264 Annex B stream and an AAC ADTS stream into a finalized file,
//!   sample entries built with `bmff-boxes` from the SPS/PPS and the ADTS header, frames
//!   described as `rtsp-ingest` hands them out and converted as above
//!   (`tests/h264_aac_example.rs` runs it and checks the file with ffprobe and
//!   `ffmpeg -xerror`).
//! - `mjpeg_mux`: Motion JPEG frames into a progressive file with [`Mp4Muxer`], optionally
//!   as a second, later track (an empty edit).
//! - `fragmented_mux`: Motion JPEG (and optionally AAC) through [`FragmentedMuxer`]:
//!   finalized, left fragmented as after a crash, repaired with [`Recovery`], and the
//!   reserve estimate against the real `moov`.
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

/// The README's examples, compiled and run as doctests.
#[doc = include_str!("../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;

mod decode_times;
mod error;
mod estimate;
mod finalize;
mod fragment;
mod fragmented;
mod moof;
mod moov;
mod progressive;
mod recovery;
mod tables;
mod timing;
mod types;

pub use decode_times::{DecodeTimes, NotAfterPrevious};
pub use error::Error;
pub use estimate::{TrackEstimate, estimate_moov_bytes};
pub use finalize::{Finalize, FinalizeStep};
pub use fragment::{Fragment, FragmentTrack, FragmentedOptions, TrackProgress};
pub use fragmented::FragmentedMuxer;
pub use progressive::{Finished, Mp4Muxer, MuxerOptions};
pub use recovery::{
    DATA_READ_BYTES, Damage, MAX_CHECKED_SAMPLE_BYTES, ReadRequest, Recovered, Recovery,
    RecoveryError, Repair,
};
pub use tables::{TableSample, TrackTables};
pub use types::{Patch, SampleInfo, TrackConfig, TrackId, TrackKind};
