//! The file writer: one thread per output file, fed fragments through a bounded channel.
//!
//! Why a thread: `write`, `fsync` and `rename` block, sometimes for long (a slow disk or a
//! network filesystem), and must not stall the RTSP session's reactor (keepalives, socket
//! reads). The thread owns its file, creates it (and its directories) when the segment's
//! first sample arrives, writes each fragment with one vectored write of its header and
//! the samples' buffers (no copy of the media), syncs it, and at the end flushes the
//! muxer, applies the finalization plan and renames the file into place: a segment being
//! finalized never holds up the next one. The queue is bounded ([`CHANNEL_CAPACITY`]
//! fragments); when it is full, [`SegmentWriter::write`] waits at most [`ROOM_WAIT`] for
//! room (a burst that arrives faster than the disk writes: back-pressure, as TCP gives),
//! then drops the fragment whole and says so ([`Queued::Dropped`]): a disk that stalls
//! (seconds of `fsync` latency) holds up receiving for at most that long, and never for
//! another camera. The file then ends
//! at its last queued fragment: the writer drops every later fragment, and at the close
//! finalizes the file from what is on disk ([`SegmentWriter::cut`], as `recorder repair`
//! does), since the muxer's tables count the lost fragments. The router starts a new file
//! at the next keyframe. The thread announces the file's life as [`FileEvent`]s.
//!
//! When the disk fills up or fails (`ENOSPC`, `EIO`, ...), the thread cuts the file back
//! to the end of its last complete fragment, finalizes it from what is on disk (as
//! `recorder repair` would) or, when even that cannot be written, leaves the valid
//! fragmented `.partial`, and stops with a [`WriteError`] that says what was kept
//! ([`crate::output::file`]). Before that, when the disk is full while appending a
//! fragment and the file's [`FileContext`] has a [`Reclaimer`] (`recorder run` with
//! retention), the thread asks it once for space; when it freed enough, the torn
//! fragment is cut off and written again, and the file goes on.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Instant, SystemTime};

use anyhow::{Context, bail};
use bytes::Bytes;
use mp4_track::{Fragment, FragmentedMuxer};
use tokio::sync::{mpsc, oneshot};

use crate::output::error::{Kept, WriteAction, WriteError};
use crate::output::events::{FileEvent, FileEvents, FileSummary, FinishedFile};
use crate::output::file::{Failed, FragmentTimers, PartialFile, create_partial, describe};
use crate::output::format::{OutputFormat, SegmentStats, SyncPolicy, Written};
use crate::output::partial::rename_partial;
use crate::output::space::Reclaimer;
use crate::output::turn::Turn;

/// Fragments in flight between the receive loop and a writer thread: about this many
/// seconds of media with 1 s fragments. A fragment that finds the queue full is dropped.
pub const CHANNEL_CAPACITY: usize = 8;

/// How long [`SegmentWriter::write`] waits for room in a full queue before it drops the
/// fragment: far longer than a healthy disk takes to write a fragment, far shorter than
/// the socket buffers and keepalives can bear.
pub const ROOM_WAIT: std::time::Duration = std::time::Duration::from_millis(500);

/// The fragments in a writer's queue: counted, with a wake-up each time the thread takes
/// one.
#[derive(Default)]
struct Queue {
    queued: AtomicUsize,
    taken: tokio::sync::Notify,
    /// Set by the thread as soon as a write failed (before it cuts the file back, which
    /// takes a while): a full queue then means an error to wait for, not a stalled disk.
    failing: std::sync::atomic::AtomicBool,
}

enum Msg {
    Fragment(Fragment),
    /// Flush the muxer, write the rest, finalize, rename.
    Close {
        muxer: Box<FragmentedMuxer>,
        summary: FileSummary,
    },
    /// The file ends at its last queued fragment: finalize it from what is on disk, rename.
    Cut {
        summary: FileSummary,
    },
}

/// What [`SegmentWriter::write`] did with a fragment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Queued {
    /// It is queued for the thread.
    Yes,
    /// The queue was full (the disk stalls) or the file was already cut: the fragment was
    /// dropped, and the file ends at its last queued fragment.
    Dropped,
}

