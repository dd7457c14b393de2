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
    /// True when the file was a `.partial` holding no complete fragment and no damage (the
    /// recording stopped before its first fragment was written): it held no media and was
    /// removed.
    pub removed: bool,
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
        if self.removed {
            write!(
                f,
                "removed {}: it held no complete fragment, so no media (the recording \
                 stopped before its first fragment was written).",
                self.path.display()
            )
        } else if self.already_progressive {
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
/// left unchanged (only renamed when its name ends in `.partial`). A `.partial` holding no
/// complete fragment and no damage (a crash before the first fragment was written) holds
/// no media: it is removed ([`RepairReport::removed`]).
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
    let recovered = match recover(&file, len) {
        Ok(r) => r,
        Err(e) if has_partial_suffix(path) && is_start_prefix(&file, len) => {
            // Killed while its first bytes were being written: no media.
            tracing::debug!("{}: {e:#}", path.display());
            drop(file);
            return remove_empty(path, len, Vec::new());
        }
        Err(e) => return Err(e.context(format!("cannot repair {}", path.display()))),
    };
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
                removed: false,
            }
        }
        Recovered::Fragmented(repair)
            if repair.fragments == 0 && repair.damage.is_none() && has_partial_suffix(path) =>
        {
            drop(file);
            return remove_empty(path, len, repair.sample_counts);
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
                removed: false,
            }
        }
    };
    if has_partial_suffix(path) {
        report.path =
            rename_partial(path).with_context(|| format!("cannot rename {}", path.display()))?;
    }
    Ok(report)
}

/// Removes a `.partial` of `len` bytes that holds no media.
fn remove_empty(path: &Path, len: u64, sample_counts: Vec<u32>) -> anyhow::Result<RepairReport> {
    std::fs::remove_file(path).with_context(|| format!("cannot remove {}", path.display()))?;
    Ok(RepairReport {
        path: path.to_owned(),
        already_progressive: false,
        fragments: 0,
        sample_counts,
        handlers: Vec::new(),
        dropped_bytes: len,
        moov_at_front: false,
        finalize_was_interrupted: false,
        damage: None,
        checked_bytes: 0,
        file_len_bytes: 0,
        removed: true,
    })
}

/// The largest file [`is_start_prefix`] reads: the recorder's first bytes are at most the
/// `moov` reserve (8 MiB) and an init `moov`.
const MAX_START_BYTES: u64 = 16 << 20;

