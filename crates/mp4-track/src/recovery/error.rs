//! Why a file could not be recovered.

use bmff_boxes::read::ReadError;

use crate::Error;

/// Why a file could not be recovered.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum RecoveryError {
    /// The file does not start with a complete `ftyp` box.
    #[error("not an MP4 file: no ftyp box at offset 0")]
    NoFtyp,
    /// No complete `moov` box: the init `moov` was never written completely.
    #[error("no complete moov box (file length {file_len})")]
    NoMoov {
        /// The file's length.
        file_len: u64,
    },
    /// The top-level box structure breaks before the init `moov`.
    #[error("box structure breaks at offset {offset} before the moov: {what}")]
    BrokenBeforeMoov {
        /// Where.
        offset: u64,
        /// What is wrong.
        what: String,
    },
    /// A box whose content does not match its syntax.
    #[error("malformed {fourcc} at offset {offset}: {what}")]
    Malformed {
        /// Absolute offset of the box.
        offset: u64,
        /// The box type.
        fourcc: String,
        /// What is wrong.
        what: String,
    },
    /// A box that does not belong where it is.
    #[error("unexpected {fourcc} box at offset {offset}: {context}")]
    UnexpectedBox {
        /// Absolute offset of the box.
        offset: u64,
        /// The box type.
        fourcc: String,
        /// What was expected instead.
        context: &'static str,
    },
    /// A metadata box larger than [`MAX_METADATA_BYTES`](bmff_boxes::read::MAX_METADATA_BYTES).
    #[error("{fourcc} box at offset {offset} is too large to read: {size} bytes")]
    TooLarge {
        /// Absolute offset of the box.
        offset: u64,
        /// The box type.
        fourcc: String,
        /// Its length.
        size: u64,
    },
    /// The init `moov`'s tracks are not numbered 1, 2, ... in order, as this crate writes.
    #[error("init moov: track {index} has id {track_id}, expected {}", index + 1)]
    UnexpectedTrackId {
        /// 0-based position of the `trak`.
        index: usize,
        /// Its `track_ID`.
        track_id: u32,
    },
    /// A track whose handler is neither `vide` nor `soun`.
    #[error("track {track_id}: unsupported handler {handler}")]
    UnsupportedHandler {
        /// The track.
        track_id: u32,
        /// The handler type.
        handler: String,
    },
    /// A fragment refers to a track the init `moov` does not have.
    #[error("moof at offset {offset}: unknown track {track_id}")]
    UnknownTrack {
        /// Offset of the `moof`.
        offset: u64,
        /// The `track_ID` in its `tfhd`.
        track_id: u32,
    },
    /// Fragment sequence numbers do not increase.
    #[error("moof at offset {offset}: sequence number {got} does not follow {prev}")]
    SequenceNotIncreasing {
        /// Offset of the `moof`.
        offset: u64,
        /// The previous fragment's number.
        prev: u32,
        /// This one's.
        got: u32,
    },
    /// A fragment's samples lie outside the `mdat` that follows its `moof`.
    #[error(
        "moof at offset {offset}: track {track_id} sample data {start}..{end} outside the \
         mdat payload {payload_start}..{payload_end}"
    )]
    DataOutsideMdat {
        /// Offset of the `moof`.
        offset: u64,
        /// The track.
        track_id: u32,
        /// Start of the sample's data.
        start: i128,
        /// End of the sample's data.
        end: i128,
        /// Start of the `mdat` payload.
        payload_start: u64,
        /// End of the `mdat` payload.
        payload_end: u64,
    },
    /// A fragment's `tfdt` goes back before the end of the track's previous fragment.
    #[error(
        "moof at offset {offset}: track {track_id} decode time {tfdt} is before the end of \
         its previous fragment {previous_end}"
    )]
    TimelineOverlap {
        /// Offset of the `moof`.
        offset: u64,
        /// The track.
        track_id: u32,
        /// The fragment's `base_media_decode_time`.
        tfdt: u64,
        /// Where the track's previous fragment ended.
        previous_end: u64,
    },
    /// A fragment's samples cannot go into the sample tables.
    #[error("moof at offset {offset}: {source}")]
    Tables {
        /// Offset of the `moof`.
        offset: u64,
        /// Why.
        #[source]
        source: Error,
    },
    /// The bytes pushed are not the ones requested.
    #[error("pushed {got} bytes, but {expected} were requested")]
    WrongRead {
        /// The requested length.
        expected: u64,
        /// The pushed length.
        got: u64,
    },
    /// [`Recovery::finish`](super::Recovery::finish) before
    /// [`Recovery::poll_read`](super::Recovery::poll_read) returned `None`.
    #[error("recovery not finished: more reads are needed")]
    Unfinished,
    /// A box the reader could not parse (its syntax errors are [`Self::Malformed`]).
    #[error(transparent)]
    Read(ReadError),
}

impl From<ReadError> for RecoveryError {
    fn from(e: ReadError) -> Self {
        match e {
            ReadError::Malformed {
                offset,
                fourcc,
                what,
            } => Self::Malformed {
                offset,
                fourcc,
                what,
            },
            e => Self::Read(e),
        }
    }
}
