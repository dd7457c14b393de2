//! A day of recording pushed through the router and the muxer as values, with the
//! defaults: where files switch, and how much memory one camera holds. Memory is counted
//! by `allocation-counter`'s global allocator, per thread (each test counts only its own),
//! as the peak of bytes allocated and not yet freed.

use std::num::NonZeroU32;
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use rtsp_ingest::{AudioCodec, AudioInfo, VideoCodec, VideoInfo};

use super::{Action, Router, RouterConfig};
use crate::output::events::EndReason;

/// What a day of 30 fps video (a keyframe every second) and 48 kHz AAC leaves: the
/// files' video and audio sample counts, and the peak memory the router and its muxers
/// held above what they held at the start.
fn day(config: RouterConfig, hours: u64) -> (Vec<(u64, u64)>, isize) {
    let video = VideoInfo {
        codec: VideoCodec::H264,
        width: 1920,
        height: 1080,
        clock_rate_hz: 90_000,
        sample_entry: Bytes::from_static(b"\0\0\0\x08avc1"),
        rfc6381_codec: "avc1.640028".to_owned(),
        frame_interval: Some((1, 30)),
        reorder_depth: 0,
    };
    let audio = AudioInfo {
        codec: AudioCodec::Aac,
        clock_rate_hz: 48_000,
        channels: 1,
        sample_entry: Bytes::from_static(b"\0\0\0\x08mp4a"),
        rfc6381_codec: Some("mp4a.40.2".to_owned()),
        frame_length: NonZeroU32::new(1024),
    };
    let start = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
    // Frames share one static buffer: only the router's and the muxers' own memory counts.
    let frame = Bytes::from_static(&[0u8; 64]);
    let mut files = Vec::new();
    let info = allocation_counter::measure(|| {
        run_day(&video, &audio, config, hours, start, &frame, &mut files);
    });
    // What is still held at the end (nothing: the router is gone) is not the question;
    // the peak is.
    (files, info.bytes_max as isize)
}

fn run_day(
    video: &VideoInfo,
    audio: &AudioInfo,
    config: RouterConfig,
    hours: u64,
    start: SystemTime,
    frame: &Bytes,
    files: &mut Vec<(u64, u64)>,
) {
    let mut router = Router::new(Some(video), Some(audio), config).unwrap();
    let drain = |router: &mut Router, files: &mut Vec<(u64, u64)>| {
        while let Some(action) = router.poll_action() {
            if let Action::Close {
                mut muxer, summary, ..
            } = action
            {
                while muxer.flush().is_some() {}
                // The final moov is built (and dropped) as the writer would.
                drop(muxer.finalize().unwrap());
                let count = |t: &Option<crate::output::events::TrackSummary>| {
                    t.as_ref().map_or(0, |t| t.samples)
                };
                files.push((count(&summary.video), count(&summary.audio)));
            }
        }
    };
    let frames = hours * 3600 * 30;
    let mut next_audio = 0u64;
    for i in 0..frames {
        let pts = i * 3000;
        let now = start + Duration::from_millis(i * 100 / 3);
        router
            .push_video(pts as i64, i % 30 == 0, frame.clone(), None, now)
            .unwrap();
        // Audio up to this video frame's instant.
        while next_audio * 90_000 <= pts * 48_000 {
            router
                .push_audio(next_audio as i64, frame.clone(), now)
                .unwrap();
            next_audio += 1024;
        }
        drain(&mut router, files);
    }
    router.finish(EndReason::Stopped).unwrap();
    drain(&mut router, files);
}

/// `recorder run`'s defaults: 10-minute files, whatever the length of the run.
#[test]
fn a_day_with_run_defaults_holds_one_segment_of_tables() {
    let config = RouterConfig {
        segment_duration: Some(Duration::from_secs(600)),
        max_file_duration: Some(Duration::from_secs(86_400)),
        max_file_bytes: None,
        limit: None,
        fragment_duration: Duration::from_secs(1),
        reserve_moov: true,
        audio_storage: audio_pcm::Storage::Flac,
    };
    let (files, peak) = day(config, 24);
    assert_eq!(files.len(), 144);
    // Every file but the last holds exactly 10 minutes of video (a keyframe every second).
    assert!(files[..143].iter().all(|&(v, _)| v == 18_000), "{files:?}");
    let audio: u64 = files.iter().map(|&(_, a)| a).sum();
    // Every audio frame sent (those presented up to the last video frame) is kept.
    assert_eq!(audio, (24 * 3600 * 30 - 1) * 1600 / 1024 + 1);
    // The stated bound: 2 MiB per camera (one open file's tables, the previous file's
    // while audio catches up, and a final moov being built).
    assert!(peak < 2 << 20, "peak {peak} bytes");
    eprintln!("a day in 10-minute files: peak {peak} bytes held");
}

/// `recorder record`'s defaults: one file, but never longer than a day.
#[test]
fn record_defaults_switch_files_after_a_day() {
    let config = RouterConfig {
        segment_duration: None,
        max_file_duration: Some(Duration::from_secs(86_400)),
        max_file_bytes: None,
        limit: None,
        fragment_duration: Duration::from_secs(1),
        reserve_moov: true,
        audio_storage: audio_pcm::Storage::Flac,
    };
    let (files, peak) = day(config, 25);
    assert_eq!(files.len(), 2);
    assert_eq!(files[0].0, 86_400 * 30);
    assert_eq!(files[1].0, 3600 * 30);
    // The stated bound for a day's file: 96 MiB per camera (its tables and its final
    // moov, which is built once while the tables are still held).
    assert!(peak < 96 << 20, "peak {peak} bytes");
    eprintln!("a day in one file: peak {peak} bytes held");
}
