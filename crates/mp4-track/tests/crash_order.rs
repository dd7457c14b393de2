//! The crash model of a finalization with reordered and torn writes.
//!
//! A `Sync` orders the steps before it against the steps after it, and nothing else: the
//! writes issued since the last `Sync` reach the disk in any order, and a crash may leave
//! any subset of them, each one whole or torn at a 512-byte sector boundary (a prefix of
//! its sectors landed; an append may also have grown the file with zeros past what
//! landed). For each crash point (each run of steps between two syncs) this enumerates
//! those states, all of them when there are at most [`EXHAUSTIVE`], else the states that
//! keep or lose exactly one write plus [`SAMPLED`] seeded random ones, and checks that
//! each one is a playable file holding intact fragments (at least one) or already the
//! final file, and that `Recovery` finishes it into exactly the bytes of a clean
//! finalization. The plans `Recovery` returns go through the same model once more.
//!
//! The writes of one crash point never overlap (checked), so a subset of them landed
//! stands for every order they could land in.

mod common;

use common::fragments::{FragSample, Parsed, SimFile, parse_file, parse_visible};
use common::muxed::{Built, build, check_data, check_final, check_fragmented, op, reserve};
use mp4_track::{FinalizeStep, Recovered};
use proptest::prelude::*;

/// The unit in which a write lands.
const SECTOR: u64 = 512;
/// Crash points with at most this many states are checked exhaustively.
const EXHAUSTIVE: u64 = 256;
/// Random states checked at a crash point with more states than [`EXHAUSTIVE`].
const SAMPLED: usize = 64;

/// How much of one step of a crash point landed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Landed {
    /// Sectors of the write that landed, from its first (all of them = the whole write).
    sectors: u64,
    /// For an append torn short: the file grew to the write's end anyway, reading zeros
    /// past the landed sectors.
    grown: bool,
}

/// One write (or truncation) of a crash point and the ways it can land.
struct Pending<'a> {
    step: &'a FinalizeStep,
    /// Sectors the write touches (1 for a truncation: done or not).
    sectors: u64,
    /// True when the write extends the file.
    appends: bool,
}

impl Pending<'_> {
    fn options(&self) -> u64 {
        // 0..=sectors landed, and the grown variants of every torn append.
        self.sectors + 1 + if self.appends { self.sectors } else { 0 }
    }

    fn landed(&self, option: u64) -> Landed {
        if option <= self.sectors {
            Landed {
                sectors: option,
                grown: false,
            }
        } else {
            Landed {
                sectors: option - self.sectors - 1,
                grown: true,
            }
        }
    }

    fn apply(&self, file: &mut SimFile, landed: Landed) {
        match self.step {
            FinalizeStep::Write(p) => {
                let end = p.offset + p.bytes.len() as u64;
                if landed.grown && end > file.len {
                    let from = file.len;
                    file.write_at(from, vec![0; (end - from) as usize].into());
                }
                let sector_end = (p.offset / SECTOR + landed.sectors) * SECTOR;
                let n = (sector_end.min(end).saturating_sub(p.offset)) as usize;
                if landed.sectors > 0 {
                    file.write_at(p.offset, p.bytes.slice(..n));
                }
            }
            FinalizeStep::SetLen(len) if landed.sectors > 0 => file.set_len(*len),
            FinalizeStep::SetLen(_) | FinalizeStep::Sync => {}
        }
    }
}

