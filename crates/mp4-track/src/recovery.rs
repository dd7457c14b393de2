//! Recovery of a fragmented recording left by a crash: rebuilds the sample tables from the
//! init `moov` and every complete fragment, and plans the same in-place finalization as a
//! clean close.

use std::num::NonZeroU32;

use bmff_boxes::dump::RawBox;
use bmff_boxes::{Tfhd, Trun, TrunFields, TrunSample};
use bytes::Bytes;

use crate::finalize::{self, Finalize, Layout};
use crate::moov::{self, MovieTrack, NON_SYNC_BIT};
use crate::{Error, TableSample, TrackKind, TrackTables};

/// Largest `moov`, `moof` or former-`moof` box [`Recovery`] reads into memory.
pub const MAX_METADATA_BOX_BYTES: u64 = 256 << 20;

/// A range of the file that [`Recovery`] needs: read exactly `len` bytes at `offset`
/// (always within the file) and hand them to [`Recovery::push`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ReadRequest {
    /// Absolute file offset.
    pub offset: u64,
    /// Number of bytes.
    pub len: u64,
}

/// What [`Recovery`] found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Recovered {
    /// The file's first `moov` has no `mvex`: it is already progressive (a finished
    /// finalization, or not a fragmented recording); nothing to do.
    AlreadyProgressive {
        /// Offset of that `moov`.
        moov_offset: u64,
    },
    /// A fragmented recording, with the plan that repairs and finalizes it.
    Fragmented(Repair),
}

/// The repair of a fragmented recording.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Repair {
    /// The plan: truncation of the torn tail (if any), then the same finalization as a
    /// clean close ([`FragmentedMuxer::finalize`](crate::FragmentedMuxer::finalize)).
    pub finalize: Finalize,
    /// Complete fragments kept.
    pub fragments: u32,
    /// Samples kept per track, in track order.
    pub sample_counts: Vec<u32>,
    /// Bytes after the last complete fragment that the plan cuts off: a torn fragment,
    /// or the final `moov` an interrupted finalization had appended.
    pub dropped_bytes: u64,
    /// True when a finalization had started (some fragments already turned into `free`,
    /// or a final `moov` appended at the end); the plan completes it.
    pub finalize_was_interrupted: bool,
}

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
    /// A metadata box larger than [`MAX_METADATA_BOX_BYTES`].
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
    /// [`Recovery::finish`] before [`Recovery::poll_read`] returned `None`.
    #[error("recovery not finished: more reads are needed")]
    Unfinished,
}

/// A box header as found at the top level.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Head {
    offset: u64,
    fourcc: [u8; 4],
    header_len: u64,
    size: u64,
}

impl Head {
    fn end(&self) -> u64 {
        self.offset + self.size
    }
    fn fourcc_str(&self) -> String {
        fourcc_str(&self.fourcc)
    }
}

fn fourcc_str(f: &[u8; 4]) -> String {
    f.iter()
        .map(|&b| {
            if (0x20..0x7f).contains(&b) {
                char::from(b).to_string()
            } else {
                format!("\\x{b:02x}")
            }
        })
        .collect()
}

/// Decodes a top-level box header at `offset` from up to 16 bytes; `Err` describes why no
/// complete box starts there (short header, size 0 or below the header, a type that is
/// not four printable characters, or a box running past the end of the file).
fn parse_head(b: &[u8], offset: u64, file_len: u64) -> Result<Head, String> {
    if b.len() < 8 {
        return Err(format!("{} bytes left, a box header needs 8", b.len()));
    }
    let size32 = u32::from_be_bytes([b[0], b[1], b[2], b[3]]);
    let fourcc = [b[4], b[5], b[6], b[7]];
    if !fourcc.iter().all(|&c| (0x20..0x7f).contains(&c)) {
        return Err(format!("box type {} is not text", fourcc_str(&fourcc)));
    }
    let (size, header_len) = match size32 {
        0 => return Err(format!("{} box with size 0", fourcc_str(&fourcc))),
        1 if b.len() < 16 => return Err("largesize header cut short".into()),
        1 => {
            let mut l = [0; 8];
            l.copy_from_slice(&b[8..16]);
            (u64::from_be_bytes(l), 16)
        }
        n => (u64::from(n), 8),
    };
    if size < header_len {
        return Err(format!("{} box of size {size}", fourcc_str(&fourcc)));
    }
    if size > file_len - offset {
        return Err(format!(
            "{} box of {size} bytes runs past the end of the file ({} bytes left)",
            fourcc_str(&fourcc),
            file_len - offset
        ));
    }
    Ok(Head {
        offset,
        fourcc,
        header_len,
        size,
    })
}

/// What a track's fragments default to (`trex`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct TrexDefaults {
    sample_description_index: u32,
    duration: u32,
    size: u32,
    flags: u32,
}