/// Whose file a writer writes, for its [`FileEvent`]s.
#[derive(Debug)]
pub struct FileContext {
    /// The camera's name.
    pub camera: Arc<str>,
    /// Where the file's events go.
    pub events: FileEvents,
    /// Wall-clock time of the file's first sample.
    pub start_wall: SystemTime,
    /// Asked for space when the disk is full, before the file is given up.
    pub reclaim: Option<Reclaimer>,
    /// Where the fragments' write and sync latencies go, if anywhere.
    pub timers: Option<FragmentTimers>,
    /// This file's turn to take a name, after the session's earlier files (`None`: at
    /// once).
    pub turn: Option<Turn>,
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
    /// Unbounded, so that a close is never waited on; fragments are bounded by `queued`.
    tx: mpsc::UnboundedSender<Msg>,
    /// Fragments sent and not yet taken by the thread.
    queue: Arc<Queue>,
    /// A fragment was dropped: the file ends at its last queued fragment.
    cut: bool,
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
        mut ctx: FileContext,
    ) -> anyhow::Result<Self> {
        let (tx, rx) = mpsc::unbounded_channel();
        let queue = Arc::new(Queue::default());
        let taken = Arc::clone(&queue);
        let (done_tx, done) = oneshot::channel();
        std::thread::Builder::new()
            .name("mp4-writer".to_owned())
            .spawn(move || {
                let rx = Inbox { rx, queue: taken };
                let turn = ctx.turn.take();
                let result = run(&path, start, sync, format, rx, &ctx, turn);
                ctx.publish_end(&path, &result);
                // The receiver may be gone if the recording failed.
                let _ = done_tx.send(result.map(|(written, _)| written));
            })
            .context("cannot start a writer thread")?;
        Ok(Self {
            tx,
            queue,
            cut: false,
            done,
            failed: None,
            failed_error: None,
        })
    }

    /// True once [`Self::write`] returned the thread's error.
    pub fn has_failed(&self) -> bool {
        self.failed.is_some()
    }

    /// Queues a fragment. When [`CHANNEL_CAPACITY`] fragments are already queued, waits
    /// at most [`ROOM_WAIT`] for the thread to take one; when none was taken by then (the
    /// disk stalls), or an earlier fragment was dropped, the fragment is dropped
    /// ([`Queued::Dropped`]) and the file ends at its last queued fragment (a close then
    /// finishes it as a [`Self::cut`]).
    ///
    /// When the thread has stopped (the disk is full, an I/O error), returns its error:
    /// a [`WriteError`] (see [`WriteError::find`]) saying what was kept of the file. The
    /// file is then already finished as far as it can be; [`Self::close`] only reports
    /// what was kept.
    pub async fn write(&mut self, fragment: Fragment) -> anyhow::Result<Queued> {
        if self.failed.is_some() {
            bail!("the file was abandoned after an earlier error");
        }
        if self.cut || !self.room().await {
            if !self.cut && self.queue.failing.load(Ordering::Acquire) {
                // Not a stall: the thread is ending with an error; wait for it.
                return Err(self.thread_error().await);
            }
            self.cut = true;
            return Ok(Queued::Dropped);
        }
        self.queue.queued.fetch_add(1, Ordering::AcqRel);
        if self.tx.send(Msg::Fragment(fragment)).is_err() {
            // The thread stopped early: it has an error to tell.
            return Err(self.thread_error().await);
        }
        Ok(Queued::Yes)
    }

    /// Waits for the thread that stopped (or is stopping) with an error, and remembers
    /// what it kept.
    async fn thread_error(&mut self) -> anyhow::Error {
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
        err
    }

    /// True once the queue has room, false when it had none for [`ROOM_WAIT`].
    async fn room(&self) -> bool {
        let has_room = || self.queue.queued.load(Ordering::Acquire) < CHANNEL_CAPACITY;
        if has_room() {
            return true;
        }
        let wait = async {
            // `notify_one` keeps a wake-up for a waiter to come: none is missed.
            while !has_room() {
                self.queue.taken.notified().await;
            }
        };
        tokio::time::timeout(ROOM_WAIT, wait).await.is_ok()
    }

    /// Hands the muxer to the thread, which writes what remains, finalizes and renames
    /// the file; returns at once. After a fragment was dropped, the muxer (whose tables
    /// count it) is not used: the file is finished as a [`Self::cut`].
    ///
    /// After [`Self::write`] returned the thread's error, the returned [`Closing`]
    /// resolves to what was kept of the file (the error itself is not repeated).
    pub fn close(self, muxer: FragmentedMuxer, summary: FileSummary) -> Closing {
        if self.cut {
            return self.cut(summary);
        }
        self.finish(Msg::Close {
            muxer: Box::new(muxer),
            summary,
        })
    }

    /// Finishes the file as written: the thread writes the fragments already queued, then
    /// finalizes the file from what is on disk (`--format mp4`; as `recorder repair`
    /// does) and renames it; its [`FileEvent::Finished`] describes the file read back,
    /// ending for [`EndReason::DiskStall`](crate::output::events::EndReason::DiskStall).
    /// Returns at once.
    pub fn cut(self, summary: FileSummary) -> Closing {
        self.finish(Msg::Cut { summary })
    }

    fn finish(self, msg: Msg) -> Closing {
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
        let _ = self.tx.send(msg);
        Closing { done: self.done }
    }
}

