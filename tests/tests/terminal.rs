//! The live status table on a real terminal: `recorder record` runs with its stderr on a
//! pseudo-terminal (rustix's `openpt`), everything it writes is read from the master side,
//! and a small terminal model (text, newlines, and the only control sequences the table
//! uses: cursor up `ESC[nF`, clear to the end `ESC[J`, wrapping off and on `ESC[?7l`/`h`,
//! colors `ESC[...m`) replays it. The table must appear and be redrawn, stay below the log
//! lines that scroll above it, and be gone from the screen at exit; with `--no-status`,
//! `-q` or `--log-format json` nothing may move the cursor (JSON: no escape at all).
//!
//! Needs ffmpeg (`apt-get install -y ffmpeg`).

use std::fs::{File, OpenOptions};
use std::io::Read;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use rustix::pty::{OpenptFlags, grantpt, openpt, ptsname, unlockpt};
use tests::fake_rtsp::{FakeRtspServer, Pacing, Script};
use tests::harness::{RUN_TIMEOUT, Scratch, recorder};

/// The table's header line starts with this.
const HEADER: &str = "CAMERA ";

/// What a run on a terminal wrote, and how it ended.
struct TtyRun {
    code: Option<i32>,
    /// Everything written to the terminal, as text.
    output: String,
}

