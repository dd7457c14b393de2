//! Retention, planned from plain values: which files to delete, and why.
//!
//! Nothing here deletes, reads a clock or touches a database: the caller passes the files
//! (oldest first, by end then start, as [`Catalog::oldest`](crate::Catalog::oldest) returns
//! them) and the time, and gets [`Deletion`]s back, oldest first. The file being written is
//! not in the catalog, so it is never a candidate.
//!
//! The rules, per camera ([`plan`]):
//!
//! 1. **Age** (`retain_for`): a file whose end is before `now - retain_for` goes. This may
//!    be the camera's newest file: a camera silent for longer than `retain_for` keeps
//!    nothing.
//! 2. **Size** (`retain_size`): then, oldest first, files go until the camera's remaining
//!    total is at most `retain_size`, except the camera's **newest file**, which the size
//!    rule never deletes: a budget smaller than one file keeps the latest recording rather
//!    than none. Files deleted by age count toward the budget.
//!
//! Across cameras ([`plan_free`]): when a file system is short of `bytes_needed`, the
//! oldest files of all cameras go first until that many bytes are freed. This is the last
//! line of defense for recording, so it spares no file, not even a camera's newest.

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use crate::record::FileRecord;
use crate::time::WallTime;

/// One camera's retention limits; `None` is no limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Policy {
    /// Delete files whose end is older than this.
    pub retain_for: Option<Duration>,
    /// Keep the camera's files within this many bytes (always keeping its newest file).
    pub retain_size: Option<u64>,
}

/// A file to delete.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Deletion {
    /// The file.
    pub path: PathBuf,
    /// Its camera.
    pub camera: String,
    /// Its size in bytes (what deleting it frees).
    pub size_bytes: u64,
    /// Why it goes.
    pub reason: Reason,
}

/// Why a file is deleted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Reason {
    /// It ended before `cutoff` (`now - retain_for`).
    Age {
        /// When the file ended.
        end: WallTime,
        /// `now - retain_for`.
        cutoff: WallTime,
    },
    /// The camera's files exceed `retain_size`.
    Size {
        /// The camera's total before this plan.
        camera_bytes: u64,
        /// The limit.
        retain_size: u64,
    },
    /// The file system needs this many bytes freed.
    FreeSpace {
        /// Bytes to free, all cameras together.
        bytes_needed: u64,
    },
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Reason::Age { end, cutoff } => {
                write!(f, "older than retain_for: ended {end}, before {cutoff}")
            }
            Reason::Size {
                camera_bytes,
                retain_size,
            } => write!(
                f,
                "over retain_size: camera holds {camera_bytes} bytes, limit {retain_size}"
            ),
            Reason::FreeSpace { bytes_needed } => {
                write!(f, "low free space: {bytes_needed} bytes needed")
            }
        }
    }
}

/// The minimum free space of a file system: a size, or a share of the file system.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum MinFree {
    /// At least this many bytes free.
    Bytes(u64),
    /// At least this percentage (0 to 100) of the file system's size free.
    Percent(f64),
}

impl MinFree {
    /// The minimum in bytes on a file system of `total_bytes`: a percentage is rounded up
    /// and clamped to 0..=100 (NaN counts as 0).
    pub fn bytes(self, total_bytes: u64) -> u64 {
        match self {
            MinFree::Bytes(bytes) => bytes,
            MinFree::Percent(p) => {
                let p = if p.is_nan() { 0.0 } else { p.clamp(0.0, 100.0) };
                // `as` saturates; the product is at most `total_bytes` (plus rounding).
                ((total_bytes as f64 * p / 100.0).ceil() as u64).min(total_bytes)
            }
        }
    }

    /// How many bytes must be freed on a file system of `total_bytes` with `available_bytes`
    /// free: 0 when the minimum is met.
    pub fn bytes_needed(self, total_bytes: u64, available_bytes: u64) -> u64 {
        self.bytes(total_bytes).saturating_sub(available_bytes)
    }
}

/// Applies one camera's [`Policy`] to its files one at a time, oldest first; used by
/// [`plan`] and by [`Catalog::plan_retention`](crate::Catalog::plan_retention), which
/// reads only as many rows as it deletes (plus one).
#[derive(Debug, Clone)]
pub(crate) struct CameraPlanner {
    cutoff: Option<WallTime>,
    retain_size: Option<u64>,
    camera_bytes: u64,
    excess: u64,
}

impl CameraPlanner {
    /// A planner for a camera whose files total `camera_bytes`.
    pub(crate) fn new(policy: Policy, now: WallTime, camera_bytes: u64) -> CameraPlanner {
        let excess = policy
            .retain_size
            .map_or(0, |limit| camera_bytes.saturating_sub(limit));
        CameraPlanner {
            cutoff: policy.retain_for.map(|age| now.saturating_sub(age)),
            retain_size: policy.retain_size,
            camera_bytes,
            excess,
        }
    }

    /// Whether `file`, the next oldest, goes. `None` means it stays, and so does every
    /// later file (both rules only loosen with later ends and a smaller total).
    pub(crate) fn next(&mut self, file: &FileRecord, is_newest: bool) -> Option<Deletion> {
        let reason = match (self.cutoff, self.retain_size) {
            (Some(cutoff), _) if file.end < cutoff => Reason::Age {
                end: file.end,
                cutoff,
            },
            (_, Some(retain_size)) if self.excess > 0 && !is_newest => Reason::Size {
                camera_bytes: self.camera_bytes,
                retain_size,
            },
            _ => return None,
        };
        self.excess = self.excess.saturating_sub(file.size_bytes);
        Some(deletion(file, reason))
    }
}

fn deletion(file: &FileRecord, reason: Reason) -> Deletion {
    Deletion {
        path: file.path.clone(),
        camera: file.camera.clone(),
        size_bytes: file.size_bytes,
        reason,
    }
}

/// The deletions for one camera's [`Policy`] at `now` (see the [module
/// documentation](self)). `files_oldest_first` must be all of the camera's files, oldest
/// first (by end, then start): their sum is the camera's total and the last is its newest.
pub fn plan(files_oldest_first: &[FileRecord], policy: Policy, now: WallTime) -> Vec<Deletion> {
    let total = files_oldest_first
        .iter()
        .fold(0u64, |sum, f| sum.saturating_add(f.size_bytes));
    let mut planner = CameraPlanner::new(policy, now, total);
    let last = files_oldest_first.len().saturating_sub(1);
    files_oldest_first
        .iter()
        .enumerate()
        .map_while(|(i, file)| planner.next(file, i == last))
        .collect()
}

/// The deletions that free `bytes_needed` on a file system: the oldest files first, across
/// cameras, until their sizes add up to at least `bytes_needed` (or the files run out).
/// `files_oldest_first_all_cameras` may be a prefix of the full list: the result is the
/// same as long as it holds enough bytes.
pub fn plan_free(
    files_oldest_first_all_cameras: &[FileRecord],
    bytes_needed: u64,
) -> Vec<Deletion> {
    let mut freed = 0u64;
    files_oldest_first_all_cameras
        .iter()
        .map_while(|file| {
            if freed >= bytes_needed {
                return None;
            }
            freed = freed.saturating_add(file.size_bytes);
            Some(deletion(file, Reason::FreeSpace { bytes_needed }))
        })
        .collect()
}

/// The bytes that `deletions` free.
pub fn freed_bytes(deletions: &[Deletion]) -> u64 {
    deletions
        .iter()
        .fold(0u64, |sum, d| sum.saturating_add(d.size_bytes))
}

#[cfg(test)]
mod tests;
