//! A scripted fake RTSP/1.0 server for fault injection.
//!
//! [`FakeRtspServer::start`] listens on `127.0.0.1` (an ephemeral port) and serves each
//! connection on its own thread according to a [`Script`]: a normal H.264 stream (and,
//! optionally, AAC audio) made by ffmpeg at test time, packetized per RFC 6184 / RFC 3640
//! and sent interleaved in the RTSP connection (`RTP/AVP/TCP`), plus one [`Fault`]: garbage
//! answers, a connection cut after `DESCRIBE` or in the middle of an FU-A sequence, a
//! stall, an SDP without a usable stream, bad RTP payloads, timestamp jumps, sequence
//! number gaps. [`Auth`] makes it answer 401 with `WWW-Authenticate: Basic` or `Digest`
//! unless the client brings the right credentials.
//!
//! It handles `OPTIONS`, `DESCRIBE`, `SETUP` (TCP interleaved only; UDP gets 461),
//! `PLAY`, `TEARDOWN` and `GET_PARAMETER`; anything else gets 501.
//!
//! Bounded: every connection and the listener stop at the script's timeout, and dropping the
//! [`FakeRtspServer`] stops and joins all of its threads.
//!
//! ```
//! use std::io::{Read, Write};
//! use tests::fake_rtsp::{FakeRtspServer, Fault, Script};
//!
//! let server = FakeRtspServer::start(Script::normal()?.with_fault(Fault::Garbage))?;
//! let mut conn = std::net::TcpStream::connect(("127.0.0.1", server.port()))?;
//! conn.write_all(b"OPTIONS rtsp://127.0.0.1/x RTSP/1.0\r\nCSeq: 1\r\n\r\n")?;
//! let mut answer = Vec::new();
//! conn.read_to_end(&mut answer)?; // the server closes after its garbage
//! assert!(!answer.starts_with(b"RTSP/1.0"));
//! assert_eq!(server.requests(), ["OPTIONS"]);
//! # Ok::<(), std::io::Error>(())
//! ```

mod auth;
mod media;
mod rtp;

use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use base64::Engine as _;

pub use auth::Auth;
pub use media::{
    AacClip, AccessUnit, H264Clip, TESTSRC_FPS, TESTSRC_HEIGHT, TESTSRC_SECONDS, TESTSRC_WIDTH,
    nal_type,
};
use rtp::{Piece, VideoPayload};

/// RTP payload type of the video stream.
const VIDEO_PT: u8 = 96;
/// RTP payload type of the audio stream.
const AUDIO_PT: u8 = 97;
/// SSRCs of the video and audio streams.
const VIDEO_SSRC: u32 = 0x5EED_0001;
const AUDIO_SSRC: u32 = 0x5EED_0002;
/// First sequence numbers: the video's wraps past 65535 within the first few seconds.
const VIDEO_SEQ_BASE: u16 = 0xFF00;
const AUDIO_SEQ_BASE: u16 = 0x1000;
/// First RTP timestamps.
const VIDEO_TS_BASE: u32 = 0x4000_0000;
const AUDIO_TS_BASE: u32 = 0x2000_0000;
/// The session id handed out by `SETUP`.
const SESSION_ID: &str = "FA4E5E55";
/// What [`Fault::Garbage`] answers: neither an RTSP status line nor interleaved data.
const GARBAGE: &[u8] = b"\x00\xff\x13\x37 garbage \x89PNG\r\n\x1a\n not an answer\r\n\r\n";
/// How long a connection waits for a request before looking at its schedule again.
const POLL: Duration = Duration::from_millis(5);

/// How fast media is sent after `PLAY`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Pacing {
    /// Everything at once (as fast as the client reads).
    Burst,
    /// At the media's own rate, like a live camera.
    RealTime,
}

/// What happens once the script has sent all its media.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum End {
    /// Keep the connection open and keep answering requests (like a camera whose encoder
    /// stopped), until the client closes it or the timeout.
    KeepOpen,
    /// Close the connection (the server ends the session).
    Close,
}

/// An SDP that offers nothing a recorder of H.264/H.265/JPEG video and AAC audio can use.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum UnusableSdp {
    /// Only an ONVIF metadata stream (`m=application`).
    OnlyApplication,
    /// Only a video stream in a codec the recorder does not support (`MP4V-ES`).
    UnknownVideoCodec,
}

/// A bad RTP payload sent in place of (part of) a picture.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum BadPayload {
    /// The picture is replaced by one packet holding a NAL unit of reserved type 31.
    ReservedNalType,
    /// Only the first FU-A fragment of the picture's first fragmented NAL unit is sent (no
    /// end fragment, no marker); the next picture follows with contiguous sequence numbers.
    FuAWithoutEnd,
    /// The picture is replaced by one FU-A packet that has only its FU indicator byte.
    TruncatedFuA,
}

