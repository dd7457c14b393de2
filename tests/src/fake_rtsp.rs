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
mod connection;
mod media;
mod plan;
mod request;
mod rtp;

use std::io;
use std::net::{SocketAddr, TcpListener};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

pub use auth::Auth;
pub use media::{
    AacClip, AccessUnit, H264Clip, TESTSRC_FPS, TESTSRC_HEIGHT, TESTSRC_SECONDS, TESTSRC_WIDTH,
    VideoCodec, h265_nal_type, nal_type,
};

use connection::Connection;

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
    /// `RTP-Info` announces a video sequence number one more than the first packet's (a
    /// start race: a packet numbered just before it goes out first).
    EarlyFirstPacket,
    /// The first packet of frame `frame` is sent twice in a row.
    DuplicatePacket {
        /// The frame whose first packet is repeated.
        frame: usize,
    },
    /// Each video RTP packet is dropped (its sequence number skipped) with probability
    /// `per_mille / 1000`, drawn from a generator seeded with `seed`, as a lossy network
    /// would: a picture that lost a packet is damaged
    /// ([`FakeRtspServer::video_frames_damaged`]).
    RandomLoss {
        /// Packets dropped per thousand.
        per_mille: u16,
        /// The generator's seed (same seed, same packets dropped).
        seed: u64,
    },
}

/// What a [`FakeRtspServer`] does on every connection.
#[derive(Clone, Debug)]
pub struct Script {
    video: Arc<H264Clip>,
    audio: Option<Arc<AacClip>>,
    audio_offset_ms: i32,
    frames: usize,
    pacing: Pacing,
    auth: Option<Auth>,
    fault: Fault,
    end: End,
    timeout: Duration,
    /// Send a video RTCP sender report every second, its clock this far (ms) ahead of the
    /// local one.
    sender_reports: Option<i64>,
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
            audio_offset_ms: 0,
            frames,
            pacing: Pacing::Burst,
            auth: None,
            fault: Fault::None,
            end: End::KeepOpen,
            timeout: Duration::from_secs(30),
            sender_reports: None,
        }
    }

    /// Sends an RTCP sender report for the video half a second into each second of media,
    /// as a camera whose clock is `offset_ms` ahead of the local one (negative: behind)
    /// reports it: the wall-clock time at `PLAY` plus the frame's schedule (meant for
    /// [`Pacing::RealTime`]).
    pub fn with_sender_reports(mut self, offset_ms: i64) -> Self {
        self.sender_reports = Some(offset_ms);
        self
    }

    /// Adds an AAC stream ([`AacClip::sine`]), sent alongside the video up to its end.
    pub fn with_audio(mut self) -> io::Result<Self> {
        self.audio = Some(AacClip::sine()?);
        Ok(self)
    }

    /// Starts the audio `ms` milliseconds after the video (before it when negative): the
    /// audio's RTP timestamps and send times are shifted by that much, while `RTP-Info`
    /// still names the same instant (the first video frame's) for both streams. Audio due
    /// before the first video frame is sent first.
    pub fn with_audio_offset_ms(mut self, ms: i32) -> Self {
        self.audio_offset_ms = ms;
        self
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
    video_frames_damaged: AtomicUsize,
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

    /// How many of the video frames sent lost a packet ([`Fault::RandomLoss`]): the
    /// frames sent whole are `video_frames_sent() - video_frames_damaged()`.
    pub fn video_frames_damaged(&self) -> usize {
        self.shared.video_frames_damaged.load(Ordering::SeqCst)
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

#[cfg(test)]
mod tests {
    use std::io::{Read, Write};
    use std::net::TcpStream;

    use super::*;
    use media::fake_clip;

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
}