#[derive(Debug)]
struct Track {
    movie: MovieTrack,
    trex: TrexDefaults,
    /// Decode time just past the track's last recovered sample.
    end_dts: Option<u64>,
    last_dts: Option<u64>,
}

/// The init `moov`, parsed.
#[derive(Debug)]
struct Init {
    movie_hz: u32,
    creation_time: u64,
    tracks: Vec<Track>,
}

/// A `traf`, parsed.
#[derive(Debug)]
struct ParsedTraf {
    tfhd: Tfhd,
    tfdt: Option<u64>,
    truns: Vec<Trun>,
}

/// A `moof`, parsed.
#[derive(Debug)]
struct ParsedMoof {
    offset: u64,
    sequence_number: u32,
    trafs: Vec<ParsedTraf>,
    /// Not yet turned into `free` by a finalization (typed `moof`, or torn half way).
    is_moof: bool,
}

/// What the next read is for.
#[derive(Debug)]
enum Want {
    /// A top-level box header at this offset.
    Header(u64),
    /// The payload of this box.
    Payload(Head),
    /// Nothing: done or failed.
    Nothing,
}

#[derive(Debug)]
enum Phase {
    Ftyp,
    BeforeMoov {
        ftyp_end: u64,
        reserve: Option<Head>,
    },
    Fragments,
    /// After a parsed (or unparsable) `moof`: its `mdat` comes next.
    Mdat(Result<ParsedMoof, (u64, RecoveryError)>),
    /// A fragment at this offset failed; it is a torn tail if nothing valid follows it,
    /// else the error stands.
    AfterBad(u64, RecoveryError),
    Done,
}

/// Sans-IO recovery of a fragmented recording: asks for top-level box headers and the
/// payloads of `moov`/`moof` boxes (never `mdat` payloads), then plans the repair.
///
/// ```text
/// let mut r = Recovery::new(file_len);
/// while let Some(req) = r.poll_read() {
///     r.push(&read_exactly(req.offset, req.len)?);
/// }
/// match r.finish()? { Recovered::Fragmented(repair) => apply(repair.finalize.steps), .. }
/// ```
///
/// What it accepts: `[ftyp][free reserve]?[moov with mvex]` then `moof`+`mdat` pairs, as
/// [`FragmentedMuxer`](crate::FragmentedMuxer) writes. The file may end anywhere: the last
/// fragment is dropped when its `moof` or `mdat` is incomplete or inconsistent (data
/// outside the `mdat`, bad syntax) and nothing valid follows it; the same problems
/// followed by more valid boxes are errors, as is anything else out of place.
///
/// A file caught in the middle of a finalization is accepted too: fragments already
/// turned into `free` (or whose type rewrite was torn, mixing the bytes of `moof` and
/// `free`) are recognized by their intact `moof` payload (an `mfhd` first) followed by an
/// `mdat`, and a final `moov` appended at the end is dropped; the tables are always
/// rebuilt from the fragments, so the plan is the one the clean close would have made.
/// A file whose first `moov` has no `mvex` is already progressive (a finished
/// finalization included).
///
/// `mdat` payloads carry no checksum: after a power loss that kept a fragment's headers
/// but not all of its data blocks, that fragment is kept with whatever the blocks hold.
#[derive(Debug)]
pub struct Recovery {
    file_len: u64,
    want: Want,
    phase: Phase,
    error: Option<RecoveryError>,
    result: Option<Recovered>,
    init: Option<Init>,
    layout: Layout,
    last_sequence: Option<u32>,
    fragments: u32,
    interrupted: bool,
}

impl Recovery {
    /// Starts the recovery of a file of `file_len` bytes.
    pub fn new(file_len: u64) -> Self {
        let mut r = Self {
            file_len,
            want: Want::Nothing,
            phase: Phase::Ftyp,
            error: None,
            result: None,
            init: None,
            layout: Layout::default(),
            last_sequence: None,
            fragments: 0,
            interrupted: false,
        };
        if let Err(e) = r.next_header(0) {
            r.fail(e);
        }
        r
    }

    /// Recovers a file held in memory.
    pub fn from_bytes(file: &[u8]) -> Result<Recovered, RecoveryError> {
        let mut r = Self::new(file.len() as u64);
        while let Some(req) = r.poll_read() {
            r.push(&file[req.offset as usize..(req.offset + req.len) as usize]);
        }
        r.finish()
    }

    /// The next range to read, or `None` when [`finish`](Self::finish) can be called.
    pub fn poll_read(&self) -> Option<ReadRequest> {
        match self.want {
            Want::Header(offset) => Some(ReadRequest {
                offset,
                len: (self.file_len - offset).min(16),
            }),
            Want::Payload(h) => Some(ReadRequest {
                offset: h.offset + h.header_len,
                len: h.size - h.header_len,
            }),
            Want::Nothing => None,
        }
    }