/// The one thing that goes wrong in a [`Script`]. Frame numbers count video frames sent
/// after `PLAY`, from 0.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Fault {
    /// Nothing: a well-behaved server.
    None,
    /// The first request (whatever it is) is answered with garbage bytes, then the
    /// connection is closed.
    Garbage,
    /// The connection is closed right after the `DESCRIBE` answer.
    CloseAfterDescribe,
    /// From frame `frame` on, the first picture that has a NAL unit in three or more FU-A
    /// fragments is sent up to the middle of that FU-A sequence; then the connection is
    /// closed.
    CloseMidFrame {
        /// The first frame where the cut may happen.
        frame: usize,
    },
    /// After `after_frames` frames (and the audio up to their time), nothing more is sent;
    /// the connection stays open and requests are still answered.
    Stall {
        /// How many video frames are sent.
        after_frames: usize,
    },
    /// `DESCRIBE` answers with an SDP that has no usable stream.
    Unusable(UnusableSdp),
    /// From frame `frame` on, the first picture that suits `kind` is sent bad.
    BadPayload {
        /// The first frame that may be sent bad.
        frame: usize,
        /// What is wrong with it.
        kind: BadPayload,
    },
    /// From frame `frame` on, RTP timestamps (video and audio) are shifted by `delta_90k`
    /// (90 kHz units; negative jumps back). Pacing follows the media's own timing.
    TimestampJump {
        /// The first shifted frame.
        frame: usize,
        /// The shift, in 90 kHz units.
        delta_90k: i64,
    },
    /// Before frame `frame`, `lost` video sequence numbers are skipped: to the client,
    /// `lost` packets went missing between two pictures, while the media itself stays
    /// complete and decodable.
    SequenceGap {
        /// The first frame after the gap.
        frame: usize,
        /// How many sequence numbers are skipped.
        lost: u16,
    },
}

/// What a [`FakeRtspServer`] does on every connection.
#[derive(Clone, Debug)]
pub struct Script {
    video: Arc<H264Clip>,
    audio: Option<Arc<AacClip>>,
    frames: usize,
    pacing: Pacing,
    auth: Option<Auth>,
    fault: Fault,
    end: End,
    timeout: Duration,
}

impl Script {
    /// A normal server: [`H264Clip::testsrc`] (90 frames, 3 s), no audio, sent in a
    /// [`Pacing::Burst`], no authentication, no fault, [`End::KeepOpen`], 30 s timeout.
    /// Fails when ffmpeg cannot make the clip.
    pub fn normal() -> io::Result<Self> {
        Ok(Self::from_clip(H264Clip::testsrc()?))
    }

    /// Like [`normal`](Self::normal), with the given clip.
    pub fn from_clip(video: Arc<H264Clip>) -> Self {
        let frames = video.access_units.len();
        Self {
            video,
            audio: None,
            frames,
            pacing: Pacing::Burst,
            auth: None,
            fault: Fault::None,
            end: End::KeepOpen,
            timeout: Duration::from_secs(30),
        }
    }

    /// Adds an AAC stream ([`AacClip::sine`]), sent alongside the video up to its end.
    pub fn with_audio(mut self) -> io::Result<Self> {
        self.audio = Some(AacClip::sine()?);
        Ok(self)
    }

    /// How many video frames to send; the clip repeats (with increasing timestamps) when
    /// longer than it.
    pub fn with_frames(mut self, frames: usize) -> Self {
        self.frames = frames;
        self
    }

    /// How fast media is sent.
    pub fn with_pacing(mut self, pacing: Pacing) -> Self {
        self.pacing = pacing;
        self
    }

    /// Requires these credentials (`DESCRIBE`, `SETUP` and `PLAY` get 401 without them).
    pub fn with_auth(mut self, auth: Auth) -> Self {
        self.auth = Some(auth);
        self
    }

    /// The fault to inject.
    pub fn with_fault(mut self, fault: Fault) -> Self {
        self.fault = fault;
        self
    }

    /// What happens after the last frame.
    pub fn with_end(mut self, end: End) -> Self {
        self.end = end;
        self
    }

    /// How long the server lives at most (each connection is closed then).
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }
}

/// State shared by the handle and the server's threads.
#[derive(Debug, Default)]
struct Shared {
    stop: AtomicBool,
    requests: Mutex<Vec<String>>,
    video_frames_sent: AtomicUsize,
    fault_frame: Mutex<Option<usize>>,
}

/// A running fake server; dropping it stops the server and joins its threads.
#[derive(Debug)]
pub struct FakeRtspServer {
    addr: SocketAddr,
    shared: Arc<Shared>,
    accept: Option<JoinHandle<()>>,
}

impl FakeRtspServer {
    /// Binds `127.0.0.1:0` and serves `script` on every connection until the script's
    /// timeout or until dropped.
    pub fn start(script: Script) -> io::Result<Self> {
        let listener = TcpListener::bind(("127.0.0.1", 0))?;
        listener.set_nonblocking(true)?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared::default());
        let deadline = Instant::now() + script.timeout;
        let script = Arc::new(script);
        let accept = {
            let shared = shared.clone();
            std::thread::Builder::new()
                .name(format!("fake-rtsp-{}", addr.port()))
                .spawn(move || accept_loop(listener, script, shared, deadline))?
        };
        Ok(Self {
            addr,
            shared,
            accept: Some(accept),
        })
    }

    /// The port it listens on (on 127.0.0.1).
    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// `rtsp://127.0.0.1:PORT/x`.
    pub fn url(&self) -> String {
        format!("rtsp://127.0.0.1:{}/x", self.port())
    }

    /// `rtsp://USER:PASSWORD@127.0.0.1:PORT/x` (no percent-encoding: pass plain text).
    pub fn url_with_credentials(&self, username: &str, password: &str) -> String {
        format!("rtsp://{username}:{password}@127.0.0.1:{}/x", self.port())
    }

    /// The methods of the requests received so far, in order, over all connections.
    pub fn requests(&self) -> Vec<String> {
        self.shared
            .requests
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// How many video frames have been sent completely so far, over all connections.
    pub fn video_frames_sent(&self) -> usize {
        self.shared.video_frames_sent.load(Ordering::SeqCst)
    }

    /// The video frame (counted from 0 after `PLAY`) where the script's fault took effect in
    /// the latest `PLAY`: the first shifted frame, the first frame after a sequence gap, the
    /// bad or cut picture, or the stall point (the number of frames sent). `None` before
    /// `PLAY`, for faults that act before it, or when the schedule never reached the fault.
    pub fn fault_frame(&self) -> Option<usize> {
        *self
            .shared
            .fault_frame
            .lock()
            .unwrap_or_else(|e| e.into_inner())
    }
}

