//! The sans-IO core of a session, in the manner of quinn-proto's `Connection`: frames
//! and wall-clock instants go in as arguments ([`Router::push`]), and what to do with
//! files comes out as values ([`Router::poll_action`]): open a file with these bytes,
//! write this fragment, close this file. It never awaits, never reads a clock and never
//! touches a file, so every rule below is a unit test on plain values.
//!
//! Rules:
//! - The recording's zero is the first video keyframe's presentation (the timeline,
//!   [`crate::session::timeline`]); samples before it are dropped.
//! - Files switch at keyframes ([`crate::session::segment`]): after the segment
//!   duration, or at new video parameters. Audio beside video is held until video
//!   presented at or after it has come (at most [`MAX_AUDIO_HOLD`]), so a switch at a
//!   keyframe that arrives after the audio following it still splits the audio at the
//!   keyframe's instant; the previous file stays open for the audio before that instant.
//! - A discontinuity (a timestamp jump, re-based by the source so that timestamps go on
//!   from the previous frame) starts a new file at the next video keyframe (audio only:
//!   at once); the new file's decode times start at 0 like every file's.
//! - A fragment that could not be queued to its file's writer (the disk stalled,
//!   [`Router::fragment_dropped`]) cuts the file: it ends at its last queued fragment
//!   ([`Action::Cut`]: finished from what is on disk, so it stays valid), takes no more
//!   samples, and the recording goes on in a new file at the next video keyframe (audio
//!   only: the next frame).
//! - Each file's last sample of a track lasts until the next file's first (no gap, no
//!   overlap); decode times within a file start at 0 at its first video sample (its
//!   composition offset is the file's lead, added to every track).

#[cfg(test)]
mod clock_tests;
mod file;
#[cfg(test)]
mod jump_tests;
#[cfg(test)]
mod live_tests;
#[cfg(test)]
mod memory_tests;
mod output;
#[cfg(test)]
mod pcm_tests;
#[cfg(test)]
mod space_tests;
#[cfg(test)]
mod stall_tests;
#[cfg(test)]
mod tests;
mod track;

use std::collections::VecDeque;
use std::time::{Duration, SystemTime};

use anyhow::bail;
use bytes::Bytes;
use mp4_track::{Fragment, FragmentedMuxer};
use rtsp_ingest::{AudioInfo, Frame, ReportStream, SenderReport, VideoInfo};

pub use self::file::START_PREFIX;
use self::file::{Layout, OpenFile};
use self::track::{Kind, Placed, Track};
use crate::output::events::{EndReason, FileSummary};
use crate::session::audio::AudioStage;
use crate::session::segment::{Decision, LINGER, Route, Segmenter};
use crate::session::time::MediaTime;
use crate::session::timeline::Timeline;
use crate::session::wallclock::{self, WallClock};

/// Audio is held until video presented at or after it has come, but never more than
/// this ahead of the oldest held frame.
pub const MAX_AUDIO_HOLD: Duration = Duration::from_secs(1);

/// Length a file is expected to reach when neither the segment duration nor the
/// recording's limit says: the room reserved for its final `moov` is sized for this.
const DEFAULT_EXPECTED_LENGTH: Duration = Duration::from_secs(3600);

/// A file of this session, as named in [`Action`]s.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct FileId(pub u64);

/// What to do with files, in order.
#[derive(Debug)]
pub enum Action {
    /// Create a file (named from the wall-clock time of its first sample) and write
    /// `init`, the muxer's first bytes.
    Open {
        /// The file.
        file: FileId,
        /// Wall-clock time of its first sample.
        start_wall: SystemTime,
        /// `ftyp`, the reserved room and the init `moov`.
        init: Bytes,
    },
    /// Append a fragment.
    Write {
        /// The file.
        file: FileId,
        /// The fragment.
        fragment: Fragment,
    },
    /// Finish the file: flush the muxer, finalize, rename.
    Close {
        /// The file.
        file: FileId,
        /// Its muxer, to flush and finalize.
        muxer: Box<FragmentedMuxer>,
        /// What it holds.
        summary: FileSummary,
    },
    /// Finish the file as written: a fragment of it could not be queued (the disk
    /// stalled), so it ends at its last queued fragment. Its muxer is dropped (its tables
    /// hold the lost fragments); the writer finalizes the file from what is on disk, as
    /// `recorder repair` does.
    Cut {
        /// The file.
        file: FileId,
        /// What it was meant to hold (the writer corrects it from the disk).
        summary: FileSummary,
    },
}

