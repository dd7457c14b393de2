//! The file writer: one thread per output file, fed fragments through a bounded channel.
//!
//! Why a thread: `write`, `fsync` and `rename` block, sometimes for long (a slow disk or a
//! network filesystem), and must not stall the RTSP session's reactor (keepalives, socket
//! reads). The thread owns its file, creates it (and its directories) when the segment's
//! first sample arrives, writes each fragment with one vectored write of its header and
//! the samples' buffers (no copy of the media), syncs it, and at the end flushes the
//! muxer, applies the finalization plan and renames the file into place: a segment being
//! finalized never holds up the next one. The bounded channel gives back-pressure: if the
//! disk cannot keep up, the receive loop slows down instead of buffering without limit.
//!
//! When the disk fills up or fails (`ENOSPC`, `EIO`, ...), the thread cuts the file back
//! to the end of its last complete fragment, finalizes it from what is on disk (as
//! `recorder repair` would) or, when even that cannot be written, leaves the valid
//! fragmented `.partial`, and stops with a [`WriteError`] that says what was kept.

use std::fmt;
use std::fs::{DirBuilder, File, OpenOptions};
use std::io::{self, IoSlice, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Instant, SystemTime};

use anyhow::{Context, bail};
use bytes::Bytes;
use mp4_track::{Finalize, FinalizeStep, Fragment, FragmentedMuxer, Recovered};
use tokio::sync::{mpsc, oneshot};

use crate::output::events::{FileEvent, FileEvents, FileSummary, FinishedFile, TrackSummary};
use crate::output::finalize_io::apply_step;
use crate::output::partial::{partial_path, rename_partial, sync_dir};
use crate::output::repair::recover;
use crate::output::template::with_suffix;

/// Fragments in flight between the receive loop and a writer thread: about this many
/// seconds of media with 1 s fragments.
const CHANNEL_CAPACITY: usize = 8;

/// Mode of new files (before the umask): owner read/write, group read.
pub const FILE_MODE: u32 = 0o640;

/// Mode of new directories (before the umask).
pub const DIR_MODE: u32 = 0o750;

/// Linux `ENOSPC`: no space left on device.
pub const ENOSPC: i32 = 28;
/// Linux `EDQUOT`: disk quota exceeded.
pub const EDQUOT: i32 = 122;

/// What the writer does at the end of each fragment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SyncPolicy {
    /// `fsync` (`sync_data`) after each fragment: a crash or power cut loses at most the
    /// fragment in progress.
    Fragment,
    /// Leave it to the operating system.
    None,
}

/// What the file becomes at a clean close.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OutputFormat {
    /// Finalized in place: progressive, `moov` first when it fits the reserve.
    Mp4,
    /// Stays fragmented.
    Fmp4,
}

/// What a segment held, for the summary line.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SegmentStats {
    /// Video samples written.
    pub video_frames: u64,
    /// Audio samples written.
    pub audio_frames: u64,
    /// Media duration (end of the last sample, from the segment's zero), in seconds.
    pub duration_s: f64,
}

impl SegmentStats {
    /// The figures of what the session wrote to a file.
    pub fn of(summary: &FileSummary) -> Self {
        let samples = |t: &Option<TrackSummary>| t.as_ref().map_or(0, |t| t.samples);
        Self {
            video_frames: samples(&summary.video),
            audio_frames: samples(&summary.audio),
            duration_s: summary.duration_s(),
        }
    }
}

/// A finished file.
#[derive(Clone, Debug, PartialEq)]
pub struct Written {
    /// Its final path.
    pub path: PathBuf,
    /// Its length in bytes.
    pub len_bytes: u64,
    /// What it holds.
    pub stats: SegmentStats,
}

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
    fn verb(self) -> &'static str {
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

enum Msg {
    Fragment(Fragment),
    /// Flush the muxer, write the rest, finalize, rename.
    Close {
        muxer: Box<FragmentedMuxer>,
        summary: FileSummary,
    },
}

/// Whose file a writer writes, for its [`FileEvent`]s.
#[derive(Clone, Debug)]
pub struct FileContext {
    /// The camera's name.
    pub camera: Arc<str>,
    /// Where the file's events go.
    pub events: FileEvents,
    /// Wall-clock time of the file's first sample.
    pub start_wall: SystemTime,
}

