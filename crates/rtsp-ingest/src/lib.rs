//! RTSP ingest: connects to a camera with [retina], picks one video and one audio stream,
//! and hands out codec-neutral [`Frame`]s ready to be written to an MP4 file.
//!
//! This is the only crate of the workspace that knows retina: everything it hands out
//! (sample entries as bytes, timestamps as integers in the stream's clock) can be used
//! without it. The sample entries are built by `bmff-boxes` (`Avc1`, `Hvc1`, `Mp4v`,
//! `Mp4a`) from the parameter sets retina has parsed, as a library user would build them.
//!
//! - [`Source::connect`] does `DESCRIBE`, selects the first H.264/H.265/JPEG video stream and
//!   the first AAC, PCMU, PCMA or L16 audio stream, does `SETUP` and `PLAY`, and waits for the first video
//!   keyframe (frames before it are dropped).
//! - [`Source::next`] returns [`Frame::Video`] and [`Frame::Audio`] in arrival order;
//!   [`Source::take_sender_report`] the RTCP sender reports that came with them (the
//!   camera's wall clock, [`SenderReport`]).
//! - [`Source::close`] tears the session down.
//! - [`SessionGroup`] keeps a camera's sessions across reconnects, so that the stale ones
//!   can be waited out ([`SessionGroup::await_stale_sessions`]) before connecting again.
//!
//! Passwords never appear in logs or errors: URLs are shown through [`redact_url`].
//!
//! Every [`Error`] says what kind of failure it is ([`Error::kind`], an [`ErrorKind`]:
//! unreachable, refused, auth, not found, protocol, media, ...), classified here from
//! retina's status codes and errors, and whether reconnecting may cure it
//! ([`Error::is_retryable`]).
//!
//! # Example
//!
//! ```no_run
//! use rtsp_ingest::{Frame, Source, SourceOptions};
//!
//! # async fn run() -> Result<(), rtsp_ingest::Error> {
//! let mut source = Source::connect(SourceOptions::new("rtsp://user:pass@cam.local/stream1")).await?;
//! if let Some(v) = source.video() {
//!     eprintln!("video: {} {}x{}", v.rfc6381_codec, v.width, v.height);
//! }
//! let (mut video_frames, mut audio_frames) = (0u64, 0u64);
//! while video_frames < 300 {
//!     match source.next().await? {
//!         Some(Frame::Video { .. }) => video_frames += 1,
//!         Some(Frame::Audio { .. }) => audio_frames += 1,
//!         Some(_) => {}
//!         None => break,
//!     }
//! }
//! eprintln!("{video_frames} video frames, {audio_frames} audio frames");
//! source.close().await?;
//! # Ok(())
//! # }
//! ```

/// The README's examples, compiled and run as doctests.
#[doc = include_str!("../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;

mod entry;
mod error;
mod frame;
mod gate;
mod group;
mod jump;
mod kind;
mod loss;
mod nal;
mod options;
mod received;
mod reorder;
mod rtcp;
mod select;
mod source;
mod url;

pub use error::Error;
pub use frame::{AudioCodec, AudioInfo, Frame, VideoCodec, VideoInfo};
pub use gate::DroppedFrames;
pub use group::{SessionGroup, StaleSessions};
pub use kind::ErrorKind;
pub use kind::Phase;
pub use loss::{LossCounts, LossPolicy};
pub use options::{Credentials, InitialTimestampPolicy, SourceOptions, TeardownPolicy, Transport};
pub use rtcp::{ReportStream, SenderReport};
pub use source::Source;
pub use url::{redact_url, split_credentials};
