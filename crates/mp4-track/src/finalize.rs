//! Turning a fragmented file progressive in place: a plan of writes and syncs.

use bmff_boxes::{BoxHeader, Encode, Moov};
use bytes::{BufMut, Bytes, BytesMut};

use crate::Patch;

/// One step of a [`Finalize`] plan, to be applied in order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FinalizeStep {
    /// Write these bytes at this offset (overwriting, or extending the file when the
    /// offset is its current end).
    Write(Patch),
    /// Make every earlier step durable before any later one starts (`fsync`/
    /// `File::sync_data`): the plan's crash safety depends on this order.
    Sync,
    /// Truncate the file to this length (only in plans from [`Recovery`](crate::Recovery),
    /// to drop a torn last fragment).
    SetLen(u64),
}

/// A plan that turns a fragmented file into a progressive one in place, from
/// [`FragmentedMuxer::finalize`](crate::FragmentedMuxer::finalize) or
/// [`Recovery`](crate::Recovery).
///
/// # Order, and why a crash anywhere is safe
///
/// The file is `[ftyp][free R][moov init, I bytes][moof 1][mdat 1]...[moof n][mdat n]`,
/// with the `free` box at offset `F` (the end of the `ftyp`); let `M` be the final
/// `moov`'s length. When `M + 16 <= R` the `moov` goes in front:
///
/// 1. Write the final `moov` at `F + 8`, followed by a `free` header for a box running
///    to the end of `moof 1` (and the `prft` before it; or of the init `moov` without
///    fragments). All of it lies
///    inside the reserved box's payload, which readers skip: the file is unchanged for
///    them. **Sync.**
/// 2. Turn `moof n`, ..., `moof 2` into `free` by rewriting their 4-byte type, the last
///    first, each followed by the `prft` just before it, if any (a `prft` is a top-level
///    box readers skip, with or without a `moof` after it). These writes may reach the
///    disk in any order before the sync, so the file is a valid fragmented file holding
///    a subset of its fragments, always the first (written in order, a prefix; a player
///    shows the hidden ones as a gap until the commit or a repair). A sync per rewrite
///    would keep it a prefix at the cost of one flush per fragment. **Sync.**
/// 3. Commit: rewrite the reserved box's 4-byte size from `R` to 8. In one write the
///    file becomes `[ftyp][free 8][moov][free …][mdat 1][free][mdat 2]...`: the final
///    `moov` appears, and the `free` written in step 1 hides the init `moov` and
///    `moof 1`. **Sync.**
///
/// Otherwise the `moov` goes last: step 1 appends it at the end of the file (a reader
/// of the fragmented file uses the first `moov`; ffmpeg skips the second with a
/// warning), step 2 is the same, and the commit (3) rewrites the reserved box's size to
/// `R + I + len(moof 1)`, hiding the init `moov` and `moof 1` in one write.
///
/// So every state a crash can leave is a valid fragmented file with a non-empty subset of
/// its fragments (ffmpeg plays it), or the finished progressive file
/// (`tests/crash_order.rs` checks every landing of the writes between two syncs, whole or
/// torn at 512-byte sectors). Before the commit,
/// every `moof` payload is intact (only types change), so [`Recovery`](crate::Recovery)
/// rebuilds the same final `moov` from the fragments and finishes the job; its plans are
/// idempotent. The commit is a 4-byte write at offset `F` (36 for this crate's `ftyp`),
/// inside the first sector: atomic under the usual sector-atomicity assumption. A type
/// rewrite in step 2 that straddles a sector boundary may be torn; recovery accepts a
/// type mixing the bytes of `moof` and `free`. The init `moov`'s space is never used for
/// the final one: overwriting it before the commit would leave a window with neither a
/// readable fragmented file nor a complete final `moov`.
///
/// (When the commit cannot hide `moof 1` with one size, which only happens for a file not
/// written by this crate, without a `free` box right before its init `moov`, or with a
/// reserve near 4 GiB, step 2 also hides `moof 1` and the commit rewrites the init
/// `moov`'s type; the last state of step 2 then holds no fragment.)
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Finalize {
    /// The steps, in order.
    pub steps: Vec<FinalizeStep>,
    /// True when the final `moov` goes in the reserved space before the media; false when
    /// it is appended at the end of the file.
    pub moov_at_front: bool,
    /// Length of the reserved `free` box (0 without one).
    pub reserved_bytes: u64,
    /// Length of the final `moov`.
    pub moov_bytes: u64,
    /// Where the plan truncates the file first (a torn tail), if it does.
    pub truncate_to: Option<u64>,
    /// Length of the file once the plan is applied.
    pub file_len: u64,
}

