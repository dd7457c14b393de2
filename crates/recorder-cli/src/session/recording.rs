//! `recorder record`: the receive loop around the timeline, the segmenter, one fragmented
//! muxer per output file, and the files' writer threads.

use std::collections::VecDeque;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use anyhow::{Context, bail};
use bytes::Bytes;
use jiff::tz::TimeZone;
use mp4_track::{
    FragmentedMuxer, FragmentedOptions, SampleInfo, TrackConfig, TrackEstimate, TrackId, TrackKind,
    estimate_moov_bytes,
};
use rtsp_ingest::{Frame, Source, VideoCodec};

use crate::camera::{CameraConfig, Shutdown};
use crate::output::template::Template;
use crate::output::writer::{
    Closing, OutputFormat, SegmentStats, SegmentWriter, SyncPolicy, WriteError, Written,
};
use crate::session::segment::{Decision, MediaTime, Route, Segmenter};
use crate::session::timeline::{Placement, Timeline, TrackIndex};
use crate::ui::status::CameraStatus;

/// How long to wait for `TEARDOWN` after the files are finished.
const TEARDOWN_TIMEOUT: Duration = Duration::from_secs(5);

/// With `--duration`, how long to keep receiving the other track once the primary track
/// reached the end, so that its samples up to the end (which may arrive a little later)
/// are written too.
const END_GRACE: Duration = Duration::from_secs(2);

/// Audio is held until video presented at or after it has come (see
/// [`Recording::release_audio`]), but never more than this ahead of the oldest held frame.
const MAX_AUDIO_HOLD: Duration = Duration::from_secs(1);

/// Seconds between 1904-01-01 and 1970-01-01 (ISO BMFF times count from 1904).
const SECS_1904_TO_1970: u64 = 2_082_844_800;

/// Length a file is expected to reach when neither `--segment-duration` nor `--duration`
/// says: the room reserved for its final `moov` is sized for this.
const DEFAULT_EXPECTED_LENGTH: Duration = Duration::from_secs(3600);

/// Upper bound of the room reserved for the `moov` (a longer file gets its `moov` at the
/// end instead). 8 MiB holds the tables of about 6 hours of 30 fps video with jittery
/// timestamps and AAC audio.
const MAX_RESERVE_BYTES: u64 = 8 << 20;

/// Where and how files are written.
#[derive(Clone, Debug)]
pub struct Output {
    /// The output name template.
    pub template: Template,
    tz: TimeZone,
    format: OutputFormat,
    sync: SyncPolicy,
}

impl Output {
    /// Parses the output template and checks, before connecting, that its directory can
    /// be created.
    pub fn new(camera: &CameraConfig) -> anyhow::Result<Self> {
        let template = Template::parse(&camera.output)?;
        let tz = if camera.utc {
            TimeZone::UTC
        } else {
            TimeZone::try_system().unwrap_or_else(|e| {
                tracing::warn!("cannot find the local time zone ({e}); using UTC");
                TimeZone::UTC
            })
        };
        let now = jiff::Timestamp::now();
        let first = template.render(now, &tz)?;
        if template.has_fields() {
            tracing::debug!(
                "output template; a file starting now would be {}",
                first.display()
            );
        }
        if let Some(dir) = first.parent() {
            crate::output::writer::prepare_output_dir(dir)?;
        }
        Ok(Self {
            template,
            tz,
            format: camera.format,
            sync: camera.sync,
        })
    }
}

/// Repairs the `.partial` files an earlier run with the same `-o` left behind (a crash,
/// a power cut); one that cannot be repaired is left alone with a warning.
pub fn repair_leftovers(template: &Template) {
    for path in template.find_leftovers() {
        tracing::info!("found a leftover {}; repairing it", path.display());
        match crate::output::repair::repair_file(&path) {
            Ok(report) => tracing::info!("{report}"),
            Err(e) => tracing::warn!("leaving {} alone: {e:#}", path.display()),
        }
    }
}

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

