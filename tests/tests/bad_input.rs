//! `recorder record` against bad input: a malformed URL, a refused port, and the scripted
//! fake RTSP server of `tests::fake_rtsp` misbehaving in ways a real server cannot be made
//! to. Every failure must be one clear `error:` line on stderr with the exit code of its
//! cause (see `recorder --help`), no panic, and never the password nor its Basic-auth
//! base64 (the runs use `-v -v`, i.e. debug logging, and the credential cases run again
//! with `RUST_LOG=trace`). Positive controls prove the fake server itself is right.
//!
//! Needs ffmpeg and ffprobe (`apt-get install -y ffmpeg`).

use std::path::Path;
use std::time::Duration;

use tests::fake_rtsp::{Auth, BadPayload, End, FakeRtspServer, Fault, Pacing, Script, UnusableSdp};
use tests::harness::{
    Invocation, PASSWORD, RUN_TIMEOUT, Run, Scratch, USER, decodable_h264_frames, packets, probe,
};

/// 2 s at 30 fps.
const EXPECTED_FRAMES: i64 = 60;

/// Exit codes (see `recorder --help`).
const USAGE: i32 = 2;
const UNREACHABLE: i32 = 3;
const AUTH: i32 = 4;
const UNUSABLE: i32 = 5;
const MEDIA: i32 = 6;

/// Extra arguments of every `record` run.
const ONE_SESSION: &[&str] = &["--max-retries", "0"];

fn scratch(name: &str) -> Scratch {
    Scratch::new("bad-input", name)
}

/// `recorder -v -v ARGS`, with `env` set.
fn run(
    name: &str,
    dir: &Path,
    args: &[&str],
    env: &[(&str, &str)],
    sigterm_after: Option<Duration>,
) -> Run {
    let mut all = vec!["-v", "-v"];
    all.extend_from_slice(args);
    tests::harness::run(
        name,
        dir,
        &Invocation {
            args: all,
            env: env.to_vec(),
            sigterm_after,
            wrapper: Vec::new(),
        },
    )
}

/// `recorder -v -v record URL -o DIR/out.mp4 --duration 2s EXTRA...`.
fn record_env(name: &str, dir: &Scratch, url: &str, extra: &[&str], env: &[(&str, &str)]) -> Run {
    let out = dir.out();
    let out = out.to_str().expect("utf-8 temp path");
    let mut args = vec!["record", url, "-o", out, "--duration", "2s"];
    args.extend_from_slice(ONE_SESSION);
    args.extend_from_slice(extra);
    run(name, &dir.0, &args, env, None)
}

fn record(name: &str, dir: &Scratch, url: &str, extra: &[&str]) -> Run {
    record_env(name, dir, url, extra, &[])
}

/// Records from a fake server running `script`, with the password in the URL.
fn record_from_env(
    name: &str,
    script: Script,
    extra: &[&str],
    env: &[(&str, &str)],
) -> (Run, Scratch, FakeRtspServer) {
    let server = FakeRtspServer::start(script.with_timeout(RUN_TIMEOUT + Duration::from_secs(5)))
        .expect("start fake server");
    let dir = scratch(name);
    let run = record_env(
        name,
        &dir,
        &server.url_with_credentials(USER, PASSWORD),
        extra,
        env,
    );
    (run, dir, server)
}

fn record_from(name: &str, script: Script, extra: &[&str]) -> (Run, Scratch, FakeRtspServer) {
    record_from_env(name, script, extra, &[])
}

fn script() -> Script {
    // Build the recorder before any server starts: a first build can take longer than a
    // server's timeout.
    tests::harness::recorder();
    Script::normal().expect("ffmpeg makes the test clip (apt-get install -y ffmpeg)")
}

