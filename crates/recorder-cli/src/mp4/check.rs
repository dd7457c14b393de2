//! `recorder verify`: checks an MP4 file's own consistency (box tiling, sample tables,
//! durations, fragments) from its box headers and `moov`/`moof` payloads, then every
//! sample's data ([`crate::mp4::samples`]).

use std::collections::HashMap;
use std::path::Path;

use anyhow::{Context, bail};

use bmff_boxes::read::{Header, Movie, Track, fourcc_str};
use bmff_boxes::sample_check::SampleFormat;

use crate::mp4::read::Mp4File;
use crate::mp4::samples::{self, DataChecked, SampleRef};

/// What a consistent file holds.
#[derive(Clone, Debug, PartialEq)]
pub struct Checked {
    /// True when the file has movie fragments (an `mvex`).
    pub fragmented: bool,
    /// Number of `moof` boxes.
    pub fragments: u32,
    /// Samples per track, in track order (from the `moov`, or from the fragments).
    pub sample_counts: Vec<u32>,
    /// Handler type per track.
    pub handlers: Vec<String>,
    /// Sample entry type per track.
    pub codecs: Vec<String>,
    /// Media duration per track, in seconds.
    pub durations_s: Vec<f64>,
    /// True when the `moov` is before the first `mdat`.
    pub moov_at_front: bool,
    /// What the check of the sample data read.
    pub data: DataChecked,
}

impl Checked {
    /// Samples in the tracks of handler type `handler` (`vide`, `soun`).
    pub fn samples_of(&self, handler: &str) -> u64 {
        self.handlers
            .iter()
            .zip(&self.sample_counts)
            .filter(|(h, _)| *h == handler)
            .map(|(_, n)| u64::from(*n))
            .sum()
    }
}

impl std::fmt::Display for Checked {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.fragmented {
            write!(f, "fragmented, {} fragments", self.fragments)?;
        } else {
            write!(
                f,
                "progressive, moov at the {}",
                if self.moov_at_front { "front" } else { "end" }
            )?;
        }
        for (i, n) in self.sample_counts.iter().enumerate() {
            write!(
                f,
                "; track {} {} {}: {n} samples, {:.3} s",
                i + 1,
                self.handlers[i],
                self.codecs[i],
                self.durations_s[i]
            )?;
        }
        write!(
            f,
            "; data of {} samples ({} bytes) checked",
            self.data.samples, self.data.bytes
        )
    }
}

/// Checks the file at `path`; the error names the box and what is wrong.
pub fn check_path(path: &Path) -> anyhow::Result<Checked> {
    let file = Mp4File::open(path)?;
    check(&file)
}

/// Checks an opened file.
pub fn check(file: &Mp4File) -> anyhow::Result<Checked> {
    let moovs: Vec<&Header> = file.find(b"moov").collect();
    let moov = match moovs.as_slice() {
        [one] => *one,
        [] => bail!("no moov box"),
        [_, second, ..] => bail!(
            "{} moov boxes: a second one at offset {}",
            moovs.len(),
            second.offset
        ),
    };
    let movie = file.movie(moov)?;
    let mdats: Vec<(u64, u64)> = file
        .find(b"mdat")
        .map(|b| (b.payload_start(), b.end()))
        .collect();
    let moov_at_front = file
        .find(b"mdat")
        .next()
        .is_none_or(|m| moov.offset < m.offset);
    check_movie(&movie, &mdats)?;
    let mut checked = Checked {
        fragmented: movie.mvex.is_some(),
        fragments: 0,
        sample_counts: movie.tracks.iter().map(|t| t.stbl.sample_count()).collect(),
        handlers: movie
            .tracks
            .iter()
            .map(|t| fourcc_str(&t.handler))
            .collect(),
        codecs: movie
            .tracks
            .iter()
            .map(|t| {
                t.sample_entries
                    .first()
                    .map_or_else(|| "none".to_owned(), |e| fourcc_str(&e.fourcc))
            })
            .collect(),
        durations_s: movie
            .tracks
            .iter()
            .map(|t| seconds(t.mdhd.duration, t.mdhd.timescale_hz))
            .collect(),
        moov_at_front,
        data: DataChecked::default(),
    };
    let mut sample_refs: Vec<SampleRef> =
        movie.tracks.iter().flat_map(samples::progressive).collect();
    if movie.mvex.is_some() {
        let frags = check_fragments(file, &movie, &mut sample_refs)?;
        checked.fragments = frags.fragments;
        for (i, t) in movie.tracks.iter().enumerate() {
            let (n, d) = frags
                .per_track
                .get(&t.track_id())
                .copied()
                .unwrap_or((0, 0));
            checked.sample_counts[i] += n;
            checked.durations_s[i] += seconds(d, t.mdhd.timescale_hz);
        }
    } else if let Some(moof) = file.find(b"moof").next() {
        bail!(
            "moof at offset {}: movie fragment in a file whose moov has no mvex",
            moof.offset
        );
    }
    checked.data = samples::check(file, sample_refs)?;
    Ok(checked)
}

