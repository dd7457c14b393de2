//! `recorder record` with reconnects allowed, against the scripted fake RTSP server: the
//! server ends each session after a few seconds of real-time media (or fails every
//! attempt), and the recorder must reconnect into numbered files, log each failure on one
//! line with the URL redacted, keep `--duration` on the wall clock across the outage,
//! give up after `--max-retries` failed reconnections in a row (a session with media resets
//! the count), and end at once on rejected credentials.
//!
//! Needs ffmpeg and ffprobe (`apt-get install -y ffmpeg`).

use std::path::PathBuf;
use std::time::Duration;

use tests::fake_rtsp::{Auth, End, FakeRtspServer, Fault, Pacing, Script, TESTSRC_FPS};
use tests::harness::{
    Invocation, PASSWORD, RUN_TIMEOUT, Run, Scratch, USER, decodable_h264_frames,
};

/// Exit codes (see `recorder --help`).
const UNREACHABLE: i32 = 3;
const AUTH: i32 = 4;

/// The first reconnection delay is 1 s within +-20%.
const MIN_FIRST_DELAY_S: f64 = 0.8;

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

/// `recorder record URL -o DIR/out.mp4 ARGS...` (info logging).
fn record(name: &str, dir: &Scratch, url: &str, args: &[&str]) -> Run {
    let out = dir.out();
    let mut all = vec!["record", url, "-o", out.to_str().expect("utf-8 temp path")];
    all.extend_from_slice(args);
    tests::harness::run(
        name,
        &dir.0,
        &Invocation {
            args: all,
            ..Invocation::default()
        },
    )
}

/// The files left in `dir` (not the captured stdout/stderr), sorted by name.
fn files(dir: &Scratch) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(&dir.0)
        .expect("read scratch dir")
        .map(|e| {
            e.expect("dir entry")
                .file_name()
                .to_string_lossy()
                .into_owned()
        })
        .filter(|n| !n.ends_with(".txt"))
        .collect();
    names.sort();
    names
}

/// The `WARN` lines that announce a reconnect.
fn reconnect_lines(run: &Run) -> Vec<&str> {
    run.stderr
        .lines()
        .filter(|l| l.contains(" WARN ") && l.contains("reconnecting in"))
        .collect()
}

/// How many `DESCRIBE` requests the server got (one per connection attempt without
/// authentication).
fn describes(server: &FakeRtspServer) -> usize {
    server
        .requests()
        .iter()
        .filter(|m| *m == "DESCRIBE")
        .count()
}

/// `N` of the recorder's final `recorded N video frames, ...` line.
fn reported_video_frames(run: &Run) -> i64 {
    let line = run
        .stderr
        .lines()
        .find(|l| l.contains("recorded ") && l.contains(" video frames"))
        .unwrap_or_else(|| panic!("[{}] no `recorded` line:\n{}", run.name, run.stderr));
    let after = line
        .split("recorded ")
        .nth(1)
        .expect("text after `recorded`");
    after
        .split(' ')
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no frame count in {line}"))
}

/// The wall-clock instant of `file`'s first sample, from the `description` tag the
/// recorder writes (`recorder: first sample at 2026-11-30T08:00:00.120438911Z`), in seconds
/// since the Unix epoch.
fn first_sample_s(file: &std::path::Path) -> f64 {
    let out = std::process::Command::new("ffprobe")
        .args(["-v", "error", "-show_entries", "format_tags=description"])
        .args(["-of", "csv=p=0"])
        .arg(file)
        .output()
        .expect("run ffprobe");
    let text = String::from_utf8_lossy(&out.stdout);
    let stamp = text
        .trim()
        .strip_prefix("recorder: first sample at ")
        .unwrap_or_else(|| panic!("{}: description {text:?}", file.display()));
    rfc3339_utc_s(stamp)
}

/// `YYYY-MM-DDTHH:MM:SS[.fraction]Z` in seconds since the Unix epoch.
fn rfc3339_utc_s(stamp: &str) -> f64 {
    let num = |s: &str| -> f64 {
        s.parse()
            .unwrap_or_else(|_| panic!("not an RFC 3339 UTC time: {stamp:?}"))
    };
    let fields: Vec<f64> = stamp
        .strip_suffix('Z')
        .expect("a UTC time")
        .split(['-', 'T', ':'])
        .map(num)
        .collect();
    let &[y, mo, d, h, m, sec] = fields.as_slice() else {
        panic!("not an RFC 3339 UTC time: {stamp:?}");
    };
    let (y, mo, d) = (y as i64, mo as i64, d as i64);
    // Days since the epoch of a proleptic Gregorian date (Howard Hinnant's algorithm).
    let y = y - i64::from(mo <= 2);
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (mo + if mo > 2 { -3 } else { 9 }) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    days as f64 * 86_400.0 + h * 3600.0 + m * 60.0 + sec
}

