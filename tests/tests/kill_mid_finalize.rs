//! `kill -9` of the real `recorder` in the middle of a finalization: the debug build's
//! test-only pause point (`RECORDER_TEST_PAUSE_FINALIZE=after-step-N`, in
//! `recorder-cli/src/output/finalize_io.rs`) stops the finalization after its `N`-th step
//! and creates `NAME.partial.paused`; the test waits for that file, kills the recorder,
//! checks that the `.partial` is caught half way (the final `moov` written in the reserve,
//! the last fragment's `moof` already turned `free`, the others not), then `recorder
//! repair` must turn it into a file that `recorder verify` accepts, that decodes cleanly,
//! and that holds every sample of every fragment (all of them were complete).
//!
//! Needs ffmpeg and ffprobe (`apt-get install -y ffmpeg`).

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use bmff_boxes::read;
use tests::fake_rtsp::{End, FakeRtspServer, Script};
use tests::harness::{RUN_TIMEOUT, Scratch, assert_decodes, packets, recorder};

/// Samples per track id in the fragments of a fragmented file, counting the `moof`s a
/// finalization already turned into `free` (recognized by their `mfhd`); and how many
/// fragments are hidden that way.
fn fragment_samples(file: &[u8]) -> (Vec<(u32, usize)>, usize, usize) {
    let mut counts: Vec<(u32, usize)> = Vec::new();
    let (mut visible, mut hidden) = (0, 0);
    for b in read::boxes(file) {
        let b = b.expect("a complete top-level box");
        let former = &b.fourcc == b"free" && b.payload.starts_with(b"\0\0\0\x10mfhd");
        if &b.fourcc != b"moof" && !former {
            continue;
        }
        if former {
            hidden += 1;
        } else {
            visible += 1;
        }
        let start = usize::try_from(b.offset).expect("offset");
        let mut moof = file[start..start + b.payload.len() + 8].to_vec();
        moof[4..8].copy_from_slice(b"moof");
        let raw = read::boxes(&moof).next().expect("one box").expect("moof");
        for traf in read::parse_moof(&raw).expect("a valid moof").trafs {
            let n: usize = traf.truns.iter().map(|t| t.samples.len()).sum();
            match counts.iter_mut().find(|(id, _)| *id == traf.tfhd.track_id) {
                Some((_, c)) => *c += n,
                None => counts.push((traf.tfhd.track_id, n)),
            }
        }
    }
    (counts, visible, hidden)
}

fn wait_for(path: &Path, child: &mut std::process::Child, log: &Path) {
    let started = Instant::now();
    while !path.exists() {
        if let Some(status) = child.try_wait().expect("wait for recorder") {
            panic!("recorder ended ({status}) before pausing in its finalization");
        }
        if started.elapsed() > RUN_TIMEOUT {
            let _ = child.kill();
            panic!(
                "no {} within {RUN_TIMEOUT:?}; stderr:\n{}",
                path.display(),
                std::fs::read_to_string(log).unwrap_or_default()
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn kill_9_in_the_middle_of_a_finalization_is_repaired_with_every_fragment() {
    // Built before the server starts, whose lifetime is bounded.
    recorder();
    let script = Script::normal()
        .expect("ffmpeg makes the clip")
        .with_end(End::Close)
        .with_timeout(RUN_TIMEOUT);
    let server = FakeRtspServer::start(script).expect("start fake server");
    let dir = Scratch::new("kill-mid-finalize", "h264");
    let out = dir.out();
    let partial = dir.0.join("out.mp4.partial");
    let paused = dir.0.join("out.mp4.partial.paused");
    // Steps: write the final moov, sync, then the type rewrites (last moof first): pause
    // after the first rewrite.
    let mut child = Command::new(recorder())
        .args(["-v", "-v", "record", &server.url(), "-o"])
        .arg(&out)
        .args(["--max-retries", "0", "--fragment-duration", "500ms"])
        .env_remove("RUST_LOG")
        .env("RECORDER_TEST_PAUSE_FINALIZE", "after-step-3")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(dir.0.join("stderr.txt")).expect("stderr file"))
        .spawn()
        .expect("start recorder");
    wait_for(&paused, &mut child, &dir.0.join("stderr.txt"));
    child.kill().expect("kill -9");
    child.wait().expect("reap");
    assert!(!out.exists(), "the kill came before the rename");

    let bytes = std::fs::read(&partial).expect("the .partial is left");
    let (counts, visible, hidden) = fragment_samples(&bytes);
    eprintln!("[kill-mid-finalize] {visible} moof(s) visible, {hidden} hidden, samples {counts:?}");
    assert_eq!(hidden, 1, "exactly the last moof was hidden");
    assert!(visible >= 2, "the other fragments are still visible");
    let video: usize = counts.iter().find(|(id, _)| *id == 1).map(|c| c.1).unwrap();
    assert_eq!(
        video,
        server.video_frames_sent(),
        "every frame sent is in a complete fragment"
    );

    let repair = Command::new(recorder())
        .arg("repair")
        .arg(&partial)
        .output()
        .expect("run recorder repair");
    assert!(
        repair.status.success(),
        "recorder repair failed: {}",
        String::from_utf8_lossy(&repair.stderr)
    );
    assert!(out.exists() && !partial.exists(), "repaired and renamed");
    let verify = Command::new(recorder())
        .arg("verify")
        .arg(&out)
        .output()
        .expect("run recorder verify");
    assert!(
        verify.status.success(),
        "recorder verify failed: {}{}",
        String::from_utf8_lossy(&verify.stdout),
        String::from_utf8_lossy(&verify.stderr)
    );
    assert_decodes(&out);
    assert_eq!(packets(&out, "v"), video as i64, "every fragment's samples");
}
