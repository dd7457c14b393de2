//! What can go wrong writing an output file, and what is then kept of it.

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};

use crate::output::format::Written;

/// Linux `ENOSPC`: no space left on device.
pub const ENOSPC: i32 = 28;
/// Linux `EDQUOT`: disk quota exceeded.
pub const EDQUOT: i32 = 122;

/// What sort of trouble an output file ran into.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WriteErrorKind {
    /// No space left on the device, or the disk quota is used up (`ENOSPC`, `EDQUOT`).
    DiskFull,
    /// Permission denied, or a read-only file system: the output cannot be written at all.
    Unwritable,
    /// Any other I/O error (`EIO`, ...).
    Io,
}

impl WriteErrorKind {
    /// Classifies an I/O error.
    pub fn of(e: &io::Error) -> Self {
        match e.raw_os_error() {
            Some(ENOSPC | EDQUOT) => Self::DiskFull,
            _ => match e.kind() {
                io::ErrorKind::StorageFull | io::ErrorKind::QuotaExceeded => Self::DiskFull,
                io::ErrorKind::PermissionDenied | io::ErrorKind::ReadOnlyFilesystem => {
                    Self::Unwritable
                }
                _ => Self::Io,
            },
        }
    }
}

/// What the writer was doing when an I/O error struck.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WriteAction {
    /// Creating the file or its directory.
    Create,
    /// Writing a fragment (or the file's first bytes).
    Write,
    /// Syncing the file to disk.
    Sync,
    /// Finalizing or renaming the file.
    Finalize,
    /// Checking at start that the output directory can be written to.
    Probe,
}

impl WriteAction {
    /// The verb for error messages: `create`, `write`, ...
    pub fn verb(self) -> &'static str {
        match self {
            Self::Create => "create",
            Self::Write => "write",
            Self::Sync => "sync",
            Self::Finalize => "finalize",
            Self::Probe => "write to output directory",
        }
    }

    fn gerund(self) -> &'static str {
        match self {
            Self::Create => "creating",
            Self::Write => "writing",
            Self::Sync => "syncing",
            Self::Finalize => "finalizing",
            Self::Probe => "in output directory",
        }
    }
}

/// What an output file still holds after a [`WriteError`].
#[derive(Clone, Debug, PartialEq)]
pub struct Kept {
    /// The file as it was left: its path, length and contents.
    pub written: Written,
    /// True when it was finalized (and renamed to its final name); false when it is the
    /// fragmented `.partial`, which plays as it is and which `recorder repair` finishes.
    pub finalized: bool,
}

/// An output file could not be written: the disk is full, an I/O error, or the output
/// directory is not writable. Says what was kept of the file.
#[derive(Clone, Debug)]
pub struct WriteError {
    /// What went wrong.
    pub kind: WriteErrorKind,
    /// What was being done.
    pub action: WriteAction,
    /// The file (or directory) concerned.
    pub path: PathBuf,
    /// The I/O error's description.
    pub cause: String,
    /// What the file still holds: `None` when nothing was kept (no fragment had been
    /// written, or the error was not about a file's contents).
    pub kept: Option<Kept>,
}

impl WriteError {
    /// An error from `e` while doing `action` on `path`; nothing kept (yet).
    pub fn new(action: WriteAction, path: &Path, e: &io::Error) -> Self {
        Self {
            kind: WriteErrorKind::of(e),
            action,
            path: path.to_owned(),
            cause: e.to_string(),
            kept: None,
        }
    }

    /// True when the device is full (or the quota used up): retrying may work once space
    /// is freed.
    pub fn is_disk_full(&self) -> bool {
        self.kind == WriteErrorKind::DiskFull
    }

    /// The first [`WriteError`] in an error chain.
    pub fn find(e: &anyhow::Error) -> Option<&WriteError> {
        e.chain().find_map(|c| c.downcast_ref::<WriteError>())
    }
}

impl fmt::Display for WriteError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.kind {
            WriteErrorKind::DiskFull => write!(
                f,
                "disk full {} {}",
                self.action.gerund(),
                self.path.display()
            )?,
            _ => write!(
                f,
                "cannot {} {}: {}",
                self.action.verb(),
                self.path.display(),
                self.cause
            )?,
        }
        let sep = if self.is_disk_full() { ": " } else { "; " };
        match &self.kept {
            Some(k) if k.finalized => write!(
                f,
                "{sep}kept {:.1} s in {}",
                k.written.stats.duration_s,
                k.written.path.display()
            ),
            Some(k) if k.written.path == self.path => write!(
                f,
                "{sep}kept {:.1} s (fragmented, repairable with recorder repair)",
                k.written.stats.duration_s
            ),
            Some(k) => write!(
                f,
                "{sep}kept {:.1} s in {} (fragmented, repairable with recorder repair)",
                k.written.stats.duration_s,
                k.written.path.display()
            ),
            None => Ok(()),
        }
    }
}

impl std::error::Error for WriteError {}
