//! `recorder inspect`: the box tree and a per-track summary, reading only box headers and
//! the `moov`/`moof` payloads (never media data).

use std::fmt::Write as _;
use std::path::Path;

use anyhow::Context;
use bmff_boxes::dump::{DumpOptions, dump_with};

use crate::mp4::check::seconds;
use bmff_boxes::read::{Movie, SampleEntry, Track, fourcc_str};

use crate::mp4::read::Mp4File;

/// Table entries shown in the tree before eliding the rest.
const TREE_ENTRIES: usize = 3;
/// Gaps listed per track before eliding the rest.
const MAX_GAPS: usize = 10;

/// What the summary needs about one track, from the `moov` or from the fragments.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TrackTimeline {
    /// Decode time of the first sample, media timescale.
    pub start_dts: u64,
    /// Every sample's duration, in decode order.
    pub durations: Vec<u32>,
    /// Number of sync samples.
    pub keyframes: u64,
    /// Fragments holding samples of the track (0 for a progressive file).
    pub fragments: u32,
    /// `tfdt` discontinuities: (time where expected, ticks jumped, signed).
    pub tfdt_jumps: Vec<(u64, i128)>,
}

impl TrackTimeline {
    fn from_stbl(t: &Track) -> Self {
        let s = &t.stbl;
        Self {
            start_dts: 0,
            durations: s.durations(),
            keyframes: s
                .stss
                .as_ref()
                .map_or(u64::from(s.sample_count()), |v| v.len() as u64),
            fragments: 0,
            tfdt_jumps: Vec::new(),
        }
    }
}

/// A gap: a sample duration above twice the median.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Gap {
    /// Decode time where it starts, media timescale.
    pub at: u64,
    /// Its length, media timescale.
    pub len: u32,
}

/// Sample durations above twice the median, with their decode time.
pub fn gaps(start_dts: u64, durations: &[u32]) -> (u32, Vec<Gap>) {
    if durations.is_empty() {
        return (0, Vec::new());
    }
    let mut sorted = durations.to_vec();
    sorted.sort_unstable();
    let median = sorted[sorted.len() / 2];
    let mut at = start_dts;
    let mut out = Vec::new();
    for &d in durations {
        if u64::from(d) > 2 * u64::from(median) {
            out.push(Gap { at, len: d });
        }
        at += u64::from(d);
    }
    (median, out)
}

/// Renders the whole report for the file at `path`.
pub fn inspect(path: &Path) -> anyhow::Result<String> {
    let file = Mp4File::open_lenient(path)?;
    if file.boxes.is_empty() {
        anyhow::bail!(
            "not an MP4 file: {}",
            file.tail_problem.as_deref().unwrap_or("empty")
        );
    }
    let mut out = String::new();
    let opts = DumpOptions {
        max_entries: TREE_ENTRIES,
        show_offsets: false,
    };
    for b in &file.boxes {
        if matches!(&b.fourcc, b"moov" | b"moof" | b"ftyp") {
            let buf = file.read_box(b)?;
            let tree = dump_with(&buf, opts).with_context(|| {
                format!("cannot parse {} at offset {}", b.fourcc_str(), b.offset)
            })?;
            out.push_str(&tree);
        } else {
            let _ = writeln!(out, "{} size={}", b.fourcc_str(), b.size);
        }
    }
    if let Some(problem) = &file.tail_problem {
        let _ = writeln!(out, "(the box structure stops here: {problem})");
    }
    out.push('\n');
    let Some(moov) = file.find(b"moov").next() else {
        out.push_str("no moov box\n");
        return Ok(out);
    };
    let movie = file.movie(moov)?;
    let _ = writeln!(
        out,
        "file: {} bytes; movie: timescale {} Hz, duration {:.3} s, {} track{}, {}",
        file.len,
        movie.mvhd.timescale_hz,
        seconds(movie.mvhd.duration, movie.mvhd.timescale_hz),
        movie.tracks.len(),
        if movie.tracks.len() == 1 { "" } else { "s" },
        layout(&file, &movie, moov.offset)
    );
    let timelines = if movie.mvex.is_some() {
        fragment_timelines(&file, &movie)?
    } else {
        movie.tracks.iter().map(TrackTimeline::from_stbl).collect()
    };
    for (t, tl) in movie.tracks.iter().zip(&timelines) {
        track_summary(&mut out, &movie, t, tl);
    }
    Ok(out)
}

