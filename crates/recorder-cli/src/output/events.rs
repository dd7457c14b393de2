//! File events: every file opened, finished or failed is announced as a value, as it
//! happens, on a broadcast channel that any part of the program can subscribe to (the
//! status display does; the catalog, retention, metrics and HTTP layers are meant to).
//!
//! The writer threads publish them (a broadcast send never blocks; a subscriber that
//! falls behind by more than the channel's capacity loses the oldest events and is told
//! how many). Nobody reaches into a writer to learn about its file.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::SystemTime;

use tokio::sync::broadcast;

/// Events kept for a subscriber that has not read them yet.
const CAPACITY: usize = 1024;

/// Why a file ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EndReason {
    /// A planned switch: the segment duration was reached. The next file continues it
    /// without a gap.
    Switch,
    /// The stream's parameters changed (a new sample entry); the next file continues it
    /// without a gap.
    NewParameters,
    /// The stream's timestamps jumped (a discontinuity past `--max-timestamp-jump`); the
    /// next file continues it in the same session, without a gap in arrival time.
    TimestampJump,
    /// The recording ended as asked: the requested duration, or a signal.
    Stopped,
    /// The session ended (connection lost, stall, media error): a gap follows.
    SessionEnded,
    /// The output's disk filled up: frames are dropped until there is space again, then
    /// the recording goes on in a new file; a gap follows.
    DiskFull,
    /// The disk stalled: a fragment could not be queued to the file's writer, so the file
    /// ends at its last queued fragment and the recording goes on in a new file at the
    /// next keyframe; a gap follows.
    DiskStall,
}

impl EndReason {
    /// True when the next file of the camera does not continue this one without a gap.
    pub fn is_gap(self) -> bool {
        matches!(
            self,
            Self::Stopped | Self::SessionEnded | Self::DiskFull | Self::DiskStall
        )
    }
}

/// One track of a file, as described when the file was opened.
#[derive(Clone, Debug, PartialEq)]
pub struct TrackSummary {
    /// RFC 6381 codec string (`avc1.64001F`, `mp4a.40.2`), or the codec's name.
    pub codec: String,
    /// Video: display width and height in pixels.
    pub dimensions: Option<(u32, u32)>,
    /// Samples written.
    pub samples: u64,
    /// Media time of its first sample's presentation, in seconds from the file's start
    /// (the edit list's offset: 0 for the track that starts the file).
    pub start_s: f64,
    /// Where its media ends, in seconds from the file's start.
    pub end_s: f64,
}

/// What a file holds, as the session that wrote it knows it.
#[derive(Clone, Debug, PartialEq)]
pub struct FileSummary {
    /// Wall-clock time at which the file's first sample arrived.
    pub start_wall: SystemTime,
    /// The video track.
    pub video: Option<TrackSummary>,
    /// The audio track.
    pub audio: Option<TrackSummary>,
    /// Why the file ended.
    pub end: EndReason,
    /// Wall-clock end when the next file continued it (that file's start); else the start
    /// plus the media duration (see [`FileSummary::end_wall`]).
    pub wall_end: Option<SystemTime>,
}

impl FileSummary {
    /// Media duration: the longest track's end, in seconds.
    pub fn duration_s(&self) -> f64 {
        self.tracks().map(|t| t.end_s).fold(0.0, f64::max)
    }

    /// Wall-clock end: the next file's start when it continues this one (so that the
    /// files of a span touch exactly), else the start plus the media duration.
    pub fn end_wall(&self) -> SystemTime {
        self.wall_end.unwrap_or_else(|| {
            self.start_wall + std::time::Duration::from_secs_f64(self.duration_s().max(0.0))
        })
    }

    /// The tracks present.
    pub fn tracks(&self) -> impl Iterator<Item = &TrackSummary> {
        self.video.iter().chain(self.audio.iter())
    }
}

