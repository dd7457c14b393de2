//! `cargo xtask deps`: the system packages the checks need (ffmpeg, GStreamer's RTSP server,
//! Chromium for the playback checks, and `/usr/bin/time` for `cargo xtask bench`).

use std::process::{Command, Stdio};

use anyhow::{Result, bail};

use crate::util::{on_path, run};

/// Debian 12 packages that provide ffmpeg/ffprobe, GStreamer with the encoders the test
/// server uses, GstRtspServer for Python, GNU time (the bench's CPU and RSS figures), and
/// Chromium (headless playback in `cargo xtask verify`).
pub const DEBIAN_PACKAGES: &[&str] = &[
    "ffmpeg",
    "gstreamer1.0-tools",
    "gstreamer1.0-plugins-base",
    "gstreamer1.0-plugins-good",
    "gstreamer1.0-plugins-bad",
    "gstreamer1.0-plugins-ugly",
    "gstreamer1.0-libav",
    "gstreamer1.0-rtsp",
    "gir1.2-gst-rtsp-server-1.0",
    "python3-gi",
    "time",
    "chromium",
    // The HTTP client of `cargo xtask verify http`.
    "curl",
];

/// Debian's interpreter, which has `gi` (the first `python3` on `PATH` may not).
pub const PYTHON: &str = "/usr/bin/python3";

/// The line to run by hand when we cannot install the packages ourselves.
pub fn install_hint() -> String {
    format!(
        "sudo apt-get update && sudo apt-get install -y {}",
        DEBIAN_PACKAGES.join(" ")
    )
}

/// What is missing, as human-readable names; empty when everything is there.
fn missing_tools() -> Vec<String> {
    let mut missing: Vec<String> = ["ffmpeg", "ffprobe", "gst-launch-1.0", "curl"]
        .iter()
        .filter(|tool| !on_path(tool))
        .map(|tool| tool.to_string())
        .collect();
    let gi_ok = Command::new(PYTHON)
        .args([
            "-c",
            "import gi; gi.require_version('GstRtspServer', '1.0'); \
             from gi.repository import GstRtspServer",
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !gi_ok {
        missing.push(format!("{PYTHON} with gi and GstRtspServer"));
    }
    for file in ["/usr/bin/time", crate::chromium::CHROMIUM] {
        if !std::path::Path::new(file).is_file() {
            missing.push(file.to_string());
        }
    }
    missing
}

fn is_root() -> bool {
    // `id -u` avoids unsafe libc calls (the workspace forbids unsafe code).
    Command::new("id")
        .arg("-u")
        .stdin(Stdio::null())
        .output()
        .is_ok_and(|o| o.status.success() && o.stdout.trim_ascii() == b"0")
}

/// Makes sure the system tools exist, installing them with apt-get when running as root.
pub fn ensure() -> Result<()> {
    let missing = missing_tools();
    if missing.is_empty() {
        return Ok(());
    }
    println!("missing: {}", missing.join(", "));
    if !is_root() {
        bail!(
            "missing system packages ({}); install them with:\n  {}",
            missing.join(", "),
            install_hint()
        );
    }
    run(Command::new("apt-get")
        .arg("update")
        .env("DEBIAN_FRONTEND", "noninteractive"))?;
    run(Command::new("apt-get")
        .args(["install", "-y"])
        .args(DEBIAN_PACKAGES)
        .env("DEBIAN_FRONTEND", "noninteractive"))?;
    let still = missing_tools();
    if !still.is_empty() {
        bail!("still missing after apt-get install: {}", still.join(", "));
    }
    Ok(())
}
