//! `recorder record` against bad input: a malformed URL, a refused port, and the scripted
//! fake RTSP server of `tests::fake_rtsp` misbehaving in ways a real server cannot be made
//! to. Every failure must be one clear `error:` line on stderr with a non-zero exit code, no
//! panic, and never the password (the runs use `-v -v`, i.e. debug logging, to check that
//! too). Positive controls prove the fake server itself is right.
//!
//! The `recorder` binary: `CARGO_BIN_EXE_recorder` only exists inside the `recorder-cli`
//! package, and a binary-only crate cannot be a dev-dependency, so the first test that needs
//! it runs `cargo build -p recorder-cli --bin recorder` (once per process, behind a
//! `OnceLock`) with the same target directory as this test binary (`<target>/debug/deps/`
//! is where cargo puts it, whether the directory comes from `CARGO_TARGET_DIR`,
//! `--target-dir` or the default) and takes the executable's path from cargo's JSON
//! messages.
//!
//! Needs ffmpeg and ffprobe (`apt-get install -y ffmpeg`).

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use tests::fake_rtsp::{Auth, BadPayload, End, FakeRtspServer, Fault, Pacing, Script, UnusableSdp};

const USER: &str = "user";
const PASSWORD: &str = "s3cret-pw";
/// Longest a run may take before it is killed and the test fails.
const RUN_TIMEOUT: Duration = Duration::from_secs(20);
/// 2 s at 30 fps.
const EXPECTED_FRAMES: i64 = 60;

/// The `recorder` binary, built once per process.
fn recorder() -> &'static Path {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        let manifest = Path::new(env!("CARGO_MANIFEST_DIR")).join("../Cargo.toml");
        let mut cmd = Command::new(cargo);
        cmd.args(["build", "-q", "-p", "recorder-cli", "--bin", "recorder"])
            .arg("--message-format=json-render-diagnostics")
            .arg("--manifest-path")
            .arg(&manifest)
            .stdin(Stdio::null())
            .stderr(Stdio::inherit());
        // This test binary is <target>/debug/deps/bad_input-HASH: build into <target> too.
        let exe = std::env::current_exe().expect("test executable path");
        if let Some(deps) = exe.parent()
            && deps.file_name().is_some_and(|n| n == "deps")
            && let Some(target) = deps.parent().and_then(Path::parent)
        {
            cmd.arg("--target-dir").arg(target);
        }
        let out = cmd.output().expect("cannot run cargo");
        assert!(
            out.status.success(),
            "cargo build -p recorder-cli failed ({})",
            out.status
        );
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .find(|m| m["reason"] == "compiler-artifact" && m["target"]["name"] == "recorder")
            .and_then(|m| m["executable"].as_str().map(PathBuf::from))
            .expect("cargo reported no `recorder` executable")
    })
}

/// A scratch directory, removed on drop.
struct Scratch(PathBuf);

