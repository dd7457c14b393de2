//! Records for the integration tests.

#![allow(dead_code)]

use catalog::{AudioTrack, EndReason, FileRecord, VideoTrack, WallTime};

/// Nanoseconds per second.
pub const S: i64 = 1_000_000_000;

/// A 25 fps video + AAC file of `camera` from `start_s` to `end_s` seconds.
pub fn file(camera: &str, start_s: i64, end_s: i64, size_bytes: u64) -> FileRecord {
    let media_duration_ms = ((end_s - start_s) * 1000) as u64;
    FileRecord {
        camera: camera.to_owned(),
        path: format!("{camera}/{start_s}.mp4").into(),
        start: WallTime(start_s * S),
        end: WallTime(end_s * S),
        media_duration_ms,
        size_bytes,
        video: Some(VideoTrack {
            codec: "avc1.640028".to_owned(),
            width: 1920,
            height: 1080,
            samples: media_duration_ms / 40,
        }),
        audio: Some(AudioTrack {
            codec: "mp4a.40.2".to_owned(),
            samples: media_duration_ms * 48 / 1024,
        }),
        end_reason: EndReason::Continued,
    }
}
