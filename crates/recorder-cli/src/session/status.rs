//! A camera's live figures: a shared board that the camera and session layers update and
//! the status display (`ui::status`) reads.
//!
//! Each camera owns a [`CameraStatus`] on a [`StatusBoard`]. Per-frame updates are
//! relaxed atomic additions (no lock, no allocation); the state, the current file and
//! the last error change at most once per session or file and sit behind a mutex.

use crate::session::live::LiveEdge;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, PoisonError};
use std::time::{Duration, Instant};

use crate::output::events::FileEvent;
use crate::output::file::FragmentTimers;

/// What a camera is doing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum State {
    /// Connecting (or reconnecting), until the first keyframe.
    Connecting,
    /// Recording a session.
    Recording,
    /// Waiting this long before reconnecting.
    Waiting(Duration),
    /// The session is up but the output's disk is full: frames are dropped.
    NoSpace,
    /// Ended normally (the duration, a signal).
    Stopped,
    /// Ended with an error.
    Failed,
}

impl State {
    /// Its name, `in_state` after entering it.
    pub fn label(self, in_state: Duration) -> String {
        match self {
            Self::Connecting => "connecting".to_owned(),
            Self::Recording => "recording".to_owned(),
            Self::Waiting(d) => format!(
                "retry in {:.0}s",
                d.saturating_sub(in_state).as_secs_f64().ceil()
            ),
            Self::NoSpace => "disk full".to_owned(),
            Self::Stopped => "stopped".to_owned(),
            Self::Failed => "failed".to_owned(),
        }
    }
}

/// The parts that change rarely.
#[derive(Debug)]
struct Slow {
    state: State,
    since: Instant,
    file: Option<PathBuf>,
    last_error: Option<String>,
}

/// One camera's live figures.
#[derive(Debug)]
pub struct CameraStatus {
    name: String,
    video_frames: AtomicU64,
    audio_frames: AtomicU64,
    bytes: AtomicU64,
    reconnects: AtomicU32,
    dropped_no_space: AtomicU64,
    dropped_fragments: AtomicU64,
    /// RTP packets lost in the sessions that ended, and in the current one.
    lost_before: AtomicU64,
    lost_session: AtomicU64,
    timers: OnceLock<FragmentTimers>,
    slow: Mutex<Slow>,
    live: LiveEdge,
}

impl CameraStatus {
    /// A camera called `name`, connecting since now.
    pub fn new(name: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            video_frames: AtomicU64::new(0),
            audio_frames: AtomicU64::new(0),
            bytes: AtomicU64::new(0),
            reconnects: AtomicU32::new(0),
            dropped_no_space: AtomicU64::new(0),
            dropped_fragments: AtomicU64::new(0),
            live: LiveEdge::default(),
            lost_before: AtomicU64::new(0),
            lost_session: AtomicU64::new(0),
            timers: OnceLock::new(),
            slow: Mutex::new(Slow {
                state: State::Connecting,
                since: Instant::now(),
                file: None,
                last_error: None,
            }),
        }
    }

    /// The camera's live edge (the current file's last fragments, while watched).
    pub fn live(&self) -> &LiveEdge {
        &self.live
    }

    fn slow(&self) -> MutexGuard<'_, Slow> {
        self.slow.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Enters `state` (its time counts from now).
    pub fn set_state(&self, state: State) {
        let mut slow = self.slow();
        slow.state = state;
        slow.since = Instant::now();
        if state != State::Recording {
            slow.file = None;
        }
    }

    /// The camera's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Counts written frames and their media bytes.
    pub fn add_frames(&self, video: u64, audio: u64, bytes: u64) {
        self.video_frames.fetch_add(video, Ordering::Relaxed);
        self.audio_frames.fetch_add(audio, Ordering::Relaxed);
        self.bytes.fetch_add(bytes, Ordering::Relaxed);
    }

    /// Counts frames dropped because the disk was full.
    pub fn add_dropped_no_space(&self, frames: u64) {
        if frames > 0 {
            self.dropped_no_space.fetch_add(frames, Ordering::Relaxed);
        }
    }

    /// Counts a reconnect.
    pub fn add_reconnect(&self) {
        self.reconnects.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts a fragment dropped because its writer's queue was full (the disk stalls).
    pub fn add_dropped_fragment(&self) {
        self.dropped_fragments.fetch_add(1, Ordering::Relaxed);
    }

    /// The RTP packets the current session has lost so far.
    pub fn set_session_lost(&self, packets: u64) {
        self.lost_session.store(packets, Ordering::Relaxed);
    }

    /// The session ended having lost `packets` RTP packets in all.
    pub fn end_session_lost(&self, packets: u64) {
        self.lost_before.fetch_add(packets, Ordering::Relaxed);
        self.lost_session.store(0, Ordering::Relaxed);
    }

    /// Gives the camera's files latency histograms (once; later calls are ignored).
    pub fn set_timers(&self, timers: FragmentTimers) {
        let _ = self.timers.set(timers);
    }

    /// The latency histograms its files report to, if any.
    pub fn timers(&self) -> Option<FragmentTimers> {
        self.timers.get().cloned()
    }

    /// The file now being written.
    pub fn set_file(&self, path: &Path) {
        let mut slow = self.slow();
        // The writer's thread reports the name once it created the file; a session that
        // already ended keeps no file.
        if slow.state == State::Recording {
            slow.file = Some(path.to_owned());
        }
    }

    /// Remembers the last error (its first line).
    pub fn set_error(&self, error: &anyhow::Error) {
        let text = format!("{error:#}");
        self.slow().last_error = Some(text.lines().next().unwrap_or_default().to_owned());
    }

    /// The figures now.
    pub fn snapshot(&self, now: Instant) -> Snapshot {
        let slow = self.slow();
        Snapshot {
            name: self.name.clone(),
            state: slow.state,
            in_state: now.saturating_duration_since(slow.since),
            video_frames: self.video_frames.load(Ordering::Relaxed),
            audio_frames: self.audio_frames.load(Ordering::Relaxed),
            bytes: self.bytes.load(Ordering::Relaxed),
            reconnects: self.reconnects.load(Ordering::Relaxed),
            dropped_no_space: self.dropped_no_space.load(Ordering::Relaxed),
            dropped_fragments: self.dropped_fragments.load(Ordering::Relaxed),
            packets_lost: self.lost_before.load(Ordering::Relaxed)
                + self.lost_session.load(Ordering::Relaxed),
            file: slow.file.clone(),
            last_error: slow.last_error.clone(),
        }
    }
}

