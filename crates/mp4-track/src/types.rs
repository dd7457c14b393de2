//! The values a caller hands to and gets from the muxers.

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

/// Bytes to write at a given absolute file offset (overwriting what is there).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Patch {
    /// Absolute file offset.
    pub offset: u64,
    /// Bytes to write there.
    pub bytes: Bytes,
}
