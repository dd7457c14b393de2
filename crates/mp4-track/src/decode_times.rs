//! Decode times for video with B-frames, derived on arrival from the reorder depth.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

/// Decode times for a track whose samples arrive in decode order with presentation times
/// (an RTSP source's video: `rtsp_ingest::Frame::Video::pts` in arrival order).
///
/// With reorder depth K (frames; from the SPS), sample `j`'s decode time is the `(j-K)`-th
/// smallest presentation time seen so far (kept in a min-heap of K+1 values): the frame a
/// decoder with a K-frame reorder buffer outputs when sample `j` arrives. The first K
/// samples' decode times extrapolate below the first presentation time by the nominal
/// frame duration. So a sample never waits for later ones, decode times are strictly
/// increasing and never after the presentation times, and K = 0 gives decode time =
/// presentation time. A sample presented at or before the previous decode time (reordered
/// deeper than K, or a backward timestamp step) has none and is refused.
///
/// The depth is what the SPS states (`rtsp_ingest::VideoInfo::reorder_depth`: H.264
/// `max_num_reorder_frames`, H.265 `sps_max_num_reorder_pics`); 0 without B-frames.
/// Times are in the track's clock and may be negative: the first K decode times lie below
/// the first presentation time. To get [`SampleInfo`](crate::SampleInfo) values, measure
/// both from the file's zero and use the difference as the composition offset; a file whose
/// first decode time is `d0` can shift every track by `-d0` (the offset is the lead that
/// an edit list then skips):
///
/// ```
/// use mp4_track::{DecodeTimes, SampleInfo};
///
/// // I0 P3 B1 B2 in decode order, 3000 ticks (1/30 s at 90 kHz) a frame, depth 1.
/// let mut decode = DecodeTimes::new(1, 3000);
/// let pts = [0, 9000, 3000, 6000];
/// let dts: Vec<i64> = pts.iter().map(|&p| decode.next(p).unwrap()).collect();
/// assert_eq!(dts, [-3000, 0, 3000, 6000]);
/// let lead = -dts[0]; // shift so that the first decode time is 0
/// let samples: Vec<SampleInfo> = pts
///     .iter()
///     .zip(&dts)
///     .map(|(&pts, &dts)| SampleInfo {
///         dts: (dts + lead) as u64,
///         cts_offset: (pts - dts) as i32, // within 0..=i32::MAX, as `next` guarantees
///         size: 100,
///         is_sync: pts == 0,
///     })
///     .collect();
/// assert_eq!((samples[0].dts, samples[0].cts_offset), (0, 3000));
/// assert_eq!((samples[1].dts, samples[1].cts_offset), (3000, 9000));
/// ```
#[derive(Clone, Debug)]
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

    /// The reorder depth in use.
    pub fn depth(&self) -> u8 {
        self.depth
    }

    /// The decode time of the next sample (in decode order), presented at `pts`: at most
    /// `pts`, at least `pts - i32::MAX` (so the composition offset fits `SampleInfo`), and
    /// after the previous decode time. When `pts` is not after the previous decode time
    /// the sample is refused and forgotten.
    pub fn next(&mut self, pts: i64) -> Result<i64, NotAfterPrevious> {
        if let Some(prev) = self.prev_dts
            && pts <= prev
        {
            return Err(NotAfterPrevious { prev_dts: prev });
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

/// A sample refused by [`DecodeTimes::next`]: presented at or before the previous sample's
/// decode time (reordered deeper than the depth, or a backward timestamp step).
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("presented at or before the previous decode time {prev_dts}")]
pub struct NotAfterPrevious {
    /// The previous sample's decode time.
    pub prev_dts: i64,
}

#[cfg(test)]
mod tests {
    use super::*;

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
        assert_eq!(d.next(0), Err(NotAfterPrevious { prev_dts: 0 }));
        assert_eq!(d.next(-1_000), Err(NotAfterPrevious { prev_dts: 0 }));
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
