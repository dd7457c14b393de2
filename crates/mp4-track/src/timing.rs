//! Edit-list arithmetic: placing every track on the shared timeline.

use bmff_boxes::ElstEntry;

/// What the edit plan needs to know about a track with samples.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct MediaSpan {
    /// Media timescale.
    pub timescale_hz: u32,
    /// Decode time of the first sample on the shared timeline (media timescale); the
    /// media's own zero.
    pub first_dts: u64,
    /// Earliest composition time relative to `first_dts` (media timescale).
    pub min_composition_time: i64,
    /// Sum of the sample durations (media timescale).
    pub media_duration: u64,
}

/// A track's edits: an optional empty edit, then one media edit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct TrackEdit {
    /// Duration of the leading empty edit, movie timescale; 0 for none.
    pub empty_duration: u64,
    /// Where the media edit starts in the media (composition time, media timescale).
    pub media_time: i64,
    /// Duration of the media edit, movie timescale.
    pub segment_duration: u64,
}

impl TrackEdit {
    /// The `elst` entries.
    pub fn entries(&self) -> Vec<ElstEntry> {
        let mut v = Vec::with_capacity(2);
        if self.empty_duration > 0 {
            v.push(ElstEntry::empty(self.empty_duration));
        }
        v.push(ElstEntry::media(self.segment_duration, self.media_time));
        v
    }

    /// The track's duration in the movie timescale (`tkhd.duration`): the sum of its edits.
    pub fn track_duration(&self) -> u64 {
        self.empty_duration + self.segment_duration
    }
}

/// Rescales `v` from `from_hz` to `to_hz` units, rounding to the nearest (halves up).
pub(crate) fn rescale(v: i128, from_hz: u32, to_hz: u32) -> i128 {
    let num = v * i128::from(to_hz);
    let den = i128::from(from_hz);
    (2 * num + den).div_euclid(2 * den)
}

/// Plans the edits of every track (`None` for tracks without samples, which get none).
///
/// A track's presentation starts at `first_dts + media_time` on the shared timeline, where
/// `media_time` is its earliest composition time (clamped to 0: an edit cannot start
/// before the media). The movie starts with the earliest track; each track that starts
/// later gets an empty edit for the difference, then a media edit as long as its media.
pub(crate) fn plan_edits(spans: &[Option<MediaSpan>], movie_hz: u32) -> Vec<Option<TrackEdit>> {
    let starts: Vec<Option<(i128, i64)>> = spans
        .iter()
        .map(|s| {
            s.map(|s| {
                let media_time = s.min_composition_time.max(0);
                let start = rescale(
                    i128::from(s.first_dts) + i128::from(media_time),
                    s.timescale_hz,
                    movie_hz,
                );
                (start, media_time)
            })
        })
        .collect();
    let movie_start = starts
        .iter()
        .flatten()
        .map(|&(start, _)| start)
        .min()
        .unwrap_or(0);
    spans
        .iter()
        .zip(starts)
        .map(|(span, start)| {
            let (span, (start, media_time)) = (span.as_ref()?, start?);
            let segment = rescale(i128::from(span.media_duration), span.timescale_hz, movie_hz);
            Some(TrackEdit {
                empty_duration: u64::try_from(start - movie_start).unwrap_or(u64::MAX),
                media_time,
                // Never 0: a zero-length media edit would hide the track.
                segment_duration: u64::try_from(segment).unwrap_or(u64::MAX).max(1),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rescale_rounds_to_nearest() {
        assert_eq!(rescale(90_000, 90_000, 1000), 1000);
        assert_eq!(rescale(1024, 48_000, 1000), 21); // 21.33 ms
        assert_eq!(rescale(1500, 48_000, 1000), 31); // 31.25 ms
        assert_eq!(rescale(45, 90_000, 1000), 1); // 0.5 ms rounds up
        assert_eq!(rescale(44, 90_000, 1000), 0);
        assert_eq!(rescale(-45, 90_000, 1000), 0); // halves go up, also below zero
        assert_eq!(rescale(-46, 90_000, 1000), -1);
        // No overflow for large times: 2^63 ticks.
        assert_eq!(rescale(1 << 63, 1, 2), 1 << 64);
    }

    fn span(timescale_hz: u32, first_dts: u64, min_ct: i64, dur: u64) -> Option<MediaSpan> {
        Some(MediaSpan {
            timescale_hz,
            first_dts,
            min_composition_time: min_ct,
            media_duration: dur,
        })
    }

    #[test]
    fn late_audio_gets_an_empty_edit() {
        // Video starts at 1.0 s (90 kHz), audio at 1.5 s (48 kHz); 10 s of video, 9.5 of audio.
        let plan = plan_edits(
            &[
                span(90_000, 90_000, 0, 900_000),
                span(48_000, 72_000, 0, 456_000),
            ],
            1000,
        );
        assert_eq!(
            plan,
            vec![
                Some(TrackEdit {
                    empty_duration: 0,
                    media_time: 0,
                    segment_duration: 10_000
                }),
                Some(TrackEdit {
                    empty_duration: 500,
                    media_time: 0,
                    segment_duration: 9_500
                }),
            ]
        );
        let audio = plan[1].unwrap();
        assert_eq!(audio.track_duration(), 10_000);
        assert_eq!(
            audio.entries(),
            vec![ElstEntry::empty(500), ElstEntry::media(9_500, 0)]
        );
        assert_eq!(
            plan[0].unwrap().entries(),
            vec![ElstEntry::media(10_000, 0)]
        );
    }

    #[test]
    fn b_frames_start_at_the_earliest_composition_time() {
        // Video dts0 = 0 but presented from 6000 (two frames of reorder delay) = 66.7 ms;
        // audio starts at 0: the audio is first, the video gets a 67 ms empty edit.
        let plan = plan_edits(
            &[span(90_000, 0, 6000, 90_000), span(48_000, 0, 0, 48_000)],
            1000,
        );
        assert_eq!(
            plan[0],
            Some(TrackEdit {
                empty_duration: 67,
                media_time: 6000,
                segment_duration: 1000
            })
        );
        assert_eq!(plan[1].unwrap().empty_duration, 0);
    }

    #[test]
    fn negative_earliest_composition_is_clamped_and_empty_tracks_have_no_edits() {
        let plan = plan_edits(&[span(1000, 10, -5, 100), None], 1000);
        assert_eq!(
            plan,
            vec![
                Some(TrackEdit {
                    empty_duration: 0,
                    media_time: 0,
                    segment_duration: 100
                }),
                None
            ]
        );
    }

    #[test]
    fn tiny_media_keeps_a_nonzero_segment() {
        let plan = plan_edits(&[span(90_000, 0, 0, 1)], 1000);
        assert_eq!(plan[0].unwrap().segment_duration, 1);
    }
}
