//! Running the `recorder` binary from end-to-end tests: building it once, scratch
//! directories, runs with captured output and a time limit, and the checks every run must
//! pass (no panic, no password, exactly one `error:` line on failure).
//!
//! The binary: `CARGO_BIN_EXE_recorder` only exists inside the `recorder-cli` package, and a
//! binary-only crate cannot be a dependency, so [`recorder`] runs `cargo build -p
//! recorder-cli --bin recorder` (once per process) with the same target directory as the
//! running test binary (`<target>/debug/deps/` is where cargo puts it, whether the
//! directory comes from `CARGO_TARGET_DIR`, `--target-dir` or the default) and takes the
//! executable's path from cargo's JSON messages.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use base64::Engine as _;

/// The user name the tests use.
pub const USER: &str = "user";
/// The password the tests use; it must never appear in any output.
pub const PASSWORD: &str = "s3cret-pw";
/// Longest a run may take before it is killed and the test fails.
pub const RUN_TIMEOUT: Duration = Duration::from_secs(20);

/// What must never be printed: the password and the Basic `Authorization` credentials
/// (`base64(user:password)`).
pub fn secrets() -> [String; 2] {
    [
        PASSWORD.to_owned(),
        base64::engine::general_purpose::STANDARD.encode(format!("{USER}:{PASSWORD}")),
    ]
}

/// The `recorder` binary, built once per process.
pub fn recorder() -> &'static Path {
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
        // This test binary is <target>/debug/deps/NAME-HASH: build into <target> too.
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

/// A scratch directory under the system's temporary directory, removed on drop.
#[derive(Debug)]
pub struct Scratch(pub PathBuf);

impl Scratch {
    /// `$TMPDIR/<prefix>-<pid>-<name>`, emptied.
    pub fn new(prefix: &str, name: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("{prefix}-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("create scratch dir");
        Self(dir)
    }

    /// `DIR/out.mp4`.
    pub fn out(&self) -> PathBuf {
        self.0.join("out.mp4")
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// How to run the recorder.
#[derive(Clone, Debug, Default)]
pub struct Invocation<'a> {
    /// Arguments.
    pub args: Vec<&'a str>,
    /// Environment variables to set (`RUST_LOG` and `RECORDER_PASSWORD` are removed
    /// unless given here).
    pub env: Vec<(&'a str, &'a str)>,
    /// Send SIGTERM after this long.
    pub sigterm_after: Option<Duration>,
    /// Run it through this program (e.g. `unshare`), the recorder's path and arguments
    /// appended.
    pub wrapper: Vec<&'a str>,
}

/// What a finished run left.
#[derive(Debug)]
pub struct Run {
    /// The test's name for the run.
    pub name: String,
    /// How it ended.
    pub status: ExitStatus,
    /// Its standard output.
    pub stdout: String,
    /// Its standard error.
    pub stderr: String,
    /// How long it ran.
    pub elapsed: Duration,
}

impl Run {
    /// The exit code (`None` when killed by a signal).
    pub fn code(&self) -> Option<i32> {
        self.status.code()
    }

    /// The stderr lines that start with `error:`.
    pub fn error_lines(&self) -> Vec<&str> {
        self.stderr
            .lines()
            .filter(|l| l.starts_with("error:"))
            .collect()
    }

    /// Prints the outcome (visible with `--nocapture`) and checks what holds for every run:
    /// no panic, no password (nor its Basic-auth base64) anywhere.
    pub fn check_common(&self) {
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
            for secret in secrets() {
                assert!(
                    !text.contains(&secret),
                    "[{}] secret {secret:?} printed on {what}:\n{text}",
                    self.name
                );
            }
        }
    }

    /// A clean failure with exit code `code`: exactly one `error:` line, naming the cause
    /// with one of `needles` (case-insensitive). Returns that line.
    pub fn assert_failed_with(&self, code: i32, needles: &[&str]) -> String {
        self.check_common();
        assert_eq!(
            self.status.code(),
            Some(code),
            "[{}] exit status {}, want {code}; stderr:\n{}",
            self.name,
            self.status,
            self.stderr
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
    pub fn print_warnings(&self) {
        for line in self.stderr.lines().filter(|l| l.contains(" WARN ")) {
            eprintln!("[{}] {line}", self.name);
        }
    }

    /// Success: exit 0 and no `error:` line.
    pub fn assert_succeeded(&self) {
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

/// Runs the recorder as `inv` says, with stdout/stderr in files under `dir`; kills it and
/// fails the test after [`RUN_TIMEOUT`].
pub fn run(name: &str, dir: &Path, inv: &Invocation<'_>) -> Run {
    run_until(name, dir, inv, |_| false)
}

/// Like [`run`], and sends SIGTERM as soon as `ready` returns true (asked every 20 ms while
/// the recorder runs; it is given the recorder's stderr so far): a test that stops the
/// recorder waits for an event, not for a time.
pub fn run_until(
    name: &str,
    dir: &Path,
    inv: &Invocation<'_>,
    mut ready: impl FnMut(&str) -> bool,
) -> Run {
    let out_path = dir.join("stdout.txt");
    let err_path = dir.join("stderr.txt");
    let mut cmd = match inv.wrapper.split_first() {
        Some((program, rest)) => {
            let mut c = Command::new(program);
            c.args(rest).arg(recorder());
            c
        }
        None => Command::new(recorder()),
    };
    cmd.args(&inv.args)
        .env_remove("RUST_LOG")
        .env_remove("RECORDER_PASSWORD");
    for (k, v) in &inv.env {
        cmd.env(k, v);
    }
    let mut child = cmd
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
        let due = inv.sigterm_after.is_some_and(|after| elapsed >= after)
            || ready(&std::fs::read_to_string(&err_path).unwrap_or_default());
        if due && !termed {
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

/// `(codec_name, decoded frame count)` of the first stream of `kind` (`v` or `a`), by
/// ffprobe.
pub fn probe(file: &Path, kind: &str) -> (String, i64) {
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

/// How many packets (samples) the first stream of `kind` (`v` or `a`) holds, by ffprobe,
/// whether or not they decode.
pub fn packets(file: &Path, kind: &str) -> i64 {
    let out = Command::new("ffprobe")
        .args(["-v", "error", "-select_streams", &format!("{kind}:0")])
        .args(["-count_packets", "-show_entries", "stream=nb_read_packets"])
        .args(["-of", "csv=p=0"])
        .arg(file)
        .stdin(Stdio::null())
        .output()
        .expect("cannot run ffprobe (apt-get install -y ffmpeg)");
    let text = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    text.parse().unwrap_or_else(|_| {
        panic!(
            "ffprobe {}: {text}{}",
            file.display(),
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

/// A full decode with ffmpeg stops at the first error and prints nothing when clean.
pub fn assert_decodes(file: &Path) {
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
pub fn decodable_h264_frames(file: &Path) -> i64 {
    assert_decodes(file);
    let (codec, frames) = probe(file, "v");
    assert_eq!(codec, "h264");
    frames
}
