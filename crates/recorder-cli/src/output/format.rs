//! The plain values that describe output files: how they are written and what a finished
//! one holds.

use std::path::PathBuf;

use crate::output::events::{FileSummary, TrackSummary};

/// What the writer does at the end of each fragment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SyncPolicy {
    /// `fsync` (`sync_data`) after each fragment: a crash or power cut loses at most the
    /// fragment in progress.
    Fragment,
    /// Leave it to the operating system.
    None,
}

/// What the file becomes at a clean close.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OutputFormat {
    /// Finalized in place: progressive, `moov` first when it fits the reserve.
    Mp4,
    /// Stays fragmented.
    Fmp4,
}

/// What a segment held, for the summary line.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SegmentStats {
    /// Video samples written.
    pub video_frames: u64,
    /// Audio samples written.
    pub audio_frames: u64,
    /// Media duration (end of the last sample, from the segment's zero), in seconds.
    pub duration_s: f64,
}

impl SegmentStats {
    /// The figures of what the session wrote to a file.
    pub fn of(summary: &FileSummary) -> Self {
        let samples = |t: &Option<TrackSummary>| t.as_ref().map_or(0, |t| t.samples);
        Self {
            video_frames: samples(&summary.video),
            audio_frames: samples(&summary.audio),
            duration_s: summary.duration_s(),
        }
    }
}

/// A finished file.
#[derive(Clone, Debug, PartialEq)]
pub struct Written {
    /// Its final path.
    pub path: PathBuf,
    /// Its length in bytes.
    pub len_bytes: u64,
    /// What it holds.
    pub stats: SegmentStats,
}
