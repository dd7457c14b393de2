//! `recorder run --config F --check`: the effective settings of a valid file (exit 0),
//! one error line and exit 2 for a bad one; nothing is connected to.

mod common;

use common::*;

fn check(dir: &TempDir, text: &str) -> (Option<i32>, String, String) {
    let path = dir.path("cameras.toml");
    std::fs::write(&path, text).unwrap();
    let out = recorder(&["run", "--check", "--config"], &path);
    (out.status.code(), stdout(&out), stderr(&out))
}

#[test]
fn a_valid_file_prints_each_cameras_settings() {
    let dir = TempDir::new("check-ok");
    // The address is unroutable: --check must not try it (it would hang or fail).
    let text = r#"
        [[camera]]
        name = "front"
        url = "rtsp://admin:p%40ss:w@192.0.2.1/stream1"
        output = "front.mp4"
        [[camera]]
        name = "yard"
        url = "rtsp://192.0.2.2/live"
        output = "yard/%H.mp4"
        segment_duration = "none"
        max_file_size = "1GB"
    "#;
    let (code, out, err) = check(&dir, text);
    assert_eq!(code, Some(0), "{out}{err}");
    assert!(
        !out.contains("p%40ss") && !err.contains("p%40ss"),
        "{out}{err}"
    );
    assert!(out.contains("2 camera(s), valid"), "{out}");
    let cameras: Vec<&str> = out.split("[[camera]]").skip(1).collect();
    assert_eq!(cameras.len(), 2, "{out}");
    assert!(cameras[0].contains("name = \"front\"\n"));
    assert!(cameras[0].contains("url = \"rtsp://admin:***@192.0.2.1/stream1\"\n"));
    // recorder run's defaults: 10-minute files, at most a day each.
    assert!(cameras[0].contains("segment_duration = \"10m\"\n"), "{out}");
    assert!(
        cameras[0].contains("max_file_duration = \"1day\"\n"),
        "{out}"
    );
    assert!(
        cameras[1].contains("segment_duration = \"none\"\n"),
        "{out}"
    );
    assert!(cameras[1].contains("max_file_size = \"1.0 GB\"\n"), "{out}");
    assert!(!dir.path("front.mp4").exists() && !dir.path("yard").exists());
}

#[test]
fn a_bad_file_is_one_line_and_exit_2() {
    let dir = TempDir::new("check-bad");
    let text = r#"
        [[camera]]
        name = "front"
        url = "rtsp://192.0.2.1/stream1"
        output = "front.mp4"
        segment_duration = "none"
        max_file_duration = "none"
    "#;
    let (code, out, err) = check(&dir, text);
    assert_eq!(code, Some(2), "{out}{err}");
    assert!(out.is_empty(), "{out}");
    let lines: Vec<&str> = err.lines().collect();
    assert_eq!(lines.len(), 1, "{err}");
    assert!(
        lines[0].contains(
            r#"camera "front": key "max_file_duration": "none" would let a file grow without limit"#
        ),
        "{err}"
    );
}
