//! One session's receive loop: a short tokio loop around the sans-IO
//! [`Router`]. It takes frames from the source, hands them
//! to the router with the wall clock, and carries out the router's actions: each file gets
//! a writer thread ([`SegmentWriter`]), which announces the file's life as
//! [`FileEvent`](crate::output::events::FileEvent)s.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use anyhow::Context;
use rtsp_ingest::{Frame, Source};

use crate::output::error::WriteError;
use crate::output::events::{EndReason, FileEvents};
use crate::output::format::Written;
use crate::output::target::Output;
use crate::output::writer::{
    CHANNEL_CAPACITY, Closing, FileContext, Queued, ROOM_WAIT, SegmentWriter,
};
use crate::session::loss::LossLog;
use crate::session::router::{Action, Counts, FileId, Router, RouterConfig};
use crate::session::shutdown::Shutdown;
use crate::session::status::CameraStatus;

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

/// How a session ended.
#[derive(Debug)]
pub enum SessionEnd {
    /// The requested duration was recorded.
    Done,
    /// A signal asked to stop.
    Stopped(&'static str),
    /// The session failed.
    Failed(Failure),
}

/// A failed session or connection attempt.
#[derive(Debug)]
pub struct Failure {
    /// What went wrong.
    pub error: anyhow::Error,
    /// Whether reconnecting may help.
    pub retryable: bool,
}

impl Failure {
    /// A failure worth a reconnect.
    pub fn retryable(error: anyhow::Error) -> Self {
        Self {
            error,
            retryable: true,
        }
    }

    /// A failure that reconnecting will not cure.
    pub fn fatal(error: anyhow::Error) -> Self {
        Self {
            error,
            retryable: false,
        }
    }

    /// From the ingest crate's error, classified by
    /// [`is_retryable`](rtsp_ingest::Error::is_retryable).
    pub fn from_source(error: rtsp_ingest::Error, context: String) -> Self {
        let retryable = error.is_retryable();
        Self {
            error: anyhow::Error::new(error).context(context),
            retryable,
        }
    }
}

/// What one session wrote.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct SessionTotals {
    /// Video frames written.
    pub video_frames: u64,
    /// Audio frames written.
    pub audio_frames: u64,
    /// Media length (the longest track's end), in seconds.
    pub duration_s: f64,
    /// Files finished.
    pub files: u64,
}

impl SessionTotals {
    /// Adds another session's figures.
    pub fn add(&mut self, other: SessionTotals) {
        self.video_frames += other.video_frames;
        self.audio_frames += other.audio_frames;
        self.duration_s += other.duration_s;
        self.files += other.files;
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
    drops: DropLog,
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
            drops: DropLog::default(),
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
            self.loss.warn(source.loss(), Instant::now);
            if let Err(e) = self.on_frame(frame).await {
                return SessionEnd::Failed(Failure::fatal(e));
            }
        }
    }

    async fn on_frame(&mut self, frame: Frame) -> anyhow::Result<()> {
        self.router.push(frame, SystemTime::now())?;
        self.act().await
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
                    let ctx = FileContext {
                        camera: Arc::clone(&self.camera),
                        events: self.events.clone(),
                        start_wall,
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
                    let queued = self
                        .writers
                        .get_mut(&file)
                        .context("internal error: a fragment for a file not open")?
                        .write(fragment)
                        .await?;
                    if queued == Queued::Dropped {
                        self.router.fragment_dropped(file);
                        self.status.add_dropped_fragment();
                        self.drops.dropped(Instant::now());
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
                    self.closing.push(writer.close(*muxer, summary));
                }
                Action::Cut { file, summary } => {
                    let writer = self
                        .writers
                        .remove(&file)
                        .context("internal error: cutting a file not open")?;
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
        Ok(())
    }

    /// Closes the open files (they end for `reason`), waits for every writer, and logs
    /// what was dropped. Returns what the session's files hold (those kept after an error
    /// too) and the first error finishing a file.
    pub async fn finish(mut self, reason: EndReason) -> (SessionTotals, Option<anyhow::Error>) {
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
        let mut totals = SessionTotals::default();
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
                    tracing::error!("{e:#}");
                    if let Some(kept) = WriteError::find(&e).and_then(|w| w.kept.as_ref()) {
                        add(&kept.written);
                    }
                    first_error.get_or_insert(e);
                }
            }
        }
        (
            totals,
            first_error.map(|e| e.context("a file could not be finished")),
        )
    }
}
