//! How a session ended, and what it wrote.

/// How a session ended.
#[derive(Debug)]
pub enum SessionEnd {
    /// The requested duration was recorded.
    Done,
    /// A signal asked to stop.
    Stopped(&'static str),
    /// The session failed.
    Failed(Failure),
}

/// A failed session or connection attempt.
#[derive(Debug)]
pub struct Failure {
    /// What went wrong.
    pub error: anyhow::Error,
    /// Whether reconnecting may help.
    pub retryable: bool,
}

impl Failure {
    /// A failure worth a reconnect.
    pub fn retryable(error: anyhow::Error) -> Self {
        Self {
            error,
            retryable: true,
        }
    }

    /// A failure that reconnecting will not cure.
    pub fn fatal(error: anyhow::Error) -> Self {
        Self {
            error,
            retryable: false,
        }
    }

    /// From the ingest crate's error, classified by
    /// [`is_retryable`](rtsp_ingest::Error::is_retryable).
    pub fn from_source(error: rtsp_ingest::Error, context: String) -> Self {
        let retryable = error.is_retryable();
        Self {
            error: anyhow::Error::new(error).context(context),
            retryable,
        }
    }
}

/// What one session wrote.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct SessionTotals {
    /// Video frames written.
    pub video_frames: u64,
    /// Audio frames written.
    pub audio_frames: u64,
    /// Media length (the longest track's end), in seconds.
    pub duration_s: f64,
    /// Files finished.
    pub files: u64,
    /// Frames dropped because the disk was full.
    pub dropped_no_space: u64,
}

impl SessionTotals {
    /// Adds another session's figures.
    pub fn add(&mut self, other: SessionTotals) {
        self.video_frames += other.video_frames;
        self.audio_frames += other.audio_frames;
        self.duration_s += other.duration_s;
        self.files += other.files;
        self.dropped_no_space += other.dropped_no_space;
    }
}
