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
use tests::tmpfs::{run_on_tmpfs, run_on_tmpfs_freeing};

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

    // ~11 min of video sent as fast as the recorder reads it: far more than 3 MB.
    let big = server(script().with_frames(20000));
    let mnt = dir.0.join("mnt");
    let copy = dir.0.join("left");
    let out = mnt.join("cam.mp4");
    let url = big.url();
    // 600 s of media: far more than fits; the space never comes back.
    let mut args = vec![
        "record",
        &url,
        "-o",
        out.to_str().expect("utf-8"),
        "--duration",
        "600s",
    ];
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
    let line = run.assert_failed_with(OUTPUT, &["disk full", "dropped while the disk was full"]);
    assert!(line.contains("cam.mp4"), "names the file: {line}");
    // One session: the disk is no reason to reconnect.
    assert_eq!(plays(&big), 1, "{}", run.stderr);
    assert!(!run.stderr.contains("reconnecting"), "{}", run.stderr);
    assert!(line.contains("kept "), "says what was kept: {line}");

    // The earlier file is intact.
    assert_eq!(
        std::fs::read(copy.join("earlier.mp4")).expect("earlier.mp4 left"),
        earlier_bytes,
        "the earlier recording changed"
    );
    // What the recorder kept: the file cut back to its last complete fragment and
    // finalized in place (its moov fits the room reserved at its start, so finalizing
    // needs no new space), no `.partial` left.
    let file = copy.join("cam.mp4");
    assert!(file.exists(), "cam.mp4 was not finalized");
    assert!(
        !copy.join("cam.mp4.partial").exists(),
        "a .partial was left"
    );
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
        .filter(|n| n != "ended_at")
        .collect();
    names.sort();
    assert_eq!(names, ["cam.mp4", "earlier.mp4"]);
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
    // Every line has a timestamp, the error line too, in the log lines' format.
    let stamp = |e: &serde_json::Value| e["timestamp"].as_str().map(str::len);
    assert!(stamp(last).is_some(), "no timestamp: {last}");
    assert_eq!(stamp(last), stamp(&events[0]), "{last} vs {}", events[0]);
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
    // system (4 s of this clip take 45 KB), "ok" a real-time stream onto the normal disk.
    // "full" fills its disk, keeps a valid file and waits for space in the same session;
    // "ok" records its 4 s undisturbed.
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
    assert!(!run.stderr.contains("reconnecting"), "{}", run.stderr);
    assert_eq!(plays(&fast), 1, "one session of the full camera");
    // Exit 7 with one line naming the failed camera and its cause.
    let line = run.assert_failed_with(OUTPUT, &["disk full"]);
    assert!(
        line.contains("1 of 2 camera(s) failed") && line.contains("camera \"full\""),
        "{line}"
    );
    // The camera on the normal disk recorded its 4 s exactly (30 fps from its first
    // keyframe).
    let ok_file = ok_dir.join("ok.mp4");
    let frames = decodable_h264_frames(&ok_file);
    assert_verifies(&ok_file);
    assert_eq!(frames, 120, "ok camera");
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
}

/// How many sessions (`PLAY` requests) `server` saw.
fn plays(server: &FakeRtspServer) -> usize {
    server.requests().iter().filter(|r| *r == "PLAY").count()
}

/// A file of `len` bytes that takes room on the small file system until it is deleted.
fn filler(dir: &Scratch, len: usize) -> std::path::PathBuf {
    let path = dir.0.join("filler");
    std::fs::write(&path, vec![0x5Au8; len]).expect("write filler");
    path
}

/// An instant the namespace script wrote with `date +%s.%N`.
fn instant(path: &Path) -> f64 {
    let text = std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("{}: {e} (was the filler deleted?)", path.display()));
    text.trim().parse().expect("date +%s.%N")
}

/// The flags of the first video packet (`K__` for a keyframe), by ffprobe.
fn first_video_packet_flags(file: &Path) -> String {
    let out = Command::new("ffprobe")
        .args(["-v", "error", "-select_streams", "v:0", "-show_entries"])
        .args(["packet=flags", "-of", "csv=p=0"])
        .arg(file)
        .stdin(Stdio::null())
        .output()
        .expect("run ffprobe");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .next()
        .unwrap_or_default()
        .to_owned()
}

