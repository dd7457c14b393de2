//! The server's side of an RTSP-over-TCP connection, followed byte by byte: RTSP
//! messages (headers, then `Content-Length` bytes of body) and interleaved binary
//! packets (`$`, channel, 16-bit length, payload; RFC 2326 10.12). The proxy uses it to
//! count the RTP media it lets through (payloads on even channels: RTCP takes the odd
//! ones), to measure it in media time (the RTP timestamps of the video, whose payload
//! types the SDP of the DESCRIBE response maps to a 90 kHz clock) and to find a point
//! strictly inside an RTP packet where a reset cuts a frame.

/// The size of an RTP header without CSRCs or extensions: a reset cuts after it.
const RTP_HEADER: usize = 12;

/// Longest RTSP header block followed; past it the stream is taken for unparseable.
const MAX_HEADERS: usize = 64 * 1024;

/// The RTP clock rate of video.
pub const VIDEO_CLOCK: u32 = 90_000;

/// A timestamp step of this many clock periods or more is a jump, not media.
const MAX_STEP_SECS: u32 = 2;

#[derive(Clone, Debug, PartialEq)]
enum State {
    /// Between two messages.
    Start,
    /// Inside an interleaved header: the bytes seen so far (`$` first).
    Header([u8; 4], usize),
    /// Inside an interleaved packet's payload.
    Packet {
        channel: u8,
        len: usize,
        pos: usize,
        /// The first bytes of the payload (an RTP packet's header up to its timestamp).
        head: [u8; 8],
    },
    /// Inside an RTSP message's headers (the bytes so far).
    Text(Vec<u8>),
    /// Inside an RTSP message's body: bytes left.
    Body(usize),
    /// Something that is neither: nothing more is parsed (every byte counts as media,
    /// so that the coverage check does not fail on a parser gap, and no cut is found).
    Lost,
}

/// Where the stream is, and the video's media time so far.
#[derive(Clone, Debug)]
pub struct Framing {
    state: State,
    /// The bodies of RTSP messages (the SDP), up to [`MAX_HEADERS`] bytes.
    body: Vec<u8>,
    /// Payload types with a 90 kHz clock in an SDP seen so far.
    video: [bool; 128],
    /// The largest timestamp seen of each payload type.
    last: [Option<u32>; 128],
    /// Video media time passed over, in 90 kHz ticks: the sum of the forward steps of
    /// each video payload type's timestamps, steps of [`MAX_STEP_SECS`] or more left out.
    pub video_ticks: u64,
}

impl Default for Framing {
    fn default() -> Self {
        Self {
            state: State::Start,
            body: Vec::new(),
            video: [false; 128],
            last: [None; 128],
            video_ticks: 0,
        }
    }
}

impl Framing {
    /// Advances over `bytes`, the next bytes of the server's stream; returns how many of
    /// them are RTP payload (even channels).
    pub fn feed(&mut self, bytes: &[u8]) -> usize {
        self.walk(bytes, false).0
    }

    /// How many bytes of `bytes` to forward so that the stream stops strictly inside an
    /// RTP packet (past its header, at its middle or later, at least one byte missing);
    /// `None` when no such point is in `bytes`. Advances over the bytes to forward (all
    /// of them when `None`) and returns, first, how many of those are RTP payload.
    pub fn cut(&mut self, bytes: &[u8]) -> (usize, Option<usize>) {
        self.walk(bytes, true)
    }

