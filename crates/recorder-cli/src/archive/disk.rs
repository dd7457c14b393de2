//! The archive's side of the file system: describing a recording found on disk as a
//! catalog row, free space, and deleting a file safely.

use std::io;
use std::path::Path;
use std::time::{Duration, SystemTime};

use anyhow::Context;
use bmff_boxes::read::{SampleEntry, Track};
use catalog::{AudioTrack, EndReason, FileRecord, VideoTrack, WallTime};

use crate::mp4::check::check_path;
use crate::mp4::read::Mp4File;
use crate::output::events::{EndReason as FileEnd, FinishedFile, TrackSummary};
use crate::session::router::START_PREFIX;

/// Seconds between 1904-01-01 and 1970-01-01 (ISO BMFF times count from 1904).
const SECS_1904_TO_1970: u64 = 2_082_844_800;

/// The catalog row of a file the recorder just finished, from its event; `None` when the
/// event lacks the session's view of the file (a file cut back after a write error: read
/// it from disk instead).
pub fn record_from_event(f: &FinishedFile) -> Option<FileRecord> {
    let s = f.summary.as_ref()?;
    let start = WallTime::from_system_time(s.start_wall);
    // Whole milliseconds, as the file's own `mvhd` has it (a rebuild reads that).
    let duration = Duration::from_millis((f.duration_s.max(0.0) * 1000.0).round() as u64);
    let end = s.wall_end.map_or_else(
        || start.saturating_add(duration),
        WallTime::from_system_time,
    );
    let video = s.video.as_ref().map(|v: &TrackSummary| VideoTrack {
        codec: v.codec.clone(),
        width: v.dimensions.map_or(0, |d| d.0),
        height: v.dimensions.map_or(0, |d| d.1),
        samples: f.video_frames,
    });
    let audio = s.audio.as_ref().map(|a| AudioTrack {
        codec: a.codec.clone(),
        samples: f.audio_frames,
    });
    Some(FileRecord {
        camera: f.camera.to_string(),
        path: f.path.clone(),
        start,
        end: end.max(start),
        media_duration_ms: duration.as_millis() as u64,
        size_bytes: f.len_bytes,
        video,
        audio,
        end_reason: if s.end.is_gap() || s.end == FileEnd::SessionEnded {
            EndReason::Gap
        } else {
            EndReason::Continued
        },
    })
}

/// The catalog row of a finished file found on disk: checked as `recorder verify`
/// checks it; its wall-clock start from its `description` (to the nanosecond, written by the
/// recorder), else its `creation_time` (whole seconds). A file found on disk ends with
/// a gap, as far as anyone can tell.
pub fn record_from_disk(camera: &str, path: &Path) -> anyhow::Result<FileRecord> {
    let checked = check_path(path)?;
    let file = Mp4File::open(path)?;
    let moov = file.find(b"moov").next().context("no moov box")?;
    let movie = file.movie(moov)?;
    let start = movie
        .user_data
        .iter()
        .flat_map(|u| u.items())
        .filter(|(item, _)| item == &bmff_boxes::DESC)
        .find_map(|(_, text)| WallTime::parse_rfc3339(text.strip_prefix(START_PREFIX)?).ok())
        .unwrap_or_else(|| {
            let secs = movie.mvhd.creation_time.saturating_sub(SECS_1904_TO_1970);
            WallTime::from_system_time(SystemTime::UNIX_EPOCH + Duration::from_secs(secs))
        });
    // The movie's duration (edit lists included, as the recorder counts it); a fragmented
    // file's `mvhd` has none: its longest track's.
    let duration = if movie.mvhd.duration > 0 && movie.mvhd.timescale_hz > 0 {
        Duration::from_nanos(
            u64::try_from(
                u128::from(movie.mvhd.duration) * 1_000_000_000
                    / u128::from(movie.mvhd.timescale_hz),
            )
            .unwrap_or(u64::MAX),
        )
    } else {
        let s = checked.durations_s.iter().copied().fold(0.0, f64::max);
        Duration::from_millis((s.max(0.0) * 1000.0).round() as u64)
    };
    let count = |handler: &str| checked.samples_of(handler);
    let track = |handler: &[u8; 4]| movie.tracks.iter().find(|t| &t.handler == handler);
    let video = track(b"vide").map(|t: &Track| VideoTrack {
        codec: t.sample_entries.first().map_or_else(String::new, codec),
        width: t.tkhd.width(),
        height: t.tkhd.height(),
        samples: count("vide"),
    });
    let audio = track(b"soun").map(|t| AudioTrack {
        codec: t.sample_entries.first().map_or_else(String::new, codec),
        samples: count("soun"),
    });
    Ok(FileRecord {
        camera: camera.to_owned(),
        path: path.to_owned(),
        start,
        end: start.saturating_add(duration),
        media_duration_ms: duration.as_millis() as u64,
        size_bytes: std::fs::metadata(path)?.len(),
        video,
        audio,
        end_reason: EndReason::Gap,
    })
}

