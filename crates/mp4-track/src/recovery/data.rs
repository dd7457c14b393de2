//! The data check of [`Recovery`]: each fragment's samples are read (in bounded pieces)
//! and checked with [`bmff_boxes::sample_check`] before the fragment is kept. A fragment
//! whose data is damaged (blocks a power cut never wrote, reading back as zeros) is
//! dropped with every fragment after it.

use std::fmt;

use bmff_boxes::sample_check::{BLOCK_BYTES, SampleDefect, check_sample};

use super::fragments::{CheckSample, Staged};
use super::{Phase, ReadRequest, Recovery, RecoveryError, Want};

/// Largest read the data check asks for at once, unless one sample is larger.
pub const DATA_READ_BYTES: u64 = 8 << 20;
/// Samples larger than this are not checked (no recorder writes one).
pub const MAX_CHECKED_SAMPLE_BYTES: u32 = 64 << 20;

/// Damaged sample data that made [`Recovery`] drop fragments.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Damage {
    /// Offset of the damaged fragment's `moof`: the file is cut there.
    pub fragment_offset: u64,
    /// 1-based number of the damaged fragment in the file.
    pub fragment: u32,
    /// Complete fragments dropped: the damaged one and every one after it.
    pub dropped_fragments: u32,
    /// The track of the damaged sample.
    pub track_id: u32,
    /// The sample's 1-based number in its track.
    pub sample: u32,
    /// The sample's file offset.
    pub sample_offset: u64,
    /// File offset of the damage.
    pub offset: u64,
    /// What is wrong.
    pub defect: SampleDefect,
}

impl fmt::Display for Damage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "track {} sample {} (at byte {}) of fragment {} (moof at byte {}): damaged at \
             byte {}: {}",
            self.track_id,
            self.sample,
            self.sample_offset,
            self.fragment,
            self.fragment_offset,
            self.offset,
            self.defect
        )
    }
}

/// A staged fragment whose data is being read: `checks[next..]` are still to be read;
/// the request in flight covers `checks[chunk.0..chunk.1]`.
#[derive(Debug)]
pub(super) struct DataCheck {
    staged: Staged,
    next: usize,
    chunk: (usize, usize),
}

impl Recovery {
    /// Checks the data of a staged fragment (or commits it at once when data checks are
    /// off), then goes on after its `mdat`.
    pub(super) fn check_data(&mut self, staged: Staged) -> Result<(), RecoveryError> {
        if !self.check_data {
            let after = staged.mdat_end;
            self.commit(staged)?;
            self.phase = Phase::Fragments;
            return self.next_header(after);
        }
        self.next_chunk(DataCheck {
            staged,
            next: 0,
            chunk: (0, 0),
        })
    }

    /// Asks for the next piece of the fragment's data: contiguous samples up to
    /// [`DATA_READ_BYTES`] (at least one); commits the fragment when none is left.
    fn next_chunk(&mut self, mut d: DataCheck) -> Result<(), RecoveryError> {
        let checks = &d.staged.checks;
        while let Some(c) = checks.get(d.next)
            && c.size > MAX_CHECKED_SAMPLE_BYTES
        {
            self.unchecked_samples += 1;
            d.next += 1;
        }
        let Some(first) = checks.get(d.next) else {
            let after = d.staged.mdat_end;
            self.commit(d.staged)?;
            self.phase = Phase::Fragments;
            return self.next_header(after);
        };
        let mut end = first.offset + u64::from(first.size);
        let mut last = d.next + 1;
        while let Some(c) = checks.get(last)
            && c.offset == end
            && c.size <= MAX_CHECKED_SAMPLE_BYTES
            && end + u64::from(c.size) - first.offset <= DATA_READ_BYTES
        {
            end += u64::from(c.size);
            last += 1;
        }
        self.want = Want::Media(ReadRequest {
            offset: first.offset,
            len: end - first.offset,
        });
        d.chunk = (d.next, last);
        d.next = last;
        self.phase = Phase::Data(Box::new(d));
        Ok(())
    }

    /// Checks the bytes of the piece in flight.
    pub(super) fn on_media(&mut self, req: ReadRequest, bytes: &[u8]) -> Result<(), RecoveryError> {
        let Phase::Data(d) = std::mem::replace(&mut self.phase, Phase::Done) else {
            return Ok(());
        };
        self.checked_bytes += bytes.len() as u64;
        let samples = &d.staged.checks[d.chunk.0..d.chunk.1];
        // The first defect in file order: a sample's structure, or a zero block.
        let mut found: Option<(CheckSample, SampleDefect)> = None;
        for c in samples {
            let from = (c.offset - req.offset) as usize;
            if let Err(defect) = check_sample(c.format, &bytes[from..from + c.size as usize]) {
                found = Some((*c, defect));
                break;
            }
        }
        if let Some(block) = self.zeros.feed_samples(
            req.offset,
            bytes,
            samples.iter().map(|c| (c.offset, c.size, c.format)),
        ) {
            let at = |(c, e): &(CheckSample, SampleDefect)| c.offset as i64 + e.at();
            if found.as_ref().is_none_or(|f| block as i64 <= at(f)) {
                // The block may begin in an earlier piece of this fragment.
                let all = &d.staged.checks[..d.chunk.1];
                let c = all
                    .iter()
                    .rev()
                    .find(|c| c.offset <= block)
                    .unwrap_or(&samples[0]);
                let defect = SampleDefect::ZeroBlock {
                    at: block as i64 - c.offset as i64,
                    len: BLOCK_BYTES.min(self.file_len - block),
                };
                found = Some((*c, defect));
            }
        }
        match found {
            None => self.next_chunk(*d),
            Some((c, defect)) => {
                let fragment_offset = d.staged.moof_offset;
                self.damage = Some(Damage {
                    fragment_offset,
                    fragment: self.fragments + 1,
                    dropped_fragments: 1,
                    track_id: c.track as u32 + 1,
                    sample: c.number,
                    sample_offset: c.offset,
                    offset: (c.offset as i64 + defect.at()) as u64,
                    defect,
                });
                self.phase = Phase::AfterDamage(fragment_offset);
                self.next_header(d.staged.mdat_end)
            }
        }
    }
}
