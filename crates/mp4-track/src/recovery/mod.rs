//! Recovery of a fragmented recording left by a crash: rebuilds the sample tables from the
//! init `moov` and every complete fragment, and plans the same in-place finalization as a
//! clean close.

mod data;
mod error;
mod fragments;

use bmff_boxes::read::{self, Header, MAX_METADATA_BYTES, RawBox, ReadError, fourcc_str};
use bmff_boxes::sample_check::ZeroBlocks;

use crate::finalize::{Finalize, Layout};
use data::DataCheck;
pub use data::{DATA_READ_BYTES, Damage, MAX_CHECKED_SAMPLE_BYTES};
pub use error::RecoveryError;
use fragments::{Init, ParsedMoof, parse_init_moov, parse_moof};

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
    /// Bytes after the last fragment kept that the plan cuts off: a torn fragment,
    /// fragments dropped for [`damage`](Self::damage), or the final `moov` an interrupted
    /// finalization had appended.
    pub dropped_bytes: u64,
    /// Damaged sample data, found by the data check: the fragment that holds it and every
    /// fragment after it are dropped.
    pub damage: Option<Damage>,
    /// Bytes of sample data checked (all of it, unless the checks were turned off).
    pub checked_bytes: u64,
    /// Samples not checked for their size (over [`MAX_CHECKED_SAMPLE_BYTES`]).
    pub unchecked_samples: u64,
    /// True when a finalization had started (some fragments already turned into `free`,
    /// or a final `moov` appended at the end); the plan completes it.
    pub finalize_was_interrupted: bool,
}

/// A box header as found at the top level.
type Head = Header;

/// Decodes a top-level box header at `offset` from up to 16 bytes with the reader's
/// [`read::header`]; `Err` describes why no complete box starts there (short header, a
/// type that is not four printable characters, size 0 or below the header, or a box
/// running past the end of the file).
fn parse_head(b: &[u8], offset: u64, file_len: u64) -> Result<Head, String> {
    if b.len() < 8 {
        return Err(format!("{} bytes left, a box header needs 8", b.len()));
    }
    let fourcc = fourcc_str(&[b[4], b[5], b[6], b[7]]);
    if !b[4..8].iter().all(|c| (0x20..0x7f).contains(c)) {
        return Err(format!("box type {fourcc} is not text"));
    }
    match read::header(b, offset, file_len - offset) {
        Ok(h) if h.to_end => Err(format!("{fourcc} box with size 0")),
        Ok(h) => Ok(h),
        Err(ReadError::BadSize { size, .. }) => Err(format!("{fourcc} box of size {size}")),
        Err(ReadError::Truncated { needed: 16, .. }) if b.len() < 16 && b[..4] == [0, 0, 0, 1] => {
            Err("largesize header cut short".into())
        }
        Err(ReadError::Truncated {
            needed, available, ..
        }) => Err(format!(
            "{fourcc} box of {needed} bytes runs past the end of the file ({available} bytes \
             left)"
        )),
        Err(e) => Err(e.to_string()),
    }
}

/// What the next read is for.
#[derive(Debug)]
enum Want {
    /// A top-level box header at this offset.
    Header(u64),
    /// The payload of this box.
    Payload(Head),
    /// Sample data of a fragment, for its data check.
    Media(ReadRequest),
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
    /// A fragment's data is being checked.
    Data(Box<DataCheck>),
    /// The data of the fragment at this offset is damaged: it and every later fragment
    /// are dropped (and counted).
    AfterDamage(u64),
    Done,
}

/// Sans-IO recovery of a fragmented recording: asks for top-level box headers, the
/// payloads of `moov`/`moof` boxes and each fragment's sample data (in pieces of at most
/// [`DATA_READ_BYTES`]), then plans the repair.
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
/// `mdat` payloads carry no checksum, and a power cut can keep a fragment's `moof` but not
/// all of its data blocks (the page cache writes back in any order), which then read as
/// zeros. So every fragment's samples are checked, without decoding, with
/// [`bmff_boxes::sample_check`] (NAL unit lengths and headers, zero AAC frames, the JPEG
/// SOI, whole file system blocks of zeros) before the fragment is kept: the first
/// fragment whose data fails is dropped with every fragment after it, and
/// [`Repair::damage`] says where and why. [`without_data_checks`](Self::without_data_checks)
/// turns this off (only box headers and metadata are read then).
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
    check_data: bool,
    zeros: ZeroBlocks,
    damage: Option<Damage>,
    checked_bytes: u64,
    unchecked_samples: u64,
    /// The `prft` just read (offset; true while still typed `prft`), which belongs to
    /// the fragment whose `moof` follows it.
    prft: Option<(u64, bool)>,
}

