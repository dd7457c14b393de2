//! `recorder run`'s catalog and retention, end to end against the scripted RTSP server:
//! the catalog agrees with the files (a rebuild gives the same spans and files; a file
//! whose row was lost, as a `kill -9` between its rename and its row would leave it, is
//! found again; a file deleted by hand is dropped), and retention by size and by age.
//!
//! Needs ffmpeg (`apt-get install -y ffmpeg`) for the test clip.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use serde_json::Value;
use tests::fake_rtsp::{FakeRtspServer, Pacing, Script};
use tests::harness::{Invocation, RUN_TIMEOUT, Run, Scratch, recorder, run};

fn server(frames: usize, pacing: Pacing) -> FakeRtspServer {
    recorder();
    let script = Script::normal()
        .expect("ffmpeg makes the test clip (apt-get install -y ffmpeg)")
        .with_frames(frames)
        .with_pacing(pacing);
    FakeRtspServer::start(script.with_timeout(RUN_TIMEOUT + Duration::from_secs(5)))
        .expect("start fake server")
}

/// Writes a config of one camera per `(name, url, extra keys)` recording into
/// `dir/rec/{name}/`, in `segment` files.
fn config(dir: &Path, segment: &str, cameras: &[(&str, String, &str)]) -> PathBuf {
    let mut text = format!(
        "[defaults]\nsegment_duration = \"{segment}\"\noutput = \"{}/rec/{{name}}/%H-%M-%S.mp4\"\n",
        dir.display()
    );
    for (name, url, extra) in cameras {
        text.push_str(&format!(
            "\n[[camera]]\nname = \"{name}\"\nurl = \"{url}\"\n{extra}\n"
        ));
    }
    let path = dir.join("cameras.toml");
    std::fs::write(&path, text).expect("write config");
    path
}

fn recorder_run(name: &str, dir: &Scratch, config: &Path, duration: &str) -> Run {
    let c = config.to_str().expect("utf-8");
    let r = run(
        name,
        &dir.0,
        &Invocation {
            args: vec!["run", "--no-status", "--config", c, "--duration", duration],
            ..Invocation::default()
        },
    );
    r.assert_succeeded();
    r
}

/// `recorder ARGS`: (exit code, stdout, stderr).
fn recorder_cmd(args: &[&str]) -> (Option<i32>, String, String) {
    let out = Command::new(recorder())
        .args(args)
        .env_remove("RUST_LOG")
        .stdin(Stdio::null())
        .output()
        .expect("run recorder");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn list_json(config: &Path) -> Value {
    let (code, out, err) = recorder_cmd(&[
        "list",
        "--json",
        "--files",
        "--config",
        config.to_str().unwrap(),
    ]);
    assert_eq!(code, Some(0), "{err}");
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("list --json: {e}: {out}"))
}

/// The files of a camera in a listing: (path, size, video samples, audio samples, start
/// and end in ms since the epoch).
fn files(listing: &Value, camera: &str) -> Vec<(String, u64, u64, u64, i64, i64)> {
    let ms = |t: &Value| -> i64 {
        let t: catalog::WallTime = t.as_str().unwrap().parse().unwrap();
        t.as_nanos() / 1_000_000
    };
    listing["cameras"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == camera)
        .unwrap_or_else(|| panic!("no camera {camera} in {listing}"))["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["path"].as_str().unwrap().to_owned(),
                f["size_bytes"].as_u64().unwrap(),
                f["video"]["samples"].as_u64().unwrap_or(0),
                f["audio"]["samples"].as_u64().unwrap_or(0),
                ms(&f["start"]),
                ms(&f["end"]),
            )
        })
        .collect()
}

fn spans(listing: &Value, camera: &str) -> usize {
    listing["cameras"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == camera)
        .unwrap()["spans"]
        .as_array()
        .unwrap()
        .len()
}

/// Files equal but for the times' last millisecond (the recorder rounds a file's length
/// to the millisecond of its `mvhd` when it reads it back).
fn assert_same_files(
    a: &[(String, u64, u64, u64, i64, i64)],
    b: &[(String, u64, u64, u64, i64, i64)],
) {
    assert_eq!(a.len(), b.len(), "{a:?}\n{b:?}");
    for (x, y) in a.iter().zip(b) {
        assert_eq!((&x.0, x.1, x.2, x.3), (&y.0, y.1, y.2, y.3));
        assert!(
            (x.4 - y.4).abs() <= 1 && (x.5 - y.5).abs() <= 1,
            "{x:?} vs {y:?}"
        );
    }
}