/// Seconds from ticks.
pub fn seconds(ticks: u64, timescale_hz: u32) -> f64 {
    if timescale_hz == 0 {
        0.0
    } else {
        ticks as f64 / f64::from(timescale_hz)
    }
}

/// `|a / a_hz - b / b_hz| <= 1 / a_hz`: `b` (in `b_hz` units) is within one `a_hz` tick
/// of `a`.
fn within_one_tick(a: u64, a_hz: u32, b: u64, b_hz: u32) -> bool {
    let lhs = i128::from(a) * i128::from(b_hz);
    let rhs = i128::from(b) * i128::from(a_hz);
    (lhs - rhs).abs() <= i128::from(b_hz)
}

fn check_movie(movie: &Movie, mdats: &[(u64, u64)]) -> anyhow::Result<()> {
    if movie.mvhd.timescale_hz == 0 {
        bail!("mvhd: timescale 0");
    }
    let mut max_duration = 0;
    for t in &movie.tracks {
        check_track(movie, t, mdats)?;
        max_duration = max_duration.max(t.tkhd.duration);
        if t.track_id() == 0 {
            bail!("tkhd: track_ID 0");
        }
        if movie.mvhd.next_track_id <= t.track_id() {
            bail!(
                "mvhd: next_track_ID {} is not above track_ID {}",
                movie.mvhd.next_track_id,
                t.track_id()
            );
        }
        if movie
            .tracks
            .iter()
            .filter(|u| u.track_id() == t.track_id())
            .count()
            > 1
        {
            bail!("tkhd: two tracks with track_ID {}", t.track_id());
        }
    }
    if movie.mvhd.duration != max_duration {
        bail!(
            "mvhd: duration {} but the longest track (tkhd) lasts {max_duration}",
            movie.mvhd.duration
        );
    }
    if let Some(trex) = &movie.mvex {
        for t in &movie.tracks {
            if !trex.iter().any(|x| x.track_id == t.track_id()) {
                bail!("mvex: no trex for track {}", t.track_id());
            }
        }
    }
    Ok(())
}