impl FileContext {
    fn finished(&self, written: &Written, summary: Option<FileSummary>) -> FinishedFile {
        FinishedFile {
            camera: Arc::clone(&self.camera),
            path: written.path.clone(),
            len_bytes: written.len_bytes,
            video_frames: written.stats.video_frames,
            audio_frames: written.stats.audio_frames,
            duration_s: written.stats.duration_s,
            summary,
        }
    }

    /// Announces how the writer ended.
    fn publish_end(&self, path: &Path, result: &anyhow::Result<(Written, FileSummary)>) {
        let event = match result {
            Ok((written, summary)) => {
                FileEvent::Finished(self.finished(written, Some(summary.clone())))
            }
            Err(e) => {
                let kept = WriteError::find(e).and_then(|w| w.kept.as_ref());
                FileEvent::Failed {
                    camera: Arc::clone(&self.camera),
                    path: Some(kept.map_or_else(|| path.to_owned(), |k| k.written.path.clone())),
                    error: format!("{e:#}")
                        .lines()
                        .next()
                        .unwrap_or_default()
                        .to_owned(),
                    kept: kept.map(|k| self.finished(&k.written, None)),
                }
            }
        };
        self.events.publish(event);
    }
}

/// The sending side of one file's writer thread.
pub struct SegmentWriter {
    tx: mpsc::Sender<Msg>,
    done: oneshot::Receiver<anyhow::Result<Written>>,
    /// Set once the thread stopped with an error (already returned by [`Self::write`]):
    /// what it kept of the file, if anything.
    failed: Option<Option<Written>>,
    /// The thread's error, when it was a [`WriteError`]: kept so that [`Self::close`] can
    /// say why nothing was kept (a full disk is worth retrying later).
    failed_error: Option<WriteError>,
}

/// A file being finished by its thread.
pub struct Closing {
    done: oneshot::Receiver<anyhow::Result<Written>>,
}

impl Closing {
    /// Waits for the thread: the finished file, or why it could not be finished.
    pub async fn wait(self) -> anyhow::Result<Written> {
        self.done
            .await
            .unwrap_or_else(|_| Err(anyhow::anyhow!("the writer thread panicked")))
    }

    fn ready(result: anyhow::Result<Written>) -> Self {
        let (tx, done) = oneshot::channel();
        // The receiver is right here.
        let _ = tx.send(result);
        Self { done }
    }
}

impl SegmentWriter {
    /// Starts a thread that creates `path` (or, if it or its `.partial` exists,
    /// `path-1`, `path-2`, ... before the extension) as `NAME.partial` (mode 0640),
    /// creating missing directories (mode 0750), and writes `start` (the muxer's first
    /// bytes). It announces the file on `ctx.events` once it exists ([`FileEvent::Opened`])
    /// and when it ends ([`FileEvent::Finished`] or [`FileEvent::Failed`]).
    pub fn spawn(
        path: PathBuf,
        start: Bytes,
        sync: SyncPolicy,
        format: OutputFormat,
        ctx: FileContext,
    ) -> anyhow::Result<Self> {
        let (tx, rx) = mpsc::channel(CHANNEL_CAPACITY);
        let (done_tx, done) = oneshot::channel();
        std::thread::Builder::new()
            .name("mp4-writer".to_owned())
            .spawn(move || {
                let result = run(&path, start, sync, format, rx, &ctx);
                ctx.publish_end(&path, &result);
                // The receiver may be gone if the recording failed.
                let _ = done_tx.send(result.map(|(written, _)| written));
            })
            .context("cannot start a writer thread")?;
        Ok(Self {
            tx,
            done,
            failed: None,
            failed_error: None,
        })
    }

