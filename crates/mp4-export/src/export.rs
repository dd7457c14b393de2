//! A time range of recorded files as one progressive MP4, `moov` first.

use std::num::NonZeroU32;

use bmff_boxes::{BoxHeader, Edts, Elst, ElstEntry, Encode, Moov, Stsd};
use bytes::{Bytes, BytesMut};
use mp4_track::{TableSample, TrackTables};

use crate::boxes::{TrackHead, ftyp, mvhd, rebase, trak};
use crate::source::{
    Kind, Sample, Samples, SourceFile, Sources, TrackTime, ns_to_ticks, ticks_to_ns,
};
use crate::timeline::{Placed, files_in, place, summaries};
use crate::{Body, ExportError};

/// A time range of recorded files as one progressive MP4 (see [`export`]).
#[derive(Clone, Debug)]
pub struct Export {
    /// The file: `ftyp`, `moov`, then the `mdat` whose samples are source byte ranges.
    pub body: Body,
    /// Unix nanoseconds of the first presented instant: the requested start, or the
    /// first recorded instant after it when the range starts before any recording.
    pub start_ns: i64,
    /// Length of the presentation, nanoseconds (the movie's duration; gaps squeezed out).
    pub duration_ns: i64,
    /// Wall-clock gaps `(from, to)` in Unix nanoseconds between the files used: squeezed
    /// out of the export (the media after a gap follows the media before it at once).
    pub gaps: Vec<(i64, i64)>,
    /// Number of video samples in the `moov`.
    pub video_samples: u32,
    /// Number of audio samples in the `moov`.
    pub audio_samples: u32,
}

/// One track's part of an export: its tables and how it maps to the output timeline.
struct OutTrack {
    head: TrackHead,
    tables: TrackTables,
    entries: Vec<Bytes>,
    /// Output composition time of output instant 0 (`C`: out time = P·hz + C).
    zero: Option<i64>,
    min_cts: i64,
    max_end: i64,
    last_dts: Option<u64>,
    last_duration: u32,
}

/// Samples of one track of one file chosen for the output, with the tick shift that puts
/// them on the output timeline.
struct Picked {
    source: usize,
    entries: Vec<Bytes>,
    shift: i64,
    samples: Vec<Sample>,
    sdi_map: Vec<u32>,
}

/// Builds one progressive MP4 of `start_ns..end_ns` (Unix nanoseconds) from `sources`.
///
/// - The video starts at the keyframe at or before `start` and an edit list hides what
///   comes before `start`, so playback starts at `start` exactly; the audio starts with
///   the sample playing at `start`, trimmed by its own edit.
/// - It ends at `end`: the video holds every sample up to the last one (in decode order)
///   presented before `end`, the audio every sample starting before `end`, and both edits
///   end there.
/// - Files are used in wall-clock order. **Gaps are squeezed out**: the media after a
///   gap follows the media before it at once, never invented media (no frozen frame, no
///   silence); each gap longer than a frame interval is listed in [`Export::gaps`] so a
///   server can report it. Overlapping files are concatenated the same way.
/// - Sample entries that differ between files (new parameters, another codec) become
///   several `stsd` entries, selected per chunk through `stsc`. B-frames keep their
///   composition offsets (`ctts`); the edit list starts at the composition time of
///   `start`.
/// - Memory is proportional to the number of samples in the range (the `moov`); every
///   sample's bytes are a [`Part::Source`](crate::Part) of its file (contiguous samples
///   merged), so the body is read from the files as it is sent. [`export_from`] holds one
///   source's tables at a time.
///
/// [`ExportError::NoMedia`] when no source has media in the range.
pub fn export(sources: &[SourceFile], start_ns: i64, end_ns: i64) -> Result<Export, ExportError> {
    export_from(sources, start_ns, end_ns)
}

