//! Memory figures of the muxer core, printed by `cargo bench -p mp4-track --bench memory`:
//! bytes per track per hour of samples, and the time and memory it takes to build the
//! final `moov` of a 24 h recording.
//!
//! Allocations are counted by `allocation-counter`'s global allocator (on this thread).
//! Its counts are exact; the wall times printed here are single runs slowed by the
//! counting (it also turns every `realloc` into a copy), so take the `moov_24h` group of
//! the `mux` bench for timing.

#![allow(clippy::print_stdout)]

mod workload;

use std::hint::black_box;
use std::time::{Duration, Instant};

use allocation_counter::{AllocationInfo, measure};
use mp4_track::{
    FragmentedMuxer, FragmentedOptions, Mp4Muxer, MuxerOptions, TableSample, TrackId, TrackTables,
};
use workload::{
    AUDIO_SAMPLES_PER_HOUR, Sizes, Stream, VIDEO_SAMPLES_PER_HOUR, Which, audio_config,
    video_config,
};

fn mib(bytes: impl Into<f64>) -> f64 {
    bytes.into() / (1024.0 * 1024.0)
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// One line: what was measured, live bytes after, per sample, bytes and allocations
/// made on the way.
fn report(what: &str, samples: u64, info: &AllocationInfo) {
    println!(
        "{what:<58} {:>9.2} MiB live = {:>5.1} B/sample; {:>7.2} MiB allocated in {} allocations",
        mib(info.bytes_current as f64),
        info.bytes_current as f64 / samples as f64,
        mib(info.bytes_total as f64),
        info.count_total,
    );
}

/// Table memory of one hour of samples, per track.
fn per_track_per_hour() {
    println!(
        "== Memory per track per hour ({VIDEO_SAMPLES_PER_HOUR} video samples at 30 fps, \
         {AUDIO_SAMPLES_PER_HOUR} AAC frames at 48 kHz); live bytes include Vec slack =="
    );
    // A single video track, samples contiguous in the file: one chunk.
    let mut tables = TrackTables::new(1);
    let mut stream = Stream::new(Sizes {
        audio_bytes: None,
        ..Sizes::CAMERA
    });
    let mut offset = 0u64;
    let info = measure(|| {
        for (_, s, _) in stream.by_ref().take(VIDEO_SAMPLES_PER_HOUR as usize) {
            let sample = TableSample {
                dts: s.dts,
                cts_offset: s.cts_offset,
                size: s.size,
                is_sync: s.is_sync,
                sample_description_index: 1,
                offset_bytes: offset,
            };
            tables.push(sample).unwrap();
            offset += u64::from(s.size);
        }
    });
    report(
        "TrackTables, video alone (1 chunk)",
        VIDEO_SAMPLES_PER_HOUR,
        &info,
    );
    black_box(&tables);

    // The same in a fragmented file: a chunk per 2 s fragment (60 frames).
    let mut tables = TrackTables::new(1);
    let mut stream = Stream::new(Sizes {
        audio_bytes: None,
        ..Sizes::CAMERA
    });
    let mut offset = 0u64;
    let info = measure(|| {
        for (i, (_, s, _)) in stream
            .by_ref()
            .take(VIDEO_SAMPLES_PER_HOUR as usize)
            .enumerate()
        {
            if i.is_multiple_of(60) {
                offset += 1000; // the fragment's moof and the other track's data
            }
            let sample = TableSample {
                dts: s.dts,
                cts_offset: s.cts_offset,
                size: s.size,
                is_sync: s.is_sync,
                sample_description_index: 1,
                offset_bytes: offset,
            };
            tables.push(sample).unwrap();
            offset += u64::from(s.size);
        }
    });
    report(
        "TrackTables, video, a chunk per 2 s fragment",
        VIDEO_SAMPLES_PER_HOUR,
        &info,
    );
    black_box(&tables);

    // Video and audio interleaved as Mp4Muxer lays them out: a chunk per video frame and
    // per run of audio frames. Each track's tables measured on their own.
    let mut tables = [TrackTables::new(1), TrackTables::new(2)];
    let mut infos = [AllocationInfo::default(), AllocationInfo::default()];
    let mut counts = [0u64; 2];
    let mut offset = 0u64;
    let n = (VIDEO_SAMPLES_PER_HOUR + AUDIO_SAMPLES_PER_HOUR) as usize;
    for (which, s, _) in Stream::new(Sizes::CAMERA).take(n) {
        let i = match which {
            Which::Video => 0,
            Which::Audio => 1,
        };
        let sample = TableSample {
            dts: s.dts,
            cts_offset: s.cts_offset,
            size: s.size,
            is_sync: s.is_sync,
            sample_description_index: 1,
            offset_bytes: offset,
        };
        infos[i] += measure(|| tables[i].push(sample).unwrap());
        counts[i] += 1;
        offset += u64::from(s.size);
    }
    report(
        "TrackTables, video interleaved with audio",
        counts[0],
        &infos[0],
    );
    report(
        "TrackTables, audio interleaved with video",
        counts[1],
        &infos[1],
    );
    black_box(&tables);

    let (mut mux, tracks) = progressive();
    let info = measure(|| push_progressive(&mut mux, tracks, Stream::new(Sizes::CAMERA), n));
    report(
        "Mp4Muxer, video + audio (per sample of both)",
        n as u64,
        &info,
    );
    black_box(&mux);

    let (mut mux, tracks) = fragmented();
    let info = measure(|| push_fragmented(&mut mux, tracks, Stream::new(Sizes::CAMERA), n));
    report(
        "FragmentedMuxer, video + audio, flushed (per sample)",
        n as u64,
        &info,
    );
    black_box(&mux);
}

fn progressive() -> (Mp4Muxer, (TrackId, TrackId)) {
    let mut mux = Mp4Muxer::new(MuxerOptions::default());
    let v = mux.add_track(video_config()).unwrap();
    let a = mux.add_track(audio_config()).unwrap();
    mux.start().unwrap();
    (mux, (v, a))
}

fn push_progressive(mux: &mut Mp4Muxer, tracks: (TrackId, TrackId), stream: Stream, n: usize) {
    for (which, sample, _) in stream.take(n) {
        let track = if which == Which::Video {
            tracks.0
        } else {
            tracks.1
        };
        mux.push(track, sample).unwrap();
    }
}

fn fragmented() -> (FragmentedMuxer, (TrackId, TrackId)) {
    let mut mux = FragmentedMuxer::new(FragmentedOptions::default());
    let v = mux.add_track(video_config()).unwrap();
    let a = mux.add_track(audio_config()).unwrap();
    mux.start().unwrap();
    (mux, (v, a))
}

/// Pushes `n` samples, dropping each fragment as a writer would once written, then
/// flushes.
fn push_fragmented(
    mux: &mut FragmentedMuxer,
    tracks: (TrackId, TrackId),
    stream: Stream,
    n: usize,
) {
    for (which, sample, data) in stream.take(n) {
        let track = if which == Which::Video {
            tracks.0
        } else {
            tracks.1
        };
        mux.push(track, sample, data).unwrap();
        while let Some(f) = mux.poll_fragment() {
            black_box(f);
        }
    }
    while let Some(f) = mux.flush() {
        black_box(f);
    }
}

/// The final `moov` of 24 h of 30 fps video and 48 kHz AAC, from both muxers.
fn moov_24h() {
    let n = (24 * (VIDEO_SAMPLES_PER_HOUR + AUDIO_SAMPLES_PER_HOUR)) as usize;
    println!("== Final moov of 24 h: {n} samples (video + audio) ==");

    let (mut mux, tracks) = progressive();
    let t = Instant::now();
    let pushed = measure(|| push_progressive(&mut mux, tracks, Stream::new(Sizes::CAMERA), n));
    let push_time = t.elapsed();
    let mut moov_bytes = 0;
    let mut finish_time = Duration::ZERO;
    let finish = measure(|| {
        let t = Instant::now();
        let finished = mux.finish().unwrap();
        finish_time = t.elapsed();
        moov_bytes = finished.tail.len();
    });
    println!(
        "Mp4Muxer: push {:.0} ms ({:.1} ns/sample), tables {:.1} MiB live; finish {:.0} ms, \
         peak {:.1} MiB above the tables, moov {:.1} MiB ({moov_bytes} bytes)",
        ms(push_time),
        push_time.as_secs_f64() * 1e9 / n as f64,
        mib(pushed.bytes_current as f64),
        ms(finish_time),
        mib(finish.bytes_max as f64),
        mib(moov_bytes as f64),
    );

    let (mut mux, tracks) = fragmented();
    let t = Instant::now();
    let pushed = measure(|| push_fragmented(&mut mux, tracks, Stream::new(Sizes::CAMERA), n));
    let push_time = t.elapsed();
    let mut moov_bytes = 0;
    let mut finalize_time = Duration::ZERO;
    let finalize = measure(|| {
        let t = Instant::now();
        let plan = mux.finalize().unwrap();
        finalize_time = t.elapsed();
        moov_bytes = plan.moov_bytes;
    });
    println!(
        "FragmentedMuxer: push+fragments {:.0} ms ({:.1} ns/sample), state {:.1} MiB live; \
         finalize {:.0} ms, peak {:.1} MiB above the state, moov {:.1} MiB ({moov_bytes} bytes)",
        ms(push_time),
        push_time.as_secs_f64() * 1e9 / n as f64,
        mib(pushed.bytes_current as f64),
        ms(finalize_time),
        mib(finalize.bytes_max as f64),
        mib(moov_bytes as f64),
    );
}

fn main() {
    // `cargo bench` passes `--bench`; `cargo test --benches` does not: run quickly then.
    if !std::env::args().any(|a| a == "--bench") {
        println!("memory: run with `cargo bench -p mp4-track --bench memory`");
        return;
    }
    per_track_per_hour();
    moov_24h();
}
