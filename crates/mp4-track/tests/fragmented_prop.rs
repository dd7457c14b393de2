//! Property tests of the fragmented muxer, its finalization plan and recovery: random
//! sample sequences over 1-3 tracks, files assembled in memory, then read back with the
//! test-side reader (independent of the library's recovery parser).

mod common;

use bmff_boxes::sample_check::BLOCK_BYTES;
use bytes::Bytes;
use common::fragments::{Parsed, by_track, parse_file};
use common::muxed::{build, check_final, check_fragmented, fragment_duration, op, reserve};
use mp4_track::{FinalizeStep, Recovered};
use proptest::prelude::*;

proptest! {
    #![proptest_config(ProptestConfig::with_cases(150))]

    #[test]
    fn fragments_and_finalized_file_hold_the_pushed_samples(
        n_tracks in 1usize..=3,
        bases in proptest::collection::vec(0u64..2_000_000, 3),
        ops in proptest::collection::vec(op(), 0..80),
        fragment_duration_ms in fragment_duration(),
        reserve_bytes in reserve(),
    ) {
        let b = build(n_tracks, &bases, &ops, fragment_duration_ms, reserve_bytes);
        let (frag, chunks) = check_fragmented(&b)?;

        // Recovery of the intact file plans exactly what the muxer planned.
        match b.file.recover() {
            Ok(Recovered::Fragmented(r)) => {
                prop_assert_eq!(&r.finalize, &b.plan);
                prop_assert_eq!(r.fragments as usize, b.fragments.len());
                prop_assert_eq!(r.dropped_bytes, 0);
                prop_assert!(!r.finalize_was_interrupted);
                let counts: Vec<u32> = b.pushed.iter().map(|p| p.len() as u32).collect();
                prop_assert_eq!(r.sample_counts, counts);
            }
            other => prop_assert!(false, "recovery: {:?}", other),
        }

        let mut done = b.file.clone();
        done.apply_all(&b.plan.steps);
        check_final(&b, &done, &frag, &chunks)?;
        let final_bytes = done.to_vec();

        // Crash after any prefix of the plan: the file is still a fragmented file holding
        // a prefix of the fragments, or the final file; and recovery finishes the job.
        let mut state = b.file.clone();
        let n_steps = b.plan.steps.len();
        for (i, step) in b.plan.steps.iter().enumerate() {
            state.apply(step);
            match parse_file(&state) {
                Ok(Parsed::Fragmented { tracks, fragments }) => {
                    // Never an empty file for a player: fragment 1 stays until the commit.
                    prop_assert!(!fragments.is_empty() || b.fragments.is_empty(), "after step {}", i);
                    let got = by_track(tracks, &fragments);
                    for (g, all) in got.iter().zip(&frag) {
                        prop_assert_eq!(&g[..], &all[..g.len()]);
                    }
                }
                Ok(Parsed::Progressive { .. }) => {
                    prop_assert_eq!(state.to_vec(), final_bytes.clone(), "after step {}", i);
                }
                Err(e) => prop_assert!(false, "after step {} ({:?}): {}", i, step, e),
            }
            let check_recovery = n_steps < 40 || matches!(step, FinalizeStep::Sync) || i % 7 == 0;
            if check_recovery {
                match state.recover() {
                    Ok(Recovered::Fragmented(r)) => {
                        let mut fixed = state.clone();
                        fixed.apply_all(&r.finalize.steps);
                        prop_assert_eq!(fixed.to_vec(), final_bytes.clone(), "repair after step {}", i);
                    }
                    Ok(Recovered::AlreadyProgressive { .. }) => {
                        prop_assert_eq!(state.to_vec(), final_bytes.clone());
                    }
                    Err(e) => prop_assert!(false, "recovery after step {}: {}", i, e),
                }
            }
        }
    }

    #[test]
    fn recovery_of_a_torn_file_keeps_exactly_the_complete_fragments(
        n_tracks in 1usize..=3,
        bases in proptest::collection::vec(0u64..2_000_000, 3),
        ops in proptest::collection::vec(op(), 1..60),
        fragment_duration_ms in fragment_duration(),
        reserve_bytes in reserve(),
        cut_frac in 0.0f64..=1.0,
        zero_fill in any::<bool>(),
    ) {
        let b = build(n_tracks, &bases, &ops, fragment_duration_ms, reserve_bytes);
        let Ok(Parsed::Fragmented { tracks, fragments }) = parse_file(&b.file) else {
            return Err(TestCaseError::fail("not fragmented"));
        };
        let len = b.file.len;
        let cut = b.init_end + ((len - b.init_end) as f64 * cut_frac) as u64;
        let mut torn = b.file.clone();
        torn.set_len(cut);
        if zero_fill && cut < len {
            // Power loss: the file grew but the last blocks never got their data.
            torn.write_at(cut, Bytes::from(vec![0; (len - cut) as usize]));
        }
        // A fragment survives when it is complete; with zero fill, when its header is and
        // its data holds no whole file system block of zeros (the last block of the file
        // ends at its end): the data check finds those.
        let zero_block_in = |start: u64, end: u64| {
            let first = start.max(cut).next_multiple_of(BLOCK_BYTES);
            first < end && (first + BLOCK_BYTES).min(len) <= end
        };
        let header_kept = |(f, h): (&(u64, u64), &u64)| {
            if zero_fill { f.0 + h <= cut } else { f.1 <= cut }
        };
        let kept = b
            .fragments
            .iter()
            .zip(&b.header_lens)
            .take_while(|&(f, h)| header_kept((f, h)) && !(zero_fill && zero_block_in(f.0 + h, f.1)))
            .count();
        // Dropped for damage: the first fragment not kept had its headers.
        let damaged = b.fragments.get(kept).is_some_and(|f| header_kept((f, &b.header_lens[kept])));
        let kept_end = if kept == 0 { b.init_end } else { b.fragments[kept - 1].1 };
        let r = match torn.recover() {
            Ok(Recovered::Fragmented(r)) => r,
            other => return Err(TestCaseError::fail(format!("recovery: {other:?}"))),
        };
        prop_assert_eq!(r.fragments as usize, kept);
        prop_assert_eq!(r.damage.is_some(), damaged, "{:?}", r.damage);
        if let Some(d) = &r.damage {
            prop_assert_eq!(d.fragment as usize, kept + 1);
            prop_assert_eq!(d.fragment_offset, b.fragments[kept].0);
        }
        prop_assert_eq!(r.dropped_bytes, torn.len - kept_end);
        prop_assert_eq!(r.finalize.truncate_to, (kept_end < torn.len).then_some(kept_end));
        let want = by_track(tracks, &fragments[..kept]);
        let counts: Vec<u32> = want.iter().map(|w| w.len() as u32).collect();
        prop_assert_eq!(&r.sample_counts, &counts);

        let mut fixed = torn.clone();
        fixed.apply_all(&r.finalize.steps);
        prop_assert_eq!(fixed.len, r.finalize.file_len);
        let Ok(Parsed::Progressive { movie, .. }) = parse_file(&fixed) else {
            return Err(TestCaseError::fail("repaired file is not progressive"));
        };
        for (t, (track, want)) in movie.tracks.iter().zip(&want).enumerate() {
            prop_assert_eq!(track.samples.len(), want.len(), "track {}", t);
            for (s, w) in track.samples.iter().zip(want) {
                prop_assert_eq!(
                    (s.duration, s.cts_offset, s.size, s.is_sync, s.offset),
                    (w.duration, w.cts_offset, w.size, w.is_sync, w.offset)
                );
            }
        }
        // Repairing the repaired file is a no-op.
        let again = fixed.recover();
        prop_assert!(matches!(again, Ok(Recovered::AlreadyProgressive { .. })), "{:?}", again);
    }
}