    /// Hands over the bytes of the range [`poll_read`](Self::poll_read) returned. Errors
    /// are reported by [`finish`](Self::finish).
    pub fn push(&mut self, bytes: &[u8]) {
        let Some(req) = self.poll_read() else {
            return;
        };
        if bytes.len() as u64 != req.len {
            return self.fail(RecoveryError::WrongRead {
                expected: req.len,
                got: bytes.len() as u64,
            });
        }
        let r = match std::mem::replace(&mut self.want, Want::Nothing) {
            Want::Header(offset) => self.on_header(offset, bytes),
            Want::Payload(head) => self.on_payload(head, bytes),
            Want::Nothing => Ok(()),
        };
        if let Err(e) = r {
            self.fail(e);
        }
    }

    /// The outcome, once [`poll_read`](Self::poll_read) returns `None`.
    pub fn finish(self) -> Result<Recovered, RecoveryError> {
        if let Some(e) = self.error {
            return Err(e);
        }
        self.result.ok_or(RecoveryError::Unfinished)
    }

    fn fail(&mut self, e: RecoveryError) {
        self.error = Some(e);
        self.want = Want::Nothing;
        self.phase = Phase::Done;
    }

    /// Asks for the header at `offset`, or handles the end of the file there.
    fn next_header(&mut self, offset: u64) -> Result<(), RecoveryError> {
        if offset < self.file_len {
            self.want = Want::Header(offset);
            return Ok(());
        }
        match std::mem::replace(&mut self.phase, Phase::Done) {
            Phase::Ftyp => Err(RecoveryError::NoFtyp),
            Phase::BeforeMoov { .. } => Err(RecoveryError::NoMoov {
                file_len: self.file_len,
            }),
            // A clean end after a fragment; or a moof/failed fragment reaching the end.
            Phase::Fragments => self.conclude(offset),
            Phase::Mdat(Ok(ParsedMoof { offset: o, .. }) | Err((o, _))) | Phase::AfterBad(o, _) => {
                self.conclude(o)
            }
            Phase::Done => Ok(()),
        }
    }

    fn payload(&mut self, head: Head) -> Result<(), RecoveryError> {
        if head.size > MAX_METADATA_BOX_BYTES {
            return Err(RecoveryError::TooLarge {
                offset: head.offset,
                fourcc: head.fourcc_str(),
                size: head.size,
            });
        }
        self.want = Want::Payload(head);
        Ok(())
    }

    fn on_header(&mut self, offset: u64, bytes: &[u8]) -> Result<(), RecoveryError> {
        let head = parse_head(bytes, offset, self.file_len);
        match std::mem::replace(&mut self.phase, Phase::Done) {
            Phase::Ftyp => match head {
                Ok(h) if &h.fourcc == b"ftyp" && h.size >= 16 => {
                    self.phase = Phase::BeforeMoov {
                        ftyp_end: h.end(),
                        reserve: None,
                    };
                    self.next_header(h.end())
                }
                _ => Err(RecoveryError::NoFtyp),
            },
            Phase::BeforeMoov { ftyp_end, reserve } => {
                let h = head.map_err(|what| RecoveryError::BrokenBeforeMoov { offset, what })?;
                let reserve = match &h.fourcc {
                    b"free" if h.offset == ftyp_end => Some(h),
                    _ => reserve,
                };
                self.phase = Phase::BeforeMoov { ftyp_end, reserve };
                // A moov, or one whose type rewrite to free was torn.
                if &h.fourcc != b"free" && mix_of(&h.fourcc, b"moov", b"free") {
                    self.payload(h)
                } else {
                    self.next_header(h.end())
                }
            }
            Phase::Fragments => {
                let Ok(h) = head else {
                    return self.conclude(offset); // torn tail
                };
                self.phase = Phase::Fragments;
                match &h.fourcc {
                    // A moof, hidden or not (or caught in a torn type rewrite).
                    f if mix_of(f, b"moof", b"free") => self.payload(h),
                    b"moov" if h.end() == self.file_len => {
                        // The final moov an interrupted finalization appended.
                        self.interrupted = true;
                        self.conclude(offset)
                    }
                    _ => Err(unexpected(&h, "expected a moof")),
                }
            }
            Phase::Mdat(moof) => {
                let moof_offset = match &moof {
                    Ok(m) => m.offset,
                    Err((o, _)) => *o,
                };
                let h = match head {
                    Ok(h) if &h.fourcc == b"mdat" => h,
                    // The fragment's mdat is missing or cut short: a torn tail.
                    Err(_) => return self.conclude(moof_offset),
                    Ok(h) => {
                        return Err(match moof {
                            Err((_, e)) => e,
                            Ok(_) => unexpected(&h, "expected the mdat of the moof before"),
                        });
                    }
                };
                let applied = moof.map_err(|(_, e)| e).and_then(|m| {
                    let payload = (h.offset + h.header_len, h.end());
                    self.apply_fragment(&m, payload)?;
                    // The moof ends where its mdat starts.
                    let first = (m.offset, h.offset - m.offset);
                    self.layout.first_moof.get_or_insert(first);
                    Ok(())
                });
                match applied {
                    Ok(()) => {
                        self.layout.end = h.end();
                        self.phase = Phase::Fragments;
                    }
                    Err(e) => self.phase = Phase::AfterBad(moof_offset, e),
                }
                self.next_header(h.end())
            }
            Phase::AfterBad(fragment_offset, e) => match head {
                Err(_) => self.conclude(fragment_offset),
                Ok(_) => Err(e),
            },
            Phase::Done => Ok(()),
        }
    }

