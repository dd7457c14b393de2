//! A file described as inline bytes and byte ranges of source files.

use bytes::Bytes;

/// One piece of a [`Body`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Part {
    /// Bytes built in memory (box headers, a `moov`, a `moof`).
    Bytes(Bytes),
    /// `len` bytes of source file number `source` (an index into the caller's list of
    /// sources), starting at byte `offset` of that file.
    Source {
        /// Index of the source file in the list the body was planned from.
        source: usize,
        /// First byte, from the start of the source file.
        offset: u64,
        /// Number of bytes.
        len: u64,
    },
}

impl Part {
    /// Number of bytes this part stands for.
    pub fn len(&self) -> u64 {
        match self {
            Part::Bytes(b) => b.len() as u64,
            Part::Source { len, .. } => *len,
        }
    }

    /// Whether the part stands for no bytes.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The bytes `start..end` of this part (`start <= end <= len()`).
    fn sub(&self, start: u64, end: u64) -> Part {
        debug_assert!(start <= end && end <= self.len());
        match self {
            Part::Bytes(b) => Part::Bytes(b.slice(start as usize..end as usize)),
            Part::Source { source, offset, .. } => Part::Source {
                source: *source,
                offset: offset + start,
                len: end - start,
            },
        }
    }
}

/// A whole file (or a slice of one) as an ordered list of [`Part`]s.
///
/// Empty parts are never stored, and two adjacent ranges of the same source are merged,
/// so streaming a body issues as few reads as its layout allows.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Body {
    parts: Vec<Part>,
    len: u64,
}

impl Body {
    /// An empty body.
    pub fn new() -> Self {
        Self::default()
    }

    /// Total number of bytes.
    pub fn len(&self) -> u64 {
        self.len
    }

    /// Whether the body has no bytes.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The parts, in order.
    pub fn parts(&self) -> &[Part] {
        &self.parts
    }

    /// Appends bytes built in memory.
    pub fn push_bytes(&mut self, bytes: Bytes) {
        self.push(Part::Bytes(bytes));
    }

    /// Appends `len` bytes of source `source` from `offset`.
    pub fn push_source(&mut self, source: usize, offset: u64, len: u64) {
        self.push(Part::Source {
            source,
            offset,
            len,
        });
    }

    /// Appends a part, merging it with the last one when both are contiguous ranges of
    /// the same source.
    pub fn push(&mut self, part: Part) {
        if part.is_empty() {
            return;
        }
        self.len += part.len();
        if let (
            Some(Part::Source {
                source: s0,
                offset: o0,
                len: l0,
            }),
            Part::Source {
                source,
                offset,
                len,
                ..
            },
        ) = (self.parts.last_mut(), &part)
            && *s0 == *source
            && *o0 + *l0 == *offset
        {
            *l0 += len;
            return;
        }
        self.parts.push(part);
    }

    /// Appends every part of `other`.
    pub fn append(&mut self, other: Body) {
        for p in other.parts {
            self.push(p);
        }
    }

    /// The bytes `start..end` of this body, as a body (`end` is clamped to `len()`; an
    /// empty body when `start >= end`). The bytes of the slice are exactly those the
    /// whole body has at those positions, which is what an HTTP `206` must send.
    pub fn slice(&self, start: u64, end: u64) -> Body {
        let end = end.min(self.len);
        let mut out = Body::new();
        if start >= end {
            return out;
        }
        let mut pos = 0u64;
        for p in &self.parts {
            let (p_start, p_end) = (pos, pos + p.len());
            pos = p_end;
            if p_end <= start {
                continue;
            }
            if p_start >= end {
                break;
            }
            let from = start.saturating_sub(p_start);
            let to = end.min(p_end) - p_start;
            out.push(p.sub(from, to));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Materializes a body whose source `i` holds byte `(offset + i) % 251` at `offset`.
    fn bytes_of(body: &Body) -> Vec<u8> {
        let mut out = Vec::new();
        for p in body.parts() {
            match p {
                Part::Bytes(b) => out.extend_from_slice(b),
                Part::Source {
                    source,
                    offset,
                    len,
                } => out.extend((0..*len).map(|i| ((offset + i + *source as u64 * 7) % 251) as u8)),
            }
        }
        out
    }

    fn sample_body() -> Body {
        let mut b = Body::new();
        b.push_bytes(Bytes::from_static(b"ftyp-moov"));
        b.push_source(0, 100, 50);
        b.push_source(0, 150, 25); // merged with the previous range
        b.push_bytes(Bytes::new()); // ignored
        b.push_source(1, 0, 40);
        b.push_bytes(Bytes::from_static(b"moof"));
        b.push_source(0, 500, 10);
        b
    }

    #[test]
    fn push_merges_contiguous_ranges_and_skips_empty_parts() {
        let b = sample_body();
        assert_eq!(b.len(), 9 + 75 + 40 + 4 + 10);
        assert_eq!(b.parts().len(), 5);
        assert_eq!(
            b.parts()[1],
            Part::Source {
                source: 0,
                offset: 100,
                len: 75
            }
        );
    }

    #[test]
    fn every_slice_has_the_bytes_of_the_whole_body_there() {
        let b = sample_body();
        let whole = bytes_of(&b);
        assert_eq!(whole.len() as u64, b.len());
        for start in 0..=b.len() {
            for end in start..=b.len() + 3 {
                let s = b.slice(start, end);
                let want = &whole[start as usize..(end.min(b.len())) as usize];
                assert_eq!(bytes_of(&s), want, "slice {start}..{end}");
                assert_eq!(s.len(), want.len() as u64);
            }
        }
    }

    #[test]
    fn an_inverted_or_out_of_range_slice_is_empty() {
        let b = sample_body();
        assert!(b.slice(10, 5).is_empty());
        assert!(b.slice(b.len(), b.len() + 10).is_empty());
        assert!(b.slice(b.len() + 1, u64::MAX).parts().is_empty());
    }
}