/// Links files read from disk the way the recorder wrote them: a camera's file whose end
/// (its start plus its media duration) is within 500 ppm of its duration plus one frame of
/// the next file's start was continued by it (the recorder slews each file's wall-clock
/// length by at most 500 ppm): it ends where the next starts. `records` are sorted by
/// camera and start.
pub fn link(records: &mut [FileRecord]) {
    records.sort_by(|a, b| (&a.camera, a.start).cmp(&(&b.camera, b.start)));
    for i in 1..records.len() {
        let (head, tail) = records.split_at_mut(i);
        let (f, g) = (&mut head[i - 1], &tail[0]);
        if f.camera != g.camera {
            continue;
        }
        let slack = i128::from(f.media_duration_ms) * 1_000_000 * 500 / 1_000_000
            + i128::from(f.frame_interval_ns().max(g.frame_interval_ns()));
        if (i128::from(g.start.nanos_since(f.end))).abs() <= slack {
            f.end = g.start.max(f.start);
            f.end_reason = EndReason::Continued;
        }
    }
}

/// A sample entry's RFC 6381 codec string where it can be read from its configuration
/// (`avc1.PPCCLL` from `avcC`, `hvc1.1.6.L93.B0` from `hvcC`, `mp4a.40.N` from `esds`),
/// else its type (`mp4v`).
fn codec(e: &SampleEntry) -> String {
    let fourcc = String::from_utf8_lossy(&e.fourcc).into_owned();
    for child in e.children().flatten() {
        match &child.fourcc {
            b"avcC" if child.payload.len() >= 4 => {
                let p = child.payload;
                return format!("{fourcc}.{:02X}{:02X}{:02X}", p[1], p[2], p[3]);
            }
            b"hvcC" if child.payload.len() >= 13 => {
                // ISO/IEC 14496-15 E.3: profile space and idc, the compatibility flags in
                // reverse bit order, tier and level, then the constraint bytes up to the
                // last non-zero one.
                let p = child.payload;
                let space = ["", "A", "B", "C"][usize::from(p[1] >> 6)];
                let tier = if p[1] & 0x20 != 0 { 'H' } else { 'L' };
                let compat = u32::from_be_bytes([p[2], p[3], p[4], p[5]]).reverse_bits();
                let mut s = format!("{fourcc}.{space}{}.{compat:X}.{tier}{}", p[1] & 0x1F, p[12]);
                let constraints = &p[6..12];
                if let Some(last) = constraints.iter().rposition(|&b| b != 0) {
                    for b in &constraints[..=last] {
                        s.push_str(&format!(".{b:X}"));
                    }
                }
                return s;
            }
            b"esds" => {
                if let Some(codec) = esds_codec(&fourcc, child.payload) {
                    return codec;
                }
            }
            _ => {}
        }
    }
    fourcc
}

/// A descriptor of an `esds` (ISO/IEC 14496-1 §8.3.3): its tag and body, from `i`.
fn descriptor(p: &[u8], i: usize) -> Option<(u8, &[u8])> {
    let tag = *p.get(i)?;
    let mut len = 0usize;
    let mut j = i + 1;
    for _ in 0..4 {
        let b = *p.get(j)?;
        j += 1;
        len = (len << 7) | usize::from(b & 0x7F);
        if b & 0x80 == 0 {
            break;
        }
    }
    Some((tag, p.get(j..j.checked_add(len)?)?))
}

/// `mp4a.40.2`, `mp4v.6C`: the object type indication of an `esds`' decoder
/// configuration, and for MPEG-4 audio (0x40) the audio object type.
fn esds_codec(fourcc: &str, payload: &[u8]) -> Option<String> {
    // After the full box's version and flags: the ES_Descriptor.
    let (0x03, es) = descriptor(payload, 4)? else {
        return None;
    };
    let flags = *es.get(2)?;
    let mut i = 3;
    if flags & 0x80 != 0 {
        i += 2; // dependsOn_ES_ID
    }
    if flags & 0x40 != 0 {
        i += 1 + usize::from(*es.get(i)?); // URL
    }
    if flags & 0x20 != 0 {
        i += 2; // OCR_ES_Id
    }
    let (0x04, config) = descriptor(es, i)? else {
        return None;
    };
    let oti = *config.first()?;
    if oti == 0x40
        && let Some((0x05, info)) = descriptor(config, 13)
        && let Some(first) = info.first()
    {
        return Some(format!("{fourcc}.40.{}", first >> 3));
    }
    Some(format!("{fourcc}.{oti:02X}"))
}

/// The size and free space (for unprivileged users) of the file system holding `dir`,
/// in bytes.
pub fn space(dir: &Path) -> io::Result<(u64, u64)> {
    let dir = if dir.as_os_str().is_empty() {
        Path::new(".")
    } else {
        dir
    };
    let s = rustix::fs::statvfs(dir)?;
    Ok((
        s.f_blocks.saturating_mul(s.f_frsize),
        s.f_bavail.saturating_mul(s.f_frsize),
    ))
}

