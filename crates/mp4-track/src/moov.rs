//! Building the `moov`: the progressive one from accumulated tables (shared by
//! [`Mp4Muxer`](crate::Mp4Muxer), [`FragmentedMuxer`](crate::FragmentedMuxer) and
//! [`Recovery`](crate::Recovery)), and the init `moov` of a fragmented file.

use std::num::NonZeroU32;

use bmff_boxes::{Edts, Elst, Moov, Mvex, Mvhd, Stsd, TrackMedia, Trak, Trex, Udta};
use bytes::Bytes;

use crate::{TrackKind, TrackTables, timing};

pub(crate) use bmff_boxes::{NON_SYNC_SAMPLE_FLAGS, SYNC_SAMPLE_FLAGS};

/// One track as the `moov` describes it.
#[derive(Debug)]
pub(crate) struct MovieTrack {
    pub kind: TrackKind,
    pub timescale_hz: u32,
    pub default_sample_duration: Option<NonZeroU32>,
    pub sample_entries: Vec<Bytes>,
    pub tables: TrackTables,
}

/// A `trak` with the given durations and sample table.
fn trak(
    track_id: u32,
    kind: &TrackKind,
    timescale_hz: u32,
    time: u64,
    durations: (u64, u64),
    edts: Option<Edts>,
    stbl: bmff_boxes::Stbl,
) -> Trak {
    let media = match *kind {
        TrackKind::Video { width, height } => TrackMedia::Video {
            width_fixed: u32::from(width) << 16,
            height_fixed: u32::from(height) << 16,
        },
        TrackKind::Audio => TrackMedia::Audio,
    };
    Trak::new(track_id, media, timescale_hz, time, durations, edts, stbl)
}

fn mvhd(movie_hz: u32, duration: u64, n_tracks: usize, time: u64) -> Mvhd {
    let mut mvhd = Mvhd::new(movie_hz, duration, n_tracks as u32 + 1);
    mvhd.creation_time = time;
    mvhd.modification_time = time;
    mvhd
}

/// The `moov` of a progressive file: every track's tables, placed on the shared timeline
/// with edit lists (see [`timing::plan_edits`]). Track IDs are 1, 2, ... in order.
/// The `udta` holding `user_data`'s boxes, if any.
pub(crate) fn udta(user_data: &[Bytes]) -> Option<Udta> {
    (!user_data.is_empty()).then(|| Udta {
        children: user_data.to_vec(),
    })
}

pub(crate) fn progressive(
    tracks: Vec<MovieTrack>,
    movie_hz: u32,
    time: u64,
    udta: Option<Udta>,
) -> Moov {
    let spans: Vec<Option<timing::MediaSpan>> = tracks
        .iter()
        .map(|t| {
            let tables = &t.tables;
            Some(timing::MediaSpan {
                timescale_hz: t.timescale_hz,
                first_dts: tables.first_dts()?,
                min_composition_time: tables.min_composition_time()?,
                media_duration: tables.media_duration(t.default_sample_duration),
            })
        })
        .collect();
    let edits = timing::plan_edits(&spans, movie_hz);
    let movie_duration = edits
        .iter()
        .flatten()
        .map(|e| e.track_duration())
        .max()
        .unwrap_or(0);
    let mvhd = mvhd(movie_hz, movie_duration, tracks.len(), time);
    let traks = tracks
        .into_iter()
        .zip(edits)
        .enumerate()
        .map(|(i, (t, edit))| {
            let media_duration = t.tables.media_duration(t.default_sample_duration);
            let stsd = Stsd {
                entries: t.sample_entries,
            };
            trak(
                i as u32 + 1,
                &t.kind,
                t.timescale_hz,
                time,
                (edit.map_or(0, |e| e.track_duration()), media_duration),
                edit.map(|e| Edts {
                    elst: Elst {
                        entries: e.entries(),
                    },
                }),
                t.tables.into_stbl(stsd, t.default_sample_duration),
            )
        })
        .collect();
    Moov {
        mvhd,
        traks,
        mvex: None,
        udta,
    }
}

/// The `moov` that starts a fragmented file: empty sample tables, zero durations, no edit
/// lists (fragments carry their decode times in `tfdt`), and `mvex` with one `trex` per
/// track. Track IDs are 1, 2, ... in order.
pub(crate) fn init(tracks: &[&MovieTrack], movie_hz: u32, time: u64, udta: Option<Udta>) -> Moov {
    let traks = tracks
        .iter()
        .enumerate()
        .map(|(i, t)| {
            let stsd = Stsd {
                entries: t.sample_entries.clone(),
            };
            let stbl = TrackTables::new(i as u32 + 1).into_stbl(stsd, None);
            trak(
                i as u32 + 1,
                &t.kind,
                t.timescale_hz,
                time,
                (0, 0),
                None,
                stbl,
            )
        })
        .collect();
    let trex = tracks
        .iter()
        .enumerate()
        .map(|(i, t)| Trex {
            track_id: i as u32 + 1,
            default_sample_description_index: 1,
            default_sample_duration: t.default_sample_duration.map_or(0, NonZeroU32::get),
            default_sample_size: 0,
            default_sample_flags: match t.kind {
                TrackKind::Video { .. } => NON_SYNC_SAMPLE_FLAGS,
                TrackKind::Audio => SYNC_SAMPLE_FLAGS,
            },
        })
        .collect();
    Moov {
        mvhd: mvhd(movie_hz, 0, tracks.len(), time),
        traks,
        mvex: Some(Mvex { trex }),
        udta,
    }
}
