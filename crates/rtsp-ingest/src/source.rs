//! The retina session: connect, select, receive.

use std::collections::VecDeque;
use std::sync::Arc;

use futures::StreamExt;
use retina::client::{
    self, Demuxed, InitialSequenceNumberPolicy, PlayOptions, SessionGroup, SessionOptions,
    SetupOptions,
};
use retina::codec::{CodecItem, FrameFormat, ParametersRef, VideoParameters};

use crate::entry::audio_info;
use crate::gate::{DroppedFrames, Gate, Verdict, cut_pcm};
use crate::jump::{JumpCheck, VIDEO_REORDER_TOLERANCE_MS};
use crate::kind::Phase;
use crate::loss::{LossCounts, LossFilter};
use crate::received::{audio_data, check_jump, is_late_packet, video_data};
use crate::reorder::DepthSource;
use crate::rtcp::{Reports, SenderReport};
use crate::select::{Kind, select_streams};
use crate::{
    AudioInfo, Error, Frame, InitialTimestampPolicy, SourceOptions, TeardownPolicy, Transport,
    VideoCodec, VideoInfo,
};

#[derive(Debug)]
struct VideoStream {
    index: usize,
    codec: VideoCodec,
    clock_rate_hz: u32,
    sdp_framerate: Option<f32>,
    /// Known once the first keyframe arrived (or from the SDP).
    info: Option<VideoInfo>,
    /// `None` with the check off.
    jumps: Option<JumpCheck>,
    /// The assumed reorder depth was logged (once per stream).
    logged_default_depth: bool,
}

#[derive(Debug)]
struct AudioStream {
    index: usize,
    info: AudioInfo,
    /// `None` with the check off.
    jumps: Option<JumpCheck>,
}

/// Most audio frames kept aside while waiting for the first video keyframe (about 10 s of
/// 48 kHz AAC; a GOP is rarely longer).
const MAX_HELD_AUDIO: usize = 512;

/// A playing RTSP session handing out [`Frame`]s of at most one video and one audio stream.
pub struct Source {
    demuxed: Demuxed,
    video: Option<VideoStream>,
    audio: Option<AudioStream>,
    gate: Gate,
    /// Frames to hand out before receiving more: the one that opened the gate, then the
    /// held audio at or after its instant.
    pending: VecDeque<Frame>,
    /// Audio received while waiting for the first video keyframe, at most
    /// [`MAX_HELD_AUDIO`] frames.
    held_audio: VecDeque<Frame>,
    loss: LossFilter,
    /// A video frame with new parameters was skipped for loss: compare the parameters at
    /// the next frame handed out.
    parameters_unseen: bool,
    /// The (video, audio) stream jumped since its last frame handed out: the next one is
    /// flagged as a discontinuity.
    jumped: (bool, bool),
    teardown: TeardownPolicy,
    group: Arc<SessionGroup>,
    redacted_url: String,
    /// Sender reports received, to be taken.
    reports: Reports,
}

impl std::fmt::Debug for Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Source")
            .field("url", &self.redacted_url)
            .field("video", &self.video)
            .field("audio", &self.audio)
            .field("gate", &self.gate)
            .finish_non_exhaustive()
    }
}

