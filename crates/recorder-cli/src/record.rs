//! `recorder record`: the receive loop around the muxer, the timeline and the file writer.

use std::num::NonZeroU32;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, anyhow, bail};
use bytes::Bytes;
use mp4_track::{Mp4Muxer, MuxerOptions, SampleInfo, TrackConfig, TrackId, TrackKind};
use rtsp_ingest::{Frame, Source, SourceOptions};

use crate::cli::{
    InitialTimestampArg, PasswordSources, RecordArgs, TeardownArg, TransportArg,
    resolve_credentials,
};
use crate::timeline::{Placement, Timeline, TrackIndex};
use crate::writer::FileWriter;

/// How long to wait for `TEARDOWN` after the file is finished.
const TEARDOWN_TIMEOUT: Duration = Duration::from_secs(5);

/// With `--duration`, how long to keep receiving the other track once the primary track
/// reached the end, so that its samples up to the end (which may arrive a little later)
/// are written too.
const END_GRACE: Duration = Duration::from_secs(2);

/// Seconds between 1904-01-01 and 1970-01-01 (ISO BMFF times count from 1904).
const SECS_1904_TO_1970: u64 = 2_082_844_800;

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

    let mut shutdown = Shutdown::new()?;
    // Created before connecting, so that a bad output path fails at once.
    let writer = FileWriter::create(&args.output)?;

    tracing::info!("connecting to {url}");
    let connect_started = Instant::now();
    let connected = tokio::select! {
        r = Source::connect(options) => r,
        signal = shutdown.recv() => {
            writer.abandon().await;
            bail!("interrupted by {signal} before recording started; no file written");
        }
    };
    let mut source = match connected {
        Ok(s) => s,
        Err(e) => {
            writer.abandon().await;
            return Err(e).with_context(|| format!("cannot record {url}"));
        }
    };
    log_connected(&source, connect_started.elapsed());

    let mut recording = match Recording::new(&source, writer, args.duration) {
        Ok(r) => r,
        Err((e, writer)) => {
            writer.abandon().await;
            close(source).await;
            return Err(e);
        }
    };
    let outcome = recording.run(&mut source, &mut shutdown).await;
    let finalized = recording.finalize(&args.output).await;
    close(source).await;
    match (outcome, finalized) {
        (Ok(()), Ok(())) => Ok(()),
        (Ok(()), Err(e)) => Err(e),
        (Err(e), Ok(())) => Err(e.context(format!(
            "recording stopped early ({} holds what was received)",
            args.output.display()
        ))),
        (Err(e), Err(fin)) => {
            tracing::error!(
                "cannot finalize {}: {fin:#}; what was received is left in {}",
                args.output.display(),
                crate::writer::partial_path(&args.output).display()
            );
            Err(e)
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

/// Per-track bookkeeping.
struct Track {
    id: TrackId,
    timeline: TrackIndex,
    name: &'static str,
    clock_hz: u32,
    default_duration: Option<NonZeroU32>,
    written: u64,
    /// Decode time of the first and last written samples.
    first_dts: Option<u64>,
    last_dts: u64,
    /// Duration of the last written sample, as far as known.
    last_duration: u64,
    dropped_before_zero: u64,
    dropped_not_after_previous: u64,
    /// Frames dropped in the current run of non-increasing timestamps.
    dropping_run: u64,
}

impl Track {
    fn new(
        id: TrackId,
        timeline: TrackIndex,
        name: &'static str,
        clock_hz: u32,
        default_duration: Option<NonZeroU32>,
    ) -> Self {
        Self {
            id,
            timeline,
            name,
            clock_hz,
            default_duration,
            written: 0,
            first_dts: None,
            last_dts: 0,
            last_duration: 0,
            dropped_before_zero: 0,
            dropped_not_after_previous: 0,
            dropping_run: 0,
        }
    }

    /// Media time from zero to the end of the last sample, in seconds.
    fn end_secs(&self) -> f64 {
        if self.written == 0 {
            return 0.0;
        }
        (self.last_dts + self.last_duration) as f64 / f64::from(self.clock_hz)
    }
}

struct Recording {
    muxer: Mp4Muxer,
    timeline: Timeline,
    writer: FileWriter,
    video: Option<Track>,
    audio: Option<Track>,
}

impl Recording {
    /// Sets up the muxer's tracks from the source's streams. On error, hands the writer back
    /// so that the caller can abandon it.
    fn new(
        source: &Source,
        writer: FileWriter,
        limit: Option<Duration>,
    ) -> Result<Self, (anyhow::Error, FileWriter)> {
        let creation_time_1904 = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs())
            + SECS_1904_TO_1970;
        let mut muxer = Mp4Muxer::new(MuxerOptions {
            creation_time_1904,
            ..MuxerOptions::default()
        });
        let mut timeline = Timeline::new(limit);
        let tracks = (|| -> anyhow::Result<(Option<Track>, Option<Track>)> {
            let video = match source.video() {
                Some(v) => {
                    let kind = TrackKind::Video {
                        width: u16::try_from(v.width).context("video width exceeds 65535")?,
                        height: u16::try_from(v.height).context("video height exceeds 65535")?,
                    };
                    let default_duration = v.nominal_frame_duration();
                    let id = muxer.add_track(TrackConfig {
                        kind,
                        timescale_hz: v.clock_rate_hz,
                        sample_entry: v.sample_entry.clone(),
                        default_sample_duration: default_duration,
                    })?;
                    let tl = timeline.add_track(v.clock_rate_hz, true);
                    Some(Track::new(
                        id,
                        tl,
                        "video",
                        v.clock_rate_hz,
                        default_duration,
                    ))
                }
                None => None,
            };
            let audio = match source.audio() {
                Some(a) => {
                    let id = muxer.add_track(TrackConfig {
                        kind: TrackKind::Audio,
                        timescale_hz: a.clock_rate_hz,
                        sample_entry: a.sample_entry.clone(),
                        default_sample_duration: a.frame_length,
                    })?;
                    let tl = timeline.add_track(a.clock_rate_hz, video.is_none());
                    Some(Track::new(id, tl, "audio", a.clock_rate_hz, a.frame_length))
                }
                None => None,
            };
            Ok((video, audio))
        })();
        match tracks {
            Ok((video, audio)) => Ok(Self {
                muxer,
                timeline,
                writer,
                video,
                audio,
            }),
            Err(e) => Err((e, writer)),
        }
    }

    /// Writes the header, then frames until the duration is reached, a signal arrives, or
    /// something fails.
    async fn run(&mut self, source: &mut Source, shutdown: &mut Shutdown) -> anyhow::Result<()> {
        let header = self.muxer.start()?;
        self.writer.append(0, header).await?;
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
                    let index = self
                        .muxer
                        .add_sample_entry(track.id, info.sample_entry.clone())?;
                    tracing::info!(
                        "video parameters changed: {} {}x{} (sample entry {index})",
                        info.rfc6381_codec,
                        info.width,
                        info.height
                    );
                }
                write_sample(
                    &mut self.muxer,
                    &mut self.timeline,
                    &mut self.writer,
                    track,
                    pts,
                    is_sync,
                    None,
                    data,
                )
                .await
            }
            Frame::Audio {
                pts,
                duration,
                data,
                ..
            } => {
                let Some(track) = self.audio.as_mut() else {
                    return Ok(());
                };
                write_sample(
                    &mut self.muxer,
                    &mut self.timeline,
                    &mut self.writer,
                    track,
                    pts,
                    true,
                    Some(duration),
                    data,
                )
                .await
            }
            _ => Ok(()),
        }
    }

    /// Finishes the file and renames it into place, then logs a summary.
    async fn finalize(self, path: &Path) -> anyhow::Result<()> {
        let Recording {
            muxer,
            writer,
            video,
            audio,
            ..
        } = self;
        let finished = muxer.finish()?;
        let len = writer
            .finish(finished.tail, finished.patches)
            .await
            .with_context(|| format!("cannot finalize {}", path.display()))?;
        let count = |t: &Option<Track>| t.as_ref().map_or(0, |t| t.written);
        let secs = video
            .iter()
            .chain(audio.iter())
            .map(Track::end_secs)
            .fold(0.0, f64::max);
        tracing::info!(
            "file finalized: {}: {} video frame(s), {} audio frame(s), {secs:.3} s, {len} bytes",
            PathBuf::from(path).display(),
            count(&video),
            count(&audio),
        );
        for t in video.iter().chain(audio.iter()) {
            if t.dropped_not_after_previous > 0 || t.dropped_before_zero > 0 {
                tracing::info!(
                    "{}: dropped {} frame(s) with non-increasing timestamps and {} before the start",
                    t.name,
                    t.dropped_not_after_previous,
                    t.dropped_before_zero
                );
            }
        }
        Ok(())
    }
}