/// Where things are in a fragmented file.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Layout {
    /// Offset of the reserved `free` box (the end of the `ftyp`).
    pub reserve_offset: u64,
    /// Its length; 0 without one. When non-zero the init `moov` follows it directly.
    pub reserve_len: u64,
    pub init_moov_offset: u64,
    pub init_moov_len: u64,
    /// Offsets of the boxes still typed `moof` or `prft` (a fragment's `prft` just before
    /// its `moof`), in file order.
    pub moofs: Vec<u64>,
    /// Offset and length of the first fragment's boxes before its `mdat`: its `prft`, if
    /// any, and its `moof` (whatever their types now).
    pub first_moof: Option<(u64, u64)>,
    /// End of the last fragment: the file's length, once truncated.
    pub end: u64,
}

fn free_type_at(box_offset: u64) -> FinalizeStep {
    FinalizeStep::Write(Patch {
        offset: box_offset + 4,
        bytes: Bytes::from_static(b"free"),
    })
}

/// Builds the plan for `moov` (whose chunk offsets point into the fragments' `mdat`s,
/// which do not move), after an optional truncation to `layout.end`.
pub(crate) fn plan(layout: &Layout, moov: &Moov, truncate_to: Option<u64>) -> Finalize {
    let m = moov.encoded_len();
    let (f, r) = (layout.reserve_offset, layout.reserve_len);
    let init_end = layout.init_moov_offset + layout.init_moov_len;
    let mut steps = Vec::with_capacity(layout.moofs.len() + 8);
    if let Some(len) = truncate_to {
        steps.push(FinalizeStep::SetLen(len));
        steps.push(FinalizeStep::Sync);
    }
    // What the commit hides with one size: the init moov and, right after it, moof 1.
    let reserve_adjacent = r >= 8 && f + r == layout.init_moov_offset;
    let first = layout.first_moof.filter(|&(o, _)| o == init_end);
    let hidden_end = first.map_or(init_end, |(o, len)| o + len);
    // Front case: [free 8][moov][free: up to hidden_end].
    let rest = BoxHeader::with_box_len(*b"free", hidden_end.saturating_sub(f + 8 + m))
        .filter(|h| reserve_adjacent && 8 + m + h.encoded_len() <= r);
    let moov_at_front = rest.is_some();
    // End case: the reserved box grows over the init moov and moof 1.
    let grown = u32::try_from(hidden_end - f)
        .ok()
        .filter(|_| reserve_adjacent && !moov_at_front);
    let hides_first = first.is_some() && (moov_at_front || grown.is_some());

    let len = m + rest.map_or(0, |h| h.encoded_len());
    let mut bytes = BytesMut::with_capacity(usize::try_from(len).expect("fits in memory"));
    moov.encode(&mut bytes);
    if let Some(h) = rest {
        h.encode(&mut bytes);
    }
    steps.push(FinalizeStep::Write(Patch {
        offset: if moov_at_front { f + 8 } else { layout.end },
        bytes: bytes.freeze(),
    }));
    steps.push(FinalizeStep::Sync);
    let to_hide: Vec<u64> = layout
        .moofs
        .iter()
        .rev()
        .copied()
        .filter(|&o| !(hides_first && first.is_some_and(|(f, len)| o >= f && o < f + len)))
        .collect();
    if !to_hide.is_empty() {
        steps.extend(to_hide.into_iter().map(free_type_at));
        steps.push(FinalizeStep::Sync);
    }
    let size_at_f = |size: u32| {
        let mut b = BytesMut::with_capacity(4);
        b.put_u32(size);
        FinalizeStep::Write(Patch {
            offset: f,
            bytes: b.freeze(),
        })
    };
    steps.push(match (moov_at_front, grown) {
        (true, _) => size_at_f(8),
        (false, Some(size)) => size_at_f(size),
        (false, None) => free_type_at(layout.init_moov_offset),
    });
    steps.push(FinalizeStep::Sync);
    Finalize {
        steps,
        moov_at_front,
        reserved_bytes: r,
        moov_bytes: m,
        truncate_to,
        file_len: if moov_at_front {
            layout.end
        } else {
            layout.end + m
        },
    }
}