impl Source {
    /// Connects: `DESCRIBE`, selects the streams, `SETUP` (MP4 framing), `PLAY`, then waits
    /// for the start.
    ///
    /// Selects the first H.264, H.265 or JPEG video stream and the first AAC, PCMU, PCMA or
    /// L16 audio stream (as wanted by `options`; PCM at 8 to 48 kHz, mono or stereo); other
    /// audio codecs are skipped with a log line. With both kinds wanted, either one is
    /// enough.
    ///
    /// The start is the first video keyframe (or, without video, the first audio frame):
    /// earlier video frames are dropped, and so are audio frames before the keyframe's
    /// instant. `connect` returns once the start has arrived, so
    /// [`video`](Self::video) and [`audio`](Self::audio) are known, and the first
    /// [`next`](Self::next) returns it. This can take up to one GOP; bound it with
    /// `tokio::time::timeout` if needed.
    pub async fn connect(options: SourceOptions) -> Result<Source, Error> {
        let redacted_url = options.redacted_url();
        let (url, url_creds) = crate::url::parse_and_split(&options.url)?;
        let creds = options.credentials.clone().or(url_creds);
        let group = options
            .session_group
            .as_ref()
            .map_or_else(|| Arc::new(SessionGroup::default()), |g| g.inner.clone());
        let session_options = SessionOptions::default()
            .creds(creds.map(|c| client::Credentials {
                username: c.username().to_owned(),
                password: c.password().to_owned(),
            }))
            .user_agent(options.user_agent.clone())
            .session_group(group.clone())
            .teardown(match options.teardown {
                TeardownPolicy::Auto => client::TeardownPolicy::Auto,
                TeardownPolicy::Always => client::TeardownPolicy::Always,
                TeardownPolicy::Never => client::TeardownPolicy::Never,
            });
        let mut session = client::Session::describe(url, session_options)
            .await
            .map_err(|e| Error::rtsp(Phase::Describe, &e))?;
        tracing::debug!(
            url = %redacted_url,
            server = ?session.tool().map(|t| &**t),
            streams = session.streams().len(),
            "described"
        );

        let streams = session.streams();
        let described: Vec<(&str, &str)> = streams
            .iter()
            .map(|s| (s.media(), s.encoding_name()))
            .collect();
        let selection = select_streams(&described, options.want_video, options.want_audio, |i| {
            let codec = crate::select::audio_codec(described[i].0, described[i].1);
            audio_info(i, &streams[i], codec)
                .map(drop)
                .map_err(|e| e.to_string())
        });
        for skipped in &selection.skipped {
            let taken = match skipped.kind {
                Kind::Video => selection.video.is_some(),
                Kind::Audio => selection.audio.is_some(),
            };
            if taken {
                tracing::info!(
                    "skipping {} stream {}: {}",
                    skipped.kind,
                    skipped.index,
                    skipped.reason
                );
            } else {
                tracing::warn!(
                    "skipping {} stream {}: {}",
                    skipped.kind,
                    skipped.index,
                    skipped.reason
                );
            }
        }
        if let Err(what) = selection.check(options.want_video, options.want_audio) {
            let offered = described
                .iter()
                .enumerate()
                .map(|(i, (m, e))| format!("{i}: {m}/{e}"))
                .collect::<Vec<_>>()
                .join(", ");
            return Err(Error::NoUsableStream {
                what,
                offered: if offered.is_empty() {
                    "nothing".to_owned()
                } else {
                    offered
                },
            });
        }

        let video = match selection.video {
            Some((index, codec)) => {
                let s = &streams[index];
                let mut v = VideoStream {
                    index,
                    codec,
                    clock_rate_hz: s.clock_rate_hz(),
                    sdp_framerate: s.framerate(),
                    info: None,
                    jumps: options.max_timestamp_jump_secs.map(|secs| {
                        // A jumped frame follows the previous one by a frame interval.
                        let fps = s.framerate().filter(|f| f.is_finite() && *f >= 1.0);
                        let step = f64::from(s.clock_rate_hz()) / f64::from(fps.unwrap_or(30.0));
                        JumpCheck::new(
                            s.clock_rate_hz(),
                            secs,
                            VIDEO_REORDER_TOLERANCE_MS,
                            step.round() as u32,
                        )
                    }),
                    logged_default_depth: false,
                };
                if let Some(ParametersRef::Video(p)) = s.parameters() {
                    v.info = Some(v.info_from(p)?);
                }
                Some(v)
            }
            None => None,
        };
        let audio = match selection.audio {
            Some((index, codec)) => {
                let info = audio_info(index, &streams[index], Some(codec))?;
                Some(AudioStream {
                    index,
                    jumps: options.max_timestamp_jump_secs.map(|secs| {
                        // PCM frames vary with the packets: step 20 ms, the usual ptime.
                        let step = info
                            .frame_length
                            .map_or(info.clock_rate_hz / 50, |l| l.get());
                        JumpCheck::new(info.clock_rate_hz, secs, 0, step)
                    }),
                    info,
                })
            }
            None => None,
        };

        let transport = match options.transport {
            Transport::Tcp => client::Transport::Tcp(Default::default()),
            Transport::Udp => client::Transport::Udp(Default::default()),
        };
        for index in video
            .iter()
            .map(|v| v.index)
            .chain(audio.iter().map(|a| a.index))
        {
            session
                .setup(
                    index,
                    SetupOptions::default()
                        .transport(transport.clone())
                        .frame_format(FrameFormat::MP4),
                )
                .await
                .map_err(|e| Error::rtsp(Phase::Setup, &e))?;
        }
        // Not retina's `enforce_timestamps_with_max_jump_secs`: it refuses every timestamp
        // that goes backwards, i.e. every B-frame. Jumps are checked per stream in `pull`.
        // Sequence numbers start at each stream's first packet, not at `RTP-Info`'s
        // `seq`: servers that announce one more than the packet they send first (a start
        // race) would otherwise end the session at once over TCP.
        let play = PlayOptions::default()
            .initial_seq(InitialSequenceNumberPolicy::Ignore)
            .initial_timestamp(match options.initial_timestamp {
                InitialTimestampPolicy::Default => client::InitialTimestampPolicy::Default,
                InitialTimestampPolicy::Require => client::InitialTimestampPolicy::Require,
                InitialTimestampPolicy::Ignore => client::InitialTimestampPolicy::Ignore,
                InitialTimestampPolicy::Permissive => client::InitialTimestampPolicy::Permissive,
            });
        let demuxed = session
            .play(play)
            .await
            .map_err(|e| Error::rtsp(Phase::Play, &e))?
            .demuxed()
            .map_err(|e| Error::rtsp(Phase::Play, &e))?;

        let mut source = Source {
            demuxed,
            gate: Gate::new(video.is_some()),
            reports: Reports::new(selection.video.map(|v| v.0), selection.audio.map(|a| a.0)),
            video,
            audio,
            pending: VecDeque::new(),
            held_audio: VecDeque::new(),
            loss: LossFilter::new(options.loss_policy),
            parameters_unseen: false,
            jumped: (false, false),
            teardown: options.teardown,
            group,
            redacted_url,
        };
        let first = source.pull().await?.ok_or(Error::EndedBeforeStart {
            what: if source.video.is_some() {
                "video keyframe"
            } else {
                "audio frame"
            },
        })?;
        let dropped = source.dropped_before_start();
        tracing::debug!(
            video_dropped = dropped.video,
            audio_dropped = dropped.audio,
            "start: first {} after dropping {} video and {} audio frame(s)",
            if source.video.is_some() {
                "video keyframe"
            } else {
                "audio frame"
            },
            dropped.video,
            dropped.audio,
        );
        source.pending.push_back(first);
        let audio_hz = source.audio.as_ref().map_or(1, |a| a.info.clock_rate_hz);
        let pcm_frame_bytes = source.audio.as_ref().and_then(|a| a.info.pcm_frame_bytes());
        for frame in std::mem::take(&mut source.held_audio) {
            if let Frame::Audio { pts, .. } = frame {
                if source.gate.keeps_held_audio(pts, audio_hz) {
                    source.pending.push_back(frame);
                } else if let Some(cut) =
                    pcm_frame_bytes.and_then(|b| cut_pcm(&mut source.gate, frame, audio_hz, b))
                {
                    source.pending.push_back(cut);
                }
            }
        }
        let dropped = source.dropped_before_start();
        tracing::debug!(
            kept_audio = source.pending.len() - 1,
            audio_dropped = dropped.audio,
            "audio received before the keyframe, at or after its instant, kept"
        );
        Ok(source)
    }

