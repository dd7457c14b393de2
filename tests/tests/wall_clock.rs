//! The camera's clock from RTCP sender reports, end to end with the fake server: the files
//! follow it when it agrees with the local clock (logged once), each fragment carries a
//! `prft`, and a clock an hour off is ignored with one warning.

use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bmff_boxes::Prft;
use tests::fake_rtsp::{FakeRtspServer, Pacing, Script};
use tests::harness::{Invocation, Run, Scratch, run};

/// Records 2 s (fragmented, two 1 s fragments) from a live-paced fake camera whose
/// clock is `offset_ms` ahead of the local one.
fn record(name: &str, offset_ms: i64) -> (Run, Scratch) {
    tests::harness::recorder();
    let script = Script::normal()
        .expect("ffmpeg makes the test clip (apt-get install -y ffmpeg)")
        .with_pacing(Pacing::RealTime)
        .with_sender_reports(offset_ms)
        .with_timeout(Duration::from_secs(60));
    let server = FakeRtspServer::start(script).expect("start fake server");
    let dir = Scratch::new("wall-clock", name);
    let out = dir.out();
    let url = server.url();
    let args = vec![
        "record",
        &url,
        "-o",
        out.to_str().expect("utf-8 temp path"),
        "--format",
        "fmp4",
        "--duration",
        "2s",
        "--max-retries",
        "0",
    ];
    let run = run(
        name,
        &dir.0,
        &Invocation {
            args,
            ..Invocation::default()
        },
    );
    (run, dir)
}

/// The top-level `prft`s of a file: (NTP time as Unix ns, media time), and the number of
/// `moof`s.
fn prfts(file: &Path) -> (Vec<(i128, u64)>, usize) {
    let bytes = std::fs::read(file).expect("read the recording");
    let mut prfts = Vec::new();
    let mut moofs = 0;
    for b in bmff_boxes::read::boxes(&bytes) {
        let b = b.expect("a complete box");
        match &b.fourcc {
            b"moof" => moofs += 1,
            b"prft" => {
                let p = b.payload;
                assert_eq!(p[0], 1, "version 1");
                let ntp = u64::from_be_bytes(p[8..16].try_into().unwrap());
                let media_time = u64::from_be_bytes(p[16..24].try_into().unwrap());
                prfts.push((Prft::unix_nanos_from_ntp(ntp), media_time));
            }
            _ => {}
        }
    }
    (prfts, moofs)
}

#[test]
fn a_camera_clock_that_agrees_names_the_files_and_each_fragment_has_a_prft() {
    let before = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos() as i128;
    let (run, dir) = record("agrees", -300);
    run.assert_succeeded();
    // Logged once, with the camera's offset: 300 ms behind, a little more for the
    // report's way to the recorder.
    let needle = "follow the camera's clock (RTCP sender reports; it is ";
    assert_eq!(run.stderr.matches(needle).count(), 1, "{}", run.stderr);
    let at = run.stderr.find(needle).unwrap() + needle.len();
    let offset: f64 = run.stderr[at..]
        .split(' ')
        .next()
        .and_then(|s| s.parse().ok())
        .expect("the offset in seconds");
    assert!((-0.6..=-0.25).contains(&offset), "{offset}");
    let (prfts, moofs) = prfts(&dir.out());
    assert!(moofs >= 2, "{moofs} fragments");
    assert_eq!(prfts.len(), moofs);
    // One per fragment, in order, their times apart by their media times (90 kHz),
    // named from the recording's start (which preceded the first report: the local
    // clock).
    for w in prfts.windows(2) {
        assert!(w[1].1 > w[0].1);
        let media_ns = i128::from(w[1].1 - w[0].1) * 1_000_000_000 / 90_000;
        assert!((w[1].0 - w[0].0 - media_ns).abs() <= 1, "{prfts:?}");
    }
    let first = prfts[0].0;
    assert!(
        first > before && first < before + 10_000_000_000,
        "{first} {before}"
    );
}

#[test]
fn a_camera_clock_an_hour_off_is_ignored_with_one_warning() {
    let (run, _dir) = record("hour-off", 3_600_000);
    run.assert_succeeded();
    let ignored = run
        .stderr
        .matches("its RTCP sender reports are ignored")
        .count();
    assert_eq!(ignored, 1, "{}", run.stderr);
    let needle = "the camera's clock is ";
    let at = run.stderr.find(needle).expect("the offset logged") + needle.len();
    let offset: f64 = run.stderr[at..]
        .split(' ')
        .next()
        .and_then(|s| s.parse().ok())
        .expect("the offset in seconds");
    assert!((3599.0..=3600.0).contains(&offset), "{offset}");
}