/// With `RUST_LOG=trace` (every crate, retina included, at its most verbose), neither the
/// password nor the Basic `Authorization` value (`base64(user:password)`) is printed:
/// `check_common` looks for both in every run.
#[test]
fn secrets_never_printed_at_trace_level() {
    let trace = [("RUST_LOG", "trace")];
    let basic = script().with_auth(Auth::basic(USER, PASSWORD));
    let (run, dir, _server) = record_from_env("trace-basic", basic, &[], &trace);
    run.assert_succeeded();
    assert!(run.stderr.contains("TRACE"), "trace logging is on");
    assert!(
        run.stderr.contains(" retina::"),
        "retina's own logs are shown"
    );
    assert!(dir.out().exists());
    let digest = script().with_auth(Auth::digest(USER, PASSWORD));
    let (run, _dir, _server) = record_from_env("trace-digest", digest, &[], &trace);
    run.assert_succeeded();
    let wrong = script().with_auth(Auth::basic(USER, "other-pw"));
    let (run, _dir, _server) = record_from_env("trace-401", wrong, &[], &trace);
    run.assert_failed_with(AUTH, &["401"]);
    // The password from RECORDER_PASSWORD, the user from --username.
    let server = FakeRtspServer::start(
        script()
            .with_auth(Auth::basic(USER, PASSWORD))
            .with_timeout(RUN_TIMEOUT),
    )
    .expect("server");
    let dir = scratch("trace-env");
    let run = record_env(
        "trace-env",
        &dir,
        &server.url(),
        &["--username", USER],
        &[("RUST_LOG", "trace"), ("RECORDER_PASSWORD", PASSWORD)],
    );
    run.assert_succeeded();
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
    let dir = scratch("malformed-url");
    let url = format!("rtsp://{USER}:{PASSWORD}@[bad/x");
    let run = record("malformed-url", &dir, &url, &[]);
    run.assert_failed_with(USAGE, &["invalid url"]);
    assert!(!dir.out().exists());
}

#[test]
fn refused_port() {
    let port = {
        let listener = std::net::TcpListener::bind(("127.0.0.1", 0)).expect("bind");
        listener.local_addr().expect("addr").port()
    };
    let dir = scratch("refused");
    let url = format!("rtsp://{USER}:{PASSWORD}@127.0.0.1:{port}/x");
    let run = record("refused", &dir, &url, &[]);
    run.assert_failed_with(UNREACHABLE, &["connection refused"]);
    assert!(!dir.out().exists());
}

#[test]
fn wrong_credentials_basic() {
    let script = script().with_auth(Auth::basic(USER, "other-pw"));
    let (run, dir, _server) = record_from("401-basic", script, &[]);
    run.assert_failed_with(AUTH, &["401", "unauthorized"]);
    assert!(!dir.out().exists());
}

#[test]
fn wrong_credentials_digest() {
    let script = script().with_auth(Auth::digest(USER, "other-pw"));
    let (run, dir, _server) = record_from("401-digest", script, &[]);
    run.assert_failed_with(AUTH, &["401", "unauthorized"]);
    assert!(!dir.out().exists());
}

#[test]
fn garbage_answer() {
    let (run, dir, _server) = record_from("garbage", script().with_fault(Fault::Garbage), &[]);
    let line = run.assert_failed_with(
        UNUSABLE,
        &["garbage", "invalid", "parse", "unparseable", "malformed"],
    );
    // retina's hex dump and connection context are left out of the line.
    assert!(!line.contains("0000:") && !line.contains("conn:"), "{line}");
    assert!(!dir.out().exists());
}

#[test]
fn sdp_with_only_metadata() {
    let script = script().with_fault(Fault::Unusable(UnusableSdp::OnlyApplication));
    let (run, dir, _server) = record_from("sdp-application", script, &[]);
    run.assert_failed_with(UNUSABLE, &["no usable"]);
    assert!(!dir.out().exists());
}

#[test]
fn sdp_with_unknown_video_codec() {
    let script = script().with_fault(Fault::Unusable(UnusableSdp::UnknownVideoCodec));
    let (run, dir, _server) = record_from("sdp-mp4v", script, &[]);
    let line = run.assert_failed_with(UNUSABLE, &["no usable"]);
    assert!(
        line.contains("MP4V-ES") || line.contains("mp4v-es"),
        "{line}"
    );
    assert!(!dir.out().exists());
}

#[test]
fn udp_refused_by_a_tcp_only_server() {
    let (run, dir, _server) = record_from("udp-461", script(), &["--transport", "udp"]);
    run.assert_failed_with(UNUSABLE, &["461", "unsupported transport"]);
    assert!(!dir.out().exists());
}

