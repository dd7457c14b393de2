//! One session's receive loop: a short tokio loop around the sans-IO
//! [`Router`]. It takes frames from the source, hands them
//! to the router with the wall clock, and carries out the router's actions: each file gets
//! a writer thread ([`SegmentWriter`]), which announces the file's life as
//! [`FileEvent`](crate::output::events::FileEvent)s.
//!
//! A full disk is a state of the output, not of the session: when a writer stops because
//! the disk is full, the router closes the files ([`Router::output_lost`]) and drops
//! frames, the session stays up, the free space is checked every [`SPACE_POLL`] (one
//! warning a minute), and once there is room again the next keyframe starts a new file
//! ([`Router::output_back`]).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use anyhow::Context;
use rtsp_ingest::{Frame, Source};

use crate::output::error::WriteError;
use crate::output::events::{EndReason, FileEvents};
use crate::output::format::Written;
use crate::output::space::{Reclaimer, available_for};
use crate::output::target::Output;
use crate::output::turn::Turns;
use crate::output::writer::{
    CHANNEL_CAPACITY, Closing, FileContext, Queued, ROOM_WAIT, SegmentWriter,
};
use crate::session::live::LiveFeed;
use crate::session::loss::LossLog;
use crate::session::router::{Action, Counts, FileId, Router, RouterConfig};
use crate::session::shutdown::Shutdown;
use crate::session::status::{CameraStatus, State};

/// How often the free space is checked while the disk is full.
pub const SPACE_POLL: Duration = Duration::from_secs(2);

/// How often a full disk is reported while it stays full.
const SPACE_WARNING: Duration = Duration::from_secs(60);

/// Free space needed to resume, at least: room for a few fragments of a small stream.
const MIN_RESUME_BYTES: u64 = 64 * 1024;

/// How long to wait for `TEARDOWN` after the files are finished.
const TEARDOWN_TIMEOUT: Duration = Duration::from_secs(5);

/// With `--duration`, how long to keep receiving the other track once the primary track
/// reached the end, so that its samples up to the end (which may arrive a little later)
/// are written too.
const END_GRACE: Duration = Duration::from_secs(2);

/// The shortest time between two warnings about fragments dropped for a stalled disk.
const DROP_LOG_INTERVAL: Duration = Duration::from_secs(10);

/// Fragments dropped because a writer's queue was full, told without flooding the log:
/// the first at once, then at most one warning per [`DROP_LOG_INTERVAL`].
#[derive(Debug, Default)]
struct DropLog {
    dropped: u64,
    told: u64,
    last: Option<Instant>,
}

impl DropLog {
    fn dropped(&mut self, now: Instant) {
        self.dropped += 1;
        if self
            .last
            .is_some_and(|last| now.saturating_duration_since(last) < DROP_LOG_INTERVAL)
        {
            return;
        }
        tracing::warn!(
            "the disk stalls: {} fragment(s) dropped ({CHANNEL_CAPACITY} queued, none written \
             for {} ms); \
             the file ends at its last queued fragment, recording goes on in a new file at \
             the next keyframe",
            self.dropped - self.told,
            ROOM_WAIT.as_millis()
        );
        self.told = self.dropped;
        self.last = Some(now);
    }

    fn finish(&self) {
        if self.dropped > self.told {
            tracing::warn!(
                "the disk stalled: {} more fragment(s) dropped ({} in this session)",
                self.dropped - self.told,
                self.dropped
            );
        }
    }
}

pub use crate::session::end::{Failure, SessionEnd, SessionTotals};

/// The session with the server was lost without an error of its own: the server ended
/// it, no media came for `--stall-timeout`, or no keyframe came after connecting.
#[derive(Debug)]
pub struct Disconnected(pub String);