/// The thread's side of the queue: counts the fragments it takes.
struct Inbox {
    rx: mpsc::UnboundedReceiver<Msg>,
    queue: Arc<Queue>,
}

impl Inbox {
    fn recv(&mut self) -> Option<Msg> {
        let msg = self.rx.blocking_recv()?;
        if matches!(msg, Msg::Fragment(_)) {
            self.queue.queued.fetch_sub(1, Ordering::AcqRel);
            self.queue.taken.notify_one();
        }
        Some(msg)
    }
}

fn run(
    path: &Path,
    start: Bytes,
    sync: SyncPolicy,
    format: OutputFormat,
    mut rx: Inbox,
    ctx: &FileContext,
    turn: Option<Turn>,
) -> anyhow::Result<(Written, FileSummary)> {
    if let Some(turn) = &turn {
        turn.wait();
    }
    let created = create_partial(path);
    drop(turn); // The next file of the session may take its name.
    let (file, partial) = created?;
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
        timers: ctx.timers.clone(),
    };
    if let Err(f) = out.write_start(&start) {
        return Err(out.fail(f));
    }
    while let Some(msg) = rx.recv() {
        match msg {
            Msg::Fragment(f) => {
                if let Err(failed) = append_reclaiming(&mut out, &f, ctx)? {
                    rx.queue.failing.store(true, Ordering::Release);
                    return Err(out.fail(failed));
                }
            }
            Msg::Cut { summary } => return out.finish_cut(summary),
            Msg::Close { mut muxer, summary } => {
                let stats = SegmentStats::of(&summary);
                let started = Instant::now();
                while let Some(f) = muxer.flush() {
                    if let Err(failed) = append_reclaiming(&mut out, &f, ctx)? {
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
                crate::output::finalize_io::pause_before_catalog(&path);
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

/// Appends `f`. When the disk is full and `ctx` has a reclaim hook, asks it once for
/// room for two such fragments; when it freed at least one, cuts off the torn write and
/// writes the fragment again.
fn append_reclaiming(
    out: &mut PartialFile,
    f: &Fragment,
    ctx: &FileContext,
) -> anyhow::Result<Result<(), Failed>> {
    let failed = match out.append(f)? {
        Ok(()) => return Ok(Ok(())),
        Err(failed) => failed,
    };
    let Some(reclaim) = ctx.reclaim.as_ref().filter(|_| failed.is_disk_full()) else {
        return Ok(Err(failed));
    };
    let len = f.end_offset() - f.offset;
    let dir = out.partial.parent().unwrap_or(Path::new("")).to_owned();
    let freed = reclaim.0.reclaim(&dir, len.saturating_mul(2));
    if freed < len {
        tracing::debug!("reclaim freed {freed} bytes, {len} needed");
        return Ok(Err(failed));
    }
    if let Err(e) = out.rewind() {
        tracing::warn!("cannot cut back {}: {e}", out.partial.display());
        return Ok(Err(failed));
    }
    tracing::info!(
        "{}: the disk was full; retention freed {freed} bytes and the file goes on",
        out.partial.display()
    );
    out.append(f)
}

#[cfg(test)]
#[path = "writer_tests.rs"]
mod tests;