/// [`export`] of sources handed out one at a time by `sources`: each is loaded twice
/// (once to place the files on the timeline, once to take its samples) and dropped
/// before the next, so the memory an export needs beyond its `moov` does not grow with
/// the number of files.
pub fn export_from<S: Sources + ?Sized>(
    sources: &S,
    start_ns: i64,
    end_ns: i64,
) -> Result<Export, ExportError> {
    if end_ns <= start_ns {
        return Err(ExportError::BadRange { start_ns, end_ns });
    }
    let no_media = ExportError::NoMedia { start_ns, end_ns };
    let summaries = summaries(sources)?;
    let files = files_in(&summaries, start_ns, end_ns);
    let first = files.first().ok_or(no_media.clone())?;
    let origin = start_ns.max(summaries[*first].wall_start_ns);
    let timeline = place(&summaries, &files, origin);
    let last = timeline.files.last().ok_or(no_media.clone())?;
    let p_end = end_ns.min(summaries[last.source].wall_end_ns) + last.offset_ns;
    if p_end <= 0 {
        return Err(no_media);
    }

    let mut tracks: Vec<OutTrack> = Vec::new();
    let mut kinds: Vec<Kind> = Vec::new();
    for (k, kind) in [Kind::Video, Kind::Audio].into_iter().enumerate() {
        let present: Vec<_> = files
            .iter()
            .filter_map(|&i| summaries[i].tracks[k])
            .collect();
        if let Some(&(head, _)) = present.first() {
            // At most every sample of the files: no table grows by doubling.
            let samples: usize = present.iter().map(|&(_, n)| n as usize).sum();
            let mut tables = TrackTables::new(tracks.len() as u32 + 1);
            tables.reserve(samples);
            kinds.push(kind);
            tracks.push(OutTrack {
                head,
                tables,
                entries: Vec::new(),
                zero: None,
                min_cts: i64::MAX,
                max_end: i64::MIN,
                last_dts: None,
                last_duration: 0,
            });
        }
    }
    drop(summaries);

    let mut media = Body::new();
    let mut pos = 0u64;
    for (n, placed) in timeline.files.iter().enumerate() {
        let file = sources.load(placed.source)?;
        let mut picks = Vec::new();
        for (ti, &kind) in kinds.iter().enumerate() {
            if let Some(p) = pick(&file, placed, kind, n == 0, p_end)? {
                picks.push((ti, p));
            }
        }
        for (ti, p) in &mut picks {
            place_track(&mut tracks[*ti], p)?;
        }
        // Interleave as in the source: by byte offset, each track in decode order.
        let mut heads = vec![0usize; picks.len()];
        loop {
            let next = (0..picks.len())
                .filter(|&k| heads[k] < picks[k].1.samples.len())
                .min_by_key(|&k| picks[k].1.samples[heads[k]].offset);
            let Some(k) = next else { break };
            let (ti, p) = &picks[k];
            let s = p.samples[heads[k]];
            heads[k] += 1;
            let t = &mut tracks[*ti];
            let dts =
                u64::try_from(s.dts as i64 + p.shift).map_err(|_| too_large("a decode time"))?;
            let cts_offset =
                i32::try_from(s.cts_offset).map_err(|_| too_large("a composition offset"))?;
            t.tables
                .push(TableSample {
                    dts,
                    cts_offset,
                    size: s.size,
                    is_sync: s.is_sync,
                    sample_description_index: p.sdi_map[s.sdi as usize - 1],
                    offset_bytes: pos,
                })
                .map_err(|e| too_large(&e.to_string()))?;
            let cts = dts as i64 + s.cts_offset;
            t.min_cts = t.min_cts.min(cts);
            t.max_end = t.max_end.max(cts + i64::from(s.duration));
            t.last_dts = Some(dts);
            t.last_duration = s.duration;
            media.push_source(placed.source, s.offset, u64::from(s.size));
            pos += u64::from(s.size);
        }
    }
    if tracks.iter().all(|t| t.tables.sample_count() == 0) {
        return Err(ExportError::NoMedia { start_ns, end_ns });
    }

    let movie_hz = tracks[0].head.hz;
    let (video_samples, audio_samples) =
        kinds.iter().zip(&tracks).fold((0, 0), |(v, a), (k, t)| {
            let n = t.tables.sample_count();
            match k {
                Kind::Video => (v + n, a),
                Kind::Audio => (v, a + n),
            }
        });
    let moov = build_moov(tracks, movie_hz, p_end);
    let mut body = Body::new();
    for part in head_bytes(moov, pos) {
        body.push_bytes(part);
    }
    body.append(media);
    Ok(Export {
        body,
        start_ns: origin,
        duration_ns: p_end,
        gaps: timeline.gaps,
        video_samples,
        audio_samples,
    })
}

