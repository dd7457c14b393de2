//! An output file on disk: creating it (and its directories) under a name never used
//! before, appending fragments with one vectored write each, syncing, finalizing in
//! place, and, after a write error, cutting it back to its last complete fragment.

use std::fs::{DirBuilder, File, OpenOptions};
use std::io::{self, IoSlice, Seek, SeekFrom, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, bail};
use bytes::Bytes;
use mp4_track::{Finalize, FinalizeStep, Fragment, Recovered};

use crate::output::error::{Kept, WriteAction, WriteError, WriteErrorKind};
use crate::output::events::{EndReason, FileSummary};
use crate::output::finalize_io::{apply_step, pause_point};
use crate::output::format::{OutputFormat, SegmentStats, SyncPolicy, Written};
use crate::output::partial::{partial_path, rename_partial, sync_dir};
use crate::output::repair::recover;
use crate::output::template::with_suffix;

/// Mode of new files (before the umask): owner read/write, group read.
pub const FILE_MODE: u32 = 0o640;

/// Mode of new directories (before the umask).
pub const DIR_MODE: u32 = 0o750;

/// Creates `dir` (and its parents, mode 0750) if missing and checks that a file can be
/// created in it, by creating and removing a probe file: an unwritable output directory
/// is an error before connecting rather than after the first keyframe.
pub fn prepare_output_dir(dir: &Path) -> Result<(), WriteError> {
    let dir = if dir.as_os_str().is_empty() {
        Path::new(".")
    } else {
        dir
    };
    DirBuilder::new()
        .recursive(true)
        .mode(DIR_MODE)
        .create(dir)
        .map_err(|e| WriteError::new(WriteAction::Create, dir, &e))?;
    let probe = dir.join(format!(".recorder-probe-{}", std::process::id()));
    OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(FILE_MODE)
        .open(&probe)
        .map_err(|e| WriteError::new(WriteAction::Probe, dir, &e))?;
    std::fs::remove_file(&probe).map_err(|e| WriteError::new(WriteAction::Probe, dir, &e))
}

/// Creates the directories of `path` (0750) and a new `.partial` file (0640) for the
/// first name among `path`, `path-1`, ... of which neither the file nor its `.partial`
/// exists. Returns the open file and its `.partial` path. I/O failures are
/// [`WriteError`]s.
pub fn create_partial(path: &Path) -> anyhow::Result<(File, PathBuf)> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        DirBuilder::new()
            .recursive(true)
            .mode(DIR_MODE)
            .create(dir)
            .map_err(|e| WriteError::new(WriteAction::Create, dir, &e))?;
    }
    for n in 0..10_000 {
        let candidate = with_suffix(path, n);
        if candidate.is_dir() {
            bail!("output {} is a directory", candidate.display());
        }
        if candidate.exists() {
            continue;
        }
        let partial = partial_path(&candidate);
        match OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .mode(FILE_MODE)
            .open(&partial)
        {
            Ok(file) => {
                // Held for as long as the file is open (by the writer): `repair` and the
                // leftover scan of another `recorder` skip a file that is being written.
                file.try_lock()
                    .map_err(io::Error::from)
                    .with_context(|| format!("cannot lock {}", partial.display()))?;
                return Ok((file, partial));
            }
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(WriteError::new(WriteAction::Create, &partial, &e).into()),
        }
    }
    bail!("no free name for {} (tried 10000 suffixes)", path.display())
}

