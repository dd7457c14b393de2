//! One output file while the router fills it: its muxer, its zero, and per track the
//! offset that keeps its decode times aligned. What the file holds is asked of the muxer
//! ([`FragmentedMuxer::track_progress`]), never mirrored here.

use std::time::{Duration, SystemTime};

use anyhow::Context;
use bmff_boxes::{DESC, MetaItems};
use bytes::Bytes;
use mp4_track::{
    FragmentedMuxer, FragmentedOptions, SampleInfo, TrackEstimate, TrackId, estimate_moov_bytes,
};

use super::track::{Kind, Placed, Track};
use super::{Action, FileId};
use crate::output::events::{EndReason, FileSummary, TrackSummary};
use crate::session::time::MediaTime;
use crate::session::wallclock;

/// Seconds between 1904-01-01 and 1970-01-01 (ISO BMFF times count from 1904).
const SECS_1904_TO_1970: u64 = 2_082_844_800;

/// Upper bound of the room reserved for the `moov` (a longer file gets its `moov` at the
/// end instead). 8 MiB holds the tables of about 6 hours of 30 fps video with jittery
/// timestamps and AAC audio.
const MAX_RESERVE_BYTES: u64 = 8 << 20;

/// What the `description` of a recording starts with, before its wall-clock start.
pub const START_PREFIX: &str = "recorder: first sample at ";

/// `now` in RFC 3339, UTC, with nanoseconds: `2026-11-30T07:00:00.123456789Z`.
pub fn wall_clock_text(now: SystemTime) -> String {
    let at = jiff::Timestamp::try_from(now).unwrap_or(jiff::Timestamp::UNIX_EPOCH);
    format!("{at:.9}")
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
    /// Presentation time of the track's first sample in this file.
    first: Option<MediaTime>,
    codec: String,
    dimensions: Option<(u32, u32)>,
}

impl FileTrack {
    /// This track's decode time in the file for a sample presented at `pts`, `cts_offset`
    /// ticks after its decoding; `zero` is the file's zero.
    fn dts(&self, zero: MediaTime, pts: MediaTime, cts_offset: u32) -> Option<u64> {
        (pts.since(zero) + self.lead).checked_sub(u64::from(cts_offset))
    }
}

/// How a file is laid out.
#[derive(Clone, Copy, Debug)]
pub(super) struct Layout {
    /// Target fragment length.
    pub fragment_duration_ms: u32,
    /// Reserve room for the final `moov` at the front (a progressive file at the end).
    pub reserve_moov: bool,
    /// Expected length of a file, for the `moov` reserve.
    pub expected_length: Duration,
}

/// A file being filled.
pub(super) struct OpenFile {
    pub id: FileId,
    muxer: FragmentedMuxer,
    /// The instant (on the recording's timeline) of the file's first sample's
    /// presentation.
    pub zero: MediaTime,
    start_wall: SystemTime,
    video: Option<FileTrack>,
    audio: Option<FileTrack>,
    /// Why the file ends, once the router decided it (it may stay open a little longer
    /// for the secondary track).
    pub end: Option<EndReason>,
    /// Its wall-clock end, when the next file continues it: that file's start.
    pub end_wall: Option<SystemTime>,
    /// A fragment of it could not be queued (the disk stalled): it takes no more samples
    /// and is finished as written ([`Action::Cut`]).
    pub cut: bool,
}

impl OpenFile {
    /// Opens a file whose first sample is presented at `zero` and decoded `lead` ticks
    /// (of `zero`'s clock) earlier, at wall-clock `now`; queues its `Open` action.
    pub fn open(
        id: FileId,
        zero: MediaTime,
        lead: u32,
        now: SystemTime,
        tracks: [Option<&Track>; 2],
        layout: Layout,
        actions: &mut std::collections::VecDeque<Action>,
    ) -> anyhow::Result<Self> {
        let since_epoch = now
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap_or_default();
        let estimates: Vec<TrackEstimate> = tracks.iter().flatten().map(|t| t.estimate).collect();
        let reserve_bytes = if layout.reserve_moov {
            estimate_moov_bytes(
                &estimates,
                u64::try_from(layout.expected_length.as_millis()).unwrap_or(u64::MAX),
                layout.fragment_duration_ms,
            )
            .min(MAX_RESERVE_BYTES)
        } else {
            0
        };
        tracing::debug!(
            "reserving {reserve_bytes} bytes for the moov ({} s expected)",
            layout.expected_length.as_secs()
        );
        let mut muxer = FragmentedMuxer::new(FragmentedOptions {
            movie_timescale_hz: 1000,
            creation_time_1904: since_epoch.as_secs() + SECS_1904_TO_1970,
            fragment_duration_ms: layout.fragment_duration_ms,
            reserve_bytes,
            // The wall-clock start to the nanosecond (`creation_time` has whole seconds),
            // which ffprobe shows as the `description` tag and the catalog reads back.
            user_data: vec![
                MetaItems {
                    items: vec![(DESC, format!("{START_PREFIX}{}", wall_clock_text(now)))],
                }
                .to_bytes(),
            ],
        });
        // The lead in each track's clock (rounded: below one tick of difference).
        let lead_in = |clock_hz: u32| {
            let num = u128::from(lead) * u128::from(clock_hz);
            let den = u128::from(zero.clock_hz.max(1));
            u64::try_from((2 * num + den) / (2 * den)).unwrap_or(u64::MAX)
        };
        let mut file_track = |t: Option<&Track>| -> anyhow::Result<Option<FileTrack>> {
            let Some(t) = t else { return Ok(None) };
            Ok(Some(FileTrack {
                id: muxer.add_track(t.config.clone())?,
                clock_hz: t.clock_hz(),
                lead: lead_in(t.clock_hz()),
                first: None,
                codec: t.codec.clone(),
                dimensions: t.dimensions,
            }))
        };
        let [v, a] = tracks;
        let video = file_track(v)?;
        let audio = file_track(a)?;
        // Decode time 0 is `lead` before the first presentation, at `now`: each fragment's
        // `prft` names its first presentation from there.
        let lead_ns = i128::from(lead) * 1_000_000_000 / i128::from(zero.clock_hz.max(1));
        muxer.set_wall_clock_origin(wallclock::ns(now) - lead_ns);
        let init = muxer.start()?;
        actions.push_back(Action::Open {
            file: id,
            start_wall: now,
            init,
        });
        Ok(Self {
            id,
            muxer,
            zero,
            start_wall: now,
            video,
            audio,
            end: None,
            end_wall: None,
            cut: false,
        })
    }

