//! Recent HLS plans and exports, kept briefly: a player's requests for the segments of one
//! playlist do not read every `moov` again (a segment reads only its own file's), and the
//! `Range` requests a browser makes while it plays and seeks one export do not build its
//! `moov` again.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use catalog::FileRecord;
use mp4_export::{Body, hls};

/// How long a plan or an export is kept.
pub const PLAN_TTL: Duration = Duration::from_secs(60);

/// Plans kept at most.
const PLANS: u64 = 16;

/// Bytes of built `moov`s kept at most (two exports of a day of one camera).
const EXPORT_BYTES: u64 = 64 << 20;

/// A range's files and segments.
pub(crate) struct Planned {
    /// The catalog's rows of the files, in the order of `sources`.
    pub records: Vec<FileRecord>,
    /// The segments.
    pub plan: hls::Plan,
}

/// A built export.
pub(crate) struct Built {
    /// Its strong ETag: the files' identities (path, size, modification time) and the
    /// range, so a kept export is used only while its files are unchanged.
    pub etag: String,
    pub body: Arc<Body>,
    pub gaps: Vec<(i64, i64)>,
}

/// A plan's or an export's key: camera, start and end (Unix nanoseconds).
pub(crate) type Key = (String, i64, i64);

/// A kept value: when it was kept, its weight, the value.
type Kept<V> = (Instant, u64, Arc<V>);

/// Recent values, each with a weight; the oldest are forgotten once the weights add up
/// to more than the cap.
pub(crate) struct Recent<V> {
    kept: Mutex<HashMap<Key, Kept<V>>>,
    cap: u64,
}

impl<V> Recent<V> {
    fn new(cap: u64) -> Self {
        Self {
            kept: Mutex::new(HashMap::new()),
            cap,
        }
    }

    /// The value of `key` if it is recent.
    pub fn get(&self, key: &Key) -> Option<Arc<V>> {
        let mut kept = self.kept.lock().unwrap_or_else(PoisonError::into_inner);
        kept.retain(|_, (at, _, _)| at.elapsed() < PLAN_TTL);
        kept.get(key).map(|(_, _, v)| Arc::clone(v))
    }

    /// Keeps `value` of `weight` (nothing when it alone weighs more than the cap),
    /// forgetting the oldest values as needed.
    pub fn insert(&self, key: Key, value: Arc<V>, weight: u64) {
        if weight > self.cap {
            return;
        }
        let mut kept = self.kept.lock().unwrap_or_else(PoisonError::into_inner);
        kept.remove(&key);
        while kept.values().map(|(_, w, _)| w).sum::<u64>() + weight > self.cap {
            let Some(oldest) = kept
                .iter()
                .min_by_key(|(_, (at, _, _))| *at)
                .map(|(k, _)| k.clone())
            else {
                break;
            };
            kept.remove(&oldest);
        }
        kept.insert(key, (Instant::now(), weight, value));
    }
}

/// Recent HLS plans (each weighs 1).
pub(crate) type Plans = Recent<Planned>;

impl Default for Plans {
    fn default() -> Self {
        Self::new(PLANS)
    }
}

/// Recent exports (each weighs its inline bytes, the `moov`).
pub(crate) type Exports = Recent<Built>;

impl Default for Exports {
    fn default() -> Self {
        Self::new(EXPORT_BYTES)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_oldest_go_first_and_heavy_values_are_not_kept() {
        let r: Recent<u32> = Recent::new(10);
        let key = |n: i64| ("cam".to_owned(), n, n + 1);
        r.insert(key(1), Arc::new(1), 4);
        r.insert(key(2), Arc::new(2), 4);
        r.insert(key(3), Arc::new(3), 4); // 12 > 10: the first goes
        assert!(r.get(&key(1)).is_none());
        assert_eq!(r.get(&key(2)).as_deref(), Some(&2));
        assert_eq!(r.get(&key(3)).as_deref(), Some(&3));
        r.insert(key(4), Arc::new(4), 11);
        assert!(r.get(&key(4)).is_none());
        // Replacing a key does not count it twice.
        r.insert(key(3), Arc::new(30), 6);
        assert_eq!(r.get(&key(2)).as_deref(), Some(&2));
        assert_eq!(r.get(&key(3)).as_deref(), Some(&30));
    }
}
