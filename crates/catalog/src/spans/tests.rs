use proptest::prelude::*;

use super::*;
use crate::record::AudioTrack;
use crate::testutil::{S, file};

const FRAME: i64 = 40_000_000;

#[test]
fn touching_files_form_one_span() {
    let files = [
        file("a", 0, 600 * S, 10),
        file("a", 600 * S, 1200 * S, 20),
        // 39.999999 ms late: still within one 40 ms frame.
        file("a", 1200 * S + FRAME - 1, 1800 * S, 30),
    ];
    assert_eq!(
        spans(&files),
        [Span {
            start: WallTime(0),
            end: WallTime(1800 * S),
            files: 3,
            bytes: 60
        }]
    );
}

#[test]
fn a_gap_of_one_frame_starts_a_new_span() {
    let files = [
        file("a", 0, 600 * S, 10),
        file("a", 600 * S + FRAME, 1200 * S, 20),
    ];
    let spans = spans(&files);
    assert_eq!(spans.len(), 2);
    assert_eq!(
        (spans[0].end, spans[1].start),
        (WallTime(600 * S), WallTime(600 * S + FRAME))
    );
    assert_eq!(
        gaps(&spans),
        [Gap {
            start: WallTime(600 * S),
            end: WallTime(600 * S + FRAME)
        }]
    );
    assert_eq!(gaps(&spans)[0].nanos(), FRAME);
}

#[test]
fn an_overlap_under_one_frame_joins_and_a_larger_one_splits() {
    let small = [
        file("a", 0, 600 * S, 1),
        file("a", 600 * S - FRAME + 1, 1200 * S, 1),
    ];
    assert_eq!(spans(&small).len(), 1);
    // The camera clock went back 5 s.
    let back = [file("a", 0, 600 * S, 1), file("a", 595 * S, 1200 * S, 1)];
    let spans = spans(&back);
    assert_eq!(spans.len(), 2);
    assert_eq!(gaps(&spans)[0].nanos(), -5 * S);
}

#[test]
fn the_tolerance_is_the_larger_frame_interval_of_the_two_files() {
    // 1 fps video (1000 ms frames) next to 25 fps: a 0.5 s gap still touches.
    let mut slow = file("a", 0, 600 * S, 1);
    slow.video.as_mut().unwrap().samples = 600;
    let fast = file("a", 600 * S + S / 2, 1200 * S, 1);
    assert_eq!(spans(&[slow.clone(), fast.clone()]).len(), 1);
    assert_eq!(spans(&[fast, slow]).len(), 2);
}

#[test]
fn audio_only_files_use_the_audio_frame() {
    let audio_only = |start, end| {
        let mut f = file("a", start, end, 1);
        f.video = None;
        // 48 kHz AAC: 46 875 frames of 1024 samples in 1000 s, 21.333 ms each.
        f.audio = Some(AudioTrack {
            codec: "mp4a.40.2".into(),
            samples: 46_875,
        });
        f
    };
    let a = audio_only(0, 1000 * S);
    assert_eq!(
        spans(&[a.clone(), audio_only(1000 * S + 21_000_000, 2000 * S)]).len(),
        1
    );
    assert_eq!(
        spans(&[a, audio_only(1000 * S + 22_000_000, 2000 * S)]).len(),
        2
    );
}

#[test]
fn files_without_samples_use_one_millisecond() {
    let bare = |start, end| {
        let mut f = file("a", start, end, 1);
        f.video = None;
        f
    };
    assert_eq!(spans(&[bare(0, S), bare(S + 999_999, 2 * S)]).len(), 1);
    assert_eq!(spans(&[bare(0, S), bare(S + 1_000_000, 2 * S)]).len(), 2);
}

#[test]
fn another_camera_starts_a_new_span() {
    assert_eq!(
        spans(&[file("a", 0, S, 1), file("b", S, 2 * S, 1)]).len(),
        2
    );
}

#[test]
fn timeline_interleaves_spans_and_gaps() {
    let files = [
        file("a", 0, S, 1),
        file("a", 3 * S, 4 * S, 2),
        file("a", 6 * S, 7 * S, 3),
    ];
    let spans = spans(&files);
    let items = timeline(&spans);
    assert_eq!(items.len(), 5);
    assert_eq!(items[0], Timeline::Span(spans[0]));
    assert_eq!(
        items[1],
        Timeline::Gap(Gap {
            start: WallTime(S),
            end: WallTime(3 * S)
        })
    );
    assert_eq!(items[4], Timeline::Span(spans[2]));
    assert!(timeline(&[]).is_empty());
    assert!(spans_of_nothing().is_empty());
}

fn spans_of_nothing() -> Vec<Span> {
    spans(&[])
}

/// A file of `frames` 40 ms frames, then a gap: `(frames, gap_ns)`.
fn layout() -> impl Strategy<Value = Vec<(i64, i64)>> {
    let gap = prop_oneof![
        // Touching: an overlap or a gap under one frame.
        -(FRAME - 1)..FRAME,
        // Not touching.
        FRAME..3600 * S,
        -3600 * S..=-FRAME,
    ];
    prop::collection::vec((1i64..20_000, gap), 1..60)
}

proptest! {
    #[test]
    fn spans_split_exactly_at_the_large_gaps(layout in layout()) {
        let mut files = Vec::new();
        let mut t = 1_700_000_000 * S;
        let mut expected_starts = vec![WallTime(t)];
        for (i, &(frames, gap)) in layout.iter().enumerate() {
            let end = t + frames * FRAME;
            files.push(file("cam", t, end, frames as u64));
            t = end + gap;
            if i + 1 < layout.len() && gap.abs() >= FRAME {
                expected_starts.push(WallTime(t));
            }
        }
        let spans = spans(&files);
        let starts: Vec<WallTime> = spans.iter().map(|s| s.start).collect();
        prop_assert_eq!(starts, expected_starts);
        prop_assert_eq!(spans.iter().map(|s| s.files).sum::<usize>(), files.len());
        let bytes: u64 = files.iter().map(|f| f.size_bytes).sum();
        prop_assert_eq!(spans.iter().map(|s| s.bytes).sum::<u64>(), bytes);
        // Each span ends at the latest end of its files.
        let mut i = 0;
        for span in &spans {
            let own = &files[i..i + span.files];
            prop_assert_eq!(span.end, own.iter().map(|f| f.end).max().unwrap());
            i += span.files;
        }
        prop_assert_eq!(gaps(&spans).len(), spans.len() - 1);
        prop_assert_eq!(timeline(&spans).len(), 2 * spans.len() - 1);
    }
}
