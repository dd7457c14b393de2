//! What the server asks of the recorder: its live figures, as plain values. The recorder
//! implements [`Recorder`]; this crate knows nothing else of it.

use std::time::{Duration, SystemTime};

use mp4_export::live::Live;

/// The recorder, as the HTTP API sees it. Every method is called on the server's own
/// runtime and must return promptly (read counters, no I/O beyond a `statvfs`).
pub trait Recorder: Send + Sync + 'static {
    /// Every configured camera's live figures, in the configuration's order.
    fn cameras(&self) -> Vec<CameraLive>;
    /// Size and free space of each file system the recordings go to.
    fn free_space(&self) -> Vec<FreeSpace>;
    /// How far the catalog is behind the finished files.
    fn catalog_lag(&self) -> CatalogLag;
    /// Runs `f` on camera `name`'s live edge (its current file's init and last fragments,
    /// see [`Live`]) and returns true, or returns false when the camera has none. `f`
    /// only marks the edge watched or reads it (a playlist, an init, a segment), under
    /// whatever lock guards it. A recorder without live edges keeps this default.
    fn with_live(&self, name: &str, f: &mut dyn FnMut(&mut Live)) -> bool {
        let _ = (name, f);
        false
    }
}

/// One camera's live figures.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct CameraLive {
    /// The camera's name.
    pub name: String,
    /// `connecting`, `recording`, `waiting`, `disk_full`, `stopped` or `failed`.
    pub state: &'static str,
    /// When it entered that state.
    pub since: Option<SystemTime>,
    /// Video frames per second over the last interval measured.
    pub video_fps: f64,
    /// Media bits per second over the last interval measured.
    pub bit_rate_bps: f64,
    /// The file being written.
    pub file: Option<String>,
    /// Reconnects since the start.
    pub reconnects: u64,
    /// The last error's first line, URLs redacted.
    pub last_error: Option<String>,
    /// Video frames written since the start.
    pub video_frames: u64,
    /// Audio frames written since the start.
    pub audio_frames: u64,
    /// Media bytes written since the start.
    pub bytes: u64,
    /// RTP packets lost since the start.
    pub packets_lost: u64,
}

/// One output file system.
#[derive(Clone, Debug, PartialEq)]
pub struct FreeSpace {
    /// A directory on it (a camera's output directory).
    pub path: String,
    /// Its size.
    pub total_bytes: u64,
    /// Space available to the recorder.
    pub available_bytes: u64,
}

/// The catalog's backlog.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct CatalogLag {
    /// Finished files not yet written to the catalog.
    pub pending_files: u64,
    /// How long the oldest of them has waited.
    pub oldest: Option<Duration>,
}
