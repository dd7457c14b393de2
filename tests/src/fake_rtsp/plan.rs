//! The media schedule of one `PLAY`: which interleaved packets go out when, shaped by the
//! script's [`Fault`].

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::rtp::{self, Piece, VideoPayload};
use super::{
    AUDIO_PT, AUDIO_SEQ_BASE, AUDIO_SSRC, AUDIO_TS_BASE, AacClip, BadPayload, End, Fault, Script,
    VIDEO_PT, VIDEO_SEQ_BASE, VIDEO_SSRC, VIDEO_TS_BASE, VideoCodec, nal_type,
};

/// One step of the media schedule.
#[derive(Debug)]
pub(super) struct Step {
    /// When to send it, from `PLAY`, at [`Pacing::RealTime`].
    pub(super) at: Duration,
    /// Interleaved-framed packets.
    pub(super) bytes: Vec<u8>,
    /// Whether this step completes a video frame.
    pub(super) ends_video_frame: bool,
    /// Whether a packet of this step's video frame was dropped.
    pub(super) damaged: bool,
}

/// What follows the last step.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Final {
    Idle,
    Close,
}

/// The media schedule of one `PLAY`.
#[derive(Debug)]
pub(super) struct Plan {
    pub(super) steps: Vec<Step>,
    pub(super) last: Final,
    /// `(stream index, first sequence number, first timestamp)` for `RTP-Info`.
    pub(super) rtp_info: Vec<(usize, u16, u32)>,
    /// See [`FakeRtspServer::fault_frame`].
    pub(super) fault_frame: Option<usize>,
}

/// The channels that `SETUP` assigned, per stream index (0 video, 1 audio).
#[derive(Debug, Default, Clone, Copy)]
pub(super) struct Channels {
    pub(super) video: Option<u8>,
    pub(super) audio: Option<u8>,
}