    fn on_payload(&mut self, head: Head, bytes: &[u8]) -> Result<(), RecoveryError> {
        let raw = RawBox {
            offset: head.offset,
            fourcc: head.fourcc,
            header_len: head.header_len,
            payload: bytes,
        };
        match std::mem::replace(&mut self.phase, Phase::Done) {
            Phase::BeforeMoov { reserve, .. } => {
                let Some(init) = parse_init_moov(&raw)? else {
                    self.result = Some(Recovered::AlreadyProgressive {
                        moov_offset: head.offset,
                    });
                    return Ok(());
                };
                self.init = Some(init);
                if let Some(r) = reserve.filter(|r| r.end() == head.offset) {
                    self.layout.reserve_offset = r.offset;
                    self.layout.reserve_len = r.size;
                }
                self.layout.init_moov_offset = head.offset;
                self.layout.init_moov_len = head.size;
                self.layout.end = head.end();
                self.phase = Phase::Fragments;
                self.next_header(head.end())
            }
            Phase::Fragments => {
                let is_moof = &head.fourcc == b"moof";
                if !is_moof {
                    // A former moof of an interrupted finalization (typed free, or torn
                    // half way), or a free box this crate does not write.
                    if !bytes.starts_with(&[0, 0, 0, 16, b'm', b'f', b'h', b'd']) {
                        return Err(unexpected(&head, "expected a moof"));
                    }
                    self.interrupted = true;
                }
                // Still needs its type rewritten unless it is exactly free.
                let is_moof = &head.fourcc != b"free";
                let parsed = parse_moof(&raw, is_moof).map_err(|e| (head.offset, e));
                self.phase = Phase::Mdat(parsed);
                self.next_header(head.end())
            }
            _ => Ok(()),
        }
    }

    /// Ends the walk: everything from `end_of_kept` on is dropped (a torn fragment, a
    /// leftover final `moov`), and the plan is made.
    fn conclude(&mut self, end_of_kept: u64) -> Result<(), RecoveryError> {
        debug_assert_eq!(end_of_kept, self.layout.end);
        self.phase = Phase::Done;
        self.want = Want::Nothing;
        let init = self.init.take().expect("fragments follow the init moov");
        let sample_counts = init
            .tracks
            .iter()
            .map(|t| t.movie.tables.sample_count())
            .collect();
        let tracks = init.tracks.into_iter().map(|t| t.movie).collect();
        let moov = moov::progressive(tracks, init.movie_hz, init.creation_time);
        let end = self.layout.end;
        let truncate_to = (end < self.file_len).then_some(end);
        self.result = Some(Recovered::Fragmented(Repair {
            finalize: finalize::plan(&self.layout, &moov, truncate_to),
            fragments: self.fragments,
            sample_counts,
            dropped_bytes: self.file_len - end,
            finalize_was_interrupted: self.interrupted,
        }));
        Ok(())
    }

