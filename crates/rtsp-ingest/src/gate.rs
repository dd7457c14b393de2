//! The wait for the first video keyframe, independent of retina.

use std::cmp::Ordering;

/// Compares the instants `a / a_hz` and `b / b_hz` seconds exactly (no rounding).
pub(crate) fn cmp_instants(a: i64, a_hz: u32, b: i64, b_hz: u32) -> Ordering {
    (i128::from(a) * i128::from(b_hz)).cmp(&(i128::from(b) * i128::from(a_hz)))
}

/// Counts of frames dropped while waiting for the start (see
/// [`Source::connect`](crate::Source::connect)).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DroppedFrames {
    /// Video frames before the first keyframe.
    pub video: u64,
    /// Audio frames before the start instant.
    pub audio: u64,
}

/// What to do with a frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// This is the first frame handed out; the start instant is its timestamp.
    Open,
    /// Hand it out.
    Pass,
    /// Drop it.
    Drop,
    /// Audio while waiting for the first video keyframe: keep it aside, it may turn out to
    /// be at or after the keyframe's instant (audio is often received before a large
    /// keyframe has finished arriving); see [`Gate::keeps_held_audio`].
    Hold,
}

/// Drops frames until the start: the first video keyframe when there is video (audio before
/// that instant is dropped too, whether it arrives before or after the keyframe), else the
/// first audio frame.
#[derive(Debug)]
pub(crate) struct Gate {
    has_video: bool,
    /// The start instant as `(pts, clock_hz)`.
    start: Option<(i64, u32)>,
    /// Video frames dropped while waiting.
    pub dropped_video: u64,
    /// Audio frames dropped while waiting or because they precede the start.
    pub dropped_audio: u64,
}

impl Gate {
    pub(crate) fn new(has_video: bool) -> Self {
        Self {
            has_video,
            start: None,
            dropped_video: 0,
            dropped_audio: 0,
        }
    }

    /// True once the start frame went through.
    pub(crate) fn is_open(&self) -> bool {
        self.start.is_some()
    }

    pub(crate) fn video(&mut self, pts: i64, clock_hz: u32, is_sync: bool) -> Verdict {
        if self.start.is_some() {
            return Verdict::Pass;
        }
        if is_sync {
            self.start = Some((pts, clock_hz));
            Verdict::Open
        } else {
            self.dropped_video += 1;
            Verdict::Drop
        }
    }

    pub(crate) fn audio(&mut self, pts: i64, clock_hz: u32) -> Verdict {
        match self.start {
            None if !self.has_video => {
                self.start = Some((pts, clock_hz));
                Verdict::Open
            }
            None => Verdict::Hold,
            Some((start, start_hz))
                if cmp_instants(pts, clock_hz, start, start_hz) != Ordering::Less =>
            {
                Verdict::Pass
            }
            Some(_) => {
                self.dropped_audio += 1;
                Verdict::Drop
            }
        }
    }
}

impl Gate {
    /// Once open: whether held audio at `pts` is kept (at or after the start instant);
    /// counts it as dropped otherwise.
    pub(crate) fn keeps_held_audio(&mut self, pts: i64, clock_hz: u32) -> bool {
        let keep = self.start.is_some_and(|(start, start_hz)| {
            cmp_instants(pts, clock_hz, start, start_hz) != Ordering::Less
        });
        if !keep {
            self.dropped_audio += 1;
        }
        keep
    }

    /// Once open: for uncompressed audio (whose frames can be cut anywhere), the number of
    /// leading samples to cut from a frame of `duration` samples at `pts` that starts
    /// before the start instant and ends after it (then it is no longer counted as
    /// dropped, if [`audio`](Self::audio) or [`keeps_held_audio`](Self::keeps_held_audio)
    /// counted it).
    pub(crate) fn straddles_start(
        &mut self,
        pts: i64,
        duration: u32,
        clock_hz: u32,
    ) -> Option<u32> {
        let (start, start_hz) = self.start?;
        // The start instant in this clock, rounded up to a whole sample.
        let num = i128::from(start) * i128::from(clock_hz);
        let den = i128::from(start_hz);
        let start_here = num.div_euclid(den) + i128::from(num.rem_euclid(den) != 0);
        let cut = start_here - i128::from(pts);
        if cut > 0 && cut < i128::from(duration) {
            self.dropped_audio = self.dropped_audio.saturating_sub(1);
            Some(cut as u32)
        } else {
            None
        }
    }

    /// Counts held audio that was dropped because too much was held.
    pub(crate) fn drop_held_audio(&mut self) {
        self.dropped_audio += 1;
    }
}

