//! Spans: runs of a camera's files without a gap, and the gaps between them.
//!
//! Two consecutive files *touch* when the next one starts less than one frame interval
//! before or after the previous one ends: `|next.start - previous.end| < tolerance`, where
//! the tolerance is the larger of the two files' [frame
//! intervals](crate::FileRecord::frame_interval_ns) (media duration / video samples, or /
//! audio samples without video, at least 1 ms). Touching files form one [`Span`]. A larger
//! gap, or a larger overlap (a clock that went back), starts a new span; so does a change
//! of camera.

use std::time::Duration;

use crate::record::FileRecord;
use crate::time::WallTime;

/// A run of consecutive files of one camera whose wall-clock ranges touch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Span {
    /// Start of its first file.
    pub start: WallTime,
    /// The latest end of its files.
    pub end: WallTime,
    /// How many files it holds.
    pub files: usize,
    /// Their total size in bytes.
    pub bytes: u64,
}

impl Span {
    /// `end - start`.
    pub fn duration(&self) -> Duration {
        self.end.duration_since(self.start).unwrap_or_default()
    }
}

/// The time between two consecutive spans: from the end of one to the start of the next.
/// `end` is before `start` when the next span starts before the previous one ends (a clock
/// that went back).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Gap {
    /// End of the previous span.
    pub start: WallTime,
    /// Start of the next span.
    pub end: WallTime,
}

impl Gap {
    /// Nanoseconds from `start` to `end`: negative for an overlap.
    pub fn nanos(&self) -> i64 {
        self.end.nanos_since(self.start)
    }
}

/// An item of a camera's timeline, in time order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Timeline {
    /// Recorded.
    Span(Span),
    /// Not recorded (or overlapping, if the gap is negative).
    Gap(Gap),
}

/// The spans of one camera's files, sorted by start (as
/// [`Catalog::files`](crate::Catalog::files) returns them). Unsorted input gives more,
/// shorter spans, never a panic.
///
/// Two consecutive files *touch* when the next one starts less than one frame interval
/// before or after the previous one ends: `|next.start - previous.end| < tolerance`, where
/// the tolerance is the larger of the two files'
/// [frame intervals](crate::FileRecord::frame_interval_ns) (media duration / video samples,
/// or / audio samples without video, at least 1 ms). Touching files form one [`Span`]. A
/// larger gap, or a larger overlap (a clock that went back), starts a new span; so does a
/// change of camera.
///
/// ```
/// use catalog::{EndReason, FileRecord, WallTime, spans};
///
/// let file = |start_s: i64, end_s: i64| FileRecord {
///     camera: "door".into(),
///     path: format!("door/{start_s}.mp4").into(),
///     start: WallTime(start_s * 1_000_000_000),
///     end: WallTime(end_s * 1_000_000_000),
///     media_duration_ms: (end_s - start_s) as u64 * 1000,
///     size_bytes: 1000,
///     video: None,
///     audio: None,
///     end_reason: EndReason::Continued,
/// };
/// // Two touching files, then one after a 10 s gap.
/// let spans = spans(&[file(0, 600), file(600, 1200), file(1210, 1800)]);
/// assert_eq!(spans.len(), 2);
/// assert_eq!((spans[0].files, spans[0].bytes), (2, 2000));
/// assert_eq!(spans[1].start, WallTime(1_210_000_000_000));
/// ```
pub fn spans(files: &[FileRecord]) -> Vec<Span> {
    let mut out: Vec<Span> = Vec::new();
    let mut previous: Option<&FileRecord> = None;
    for file in files {
        let joins = previous.is_some_and(|p| touches(p, file));
        match out.last_mut() {
            Some(span) if joins => {
                span.end = span.end.max(file.end);
                span.files += 1;
                span.bytes = span.bytes.saturating_add(file.size_bytes);
            }
            _ => out.push(Span {
                start: file.start,
                end: file.end,
                files: 1,
                bytes: file.size_bytes,
            }),
        }
        previous = Some(file);
    }
    out
}

/// Whether `next` continues `previous`: the same camera, and `|next.start - previous.end|`
/// under the larger of their frame intervals (see [`spans()`]).
pub fn touches(previous: &FileRecord, next: &FileRecord) -> bool {
    let tolerance = previous.frame_interval_ns().max(next.frame_interval_ns());
    previous.camera == next.camera
        && next.start.nanos_since(previous.end).unsigned_abs() < tolerance.unsigned_abs()
}

/// The gaps between consecutive spans (one fewer than the spans).
pub fn gaps(spans: &[Span]) -> Vec<Gap> {
    spans
        .windows(2)
        .map(|pair| Gap {
            start: pair[0].end,
            end: pair[1].start,
        })
        .collect()
}

/// The spans with the gaps between them, in order: span, gap, span, ..., span.
pub fn timeline(spans: &[Span]) -> Vec<Timeline> {
    let mut out = Vec::with_capacity(spans.len() * 2);
    for (i, span) in spans.iter().enumerate() {
        if i > 0 {
            out.push(Timeline::Gap(Gap {
                start: spans[i - 1].end,
                end: span.start,
            }));
        }
        out.push(Timeline::Span(*span));
    }
    out
}

#[cfg(test)]
mod tests;