    /// Checks one complete fragment against its `mdat` payload (`start..end`) and the
    /// tracks' timelines, then adds its samples to the tables. Nothing is recorded on
    /// error.
    fn apply_fragment(&mut self, m: &ParsedMoof, mdat: (u64, u64)) -> Result<(), RecoveryError> {
        let offset = m.offset;
        if let Some(prev) = self.last_sequence
            && m.sequence_number <= prev
        {
            return Err(RecoveryError::SequenceNotIncreasing {
                offset,
                prev,
                got: m.sequence_number,
            });
        }
        let tracks = &mut self
            .init
            .as_mut()
            .expect("fragments follow the init moov")
            .tracks;
        let tables_err = |source| RecoveryError::Tables { offset, source };
        // Staged per-track state; committed only when the whole fragment is valid.
        let mut last_dts: Vec<Option<u64>> = tracks.iter().map(|t| t.last_dts).collect();
        let mut end_dts: Vec<Option<u64>> = tracks.iter().map(|t| t.end_dts).collect();
        let mut counts: Vec<u32> = tracks
            .iter()
            .map(|t| t.movie.tables.sample_count())
            .collect();
        let mut last_duration: Vec<Option<u32>> = vec![None; tracks.len()];
        let mut staged: Vec<(usize, TableSample)> = Vec::new();
        let mut previous_data_end = offset;
        for (k, traf) in m.trafs.iter().enumerate() {
            let track_id = traf.tfhd.track_id;
            let ti = (track_id as usize)
                .checked_sub(1)
                .filter(|&i| i < tracks.len())
                .ok_or(RecoveryError::UnknownTrack { offset, track_id })?;
            let t = &tracks[ti];
            let trex = t.trex;
            let tfhd = &traf.tfhd;
            let base = tfhd
                .base_data_offset
                .unwrap_or(if tfhd.default_base_is_moof || k == 0 {
                    offset
                } else {
                    previous_data_end
                });
            let sdi = tfhd
                .sample_description_index
                .unwrap_or(trex.sample_description_index);
            if sdi == 0 || sdi as usize > t.movie.sample_entries.len() {
                return Err(tables_err(Error::BadSampleDescriptionIndex {
                    track: track_id,
                    index: sdi,
                }));
            }
            let mut dts = match (traf.tfdt, end_dts[ti]) {
                (Some(tfdt), Some(previous_end)) if tfdt < previous_end => {
                    return Err(RecoveryError::TimelineOverlap {
                        offset,
                        track_id,
                        tfdt,
                        previous_end,
                    });
                }
                (Some(tfdt), _) => tfdt,
                (None, end) => end.unwrap_or(0),
            };
            let mut pos = i128::from(base);
            for (r, trun) in traf.truns.iter().enumerate() {
                if let Some(o) = trun.data_offset {
                    pos = i128::from(base) + i128::from(o);
                } else if r == 0 {
                    pos = i128::from(base);
                }
                let f = trun.fields;
                for (j, s) in trun.samples.iter().enumerate() {
                    let duration = if f.sample_duration {
                        s.sample_duration
                    } else {
                        tfhd.default_sample_duration.unwrap_or(trex.duration)
                    };
                    let size = if f.sample_size {
                        s.sample_size
                    } else {
                        tfhd.default_sample_size.unwrap_or(trex.size)
                    };
                    let flags = match trun.first_sample_flags {
                        Some(first) if j == 0 => first,
                        _ if f.sample_flags => s.sample_flags,
                        _ => tfhd.default_sample_flags.unwrap_or(trex.flags),
                    };
                    let end = pos + i128::from(size);
                    if pos < i128::from(mdat.0) || end > i128::from(mdat.1) {
                        return Err(RecoveryError::DataOutsideMdat {
                            offset,
                            track_id,
                            start: pos,
                            end,
                            payload_start: mdat.0,
                            payload_end: mdat.1,
                        });
                    }
                    if let Some(prev) = last_dts[ti] {
                        if dts <= prev {
                            return Err(tables_err(Error::NonMonotonicTimestamp {
                                track: track_id,
                                prev,
                                got: dts,
                            }));
                        }
                        if dts - prev > u64::from(u32::MAX) {
                            return Err(tables_err(Error::SampleDurationTooLong {
                                track: track_id,
                                duration: dts - prev,
                            }));
                        }
                    }
                    if counts[ti] == u32::MAX {
                        return Err(tables_err(Error::TooManySamples { track: track_id }));
                    }
                    counts[ti] += 1;
                    staged.push((
                        ti,
                        TableSample {
                            dts,
                            cts_offset: if f.sample_composition_time_offset {
                                s.sample_composition_time_offset
                            } else {
                                0
                            },
                            size,
                            is_sync: flags & NON_SYNC_BIT == 0,
                            sample_description_index: sdi,
                            offset_bytes: pos as u64,
                        },
                    ));
                    last_dts[ti] = Some(dts);
                    last_duration[ti] = Some(duration);
                    dts = dts.checked_add(u64::from(duration)).ok_or_else(|| {
                        tables_err(Error::SampleDurationTooLong {
                            track: track_id,
                            duration: u64::from(duration),
                        })
                    })?;
                    pos = end;
                }
            }
            end_dts[ti] = Some(dts);
            previous_data_end = pos as u64;
        }
        // Valid: commit.
        for (ti, sample) in staged {
            tracks[ti].movie.tables.push(sample).map_err(tables_err)?;
        }
        for (ti, t) in tracks.iter_mut().enumerate() {
            if let Some(d) = last_duration[ti].and_then(NonZeroU32::new) {
                t.movie.tables.set_last_sample_duration(d);
            }
            t.last_dts = last_dts[ti];
            t.end_dts = end_dts[ti];
        }
        if m.is_moof {
            self.layout.moofs.push(offset);
        }
        self.last_sequence = Some(m.sequence_number);
        self.fragments += 1;
        Ok(())
    }
}