#[test]
fn connection_cut_after_describe() {
    let script = script().with_fault(Fault::CloseAfterDescribe);
    let (run, dir, _server) = record_from("cut-after-describe", script, &[]);
    run.assert_failed_with(UNREACHABLE, &["setup", "closed", "eof", "reset"]);
    assert!(!dir.out().exists());
}

#[test]
fn connection_cut_mid_frame_keeps_what_arrived() {
    // The cut lands in the first picture from frame 20 on with a NAL unit in three or more
    // FU-A fragments (the IDR at frame 30 with this clip).
    let script = script().with_fault(Fault::CloseMidFrame { frame: 20 });
    let (run, dir, server) = record_from("cut-mid-frame", script, &[]);
    // A lost session: exit 3, like an unreachable server.
    run.assert_failed_with(UNREACHABLE, &["ended", "closed", "eof", "reset", "receiv"]);
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
fn packet_loss_keeps_every_frame_by_default() {
    // Three sequence numbers skipped before frame 40: to the recorder, three packets lost
    // (the pictures themselves are whole). Not an error: every frame is kept, the loss is
    // counted in a warning.
    let script = script().with_fault(Fault::SequenceGap { frame: 40, lost: 3 });
    let (run, dir, server) = record_from("loss", script, &[]);
    run.assert_succeeded();
    assert_eq!(server.fault_frame(), Some(40));
    assert!(
        run.stderr.contains("rtp packets lost: 3 video, 0 audio"),
        "warns with the count"
    );
    assert_eq!(decodable_h264_frames(&dir.out()), EXPECTED_FRAMES);
}

#[test]
fn packet_loss_skip_to_keyframe() {
    // The same gap with `--on-loss skip-to-keyframe`: frames 40..60 (up to the next
    // keyframe, at 60, which is the end of the 2 s) are skipped.
    let script = script().with_fault(Fault::SequenceGap { frame: 40, lost: 3 });
    let (run, dir, _server) = record_from("loss-skip", script, &["--on-loss", "skip-to-keyframe"]);
    run.assert_succeeded();
    assert!(
        run.stderr
            .contains("3 video, 0 audio; 20 video frame(s) skipped to the next keyframe"),
        "warns with the counts"
    );
    assert_eq!(decodable_h264_frames(&dir.out()), 40);
}

/// 10 s (300 frames, ten GOPs, and the frame at 10 s that ends `--duration 10s`) with 1%
/// of the video packets dropped at random (seeded).
fn lossy_script() -> Script {
    script().with_frames(301).with_fault(Fault::RandomLoss {
        per_mille: 10,
        seed: 0x5EED,
    })
}

/// `record URL -o DIR/out.mp4 --duration 10s EXTRA...` of [`lossy_script`].
fn record_lossy(name: &str, extra: &[&str]) -> (Run, Scratch, FakeRtspServer) {
    let script = lossy_script().with_timeout(RUN_TIMEOUT + Duration::from_secs(5));
    let server = FakeRtspServer::start(script).expect("start fake server");
    let dir = scratch(name);
    let (url, out) = (server.url(), dir.out());
    let mut args = vec!["record", &url, "-o", out.to_str().expect("utf-8 temp path")];
    args.extend_from_slice(&["--duration", "10s"]);
    args.extend_from_slice(ONE_SESSION);
    args.extend_from_slice(extra);
    let run = run(name, &dir.0, &args, &[], None);
    (run, dir, server)
}

#[test]
fn one_percent_loss_keeps_the_frames_that_arrived_whole() {
    // `--allow-loss` is still accepted (and changes nothing).
    let (run, dir, server) = record_lossy("loss-1pct", &["--allow-loss"]);
    run.assert_succeeded();
    let files: Vec<_> = std::fs::read_dir(&dir.0)
        .expect("scratch dir")
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().ends_with(".mp4"))
        .collect();
    assert_eq!(files.len(), 1, "one session, one file: {files:?}");
    assert!(!run.stderr.contains("reconnecting"), "one session");
    // The frame at 10 s only ends the recording.
    let sent = server.video_frames_sent() - 1;
    let whole = sent - server.video_frames_damaged();
    assert!(whole < sent, "the script damaged some frames");
    let kept = packets(&dir.out(), "v");
    let (codec, decoded) = probe(&dir.out(), "v");
    assert_eq!(codec, "h264");
    eprintln!(
        "[loss-1pct] {kept} frames kept of {whole} sent whole ({sent} sent), {decoded} decoded"
    );
    assert!(
        kept as f64 >= 0.95 * whole as f64,
        "{kept} frames kept of {whole} whole"
    );
    assert!(decoded <= kept, "{decoded} frames decoded of {kept} kept");
    assert!(
        run.stderr.contains("rtp packets lost"),
        "warns about the loss"
    );
}

