//! HLS (RFC 8216, version 7) of a time range: a VOD playlist of fMP4 segments built on
//! demand from the recorded files.
//!
//! [`plan`] cuts the range into segments at video keyframes, about `target_segment_ns`
//! long, never across a file boundary. It reads only what segment boundaries need (each
//! file's sync samples, through the `stss`, `stts` and `ctts` runs), so planning a day is
//! cheap and a server may plan per playlist request or cache the [`Plan`].
//! [`Plan::init_segment`] and [`Plan::media_segment`] build the bytes of one segment
//! when it is asked for; [`Plan::playlist`] renders the playlist.
//!
//! The segments' decode times (`tfdt`) run on one continuous timeline from 0 at the
//! first keyframe, gaps between files squeezed out as in [`export`](crate::export);
//! `EXT-X-PROGRAM-DATE-TIME` gives each segment's real wall-clock start, and
//! `EXT-X-DISCONTINUITY` marks each gap and each change of sample entries (with a new
//! `EXT-X-MAP`). The first segment starts at the keyframe at or before `start` (fMP4
//! segments have no edit list), the last one ends with the last video sample presented
//! before `end`.

use std::fmt::Write as _;

use bmff_boxes::{
    BoxHeader, Encode, Mfhd, Moof, Moov, Mvex, Stsd, Tfdt, Tfhd, Traf, Trex, Trun, TrunFields,
    TrunSample,
};
use bytes::{Bytes, BytesMut};
use mp4_track::TrackTables;

use crate::boxes::{
    NON_SYNC_SAMPLE_FLAGS, SYNC_SAMPLE_FLAGS, TrackHead, ftyp, mvhd, sample_flags, trak,
};
use crate::source::{
    Kind, Sample, Samples, SourceFile, Sources, TrackTime, last_dts, rescale, sync_samples,
};
use crate::timeline::{files_in, place, summaries};
use crate::{Body, ExportError};

/// One media segment of a [`Plan`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Segment {
    /// Index of its init segment (`EXT-X-MAP`) in the plan.
    pub init: usize,
    /// Index of the source file its media comes from.
    pub source: usize,
    /// Unix nanoseconds at which its first frame was recorded (`EXT-X-PROGRAM-DATE-TIME`).
    pub wall_start_ns: i64,
    /// Its duration, nanoseconds (`EXTINF`).
    pub duration_ns: i64,
    /// A gap or a change of sample entries comes before it (`EXT-X-DISCONTINUITY`).
    pub discontinuity: bool,
    /// Which of the plan's placed files it is from.
    file: usize,
    /// First video sample (0-based), when the file has video.
    video_from: u32,
    /// The sample after its last video sample (decode order); `None`: every sample up to
    /// the last one presented before `wall_end_ns`.
    video_to: Option<u32>,
    /// Audio samples starting in `audio_from..audio_to` (wall clock) are its own.
    audio_from: i64,
    audio_to: i64,
}

/// A file of a plan, placed on the output timeline.
#[derive(Clone, Debug, PartialEq, Eq)]
struct PlanFile {
    source: usize,
    /// Per track kind: ticks added to the source's decode times (`tfdt`).
    video_shift: i64,
    audio_shift: i64,
}

/// What an init segment holds: per track, the head and sample entries.
#[derive(Clone, Debug, PartialEq, Eq)]
struct InitKey {
    video: Option<(u32, u32, u32, Vec<Vec<u8>>)>,
    audio: Option<(u32, Vec<Vec<u8>>)>,
}

/// The segments of a time range (see [`plan`]).
#[derive(Clone, Debug)]
pub struct Plan {
    segments: Vec<Segment>,
    /// Per init segment, the source it describes.
    inits: Vec<usize>,
    files: Vec<PlanFile>,
}