/// True when every byte of `fourcc` is the byte of `a` or of `b` at that position: a box
/// type caught in a torn rewrite from `a` to `b`.
fn mix_of(fourcc: &[u8; 4], a: &[u8; 4], b: &[u8; 4]) -> bool {
    (0..4).all(|i| fourcc[i] == a[i] || fourcc[i] == b[i])
}

fn unexpected(h: &Head, context: &'static str) -> RecoveryError {
    RecoveryError::UnexpectedBox {
        offset: h.offset,
        fourcc: h.fourcc_str(),
        context,
    }
}

/// A strict cursor over one box's payload.
struct Cur<'a> {
    b: &'a RawBox<'a>,
    pos: usize,
}

impl<'a> Cur<'a> {
    fn new(b: &'a RawBox<'a>) -> Self {
        Self { b, pos: 0 }
    }

    fn err(&self, what: impl Into<String>) -> RecoveryError {
        malformed(self.b, what)
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], RecoveryError> {
        let p = self.b.payload;
        if p.len() - self.pos < n {
            return Err(self.err(format!(
                "payload of {} bytes ends inside a field at {}",
                p.len(),
                self.pos
            )));
        }
        self.pos += n;
        Ok(&p[self.pos - n..self.pos])
    }
    fn u32(&mut self) -> Result<u32, RecoveryError> {
        Ok(u32::from_be_bytes(
            self.take(4)?.try_into().expect("4 bytes"),
        ))
    }
    fn u64(&mut self) -> Result<u64, RecoveryError> {
        Ok(u64::from_be_bytes(
            self.take(8)?.try_into().expect("8 bytes"),
        ))
    }
    /// u32 in version 0, u64 in version 1.
    fn uv(&mut self, version: u8) -> Result<u64, RecoveryError> {
        if version == 1 {
            self.u64()
        } else {
            self.u32().map(u64::from)
        }
    }
    /// Version (0 or 1 only) and flags of a full box.
    fn full(&mut self) -> Result<(u8, u32), RecoveryError> {
        let v = self.u32()?;
        let version = (v >> 24) as u8;
        if version > 1 {
            return Err(self.err(format!("unsupported version {version}")));
        }
        Ok((version, v & 0xff_ffff))
    }
    fn skip(&mut self, n: usize) -> Result<(), RecoveryError> {
        self.take(n).map(|_| ())
    }
    /// Requires the payload to be fully consumed.
    fn end(&self) -> Result<(), RecoveryError> {
        match self.b.payload.len() - self.pos {
            0 => Ok(()),
            n => Err(self.err(format!("{n} unexpected bytes at the end"))),
        }
    }
}

fn malformed(b: &RawBox<'_>, what: impl Into<String>) -> RecoveryError {
    RecoveryError::Malformed {
        offset: b.offset,
        fourcc: b.fourcc_str(),
        what: what.into(),
    }
}

/// The children of a container box, all of them well-formed.
fn children<'a>(b: &RawBox<'a>) -> Result<Vec<RawBox<'a>>, RecoveryError> {
    b.children()
        .collect::<Result<_, _>>()
        .map_err(|e| malformed(b, e.to_string()))
}

/// The single child of type `fourcc`; missing or repeated is an error.
fn one<'a>(
    kids: &[RawBox<'a>],
    parent: &RawBox<'_>,
    fourcc: &[u8; 4],
) -> Result<RawBox<'a>, RecoveryError> {
    let mut it = kids.iter().filter(|k| &k.fourcc == fourcc);
    match (it.next(), it.next()) {
        (Some(k), None) => Ok(*k),
        (None, _) => Err(malformed(parent, format!("no {}", fourcc_str(fourcc)))),
        (Some(_), Some(_)) => Err(malformed(parent, format!("two {}", fourcc_str(fourcc)))),
    }
}

