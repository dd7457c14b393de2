//! `recorder run --config FILE`: the cameras' TOML configuration, checked as a whole before
//! anything starts.
//!
//! ```toml
//! [defaults]                      # optional: any key below but name and url
//! segment_duration = "10m"
//!
//! [[camera]]
//! name = "front"                  # unique, non-empty, no '/'; {name} in output templates
//! url = "rtsp://10.0.0.5/stream1" # credentials may be inline or in the keys below
//! output = "/srv/rec/{name}/%Y-%m-%d/%H-%M-%S.mp4"
//! # optional: username, password_file, password_env, transport, segment_duration, format,
//! # fragment_duration, sync, audio, video, stall_timeout, max_timestamp_jump, max_retries, utc,
//! # initial_timestamp, teardown, allow_loss
//! ```
//!
//! The file is read as a TOML table and walked key by key (rather than derived with
//! `serde`), so that every error names the camera and the key:
//! `config cameras.toml: camera "front": key "segment_duration": invalid duration "10q"`.
//! Unknown keys are errors.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::anyhow;
use clap::ValueEnum;
use toml::{Table, Value};

use crate::camera::{CameraConfig, DEFAULT_MAX_TIMESTAMP_JUMP, DEFAULT_STALL_TIMEOUT};
use crate::options::args::{
    FormatArg, InitialTimestampArg, PasswordSources, SyncArg, TeardownArg, TransportArg,
    parse_fragment_duration, read_password_file, resolve_credentials,
};
use crate::output::template::Template;

/// A camera's optional keys (or `[defaults]`), parsed.
#[derive(Clone, Debug, Default, PartialEq)]
struct Settings {
    output: Option<String>,
    username: Option<String>,
    password_file: Option<PathBuf>,
    password_env: Option<String>,
    transport: Option<TransportArg>,
    segment_duration: Option<Duration>,
    format: Option<FormatArg>,
    fragment_duration: Option<Duration>,
    sync: Option<SyncArg>,
    audio: Option<bool>,
    video: Option<bool>,
    stall_timeout: Option<Duration>,
    max_timestamp_jump: Option<Duration>,
    max_retries: Option<u32>,
    utc: Option<bool>,
    initial_timestamp: Option<InitialTimestampArg>,
    teardown: Option<TeardownArg>,
    allow_loss: Option<bool>,
}

impl Settings {
    /// `self`'s values, else `defaults`'.
    fn or(self, defaults: &Settings) -> Settings {
        let d = defaults.clone();
        Settings {
            output: self.output.or(d.output),
            username: self.username.or(d.username),
            password_file: self.password_file.or(d.password_file),
            password_env: self.password_env.or(d.password_env),
            transport: self.transport.or(d.transport),
            segment_duration: self.segment_duration.or(d.segment_duration),
            format: self.format.or(d.format),
            fragment_duration: self.fragment_duration.or(d.fragment_duration),
            sync: self.sync.or(d.sync),
            audio: self.audio.or(d.audio),
            video: self.video.or(d.video),
            stall_timeout: self.stall_timeout.or(d.stall_timeout),
            max_timestamp_jump: self.max_timestamp_jump.or(d.max_timestamp_jump),
            max_retries: self.max_retries.or(d.max_retries),
            utc: self.utc.or(d.utc),
            initial_timestamp: self.initial_timestamp.or(d.initial_timestamp),
            teardown: self.teardown.or(d.teardown),
            allow_loss: self.allow_loss.or(d.allow_loss),
        }
    }

