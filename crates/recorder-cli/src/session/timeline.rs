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
//! times come from [`DecodeTimes`], and a sample carries the difference as its composition
//! offset.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::time::Duration;

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
    /// samples from now on; see [`DecodeTimes`]. Depth 0 (the default) writes every sample
    /// with its decode time equal to its presentation time.
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
        if t.reached_end && t.decode.depth > 0 {
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
            Err(prev_dts) => Placement::NotAfterPrevious { prev_dts, time },
        }
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

/// Decode times for a track whose samples arrive in decode order with presentation times.
///
/// With reorder depth K (frames; from the SPS), sample `j`'s decode time is the `(j-K)`-th
/// smallest presentation time seen so far (kept in a min-heap of K+1 values): the frame a
/// decoder with a K-frame reorder buffer outputs when sample `j` arrives. The first K
/// samples' decode times extrapolate below the first presentation time by the nominal
/// frame duration. So a sample never waits for later ones, decode times are strictly
/// increasing and never after the presentation times, and K = 0 gives decode time =
/// presentation time. A sample presented at or before the previous decode time (reordered
/// deeper than K, or a backward timestamp step) has none and is refused.
#[derive(Debug)]
pub struct DecodeTimes {
    depth: u8,
    frame_ticks: i64,
    /// Presentation times seen and not yet used as decode times.
    heap: BinaryHeap<Reverse<i64>>,
    prev_dts: Option<i64>,
}

impl DecodeTimes {
    /// Decode times for reorder depth `depth`, extrapolating by `frame_ticks` (at least 1).
    pub fn new(depth: u8, frame_ticks: u32) -> Self {
        Self {
            depth,
            frame_ticks: i64::from(frame_ticks.max(1)),
            heap: BinaryHeap::with_capacity(usize::from(depth) + 1),
            prev_dts: None,
        }
    }

    /// Changes the depth for the samples from now on (new parameters). A smaller depth
    /// drops the surplus of smallest presentation times kept; a larger one extrapolates
    /// below the smallest kept until there are enough.
    pub fn set_depth(&mut self, depth: u8, frame_ticks: u32) {
        self.depth = depth;
        self.frame_ticks = i64::from(frame_ticks.max(1));
    }