/// Parses a `moov`: `None` when it has no `mvex` (a progressive file).
fn parse_init_moov(moov: &RawBox<'_>) -> Result<Option<Init>, RecoveryError> {
    let kids = children(moov)?;
    let Some(mvex) = kids.iter().find(|k| &k.fourcc == b"mvex") else {
        return Ok(None);
    };
    let mvhd = one(&kids, moov, b"mvhd")?;
    let mut c = Cur::new(&mvhd);
    let (v, _) = c.full()?;
    let creation_time = c.uv(v)?;
    c.uv(v)?; // modification_time
    let movie_hz = c.u32()?;
    if movie_hz == 0 {
        return Err(c.err("timescale 0"));
    }
    c.uv(v)?; // duration
    c.skip(4 + 2 + 10 + 36 + 24 + 4)?;
    c.end()?;

    let mut trexes = Vec::new();
    for trex in children(mvex)?.iter().filter(|k| &k.fourcc == b"trex") {
        let mut c = Cur::new(trex);
        c.full()?;
        let track_id = c.u32()?;
        let d = TrexDefaults {
            sample_description_index: c.u32()?,
            duration: c.u32()?,
            size: c.u32()?,
            flags: c.u32()?,
        };
        c.end()?;
        trexes.push((track_id, d));
    }

    let mut tracks = Vec::new();
    for (index, trak) in kids.iter().filter(|k| &k.fourcc == b"trak").enumerate() {
        let (track_id, movie) = parse_trak(trak)?;
        if track_id as usize != index + 1 {
            return Err(RecoveryError::UnexpectedTrackId { index, track_id });
        }
        let trex = trexes
            .iter()
            .find(|(id, _)| *id == track_id)
            .map(|(_, d)| *d)
            .ok_or_else(|| malformed(mvex, format!("no trex for track {track_id}")))?;
        let movie = MovieTrack {
            default_sample_duration: NonZeroU32::new(trex.duration),
            ..movie
        };
        tracks.push(Track {
            movie,
            trex,
            end_dts: None,
            last_dts: None,
        });
    }
    Ok(Some(Init {
        movie_hz,
        creation_time,
        tracks,
    }))
}

/// Parses a `trak` of an init `moov`: its id and what the progressive `moov` needs.
fn parse_trak(trak: &RawBox<'_>) -> Result<(u32, MovieTrack), RecoveryError> {
    let kids = children(trak)?;
    let tkhd = one(&kids, trak, b"tkhd")?;
    let mut c = Cur::new(&tkhd);
    let (v, _) = c.full()?;
    c.uv(v)?;
    c.uv(v)?;
    let track_id = c.u32()?;
    c.skip(4)?;
    c.uv(v)?;
    c.skip(8 + 2 + 2 + 2 + 2 + 36)?;
    let (width, height) = (c.u32()?, c.u32()?);
    c.end()?;

    let mdia = one(&kids, trak, b"mdia")?;
    let mdia_kids = children(&mdia)?;
    let mdhd = one(&mdia_kids, &mdia, b"mdhd")?;
    let mut c = Cur::new(&mdhd);
    let (v, _) = c.full()?;
    c.uv(v)?;
    c.uv(v)?;
    let timescale_hz = c.u32()?;
    if timescale_hz == 0 {
        return Err(c.err("timescale 0"));
    }
    let hdlr = one(&mdia_kids, &mdia, b"hdlr")?;
    let mut c = Cur::new(&hdlr);
    c.full()?;
    c.skip(4)?;
    let handler: [u8; 4] = c.take(4)?.try_into().expect("4 bytes");
    let kind = match &handler {
        b"vide" => TrackKind::Video {
            width: (width >> 16) as u16,
            height: (height >> 16) as u16,
        },
        b"soun" => TrackKind::Audio,
        _ => {
            return Err(RecoveryError::UnsupportedHandler {
                track_id,
                handler: fourcc_str(&handler),
            });
        }
    };
    let minf = one(&mdia_kids, &mdia, b"minf")?;
    let stbl = one(&children(&minf)?, &minf, b"stbl")?;
    let stbl_kids = children(&stbl)?;
    let stsd = one(&stbl_kids, &stbl, b"stsd")?;
    let mut c = Cur::new(&stsd);
    c.full()?;
    let n = c.u32()?;
    let entries: Vec<Bytes> = stsd
        .children_after(8)
        .map(|e| {
            let e = e.map_err(|err| malformed(&stsd, err.to_string()))?;
            let start = (e.offset - stsd.offset - stsd.header_len) as usize;
            Ok(Bytes::copy_from_slice(
                &stsd.payload[start..start + e.size() as usize],
            ))
        })
        .collect::<Result<_, RecoveryError>>()?;
    if entries.is_empty() || entries.len() != n as usize {
        return Err(malformed(
            &stsd,
            format!("entry_count {n} but {} entries", entries.len()),
        ));
    }
    // A fragmented file's init moov describes no samples itself.
    for (fourcc, count_at) in [(b"stts", 4usize), (b"stsz", 8)] {
        if let Some(b) = stbl_kids.iter().find(|k| &k.fourcc == fourcc) {
            let count = b.payload.get(count_at..count_at + 4);
            if count != Some(&[0, 0, 0, 0][..]) {
                return Err(malformed(b, "samples in the init moov's sample table"));
            }
        }
    }
    Ok((
        track_id,
        MovieTrack {
            kind,
            timescale_hz,
            default_sample_duration: None,
            sample_entries: entries,
            tables: TrackTables::new(track_id),
        },
    ))
}