#[test]
fn one_percent_loss_skip_to_keyframe_decodes_cleanly() {
    let (run, dir, server) = record_lossy("loss-1pct-skip", &["--on-loss", "skip-to-keyframe"]);
    run.assert_succeeded();
    let whole = server.video_frames_sent() - 1 - server.video_frames_damaged();
    // ffmpeg -xerror decodes every frame without an error.
    let kept = decodable_h264_frames(&dir.out());
    eprintln!("[loss-1pct-skip] {kept} frames kept of {whole} sent whole");
    assert!(kept > 0 && (kept as usize) < whole, "{kept} of {whole}");
    assert!(run.stderr.contains("skipped to the next keyframe"));
}

#[test]
fn first_packet_before_rtp_info_seq_is_tolerated() {
    // The start race: RTP-Info announces seq N+1 and the first packet has seq N. Over TCP
    // retina would refuse it as out of order; sequence numbers start at the first packet.
    let script = script().with_fault(Fault::EarlyFirstPacket);
    let (run, dir, _server) = record_from("early-first-packet", script, &[]);
    run.assert_succeeded();
    assert!(!run.stderr.contains("rtp packets lost"), "nothing lost");
    assert_eq!(decodable_h264_frames(&dir.out()), EXPECTED_FRAMES);
}

#[test]
fn duplicate_packet_is_skipped() {
    // The first packet of frame 40 twice: the copy is skipped, counted, and every frame
    // kept.
    let script = script().with_fault(Fault::DuplicatePacket { frame: 40 });
    let (run, dir, server) = record_from("duplicate", script, &[]);
    run.assert_succeeded();
    assert_eq!(server.fault_frame(), Some(40));
    assert!(
        run.stderr.contains("1 late or duplicate packet(s) skipped"),
        "counted"
    );
    assert_eq!(decodable_h264_frames(&dir.out()), EXPECTED_FRAMES);
}

/// The finished files in `dir`, by name.
fn mp4_files(dir: &Scratch) -> Vec<std::path::PathBuf> {
    let mut files: Vec<_> = std::fs::read_dir(&dir.0)
        .expect("scratch dir")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "mp4"))
        .collect();
    files.sort();
    files
}

/// A jump past `--max-timestamp-jump` at frame 30 (a keyframe) is a discontinuity in the
/// same session: the file ends there and a new one starts at that keyframe; both decode
/// cleanly and hold the 2 s between them.
fn jump_starts_a_new_file(name: &str, frames: usize, delta_90k: i64) {
    let script = script()
        .with_frames(frames)
        .with_fault(Fault::TimestampJump {
            frame: 30,
            delta_90k,
        });
    let (run, dir, _server) = record_from(name, script, &[]);
    run.assert_succeeded();
    assert!(run.stderr.contains("timestamp jumped"), "logs the jump");
    assert!(!run.stderr.contains("reconnecting"), "one session");
    let files = mp4_files(&dir);
    let frames: Vec<i64> = files.iter().map(|f| decodable_h264_frames(f)).collect();
    eprintln!("[{name}] {files:?}: {frames:?} frames");
    assert_eq!(frames, [30, 30], "{files:?}");
}

#[test]
fn timestamp_jump_forward_one_hour() {
    // One hour ahead from frame 30 (1 s), past `--max-timestamp-jump` (10 s by default).
    jump_starts_a_new_file("jump-forward", 90, 3600 * 90_000);
}

