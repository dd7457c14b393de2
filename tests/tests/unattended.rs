//! `recorder record` left alone: a disk that fills up, an output directory that cannot be
//! written, file and directory modes, and JSON logs.
//!
//! The disk-full and read-only cases need a small file system of their own: each run goes
//! through `unshare --mount` (as root) or `unshare --user --map-root-user --mount`
//! (unprivileged user namespaces) with a shell that mounts a tmpfs in a private mount
//! namespace, runs the recorder in it and copies what it left to a normal directory; the
//! mount disappears with the namespace, even when the test fails. Without root nor user
//! namespaces these tests fail and say so.
//!
//! Needs ffmpeg and ffprobe (`apt-get install -y ffmpeg`) and util-linux's `unshare`.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use tests::fake_rtsp::{FakeRtspServer, Pacing, Script};
use tests::harness::{
    Invocation, RUN_TIMEOUT, Scratch, assert_decodes, decodable_h264_frames, recorder, run,
};
use tests::tmpfs::run_on_tmpfs;

/// Exit code of output errors (see `recorder --help`).
const OUTPUT: i32 = 7;

/// Extra arguments of every `record` run.
const ONE_SESSION: &[&str] = &["--max-retries", "0"];

fn script() -> Script {
    // Build the recorder before any server starts: a first build can take longer than a
    // server's timeout.
    tests::harness::recorder();
    Script::normal().expect("ffmpeg makes the test clip (apt-get install -y ffmpeg)")
}

fn server(script: Script) -> FakeRtspServer {
    FakeRtspServer::start(script.with_timeout(RUN_TIMEOUT + Duration::from_secs(5)))
        .expect("start fake server")
}