/// Length of a version 1 `prft` box, the only kind this crate writes.
const PRFT_LEN: u64 = 32;

/// True for a `prft` this crate wrote, or one that a finalization hid (`free` of the same
/// length; a `moof` is always longer) or caught in a torn type rewrite.
fn is_prft(h: &Head) -> bool {
    h.size == PRFT_LEN && mix_of(&h.fourcc, b"prft", b"free")
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
            check_data: true,
            zeros: ZeroBlocks::new(file_len),
            damage: None,
            checked_bytes: 0,
            unchecked_samples: 0,
            prft: None,
        };
        if let Err(e) = r.next_header(0) {
            r.fail(e);
        }
        r
    }

    /// Reads no sample data: fragments are kept on their metadata alone.
    pub fn without_data_checks(mut self) -> Self {
        self.check_data = false;
        self
    }

    /// Recovers a file held in memory.
    pub fn from_bytes(file: &[u8]) -> Result<Recovered, RecoveryError> {
        Self::read_with(file.len() as u64, |offset, buf| {
            let start = offset as usize;
            buf.copy_from_slice(&file[start..start + buf.len()]);
            Ok(())
        })
    }

    /// Recovers a file of `file_len` bytes, filling each requested range with
    /// `read_exact_at(offset, buf)` (which must fill all of `buf` from `offset`): the whole
    /// read loop, for callers whose reads cannot go wrong or whose errors convert from
    /// [`RecoveryError`] (`anyhow::Error`, an I/O error enum, ...).
    pub fn read_with<E: From<RecoveryError>>(
        file_len: u64,
        mut read_exact_at: impl FnMut(u64, &mut [u8]) -> Result<(), E>,
    ) -> Result<Recovered, E> {
        let mut r = Self::new(file_len);
        let mut buf = Vec::new();
        while let Some(req) = r.poll_read() {
            // A request is at most a box header, a metadata payload (bounded by
            // `MAX_METADATA_BYTES`) or a piece of sample data (`DATA_READ_BYTES`, or one
            // sample of at most `MAX_CHECKED_SAMPLE_BYTES`), so it fits in memory.
            buf.resize(req.len as usize, 0);
            read_exact_at(req.offset, &mut buf)?;
            r.push(&buf);
        }
        Ok(r.finish()?)
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
            Want::Media(req) => Some(req),
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
            Want::Media(req) => self.on_media(req, bytes),
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
            Phase::Mdat(Err((o, _))) | Phase::AfterBad(o, _) => self.conclude(o),
            Phase::Mdat(Ok(m)) => self.conclude(m.moof.offset),
            Phase::AfterDamage(o) => self.conclude(o),
            Phase::Data(_) | Phase::Done => Ok(()),
        }
    }

    fn payload(&mut self, head: Head) -> Result<(), RecoveryError> {
        if head.size > MAX_METADATA_BYTES {
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
                    // A fragment's prft, before its moof.
                    f if is_prft(&h) => {
                        self.prft = Some((h.offset, f != b"free"));
                        self.next_header(h.end())
                    }
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
                    Ok(m) => m.moof.offset,
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
                let payload = (h.offset + h.header_len, h.end());
                let staged = moof
                    .map_err(|(_, e)| e)
                    .and_then(|m| self.stage_fragment(&m, h.offset, payload));
                match staged {
                    Ok(staged) => self.check_data(staged),
                    Err(e) => {
                        self.phase = Phase::AfterBad(moof_offset, e);
                        self.next_header(h.end())
                    }
                }
            }
            Phase::AfterBad(fragment_offset, e) => match head {
                Err(_) => self.conclude(fragment_offset),
                Ok(_) => Err(e),
            },
            Phase::AfterDamage(fragment_offset) => {
                self.phase = Phase::AfterDamage(fragment_offset);
                match head {
                    Ok(h) if is_prft(&h) => self.next_header(h.end()),
                    // Another fragment dropped (a moof, or one a finalization hid).
                    Ok(h) if mix_of(&h.fourcc, b"moof", b"free") => {
                        if let Some(d) = &mut self.damage {
                            d.dropped_fragments += 1;
                        }
                        self.next_header(h.end())
                    }
                    Ok(h) if &h.fourcc == b"mdat" => self.next_header(h.end()),
                    // The end of the fragments: a torn one, or an appended final moov.
                    _ => self.conclude(fragment_offset),
                }
            }
            Phase::Data(_) | Phase::Done => Ok(()),
        }
    }

    fn on_payload(&mut self, head: Head, bytes: &[u8]) -> Result<(), RecoveryError> {
        let raw = RawBox::from_header(&head, bytes);
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