/// Plans the HLS segments of `start_ns..end_ns` (Unix nanoseconds): cut at video
/// keyframes once a segment has reached `target_segment_ns` (audio-only sources: at any
/// sample), never across files. [`ExportError::NoMedia`] when nothing is recorded there.
///
/// Each source is loaded twice (see [`Sources`]), one at a time: a plan keeps only its
/// segments' sample numbers, never the files' tables.
pub fn plan<S: Sources + ?Sized>(
    sources: &S,
    start_ns: i64,
    end_ns: i64,
    target_segment_ns: i64,
) -> Result<Plan, ExportError> {
    if end_ns <= start_ns {
        return Err(ExportError::BadRange { start_ns, end_ns });
    }
    let no_media = ExportError::NoMedia { start_ns, end_ns };
    let summaries = summaries(sources)?;
    let files = files_in(&summaries, start_ns, end_ns);
    // The first file's keyframe at or before start is the origin.
    let first = *files.first().ok_or(no_media.clone())?;
    let origin = {
        let s = sources.load(first)?;
        let s = &*s;
        let (_, t) = main_track(s).ok_or(no_media.clone())?;
        let time = TrackTime::new(s, t);
        let syncs = sync_samples(t);
        let at = syncs
            .iter()
            .rev()
            .find(|k| time.wall_ns(k.cts) <= start_ns)
            .or(syncs.first())
            .ok_or(no_media.clone())?;
        time.wall_ns(at.cts)
    };
    let timeline = place(&summaries, &files, origin);

    let mut plan = Plan {
        segments: Vec::new(),
        inits: Vec::new(),
        files: Vec::new(),
    };
    let mut keys: Vec<InitKey> = Vec::new();
    // Per track kind (video, audio): the output decode time of a source time 0 before
    // the file's own shift, with its timescale; the last output decode time so far.
    let mut zeros: [Option<(i64, u32)>; 2] = [None, None];
    let mut lasts: [Option<i64>; 2] = [None, None];
    for placed in &timeline.files {
        let s = sources.load(placed.source)?;
        let s = &*s;
        let Some((kind, main_track)) = main_track(s) else {
            continue;
        };
        let time = TrackTime::new(s, main_track);
        let file_end = s.wall_end_ns().min(end_ns);
        let syncs = sync_samples(main_track);
        // Boundaries: keyframes presented in origin..file_end.
        let mut cuts: Vec<(u32, i64)> = Vec::new();
        for k in &syncs {
            let w = time.wall_ns(k.cts);
            if w >= file_end {
                break;
            }
            if w < origin {
                continue;
            }
            match cuts.last() {
                None => cuts.push((k.index, w)),
                Some(&(_, last)) if w - last >= target_segment_ns => cuts.push((k.index, w)),
                _ => {}
            }
        }
        if cuts.is_empty() {
            continue;
        }
        // Shifts: decode time 0 at the origin's keyframe; audio on the same instants.
        let mut shifts = [0i64; 2];
        for (n, k) in [Kind::Video, Kind::Audio].into_iter().enumerate() {
            let Some(t) = s.track(k) else { continue };
            let tt = TrackTime::new(s, t);
            let mut shift = tt.shift(placed.offset_ns);
            let zero = match (k, zeros[0], zeros[n]) {
                (_, _, Some((z, _))) => z,
                (Kind::Audio, Some((z, hz)), None) => {
                    rescale(i128::from(z), u64::from(hz), u64::from(tt.hz)) as i64
                }
                _ => {
                    let first_dts = if k == kind {
                        syncs
                            .iter()
                            .find(|x| x.index == cuts[0].0)
                            .map_or(0, |x| x.dts)
                    } else {
                        0
                    };
                    -(first_dts as i64 + shift)
                }
            };
            zeros[n] = Some((zero, tt.hz));
            shift += zero;
            if let Some(prev) = lasts[n]
                && shift <= prev
            {
                shift = prev + 1; // a file's first decode time is 0: stay after the last one
            }
            lasts[n] = last_dts(t).map(|d| d as i64 + shift);
            shifts[n] = shift;
        }
        let file_index = plan.files.len();
        plan.files.push(PlanFile {
            source: placed.source,
            video_shift: shifts[0],
            audio_shift: shifts[1],
        });

        let key = InitKey {
            video: s.video().map(|t| {
                (
                    t.mdhd.timescale_hz,
                    t.tkhd.width_fixed,
                    t.tkhd.height_fixed,
                    t.sample_entries.iter().map(|e| e.bytes.clone()).collect(),
                )
            }),
            audio: s.audio().map(|t| {
                (
                    t.mdhd.timescale_hz,
                    t.sample_entries.iter().map(|e| e.bytes.clone()).collect(),
                )
            }),
        };
        let init = match keys.iter().position(|k| *k == key) {
            Some(i) => i,
            None => {
                keys.push(key);
                plan.inits.push(placed.source);
                keys.len() - 1
            }
        };
        for (i, &(index, w)) in cuts.iter().enumerate() {
            let first_of_range = plan.segments.is_empty();
            let next = cuts.get(i + 1);
            let wall_end = next.map_or(file_end, |n| n.1);
            let discontinuity = i == 0
                && plan
                    .segments
                    .last()
                    .is_some_and(|p| placed.after_gap || p.init != init);
            plan.segments.push(Segment {
                init,
                source: placed.source,
                wall_start_ns: w,
                duration_ns: wall_end - w,
                discontinuity,
                file: file_index,
                video_from: index,
                video_to: next.map(|n| n.0),
                audio_from: if i == 0 && !first_of_range {
                    i64::MIN
                } else {
                    w
                },
                audio_to: if next.is_none() && file_end < s.wall_end_ns() {
                    file_end
                } else {
                    next.map_or(i64::MAX, |n| n.1)
                },
            });
        }
    }
    if plan.segments.is_empty() {
        return Err(no_media);
    }
    Ok(plan)
}

