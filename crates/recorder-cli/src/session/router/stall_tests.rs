//! A disk that stalls: a fragment that could not be queued cuts its file, which takes no
//! more samples, and the recording goes on in a new file at the next keyframe.

use bytes::Bytes;

use super::tests::{AAC, FRAME, FileOut, Sink, audio_info, config, video_info, wall};
use super::*;

/// Drains actions like [`Sink::drain`], except that the writes of `file` numbered
/// `drop_from` and later (counting from 0) find the queue full: the router is told.
struct StalledSink {
    sink: Sink,
    file: FileId,
    drop_from: usize,
    writes: usize,
    dropped: usize,
}

impl StalledSink {
    fn drain(&mut self, r: &mut Router) {
        while let Some(a) = r.poll_action() {
            match a {
                Action::Write { file, fragment } if file == self.file => {
                    if self.writes >= self.drop_from {
                        self.dropped += 1;
                        r.fragment_dropped(file);
                    } else {
                        self.sink.add(file, &fragment);
                    }
                    self.writes += 1;
                }
                Action::Open {
                    file, start_wall, ..
                } => {
                    self.sink.files.insert(
                        file,
                        FileOut {
                            start_wall: Some(start_wall),
                            ..FileOut::default()
                        },
                    );
                }
                Action::Write { file, fragment } => self.sink.add(file, &fragment),
                Action::Close {
                    file,
                    mut muxer,
                    summary,
                } => {
                    while let Some(f) = muxer.flush() {
                        self.sink.add(file, &f);
                    }
                    let out = self.sink.files.get_mut(&file).expect("open");
                    out.summary = Some(summary);
                }
                Action::Cut { file, summary } => self.sink.cut(file, summary),
            }
        }
    }
}

/// 30 fps video with a keyframe every second and (with `audio`) 48 kHz audio, for `secs`
/// seconds; returns the audio frames pushed too.
fn record(secs: i64, drop_from: usize, audio: bool) -> (Router, StalledSink, u64) {
    let mut r = Router::new(
        Some(&video_info("avc1.64001F", 640, 0)),
        audio.then(audio_info).as_ref(),
        config(None, None),
    )
    .unwrap();
    let mut sink = StalledSink {
        sink: Sink::default(),
        file: FileId(0),
        drop_from,
        writes: 0,
        dropped: 0,
    };
    let mut next_audio = 0i64;
    for i in 0..secs * 30 {
        r.push_video(
            i * FRAME,
            i % 30 == 0,
            Bytes::from(vec![1u8; 100]),
            None,
            wall(i as f64 / 30.0),
        )
        .unwrap();
        while audio && next_audio * 90_000 < i * FRAME * 48_000 {
            r.push_audio(
                next_audio,
                Bytes::from(vec![2u8; 10]),
                wall(i as f64 / 30.0),
            )
            .unwrap();
            next_audio += AAC;
        }
        sink.drain(&mut r);
    }
    r.finish(EndReason::Stopped).unwrap();
    sink.drain(&mut r);
    (r, sink, next_audio as u64 / AAC as u64)
}

#[test]
fn a_dropped_fragment_cuts_the_file_and_the_next_keyframe_starts_a_new_one() {
    // 1 s fragments cut at keyframes: file 0's second fragment (frames 30..60, handed
    // out when frame 60 arrives) finds the queue full.
    let (r, sink, _) = record(6, 1, false);
    assert_eq!(sink.dropped, 1, "nothing more was offered for the cut file");
    let files: Vec<&FileOut> = sink.sink.files.values().collect();
    assert_eq!(files.len(), 2);
    assert!(files[0].cut && !files[1].cut);
    let s0 = files[0].summary.as_ref().unwrap();
    assert_eq!(s0.end, EndReason::DiskStall);
    assert!(s0.end.is_gap());
    assert_eq!(s0.wall_end, None);
    // The cut file holds its first fragment only: frames 0..30.
    assert_eq!(files[0].tracks[&1].1, 30);
    assert_eq!(files[0].writes_after_close, 0);
    // The next keyframe after the drop (frame 90) starts file 1, at decode time 0, and
    // it holds every frame from there on.
    assert_eq!(files[1].start_wall, Some(wall(3.0)));
    assert_eq!(files[1].tracks[&1].0, Some(0));
    assert_eq!(files[1].tracks[&1].1, 6 * 30 - 90);
    let s1 = files[1].summary.as_ref().unwrap();
    assert_eq!(s1.end, EndReason::Stopped);
    assert_eq!(s1.video.as_ref().unwrap().samples, 90);
    // Frames 61..90 went to no file.
    assert_eq!(r.written().cut_frames, 29);
}

#[test]
fn audio_stays_with_the_files_around_a_cut() {
    let (r, sink, audio_total) = record(6, 1, true);
    let files: Vec<&FileOut> = sink.sink.files.values().collect();
    // Audio in the cut file's queued fragment, in the new file, and cut between them.
    let in_files: u64 = files
        .iter()
        .map(|f| f.tracks.get(&2).map_or(0, |t| t.1))
        .sum();
    let r_written = r.written();
    assert_eq!(
        r_written.audio_frames + r_written.cut_frames - 29,
        audio_total
    );
    assert!(
        in_files < r_written.audio_frames,
        "the dropped fragment's audio is lost"
    );
    // The new file's audio starts at its zero (the keyframe at 3 s), within one frame.
    let a1 = files[1].summary.as_ref().unwrap().audio.as_ref().unwrap();
    assert!(a1.start_s.abs() < AAC as f64 / 48_000.0, "{}", a1.start_s);
}

#[test]
fn audio_only_resumes_at_the_next_frame() {
    let mut r = Router::new(None, Some(&audio_info()), config(None, None)).unwrap();
    let mut sink = StalledSink {
        sink: Sink::default(),
        file: FileId(0),
        drop_from: 0,
        writes: 0,
        dropped: 0,
    };
    let mut opened_after_drop = None;
    for k in 0..200 {
        r.push_audio(
            k * AAC,
            Bytes::from_static(b"aa"),
            wall(k as f64 * AAC as f64 / 48_000.0),
        )
        .unwrap();
        let before = sink.dropped;
        sink.drain(&mut r);
        if before == 0 && sink.dropped == 1 {
            opened_after_drop = Some(k + 1);
        }
    }
    r.finish(EndReason::Stopped).unwrap();
    sink.drain(&mut r);
    let files: Vec<&FileOut> = sink.sink.files.values().collect();
    assert_eq!(files.len(), 2);
    assert!(files[0].cut);
    assert_eq!(
        files[0].tracks.get(&1),
        None,
        "its only fragment was dropped"
    );
    // The frame after the drop opens file 1, which holds every frame from there on.
    let k = opened_after_drop.unwrap() as u64;
    assert_eq!(files[1].tracks[&1].1, 200 - k);
    assert_eq!(r.written().cut_frames, 0);
}

#[test]
fn dropping_for_an_unknown_or_closed_file_changes_nothing() {
    let (_, sink, _) = record(3, usize::MAX, true);
    let files: Vec<&FileOut> = sink.sink.files.values().collect();
    assert_eq!(files.len(), 1);
    let mut r = Router::new(
        Some(&video_info("avc1.64001F", 640, 0)),
        None,
        config(None, None),
    )
    .unwrap();
    r.fragment_dropped(FileId(7));
    assert!(r.poll_action().is_none());
}