#[test]
fn rfc3339_parses() {
    assert_eq!(rfc3339_utc_s("1970-01-01T00:00:00Z"), 0.0);
    assert_eq!(rfc3339_utc_s("2000-03-01T00:00:01.5Z"), 951_868_801.5);
    assert_eq!(rfc3339_utc_s("2026-11-30T08:00:00Z"), 1_796_025_600.0);
}

fn path(dir: &Scratch, name: &str) -> PathBuf {
    dir.0.join(name)
}

fn frames_in(dir: &Scratch, names: &[String]) -> Vec<i64> {
    names
        .iter()
        .map(|n| decodable_h264_frames(&path(dir, n)))
        .collect()
}

/// The server sends 2 s of real-time video per session and then closes the connection;
/// `--duration 4s`. The first session is kept whole (60 frames, in `out.mp4`); the
/// recorder waits 0.8 to 1.2 s, reconnects, and the second session (in `out-1.mp4`) is cut
/// at `T0 + 4 s`, `T0` being the first session's first keyframe.
///
/// The bound on the media kept: sessions do not overlap on the wall clock and all lie in
/// `[T0, T0 + D]`; a live source's media advances with the wall clock, so each session
/// keeps at most its wall-clock span plus one frame (the last sample's duration, estimated
/// as the frame interval, lies past its arrival). Between the sessions lie the first delay
/// (at least 0.8 s) and the reconnection, so the media kept is at most
/// `D - 0.8 s + 2 frames`, here 3.2 s + 2 frames = 98 frames (measured: 60 + 28 = 88).
#[test]
fn reconnects_into_numbered_files_within_the_duration() {
    let server = server(
        script()
            .with_auth(Auth::basic(USER, PASSWORD))
            .with_pacing(Pacing::RealTime)
            .with_frames(60)
            .with_end(End::Close),
    );
    let dir = Scratch::new("reconnect", "numbered");
    let url = server.url_with_credentials(USER, PASSWORD);
    let run = record("numbered", &dir, &url, &["--duration", "4s"]);
    run.assert_succeeded();
    run.print_warnings();

    let names = files(&dir);
    assert_eq!(names, ["out-1.mp4", "out.mp4"], "{}", run.stderr);
    let frames = frames_in(&dir, &[String::from("out.mp4"), String::from("out-1.mp4")]);
    assert_eq!(frames[0], 60, "the first session is kept whole");
    assert!(frames[1] > 0, "the second session recorded something");
    let total: i64 = frames.iter().sum();
    assert_eq!(
        total,
        reported_video_frames(&run),
        "the files hold what is reported"
    );
    let fps = f64::from(TESTSRC_FPS);
    let bound = ((4.0 - MIN_FIRST_DELAY_S) * fps).round() as i64 + 2;
    eprintln!("[numbered] frames per file {frames:?}: {total} of at most {bound}");
    assert!(
        total <= bound,
        "{total} frames kept over a 4 s run with a >= 0.8 s outage (at most {bound})"
    );

    // The media kept ends at `T0 + D`: the second file starts at the wall-clock instant
    // its first sample arrived (its `description` tag), and its media last up to the
    // first run's start (`T0`, the first file's tag) plus 4 s, within a frame (the last
    // sample's duration is estimated) and the arrival jitter of the two keyframes.
    let t0 = first_sample_s(&path(&dir, "out.mp4"));
    let t1 = first_sample_s(&path(&dir, "out-1.mp4"));
    let end = t1 - t0 + frames[1] as f64 / fps;
    eprintln!(
        "[numbered] the second file starts at T0 + {:.3} s and ends at T0 + {end:.3} s",
        t1 - t0
    );
    assert!(
        t1 - t0 >= 2.0 + MIN_FIRST_DELAY_S,
        "the outage is not recorded"
    );
    assert!(
        (end - 4.0).abs() <= 2.0 / fps,
        "the media kept ends at T0 + {end:.3} s, not T0 + 4 s"
    );

    // One reconnect, logged on one line with the URL redacted and the wait.
    let lines = reconnect_lines(&run);
    assert_eq!(lines.len(), 1, "{}", run.stderr);
    let line = lines[0];
    let redacted = format!("rtsp://{USER}:***@127.0.0.1:{}/x", server.port());
    assert!(line.contains(&redacted), "{line}");
    assert!(line.contains("(retry 1)"), "{line}");
    let delay: f64 = line
        .split("reconnecting in ")
        .nth(1)
        .and_then(|s| s.split(' ').next())
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no delay in {line}"));
    assert!(
        (0.8..=1.2).contains(&delay),
        "first delay {delay} s: {line}"
    );
    assert!(
        run.stderr.contains("over 2 sessions"),
        "the summary counts both sessions:\n{}",
        run.stderr
    );
}