    /// Parses one `key = value` of the optional keys; `Ok(false)` for another key.
    fn set(&mut self, key: &str, value: &Value) -> Result<bool, String> {
        match key {
            "output" => self.output = Some(string(value)?),
            "username" => self.username = Some(string(value)?),
            "password_file" => self.password_file = Some(PathBuf::from(string(value)?)),
            "password_env" => {
                let name = string(value)?;
                if name.is_empty() || name.contains('=') {
                    return Err(format!("invalid environment variable name {name:?}"));
                }
                self.password_env = Some(name);
            }
            "transport" => self.transport = Some(choice(value)?),
            "segment_duration" => self.segment_duration = Some(duration(value)?),
            "format" => self.format = Some(choice(value)?),
            "fragment_duration" => {
                let text = string(value)?;
                duration(value)?;
                self.fragment_duration = Some(
                    parse_fragment_duration(&text)
                        .map_err(|e| format!("invalid duration {text:?}: {e}"))?,
                );
            }
            "sync" => self.sync = Some(choice(value)?),
            "audio" => self.audio = Some(boolean(value)?),
            "video" => self.video = Some(boolean(value)?),
            "stall_timeout" => self.stall_timeout = Some(duration(value)?),
            "max_timestamp_jump" => self.max_timestamp_jump = Some(duration(value)?),
            "max_retries" => {
                let n = value
                    .as_integer()
                    .ok_or_else(|| expected("an integer", value))?;
                self.max_retries = Some(
                    u32::try_from(n)
                        .map_err(|_| format!("must be between 0 and {}, not {n}", u32::MAX))?,
                );
            }
            "utc" => self.utc = Some(boolean(value)?),
            "initial_timestamp" => self.initial_timestamp = Some(choice(value)?),
            "teardown" => self.teardown = Some(choice(value)?),
            "allow_loss" => self.allow_loss = Some(boolean(value)?),
            _ => return Ok(false),
        }
        Ok(true)
    }
}

fn expected(what: &str, value: &Value) -> String {
    format!("expected {what}, found {}", value.type_str())
}

fn string(value: &Value) -> Result<String, String> {
    value
        .as_str()
        .map(str::to_owned)
        .ok_or_else(|| expected("a string", value))
}

fn boolean(value: &Value) -> Result<bool, String> {
    value
        .as_bool()
        .ok_or_else(|| expected("true or false", value))
}

/// A positive duration such as `"10s"`, `"5m"`, `"1h30m"`.
fn duration(value: &Value) -> Result<Duration, String> {
    let text = value
        .as_str()
        .ok_or_else(|| expected("a duration such as \"10s\"", value))?;
    let d = humantime::parse_duration(text).map_err(|_| format!("invalid duration {text:?}"))?;
    if d.is_zero() {
        return Err(format!(
            "invalid duration {text:?}: must be greater than zero"
        ));
    }
    Ok(d)
}

/// One of a command-line option's values (`"tcp"`, `"fmp4"`, ...).
fn choice<T: ValueEnum>(value: &Value) -> Result<T, String> {
    let text = string(value)?;
    T::from_str(&text, false).map_err(|_| {
        let names: Vec<String> = T::value_variants()
            .iter()
            .filter_map(|v| v.to_possible_value().map(|p| p.get_name().to_owned()))
            .collect();
        format!(
            "invalid value {text:?} (expected one of: {})",
            names.join(", ")
        )
    })
}

/// A camera as written in the file, checked but not yet resolved (password files and
/// environment variables not read).
#[derive(Clone, Debug, PartialEq)]
struct Entry {
    name: String,
    url: String,
    /// The output template, `{name}` replaced.
    output: PathBuf,
    settings: Settings,
}

/// Formats an error about `key` of `place` in the file `file`.
fn key_error(file: &str, place: &str, key: &str, msg: impl std::fmt::Display) -> anyhow::Error {
    anyhow!("config {file}: {place}: key {key:?}: {msg}")
}

