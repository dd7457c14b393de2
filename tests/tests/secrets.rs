//! A password that needs escaping (`p@ss:w%d;`: an `@` and a `:` that end URL userinfo
//! fields, a `%` that starts an escape, a `;` that some parsers split on), given through
//! every source the recorder reads it from (the URL, percent-encoded; `--password-file`;
//! `RECORDER_PASSWORD`; a `run` configuration's `password_file` and `password_env`),
//! end to end against the fake server with Basic and Digest authentication, at
//! `RUST_LOG=trace` (retina's logs included): the runs must succeed (the password reached
//! the server intact), and neither the password, raw or percent-encoded, nor the Basic
//! credentials may appear on stdout or stderr, in any log line (reconnect warnings and
//! JSON logs included) or error.
//!
//! Needs ffmpeg and ffprobe (`apt-get install -y ffmpeg`).

use std::time::Duration;

use base64::Engine as _;
use tests::fake_rtsp::{Auth, End, FakeRtspServer, Pacing, Script};
use tests::harness::{Invocation, RUN_TIMEOUT, Run, Scratch, USER, decodable_h264_frames};

/// The password: every character that URL userinfo or a naive parser treats specially.
const PASSWORD: &str = "p@ss:w%d;";
/// How it is written in URL userinfo.
const PASSWORD_IN_URL: &str = "p%40ss%3Aw%25d%3B";

/// Exit codes (see `recorder --help`).
const USAGE: i32 = 2;
const AUTH: i32 = 4;

/// Every form of the secret that must never be printed.
fn forbidden() -> Vec<String> {
    let b64 = base64::engine::general_purpose::STANDARD;
    vec![
        PASSWORD.to_owned(),
        PASSWORD_IN_URL.to_owned(),
        PASSWORD_IN_URL.to_lowercase(),
        // Its distinctive middle, in case only a part is printed (`p@ss`, `w%d;`).
        "ss:w%d".to_owned(),
        "%3Aw%25".to_owned(),
        b64.encode(format!("{USER}:{PASSWORD}")),
    ]
}

/// No form of the password on stdout or stderr, and no panic.
fn assert_no_secret(run: &Run) {
    eprintln!(
        "[{}] exit {:?} after {:.2} s, {} stderr lines; error lines: {:?}",
        run.name,
        run.code(),
        run.elapsed.as_secs_f64(),
        run.stderr.lines().count(),
        run.error_lines()
    );
    for (what, text) in [("stdout", &run.stdout), ("stderr", &run.stderr)] {
        assert!(!text.contains("panicked"), "[{}] panic:\n{text}", run.name);
        for secret in forbidden() {
            assert!(
                !text.contains(&secret),
                "[{}] {secret:?} printed on {what}:\n{text}",
                run.name
            );
        }
    }
}

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

/// `rtsp://user:p%40ss%3Aw%25d%3B@127.0.0.1:PORT/x`.
fn url_with_password(server: &FakeRtspServer) -> String {
    format!(
        "rtsp://{USER}:{PASSWORD_IN_URL}@127.0.0.1:{}/x",
        server.port()
    )
}

/// `recorder ARGS` with `RUST_LOG=trace` and `env`.
fn run(name: &str, dir: &Scratch, args: &[&str], env: &[(&str, &str)]) -> Run {
    let mut all_env = vec![("RUST_LOG", "trace")];
    all_env.extend_from_slice(env);
    let run = tests::harness::run(
        name,
        &dir.0,
        &Invocation {
            args: args.to_vec(),
            env: all_env,
            ..Invocation::default()
        },
    );
    assert_no_secret(&run);
    run
}

/// `recorder record URL -o DIR/out.mp4 --duration 1s --max-retries 0 EXTRA...`.
fn record(name: &str, dir: &Scratch, url: &str, extra: &[&str], env: &[(&str, &str)]) -> Run {
    let out = dir.out();
    let mut args = vec![
        "record",
        url,
        "-o",
        out.to_str().expect("utf-8 temp path"),
        "--duration",
        "1s",
        "--max-retries",
        "0",
    ];
    args.extend_from_slice(extra);
    run(name, dir, &args, env)
}

fn assert_recorded(run: &Run, dir: &Scratch) {
    assert_eq!(run.code(), Some(0), "[{}] {}", run.name, run.stderr);
    assert!(
        run.stderr.contains(" TRACE retina::"),
        "[{}] retina's trace logs are on",
        run.name
    );
    assert_eq!(decodable_h264_frames(&dir.out()), 30, "[{}]", run.name);
}

#[test]
fn password_in_the_url_percent_encoded() {
    for (name, auth) in [
        ("url-basic", Auth::basic(USER, PASSWORD)),
        ("url-digest", Auth::digest(USER, PASSWORD)),
    ] {
        let server = server(script().with_auth(auth));
        let dir = Scratch::new("secrets", name);
        let run = record(name, &dir, &url_with_password(&server), &[], &[]);
        assert_recorded(&run, &dir);
        let redacted = format!("rtsp://{USER}:***@127.0.0.1:{}/x", server.port());
        assert!(
            run.stderr.contains(&redacted),
            "[{name}] the URL is shown redacted"
        );
    }
}

