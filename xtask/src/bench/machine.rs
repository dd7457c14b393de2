//! What the report says about the machine: CPU, memory, OS and the tools' versions.

use std::path::Path;
use std::process::{Command, Stdio};
/// The first line a command prints, or `?`.
fn first_line(program: &str, args: &[&str]) -> String {
    Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()
        .ok()
        .and_then(|o| {
            String::from_utf8_lossy(&o.stdout)
                .lines()
                .next()
                .map(str::to_string)
        })
        .unwrap_or_else(|| "?".to_string())
}

/// A field of a `key : value` file such as `/proc/cpuinfo`.
fn proc_field(path: &str, key: &str) -> String {
    std::fs::read_to_string(path)
        .ok()
        .and_then(|text| {
            text.lines().find_map(|l| {
                let (k, v) = l.split_once(':')?;
                (k.trim() == key).then(|| v.trim().to_string())
            })
        })
        .unwrap_or_else(|| "?".to_string())
}

/// `MemTotal` of `/proc/meminfo` in GiB.
fn memory() -> String {
    let total = proc_field("/proc/meminfo", "MemTotal");
    match total
        .strip_suffix(" kB")
        .and_then(|k| k.trim().parse::<f64>().ok())
    {
        Some(kib) => format!("{:.1} GiB", kib / 1024.0 / 1024.0),
        None => total,
    }
}

/// The machine and tool versions, as Markdown list items.
pub(super) fn machine(bin: &Path) -> String {
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let os = std::fs::read_to_string("/etc/os-release")
        .ok()
        .and_then(|t| {
            t.lines().find_map(|l| {
                l.strip_prefix("PRETTY_NAME=")
                    .map(|v| v.trim_matches('"').to_string())
            })
        })
        .unwrap_or_else(|| "?".to_string());
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .map_or_else(|_| "?".to_string(), |s| s.trim().to_string());
    let gst = first_line("gst-launch-1.0", &["--version"]);
    let gst_lib = Command::new("gst-launch-1.0")
        .arg("--version")
        .output()
        .ok()
        .and_then(|o| {
            String::from_utf8_lossy(&o.stdout)
                .lines()
                .nth(1)
                .map(str::to_string)
        })
        .unwrap_or_default();
    let recorder = bin
        .to_str()
        .map_or_else(|| "?".to_string(), |b| first_line(b, &["--version"]));
    format!(
        "- CPU: {} ({cores} cores, `nproc`)\n- memory: {}\n- OS: {os}, kernel {kernel}\n\
         - {recorder} (release build), {}\n- {}\n- {gst}, {gst_lib}\n",
        proc_field("/proc/cpuinfo", "model name"),
        memory(),
        first_line("rustc", &["-V"]),
        first_line("ffmpeg", &["-version"]),
    )
}
