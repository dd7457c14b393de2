//! Starts `xtask/rtsp-server.py` (GStreamer's RTSP server) and stops it when dropped.

use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::Duration;

use anyhow::{Context, Result, bail};

use crate::deps::PYTHON;
use crate::util::{ChildGuard, project_root, tail};

/// The mounts the server offers, with what they carry.
pub const MOUNTS: &[(&str, &str)] = &[
    ("/h264aac", "H.264 + AAC 48 kHz stereo"),
    ("/h265aac", "H.265 + AAC 48 kHz stereo"),
    ("/mjpeg", "Motion JPEG"),
    ("/h264", "H.264 alone"),
    ("/h264b", "H.264 with B-frames + AAC 48 kHz stereo"),
    ("/h265b", "H.265 with B-frames + AAC 48 kHz stereo"),
    ("/h264loss1", "H.264 alone, 1% of the RTP packets dropped"),
    ("/h264loss5", "H.264 alone, 5% of the RTP packets dropped"),
    (
        "/h264pcmu",
        "H.264 320x180 + G.711 mu-law 8 kHz mono (white noise)",
    ),
    (
        "/h264pcma",
        "H.264 320x180 + G.711 A-law 8 kHz mono (white noise)",
    ),
    (
        "/h264l16",
        "H.264 320x180 + L16 16 kHz stereo (white noise)",
    ),
    ("/h264aacsmall", "H.264 320x180 + AAC 48 kHz stereo"),
];

/// A running test server on 127.0.0.1; killed (by pid) when dropped.
#[derive(Debug)]
pub struct RtspServer {
    child: ChildGuard,
    addr: String,
}

impl RtspServer {
    /// Starts the server on a free port and waits for its `READY` line.
    /// The server exits by itself after `max_seconds`; its stderr goes to `log`.
    pub fn start(max_seconds: u64, log: &Path) -> Result<Self> {
        let script = project_root().join("xtask/rtsp-server.py");
        let log_file =
            File::create(log).with_context(|| format!("cannot create {}", log.display()))?;
        let mut child = Command::new(PYTHON)
            .arg(&script)
            .args(["--port", "0", "--max-seconds", &max_seconds.to_string()])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(log_file)
            .spawn()
            .with_context(|| format!("cannot start {PYTHON} {}", script.display()))?;
        let stdout = child.stdout.take().context("no stdout pipe")?;
        let child = ChildGuard::new(child);

        let (tx, rx) = mpsc::channel();
        thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                // The receiver is gone once we have what we need; keep draining anyway.
                let _ = tx.send(line);
            }
        });
        let timeout = Duration::from_secs(15);
        loop {
            match rx.recv_timeout(timeout) {
                Ok(line) => {
                    if let Some(addr) = line.strip_prefix("READY ") {
                        let addr = addr.trim().to_string();
                        println!("rtsp-server.py (pid {}) listening on {addr}", child.id());
                        return Ok(Self { child, addr });
                    }
                }
                Err(mpsc::RecvTimeoutError::Timeout) => {
                    bail!(
                        "rtsp-server.py printed no READY line within {timeout:?}; its stderr:\n{}",
                        tail(log, 20)
                    )
                }
                Err(mpsc::RecvTimeoutError::Disconnected) => {
                    bail!(
                        "rtsp-server.py exited before it was ready; its stderr:\n{}",
                        tail(log, 20)
                    )
                }
            }
        }
    }

    /// `rtsp://127.0.0.1:PORT<mount>`.
    pub fn url(&self, mount: &str) -> String {
        format!("rtsp://{}{mount}", self.addr)
    }

    /// Stops the server now (dropping does the same).
    pub fn stop(mut self) {
        self.child.kill();
    }
}