/// How a session records.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RouterConfig {
    /// Start a new file at the first keyframe this long after the current one's start.
    pub segment_duration: Option<Duration>,
    /// Also start a new file at the first keyframe this long after the current one's
    /// start (a bound rather than a plan: logged as a warning).
    pub max_file_duration: Option<Duration>,
    /// Also start a new file at the first keyframe once the current one holds this many
    /// bytes (a bound: logged as a warning).
    pub max_file_bytes: Option<u64>,
    /// Media to record from the session's first keyframe.
    pub limit: Option<Duration>,
    /// Target fragment length.
    pub fragment_duration: Duration,
    /// Reserve room for a final `moov` at the front of each file (`mp4`, not `fmp4`).
    pub reserve_moov: bool,
    /// How PCMU, PCMA and L16 audio is stored (see [`AudioStage`]).
    pub audio_storage: audio_pcm::Storage,
}

/// Whether the output can take files, as the session loop tells the router.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum OutputState {
    /// Frames go to files.
    Writing,
    /// The disk is full: every frame is dropped.
    Lost,
    /// Space is back: frames are dropped until the next video keyframe (audio only: the
    /// next frame), which opens a new file.
    Resuming,
}

/// Frames and bytes written so far.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counts {
    /// Video frames written.
    pub video_frames: u64,
    /// Audio frames written.
    pub audio_frames: u64,
    /// Media bytes written.
    pub bytes: u64,
    /// Frames not written because their file was cut (the disk stalled), until the next
    /// file started.
    pub cut_frames: u64,
}

/// See the module documentation.
pub struct Router {
    layout: Layout,
    /// True when `max_file_duration` cuts files before the segment duration would.
    cut_by_max_duration: bool,
    max_file_bytes: Option<u64>,
    timeline: Timeline,
    segmenter: Segmenter,
    video: Option<Track>,
    audio: Option<Track>,
    /// Converts PCMU, PCMA and L16 frames into stored samples (`None`: AAC).
    audio_stage: Option<AudioStage>,
    /// The video parameters changed since the last written video frame.
    new_video_parameters: bool,
    /// A stream jumped (a discontinuity) since the last file started.
    discontinuity: bool,
    current: Option<OpenFile>,
    previous: Option<OpenFile>,
    next_file: u64,
    /// Audio beside video, placed but not yet routed to a file.
    held_audio: VecDeque<(MediaTime, Bytes)>,
    /// The latest presentation time of the video placed so far.
    video_frontier: Option<MediaTime>,
    /// The wall clock at the latest push.
    now: SystemTime,
    /// Maps the session's media time to wall-clock time.
    clock: WallClock,
    actions: VecDeque<Action>,
    written: Counts,
    output: OutputState,
    /// Frames dropped because the output had no space.
    dropped_no_space: u64,
}

