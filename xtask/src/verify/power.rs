//! The `power264` and `power265` cases: what a power cut leaves in a recording, made by
//! hand from a real one. A `--format fmp4` recording of H.264 (or H.265) with AAC is
//! copied, and in each copy some fragment data is zeroed as blocks that never reached the
//! disk read back: the last fragment's data partly or wholly, from a 4 KiB block boundary
//! to the end, or a middle fragment's. Each copy, renamed `.partial`, must be reported
//! damaged by `recorder verify` (track, sample, byte), and `recorder repair` must keep
//! exactly the fragments before the damaged one, giving a file that decodes with
//! `ffmpeg -xerror`, passes the strict parser and `recorder verify`. The undamaged copy
//! keeps every fragment.

use std::path::Path;

use anyhow::{Context, Result, bail, ensure};

use super::tools::{Recorder, decode_clean, ensure_file, record, recorder_tool};
use crate::strict;

/// Length of the recording: several 1 s fragments.
const POWER_S: u64 = 6;
/// The file system block a power cut loses.
const BLOCK: u64 = 4096;

/// A top-level box: offset, type, header length, size.
type Top = (u64, [u8; 4], u64, u64);

/// The top-level boxes of `file` (they must tile it).
fn top_level(file: &[u8]) -> Result<Vec<Top>> {
    let mut out = Vec::new();
    let mut at = 0usize;
    while at < file.len() {
        let word = |i: usize| -> Result<u64> {
            let b = file
                .get(at + i..at + i + 4)
                .context("box header past the end")?;
            Ok(u64::from(u32::from_be_bytes(b.try_into()?)))
        };
        let (size, header) = match word(0)? {
            1 => ((word(8)? << 32) | word(12)?, 16),
            0 => ((file.len() - at) as u64, 8),
            s => (s, 8),
        };
        let fourcc: [u8; 4] = file[at + 4..at + 8].try_into()?;
        ensure!(
            size >= header && at as u64 + size <= file.len() as u64,
            "bad box at {at}"
        );
        out.push((at as u64, fourcc, header, size));
        at += size as usize;
    }
    Ok(out)
}

/// One damaged copy: its name, the byte range zeroed, and the 0-based index of the first
/// fragment the range damages.
struct Damage {
    name: String,
    zero: (u64, u64),
    fragment: usize,
}

pub(super) fn run_power(
    recorder: &Recorder,
    bin: &Path,
    url: &str,
    file: &Path,
    log: &Path,
) -> Result<String> {
    record(recorder, url, file, POWER_S, &["--format", "fmp4"], log)?;
    ensure_file(file, log)?;
    let bytes = std::fs::read(file).with_context(|| format!("cannot read {}", file.display()))?;
    let top = top_level(&bytes)?;
    // (moof offset, mdat payload start, mdat end) of each fragment.
    let frags: Vec<(u64, u64, u64)> = top
        .windows(2)
        .filter(|w| &w[0].1 == b"moof" && &w[1].1 == b"mdat")
        .map(|w| (w[0].0, w[1].0 + w[1].2, w[1].0 + w[1].3))
        .collect();
    let n = frags.len();
    ensure!(n >= 4, "{n} fragments in {POWER_S} s, expected at least 4");
    let len = bytes.len() as u64;
    let (_, last_start, last_end) = frags[n - 1];
    ensure!(last_end == len, "the last mdat does not end the file");
    let mid = n / 2;
    let tear = (last_start + (last_end - last_start) / 2).next_multiple_of(BLOCK);
    ensure!(
        tear < len,
        "the last fragment holds less than a block past its middle"
    );
    let cases = [
        Damage {
            name: "last-two-thirds".into(),
            zero: (last_start + (last_end - last_start) / 3, len),
            fragment: n - 1,
        },
        Damage {
            name: "last-whole".into(),
            zero: (last_start, len),
            fragment: n - 1,
        },
        Damage {
            name: format!("torn-at-{tear}"),
            zero: (tear, len),
            fragment: n - 1,
        },
        Damage {
            name: format!("middle-{}", mid + 1),
            zero: (frags[mid].1, frags[mid].2),
            fragment: mid,
        },
    ];
    let dir = file.with_extension("power");
    std::fs::create_dir_all(&dir)?;
    // Undamaged: verify says ok, repair keeps every fragment.
    let intact = repair_copy(bin, &dir, "intact", &bytes)?;
    ensure!(
        intact.1.contains(&format!("kept {n} complete fragments"))
            && intact.1.contains("no damage"),
        "the undamaged copy lost fragments: {}",
        intact.1
    );
    let mut lines = vec![format!("{n} fragments, undamaged copy keeps all")];
    for d in &cases {
        let mut copy = bytes.clone();
        copy[d.zero.0 as usize..d.zero.1 as usize].fill(0);
        let (before, report) = repair_copy(bin, &dir, &d.name, &copy)?;
        ensure!(
            before.contains("is damaged at byte"),
            "{}: recorder verify did not report the damage: {before}",
            d.name
        );
        let kept = d.fragment;
        let dropped = n - kept;
        ensure!(
            report.contains(&format!(
                "kept {kept} complete fragment{}",
                if kept == 1 { "" } else { "s" }
            )) && report.contains(&format!(
                "dropped {dropped} fragment{} from the first with damaged data",
                if dropped == 1 { "" } else { "s" }
            )) && report.contains(&format!(
                "of fragment {} (moof at byte {})",
                kept + 1,
                frags[kept].0
            )),
            "{}: expected {kept} fragments kept and {dropped} dropped, repair said: {report}",
            d.name
        );
        let damage = before
            .split_once("track ")
            .map_or(before.as_str(), |(_, t)| t)
            .trim();
        lines.push(format!(
            "{}: verify: track {damage}; repair kept {kept} of {n}",
            d.name
        ));
    }
    Ok(format!(
        "{}; each repaired file decodes with ffmpeg -xerror, passes mp4-atom strict and \
         recorder verify",
        lines.join("; ")
    ))
}

/// Writes `bytes` as `name.mp4.partial` in `dir`, runs `recorder verify` (its error, or
/// its `ok` line), `recorder repair` (its report), then checks the repaired file: a clean
/// ffmpeg decode, the strict parser and `recorder verify`.
fn repair_copy(bin: &Path, dir: &Path, name: &str, bytes: &[u8]) -> Result<(String, String)> {
    let partial = dir.join(format!("{name}.mp4.partial"));
    std::fs::write(&partial, bytes)?;
    let before = match recorder_tool(bin, &["verify"], &partial) {
        Ok(ok) => ok,
        Err(e) => format!("{e:#}"),
    };
    let report = recorder_tool(bin, &["repair"], &partial)
        .with_context(|| format!("{name}: recorder repair"))?;
    let fixed = dir.join(format!("{name}.mp4"));
    if !fixed.is_file() {
        bail!("{name}: repair wrote no {}: {report}", fixed.display());
    }
    decode_clean(&fixed).with_context(|| format!("{name}: the repaired file"))?;
    strict::check_file(&fixed)
        .with_context(|| format!("{name}: strict parse of the repaired file"))?;
    recorder_tool(bin, &["verify"], &fixed)
        .with_context(|| format!("{name}: recorder verify of the repaired file"))?;
    Ok((before, report))
}