/// Runs `recorder ARGS` with stdout and stderr on a new pseudo-terminal.
fn run_on_tty(args: &[&str]) -> TtyRun {
    let master = openpt(OpenptFlags::RDWR | OpenptFlags::NOCTTY).expect("openpt");
    grantpt(&master).expect("grantpt");
    unlockpt(&master).expect("unlockpt");
    let name = ptsname(&master, Vec::new()).expect("ptsname");
    let slave = OpenOptions::new()
        .read(true)
        .write(true)
        .open(name.to_str().expect("utf-8 pty name"))
        .expect("open the pty's terminal side");
    let mut child = {
        let mut cmd = Command::new(recorder());
        cmd.args(args)
            .env_remove("RUST_LOG")
            .env_remove("RECORDER_PASSWORD")
            .stdin(Stdio::null())
            .stdout(slave.try_clone().expect("dup pty"))
            .stderr(slave);
        cmd.spawn().expect("start recorder")
        // `cmd` and its copies of the terminal side drop here: only the child holds it.
    };
    // Read until the child's side is closed (EIO on Linux), in a thread, so the child
    // never blocks on a full terminal buffer.
    let mut master = File::from(master);
    let reader = std::thread::spawn(move || {
        let mut out = Vec::new();
        let mut buf = [0u8; 4096];
        loop {
            match master.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => out.extend_from_slice(&buf[..n]),
            }
        }
        out
    });
    let started = Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().expect("wait") {
            break s;
        }
        if started.elapsed() > RUN_TIMEOUT {
            let _ = child.kill();
            let _ = child.wait();
            panic!("recorder did not finish within {RUN_TIMEOUT:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let output = reader.join().expect("reader thread");
    TtyRun {
        code: status.code(),
        output: String::from_utf8_lossy(&output).into_owned(),
    }
}

/// A terminal that understands what the recorder writes; anything else fails the test.
#[derive(Debug, Default)]
struct Screen {
    lines: Vec<String>,
    row: usize,
    /// The screen each time a table draw ended (`ESC[?7h`).
    after_draws: Vec<Vec<String>>,
}

impl Screen {
    fn replay(output: &str) -> Self {
        let mut s = Screen {
            lines: vec![String::new()],
            ..Screen::default()
        };
        let mut chars = output.chars().peekable();
        while let Some(c) = chars.next() {
            match c {
                '\r' => {}
                '\n' => {
                    s.row += 1;
                    if s.lines.len() == s.row {
                        s.lines.push(String::new());
                    }
                }
                '\x1b' => {
                    assert_eq!(chars.next(), Some('['), "only CSI sequences: {output:?}");
                    let mut params = String::new();
                    let fin = loop {
                        let c = chars.next().expect("a complete sequence");
                        if c.is_ascii_alphabetic() {
                            break c;
                        }
                        params.push(c);
                    };
                    s.control(&params, fin);
                }
                c => s.lines[s.row].push(c),
            }
        }
        s
    }

    fn control(&mut self, params: &str, fin: char) {
        match (params, fin) {
            (_, 'm') => {}
            ("?7", 'l') => {}
            ("?7", 'h') => self.after_draws.push(self.text()),
            (n, 'F') => {
                let n: usize = n.parse().expect("a line count");
                assert!(n <= self.row, "cursor moved above the screen's top");
                self.row -= n;
            }
            ("", 'J') => {
                self.lines.truncate(self.row + 1);
                self.lines[self.row].clear();
            }
            _ => panic!("unexpected control sequence ESC[{params}{fin}"),
        }
    }

    /// The lines on the screen (the empty line under the cursor left out).
    fn text(&self) -> Vec<String> {
        let mut lines = self.lines.clone();
        if lines.last().is_some_and(String::is_empty) {
            lines.pop();
        }
        lines
    }
}

fn script() -> Script {
    tests::harness::recorder();
    Script::normal().expect("ffmpeg makes the test clip (apt-get install -y ffmpeg)")
}

fn server(script: Script) -> FakeRtspServer {
    FakeRtspServer::start(script.with_timeout(RUN_TIMEOUT + Duration::from_secs(5)))
        .expect("start fake server")
}

/// 3.5 s of real-time video: the table (redrawn every second) appears, changes, stays at
/// the bottom below the log lines, and is erased at the end, leaving the log lines.
#[test]
fn status_table_on_a_terminal() {
    let server = server(script().with_pacing(Pacing::RealTime).with_frames(150));
    let dir = Scratch::new("terminal", "table");
    let out = dir.out();
    let url = server.url();
    let run = run_on_tty(&[
        "record",
        &url,
        "-o",
        out.to_str().expect("utf-8"),
        "--duration",
        "3500ms",
        "--max-retries",
        "0",
    ]);
    assert_eq!(run.code, Some(0), "{}", run.output);
    let screen = Screen::replay(&run.output);
    let camera = format!("127.0.0.1:{}/x", server.port());

    // Drawn, and redrawn with new figures.
    let tables: Vec<Vec<String>> = screen
        .after_draws
        .iter()
        .filter_map(|s| {
            let at = s.iter().position(|l| l.starts_with(HEADER))?;
            Some(s[at..].to_vec())
        })
        .collect();
    eprintln!(
        "[table] {} draws; the last: {:#?}",
        tables.len(),
        tables.last()
    );
    assert!(tables.len() >= 3, "{:#?}", screen.after_draws);
    assert!(
        tables.iter().any(|t| t.len() == 2
            && t[1].starts_with(&camera)
            && t[1].contains("recording")
            && t[1].ends_with(out.to_str().expect("utf-8"))),
        "{tables:#?}"
    );
    let mut distinct = tables.clone();
    distinct.dedup();
    assert!(
        distinct.len() >= 2,
        "the table is redrawn with new figures: {tables:#?}"
    );

    // Each time, the table is the bottom of the screen, once, below the log lines.
    for s in &screen.after_draws {
        let headers = s.iter().filter(|l| l.starts_with(HEADER)).count();
        assert_eq!(headers, 1, "one table: {s:#?}");
        assert!(s[s.len() - 2].starts_with(HEADER), "at the bottom: {s:#?}");
    }
    // Log lines were printed above the table while it was shown.
    let logs = |s: &Vec<String>| s.iter().filter(|l| l.contains(" INFO ")).count();
    let first = screen.after_draws.first().expect("a draw");
    let last = screen.after_draws.last().expect("a draw");
    assert!(logs(last) > logs(first), "{first:#?}\n{last:#?}");

    // At exit: only the log lines are left.
    let end = screen.text();
    assert!(
        end.iter()
            .all(|l| l.contains(" INFO ") || l.contains(" WARN ")),
        "{end:#?}"
    );
    assert!(
        end.last()
            .is_some_and(|l| l.contains("recorded 105 video frames")),
        "{end:#?}"
    );
}

/// Without the table (`--no-status`, `-q`, JSON logs), nothing moves the cursor; JSON
/// logs have no escape at all, and `-q` prints nothing on a run without warnings.
#[test]
fn no_control_sequences_without_the_table() {
    let server = server(script());
    let url = server.url();
    for (name, extra) in [
        ("no-status", &["--no-status"][..]),
        ("quiet", &["-q"][..]),
        ("json", &["--log-format", "json"][..]),
    ] {
        let dir = Scratch::new("terminal", name);
        let out = dir.out();
        let mut args: Vec<&str> = extra.to_vec();
        args.extend([
            "record",
            &url,
            "-o",
            out.to_str().expect("utf-8"),
            "--duration",
            "1s",
            "--max-retries",
            "0",
        ]);
        let run = run_on_tty(&args);
        assert_eq!(run.code, Some(0), "[{name}] {}", run.output);
        let screen = Screen::replay(&run.output);
        assert!(screen.after_draws.is_empty(), "[{name}] a table was drawn");
        assert!(
            !run.output.contains("\x1b[?7") && !run.output.contains("\x1b[J"),
            "[{name}] {:?}",
            run.output
        );
        match name {
            "quiet" => assert_eq!(run.output, "", "-q: nothing to say"),
            "json" => {
                assert!(!run.output.contains('\x1b'), "{:?}", run.output);
                for line in run.output.lines() {
                    serde_json::from_str::<serde_json::Value>(line)
                        .unwrap_or_else(|e| panic!("[json] {e}: {line:?}"));
                }
            }
            _ => assert!(
                screen
                    .text()
                    .iter()
                    .any(|l| l.contains("recorded 30 video frames")),
                "{:?}",
                run.output
            ),
        }
    }
}
