//! Tests of the config file: what it accepts, and every error naming its key.
use std::time::Duration;

use super::*;
use crate::options::camera::{
    FormatArg, InitialTimestampArg, OnLossArg, SyncArg, TeardownArg, TransportArg,
};
use crate::options::values::Bound;

const FILE: &str = "cameras.toml";

fn error(text: &str) -> String {
    let resolved = parse(text, FILE).and_then(|entries| {
        entries
            .into_iter()
            .map(|e| e.resolve(FILE, None))
            .collect::<anyhow::Result<Vec<_>>>()
    });
    match resolved {
        Ok(cameras) => panic!("accepted: {cameras:?}"),
        Err(e) => format!("{e:#}"),
    }
}

fn secs(s: u64) -> Option<humantime::Duration> {
    Some(Duration::from_secs(s).into())
}

const FRONT: &str = r#"
    [[camera]]
    name = "front"
    url = "rtsp://10.0.0.5/stream1"
    output = "/srv/rec/front/%Y-%m-%d/%H-%M-%S.mp4"
"#;

#[test]
fn full_example_with_defaults() {
    let text = r#"
        [defaults]
        segment_duration = "10m"
        output = "/srv/rec/{name}/%H-%M-%S.mp4"
        stall_timeout = "5s"
        transport = "udp"

        [[camera]]
        name = "front"
        url = "rtsp://admin:pw@10.0.0.5/stream1"
        transport = "tcp"
        format = "fmp4"
        fragment_duration = "500ms"
        sync = "none"
        audio = false
        max_retries = 3
        utc = true
        initial_timestamp = "ignore"
        teardown = "always"
        on_loss = "skip-to-keyframe"
        allow_loss = true

        [[camera]]
        name = "yard"
        url = "rtsp://10.0.0.6/live"
        output = "yard.mp4"
        username = "viewer"
        password_env = "YARD_PASSWORD"
    "#;
    let entries = parse(text, FILE).expect("valid");
    assert_eq!(entries.len(), 2);
    let front = &entries[0];
    assert_eq!(front.name, "front");
    let s = &front.options;
    assert_eq!(s.output, Some(PathBuf::from("/srv/rec/front/%H-%M-%S.mp4")));
    assert_eq!(s.segment_duration, secs(600).map(Bound::At));
    assert_eq!(s.stall_timeout, secs(5));
    assert_eq!(s.transport, Some(TransportArg::Tcp));
    assert_eq!(s.format, Some(FormatArg::Fmp4));
    assert_eq!(s.fragment_duration, Some(Duration::from_millis(500).into()));
    assert_eq!(s.sync, Some(SyncArg::None));
    assert_eq!(s.audio, Some(false));
    assert_eq!(s.max_retries, Some(3));
    assert_eq!(s.utc, Some(true));
    assert_eq!(s.initial_timestamp, Some(InitialTimestampArg::Ignore));
    assert_eq!(s.teardown, Some(TeardownArg::Always));
    assert_eq!(s.on_loss, Some(OnLossArg::SkipToKeyframe));
    assert_eq!(s.allow_loss, Some(true));
    let yard = &entries[1];
    assert_eq!(yard.options.output, Some(PathBuf::from("yard.mp4")));
    assert_eq!(yard.options.transport, Some(TransportArg::Udp));
    assert_eq!(yard.options.password_env.as_deref(), Some("YARD_PASSWORD"));

    let cam = entries[0].clone().resolve(FILE, None).expect("resolvable");
    assert_eq!(cam.name.as_deref(), Some("front"));
    let creds = cam.credentials.expect("from the url");
    assert_eq!((creds.username(), creds.password()), ("admin", "pw"));
    assert!(!cam.audio && cam.video);
    assert_eq!(cam.max_retries, Some(3));
    assert_eq!(cam.on_loss, rtsp_ingest::LossPolicy::SkipToKeyframe);
}

#[test]
fn minimal_camera_gets_record_defaults() {
    let cam = parse(FRONT, FILE)
        .expect("valid")
        .remove(0)
        .resolve(FILE, None);
    let cam = cam.expect("resolvable");
    assert_eq!(cam.stall_timeout, Duration::from_secs(10));
    assert_eq!(cam.max_retries, None);
    assert_eq!(cam.transport, rtsp_ingest::Transport::Tcp);
    assert_eq!(cam.format, crate::output::format::OutputFormat::Mp4);
    assert_eq!(cam.fragment_duration, Duration::from_secs(1));
    assert_eq!(
        cam.initial_timestamp,
        rtsp_ingest::InitialTimestampPolicy::Permissive
    );
    assert_eq!(cam.max_timestamp_jump, Duration::from_secs(10));
    assert!(cam.video && cam.audio && !cam.utc);
    assert_eq!(cam.on_loss, rtsp_ingest::LossPolicy::Keep);
    assert!(cam.credentials.is_none());
}