impl Router {
    /// A router for a session with these streams (at least one).
    pub fn new(
        video: Option<&VideoInfo>,
        audio: Option<&AudioInfo>,
        config: RouterConfig,
    ) -> anyhow::Result<Self> {
        let mut timeline = Timeline::new(config.limit);
        let video = video.map(|v| Track::video(v, &mut timeline)).transpose()?;
        let (audio_stage, audio) = match audio {
            Some(a) => {
                let (stage, stored) = AudioStage::new(a, config.audio_storage)?;
                (stage, Some(stored))
            }
            None => (None, None),
        };
        let audio = audio
            .as_ref()
            .map(|a| Track::audio(a, &mut timeline, video.is_none()));
        if video.is_none() && audio.is_none() {
            bail!("the source has no stream to record");
        }
        let expected_length = match (config.segment_duration, config.limit) {
            (Some(s), Some(d)) => s.min(d),
            (Some(s), None) => s,
            (None, Some(d)) => d,
            (None, None) => DEFAULT_EXPECTED_LENGTH,
        };
        let expected_length = config
            .max_file_duration
            .map_or(expected_length, |m| expected_length.min(m));
        let cut_by_max_duration = config
            .max_file_duration
            .is_some_and(|m| config.segment_duration.is_none_or(|s| m < s));
        let segment = match (config.segment_duration, config.max_file_duration) {
            (Some(s), Some(m)) => Some(s.min(m)),
            (s, m) => s.or(m),
        };
        Ok(Self {
            layout: Layout {
                fragment_duration_ms: u32::try_from(config.fragment_duration.as_millis())
                    .unwrap_or(u32::MAX),
                reserve_moov: config.reserve_moov,
                expected_length,
            },
            cut_by_max_duration,
            max_file_bytes: config.max_file_bytes,
            timeline,
            segmenter: Segmenter::new(segment, video.is_some() && audio.is_some()),
            video,
            audio,
            audio_stage,
            new_video_parameters: false,
            discontinuity: false,
            current: None,
            previous: None,
            next_file: 0,
            held_audio: VecDeque::new(),
            video_frontier: None,
            now: SystemTime::UNIX_EPOCH,
            clock: WallClock::default(),
            actions: VecDeque::new(),
            written: Counts::default(),
            output: OutputState::Writing,
            dropped_no_space: 0,
        })
    }

    /// Takes one frame that arrived at wall-clock `now`.
    pub fn push(&mut self, frame: Frame, now: SystemTime) -> anyhow::Result<()> {
        if let (Some(stage), Frame::Audio { pts, data, .. }) = (&mut self.audio_stage, &frame) {
            // At a jump, the samples before it are routed before it is marked.
            let jumped = frame.discontinuity();
            let before = if jumped { stage.cut() } else { Vec::new() };
            let after = stage.push(*pts, data);
            for s in before {
                self.push_audio(s.pts, s.data, now)?;
            }
            if jumped {
                self.mark_discontinuity();
            }
            for s in after {
                self.push_audio(s.pts, s.data, now)?;
            }
            return Ok(());
        }
        if frame.discontinuity() {
            self.mark_discontinuity();
        }
        match frame {
            Frame::Video {
                pts,
                is_sync,
                data,
                new_info,
                ..
            } => self.push_video(pts, is_sync, data, new_info.as_ref(), now),
            Frame::Audio { pts, data, .. } => self.push_audio(pts, data, now),
            _ => Ok(()),
        }
    }

    /// Takes a video frame presented at `pts` (stream clock); `new_info` when the
    /// stream's parameters changed at it.
    pub fn push_video(
        &mut self,
        pts: i64,
        is_sync: bool,
        data: Bytes,
        new_info: Option<&VideoInfo>,
        now: SystemTime,
    ) -> anyhow::Result<()> {
        self.now = now;
        let Some(track) = self.video.as_mut() else {
            return Ok(());
        };
        if let Some(info) = new_info {
            track.set_video_info(info, &mut self.timeline)?;
            self.new_video_parameters = true;
        }
        let Some(p) = track.place(&mut self.timeline, pts) else {
            return Ok(());
        };
        // A picture presented before the current file's first keyframe but decoded after
        // it (an open GOP's leading picture): it belongs to no file.
        if let Some(current) = &self.current
            && p.pts.before(current.zero)
        {
            track.dropped_leading += 1;
            if track.dropped_leading == 1 {
                tracing::info!(
                    "video: dropping pictures presented before their file's first keyframe \
                     but sent after it (open GOP)"
                );
            }
            return Ok(());
        }
        if !self.output_takes(is_sync) {
            return Ok(());
        }
        let new_parameters =
            std::mem::take(&mut self.new_video_parameters) && self.current.is_some();
        let jump = is_sync && std::mem::take(&mut self.discontinuity);
        let size_due = is_sync && self.size_due();
        let resume = is_sync && self.current.as_ref().is_some_and(|c| c.cut);
        let d =
            self.segmenter
                .primary(p.pts, is_sync, new_parameters || jump || size_due || resume);
        let reason = if resume {
            EndReason::DiskStall
        } else if new_parameters {
            EndReason::NewParameters
        } else if jump {
            EndReason::TimestampJump
        } else {
            self.warn_if_bounded(&d, size_due);
            EndReason::Switch
        };
        self.apply(d, reason, Kind::Video, p, is_sync, data)?;
        if self.video_frontier.is_none_or(|f| f.before(p.pts)) {
            self.video_frontier = Some(p.pts);
        }
        self.release_audio(false)
    }