/// An uncompressed audio `frame` (of `frame_bytes` per sample over all channels) that
/// begins before the gate's start instant and ends after it, without its samples before
/// the instant; `None` for any other frame.
pub(crate) fn cut_pcm(
    gate: &mut Gate,
    frame: crate::Frame,
    clock_hz: u32,
    frame_bytes: u32,
) -> Option<crate::Frame> {
    let crate::Frame::Audio {
        pts,
        duration,
        data,
        loss,
        discontinuity,
    } = frame
    else {
        return None;
    };
    let cut = gate.straddles_start(pts, duration, clock_hz)?;
    Some(crate::Frame::Audio {
        pts: pts + i64::from(cut),
        duration: duration - cut,
        data: data.slice((cut * frame_bytes) as usize..),
        loss,
        discontinuity,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pcm_frames_across_the_start_are_cut() {
        let mut g = Gate::new(true);
        assert_eq!(g.straddles_start(0, 1024, 8000), None, "not open yet");
        // Keyframe at 1.0 s (90 kHz); an 8 kHz frame from 0.9 s, 128 ms long.
        assert_eq!(g.video(90_000, 90_000, true), Verdict::Open);
        assert_eq!(g.audio(7200, 8000), Verdict::Drop);
        assert_eq!(g.straddles_start(7200, 1024, 8000), Some(800));
        assert_eq!(g.dropped_audio, 0);
        // Ending at the start, or starting at it: nothing to cut.
        assert_eq!(g.straddles_start(7000, 1000, 8000), None);
        assert_eq!(g.straddles_start(8000, 160, 8000), None);
        // A start between two samples rounds up: 1.00005 s at 8 kHz is sample 8000.4.
        let mut g = Gate::new(true);
        g.video(90_004, 90_000, true);
        assert_eq!(g.straddles_start(7900, 160, 8000), Some(101));
    }

    #[test]
    fn compares_across_clock_rates_exactly() {
        // 1 s at 90 kHz vs 1 s at 48 kHz.
        assert_eq!(
            cmp_instants(90_000, 90_000, 48_000, 48_000),
            Ordering::Equal
        );
        // One 48 kHz tick before 1 s is earlier, even though 89_999/90_000 would round equal
        // at millisecond precision.
        assert_eq!(cmp_instants(47_999, 48_000, 90_000, 90_000), Ordering::Less);
        assert_eq!(
            cmp_instants(90_001, 90_000, 48_000, 48_000),
            Ordering::Greater
        );
        // 44.1 kHz: 441 ticks = 10 ms = 900 ticks at 90 kHz.
        assert_eq!(cmp_instants(441, 44_100, 900, 90_000), Ordering::Equal);
        assert_eq!(cmp_instants(-441, 44_100, -899, 90_000), Ordering::Less);
        // Large values do not overflow.
        assert_eq!(
            cmp_instants(i64::MAX, 90_000, i64::MAX, 48_000),
            Ordering::Less
        );
    }

    #[test]
    fn video_waits_for_keyframe_and_audio_for_its_instant() {
        let mut g = Gate::new(true);
        assert_eq!(g.audio(0, 48_000), Verdict::Hold);
        assert_eq!(g.video(3_000, 90_000, false), Verdict::Drop);
        assert_eq!(g.video(6_000, 90_000, false), Verdict::Drop);
        assert!(!g.is_open());
        assert_eq!(g.video(9_000, 90_000, true), Verdict::Open); // 0.1 s
        assert!(g.is_open());
        // Audio at 0.1 s minus one tick arrives late: dropped. At exactly 0.1 s: kept.
        assert_eq!(g.audio(4_799, 48_000), Verdict::Drop);
        assert_eq!(g.audio(4_800, 48_000), Verdict::Pass);
        assert_eq!(g.video(12_000, 90_000, false), Verdict::Pass);
        // Audio held while waiting: kept from the keyframe's instant on.
        assert!(!g.keeps_held_audio(0, 48_000));
        assert!(g.keeps_held_audio(4_800, 48_000));
        assert!(g.keeps_held_audio(5_824, 48_000));
        assert_eq!((g.dropped_video, g.dropped_audio), (2, 2));
    }

    #[test]
    fn audio_only_opens_on_first_audio() {
        let mut g = Gate::new(false);
        assert_eq!(g.audio(1_024, 48_000), Verdict::Open);
        assert_eq!(g.audio(2_048, 48_000), Verdict::Pass);
        assert_eq!((g.dropped_video, g.dropped_audio), (0, 0));
    }
}