#[test]
fn timestamp_jump_backward_three_seconds() {
    // Three seconds back from frame 30 (1 s): any backward jump is a discontinuity.
    jump_starts_a_new_file("jump-backward", 180, -3 * 90_000);
}

#[test]
fn timestamp_jump_within_the_limit_is_dropped_frames_not_an_error() {
    // With the check off (`--max-timestamp-jump 0s`), a backward jump of 3 s from frame 30
    // drops frames 30..120 (at or before 29/30 s) with a warning; frames from 120 (1.0 s
    // again) fill up to 2 s. Six seconds of stream.
    let script = script().with_frames(180).with_fault(Fault::TimestampJump {
        frame: 30,
        delta_90k: -3 * 90_000,
    });
    let (run, dir, _server) =
        record_from("jump-backward-off", script, &["--max-timestamp-jump", "0s"]);
    run.assert_succeeded();
    assert!(
        run.stderr.contains("dropping"),
        "warns about dropped frames"
    );
    let frames = decodable_h264_frames(&dir.out());
    eprintln!("[jump-backward-off] {frames} frames in the file");
    assert_eq!(frames, 60);
}

/// A bad payload (from frame 20 on) is a media error (exit code 6, as the README's table
/// says: retina refuses each of these pictures) with one clean error line, and the file
/// keeps every frame before the bad one.
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
    let line = run.assert_failed_with(MEDIA, needles);
    assert!(!line.contains("conn:") && !line.contains("pkt:"), "{line}");
    let frames = decodable_h264_frames(&dir.out());
    eprintln!("[{name}] file keeps {frames} decodable frames (bad picture {bad})");
    assert_eq!(frames, bad as i64, "the frames before the bad one are kept");
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
    // 31 frames of real-time video (a keyframe every 30: the 31st is the second keyframe),
    // then silence on an open connection (the stall timeout, 10 s, is not reached). The
    // second keyframe ends the first 1 s fragment, which reaches the `.partial`: once it is
    // there, the recorder has received all 31 frames, and SIGTERM must finalize them all,
    // with exit 0.
    let script = script()
        .with_pacing(Pacing::RealTime)
        .with_fault(Fault::Stall { after_frames: 31 });
    let server = FakeRtspServer::start(script.with_timeout(RUN_TIMEOUT)).expect("server");
    let dir = scratch("stall");
    let out = dir.out();
    let partial = dir.0.join("out.mp4.partial");
    let url = server.url_with_credentials(USER, PASSWORD);
    let args = [
        "-v",
        "-v",
        "record",
        url.as_str(),
        "-o",
        out.to_str().expect("utf-8"),
        "--duration",
        "5s",
    ];
    let inv = Invocation {
        args: args.to_vec(),
        ..Invocation::default()
    };
    let first_fragment_written =
        |_: &str| std::fs::read(&partial).is_ok_and(|b| b.windows(4).any(|w| w == b"moof"));
    let run = tests::harness::run_until("stall", &dir.0, &inv, first_fragment_written);
    run.assert_succeeded();
    assert!(run.stderr.contains("SIGTERM"), "{}", run.stderr);
    assert_eq!(server.video_frames_sent(), 31);
    assert_eq!(decodable_h264_frames(&out), 31);
}

#[test]
fn stall_timeout_ends_the_session() {
    // Half a second of real-time video, then silence on an open connection: with
    // `--stall-timeout 1s` and no retries, the session ends as lost (exit 3) about 1 s
    // later, before `--duration 2s`, and the file holds what arrived.
    let script = script()
        .with_pacing(Pacing::RealTime)
        .with_fault(Fault::Stall { after_frames: 15 });
    let (run, dir, server) = record_from("stall-timeout", script, &["--stall-timeout", "1s"]);
    let line = run.assert_failed_with(UNREACHABLE, &["no media for 1s", "stall-timeout"]);
    eprintln!("[stall-timeout] {line}");
    assert_eq!(server.video_frames_sent(), 15);
    assert_eq!(decodable_h264_frames(&dir.out()), 15);
}