    /// Takes the camera's RTCP sender report, received at wall-clock `now`: the wall-clock
    /// times of the next files follow the camera's clock while its reports agree with the
    /// local one (see [`wallclock`]). Only the primary stream's (video, else audio) count.
    pub fn sender_report(&mut self, sr: &SenderReport, now: SystemTime) {
        let track = match sr.stream {
            ReportStream::Video => self.video.as_ref(),
            ReportStream::Audio => self.audio.as_ref().filter(|_| self.video.is_none()),
        };
        let Some(clock_hz) = track.map(Track::clock_hz) else {
            return;
        };
        if let Some(media_ns) = self.timeline.media_ns(sr.rtp_timestamp, clock_hz) {
            wallclock::log(self.clock.sender_report(media_ns, sr.unix_nanos(), now));
        }
    }

    /// A stream's timestamps jumped: the next video keyframe (audio only: the next
    /// frame) starts a new file.
    pub fn mark_discontinuity(&mut self) {
        if self.current.is_some() {
            self.discontinuity = true;
        }
    }

    /// Takes an audio frame presented at `pts` (stream clock).
    pub fn push_audio(&mut self, pts: i64, data: Bytes, now: SystemTime) -> anyhow::Result<()> {
        self.now = now;
        let Some(track) = self.audio.as_mut() else {
            return Ok(());
        };
        let Some(p) = track.place(&mut self.timeline, pts) else {
            return Ok(());
        };
        if self.video.is_none() {
            if !self.output_takes(true) {
                return Ok(());
            }
            let jump = std::mem::take(&mut self.discontinuity);
            let size_due = self.size_due();
            let resume = self.current.as_ref().is_some_and(|c| c.cut);
            let d = self
                .segmenter
                .primary(p.pts, true, jump || size_due || resume);
            let reason = if resume {
                EndReason::DiskStall
            } else if jump {
                EndReason::TimestampJump
            } else {
                self.warn_if_bounded(&d, size_due);
                EndReason::Switch
            };
            return self.apply(d, reason, Kind::Audio, p, true, data);
        }
        if self.output != OutputState::Writing {
            // Until the resuming keyframe: nothing to hold it for.
            self.dropped_no_space += 1;
            return Ok(());
        }
        self.held_audio.push_back((p.pts, data));
        self.release_audio(false)
    }

    /// Ends the session: routes the held audio, closes every file (`reason`: why) and
    /// logs what was dropped. The remaining actions stay to be polled.
    pub fn finish(&mut self, reason: EndReason) -> anyhow::Result<()> {
        let released = self.release_audio(true);
        if let Some(p) = self.previous.take() {
            self.actions.push_back(p.close(reason));
        }
        if let Some(c) = self.current.take() {
            self.actions.push_back(c.close(reason));
        }
        for t in self.video.iter().chain(self.audio.iter()) {
            t.log_drops();
        }
        released
    }

    /// The next thing to do, in order.
    pub fn poll_action(&mut self) -> Option<Action> {
        self.actions.pop_front()
    }