fn layout(file: &Mp4File, movie: &Movie, moov_offset: u64) -> String {
    if movie.mvex.is_some() {
        let complete = file
            .boxes
            .windows(2)
            .filter(|w| &w[0].fourcc == b"moof" && &w[1].fourcc == b"mdat")
            .count();
        let all = file.find(b"moof").count();
        return if complete == all {
            format!("fragmented ({all} moof)")
        } else {
            format!(
                "fragmented ({all} moof, {} without a complete mdat, not counted)",
                all - complete
            )
        };
    }
    let front = file
        .find(b"mdat")
        .next()
        .is_none_or(|m| moov_offset < m.offset);
    format!(
        "progressive, moov at the {}",
        if front { "front" } else { "end" }
    )
}

fn fragment_timelines(file: &Mp4File, movie: &Movie) -> anyhow::Result<Vec<TrackTimeline>> {
    let trex = movie.mvex.as_deref().unwrap_or_default();
    let mut tls: Vec<Option<TrackTimeline>> = vec![None; movie.tracks.len()];
    let mut ends: Vec<u64> = vec![0; movie.tracks.len()];
    for (k, b) in file.boxes.iter().enumerate() {
        if &b.fourcc != b"moof" {
            continue;
        }
        // A moof without its complete mdat (a crash) describes samples that are not there.
        if file.boxes.get(k + 1).is_none_or(|m| &m.fourcc != b"mdat") {
            continue;
        }
        for traf in file.fragment(b)?.resolve(trex)? {
            let Some(i) = movie
                .tracks
                .iter()
                .position(|t| t.track_id() == traf.track_id)
            else {
                continue;
            };
            let tfdt = traf.tfdt.unwrap_or(ends[i]);
            let tl = tls[i].get_or_insert_with(|| TrackTimeline {
                start_dts: tfdt,
                ..TrackTimeline::default()
            });
            if tl.fragments > 0 && tfdt != ends[i] {
                tl.tfdt_jumps
                    .push((ends[i], i128::from(tfdt) - i128::from(ends[i])));
            }
            tl.fragments += 1;
            tl.keyframes += traf.samples.iter().filter(|s| s.is_sync()).count() as u64;
            tl.durations.extend(traf.samples.iter().map(|s| s.duration));
            ends[i] = tfdt
                + traf
                    .samples
                    .iter()
                    .map(|s| u64::from(s.duration))
                    .sum::<u64>();
        }
    }
    Ok(tls.into_iter().map(Option::unwrap_or_default).collect())
}

/// A short description of a visual entry's codec profile, from its `avcC` or `hvcC`.
fn profile(e: &SampleEntry) -> Option<String> {
    e.visual?;
    let mut out = None;
    for child in e.children().flatten() {
        let q = child.payload;
        match &child.fourcc {
            b"avcC" if q.len() >= 4 => {
                let name = match q[1] {
                    66 => "Baseline",
                    77 => "Main",
                    88 => "Extended",
                    100 => "High",
                    110 => "High 10",
                    122 => "High 4:2:2",
                    244 => "High 4:4:4",
                    _ => "",
                };
                let constrained = if q[1] == 66 && q[2] & 0x40 != 0 {
                    "Constrained "
                } else {
                    ""
                };
                out = Some(format!(
                    "{constrained}{name} (profile_idc {}) level {}.{}",
                    q[1],
                    q[3] / 10,
                    q[3] % 10
                ));
            }
            b"hvcC" if q.len() >= 13 => {
                let idc = q[1] & 0x1f;
                let name = match idc {
                    1 => "Main",
                    2 => "Main 10",
                    3 => "Main Still Picture",
                    4 => "Range Extensions",
                    _ => "",
                };
                let level = q[12];
                out = Some(format!(
                    "{name} (profile_idc {idc}) level {}.{}",
                    level / 30,
                    (level % 30) / 3
                ));
            }
            _ => {}
        }
    }
    out
}

