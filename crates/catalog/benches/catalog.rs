//! Criterion benchmarks of the catalog at scale (`cargo bench -p catalog`): 32 cameras of
//! 10-minute files for a year (32 × 52 560 = 1 681 920 rows), built with `upsert_many` in a
//! temporary file before anything is timed. Then, per call:
//!
//! - `files/camera_day`: one camera's files of one day (144 rows).
//! - `spans/camera_day`: [`Catalog::spans`] for that day (the query and the spans), and
//!   `spans/pure_day`: [`catalog::spans`] alone over the day's 144 records.
//! - `retention/oldest_all+plan`: [`Catalog::oldest`] of one camera's 52 560 files and
//!   [`retention::plan`] (age: a day over, so 144 deletions), and
//!   `retention/plan_retention`: [`Catalog::plan_retention`], the same plan reading only the
//!   rows it deletes.
//! - `retention/plan_free`: [`Catalog::plan_free`] of 10 GB across the cameras.
//! - `upsert/one_file`: [`Catalog::upsert`] of one new file (WAL, `synchronous=NORMAL`).
//!
//! It prints the build time, the database size and the time of opening it (with and
//! without `PRAGMA quick_check`). `CATALOG_BENCH_CAMERAS` and `CATALOG_BENCH_DAYS` scale
//! the catalog down for a quick run.

#![allow(clippy::print_stdout)]

use std::hint::black_box;
use std::path::Path;
use std::time::{Duration, Instant};

use catalog::retention::{self, Policy};
use catalog::{
    AudioTrack, Catalog, EndReason, FileRecord, OpenOptions, VideoTrack, WallTime, spans,
};
use criterion::{Criterion, criterion_group, criterion_main};

const SEGMENT_S: i64 = 600;
const NS: i64 = 1_000_000_000;
const DAY_S: i64 = 86_400;

/// 2025-01-01T00:00:00Z.
const YEAR_START_S: i64 = 1_735_689_600;

fn env_or(name: &str, default: i64) -> i64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn camera(c: i64) -> String {
    format!("cam{c:02}")
}

/// One camera's year: touching 10-minute files of 25 fps H.264 and AAC at about 2 Mbit/s,
/// with a 7 s reconnect gap once a day.
fn camera_files(c: i64, days: i64) -> Vec<FileRecord> {
    let name = camera(c);
    let per_day = DAY_S / SEGMENT_S;
    let mut out = Vec::with_capacity((days * per_day) as usize);
    let mut start_s = YEAR_START_S;
    for i in 0..days * per_day {
        let reconnect = i % per_day == per_day - 1;
        let end_s = start_s + SEGMENT_S;
        let stamp = jiff::Timestamp::from_second(start_s).expect("in range");
        out.push(FileRecord {
            camera: name.clone(),
            path: format!(
                "/recordings/{name}/{}.mp4",
                stamp.strftime("%Y-%m-%d/%H-%M-%S")
            )
            .into(),
            start: WallTime(start_s * NS),
            end: WallTime(end_s * NS),
            media_duration_ms: SEGMENT_S as u64 * 1000,
            size_bytes: 150_000_000 + (i as u64 * 7919) % 10_000_000,
            video: Some(VideoTrack {
                codec: "avc1.640028".into(),
                width: 1920,
                height: 1080,
                samples: 15_000,
            }),
            audio: Some(AudioTrack {
                codec: "mp4a.40.2".into(),
                samples: 28_125,
            }),
            end_reason: if reconnect {
                EndReason::Gap
            } else {
                EndReason::Continued
            },
        });
        start_s = end_s + if reconnect { 7 } else { 0 };
    }
    out
}

fn database_bytes(path: &Path) -> u64 {
    let conn = rusqlite::Connection::open(path).expect("open");
    conn.execute_batch("PRAGMA wal_checkpoint(TRUNCATE)")
        .expect("checkpoint");
    ["", "-wal", "-shm"]
        .iter()
        .filter_map(|suffix| {
            let mut name = path.as_os_str().to_owned();
            name.push(suffix);
            std::fs::metadata(name).ok().map(|m| m.len())
        })
        .sum()
}