/// Checks a camera's two files after the disk filled and space came back: the first was
/// cut at the full disk; the second starts at a keyframe, decodes cleanly and covers the
/// time from the space's return to the end, less at most one GOP (1 s) and one poll
/// interval (2 s), and half a second for finishing the run.
fn assert_resumed(name: &str, first: &Path, second: &Path, freed_at: f64, ended_at: f64) {
    for f in [first, second] {
        assert_decodes(f);
        assert_verifies(f);
    }
    let before = decodable_h264_frames(first);
    let after = decodable_h264_frames(second);
    assert!(
        before >= 15,
        "[{name}] {before} frames before the disk filled"
    );
    assert!(
        first_video_packet_flags(second).starts_with('K'),
        "[{name}] the second file does not start at a keyframe"
    );
    let since_space = ended_at - freed_at;
    let covered = after as f64 / 30.0;
    eprintln!(
        "[{name}] {before} frames, then {after} frames ({covered:.2} s) after space came back \
         {since_space:.2} s before the end"
    );
    assert!(
        covered >= since_space - 1.0 - 2.0 - 0.5,
        "[{name}] {covered:.2} s recorded, space was back {since_space:.2} s before the end"
    );
    assert!(
        covered <= since_space + 0.1,
        "[{name}] {covered:.2} s > {since_space:.2} s"
    );
}

#[test]
fn record_waits_for_space_in_the_same_session_and_resumes_in_a_new_file() {
    // A real-time camera onto a 320 KiB file system that a 288 KiB file fills but for
    // 32 KiB: the recording fills it within a few seconds; the file is deleted once the
    // recorder drops frames; the recording resumes in a new file, in the same session.
    let dir = Scratch::new("unattended", "disk-full-resume");
    let camera = server(script().with_pacing(Pacing::RealTime).with_frames(16 * 30));
    let mnt = dir.0.join("mnt");
    let copy = dir.0.join("left");
    let pre = filler(&dir, 288 << 10);
    let out = mnt.join("cam.mp4");
    let url = camera.url();
    let mut args = vec![
        "record",
        &url,
        "-o",
        out.to_str().expect("utf-8"),
        "--duration",
        "12s",
    ];
    args.extend_from_slice(ONE_SESSION);
    let run = run_on_tmpfs_freeing(
        "disk-full-resume",
        &dir,
        &mnt,
        "size=320k",
        Some(&pre),
        &copy,
        &args,
        1,
    );
    for line in run.stderr.lines().filter(|l| !l.contains("DEBUG")) {
        eprintln!("[disk-full-resume] {line}");
    }
    // Frames were lost: exit code 7, and the line says how many.
    let line = run.assert_failed_with(OUTPUT, &["dropped while the disk was full"]);
    assert!(line.contains("2 file(s) written"), "{line}");
    assert_eq!(plays(&camera), 1, "one session");
    assert!(!run.stderr.contains("reconnecting"), "{}", run.stderr);
    assert!(run.stderr.contains("space is back"), "{}", run.stderr);
    let freed_at = instant(&copy.join("freed_at"));
    let ended_at = instant(&copy.join("ended_at"));
    assert_resumed(
        "disk-full-resume",
        &copy.join("cam.mp4"),
        &copy.join("cam-1.mp4"),
        freed_at,
        ended_at,
    );
    // Nothing else was left: no empty or header-only file, no .partial.
    let mut names: Vec<String> = std::fs::read_dir(&copy)
        .expect("list")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .filter(|n| !n.ends_with("_at"))
        .collect();
    names.sort();
    assert_eq!(names, ["cam-1.mp4", "cam.mp4"]);
}