    /// The selected video stream's description (current parameters), if video was selected.
    pub fn video(&self) -> Option<&VideoInfo> {
        self.video.as_ref().and_then(|v| v.info.as_ref())
    }

    /// The selected audio stream's description, if audio was selected.
    pub fn audio(&self) -> Option<&AudioInfo> {
        self.audio.as_ref().map(|a| &a.info)
    }

    /// The URL being played, with any password redacted.
    pub fn redacted_url(&self) -> &str {
        &self.redacted_url
    }

    /// How many frames were dropped waiting for the start (and, for audio, because they
    /// preceded it).
    pub fn dropped_before_start(&self) -> DroppedFrames {
        DroppedFrames {
            video: self.gate.dropped_video,
            audio: self.gate.dropped_audio,
        }
    }

    /// Packets lost and frames skipped for loss since the session started (see
    /// [`LossPolicy`](crate::LossPolicy)).
    pub fn loss(&self) -> LossCounts {
        self.loss.counts()
    }

    /// The next frame, or `None` when the server ended the session.
    ///
    /// The first call returns the start frame (the first keyframe, or the first audio frame
    /// without video). Lost packets are never an error: they are counted
    /// ([`loss`](Self::loss)) and handled by the [`LossPolicy`](crate::LossPolicy).
    pub async fn next(&mut self) -> Result<Option<Frame>, Error> {
        if let Some(frame) = self.pending.pop_front() {
            return Ok(Some(frame));
        }
        self.pull().await
    }