    fn walk(&mut self, bytes: &[u8], cut: bool) -> (usize, Option<usize>) {
        let mut media = 0;
        let mut i = 0;
        while i < bytes.len() {
            match &mut self.state {
                State::Start => {
                    self.state = if bytes[i] == b'$' {
                        State::Header([b'$', 0, 0, 0], 1)
                    } else {
                        State::Text(vec![bytes[i]])
                    };
                    i += 1;
                }
                State::Header(h, n) => {
                    h[*n] = bytes[i];
                    *n += 1;
                    i += 1;
                    if *n == 4 {
                        let len = usize::from(u16::from_be_bytes([h[2], h[3]]));
                        self.state = if len == 0 {
                            State::Start
                        } else {
                            State::Packet {
                                channel: h[1],
                                len,
                                pos: 0,
                                head: [0; 8],
                            }
                        };
                    }
                }
                State::Packet {
                    channel,
                    len,
                    pos,
                    head,
                } => {
                    let rtp = *channel % 2 == 0;
                    if cut && rtp && *len > RTP_HEADER + 1 {
                        // The middle of the payload after the header, or here if past it.
                        let target = (RTP_HEADER + (*len - RTP_HEADER) / 2).max(*pos);
                        if target < *len && target - *pos <= bytes.len() - i {
                            let take = target - *pos;
                            media += take;
                            let first = *pos;
                            *pos = target;
                            let head = copy_head(head, first, &bytes[i..i + take]);
                            self.timestamp(rtp, first, target, head);
                            return (media, Some(i + take));
                        }
                    }
                    let take = (*len - *pos).min(bytes.len() - i);
                    if rtp {
                        media += take;
                    }
                    let first = *pos;
                    *pos += take;
                    let head = copy_head(head, first, &bytes[i..i + take]);
                    let (end, done) = (*pos, *pos == *len);
                    i += take;
                    if done {
                        self.state = State::Start;
                    }
                    self.timestamp(rtp, first, end, head);
                }
                State::Text(t) => {
                    t.push(bytes[i]);
                    i += 1;
                    if t.ends_with(b"\r\n\r\n") {
                        let body = content_length(t);
                        self.state = if body > 0 {
                            State::Body(body)
                        } else {
                            State::Start
                        };
                    } else if t.len() > MAX_HEADERS {
                        self.state = State::Lost;
                    }
                }
                State::Body(left) => {
                    let take = (*left).min(bytes.len() - i);
                    *left -= take;
                    if self.body.len() < MAX_HEADERS {
                        self.body.extend_from_slice(&bytes[i..i + take]);
                    }
                    i += take;
                    if *left == 0 {
                        self.state = State::Start;
                        self.rtpmaps();
                    }
                }
                State::Lost => {
                    media += bytes.len() - i;
                    i = bytes.len();
                }
            }
        }
        (media, None)
    }

    /// When the bytes `first..end` of an RTP packet completed its first 8 (`head`),
    /// counts its timestamp's step if its payload type is video.
    fn timestamp(&mut self, rtp: bool, first: usize, end: usize, head: [u8; 8]) {
        if !rtp || first >= 8 || end < 8 {
            return;
        }
        let pt = usize::from(head[1] & 0x7f);
        if !self.video[pt] {
            return;
        }
        let ts = u32::from_be_bytes([head[4], head[5], head[6], head[7]]);
        match self.last[pt] {
            None => self.last[pt] = Some(ts),
            Some(last) => {
                // Wrapping, as RTP timestamps do; backwards (reordering) is no step.
                let step = ts.wrapping_sub(last);
                if step < u32::MAX / 2 {
                    if step < MAX_STEP_SECS * VIDEO_CLOCK {
                        self.video_ticks += u64::from(step);
                    }
                    self.last[pt] = Some(ts);
                }
            }
        }
    }

    /// Notes the payload types an SDP body maps to a 90 kHz clock
    /// (`a=rtpmap:96 H264/90000`) as video.
    fn rtpmaps(&mut self) {
        for line in String::from_utf8_lossy(&self.body).lines() {
            let Some(map) = line.trim().strip_prefix("a=rtpmap:") else {
                continue;
            };
            let Some((pt, codec)) = map.split_once(' ') else {
                continue;
            };
            let clock = codec.split('/').nth(1).and_then(|c| c.trim().parse().ok());
            if let (Ok(pt), Some(VIDEO_CLOCK)) = (pt.parse::<usize>(), clock)
                && pt < 128
            {
                self.video[pt] = true;
            }
        }
        self.body.clear();
    }
}

/// `head` with the bytes of `bytes` that are the payload's bytes `first..8` filled in.
fn copy_head(head: &mut [u8; 8], first: usize, bytes: &[u8]) -> [u8; 8] {
    for (k, b) in bytes.iter().enumerate().take(8usize.saturating_sub(first)) {
        head[first + k] = *b;
    }
    *head
}

/// The `Content-Length` of an RTSP header block (0 when absent).
fn content_length(headers: &[u8]) -> usize {
    String::from_utf8_lossy(headers)
        .lines()
        .find_map(|l| {
            let (name, value) = l.split_once(':')?;
            name.trim()
                .eq_ignore_ascii_case("content-length")
                .then(|| value.trim().parse().ok())?
        })
        .unwrap_or(0)
}