impl Plan {
    /// The segments, in playback order.
    pub fn segments(&self) -> &[Segment] {
        &self.segments
    }

    /// Number of init segments (distinct sets of tracks and sample entries).
    pub fn init_count(&self) -> usize {
        self.inits.len()
    }

    /// Sum of the segments' durations, nanoseconds.
    pub fn duration_ns(&self) -> i64 {
        self.segments.iter().map(|s| s.duration_ns).sum()
    }

    /// Init segment number `init`: `ftyp` and a `moov` with an `mvex` and no samples;
    /// track 1 is the video and the next the audio, when the sources have them, with
    /// every sample entry of the file they describe.
    pub fn init_segment<S: Sources + ?Sized>(
        &self,
        sources: &S,
        init: usize,
    ) -> Result<Bytes, ExportError> {
        let &source = self.inits.get(init).ok_or(ExportError::NoSuchIndex {
            what: "init",
            index: init,
            count: self.inits.len(),
        })?;
        let s = sources.load(source)?;
        let s = &*s;
        let mut traks = Vec::new();
        let mut trex = Vec::new();
        for kind in [Kind::Video, Kind::Audio] {
            let Some(t) = s.track(kind) else { continue };
            let id = traks.len() as u32 + 1;
            let entries = t
                .sample_entries
                .iter()
                .map(|e| Bytes::from(e.bytes.clone()))
                .collect();
            let stbl = TrackTables::new(id).into_stbl(Stsd { entries }, None);
            traks.push(trak(id, &TrackHead::of(kind, t), (0, 0), None, stbl));
            trex.push(Trex {
                track_id: id,
                default_sample_description_index: 1,
                default_sample_duration: 0,
                default_sample_size: 0,
                default_sample_flags: match kind {
                    Kind::Video => NON_SYNC_SAMPLE_FLAGS,
                    Kind::Audio => SYNC_SAMPLE_FLAGS,
                },
            });
        }
        let hz = traks.first().map_or(1000, |t| t.mdia.mdhd.timescale);
        let moov = Moov {
            mvhd: mvhd(hz, 0, traks.len()),
            traks,
            mvex: Some(Mvex { trex }),
            udta: None,
        };
        let ftyp = ftyp(true);
        let mut out = BytesMut::with_capacity((ftyp.encoded_len() + moov.encoded_len()) as usize);
        ftyp.encode(&mut out);
        moov.encode(&mut out);
        Ok(out.freeze())
    }

