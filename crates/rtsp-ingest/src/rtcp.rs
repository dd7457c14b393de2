//! RTCP sender reports (RFC 3550 §6.4.1) as the codec-neutral [`SenderReport`]: the
//! camera's wall clock (NTP) at an instant of a stream's RTP clock, placed on the same
//! re-based timeline as the stream's [`Frame`](crate::Frame) timestamps.

use std::collections::VecDeque;

use retina::rtcp::ReceivedCompoundPacket;

/// Reports kept for [`Source::take_sender_report`](crate::Source::take_sender_report)
/// when the caller does not take them (the oldest go first); a server sends one every few
/// seconds per stream.
const MAX_QUEUED: usize = 8;

/// The selected stream a [`SenderReport`] is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReportStream {
    /// The video stream.
    Video,
    /// The audio stream.
    Audio,
}

/// The camera's wall clock at an instant of one stream's clock, from an RTCP sender
/// report.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SenderReport {
    /// The stream.
    pub stream: ReportStream,
    /// The camera's wall clock as sent: NTP format, 32.32 fixed-point seconds since
    /// 1900-01-01 UTC. Cameras send what their clock says, which may be far off.
    pub ntp_timestamp: u64,
    /// The stream's time at that instant in its clock units
    /// ([`VideoInfo::clock_rate_hz`](crate::VideoInfo::clock_rate_hz) or
    /// [`AudioInfo::clock_rate_hz`](crate::AudioInfo::clock_rate_hz)), on the timeline of
    /// the stream's frames' `pts` (the 32-bit RTP time unwrapped next to the stream's
    /// latest frame, and shifted by the same re-basing at timestamp jumps).
    pub rtp_timestamp: i64,
}

impl SenderReport {
    /// The camera's wall clock in nanoseconds since the Unix epoch (NTP era 0: until
    /// 2036).
    pub fn unix_nanos(&self) -> i128 {
        bmff_boxes::Prft::unix_nanos_from_ntp(self.ntp_timestamp)
    }
}

/// The newest frame of a stream: its 32-bit RTP timestamp and its re-based `pts`.
type Latest = Option<(u32, i64)>;

/// Places the 32-bit RTP timestamp of a report on the re-based timeline of a stream whose
/// newest frame is `latest`: the nearest value, within 2^31 ticks (about 6.6 hours at
/// 90 kHz) either way.
fn place(latest: (u32, i64), rtp: u32) -> i64 {
    let (frame_rtp, frame_pts) = latest;
    frame_pts + i64::from(rtp.wrapping_sub(frame_rtp) as i32)
}

/// The sender reports of a session's selected streams, waiting to be taken.
#[derive(Debug, Default)]
pub(crate) struct Reports {
    /// The selected streams' indexes in the session.
    video_index: Option<usize>,
    audio_index: Option<usize>,
    video: Latest,
    audio: Latest,
    queue: VecDeque<SenderReport>,
}

impl Reports {
    /// Reports of the selected video and audio streams (their indexes in the session).
    pub(crate) fn new(video_index: Option<usize>, audio_index: Option<usize>) -> Self {
        Self {
            video_index,
            audio_index,
            ..Self::default()
        }
    }

    /// A video frame arrived: RTP time `rtp` (retina's extended timestamp; its low 32
    /// bits are the packet's) is `pts` on the re-based timeline.
    pub(crate) fn video(&mut self, rtp: i64, pts: i64) {
        self.video = Some((rtp as u32, pts));
    }

    /// An audio frame arrived, as [`video`](Self::video).
    pub(crate) fn audio(&mut self, rtp: i64, pts: i64) {
        self.audio = Some((rtp as u32, pts));
    }

