//! Wall-clock names from the camera's RTCP sender reports, and each fragment's `prft`.

use bmff_boxes::Prft;
use bytes::Bytes;
use rtsp_ingest::{ReportStream, SenderReport};

use super::tests::{FRAME, VIDEO_HZ, config, video_info, wall};
use super::*;
use crate::session::wallclock;

/// The camera's sender report: its clock read `camera` at video RTP time `rtp`.
fn report(rtp: i64, camera: SystemTime) -> SenderReport {
    SenderReport {
        stream: ReportStream::Video,
        ntp_timestamp: Prft::ntp_from_unix_nanos(wallclock::ns(camera)),
        rtp_timestamp: rtp,
    }
}

/// 6 s of 30 fps video (a keyframe each second, video RTP time starting at 90000) in 2 s
/// files, each frame arriving `latency` s after its capture; with `skew`, the camera's
/// clock is that many s off the true capture time and reports it every second. Checks that
/// the init and final `moov`s' `creation_time` is the file's start (the catalog's) in whole
/// seconds. Returns each file's start and its fragments' `prft` (NTP time as Unix ns,
/// media time).
fn record(latency: f64, skew: Option<f64>) -> Vec<(SystemTime, Vec<(i128, u64)>)> {
    let mut r = Router::new(
        Some(&video_info("avc1.64001F", 640, 0)),
        None,
        config(Some(2), None),
    )
    .unwrap();
    let mut files = std::collections::BTreeMap::new();
    for i in 0..180 {
        let pts = VIDEO_HZ as i64 + i * FRAME;
        let captured = i as f64 / 30.0;
        r.push_video(
            pts,
            i % 30 == 0,
            Bytes::from(vec![1u8; 100]),
            None,
            wall(captured + latency),
        )
        .unwrap();
        if let Some(skew) = skew.filter(|_| i % 30 == 15) {
            let sr = report(pts, wall(captured + skew));
            r.sender_report(&sr, wall(captured + latency));
        }
        if i == 179 {
            r.finish(EndReason::Stopped).unwrap();
        }
        while let Some(a) = r.poll_action() {
            let (file, fragments) = match a {
                Action::Open {
                    file,
                    start_wall,
                    init,
                } => {
                    assert_eq!(creation_time(&init), seconds_since_1904(start_wall));
                    files.insert(file, (start_wall, Vec::new()));
                    continue;
                }
                Action::Write { file, fragment } => (file, vec![fragment]),
                Action::Close {
                    file,
                    mut muxer,
                    summary,
                } => {
                    let fragments = std::iter::from_fn(|| muxer.flush()).collect();
                    // The final moov (written first, in the reserved room) too.
                    let plan = muxer.finalize().unwrap();
                    let Some(mp4_track::FinalizeStep::Write(moov)) = plan.steps.first() else {
                        panic!("{plan:?}")
                    };
                    let start = seconds_since_1904(summary.start_wall);
                    assert_eq!(creation_time(&moov.bytes), start);
                    (file, fragments)
                }
                Action::Cut { .. } => panic!("no cut expected"),
            };
            for f in fragments {
                let h = &f.header;
                assert_eq!(&h[4..8], b"prft");
                let ntp = u64::from_be_bytes(h[16..24].try_into().unwrap());
                let media_time = u64::from_be_bytes(h[24..32].try_into().unwrap());
                let prfts = &mut files.get_mut(&file).unwrap().1;
                prfts.push((Prft::unix_nanos_from_ntp(ntp), media_time));
            }
        }
    }
    files.into_values().collect()
}

/// `mvhd.creation_time` of the first `moov` in `bytes`.
fn creation_time(bytes: &[u8]) -> u64 {
    let moov = bmff_boxes::read::boxes(bytes)
        .map(Result::unwrap)
        .find(|b| &b.fourcc == b"moov")
        .expect("a moov");
    bmff_boxes::read::parse_moov(&moov)
        .unwrap()
        .mvhd
        .creation_time
}

/// Whole seconds from 1904 to `t`: what the catalog's start is in `creation_time`.
fn seconds_since_1904(t: SystemTime) -> u64 {
    let unix = t.duration_since(SystemTime::UNIX_EPOCH).unwrap().as_secs();
    unix + 2_082_844_800
}

/// Nanoseconds from `a` to `b`.
fn between(a: SystemTime, b: SystemTime) -> i128 {
    wallclock::ns(b) - wallclock::ns(a)
}

#[test]
fn files_follow_the_cameras_clock_and_fragments_carry_prfts() {
    // The camera's clock is true; frames arrive 200 ms after their capture.
    let files = record(0.2, Some(0.0));
    assert_eq!(files.len(), 3);
    // The first file opens before any report: named after its arrival.
    assert_eq!(files[0].0, wall(0.2));
    // Then the reference is the camera's clock, 200 ms earlier; the names move toward it
    // by at most 500 ppm of the media time: 1 ms per 2 s file.
    assert_eq!(between(wall(2.2), files[1].0), -1_000_000);
    assert_eq!(between(wall(4.2), files[2].0), -2_000_000);
    for (start, prfts) in &files {
        // 1 s fragments, each named after its first presentation along the media time.
        assert_eq!(prfts.len(), 2);
        for (k, &(ntp_ns, media_time)) in prfts.iter().enumerate() {
            assert_eq!(media_time, k as u64 * 90_000);
            let expected = wallclock::ns(*start) + k as i128 * 1_000_000_000;
            // Within one NTP unit (2^-32 s).
            assert!((ntp_ns - expected).abs() <= 1, "{ntp_ns} {expected}");
        }
    }
}

#[test]
fn a_camera_clock_an_hour_off_changes_nothing() {
    let local = record(0.2, None);
    let off = record(0.2, Some(3600.0));
    let starts = |f: &[(SystemTime, Vec<(i128, u64)>)]| f.iter().map(|x| x.0).collect::<Vec<_>>();
    assert_eq!(starts(&off), starts(&local));
    assert_eq!(starts(&off), vec![wall(0.2), wall(2.2), wall(4.2)]);
}
