//! `recorder repair`: finishes a recording left by a crash, in place.
//!
//! The fragmented file is read with [`mp4_track::Recovery`] through positioned reads (box
//! headers, the `moov`/`moof` payloads, and each fragment's sample data, which is checked
//! before the fragment is kept); its plan (truncate a torn tail or the fragments from the
//! first damaged one on, then the same finalization as a clean close) is applied to the same file
//! with [`apply_finalize`], and a `FILE.partial` is then renamed to `FILE` without ever
//! replacing an existing file.

use std::fmt;
use std::fs::{File, OpenOptions};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use mp4_track::{Damage, Recovered, Recovery};

use crate::output::finalize_io::apply_finalize;
use crate::output::partial::{has_partial_suffix, rename_partial};

/// What [`repair_file`] did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RepairReport {
    /// Where the file is now (renamed without `.partial` if it had that suffix).
    pub path: PathBuf,
    /// True when the file was already progressive: its bytes were left unchanged.
    pub already_progressive: bool,
    /// Complete fragments kept (0 for an already progressive file).
    pub fragments: u32,
    /// Samples per track, in track order.
    pub sample_counts: Vec<u32>,
    /// Handler type per track (`vide`, `soun`, ...), in track order.
    pub handlers: Vec<String>,
    /// Bytes cut off the end: a torn last fragment, or the `moov` an interrupted
    /// finalization had appended.
    pub dropped_bytes: u64,
    /// True when the `moov` is before the media data.
    pub moov_at_front: bool,
    /// True when a finalization had been interrupted and was completed.
    pub finalize_was_interrupted: bool,
    /// Damaged sample data (what a power cut leaves): the fragments from the one holding
    /// it on were dropped.
    pub damage: Option<Damage>,
    /// Bytes of sample data checked.
    pub checked_bytes: u64,
    /// The file's length afterwards.
    pub file_len_bytes: u64,
}

impl fmt::Display for RepairReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let tracks = self
            .sample_counts
            .iter()
            .zip(&self.handlers)
            .enumerate()
            .map(|(i, (n, h))| format!("track {} ({h}): {n} samples", i + 1))
            .collect::<Vec<_>>()
            .join(", ");
        if self.already_progressive {
            write!(
                f,
                "{} is already a finalized progressive MP4; its bytes were left unchanged ({tracks}; moov at the {}).",
                self.path.display(),
                if self.moov_at_front { "front" } else { "end" }
            )
        } else {
            write!(
                f,
                "repaired {}: kept {} complete fragment{} ({tracks}), dropped {} byte{} at the end{}; \
                 the moov is at the {} of the {}-byte file.",
                self.path.display(),
                self.fragments,
                if self.fragments == 1 { "" } else { "s" },
                self.dropped_bytes,
                if self.dropped_bytes == 1 { "" } else { "s" },
                if self.finalize_was_interrupted {
                    ", and completed an interrupted finalization"
                } else {
                    ""
                },
                if self.moov_at_front { "front" } else { "end" },
                self.file_len_bytes,
            )?;
            write!(f, " Checked {} bytes of sample data", self.checked_bytes)?;
            match &self.damage {
                None => write!(f, ": no damage."),
                Some(d) => write!(
                    f,
                    "; dropped {} fragment{} from the first with damaged data (blocks a power \
                     cut never wrote read back as zeros): {d}.",
                    d.dropped_fragments,
                    if d.dropped_fragments == 1 { "" } else { "s" },
                ),
            }
        }
    }
}

/// Repairs the recording at `path` in place (see the module docs) and returns what it did.
///
/// A file that is not a fragmented recording this program can recover (garbage, empty, no
/// init `moov`, ...) gives an error and is left untouched. An already progressive file is
/// left unchanged (only renamed when its name ends in `.partial`).
pub fn repair_file(path: &Path) -> anyhow::Result<RepairReport> {
    let file = File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    // A recorder holds this lock while it writes the file: never touch a live recording.
    // Kept until the function returns, so no other recorder starts writing it meanwhile.
    match file.try_lock_shared() {
        Ok(()) => {}
        Err(std::fs::TryLockError::WouldBlock) => bail!(
            "{} is being written by a running recorder (it holds a lock on it)",
            path.display()
        ),
        Err(std::fs::TryLockError::Error(e)) => {
            return Err(e).with_context(|| format!("cannot lock {}", path.display()));
        }
    }
    let len = file
        .metadata()
        .with_context(|| format!("cannot stat {}", path.display()))?
        .len();
    let recovered =
        recover(&file, len).with_context(|| format!("cannot repair {}", path.display()))?;
    let mut report = match recovered {
        Recovered::AlreadyProgressive { .. } => {
            let movie = crate::mp4::check::check_path(path)
                .with_context(|| format!("{} is progressive but not consistent", path.display()))?;
            RepairReport {
                path: path.to_owned(),
                already_progressive: true,
                fragments: 0,
                sample_counts: movie.sample_counts,
                handlers: movie.handlers,
                dropped_bytes: 0,
                moov_at_front: movie.moov_at_front,
                finalize_was_interrupted: false,
                damage: None,
                checked_bytes: movie.data.bytes,
                file_len_bytes: len,
            }
        }
        Recovered::Fragmented(repair) => {
            let file = OpenOptions::new()
                .write(true)
                .open(path)
                .with_context(|| format!("cannot open {} for writing", path.display()))?;
            apply_finalize(&file, &repair.finalize)
                .and_then(|()| file.sync_all())
                .with_context(|| format!("cannot write the repair to {}", path.display()))?;
            drop(file);
            let movie = crate::mp4::check::check_path(path)
                .with_context(|| format!("the repaired {} is not consistent", path.display()))?;
            if movie.sample_counts != repair.sample_counts {
                bail!(
                    "the repaired {} holds {:?} samples per track, expected {:?}",
                    path.display(),
                    movie.sample_counts,
                    repair.sample_counts
                );
            }
            RepairReport {
                path: path.to_owned(),
                already_progressive: false,
                fragments: repair.fragments,
                sample_counts: repair.sample_counts,
                handlers: movie.handlers,
                dropped_bytes: repair.dropped_bytes,
                moov_at_front: repair.finalize.moov_at_front,
                finalize_was_interrupted: repair.finalize_was_interrupted,
                damage: repair.damage,
                checked_bytes: repair.checked_bytes,
                file_len_bytes: repair.finalize.file_len,
            }
        }
    };
    if has_partial_suffix(path) {
        report.path =
            rename_partial(path).with_context(|| format!("cannot rename {}", path.display()))?;
    }
    Ok(report)
}

/// Runs [`Recovery`] over the first `len` bytes of `file` with positioned reads (box
/// headers, the `moov`/`moof` payloads and the sample data it checks): the read loop of
/// `repair` and of the writer's cut-back after a full disk.
pub fn recover(file: &File, len: u64) -> anyhow::Result<Recovered> {
    Recovery::read_with(len, |offset, buf: &mut [u8]| {
        file.read_exact_at(buf, offset)
            .with_context(|| format!("cannot read {} bytes at offset {offset}", buf.len()))
    })
}