#[test]
fn password_from_a_file_and_from_the_environment() {
    let server = server(script().with_auth(Auth::digest(USER, PASSWORD)));
    let dir = Scratch::new("secrets", "file");
    let file = dir.0.join("password");
    std::fs::write(&file, format!("{PASSWORD}\n")).expect("write password file");
    let file = file.to_str().expect("utf-8").to_owned();
    let args = ["--username", USER, "--password-file", file.as_str()];
    let run = record("file", &dir, &server.url(), &args, &[]);
    assert_recorded(&run, &dir);

    let dir = Scratch::new("secrets", "env");
    let run = record(
        "env",
        &dir,
        &format!("rtsp://{USER}@127.0.0.1:{}/x", server.port()),
        &[],
        &[("RECORDER_PASSWORD", PASSWORD)],
    );
    assert_recorded(&run, &dir);
}

/// `recorder run` with one camera per configuration source (`password_file`,
/// `password_env`), then `run --check`, which prints the settings.
#[test]
fn password_from_a_run_configuration() {
    let server = server(script().with_auth(Auth::basic(USER, PASSWORD)));
    let dir = Scratch::new("secrets", "run");
    let pw_file = dir.0.join("password");
    std::fs::write(&pw_file, PASSWORD).expect("write password file");
    let root = dir.0.display();
    let config = format!(
        r#"
[defaults]
username = "{USER}"
output = "{root}/{{name}}/out.mp4"
segment_duration = "none"

[[camera]]
name = "from-file"
url = "rtsp://127.0.0.1:{port}/x"
password_file = "{file}"

[[camera]]
name = "from-env"
url = "rtsp://127.0.0.1:{port}/x"
password_env = "CAM_PASSWORD"
"#,
        port = server.port(),
        file = pw_file.display(),
    );
    let config_path = dir.0.join("cameras.toml");
    std::fs::write(&config_path, config).expect("write config");
    let config_path = config_path.to_str().expect("utf-8");
    let env = [("CAM_PASSWORD", PASSWORD)];
    let run_ = run(
        "run",
        &dir,
        &["run", "--config", config_path, "--duration", "1s"],
        &env,
    );
    assert_eq!(run_.code(), Some(0), "{}", run_.stderr);
    assert!(run_.stderr.contains(" TRACE retina::"), "{}", run_.stderr);
    for camera in ["from-file", "from-env"] {
        let file = dir.0.join(camera).join("out.mp4");
        assert_eq!(decodable_h264_frames(&file), 30, "{camera}");
    }
    let check = run(
        "run-check",
        &dir,
        &["run", "--config", config_path, "--check"],
        &env,
    );
    assert_eq!(check.code(), Some(0), "{}", check.stderr);
}

/// The failures: rejected credentials (401, in text and JSON logs), a URL without a host
/// (a usage error that quotes the URL), and a reconnect warning, all carrying the URL.
#[test]
fn password_never_in_errors_reconnect_warnings_or_json_logs() {
    let wrong = server(script().with_auth(Auth::basic(USER, "another-pw")));
    let dir = Scratch::new("secrets", "401");
    let run_ = record("401", &dir, &url_with_password(&wrong), &[], &[]);
    assert_eq!(run_.code(), Some(AUTH), "{}", run_.stderr);
    let json = record(
        "401-json",
        &dir,
        &url_with_password(&wrong),
        &["--log-format", "json"],
        &[],
    );
    assert_eq!(json.code(), Some(AUTH), "{}", json.stderr);
    let last = json.stderr.lines().last().expect("an error line");
    let last: serde_json::Value = serde_json::from_str(last).expect("a JSON error line");
    assert_eq!(last["exit_code"], AUTH, "{last}");

    let bad = format!("rtsp://{USER}:{PASSWORD_IN_URL}@/x");
    let usage = record("no-host", &dir, &bad, &[], &[]);
    assert_eq!(usage.code(), Some(USAGE), "{}", usage.stderr);
    assert!(usage.error_lines()[0].contains(":***@"), "{}", usage.stderr);

    // One second per session, then the server closes it: the recorder reconnects.
    let closing = server(
        script()
            .with_auth(Auth::digest(USER, PASSWORD))
            .with_pacing(Pacing::RealTime)
            .with_frames(30)
            .with_end(End::Close),
    );
    let dir = Scratch::new("secrets", "reconnect");
    let out = dir.out();
    let url = url_with_password(&closing);
    let args = [
        "--log-format",
        "json",
        "record",
        url.as_str(),
        "-o",
        out.to_str().expect("utf-8"),
        "--duration",
        "2500ms",
    ];
    let reconnect = run("reconnect-json", &dir, &args, &[]);
    assert_eq!(reconnect.code(), Some(0), "{}", reconnect.stderr);
    assert!(
        reconnect.stderr.contains(r#""level":"TRACE""#),
        "trace logs are on"
    );
    let warning = reconnect
        .stderr
        .lines()
        .find(|l| l.contains("reconnecting in"))
        .unwrap_or_else(|| panic!("no reconnect warning:\n{}", reconnect.stderr));
    assert!(warning.contains(":***@127.0.0.1"), "{warning}");
}