/// An interleaved packet: `$`, `channel`, the length, `payload`.
#[cfg(test)]
pub fn interleaved(channel: u8, payload: &[u8]) -> Vec<u8> {
    let mut v = vec![b'$', channel];
    v.extend_from_slice(&u16::try_from(payload.len()).unwrap().to_be_bytes());
    v.extend_from_slice(payload);
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An RTSP response with a body, the length of both.
    const DESCRIBE: &[u8] = b"RTSP/1.0 200 OK\r\nCSeq: 4\r\ncontent-length: 5\r\n\r\nv=0\r\n";

    fn stream() -> Vec<u8> {
        let mut s = DESCRIBE.to_vec();
        s.extend(interleaved(0, &[7; 100]));
        s.extend(interleaved(1, &[8; 28]));
        s.extend(b"RTSP/1.0 200 OK\r\nCSeq: 5\r\n\r\n");
        s.extend(interleaved(2, &[9; 40]));
        s
    }

    #[test]
    fn counts_rtp_payloads_whatever_the_chunks() {
        let s = stream();
        for chunk in [1, 3, 7, 64, s.len()] {
            let mut f = Framing::default();
            let media: usize = s.chunks(chunk).map(|c| f.feed(c)).sum();
            assert_eq!(media, 140, "chunks of {chunk}");
            assert_eq!(f.state, State::Start);
        }
    }

    #[test]
    fn cuts_inside_the_next_rtp_packet_past_its_header() {
        let s = stream();
        let mut f = Framing::default();
        let (media, k) = f.cut(&s);
        let k = k.unwrap();
        assert_eq!(media, 56);
        // Headers and body, the `$` header (4), then 12 + 88 / 2 payload bytes.
        let d = DESCRIBE.len();
        assert_eq!(k, d + 4 + 56);
        assert_eq!(s[k - 1], 7);
        assert_eq!(s[k], 7);
        // Past the middle already: the cut is where the stream is.
        let mut f = Framing::default();
        assert_eq!(f.feed(&s[..d + 4 + 90]), 90);
        assert_eq!(f.cut(&s[d + 4 + 90..]), (0, Some(0)));
        // Not in these bytes: all advanced, the cut comes in the next RTP packet (the
        // RTCP packet on channel 1 is passed over).
        let mut f = Framing::default();
        let after_first = d + 4 + 100;
        assert_eq!(f.feed(&s[..after_first]), 100);
        assert_eq!(f.cut(&s[after_first..after_first + 20]), (0, None));
        let rest = &s[after_first + 20..];
        let k = f.cut(rest).1.unwrap();
        assert_eq!(rest[k - 1], 9);
        assert_eq!(rest.len() - k, 40 - (12 + 14));
    }

    /// An RTP packet of payload type `pt` and timestamp `ts`, 20 bytes of payload.
    fn rtp(channel: u8, pt: u8, ts: u32) -> Vec<u8> {
        let mut p = vec![0x80, pt, 0, 1];
        p.extend_from_slice(&ts.to_be_bytes());
        p.extend_from_slice(&[0; 4]);
        p.extend_from_slice(&[5; 20]);
        interleaved(channel, &p)
    }

    #[test]
    fn measures_the_video_in_media_time() {
        let sdp = "v=0\r\nm=video 0 RTP/AVP 96\r\na=rtpmap:96 H264/90000\r\n\
                   m=audio 0 RTP/AVP 97\r\na=rtpmap:97 MPEG4-GENERIC/48000/2\r\n";
        let mut s = format!(
            "RTSP/1.0 200 OK\r\nCSeq: 2\r\nContent-Length: {}\r\n\r\n{sdp}",
            sdp.len()
        )
        .into_bytes();
        let start = u32::MAX - 1000;
        // 3000 ticks, a packet again at the same instant, 3000 more across the wrap, a
        // step back (no media), then a 10 s jump (left out) and 1500 ticks after it.
        for ts in [0, 3000, 3000, 6000, 5000, 6000 + 900_000, 6000 + 901_500] {
            s.extend(rtp(0, 96, start.wrapping_add(ts)));
            s.extend(rtp(2, 97, ts * 7));
        }
        for chunk in [1, 5, 13, s.len()] {
            let mut f = Framing::default();
            for c in s.chunks(chunk) {
                f.feed(c);
            }
            assert_eq!(f.video_ticks, 7500, "chunks of {chunk}");
        }
        // Without an SDP nothing is video.
        let mut f = Framing::default();
        f.feed(&rtp(0, 96, 0));
        f.feed(&rtp(0, 96, 3000));
        assert_eq!(f.video_ticks, 0);
    }

    #[test]
    fn an_endless_header_block_is_given_up() {
        let mut f = Framing::default();
        assert_eq!(f.feed(&vec![b'a'; MAX_HEADERS + 1]), 0);
        assert_eq!(f.feed(&[1, 2, 3]), 3);
        assert_eq!(f.cut(&[1, 2, 3]), (3, None));
    }
}