#[test]
fn the_catalog_agrees_with_the_files() {
    let dir = Scratch::new("catalog", "agrees");
    let (a, b) = (server(400, Pacing::RealTime), server(400, Pacing::RealTime));
    let cfg = config(
        &dir.0,
        "2s",
        &[("front", a.url(), ""), ("yard", b.url(), "")],
    );
    recorder_run("agrees", &dir, &cfg, "7s");
    let live = list_json(&cfg);
    for camera in ["front", "yard"] {
        let f = files(&live, camera);
        let on_disk: Vec<PathBuf> = std::fs::read_dir(dir.0.join("rec").join(camera))
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|e| e == "mp4"))
            .collect();
        assert_eq!(f.len(), on_disk.len(), "{camera}: a row per file");
        assert!(f.len() >= 3, "{camera}: 2 s segments of 7 s: {f:?}");
        // One session: the files follow each other without a gap, in one span.
        assert_eq!(spans(&live, camera), 1, "{live}");
        for w in f.windows(2) {
            assert_eq!(
                w[0].5, w[1].4,
                "{camera}: each file ends where the next starts"
            );
        }
        let video: u64 = f.iter().map(|x| x.2).sum();
        assert!(
            (205..=215).contains(&video),
            "{camera}: {video} frames in 7 s"
        );
    }
    // A rebuild from the files alone gives the same spans and files.
    let c = cfg.to_str().unwrap();
    let (code, out, err) = recorder_cmd(&["index", "--rebuild", "--config", c]);
    assert_eq!(code, Some(0), "{err}");
    assert!(out.contains("added from disk"), "{out}");
    let rebuilt = list_json(&cfg);
    for camera in ["front", "yard"] {
        assert_same_files(&files(&live, camera), &files(&rebuilt, camera));
        assert_eq!(spans(&rebuilt, camera), 1);
    }
    // A row lost after its file was renamed into place (a kill -9 in between, done for
    // real in kill_before_row.rs): the next
    // start (or `recorder index`) adds it again.
    let front = files(&live, "front");
    let lost = PathBuf::from(&front[1].0);
    let db = dir.0.join("rec").join("recorder-catalog.sqlite3");
    assert!(catalog::Catalog::open(&db).unwrap().remove(&lost).unwrap());
    // And a file deleted by hand is dropped.
    let deleted = PathBuf::from(&front[0].0);
    std::fs::remove_file(&deleted).unwrap();
    let (code, out, err) = recorder_cmd(&["index", "--config", c]);
    assert_eq!(code, Some(0), "{err}");
    assert!(out.contains("1 added from disk, 1 dropped"), "{out}");
    let after = files(&list_json(&cfg), "front");
    assert_same_files(&after, &front[1..]);
}

#[test]
fn retention_by_size_keeps_the_newest_files_within_the_budget() {
    let dir = Scratch::new("catalog", "retain-size");
    // Real time: a burst would give the files wall-clock times out of order (the mapping
    // follows the local clock when media arrives far faster than real time).
    let live = server(400, Pacing::RealTime);
    let cfg = config(
        &dir.0,
        "1s",
        &[("cam", live.url(), "retain_size = \"30KB\"")],
    );
    let r = recorder_run("retain-size", &dir, &cfg, "10s");
    let finished: Vec<String> = r
        .stderr
        .lines()
        .filter_map(|l| l.split("file finalized: ").nth(1))
        .map(|l| l.split(':').next().unwrap().to_owned())
        .collect();
    assert!(finished.len() >= 8, "{}", r.stderr);
    let kept = files(&list_json(&cfg), "cam");
    let total: u64 = kept.iter().map(|f| f.1).sum();
    assert!(total <= 30_000, "{total} bytes kept: {kept:?}");
    assert!(kept.len() >= 2 && kept.len() < finished.len(), "{kept:?}");
    // The kept files are the newest ones, all still on disk; the others are gone.
    let kept_paths: Vec<&str> = kept.iter().map(|f| f.0.as_str()).collect();
    assert_eq!(
        kept_paths,
        finished[finished.len() - kept.len()..]
            .iter()
            .map(String::as_str)
            .collect::<Vec<_>>()
    );
    for p in &finished {
        assert_eq!(
            Path::new(p).exists(),
            kept_paths.contains(&p.as_str()),
            "{p}"
        );
    }
    assert!(r.stderr.contains("retention: deleted"), "{}", r.stderr);
    assert!(r.stderr.contains("over retain_size"), "{}", r.stderr);
}

