//! Sans-IO building of new MP4 files out of recorded ones, without copying media.
//!
//! A recorder's files hold the media; an export over a time range, or an HLS media
//! segment, is a new file whose boxes are computed here and whose media bytes are byte
//! ranges of the recorded files. The result is a [`Body`]: an ordered list of
//! [`Part`]s, each either bytes built here or a range of a source file, with its exact
//! length known before anything is read. An HTTP server answers `Range` requests with
//! [`Body::slice`] and streams the parts; this crate never opens a file.
//!
//! - [`export`]: a time range of [`SourceFile`]s as one progressive MP4, `moov` first,
//!   starting exactly at the requested instant (an edit list after the keyframe before
//!   it), gaps between files squeezed out and listed in [`Export::gaps`].
//! - [`hls`]: the same range as an HLS VOD playlist of fMP4 segments, planned cheaply
//!   from keyframes and built segment by segment.
//! - [`live`]: the live edge of a recording (its init and last fragments, kept while
//!   someone watches) as an HLS live playlist.
//!
//! The caller reads each file's `moov` with [`bmff_boxes::read`] and says when its movie
//! time 0 was (the catalog's file start); [`Part::Source`]`{ source, .. }` indexes the
//! sources it passed in. A slice of [`SourceFile`]s is the simplest [`Sources`]; a server
//! implements [`Sources`] to read each `moov` only when it is needed ([`export_from`],
//! [`hls::plan`]), so a 24-hour range never holds every file's tables at once.
//!
//! # Example
//!
//! ```
//! use std::num::NonZeroU32;
//! use bytes::Bytes;
//! use mp4_export::{Part, SourceFile, export, hls};
//! use mp4_track::{Mp4Muxer, MuxerOptions, SampleInfo, TrackConfig, TrackKind};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! // A recorded file: 2 s of video at 30 fps, a keyframe every second (a server reads
//! // its `moov` from disk instead).
//! let mut mux = Mp4Muxer::new(MuxerOptions::default());
//! let v = mux.add_track(TrackConfig {
//!     kind: TrackKind::Video { width: 320, height: 240 },
//!     timescale_hz: 90_000,
//!     sample_entry: Bytes::from_static(b"\0\0\0\x08avc1"),
//!     default_sample_duration: NonZeroU32::new(3000),
//! })?;
//! let mut file = mux.start()?.to_vec();
//! for i in 0..60u32 {
//!     let sample = SampleInfo { dts: u64::from(i) * 3000, cts_offset: 0, size: 100, is_sync: i % 30 == 0 };
//!     mux.push(v, sample)?;
//!     file.resize(file.len() + 100, i as u8);
//! }
//! let done = mux.finish()?;
//! file.extend_from_slice(&done.tail);
//! for p in &done.patches {
//!     file[p.offset as usize..][..p.bytes.len()].copy_from_slice(&p.bytes);
//! }
//! let moov = bmff_boxes::read::boxes(&file).flatten().find(|b| &b.fourcc == b"moov").unwrap();
//! let sec = 1_000_000_000;
//! let sources = [SourceFile { movie: bmff_boxes::read::parse_moov(&moov)?, wall_start_ns: 100 * sec }];
//!
//! // 101.5 s to 101.9 s: from the keyframe at 101.0 s (frame 30) to frame 56, the last
//! // presented before the end; the edit list hides the first 0.5 s.
//! let e = export(&sources, 100 * sec + 1_500_000_000, 100 * sec + 1_900_000_000)?;
//! assert_eq!((e.video_samples, e.duration_ns), (27, 400_000_000));
//! // ftyp + moov + mdat header, then the 27 samples: one range of the source.
//! assert_eq!(e.body.parts().len(), 2);
//! assert!(matches!(e.body.parts()[1], Part::Source { source: 0, len: 2700, .. }));
//!
//! // The whole file as HLS, in segments of a second.
//! let plan = hls::plan(&sources, 100 * sec, 102 * sec, sec)?;
//! assert_eq!(plan.segments().len(), 2);
//! let m3u8 = plan.playlist(|i| format!("init{i}.mp4"), |i| format!("{i}.m4s"));
//! assert!(m3u8.contains("#EXT-X-PROGRAM-DATE-TIME:1970-01-01T00:01:41.000Z\n#EXTINF:1.000000,\n1.m4s\n"));
//! let segment = plan.media_segment(&sources, 1)?; // moof + mdat header, then 30 samples
//! assert_eq!(segment.len() - segment.parts()[0].len(), 3000);
//! # Ok(())
//! # }
//! ```
//!
//! A [`Body`] alone:
//!
//! ```
//! use bytes::Bytes;
//! use mp4_export::{Body, Part};
//!
//! let mut body = Body::new();
//! body.push_bytes(Bytes::from_static(b"head"));
//! body.push_source(0, 1_000, 6);
//! assert_eq!(body.len(), 10);
//! // Bytes 2..7: "ad" from the inline part, then 3 bytes of source 0 from offset 1000.
//! let s = body.slice(2, 7);
//! assert_eq!(s.parts(), &[
//!     Part::Bytes(Bytes::from_static(b"ad")),
//!     Part::Source { source: 0, offset: 1_000, len: 3 },
//! ]);
//! ```

mod body;
mod boxes;
mod error;
mod export;
pub mod hls;
pub mod live;
mod source;
mod timeline;

pub use body::{Body, Part};
pub use error::ExportError;
pub use export::{Export, export, export_from};
pub use source::{SourceFile, Sources};

#[cfg(test)]
mod hls_tests;
#[cfg(test)]
mod tests;
