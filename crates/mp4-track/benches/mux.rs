//! Criterion benchmarks of the muxer core (`cargo bench -p mp4-track --bench mux`):
//!
//! - `fragmented/*`: [`FragmentedMuxer::push`] and [`FragmentedMuxer::poll_fragment`] over
//!   60 s of a camera stream (30 fps video, ~10 KB frames, a keyframe every 30, and
//!   48 kHz AAC frames of ~300 B) and of large video frames (~200 KB), in samples/s and
//!   media bytes/s. The data are reference-counted slices of one buffer, as the muxer
//!   never copies them.
//! - `progressive/*`: [`Mp4Muxer::push`] over the same camera stream.
//! - `moov_24h/*`: [`Mp4Muxer::finish`] and [`FragmentedMuxer::finalize`] after 24 h of
//!   the camera stream (pushed outside the timed part).
//!
//! The `memory` bench prints the memory figures.

mod workload;

use std::hint::black_box;
use std::time::{Duration, Instant};

use bytes::Bytes;
use criterion::{BatchSize, Criterion, SamplingMode, Throughput, criterion_group, criterion_main};
use mp4_track::{FragmentedMuxer, FragmentedOptions, Mp4Muxer, MuxerOptions, SampleInfo, TrackId};
use workload::{
    AUDIO_SAMPLES_PER_HOUR, Sizes, Stream, VIDEO_SAMPLES_PER_HOUR, Which, audio_config,
    video_config,
};

/// A fixed schedule of samples with their data.
type Schedule = Vec<(Which, SampleInfo, Bytes)>;

fn schedule(sizes: Sizes, seconds: u64) -> Schedule {
    let mut stream = Stream::new(sizes);
    let n = stream.samples_in(seconds) as usize;
    stream.take_vec(n)
}

fn throughput(schedule: &Schedule) -> Throughput {
    Throughput::ElementsAndBytes {
        elements: schedule.len() as u64,
        bytes: schedule.iter().map(|(_, s, _)| u64::from(s.size)).sum(),
    }
}

fn track(tracks: (TrackId, TrackId), which: Which) -> TrackId {
    match which {
        Which::Video => tracks.0,
        Which::Audio => tracks.1,
    }
}

/// A started fragmented muxer with video and audio tracks (2 s fragments).
fn fragmented() -> (FragmentedMuxer, (TrackId, TrackId)) {
    let mut mux = FragmentedMuxer::new(FragmentedOptions::default());
    let v = mux.add_track(video_config()).unwrap();
    let a = mux.add_track(audio_config()).unwrap();
    mux.start().unwrap();
    (mux, (v, a))
}

/// A started progressive muxer with video and audio tracks.
fn progressive() -> (Mp4Muxer, (TrackId, TrackId)) {
    let mut mux = Mp4Muxer::new(MuxerOptions::default());
    let v = mux.add_track(video_config()).unwrap();
    let a = mux.add_track(audio_config()).unwrap();
    mux.start().unwrap();
    (mux, (v, a))
}

/// Pushes every sample (sharing its data) and hands each completed fragment to the
/// "writer", which drops it.
fn push_and_poll(
    (mut mux, tracks): (FragmentedMuxer, (TrackId, TrackId)),
    schedule: &Schedule,
) -> FragmentedMuxer {
    for (which, sample, data) in schedule {
        mux.push(track(tracks, *which), *sample, data.clone())
            .unwrap();
        while let Some(f) = mux.poll_fragment() {
            black_box(f);
        }
    }
    mux
}

fn fragment_building(c: &mut Criterion) {
    let mut group = c.benchmark_group("fragmented");
    for (name, sizes) in [
        ("camera_60s", Sizes::CAMERA),
        ("video_200KB_60s", Sizes::LARGE_VIDEO),
    ] {
        let schedule = schedule(sizes, 60);
        group.throughput(throughput(&schedule));
        group.bench_function(name, |b| {
            // The muxer is made fresh for each run and dropped outside the timing.
            b.iter_batched(
                fragmented,
                |m| push_and_poll(m, &schedule),
                BatchSize::SmallInput,
            );
        });
    }
    group.finish();

    let mut group = c.benchmark_group("progressive");
    let schedule = schedule(Sizes::CAMERA, 60);
    group.throughput(throughput(&schedule));
    group.bench_function("camera_60s", |b| {
        b.iter_batched(
            progressive,
            |(mut mux, tracks)| {
                for (which, sample, _) in &schedule {
                    black_box(mux.push(track(tracks, *which), *sample).unwrap());
                }
                mux
            },
            BatchSize::SmallInput,
        );
    });
    group.finish();
}

/// Samples in 24 h of video and audio.
const SAMPLES_24H: usize = (24 * (VIDEO_SAMPLES_PER_HOUR + AUDIO_SAMPLES_PER_HOUR)) as usize;

fn progressive_24h() -> Mp4Muxer {
    let (mut mux, tracks) = progressive();
    for (which, sample, _) in Stream::new(Sizes::CAMERA).take(SAMPLES_24H) {
        mux.push(track(tracks, which), sample).unwrap();
    }
    mux
}

fn fragmented_24h() -> FragmentedMuxer {
    let (mut mux, tracks) = fragmented();
    for (which, sample, data) in Stream::new(Sizes::CAMERA).take(SAMPLES_24H) {
        mux.push(track(tracks, which), sample, data).unwrap();
        while let Some(f) = mux.poll_fragment() {
            black_box(f);
        }
    }
    while let Some(f) = mux.flush() {
        black_box(f);
    }
    mux
}

/// Times `run` on a fresh input from `setup` per iteration; setup and drops untimed.
fn timed<I, O>(iters: u64, setup: impl Fn() -> I, run: impl Fn(I) -> O) -> Duration {
    let mut total = Duration::ZERO;
    for _ in 0..iters {
        let input = setup();
        let t = Instant::now();
        let out = black_box(run(input));
        total += t.elapsed();
        drop(out);
    }
    total
}

fn moov_24h(c: &mut Criterion) {
    let mut group = c.benchmark_group("moov_24h");
    // Each iteration needs a fresh 24 h muxer, built untimed in 0.2-0.5 s: flat sampling,
    // no warm-up beyond one run, and measurement times that give one iteration per
    // sample. Criterion then warns that it cannot complete the samples in that time: its
    // estimate comes from the single, cold warm-up run; the warning is expected.
    group
        .sample_size(20)
        .sampling_mode(SamplingMode::Flat)
        .warm_up_time(Duration::from_millis(1));
    group.measurement_time(Duration::from_secs(2));
    group.bench_function("mp4muxer_finish", |b| {
        b.iter_custom(|iters| timed(iters, progressive_24h, |m| m.finish().unwrap()));
    });
    group.measurement_time(Duration::from_millis(500));
    group.bench_function("fragmented_finalize", |b| {
        b.iter_custom(|iters| timed(iters, fragmented_24h, |m| m.finalize().unwrap()));
    });
    group.finish();
}

criterion_group!(benches, fragment_building, moov_24h);
criterion_main!(benches);
