//! Sans-IO building of new MP4 files out of recorded ones, without copying media.
//!
//! A recorder's files hold the media; an export over a time range, or an HLS media
//! segment, is a new file whose boxes are computed here and whose media bytes are byte
//! ranges of the recorded files. The result is a [`Body`]: an ordered list of
//! [`Part`]s, each either bytes built here or a range of a source file, with its exact
//! length known before anything is read. An HTTP server answers `Range` requests with
//! [`Body::slice`] and streams the parts; this crate never opens a file.
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
pub mod live;

pub use body::{Body, Part};