    /// Queues a fragment. Waits when the queue is full.
    ///
    /// When the thread has stopped (the disk is full, an I/O error), returns its error:
    /// a [`WriteError`] (see [`WriteError::find`]) saying what was kept of the file. The
    /// file is then already finished as far as it can be; [`Self::close`] only reports
    /// what was kept.
    pub async fn write(&mut self, fragment: Fragment) -> anyhow::Result<()> {
        if self.failed.is_some() {
            bail!("the file was abandoned after an earlier error");
        }
        if self.tx.send(Msg::Fragment(fragment)).await.is_err() {
            // The thread stopped early: it has an error to tell.
            let (_, never) = oneshot::channel();
            let done = std::mem::replace(&mut self.done, never);
            let err = Closing { done }
                .wait()
                .await
                .err()
                .unwrap_or_else(|| anyhow::anyhow!("the writer stopped unexpectedly"));
            self.failed = Some(
                WriteError::find(&err)
                    .and_then(|w| w.kept.as_ref())
                    .map(|k| k.written.clone()),
            );
            self.failed_error = WriteError::find(&err).cloned();
            return Err(err);
        }
        Ok(())
    }

    /// Hands the muxer to the thread, which writes what remains, finalizes and renames
    /// the file; returns at once (unless the queue is full).
    ///
    /// After [`Self::write`] returned the thread's error, the returned [`Closing`]
    /// resolves to what was kept of the file (the error itself is not repeated).
    pub async fn close(self, muxer: FragmentedMuxer, summary: FileSummary) -> Closing {
        match self.failed {
            Some(Some(kept)) => return Closing::ready(Ok(kept)),
            Some(None) => {
                let msg = "nothing was kept of the file (see the error above)";
                return Closing::ready(Err(match self.failed_error {
                    Some(e) => anyhow::Error::new(e).context(msg),
                    None => anyhow::anyhow!(msg),
                }));
            }
            None => {}
        }
        // If the send fails the thread has already stopped with an error, returned by
        // `Closing::wait`.
        let _ = self
            .tx
            .send(Msg::Close {
                muxer: Box::new(muxer),
                summary,
            })
            .await;
        Closing { done: self.done }
    }
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
struct Failed {
    action: WriteAction,
    error: io::Error,
}

trait Doing<T> {
    fn doing(self, action: WriteAction) -> Result<T, Failed>;
}

impl<T> Doing<T> for io::Result<T> {
    fn doing(self, action: WriteAction) -> Result<T, Failed> {
        self.map_err(|error| Failed { action, error })
    }
}

/// The `.partial` being written.
struct PartialFile {
    file: File,
    partial: PathBuf,
    sync: SyncPolicy,
    format: OutputFormat,
    /// End of the last complete fragment (or of the first bytes): what is valid on disk.
    len: u64,
    /// Complete fragments written.
    fragments: u64,
}

impl PartialFile {
    fn sync_data(&self) -> Result<(), Failed> {
        self.file.sync_data().doing(WriteAction::Sync)
    }

    fn write_start(&mut self, start: &[u8]) -> Result<(), Failed> {
        self.file.write_all(start).doing(WriteAction::Write)?;
        self.len = start.len() as u64;
        if self.sync == SyncPolicy::Fragment {
            // The header, and the new name in its directory, survive a power cut.
            self.sync_data()?;
            sync_dir(self.partial.parent().unwrap_or(Path::new(""))).doing(WriteAction::Sync)?;
        }
        Ok(())
    }

    fn append(&mut self, f: &Fragment) -> anyhow::Result<Result<(), Failed>> {
        if f.offset != self.len {
            bail!(
                "internal error: fragment at offset {} but the file is {} bytes",
                f.offset,
                self.len
            );
        }
        Ok(self.append_unchecked(f))
    }

    fn append_unchecked(&mut self, f: &Fragment) -> Result<(), Failed> {
        write_vectored_all(&mut self.file, &f.header, &f.data).doing(WriteAction::Write)?;
        if self.sync == SyncPolicy::Fragment {
            self.sync_data()?;
        }
        self.len = f.end_offset();
        self.fragments += 1;
        Ok(())
    }

