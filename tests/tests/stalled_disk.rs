//! A disk that stalls never blocks receiving: `recorder run` with two cameras, where the
//! writer of one camera's file stalls in `fsync` (the recorder's test hook
//! `RECORDER_TEST_STALL_SYNC`). The other camera keeps every frame; the stalled camera's
//! queue fills, the fragment that finds it full for 0.5 s is dropped, its file ends at its last
//! queued fragment and stays valid, and recording goes on in a new file at the next
//! keyframe.
//!
//! Needs ffmpeg (`apt-get install -y ffmpeg`) for the test clip.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use tests::fake_rtsp::{FakeRtspServer, Pacing, Script};
use tests::harness::{Invocation, RUN_TIMEOUT, Scratch, packets, recorder, run};

/// Frames per keyframe interval of the test clip (and so per 1 s fragment).
const GOP: i64 = 30;

fn server(frames: usize) -> FakeRtspServer {
    recorder();
    let script = Script::normal()
        .expect("ffmpeg makes the test clip (apt-get install -y ffmpeg)")
        .with_frames(frames)
        .with_pacing(Pacing::RealTime);
    FakeRtspServer::start(script.with_timeout(RUN_TIMEOUT + Duration::from_secs(5)))
        .expect("start fake server")
}

fn mp4_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    assert!(
        files
            .iter()
            .all(|p| p.extension().is_some_and(|e| e == "mp4")),
        "only finished files are left: {files:?}"
    );
    files
}

fn verify(file: &Path) {
    let out = Command::new(recorder())
        .arg("verify")
        .arg(file)
        .stdin(Stdio::null())
        .output()
        .expect("run recorder verify");
    assert!(
        out.status.success(),
        "{}: {}",
        file.display(),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn a_stalled_disk_cuts_one_file_and_blocks_no_camera() {
    let dir = Scratch::new("stall", "two-cameras");
    // At the media's rate, 1 s fragments: the queue (8 fragments) fills in 8 s of a
    // 12 s stall.
    let (a, b) = (server(600), server(600));
    let cfg = dir.0.join("cameras.toml");
    std::fs::write(
        &cfg,
        format!(
            "[defaults]\noutput = \"{}/rec/{{name}}/%H-%M-%S.mp4\"\n\
             \n[[camera]]\nname = \"front\"\nurl = \"{}\"\n\
             \n[[camera]]\nname = \"yard\"\nurl = \"{}\"\n",
            dir.0.display(),
            a.url(),
            b.url()
        ),
    )
    .unwrap();
    let r = run(
        "two-cameras",
        &dir.0,
        &Invocation {
            args: vec![
                "run",
                "--no-status",
                "--config",
                cfg.to_str().unwrap(),
                "--duration",
                "16s",
            ],
            env: vec![("RECORDER_TEST_STALL_SYNC", "/rec/yard/:12")],
            ..Invocation::default()
        },
    );
    r.assert_succeeded();
    assert!(
        r.stderr.contains("the disk stalls: 1 fragment(s) dropped"),
        "{}",
        r.stderr
    );
    assert!(
        r.stderr.contains("file cut after the disk stalled"),
        "{}",
        r.stderr
    );

    // The other camera: one file with every frame of the 16 s.
    let front = mp4_files(&dir.0.join("rec/front"));
    assert_eq!(front.len(), 1, "{front:?}");
    verify(&front[0]);
    let all = packets(&front[0], "v");
    assert_eq!(all, 16 * GOP);

    // The stalled camera: the cut file and the one after it, both valid. Lost: the
    // dropped fragment (one keyframe interval) and what came before the next keyframe.
    let yard = mp4_files(&dir.0.join("rec/yard"));
    assert_eq!(yard.len(), 2, "{yard:?}");
    let kept: Vec<i64> = yard
        .iter()
        .map(|f| {
            verify(f);
            packets(f, "v")
        })
        .collect();
    // The sync of the third fragment stalled, then the queue's 8 fragments were written.
    assert_eq!(kept[0], 11 * GOP, "{kept:?}");
    assert_eq!(kept[0] + kept[1], all - 2 * GOP, "{kept:?}");
}
