//! The muxers' error type.

/// Errors from the muxer.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum Error {
    /// A sample's decode time was not after the previous sample's on the same track.
    #[error("track {track}: non-monotonic timestamp: prev dts {prev}, got {got}")]
    NonMonotonicTimestamp {
        /// The track.
        track: u32,
        /// The previous sample's dts.
        prev: u64,
        /// The offending dts.
        got: u64,
    },
    /// No such track.
    #[error("unknown track {0}")]
    UnknownTrack(u32),
    /// Tracks must all be added before [`Mp4Muxer::start`](crate::Mp4Muxer::start).
    #[error("tracks must be added before start")]
    AlreadyStarted,
    /// A sample pushed, or the file finished, before the muxer's `start`:
    /// [`Mp4Muxer::push`](crate::Mp4Muxer::push) or [`Mp4Muxer::finish`](crate::Mp4Muxer::finish)
    /// before [`Mp4Muxer::start`](crate::Mp4Muxer::start), or
    /// [`FragmentedMuxer::push`](crate::FragmentedMuxer::push) or
    /// [`FragmentedMuxer::finalize`](crate::FragmentedMuxer::finalize) before
    /// [`FragmentedMuxer::start`](crate::FragmentedMuxer::start).
    #[error("muxer not started")]
    NotStarted,
    /// The gap between two consecutive samples of a track does not fit the 32-bit
    /// `stts` sample delta.
    #[error("track {track}: sample duration {duration} exceeds 32 bits")]
    SampleDurationTooLong {
        /// The track.
        track: u32,
        /// The duration, in the track's timescale.
        duration: u64,
    },
    /// A track reached u32::MAX samples.
    #[error("track {track}: too many samples")]
    TooManySamples {
        /// The track.
        track: u32,
    },
    /// A track's timescale is 0.
    #[error("track {track}: timescale must be non-zero")]
    ZeroTimescale {
        /// The track that would have been added.
        track: u32,
    },
    /// [`MuxerOptions::movie_timescale_hz`](crate::MuxerOptions::movie_timescale_hz) is 0.
    #[error("movie timescale must be non-zero")]
    ZeroMovieTimescale,
    /// A sample refers to a sample description that does not exist (indices are 1-based).
    #[error("track {track}: bad sample description index {index}")]
    BadSampleDescriptionIndex {
        /// The track.
        track: u32,
        /// The index.
        index: u32,
    },
    /// [`FragmentedOptions::reserve_bytes`](crate::FragmentedOptions::reserve_bytes) is above `u32::MAX`.
    #[error("invalid reserve of {bytes} bytes: at most 4294967295")]
    InvalidReserve {
        /// The requested reserve.
        bytes: u64,
    },
    /// A sample's data is not as long as its [`SampleInfo::size`](crate::SampleInfo::size).
    #[error("track {track}: sample size {size} but {data_len} bytes of data")]
    SizeMismatch {
        /// The track.
        track: u32,
        /// The declared size.
        size: u32,
        /// The data's length.
        data_len: u64,
    },
    /// [`FragmentedMuxer::push`](crate::FragmentedMuxer::push) after [`FragmentedMuxer::flush`](crate::FragmentedMuxer::flush).
    #[error("muxer already flushed")]
    AlreadyFlushed,
    /// [`FragmentedMuxer::finalize`](crate::FragmentedMuxer::finalize) with samples or fragments not yet handed out by
    /// [`FragmentedMuxer::flush`](crate::FragmentedMuxer::flush).
    #[error("not flushed: {pending_samples} pending samples, {unwritten_fragments} fragments")]
    NotFlushed {
        /// Samples not in any fragment yet.
        pending_samples: usize,
        /// Fragments not yet returned.
        unwritten_fragments: usize,
    },
}