    /// Applies a finalization plan step by step. When its first step fails (nothing
    /// changed yet but a possibly partial write, e.g. a `moov` appended to a full disk),
    /// the file is cut back to its valid length.
    fn finalize(&self, plan: &Finalize) -> Result<(), Failed> {
        for (i, step) in plan.steps.iter().enumerate() {
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
    fn fail(self, failed: Failed) -> anyhow::Error {
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

    /// Finalizes the file as `recorder repair` does: reads its boxes back and applies the
    /// recovery plan.
    fn finalize_from_disk(&self) -> anyhow::Result<()> {
        match recover(&self.file, self.len)? {
            Recovered::Fragmented(repair) => self
                .finalize(&repair.finalize)
                .map_err(|f| anyhow::Error::from(f.error)),
            Recovered::AlreadyProgressive { .. } => Ok(()),
        }
    }
}

/// What the file at `path` holds, read back.
fn describe(path: &Path) -> anyhow::Result<Written> {
    let checked = crate::mp4::check::check_path(path)?;
    let count = |handler: &str| -> u64 {
        checked
            .handlers
            .iter()
            .zip(&checked.sample_counts)
            .filter(|(h, _)| *h == handler)
            .map(|(_, n)| u64::from(*n))
            .sum()
    };
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

fn run(
    path: &Path,
    start: Bytes,
    sync: SyncPolicy,
    format: OutputFormat,
    mut rx: mpsc::Receiver<Msg>,
    ctx: &FileContext,
) -> anyhow::Result<(Written, FileSummary)> {
    let (file, partial) = create_partial(path)?;
    tracing::info!("writing {}", partial.display());
    // `NAME.partial` -> `NAME`.
    ctx.events.publish(FileEvent::Opened {
        camera: Arc::clone(&ctx.camera),
        path: partial.with_extension(""),
        start_wall: ctx.start_wall,
    });
    let mut out = PartialFile {
        file,
        partial,
        sync,
        format,
        len: 0,
        fragments: 0,
    };
    if let Err(f) = out.write_start(&start) {
        return Err(out.fail(f));
    }
    while let Some(msg) = rx.blocking_recv() {
        match msg {
            Msg::Fragment(f) => {
                if let Err(failed) = out.append(&f)? {
                    return Err(out.fail(failed));
                }
            }
            Msg::Close { mut muxer, summary } => {
                let stats = SegmentStats::of(&summary);
                let started = Instant::now();
                while let Some(f) = muxer.flush() {
                    if let Err(failed) = out.append(&f)? {
                        return Err(out.fail(failed));
                    }
                }
                let moov = match format {
                    OutputFormat::Mp4 => {
                        let plan = muxer.finalize().context("cannot plan the finalization")?;
                        if let Err(failed) = out.finalize(&plan) {
                            return Err(out.fail(failed));
                        }
                        if !plan.moov_at_front {
                            tracing::warn!(
                                "{}: the moov ({} bytes) did not fit the {}-byte reserve: \
                                 written at the end of the file (not faststart)",
                                out.partial.display(),
                                plan.moov_bytes,
                                plan.reserved_bytes
                            );
                        }
                        out.len = plan.file_len;
                        format!(
                            "; moov {} bytes at the {}, reserved {} bytes",
                            plan.moov_bytes,
                            if plan.moov_at_front { "front" } else { "end" },
                            plan.reserved_bytes
                        )
                    }
                    OutputFormat::Fmp4 => {
                        if let Err(failed) = out.sync_data() {
                            return Err(out.fail(failed));
                        }
                        "; fragmented".to_owned()
                    }
                };
                let len = out.len;
                let partial = out.partial.clone();
                drop(out);
                let path = rename_partial(&partial).map_err(|e| {
                    let mut err = WriteError::new(WriteAction::Finalize, &partial, &e);
                    err.kept = describe(&partial).ok().map(|written| Kept {
                        written,
                        finalized: false,
                    });
                    anyhow::Error::from(err)
                })?;
                tracing::info!(
                    "file finalized: {}: {} video frame(s), {} audio frame(s), {:.3} s, \
                     {len} bytes{moov} ({:.0} ms to close)",
                    path.display(),
                    stats.video_frames,
                    stats.audio_frames,
                    stats.duration_s,
                    started.elapsed().as_secs_f64() * 1000.0
                );
                let written = Written {
                    path,
                    len_bytes: len,
                    stats,
                };
                return Ok((written, summary));
            }
        }
    }
    // Abandoned without a close: leave the fragmented file, durable, for `repair`.
    if let Err(failed) = out.sync_data() {
        return Err(out.fail(failed));
    }
    bail!(
        "recording abandoned; {} holds what was written (see `recorder repair`)",
        out.partial.display()
    )
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

    fn context(events: &FileEvents) -> FileContext {
        FileContext {
            camera: "cam".into(),
            events: events.clone(),
            start_wall: SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1_700_000_000),
        }
    }

    #[test]
    fn the_writer_announces_the_name_it_picked() {
        let dir = temp_dir("picked");
        std::fs::write(dir.join("x.mp4"), b"an earlier recording").unwrap();
        let events = FileEvents::new();
        let mut rx = events.subscribe();
        let writer = SegmentWriter::spawn(
            dir.join("x.mp4"),
            Bytes::from_static(b"start"),
            SyncPolicy::None,
            OutputFormat::Mp4,
            context(&events),
        )
        .unwrap();
        match rx.blocking_recv().unwrap() {
            FileEvent::Opened {
                camera,
                path,
                start_wall,
            } => {
                assert_eq!(&*camera, "cam");
                assert_eq!(path, dir.join("x-1.mp4"));
                assert_eq!(start_wall, context(&events).start_wall);
            }
            other => panic!("{other:?}"),
        }
        assert!(dir.join("x-1.mp4.partial").exists());
        drop(writer);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// A whole file through its writer: opened, fragments, closed; the events say what the
    /// file on disk holds.
    #[tokio::test(flavor = "current_thread")]
    async fn the_writer_announces_the_finished_file() {
        use mp4_track::{FragmentedOptions, SampleInfo, TrackConfig, TrackKind};

        use crate::output::events::EndReason;

        let dir = temp_dir("finished");
        let events = FileEvents::new();
        let mut rx = events.subscribe();
        let mut muxer = FragmentedMuxer::new(FragmentedOptions {
            movie_timescale_hz: 1000,
            creation_time_1904: 0,
            fragment_duration_ms: 1000,
            reserve_bytes: 4096,
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
        let init = muxer.start().unwrap();
        let mut writer = SegmentWriter::spawn(
            dir.join("f.mp4"),
            init,
            SyncPolicy::Fragment,
            OutputFormat::Fmp4,
            context(&events),
        )
        .unwrap();
        for i in 0..75u64 {
            let data = Bytes::from(vec![i as u8; 50]);
            let sample = SampleInfo {
                dts: i * 3000,
                cts_offset: 0,
                size: 50,
                is_sync: i % 30 == 0,
            };
            muxer.push(track, sample, data).unwrap();
            while let Some(f) = muxer.poll_fragment() {
                writer.write(f).await.unwrap();
            }
        }
        let summary = FileSummary {
            start_wall: context(&events).start_wall,
            video: Some(TrackSummary {
                codec: "mp4v.6C".to_owned(),
                dimensions: Some((64, 64)),
                samples: 75,
                start_s: 0.0,
                end_s: 2.5,
            }),
            audio: None,
            end: EndReason::Switch,
        };
        let written = writer
            .close(muxer, summary.clone())
            .await
            .wait()
            .await
            .unwrap();
        assert!(matches!(rx.recv().await.unwrap(), FileEvent::Opened { .. }));
        let FileEvent::Finished(f) = rx.recv().await.unwrap() else {
            panic!("expected Finished");
        };
        assert_eq!(f.path, dir.join("f.mp4"));
        assert_eq!(
            f.len_bytes,
            std::fs::metadata(dir.join("f.mp4")).unwrap().len()
        );
        assert_eq!((f.video_frames, f.audio_frames), (75, 0));
        assert_eq!(f.summary, Some(summary));
        assert_eq!(written.path, f.path);
        std::fs::remove_dir_all(&dir).unwrap();
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

    #[test]
    fn partial_name_appends_suffix() {
        assert_eq!(
            partial_path(Path::new("dir/cam.mp4")),
            PathBuf::from("dir/cam.mp4.partial")
        );
    }
}
