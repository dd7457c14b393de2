//! The output timeline: which files a range needs, in order, and where each lands once
//! the gaps between them are squeezed out.

use crate::ExportError;
use crate::boxes::TrackHead;
use crate::source::{Kind, SourceFile, Sources, ticks_to_ns};

/// What the timeline needs of a source file, kept for every file of a range while only
/// one file's sample tables are held at a time.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Summary {
    pub wall_start_ns: i64,
    pub wall_end_ns: i64,
    /// A frame interval (see [`frame_ns`]).
    pub frame_ns: i64,
    /// Per kind (video, audio): the track's head and its number of samples.
    pub tracks: [Option<(TrackHead, u32)>; 2],
}

impl Summary {
    pub fn of(s: &SourceFile) -> Self {
        let track = |kind| {
            s.track(kind)
                .map(|t| (TrackHead::of(kind, t), t.stbl.sample_count()))
        };
        Self {
            wall_start_ns: s.wall_start_ns,
            wall_end_ns: s.wall_end_ns(),
            frame_ns: frame_ns(s),
            tracks: [track(Kind::Video), track(Kind::Audio)],
        }
    }

    fn has_media(&self) -> bool {
        self.tracks.iter().any(Option::is_some)
    }
}

/// Every source's summary, reading each source once.
pub(crate) fn summaries<S: Sources + ?Sized>(sources: &S) -> Result<Vec<Summary>, ExportError> {
    (0..sources.count())
        .map(|i| sources.load(i).map(|s| Summary::of(&s)))
        .collect()
}

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
pub(crate) fn files_in(sources: &[Summary], start_ns: i64, end_ns: i64) -> Vec<usize> {
    let mut v: Vec<usize> = (0..sources.len())
        .filter(|&i| {
            let s = &sources[i];
            s.has_media() && s.wall_start_ns < end_ns && s.wall_end_ns > start_ns
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
pub(crate) fn place(sources: &[Summary], files: &[usize], origin_ns: i64) -> Timeline {
    let mut t = Timeline::default();
    let mut offset = -origin_ns;
    let mut prev: Option<&Summary> = None;
    for &i in files {
        let s = &sources[i];
        let mut after_gap = false;
        if let Some(p) = prev {
            let end = p.wall_end_ns;
            offset += end - s.wall_start_ns;
            let apart = s.wall_start_ns - end;
            if apart.abs() > p.frame_ns.max(s.frame_ns) {
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