fn too_large(what: &str) -> ExportError {
    ExportError::TooLarge {
        what: what.to_owned(),
    }
}

/// The samples of `kind` that file `placed` gives the output (none when it lacks the
/// track or has none in range). `first`: the range starts in this file.
fn pick(
    file: &SourceFile,
    placed: &Placed,
    kind: Kind,
    first: bool,
    p_end: i64,
) -> Result<Option<Picked>, ExportError> {
    let Some(track) = file.track(kind) else {
        return Ok(None);
    };
    let time = TrackTime::new(file, track);
    let at = |s: &Sample| time.wall_ns(s.cts()) + placed.offset_ns;
    // First pass: the sample numbers to take.
    let (mut from, mut to) = (None::<u32>, None::<u32>);
    for s in Samples::new(track, placed.source) {
        let s = s?;
        let p = at(&s);
        let end = p + ticks_to_ns(i128::from(s.duration), time.hz);
        match kind {
            Kind::Video => {
                if s.is_sync && (from.is_none() || (first && p <= 0)) {
                    from = Some(s.index);
                }
                if from.is_some() && p < p_end {
                    to = Some(s.index);
                }
            }
            Kind::Audio => {
                if end > 0 && p < p_end {
                    from.get_or_insert(s.index);
                    to = Some(s.index);
                }
            }
        }
    }
    let (Some(from), Some(to)) = (from, to) else {
        return Ok(None);
    };
    if to < from {
        return Ok(None);
    }
    let samples: Vec<Sample> = Samples::new(track, placed.source)
        .skip(from as usize)
        .take((to - from + 1) as usize)
        .collect::<Result<_, _>>()?;
    let sdi_map = vec![0; track.sample_entries.len()];
    Ok(Some(Picked {
        source: placed.source,
        entries: track
            .sample_entries
            .iter()
            .map(|e| Bytes::from(e.bytes.clone()))
            .collect(),
        shift: time.shift(placed.offset_ns),
        samples,
        sdi_map,
    }))
}

/// Completes `p` for output track `t`: its sample entries mapped to `t`'s, its shift
/// made final (the output's first decode time is 0, and decode times keep increasing
/// across files).
fn place_track(t: &mut OutTrack, p: &mut Picked) -> Result<(), ExportError> {
    let file_entries: Vec<usize> = p
        .samples
        .iter()
        .map(|s| s.sdi as usize)
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    for sdi in file_entries {
        let Some(entry) = sdi.checked_sub(1).and_then(|i| p.entries.get(i)) else {
            return Err(ExportError::BadSource {
                index: p.source,
                reason: format!("sample description index {sdi} out of range"),
            });
        };
        let at = match t.entries.iter().position(|e| e == entry) {
            Some(at) => at,
            None => {
                t.entries.push(entry.clone());
                t.entries.len() - 1
            }
        };
        p.sdi_map[sdi - 1] = at as u32 + 1;
    }
    let first = p.samples[0];
    let zero = *t.zero.get_or_insert(-(first.dts as i64 + p.shift));
    p.shift += zero;
    if let Some(last) = t.last_dts {
        let first_out = first.dts as i64 + p.shift;
        if first_out <= last as i64 {
            p.shift += last as i64 + 1 - first_out;
        }
    }
    Ok(())
}

