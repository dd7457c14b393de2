//! Records for the unit tests.

use crate::record::{EndReason, FileRecord, VideoTrack};
use crate::time::WallTime;

/// Nanoseconds per second.
pub const S: i64 = 1_000_000_000;

/// A 25 fps video file of `camera` from `start_ns` to `end_ns` (40 ms frames).
pub fn file(camera: &str, start_ns: i64, end_ns: i64, size_bytes: u64) -> FileRecord {
    let media_duration_ms = u64::try_from((end_ns - start_ns) / 1_000_000).unwrap_or(0);
    FileRecord {
        camera: camera.to_owned(),
        path: format!("{camera}/{start_ns}.mp4").into(),
        start: WallTime(start_ns),
        end: WallTime(end_ns),
        media_duration_ms,
        size_bytes,
        video: Some(VideoTrack {
            codec: "avc1.640028".to_owned(),
            width: 1920,
            height: 1080,
            samples: media_duration_ms / 40,
        }),
        audio: None,
        end_reason: EndReason::Continued,
    }
}
