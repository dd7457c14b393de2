//! Tests of the writer thread: names, events, queueing.
use super::*;

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("recorder-writer-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}

fn context(events: &FileEvents) -> FileContext {
    FileContext {
        camera: "cam".into(),
        events: events.clone(),
        start_wall: SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1_700_000_000),
        reclaim: None,
        timers: None,
        turn: None,
    }
}

#[test]
fn the_writer_announces_the_name_it_picked() {
    let dir = temp_dir("picked");
    std::fs::write(dir.join("x.mp4"), b"an earlier recording").unwrap();
    let events = FileEvents::new();
    let mut rx = events.subscribe();
    let writer = SegmentWriter::spawn(
        dir.join("x.mp4"),
        Bytes::from_static(b"start"),
        SyncPolicy::None,
        OutputFormat::Mp4,
        context(&events),
    )
    .unwrap();
    match rx.blocking_recv().unwrap() {
        FileEvent::Opened {
            camera,
            path,
            start_wall,
        } => {
            assert_eq!(&*camera, "cam");
            assert_eq!(path, dir.join("x-1.mp4"));
            assert_eq!(start_wall, context(&events).start_wall);
        }
        other => panic!("{other:?}"),
    }
    assert!(dir.join("x-1.mp4.partial").exists());
    drop(writer);
    std::fs::remove_dir_all(&dir).unwrap();
}

/// A whole file through its writer: opened, fragments, closed; the events say what the
/// file on disk holds.
#[tokio::test(flavor = "current_thread")]
async fn the_writer_announces_the_finished_file() {
    use mp4_track::{FragmentedOptions, SampleInfo, TrackConfig, TrackKind};

    use crate::output::events::{EndReason, TrackSummary};

    let dir = temp_dir("finished");
    let events = FileEvents::new();
    let mut rx = events.subscribe();
    let mut muxer = FragmentedMuxer::new(FragmentedOptions {
        movie_timescale_hz: 1000,
        creation_time_1904: 0,
        fragment_duration_ms: 1000,
        reserve_bytes: 4096,
        user_data: Vec::new(),
    });
    let track = muxer
        .add_track(TrackConfig {
            kind: TrackKind::Video {
                width: 64,
                height: 64,
            },
            timescale_hz: 90_000,
            sample_entry: Bytes::from_static(b"\0\0\0\x08mp4v"),
            default_sample_duration: None,
        })
        .unwrap();
    let init = muxer.start().unwrap();
    let mut writer = SegmentWriter::spawn(
        dir.join("f.mp4"),
        init,
        SyncPolicy::Fragment,
        OutputFormat::Fmp4,
        context(&events),
    )
    .unwrap();
    for i in 0..75u64 {
        let data = Bytes::from(vec![i as u8; 50]);
        let sample = SampleInfo {
            dts: i * 3000,
            cts_offset: 0,
            size: 50,
            is_sync: i % 30 == 0,
        };
        muxer.push(track, sample, data).unwrap();
        while let Some(f) = muxer.poll_fragment() {
            assert_eq!(writer.write(f).await.unwrap(), Queued::Yes);
        }
    }
    let summary = FileSummary {
        start_wall: context(&events).start_wall,
        video: Some(TrackSummary {
            codec: "mp4v.6C".to_owned(),
            dimensions: Some((64, 64)),
            samples: 75,
            start_s: 0.0,
            end_s: 2.5,
        }),
        audio: None,
        end: EndReason::Switch,
        wall_end: None,
    };
    let written = writer.close(muxer, summary.clone()).wait().await.unwrap();
    assert!(matches!(rx.recv().await.unwrap(), FileEvent::Opened { .. }));
    let FileEvent::Finished(f) = rx.recv().await.unwrap() else {
        panic!("expected Finished");
    };
    assert_eq!(f.path, dir.join("f.mp4"));
    assert_eq!(
        f.len_bytes,
        std::fs::metadata(dir.join("f.mp4")).unwrap().len()
    );
    assert_eq!((f.video_frames, f.audio_frames), (75, 0));
    assert_eq!(f.summary, Some(summary));
    assert_eq!(written.path, f.path);
    std::fs::remove_dir_all(&dir).unwrap();
}