fn track_summary(out: &mut String, movie: &Movie, t: &Track, tl: &TrackTimeline) {
    let hz = t.mdhd.timescale_hz;
    let kind = match &t.handler {
        b"vide" => "video",
        b"soun" => "audio",
        _ => "other",
    };
    let _ = write!(
        out,
        "\ntrack {}: {kind} ({})",
        t.track_id(),
        fourcc_str(&t.handler)
    );
    for e in &t.sample_entries {
        let _ = write!(out, ", {}", fourcc_str(&e.fourcc));
        if let Some(p) = profile(e) {
            let _ = write!(out, " {p}");
        }
    }
    if t.is_video() {
        let _ = write!(out, ", {}x{}", t.tkhd.width(), t.tkhd.height());
    }
    let _ = writeln!(out, ", timescale {hz} Hz");
    let samples = tl.durations.len();
    let _ = write!(out, "  samples: {samples}, keyframes: {}", tl.keyframes);
    if movie.mvex.is_some() {
        let _ = write!(out, ", fragments: {}", tl.fragments);
    }
    out.push('\n');
    let stts_sum: u64 = tl.durations.iter().map(|&d| u64::from(d)).sum();
    if movie.mvex.is_some() {
        let _ = writeln!(
            out,
            "  duration: {:.3} s (sum of fragment sample durations), first decode time {:.3} s",
            seconds(stts_sum, hz),
            seconds(tl.start_dts, hz)
        );
    } else {
        let _ = writeln!(
            out,
            "  duration: {:.3} s (mdhd), {:.3} s (stts)",
            seconds(t.mdhd.duration, hz),
            seconds(stts_sum, hz)
        );
    }
    match &t.edits {
        None => out.push_str("  edit list: none\n"),
        Some(edits) => {
            let empty: u64 = edits
                .iter()
                .take_while(|e| e.media_time == -1)
                .map(|e| e.segment_duration)
                .sum();
            let media_time = edits
                .iter()
                .find(|e| e.media_time != -1)
                .map(|e| e.media_time);
            let _ = write!(
                out,
                "  edit list: starts at {:.3} s",
                seconds(empty, movie.mvhd.timescale_hz)
            );
            if let Some(mt) = media_time {
                let _ = write!(
                    out,
                    ", media from {:.3} s",
                    seconds(mt.unsigned_abs(), hz) * if mt < 0 { -1.0 } else { 1.0 }
                );
            }
            let _ = writeln!(
                out,
                " ({} entr{})",
                edits.len(),
                if edits.len() == 1 { "y" } else { "ies" }
            );
        }
    }
    let (median, found) = gaps(tl.start_dts, &tl.durations);
    if found.is_empty() && tl.tfdt_jumps.is_empty() {
        out.push_str("  gaps: none\n");
    } else {
        let _ = writeln!(
            out,
            "  gaps: {} (sample duration > 2x the median {:.3} s)",
            found.len(),
            seconds(u64::from(median), hz)
        );
        for g in found.iter().take(MAX_GAPS) {
            let _ = writeln!(
                out,
                "    at {:.3} s: {:.3} s",
                seconds(g.at, hz),
                seconds(u64::from(g.len), hz)
            );
        }
        if found.len() > MAX_GAPS {
            let _ = writeln!(out, "    ... {} more", found.len() - MAX_GAPS);
        }
        for &(at, jump) in tl.tfdt_jumps.iter().take(MAX_GAPS) {
            let _ = writeln!(
                out,
                "    tfdt jump at {:.3} s: {}{:.3} s",
                seconds(at, hz),
                if jump < 0 { "-" } else { "+" },
                seconds(u64::try_from(jump.unsigned_abs()).unwrap_or(u64::MAX), hz)
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gaps_above_twice_the_median() {
        let (median, g) = gaps(1000, &[10, 10, 25, 10, 21, 10, 20]);
        assert_eq!(median, 10);
        assert_eq!(
            g,
            vec![Gap { at: 1020, len: 25 }, Gap { at: 1055, len: 21 }]
        );
        assert_eq!(gaps(0, &[]), (0, vec![]));
    }
}