/// splitmix64: the seeded generator of the sampled states.
fn next(seed: &mut u64) -> u64 {
    *seed = seed.wrapping_add(0x9e37_79b9_7f4a_7c15);
    let mut z = *seed;
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// Every state a crash can leave while running `steps` on `start`: per crash point, the
/// file as the earlier crash points left it plus some landing of the pending steps.
fn crash_states(start: &SimFile, steps: &[FinalizeStep], seed: &mut u64) -> Vec<(usize, SimFile)> {
    let mut out = Vec::new();
    let mut base = start.clone();
    for (point, run) in steps.split(|s| *s == FinalizeStep::Sync).enumerate() {
        let pending: Vec<Pending> = run
            .iter()
            .map(|step| match step {
                FinalizeStep::Write(p) => {
                    let end = p.offset + p.bytes.len() as u64;
                    Pending {
                        step,
                        sectors: end.div_ceil(SECTOR) - p.offset / SECTOR,
                        appends: end > base.len,
                    }
                }
                _ => Pending {
                    step,
                    sectors: 1,
                    appends: false,
                },
            })
            .collect();
        let mut ranges: Vec<(u64, u64)> = run
            .iter()
            .filter_map(|s| match s {
                FinalizeStep::Write(p) => Some((p.offset, p.offset + p.bytes.len() as u64)),
                _ => None,
            })
            .collect();
        ranges.sort_unstable();
        assert!(
            ranges.windows(2).all(|w| w[0].1 <= w[1].0),
            "overlapping writes between two syncs: their order would matter"
        );
        assert!(
            run.len() == 1 || !run.iter().any(|s| matches!(s, FinalizeStep::SetLen(_))),
            "a truncation shares its crash point"
        );
        let total = pending
            .iter()
            .try_fold(1u64, |n, p| n.checked_mul(p.options()));
        let mut choices: Vec<Vec<u64>> = Vec::new();
        match total {
            Some(total) if total <= EXHAUSTIVE => {
                for mut k in 0..total {
                    choices.push(
                        pending
                            .iter()
                            .map(|p| {
                                let c = k % p.options();
                                k /= p.options();
                                c
                            })
                            .collect(),
                    );
                }
            }
            _ => {
                let all: Vec<u64> = pending.iter().map(|p| p.sectors).collect();
                for i in 0..pending.len() {
                    let mut one_lost = all.clone();
                    one_lost[i] = 0;
                    choices.push(one_lost);
                    let mut one_landed = vec![0; pending.len()];
                    one_landed[i] = all[i];
                    choices.push(one_landed);
                }
                for _ in 0..SAMPLED {
                    choices.push(pending.iter().map(|p| next(seed) % p.options()).collect());
                }
            }
        }
        for choice in choices {
            let mut state = base.clone();
            for (p, &c) in pending.iter().zip(&choice) {
                p.apply(&mut state, p.landed(c));
            }
            out.push((point, state));
        }
        for p in &pending {
            p.apply(
                &mut base,
                Landed {
                    sectors: p.sectors,
                    grown: false,
                },
            );
        }
    }
    out
}

/// The file as a player reads it: a trailing box cut short (a torn append) ends the
/// file, and a box of a type it does not know (one caught in a torn rewrite from `moof`
/// to `free`, or the torn header of an appended `moov`) is skipped (here: retyped `free`).
fn player_view(state: &SimFile) -> SimFile {
    let mut view = state.clone();
    let mut at = 0;
    while at < view.len {
        if view.len - at < 8 {
            view.set_len(at);
            break;
        }
        let h = view.read(at, 8);
        let size = u64::from(u32::from_be_bytes(h[..4].try_into().unwrap()));
        if size < 8 || at + size > view.len {
            view.set_len(at);
            break;
        }
        let known: [&[u8]; 5] = [b"ftyp", b"free", b"moov", b"moof", b"mdat"];
        if !known.contains(&&h[4..8]) {
            view.write_at(at + 4, bytes::Bytes::from_static(b"free"));
        }
        at += size;
    }
    view
}

/// The original file's fragments, per fragment and track, and where each fragment's
/// samples start in the pushed sequence of each track.
struct Original {
    fragments: Vec<Vec<Vec<FragSample>>>,
    first_index: Vec<Vec<usize>>,
}

fn original(b: &Built) -> Original {
    let Ok(Parsed::Fragmented { fragments, .. }) = parse_file(&b.file) else {
        panic!("the muxed file is fragmented");
    };
    let mut next = vec![0; b.pushed.len()];
    let first_index = fragments
        .iter()
        .map(|f| {
            let at = next.clone();
            for (t, s) in f.iter().enumerate() {
                next[t] += s.len();
            }
            at
        })
        .collect();
    Original {
        fragments,
        first_index,
    }
}

/// One crash state: playable with intact fragments or final, and recovery converges.
fn check_state(
    b: &Built,
    orig: &Original,
    state: &SimFile,
    final_bytes: &[u8],
    what: &str,
) -> Result<(), TestCaseError> {
    match parse_visible(&player_view(state)) {
        Ok((Parsed::Progressive { .. }, _)) => {
            prop_assert!(
                state.to_vec() == final_bytes,
                "{}: progressive but not final",
                what
            );
        }
        Ok((Parsed::Fragmented { fragments, .. }, numbers)) => {
            prop_assert!(
                !numbers.is_empty() || orig.fragments.is_empty(),
                "{}: no fragment left for a player",
                what
            );
            for (f, n) in fragments.iter().zip(&numbers) {
                let i = *n as usize - 1;
                prop_assert_eq!(f, &orig.fragments[i], "{}: fragment {}", what, n);
                for (t, samples) in f.iter().enumerate() {
                    for (k, s) in samples.iter().enumerate() {
                        let pushed = &b.pushed[t][orig.first_index[i][t] + k];
                        check_data(state, s.offset, &pushed.data)?;
                    }
                }
            }
        }
        Err(e) => prop_assert!(false, "{}: not playable: {}", what, e),
    }
    match state.recover() {
        Ok(Recovered::Fragmented(r)) => {
            let counts: Vec<u32> = b.pushed.iter().map(|p| p.len() as u32).collect();
            prop_assert_eq!(&r.sample_counts, &counts, "{}", what);
            let mut fixed = state.clone();
            fixed.apply_all(&r.finalize.steps);
            prop_assert!(fixed.to_vec() == final_bytes, "{}: repair differs", what);
        }
        Ok(Recovered::AlreadyProgressive { .. }) => {
            prop_assert!(state.to_vec() == final_bytes, "{}: not final", what);
        }
        Err(e) => prop_assert!(false, "{}: recovery: {}", what, e),
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(32))]

    #[test]
    fn finalize_with_writes_reordered_and_torn_between_syncs_stays_recoverable(
        n_tracks in 1usize..=3,
        bases in proptest::collection::vec(0u64..2_000_000, 3),
        ops in proptest::collection::vec(op(), 1..40),
        fragment_duration_ms in prop_oneof![Just(0u32), Just(40), Just(500)],
        reserve_bytes in reserve(),
        seed in any::<u64>(),
    ) {
        let b = build(n_tracks, &bases, &ops, fragment_duration_ms, reserve_bytes);
        let (frag, chunks) = check_fragmented(&b)?;
        let mut done = b.file.clone();
        done.apply_all(&b.plan.steps);
        check_final(&b, &done, &frag, &chunks)?;
        let final_bytes = done.to_vec();
        let orig = original(&b);
        let mut seed = seed;
        let states = crash_states(&b.file, &b.plan.steps, &mut seed);
        let mut nested_points = Vec::new();
        for (i, (point, state)) in states.iter().enumerate() {
            check_state(&b, &orig, state, &final_bytes, &format!("crash point {point}, state {i}"))?;
            // A crash while repairing: the recovery plan of the first state of each crash
            // point goes through the same model.
            if nested_points.contains(point) {
                continue;
            }
            nested_points.push(*point);
            if let Ok(Recovered::Fragmented(r)) = state.recover() {
                for (j, (p2, s2)) in crash_states(state, &r.finalize.steps, &mut seed).iter().enumerate() {
                    let what = format!("crash point {point}, repair crash point {p2}, state {j}");
                    check_state(&b, &orig, s2, &final_bytes, &what)?;
                }
            }
        }
    }
}