fn bench(c: &mut Criterion) {
    let cameras = env_or("CATALOG_BENCH_CAMERAS", 32);
    let days = env_or("CATALOG_BENCH_DAYS", 365);
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("catalog.db");

    let started = Instant::now();
    let mut rows = 0;
    {
        let mut catalog = Catalog::open(&path).expect("open");
        for cam in 0..cameras {
            let files = camera_files(cam, days);
            rows += files.len();
            catalog.upsert_many(&files).expect("upsert_many");
        }
    }
    let build = started.elapsed();
    println!(
        "catalog: {cameras} cameras x {days} days = {rows} rows built with upsert_many in \
         {:.1} s ({:.1} us/row)",
        build.as_secs_f64(),
        build.as_secs_f64() * 1e6 / rows as f64
    );
    println!("catalog: database size {} bytes", database_bytes(&path));
    for check in [true, false] {
        let started = Instant::now();
        drop(
            OpenOptions::new()
                .quick_check(check)
                .open(&path)
                .expect("open"),
        );
        println!(
            "catalog: open (quick_check {check}) in {:.3} s",
            started.elapsed().as_secs_f64()
        );
    }

    let mut catalog = Catalog::open(&path).expect("open");
    let cam = camera(cameras / 2);
    let day = YEAR_START_S + (days / 2) * DAY_S;
    let day_start = WallTime(day * NS);
    let day_end = WallTime((day + DAY_S) * NS);
    let day_files = catalog
        .files(Some(&cam), Some(day_start), Some(day_end))
        .expect("files");
    println!("catalog: one camera's day holds {} files", day_files.len());

    c.bench_function("files/camera_day", |b| {
        b.iter(|| {
            catalog
                .files(Some(black_box(&cam)), Some(day_start), Some(day_end))
                .expect("files")
        })
    });
    c.bench_function("spans/camera_day", |b| {
        b.iter(|| {
            catalog
                .spans(black_box(&cam), Some(day_start), Some(day_end))
                .expect("spans")
        })
    });
    c.bench_function("spans/pure_day", |b| {
        b.iter(|| spans(black_box(&day_files)))
    });

    // A year kept for a year less a day, at the end of the recordings: a day's files go.
    let now = WallTime((YEAR_START_S + days * DAY_S) * NS);
    let policy = Policy {
        retain_for: Some(Duration::from_secs(((days - 1) * DAY_S) as u64)),
        retain_size: None,
    };
    let expected = catalog.plan_retention(&cam, policy, now).expect("plan");
    println!(
        "catalog: retention plans {} deletions for one camera",
        expected.len()
    );
    let mut group = c.benchmark_group("retention");
    group.sample_size(10);
    group.bench_function("oldest_all+plan", |b| {
        b.iter(|| {
            let files = catalog.oldest(Some(&cam), usize::MAX).expect("oldest");
            let plan = retention::plan(&files, policy, now);
            assert_eq!(plan.len(), expected.len());
            plan
        })
    });
    group.bench_function("plan_retention", |b| {
        b.iter(|| {
            catalog
                .plan_retention(black_box(&cam), policy, now)
                .expect("plan")
        })
    });
    group.bench_function("plan_free", |b| {
        b.iter(|| {
            catalog
                .plan_free(black_box(10_000_000_000))
                .expect("plan_free")
        })
    });
    group.finish();

    let mut next_s = YEAR_START_S + days * DAY_S;
    let template = camera_files(0, 1).remove(0);
    c.bench_function("upsert/one_file", |b| {
        b.iter(|| {
            let mut record = template.clone();
            record.path = format!("/recordings/new/{next_s}.mp4").into();
            record.start = WallTime(next_s * NS);
            record.end = WallTime((next_s + SEGMENT_S) * NS);
            next_s += SEGMENT_S;
            catalog.upsert(&record).expect("upsert")
        })
    });
    drop(catalog);
    println!(
        "catalog: database size after the upserts {} bytes",
        database_bytes(&path)
    );
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(5));
    targets = bench
}
criterion_main!(benches);
