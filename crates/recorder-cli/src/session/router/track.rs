//! Per-track bookkeeping over a whole session: the configuration for the next file, the
//! placement of samples on the timeline, and the counts of what was dropped.

use std::num::NonZeroU32;

use anyhow::Context;
use mp4_track::{TrackConfig, TrackEstimate, TrackKind};
use rtsp_ingest::{AudioInfo, VideoCodec, VideoInfo};

use crate::session::time::MediaTime;
use crate::session::timeline::{Placement, Timeline, TrackIndex};

/// Which track.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// The video track.
    Video,
    /// The audio track.
    Audio,
}

/// A sample placed on the recording's timeline.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Placed {
    /// Its presentation time.
    pub pts: MediaTime,
    /// Presentation minus decode time, in the track's clock (0 without reordering).
    pub cts_offset: u32,
}

/// One track over the whole session.
pub(super) struct Track {
    pub name: &'static str,
    timeline: TrackIndex,
    /// The track's configuration for the next file (the latest sample entry).
    pub config: TrackConfig,
    /// For the `moov` reserve estimate.
    pub estimate: TrackEstimate,
    /// For file summaries: RFC 6381 codec string and video dimensions.
    pub codec: String,
    pub dimensions: Option<(u32, u32)>,
    pub dropped_before_zero: u64,
    pub dropped_not_after_previous: u64,
    /// Frames dropped in the current run of non-increasing timestamps.
    dropping_run: u64,
    /// Secondary frames from before a file switch that came after the previous file was
    /// closed.
    pub dropped_late: u64,
    /// Video: the reorder depth (B-frames) in use; 0 otherwise.
    reorder_depth: u8,
    /// Video: pictures presented before their file's first keyframe but decoded after it
    /// (open GOPs' leading pictures), which no file can hold.
    pub dropped_leading: u64,
}

fn video_kind(v: &VideoInfo) -> anyhow::Result<TrackKind> {
    Ok(TrackKind::Video {
        width: u16::try_from(v.width).context("video width exceeds 65535")?,
        height: u16::try_from(v.height).context("video height exceeds 65535")?,
    })
}

impl Track {
    fn new(
        name: &'static str,
        timeline: TrackIndex,
        config: TrackConfig,
        estimate: TrackEstimate,
        codec: String,
    ) -> Self {
        Self {
            name,
            timeline,
            config,
            estimate,
            codec,
            dimensions: None,
            dropped_before_zero: 0,
            dropped_not_after_previous: 0,
            dropping_run: 0,
            dropped_late: 0,
            reorder_depth: 0,
            dropped_leading: 0,
        }
    }

    /// The video track of a stream described by `v`, the primary track of `timeline`.
    pub fn video(v: &VideoInfo, timeline: &mut Timeline) -> anyhow::Result<Self> {
        let config = TrackConfig {
            kind: video_kind(v)?,
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
            // Cameras' timestamps often jitter: reserve for one stts entry per sample.
            regular_durations: false,
            composition_offsets: false,
            sample_entry_len: v.sample_entry.len() as u64,
        };
        let tl = timeline.add_track(v.clock_rate_hz, true);
        let mut track = Self::new("video", tl, config, estimate, v.rfc6381_codec.clone());
        track.dimensions = Some((v.width, v.height));
        track.set_reorder(timeline, v.reorder_depth, v.nominal_frame_duration());
        Ok(track)
    }

    /// The audio track of a stream described by `a`; primary when there is no video.
    pub fn audio(a: &AudioInfo, timeline: &mut Timeline, primary: bool) -> Self {
        let config = TrackConfig {
            kind: TrackKind::Audio,
            timescale_hz: a.clock_rate_hz,
            sample_entry: a.sample_entry.clone(),
            default_sample_duration: a.frame_length,
        };
        // Samples per second: from the frame length, else (frames as long as their RTP
        // packets) 50, one per 20 ms, RTP's usual packet time.
        let per_s = a
            .frame_length
            .map_or(50.0, |l| f64::from(a.clock_rate_hz) / f64::from(l.get()));
        let estimate = TrackEstimate {
            samples_per_s: per_s,
            sync_samples_per_s: per_s,
            regular_durations: true,
            composition_offsets: false,
            sample_entry_len: a.sample_entry.len() as u64,
        };
        let tl = timeline.add_track(a.clock_rate_hz, primary);
        let codec = a
            .rfc6381_codec
            .clone()
            .unwrap_or_else(|| a.codec.name().to_owned());
        Self::new("audio", tl, config, estimate, codec)
    }

    /// Video: adopts new stream parameters for the files from now on.
    pub fn set_video_info(
        &mut self,
        info: &VideoInfo,
        timeline: &mut Timeline,
    ) -> anyhow::Result<()> {
        tracing::info!(
            "video parameters changed: {} {}x{}; starting a new file",
            info.rfc6381_codec,
            info.width,
            info.height
        );
        self.config.sample_entry = info.sample_entry.clone();
        self.config.kind = video_kind(info)?;
        if let Some(d) = info.nominal_frame_duration() {
            self.config.default_sample_duration = Some(d);
        }
        self.estimate.sample_entry_len = info.sample_entry.len() as u64;
        self.codec = info.rfc6381_codec.clone();
        self.dimensions = Some((info.width, info.height));
        self.set_reorder(timeline, info.reorder_depth, info.nominal_frame_duration());
        Ok(())
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

    pub fn clock_hz(&self) -> u32 {
        self.config.timescale_hz
    }

    /// Places a sample on the recording's timeline; `None` when it is dropped.
    pub fn place(&mut self, timeline: &mut Timeline, pts: i64) -> Option<Placed> {
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
                Some(Placed {
                    pts: MediaTime {
                        ticks: time,
                        clock_hz: self.clock_hz(),
                    },
                    cts_offset,
                })
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

    /// Logs what was dropped over the session, if anything.
    pub fn log_drops(&self) {
        if self.dropped_not_after_previous > 0
            || self.dropped_before_zero > 0
            || self.dropped_late > 0
        {
            tracing::info!(
                "{}: dropped {} frame(s) with non-increasing timestamps, {} before the start \
                 and {} late at a file switch",
                self.name,
                self.dropped_not_after_previous,
                self.dropped_before_zero,
                self.dropped_late
            );
        }
        if self.dropped_leading > 0 {
            tracing::info!(
                "{}: dropped {} picture(s) presented before their file's first keyframe",
                self.name,
                self.dropped_leading
            );
        }
    }
}
