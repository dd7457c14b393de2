//! `recorder record`: the receive loop around the timeline, the segmenter, one fragmented
//! muxer per output file, and the files' writer threads.

use std::num::NonZeroU32;
use std::time::{Duration, Instant, SystemTime};

use anyhow::{Context, anyhow, bail};
use bytes::Bytes;
use jiff::tz::TimeZone;
use mp4_track::{
    FragmentedMuxer, FragmentedOptions, SampleInfo, TrackConfig, TrackEstimate, TrackId, TrackKind,
    estimate_moov_bytes,
};
use rtsp_ingest::{Frame, Source, SourceOptions, VideoCodec};

use crate::cli::{
    FormatArg, InitialTimestampArg, PasswordSources, RecordArgs, SyncArg, TeardownArg,
    TransportArg, resolve_credentials,
};
use crate::segment::{Decision, MediaTime, Route, Segmenter};
use crate::template::Template;
use crate::timeline::{Placement, Timeline, TrackIndex};
use crate::writer::{Closing, OutputFormat, SegmentStats, SegmentWriter, SyncPolicy, Written};

/// How long to wait for `TEARDOWN` after the files are finished.
const TEARDOWN_TIMEOUT: Duration = Duration::from_secs(5);

/// With `--duration`, how long to keep receiving the other track once the primary track
/// reached the end, so that its samples up to the end (which may arrive a little later)
/// are written too.
const END_GRACE: Duration = Duration::from_secs(2);

/// Seconds between 1904-01-01 and 1970-01-01 (ISO BMFF times count from 1904).
const SECS_1904_TO_1970: u64 = 2_082_844_800;

/// Length a file is expected to reach when neither `--segment-duration` nor `--duration`
/// says: the room reserved for its final `moov` is sized for this.
const DEFAULT_EXPECTED_LENGTH: Duration = Duration::from_secs(3600);

/// Upper bound of the room reserved for the `moov` (a longer file gets its `moov` at the
/// end instead). 8 MiB holds the tables of about 6 hours of 30 fps video with jittery
/// timestamps and AAC audio.
const MAX_RESERVE_BYTES: u64 = 8 << 20;

/// Runs `recorder record`.
pub async fn record(args: RecordArgs) -> anyhow::Result<()> {
    let passwords = PasswordSources::gather(&args)?;
    let creds = resolve_credentials(&args.url, args.username.as_deref(), &passwords)?;
    let mut options = SourceOptions::new(args.url.clone())
        .with_transport(match args.transport {
            TransportArg::Tcp => rtsp_ingest::Transport::Tcp,
            TransportArg::Udp => rtsp_ingest::Transport::Udp,
        })
        .with_initial_timestamp(match args.initial_timestamp {
            InitialTimestampArg::Default => rtsp_ingest::InitialTimestampPolicy::Default,
            InitialTimestampArg::Require => rtsp_ingest::InitialTimestampPolicy::Require,
            InitialTimestampArg::Ignore => rtsp_ingest::InitialTimestampPolicy::Ignore,
            InitialTimestampArg::Permissive => rtsp_ingest::InitialTimestampPolicy::Permissive,
        })
        .with_teardown(match args.teardown {
            TeardownArg::Auto => rtsp_ingest::TeardownPolicy::Auto,
            TeardownArg::Always => rtsp_ingest::TeardownPolicy::Always,
            TeardownArg::Never => rtsp_ingest::TeardownPolicy::Never,
        })
        .with_video(!args.no_video)
        .with_audio(!args.no_audio)
        .with_allow_loss(args.allow_loss);
    if let Some(c) = creds {
        options = options.with_credentials(c.username(), c.password());
    }
    let url = options.redacted_url();

    let output = Output::new(&args)?;
    repair_leftovers(&output.template);
    let mut shutdown = Shutdown::new()?;

    tracing::info!("connecting to {url}");
    let connect_started = Instant::now();
    let connected = tokio::select! {
        r = Source::connect(options) => r,
        signal = shutdown.recv() => {
            bail!("interrupted by {signal} before recording started; no file written");
        }
    };
    let mut source = connected.with_context(|| format!("cannot record {url}"))?;
    log_connected(&source, connect_started.elapsed());

    let mut recording = match Recording::new(&source, output, &args) {
        Ok(r) => r,
        Err(e) => {
            close(source).await;
            return Err(e);
        }
    };
    let outcome = recording.run(&mut source, &mut shutdown).await;
    let finished = recording.finish().await;
    close(source).await;
    match (outcome, finished) {
        (Ok(()), Ok(())) => Ok(()),
        (Ok(()), Err(e)) => Err(e),
        (Err(e), Ok(())) => {
            Err(e.context("recording stopped early (the files hold what was received)"))
        }
        (Err(e), Err(fin)) => {
            tracing::error!("{fin:#}");
            Err(e)
        }
    }
}