    /// Media segment number `index`: a `moof` (`mfhd` sequence number `index + 1`; per
    /// track a `traf` with `tfdt` on the continuous timeline and one `trun` with every
    /// sample's size, duration, flags and composition offset, data offsets relative to
    /// the `moof`), then the `mdat` whose samples are source byte ranges.
    pub fn media_segment<S: Sources + ?Sized>(
        &self,
        sources: &S,
        index: usize,
    ) -> Result<Body, ExportError> {
        let seg = self.segments.get(index).ok_or(ExportError::NoSuchIndex {
            what: "segment",
            index,
            count: self.segments.len(),
        })?;
        let file = &self.files[seg.file];
        let s = sources.load(file.source)?;
        let s = &*s;
        let mut runs: Vec<(u32, u64, Vec<Sample>)> = Vec::new();
        for kind in [Kind::Video, Kind::Audio] {
            let Some(t) = s.track(kind) else { continue };
            let id = runs.len() as u32 + 1;
            let time = TrackTime::new(s, t);
            let is_main = kind == Kind::Video || s.video().is_none();
            let mut picked = Vec::new();
            // With `video_to` unset: samples up to the last one presented before the
            // end, in decode order (a reference presented after the end included).
            let mut keep = if !is_main || seg.video_to.is_some() {
                usize::MAX
            } else {
                0
            };
            for x in Samples::new(t, file.source) {
                let x = x?;
                let w = time.wall_ns(x.cts());
                if is_main {
                    if x.index < seg.video_from {
                        continue;
                    }
                    match seg.video_to {
                        Some(to) if x.index >= to => break,
                        Some(_) => picked.push(x),
                        None => {
                            picked.push(x);
                            if w < seg.wall_start_ns + seg.duration_ns {
                                keep = picked.len();
                            }
                        }
                    }
                } else if w >= seg.audio_from && w < seg.audio_to {
                    picked.push(x);
                } else if w >= seg.audio_to {
                    break;
                }
            }
            picked.truncate(keep);
            let shift = match kind {
                Kind::Video => file.video_shift,
                Kind::Audio => file.audio_shift,
            };
            let base = picked.first().map_or(0, |x| x.dts as i64 + shift);
            let base = u64::try_from(base).map_err(|_| ExportError::TooLarge {
                what: "a negative decode time".to_owned(),
            })?;
            runs.push((id, base, picked));
        }
        let runs: Vec<_> = runs.into_iter().filter(|r| !r.2.is_empty()).collect();
        let mut moof = Moof {
            mfhd: Mfhd {
                sequence_number: index as u32 + 1,
            },
            traf: runs
                .iter()
                .map(|(id, base, samples)| Traf {
                    tfhd: Tfhd {
                        track_id: *id,
                        sample_description_index: samples
                            .first()
                            .and_then(|x| (x.sdi != 1).then_some(x.sdi)),
                        default_base_is_moof: true,
                        ..Tfhd::default()
                    },
                    tfdt: Some(Tfdt {
                        base_media_decode_time: *base,
                    }),
                    trun: vec![Trun {
                        data_offset: Some(0),
                        first_sample_flags: None,
                        fields: TrunFields {
                            sample_duration: true,
                            sample_size: true,
                            sample_flags: true,
                            sample_composition_time_offset: samples
                                .iter()
                                .any(|x| x.cts_offset != 0),
                        },
                        samples: samples
                            .iter()
                            .map(|x| TrunSample {
                                sample_duration: x.duration,
                                sample_size: x.size,
                                sample_flags: sample_flags(x.is_sync),
                                sample_composition_time_offset: x.cts_offset as i32,
                            })
                            .collect(),
                    }],
                })
                .collect(),
        };
        let payload: u64 = runs
            .iter()
            .flat_map(|r| r.2.iter())
            .map(|x| u64::from(x.size))
            .sum();
        let mdat = BoxHeader {
            fourcc: *b"mdat",
            payload_len: payload,
        };
        let mut at = moof.encoded_len() + mdat.encoded_len();
        for (traf, run) in moof.traf.iter_mut().zip(&runs) {
            traf.trun[0].data_offset =
                Some(i32::try_from(at).map_err(|_| ExportError::TooLarge {
                    what: "a segment over 2 GiB".to_owned(),
                })?);
            at += run.2.iter().map(|x| u64::from(x.size)).sum::<u64>();
        }
        let mut head = BytesMut::with_capacity((moof.encoded_len() + mdat.encoded_len()) as usize);
        moof.encode(&mut head);
        mdat.encode(&mut head);
        let mut body = Body::new();
        body.push_bytes(head.freeze());
        for (_, _, samples) in &runs {
            for x in samples {
                body.push_source(file.source, x.offset, u64::from(x.size));
            }
        }
        Ok(body)
    }

