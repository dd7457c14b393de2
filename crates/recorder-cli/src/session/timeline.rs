//! The recording's timeline: maps stream timestamps to file decode times and applies the
//! `--duration` cut. Pure logic, no I/O.
//!
//! Zero is the first sample of the primary track (the first video keyframe's presentation
//! time; without video, the first audio frame). Every sample's time is its `pts - zero`,
//! expressed exactly in its track's clock; samples before zero are dropped. The muxer's edit
//! list then gives a later-starting track its offset.
//!
//! Without reordering (most cameras, and audio) a sample's decode time is its presentation
//! time. Video with B-frames arrives in decode order with presentation times: its decode
//! times come from [`mp4_track::DecodeTimes`], and a sample carries the difference as its
//! composition offset.

use std::time::Duration;

use mp4_track::DecodeTimes;

/// Index of a track in a [`Timeline`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TrackIndex(usize);

/// What to do with a sample.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Placement {
    /// Write it: presented at `time` (track clock units from zero), decoded
    /// `cts_offset` earlier (0 without reordering).
    Write {
        /// Presentation time.
        time: u64,
        /// Presentation time minus decode time.
        cts_offset: u32,
    },
    /// Drop it: it precedes zero.
    BeforeZero,
    /// Drop it: its time is not after the previous written sample's decode time (without
    /// reordering: its time), so it cannot be given a decode time.
    NotAfterPrevious {
        /// The previous written sample's decode time (from zero; negative for the first
        /// samples of a reordered track).
        prev_dts: i64,
        /// This sample's presentation time (from zero).
        time: i64,
    },
    /// Drop it: it is at or after the end of the requested duration.
    AfterEnd,
}

#[derive(Debug)]
struct Track {
    clock_hz: u32,
    primary: bool,
    decode: DecodeTimes,
    reached_end: bool,
}

/// See the module documentation.
#[derive(Debug)]
pub struct Timeline {
    limit: Option<Duration>,
    /// `(pts, clock_hz)` of zero, once known.
    zero: Option<(i64, u32)>,
    tracks: Vec<Track>,
}

impl Timeline {
    /// A timeline that keeps media in `[0, limit)` (everything without a limit).
    pub fn new(limit: Option<Duration>) -> Self {
        Self {
            limit,
            zero: None,
            tracks: Vec::new(),
        }
    }

    /// Adds a track with the given clock. The primary track's first sample sets zero and
    /// its reaching the limit ends the recording.
    pub fn add_track(&mut self, clock_hz: u32, primary: bool) -> TrackIndex {
        assert!(clock_hz > 0, "clock rate must be positive");
        self.tracks.push(Track {
            clock_hz,
            primary,
            decode: DecodeTimes::new(0, 1),
            reached_end: false,
        });
        TrackIndex(self.tracks.len() - 1)
    }

    /// Sets `track`'s reorder depth (frames) and nominal frame duration (ticks), for the
    /// samples from now on; see [`mp4_track::DecodeTimes`]. Depth 0 (the default) writes
    /// every sample with its decode time equal to its presentation time.
    pub fn set_reorder(&mut self, track: TrackIndex, depth: u8, frame_ticks: u32) {
        self.tracks[track.0].decode.set_depth(depth, frame_ticks);
    }

    /// Decides about a sample of `track` with presentation time `pts` (track clock units).
    pub fn place(&mut self, track: TrackIndex, pts: i64) -> Placement {
        let t = &mut self.tracks[track.0];
        let (zero_pts, zero_hz) = match self.zero {
            Some(z) => z,
            None if t.primary => *self.zero.insert((pts, t.clock_hz)),
            None => return Placement::BeforeZero,
        };
        let clock_hz = i128::from(t.clock_hz);
        let zero_hz = i128::from(zero_hz);
        // Time since zero in units of 1 / (clock_hz * zero_hz) seconds: exact.
        let rel = i128::from(pts) * zero_hz - i128::from(zero_pts) * clock_hz;
        if rel < 0 {
            return Placement::BeforeZero;
        }
        // A reordered track ends at its first sample at or after the limit in decode
        // order: the samples after it may refer to it.
        if t.reached_end && t.decode.depth() > 0 {
            return Placement::AfterEnd;
        }
        if let Some(limit) = self.limit {
            // rel / (clock_hz * zero_hz) >= limit_ns / 1e9, without division.
            let end = i128::try_from(limit.as_nanos())
                .ok()
                .and_then(|ns| ns.checked_mul(clock_hz * zero_hz));
            let at_or_after =
                end.is_some_and(|end| rel.checked_mul(1_000_000_000).is_none_or(|r| r >= end));
            if at_or_after {
                t.reached_end = true;
                return Placement::AfterEnd;
            }
        }
        // Floor division; `pts * zero_hz` is a multiple of zero_hz, so this is
        // `pts - ceil(zero_pts * clock_hz / zero_hz)`, which keeps pts order exactly.
        let time = i64::try_from(rel / zero_hz).unwrap_or(i64::MAX);
        match t.decode.next(time) {
            Ok(dts) => Placement::Write {
                time: time as u64,
                // `next` keeps `time - dts` within 0..=i32::MAX.
                cts_offset: u32::try_from(time - dts).unwrap_or(0),
            },
            Err(e) => Placement::NotAfterPrevious {
                prev_dts: e.prev_dts,
                time,
            },
        }
    }

