//! Lost RTP packets, told without flooding the log: the first loss of a session at once,
//! then at most one warning per [`LOSS_LOG_INTERVAL`] with what was lost since the last
//! one, and what was never told when the session ends. Sans-IO: the instant is an
//! argument.

use std::time::{Duration, Instant};

use rtsp_ingest::LossCounts;

/// The shortest time between two loss warnings of a session.
pub const LOSS_LOG_INTERVAL: Duration = Duration::from_secs(60);

/// What of a session's loss has been told, and when.
#[derive(Debug, Default)]
pub struct LossLog {
    told: LossCounts,
    last: Option<Instant>,
}

impl LossLog {
    /// Given the session's loss so far at `now`: what to warn about now, if anything.
    pub fn update(&mut self, total: LossCounts, now: Instant) -> Option<LossCounts> {
        let new = total.since(&self.told);
        if new.is_empty()
            || self
                .last
                .is_some_and(|last| now.saturating_duration_since(last) < LOSS_LOG_INTERVAL)
        {
            return None;
        }
        self.told = total;
        self.last = Some(now);
        Some(new)
    }

    /// At the end of the session: logs what was never told.
    pub fn finish(&mut self, total: LossCounts) {
        if let Some(new) = self.rest(total) {
            tracing::warn!(
                "at the end of the session: {}",
                describe(&new, total.packets())
            );
        }
    }

    /// At the end of the session: what was never told.
    fn rest(&mut self, total: LossCounts) -> Option<LossCounts> {
        let new = total.since(&self.told);
        self.told = total;
        (!new.is_empty()).then_some(new)
    }

    /// Logs `update`'s answer as one warning line (the next comes
    /// [`LOSS_LOG_INTERVAL`] later at the earliest).
    /// `now` is only read when something new was lost.
    pub fn warn(&mut self, total: LossCounts, now: impl FnOnce() -> Instant) {
        if total == self.told {
            return;
        }
        if let Some(new) = self.update(total, now()) {
            tracing::warn!(
                video_packets = new.video_packets,
                audio_packets = new.audio_packets,
                video_frames_skipped = new.video_frames_skipped,
                "{}",
                describe(&new, self.told.packets())
            );
        }
    }
}

/// One line about `new` (the session lost `total_packets` in all).
pub fn describe(new: &LossCounts, total_packets: u64) -> String {
    let skipped = if new.video_frames_skipped > 0 {
        format!(
            "; {} video frame(s) skipped to the next keyframe",
            new.video_frames_skipped
        )
    } else {
        String::new()
    };
    let late = if new.late_packets > 0 {
        format!("; {} late or duplicate packet(s) skipped", new.late_packets)
    } else {
        String::new()
    };
    format!(
        "rtp packets lost: {} video, {} audio{skipped}{late} ({total_packets} in this session)",
        new.video_packets, new.audio_packets,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lost(video: u64, audio: u64) -> LossCounts {
        LossCounts {
            video_packets: video,
            audio_packets: audio,
            video_frames_skipped: 0,
            late_packets: 0,
        }
    }

    #[test]
    fn first_loss_at_once_then_once_per_interval_with_the_counts_since() {
        let t0 = Instant::now();
        let at = |s: u64| t0 + Duration::from_secs(s);
        let mut log = LossLog::default();
        assert_eq!(log.update(lost(0, 0), at(0)), None, "nothing lost");
        assert_eq!(log.update(lost(2, 0), at(1)), Some(lost(2, 0)));
        // Within the interval: held back, however much is lost.
        assert_eq!(log.update(lost(9, 1), at(30)), None);
        assert_eq!(log.update(lost(12, 1), at(60)), None);
        // 60 s after the first warning: everything since it.
        assert_eq!(log.update(lost(12, 1), at(61)), Some(lost(10, 1)));
        // Nothing new: no warning even after the interval.
        assert_eq!(log.update(lost(12, 1), at(200)), None);
        assert_eq!(log.update(lost(13, 1), at(201)), Some(lost(1, 0)));
        assert_eq!(log.update(lost(15, 1), at(202)), None);
        assert_eq!(log.rest(lost(15, 1)), Some(lost(2, 0)));
        assert_eq!(log.rest(lost(15, 1)), None);
    }

    #[test]
    fn the_line_names_the_counts() {
        let new = LossCounts {
            video_packets: 7,
            audio_packets: 1,
            video_frames_skipped: 20,
            late_packets: 2,
        };
        assert_eq!(
            describe(&new, 30),
            "rtp packets lost: 7 video, 1 audio; 20 video frame(s) skipped to the next \
             keyframe; 2 late or duplicate packet(s) skipped (30 in this session)"
        );
    }
}