    /// The playlist (RFC 8216 version 7, VOD): `init_uri(i)` names init segment `i`,
    /// `segment_uri(i)` media segment `i` (relative or absolute URIs, as written).
    pub fn playlist(
        &self,
        init_uri: impl Fn(usize) -> String,
        segment_uri: impl Fn(usize) -> String,
    ) -> String {
        let longest = self
            .segments
            .iter()
            .map(|s| s.duration_ns)
            .max()
            .unwrap_or(0);
        let target = (longest.max(1) + 999_999_999) / 1_000_000_000;
        let mut out = String::new();
        let _ = write!(
            out,
            "#EXTM3U\n#EXT-X-VERSION:7\n#EXT-X-TARGETDURATION:{target}\n\
             #EXT-X-PLAYLIST-TYPE:VOD\n#EXT-X-INDEPENDENT-SEGMENTS\n"
        );
        let mut init = None;
        for (i, s) in self.segments.iter().enumerate() {
            if s.discontinuity {
                out.push_str("#EXT-X-DISCONTINUITY\n");
            }
            if init != Some(s.init) {
                let _ = writeln!(out, "#EXT-X-MAP:URI=\"{}\"", init_uri(s.init));
                init = Some(s.init);
            }
            let _ = writeln!(
                out,
                "#EXT-X-PROGRAM-DATE-TIME:{}",
                rfc3339_ms(s.wall_start_ns)
            );
            let _ = writeln!(
                out,
                "#EXTINF:{}.{:06},",
                s.duration_ns / 1_000_000_000,
                (s.duration_ns % 1_000_000_000) / 1000
            );
            let _ = writeln!(out, "{}", segment_uri(i));
        }
        out.push_str("#EXT-X-ENDLIST\n");
        out
    }
}

/// Unix nanoseconds as RFC 3339 UTC with milliseconds (`2024-01-02T03:04:05.678Z`).
pub(crate) fn rfc3339_ms(ns: i64) -> String {
    let ms = ns.div_euclid(1_000_000);
    let (secs, ms) = (ms.div_euclid(1000), ms.rem_euclid(1000));
    let (days, sod) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{ms:03}Z",
        sod / 3600,
        sod % 3600 / 60,
        sod % 60
    )
}

/// The track segments are cut on: the video, else the audio.
fn main_track(s: &SourceFile) -> Option<(Kind, &bmff_boxes::read::Track)> {
    s.video()
        .map(|t| (Kind::Video, t))
        .or(s.audio().map(|t| (Kind::Audio, t)))
}