#[test]
fn unknown_key() {
    let text = format!("{FRONT}colour = \"red\"\n");
    assert_eq!(
        error(&text),
        r#"config cameras.toml: camera "front": key "colour": unknown key"#
    );
    assert_eq!(
        error(&format!("frames = 1\n{FRONT}")),
        r#"config cameras.toml: key "frames": unknown key"#
    );
    assert_eq!(
        error(&format!("[defaults]\nname = \"x\"\n{FRONT}")),
        r#"config cameras.toml: [defaults]: key "name": unknown key"#
    );
}

#[test]
fn bad_duration() {
    let text = format!("{FRONT}segment_duration = \"10q\"\n");
    assert_eq!(
        error(&text),
        r#"config cameras.toml: camera "front": key "segment_duration": invalid duration "10q""#
    );
    let text = format!("{FRONT}stall_timeout = \"0s\"\n");
    assert_eq!(
        error(&text),
        r#"config cameras.toml: camera "front": key "stall_timeout": invalid duration "0s": must be greater than zero"#
    );
    let text = format!("{FRONT}fragment_duration = 2\n");
    assert_eq!(
        error(&text),
        r#"config cameras.toml: camera "front": key "fragment_duration": expected a duration such as "10s", found integer"#
    );
}

#[test]
fn bad_values_in_defaults() {
    let text = format!("[defaults]\nmax_timestamp_jump = \"0s\"\n{FRONT}");
    assert_eq!(
        error(&text),
        r#"config cameras.toml: [defaults]: key "max_timestamp_jump": invalid duration "0s": must be greater than zero"#
    );
    let text = format!("[defaults]\nurl = \"rtsp://cam/x\"\n{FRONT}");
    assert_eq!(
        error(&text),
        r#"config cameras.toml: [defaults]: key "url": unknown key"#
    );
    let text = format!("{FRONT}password_env = \"A=B\"\n");
    assert_eq!(
        error(&text),
        r#"config cameras.toml: camera "front": key "password_env": invalid environment variable name "A=B""#
    );
    let text = format!("{FRONT}fragment_duration = \"100us\"\n");
    assert_eq!(
        error(&text),
        r#"config cameras.toml: camera "front": key "fragment_duration": invalid duration "100us": must be between 1ms and 49days"#
    );
    let text = format!("{FRONT}sync = [\"none\"]\n");
    assert_eq!(
        error(&text),
        r#"config cameras.toml: camera "front": key "sync": expected a string, found array"#
    );
    let text = format!("{FRONT}utc = {{ a = 1 }}\n");
    assert_eq!(
        error(&text),
        r#"config cameras.toml: camera "front": key "utc": expected true or false, found table"#
    );
    let text = format!("{FRONT}max_retries = \"3\"\n");
    assert_eq!(
        error(&text),
        r#"config cameras.toml: camera "front": key "max_retries": expected an integer, found string"#
    );
    let e = error("camera = 1\n");
    assert!(
        e.starts_with(r#"config cameras.toml: key "camera": "#),
        "{e}"
    );
}

/// The keys the README lists are the options' fields, plus name and url.
#[test]
fn config_keys() {
    let mut keys: Vec<&str> = de::struct_fields::<CameraOptions>().to_vec();
    keys.extend(de::struct_fields::<Identity>());
    keys.sort_unstable();
    // The README's list: "Each camera needs `name` ..., `url` ... and `output` ...
    // The optional keys, ...: `username`, ..., `allow_loss`."
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../README.md"))
        .expect("README.md");
    let start = readme
        .find("Each camera needs `name`")
        .expect("the keys paragraph");
    let end = start + readme[start..].find("\n\n").expect("its end");
    let mut listed: Vec<&str> = readme[start..end]
        .split('`')
        .skip(1)
        .step_by(2)
        .filter(|w| w.chars().all(|c| c.is_ascii_lowercase() || c == '_'))
        // Values and command names in the same paragraph.
        .filter(|w| !["true", "false", "run", "record"].contains(w))
        .collect();
    listed.sort_unstable();
    listed.dedup();
    assert_eq!(keys, listed);
}

#[test]
fn duplicate_name() {
    let text = format!("{FRONT}{FRONT}");
    assert_eq!(
        error(&text),
        r#"config cameras.toml: camera "front": key "name": duplicate name (camera #1 has it too)"#
    );
}

#[test]
fn bad_or_missing_name() {
    let text = r#"
        [[camera]]
        url = "rtsp://cam/x"
        output = "x.mp4"
    "#;
    assert_eq!(
        error(text),
        r#"config cameras.toml: camera #1: key "name": missing"#
    );
    let text = format!("{FRONT}[[camera]]\nname = \"\"\nurl = \"rtsp://c/x\"\n");
    assert_eq!(
        error(&text),
        r#"config cameras.toml: camera #2: key "name": must not be empty"#
    );
    let text = "[[camera]]\nname = \"a/b\"\nurl = \"rtsp://c/x\"\noutput = \"x.mp4\"\n";
    assert_eq!(
        error(text),
        r#"config cameras.toml: camera "a/b": key "name": invalid name "a/b": no '/' or control characters"#
    );
}

#[test]
fn bad_url() {
    let text = FRONT.replace("rtsp://10.0.0.5/stream1", "http://user:secret@cam/x");
    assert_eq!(
        error(&text),
        r#"config cameras.toml: camera "front": key "url": invalid url http://user:***@cam/x: scheme must be rtsp, not http"#
    );
    let text = FRONT.replace("rtsp://10.0.0.5/stream1", "not a url");
    let e = error(&text);
    assert!(
        e.starts_with(r#"config cameras.toml: camera "front": key "url": invalid url not a url: "#),
        "{e}"
    );
    let text = "[[camera]]\nname = \"n\"\noutput = \"x.mp4\"\n";
    assert_eq!(
        error(text),
        r#"config cameras.toml: camera "n": key "url": missing"#
    );
}

#[test]
fn missing_output() {
    let text = "[[camera]]\nname = \"side\"\nurl = \"rtsp://cam/x\"\n";
    assert_eq!(
        error(text),
        r#"config cameras.toml: camera "side": key "output": missing (give it here or in [defaults])"#
    );
    let text = "[[camera]]\nname = \"side\"\nurl = \"rtsp://cam/x\"\noutput = \"cams/\"\n";
    assert_eq!(
        error(text),
        r#"config cameras.toml: camera "side": key "output": output "cams/" does not name a file"#
    );
}

#[test]
fn bad_values() {
    let text = format!("{FRONT}transport = \"http\"\n");
    assert_eq!(
        error(&text),
        r#"config cameras.toml: camera "front": key "transport": invalid value "http" (expected one of: tcp, udp)"#
    );
    let text = format!("{FRONT}audio = \"no\"\n");
    assert_eq!(
        error(&text),
        r#"config cameras.toml: camera "front": key "audio": expected true or false, found string"#
    );
    let text = format!("{FRONT}max_retries = -1\n");
    assert_eq!(
        error(&text),
        r#"config cameras.toml: camera "front": key "max_retries": must be between 0 and 4294967295, not -1"#
    );
    let text = format!("{FRONT}audio = false\nvideo = false\n");
    assert_eq!(
        error(&text),
        r#"config cameras.toml: camera "front": key "video": video and audio cannot both be false"#
    );
}

#[test]
fn files_are_bounded_by_default() {
    let resolve = |extra: &str, limit: Option<Duration>| {
        let text = format!("{FRONT}{extra}\n");
        parse(&text, FILE)
            .expect("valid")
            .remove(0)
            .resolve(FILE, limit)
    };
    let cam = resolve("", None).expect("resolvable");
    assert_eq!(cam.segment_duration, Some(Duration::from_secs(600)));
    assert_eq!(cam.max_file_duration, Some(Duration::from_secs(86_400)));
    assert_eq!(cam.max_file_bytes, None);
    // One file per session is allowed: the day's bound stays.
    let cam = resolve("segment_duration = \"none\"", None).expect("resolvable");
    assert_eq!(cam.segment_duration, None);
    assert_eq!(cam.max_file_duration, Some(Duration::from_secs(86_400)));
    // No day's bound, but segments.
    let cam = resolve("max_file_duration = \"none\"", None).expect("resolvable");
    assert_eq!(cam.max_file_duration, None);
    assert_eq!(cam.segment_duration, Some(Duration::from_secs(600)));
    let cam = resolve("max_file_size = \"2GB\"", None).expect("resolvable");
    assert_eq!(cam.max_file_bytes, Some(2_000_000_000));
    // Nothing bounds a file: refused, unless the run itself is bounded or a size is.
    let unbounded = "segment_duration = \"none\"\nmax_file_duration = \"none\"";
    let e = format!("{:#}", resolve(unbounded, None).unwrap_err());
    assert!(
        e.starts_with(
            r#"config cameras.toml: camera "front": key "max_file_duration": "none" would let a file grow without limit"#
        ),
        "{e}"
    );
    assert!(resolve(unbounded, Some(Duration::from_secs(3600))).is_ok());
    let sized = format!("{unbounded}\nmax_file_size = \"500MB\"");
    assert_eq!(
        resolve(&sized, None).unwrap().max_file_bytes,
        Some(500_000_000)
    );
    let text = format!("{FRONT}max_file_size = \"5\"\n");
    assert_eq!(
        error(&text),
        r#"config cameras.toml: camera "front": key "max_file_size": invalid size "5": must be at least 1MB"#
    );
}

#[test]
fn file_level_errors() {
    assert_eq!(
        error(""),
        "config cameras.toml: no camera ([[camera]] tables)"
    );
    let e = error("[[camera]\nname = 1");
    assert!(e.starts_with("config cameras.toml: invalid TOML: "), "{e}");
}

#[test]
fn unreadable_password_file() {
    let text = format!("{FRONT}password_file = \"/nonexistent/recorder-test-pw\"\n");
    let entry = parse(&text, FILE).expect("valid").remove(0);
    let e = format!("{:#}", entry.resolve(FILE, None).unwrap_err());
    assert!(
        e.starts_with(
            r#"config cameras.toml: camera "front": key "password_file": cannot read password file /nonexistent/recorder-test-pw: "#
        ),
        "{e}"
    );
}