/// Writes `header` then every buffer of `data` at the file's current position with
/// vectored writes (one, unless the kernel takes less), without copying them: the
/// kernel reads the media straight from the buffers the depacketizer filled.
pub fn write_vectored_all(file: &mut impl Write, header: &[u8], data: &[Bytes]) -> io::Result<()> {
    let mut slices: Vec<IoSlice<'_>> = Vec::with_capacity(data.len() + 1);
    slices.push(IoSlice::new(header));
    slices.extend(
        data.iter()
            .filter(|d| !d.is_empty())
            .map(|d| IoSlice::new(d)),
    );
    let mut bufs = &mut slices[..];
    while !bufs.is_empty() {
        match file.write_vectored(bufs) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => IoSlice::advance_slices(&mut bufs, n),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// An I/O step that failed: what was being done, and the error.
pub struct Failed {
    action: WriteAction,
    error: io::Error,
}

impl Failed {
    /// True when the disk was full (or the quota used up).
    pub fn is_disk_full(&self) -> bool {
        WriteErrorKind::of(&self.error) == WriteErrorKind::DiskFull
    }
}

trait Doing<T> {
    fn doing(self, action: WriteAction) -> Result<T, Failed>;
}

impl<T> Doing<T> for io::Result<T> {
    fn doing(self, action: WriteAction) -> Result<T, Failed> {
        self.map_err(|error| Failed { action, error })
    }
}

/// Latency histograms of a camera's fragment writes and syncs, in seconds (handles to
/// shared metrics, cheap to clone).
#[derive(Clone, Debug)]
pub struct FragmentTimers {
    /// The vectored write of one fragment.
    pub write: http_api::metrics::LatencyHistogram,
    /// Its `fsync`.
    pub sync: http_api::metrics::LatencyHistogram,
}

/// The `.partial` being written.
pub struct PartialFile {
    /// The open file.
    pub file: File,
    /// Its path (`NAME.partial`).
    pub partial: PathBuf,
    /// When to sync.
    pub sync: SyncPolicy,
    /// What it becomes at a clean close.
    pub format: OutputFormat,
    /// End of the last complete fragment (or of the first bytes): what is valid on disk.
    pub len: u64,
    /// Complete fragments written.
    pub fragments: u64,
    /// Where each fragment's write and sync times go (`recorder run` with HTTP).
    pub timers: Option<FragmentTimers>,
}

/// Test hook: `RECORDER_TEST_STALL_SYNC=TEXT:SECONDS` makes the first data sync after the
/// second fragment of a file whose path contains `TEXT` sleep `SECONDS` first, once per
/// process: a disk whose `fsync` stalls, for the tests of what a stalled writer does
/// to the recording. Unset (always, outside tests), it costs one look at a `OnceLock`.
pub const STALL_SYNC_VAR: &str = "RECORDER_TEST_STALL_SYNC";

fn stall_sync_hook(partial: &Path, fragments: u64) {
    use std::sync::OnceLock;
    use std::sync::atomic::{AtomicBool, Ordering};
    static HOOK: OnceLock<Option<(String, f64)>> = OnceLock::new();
    static DONE: AtomicBool = AtomicBool::new(false);
    let hook = HOOK.get_or_init(|| {
        let v = std::env::var(STALL_SYNC_VAR).ok()?;
        let (text, secs) = v.rsplit_once(':')?;
        Some((text.to_owned(), secs.parse().ok()?))
    });
    if let Some((text, secs)) = hook
        && fragments >= 2
        && partial.to_string_lossy().contains(text.as_str())
        && !DONE.swap(true, Ordering::AcqRel)
    {
        tracing::debug!(
            "{STALL_SYNC_VAR}: stalling the sync of {}",
            partial.display()
        );
        std::thread::sleep(std::time::Duration::from_secs_f64(*secs));
    }
}

impl PartialFile {
    pub fn sync_data(&self) -> Result<(), Failed> {
        stall_sync_hook(&self.partial, self.fragments);
        self.file.sync_data().doing(WriteAction::Sync)
    }

    pub fn write_start(&mut self, start: &[u8]) -> Result<(), Failed> {
        self.file.write_all(start).doing(WriteAction::Write)?;
        self.len = start.len() as u64;
        if self.sync == SyncPolicy::Fragment {
            // The header, and the new name in its directory, survive a power cut.
            self.sync_data()?;
            sync_dir(self.partial.parent().unwrap_or(Path::new(""))).doing(WriteAction::Sync)?;
        }
        Ok(())
    }

    pub fn append(&mut self, f: &Fragment) -> anyhow::Result<Result<(), Failed>> {
        if f.offset != self.len {
            bail!(
                "internal error: fragment at offset {} but the file is {} bytes",
                f.offset,
                self.len
            );
        }
        Ok(self.append_unchecked(f))
    }

    pub fn append_unchecked(&mut self, f: &Fragment) -> Result<(), Failed> {
        let started = self.timers.as_ref().map(|_| Instant::now());
        write_vectored_all(&mut self.file, &f.header, &f.data).doing(WriteAction::Write)?;
        let written = self.timers.as_ref().map(|_| Instant::now());
        if let (Some(t), Some(started), Some(written)) = (&self.timers, started, written) {
            t.write
                .observe(written.duration_since(started).as_secs_f64());
        }
        if self.sync == SyncPolicy::Fragment {
            self.sync_data()?;
            if let (Some(t), Some(written)) = (&self.timers, written) {
                t.sync.observe(written.elapsed().as_secs_f64());
            }
        }
        self.len = f.end_offset();
        self.fragments += 1;
        Ok(())
    }

    /// Cuts off what a failed write left after the last complete fragment (the vectored
    /// write may have written part of a fragment) and moves the write position back
    /// there, so that the fragment can be written again.
    pub fn rewind(&mut self) -> io::Result<()> {
        self.file.set_len(self.len)?;
        self.file.seek(SeekFrom::Start(self.len))?;
        Ok(())
    }

    /// Applies a finalization plan step by step. When its first step fails (nothing
    /// changed yet but a possibly partial write, e.g. a `moov` appended to a full disk),
    /// the file is cut back to its valid length.
    pub fn finalize(&self, plan: &Finalize) -> Result<(), Failed> {
        for (i, step) in plan.steps.iter().enumerate() {
            pause_point(&self.partial, i);
            if let Err(error) = apply_step(&self.file, step) {
                let first_write = !plan.steps[..i]
                    .iter()
                    .any(|s| matches!(s, FinalizeStep::Write(_)));
                let grown = self.file.metadata().is_ok_and(|m| m.len() > self.len);
                if first_write && grown {
                    // The final `moov` could not be appended (a full disk): cut off what
                    // was written of it, back to the valid fragmented file.
                    let _ = self.file.set_len(self.len);
                }
                return Err(Failed {
                    action: WriteAction::Finalize,
                    error,
                });
            }
        }
        Ok(())
    }

    /// After `failed`: cuts the file back to its last complete fragment, finalizes it from
    /// what is on disk (`--format mp4`) and renames it, or leaves the fragmented `.partial`
    /// when that cannot be done; the error says what was kept.
    pub fn fail(self, failed: Failed) -> anyhow::Error {
        let mut err = WriteError::new(failed.action, &self.partial, &failed.error);
        tracing::debug!(
            "{}: {} failed at {} bytes after {} fragment(s): {}",
            self.partial.display(),
            failed.action.verb(),
            self.len,
            self.fragments,
            failed.error
        );
        if self.fragments == 0 {
            // No media: nothing worth keeping.
            drop(self.file);
            match std::fs::remove_file(&self.partial) {
                Ok(()) => tracing::debug!("removed {} (no media)", self.partial.display()),
                Err(e) => tracing::warn!("cannot remove {}: {e}", self.partial.display()),
            }
            return err.into();
        }
        if failed.action != WriteAction::Finalize {
            // A torn fragment after the last complete one: cut it off. Shrinking needs no
            // space; if it fails, the torn tail stays (players and `repair` skip it).
            if let Err(e) = self.file.set_len(self.len) {
                tracing::warn!("cannot truncate {}: {e}", self.partial.display());
            }
        }
        let _ = self.file.sync_data();
        let partial = self.partial.clone();
        let finalized = match self.format {
            OutputFormat::Mp4 if failed.action != WriteAction::Finalize => {
                match self.finalize_from_disk() {
                    Ok(()) => true,
                    Err(e) => {
                        tracing::debug!("cannot finalize {} from disk: {e:#}", partial.display());
                        false
                    }
                }
            }
            OutputFormat::Mp4 => false,
            OutputFormat::Fmp4 => true,
        };
        let _ = self.file.sync_data();
        drop(self.file);
        let path = if finalized {
            match rename_partial(&partial) {
                Ok(p) => p,
                Err(e) => {
                    tracing::debug!("cannot rename {}: {e}", partial.display());
                    partial.clone()
                }
            }
        } else {
            partial.clone()
        };
        let finalized = path != partial;
        match describe(&path) {
            Ok(written) => err.kept = Some(Kept { written, finalized }),
            Err(e) => tracing::warn!("cannot read back {}: {e:#}", path.display()),
        }
        err.into()
    }

    /// Finishes a file cut at its last queued fragment: finalized from what is on disk
    /// (`--format mp4`), synced, renamed; the summary is corrected from the file read back.
    pub fn finish_cut(self, mut summary: FileSummary) -> anyhow::Result<(Written, FileSummary)> {
        let out = self;
        if out.fragments == 0 {
            // No media: nothing worth keeping.
            let partial = out.partial.clone();
            drop(out);
            std::fs::remove_file(&partial)
                .with_context(|| format!("cannot remove {}", partial.display()))?;
            bail!(
                "the disk stalled before the first fragment of {} was queued: nothing kept",
                partial.display()
            );
        }
        if out.format == OutputFormat::Mp4
            && let Err(e) = out.finalize_from_disk()
        {
            return Err(e.context(format!("cannot finalize {}", out.partial.display())));
        }
        if let Err(failed) = out.sync_data() {
            return Err(out.fail(failed));
        }
        let partial = out.partial.clone();
        drop(out);
        let path = rename_partial(&partial).map_err(|e| {
            anyhow::Error::from(WriteError::new(WriteAction::Finalize, &partial, &e))
        })?;
        let written = describe(&path)?;
        for (track, frames) in [
            (summary.video.as_mut(), written.stats.video_frames),
            (summary.audio.as_mut(), written.stats.audio_frames),
        ] {
            if let Some(t) = track {
                t.samples = frames;
                t.end_s = t.end_s.min(written.stats.duration_s);
            }
        }
        summary.end = EndReason::DiskStall;
        summary.wall_end = None;
        tracing::warn!(
            "file cut after the disk stalled: {}: {} video frame(s), {} audio frame(s), {:.3} s",
            path.display(),
            written.stats.video_frames,
            written.stats.audio_frames,
            written.stats.duration_s
        );
        Ok((written, summary))
    }

    /// Finalizes the file as `recorder repair` does: reads its boxes back and applies the
    /// recovery plan.
    pub fn finalize_from_disk(&self) -> anyhow::Result<()> {
        match recover(&self.file, self.len)? {
            Recovered::Fragmented(repair) => self
                .finalize(&repair.finalize)
                .map_err(|f| anyhow::Error::from(f.error)),
            Recovered::AlreadyProgressive { .. } => Ok(()),
        }
    }
}

/// What the file at `path` holds, read back.
pub fn describe(path: &Path) -> anyhow::Result<Written> {
    let checked = crate::mp4::check::check_path(path)?;
    let count = |handler: &str| checked.samples_of(handler);
    Ok(Written {
        path: path.to_owned(),
        len_bytes: std::fs::metadata(path)?.len(),
        stats: SegmentStats {
            video_frames: count("vide"),
            audio_frames: count("soun"),
            duration_s: checked.durations_s.iter().copied().fold(0.0, f64::max),
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp_dir(name: &str) -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("recorder-writer-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("temp dir");
        dir
    }

    #[test]
    fn vectored_write_writes_header_then_data() {
        let dir = temp_dir("vec");
        let path = dir.join("v.bin");
        let mut file = File::create(&path).unwrap();
        let data: Vec<Bytes> = (0..2000u32)
            .map(|i| Bytes::from(i.to_be_bytes().to_vec()))
            .collect();
        // More buffers than IOV_MAX (1024): the loop goes on where the kernel stopped.
        write_vectored_all(&mut file, b"HEAD", &data).unwrap();
        let written = std::fs::read(&path).unwrap();
        assert_eq!(written.len(), 4 + 2000 * 4);
        assert_eq!(&written[..4], b"HEAD");
        assert_eq!(&written[4 + 1999 * 4..], &1999u32.to_be_bytes());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// A writer that records where each `write_vectored` call's buffers live and takes at
    /// most `max_bytes` per call, as a kernel may.
    struct Recording {
        max_bytes: usize,
        written: Vec<u8>,
        /// Per call: (address, length) of each buffer offered.
        calls: Vec<Vec<(usize, usize)>>,
    }

    impl Write for Recording {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.write_vectored(&[IoSlice::new(buf)])
        }
        fn write_vectored(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
            self.calls.push(
                bufs.iter()
                    .map(|b| (b.as_ptr() as usize, b.len()))
                    .collect(),
            );
            let mut n = 0;
            for b in bufs {
                let take = b.len().min(self.max_bytes - n);
                self.written.extend_from_slice(&b[..take]);
                n += take;
                if n == self.max_bytes {
                    break;
                }
            }
            Ok(n)
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn vectored_write_hands_the_buffers_themselves_to_the_kernel() {
        let header = Bytes::from(vec![0xEEu8; 100]);
        let data: Vec<Bytes> = (0..50u8)
            .map(|i| Bytes::from(vec![i; 1000 + usize::from(i)]))
            .collect();
        let total = header.len() + data.iter().map(Bytes::len).sum::<usize>();
        let mut w = Recording {
            max_bytes: 7000,
            written: Vec::new(),
            calls: Vec::new(),
        };
        write_vectored_all(&mut w, &header, &data).unwrap();

        let mut expected = header.to_vec();
        data.iter().for_each(|d| expected.extend_from_slice(d));
        assert_eq!(w.written, expected);
        // The first call offers the header and every data buffer, by address: no copy.
        let mut originals = vec![(header.as_ptr() as usize, header.len())];
        originals.extend(data.iter().map(|d| (d.as_ptr() as usize, d.len())));
        assert_eq!(w.calls[0], originals);
        // Partial writes go on inside the same buffers: every offered buffer lies within
        // an original one.
        assert_eq!(w.calls.len(), total.div_ceil(7000));
        for call in &w.calls {
            for &(at, len) in call {
                assert!(
                    originals
                        .iter()
                        .any(|&(o, olen)| at >= o && at + len == o + olen),
                    "buffer {at:#x}+{len} is not the tail of an original buffer"
                );
            }
        }
    }

    #[test]
    fn names_are_never_reused() {
        let dir = temp_dir("names");
        let path = dir.join("sub/dir/x.mp4");
        let (_, p0) = create_partial(&path).unwrap();
        assert_eq!(p0, dir.join("sub/dir/x.mp4.partial"));
        // The .partial exists: next name.
        let (_, p1) = create_partial(&path).unwrap();
        assert_eq!(p1, dir.join("sub/dir/x-1.mp4.partial"));
        // A finished x-2.mp4 exists too.
        std::fs::write(dir.join("sub/dir/x-2.mp4"), b"done").unwrap();
        let (_, p3) = create_partial(&path).unwrap();
        assert_eq!(p3, dir.join("sub/dir/x-3.mp4.partial"));
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(dir.join("sub"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777 & !0o750, 0, "mode {mode:o}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_directory_in_the_way_is_an_error() {
        let dir = temp_dir("isdir");
        std::fs::create_dir_all(dir.join("x.mp4")).unwrap();
        let err = create_partial(&dir.join("x.mp4")).unwrap_err();
        assert!(err.to_string().ends_with("x.mp4 is a directory"), "{err}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// A `.partial` whose first bytes cannot be written (the disk is full: `/dev/full`
    /// answers every write with `ENOSPC`) leaves nothing behind.
    #[test]
    fn a_partial_that_could_not_be_written_is_removed() {
        let dir = temp_dir("enospc");
        let partial = dir.join("x.mp4.partial");
        std::fs::write(&partial, b"").unwrap();
        let mut out = PartialFile {
            timers: None,
            file: OpenOptions::new().write(true).open("/dev/full").unwrap(),
            partial: partial.clone(),
            sync: SyncPolicy::None,
            format: OutputFormat::Mp4,
            len: 0,
            fragments: 0,
        };
        let failed = out.write_start(b"ftyp and moov").unwrap_err();
        assert!(failed.is_disk_full());
        let err = out.fail(failed);
        let w = WriteError::find(&err).expect("a WriteError");
        assert!(w.is_disk_full());
        assert_eq!(
            (w.action, &w.path, &w.kept),
            (WriteAction::Write, &partial, &None)
        );
        assert!(!partial.exists(), "the empty .partial is left");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn partial_name_appends_suffix() {
        assert_eq!(
            partial_path(Path::new("dir/cam.mp4")),
            PathBuf::from("dir/cam.mp4.partial")
        );
    }
}