#[test]
fn run_waits_for_space_only_for_the_cameras_on_the_full_disk() {
    // Three real-time cameras in one `recorder run`: "a" and "b" onto a small file
    // system that fills, "c" onto the normal disk. "a" and "b" each keep their one
    // session and resume in a new file once space is back; "c" is not affected.
    let dir = Scratch::new("unattended", "run-disk-full-resume");
    let servers: Vec<FakeRtspServer> = (0..3)
        .map(|_| server(script().with_pacing(Pacing::RealTime).with_frames(16 * 30)))
        .collect();
    let mnt = dir.0.join("mnt");
    let copy = dir.0.join("left");
    let normal = dir.0.join("normal");
    // 64 KiB left: a few seconds of each camera.
    let pre = filler(&dir, 256 << 10);
    let config = dir.0.join("cameras.toml");
    let dirs = [&mnt, &mnt, &normal];
    let mut text = String::new();
    for (i, name) in ["a", "b", "c"].iter().enumerate() {
        text.push_str(&format!(
            "[[camera]]\nname = \"{name}\"\nurl = \"{}\"\noutput = \"{}/{{name}}.mp4\"\n\n",
            servers[i].url(),
            dirs[i].display()
        ));
    }
    std::fs::write(&config, text).expect("write config");
    let args = [
        "run",
        "--no-status",
        "--config",
        config.to_str().expect("utf-8"),
        "--duration",
        "12s",
    ];
    let run = run_on_tmpfs_freeing(
        "run-disk-full-resume",
        &dir,
        &mnt,
        "size=320k",
        Some(&pre),
        &copy,
        &args,
        2,
    );
    for line in run.stderr.lines().filter(|l| !l.contains("DEBUG")) {
        eprintln!("[run-disk-full-resume] {line}");
    }
    assert_eq!(run.code(), Some(OUTPUT), "{}", run.stderr);
    assert!(!run.stderr.contains("reconnecting"), "{}", run.stderr);
    for (i, s) in servers.iter().enumerate() {
        assert_eq!(plays(s), 1, "camera {i}: one session");
    }
    let freed_at = instant(&copy.join("freed_at"));
    let ended_at = instant(&copy.join("ended_at"));
    for name in ["a", "b"] {
        assert_resumed(
            &format!("run-disk-full-resume {name}"),
            &copy.join(format!("{name}.mp4")),
            &copy.join(format!("{name}-1.mp4")),
            freed_at,
            ended_at,
        );
    }
    // "c" recorded its 12 s in one file, and no line of its log mentions the disk.
    let c = normal.join("c.mp4");
    assert_verifies(&c);
    let frames = decodable_h264_frames(&c);
    assert!((355..=365).contains(&frames), "c: {frames} frames");
    assert!(!normal.join("c-1.mp4").exists());
    assert!(
        !run.stderr
            .lines()
            .any(|l| l.contains("camera{name=c}") && l.contains("disk full")),
        "{}",
        run.stderr
    );
}

#[test]
fn run_with_retention_frees_space_at_once_and_goes_on_in_the_same_file() {
    // An earlier recording of the camera (9 s, ~100 KB) sits on a 160 KiB file system;
    // `[storage] min_free` is set, so the full disk deletes it at once and the recording
    // goes on in the same file: one new file holds the whole 10 s.
    let dir = Scratch::new("unattended", "run-reclaim");
    let earlier_dir = dir.0.join("earlier");
    let earlier = earlier_dir.join("cam.mp4");
    let first = server(script().with_frames(400));
    let url = first.url();
    let mut args = vec![
        "record",
        &url,
        "-o",
        earlier.to_str().expect("utf-8"),
        "--duration",
        "9s",
    ];
    args.extend_from_slice(ONE_SESSION);
    run(
        "run-reclaim-earlier",
        &dir.0,
        &Invocation {
            args,
            ..Invocation::default()
        },
    )
    .assert_succeeded();
    let earlier_len = std::fs::metadata(&earlier).expect("earlier").len();
    let camera = server(script().with_pacing(Pacing::RealTime).with_frames(14 * 30));
    let mnt = dir.0.join("mnt");
    let copy = dir.0.join("left");
    let config = dir.0.join("cameras.toml");
    std::fs::write(
        &config,
        format!(
            "catalog = \"{}/catalog.sqlite3\"\n\n[storage]\nmin_free = \"1%\"\n\n\
             [[camera]]\nname = \"cam\"\nurl = \"{}\"\noutput = \"{}/cam.mp4\"\n",
            dir.0.display(),
            camera.url(),
            mnt.display()
        ),
    )
    .expect("write config");
    let args = [
        "run",
        "--no-status",
        "--config",
        config.to_str().expect("utf-8"),
        "--duration",
        "10s",
    ];
    let run = run_on_tmpfs(
        "run-reclaim",
        &dir,
        &mnt,
        "size=160k",
        Some(&earlier),
        &copy,
        &args,
    );
    for line in run.stderr.lines().filter(|l| !l.contains("DEBUG")) {
        eprintln!("[run-reclaim] {line}");
    }
    run.assert_succeeded();
    assert!(
        run.stderr.contains(&format!(
            "retention: deleted {}/cam.mp4 (cam, {earlier_len} bytes): low free space",
            mnt.display()
        )),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("the file goes on"), "{}", run.stderr);
    assert!(!run.stderr.contains("dropping frames"), "{}", run.stderr);
    assert_eq!(plays(&camera), 1);
    // The earlier file is gone; the new one holds the whole 10 s in one piece.
    assert!(!copy.join("cam.mp4").exists());
    let file = copy.join("cam-1.mp4");
    assert_decodes(&file);
    assert_verifies(&file);
    let frames = decodable_h264_frames(&file);
    assert!((295..=305).contains(&frames), "{frames} frames");
    assert!(!copy.join("cam-2.mp4").exists());
}