    /// What was written so far (pushed to a file's muxer).
    pub fn written(&self) -> Counts {
        self.written
    }

    /// True once every track reached the limit.
    pub fn all_done(&self) -> bool {
        self.timeline.all_done()
    }

    /// True once the primary track reached the limit.
    pub fn primary_done(&self) -> bool {
        self.timeline.primary_done()
    }

    /// Routes the held audio that can be routed: each frame once video presented at or
    /// after it has come (so a file switch at a keyframe up to that instant is known even
    /// when the keyframe, a large frame, arrives after the audio), or once it is
    /// [`MAX_AUDIO_HOLD`] older than the newest held frame (video stalled), or, with
    /// `all`, every frame (the session ends).
    fn release_audio(&mut self, all: bool) -> anyhow::Result<()> {
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
            let p = Placed {
                pts: t,
                cts_offset: 0,
            };
            self.apply(d, EndReason::Switch, Kind::Audio, p, true, data)?;
        }
        Ok(())
    }

    /// Carries out the segmenter's decision for one sample placed at `p`; a file that
    /// the decision ends ends for `reason`.
    fn apply(
        &mut self,
        d: Decision,
        reason: EndReason,
        kind: Kind,
        p: Placed,
        is_sync: bool,
        data: Bytes,
    ) -> anyhow::Result<()> {
        // The first sample of a track in the newer file ends that track in the older one.
        if d.route == Route::Current
            && let Some(prev) = self.previous.as_mut()
        {
            prev.end_track_at(kind, p);
        }
        if d.close_previous
            && let Some(prev) = self.previous.take()
        {
            self.actions.push_back(prev.close(reason));
        }
        if d.open {
            // The first sample opens the file: a video one's offset is the file's lead.
            let id = FileId(self.next_file);
            self.next_file += 1;
            // Its wall-clock start: the session's media timeline, slewed toward the
            // camera's clock or the local one (see `wallclock`).
            let media_ns = i128::from(p.pts.ticks) * 1_000_000_000 / i128::from(p.pts.clock_hz);
            let placed = self.clock.place(media_ns, self.now);
            if placed.jumped {
                tracing::warn!(
                    "the files' wall-clock times jump here (the camera's or the local clock \
                     moved by more than {} s): a new span",
                    wallclock::JUMP.as_secs()
                );
            }
            let new = OpenFile::open(
                id,
                p.pts,
                p.cts_offset,
                placed.wall,
                [self.video.as_ref(), self.audio.as_ref()],
                self.layout,
                &mut self.actions,
            )?;
            if let Some(mut old) = self.current.replace(new) {
                old.end_track_at(kind, p);
                old.end = Some(reason);
                // It ends where the next one starts, unless the clock jumped in between.
                old.end_wall = (!placed.jumped).then_some(placed.wall);
                if d.linger {
                    if let Some(prev) = self.previous.replace(old) {
                        self.actions.push_back(prev.close(reason));
                    }
                } else {
                    self.actions.push_back(old.close(reason));
                }
            }
        }
        let file = match d.route {
            Route::Current => self.current.as_mut(),
            Route::Previous => self.previous.as_mut(),
            Route::Drop => None,
        };
        match file {
            Some(file) if file.cut => self.written.cut_frames += 1,
            Some(file) => {
                let len = data.len() as u64;
                file.push(kind, p, is_sync, data, &mut self.actions)?;
                self.written.bytes += len;
                match kind {
                    Kind::Video => self.written.video_frames += 1,
                    Kind::Audio => self.written.audio_frames += 1,
                }
            }
            None => {
                let track = match kind {
                    Kind::Video => self.video.as_mut(),
                    Kind::Audio => self.audio.as_mut(),
                };
                if let Some(track) = track {
                    track.dropped_late += 1;
                    if track.dropped_late == 1 {
                        tracing::warn!(
                            "{}: dropping frames from before the file switch that came more \
                             than {} s late",
                            track.name,
                            LINGER.as_secs()
                        );
                    }
                }
            }
        }
        Ok(())
    }
}