impl Drop for FakeRtspServer {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.accept.take() {
            // A panic in a server thread is a bug in this module; it was already printed.
            let _ = t.join();
        }
    }
}

fn accept_loop(listener: TcpListener, script: Arc<Script>, shared: Arc<Shared>, deadline: Instant) {
    let mut connections = Vec::new();
    while !shared.stop.load(Ordering::SeqCst) && Instant::now() < deadline {
        match listener.accept() {
            Ok((stream, _)) => {
                let script = script.clone();
                let shared = shared.clone();
                connections.push(std::thread::spawn(move || {
                    let mut conn = Connection::new(stream, script, shared, deadline);
                    // The client going away is normal; nothing to report.
                    let _ = conn.run();
                }));
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => std::thread::sleep(POLL),
            Err(_) => std::thread::sleep(POLL),
        }
    }
    drop(listener);
    for c in connections {
        let _ = c.join();
    }
}

/// A parsed request.
#[derive(Debug)]
struct Request {
    method: String,
    url: String,
    headers: Vec<(String, String)>,
}

impl Request {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// Takes one request off the front of `buf` (skipping interleaved data the client may send),
/// or `None` when more bytes are needed. Malformed requests are an error.
fn take_request(buf: &mut Vec<u8>) -> io::Result<Option<Request>> {
    loop {
        if buf.first() == Some(&b'$') {
            if buf.len() < 4 {
                return Ok(None);
            }
            let len = 4 + usize::from(u16::from_be_bytes([buf[2], buf[3]]));
            if buf.len() < len {
                return Ok(None);
            }
            buf.drain(..len);
            continue;
        }
        break;
    }
    let Some(head_len) = buf.windows(4).position(|w| w == b"\r\n\r\n") else {
        return Ok(None);
    };
    let head = String::from_utf8_lossy(&buf[..head_len]).into_owned();
    let mut lines = head.split("\r\n");
    let start = lines.next().unwrap_or_default();
    let mut parts = start.split(' ');
    let (Some(method), Some(url), Some("RTSP/1.0")) = (parts.next(), parts.next(), parts.next())
    else {
        return Err(io::Error::other(format!("bad request line {start:?}")));
    };
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
        .collect();
    let body_len = headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("Content-Length"))
        .map_or(Ok(0), |(_, v)| v.parse::<usize>())
        .map_err(|_| io::Error::other("bad content-length"))?;
    let total = head_len + 4 + body_len;
    if buf.len() < total {
        return Ok(None);
    }
    buf.drain(..total);
    Ok(Some(Request {
        method: method.to_owned(),
        url: url.to_owned(),
        headers,
    }))
}

/// One step of the media schedule.
#[derive(Debug)]
struct Step {
    /// When to send it, from `PLAY`, at [`Pacing::RealTime`].
    at: Duration,
    /// Interleaved-framed packets.
    bytes: Vec<u8>,
    /// Whether this step completes a video frame.
    ends_video_frame: bool,
}

/// What follows the last step.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Final {
    Idle,
    Close,
}

/// The media schedule of one `PLAY`.
#[derive(Debug)]
struct Plan {
    steps: Vec<Step>,
    last: Final,
    /// `(stream index, first sequence number, first timestamp)` for `RTP-Info`.
    rtp_info: Vec<(usize, u16, u32)>,
    /// See [`FakeRtspServer::fault_frame`].
    fault_frame: Option<usize>,
}

/// The channels that `SETUP` assigned, per stream index (0 video, 1 audio).
#[derive(Debug, Default, Clone, Copy)]
struct Channels {
    video: Option<u8>,
    audio: Option<u8>,
}