/// The `moov` from the tracks' tables and edits: each track's media edit shows output
/// instants `0..p_end` (or less of it when the track has less), after an empty edit when
/// the track starts later than instant 0.
fn build_moov(tracks: Vec<OutTrack>, movie_hz: u32, p_end: i64) -> Moov {
    let mut traks = Vec::new();
    let mut movie_duration = 0u64;
    for t in tracks.into_iter().filter(|t| t.tables.sample_count() > 0) {
        let hz = t.head.hz;
        let zero = t.zero.unwrap_or(0);
        let end = (ns_to_ticks(i128::from(p_end), hz) + zero).min(t.max_end);
        let (empty, media_time) = if t.min_cts <= zero {
            (0, zero)
        } else {
            (t.min_cts - zero, t.min_cts)
        };
        let to_movie = |ticks: i64| {
            crate::source::rescale(i128::from(ticks.max(0)), u64::from(hz), u64::from(movie_hz))
                as u64
        };
        let empty_movie = to_movie(empty);
        let segment = to_movie(end - media_time).max(1);
        let mut entries = Vec::with_capacity(2);
        if empty_movie > 0 {
            entries.push(ElstEntry::empty(empty_movie));
        }
        entries.push(ElstEntry::media(segment, media_time));
        let track_duration = empty_movie + segment;
        movie_duration = movie_duration.max(track_duration);
        let default = NonZeroU32::new(t.last_duration);
        let mut tables = t.tables;
        if let Some(d) = default {
            tables.set_last_sample_duration(d);
        }
        let media_duration = tables.media_duration(default);
        let stbl = tables.into_stbl(Stsd { entries: t.entries }, default);
        traks.push(trak(
            traks.len() as u32 + 1,
            &t.head,
            (track_duration, media_duration),
            Some(Edts {
                elst: Elst { entries },
            }),
            stbl,
        ));
    }
    Moov {
        mvhd: mvhd(movie_hz, movie_duration, traks.len()),
        traks,
        mvex: None,
        udta: None,
    }
}

/// `ftyp`, the `moov` with its chunk offsets made absolute, and the `mdat` header for
/// `payload` bytes (16 bytes with a 64-bit size when it needs one).
fn head_bytes(mut moov: Moov, payload: u64) -> Vec<Bytes> {
    let ftyp = ftyp(false);
    let mdat = BoxHeader {
        fourcc: *b"mdat",
        payload_len: payload,
    };
    let relative: Vec<_> = moov
        .traks
        .iter()
        .map(|t| t.mdia.minf.stbl.chunk_offsets.clone())
        .collect();
    // The offsets depend on the moov's length, which depends on stco or co64: at most
    // two rounds settle it (offsets only grow).
    let mut base = ftyp.encoded_len() + moov.encoded_len() + mdat.encoded_len();
    loop {
        for (t, rel) in moov.traks.iter_mut().zip(&relative) {
            t.mdia.minf.stbl.chunk_offsets = rebase(rel, base);
        }
        let now = ftyp.encoded_len() + moov.encoded_len() + mdat.encoded_len();
        if now == base {
            break;
        }
        base = now;
    }
    // The moov box by hand, each `trak` encoded into a part of its own and dropped: the
    // tables and their encoding are not both held whole (the video's tables are gone
    // before the audio's are encoded).
    let Moov {
        mvhd,
        traks,
        mvex,
        udta,
    } = moov;
    let moov_header = BoxHeader {
        fourcc: *b"moov",
        payload_len: mvhd.encoded_len()
            + traks.iter().map(Encode::encoded_len).sum::<u64>()
            + mvex.encoded_len()
            + udta.encoded_len(),
    };
    let prefix = ftyp.encoded_len() + moov_header.encoded_len() + mvhd.encoded_len();
    let suffix = mvex.encoded_len() + udta.encoded_len() + mdat.encoded_len();
    let last = traks.len().saturating_sub(1);
    let mut parts = Vec::with_capacity(traks.len().max(1));
    let mut out = BytesMut::new();
    for (i, trak) in traks.into_iter().enumerate() {
        let extra = if i == 0 { prefix } else { 0 } + if i == last { suffix } else { 0 };
        out.reserve((trak.encoded_len() + extra) as usize);
        if i == 0 {
            ftyp.encode(&mut out);
            moov_header.encode(&mut out);
            mvhd.encode(&mut out);
        }
        trak.encode(&mut out);
        if i != last {
            parts.push(out.split().freeze());
        }
    }
    if parts.is_empty() && out.is_empty() {
        ftyp.encode(&mut out);
        moov_header.encode(&mut out);
        mvhd.encode(&mut out);
    }
    mvex.encode(&mut out);
    udta.encode(&mut out);
    mdat.encode(&mut out);
    parts.push(out.freeze());
    debug_assert_eq!(parts.iter().map(|p| p.len() as u64).sum::<u64>(), base);
    parts
}