impl std::fmt::Display for Disconnected {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Disconnected {}

/// Logs what a new session offers and how long its start took.
pub fn log_connected(source: &Source, waited: Duration) {
    tracing::info!("connected to {}", source.redacted_url());
    if let Some(v) = source.video() {
        let fps = v
            .frames_per_second()
            .map_or_else(String::new, |f| format!(", {f:.3} fps"));
        tracing::info!(
            "video: {} ({}), {}x{}{fps}",
            v.codec.name(),
            v.rfc6381_codec,
            v.width,
            v.height
        );
    }
    if let Some(a) = source.audio() {
        tracing::info!(
            "audio: {} ({}), {} Hz, {} channel(s)",
            a.codec.name(),
            a.rfc6381_codec.as_deref().unwrap_or("?"),
            a.clock_rate_hz,
            a.channels
        );
    }
    let dropped = source.dropped_before_start();
    if source.video().is_some() {
        let audio = if source.audio().is_some() {
            format!(" and {} audio frame(s)", dropped.audio)
        } else {
            String::new()
        };
        tracing::info!(
            "first keyframe after {} dropped video frame(s){audio}, {:.3} s after connecting",
            dropped.video,
            waited.as_secs_f64()
        );
    }
}

/// Tears the session down, bounded in time; failures are only logged.
pub async fn close(source: Source) {
    match tokio::time::timeout(TEARDOWN_TIMEOUT, source.close()).await {
        Ok(Ok(())) => tracing::debug!("session torn down"),
        Ok(Err(e)) => tracing::warn!("teardown failed: {e}"),
        Err(_) => tracing::warn!(
            "teardown not confirmed within {} s",
            TEARDOWN_TIMEOUT.as_secs()
        ),
    }
}

/// One session's recording: its router, and the writers of its open files.
pub struct Recording {
    router: Router,
    output: Output,
    writers: BTreeMap<FileId, SegmentWriter>,
    closing: Vec<Closing>,
    /// The camera's live figures, and what of them this session already counted.
    status: Arc<CameraStatus>,
    counted: Counts,
    events: FileEvents,
    camera: Arc<str>,
    loss: LossLog,
    /// Given to each writer: frees space when its disk is full (`recorder run` with
    /// retention).
    reclaim: Option<Reclaimer>,
    /// While the disk is full: since when, and when to look again.
    no_space: Option<NoSpace>,
    /// The first write error of a full disk this session (for the exit code).
    disk_full: Option<anyhow::Error>,
    /// Frames dropped for want of space, as already counted in the status.
    dropped_counted: u64,
    /// The largest write this session (a fragment, or a file's first bytes): resuming
    /// waits for room for two of them.
    largest_write: u64,
    drops: DropLog,
    /// Which file feeds the camera's live edge.
    live: LiveFeed,
    /// The order in which this session's files take their names.
    turns: Turns,
}

/// The disk is full.
struct NoSpace {
    /// The file that could not be written: its file system is watched.
    path: PathBuf,
    since: Instant,
    next_poll: Instant,
    next_warning: Instant,
}

impl Recording {
    /// Sets up the tracks from the source's streams; files are opened as samples come.
    /// `config.limit` is the media to record from the session's first keyframe.
    pub fn new(
        source: &Source,
        output: Output,
        config: RouterConfig,
        status: Arc<CameraStatus>,
        events: FileEvents,
        reclaim: Option<Reclaimer>,
    ) -> anyhow::Result<Self> {
        Ok(Self {
            router: Router::new(source.video(), source.audio(), config)?,
            output,
            writers: BTreeMap::new(),
            closing: Vec::new(),
            camera: Arc::from(status.name()),
            status,
            counted: Counts::default(),
            events,
            loss: LossLog::default(),
            reclaim,
            no_space: None,
            disk_full: None,
            dropped_counted: 0,
            largest_write: 0,
            drops: DropLog::default(),
            live: LiveFeed::default(),
            turns: Turns::default(),
        })
    }

    /// Receives frames until the duration is reached, a signal arrives, or something
    /// fails. `stall_timeout` bounds the wait for each frame; `deadline` is the wall-clock
    /// end of the run (a backstop: the timeline's limit normally ends it first); `batched`
    /// lets the thread nap between reads (see [`crate::session::pacing`]; false over UDP).
    pub async fn run(
        &mut self,
        source: &mut Source,
        shutdown: &mut Shutdown,
        stall_timeout: Duration,
        deadline: Option<tokio::time::Instant>,
        batched: bool,
    ) -> SessionEnd {
        let end = self
            .receive(source, shutdown, stall_timeout, deadline, batched)
            .await;
        self.loss.finish(source.loss());
        self.status.end_session_lost(source.loss().packets());
        end
    }