/// A finished file.
#[derive(Clone, Debug, PartialEq)]
pub struct FinishedFile {
    /// The camera's name.
    pub camera: Arc<str>,
    /// Its final path.
    pub path: PathBuf,
    /// Its length in bytes.
    pub len_bytes: u64,
    /// Video samples it holds.
    pub video_frames: u64,
    /// Audio samples it holds.
    pub audio_frames: u64,
    /// Media duration, in seconds.
    pub duration_s: f64,
    /// What the session knew of it (codecs, dimensions, wall-clock start, why it
    /// ended); `None` for a file cut back after a write error, of which only the figures
    /// above, read back from the file, are known.
    pub summary: Option<FileSummary>,
}

/// Something that happened to a file.
#[derive(Clone, Debug, PartialEq)]
pub enum FileEvent {
    /// A file was created (as `NAME.partial`; `path` is the name it will have).
    Opened {
        /// The camera's name.
        camera: Arc<str>,
        /// The name the file will have when finished.
        path: PathBuf,
        /// Wall-clock time of its first sample.
        start_wall: SystemTime,
    },
    /// A file was finished: finalized and renamed into place.
    Finished(FinishedFile),
    /// A file could not be written or finished.
    Failed {
        /// The camera's name.
        camera: Arc<str>,
        /// The file's name (or `.partial` name) when it had one.
        path: Option<PathBuf>,
        /// What went wrong, on one line, URLs redacted.
        error: String,
        /// What was kept of it (cut back to its last complete fragment), if anything.
        kept: Option<FinishedFile>,
    },
}

impl FileEvent {
    /// The camera the file belongs to.
    pub fn camera(&self) -> &str {
        match self {
            Self::Opened { camera, .. } | Self::Failed { camera, .. } => camera,
            Self::Finished(f) => &f.camera,
        }
    }
}

/// The publishing side of the file events; cheap to clone.
#[derive(Clone, Debug)]
pub struct FileEvents {
    tx: broadcast::Sender<FileEvent>,
}

impl Default for FileEvents {
    fn default() -> Self {
        Self::new()
    }
}

impl FileEvents {
    /// A channel with no subscriber yet.
    pub fn new() -> Self {
        Self {
            tx: broadcast::channel(CAPACITY).0,
        }
    }

    /// Receives every event published from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<FileEvent> {
        self.tx.subscribe()
    }

    /// Announces an event; never blocks (without subscribers it is dropped).
    pub fn publish(&self, event: FileEvent) {
        tracing::trace!(?event, "file event");
        let _ = self.tx.send(event);
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn track(end_s: f64) -> TrackSummary {
        TrackSummary {
            codec: "avc1.64001F".to_owned(),
            dimensions: Some((640, 360)),
            samples: 30,
            start_s: 0.0,
            end_s,
        }
    }

    #[test]
    fn summary_duration_and_wall_end() {
        let start = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        let s = FileSummary {
            start_wall: start,
            video: Some(track(10.0)),
            audio: Some(TrackSummary {
                end_s: 10.02,
                ..track(0.0)
            }),
            end: EndReason::Switch,
            wall_end: None,
        };
        assert!((s.duration_s() - 10.02).abs() < 1e-9);
        assert_eq!(s.end_wall(), start + Duration::from_millis(10_020));
        assert!(!s.end.is_gap());
        assert!(EndReason::SessionEnded.is_gap());
    }

    #[tokio::test]
    async fn subscribers_receive_events_in_order() {
        let events = FileEvents::new();
        let mut a = events.subscribe();
        events.publish(FileEvent::Opened {
            camera: "cam".into(),
            path: "x.mp4".into(),
            start_wall: SystemTime::UNIX_EPOCH,
        });
        events.publish(FileEvent::Failed {
            camera: "cam".into(),
            path: None,
            error: "disk full".to_owned(),
            kept: None,
        });
        let first = a.recv().await.unwrap();
        assert!(
            matches!(&first, FileEvent::Opened { path, .. } if path == &PathBuf::from("x.mp4"))
        );
        assert_eq!(first.camera(), "cam");
        assert!(
            matches!(a.recv().await.unwrap(), FileEvent::Failed { error, .. } if error == "disk full")
        );
    }
}
