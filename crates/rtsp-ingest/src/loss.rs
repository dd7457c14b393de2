//! What lost RTP packets do: never an error, counted, and with
//! [`LossPolicy::SkipToKeyframe`] the video after a loss skipped until the next keyframe.
//!
//! retina tells a loss by the sequence numbers: a received packet carries how many were
//! missing just before it, and a frame the sum over its packets. Its depacketizers drop an
//! access unit whose inside went missing, so the frames handed out are whole as far as
//! their own packets go; a frame with `loss > 0` follows a frame that was dropped, or is
//! missing NAL units that came in packets of their own before its first received one.
//! Either way the video from there until the next keyframe may refer to a picture that is
//! not there, which decoders report as errors (and conceal).

/// What to do with the video after RTP packets were lost. Audio frames (AAC) stand alone
/// and are kept either way.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum LossPolicy {
    /// Keep every frame that arrived, as ffmpeg and the recorders built on it do: the
    /// most picture, but the frames between a loss and the next keyframe may decode with
    /// errors (concealed: smeared or grey blocks).
    #[default]
    Keep,
    /// After a frame with lost packets before it, skip video until the next keyframe
    /// that has no loss before it: files that decode without an error, at the cost of
    /// the rest of the GOP at each loss.
    SkipToKeyframe,
}

/// Losses counted since the session started.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LossCounts {
    /// RTP packets lost on the video stream (as retina counts them from sequence numbers).
    pub video_packets: u64,
    /// RTP packets lost on the audio stream.
    pub audio_packets: u64,
    /// Video frames skipped under [`LossPolicy::SkipToKeyframe`] (frames that arrived
    /// whole but refer to a lost one). Frames that never arrived whole are not counted:
    /// retina drops them before they become frames.
    pub video_frames_skipped: u64,
    /// RTP packets that came after later ones (a duplicate, or a packet sent just before
    /// the sequence number `RTP-Info` announced), skipped: over TCP retina refuses them.
    pub late_packets: u64,
}

impl LossCounts {
    /// Packets lost on both streams.
    pub fn packets(&self) -> u64 {
        self.video_packets + self.audio_packets
    }

    /// What was counted since `earlier` (counts only grow).
    pub fn since(&self, earlier: &LossCounts) -> LossCounts {
        LossCounts {
            video_packets: self.video_packets - earlier.video_packets,
            audio_packets: self.audio_packets - earlier.audio_packets,
            video_frames_skipped: self.video_frames_skipped - earlier.video_frames_skipped,
            late_packets: self.late_packets - earlier.late_packets,
        }
    }

    /// True when nothing was lost nor skipped.
    pub fn is_empty(&self) -> bool {
        *self == LossCounts::default()
    }
}

/// Applies a [`LossPolicy`] to the frames of a session, in arrival order.
#[derive(Debug, Default)]
pub(crate) struct LossFilter {
    policy: LossPolicy,
    counts: LossCounts,
    /// Skipping video until a keyframe without loss before it.
    skipping: bool,
    /// Late packets skipped since the last packet in order.
    late_in_a_row: u32,
}

/// More late packets in a row than this are not a duplicate or a start race but a stream
/// that went back (or jumped more than half the sequence space): an error.
pub(crate) const MAX_LATE_IN_A_ROW: u32 = 16;

impl LossFilter {
    pub(crate) fn new(policy: LossPolicy) -> Self {
        Self {
            policy,
            ..Self::default()
        }
    }

    pub(crate) fn counts(&self) -> LossCounts {
        self.counts
    }

    /// Counts a video frame's loss; false when the policy skips the frame.
    pub(crate) fn video(&mut self, loss: u16, is_sync: bool) -> bool {
        self.counts.video_packets += u64::from(loss);
        if self.policy == LossPolicy::Keep {
            return true;
        }
        if loss > 0 {
            self.skipping = true;
        } else if is_sync {
            self.skipping = false;
        }
        if self.skipping {
            self.counts.video_frames_skipped += 1;
        }
        !self.skipping
    }