    async fn receive(
        &mut self,
        source: &mut Source,
        shutdown: &mut Shutdown,
        stall_timeout: Duration,
        deadline: Option<tokio::time::Instant>,
        batched: bool,
    ) -> SessionEnd {
        let mut grace_deadline: Option<tokio::time::Instant> = None;
        let backstop = deadline.map(|d| d + END_GRACE);
        let mut streaming = crate::session::pacing::Streaming::start(batched);
        loop {
            if self.router.all_done() {
                tracing::info!("requested duration recorded");
                return SessionEnd::Done;
            }
            if grace_deadline.is_none() && self.router.primary_done() {
                grace_deadline = Some(tokio::time::Instant::now() + END_GRACE);
            }
            let receive = tokio::time::timeout(stall_timeout, source.next());
            let next = tokio::select! {
                biased;
                signal = shutdown.recv() => return SessionEnd::Stopped(signal),
                _ = tokio::time::sleep_until(grace_deadline.unwrap_or_else(tokio::time::Instant::now)),
                    if grace_deadline.is_some() =>
                {
                    tracing::info!("requested duration recorded (other track ended early)");
                    return SessionEnd::Done;
                }
                _ = tokio::time::sleep_until(backstop.unwrap_or_else(tokio::time::Instant::now)),
                    if backstop.is_some() =>
                {
                    tracing::info!("end of the requested duration (wall clock)");
                    return SessionEnd::Done;
                }
                next = receive => next,
            };
            let frame = match next {
                Err(_) => {
                    return SessionEnd::Failed(Failure::retryable(anyhow::Error::new(
                        Disconnected(format!(
                            "no media for {} (--stall-timeout)",
                            humantime::format_duration(stall_timeout)
                        )),
                    )));
                }
                Ok(Err(e)) => {
                    return SessionEnd::Failed(Failure::from_source(
                        e,
                        "receiving failed".to_owned(),
                    ));
                }
                Ok(Ok(None)) => {
                    return SessionEnd::Failed(Failure::retryable(anyhow::Error::new(
                        Disconnected("the server ended the session".to_owned()),
                    )));
                }
                Ok(Ok(Some(frame))) => frame,
            };
            streaming.received(frame.data().len());
            while let Some(sr) = source.take_sender_report() {
                self.router.sender_report(&sr, SystemTime::now());
            }
            self.loss.warn(source.loss(), Instant::now);
            self.status.set_session_lost(source.loss().packets());
            if let Err(e) = self.on_frame(frame).await {
                return SessionEnd::Failed(Failure::fatal(e));
            }
        }
    }

    async fn on_frame(&mut self, frame: Frame) -> anyhow::Result<()> {
        self.router.push(frame, SystemTime::now())?;
        self.act().await?;
        self.watch_space().await;
        Ok(())
    }

    /// A writer stopped because the disk is full: the router closes the files and drops
    /// frames until there is space again.
    fn lose_output(&mut self, error: anyhow::Error) {
        let path = WriteError::find(&error).map_or_else(PathBuf::new, |w| w.path.clone());
        tracing::warn!(
            "{error:#}; dropping frames until there is space again (checking every {} s), \
             then recording goes on in a new file",
            SPACE_POLL.as_secs()
        );
        self.router.output_lost();
        self.status.set_error(&error);
        self.status.set_state(State::NoSpace);
        let now = Instant::now();
        self.no_space = Some(NoSpace {
            path,
            since: now,
            next_poll: now + SPACE_POLL,
            next_warning: now + SPACE_WARNING,
        });
        self.disk_full.get_or_insert(error);
    }

    /// While the disk is full: every [`SPACE_POLL`], checks the free space (asking the
    /// reclaim hook for more when there is one) and, once there is room for two of the
    /// session's largest writes, lets the router resume; warns once a minute.
    async fn watch_space(&mut self) {
        let Some(lost) = &mut self.no_space else {
            return;
        };
        let now = Instant::now();
        if now < lost.next_poll {
            return;
        }
        lost.next_poll = now + SPACE_POLL;
        let needed = self.largest_write.saturating_mul(2).max(MIN_RESUME_BYTES);
        let mut available = available_for(&lost.path).unwrap_or(0);
        if available < needed
            && let Some(reclaim) = &self.reclaim
        {
            // Deleting files and the catalog block: off the session's thread.
            let reclaim = reclaim.clone();
            let dir = lost.path.parent().unwrap_or(&lost.path).to_owned();
            let wanted = needed - available;
            let freed = tokio::task::spawn_blocking(move || reclaim.0.reclaim(&dir, wanted))
                .await
                .unwrap_or(0);
            if freed > 0 {
                available = available_for(&lost.path).unwrap_or(0);
            }
        }
        let dropped = self.router.dropped_no_space();
        if available >= needed {
            tracing::info!(
                "space is back ({available} bytes free) after {:.1} s and {dropped} dropped \
                 frame(s): recording goes on at the next keyframe in a new file",
                now.duration_since(lost.since).as_secs_f64()
            );
            self.router.output_back();
            self.status.set_state(State::Recording);
            self.no_space = None;
        } else if now >= lost.next_warning {
            lost.next_warning = now + SPACE_WARNING;
            tracing::warn!(
                "still no space for {} ({available} bytes free, {needed} needed): {dropped} \
                 frame(s) dropped over {:.0} s",
                lost.path.display(),
                now.duration_since(lost.since).as_secs_f64()
            );
        }
    }