#[test]
fn retention_by_age_deletes_files_that_ended_before_the_limit() {
    let dir = Scratch::new("catalog", "retain-for");
    let live = server(300, Pacing::RealTime);
    let cfg = config(&dir.0, "1s", &[("cam", live.url(), "retain_for = \"2s\"")]);
    let r = recorder_run("retain-for", &dir, &cfg, "7s");
    let kept = files(&list_json(&cfg), "cam");
    assert!(r.stderr.contains("older than retain_for"), "{}", r.stderr);
    // What is left ended at most 2 s (and a little scheduling) before the last file.
    let last_end = kept
        .iter()
        .map(|f| f.5)
        .max()
        .expect("the newest files stay");
    for f in &kept {
        assert!(
            last_end - f.5 <= 3_000,
            "{f:?} ended long before {last_end}"
        );
        assert!(Path::new(&f.0).exists());
    }
    assert!(kept.len() <= 4, "{kept:?}");
}

#[test]
fn min_free_deletes_the_oldest_files_and_recording_goes_on() {
    use tests::tmpfs::run_on_tmpfs;
    let dir = Scratch::new("catalog", "min-free");
    let live = server(400, Pacing::RealTime);
    let mnt = dir.0.join("mnt");
    let copy = dir.0.join("left");
    // A 200 KiB file system that must keep 150 KB free; 1 s files of about 11 KB; the
    // catalog on the normal disk.
    let cfg = dir.0.join("cameras.toml");
    std::fs::write(
        &cfg,
        format!(
            "catalog = \"{}/catalog.sqlite3\"\n[storage]\nmin_free = \"150KB\"\n\n\
             [[camera]]\nname = \"cam\"\nurl = \"{}\"\noutput = \"{}/%H-%M-%S.mp4\"\n\
             segment_duration = \"1s\"\n",
            dir.0.display(),
            live.url(),
            mnt.display()
        ),
    )
    .expect("write config");
    let c = cfg.to_str().unwrap();
    let args = ["run", "--no-status", "--config", c, "--duration", "12s"];
    let r = run_on_tmpfs("min-free", &dir, &mnt, "size=200k", None, &copy, &args);
    r.assert_succeeded();
    assert!(!r.stderr.contains("disk full"), "{}", r.stderr);
    let deleted: Vec<&str> = r
        .stderr
        .lines()
        .filter(|l| l.contains("low free space"))
        .filter_map(|l| l.split("retention: deleted ").nth(1))
        .map(|l| l.split(' ').next().unwrap())
        .collect();
    let finished: Vec<&str> = r
        .stderr
        .lines()
        .filter_map(|l| l.split("file finalized: ").nth(1))
        .map(|l| l.split(':').next().unwrap())
        .collect();
    assert!(finished.len() >= 10, "{}", r.stderr);
    assert!(!deleted.is_empty(), "{}", r.stderr);
    // The oldest went first: the deleted files are the first ones finished.
    assert_eq!(deleted, finished[..deleted.len()].to_vec());
    // What is left: the newest files, each valid, within the space the limit leaves (and
    // at most one file more, written before the next pass).
    let left: Vec<PathBuf> = std::fs::read_dir(&copy)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "mp4"))
        .collect();
    assert_eq!(left.len(), finished.len() - deleted.len());
    let biggest = left
        .iter()
        .map(|p| p.metadata().unwrap().len())
        .max()
        .unwrap();
    let total: u64 = left.iter().map(|p| p.metadata().unwrap().len()).sum();
    assert!(
        total <= 200 * 1024 - 150_000 + biggest,
        "{total} bytes left"
    );
    for p in &left {
        let out = Command::new(recorder())
            .arg("verify")
            .arg(p)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}: {}",
            p.display(),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

#[test]
fn a_catalog_that_cannot_be_created_is_a_usage_error() {
    let dir = Scratch::new("catalog", "bad-catalog");
    let cfg = dir.0.join("cameras.toml");
    // The catalog's directory would have to be inside a file.
    std::fs::write(dir.0.join("plain"), b"not a directory").unwrap();
    std::fs::write(
        &cfg,
        format!(
            "catalog = \"{}/plain/catalog.sqlite3\"\n\n[[camera]]\nname = \"cam\"\n\
             url = \"rtsp://192.0.2.1/live\"\noutput = \"{}/rec/%H.mp4\"\n",
            dir.0.display(),
            dir.0.display()
        ),
    )
    .unwrap();
    let (code, out, err) = recorder_cmd(&["run", "--config", cfg.to_str().unwrap()]);
    assert_eq!(code, Some(2), "{out}{err}");
    let lines: Vec<&str> = err.lines().filter(|l| l.starts_with("error:")).collect();
    assert_eq!(lines.len(), 1, "{err}");
    assert!(lines[0].contains("key \"catalog\": cannot use"), "{err}");
    assert!(!dir.0.join("rec").exists(), "nothing recorded");
}
