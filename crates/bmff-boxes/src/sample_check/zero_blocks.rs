//! [`ZeroBlocks`]: whole file system blocks of zero bytes in media data.

use super::{BLOCK_BYTES, SampleFormat};

/// Finds file system blocks of zero bytes in media data fed in file order.
///
/// Blocks are [`BLOCK_BYTES`] long and aligned in the file; the last one ends at the end
/// of the file (a power cut that loses the file's last, partly filled block leaves it
/// reading as zeros up to the file's length). A block counts only when all of its bytes
/// were fed (contiguously) and are zero: a block that holds box headers is never one.
#[derive(Clone, Debug)]
pub struct ZeroBlocks {
    file_len: u64,
    /// End of the bytes fed so far, when they are contiguous.
    fed_end: Option<u64>,
    /// Start of a block whose bytes fed so far (up to `fed_end`) are all zero.
    pending: Option<u64>,
}

impl ZeroBlocks {
    /// For a file of `file_len` bytes.
    pub fn new(file_len: u64) -> Self {
        Self {
            file_len,
            fed_end: None,
            pending: None,
        }
    }

    /// Feeds the bytes of contiguous samples starting at `offset`, each given as
    /// `(offset, size, format)` in file order, except those whose format
    /// [may be zero](SampleFormat::may_be_zero): blocks that overlap them never count.
    /// Returns what [`feed`](Self::feed) returns for the first block found.
    pub fn feed_samples(
        &mut self,
        offset: u64,
        bytes: &[u8],
        samples: impl IntoIterator<Item = (u64, u32, SampleFormat)>,
    ) -> Option<u64> {
        let end = offset + bytes.len() as u64;
        let mut run = offset;
        let mut found = None;
        let mut feed = |from: u64, to: u64, this: &mut Self| {
            if to > from && found.is_none() {
                found = this.feed(
                    from,
                    &bytes[(from - offset) as usize..(to - offset) as usize],
                );
            }
        };
        for (at, size, format) in samples {
            if format.may_be_zero() && at >= run && at < end {
                feed(run, at, self);
                run = (at + u64::from(size)).min(end);
                // The skipped bytes break contiguity: no block spans them.
                self.fed_end = None;
                self.pending = None;
            }
        }
        feed(run, end, self);
        found
    }

    /// Feeds `bytes` found at file offset `offset`; returns the start of the first block
    /// that is now known to be all zero. Bytes not contiguous with the previous ones start
    /// afresh (a block is never completed across a gap).
    pub fn feed(&mut self, offset: u64, bytes: &[u8]) -> Option<u64> {
        if self.fed_end != Some(offset) {
            self.pending = None;
        }
        let end = offset + bytes.len() as u64;
        self.fed_end = Some(end);
        let zero = |from: u64, to: u64| {
            bytes[(from - offset) as usize..(to - offset) as usize]
                .iter()
                .all(|&b| b == 0)
        };
        // A block begun before these bytes.
        if let Some(start) = self.pending.take() {
            let block_end = (start + BLOCK_BYTES).min(self.file_len);
            let upto = block_end.min(end);
            if zero(offset, upto) {
                if upto == block_end {
                    return Some(start);
                }
                self.pending = Some(start);
                return None;
            }
        }
        let mut start = offset.next_multiple_of(BLOCK_BYTES);
        while start < end {
            let block_end = (start + BLOCK_BYTES).min(self.file_len);
            let upto = block_end.min(end);
            if zero(start, upto) {
                if upto == block_end {
                    return Some(start);
                }
                self.pending = Some(start);
            }
            start += BLOCK_BYTES;
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pcm_samples_are_left_out_of_the_zero_check() {
        let zeros = vec![0u8; 3 * BLOCK_BYTES as usize];
        // Video (Other) over the first block, PCM over the rest: only block 0 counts.
        let samples = [
            (0, BLOCK_BYTES as u32, SampleFormat::Other),
            (BLOCK_BYTES, 2 * BLOCK_BYTES as u32, SampleFormat::Pcm),
        ];
        let mut z = ZeroBlocks::new(3 * BLOCK_BYTES);
        assert_eq!(z.feed_samples(0, &zeros, samples), Some(0));
        let pcm_only = [(0, 3 * BLOCK_BYTES as u32, SampleFormat::Pcm)];
        let mut z = ZeroBlocks::new(3 * BLOCK_BYTES);
        assert_eq!(z.feed_samples(0, &zeros, pcm_only), None);
        let other = [(0, 3 * BLOCK_BYTES as u32, SampleFormat::Flac)];
        let mut z = ZeroBlocks::new(3 * BLOCK_BYTES);
        assert_eq!(z.feed_samples(0, &zeros, other), Some(0));
    }
}
