//! What one camera is recorded with, in domain types only: the `options` layer builds it
//! from the command line or the config file (and their defaults); this layer and those
//! below never see how it was spelled.

use std::num::NonZeroU32;
use std::path::PathBuf;
use std::time::Duration;

use rtsp_ingest::{
    Credentials, InitialTimestampPolicy, LossPolicy, SourceOptions, TeardownPolicy, Transport,
};

use crate::output::format::{OutputFormat, SyncPolicy};

/// Everything needed to record one camera.
#[derive(Clone, Debug)]
pub struct CameraConfig {
    /// Its name (`recorder run`), shown in its log lines.
    pub name: Option<String>,
    /// The RTSP URL (may hold credentials; shown redacted).
    pub url: String,
    /// Credentials resolved from the flags, files, environment and URL.
    pub credentials: Option<Credentials>,
    /// Output file name or template.
    pub output: PathBuf,
    /// Render templates in UTC.
    pub utc: bool,
    /// Segment length (`None`: one file per session, bounded by the two below).
    pub segment_duration: Option<Duration>,
    /// No file grows longer: a new one starts at the next keyframe.
    pub max_file_duration: Option<Duration>,
    /// No file grows larger (bytes): a new one starts at the next keyframe.
    pub max_file_bytes: Option<u64>,
    /// Finished files' format.
    pub format: OutputFormat,
    /// Fragment length.
    pub fragment_duration: Duration,
    /// When to fsync.
    pub sync: SyncPolicy,
    /// RTP transport.
    pub transport: Transport,
    /// Record video.
    pub video: bool,
    /// Record audio.
    pub audio: bool,
    /// What to do with the video after lost packets.
    pub on_loss: LossPolicy,
    /// How PCMU, PCMA and L16 audio is stored.
    pub audio_format: audio_pcm::Storage,
    /// Where each stream's zero time comes from.
    pub initial_timestamp: InitialTimestampPolicy,
    /// When to send `TEARDOWN`.
    pub teardown: TeardownPolicy,
    /// No media for this long fails the session.
    pub stall_timeout: Duration,
    /// A larger forward (or backward past the reorder tolerance) RTP timestamp jump is a
    /// discontinuity (a new file at the next keyframe); zero: never.
    pub max_timestamp_jump: Duration,
    /// Consecutive failed reconnects before giving up (`None`: never give up).
    pub max_retries: Option<u32>,
    /// Retention: delete files whose end is older than this.
    pub retain_for: Option<Duration>,
    /// Retention: keep the camera's files within this many bytes.
    pub retain_size: Option<u64>,
}

impl CameraConfig {
    /// The ingest options for this camera.
    pub fn source_options(&self) -> SourceOptions {
        let mut options = SourceOptions::new(self.url.clone())
            .with_transport(self.transport)
            .with_initial_timestamp(self.initial_timestamp)
            .with_teardown(self.teardown)
            .with_video(self.video)
            .with_audio(self.audio)
            .with_loss_policy(self.on_loss)
            .with_max_timestamp_jump_secs(
                u32::try_from(self.max_timestamp_jump.as_secs())
                    .ok()
                    .and_then(NonZeroU32::new),
            );
        if let Some(c) = &self.credentials {
            options = options.with_credentials(c.username(), c.password());
        }
        options
    }
}