    /// The decode time of the next sample (in decode order), presented at `pts`; or,
    /// when `pts` is not after the previous decode time, that one (the sample is refused
    /// and forgotten).
    pub fn next(&mut self, pts: i64) -> Result<i64, i64> {
        if let Some(prev) = self.prev_dts
            && pts <= prev
        {
            return Err(prev);
        }
        self.heap.push(Reverse(pts));
        let depth = usize::from(self.depth);
        let dts = if self.heap.len() > depth {
            while self.heap.len() > depth + 1 {
                self.heap.pop();
            }
            self.heap.pop().map_or(pts, |Reverse(v)| v)
        } else {
            let min = self.heap.peek().map_or(pts, |&Reverse(v)| v);
            let missing = (depth + 1 - self.heap.len()) as i64;
            min.saturating_sub(missing.saturating_mul(self.frame_ticks))
        };
        // Within (prev, pts], and a composition offset that fits an i32.
        let mut dts = dts.min(pts).max(pts.saturating_sub(i64::from(i32::MAX)));
        if let Some(prev) = self.prev_dts {
            dts = dts.max(prev + 1);
        }
        self.prev_dts = Some(dts);
        Ok(dts)
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

    /// Decode times of `pts` (in decode order) for depth `k`; refused samples panic.
    fn decode_all(k: u8, frame_ticks: u32, pts: &[i64]) -> Vec<i64> {
        let mut d = DecodeTimes::new(k, frame_ticks);
        pts.iter()
            .map(|&p| d.next(p).expect("not refused"))
            .collect()
    }

    #[test]
    fn ibbp_with_depth_one() {
        // Display I0 B1 B2 P3 B4 B5 P6, sent as I0 P3 B1 B2 P6 B4 B5 (x264 bframes=2,
        // no pyramid: max_num_reorder_frames 1).
        let pts = [0, 9_000, 3_000, 6_000, 18_000, 12_000, 15_000];
        assert_eq!(
            decode_all(1, 3_000, &pts),
            [-3_000, 0, 3_000, 6_000, 9_000, 12_000, 15_000]
        );
        // Depth 2 (B-pyramid or a conservative default): one more frame of delay.
        assert_eq!(
            decode_all(2, 3_000, &pts),
            [-6_000, -3_000, 0, 3_000, 6_000, 9_000, 12_000]
        );
    }

    #[test]
    fn refuses_a_sample_not_after_the_previous_decode_time() {
        let mut d = DecodeTimes::new(1, 3_000);
        assert_eq!(d.next(0), Ok(-3_000));
        assert_eq!(d.next(9_000), Ok(0));
        // Presented at the previous decode time: reordered deeper than 1.
        assert_eq!(d.next(0), Err(0));
        assert_eq!(d.next(-1_000), Err(0));
        // Forgotten: the next ones go on as if it never came.
        assert_eq!(d.next(3_000), Ok(3_000));
        assert_eq!(d.next(6_000), Ok(6_000));
        // Duplicate presentation times still get increasing decode times.
        assert_eq!(d.next(12_000), Ok(9_000));
        assert_eq!(d.next(12_000), Ok(12_000));
        assert_eq!(d.next(12_001), Ok(12_001));
    }

    #[test]
    fn depth_changes_take_effect_at_once() {
        let mut d = DecodeTimes::new(2, 3_000);
        assert_eq!(d.next(0), Ok(-6_000));
        assert_eq!(d.next(6_000), Ok(-3_000));
        assert_eq!(d.next(3_000), Ok(0));
        // Down to 0: the surplus kept (3_000 and 6_000) is skipped.
        d.set_depth(0, 3_000);
        assert_eq!(d.next(9_000), Ok(9_000));
        // Up to 1: extrapolated from the smallest kept, but after the previous.
        d.set_depth(1, 3_000);
        assert_eq!(d.next(15_000), Ok(12_000));
        assert_eq!(d.next(12_500), Ok(12_500));
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

    /// A decode order of `n` frames with reorder depth at most `k`, starting with the first
    /// (the keyframe): each next frame is one of the `k + 1` earliest (in presentation
    /// order) not sent yet, picked by `choices`, except that frame `f` is sent at the latest
    /// as the `f + k`-th (no more than `k` frames sent before it are presented after it).
    fn decode_order(n: usize, k: usize, choices: &[usize]) -> Vec<usize> {
        let mut left: Vec<usize> = (0..n).collect();
        let mut order = Vec::with_capacity(n);
        for i in 0..n {
            let pick = if i == 0 || left[0] + k <= i {
                0
            } else {
                choices[i % choices.len()] % (k + 1).min(left.len())
            };
            order.push(left.remove(pick));
        }
        order
    }

    proptest::proptest! {
        #[test]
        fn decode_times_within_depth(
            k in 0u8..5,
            n in 1usize..120,
            choices in proptest::collection::vec(0usize..8, 1..64),
            jitter in proptest::collection::vec(-1_000i64..=1_000, 1..64),
            start in -1_000_000i64..1_000_000,
        ) {
            let order = decode_order(n, usize::from(k), &choices);
            // Presentation times 3_000 ticks apart, jittered by up to a third of that.
            let pts_of = |f: usize| start + f as i64 * 3_000 + jitter[f % jitter.len()];
            let pts: Vec<i64> = order.iter().map(|&f| pts_of(f)).collect();
            let dts = decode_all(k, 3_000, &pts);
            let mut sorted = pts.clone();
            sorted.sort_unstable();
            for j in 0..n {
                proptest::prop_assert!(dts[j] <= pts[j], "dts {} > pts {} at {j}", dts[j], pts[j]);
                if j > 0 {
                    proptest::prop_assert!(dts[j] > dts[j - 1], "not increasing at {j}");
                }
                let k = usize::from(k);
                // Exactly the frame a k-frame reorder buffer outputs, and the first k
                // extrapolated one frame duration apart below the first.
                let want = if j >= k {
                    sorted[j - k]
                } else {
                    sorted[0] - (k - j) as i64 * 3_000
                };
                proptest::prop_assert_eq!(dts[j], want, "at {}", j);
            }
            if k == 0 {
                proptest::prop_assert_eq!(&dts, &pts);
            }
        }

        #[test]
        fn decode_times_of_any_order_stay_valid(
            k in 0u8..4,
            pts in proptest::collection::vec(-30_000i64..30_000, 1..100),
        ) {
            // Arbitrary (non-conforming) orders: refused samples are skipped, the rest
            // keep dts increasing and at most pts, and no presentation time is changed.
            let mut d = DecodeTimes::new(k, 3_000);
            let mut prev = None;
            for &p in &pts {
                if let Ok(dts) = d.next(p) {
                    proptest::prop_assert!(dts <= p);
                    proptest::prop_assert!(prev.is_none_or(|prev| dts > prev));
                    proptest::prop_assert!(p - dts <= i64::from(i32::MAX));
                    prev = Some(dts);
                } else {
                    proptest::prop_assert!(prev.is_some_and(|prev| p <= prev));
                }
            }
        }
    }
}
