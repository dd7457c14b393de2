//! The live edge of a recording as an HLS media playlist (RFC 8216, fMP4 segments).
//!
//! A recorder writes each file as an init (`ftyp`, a reserved `free` box, the init
//! `moov`) followed by `moof`+`mdat` fragments whose data offsets are relative to their
//! `moof`, so each fragment, as written, is a valid HLS fMP4 media segment and the init
//! without its reserved room is a valid `EXT-X-MAP` target. [`Live`] keeps the latest init
//! and the last few fragments in memory (as the recorder's own [`Bytes`], so nothing is
//! copied but the small init) and renders the playlist. Fragments are kept only while
//! someone watches ([`Live::watch`]), so a camera nobody looks at costs one init.
//!
//! ```
//! use bytes::Bytes;
//! use mp4_export::live::{Live, LiveFragment};
//!
//! let mut live = Live::new(4);
//! // ftyp, a reserved free box, and an (empty, for the example) moov.
//! let init = Bytes::from_static(b"\0\0\0\x08ftyp\0\0\0\x0cfree1234\0\0\0\x08moov");
//! live.open(&init, 1_700_000_000_000_000_000).unwrap();
//! live.watch(0, 60_000_000_000);
//! live.push(LiveFragment { data: vec![Bytes::from_static(b"moof-mdat")], duration_ns: 1_000_000_000 }, 0);
//! assert_eq!(live.init(0).unwrap().len(), 16); // ftyp + moov, no reserve
//! assert_eq!(live.segment(0).unwrap().len(), 9);
//! let text = live.playlist(|i| format!("init/{i}.mp4"), |s| format!("seg/{s}.m4s"));
//! assert!(text.contains(
//!     "#EXT-X-MAP:URI=\"init/0.mp4\"\n\
//!      #EXT-X-PROGRAM-DATE-TIME:2023-11-14T22:13:20.000Z\n#EXTINF:1.000,\nseg/0.m4s\n"
//! ));
//! ```

use std::collections::VecDeque;
use std::fmt::Write as _;

use bytes::{Bytes, BytesMut};

use crate::Body;

/// One fragment as the recorder wrote it: its `moof`, `mdat` header and sample data.
#[derive(Clone, Debug)]
pub struct LiveFragment {
    /// The bytes, in file order (they are concatenated when served).
    pub data: Vec<Bytes>,
    /// Its duration (its video track's, or its longest track's).
    pub duration_ns: u64,
}

/// Why an init could not be taken.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum LiveError {
    /// The bytes are not top-level boxes ending with a `moov`.
    #[error("not an fMP4 init: {0}")]
    NotInit(&'static str),
}

#[derive(Clone, Debug)]
struct Segment {
    sequence: u64,
    init: u64,
    init_bytes: Bytes,
    wall_start_ns: i64,
    fragment: LiveFragment,
    discontinuity: bool,
}

/// The latest init and the last fragments of one recording, for a live HLS playlist.
#[derive(Debug)]
pub struct Live {
    capacity: usize,
    /// (index, ftyp + moov) of the current init.
    init: Option<(u64, Bytes)>,
    /// Wall-clock start of the next fragment of the current file.
    next_wall_ns: i64,
    next_init: u64,
    next_sequence: u64,
    /// Set when the next fragment begins a new init (a new file).
    pending_discontinuity: bool,
    discontinuity_sequence: u64,
    segments: VecDeque<Segment>,
    watched_until_ns: i64,
}

impl Live {
    /// Keeps at most `capacity` fragments (at least 3).
    pub fn new(capacity: usize) -> Self {
        Self {
            capacity: capacity.max(3),
            init: None,
            next_wall_ns: 0,
            next_init: 0,
            next_sequence: 0,
            pending_discontinuity: false,
            discontinuity_sequence: 0,
            segments: VecDeque::new(),
            watched_until_ns: i64::MIN,
        }
    }

    /// A new file begins: `init` is what the recorder wrote first (`ftyp`, optional
    /// `free` boxes, `moov`); `wall_start_ns` the wall-clock start of its first fragment
    /// (Unix nanoseconds). The next fragment is marked as a discontinuity.
    pub fn open(&mut self, init: &[u8], wall_start_ns: i64) -> Result<(), LiveError> {
        let kept = strip_free(init)?;
        let index = self.next_init;
        self.next_init += 1;
        self.init = Some((index, kept));
        self.next_wall_ns = wall_start_ns;
        self.pending_discontinuity = self.next_sequence > 0;
        Ok(())
    }

    /// Someone asked for the live edge at `now_ns`: fragments are kept until
    /// `now_ns + for_ns`.
    pub fn watch(&mut self, now_ns: i64, for_ns: i64) {
        self.watched_until_ns = self.watched_until_ns.max(now_ns.saturating_add(for_ns));
    }

    /// Whether fragments are being kept at `now_ns`.
    pub fn is_watched(&self, now_ns: i64) -> bool {
        now_ns <= self.watched_until_ns
    }