    /// Nanoseconds from zero to `pts` of a clock of `clock_hz` (rounded down; negative
    /// before zero), once zero is known: where an RTCP sender report's RTP time falls.
    pub fn media_ns(&self, pts: i64, clock_hz: u32) -> Option<i128> {
        let (zero_pts, zero_hz) = self.zero?;
        let (hz, zero_hz) = (i128::from(clock_hz.max(1)), i128::from(zero_hz));
        let num = (i128::from(pts) * zero_hz - i128::from(zero_pts) * hz) * 1_000_000_000;
        Some(num.div_euclid(hz * zero_hz))
    }

    /// True once the primary track has reached the limit.
    pub fn primary_done(&self) -> bool {
        self.tracks.iter().any(|t| t.primary && t.reached_end)
    }

    /// True once every track has reached the limit.
    pub fn all_done(&self) -> bool {
        !self.tracks.is_empty() && self.tracks.iter().all(|t| t.reached_end)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A sample written at `time` with no composition offset.
    fn write(time: u64) -> Placement {
        Placement::Write {
            time,
            cts_offset: 0,
        }
    }

    #[test]
    fn media_ns_from_zero_in_any_clock() {
        let mut tl = Timeline::new(None);
        let v = tl.add_track(90_000, true);
        assert_eq!(tl.media_ns(0, 90_000), None);
        tl.place(v, 180_000);
        assert_eq!(tl.media_ns(270_000, 90_000), Some(1_000_000_000));
        assert_eq!(tl.media_ns(90_000, 90_000), Some(-1_000_000_000));
        // 2.5 s of a 48 kHz clock is 0.5 s after a zero at 2 s of the 90 kHz one.
        assert_eq!(tl.media_ns(120_000, 48_000), Some(500_000_000));
        assert_eq!(tl.media_ns(180_001, 90_000), Some(11_111));
    }

    #[test]
    fn video_zero_and_audio_in_its_own_clock() {
        let mut tl = Timeline::new(None);
        let v = tl.add_track(90_000, true);
        let a = tl.add_track(48_000, false);
        // Audio before zero is known: dropped.
        assert_eq!(tl.place(a, 10_000), Placement::BeforeZero);
        // Zero: video pts 180_000 = 2 s.
        assert_eq!(tl.place(v, 180_000), write(0));
        // Audio at 1.99 s: before zero.
        assert_eq!(tl.place(a, 95_520), Placement::BeforeZero);
        // Audio at 2.02 s = 96_960 at 48 kHz: dts 960.
        assert_eq!(tl.place(a, 96_960), write(960));
        assert_eq!(tl.place(v, 183_000), write(3_000));
    }

    #[test]
    fn non_integral_zero_in_other_clock_rounds_up_and_keeps_spacing() {
        let mut tl = Timeline::new(None);
        let v = tl.add_track(90_000, true);
        let a = tl.add_track(44_100, false);
        // Zero at 1 video tick = 0.49 audio ticks.
        assert_eq!(tl.place(v, 1), write(0));
        assert_eq!(tl.place(a, 0), Placement::BeforeZero);
        // Audio at tick 1 (22.7 us) is after zero (11.1 us): dts = 1 - ceil(0.49) = 0.
        assert_eq!(tl.place(a, 1), write(0));
        assert_eq!(tl.place(a, 1_025), write(1_024));
        assert_eq!(tl.place(a, 2_049), write(2_048));
    }

    #[test]
    fn non_monotonic_samples_are_dropped_per_track() {
        let mut tl = Timeline::new(None);
        let v = tl.add_track(90_000, true);
        assert_eq!(tl.place(v, 1_000), write(0));
        assert_eq!(tl.place(v, 4_000), write(3_000));
        assert_eq!(
            tl.place(v, 4_000),
            Placement::NotAfterPrevious {
                prev_dts: 3_000,
                time: 3_000
            }
        );
        assert_eq!(
            tl.place(v, 2_500),
            Placement::NotAfterPrevious {
                prev_dts: 3_000,
                time: 1_500
            }
        );
        // A backwards jump past zero is "before zero".
        assert_eq!(tl.place(v, 0), Placement::BeforeZero);
        assert_eq!(tl.place(v, 7_000), write(6_000));
    }

    #[test]
    fn ten_seconds_at_30fps_keeps_300_frames() {
        let mut tl = Timeline::new(Some(Duration::from_secs(10)));
        let v = tl.add_track(90_000, true);
        let a = tl.add_track(48_000, false);
        let start = 123_456_i64;
        let mut written = 0;
        let mut last_dts = 0;
        for i in 0..400 {
            match tl.place(v, start + i * 3_000) {
                Placement::Write { time, cts_offset } => {
                    assert_eq!(cts_offset, 0);
                    written += 1;
                    last_dts = time;
                }
                Placement::AfterEnd => break,
                other => panic!("unexpected {other:?}"),
            }
        }
        assert_eq!(written, 300);
        assert_eq!(last_dts, 299 * 3_000);
        assert!(tl.primary_done());
        assert!(!tl.all_done());
        // Audio: zero is 123_456 / 90_000 s = 65_843.2 at 48 kHz; 10 s later is 545_843.2.
        assert_eq!(tl.place(a, 545_843), write(479_999));
        assert_eq!(tl.place(a, 545_844), Placement::AfterEnd);
        assert!(tl.all_done());
    }

    #[test]
    fn audio_only_zero_is_first_audio_frame() {
        let mut tl = Timeline::new(Some(Duration::from_millis(64)));
        let a = tl.add_track(16_000, true);
        assert_eq!(tl.place(a, 5_000), write(0));
        assert_eq!(tl.place(a, 5_512), write(512));
        // 64 ms = 1_024 ticks: excluded.
        assert_eq!(tl.place(a, 6_024), Placement::AfterEnd);
        assert!(tl.primary_done() && tl.all_done());
    }

    #[test]
    fn huge_limit_does_not_overflow() {
        let mut tl = Timeline::new(Some(Duration::MAX));
        let v = tl.add_track(90_000, true);
        assert_eq!(tl.place(v, i64::MIN / 2), write(0));
        assert!(matches!(tl.place(v, i64::MAX / 2), Placement::Write { .. }));
    }

    #[test]
    fn reordered_video_gets_composition_offsets() {
        let mut tl = Timeline::new(None);
        let v = tl.add_track(90_000, true);
        let a = tl.add_track(48_000, false);
        tl.set_reorder(v, 1, 3_000);
        let z = 900_000;
        // Decode order I0 P3 B1 B2 P6 B4 B5 (3_000 ticks a frame); zero is I0's
        // presentation time.
        let got: Vec<Placement> = [0, 3, 1, 2, 6, 4, 5]
            .iter()
            .map(|f| tl.place(v, z + f * 3_000))
            .collect();
        let w = |time, cts_offset| Placement::Write { time, cts_offset };
        assert_eq!(
            got,
            [
                w(0, 3_000),
                w(9_000, 9_000),
                w(3_000, 0),
                w(6_000, 0),
                w(18_000, 9_000),
                w(12_000, 0),
                w(15_000, 0),
            ]
        );
        // Audio is placed by presentation time, as without reordering: 10 s at 48 kHz is
        // zero.
        assert_eq!(tl.place(a, 480_000), w(0, 0));
        // A picture presented before zero (an open GOP's leading picture): dropped.
        assert_eq!(tl.place(v, z - 3_000), Placement::BeforeZero);
    }

    #[test]
    fn reordered_video_ends_at_its_first_sample_past_the_limit() {
        // 190 ms: P6 (200 ms) is past it; B4 and B5 after it in decode order may refer to
        // it, so they are not written either.
        let mut tl = Timeline::new(Some(Duration::from_millis(190)));
        let v = tl.add_track(90_000, true);
        tl.set_reorder(v, 1, 3_000);
        let got: Vec<bool> = [0, 3, 1, 2, 6, 4, 5]
            .iter()
            .map(|f| matches!(tl.place(v, f * 3_000), Placement::Write { .. }))
            .collect();
        assert_eq!(got, [true, true, true, true, false, false, false]);
        assert!(tl.primary_done());
    }
}