fn build_plan(script: &Script, channels: Channels) -> Plan {
    let clip = &script.video;
    let frame_90k = i64::from(clip.frame_duration_90k());
    let fps = f64::from(clip.fps);
    let mut steps = Vec::new();
    let mut last = match script.end {
        End::KeepOpen => Final::Idle,
        End::Close => Final::Close,
    };
    let (jump_frame, jump_90k) = match script.fault {
        Fault::TimestampJump { frame, delta_90k } => (frame, delta_90k),
        _ => (usize::MAX, 0),
    };
    let mut video_seq = VIDEO_SEQ_BASE;
    let mut audio_seq = AUDIO_SEQ_BASE;
    let mut pending_fault = match script.fault {
        Fault::CloseMidFrame { .. } | Fault::BadPayload { .. } | Fault::SequenceGap { .. } => {
            Some(script.fault)
        }
        _ => None,
    };
    let mut fault_frame = None;
    let frames = match script.fault {
        Fault::Stall { after_frames } => {
            last = Final::Idle;
            fault_frame = (after_frames <= script.frames).then_some(after_frames);
            after_frames.min(script.frames)
        }
        Fault::TimestampJump { frame, .. } => {
            fault_frame = (frame < script.frames).then_some(frame);
            script.frames
        }
        _ => script.frames,
    };
    let audio = script.audio.as_ref().zip(channels.audio);
    let mut audio_index = 0usize;
    let audio_secs = |j: usize, a: &AacClip| {
        j as f64 * f64::from(AacClip::FRAME_SAMPLES) / f64::from(a.sample_rate_hz)
    };

    for i in 0..frames {
        let frame_secs = i as f64 / fps;
        // Audio due before this picture.
        if let Some((a, channel)) = audio {
            while audio_secs(audio_index, a) < frame_secs {
                let mut ts = i64::from(AUDIO_TS_BASE)
                    + audio_index as i64 * i64::from(AacClip::FRAME_SAMPLES);
                if audio_secs(audio_index, a) >= jump_frame as f64 / fps {
                    ts += jump_90k * i64::from(a.sample_rate_hz) / 90_000;
                }
                let payload = rtp::aac_payload(&a.frames[audio_index % a.frames.len()]);
                let packet =
                    rtp::rtp_packet(AUDIO_PT, true, audio_seq, ts as u32, AUDIO_SSRC, &payload);
                audio_seq = audio_seq.wrapping_add(1);
                steps.push(Step {
                    at: Duration::from_secs_f64(audio_secs(audio_index, a)),
                    bytes: rtp::interleaved(channel, &packet),
                    ends_video_frame: false,
                });
                audio_index += 1;
            }
        }
        let Some(channel) = channels.video else {
            continue;
        };
        let au = &clip.access_units[i % clip.access_units.len()];
        let mut nals = Vec::with_capacity(au.nals.len() + 2);
        if au.is_idr() && !au.nals.iter().any(|n| nal_type(n) == 7) {
            nals.push(clip.sps.clone());
            nals.push(clip.pps.clone());
        }
        nals.extend(au.nals.iter().cloned());
        let mut payloads = rtp::packetize_h264(&nals, rtp::MAX_PAYLOAD);
        let mut ts = i64::from(VIDEO_TS_BASE) + i as i64 * frame_90k;
        if i >= jump_frame {
            ts += jump_90k;
        }
        let mut close_after = false;
        match pending_fault {
            Some(Fault::SequenceGap { frame, lost }) if i >= frame => {
                video_seq = video_seq.wrapping_add(lost);
                pending_fault = None;
                fault_frame = Some(i);
            }
            Some(Fault::CloseMidFrame { frame }) if i >= frame => {
                if let Some(cut) = mid_fu_a(&payloads) {
                    payloads.truncate(cut);
                    close_after = true;
                    pending_fault = None;
                    fault_frame = Some(i);
                }
            }
            Some(Fault::BadPayload { frame, kind }) if i >= frame => {
                let bad = match kind {
                    BadPayload::ReservedNalType => Some(vec![VideoPayload {
                        data: bytes::Bytes::from_static(&[0x7F, 0xDE, 0xAD, 0xBE, 0xEF]),
                        marker: true,
                        piece: Piece::Single,
                    }]),
                    BadPayload::TruncatedFuA => Some(vec![VideoPayload {
                        data: bytes::Bytes::from_static(&[0x7C]),
                        marker: true,
                        piece: Piece::FuEnd,
                    }]),
                    BadPayload::FuAWithoutEnd => payloads
                        .iter()
                        .position(|p| p.piece == Piece::FuStart)
                        .map(|start| {
                            let mut kept = payloads[..=start].to_vec();
                            for p in &mut kept {
                                p.marker = false;
                            }
                            kept
                        }),
                };
                if let Some(bad) = bad {
                    payloads = bad;
                    pending_fault = None;
                    fault_frame = Some(i);
                }
            }
            _ => {}
        }
        let mut bytes = Vec::new();
        for p in &payloads {
            let packet = rtp::rtp_packet(
                VIDEO_PT, p.marker, video_seq, ts as u32, VIDEO_SSRC, &p.data,
            );
            video_seq = video_seq.wrapping_add(1);
            bytes.extend_from_slice(&rtp::interleaved(channel, &packet));
        }
        steps.push(Step {
            at: Duration::from_secs_f64(frame_secs),
            bytes,
            ends_video_frame: !close_after,
        });
        if close_after {
            last = Final::Close;
            break;
        }
    }
    let mut rtp_info = Vec::new();
    if channels.video.is_some() {
        rtp_info.push((0, VIDEO_SEQ_BASE, VIDEO_TS_BASE));
    }
    if audio.is_some() {
        rtp_info.push((1, AUDIO_SEQ_BASE, AUDIO_TS_BASE));
    }
    Plan {
        steps,
        last,
        rtp_info,
        fault_frame,
    }
}

/// How many payloads to keep to cut in the middle of the first FU-A sequence that has at
/// least three fragments: its start and at least one middle fragment, never its end.
fn mid_fu_a(payloads: &[VideoPayload]) -> Option<usize> {
    let start = payloads.iter().position(|p| p.piece == Piece::FuStart)?;
    let end = start
        + payloads[start..]
            .iter()
            .position(|p| p.piece == Piece::FuEnd)?;
    (end - start >= 2).then_some(start + (end - start).div_ceil(2))
}

/// Where a connection is in its exchange.
enum Playing {
    No,
    Yes {
        started: Instant,
        plan: Plan,
        next: usize,
    },
}

struct Connection {
    stream: TcpStream,
    script: Arc<Script>,
    shared: Arc<Shared>,
    deadline: Instant,
    channels: Channels,
    playing: Playing,
    /// Whether media is being sent (false after TEARDOWN or once the plan is done).
    closed: bool,
}

impl Connection {
    fn new(stream: TcpStream, script: Arc<Script>, shared: Arc<Shared>, deadline: Instant) -> Self {
        Self {
            stream,
            script,
            shared,
            deadline,
            channels: Channels::default(),
            playing: Playing::No,
            closed: false,
        }
    }

