//! The per-sample push paths do not allocate per sample: after a warm-up, pushing
//! N samples costs O(log N) allocations for [`Mp4Muxer`] (amortized growth of the sample
//! tables' `Vec`s) and a bounded number per fragment for [`FragmentedMuxer`].
//!
//! Allocations are counted by `allocation-counter`'s global allocator, per thread, so
//! tests running in parallel do not disturb each other. (A `GlobalAlloc` impl here would
//! need `unsafe impl`, which the workspace's `forbid(unsafe_code)` rejects, and `forbid`
//! cannot be overridden by `#![allow]`.) The allocator counts a reallocation as one
//! allocation.

#[path = "../benches/workload/mod.rs"]
mod workload;

use allocation_counter::{AllocationInfo, measure};
use mp4_track::{FragmentedMuxer, FragmentedOptions, Mp4Muxer, MuxerOptions, TrackId};
use workload::{Sizes, Stream, Which, audio_config, video_config};

const N: usize = 100_000;

/// `Vec`s of one track's `TrackTables` that grow with the samples: `stts`, `ctts`, `stss`,
/// sizes, chunk offsets, `stsc`.
const GROWING_VECS_PER_TRACK: u64 = 6;

/// Doublings of a `Vec` from 1 element to `n`: an upper bound of its reallocations.
fn doublings(n: usize) -> u64 {
    u64::from(usize::BITS - n.leading_zeros())
}

fn progressive() -> (Mp4Muxer, TrackId, TrackId) {
    let mut mux = Mp4Muxer::new(MuxerOptions::default());
    let v = mux.add_track(video_config()).unwrap();
    let a = mux.add_track(audio_config()).unwrap();
    mux.start().unwrap();
    (mux, v, a)
}

/// Pushes `n` samples of `stream` to `mux`, allocation-free on the caller's side.
fn push_progressive(mux: &mut Mp4Muxer, tracks: (TrackId, TrackId), stream: &mut Stream, n: usize) {
    for (which, sample, _data) in stream.take(n) {
        let track = match which {
            Which::Video => tracks.0,
            Which::Audio => tracks.1,
        };
        mux.push(track, sample).unwrap();
    }
}

#[test]
fn progressive_push_allocates_logarithmically() {
    let (mut mux, v, a) = progressive();
    let mut stream = Stream::new(Sizes::CAMERA);
    push_progressive(&mut mux, (v, a), &mut stream, 1000); // warm-up

    let first = measure(|| push_progressive(&mut mux, (v, a), &mut stream, N));
    let second = measure(|| push_progressive(&mut mux, (v, a), &mut stream, N));
    eprintln!("Mp4Muxer::push, {N} samples twice: {first:?}, {second:?}");

    // Interleaved audio and video: a chunk per video frame and per run of audio frames,
    // so every table but `stts`/`ctts` grows. Each `Vec` doubles at most
    // log2(1000 + 2N) times over both batches.
    let bound = 2 * GROWING_VECS_PER_TRACK * doublings(1000 + 2 * N);
    assert!(
        first.count_total + second.count_total <= bound,
        "{first:?} {second:?}: more than {bound} allocations for {} samples",
        2 * N
    );
    // Doubling the sample count adds at most one growth per table `Vec`, not N.
    assert!(
        second.count_total <= 2 * GROWING_VECS_PER_TRACK,
        "second batch of {N} samples: {second:?}"
    );
    assert!(first.count_total >= 1, "the tables grow: {first:?}");
    // What stays allocated is the tables, a few bytes per sample.
    let live_per_sample = (first.bytes_current + second.bytes_current) as f64 / (2 * N) as f64;
    assert!(
        live_per_sample < 32.0,
        "{live_per_sample:.1} bytes per sample: {first:?} {second:?}"
    );
}

fn fragmented() -> (FragmentedMuxer, TrackId, TrackId) {
    let mut mux = FragmentedMuxer::new(FragmentedOptions::default());
    let v = mux.add_track(video_config()).unwrap();
    let a = mux.add_track(audio_config()).unwrap();
    mux.start().unwrap();
    (mux, v, a)
}

/// Pushes `n` samples with their data and drops each fragment as a writer would once
/// written; returns the number of fragments and of media bytes handed out.
fn push_fragmented(
    mux: &mut FragmentedMuxer,
    tracks: (TrackId, TrackId),
    stream: &mut Stream,
    n: usize,
) -> (u64, u64) {
    let (mut fragments, mut media) = (0, 0);
    for (which, sample, data) in stream.take(n) {
        let track = match which {
            Which::Video => tracks.0,
            Which::Audio => tracks.1,
        };
        mux.push(track, sample, data).unwrap();
        while let Some(f) = mux.poll_fragment() {
            fragments += 1;
            media += f.data.iter().map(|d| d.len() as u64).sum::<u64>();
        }
    }
    (fragments, media)
}

#[test]
fn fragmented_push_allocates_per_fragment_not_per_sample() {
    let (mut mux, v, a) = fragmented();
    let mut stream = Stream::new(Sizes::CAMERA);
    // Warm-up: a few fragments, so that the pending queues reach their working size.
    push_fragmented(&mut mux, (v, a), &mut stream, 2000);

    let mut counts = (0, 0);
    let info: AllocationInfo = measure(|| {
        counts = push_fragmented(&mut mux, (v, a), &mut stream, N);
    });
    let (fragments, media) = counts;
    eprintln!("FragmentedMuxer, {N} samples, {fragments} fragments: {info:?}");

    // 2 s fragments of 30 fps video and 46.875 AAC frames per second: 153.75 samples each.
    let seconds = N as f64 / (30.0 + 46.875);
    assert_eq!(fragments, (seconds / 2.0) as u64, "{info:?}");
    assert!(media > N as u64 * 3000, "{media} bytes of media");

    // Per fragment: the fragment's own buffers (header, data list, track list) and the
    // `moof` under construction, plus amortized growth of the tables.
    let table_growth = 2 * GROWING_VECS_PER_TRACK * doublings(2000 + N) + doublings(N);
    let per_fragment =
        (info.count_total - table_growth.min(info.count_total)) as f64 / fragments as f64;
    assert!(
        per_fragment <= 16.0,
        "{per_fragment:.1} allocations per fragment: {info:?}, {fragments} fragments"
    );
    let per_sample = info.count_total as f64 / N as f64;
    assert!(
        per_sample < 0.1,
        "{per_sample:.3} allocations per sample: {info:?}, {fragments} fragments"
    );
    // Fragments were dropped as written: what stays is the tables and the samples of the
    // fragment in progress (their data is shared with the stream's buffer).
    let live_per_sample = info.bytes_current as f64 / N as f64;
    assert!(
        live_per_sample < 32.0,
        "{live_per_sample:.1} bytes per sample: {info:?}"
    );
}
