//! The values a [`FragmentedMuxer`](crate::FragmentedMuxer) takes and hands out: its
//! options, the fragments, and a track's progress.

use bytes::Bytes;

#[cfg(doc)]
use crate::FragmentedMuxer;
use crate::TrackId;

/// Options for a [`FragmentedMuxer`].
#[derive(Clone, Debug)]
pub struct FragmentedOptions {
    /// `mvhd.timescale`, as [`MuxerOptions::movie_timescale_hz`](crate::MuxerOptions::movie_timescale_hz).
    /// Default: 1000. The fragments' own times (`tfdt`, `trun`) are in the track
    /// timescales, exact whatever this is.
    pub movie_timescale_hz: u32,
    /// `creation_time`/`modification_time` in seconds since 1904-01-01 UTC. Default: 0
    /// (the muxer reads no clock).
    pub creation_time_1904: u64,
    /// Target fragment length. Default: 2000 (2 s; the `recorder` binary passes its
    /// `--fragment-duration`, 1 s by default). A fragment ends at the first video sync
    /// sample at least this long after its start; without video, or when no sync sample
    /// comes within twice this, at the first sample of any track past that point; and
    /// when a track lags behind the others, as soon as its pending samples span that
    /// long (see "Interleaving" on [`FragmentedMuxer`](crate::FragmentedMuxer)). This
    /// bounds what a crash can lose.
    pub fragment_duration_ms: u32,
    /// Length of the `free` box written after the `ftyp`, header included, which the
    /// final `moov` replaces at close when it fits (see [`estimate_moov_bytes`]). At most
    /// `u32::MAX`; values below 8 give an empty 8-byte box, which is always written
    /// because the commit of the finalization rewrites its size. Default: 262144
    /// (256 KiB), enough for about 10 minutes of 30 fps video with AAC audio; a file whose
    /// `moov` outgrows it is finalized with the `moov` at the end and keeps the reserve as
    /// a `free` box. Size it for the expected length with
    /// [`estimate_moov_bytes`] (a 5 s file needs about 4 KiB).
    ///
    /// [`estimate_moov_bytes`]: crate::estimate_moov_bytes
    pub reserve_bytes: u64,
    /// Boxes for the `moov`'s user data (`udta`, ISO/IEC 14496-12 §8.10.1), each complete,
    /// e.g. a [`bmff_boxes::MetaItems`] `meta` whose `desc` holds the recording's wall-clock
    /// start; kept
    /// in the init `moov`, the final one, and by [`Recovery`](crate::Recovery). Default:
    /// empty (no `udta`).
    pub user_data: Vec<Bytes>,
}

impl Default for FragmentedOptions {
    /// 1000 Hz movie timescale, time 0, 2 s fragments, 256 KiB reserved (about 10 minutes
    /// of 30 fps video with AAC audio at regular timestamps).
    fn default() -> Self {
        Self {
            movie_timescale_hz: 1000,
            creation_time_1904: 0,
            fragment_duration_ms: 2000,
            reserve_bytes: 256 * 1024,
            user_data: Vec::new(),
        }
    }
}

/// One movie fragment, ready to be written at [`offset`](Self::offset), which is always
/// the current end of the file.
///
/// Write it with one vectored write of [`header`](Self::header) then every buffer of
/// [`data`](Self::data), in order.
#[derive(Clone, Debug)]
pub struct Fragment {
    /// Absolute file offset of the fragment (of its `prft`, if any, else its `moof`).
    pub offset: u64,
    /// The `prft` box, if any (see
    /// [`FragmentedMuxer::set_wall_clock_origin`]), the `moof` box, then the `mdat` header.
    pub header: Bytes,
    /// The samples' data, in file order: the `mdat` payload.
    pub data: Vec<Bytes>,
    /// The `mfhd` sequence number, from 1.
    pub sequence_number: u32,
    /// One entry per track with samples in this fragment, in track order.
    pub tracks: Vec<FragmentTrack>,
}

impl Fragment {
    /// Total length in bytes: header plus data.
    pub fn len_bytes(&self) -> u64 {
        self.header.len() as u64 + self.data.iter().map(|d| d.len() as u64).sum::<u64>()
    }

    /// Offset just past the fragment: the file's length once it is written.
    pub fn end_offset(&self) -> u64 {
        self.offset + self.len_bytes()
    }
}

/// What one track contributes to a [`Fragment`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FragmentTrack {
    /// The track.
    pub track: TrackId,
    /// Decode time of its first sample in this fragment (`tfdt`), track timescale.
    pub base_media_decode_time: u64,
    /// Sum of its sample durations in this fragment, track timescale.
    pub duration: u64,
    /// Number of its samples in this fragment.
    pub sample_count: u32,
}

/// What a track of a [`FragmentedMuxer`] holds so far
/// ([`FragmentedMuxer::track_progress`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TrackProgress {
    /// Samples pushed.
    pub samples: u64,
    /// Decode time of the last sample pushed.
    pub last_dts: Option<u64>,
    /// Where the last sample ends: its decode time plus the duration it will get (set by
    /// [`FragmentedMuxer::set_track_end`], else the previous sample's, else the track's
    /// default, else 1), as [`FragmentedMuxer::flush`] will write it.
    pub end_dts: Option<u64>,
    /// True when [`FragmentedMuxer::set_track_end`] fixed the end since the last push.
    pub end_set: bool,
}