    /// The oldest RTCP sender report that came with the frames [`next`](Self::next)
    /// returned (a few are kept): the camera's wall clock at an instant of a stream's
    /// clock. Not a frame, so that reports without media still look like a stall.
    pub fn take_sender_report(&mut self) -> Option<SenderReport> {
        self.reports.take()
    }

    /// Ends the session: closes it and, unless the teardown policy is
    /// [`Never`](TeardownPolicy::Never), waits for retina's `TEARDOWN` attempt to finish.
    ///
    /// With [`Always`](TeardownPolicy::Always), retina retries until the session expires
    /// (about a minute) if the server does not answer: bound the wait with
    /// `tokio::time::timeout`. Must be called from the runtime the session runs on.
    pub async fn close(self) -> Result<(), Error> {
        let Source {
            demuxed,
            group,
            teardown,
            ..
        } = self;
        drop(demuxed);
        if teardown == TeardownPolicy::Never {
            return Ok(());
        }
        group
            .await_teardown()
            .await
            .map_err(|e| Error::rtsp(Phase::Teardown, &e))
    }

    /// Receives until there is a frame to hand out.
    async fn pull(&mut self) -> Result<Option<Frame>, Error> {
        loop {
            let item = match self.demuxed.next().await {
                None => return Ok(None),
                // retina refused the packet and left its state as before: go on with
                // the next one.
                Some(Err(e)) if is_late_packet(&e.to_string()) && self.loss.late_packet() => {
                    tracing::debug!(
                        "skipping a late rtp packet: {}",
                        crate::error::one_line(&e.to_string())
                    );
                    continue;
                }
                Some(Err(e)) => return Err(Error::rtsp(Phase::Receive, &e)),
                Some(Ok(item)) => {
                    self.loss.in_order();
                    item
                }
            };
            match item {
                CodecItem::VideoFrame(f) => {
                    let Some(video) = self.video.as_mut() else {
                        continue;
                    };
                    if f.stream_id() != video.index {
                        continue;
                    }
                    let (pts, jumped) = check_jump(
                        video.jumps.as_mut(),
                        video.index,
                        video.clock_rate_hz,
                        f.timestamp().elapsed(),
                    );
                    self.jumped.0 |= jumped;
                    self.reports.video(f.timestamp().timestamp(), pts);
                    let is_sync = f.is_random_access_point()
                        || (video.codec == VideoCodec::H265 && crate::nal::h265_is_irap(f.data()));
                    if !self.loss.video(f.loss(), is_sync) {
                        if !self.gate.is_open() {
                            // Before the start frames are dropped anyway: not for loss.
                            self.loss.uncount_skipped(1);
                            self.gate.dropped_video += 1;
                        }
                        self.parameters_unseen |= f.has_new_parameters();
                        continue;
                    }
                    let verdict = self.gate.video(pts, video.clock_rate_hz, is_sync);
                    if verdict == Verdict::Drop {
                        continue;
                    }
                    let mut new_info = None;
                    if verdict == Verdict::Open
                        || f.has_new_parameters()
                        || std::mem::take(&mut self.parameters_unseen)
                        || video.info.is_none()
                    {
                        let params = match self.demuxed.streams()[video.index].parameters() {
                            Some(ParametersRef::Video(p)) => p,
                            _ => {
                                return Err(Error::UnsupportedCodec {
                                    stream: video.index,
                                    encoding: video.codec.name().to_owned(),
                                    reason: "no parameters at a keyframe".to_owned(),
                                });
                            }
                        };
                        let info = video.info_from(params)?;
                        match &video.info {
                            // The start frame's parameters are what `video()` reports.
                            _ if verdict == Verdict::Open => video.info = Some(info),
                            Some(old) if old.sample_entry == info.sample_entry => {}
                            _ => {
                                tracing::info!(
                                    stream = video.index,
                                    codec = %info.rfc6381_codec,
                                    width = info.width,
                                    height = info.height,
                                    "video parameters changed"
                                );
                                video.info = Some(info.clone());
                                new_info = Some(info);
                            }
                        }
                    }
                    let loss = f.loss();
                    return Ok(Some(Frame::Video {
                        pts,
                        is_sync,
                        new_info,
                        loss,
                        discontinuity: std::mem::take(&mut self.jumped.0),
                        data: video_data(f.into_data()),
                    }));
                }
                CodecItem::AudioFrame(f) => {
                    let Some(audio) = self.audio.as_mut() else {
                        continue;
                    };
                    if f.stream_id() != audio.index {
                        continue;
                    }
                    let (pts, jumped) = check_jump(
                        audio.jumps.as_mut(),
                        audio.index,
                        audio.info.clock_rate_hz,
                        f.timestamp().elapsed(),
                    );
                    self.jumped.1 |= jumped;
                    self.reports.audio(f.timestamp().timestamp(), pts);
                    let mut verdict = self.gate.audio(pts, audio.info.clock_rate_hz);
                    let pcm_frame_bytes = audio.info.pcm_frame_bytes();
                    if verdict == Verdict::Drop && pcm_frame_bytes.is_none() {
                        continue;
                    }
                    // retina counts a PCM frame's samples over all channels: divide.
                    let duration = match pcm_frame_bytes {
                        Some(b) => f.data().len() as u32 / b,
                        None => f.frame_length().get(),
                    };
                    if duration == 0 {
                        continue;
                    }
                    let mut frame = Frame::Audio {
                        pts,
                        duration,
                        data: audio_data(f.data()),
                        loss: f.loss(),
                        discontinuity: false,
                    };
                    if verdict == Verdict::Drop {
                        // Uncompressed audio that begins before the start and ends after
                        // it keeps its samples from the start on.
                        let hz = audio.info.clock_rate_hz;
                        match pcm_frame_bytes.and_then(|b| cut_pcm(&mut self.gate, frame, hz, b)) {
                            Some(cut) => {
                                frame = cut;
                                verdict = Verdict::Pass;
                            }
                            None => continue,
                        }
                    }
                    self.loss.audio(f.loss());
                    if let Frame::Audio { discontinuity, .. } = &mut frame {
                        *discontinuity = std::mem::take(&mut self.jumped.1);
                    }
                    if verdict == Verdict::Hold {
                        if self.held_audio.len() == MAX_HELD_AUDIO {
                            self.held_audio.pop_front();
                            self.gate.drop_held_audio();
                        }
                        self.held_audio.push_back(frame);
                        continue;
                    }
                    return Ok(Some(frame));
                }
                CodecItem::Rtcp(p) => self.reports.rtcp(&p),
                _ => continue,
            }
        }
    }
}

