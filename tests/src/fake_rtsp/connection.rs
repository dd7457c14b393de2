//! One client connection: answers its requests and sends the planned media after `PLAY`.

use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use base64::Engine as _;

use super::plan::{Channels, Final, Plan, build_plan};
use super::request::{Request, take_request};
use super::{
    AUDIO_PT, AUDIO_SSRC, Fault, GARBAGE, POLL, Pacing, SESSION_ID, Script, Shared, UnusableSdp,
    VIDEO_PT, VIDEO_SSRC, VideoCodec,
};

/// Where a connection is in its exchange.
enum Playing {
    No,
    Yes {
        started: Instant,
        plan: Plan,
        next: usize,
    },
}

pub(super) struct Connection {
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
    pub(super) fn new(
        stream: TcpStream,
        script: Arc<Script>,
        shared: Arc<Shared>,
        deadline: Instant,
    ) -> Self {
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

    pub(super) fn run(&mut self) -> io::Result<()> {
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
            if step.damaged {
                self.shared
                    .video_frames_damaged
                    .fetch_add(1, Ordering::SeqCst);
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
                let plan = build_plan(&self.script, self.channels, std::time::SystemTime::now());
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
        if let Some(vps) = clip.vps.as_ref().filter(|_| clip.codec == VideoCodec::H265) {
            sdp.push_str(&format!(
                "m=video 0 RTP/AVP {VIDEO_PT}\r\na=rtpmap:{VIDEO_PT} H265/90000\r\n\
                 a=fmtp:{VIDEO_PT} sprop-vps={};sprop-sps={};sprop-pps={}\r\n\
                 a=control:trackID=0\r\n",
                b64.encode(vps),
                b64.encode(&clip.sps),
                b64.encode(&clip.pps),
            ));
        } else {
            sdp.push_str(&format!(
                "m=video 0 RTP/AVP {VIDEO_PT}\r\na=rtpmap:{VIDEO_PT} H264/90000\r\n\
             a=fmtp:{VIDEO_PT} packetization-mode=1;profile-level-id={};\
             sprop-parameter-sets={},{}\r\na=control:trackID=0\r\n",
                clip.profile_level_id(),
                b64.encode(&clip.sps),
                b64.encode(&clip.pps),
            ));
        }
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
