//! Free space on the output's file system, and the hook through which a writer that ran
//! out of it asks for space to be reclaimed (retention, in `recorder run`).

use std::fmt;
use std::io;
use std::path::Path;
use std::sync::Arc;

/// The size and free space (for unprivileged users) of the file system holding `dir`,
/// in bytes.
pub fn space(dir: &Path) -> io::Result<(u64, u64)> {
    let dir = if dir.as_os_str().is_empty() {
        Path::new(".")
    } else {
        dir
    };
    let s = rustix::fs::statvfs(dir)?;
    Ok((
        s.f_blocks.saturating_mul(s.f_frsize),
        s.f_bavail.saturating_mul(s.f_frsize),
    ))
}

/// The free space of the file system that holds `path` or, when `path` does not exist
/// yet (a template's directory not made yet), its nearest existing ancestor.
pub fn available_for(path: &Path) -> io::Result<u64> {
    let mut dir = path;
    loop {
        if dir.as_os_str().is_empty() || dir.exists() {
            return space(dir).map(|(_, available)| available);
        }
        dir = dir.parent().unwrap_or(Path::new(""));
    }
}

/// Frees space on demand: called by a writer thread when a write fails because the
/// disk is full, before it gives up on its file.
pub trait Reclaim: Send + Sync {
    /// Tries to free at least `bytes` bytes on the file system holding `dir` (by
    /// deleting old recordings, say); returns how many bytes it freed. Never deletes a
    /// file that is being written.
    fn reclaim(&self, dir: &Path, bytes: u64) -> u64;
}

/// A shared [`Reclaim`] hook, as the writers get it.
#[derive(Clone)]
pub struct Reclaimer(pub Arc<dyn Reclaim>);

impl fmt::Debug for Reclaimer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Reclaimer")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_directory_is_measured_at_its_nearest_ancestor() {
        let tmp = std::env::temp_dir();
        let (_, here) = space(&tmp).unwrap();
        let missing = tmp.join("recorder-space-test-missing/a/b");
        let there = available_for(&missing).unwrap();
        // The same file system, read twice: within a few MB of each other.
        assert!(here.abs_diff(there) < 64 << 20, "{here} vs {there}");
        assert!(space(Path::new("/nonexistent-recorder-dir")).is_err());
    }
}