/// The device of the file system holding `path`.
pub fn device(path: &Path) -> Option<u64> {
    use std::os::unix::fs::MetadataExt;
    let path = if path.as_os_str().is_empty() {
        Path::new(".")
    } else {
        path
    };
    std::fs::metadata(path).ok().map(|m| m.dev())
}

/// What became of a file retention wanted to delete.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Deleted {
    /// Deleted.
    Yes,
    /// Already gone.
    Gone,
    /// Left alone: a writer or a reader holds a lock on it.
    Locked,
}

/// Deletes the finished file `path` unless someone holds a lock on it (the recorder locks
/// files while it writes them; readers may lock them while they read), then removes the
/// directories above it that are left empty, up to (not including) `stop`.
pub fn delete(path: &Path, stop: &Path) -> io::Result<Deleted> {
    let file = match std::fs::File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Deleted::Gone),
        Err(e) => return Err(e),
    };
    match file.try_lock() {
        Ok(()) => {}
        Err(std::fs::TryLockError::WouldBlock) => return Ok(Deleted::Locked),
        Err(std::fs::TryLockError::Error(e)) => return Err(e),
    }
    match std::fs::remove_file(path) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Deleted::Gone),
        Err(e) => return Err(e),
    }
    drop(file);
    let mut dir = path.parent();
    while let Some(d) = dir {
        if d == stop || d.as_os_str().is_empty() || !d.starts_with(stop) {
            break;
        }
        // Fails (and stops) when the directory is not empty.
        if std::fs::remove_dir(d).is_err() {
            break;
        }
        dir = d.parent();
    }
    Ok(Deleted::Yes)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(camera: &str, start_ms: i64, media_ms: u64) -> FileRecord {
        let start = WallTime(start_ms * 1_000_000);
        FileRecord {
            camera: camera.to_owned(),
            path: format!("/{camera}/{start_ms}.mp4").into(),
            start,
            end: start.saturating_add(Duration::from_millis(media_ms)),
            media_duration_ms: media_ms,
            size_bytes: 1,
            video: Some(VideoTrack {
                codec: "avc1.640028".to_owned(),
                width: 1,
                height: 1,
                samples: media_ms * 30 / 1000,
            }),
            audio: None,
            end_reason: EndReason::Gap,
        }
    }

    #[test]
    fn files_that_follow_each_other_are_linked() {
        let mut r = vec![
            // 10-minute files, the second slewed 0.2 s later than the first's media end
            // (within 500 ppm: 0.3 s), the third 5 s after a reconnect.
            rec("a", 600_200, 600_000),
            rec("a", 0, 600_000),
            rec("a", 1_205_200, 600_000),
            rec("b", 200, 600_000),
        ];
        link(&mut r);
        let ends: Vec<(i64, EndReason)> = r
            .iter()
            .map(|f| (f.end.0 / 1_000_000, f.end_reason))
            .collect();
        assert_eq!(
            ends,
            vec![
                (600_200, EndReason::Continued),
                (1_200_200, EndReason::Gap),
                (1_805_200, EndReason::Gap),
                (600_200, EndReason::Gap),
            ]
        );
    }

    #[test]
    fn delete_removes_the_file_and_the_directories_left_empty() {
        let root = std::env::temp_dir().join(format!("recorder-delete-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        std::fs::create_dir_all(root.join("cam/2026-01-01")).unwrap();
        std::fs::create_dir_all(root.join("cam/2026-01-02")).unwrap();
        let a = root.join("cam/2026-01-01/a.mp4");
        let b = root.join("cam/2026-01-02/b.mp4");
        let c = root.join("cam/2026-01-02/c.mp4");
        for p in [&a, &b, &c] {
            std::fs::write(p, b"x").unwrap();
        }
        let stop = root.join("cam");
        assert_eq!(delete(&a, &stop).unwrap(), Deleted::Yes);
        assert!(
            !root.join("cam/2026-01-01").exists(),
            "empty day directory removed"
        );
        assert_eq!(delete(&b, &stop).unwrap(), Deleted::Yes);
        assert!(root.join("cam/2026-01-02").exists(), "c is still there");
        // A file someone holds a lock on is left alone.
        let held = std::fs::File::open(&c).unwrap();
        held.lock_shared().unwrap();
        assert_eq!(delete(&c, &stop).unwrap(), Deleted::Locked);
        assert!(c.exists());
        drop(held);
        assert_eq!(delete(&c, &stop).unwrap(), Deleted::Yes);
        assert!(stop.exists(), "the template's own directory stays");
        assert_eq!(delete(&c, &stop).unwrap(), Deleted::Gone);
        let (total, free) = space(&root).unwrap();
        assert!(total > 0 && free <= total);
        std::fs::remove_dir_all(&root).unwrap();
    }
}
