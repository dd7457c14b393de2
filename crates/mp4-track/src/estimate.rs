//! Sizing the space reserved for the final `moov` of a fragmented recording.

/// What [`estimate_moov_bytes`] needs to know about one track.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct TrackEstimate {
    /// Samples per second (e.g. 30 for 30 fps video, 46.875 for 48 kHz AAC).
    pub samples_per_s: f64,
    /// Sync samples per second (e.g. 0.5 for a keyframe every 2 s); equal to
    /// `samples_per_s` when every sample is a sync sample (audio), which needs no `stss`.
    pub sync_samples_per_s: f64,
    /// False when sample durations vary (jittery timestamps): then `stts` may need an
    /// entry (8 bytes) per sample instead of a few runs.
    pub regular_durations: bool,
    /// True when samples have composition offsets (B-frames): `ctts` may need 8 bytes
    /// per sample.
    pub composition_offsets: bool,
    /// Length of the track's sample entry (`avc1`, `mp4a`, ...) in bytes.
    pub sample_entry_len: u64,
}

/// Fixed cost of the `moov` and `mvhd` (version 1).
const MOVIE_FIXED: u64 = 8 + 120;
/// Fixed cost of one `trak` without its sample entry and tables' entries: `tkhd` (v1,
/// 104), `edts` with two v1 edits (56), `mdia`/`mdhd` (v1, 52), `hdlr` (~60), `minf`
/// with `vmhd`/`dinf` (~64), `stbl` with empty `stsd`/`stts`/`ctts`/`stss`/`stsc`/`stsz`/
/// `co64` (~130), rounded up generously.
const TRACK_FIXED: u64 = 600;
/// Per chunk (one per track per fragment): a `co64` offset and, at worst, an `stsc` entry.
const PER_CHUNK: u64 = 8 + 12;
/// `stts` runs for regular durations: a few entries whatever the length.
const REGULAR_STTS: u64 = 4 * 8;

/// Estimates the length of the final `moov` of a fragmented recording of `duration_ms`
/// cut into fragments of `fragment_duration_ms`, with a margin (1/8 plus 1 KiB), for
/// [`FragmentedOptions::reserve_bytes`](crate::FragmentedOptions::reserve_bytes).
///
/// Per sample: 4 bytes of `stsz`, plus 8 of `stts` with irregular durations and 8 of
/// `ctts` with composition offsets; 4 bytes of `stss` per sync sample (unless all are);
/// 20 bytes per chunk, that is per track per fragment; plus the boxes' fixed cost.
/// Fragments may end later than `fragment_duration_ms` (at the next keyframe), so the
/// count of fragments, and of chunks, used here is an upper bound.
pub fn estimate_moov_bytes(
    tracks: &[TrackEstimate],
    duration_ms: u64,
    fragment_duration_ms: u32,
) -> u64 {
    let fragments = duration_ms / u64::from(fragment_duration_ms.max(1)) + 2;
    let count = |per_s: f64| (per_s.max(0.0) * duration_ms as f64 / 1000.0).ceil() as u64 + 1;
    let total: u64 = MOVIE_FIXED
        + tracks
            .iter()
            .map(|t| {
                let samples = count(t.samples_per_s);
                let per_sample = 4
                    + if t.regular_durations { 0 } else { 8 }
                    + if t.composition_offsets { 8 } else { 0 };
                let stss = if t.sync_samples_per_s < t.samples_per_s {
                    4 * count(t.sync_samples_per_s)
                } else {
                    0
                };
                TRACK_FIXED
                    + t.sample_entry_len
                    + REGULAR_STTS
                    + fragments * PER_CHUNK
                    + samples * per_sample
                    + stss
            })
            .sum::<u64>();
    total + total / 8 + 1024
}