impl VideoStream {
    fn info_from(&mut self, p: &VideoParameters) -> Result<VideoInfo, Error> {
        let sample_entry =
            crate::entry::video_sample_entry(p).map_err(|reason| Error::UnsupportedCodec {
                stream: self.index,
                encoding: self.codec.name().to_owned(),
                reason,
            })?;
        let (width, height) = p.pixel_dimensions();
        let frame_interval = p.frame_rate().filter(|&(n, d)| n > 0 && d > 0).or_else(|| {
            // SDP `a=framerate:29.97` as (1000, 29970).
            self.sdp_framerate
                .filter(|f| f.is_finite() && *f > 0.0 && *f < 10_000.0)
                .map(|f| (1000, (f64::from(f) * 1000.0).round() as u32))
        });
        let reorder = crate::reorder::reorder_depth(self.codec, p.extra_data());
        if reorder.source == DepthSource::Default && !self.logged_default_depth {
            self.logged_default_depth = true;
            tracing::info!(
                stream = self.index,
                "the sps does not state a reorder depth; assuming up to {} reordered frame(s) \
                 (B-frames)",
                reorder.depth
            );
        }
        Ok(VideoInfo {
            codec: self.codec,
            width,
            height,
            clock_rate_hz: self.clock_rate_hz,
            sample_entry,
            rfc6381_codec: p.rfc6381_codec().to_owned(),
            frame_interval,
            reorder_depth: reorder.depth,
        })
    }
}