/// Per-track bookkeeping over the whole recording.
struct Track {
    name: &'static str,
    timeline: TrackIndex,
    /// The track's configuration for the next file (the latest sample entry).
    config: TrackConfig,
    /// For the `moov` reserve estimate.
    estimate: TrackEstimate,
    dropped_before_zero: u64,
    dropped_not_after_previous: u64,
    /// Frames dropped in the current run of non-increasing timestamps.
    dropping_run: u64,
    /// Secondary frames from before a file switch that came after the previous file was
    /// closed.
    dropped_late: u64,
    /// Video: the reorder depth (B-frames) in use; 0 otherwise.
    reorder_depth: u8,
    /// Video: pictures presented before their file's first keyframe but decoded after it
    /// (open GOPs' leading pictures), which no file can hold.
    dropped_leading: u64,
}

impl Track {
    fn new(
        name: &'static str,
        timeline: TrackIndex,
        config: TrackConfig,
        estimate: TrackEstimate,
    ) -> Self {
        Self {
            name,
            timeline,
            config,
            estimate,
            dropped_before_zero: 0,
            dropped_not_after_previous: 0,
            dropping_run: 0,
            dropped_late: 0,
            reorder_depth: 0,
            dropped_leading: 0,
        }
    }

    /// Video: adopts the stream's reorder depth (B-frames) for the samples from now on.
    fn set_reorder(&mut self, timeline: &mut Timeline, depth: u8, frame_ticks: Option<NonZeroU32>) {
        if depth != self.reorder_depth {
            tracing::info!(
                "{}: up to {depth} frame(s) reordered (B-frames): writing decode times and \
                 composition offsets",
                self.name
            );
        }
        self.reorder_depth = depth;
        self.estimate.composition_offsets = depth > 0;
        // Without a nominal frame rate, extrapolate the first decode times by 1/30 s.
        let frame_ticks = frame_ticks.map_or(self.clock_hz() / 30, NonZeroU32::get);
        timeline.set_reorder(self.timeline, depth, frame_ticks);
    }

    fn clock_hz(&self) -> u32 {
        self.config.timescale_hz
    }

