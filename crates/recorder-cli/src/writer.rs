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

use std::fs::{DirBuilder, File, OpenOptions};
use std::io::{self, IoSlice, Write};
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, bail};
use bytes::Bytes;
use mp4_track::{Fragment, FragmentedMuxer};
use tokio::sync::{mpsc, oneshot};

use crate::finalize_io::apply_finalize;
use crate::repair::rename_partial;
use crate::template::{PARTIAL_SUFFIX, with_suffix};

/// Fragments in flight between the receive loop and a writer thread: about this many
/// seconds of media with 1 s fragments.
const CHANNEL_CAPACITY: usize = 8;

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

enum Msg {
    Fragment(Fragment),
    /// Flush the muxer, write the rest, finalize, rename.
    Close {
        muxer: Box<FragmentedMuxer>,
        stats: SegmentStats,
    },
}

/// The sending side of one file's writer thread.
pub struct SegmentWriter {
    tx: mpsc::Sender<Msg>,
    done: oneshot::Receiver<anyhow::Result<Written>>,
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
}

impl SegmentWriter {
    /// Starts a thread that creates `path` (or, if it or its `.partial` exists,
    /// `path-1`, `path-2`, ... before the extension) as `NAME.partial`, creating missing
    /// directories (mode 0750), and writes `start` (the muxer's first bytes).
    pub fn spawn(
        path: PathBuf,
        start: Bytes,
        sync: SyncPolicy,
        format: OutputFormat,
    ) -> anyhow::Result<Self> {
        let (tx, rx) = mpsc::channel(CHANNEL_CAPACITY);
        let (done_tx, done) = oneshot::channel();
        std::thread::Builder::new()
            .name("mp4-writer".to_owned())
            .spawn(move || {
                // The receiver may be gone if the recording failed.
                let _ = done_tx.send(run(&path, start, sync, format, rx));
            })
            .context("cannot start a writer thread")?;
        Ok(Self { tx, done })
    }

    /// Queues a fragment. Waits when the queue is full.
    pub async fn write(&mut self, fragment: Fragment) -> anyhow::Result<()> {
        if self.tx.send(Msg::Fragment(fragment)).await.is_err() {
            // The thread stopped early: it has an error to tell.
            let (_, never) = oneshot::channel();
            let done = std::mem::replace(&mut self.done, never);
            return Err(Closing { done }
                .wait()
                .await
                .err()
                .unwrap_or_else(|| anyhow::anyhow!("the writer stopped unexpectedly")));
        }
        Ok(())
    }

    /// Hands the muxer to the thread, which writes what remains, finalizes and renames
    /// the file; returns at once (unless the queue is full).
    pub async fn close(self, muxer: FragmentedMuxer, stats: SegmentStats) -> Closing {
        // If the send fails the thread has already stopped with an error, returned by
        // `Closing::wait`.
        let _ = self
            .tx
            .send(Msg::Close {
                muxer: Box::new(muxer),
                stats,
            })
            .await;
        Closing { done: self.done }
    }
}

/// `<path>.partial`.
pub fn partial_path(path: &Path) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(PARTIAL_SUFFIX);
    PathBuf::from(name)
}

/// Creates the directories of `path` (0750) and a new `.partial` file for the first name
/// among `path`, `path-1`, ... of which neither the file nor its `.partial` exists.
/// Returns the open file and its `.partial` path.
pub fn create_partial(path: &Path) -> anyhow::Result<(File, PathBuf)> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        DirBuilder::new()
            .recursive(true)
            .mode(0o750)
            .create(dir)
            .with_context(|| format!("cannot create directory {}", dir.display()))?;
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
            Err(e) => {
                return Err(e).with_context(|| format!("cannot create {}", partial.display()));
            }
        }
    }
    bail!("no free name for {} (tried 10000 suffixes)", path.display())
}

/// Writes `header` then every buffer of `data` at the file's current position with
/// vectored writes (one, unless the kernel takes less), without copying them.
pub fn write_vectored_all(file: &mut File, header: &[u8], data: &[Bytes]) -> io::Result<()> {
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

fn sync_dir(partial: &Path) -> io::Result<()> {
    let dir = match partial.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    File::open(dir)?.sync_all()
}

fn run(
    path: &Path,
    start: Bytes,
    sync: SyncPolicy,
    format: OutputFormat,
    mut rx: mpsc::Receiver<Msg>,
) -> anyhow::Result<Written> {
    let (mut file, partial) = create_partial(path)?;
    tracing::info!("writing {}", partial.display());
    let write_err = || format!("cannot write {}", partial.display());
    let sync_err = || format!("cannot sync {}", partial.display());
    file.write_all(&start).with_context(write_err)?;
    let mut len = start.len() as u64;
    if sync == SyncPolicy::Fragment {
        // The header, and the new name in its directory, survive a power cut.
        file.sync_data().with_context(sync_err)?;
        sync_dir(&partial).with_context(sync_err)?;
    }
    let write = |file: &mut File, f: &Fragment, len: &mut u64| -> anyhow::Result<()> {
        if f.offset != *len {
            bail!(
                "internal error: fragment at offset {} but the file is {len} bytes",
                f.offset
            );
        }
        write_vectored_all(file, &f.header, &f.data).with_context(write_err)?;
        *len = f.end_offset();
        if sync == SyncPolicy::Fragment {
            file.sync_data().with_context(sync_err)?;
        }
        Ok(())
    };
    while let Some(msg) = rx.blocking_recv() {
        match msg {
            Msg::Fragment(f) => write(&mut file, &f, &mut len)?,
            Msg::Close { mut muxer, stats } => {
                let started = Instant::now();
                while let Some(f) = muxer.flush() {
                    write(&mut file, &f, &mut len)?;
                }
                let moov = match format {
                    OutputFormat::Mp4 => {
                        let plan = muxer.finalize().context("cannot plan the finalization")?;
                        apply_finalize(&file, &plan)
                            .with_context(|| format!("cannot finalize {}", partial.display()))?;
                        len = plan.file_len;
                        if !plan.moov_at_front {
                            tracing::warn!(
                                "{}: the moov ({} bytes) did not fit the {}-byte reserve: \
                                 written at the end of the file (not faststart)",
                                partial.display(),
                                plan.moov_bytes,
                                plan.reserved_bytes
                            );
                        }
                        format!(
                            "; moov {} bytes at the {}, reserved {} bytes",
                            plan.moov_bytes,
                            if plan.moov_at_front { "front" } else { "end" },
                            plan.reserved_bytes
                        )
                    }
                    OutputFormat::Fmp4 => {
                        file.sync_data().with_context(sync_err)?;
                        "; fragmented".to_owned()
                    }
                };
                drop(file);
                let path = rename_partial(&partial)
                    .with_context(|| format!("cannot rename {}", partial.display()))?;
                tracing::info!(
                    "file finalized: {}: {} video frame(s), {} audio frame(s), {:.3} s, \
                     {len} bytes{moov} ({:.0} ms to close)",
                    path.display(),
                    stats.video_frames,
                    stats.audio_frames,
                    stats.duration_s,
                    started.elapsed().as_secs_f64() * 1000.0
                );
                return Ok(Written {
                    path,
                    len_bytes: len,
                    stats,
                });
            }
        }
    }
    // Abandoned without a close: leave the fragmented file, durable, for `repair`.
    file.sync_data().with_context(sync_err)?;
    bail!(
        "recording abandoned; {} holds what was written (see `recorder repair`)",
        partial.display()
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