/// Where and how files are written.
struct Output {
    template: Template,
    tz: TimeZone,
    format: OutputFormat,
    sync: SyncPolicy,
}

impl Output {
    /// Parses `-o` and checks, before connecting, that its directory can be created.
    fn new(args: &RecordArgs) -> anyhow::Result<Self> {
        let template = Template::parse(&args.output)?;
        let tz = if args.utc {
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
        if let Some(dir) = first.parent().filter(|d| !d.as_os_str().is_empty()) {
            use std::os::unix::fs::DirBuilderExt;
            std::fs::DirBuilder::new()
                .recursive(true)
                .mode(0o750)
                .create(dir)
                .with_context(|| format!("cannot create output directory {}", dir.display()))?;
        }
        Ok(Self {
            template,
            tz,
            format: match args.format {
                FormatArg::Mp4 => OutputFormat::Mp4,
                FormatArg::Fmp4 => OutputFormat::Fmp4,
            },
            sync: match args.sync {
                SyncArg::Fragment => SyncPolicy::Fragment,
                SyncArg::None => SyncPolicy::None,
            },
        })
    }
}

/// Repairs the `.partial` files an earlier run with the same `-o` left behind (a crash,
/// a power cut); one that cannot be repaired is left alone with a warning.
fn repair_leftovers(template: &Template) {
    for path in template.find_leftovers() {
        tracing::info!("found a leftover {}; repairing it", path.display());
        match crate::repair::repair_file(&path) {
            Ok(report) => tracing::info!("{report}"),
            Err(e) => tracing::warn!("leaving {} alone: {e:#}", path.display()),
        }
    }
}

fn log_connected(source: &Source, waited: Duration) {
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
async fn close(source: Source) {
    match tokio::time::timeout(TEARDOWN_TIMEOUT, source.close()).await {
        Ok(Ok(())) => tracing::debug!("session torn down"),
        Ok(Err(e)) => tracing::warn!("teardown failed: {e}"),
        Err(_) => tracing::warn!(
            "teardown not confirmed within {} s",
            TEARDOWN_TIMEOUT.as_secs()
        ),
    }
}

/// Waits for SIGINT (Ctrl-C) or SIGTERM.
struct Shutdown {
    #[cfg(unix)]
    sigint: tokio::signal::unix::Signal,
    #[cfg(unix)]
    sigterm: tokio::signal::unix::Signal,
}

impl Shutdown {
    /// Installs the handlers now, so a signal during connection is not missed.
    fn new() -> anyhow::Result<Self> {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{SignalKind, signal};
            Ok(Self {
                sigint: signal(SignalKind::interrupt()).context("cannot handle SIGINT")?,
                sigterm: signal(SignalKind::terminate()).context("cannot handle SIGTERM")?,
            })
        }
        #[cfg(not(unix))]
        Ok(Self {})
    }

    /// The next signal's name. Cancel-safe.
    async fn recv(&mut self) -> &'static str {
        #[cfg(unix)]
        {
            tokio::select! {
                _ = self.sigint.recv() => "SIGINT",
                _ = self.sigterm.recv() => "SIGTERM",
            }
        }
        #[cfg(not(unix))]
        {
            let _ = tokio::signal::ctrl_c().await;
            "Ctrl-C"
        }
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
    written: u64,
    /// Decode time (from the recording's zero) of the last written sample and the delta
    /// before it.
    last_dts: Option<u64>,
    last_delta: Option<u64>,
    dropped_before_zero: u64,
    dropped_not_after_previous: u64,
    /// Frames dropped in the current run of non-increasing timestamps.
    dropping_run: u64,
    /// Secondary frames from before a file switch that came after the previous file was
    /// closed.
    dropped_late: u64,
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
            written: 0,
            last_dts: None,
            last_delta: None,
            dropped_before_zero: 0,
            dropped_not_after_previous: 0,
            dropping_run: 0,
            dropped_late: 0,
        }
    }

    fn clock_hz(&self) -> u32 {
        self.config.timescale_hz
    }

    /// Places a sample on the recording's timeline; `None` when it is dropped.
    fn place(&mut self, timeline: &mut Timeline, pts: i64) -> Option<MediaTime> {
        match timeline.place(self.timeline, pts) {
            Placement::Write { dts } => {
                if self.dropping_run > 0 {
                    tracing::warn!(
                        "{}: timestamps increase again after {} dropped frame(s)",
                        self.name,
                        self.dropping_run
                    );
                    self.dropping_run = 0;
                }
                Some(MediaTime {
                    ticks: dts,
                    clock_hz: self.clock_hz(),
                })
            }
            Placement::BeforeZero => {
                self.dropped_before_zero += 1;
                None
            }
            Placement::NotAfterPrevious { prev_dts, dts } => {
                self.dropped_not_after_previous += 1;
                self.dropping_run += 1;
                if self.dropping_run == 1 {
                    tracing::warn!(
                        "{}: dropping frame at {dts} (not after the previous frame at {prev_dts}); \
                         dropping until timestamps increase again",
                        self.name
                    );
                }
                None
            }
            Placement::AfterEnd => None,
        }
    }

    fn note_written(&mut self, dts: u64) {
        if let Some(prev) = self.last_dts {
            self.last_delta = Some(dts - prev);
        }
        self.last_dts = Some(dts);
        self.written += 1;
    }

    /// End of the last written sample, in seconds from the recording's zero; the last
    /// sample lasts as long as the one before it (else the nominal duration), as in the
    /// files.
    fn end_secs(&self) -> f64 {
        let Some(last) = self.last_dts else {
            return 0.0;
        };
        let d = self
            .last_delta
            .or(self
                .config
                .default_sample_duration
                .map(|d| u64::from(d.get())))
            .unwrap_or(1);
        (last + d) as f64 / f64::from(self.clock_hz())
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
    default_duration: Option<NonZeroU32>,
    samples: u64,
    last_dts: Option<u64>,
    last_delta: Option<u64>,
}