    /// Carries out the router's actions and counts what it wrote.
    async fn act(&mut self) -> anyhow::Result<()> {
        while let Some(action) = self.router.poll_action() {
            match action {
                Action::Open {
                    file,
                    start_wall,
                    init,
                } => {
                    let path = self.output.path_at(start_wall)?;
                    self.live
                        .opened(self.status.live(), file, &init, start_wall);
                    self.largest_write = self.largest_write.max(init.len() as u64);
                    let ctx = FileContext {
                        camera: Arc::clone(&self.camera),
                        events: self.events.clone(),
                        start_wall,
                        reclaim: self.reclaim.clone(),
                        timers: self.status.timers(),
                        turn: Some(self.turns.take()),
                    };
                    let writer = SegmentWriter::spawn(
                        path,
                        init,
                        self.output.sync,
                        self.output.format,
                        ctx,
                    )?;
                    self.writers.insert(file, writer);
                }
                Action::Write { file, fragment } => {
                    let len = fragment.end_offset() - fragment.offset;
                    self.largest_write = self.largest_write.max(len);
                    let writer = self
                        .writers
                        .get_mut(&file)
                        .context("internal error: a fragment for a file not open")?;
                    if writer.has_failed() {
                        // The router closes it next: the disk is full.
                        continue;
                    }
                    let length = self.router.fragment_length(&fragment);
                    self.live
                        .written(self.status.live(), file, &fragment, length);
                    match writer.write(fragment).await {
                        Ok(Queued::Yes) => {}
                        Ok(Queued::Dropped) => {
                            self.router.fragment_dropped(file);
                            self.status.add_dropped_fragment();
                            self.drops.dropped(Instant::now());
                        }
                        Err(e) if disk_full(&e) => self.lose_output(e),
                        Err(e) => return Err(e),
                    }
                }
                Action::Close {
                    file,
                    muxer,
                    summary,
                } => {
                    let writer = self
                        .writers
                        .remove(&file)
                        .context("internal error: closing a file not open")?;
                    self.live.closed(self.status.live(), file);
                    self.closing.push(writer.close(*muxer, summary));
                }
                Action::Cut { file, summary } => {
                    let writer = self
                        .writers
                        .remove(&file)
                        .context("internal error: cutting a file not open")?;
                    self.live.closed(self.status.live(), file);
                    self.closing.push(writer.cut(summary));
                }
            }
        }
        let now = self.router.written();
        let before = std::mem::replace(&mut self.counted, now);
        self.status.add_frames(
            now.video_frames - before.video_frames,
            now.audio_frames - before.audio_frames,
            now.bytes - before.bytes,
        );
        let dropped = self.router.dropped_no_space();
        self.status
            .add_dropped_no_space(dropped - std::mem::replace(&mut self.dropped_counted, dropped));
        Ok(())
    }

    /// Closes the open files (they end for `reason`), waits for every writer, and logs
    /// what was dropped. Returns what the session's files hold (those kept after an error
    /// too), the first error finishing a file, and the first full-disk error of the
    /// session (not an error of the session: it went on).
    pub async fn finish(
        mut self,
        reason: EndReason,
    ) -> (SessionTotals, Option<anyhow::Error>, Option<anyhow::Error>) {
        let mut first_error = self.router.finish(reason).err();
        if let Some(e) = &first_error {
            tracing::error!("{e:#}");
        }
        if let Err(e) = self.act().await {
            tracing::error!("{e:#}");
            first_error.get_or_insert(e);
        }
        self.drops.finish();
        // Totals of what the files hold, including a file cut back to its last complete
        // fragment after a write error (the disk filled up).
        let mut totals = SessionTotals {
            dropped_no_space: self.router.dropped_no_space(),
            ..SessionTotals::default()
        };
        let mut disk_full_error = self.disk_full.take();
        let mut add = |w: &Written| {
            totals.video_frames += w.stats.video_frames;
            totals.audio_frames += w.stats.audio_frames;
            totals.duration_s += w.stats.duration_s;
            totals.files += 1;
        };
        for closing in self.closing {
            match closing.wait().await {
                Ok(w) => add(&w),
                Err(e) => {
                    if let Some(kept) = WriteError::find(&e).and_then(|w| w.kept.as_ref()) {
                        add(&kept.written);
                    }
                    if disk_full(&e) {
                        // Already reported when the disk filled, or at the very end.
                        tracing::warn!("{e:#}");
                        disk_full_error.get_or_insert(e);
                    } else {
                        tracing::error!("{e:#}");
                        first_error.get_or_insert(e);
                    }
                }
            }
        }
        if totals.dropped_no_space > 0 {
            tracing::warn!(
                "{} frame(s) dropped because the disk was full",
                totals.dropped_no_space
            );
        }
        (
            totals,
            first_error.map(|e| e.context("a file could not be finished")),
            disk_full_error,
        )
    }
}

/// True when `e` comes from a full disk (or quota).
pub fn disk_full(e: &anyhow::Error) -> bool {
    WriteError::find(e).is_some_and(WriteError::is_disk_full)
}