fn check_track(movie: &Movie, t: &Track, mdats: &[(u64, u64)]) -> anyhow::Result<()> {
    let id = t.track_id();
    let s = &t.stbl;
    let n = u64::from(s.sample_count());
    let chunk_offset_box = fourcc_str(&s.chunk_offset_box);
    if t.mdhd.timescale_hz == 0 {
        bail!("track {id} mdhd: timescale 0");
    }
    if t.sample_entries.is_empty() {
        bail!("track {id} stsd: no sample entry");
    }
    if s.stts_count() != n {
        bail!(
            "track {id} stsz: sample_count {n} but stts counts {} samples",
            s.stts_count()
        );
    }
    let chunks = s.chunk_offsets.len();
    let per_chunk = s.samples_per_chunk(chunks).with_context(|| {
        format!(
            "track {id} stsc: entries {:?} do not describe the {chunks} chunks of {}",
            s.stsc.iter().map(|e| e.first_chunk).collect::<Vec<_>>(),
            chunk_offset_box
        )
    })?;
    let expanded: u64 = per_chunk.iter().map(|&k| u64::from(k)).sum();
    if expanded != n {
        bail!(
            "track {id} stsc: the {chunks} chunks of {} hold {expanded} samples but stsz \
             counts {n}",
            chunk_offset_box
        );
    }
    for e in &s.stsc {
        if e.sample_description_index == 0
            || e.sample_description_index as usize > t.sample_entries.len()
        {
            bail!(
                "track {id} stsc: sample_description_index {} but stsd has {} entries",
                e.sample_description_index,
                t.sample_entries.len()
            );
        }
    }
    // Each chunk's samples are contiguous: the chunk must lie inside one mdat payload.
    let mut sample = 0usize;
    for (c, (&offset, &k)) in s.chunk_offsets.iter().zip(&per_chunk).enumerate() {
        let len: u64 = (sample..sample + k as usize)
            .map(|i| u64::from(s.size(i)))
            .sum();
        let end = offset.saturating_add(len);
        if !inside_mdat(mdats, offset, end) {
            bail!(
                "track {id} {}: chunk {} at {offset}..{end} (samples {}..={}) is not inside \
                 an mdat payload",
                chunk_offset_box,
                c + 1,
                sample + 1,
                sample + k as usize
            );
        }
        sample += k as usize;
    }
    if let Some(stss) = &s.stss {
        let mut prev = 0;
        for &i in stss {
            if i <= prev || u64::from(i) > n {
                bail!(
                    "track {id} stss: sample number {i} is {} (sample count {n})",
                    if i <= prev {
                        "not ascending"
                    } else {
                        "out of range"
                    }
                );
            }
            prev = i;
        }
        if t.is_video() && n > 0 && stss.first() != Some(&1) {
            bail!("track {id} stss: the first video sample is not a sync sample");
        }
    }
    if let Some(ctts) = &s.ctts {
        let total: u64 = ctts.iter().map(|e| u64::from(e.sample_count)).sum();
        if total != n {
            bail!("track {id} ctts: counts {total} samples but stsz counts {n}");
        }
    }
    let media = s.stts_duration();
    if t.mdhd.duration != media {
        bail!(
            "track {id} mdhd: duration {} but the stts durations sum to {media}",
            t.mdhd.duration
        );
    }
    let (mhz, thz) = (movie.mvhd.timescale_hz, t.mdhd.timescale_hz);
    match &t.edits {
        Some(edits) => {
            let total: u64 = edits.iter().map(|e| e.segment_duration).sum();
            let media_edits: u64 = edits
                .iter()
                .filter(|e| e.media_time != -1)
                .map(|e| e.segment_duration)
                .sum();
            // (A media shorter than one movie tick still gets a 1-tick segment: within
            // one tick too.)
            if !within_one_tick(media_edits, mhz, media, thz) {
                bail!(
                    "track {id} elst: media segments last {media_edits} (movie timescale \
                     {mhz}) but the media lasts {media} (timescale {thz})"
                );
            }
            if t.tkhd.duration.abs_diff(total) > 1 {
                bail!(
                    "track {id} tkhd: duration {} but the elst segments sum to {total}",
                    t.tkhd.duration
                );
            }
        }
        None => {
            if !within_one_tick(t.tkhd.duration, mhz, media, thz) {
                bail!(
                    "track {id} tkhd: duration {} (movie timescale {mhz}) but the media lasts \
                     {media} (timescale {thz})",
                    t.tkhd.duration
                );
            }
        }
    }
    Ok(())
}

/// True when `start..end` lies inside one of the (sorted) `mdats` payload ranges.
fn inside_mdat(mdats: &[(u64, u64)], start: u64, end: u64) -> bool {
    let i = mdats.partition_point(|&(s, _)| s <= start);
    i > 0 && {
        let (s, e) = mdats[i - 1];
        start >= s && end <= e
    }
}

