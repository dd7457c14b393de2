//! Recent HLS plans: a range's files and its segments, kept briefly so that a player's
//! requests for the segments of one playlist do not read every `moov` again (a segment
//! reads only its own file's).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use catalog::FileRecord;
use mp4_export::hls;

/// How long a plan is kept.
pub const PLAN_TTL: Duration = Duration::from_secs(60);

/// Plans kept at most.
const PLANS: usize = 16;

/// A range's files and segments.
pub(crate) struct Planned {
    /// The catalog's rows of the files, in the order of `sources`.
    pub records: Vec<FileRecord>,
    /// The segments.
    pub plan: hls::Plan,
}

/// A plan's key: camera, start and end (Unix nanoseconds).
pub(crate) type Key = (String, i64, i64);

/// Recent plans.
#[derive(Default)]
pub(crate) struct Plans(Mutex<HashMap<Key, (Instant, Arc<Planned>)>>);

impl Plans {
    /// The plan of `key` if it is recent.
    pub fn get(&self, key: &Key) -> Option<Arc<Planned>> {
        let mut plans = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        plans.retain(|_, (at, _)| at.elapsed() < PLAN_TTL);
        plans.get(key).map(|(_, p)| Arc::clone(p))
    }

    /// Keeps `plan` (forgetting every other when full).
    pub fn insert(&self, key: Key, plan: Arc<Planned>) {
        let mut plans = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        if plans.len() >= PLANS {
            plans.clear();
        }
        plans.insert(key, (Instant::now(), plan));
    }
}