/// Every camera's status, in the configuration's order.
#[derive(Debug, Default)]
pub struct StatusBoard {
    cameras: Vec<Arc<CameraStatus>>,
}

impl StatusBoard {
    /// A board with one entry per name.
    pub fn new<S: Into<String>>(names: impl IntoIterator<Item = S>) -> Arc<Self> {
        Arc::new(Self {
            cameras: names
                .into_iter()
                .map(|n| Arc::new(CameraStatus::new(n)))
                .collect(),
        })
    }

    /// The `i`th camera's status.
    pub fn camera(&self, i: usize) -> Arc<CameraStatus> {
        Arc::clone(&self.cameras[i])
    }

    /// The status of the camera called `name`, if one is.
    pub fn by_name(&self, name: &str) -> Option<Arc<CameraStatus>> {
        self.cameras.iter().find(|c| c.name() == name).cloned()
    }

    /// Follows a file event: a camera's new file becomes its current file.
    pub fn apply(&self, event: &FileEvent) {
        let Some(camera) = self.cameras.iter().find(|c| c.name() == event.camera()) else {
            return;
        };
        match event {
            FileEvent::Opened { path, .. } => camera.set_file(path),
            FileEvent::Finished(f) => {
                if let Some(s) = &f.summary {
                    let end = if s.end.is_gap() {
                        "a gap follows"
                    } else {
                        "continued"
                    };
                    tracing::debug!(
                        "{}: {} covers {} to {} ({end})",
                        camera.name(),
                        f.path.display(),
                        jiff::Timestamp::try_from(s.start_wall).unwrap_or_default(),
                        jiff::Timestamp::try_from(s.end_wall()).unwrap_or_default(),
                    );
                }
            }
            FileEvent::Failed { .. } => {}
        }
    }

    /// Every camera's figures now.
    pub fn snapshot(&self, now: Instant) -> Vec<Snapshot> {
        self.cameras.iter().map(|c| c.snapshot(now)).collect()
    }
}

/// One camera's figures at one instant.
#[derive(Clone, Debug, PartialEq)]
pub struct Snapshot {
    /// The camera's name.
    pub name: String,
    /// Its state.
    pub state: State,
    /// How long it has been in that state.
    pub in_state: Duration,
    /// Video frames written since the start.
    pub video_frames: u64,
    /// Audio frames written since the start.
    pub audio_frames: u64,
    /// Media bytes written since the start.
    pub bytes: u64,
    /// Reconnects since the start.
    pub reconnects: u32,
    /// Frames dropped since the start because the disk was full.
    pub dropped_no_space: u64,
    /// Fragments dropped since the start because the disk stalled.
    pub dropped_fragments: u64,
    /// RTP packets lost since the start.
    pub packets_lost: u64,
    /// The file being written.
    pub file: Option<PathBuf>,
    /// The last error's first line.
    pub last_error: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_and_state() {
        let board = StatusBoard::new(["a", "b"]);
        let a = board.camera(0);
        a.add_frames(2, 0, 1500);
        a.add_frames(0, 1, 20);
        a.add_reconnect();
        a.add_dropped_no_space(7);
        a.add_dropped_fragment();
        a.set_session_lost(4);
        a.end_session_lost(5);
        a.set_session_lost(2);
        a.set_state(State::Recording);
        a.set_file(Path::new("x.mp4"));
        a.set_error(&anyhow::anyhow!("line one\nline two").context("outer"));
        let snaps = board.snapshot(Instant::now());
        assert_eq!(snaps.len(), 2);
        let s = &snaps[0];
        assert_eq!(
            (s.video_frames, s.audio_frames, s.bytes, s.reconnects),
            (2, 1, 1520, 1)
        );
        assert_eq!(s.dropped_no_space, 7);
        assert_eq!(s.dropped_fragments, 1);
        assert_eq!(
            s.packets_lost, 7,
            "5 in the first session, 2 so far in this one"
        );
        assert_eq!(s.file.as_deref(), Some(Path::new("x.mp4")));
        assert_eq!(s.last_error.as_deref(), Some("outer: line one"));
        assert_eq!(snaps[1].name, "b");
        assert_eq!(snaps[1].state, State::Connecting);
        // Leaving the recording state forgets the file.
        a.set_state(State::Stopped);
        assert_eq!(board.snapshot(Instant::now())[0].file, None);
    }
}
