//! When a recording moves on to a new file, and which file each sample goes to. Pure
//! logic, no I/O, no clock.
//!
//! The primary track (video, else audio) decides: a new segment starts at its first sync
//! sample at least `--segment-duration` after the current segment's start, or at any of
//! its samples that brings new parameters (a new sample entry). The secondary track
//! (audio beside video) switches at its first sample whose time is at or after that
//! instant: its samples before it still go to the previous segment, which stays open
//! until then (at most [`LINGER`] of primary media time). So the first sample of a
//! segment, per track, is the one after that track's last in the previous segment.

use std::time::Duration;

use crate::session::time::MediaTime;

/// How long (primary media time past the switch) the previous segment stays open for
/// secondary samples before the switch instant. Later ones are dropped.
pub const LINGER: Duration = Duration::from_secs(2);

/// Which open segment a sample goes to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Route {
    /// The current (newest) segment.
    Current,
    /// The previous segment, still open for secondary samples before the switch.
    Previous,
    /// Nowhere: a secondary sample from before the switch that came after the previous
    /// segment was closed.
    Drop,
}

/// What to do for one sample, in field order: close the previous segment, start a new
/// one, then write the sample.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Decision {
    /// Close the previous segment first.
    pub close_previous: bool,
    /// Start a new segment at this sample (its zero); the current one becomes the
    /// previous one when `linger` is true, else it is closed.
    pub open: bool,
    /// See `open`.
    pub linger: bool,
    /// Where the sample goes (after the above).
    pub route: Route,
}

impl Decision {
    fn write(route: Route) -> Self {
        Self {
            close_previous: false,
            open: false,
            linger: false,
            route,
        }
    }
}

/// See the module documentation.
#[derive(Debug)]
pub struct Segmenter {
    segment: Option<Duration>,
    has_secondary: bool,
    /// Start of the current segment.
    start: Option<MediaTime>,
    /// True while the previous segment is open.
    lingering: bool,
}

impl Segmenter {
    /// Segments of `segment` length (one segment without), for a recording with or
    /// without a secondary track.
    pub fn new(segment: Option<Duration>, has_secondary: bool) -> Self {
        Self {
            segment,
            has_secondary,
            start: None,
            lingering: false,
        }
    }

    /// A sample of the primary track at `t`; `new_parameters` when it brings a new
    /// sample entry.
    pub fn primary(&mut self, t: MediaTime, is_sync: bool, new_parameters: bool) -> Decision {
        let mut d = Decision::write(Route::Current);
        let Some(start) = self.start else {
            self.start = Some(t);
            d.open = true;
            return d;
        };
        if self.lingering && t.at_least_after(start, LINGER) {
            d.close_previous = true;
            self.lingering = false;
        }
        let due = self
            .segment
            .is_some_and(|len| is_sync && t.at_least_after(start, len));
        if due || new_parameters {
            if self.lingering {
                d.close_previous = true;
            }
            d.open = true;
            d.linger = self.has_secondary;
            self.lingering = self.has_secondary;
            self.start = Some(t);
        }
        d
    }

    /// Forgets the current and previous segments (their files were closed): the next
    /// primary sample opens a new one.
    pub fn restart(&mut self) {
        self.start = None;
        self.lingering = false;
    }

    /// A sample of the secondary track at `t`.
    pub fn secondary(&mut self, t: MediaTime) -> Decision {
        let Some(start) = self.start else {
            return Decision::write(Route::Drop);
        };
        if t.before(start) {
            return Decision::write(if self.lingering {
                Route::Previous
            } else {
                Route::Drop
            });
        }
        let mut d = Decision::write(Route::Current);
        if self.lingering {
            d.close_previous = true;
            self.lingering = false;
        }
        d
    }