/// Parses a `moof` payload (also one whose type was turned into `free`).
fn parse_moof(moof: &RawBox<'_>, is_moof: bool) -> Result<ParsedMoof, RecoveryError> {
    let kids = children(moof)?;
    let mfhd = kids
        .first()
        .filter(|k| &k.fourcc == b"mfhd")
        .ok_or_else(|| malformed(moof, "mfhd is not the first box"))?;
    let mut c = Cur::new(mfhd);
    c.full()?;
    let sequence_number = c.u32()?;
    c.end()?;
    let mut trafs = Vec::new();
    for traf in kids.iter().filter(|k| &k.fourcc == b"traf") {
        let tk = children(traf)?;
        let tfhd = parse_tfhd(&one(&tk, traf, b"tfhd")?)?;
        let tfdt = match tk.iter().find(|k| &k.fourcc == b"tfdt") {
            Some(b) => {
                let mut c = Cur::new(b);
                let (v, _) = c.full()?;
                let t = c.uv(v)?;
                c.end()?;
                Some(t)
            }
            None => None,
        };
        let truns = tk
            .iter()
            .filter(|k| &k.fourcc == b"trun")
            .map(parse_trun)
            .collect::<Result<_, _>>()?;
        trafs.push(ParsedTraf { tfhd, tfdt, truns });
    }
    Ok(ParsedMoof {
        offset: moof.offset,
        sequence_number,
        trafs,
        is_moof,
    })
}

fn parse_tfhd(b: &RawBox<'_>) -> Result<Tfhd, RecoveryError> {
    let mut c = Cur::new(b);
    let (_, flags) = c.full()?;
    let known = 0x1 | 0x2 | 0x8 | 0x10 | 0x20 | 0x01_0000 | 0x02_0000;
    if flags & !known != 0 {
        return Err(c.err(format!("unknown tf_flags {flags:#x}")));
    }
    let track_id = c.u32()?;
    // Optional fields in the order of §8.8.7.2: the 64-bit base_data_offset first.
    let base_data_offset = if flags & 0x1 != 0 {
        Some(c.u64()?)
    } else {
        None
    };
    let mut opt = |bit: u32| -> Result<Option<u32>, RecoveryError> {
        if flags & bit != 0 {
            c.u32().map(Some)
        } else {
            Ok(None)
        }
    };
    let tfhd = Tfhd {
        track_id,
        base_data_offset,
        sample_description_index: opt(0x2)?,
        default_sample_duration: opt(0x8)?,
        default_sample_size: opt(0x10)?,
        default_sample_flags: opt(0x20)?,
        duration_is_empty: flags & 0x01_0000 != 0,
        default_base_is_moof: flags & 0x02_0000 != 0,
    };
    c.end()?;
    Ok(tfhd)
}

fn parse_trun(b: &RawBox<'_>) -> Result<Trun, RecoveryError> {
    let mut c = Cur::new(b);
    let (version, flags) = c.full()?;
    let known = 0x1 | 0x4 | 0x100 | 0x200 | 0x400 | 0x800;
    if flags & !known != 0 {
        return Err(c.err(format!("unknown tr_flags {flags:#x}")));
    }
    let fields = TrunFields {
        sample_duration: flags & 0x100 != 0,
        sample_size: flags & 0x200 != 0,
        sample_flags: flags & 0x400 != 0,
        sample_composition_time_offset: flags & 0x800 != 0,
    };
    let n = c.u32()?;
    let data_offset = if flags & 0x1 != 0 {
        Some(c.u32()? as i32)
    } else {
        None
    };
    let first_sample_flags = if flags & 0x4 != 0 {
        Some(c.u32()?)
    } else {
        None
    };
    let per_sample = 4 * [
        fields.sample_duration,
        fields.sample_size,
        fields.sample_flags,
        fields.sample_composition_time_offset,
    ]
    .iter()
    .filter(|&&f| f)
    .count();
    let left = b.payload.len() - c.pos;
    if per_sample * n as usize != left {
        return Err(c.err(format!(
            "{n} samples of {per_sample} bytes but {left} bytes of table"
        )));
    }
    let mut samples = Vec::with_capacity(n as usize);
    for _ in 0..n {
        let mut s = TrunSample::default();
        if fields.sample_duration {
            s.sample_duration = c.u32()?;
        }
        if fields.sample_size {
            s.sample_size = c.u32()?;
        }
        if fields.sample_flags {
            s.sample_flags = c.u32()?;
        }
        if fields.sample_composition_time_offset {
            let raw = c.u32()?;
            if version == 0 && raw > i32::MAX as u32 {
                return Err(c.err(format!("composition offset {raw} does not fit 31 bits")));
            }
            s.sample_composition_time_offset = raw as i32;
        }
        samples.push(s);
    }
    c.end()?;
    Ok(Trun {
        data_offset,
        first_sample_flags,
        fields,
        samples,
    })
}