    /// An RTCP compound packet arrived; keeps its sender report, if it starts with one
    /// about a selected stream that has had a frame.
    pub(crate) fn rtcp(&mut self, packet: &ReceivedCompoundPacket) {
        let (stream, latest) = match Some(packet.stream_id()) {
            id if id == self.video_index => (ReportStream::Video, self.video),
            id if id == self.audio_index => (ReportStream::Audio, self.audio),
            _ => return,
        };
        let Some(latest) = latest else { return };
        let Some(Ok(Some(sr))) = packet.pkts().next().map(|p| p.as_sender_report()) else {
            return;
        };
        if self.queue.len() == MAX_QUEUED {
            self.queue.pop_front();
        }
        self.queue.push_back(SenderReport {
            stream,
            ntp_timestamp: sr.ntp_timestamp().0,
            rtp_timestamp: place(latest, sr.rtp_timestamp()),
        });
    }

    /// The oldest report not taken yet.
    pub(crate) fn take(&mut self) -> Option<SenderReport> {
        self.queue.pop_front()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rtp_times_unwrap_next_to_the_latest_frame() {
        // Just before and after the 32-bit wrap, on a timeline re-based by +1000.
        assert_eq!(place((u32::MAX - 10, 5_000), 5), 5_000 + 16);
        assert_eq!(place((5, 5_000), u32::MAX - 10), 5_000 - 16);
        // A report a little behind the latest frame (the usual case).
        assert_eq!(place((900_000, 901_000), 897_000), 898_000);
        // At most 2^31 - 1 ticks ahead, else behind.
        assert_eq!(place((0, 0), i32::MAX as u32), i64::from(i32::MAX));
        assert_eq!(place((0, 0), 1 << 31), -(1 << 31));
    }

    /// An RTCP compound packet of a sender report (SSRC 0x66426ae1, NTP time `ntp`, RTP
    /// time `rtp`) and an SDES.
    fn packet(ntp: u64, rtp: u32) -> ReceivedCompoundPacket {
        let mut b = vec![0x80, 0xc8, 0x00, 0x06, 0x66, 0x42, 0x6a, 0xe1];
        b.extend_from_slice(&ntp.to_be_bytes());
        b.extend_from_slice(&rtp.to_be_bytes());
        b.extend_from_slice(&[0, 0, 0, 42, 0, 0, 0x43, 0x33]); // packet and octet counts
        b.extend_from_slice(&[0x81, 0xca, 0x00, 0x04, 0x66, 0x42, 0x6a, 0xe1]);
        b.extend_from_slice(&[0x01, 0x06, 0x28, 0x6e, 0x6f, 0x6e, 0x65, 0x29, 0, 0, 0, 0]);
        ReceivedCompoundPacket::dummy(None, &b)
    }

    #[test]
    fn a_sender_report_is_placed_on_its_streams_timeline() {
        // 2023-11-14T22:13:20.5Z.
        let ntp = (3_908_988_800 << 32) | 0x8000_0000;
        let mut r = Reports::new(Some(0), None);
        // No frame of the stream yet: nothing to place it against.
        r.rtcp(&packet(ntp, 1_000));
        assert_eq!(r.take(), None);
        // The dummy packet is on stream 0: here the video.
        r.video((1 << 32) + 4_000, 3_003_000);
        r.rtcp(&packet(ntp, 1_000));
        let sr = r.take().unwrap();
        assert_eq!(
            sr,
            SenderReport {
                stream: ReportStream::Video,
                ntp_timestamp: ntp,
                rtp_timestamp: 3_000_000,
            }
        );
        assert_eq!(sr.unix_nanos(), 1_700_000_000_500_000_000);
        assert_eq!(r.take(), None);
        // Not a selected stream.
        let mut other = Reports::new(Some(1), Some(2));
        other.video(4_000, 3_000);
        other.rtcp(&packet(ntp, 1_000));
        assert_eq!(other.take(), None);
        // Unread reports are bounded.
        for _ in 0..20 {
            r.rtcp(&packet(ntp, 1_000));
        }
        assert_eq!(std::iter::from_fn(|| r.take()).count(), MAX_QUEUED);
    }
}