/// `recorder verify FILE` succeeds.
fn assert_verifies(file: &Path) {
    let out = Command::new(recorder())
        .arg("verify")
        .arg(file)
        .stdin(Stdio::null())
        .output()
        .expect("run recorder verify");
    assert!(
        out.status.success(),
        "recorder verify {}: {}{}",
        file.display(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn disk_full_keeps_a_valid_file_and_earlier_files() {
    let dir = Scratch::new("unattended", "disk-full");
    // An earlier recording, to be put on the small file system first.
    let earlier_server = server(script());
    let earlier = dir.0.join("earlier.mp4");
    let url = earlier_server.url();
    let mut args = vec![
        "record",
        &url,
        "-o",
        earlier.to_str().expect("utf-8"),
        "--duration",
        "2s",
    ];
    args.extend_from_slice(ONE_SESSION);
    run(
        "disk-full-earlier",
        &dir.0,
        &Invocation {
            args,
            ..Invocation::default()
        },
    )
    .assert_succeeded();
    let earlier_bytes = std::fs::read(&earlier).expect("earlier recording");

    // ~165 s of video sent as fast as the recorder reads it: far more than 3 MB.
    let big = server(script().with_frames(5000));
    let mnt = dir.0.join("mnt");
    let copy = dir.0.join("left");
    let out = mnt.join("cam.mp4");
    let url = big.url();
    let mut args = vec!["record", &url, "-o", out.to_str().expect("utf-8")];
    args.extend_from_slice(ONE_SESSION);
    let run = run_on_tmpfs(
        "disk-full",
        &dir,
        &mnt,
        "size=3m",
        Some(&earlier),
        &copy,
        &args,
    );
    for line in run.stderr.lines().filter(|l| !l.contains("DEBUG")) {
        eprintln!("[disk-full] {line}");
    }
    let line = run.assert_failed_with(OUTPUT, &["disk full"]);
    assert!(line.contains("cam.mp4"), "names the file: {line}");
    assert!(line.contains("kept "), "says what was kept: {line}");

    // The earlier file is intact.
    assert_eq!(
        std::fs::read(copy.join("earlier.mp4")).expect("earlier.mp4 left"),
        earlier_bytes,
        "the earlier recording changed"
    );
    // What the recorder kept: finalized, or a fragmented .partial that plays and that
    // `recorder repair` finishes once there is space.
    let finished = copy.join("cam.mp4");
    let partial = copy.join("cam.mp4.partial");
    let file = if finished.exists() {
        assert!(!partial.exists(), "both cam.mp4 and its .partial left");
        eprintln!("[disk-full] finalized in place");
        finished
    } else {
        assert!(partial.exists(), "neither cam.mp4 nor cam.mp4.partial left");
        eprintln!("[disk-full] left a .partial; repairing it");
        let frames = decodable_h264_frames(&partial);
        assert!(frames > 0);
        let status = Command::new(recorder())
            .arg("repair")
            .arg(&partial)
            .stdin(Stdio::null())
            .status()
            .expect("run recorder repair");
        assert!(status.success(), "recorder repair failed");
        finished
    };
    let frames = decodable_h264_frames(&file);
    assert_decodes(&file);
    assert_verifies(&file);
    let len = std::fs::metadata(&file).expect("kept file").len();
    eprintln!("[disk-full] kept {frames} frames, {len} bytes");
    assert!(frames >= 30, "{frames} frames kept");
    // The file filled most of the 3 MiB (less the earlier file and the moov reserve).
    assert!(len > 1 << 20, "{len} bytes kept");
    // The line's "kept N s" matches the file: frames at 30 fps.
    let kept_secs: f64 = line
        .split("kept ")
        .nth(1)
        .and_then(|s| s.split(' ').next())
        .and_then(|s| s.parse().ok())
        .expect("kept N s");
    assert!(
        (kept_secs - frames as f64 / 30.0).abs() <= 0.1,
        "kept {kept_secs} s but {frames} frames"
    );
    // Only the recording and the earlier file are left: no probe file, no torn rest.
    let mut names: Vec<String> = std::fs::read_dir(&copy)
        .expect("list")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert!(
        names == ["cam.mp4", "earlier.mp4"] || names == ["cam.mp4.partial", "earlier.mp4"],
        "{names:?}"
    );
}

#[test]
fn read_only_output_directory_fails_before_connecting() {
    let dir = Scratch::new("unattended", "read-only");
    let srv = server(script());
    let mnt = dir.0.join("mnt");
    let copy = dir.0.join("left");
    let out = mnt.join("cam/out.mp4");
    let url = srv.url();
    let mut args = vec!["record", &url, "-o", out.to_str().expect("utf-8")];
    args.extend_from_slice(ONE_SESSION);
    let run = run_on_tmpfs("read-only", &dir, &mnt, "ro,size=1m", None, &copy, &args);
    let line = run.assert_failed_with(OUTPUT, &["read-only file system"]);
    assert!(line.contains("/mnt/cam"), "names the directory: {line}");
    assert!(srv.requests().is_empty(), "connected: {:?}", srv.requests());
}

#[test]
fn unwritable_output_directory_fails_before_connecting() {
    // A path below a regular file: no directory can be made there, whoever runs the test.
    let dir = Scratch::new("unattended", "unwritable");
    std::fs::write(dir.0.join("file"), b"x").expect("file");
    let srv = server(script());
    let url = srv.url();
    let out = dir.0.join("file/sub/out.mp4");
    let run = run(
        "unwritable",
        &dir.0,
        &Invocation {
            args: vec!["record", &url, "-o", out.to_str().expect("utf-8")],
            ..Invocation::default()
        },
    );
    let line = run.assert_failed_with(OUTPUT, &["not a directory", "cannot create"]);
    assert!(line.contains("file/sub"), "names the directory: {line}");
    assert!(srv.requests().is_empty(), "connected: {:?}", srv.requests());
}

#[test]
fn new_files_are_0640_and_directories_0750() {
    let dir = Scratch::new("unattended", "modes");
    let srv = server(script());
    let url = srv.url();
    let out = dir.0.join("a/b/out.mp4");
    let mut args = vec![
        "record",
        &url,
        "-o",
        out.to_str().expect("utf-8"),
        "--duration",
        "1s",
    ];
    args.extend_from_slice(ONE_SESSION);
    let run = run(
        "modes",
        &dir.0,
        &Invocation {
            args,
            wrapper: vec!["sh", "-c", "umask 022 && exec \"$@\"", "sh"],
            ..Invocation::default()
        },
    );
    run.assert_succeeded();
    let mode = |p: &Path| std::fs::metadata(p).expect("stat").permissions().mode() & 0o777;
    assert_eq!(mode(&out), 0o640, "{:o}", mode(&out));
    assert_eq!(mode(&dir.0.join("a")), 0o750);
    assert_eq!(mode(&dir.0.join("a/b")), 0o750);
}

/// Every stderr line is one JSON object; log events carry `timestamp`, `level`, `target`
/// and `message`; the final error carries `exit_code`.
#[test]
fn json_logs_parse_line_by_line() {
    let dir = Scratch::new("unattended", "json");
    let srv = server(script());
    let url = srv.url();
    let out = dir.out();
    let mut args = vec![
        "--log-format",
        "json",
        "-v",
        "record",
        &url,
        "-o",
        out.to_str().expect("utf-8"),
        "--duration",
        "1s",
    ];
    args.extend_from_slice(ONE_SESSION);
    let ok = run(
        "json",
        &dir.0,
        &Invocation {
            args,
            ..Invocation::default()
        },
    );
    assert_eq!(ok.code(), Some(0), "{}", ok.stderr);
    let events = parse_json_lines(&ok.stderr);
    assert!(events.len() >= 3, "{}", ok.stderr);
    for e in &events {
        for key in ["timestamp", "level", "target", "message"] {
            assert!(e[key].is_string(), "no {key}: {e}");
        }
    }
    let summary = events
        .iter()
        .find(|e| {
            e["message"]
                .as_str()
                .is_some_and(|m| m.starts_with("recorded "))
        })
        .expect("the summary event");
    assert_eq!(summary["level"], "INFO");
    assert!(
        events.iter().any(|e| e["level"] == "DEBUG"),
        "-v gives debug"
    );

    // A failure: the error is a JSON object too.
    let port = {
        let l = std::net::TcpListener::bind(("127.0.0.1", 0)).expect("bind");
        l.local_addr().expect("addr").port()
    };
    let refused = format!("rtsp://127.0.0.1:{port}/x");
    let failed = run(
        "json-refused",
        &dir.0,
        &Invocation {
            args: vec![
                "--log-format",
                "json",
                "record",
                &refused,
                "-o",
                out.to_str().expect("utf-8"),
            ]
            .into_iter()
            .chain(ONE_SESSION.iter().copied())
            .collect(),
            ..Invocation::default()
        },
    );
    assert_eq!(failed.code(), Some(3), "{}", failed.stderr);
    let events = parse_json_lines(&failed.stderr);
    let last = events.last().expect("an error event");
    assert_eq!(last["level"], "ERROR");
    assert_eq!(last["exit_code"], 3);
    assert!(
        last["message"]
            .as_str()
            .is_some_and(|m| m.starts_with("error: ") && m.contains("Connection refused")),
        "{last}"
    );
}

fn parse_json_lines(text: &str) -> Vec<serde_json::Value> {
    text.lines()
        .map(|l| {
            let v: serde_json::Value =
                serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}"));
            assert!(v.is_object(), "not an object: {l}");
            v
        })
        .collect()
}

#[test]
fn run_keeps_other_cameras_going_when_one_disk_is_full() {
    // Two cameras in one `recorder run`: "full" records a fast stream onto a 32 KiB file
    // system (4 s of this clip take 45 KB), "ok" a real-time stream onto the normal disk. "full" fills its disk, keeps a
    // valid file and retries later; "ok" records its 4 s undisturbed.
    let dir = Scratch::new("unattended", "run-disk-full");
    let fast = server(script().with_frames(5000));
    let steady = server(script().with_pacing(Pacing::RealTime).with_frames(300));
    let mnt = dir.0.join("mnt");
    let copy = dir.0.join("left");
    let ok_dir = dir.0.join("ok");
    let config = dir.0.join("cameras.toml");
    std::fs::write(
        &config,
        format!(
            "[[camera]]\nname = \"full\"\nurl = \"{}\"\noutput = \"{}/{{name}}.mp4\"\n\n\
             [[camera]]\nname = \"ok\"\nurl = \"{}\"\noutput = \"{}/{{name}}.mp4\"\n",
            fast.url(),
            mnt.display(),
            steady.url(),
            ok_dir.display()
        ),
    )
    .expect("write config");
    let args = [
        "run",
        "--config",
        config.to_str().expect("utf-8"),
        "--duration",
        "4s",
    ];
    let run = run_on_tmpfs("run-disk-full", &dir, &mnt, "size=32k", None, &copy, &args);
    for line in run.stderr.lines().filter(|l| !l.contains("DEBUG")) {
        eprintln!("[run-disk-full] {line}");
    }
    assert!(
        run.stderr.contains("disk full"),
        "reports the full disk: {}",
        run.stderr
    );
    assert!(
        run.stderr
            .lines()
            .any(|l| l.contains("full") && l.contains("reconnecting in")),
        "the full camera retries: {}",
        run.stderr
    );
    assert!(!run.stderr.contains("panicked"), "{}", run.stderr);
    // The camera on the normal disk recorded its 4 s.
    let ok_file = ok_dir.join("ok.mp4");
    let frames = decodable_h264_frames(&ok_file);
    assert_verifies(&ok_file);
    assert!((115..=125).contains(&frames), "ok camera: {frames} frames");
    // The full camera's first file is valid.
    let full_file = copy.join("full.mp4");
    assert_verifies(&full_file);
    let full_frames = decodable_h264_frames(&full_file);
    assert!(full_frames >= 30);
    // Its summary counts that file, though later sessions wrote nothing.
    let summary = run
        .stderr
        .lines()
        .find(|l| l.contains("camera{name=full}") && l.contains(" recorded "))
        .unwrap_or_else(|| panic!("no summary for the full camera: {}", run.stderr));
    assert!(
        summary.contains(&format!("recorded {full_frames} video frames"))
            && summary.contains("in 1 file(s)"),
        "summary {summary:?} vs {full_frames} frames in full.mp4"
    );
    assert!(
        !run.stderr.contains("no media was received"),
        "{}",
        run.stderr
    );
    eprintln!(
        "[run-disk-full] exit {:?}; ok camera {frames} frames",
        run.code()
    );
}