    fn run(&mut self) -> io::Result<()> {
        self.stream.set_nonblocking(false)?;
        self.stream.set_read_timeout(Some(POLL))?;
        self.stream
            .set_write_timeout(Some(Duration::from_secs(5)))?;
        self.stream.set_nodelay(true)?;
        let mut inbuf = Vec::new();
        let mut chunk = [0u8; 4096];
        while !self.closed
            && !self.shared.stop.load(Ordering::SeqCst)
            && Instant::now() < self.deadline
        {
            match self.stream.read(&mut chunk) {
                Ok(0) => break,
                Ok(n) => inbuf.extend_from_slice(&chunk[..n]),
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                    ) => {}
                Err(e) => return Err(e),
            }
            while let Some(req) = take_request(&mut inbuf)? {
                self.shared
                    .requests
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .push(req.method.clone());
                self.answer(&req)?;
                if self.closed {
                    break;
                }
            }
            if !self.closed {
                self.send_due()?;
            }
        }
        self.close_gracefully();
        Ok(())
    }

    /// Sends FIN after everything written, then reads until the client closes (at most a
    /// second), so that unread requests do not turn the close into a reset that could
    /// discard media the client has not read yet.
    fn close_gracefully(&mut self) {
        let _ = self.stream.shutdown(Shutdown::Write);
        let until = Instant::now() + Duration::from_secs(1);
        let mut sink = [0u8; 4096];
        while Instant::now() < until && !self.shared.stop.load(Ordering::SeqCst) {
            match self.stream.read(&mut sink) {
                Ok(0) => break,
                Ok(_) => {}
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                    ) => {}
                Err(_) => break,
            }
        }
        let _ = self.stream.shutdown(Shutdown::Both);
    }

    /// Sends the plan's steps that are due, then what follows the last one.
    fn send_due(&mut self) -> io::Result<()> {
        let Playing::Yes {
            started,
            plan,
            next,
        } = &mut self.playing
        else {
            return Ok(());
        };
        while let Some(step) = plan.steps.get(*next) {
            if self.script.pacing == Pacing::RealTime && started.elapsed() < step.at {
                return Ok(());
            }
            self.stream.write_all(&step.bytes)?;
            if step.ends_video_frame {
                self.shared.video_frames_sent.fetch_add(1, Ordering::SeqCst);
            }
            *next += 1;
        }
        if plan.last == Final::Close {
            self.closed = true;
        }
        Ok(())
    }

    fn respond(
        &mut self,
        req: &Request,
        status: &str,
        headers: &[(&str, String)],
        body: &[u8],
    ) -> io::Result<()> {
        let mut out = format!("RTSP/1.0 {status}\r\n");
        if let Some(cseq) = req.header("CSeq") {
            out.push_str(&format!("CSeq: {cseq}\r\n"));
        }
        out.push_str("Server: fake-rtsp\r\n");
        for (k, v) in headers {
            out.push_str(&format!("{k}: {v}\r\n"));
        }
        if !body.is_empty() {
            out.push_str(&format!("Content-Length: {}\r\n", body.len()));
        }
        out.push_str("\r\n");
        let mut bytes = out.into_bytes();
        bytes.extend_from_slice(body);
        self.stream.write_all(&bytes)
    }

    fn answer(&mut self, req: &Request) -> io::Result<()> {
        if self.script.fault == Fault::Garbage {
            self.stream.write_all(GARBAGE)?;
            self.closed = true;
            return Ok(());
        }
        let needs_auth = matches!(req.method.as_str(), "DESCRIBE" | "SETUP" | "PLAY");
        if let Some(auth) = self.script.auth.clone()
            && needs_auth
            && !auth.accepts(&req.method, req.header("Authorization"))
        {
            return self.respond(
                req,
                "401 Unauthorized",
                &[("WWW-Authenticate", auth.challenge())],
                &[],
            );
        }
        match req.method.as_str() {
            "OPTIONS" => self.respond(
                req,
                "200 OK",
                &[(
                    "Public",
                    "OPTIONS, DESCRIBE, SETUP, PLAY, TEARDOWN, GET_PARAMETER".to_owned(),
                )],
                &[],
            ),
            "DESCRIBE" => {
                let sdp = self.sdp();
                let base = content_base(&req.url);
                self.respond(
                    req,
                    "200 OK",
                    &[
                        ("Content-Type", "application/sdp".to_owned()),
                        ("Content-Base", base),
                    ],
                    sdp.as_bytes(),
                )?;
                if self.script.fault == Fault::CloseAfterDescribe {
                    self.closed = true;
                }
                Ok(())
            }
            "SETUP" => self.setup(req),
            "PLAY" => {
                if req
                    .header("Session")
                    .map(|s| s.split(';').next().unwrap_or("").trim())
                    != Some(SESSION_ID)
                {
                    return self.respond(req, "454 Session Not Found", &[], &[]);
                }
                let plan = build_plan(&self.script, self.channels);
                *self
                    .shared
                    .fault_frame
                    .lock()
                    .unwrap_or_else(|e| e.into_inner()) = plan.fault_frame;
                let base = content_base(&req.url);
                let rtp_info = plan
                    .rtp_info
                    .iter()
                    .map(|(stream, seq, ts)| {
                        format!("url={base}trackID={stream};seq={seq};rtptime={ts}")
                    })
                    .collect::<Vec<_>>()
                    .join(",");
                self.respond(
                    req,
                    "200 OK",
                    &[
                        ("Session", SESSION_ID.to_owned()),
                        ("Range", "npt=0.000-".to_owned()),
                        ("RTP-Info", rtp_info),
                    ],
                    &[],
                )?;
                self.playing = Playing::Yes {
                    started: Instant::now(),
                    plan,
                    next: 0,
                };
                Ok(())
            }
            "TEARDOWN" => {
                self.playing = Playing::No;
                self.respond(req, "200 OK", &[("Session", SESSION_ID.to_owned())], &[])
            }
            "GET_PARAMETER" => {
                self.respond(req, "200 OK", &[("Session", SESSION_ID.to_owned())], &[])
            }
            _ => self.respond(req, "501 Not Implemented", &[], &[]),
        }
    }

    fn setup(&mut self, req: &Request) -> io::Result<()> {
        let stream = req
            .url
            .rsplit_once("trackID=")
            .and_then(|(_, n)| n.parse::<usize>().ok());
        let has_audio = self.script.audio.is_some();
        let stream = match stream {
            Some(0) => 0,
            Some(1) if has_audio => 1,
            _ => return self.respond(req, "404 Not Found", &[], &[]),
        };
        let transport = req.header("Transport").unwrap_or_default().to_owned();
        if !transport.starts_with("RTP/AVP/TCP") {
            return self.respond(req, "461 Unsupported Transport", &[], &[]);
        }
        let channel = transport
            .split(';')
            .find_map(|p| p.strip_prefix("interleaved="))
            .and_then(|c| c.split('-').next())
            .and_then(|c| c.parse::<u8>().ok())
            .unwrap_or(2 * stream as u8);
        let ssrc = if stream == 0 { VIDEO_SSRC } else { AUDIO_SSRC };
        if stream == 0 {
            self.channels.video = Some(channel);
        } else {
            self.channels.audio = Some(channel);
        }
        self.respond(
            req,
            "200 OK",
            &[
                (
                    "Transport",
                    format!(
                        "RTP/AVP/TCP;unicast;interleaved={channel}-{};ssrc={ssrc:08X}",
                        channel + 1
                    ),
                ),
                ("Session", format!("{SESSION_ID};timeout=60")),
            ],
            &[],
        )
    }

    fn sdp(&self) -> String {
        let mut sdp = String::from(
            "v=0\r\no=- 0 0 IN IP4 127.0.0.1\r\ns=fake-rtsp\r\nc=IN IP4 0.0.0.0\r\nt=0 0\r\n\
             a=control:*\r\n",
        );
        match self.script.fault {
            Fault::Unusable(UnusableSdp::OnlyApplication) => {
                sdp.push_str(
                    "m=application 0 RTP/AVP 107\r\na=rtpmap:107 vnd.onvif.metadata/90000\r\n\
                     a=control:trackID=0\r\n",
                );
                return sdp;
            }
            Fault::Unusable(UnusableSdp::UnknownVideoCodec) => {
                sdp.push_str(
                    "m=video 0 RTP/AVP 96\r\na=rtpmap:96 MP4V-ES/90000\r\n\
                     a=fmtp:96 profile-level-id=1\r\na=control:trackID=0\r\n",
                );
                return sdp;
            }
            _ => {}
        }
        let b64 = base64::engine::general_purpose::STANDARD;
        let clip = &self.script.video;
        sdp.push_str(&format!(
            "m=video 0 RTP/AVP {VIDEO_PT}\r\na=rtpmap:{VIDEO_PT} H264/90000\r\n\
             a=fmtp:{VIDEO_PT} packetization-mode=1;profile-level-id={};\
             sprop-parameter-sets={},{}\r\na=control:trackID=0\r\n",
            clip.profile_level_id(),
            b64.encode(&clip.sps),
            b64.encode(&clip.pps),
        ));
        if let Some(a) = &self.script.audio {
            let config: String = a.config.iter().map(|b| format!("{b:02X}")).collect();
            sdp.push_str(&format!(
                "m=audio 0 RTP/AVP {AUDIO_PT}\r\na=rtpmap:{AUDIO_PT} MPEG4-GENERIC/{}/{}\r\n\
                 a=fmtp:{AUDIO_PT} streamtype=5;profile-level-id=1;mode=AAC-hbr;\
                 sizelength=13;indexlength=3;indexdeltalength=3;config={config}\r\n\
                 a=control:trackID=1\r\n",
                a.sample_rate_hz, a.channels,
            ));
        }
        sdp
    }
}