/// Every attempt fails after `DESCRIBE` (no session ever delivers media): with
/// `--max-retries 2` the recorder connects 3 times, logs `retry 1 of 2` and `retry 2 of 2`,
/// and ends with exit code 3 and one error line that says it gave up; no file is left.
#[test]
fn max_retries_run_out() {
    let server = server(script().with_fault(Fault::CloseAfterDescribe));
    let dir = Scratch::new("reconnect", "max-retries");
    let run = record("max-retries", &dir, &server.url(), &["--max-retries", "2"]);
    let line = run.assert_failed_with(UNREACHABLE, &["giving up after 2 failed reconnection(s)"]);
    assert!(line.contains("--max-retries 2"), "{line}");
    assert_eq!(describes(&server), 3, "{:?}", server.requests());
    let lines = reconnect_lines(&run);
    assert_eq!(lines.len(), 2, "{}", run.stderr);
    assert!(lines[0].contains("(retry 1 of 2)"), "{}", lines[0]);
    assert!(lines[1].contains("(retry 2 of 2)"), "{}", lines[1]);
    // The waits: 1 s then 2 s, each within +-20%.
    assert!(
        run.elapsed >= Duration::from_secs_f64(0.8 + 1.6),
        "ended after {:?}: the backoff was not waited",
        run.elapsed
    );
    assert!(files(&dir).is_empty(), "{:?}", files(&dir));
}

/// Rejected credentials end the recording at once, retries allowed (the default is to
/// retry forever): exit code 4, no reconnect line, one attempt (a `DESCRIBE` without and
/// one with the credentials).
#[test]
fn unauthorized_ends_at_once_with_retries_allowed() {
    let server = server(script().with_auth(Auth::basic(USER, "another-pw")));
    let dir = Scratch::new("reconnect", "401");
    let url = server.url_with_credentials(USER, PASSWORD);
    let run = record("401", &dir, &url, &["--duration", "10s"]);
    run.assert_failed_with(AUTH, &["401"]);
    assert!(reconnect_lines(&run).is_empty(), "{}", run.stderr);
    assert!(describes(&server) <= 2, "{:?}", server.requests());
    assert!(files(&dir).is_empty(), "{:?}", files(&dir));
}

/// Each session delivers half a second of media, then the server closes it. With
/// `--max-retries 1`, a count that a session with media does not reset would give up at the
/// second failure (exit 3); reset, the recorder reconnects after every session until
/// `--duration 5s` is over: exit 0 and at least three files, every reconnect `retry 1 of 1`.
#[test]
fn a_session_with_media_resets_the_retry_count() {
    let server = server(
        script()
            .with_pacing(Pacing::RealTime)
            .with_frames(15)
            .with_end(End::Close),
    );
    let dir = Scratch::new("reconnect", "reset");
    let run = record(
        "reset",
        &dir,
        &server.url(),
        &["--max-retries", "1", "--duration", "5s"],
    );
    run.assert_succeeded();
    let names = files(&dir);
    assert!(names.len() >= 3, "{names:?}\n{}", run.stderr);
    assert!(names.iter().all(|n| !n.ends_with(".partial")), "{names:?}");
    for n in ["out.mp4", "out-1.mp4", "out-2.mp4"] {
        assert!(names.iter().any(|x| x == n), "{n} missing: {names:?}");
    }
    let lines = reconnect_lines(&run);
    assert!(lines.len() >= 2, "{}", run.stderr);
    assert!(
        lines.iter().all(|l| l.contains("(retry 1 of 1)")),
        "{lines:#?}"
    );
    // The first three sessions end before the duration: each is kept whole (15 frames); a
    // fourth may be cut by the duration.
    let first = ["out.mp4", "out-1.mp4", "out-2.mp4"].map(String::from);
    assert_eq!(frames_in(&dir, &first), [15, 15, 15], "{names:?}");
    let frames = frames_in(&dir, &names);
    eprintln!("[reset] {names:?}: {frames:?} frames");
    assert_eq!(
        frames.iter().sum::<i64>(),
        reported_video_frames(&run),
        "the files hold what is reported"
    );
}
