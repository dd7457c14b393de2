//! `kill -9` of `recorder run` between a file's rename to its final name and its catalog
//! row: the debug build's test-only pause point (`RECORDER_TEST_PAUSE_CATALOG=1`, in
//! `recorder-cli/src/output/finalize_io.rs`) stops the first finished file right after
//! its rename, before its `Finished` event reaches the catalog keeper, and creates
//! `NAME.paused`; the test waits for that marker, kills the recorder, checks that the file
//! is complete but has no row, then starts `recorder run` again on the same configuration:
//! its reconciliation adds the row with the file's real size and frame count, and leaves
//! the file as it was.
//!
//! Needs ffmpeg and ffprobe (`apt-get install -y ffmpeg`).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use tests::fake_rtsp::{FakeRtspServer, Pacing, Script};
use tests::harness::{Invocation, RUN_TIMEOUT, Scratch, packets, recorder, run};

/// The camera's catalog row for `file`, read from a read-only connection.
fn row(db: &Path, file: &Path) -> Option<catalog::FileRecord> {
    let catalog = catalog::OpenOptions::new()
        .read_only(true)
        .open(db)
        .expect("open the catalog read-only");
    catalog
        .files(Some("cam"), None, None)
        .expect("read the camera's rows")
        .into_iter()
        .find(|r| r.path == file)
}

/// Waits for a `*.paused` marker in `dir`; returns the paused file (the marker's name
/// without `.paused`).
fn wait_for_marker(dir: &Path, child: &mut std::process::Child, log: &Path) -> PathBuf {
    let started = Instant::now();
    loop {
        let marker = std::fs::read_dir(dir).ok().and_then(|d| {
            d.map(|e| e.expect("dir entry").path())
                .find(|p| p.extension().is_some_and(|e| e == "paused"))
        });
        if let Some(marker) = marker {
            return marker.with_extension("");
        }
        if let Some(status) = child.try_wait().expect("wait for recorder") {
            panic!("recorder ended ({status}) before pausing");
        }
        if started.elapsed() > RUN_TIMEOUT {
            let _ = child.kill();
            panic!(
                "no .paused marker within {RUN_TIMEOUT:?}; stderr:\n{}",
                std::fs::read_to_string(log).unwrap_or_default()
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn kill_9_between_a_rename_and_its_row_is_caught_up_at_the_next_start() {
    recorder();
    let script = Script::normal()
        .expect("ffmpeg makes the test clip (apt-get install -y ffmpeg)")
        .with_frames(400)
        .with_pacing(Pacing::RealTime)
        .with_timeout(RUN_TIMEOUT + Duration::from_secs(10));
    let server = FakeRtspServer::start(script).expect("start fake server");
    let dir = Scratch::new("kill-before-row", "cam");
    let cam_dir = dir.0.join("rec").join("cam");
    let cfg = dir.0.join("cameras.toml");
    std::fs::write(
        &cfg,
        format!(
            "catalog = \"{}/catalog.sqlite3\"\n\n[[camera]]\nname = \"cam\"\nurl = \"{}\"\noutput = \"{}/%H-%M-%S.mp4\"\n\
             segment_duration = \"1s\"\n",
            dir.0.display(),
            server.url(),
            cam_dir.display()
        ),
    )
    .expect("write config");
    let db = dir.0.join("catalog.sqlite3");
    let log = dir.0.join("stderr.txt");
    let mut child = Command::new(recorder())
        .args(["run", "--no-status", "--config"])
        .arg(&cfg)
        .env_remove("RUST_LOG")
        .env("RECORDER_TEST_PAUSE_CATALOG", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).expect("stderr file"))
        .spawn()
        .expect("start recorder run");
    let file = wait_for_marker(&cam_dir, &mut child, &log);
    child.kill().expect("kill -9");
    child.wait().expect("reap");
    let stderr = std::fs::read_to_string(&log).unwrap_or_default();
    // The file is in place and complete; its catalog row was never written.
    let bytes = std::fs::read(&file).expect("the renamed file");
    let mtime = file.metadata().unwrap().modified().unwrap();
    assert!(db.exists(), "the catalog was created at start: {stderr}");
    assert!(
        row(&db, &file).is_none(),
        "{} has a row before the restart",
        file.display()
    );
    let logged: u64 = stderr
        .lines()
        .find_map(|l| {
            l.split(&format!("file finalized: {}: ", file.display()))
                .nth(1)
        })
        .and_then(|l| l.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no finalize line for {}: {stderr}", file.display()));
    let frames = packets(&file, "v");
    assert_eq!(frames, logged as i64, "ffprobe's frames vs the recorder's");
    std::fs::remove_file(file.with_extension("mp4.paused")).expect("remove the marker");

    // The next start reconciles the catalog with the disk and adds the row.
    let c = cfg.to_str().expect("utf-8");
    let r = run(
        "kill-before-row-restart",
        &dir.0,
        &Invocation {
            args: vec!["run", "--no-status", "--config", c, "--duration", "1s"],
            ..Invocation::default()
        },
    );
    r.assert_succeeded();
    let added = row(&db, &file).unwrap_or_else(|| panic!("no row after the restart: {}", r.stderr));
    eprintln!(
        "[kill-before-row] {}: {} bytes, {frames} frames; row {} bytes, {:?} video samples",
        file.display(),
        bytes.len(),
        added.size_bytes,
        added.video.as_ref().map(|v| v.samples)
    );
    assert_eq!(added.size_bytes, bytes.len() as u64, "row size vs the file");
    assert_eq!(
        added.video.as_ref().map(|v| v.samples),
        Some(frames as u64),
        "row frames vs the file"
    );
    assert!(added.end > added.start, "{added:?}");
    assert_eq!(
        std::fs::read(&file).expect("the file"),
        bytes,
        "file untouched"
    );
    assert_eq!(file.metadata().unwrap().modified().unwrap(), mtime);
}