/// Parses and checks the text of a configuration file; `file` names it in errors.
fn parse(text: &str, file: &str) -> anyhow::Result<Vec<Entry>> {
    let table: Table = text
        .parse()
        .map_err(|e: toml::de::Error| anyhow!("config {file}: invalid TOML: {}", e.message()))?;
    let mut defaults = Settings::default();
    let mut cameras: Option<&Vec<Value>> = None;
    for (key, value) in &table {
        match key.as_str() {
            "defaults" => {
                let t = value
                    .as_table()
                    .ok_or_else(|| anyhow!("config {file}: [defaults] must be a table"))?;
                for (k, v) in t {
                    match defaults.set(k, v) {
                        Ok(true) => {}
                        Ok(false) => return Err(key_error(file, "[defaults]", k, "unknown key")),
                        Err(msg) => return Err(key_error(file, "[defaults]", k, msg)),
                    }
                }
            }
            "camera" => {
                cameras = Some(
                    value
                        .as_array()
                        .ok_or_else(|| anyhow!("config {file}: cameras are [[camera]] tables"))?,
                );
            }
            other => return Err(anyhow!("config {file}: key {other:?}: unknown key")),
        }
    }
    let cameras = cameras
        .filter(|c| !c.is_empty())
        .ok_or_else(|| anyhow!("config {file}: no camera ([[camera]] tables)"))?;
    let mut entries: Vec<Entry> = Vec::with_capacity(cameras.len());
    for (i, value) in cameras.iter().enumerate() {
        let number = format!("camera #{}", i + 1);
        let t = value
            .as_table()
            .ok_or_else(|| anyhow!("config {file}: {number}: not a table"))?;
        let place = match t.get("name").and_then(Value::as_str) {
            Some(n) if !n.is_empty() => format!("camera {n:?}"),
            _ => number.clone(),
        };
        let err = |key: &str, msg: &dyn std::fmt::Display| key_error(file, &place, key, msg);
        let name = match t.get("name") {
            None => return Err(err("name", &"missing")),
            Some(v) => string(v).map_err(|m| err("name", &m))?,
        };
        if name.is_empty() {
            return Err(err("name", &"must not be empty"));
        }
        if name.contains(['/', '\0']) || name.chars().any(char::is_control) {
            return Err(err(
                "name",
                &format!("invalid name {name:?}: no '/' or control characters"),
            ));
        }
        if let Some(k) = entries.iter().position(|e| e.name == name) {
            return Err(err(
                "name",
                &format!("duplicate name (camera #{} has it too)", k + 1),
            ));
        }
        let mut settings = Settings::default();
        let mut url = None;
        for (k, v) in t {
            match k.as_str() {
                "name" => {}
                "url" => url = Some(string(v).map_err(|m| err(k, &m))?),
                _ => match settings.set(k, v) {
                    Ok(true) => {}
                    Ok(false) => return Err(err(k, &"unknown key")),
                    Err(msg) => return Err(err(k, &msg)),
                },
            }
        }
        let url = url.ok_or_else(|| err("url", &"missing"))?;
        rtsp_ingest::split_credentials(&url).map_err(|e| err("url", &e))?;
        let settings = settings.or(&defaults);
        let output = settings
            .output
            .as_deref()
            .ok_or_else(|| err("output", &"missing (give it here or in [defaults])"))?
            .replace("{name}", &name);
        Template::parse(Path::new(&output)).map_err(|e| err("output", &format!("{e:#}")))?;
        if settings.video == Some(false) && settings.audio == Some(false) {
            return Err(err("video", &"video and audio cannot both be false"));
        }
        entries.push(Entry {
            name,
            url,
            output: PathBuf::from(output),
            settings,
        });
    }
    Ok(entries)
}

impl Entry {
    /// Reads the password file and environment variable, resolves the credentials and
    /// fills in the defaults of `recorder record`.
    fn resolve(self, file: &str) -> anyhow::Result<CameraConfig> {
        let place = format!("camera {:?}", self.name);
        let s = self.settings;
        let password_file = match &s.password_file {
            Some(path) => Some(
                read_password_file(path)
                    .map_err(|e| key_error(file, &place, "password_file", format!("{e:#}")))?,
            ),
            None => None,
        };
        let password_env = match &s.password_env {
            Some(var) => Some(
                std::env::var(var)
                    .map_err(|e| key_error(file, &place, "password_env", format!("{var}: {e}")))?,
            ),
            None => None,
        };
        let passwords = PasswordSources {
            file: password_file,
            env: password_env,
        };
        let credentials = resolve_credentials(&self.url, s.username.as_deref(), &passwords)
            .map_err(|e| key_error(file, &place, "username", format!("{e:#}")))?;
        Ok(CameraConfig {
            name: Some(self.name),
            url: self.url,
            credentials,
            output: self.output,
            utc: s.utc.unwrap_or(false),
            segment_duration: s.segment_duration,
            format: s.format.unwrap_or(FormatArg::Mp4),
            fragment_duration: s.fragment_duration.unwrap_or(Duration::from_secs(1)),
            sync: s.sync.unwrap_or(SyncArg::Fragment),
            transport: s.transport.unwrap_or(TransportArg::Tcp),
            video: s.video.unwrap_or(true),
            audio: s.audio.unwrap_or(true),
            allow_loss: s.allow_loss.unwrap_or(false),
            initial_timestamp: s
                .initial_timestamp
                .unwrap_or(InitialTimestampArg::Permissive),
            teardown: s.teardown.unwrap_or(TeardownArg::Auto),
            stall_timeout: s.stall_timeout.unwrap_or(DEFAULT_STALL_TIMEOUT),
            max_timestamp_jump: s.max_timestamp_jump.unwrap_or(DEFAULT_MAX_TIMESTAMP_JUMP),
            max_retries: s.max_retries,
        })
    }
}

