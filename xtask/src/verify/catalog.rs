//! The catalog of a `recorder run` recording from the real server: one row per file on
//! disk with its codec and dimensions, and a rebuild from the files gives the same rows.

use std::path::Path;
use std::process::{Command, Stdio};

use anyhow::{Context, Result, ensure};
use serde_json::Value;

/// `recorder list --json --files --config F`.
fn list(bin: &Path, config: &Path) -> Result<Value> {
    let out = Command::new(bin)
        .args(["list", "--json", "--files", "--config"])
        .arg(config)
        .stdin(Stdio::null())
        .output()
        .context("cannot run recorder list")?;
    ensure!(
        out.status.success(),
        "recorder list failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).context("recorder list --json")
}

/// A camera's files as (path, size, video samples, video codec, width, start ms, end ms).
fn rows(listing: &Value, camera: &str) -> Vec<(String, u64, u64, String, u64, i64, i64)> {
    let ms = |v: &Value| -> i64 {
        v.as_str()
            .and_then(|t| t.parse::<jiff::Timestamp>().ok())
            .map_or(0, |t| t.as_millisecond())
    };
    listing["cameras"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|c| c["name"] == camera)
        .flat_map(|c| c["files"].as_array().cloned().unwrap_or_default())
        .map(|f| {
            (
                f["path"].as_str().unwrap_or_default().to_owned(),
                f["size_bytes"].as_u64().unwrap_or(0),
                f["video"]["samples"].as_u64().unwrap_or(0),
                f["video"]["codec"].as_str().unwrap_or_default().to_owned(),
                f["video"]["width"].as_u64().unwrap_or(0),
                ms(&f["start"]),
                ms(&f["end"]),
            )
        })
        .collect()
}

/// Checks the catalog of the `run` case: each camera's row describes its file (size,
/// frames, sample entry type, width as ffprobe reads them), and `recorder index --rebuild` gives the same rows
/// (times within 1 ms: a file's length is read back from its `mvhd` in milliseconds).
pub(super) fn check_catalog(
    bin: &Path,
    config: &Path,
    cams: &[(&str, &Path, u64, &str, u64)],
) -> Result<String> {
    let live = list(bin, config)?;
    let out = Command::new(bin)
        .args(["index", "--rebuild", "--config"])
        .arg(config)
        .stdin(Stdio::null())
        .output()
        .context("cannot run recorder index")?;
    ensure!(
        out.status.success(),
        "recorder index --rebuild failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let rebuilt = list(bin, config)?;
    for &(name, file, frames, codec, width) in cams {
        let a = rows(&live, name);
        let b = rows(&rebuilt, name);
        ensure!(
            a.len() == 1,
            "camera {name}: {} catalog rows: {live}",
            a.len()
        );
        let row = &a[0];
        ensure!(
            Path::new(&row.0) == file,
            "camera {name}: row for {}, file {}",
            row.0,
            file.display()
        );
        let size = std::fs::metadata(file)?.len();
        ensure!(
            row.1 == size && row.2 == frames && row.3.starts_with(codec) && row.4 == width,
            "camera {name}: row {row:?} vs the file's {size} bytes, {frames} frames, {codec}"
        );
        ensure!(b.len() == 1, "camera {name} after the rebuild: {rebuilt}");
        let r = &b[0];
        ensure!(
            (&r.0, r.1, r.2, &r.3, r.4) == (&row.0, row.1, row.2, &row.3, row.4)
                && (r.5 - row.5).abs() <= 1
                && (r.6 - row.6).abs() <= 1,
            "camera {name}: rebuilt row {r:?} differs from {row:?}"
        );
    }
    Ok("catalog rows match the files and a rebuild".to_owned())
}
