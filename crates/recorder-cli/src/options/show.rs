//! `recorder run --check`: each camera's effective settings, defaults included, as the
//! TOML of a `[[camera]]` table that would give the same camera (passwords shown as
//! `***`, URLs redacted).

use std::fmt::{Debug, Write as _};
use std::time::Duration;

use crate::camera::config::CameraConfig;

/// A value's name as the options spell it: the enum variant in kebab case (`mp4`, `tcp`,
/// `skip-to-keyframe`, ...), as clap's `ValueEnum` derives it.
fn choice(value: impl Debug) -> String {
    let mut out = String::new();
    for (i, c) in format!("{value:?}").chars().enumerate() {
        if c.is_ascii_uppercase() && i > 0 {
            out.push('-');
        }
        out.push(c.to_ascii_lowercase());
    }
    out
}

/// The `audio_format` value that resolves to `storage`.
fn audio_format(storage: audio_pcm::Storage) -> &'static str {
    match storage {
        audio_pcm::Storage::Flac => "flac",
        audio_pcm::Storage::AsReceived => "g711",
        audio_pcm::Storage::Ipcm => "pcm",
    }
}

fn duration(d: Duration) -> String {
    humantime::format_duration(d).to_string()
}

fn bound(d: Option<Duration>) -> String {
    d.map_or_else(|| "none".to_owned(), duration)
}

/// The `[[camera]]` table of `camera`'s effective settings.
pub fn effective(camera: &CameraConfig) -> String {
    let quoted = |s: &str| format!("{s:?}");
    let mut keys: Vec<(&str, String)> = Vec::new();
    if let Some(name) = &camera.name {
        keys.push(("name", quoted(name)));
    }
    keys.push(("url", quoted(&rtsp_ingest::redact_url(&camera.url))));
    if let Some(c) = &camera.credentials {
        keys.push(("username", quoted(c.username())));
    }
    let size = camera.max_file_bytes.map_or_else(
        || "none".to_owned(),
        |b| bytesize::ByteSize::b(b).display().si().to_string(),
    );
    keys.extend([
        ("output", quoted(&camera.output.display().to_string())),
        ("utc", camera.utc.to_string()),
        ("segment_duration", quoted(&bound(camera.segment_duration))),
        (
            "max_file_duration",
            quoted(&bound(camera.max_file_duration)),
        ),
        ("max_file_size", quoted(&size)),
        ("format", quoted(&choice(camera.format))),
        (
            "fragment_duration",
            quoted(&duration(camera.fragment_duration)),
        ),
        ("sync", quoted(&choice(camera.sync))),
        ("transport", quoted(&choice(camera.transport))),
        ("video", camera.video.to_string()),
        ("audio", camera.audio.to_string()),
        ("on_loss", quoted(&choice(camera.on_loss))),
        ("audio_format", quoted(audio_format(camera.audio_format))),
        (
            "initial_timestamp",
            quoted(&choice(camera.initial_timestamp)),
        ),
        ("teardown", quoted(&choice(camera.teardown))),
        ("stall_timeout", quoted(&duration(camera.stall_timeout))),
        (
            "max_timestamp_jump",
            quoted(&duration(camera.max_timestamp_jump)),
        ),
    ]);
    if let Some(n) = camera.max_retries {
        keys.push(("max_retries", n.to_string()));
    }
    let mut out = String::from("[[camera]]\n");
    for (key, value) in keys {
        let _ = writeln!(out, "{key} = {value}");
    }
    if camera.credentials.is_some() {
        out.push_str("# password: *** (set)\n");
    }
    if camera.max_retries.is_none() {
        out.push_str("# max_retries: not set (never give up)\n");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What `--check` prints is a config that gives the same camera back (but for the
    /// password, which it never shows).
    #[test]
    fn effective_settings_read_back_as_the_same_camera() {
        let text = r#"
            [defaults]
            segment_duration = "15m"
            max_file_size = "2GB"
            [[camera]]
            name = "front"
            url = "rtsp://admin:s3cr%40t@10.0.0.5/stream1"
            output = "/srv/rec/{name}/%H-%M-%S.mp4"
            transport = "udp"
            teardown = "always"
            on_loss = "skip-to-keyframe"
            max_retries = 4
            [[camera]]
            name = "yard"
            url = "rtsp://10.0.0.6/live"
            output = "yard.mp4"
            max_file_duration = "none"
            format = "fmp4"
            sync = "none"
        "#;
        let dir = std::env::temp_dir().join(format!("recorder-show-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("cameras.toml");
        std::fs::write(&path, text).unwrap();
        let cameras = crate::options::file::load(&path, None).unwrap().cameras;
        let shown: Vec<String> = cameras.iter().map(effective).collect();
        assert!(!shown.join("").contains("s3cr"), "{shown:?}");
        assert!(shown[0].contains("url = \"rtsp://admin:***@10.0.0.5/stream1\"\n"));
        assert!(shown[0].contains("# password: *** (set)\n"));
        assert!(shown[0].contains("segment_duration = \"15m\"\n"));
        assert!(shown[0].contains("max_file_duration = \"1day\"\n"));
        assert!(shown[0].contains("max_file_size = \"2.0 GB\"\n"));
        assert!(shown[1].contains("max_file_duration = \"none\"\n"));
        assert!(shown[1].contains("# max_retries: not set (never give up)\n"));
        std::fs::write(&path, shown.join("\n")).unwrap();
        let again = crate::options::file::load(&path, None).unwrap().cameras;
        std::fs::remove_dir_all(&dir).unwrap();
        for (a, b) in cameras.iter().zip(&again) {
            let mut a = a.clone();
            // The password is not shown, and the URL is shown redacted.
            a.credentials = None;
            a.url = rtsp_ingest::redact_url(&a.url);
            let mut b = b.clone();
            b.credentials = None;
            assert_eq!(format!("{a:?}"), format!("{b:?}"));
        }
    }
}