/// The request URL with a trailing `/`, so that `trackID=N` joins below it.
fn content_base(url: &str) -> String {
    if url.ends_with('/') {
        url.to_owned()
    } else {
        format!("{url}/")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fake_clip() -> Arc<H264Clip> {
        // SPS, PPS, then an IDR picture of 5000 bytes (4 FU-A fragments) and two P pictures
        // of 100 bytes, 1 fps.
        let idr = std::iter::once(0x65u8).chain(std::iter::repeat_n(0x88, 4999));
        let p = std::iter::once(0x41u8).chain(std::iter::repeat_n(0x9A, 99));
        let stream: Vec<u8> = [
            0, 0, 0, 1, 0x67, 0x42, 0xC0, 0x1E, 0, 0, 0, 1, 0x68, 0xCE, 0, 0, 1,
        ]
        .into_iter()
        .chain(idr)
        .chain([0, 0, 1])
        .chain(p.clone())
        .chain([0, 0, 1])
        .chain(p)
        .collect();
        Arc::new(H264Clip::from_annex_b(&stream, 1).expect("valid"))
    }

    fn video_only() -> Channels {
        Channels {
            video: Some(0),
            audio: None,
        }
    }

    /// `(sequence number, timestamp, marker, payload)` of each interleaved packet.
    fn packets(bytes: &[u8]) -> Vec<(u16, u32, bool, Vec<u8>)> {
        let mut out = Vec::new();
        let mut rest = bytes;
        while !rest.is_empty() {
            assert_eq!(rest[0], b'$');
            let len = usize::from(u16::from_be_bytes([rest[2], rest[3]]));
            let p = &rest[4..4 + len];
            out.push((
                u16::from_be_bytes([p[2], p[3]]),
                u32::from_be_bytes([p[4], p[5], p[6], p[7]]),
                p[1] & 0x80 != 0,
                p[12..].to_vec(),
            ));
            rest = &rest[4 + len..];
        }
        out
    }

    #[test]
    fn normal_plan_repeats_the_clip_with_increasing_times_and_sequence_numbers() {
        let script = Script::from_clip(fake_clip()).with_frames(4);
        let plan = build_plan(&script, video_only());
        assert_eq!(plan.steps.len(), 4);
        assert_eq!(plan.last, Final::Idle);
        let all: Vec<_> = plan.steps.iter().flat_map(|s| packets(&s.bytes)).collect();
        // IDR: SPS, PPS, 4 fragments; P; P; IDR again (SPS/PPS came with it in the clip).
        assert_eq!(all.len(), 6 + 1 + 1 + 6);
        let seqs: Vec<u16> = all.iter().map(|p| p.0).collect();
        let expected: Vec<u16> = (0..14).map(|k| VIDEO_SEQ_BASE.wrapping_add(k)).collect();
        assert_eq!(seqs, expected);
        let ts: Vec<u32> = plan.steps.iter().map(|s| packets(&s.bytes)[0].1).collect();
        assert_eq!(ts, [0, 90_000, 180_000, 270_000].map(|d| VIDEO_TS_BASE + d));
        let markers: Vec<usize> = all
            .iter()
            .enumerate()
            .filter(|(_, p)| p.2)
            .map(|(k, _)| k)
            .collect();
        assert_eq!(markers, [5, 6, 7, 13]);
        assert_eq!(plan.steps[1].at, Duration::from_secs(1));
    }

    #[test]
    fn faults_shape_the_plan() {
        let clip = fake_clip();
        let plan = |fault| {
            let script = Script::from_clip(clip.clone())
                .with_frames(5)
                .with_fault(fault);
            build_plan(&script, video_only())
        };

        let gap = plan(Fault::SequenceGap { frame: 1, lost: 5 });
        let first_of = |p: &Plan, k: usize| packets(&p.steps[k].bytes)[0].0;
        assert_eq!(first_of(&gap, 1), VIDEO_SEQ_BASE.wrapping_add(6 + 5));
        assert_eq!(gap.fault_frame, Some(1));

        let jump = plan(Fault::TimestampJump {
            frame: 2,
            delta_90k: -270_000,
        });
        let ts_of = |p: &Plan, k: usize| packets(&p.steps[k].bytes)[0].1;
        assert_eq!(ts_of(&jump, 1), VIDEO_TS_BASE + 90_000);
        assert_eq!(
            ts_of(&jump, 2),
            (VIDEO_TS_BASE + 180_000).wrapping_sub(270_000)
        );

        // The cut waits for a picture with a long enough FU-A sequence: the IDR at frame 0.
        let cut = plan(Fault::CloseMidFrame { frame: 0 });
        assert_eq!(cut.last, Final::Close);
        assert_eq!((cut.steps.len(), cut.fault_frame), (1, Some(0)));
        let sent = packets(&cut.steps[0].bytes);
        // SPS, PPS, FU start and one middle fragment (of 4); no marker.
        assert_eq!(sent.len(), 4);
        assert_eq!(sent[3].3[1] & 0xC0, 0);
        assert!(sent.iter().all(|p| !p.2));

        let stall = plan(Fault::Stall { after_frames: 2 });
        assert_eq!((stall.steps.len(), stall.last), (2, Final::Idle));
        assert_eq!(stall.fault_frame, Some(2));

        let reserved = plan(Fault::BadPayload {
            frame: 1,
            kind: BadPayload::ReservedNalType,
        });
        assert_eq!(packets(&reserved.steps[1].bytes)[0].3[0] & 0x1F, 31);
        let no_end = plan(Fault::BadPayload {
            frame: 1,
            kind: BadPayload::FuAWithoutEnd,
        });
        // Frames 1 and 2 have no FU-A; frame 3 (the clip again) does.
        assert_eq!(packets(&no_end.steps[1].bytes).len(), 1);
        assert_eq!(no_end.fault_frame, Some(3));
        let bad = packets(&no_end.steps[3].bytes);
        assert_eq!(bad.len(), 3);
        assert_eq!(bad[2].3[1] & 0xC0, 0x80);
        assert!(bad.iter().all(|p| !p.2));
        // Contiguous sequence numbers into the next frame.
        assert_eq!(
            packets(&no_end.steps[4].bytes)[0].0,
            bad[2].0.wrapping_add(1)
        );
    }

    /// A minimal client: sends a request, returns the response head and body, skipping
    /// interleaved data (returned separately, in arrival order).
    struct Client {
        conn: TcpStream,
        buf: Vec<u8>,
        cseq: u32,
        data: Vec<Vec<u8>>,
    }

    impl Client {
        fn connect(server: &FakeRtspServer) -> Self {
            let conn = TcpStream::connect(("127.0.0.1", server.port())).expect("connect");
            conn.set_read_timeout(Some(Duration::from_secs(5)))
                .expect("timeout");
            Self {
                conn,
                buf: Vec::new(),
                cseq: 0,
                data: Vec::new(),
            }
        }

        fn request(&mut self, method: &str, url: &str, headers: &str) -> (String, String) {
            self.cseq += 1;
            let req = format!(
                "{method} {url} RTSP/1.0\r\nCSeq: {}\r\n{headers}\r\n",
                self.cseq
            );
            self.conn.write_all(req.as_bytes()).expect("send");
            loop {
                if self.buf.first() == Some(&b'$') && self.buf.len() >= 4 {
                    let len = 4 + usize::from(u16::from_be_bytes([self.buf[2], self.buf[3]]));
                    if self.buf.len() >= len {
                        self.data.push(self.buf.drain(..len).collect());
                        continue;
                    }
                } else if let Some(end) = self.buf.windows(4).position(|w| w == b"\r\n\r\n") {
                    let head = String::from_utf8_lossy(&self.buf[..end]).into_owned();
                    let body_len = head
                        .lines()
                        .find_map(|l| l.strip_prefix("Content-Length: "))
                        .map_or(0, |v| v.parse().expect("length"));
                    if self.buf.len() >= end + 4 + body_len {
                        let body = String::from_utf8_lossy(&self.buf[end + 4..end + 4 + body_len])
                            .into_owned();
                        self.buf.drain(..end + 4 + body_len);
                        assert!(head.contains(&format!("CSeq: {}", self.cseq)), "{head}");
                        return (head, body);
                    }
                }
                let mut chunk = [0u8; 65536];
                let n = self.conn.read(&mut chunk).expect("read");
                assert!(n > 0, "server closed the connection");
                self.buf.extend_from_slice(&chunk[..n]);
            }
        }
    }

    #[test]
    fn serves_a_whole_session_over_a_socket() {
        let server =
            FakeRtspServer::start(Script::from_clip(fake_clip()).with_auth(Auth::basic("u", "p")))
                .expect("start");
        let url = server.url();
        let mut c = Client::connect(&server);
        let (head, _) = c.request("OPTIONS", &url, "");
        assert!(
            head.starts_with("RTSP/1.0 200 OK") && head.contains("GET_PARAMETER"),
            "{head}"
        );
        let (head, _) = c.request("DESCRIBE", &url, "");
        assert!(
            head.starts_with("RTSP/1.0 401") && head.contains("Basic realm="),
            "{head}"
        );
        // base64("u:p")
        let auth = "Authorization: Basic dTpw\r\n";
        let (head, sdp) = c.request("DESCRIBE", &url, auth);
        assert!(head.contains("Content-Type: application/sdp"), "{head}");
        assert!(head.contains(&format!("Content-Base: {url}/")), "{head}");
        // SPS 67 42 C0 1E and PPS 68 CE in base64.
        assert!(
            sdp.contains("profile-level-id=42C01E;sprop-parameter-sets=Z0LAHg==,aM4="),
            "{sdp}"
        );
        let track = format!("{url}/trackID=0");
        let (head, _) = c.request(
            "SETUP",
            &track,
            &format!("{auth}Transport: RTP/AVP;unicast;client_port=5000-5001\r\n"),
        );
        assert!(head.starts_with("RTSP/1.0 461"), "{head}");
        let (head, _) = c.request(
            "SETUP",
            &track,
            &format!("{auth}Transport: RTP/AVP/TCP;unicast;interleaved=4-5\r\n"),
        );
        assert!(
            head.contains("Transport: RTP/AVP/TCP;unicast;interleaved=4-5;ssrc=5EED0001"),
            "{head}"
        );
        assert!(
            head.contains(&format!("Session: {SESSION_ID};timeout=60")),
            "{head}"
        );
        let session = format!("{auth}Session: {SESSION_ID}\r\n");
        let (head, _) = c.request("PLAY", &url, &session);
        assert!(
            head.contains(&format!(
                "RTP-Info: url={url}/trackID=0;seq={VIDEO_SEQ_BASE};rtptime={VIDEO_TS_BASE}"
            )),
            "{head}"
        );
        let (head, _) = c.request("GET_PARAMETER", &url, &session);
        assert!(head.starts_with("RTSP/1.0 200 OK"), "{head}");
        let (head, _) = c.request("RECORD", &url, &session);
        assert!(head.starts_with("RTSP/1.0 501"), "{head}");
        let (head, _) = c.request("TEARDOWN", &url, &session);
        assert!(head.starts_with("RTSP/1.0 200 OK"), "{head}");
        // The burst went out on channel 4 between PLAY and TEARDOWN: all 3 pictures
        // (6 + 1 + 1 packets).
        assert_eq!(c.data.len(), 8);
        assert!(c.data.iter().all(|d| d[1] == 4));
        assert_eq!(server.video_frames_sent(), 3);
        assert_eq!(
            server.requests(),
            [
                "OPTIONS",
                "DESCRIBE",
                "DESCRIBE",
                "SETUP",
                "SETUP",
                "PLAY",
                "GET_PARAMETER",
                "RECORD",
                "TEARDOWN"
            ]
        );
    }

    #[test]
    fn requests_parse_with_bodies_and_interleaved_data_skipped() {
        let mut buf = b"$\x01\x00\x02ab".to_vec();
        buf.extend_from_slice(
            b"GET_PARAMETER rtsp://h/x RTSP/1.0\r\nCSeq: 7\r\nContent-Length: 3\r\n\r\nabc",
        );
        buf.extend_from_slice(b"TEARDOWN rtsp://h/x RTSP/1.0\r\nCSeq: 8\r\n");
        let req = take_request(&mut buf).expect("valid").expect("complete");
        assert_eq!(
            (req.method.as_str(), req.url.as_str()),
            ("GET_PARAMETER", "rtsp://h/x")
        );
        assert_eq!(req.header("cseq"), Some("7"));
        assert!(take_request(&mut buf).expect("valid").is_none());
        buf.extend_from_slice(b"\r\n");
        let req = take_request(&mut buf).expect("valid").expect("complete");
        assert_eq!(req.method, "TEARDOWN");
        assert!(buf.is_empty());
    }
}