    /// Start of the current segment, once there is one.
    #[cfg(test)]
    pub fn current_start(&self) -> Option<MediaTime> {
        self.start
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(ticks: u64) -> MediaTime {
        MediaTime {
            ticks,
            clock_hz: 90_000,
        }
    }

    fn a(ticks: u64) -> MediaTime {
        MediaTime {
            ticks,
            clock_hz: 48_000,
        }
    }

    /// Runs 30 fps video with a keyframe every `gop` frames and 48 kHz AAC (1024-sample
    /// frames), audio arriving `audio_lag` video frames late, through a segmenter, and
    /// returns per segment (video frames, audio frames, first video frame is sync) and
    /// the audio frames dropped.
    fn simulate(
        segment: Duration,
        gop: u64,
        frames: u64,
        audio_lag: u64,
        param_change_at: Option<u64>,
    ) -> (Vec<(u64, u64, bool)>, u64) {
        #[derive(Default, Clone, Copy)]
        struct Seg {
            video: u64,
            audio: u64,
            first_sync: Option<bool>,
            closed: bool,
        }
        let mut s = Segmenter::new(Some(segment), true);
        let mut segs: Vec<Seg> = Vec::new();
        let (mut cur, mut prev): (Option<usize>, Option<usize>) = (None, None);
        let mut dropped = 0;
        let mut next_audio = 0u64;
        let apply = |d: Decision,
                     segs: &mut Vec<Seg>,
                     cur: &mut Option<usize>,
                     prev: &mut Option<usize>|
         -> Option<usize> {
            if d.close_previous {
                let p = prev.take().expect("a previous segment to close");
                segs[p].closed = true;
            }
            if d.open {
                segs.push(Seg::default());
                let old = cur.replace(segs.len() - 1);
                if let Some(old) = old {
                    if d.linger {
                        assert!(prev.is_none(), "two lingering segments");
                        *prev = Some(old);
                    } else {
                        segs[old].closed = true;
                    }
                }
            }
            match d.route {
                Route::Current => *cur,
                Route::Previous => *prev,
                Route::Drop => None,
            }
        };
        for i in 0..frames + audio_lag {
            if i < frames {
                let sync = i % gop == 0;
                let change = param_change_at == Some(i);
                let d = s.primary(v(i * 3000), sync, change);
                let at = apply(d, &mut segs, &mut cur, &mut prev).expect("video is written");
                assert!(!segs[at].closed);
                segs[at].video += 1;
                segs[at].first_sync.get_or_insert(sync);
            }
            // Audio up to the video time `audio_lag` frames ago.
            if i >= audio_lag {
                let until = (i - audio_lag) * 3000;
                while next_audio * 1024 * 90_000 <= until * 48_000 {
                    let d = s.secondary(a(next_audio * 1024));
                    match apply(d, &mut segs, &mut cur, &mut prev) {
                        Some(at) => {
                            assert!(!segs[at].closed);
                            segs[at].audio += 1;
                        }
                        None => dropped += 1,
                    }
                    next_audio += 1;
                }
            }
        }
        let out = segs
            .iter()
            .map(|s| (s.video, s.audio, s.first_sync.unwrap_or(false)))
            .collect();
        (out, dropped)
    }

    /// Audio frames (1024 samples at 48 kHz) at or before `ticks` of 90 kHz.
    fn audio_up_to(ticks: u64) -> u64 {
        ticks * 48_000 / (1024 * 90_000) + 1
    }

    #[test]
    fn ten_second_segments_switch_at_keyframes_without_overlap_or_gap() {
        // 35 s at 30 fps, keyframe every 1 s, audio 5 frames (167 ms) late.
        let (segs, dropped) = simulate(Duration::from_secs(10), 30, 1050, 5, None);
        assert_eq!(dropped, 0);
        let video: Vec<u64> = segs.iter().map(|s| s.0).collect();
        assert_eq!(video, vec![300, 300, 300, 150]);
        assert!(
            segs.iter().all(|s| s.2),
            "every segment starts on a keyframe"
        );
        // Audio: frame n (at n * 1024 / 48000 s) goes to segment floor(t / 10 s).
        let audio: Vec<u64> = segs.iter().map(|s| s.1).collect();
        let boundary = |sec: u64| (sec * 48_000).div_ceil(1024);
        // The last one ends with the audio delivered up to video frame 1049.
        let total = audio_up_to(1049 * 3000);
        assert_eq!(
            audio,
            vec![
                boundary(10),
                boundary(20) - boundary(10),
                boundary(30) - boundary(20),
                total - boundary(30)
            ]
        );
    }

    #[test]
    fn a_late_keyframe_makes_a_longer_segment() {
        // Keyframes every 4 s: 10 s segments switch at 12 s, 24 s.
        let (segs, _) = simulate(Duration::from_secs(10), 120, 900, 0, None);
        let video: Vec<u64> = segs.iter().map(|s| s.0).collect();
        assert_eq!(video, vec![360, 360, 180]);
    }

    #[test]
    fn audio_later_than_the_linger_bound_is_dropped() {
        // Audio 3 s late: the previous segment closes 2 s after the switch, so the
        // audio of its last second arrives too late.
        let (segs, dropped) = simulate(Duration::from_secs(10), 30, 600, 90, None);
        assert_eq!(segs.len(), 2);
        // The close comes with video frame 360 (12 s), when audio up to frame 269 (8.97 s)
        // has arrived: the rest of the audio before 10 s is dropped.
        let expected = (10 * 48_000u64).div_ceil(1024) - audio_up_to(269 * 3000);
        assert_eq!(dropped, expected);
        assert_eq!(dropped, 48);
    }

    #[test]
    fn new_parameters_start_a_segment_at_once() {
        let (segs, dropped) = simulate(Duration::from_secs(10), 30, 450, 3, Some(60));
        assert_eq!(dropped, 0);
        let video: Vec<u64> = segs.iter().map(|s| s.0).collect();
        // 0..60, then a new segment from frame 60 whose 10 s end at frame 360.
        assert_eq!(video, vec![60, 300, 90]);
        assert!(segs.iter().all(|s| s.2));
    }

    #[test]
    fn without_segment_duration_there_is_one_segment() {
        let mut s = Segmenter::new(None, false);
        assert!(s.primary(v(0), true, false).open);
        for i in 1..10_000 {
            let d = s.primary(v(i * 3000), i % 30 == 0, false);
            assert_eq!(d, Decision::write(Route::Current));
        }
        assert_eq!(s.current_start(), Some(v(0)));
    }

    #[test]
    fn audio_only_switches_at_the_first_frame_past_the_boundary() {
        let mut s = Segmenter::new(Some(Duration::from_secs(1)), false);
        let mut opens = Vec::new();
        for n in 0..100u64 {
            let d = s.primary(a(n * 1024), true, false);
            assert_eq!(d.route, Route::Current);
            assert!(!d.linger && !d.close_previous);
            if d.open {
                opens.push(n);
            }
        }
        // Frame 47 is at 1.003 s; the next segment starts there, and the one after at
        // the first frame >= 2.003 s: 94 (2.005 s).
        assert_eq!(opens, vec![0, 47, 94]);
    }
}