    /// A fragment of the current file was written at `now_ns`. Kept only while watched
    /// (its sequence number is used either way, so a player never sees a number twice).
    pub fn push(&mut self, fragment: LiveFragment, now_ns: i64) {
        let wall_start_ns = self.next_wall_ns;
        self.next_wall_ns = self
            .next_wall_ns
            .saturating_add(i64::try_from(fragment.duration_ns).unwrap_or(i64::MAX));
        let sequence = self.next_sequence;
        self.next_sequence += 1;
        let discontinuity = std::mem::take(&mut self.pending_discontinuity);
        let Some((init, init_bytes)) = self.init.clone() else {
            return;
        };
        if !self.is_watched(now_ns) {
            self.segments.clear();
            return;
        }
        self.segments.push_back(Segment {
            sequence,
            init,
            init_bytes,
            wall_start_ns,
            fragment,
            discontinuity,
        });
        while self.segments.len() > self.capacity {
            // EXT-X-DISCONTINUITY-SEQUENCE counts the discontinuities that left the
            // playlist (RFC 8216, 4.3.3.3).
            if self.segments.pop_front().is_some_and(|s| s.discontinuity) {
                self.discontinuity_sequence += 1;
            }
        }
    }

    /// The file ended; nothing more comes until the next [`open`](Self::open).
    pub fn close(&mut self) {
        self.init = None;
    }

    /// The init (`ftyp` + `moov`) number `index`, while the current file or a kept
    /// segment uses it.
    pub fn init(&self, index: u64) -> Option<Bytes> {
        if let Some((i, bytes)) = &self.init
            && *i == index
        {
            return Some(bytes.clone());
        }
        self.segments
            .iter()
            .find(|s| s.init == index)
            .map(|s| s.init_bytes.clone())
    }

    /// The media segment with sequence number `sequence`, while it is kept.
    pub fn segment(&self, sequence: u64) -> Option<Body> {
        let s = self.segments.iter().find(|s| s.sequence == sequence)?;
        let mut body = Body::new();
        for b in &s.fragment.data {
            body.push_bytes(b.clone());
        }
        Some(body)
    }

    /// Number of fragments kept.
    pub fn len(&self) -> usize {
        self.segments.len()
    }

    /// Whether no fragment is kept.
    pub fn is_empty(&self) -> bool {
        self.segments.is_empty()
    }

    /// The live media playlist (no `EXT-X-ENDLIST`): version 7, the media and
    /// discontinuity sequence numbers, and per segment its `EXT-X-MAP` when the init
    /// changes, `EXT-X-DISCONTINUITY`, `EXT-X-PROGRAM-DATE-TIME` and `EXTINF`.
    pub fn playlist(
        &self,
        init_uri: impl Fn(u64) -> String,
        segment_uri: impl Fn(u64) -> String,
    ) -> String {
        let target = self
            .segments
            .iter()
            .map(|s| s.fragment.duration_ns.div_ceil(1_000_000_000))
            .max()
            .unwrap_or(1)
            .max(1);
        let mut out = String::new();
        let first = self
            .segments
            .front()
            .map_or(self.next_sequence, |s| s.sequence);
        let _ = write!(
            out,
            "#EXTM3U\n#EXT-X-VERSION:7\n#EXT-X-TARGETDURATION:{target}\n\
             #EXT-X-MEDIA-SEQUENCE:{first}\n#EXT-X-DISCONTINUITY-SEQUENCE:{}\n\
             #EXT-X-INDEPENDENT-SEGMENTS\n",
            self.discontinuity_sequence
        );
        let mut map = None;
        for s in &self.segments {
            if s.discontinuity {
                out.push_str("#EXT-X-DISCONTINUITY\n");
            }
            if map != Some(s.init) {
                let _ = writeln!(out, "#EXT-X-MAP:URI=\"{}\"", init_uri(s.init));
                map = Some(s.init);
            }
            let _ = write!(
                out,
                "#EXT-X-PROGRAM-DATE-TIME:{}\n#EXTINF:{}.{:03},\n{}\n",
                rfc3339_millis(s.wall_start_ns),
                s.fragment.duration_ns / 1_000_000_000,
                s.fragment.duration_ns % 1_000_000_000 / 1_000_000,
                segment_uri(s.sequence)
            );
        }
        out
    }
}

/// `ftyp` and `moov` of an init, without `free`/`skip` boxes.
fn strip_free(init: &[u8]) -> Result<Bytes, LiveError> {
    let mut out = BytesMut::new();
    let mut at = 0usize;
    let mut moov = false;
    while at < init.len() {
        let rest = &init[at..];
        if rest.len() < 8 {
            return Err(LiveError::NotInit("a truncated box header"));
        }
        let size32 = u32::from_be_bytes([rest[0], rest[1], rest[2], rest[3]]) as u64;
        let size = match size32 {
            1 if rest.len() >= 16 => u64::from_be_bytes(rest[8..16].try_into().unwrap_or([0; 8])),
            0 => rest.len() as u64,
            s => s,
        };
        if size < 8 || size > rest.len() as u64 {
            return Err(LiveError::NotInit("a box size past the end"));
        }
        let fourcc = &rest[4..8];
        if fourcc != b"free" && fourcc != b"skip" {
            out.extend_from_slice(&rest[..size as usize]);
        }
        moov |= fourcc == b"moov";
        at += size as usize;
    }
    if !moov {
        return Err(LiveError::NotInit("no moov"));
    }
    Ok(out.freeze())
}

/// `YYYY-MM-DDTHH:MM:SS.mmmZ` for Unix nanoseconds (proleptic Gregorian, UTC).
fn rfc3339_millis(ns: i64) -> String {
    let ms = ns.div_euclid(1_000_000);
    let secs = ms.div_euclid(1000);
    let (days, sod) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{:03}Z",
        sod / 3600,
        sod % 3600 / 60,
        sod % 60,
        ms.rem_euclid(1000)
    )
}

#[cfg(test)]
mod tests;