/// What the fragments hold.
struct FragmentTotals {
    fragments: u32,
    /// Per track id: (samples, summed durations).
    per_track: HashMap<u32, (u32, u64)>,
}

/// Checks the fragments and adds their samples to `refs`.
fn check_fragments(
    file: &Mp4File,
    movie: &Movie,
    refs: &mut Vec<SampleRef>,
) -> anyhow::Result<FragmentTotals> {
    let formats: HashMap<u32, Vec<_>> = movie
        .tracks
        .iter()
        .map(|t| (t.track_id(), samples::formats(t)))
        .collect();
    let trex = movie.mvex.as_deref().unwrap_or_default();
    let mut totals = FragmentTotals {
        fragments: 0,
        per_track: HashMap::new(),
    };
    // Per track: where its previous fragment ended (tfdt + durations).
    let mut next_dts: HashMap<u32, u64> = HashMap::new();
    let mut last_sequence: Option<u32> = None;
    for (i, b) in file.boxes.iter().enumerate() {
        if &b.fourcc != b"moof" {
            continue;
        }
        let frag = file.fragment(b)?;
        let at = b.offset;
        let mdat = file
            .boxes
            .get(i + 1)
            .filter(|m| &m.fourcc == b"mdat")
            .with_context(|| format!("moof at offset {at}: not followed by an mdat"))?;
        if let Some(prev) = last_sequence
            && frag.sequence_number <= prev
        {
            bail!(
                "moof at offset {at} mfhd: sequence_number {} does not follow {prev}",
                frag.sequence_number
            );
        }
        last_sequence = Some(frag.sequence_number);
        for traf in frag.resolve(trex)? {
            let id = traf.track_id;
            let track = movie
                .tracks
                .iter()
                .find(|t| t.track_id() == id)
                .with_context(|| format!("moof at offset {at} tfhd: unknown track {id}"))?;
            let (ps, pe) = (i128::from(mdat.payload_start()), i128::from(mdat.end()));
            for (k, s) in traf.samples.iter().enumerate() {
                let end = s.offset + i128::from(s.size);
                if s.offset < ps || end > pe {
                    bail!(
                        "moof at offset {at} trun: track {id} sample {} data {}..{end} is \
                         outside the following mdat payload {ps}..{pe}",
                        k + 1,
                        s.offset
                    );
                }
            }
            let duration: u64 = traf.samples.iter().map(|s| u64::from(s.duration)).sum();
            let first_fragment = !totals.per_track.contains_key(&id);
            if first_fragment
                && track.is_video()
                && traf.samples.first().is_some_and(|s| !s.is_sync())
            {
                bail!(
                    "moof at offset {at} trun: the first sample of video track {id} is not a \
                     sync sample"
                );
            }
            if let Some(tfdt) = traf.tfdt {
                if let Some(&expected) = next_dts.get(&id)
                    && tfdt != expected
                {
                    bail!(
                        "moof at offset {at} tfdt: track {id} base_media_decode_time {tfdt} \
                         but its previous fragment ended at {expected}"
                    );
                }
                next_dts.insert(id, tfdt + duration);
            } else if let Some(d) = next_dts.get_mut(&id) {
                *d += duration;
            }
            let e = totals.per_track.entry(id).or_default();
            let format = formats[&id]
                .get((traf.sample_description_index as usize).wrapping_sub(1))
                .copied()
                .unwrap_or(SampleFormat::Other);
            for (k, s) in traf.samples.iter().enumerate() {
                refs.push(SampleRef {
                    track_id: id,
                    number: track.stbl.sample_count() + e.0 + k as u32 + 1,
                    format,
                    offset: s.offset as u64,
                    size: s.size,
                    moof: Some(at),
                });
            }
            e.0 += traf.samples.len() as u32;
            e.1 += duration;
        }
        totals.fragments += 1;
    }
    Ok(totals)
}