/// Places one sample on the timeline and, if it is kept, hands it to the muxer and writer.
#[allow(clippy::too_many_arguments)]
async fn write_sample(
    muxer: &mut Mp4Muxer,
    timeline: &mut Timeline,
    writer: &mut FileWriter,
    track: &mut Track,
    pts: i64,
    is_sync: bool,
    duration: Option<u32>,
    data: Bytes,
) -> anyhow::Result<()> {
    match timeline.place(track.timeline, pts) {
        Placement::Write { dts } => {
            if track.dropping_run > 0 {
                tracing::warn!(
                    "{}: timestamps increase again after {} dropped frame(s)",
                    track.name,
                    track.dropping_run
                );
                track.dropping_run = 0;
            }
            let size = u32::try_from(data.len()).with_context(|| {
                format!("{} frame of {} bytes is too large", track.name, data.len())
            })?;
            let offset = muxer.push(
                track.id,
                SampleInfo {
                    dts,
                    cts_offset: 0,
                    size,
                    is_sync,
                },
            )?;
            writer.append(offset, data).await?;
            // The muxer gives the last sample the nominal duration (video) or its own
            // (audio); the summary log reports the same.
            track.last_duration = match (duration, track.default_duration) {
                (Some(d), _) => u64::from(d),
                (None, Some(d)) => u64::from(d.get()),
                (None, None) if track.first_dts.is_some() => dts - track.last_dts,
                (None, None) => 0,
            };
            track.first_dts.get_or_insert(dts);
            track.last_dts = dts;
            track.written += 1;
        }
        Placement::BeforeZero => track.dropped_before_zero += 1,
        Placement::NotAfterPrevious { prev_dts, dts } => {
            track.dropped_not_after_previous += 1;
            track.dropping_run += 1;
            if track.dropping_run == 1 {
                tracing::warn!(
                    "{}: dropping frame at {dts} (not after the previous frame at {prev_dts}); \
                     dropping until timestamps increase again",
                    track.name
                );
            }
        }
        Placement::AfterEnd => {}
    }
    Ok(())
}