    /// Places a sample on the recording's timeline: its presentation time and composition
    /// offset; `None` when it is dropped.
    fn place(&mut self, timeline: &mut Timeline, pts: i64) -> Option<(MediaTime, u32)> {
        match timeline.place(self.timeline, pts) {
            Placement::Write { time, cts_offset } => {
                if self.dropping_run > 0 {
                    tracing::warn!(
                        "{}: timestamps increase again after {} dropped frame(s)",
                        self.name,
                        self.dropping_run
                    );
                    self.dropping_run = 0;
                }
                Some((
                    MediaTime {
                        ticks: time,
                        clock_hz: self.clock_hz(),
                    },
                    cts_offset,
                ))
            }
            Placement::BeforeZero => {
                self.dropped_before_zero += 1;
                None
            }
            Placement::NotAfterPrevious { prev_dts, time } => {
                self.dropped_not_after_previous += 1;
                self.dropping_run += 1;
                if self.dropping_run == 1 {
                    if self.reorder_depth == 0 {
                        tracing::warn!(
                            "{}: dropping frame at {time} (not after the previous frame at \
                             {prev_dts}); dropping until timestamps increase again",
                            self.name
                        );
                    } else {
                        tracing::warn!(
                            "{}: dropping frame at {time} (not after the previous frame's decode \
                             time {prev_dts}: reordered by more than {} frame(s), or timestamps \
                             went back); dropping until timestamps increase again",
                            self.name,
                            self.reorder_depth
                        );
                    }
                }
                None
            }
            Placement::AfterEnd => None,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Video,
    Audio,
}

/// One track of one file.
struct FileTrack {
    id: TrackId,
    clock_hz: u32,
    /// Added to every decode time in this file (track clock): the file's first video
    /// sample's composition offset, so that its decode times start at 0 and the other
    /// track stays aligned with the video's presentation (the edit lists then start both
    /// at the first keyframe's presentation).
    lead: u64,
    default_duration: Option<NonZeroU32>,
    samples: u64,
    last_dts: Option<u64>,
    last_delta: Option<u64>,
    /// True once the track's end is fixed by the first sample of the next file.
    ended: bool,
}

impl FileTrack {
    fn new(id: TrackId, config: &TrackConfig, lead: u64) -> Self {
        Self {
            id,
            clock_hz: config.timescale_hz,
            lead,
            default_duration: config.default_sample_duration,
            samples: 0,
            last_dts: None,
            last_delta: None,
            ended: false,
        }
    }

    fn end_secs(&self) -> f64 {
        let Some(last) = self.last_dts else {
            return 0.0;
        };
        let d = self
            .last_delta
            .or(self.default_duration.map(|d| u64::from(d.get())))
            .unwrap_or(1);
        (last + d).saturating_sub(self.lead) as f64 / f64::from(self.clock_hz)
    }
}

/// One output file being written.
struct Segment {
    muxer: FragmentedMuxer,
    writer: SegmentWriter,
    /// The instant (on the recording's timeline) of the file's first sample's presentation:
    /// its zero.
    zero: MediaTime,
    video: Option<FileTrack>,
    audio: Option<FileTrack>,
}

impl Segment {
    /// Writes a sample presented at `t` (not before the file's zero), decoded `cts_offset`
    /// ticks earlier.
    async fn push(
        &mut self,
        kind: Kind,
        t: MediaTime,
        cts_offset: u32,
        is_sync: bool,
        data: Bytes,
    ) -> anyhow::Result<()> {
        let track = match kind {
            Kind::Video => self.video.as_mut(),
            Kind::Audio => self.audio.as_mut(),
        }
        .context("internal error: the file has no such track")?;
        // Decode times increase from the file's first sample on, whose offset is the lead.
        let dts = (t.since(self.zero) + track.lead)
            .checked_sub(u64::from(cts_offset))
            .context("internal error: a sample decoded before the file's first")?;
        let size = u32::try_from(data.len())
            .with_context(|| format!("a frame of {} bytes is too large", data.len()))?;
        self.muxer.push(
            track.id,
            SampleInfo {
                dts,
                cts_offset: i32::try_from(cts_offset).unwrap_or(i32::MAX),
                size,
                is_sync,
            },
            data,
        )?;
        if let Some(prev) = track.last_dts {
            track.last_delta = Some(dts - prev);
        }
        track.ended = false;
        track.last_dts = Some(dts);
        track.samples += 1;
        while let Some(f) = self.muxer.poll_fragment() {
            self.writer.write(f).await?;
        }
        Ok(())
    }

    /// The first sample of `kind` in the next file is at `next` (presentation; decoded
    /// `next_cts_offset` earlier): this file's last sample of that kind lasts until then,
    /// so consecutive files neither overlap nor leave a gap (without it, the last sample
    /// gets the duration of the one before it). Once per track; ignored when `next` is not
    /// after the last sample.
    fn end_track_at(&mut self, kind: Kind, next: MediaTime, next_cts_offset: u32) {
        let zero = self.zero;
        let Some(track) = (match kind {
            Kind::Video => self.video.as_mut(),
            Kind::Audio => self.audio.as_mut(),
        }) else {
            return;
        };
        let Some(last) = track.last_dts.filter(|_| !track.ended) else {
            return;
        };
        let end = (next.since(zero) + track.lead).saturating_sub(u64::from(next_cts_offset));
        match self.muxer.set_track_end(track.id, end) {
            Ok(()) => {
                track.last_delta = Some(end - last);
                track.ended = true;
            }
            Err(e) => tracing::debug!("keeping the last sample's estimated duration: {e}"),
        }
    }

    fn stats(&self) -> SegmentStats {
        SegmentStats {
            video_frames: self.video.as_ref().map_or(0, |t| t.samples),
            audio_frames: self.audio.as_ref().map_or(0, |t| t.samples),
            duration_s: self
                .video
                .iter()
                .chain(self.audio.iter())
                .map(FileTrack::end_secs)
                .fold(0.0, f64::max),
        }
    }

    /// Hands the file to its writer thread to finish; does not wait for it.
    async fn close(self) -> Closing {
        let stats = self.stats();
        self.writer.close(self.muxer, stats).await
    }
}

/// One session's recording: its timeline, segmenter and open files.
pub struct Recording {
    output: Output,
    timeline: Timeline,
    segmenter: Segmenter,
    fragment_duration_ms: u32,
    /// Expected length of a file, for the `moov` reserve.
    expected_length: Duration,
    video: Option<Track>,
    audio: Option<Track>,
    /// The video parameters changed since the last written video frame.
    new_video_parameters: bool,
    current: Option<Segment>,
    previous: Option<Segment>,
    closing: Vec<Closing>,
    /// Audio beside video, placed but not yet routed to a file (see
    /// [`Self::release_audio`]).
    held_audio: VecDeque<(MediaTime, Bytes)>,
    /// The latest presentation time of the video placed so far.
    video_frontier: Option<MediaTime>,
    /// The camera's live figures.
    status: Arc<CameraStatus>,
}

impl Recording {
    /// Sets up the tracks from the source's streams; files are opened as samples come.
    /// `limit` is the media to record from the session's first keyframe.
    pub fn new(
        source: &Source,
        output: Output,
        camera: &CameraConfig,
        limit: Option<Duration>,
        status: Arc<CameraStatus>,
    ) -> anyhow::Result<Self> {
        let mut timeline = Timeline::new(limit);
        let video = match source.video() {
            Some(v) => {
                let config = TrackConfig {
                    kind: TrackKind::Video {
                        width: u16::try_from(v.width).context("video width exceeds 65535")?,
                        height: u16::try_from(v.height).context("video height exceeds 65535")?,
                    },
                    timescale_hz: v.clock_rate_hz,
                    sample_entry: v.sample_entry.clone(),
                    default_sample_duration: v.nominal_frame_duration(),
                };
                let fps = v.frames_per_second().unwrap_or(60.0);
                let estimate = TrackEstimate {
                    samples_per_s: fps,
                    sync_samples_per_s: if v.codec == VideoCodec::Jpeg {
                        fps
                    } else {
                        fps.min(2.0)
                    },
                    // Cameras' timestamps often jitter: reserve for one stts entry per
                    // sample.
                    regular_durations: false,
                    composition_offsets: false,
                    sample_entry_len: v.sample_entry.len() as u64,
                };
                let tl = timeline.add_track(v.clock_rate_hz, true);
                let mut track = Track::new("video", tl, config, estimate);
                track.set_reorder(&mut timeline, v.reorder_depth, v.nominal_frame_duration());
                Some(track)
            }
            None => None,
        };
        let audio = match source.audio() {
            Some(a) => {
                let config = TrackConfig {
                    kind: TrackKind::Audio,
                    timescale_hz: a.clock_rate_hz,
                    sample_entry: a.sample_entry.clone(),
                    default_sample_duration: a.frame_length,
                };
                let frame = a.frame_length.map_or(1024, NonZeroU32::get);
                let per_s = f64::from(a.clock_rate_hz) / f64::from(frame);
                let estimate = TrackEstimate {
                    samples_per_s: per_s,
                    sync_samples_per_s: per_s,
                    regular_durations: true,
                    composition_offsets: false,
                    sample_entry_len: a.sample_entry.len() as u64,
                };
                let tl = timeline.add_track(a.clock_rate_hz, video.is_none());
                Some(Track::new("audio", tl, config, estimate))
            }
            None => None,
        };
        if video.is_none() && audio.is_none() {
            bail!("the source has no stream to record");
        }
        let expected_length = match (camera.segment_duration, limit) {
            (Some(s), Some(d)) => s.min(d),
            (Some(s), None) => s,
            (None, Some(d)) => d,
            (None, None) => DEFAULT_EXPECTED_LENGTH,
        };
        Ok(Self {
            output,
            timeline,
            segmenter: Segmenter::new(camera.segment_duration, video.is_some() && audio.is_some()),
            fragment_duration_ms: u32::try_from(camera.fragment_duration.as_millis())
                .unwrap_or(u32::MAX),
            expected_length,
            video,
            audio,
            new_video_parameters: false,
            current: None,
            previous: None,
            closing: Vec::new(),
            held_audio: VecDeque::new(),
            video_frontier: None,
            status,
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
        let mut grace_deadline: Option<tokio::time::Instant> = None;
        let backstop = deadline.map(|d| d + END_GRACE);
        let mut streaming = crate::session::pacing::Streaming::start(batched);
        loop {
            if self.timeline.all_done() {
                tracing::info!("requested duration recorded");
                return SessionEnd::Done;
            }
            if grace_deadline.is_none() && self.timeline.primary_done() {
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
                        crate::ui::exit::Disconnected(format!(
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
                        crate::ui::exit::Disconnected("the server ended the session".to_owned()),
                    )));
                }
                Ok(Ok(Some(frame))) => frame,
            };
            streaming.received(frame.data().len());
            if let Err(e) = self.on_frame(frame).await {
                return SessionEnd::Failed(Failure::fatal(e));
            }
        }
    }

    async fn on_frame(&mut self, frame: Frame) -> anyhow::Result<()> {
        match frame {
            Frame::Video {
                pts,
                is_sync,
                data,
                new_info,
                ..
            } => {
                let Some(track) = self.video.as_mut() else {
                    return Ok(());
                };
                if let Some(info) = new_info {
                    tracing::info!(
                        "video parameters changed: {} {}x{}; starting a new file",
                        info.rfc6381_codec,
                        info.width,
                        info.height
                    );
                    track.config.sample_entry = info.sample_entry.clone();
                    track.config.kind = TrackKind::Video {
                        width: u16::try_from(info.width).context("video width exceeds 65535")?,
                        height: u16::try_from(info.height).context("video height exceeds 65535")?,
                    };
                    if let Some(d) = info.nominal_frame_duration() {
                        track.config.default_sample_duration = Some(d);
                    }
                    track.estimate.sample_entry_len = info.sample_entry.len() as u64;
                    track.set_reorder(
                        &mut self.timeline,
                        info.reorder_depth,
                        info.nominal_frame_duration(),
                    );
                    self.new_video_parameters = true;
                }
                let Some((t, cts_offset)) = track.place(&mut self.timeline, pts) else {
                    return Ok(());
                };
                // A picture presented before the current file's first keyframe but decoded
                // after it (an open GOP's leading picture): it belongs to no file.
                if let Some(current) = &self.current
                    && t.before(current.zero)
                {
                    track.dropped_leading += 1;
                    if track.dropped_leading == 1 {
                        tracing::info!(
                            "video: dropping pictures presented before their file's first \
                             keyframe but sent after it (open GOP)"
                        );
                    }
                    return Ok(());
                }
                let new_parameters =
                    std::mem::take(&mut self.new_video_parameters) && self.current.is_some();
                let d = self.segmenter.primary(t, is_sync, new_parameters);
                self.apply(d, Kind::Video, t, cts_offset, is_sync, data)
                    .await?;
                if self.video_frontier.is_none_or(|f| f.before(t)) {
                    self.video_frontier = Some(t);
                }
                self.release_audio(false).await
            }
            Frame::Audio { pts, data, .. } => {
                let Some(track) = self.audio.as_mut() else {
                    return Ok(());
                };
                let Some((t, _)) = track.place(&mut self.timeline, pts) else {
                    return Ok(());
                };
                if self.video.is_none() {
                    let d = self.segmenter.primary(t, true, false);
                    return self.apply(d, Kind::Audio, t, 0, true, data).await;
                }
                self.held_audio.push_back((t, data));
                self.release_audio(false).await
            }
            _ => Ok(()),
        }
    }

    /// Routes the held audio that can be routed: each frame once video presented at or
    /// after it has come (so a file switch at a keyframe up to that instant is known even
    /// when the keyframe, a large frame, arrives after the audio), or once it is
    /// [`MAX_AUDIO_HOLD`] older than the newest held frame (video stalled), or, with
    /// `all`, every frame (the session ends).
    async fn release_audio(&mut self, all: bool) -> anyhow::Result<()> {
        while let Some(&(t, _)) = self.held_audio.front() {
            let covered = self.video_frontier.is_some_and(|f| !f.before(t));
            let stale = self
                .held_audio
                .back()
                .is_some_and(|&(newest, _)| newest.at_least_after(t, MAX_AUDIO_HOLD));
            if !(all || covered || stale) {
                break;
            }
            let (t, data) = self.held_audio.pop_front().expect("front exists");
            let d = self.segmenter.secondary(t);
            self.apply(d, Kind::Audio, t, 0, true, data).await?;
        }
        Ok(())
    }

    /// Carries out the segmenter's decision for one sample presented at `t` and decoded
    /// `cts_offset` earlier.
    async fn apply(
        &mut self,
        d: Decision,
        kind: Kind,
        t: MediaTime,
        cts_offset: u32,
        is_sync: bool,
        data: Bytes,
    ) -> anyhow::Result<()> {
        // The first sample of a track in the newer file ends that track in the older one.
        if d.route == Route::Current
            && let Some(p) = self.previous.as_mut()
        {
            p.end_track_at(kind, t, cts_offset);
        }
        if d.close_previous
            && let Some(p) = self.previous.take()
        {
            self.closing.push(p.close().await);
        }
        if d.open {
            // The first sample opens the file: a video one's offset is the file's lead.
            let new = self.open_segment(t, cts_offset)?;
            if let Some(mut old) = self.current.replace(new) {
                old.end_track_at(kind, t, cts_offset);
                if d.linger {
                    if let Some(p) = self.previous.replace(old) {
                        self.closing.push(p.close().await);
                    }
                } else {
                    self.closing.push(old.close().await);
                }
            }
        }
        let segment = match d.route {
            Route::Current => self.current.as_mut(),
            Route::Previous => self.previous.as_mut(),
            Route::Drop => None,
        };
        let track = match kind {
            Kind::Video => self.video.as_mut(),
            Kind::Audio => self.audio.as_mut(),
        }
        .context("internal error: no such track")?;
        match segment {
            Some(segment) => {
                let len = data.len();
                segment.push(kind, t, cts_offset, is_sync, data).await?;
                match kind {
                    Kind::Video => self.status.add_video_frame(len),
                    Kind::Audio => self.status.add_audio_frame(len),
                }
            }
            None => {
                track.dropped_late += 1;
                if track.dropped_late == 1 {
                    tracing::warn!(
                        "{}: dropping frames from before the file switch that came more than \
                         {} s late",
                        track.name,
                        crate::session::segment::LINGER.as_secs()
                    );
                }
            }
        }
        Ok(())
    }

    /// Opens a file whose first sample is presented at `zero` and decoded `lead` ticks
    /// earlier: its name and `creation_time` come from the wall clock now.
    fn open_segment(&mut self, zero: MediaTime, lead: u32) -> anyhow::Result<Segment> {
        let now = SystemTime::now();
        let since_epoch = now
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap_or_default();
        let at = jiff::Timestamp::try_from(now).unwrap_or(jiff::Timestamp::UNIX_EPOCH);
        let path = self.output.template.render(at, &self.output.tz)?;
        let estimates: Vec<TrackEstimate> = self
            .video
            .iter()
            .chain(self.audio.iter())
            .map(|t| t.estimate)
            .collect();
        let reserve_bytes = match self.output.format {
            OutputFormat::Fmp4 => 0,
            OutputFormat::Mp4 => estimate_moov_bytes(
                &estimates,
                u64::try_from(self.expected_length.as_millis()).unwrap_or(u64::MAX),
                self.fragment_duration_ms,
            )
            .min(MAX_RESERVE_BYTES),
        };
        tracing::debug!(
            "{}: reserving {reserve_bytes} bytes for the moov ({} s expected)",
            path.display(),
            self.expected_length.as_secs()
        );
        let mut muxer = FragmentedMuxer::new(FragmentedOptions {
            movie_timescale_hz: 1000,
            creation_time_1904: since_epoch.as_secs() + SECS_1904_TO_1970,
            fragment_duration_ms: self.fragment_duration_ms,
            reserve_bytes,
        });
        // The lead in each track's clock (rounded: below one tick of difference).
        let lead_in = |clock_hz: u32| {
            let num = u128::from(lead) * u128::from(clock_hz);
            let den = u128::from(zero.clock_hz.max(1));
            u64::try_from((2 * num + den) / (2 * den)).unwrap_or(u64::MAX)
        };
        let mut file_track = |t: Option<&Track>| -> Result<Option<FileTrack>, mp4_track::Error> {
            t.map(|t| {
                let id = muxer.add_track(t.config.clone())?;
                Ok(FileTrack::new(
                    id,
                    &t.config,
                    lead_in(t.config.timescale_hz),
                ))
            })
            .transpose()
        };
        let video = file_track(self.video.as_ref())?;
        let audio = file_track(self.audio.as_ref())?;
        let start = muxer.start()?;
        let status = Arc::clone(&self.status);
        let writer = SegmentWriter::spawn(
            path,
            start,
            self.output.sync,
            self.output.format,
            move |name| status.set_file(name),
        )?;
        Ok(Segment {
            muxer,
            writer,
            zero,
            video,
            audio,
        })
    }

    /// Closes the open files, waits for every writer, and logs what was dropped. Returns
    /// what the session's files hold (those kept after an error too) and the first error
    /// finishing a file.
    pub async fn finish(mut self) -> (SessionTotals, Option<anyhow::Error>) {
        let release_error = self.release_audio(true).await.err();
        if let Some(e) = &release_error {
            tracing::error!("{e:#}");
        }
        if let Some(p) = self.previous.take() {
            self.closing.push(p.close().await);
        }
        if let Some(c) = self.current.take() {
            self.closing.push(c.close().await);
        }
        // Totals of what the files hold, including a file cut back to its last complete
        // fragment after a write error (the disk filled up).
        let mut totals = SessionTotals::default();
        let mut add = |w: &Written| {
            totals.video_frames += w.stats.video_frames;
            totals.audio_frames += w.stats.audio_frames;
            totals.duration_s += w.stats.duration_s;
            totals.files += 1;
        };
        let mut first_error = release_error;
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
        for t in self.video.iter().chain(self.audio.iter()) {
            if t.dropped_not_after_previous > 0 || t.dropped_before_zero > 0 || t.dropped_late > 0 {
                tracing::info!(
                    "{}: dropped {} frame(s) with non-increasing timestamps, {} before the start \
                     and {} late at a file switch",
                    t.name,
                    t.dropped_not_after_previous,
                    t.dropped_before_zero,
                    t.dropped_late
                );
            }
            if t.dropped_leading > 0 {
                tracing::info!(
                    "{}: dropped {} picture(s) presented before their file's first keyframe",
                    t.name,
                    t.dropped_leading
                );
            }
        }
        (
            totals,
            first_error.map(|e| e.context("a file could not be finished")),
        )
    }
}