/// True when the file's `len` bytes can only be a part of a recording's first bytes
/// (`ftyp`, the reserve, the init `moov`), as a crash while they were written leaves
/// them: empty, or beginning with (a part of) an `ftyp` box header, with no `moof` nor
/// `mdat` anywhere, so without media (a finalized file whose `moov` is damaged has an
/// `mdat`: it is left alone).
fn is_start_prefix(file: &File, len: u64) -> bool {
    if len > MAX_START_BYTES {
        return false;
    }
    let mut bytes = vec![0u8; usize::try_from(len).unwrap_or(0)];
    if file.read_exact_at(&mut bytes, 0).is_err() {
        return false;
    }
    let fourcc = bytes.get(4..).unwrap_or_default();
    let ftyp = &b"ftyp"[..fourcc.len().min(4)];
    fourcc.starts_with(ftyp) && !bytes.windows(4).any(|w| w == b"moof" || w == b"mdat")
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

#[cfg(test)]
mod tests {
    use bytes::Bytes;
    use mp4_track::{FragmentedMuxer, FragmentedOptions, SampleInfo, TrackConfig, TrackKind};

    use super::*;

    /// The first bytes of a recording (`ftyp`, reserve, init `moov`), then `fragments`
    /// complete fragments of 30 samples, then `torn` bytes of the next one.
    fn recording(fragments: usize, torn: usize) -> Vec<u8> {
        let mut muxer = FragmentedMuxer::new(FragmentedOptions {
            movie_timescale_hz: 1000,
            creation_time_1904: 0,
            fragment_duration_ms: 1000,
            reserve_bytes: 4096,
            user_data: Vec::new(),
        });
        let track = muxer
            .add_track(TrackConfig {
                kind: TrackKind::Video {
                    width: 64,
                    height: 64,
                },
                timescale_hz: 90_000,
                sample_entry: Bytes::from_static(b"\0\0\0\x08mp4v"),
                default_sample_duration: None,
            })
            .unwrap();
        let mut out = muxer.start().unwrap().to_vec();
        let mut done = Vec::new();
        for i in 0..(fragments as u64 + 1) * 30 + 1 {
            let sample = SampleInfo {
                dts: i * 3000,
                cts_offset: 0,
                size: 4,
                is_sync: i % 30 == 0,
            };
            muxer
                .push(track, sample, Bytes::from_static(&[0xFF, 0xD8, 0xFF, 0xD9]))
                .unwrap();
            while let Some(f) = muxer.poll_fragment() {
                let mut bytes = f.header.to_vec();
                f.data.iter().for_each(|d| bytes.extend_from_slice(d));
                done.push(bytes);
            }
        }
        for f in &done[..fragments] {
            out.extend_from_slice(f);
        }
        out.extend_from_slice(&done[fragments][..torn]);
        out
    }

    fn temp_dir(name: &str) -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("recorder-repair-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn a_partial_without_a_complete_fragment_is_removed() {
        let dir = temp_dir("empty");
        let path = dir.join("x.mp4.partial");
        let bytes = recording(0, 20);
        std::fs::write(&path, &bytes).unwrap();
        let report = repair_file(&path).unwrap();
        assert!(report.removed);
        assert_eq!(report.dropped_bytes, bytes.len() as u64);
        assert!(!path.exists() && !dir.join("x.mp4").exists());
        assert!(report.to_string().starts_with("removed "), "{report}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_partial_killed_while_its_first_bytes_were_written_is_removed() {
        let dir = temp_dir("start");
        let start = recording(0, 0);
        for cut in [0, 3, 6, 30, start.len() / 2] {
            let path = dir.join("x.mp4.partial");
            std::fs::write(&path, &start[..cut]).unwrap();
            let report = repair_file(&path).unwrap_or_else(|e| panic!("{cut} bytes: {e:#}"));
            assert!(report.removed, "{cut} bytes");
            assert_eq!(report.dropped_bytes, cut as u64);
            assert!(!path.exists());
        }
        // Not a recording's start: left alone, with the reader's error.
        let path = dir.join("y.mp4.partial");
        std::fs::write(&path, b"\0\0\0\x10junkjunkjunkjunk").unwrap();
        let e = repair_file(&path).unwrap_err();
        assert!(format!("{e:#}").starts_with("cannot repair"), "{e:#}");
        assert!(path.exists());
        // Nor is a file with media (an `mdat`) whose `moov` is missing or damaged.
        let mut media = start[..36].to_vec();
        media.extend_from_slice(b"\0\0\0\x10mdat\x01\x02\x03\x04\x05\x06\x07\x08");
        std::fs::write(&path, &media).unwrap();
        assert!(repair_file(&path).is_err());
        assert!(path.exists());
        // Nor is a file not named `.partial`.
        let path = dir.join("z.mp4");
        std::fs::write(&path, &start[..30]).unwrap();
        assert!(repair_file(&path).is_err());
        assert!(path.exists());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_partial_with_a_fragment_is_finalized_not_removed() {
        let dir = temp_dir("one");
        let path = dir.join("x.mp4.partial");
        std::fs::write(&path, recording(1, 20)).unwrap();
        let report = repair_file(&path).unwrap();
        assert!(!report.removed);
        assert_eq!(report.fragments, 1);
        assert_eq!(report.sample_counts, [30]);
        assert_eq!(report.path, dir.join("x.mp4"));
        crate::mp4::check::check_path(&report.path).unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