    /// The file's length once the fragments returned so far are written.
    pub fn len_bytes(&self) -> u64 {
        self.muxer.file_len()
    }

    fn track(&mut self, kind: Kind) -> Option<&mut FileTrack> {
        match kind {
            Kind::Video => self.video.as_mut(),
            Kind::Audio => self.audio.as_mut(),
        }
    }

    /// Writes a sample placed at `p` (not before the file's zero); queues the fragments
    /// it completes.
    pub fn push(
        &mut self,
        kind: Kind,
        p: Placed,
        is_sync: bool,
        data: Bytes,
        actions: &mut std::collections::VecDeque<Action>,
    ) -> anyhow::Result<()> {
        let zero = self.zero;
        let track = self
            .track(kind)
            .context("internal error: the file has no such track")?;
        // Decode times increase from the file's first sample on, whose offset is the lead.
        let dts = track
            .dts(zero, p.pts, p.cts_offset)
            .context("internal error: a sample decoded before the file's first")?;
        let size = u32::try_from(data.len())
            .with_context(|| format!("a frame of {} bytes is too large", data.len()))?;
        let id = track.id;
        track.first.get_or_insert(p.pts);
        self.muxer.push(
            id,
            SampleInfo {
                dts,
                cts_offset: i32::try_from(p.cts_offset).unwrap_or(i32::MAX),
                size,
                is_sync,
            },
            data,
        )?;
        while let Some(fragment) = self.muxer.poll_fragment() {
            actions.push_back(Action::Write {
                file: self.id,
                fragment,
            });
        }
        Ok(())
    }

    /// The first sample of `kind` in the next file is placed at `next`: this file's last
    /// sample of that kind lasts until then, so consecutive files neither overlap nor
    /// leave a gap (without it, the last sample gets the duration of the one before it).
    /// Once per track; ignored when `next` is not after the last sample.
    pub fn end_track_at(&mut self, kind: Kind, next: Placed) {
        let zero = self.zero;
        let Some(track) = (match kind {
            Kind::Video => self.video.as_ref(),
            Kind::Audio => self.audio.as_ref(),
        }) else {
            return;
        };
        let Ok(progress) = self.muxer.track_progress(track.id) else {
            return;
        };
        if progress.last_dts.is_none() || progress.end_set {
            return;
        }
        let end = (next.pts.since(zero) + track.lead).saturating_sub(u64::from(next.cts_offset));
        if let Err(e) = self.muxer.set_track_end(track.id, end) {
            tracing::debug!("keeping the last sample's estimated duration: {e}");
        }
    }

    fn track_summary(&self, t: &FileTrack) -> TrackSummary {
        let progress = self.muxer.track_progress(t.id).ok();
        let hz = f64::from(t.clock_hz);
        let end = progress
            .and_then(|p| p.end_dts)
            .map_or(0, |e| e.saturating_sub(t.lead));
        TrackSummary {
            codec: t.codec.clone(),
            dimensions: t.dimensions,
            samples: progress.map_or(0, |p| p.samples),
            start_s: t.first.map_or(0.0, |f| f.since(self.zero) as f64 / hz),
            end_s: end as f64 / hz,
        }
    }

    /// What the file holds so far.
    pub fn summary(&self, end: EndReason) -> FileSummary {
        FileSummary {
            start_wall: self.start_wall,
            video: self.video.as_ref().map(|t| self.track_summary(t)),
            audio: self.audio.as_ref().map(|t| self.track_summary(t)),
            end,
            wall_end: self.end_wall,
        }
    }

    /// Hands the muxer over to be finished: the `Close` action; for a file that was cut
    /// (the disk stalled), the `Cut` action, without the muxer (its tables hold fragments
    /// that were never written).
    pub fn close(self, fallback: EndReason) -> Action {
        if self.cut {
            let mut summary = self.summary(EndReason::DiskStall);
            summary.wall_end = None;
            return Action::Cut {
                file: self.id,
                summary,
            };
        }
        let summary = self.summary(self.end.unwrap_or(fallback));
        Action::Close {
            file: self.id,
            muxer: Box::new(self.muxer),
            summary,
        }
    }
}