impl Scratch {
    fn new(name: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("bad-input-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("create scratch dir");
        Self(dir)
    }

    fn out(&self) -> PathBuf {
        self.0.join("out.mp4")
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// What a finished run left.
struct Run {
    name: String,
    status: ExitStatus,
    stdout: String,
    stderr: String,
    elapsed: Duration,
}

impl Run {
    /// The stderr lines that start with `error:`.
    fn error_lines(&self) -> Vec<&str> {
        self.stderr
            .lines()
            .filter(|l| l.starts_with("error:"))
            .collect()
    }

    /// Prints the outcome (visible with `--nocapture`) and checks what holds for every run:
    /// no panic, no password anywhere.
    fn check_common(&self) {
        eprintln!(
            "[{}] exit {:?} after {:.2} s; error lines: {:?}",
            self.name,
            self.status.code(),
            self.elapsed.as_secs_f64(),
            self.error_lines()
        );
        for (what, text) in [("stdout", &self.stdout), ("stderr", &self.stderr)] {
            assert!(
                !text.contains("panicked"),
                "[{}] panic on {what}:\n{text}",
                self.name
            );
            assert!(
                !text.contains(PASSWORD),
                "[{}] password printed on {what}:\n{text}",
                self.name
            );
        }
    }

    /// A clean failure: non-zero exit, exactly one `error:` line, naming the cause with one
    /// of `needles` (case-insensitive). Returns that line.
    fn assert_failed_with(&self, needles: &[&str]) -> String {
        self.check_common();
        assert_ne!(
            self.status.code(),
            Some(0),
            "[{}] exited 0; stderr:\n{}",
            self.name,
            self.stderr
        );
        assert!(
            self.status.code().is_some(),
            "[{}] killed by a signal: {}",
            self.name,
            self.status
        );
        let errors = self.error_lines();
        assert_eq!(
            errors.len(),
            1,
            "[{}] want one error line; stderr:\n{}",
            self.name,
            self.stderr
        );
        let line = errors[0].to_lowercase();
        assert!(
            needles.iter().any(|n| line.contains(&n.to_lowercase())),
            "[{}] error line does not name the cause ({needles:?}): {}",
            self.name,
            errors[0]
        );
        errors[0].to_owned()
    }

    /// Prints the log lines at warning level (visible with `--nocapture`).
    fn print_warnings(&self) {
        for line in self.stderr.lines().filter(|l| l.contains(" WARN ")) {
            eprintln!("[{}] {line}", self.name);
        }
    }

    /// Success: exit 0 and no `error:` line.
    fn assert_succeeded(&self) {
        self.check_common();
        assert_eq!(
            self.status.code(),
            Some(0),
            "[{}] failed; stderr:\n{}",
            self.name,
            self.stderr
        );
        assert!(
            self.error_lines().is_empty(),
            "[{}] {}",
            self.name,
            self.stderr
        );
    }
}

/// Runs `recorder -v -v ARGS` with stdout/stderr in files under `dir`; sends SIGTERM after
/// `sigterm_after` if given; kills it and fails the test after [`RUN_TIMEOUT`].
fn run(name: &str, dir: &Path, args: &[&str], sigterm_after: Option<Duration>) -> Run {
    let out_path = dir.join("stdout.txt");
    let err_path = dir.join("stderr.txt");
    let mut child = Command::new(recorder())
        .args(["-v", "-v"])
        .args(args)
        .env_remove("RUST_LOG")
        .env_remove("RECORDER_PASSWORD")
        .stdin(Stdio::null())
        .stdout(File::create(&out_path).expect("stdout file"))
        .stderr(File::create(&err_path).expect("stderr file"))
        .spawn()
        .expect("cannot start recorder");
    let started = Instant::now();
    let mut termed = false;
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait for recorder") {
            break status;
        }
        let elapsed = started.elapsed();
        if let Some(after) = sigterm_after
            && !termed
            && elapsed >= after
        {
            let pid = child.id().to_string();
            let kill = Command::new("kill")
                .args(["-TERM", &pid])
                .status()
                .expect("cannot run kill");
            assert!(kill.success(), "kill -TERM {pid} failed");
            termed = true;
        }
        if elapsed >= RUN_TIMEOUT {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "[{name}] recorder did not finish within {RUN_TIMEOUT:?} (killed); stderr:\n{}",
                std::fs::read_to_string(&err_path).unwrap_or_default()
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    Run {
        name: name.to_owned(),
        status,
        stdout: std::fs::read_to_string(&out_path).expect("read stdout"),
        stderr: std::fs::read_to_string(&err_path).expect("read stderr"),
        elapsed: started.elapsed(),
    }
}

/// `recorder -v -v record URL -o DIR/out.mp4 --duration 2s EXTRA...`.
fn record(name: &str, dir: &Scratch, url: &str, extra: &[&str]) -> Run {
    let out = dir.out();
    let out = out.to_str().expect("utf-8 temp path");
    let mut args = vec!["record", url, "-o", out, "--duration", "2s"];
    args.extend_from_slice(extra);
    run(name, &dir.0, &args, None)
}

/// Records from a fake server running `script`, with the password in the URL.
fn record_from(name: &str, script: Script, extra: &[&str]) -> (Run, Scratch, FakeRtspServer) {
    // Build the recorder first: the first build can take longer than the server's timeout.
    recorder();
    let server = FakeRtspServer::start(script.with_timeout(RUN_TIMEOUT + Duration::from_secs(5)))
        .expect("start fake server");
    let dir = Scratch::new(name);
    let run = record(
        name,
        &dir,
        &server.url_with_credentials(USER, PASSWORD),
        extra,
    );
    (run, dir, server)
}

fn script() -> Script {
    Script::normal().expect("ffmpeg makes the test clip (apt-get install -y ffmpeg)")
}

/// `(codec_name, decoded frame count)` of the first stream of `kind` (`v` or `a`).
fn probe(file: &Path, kind: &str) -> (String, i64) {
    let out = Command::new("ffprobe")
        .args(["-v", "error", "-select_streams", &format!("{kind}:0")])
        .args([
            "-count_frames",
            "-show_entries",
            "stream=codec_name,nb_read_frames",
        ])
        .args(["-of", "csv=p=0"])
        .arg(file)
        .stdin(Stdio::null())
        .output()
        .expect("cannot run ffprobe (apt-get install -y ffmpeg)");
    let text = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    assert!(
        out.status.success() && !text.is_empty(),
        "ffprobe {} failed: {}{}",
        file.display(),
        text,
        String::from_utf8_lossy(&out.stderr)
    );
    let (codec, frames) = text.split_once(',').expect("codec,frames");
    (codec.to_owned(), frames.parse().expect("frame count"))
}

/// A full decode with ffmpeg stops at the first error and prints nothing when clean.
fn assert_decodes(file: &Path) {
    assert!(file.exists(), "{} was not written", file.display());
    let out = Command::new("ffmpeg")
        .args(["-nostdin", "-v", "error", "-xerror", "-i"])
        .arg(file)
        .args(["-f", "null", "-"])
        .stdin(Stdio::null())
        .output()
        .expect("cannot run ffmpeg (apt-get install -y ffmpeg)");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && stderr.trim().is_empty(),
        "{} does not decode cleanly: {stderr}",
        file.display()
    );
}

/// The video track's frame count, after checking it is H.264 and decodes.
fn decodable_h264_frames(file: &Path) -> i64 {
    assert_decodes(file);
    let (codec, frames) = probe(file, "v");
    assert_eq!(codec, "h264");
    frames
}

#[test]
fn positive_control_normal_stream_records_two_seconds() {
    let (run, dir, server) = record_from("normal", script(), &[]);
    run.assert_succeeded();
    let frames = decodable_h264_frames(&dir.out());
    assert!(
        (EXPECTED_FRAMES - frames).abs() <= 2,
        "{frames} frames, want {EXPECTED_FRAMES} ± 2"
    );
    let requests = server.requests();
    for method in ["DESCRIBE", "SETUP", "PLAY", "TEARDOWN"] {
        assert!(requests.iter().any(|r| r == method), "{requests:?}");
    }
}

#[test]
fn positive_control_digest_auth_with_audio() {
    let script = script()
        .with_audio()
        .expect("ffmpeg makes the test audio")
        .with_auth(Auth::digest(USER, PASSWORD));
    let (run, dir, server) = record_from("digest-audio", script, &[]);
    run.assert_succeeded();
    let frames = decodable_h264_frames(&dir.out());
    assert!(
        (EXPECTED_FRAMES - frames).abs() <= 2,
        "{frames} video frames"
    );
    // 2 s of 48 kHz in 1024-sample frames: 93.75.
    let (codec, audio_frames) = probe(&dir.out(), "a");
    assert_eq!(codec, "aac");
    assert!(
        (92..=96).contains(&audio_frames),
        "{audio_frames} audio frames"
    );
    // The first DESCRIBE was challenged, the second carried the digest.
    let describes = server
        .requests()
        .iter()
        .filter(|r| *r == "DESCRIBE")
        .count();
    assert_eq!(describes, 2, "{:?}", server.requests());
}

#[test]
fn positive_control_basic_auth() {
    let script = script().with_auth(Auth::basic(USER, PASSWORD));
    let (run, dir, server) = record_from("basic", script, &[]);
    run.assert_succeeded();
    let frames = decodable_h264_frames(&dir.out());
    assert!((EXPECTED_FRAMES - frames).abs() <= 2, "{frames} frames");
    let describes = server
        .requests()
        .iter()
        .filter(|r| *r == "DESCRIBE")
        .count();
    assert_eq!(describes, 2, "{:?}", server.requests());
}

#[test]
fn malformed_url() {
    let dir = Scratch::new("malformed-url");
    let url = format!("rtsp://{USER}:{PASSWORD}@[bad/x");
    let run = record("malformed-url", &dir, &url, &[]);
    run.assert_failed_with(&["invalid url"]);
    assert!(!dir.out().exists());
}

#[test]
fn refused_port() {
    let port = {
        let listener = std::net::TcpListener::bind(("127.0.0.1", 0)).expect("bind");
        listener.local_addr().expect("addr").port()
    };
    let dir = Scratch::new("refused");
    let url = format!("rtsp://{USER}:{PASSWORD}@127.0.0.1:{port}/x");
    let run = record("refused", &dir, &url, &[]);
    run.assert_failed_with(&["connection refused"]);
    assert!(!dir.out().exists());
}

#[test]
fn wrong_credentials_basic() {
    let script = script().with_auth(Auth::basic(USER, "other-pw"));
    let (run, dir, _server) = record_from("401-basic", script, &[]);
    run.assert_failed_with(&["401", "unauthorized"]);
    assert!(!dir.out().exists());
}

#[test]
fn wrong_credentials_digest() {
    let script = script().with_auth(Auth::digest(USER, "other-pw"));
    let (run, dir, _server) = record_from("401-digest", script, &[]);
    run.assert_failed_with(&["401", "unauthorized"]);
    assert!(!dir.out().exists());
}

#[test]
fn garbage_answer() {
    let (run, dir, _server) = record_from("garbage", script().with_fault(Fault::Garbage), &[]);
    run.assert_failed_with(&["garbage", "invalid", "parse", "unparseable", "malformed"]);
    assert!(!dir.out().exists());
}

#[test]
fn sdp_with_only_metadata() {
    let script = script().with_fault(Fault::Unusable(UnusableSdp::OnlyApplication));
    let (run, dir, _server) = record_from("sdp-application", script, &[]);
    run.assert_failed_with(&["no usable"]);
    assert!(!dir.out().exists());
}

#[test]
fn sdp_with_unknown_video_codec() {
    let script = script().with_fault(Fault::Unusable(UnusableSdp::UnknownVideoCodec));
    let (run, dir, _server) = record_from("sdp-mp4v", script, &[]);
    let line = run.assert_failed_with(&["no usable"]);
    assert!(
        line.contains("MP4V-ES") || line.contains("mp4v-es"),
        "{line}"
    );
    assert!(!dir.out().exists());
}

#[test]
fn udp_refused_by_a_tcp_only_server() {
    let (run, dir, _server) = record_from("udp-461", script(), &["--transport", "udp"]);
    run.assert_failed_with(&["461", "unsupported transport"]);
    assert!(!dir.out().exists());
}

#[test]
fn connection_cut_after_describe() {
    let script = script().with_fault(Fault::CloseAfterDescribe);
    let (run, dir, _server) = record_from("cut-after-describe", script, &[]);
    run.assert_failed_with(&["setup", "closed", "eof", "reset"]);
    assert!(!dir.out().exists());
}

#[test]
fn connection_cut_mid_frame_keeps_what_arrived() {
    // The cut lands in the first picture from frame 20 on with a NAL unit in three or more
    // FU-A fragments (the IDR at frame 30 with this clip).
    let script = script().with_fault(Fault::CloseMidFrame { frame: 20 });
    let (run, dir, server) = record_from("cut-mid-frame", script, &[]);
    run.assert_failed_with(&["ended", "closed", "eof", "reset", "receiv"]);
    let cut = server.fault_frame().expect("the cut happened");
    assert!(
        (20..EXPECTED_FRAMES as usize).contains(&cut),
        "cut at {cut}"
    );
    assert_eq!(server.video_frames_sent(), cut);
    let frames = decodable_h264_frames(&dir.out());
    assert_eq!(
        frames, cut as i64,
        "the file holds every complete frame sent"
    );
}

#[test]
fn packet_loss_is_an_error_by_default() {
    let script = script().with_fault(Fault::SequenceGap { frame: 40, lost: 3 });
    let (run, dir, server) = record_from("loss", script, &[]);
    let line = run.assert_failed_with(&["lost", "loss"]);
    assert!(
        line.contains("3 rtp packet(s) lost"),
        "names the count: {line}"
    );
    // The frames before the gap were kept.
    assert_eq!(server.fault_frame(), Some(40));
    assert_eq!(decodable_h264_frames(&dir.out()), 40);
}

#[test]
fn packet_loss_allowed() {
    let script = script().with_fault(Fault::SequenceGap { frame: 40, lost: 3 });
    let (run, dir, _server) = record_from("loss-allowed", script, &["--allow-loss"]);
    run.assert_succeeded();
    assert!(run.stderr.contains("lost"), "warns about the loss");
    let frames = decodable_h264_frames(&dir.out());
    assert!((EXPECTED_FRAMES - frames).abs() <= 2, "{frames} frames");
}

#[test]
fn timestamp_jump_forward_one_hour() {
    // One hour ahead from frame 30 (1 s): past the 2 s limit, so the recording ends there.
    let script = script().with_fault(Fault::TimestampJump {
        frame: 30,
        delta_90k: 3600 * 90_000,
    });
    let (run, dir, _server) = record_from("jump-forward", script, &[]);
    run.assert_succeeded();
    run.print_warnings();
    let frames = decodable_h264_frames(&dir.out());
    eprintln!("[jump-forward] {frames} frames in the file");
    assert_eq!(frames, 30);
}

#[test]
fn timestamp_jump_backward_three_seconds() {
    // Three seconds back from frame 30 (1 s): frames 30..120 are at or before 29/30 s and
    // are dropped; frames from 120 (1.0 s again) fill up to 2 s. Six seconds of stream.
    let script = script().with_frames(180).with_fault(Fault::TimestampJump {
        frame: 30,
        delta_90k: -3 * 90_000,
    });
    let (run, dir, _server) = record_from("jump-backward", script, &[]);
    run.assert_succeeded();
    run.print_warnings();
    assert!(
        run.stderr.contains("dropping"),
        "warns about dropped frames"
    );
    let frames = decodable_h264_frames(&dir.out());
    eprintln!("[jump-backward] {frames} frames in the file");
    assert_eq!(frames, 60);
}

/// A bad payload (from frame 20 on) must end in a clean error that keeps the frames before
/// it, or in dropped frames with a decodable file.
fn bad_payload(name: &str, kind: BadPayload, needles: &[&str]) {
    let script = script()
        .with_end(End::Close)
        .with_fault(Fault::BadPayload { frame: 20, kind });
    let (run, dir, server) = record_from(name, script, &[]);
    let bad = server.fault_frame().expect("a bad picture was sent");
    assert!(
        (20..EXPECTED_FRAMES as usize).contains(&bad),
        "bad at {bad}"
    );
    if run.status.code() == Some(0) {
        run.assert_succeeded();
        let frames = decodable_h264_frames(&dir.out());
        eprintln!("[{name}] exit 0 with {frames} decodable frames (bad picture {bad})");
        assert!(frames < EXPECTED_FRAMES, "the bad frame was dropped");
    } else {
        run.assert_failed_with(needles);
        let frames = decodable_h264_frames(&dir.out());
        eprintln!("[{name}] file keeps {frames} decodable frames (bad picture {bad})");
        assert_eq!(frames, bad as i64, "the frames before the bad one are kept");
    }
}

#[test]
fn bad_payload_reserved_nal_type() {
    bad_payload(
        "bad-nal-type",
        BadPayload::ReservedNalType,
        &["nal header", "nal"],
    );
}

#[test]
fn bad_payload_fu_a_without_end() {
    bad_payload(
        "fu-a-without-end",
        BadPayload::FuAWithoutEnd,
        &["fragment", "fu-a"],
    );
}

#[test]
fn bad_payload_truncated_fu_a() {
    bad_payload(
        "truncated-fu-a",
        BadPayload::TruncatedFuA,
        &["fu-a", "short"],
    );
}

#[test]
fn stall_then_sigterm_finalizes() {
    // One second of real-time video, then silence on an open connection. `record` has no
    // stall timeout yet: SIGTERM after 3 s must finalize what arrived, with exit 0.
    let script = script()
        .with_pacing(Pacing::RealTime)
        .with_fault(Fault::Stall { after_frames: 30 });
    recorder();
    let server = FakeRtspServer::start(script.with_timeout(RUN_TIMEOUT)).expect("server");
    let dir = Scratch::new("stall");
    let out = dir.out();
    let url = server.url_with_credentials(USER, PASSWORD);
    let args = [
        "record",
        url.as_str(),
        "-o",
        out.to_str().expect("utf-8"),
        "--duration",
        "2s",
    ];
    let run = run("stall", &dir.0, &args, Some(Duration::from_secs(3)));
    run.assert_succeeded();
    assert!(run.stderr.contains("SIGTERM"), "{}", run.stderr);
    assert_eq!(server.video_frames_sent(), 30);
    assert_eq!(decodable_h264_frames(&out), 30);
}