/// The schedule of a `PLAY` received at `play_wall`.
pub(super) fn build_plan(script: &Script, channels: Channels, play_wall: SystemTime) -> Plan {
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
    let mut loss = match script.fault {
        Fault::RandomLoss { per_mille, seed } => Some(Loss::new(per_mille, seed)),
        _ => None,
    };
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
    let offset_ms = script.audio_offset_ms;
    let audio_secs = |j: usize, a: &AacClip| {
        j as f64 * f64::from(AacClip::FRAME_SAMPLES) / f64::from(a.sample_rate_hz)
            + f64::from(offset_ms) / 1000.0
    };

    for i in 0..frames {
        let frame_secs = i as f64 / fps;
        // Audio due before this picture.
        if let Some((a, channel)) = audio {
            while audio_secs(audio_index, a) < frame_secs {
                let mut ts = i64::from(AUDIO_TS_BASE)
                    + i64::from(offset_ms) * i64::from(a.sample_rate_hz) / 1000
                    + audio_index as i64 * i64::from(AacClip::FRAME_SAMPLES);
                if audio_secs(audio_index, a) >= jump_frame as f64 / fps {
                    ts += jump_90k * i64::from(a.sample_rate_hz) / 90_000;
                }
                let payload = rtp::aac_payload(&a.frames[audio_index % a.frames.len()]);
                let packet =
                    rtp::rtp_packet(AUDIO_PT, true, audio_seq, ts as u32, AUDIO_SSRC, &payload);
                audio_seq = audio_seq.wrapping_add(1);
                steps.push(Step {
                    at: Duration::from_secs_f64(audio_secs(audio_index, a).max(0.0)),
                    bytes: rtp::interleaved(channel, &packet),
                    ends_video_frame: false,
                    damaged: false,
                });
                audio_index += 1;
            }
        }
        let Some(channel) = channels.video else {
            continue;
        };
        let au = &clip.access_units[i % clip.access_units.len()];
        let mut nals = Vec::with_capacity(au.nals.len() + 2);
        if clip.codec == VideoCodec::H264
            && au.is_idr()
            && !au.nals.iter().any(|n| nal_type(n) == 7)
        {
            nals.push(clip.sps.clone());
            nals.push(clip.pps.clone());
        }
        nals.extend(au.nals.iter().cloned());
        let mut payloads = match clip.codec {
            VideoCodec::H264 => rtp::packetize_h264(&nals, rtp::MAX_PAYLOAD),
            VideoCodec::H265 => rtp::packetize_h265(&nals, rtp::MAX_PAYLOAD),
        };
        // Presentation time: the clip's order, repeated with increasing times.
        let shown =
            (i / clip.access_units.len() * clip.access_units.len()) as i64 + i64::from(au.pts);
        let mut ts = i64::from(VIDEO_TS_BASE) + shown * frame_90k;
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
        let mut damaged = false;
        let duplicate = matches!(script.fault, Fault::DuplicatePacket { frame } if frame == i);
        if duplicate {
            fault_frame = Some(i);
        }
        for (k, p) in payloads.iter().enumerate() {
            let packet = rtp::rtp_packet(
                VIDEO_PT, p.marker, video_seq, ts as u32, VIDEO_SSRC, &p.data,
            );
            video_seq = video_seq.wrapping_add(1);
            if loss.as_mut().is_some_and(Loss::drops) {
                damaged = true;
                continue;
            }
            bytes.extend_from_slice(&rtp::interleaved(channel, &packet));
            if duplicate && k == 0 {
                bytes.extend_from_slice(&rtp::interleaved(channel, &packet));
            }
        }
        let fps_n = (clip.fps as usize).max(1);
        if let Some(offset_ms) = script.sender_reports.filter(|_| i % fps_n == fps_n / 2) {
            let wall = play_wall + Duration::from_secs_f64(frame_secs);
            let unix_ns = wall
                .duration_since(UNIX_EPOCH)
                .expect("after 1970")
                .as_nanos() as i128
                + i128::from(offset_ms) * 1_000_000;
            // NTP: 32.32 fixed-point seconds since 1900.
            let since_1900 = unix_ns + 2_208_988_800 * 1_000_000_000;
            let ntp = ((since_1900 << 32) / 1_000_000_000) as u64;
            let sr = rtp::sender_report(VIDEO_SSRC, ntp, ts as u32);
            bytes.extend_from_slice(&rtp::interleaved(channel + 1, &sr));
        }
        steps.push(Step {
            at: Duration::from_secs_f64(frame_secs),
            bytes,
            ends_video_frame: !close_after,
            damaged,
        });
        if close_after {
            last = Final::Close;
            break;
        }
    }
    let mut rtp_info = Vec::new();
    if channels.video.is_some() {
        let announced = match script.fault {
            Fault::EarlyFirstPacket => VIDEO_SEQ_BASE.wrapping_add(1),
            _ => VIDEO_SEQ_BASE,
        };
        rtp_info.push((0, announced, VIDEO_TS_BASE));
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

/// Which packets [`Fault::RandomLoss`] drops: xorshift64*, seeded.
struct Loss {
    per_mille: u64,
    state: u64,
}

impl Loss {
    fn new(per_mille: u16, seed: u64) -> Self {
        Self {
            per_mille: u64::from(per_mille),
            // xorshift never leaves 0.
            state: seed | 1,
        }
    }

    /// Whether the next packet is dropped.
    fn drops(&mut self) -> bool {
        self.state ^= self.state >> 12;
        self.state ^= self.state << 25;
        self.state ^= self.state >> 27;
        let x = self.state.wrapping_mul(0x2545_F491_4F6C_DD1D);
        (x >> 32) % 1000 < self.per_mille
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fake_rtsp::media::fake_clip;

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
        let plan = build_plan(&script, video_only(), SystemTime::now());
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
            build_plan(&script, video_only(), SystemTime::now())
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

        let lossy = |per_mille| {
            let script = Script::from_clip(clip.clone())
                .with_frames(300)
                .with_fault(Fault::RandomLoss { per_mille, seed: 7 });
            build_plan(&script, video_only(), SystemTime::now())
        };
        let count = |p: &Plan| {
            let sent: usize = p.steps.iter().map(|s| packets(&s.bytes).len()).sum();
            let damaged = p.steps.iter().filter(|s| s.damaged).count();
            (sent, damaged)
        };
        let (all, none) = count(&lossy(0));
        assert_eq!(none, 0);
        // About 10% of the packets dropped, each frame that lost one marked damaged; the
        // sequence numbers of the dropped ones are skipped.
        let (sent, damaged) = count(&lossy(100));
        let dropped = all - sent;
        assert!((all / 20..all / 5).contains(&dropped), "{dropped} of {all}");
        assert!(
            damaged > 0 && damaged <= dropped,
            "{damaged} frames, {dropped} packets"
        );
        let p = lossy(100);
        let last = packets(&p.steps[299].bytes);
        let last_seq = last.last().map_or(0, |l| l.0);
        if !p.steps[299].damaged {
            assert_eq!(last_seq, VIDEO_SEQ_BASE.wrapping_add(all as u16 - 1));
        }
        assert_eq!(
            count(&lossy(100)),
            (sent, damaged),
            "seeded: the same drops"
        );

        let early = plan(Fault::EarlyFirstPacket);
        assert_eq!(
            early.rtp_info,
            [(0, VIDEO_SEQ_BASE.wrapping_add(1), VIDEO_TS_BASE)]
        );
        assert_eq!(first_of(&early, 0), VIDEO_SEQ_BASE);
        let dup = plan(Fault::DuplicatePacket { frame: 1 });
        let seqs: Vec<u16> = packets(&dup.steps[1].bytes).iter().map(|p| p.0).collect();
        assert_eq!(seqs, [6, 6].map(|k| VIDEO_SEQ_BASE.wrapping_add(k)));
        assert_eq!(dup.fault_frame, Some(1));

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
}