/// Reads, checks and resolves the configuration file at `path`.
pub fn load(path: &Path) -> anyhow::Result<Vec<CameraConfig>> {
    let file = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|e| anyhow!("config {file}: {e}"))?;
    parse(&text, &file)?
        .into_iter()
        .map(|e| e.resolve(&file))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const FILE: &str = "cameras.toml";

    fn error(text: &str) -> String {
        match parse(text, FILE) {
            Ok(entries) => panic!("accepted: {entries:?}"),
            Err(e) => format!("{e:#}"),
        }
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
        assert_eq!(front.output, PathBuf::from("/srv/rec/front/%H-%M-%S.mp4"));
        let s = &front.settings;
        assert_eq!(s.segment_duration, Some(Duration::from_secs(600)));
        assert_eq!(s.stall_timeout, Some(Duration::from_secs(5)));
        assert_eq!(s.transport, Some(TransportArg::Tcp));
        assert_eq!(s.format, Some(FormatArg::Fmp4));
        assert_eq!(s.fragment_duration, Some(Duration::from_millis(500)));
        assert_eq!(s.sync, Some(SyncArg::None));
        assert_eq!(s.audio, Some(false));
        assert_eq!(s.max_retries, Some(3));
        assert_eq!(s.utc, Some(true));
        assert_eq!(s.initial_timestamp, Some(InitialTimestampArg::Ignore));
        assert_eq!(s.teardown, Some(TeardownArg::Always));
        assert_eq!(s.allow_loss, Some(true));
        let yard = &entries[1];
        assert_eq!(yard.output, PathBuf::from("yard.mp4"));
        assert_eq!(yard.settings.transport, Some(TransportArg::Udp));
        assert_eq!(yard.settings.password_env.as_deref(), Some("YARD_PASSWORD"));

        let cam = entries[0].clone().resolve(FILE).expect("resolvable");
        assert_eq!(cam.name.as_deref(), Some("front"));
        let creds = cam.credentials.expect("from the url");
        assert_eq!((creds.username(), creds.password()), ("admin", "pw"));
        assert!(!cam.audio && cam.video);
        assert_eq!(cam.max_retries, Some(3));
    }

    #[test]
    fn minimal_camera_gets_record_defaults() {
        let cam = parse(FRONT, FILE).expect("valid").remove(0).resolve(FILE);
        let cam = cam.expect("resolvable");
        assert_eq!(cam.stall_timeout, Duration::from_secs(10));
        assert_eq!(cam.max_retries, None);
        assert_eq!(cam.transport, TransportArg::Tcp);
        assert_eq!(cam.format, FormatArg::Mp4);
        assert_eq!(cam.fragment_duration, Duration::from_secs(1));
        assert_eq!(cam.initial_timestamp, InitialTimestampArg::Permissive);
        assert!(cam.video && cam.audio && !cam.allow_loss && !cam.utc);
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
            r#"config cameras.toml: camera "front": key "fragment_duration": expected a string, found integer"#
        );
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
            e.starts_with(
                r#"config cameras.toml: camera "front": key "url": invalid url not a url: "#
            ),
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
        let e = format!("{:#}", entry.resolve(FILE).unwrap_err());
        assert!(
            e.starts_with(
                r#"config cameras.toml: camera "front": key "password_file": cannot read password file /nonexistent/recorder-test-pw: "#
            ),
            "{e}"
        );
    }
}
