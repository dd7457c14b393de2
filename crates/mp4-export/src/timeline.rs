//! The output timeline: which files a range needs, in order, and where each lands once
//! the gaps between them are squeezed out.

use crate::source::{Kind, SourceFile, ticks_to_ns};

/// One file on the output timeline.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Placed {
    /// Index into the sources.
    pub source: usize,
    /// The output instant of wall-clock instant `w` of this file is `w + offset_ns`.
    pub offset_ns: i64,
    /// A gap (more than one frame interval) or an overlap separates it from the previous
    /// file.
    pub after_gap: bool,
}

/// The files a range needs, in wall-clock order, placed one after the other.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Timeline {
    pub files: Vec<Placed>,
    /// Wall-clock `(end of one file, start of the next)` of every gap squeezed out.
    pub gaps: Vec<(i64, i64)>,
}

/// Indices of the sources with media in `start..end`, by wall-clock start.
pub(crate) fn files_in(sources: &[SourceFile], start_ns: i64, end_ns: i64) -> Vec<usize> {
    let mut v: Vec<usize> = (0..sources.len())
        .filter(|&i| {
            let s = &sources[i];
            (s.video().is_some() || s.audio().is_some())
                && s.wall_start_ns < end_ns
                && s.wall_end_ns() > start_ns
        })
        .collect();
    v.sort_by_key(|&i| (sources[i].wall_start_ns, i));
    v
}

/// A frame interval of the file (its video's, else its audio's first sample duration),
/// in nanoseconds: files closer than this touch.
fn frame_ns(s: &SourceFile) -> i64 {
    [Kind::Video, Kind::Audio]
        .iter()
        .filter_map(|&k| s.track(k))
        .find_map(|t| {
            let d = t.stbl.stts.first()?.sample_delta;
            Some(ticks_to_ns(i128::from(d), t.mdhd.timescale_hz))
        })
        .unwrap_or(0)
}

/// Places `files` (in order) one after the other: wall-clock `origin_ns` of the first file
/// is output instant 0, and each next file starts where the previous one's movie ends.
pub(crate) fn place(sources: &[SourceFile], files: &[usize], origin_ns: i64) -> Timeline {
    let mut t = Timeline::default();
    let mut offset = -origin_ns;
    let mut prev: Option<&SourceFile> = None;
    for &i in files {
        let s = &sources[i];
        let mut after_gap = false;
        if let Some(p) = prev {
            let end = p.wall_end_ns();
            offset += end - s.wall_start_ns;
            let apart = s.wall_start_ns - end;
            if apart.abs() > frame_ns(p).max(frame_ns(s)) {
                after_gap = true;
                if apart > 0 {
                    t.gaps.push((end, s.wall_start_ns));
                }
            }
        }
        t.files.push(Placed {
            source: i,
            offset_ns: offset,
            after_gap,
        });
        prev = Some(s);
    }
    t
}