    /// A packet came after later ones (retina refused it): true to skip it, false when
    /// too many came in a row ([`MAX_LATE_IN_A_ROW`]).
    pub(crate) fn late_packet(&mut self) -> bool {
        self.late_in_a_row += 1;
        self.counts.late_packets += 1;
        self.late_in_a_row <= MAX_LATE_IN_A_ROW
    }

    /// Something in order arrived.
    pub(crate) fn in_order(&mut self) {
        self.late_in_a_row = 0;
    }

    /// Counts an audio frame's loss (audio frames are always kept).
    pub(crate) fn audio(&mut self, loss: u16) {
        self.counts.audio_packets += u64::from(loss);
    }

    /// Video frames that were skipped but should not count as skipped for loss (they
    /// came before the start, where frames are dropped anyway): `n` frames less.
    pub(crate) fn uncount_skipped(&mut self, n: u64) {
        self.counts.video_frames_skipped -= n.min(self.counts.video_frames_skipped);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `(loss, is_sync)` of each frame through a filter: which were kept.
    fn kept(policy: LossPolicy, frames: &[(u16, bool)]) -> (Vec<usize>, LossCounts) {
        let mut f = LossFilter::new(policy);
        let kept = frames
            .iter()
            .enumerate()
            .filter(|(_, (loss, sync))| f.video(*loss, *sync))
            .map(|(i, _)| i)
            .collect();
        (kept, f.counts())
    }

    /// A GOP of 4: keyframe, 3 others, keyframe, ...; `lossy` frames have 2 packets lost
    /// before them.
    fn stream(len: usize, lossy: &[usize]) -> Vec<(u16, bool)> {
        (0..len)
            .map(|i| (if lossy.contains(&i) { 2 } else { 0 }, i % 4 == 0))
            .collect()
    }

    #[test]
    fn keep_keeps_everything_and_counts_packets() {
        let (kept, counts) = kept(LossPolicy::Keep, &stream(12, &[2, 9]));
        assert_eq!(kept, (0..12).collect::<Vec<_>>());
        assert_eq!(counts.video_packets, 4);
        assert_eq!(counts.video_frames_skipped, 0);
    }

    #[test]
    fn skip_to_keyframe_skips_the_rest_of_the_gop() {
        let (kept, counts) = kept(LossPolicy::SkipToKeyframe, &stream(12, &[2, 9]));
        // Loss before 2: 2 and 3 skipped, 4 (keyframe) resumes; loss before 9: 9..12.
        assert_eq!(kept, [0, 1, 4, 5, 6, 7, 8]);
        assert_eq!(counts.video_frames_skipped, 5);
        assert_eq!(counts.video_packets, 4);
    }

    #[test]
    fn a_keyframe_with_loss_before_it_does_not_resume() {
        // Its own first NAL units (parameter sets, or a slice) may be what was lost.
        let (kept, counts) = kept(LossPolicy::SkipToKeyframe, &stream(12, &[4]));
        assert_eq!(kept, [0, 1, 2, 3, 8, 9, 10, 11]);
        assert_eq!(counts.video_frames_skipped, 4);
    }

    #[test]
    fn late_packets_are_skipped_unless_they_keep_coming() {
        let mut f = LossFilter::new(LossPolicy::Keep);
        assert!(f.late_packet());
        f.in_order();
        for _ in 0..MAX_LATE_IN_A_ROW {
            assert!(f.late_packet());
        }
        assert!(!f.late_packet(), "one too many in a row");
        f.in_order();
        assert!(f.late_packet());
        assert_eq!(f.counts().late_packets, u64::from(MAX_LATE_IN_A_ROW) + 3);
    }

    #[test]
    fn audio_is_counted_never_skipped() {
        let mut f = LossFilter::new(LossPolicy::SkipToKeyframe);
        f.audio(3);
        f.audio(0);
        assert!(f.video(0, false), "audio loss does not skip video");
        let c = f.counts();
        assert_eq!((c.audio_packets, c.video_packets, c.packets()), (3, 0, 3));
        let later = LossCounts {
            audio_packets: 5,
            ..c
        };
        assert_eq!(later.since(&c).audio_packets, 2);
        assert!(!later.since(&c).is_empty() && c.since(&c).is_empty());
    }
}