impl FileTrack {
    fn new(id: TrackId, config: &TrackConfig) -> Self {
        Self {
            id,
            clock_hz: config.timescale_hz,
            default_duration: config.default_sample_duration,
            samples: 0,
            last_dts: None,
            last_delta: None,
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
        (last + d) as f64 / f64::from(self.clock_hz)
    }
}

/// One output file being written.
struct Segment {
    muxer: FragmentedMuxer,
    writer: SegmentWriter,
    /// The instant (on the recording's timeline) of the file's first sample: its zero.
    zero: MediaTime,
    video: Option<FileTrack>,
    audio: Option<FileTrack>,
}

impl Segment {
    async fn push(
        &mut self,
        kind: Kind,
        t: MediaTime,
        is_sync: bool,
        data: Bytes,
    ) -> anyhow::Result<()> {
        let track = match kind {
            Kind::Video => self.video.as_mut(),
            Kind::Audio => self.audio.as_mut(),
        }
        .context("internal error: the file has no such track")?;
        let dts = t.since(self.zero);
        let size = u32::try_from(data.len())
            .with_context(|| format!("a frame of {} bytes is too large", data.len()))?;
        self.muxer.push(
            track.id,
            SampleInfo {
                dts,
                cts_offset: 0,
                size,
                is_sync,
            },
            data,
        )?;
        if let Some(prev) = track.last_dts {
            track.last_delta = Some(dts - prev);
        }
        track.last_dts = Some(dts);
        track.samples += 1;
        while let Some(f) = self.muxer.poll_fragment() {
            self.writer.write(f).await?;
        }
        Ok(())
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

struct Recording {
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
}

impl Recording {
    /// Sets up the tracks from the source's streams; files are opened as samples come.
    fn new(source: &Source, output: Output, args: &RecordArgs) -> anyhow::Result<Self> {
        let mut timeline = Timeline::new(args.duration);
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
                Some(Track::new("video", tl, config, estimate))
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
        let expected_length = match (args.segment_duration, args.duration) {
            (Some(s), Some(d)) => s.min(d),
            (Some(s), None) => s,
            (None, Some(d)) => d,
            (None, None) => DEFAULT_EXPECTED_LENGTH,
        };
        Ok(Self {
            output,
            timeline,
            segmenter: Segmenter::new(args.segment_duration, video.is_some() && audio.is_some()),
            fragment_duration_ms: u32::try_from(args.fragment_duration.as_millis())
                .unwrap_or(u32::MAX),
            expected_length,
            video,
            audio,
            new_video_parameters: false,
            current: None,
            previous: None,
            closing: Vec::new(),
        })
    }

    /// Receives frames until the duration is reached, a signal arrives, or something
    /// fails.
    async fn run(&mut self, source: &mut Source, shutdown: &mut Shutdown) -> anyhow::Result<()> {
        let mut grace_deadline: Option<tokio::time::Instant> = None;
        loop {
            if self.timeline.all_done() {
                tracing::info!("requested duration recorded");
                return Ok(());
            }
            if grace_deadline.is_none() && self.timeline.primary_done() {
                grace_deadline = Some(tokio::time::Instant::now() + END_GRACE);
            }
            let next = tokio::select! {
                biased;
                signal = shutdown.recv() => {
                    tracing::info!("stopping on {signal}");
                    return Ok(());
                }
                _ = tokio::time::sleep_until(grace_deadline.unwrap_or_else(tokio::time::Instant::now)),
                    if grace_deadline.is_some() =>
                {
                    tracing::info!("requested duration recorded (other track ended early)");
                    return Ok(());
                }
                next = source.next() => next,
            };
            match next.context("receiving failed")? {
                Some(frame) => self.on_frame(frame).await?,
                None => return Err(anyhow!("the server ended the session")),
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
                    self.new_video_parameters = true;
                }
                let Some(t) = track.place(&mut self.timeline, pts) else {
                    return Ok(());
                };
                let new_parameters =
                    std::mem::take(&mut self.new_video_parameters) && self.current.is_some();
                let d = self.segmenter.primary(t, is_sync, new_parameters);
                self.apply(d, Kind::Video, t, is_sync, data).await
            }
            Frame::Audio { pts, data, .. } => {
                let Some(track) = self.audio.as_mut() else {
                    return Ok(());
                };
                let Some(t) = track.place(&mut self.timeline, pts) else {
                    return Ok(());
                };
                let d = if self.video.is_some() {
                    self.segmenter.secondary(t)
                } else {
                    self.segmenter.primary(t, true, false)
                };
                self.apply(d, Kind::Audio, t, true, data).await
            }
            _ => Ok(()),
        }
    }

    /// Carries out the segmenter's decision for one sample.
    async fn apply(
        &mut self,
        d: Decision,
        kind: Kind,
        t: MediaTime,
        is_sync: bool,
        data: Bytes,
    ) -> anyhow::Result<()> {
        if d.close_previous
            && let Some(p) = self.previous.take()
        {
            self.closing.push(p.close().await);
        }
        if d.open {
            let new = self.open_segment(t)?;
            if let Some(old) = self.current.replace(new) {
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
                segment.push(kind, t, is_sync, data).await?;
                track.note_written(t.ticks);
            }
            None => {
                track.dropped_late += 1;
                if track.dropped_late == 1 {
                    tracing::warn!(
                        "{}: dropping frames from before the file switch that came more than \
                         {} s late",
                        track.name,
                        crate::segment::LINGER.as_secs()
                    );
                }
            }
        }
        Ok(())
    }

    /// Opens a file whose first sample is at `zero`: its name and `creation_time` come
    /// from the wall clock now.
    fn open_segment(&mut self, zero: MediaTime) -> anyhow::Result<Segment> {
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
        let video = match &self.video {
            Some(t) => Some(FileTrack::new(
                muxer.add_track(t.config.clone())?,
                &t.config,
            )),
            None => None,
        };
        let audio = match &self.audio {
            Some(t) => Some(FileTrack::new(
                muxer.add_track(t.config.clone())?,
                &t.config,
            )),
            None => None,
        };
        let start = muxer.start()?;
        let writer = SegmentWriter::spawn(path, start, self.output.sync, self.output.format)?;
        Ok(Segment {
            muxer,
            writer,
            zero,
            video,
            audio,
        })
    }

    /// Closes the open files, waits for every writer, and logs a summary.
    async fn finish(mut self) -> anyhow::Result<()> {
        if let Some(p) = self.previous.take() {
            self.closing.push(p.close().await);
        }
        if let Some(c) = self.current.take() {
            self.closing.push(c.close().await);
        }
        let mut written: Vec<Written> = Vec::new();
        let mut first_error = None;
        for closing in self.closing {
            match closing.wait().await {
                Ok(w) => written.push(w),
                Err(e) => {
                    tracing::error!("{e:#}");
                    first_error.get_or_insert(e);
                }
            }
        }
        let count = |t: &Option<Track>| t.as_ref().map_or(0, |t| t.written);
        let secs = self
            .video
            .iter()
            .chain(self.audio.iter())
            .map(Track::end_secs)
            .fold(0.0, f64::max);
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
        }
        // A stable, parseable last line.
        tracing::info!(
            "recorded {} video frames, {} audio frames, {secs:.3} s, in {} file(s)",
            count(&self.video),
            count(&self.audio),
            written.len()
        );
        if let Some(e) = first_error {
            return Err(e.context("a file could not be finished"));
        }
        if written.is_empty() {
            bail!("no media was received; no file written");
        }
        Ok(())
    }
}
