//! The live edge: the current file's init and fragments handed to the camera's
//! [`Live`] ring (kept only while someone watches), for an HLS live playlist.

use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use mp4_export::live::{Live, LiveFragment};
use mp4_track::Fragment;

use crate::session::router::FileId;

/// Fragments a live playlist keeps: with 1 s fragments, the last 6 seconds.
const KEPT_FRAGMENTS: usize = 6;

/// One camera's live edge, shared with whoever serves it.
#[derive(Debug)]
pub struct LiveEdge(Mutex<Live>);

impl Default for LiveEdge {
    fn default() -> Self {
        Self(Mutex::new(Live::new(KEPT_FRAGMENTS)))
    }
}

impl LiveEdge {
    /// The ring, to read a playlist, an init or a segment, or to mark it watched.
    pub fn lock(&self) -> MutexGuard<'_, Live> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Which file of a session feeds the live edge: the newest one. Fragments of a file
/// that is finishing (audio up to the switch) after the next one opened are left out.
#[derive(Debug, Default)]
pub struct LiveFeed {
    file: Option<FileId>,
}

impl LiveFeed {
    /// `file` opened with `init` (what the muxer wrote first) at `start_wall`.
    pub fn opened(&mut self, edge: &LiveEdge, file: FileId, init: &[u8], start_wall: SystemTime) {
        match edge.lock().open(init, unix_ns(start_wall)) {
            Ok(()) => self.file = Some(file),
            Err(e) => {
                tracing::debug!("live edge: {e}");
                self.file = None;
            }
        }
    }

    /// A fragment of `file`, lasting `length`, was handed to its writer.
    pub fn written(&self, edge: &LiveEdge, file: FileId, fragment: &Fragment, length: Duration) {
        if self.file != Some(file) {
            return;
        }
        let now = unix_ns(SystemTime::now());
        let mut live = edge.lock();
        let data = if live.is_watched(now) {
            std::iter::once(fragment.header.clone())
                .chain(fragment.data.iter().cloned())
                .collect()
        } else {
            Vec::<Bytes>::new()
        };
        live.push(
            LiveFragment {
                data,
                duration_ns: u64::try_from(length.as_nanos()).unwrap_or(u64::MAX),
            },
            now,
        );
    }

    /// `file` is finishing.
    pub fn closed(&mut self, edge: &LiveEdge, file: FileId) {
        if self.file == Some(file) {
            self.file = None;
            edge.lock().close();
        }
    }
}

/// Unix nanoseconds of `t` (0 before 1970, the maximum past 2262).
pub fn unix_ns(t: SystemTime) -> i64 {
    t.duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX))
}
