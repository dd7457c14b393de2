//! A small, independent ISO BMFF parser that prints a box tree as text.
//!
//! It shares no code with the encoders in this crate, so a dump of their output is a check
//! on them. One line per box: indentation for depth, the fourcc, `size=`, then the box's key
//! fields; long tables are elided to their first few entries plus a count. Unknown boxes are
//! printed with their fourcc and size only. Truncated input, impossible sizes and garbage box
//! types are errors.
//!
//! The lower layer, [`boxes`] / [`RawBox`], walks box headers without interpreting payloads
//! and is public for callers (tests, `recorder inspect`) that want to read tables themselves.
//!
//! ```
//! let buf = [
//!     0, 0, 0, 16, b'f', b't', b'y', b'p', b'i', b's', b'o', b'm', 0, 0, 2, 0, // ftyp
//!     0, 0, 0, 8, b'f', b'r', b'e', b'e', // free
//! ];
//! assert_eq!(
//!     bmff_boxes::dump::dump(&buf).unwrap(),
//!     "ftyp size=16 major=isom minor=512 compatible=[]\nfree size=8\n"
//! );
//! assert!(bmff_boxes::dump::dump(&buf[..20]).is_err());
//! ```

use std::fmt::Write as _;

/// How to render a dump.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DumpOptions {
    /// Table entries shown before eliding the rest (`... +N more`).
    pub max_entries: usize,
    /// Prefix each line with the box's absolute offset (`@1234 `).
    pub show_offsets: bool,
}

impl Default for DumpOptions {
    fn default() -> Self {
        Self {
            max_entries: 3,
            show_offsets: false,
        }
    }
}

/// Why a buffer could not be dumped.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DumpError {
    /// The buffer ends inside a box or a box header.
    #[error("truncated at offset {offset}: {what} needs {needed} bytes, {available} available")]
    Truncated {
        /// Absolute offset of the box (or header) that does not fit.
        offset: u64,
        /// What was being read.
        what: String,
        /// Bytes it needs.
        needed: u64,
        /// Bytes left in the buffer or parent box.
        available: u64,
    },
    /// A box declares a size smaller than its own header.
    #[error("bad box size {size} at offset {offset}")]
    BadSize {
        /// Absolute offset of the box.
        offset: u64,
        /// The declared size.
        size: u64,
    },
    /// A box type that is not four printable characters: not a box boundary.
    #[error("garbage at offset {offset}: box type {fourcc}")]
    Garbage {
        /// Absolute offset of the would-be box.
        offset: u64,
        /// The type bytes, escaped.
        fourcc: String,
    },
    /// A known box whose payload does not match its syntax.
    #[error("malformed {fourcc} at offset {offset}: {what}")]
    Malformed {
        /// Absolute offset of the box.
        offset: u64,
        /// The box type.
        fourcc: String,
        /// What is wrong.
        what: String,
    },
}

/// One box as found in a buffer: its header decoded, its payload untouched.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RawBox<'a> {
    /// Absolute offset of the box's first byte.
    pub offset: u64,
    /// The box type.
    pub fourcc: [u8; 4],
    /// Header length: 8, or 16 with a 64-bit `largesize`.
    pub header_len: u64,
    /// The bytes after the header.
    pub payload: &'a [u8],
}

impl<'a> RawBox<'a> {
    /// Whole box length, header included.
    pub fn size(&self) -> u64 {
        self.header_len + self.payload.len() as u64
    }

    /// The fourcc as text, with non-printable bytes escaped.
    pub fn fourcc_str(&self) -> String {
        fourcc_str(&self.fourcc)
    }

    /// Boxes nested directly in the payload (for container boxes).
    pub fn children(&self) -> Boxes<'a> {
        boxes_at(self.payload, self.offset + self.header_len)
    }

    /// Boxes nested in the payload after `skip` bytes of fields (e.g. 8 for `stsd`).
    pub fn children_after(&self, skip: usize) -> Boxes<'a> {
        let skip = skip.min(self.payload.len());
        boxes_at(
            &self.payload[skip..],
            self.offset + self.header_len + skip as u64,
        )
    }
}

/// Iterator over consecutive boxes in a buffer; stops after the first error.
#[derive(Clone, Debug)]
pub struct Boxes<'a> {
    buf: &'a [u8],
    pos: usize,
    base_offset: u64,
    failed: bool,
}

/// Walks the boxes of `buf`, whose first byte is at absolute offset 0.
pub fn boxes(buf: &[u8]) -> Boxes<'_> {
    boxes_at(buf, 0)
}

/// Walks the boxes of `buf`, whose first byte is at absolute offset `base_offset`.
pub fn boxes_at(buf: &[u8], base_offset: u64) -> Boxes<'_> {
    Boxes {
        buf,
        pos: 0,
        base_offset,
        failed: false,
    }
}

fn fourcc_str(fourcc: &[u8; 4]) -> String {
    let mut s = String::new();
    for &b in fourcc {
        if (0x20..0x7f).contains(&b) {
            s.push(char::from(b));
        } else {
            let _ = write!(s, "\\x{b:02x}");
        }
    }
    s
}

impl<'a> Boxes<'a> {
    fn next_box(&mut self) -> Result<RawBox<'a>, DumpError> {
        let rest = &self.buf[self.pos..];
        let offset = self.base_offset + self.pos as u64;
        let available = rest.len() as u64;
        if rest.len() < 8 {
            return Err(DumpError::Truncated {
                offset,
                what: "box header".into(),
                needed: 8,
                available,
            });
        }
        let size32 = u32::from_be_bytes([rest[0], rest[1], rest[2], rest[3]]);
        let fourcc = [rest[4], rest[5], rest[6], rest[7]];
        // 0xa9 ('©') starts QuickTime metadata atom names.
        if !fourcc
            .iter()
            .all(|&b| (0x20..0x7f).contains(&b) || b == 0xa9)
        {
            return Err(DumpError::Garbage {
                offset,
                fourcc: fourcc_str(&fourcc),
            });
        }
        let (size, header_len) = match size32 {
            0 => (available, 8), // extends to the end of the enclosing buffer
            1 => {
                if rest.len() < 16 {
                    return Err(DumpError::Truncated {
                        offset,
                        what: format!("{} largesize header", fourcc_str(&fourcc)),
                        needed: 16,
                        available,
                    });
                }
                let mut l = [0; 8];
                l.copy_from_slice(&rest[8..16]);
                (u64::from_be_bytes(l), 16)
            }
            n => (u64::from(n), 8),
        };
        if size < header_len {
            return Err(DumpError::BadSize { offset, size });
        }
        if size > available {
            return Err(DumpError::Truncated {
                offset,
                what: fourcc_str(&fourcc),
                needed: size,
                available,
            });
        }
        let payload = &rest[header_len as usize..size as usize];
        self.pos += size as usize;
        Ok(RawBox {
            offset,
            fourcc,
            header_len,
            payload,
        })
    }
}

impl<'a> Iterator for Boxes<'a> {
    type Item = Result<RawBox<'a>, DumpError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed || self.pos >= self.buf.len() {
            return None;
        }
        let r = self.next_box();
        self.failed = r.is_err();
        Some(r)
    }
}

/// Dumps `buf` with the default [`DumpOptions`].
pub fn dump(buf: &[u8]) -> Result<String, DumpError> {
    dump_with(buf, DumpOptions::default())
}

/// Dumps `buf` as a box tree, one line per box.
pub fn dump_with(buf: &[u8], options: DumpOptions) -> Result<String, DumpError> {
    let mut out = String::new();
    walk(boxes(buf), 0, options, &mut out)?;
    Ok(out)
}

fn walk(
    iter: Boxes<'_>,
    depth: usize,
    opts: DumpOptions,
    out: &mut String,
) -> Result<(), DumpError> {
    for b in iter {
        let b = b?;
        if opts.show_offsets {
            let _ = write!(out, "@{} ", b.offset);
        }
        let _ = write!(
            out,
            "{:indent$}{} size={}",
            "",
            b.fourcc_str(),
            b.size(),
            indent = 2 * depth
        );
        let (fields, children) = describe(&b, opts)?;
        if !fields.is_empty() {
            out.push(' ');
            out.push_str(&fields);
        }
        out.push('\n');
        if let Some(children) = children {
            walk(children, depth + 1, opts, out)?;
        }
    }
    Ok(())
}

/// A cursor over a box payload; running out of payload is a [`DumpError::Malformed`].
struct Rd<'a> {
    b: &'a RawBox<'a>,
    pos: usize,
}

impl<'a> Rd<'a> {
    fn new(b: &'a RawBox<'a>) -> Self {
        Self { b, pos: 0 }
    }

    fn err(&self, what: String) -> DumpError {
        DumpError::Malformed {
            offset: self.b.offset,
            fourcc: self.b.fourcc_str(),
            what,
        }
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], DumpError> {
        let p = self.b.payload;
        if p.len() - self.pos < n {
            return Err(self.err(format!(
                "payload ends at {} bytes, field at {} needs {n}",
                p.len(),
                self.pos
            )));
        }
        let s = &p[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }

    fn arr<const N: usize>(&mut self) -> Result<[u8; N], DumpError> {
        let mut a = [0; N];
        a.copy_from_slice(self.take(N)?);
        Ok(a)
    }

    fn u8(&mut self) -> Result<u8, DumpError> {
        Ok(self.arr::<1>()?[0])
    }
    fn u16(&mut self) -> Result<u16, DumpError> {
        Ok(u16::from_be_bytes(self.arr()?))
    }
    fn i16(&mut self) -> Result<i16, DumpError> {
        Ok(i16::from_be_bytes(self.arr()?))
    }
    fn u32(&mut self) -> Result<u32, DumpError> {
        Ok(u32::from_be_bytes(self.arr()?))
    }
    fn i32(&mut self) -> Result<i32, DumpError> {
        Ok(i32::from_be_bytes(self.arr()?))
    }
    fn u64(&mut self) -> Result<u64, DumpError> {
        Ok(u64::from_be_bytes(self.arr()?))
    }
    fn i64(&mut self) -> Result<i64, DumpError> {
        Ok(i64::from_be_bytes(self.arr()?))
    }
    /// A u32 in version 0, a u64 in version 1.
    fn uv(&mut self, version: u8) -> Result<u64, DumpError> {
        if version == 1 {
            self.u64()
        } else {
            self.u32().map(u64::from)
        }
    }
    fn skip(&mut self, n: usize) -> Result<(), DumpError> {
        self.take(n).map(|_| ())
    }
    /// Version and flags of a full box.
    fn full(&mut self) -> Result<(u8, u32), DumpError> {
        let v = self.u32()?;
        Ok(((v >> 24) as u8, v & 0xff_ffff))
    }
    /// Checks that `count` entries of `entry_len` bytes fit in the rest of the payload.
    fn table(&self, count: u32, entry_len: usize) -> Result<(), DumpError> {
        let left = (self.b.payload.len() - self.pos) as u64;
        if u64::from(count) * entry_len as u64 > left {
            return Err(self.err(format!(
                "{count} entries of {entry_len} bytes exceed the payload"
            )));
        }
        Ok(())
    }
}

/// Renders the first `opts.max_entries` of `count` entries, read by `each`.
fn list(
    rd: &mut Rd<'_>,
    count: u32,
    entry_len: usize,
    opts: DumpOptions,
    mut each: impl FnMut(&mut Rd<'_>) -> Result<String, DumpError>,
) -> Result<String, DumpError> {
    rd.table(count, entry_len)?;
    let shown = (count as usize).min(opts.max_entries);
    let mut s = String::from("[");
    for i in 0..shown {
        if i > 0 {
            s.push_str(", ");
        }
        s.push_str(&each(rd)?);
    }
    if count as usize > shown {
        if shown > 0 {
            s.push_str(", ");
        }
        let _ = write!(s, "... +{} more", count as usize - shown);
    }
    s.push(']');
    Ok(s)
}

/// 16.16 or 8.8 fixed point as a short decimal.
fn fixed(v: i64, frac_bits: u32) -> String {
    let f = v as f64 / f64::from(1u32 << frac_bits);
    format!("{f}")
}

const VISUAL_ENTRIES: &[&[u8; 4]] = &[
    b"avc1", b"avc3", b"hvc1", b"hev1", b"mp4v", b"jpeg", b"mjpg", b"vp08", b"vp09", b"av01",
    b"encv", b"s263",
];
const AUDIO_ENTRIES: &[&[u8; 4]] = &[
    b"mp4a", b"Opus", b"ulaw", b"alaw", b"fLaC", b"ac-3", b"ec-3", b"enca", b"sowt", b"twos",
    b"lpcm",
];
const CONTAINERS: &[&[u8; 4]] = &[
    b"moov", b"trak", b"edts", b"mdia", b"minf", b"dinf", b"stbl", b"mvex", b"moof", b"traf",
    b"udta", b"mfra",
];

type Described<'a> = (String, Option<Boxes<'a>>);

fn describe<'a>(b: &RawBox<'a>, opts: DumpOptions) -> Result<Described<'a>, DumpError> {
    let mut s = String::new();
    let mut rd = Rd::new(b);
    let rd = &mut rd;
    let fourcc = &b.fourcc;
    if CONTAINERS.contains(&fourcc) {
        return Ok((s, Some(b.children())));
    }
    if VISUAL_ENTRIES.contains(&fourcc) {
        rd.skip(6)?; // reserved
        let dri = rd.u16()?;
        rd.skip(16)?; // pre_defined, reserved, pre_defined[3]
        let (w, h) = (rd.u16()?, rd.u16()?);
        rd.skip(46)?; // resolutions 8, reserved 4, frame_count 2, compressorname 32
        let depth = rd.u16()?;
        rd.skip(2)?; // pre_defined
        let _ = write!(
            s,
            "data_reference_index={dri} width={w} height={h} depth={depth}"
        );
        return Ok((s, Some(b.children_after(rd.pos))));
    }
    if AUDIO_ENTRIES.contains(&fourcc) {
        rd.skip(6)?; // reserved
        let dri = rd.u16()?;
        rd.skip(8)?; // reserved
        let (channels, sample_size) = (rd.u16()?, rd.u16()?);
        rd.skip(4)?; // pre_defined, reserved
        let rate = rd.u32()?;
        let _ = write!(
            s,
            "data_reference_index={dri} channels={channels} sample_size={sample_size} sample_rate={}",
            fixed(i64::from(rate), 16)
        );
        return Ok((s, Some(b.children_after(rd.pos))));
    }
    match fourcc {
        b"ftyp" => {
            let major = rd.arr::<4>()?;
            let minor = rd.u32()?;
            let mut compat = Vec::new();
            while rd.pos + 4 <= b.payload.len() {
                compat.push(fourcc_str(&rd.arr()?));
            }
            let _ = write!(
                s,
                "major={} minor={minor} compatible=[{}]",
                fourcc_str(&major),
                compat.join(",")
            );
        }
        b"mvhd" => {
            let (v, _) = rd.full()?;
            let (_ctime, _mtime) = (rd.uv(v)?, rd.uv(v)?);
            let timescale = rd.u32()?;
            let duration = rd.uv(v)?;
            rd.skip(4 + 2 + 10 + 36 + 24)?;
            let next = rd.u32()?;
            let _ = write!(
                s,
                "v{v} timescale={timescale} duration={duration} next_track_id={next}"
            );
        }
        b"tkhd" => {
            let (v, flags) = rd.full()?;
            let (_ctime, _mtime) = (rd.uv(v)?, rd.uv(v)?);
            let track_id = rd.u32()?;
            rd.skip(4)?;
            let duration = rd.uv(v)?;
            rd.skip(8)?;
            let (layer, group, volume) = (rd.i16()?, rd.i16()?, rd.i16()?);
            rd.skip(2 + 36)?;
            let (w, h) = (rd.u32()?, rd.u32()?);
            let _ = write!(
                s,
                "v{v} flags={flags:#x} track_id={track_id} duration={duration} layer={layer} \
                 alternate_group={group} volume={} width={} height={}",
                fixed(i64::from(volume), 8),
                fixed(i64::from(w), 16),
                fixed(i64::from(h), 16)
            );
        }
        b"elst" => {
            let (v, _) = rd.full()?;
            let n = rd.u32()?;
            let entry_len = if v == 1 { 20 } else { 12 };
            let l = list(rd, n, entry_len, opts, |rd| {
                let dur = rd.uv(v)?;
                let time = if v == 1 {
                    rd.i64()?
                } else {
                    i64::from(rd.i32()?)
                };
                let (ri, rf) = (rd.i16()?, rd.i16()?);
                Ok(if time == -1 {
                    format!("empty dur={dur}")
                } else {
                    format!(
                        "dur={dur} media_time={time} rate={}",
                        fixed(i64::from(ri) << 16 | i64::from(rf as u16), 16)
                    )
                })
            })?;
            let _ = write!(s, "v{v} entries={n} {l}");
        }
        b"mdhd" => {
            let (v, _) = rd.full()?;
            let (_ctime, _mtime) = (rd.uv(v)?, rd.uv(v)?);
            let timescale = rd.u32()?;
            let duration = rd.uv(v)?;
            let lang = rd.u16()?;
            let letters: String = [10u32, 5, 0]
                .iter()
                .map(|sh| char::from(((lang >> sh) & 0x1f) as u8 + 0x60))
                .collect();
            let _ = write!(
                s,
                "v{v} timescale={timescale} duration={duration} language={letters}"
            );
        }
        b"hdlr" => {
            rd.full()?;
            rd.skip(4)?;
            let handler = rd.arr::<4>()?;
            rd.skip(12)?;
            let name = &b.payload[rd.pos..];
            let name = name.split(|&c| c == 0).next().unwrap_or_default();
            let _ = write!(
                s,
                "handler={} name={:?}",
                fourcc_str(&handler),
                String::from_utf8_lossy(name)
            );
        }
        b"vmhd" => {
            let (_, flags) = rd.full()?;
            let mode = rd.u16()?;
            let _ = write!(s, "flags={flags:#x} graphicsmode={mode}");
        }
        b"smhd" => {
            rd.full()?;
            let balance = rd.i16()?;
            let _ = write!(s, "balance={}", fixed(i64::from(balance), 8));
        }
        b"dref" | b"stsd" => {
            rd.full()?;
            let n = rd.u32()?;
            let _ = write!(s, "entries={n}");
            return Ok((s, Some(b.children_after(rd.pos))));
        }
        b"url " => {
            let (_, flags) = rd.full()?;
            let _ = write!(s, "flags={flags:#x}");
            if flags & 1 == 0 {
                let loc = &b.payload[rd.pos..];
                let loc = loc.split(|&c| c == 0).next().unwrap_or_default();
                let _ = write!(s, " location={:?}", String::from_utf8_lossy(loc));
            }
        }
        b"avcC" => {
            let _version = rd.u8()?;
            let (profile, compat, level) = (rd.u8()?, rd.u8()?, rd.u8()?);
            let _ = write!(
                s,
                "profile={profile} compatibility={compat:#04x} level={level}"
            );
        }
        b"esds" => {
            rd.full()?;
            if let Some(oti) = esds_object_type(&b.payload[rd.pos..]) {
                let _ = write!(s, "object_type_indication={oti:#04x}");
            }
        }
        b"stts" => {
            rd.full()?;
            let n = rd.u32()?;
            let l = list(rd, n, 8, opts, |rd| {
                Ok(format!("{}x{}", rd.u32()?, rd.u32()?))
            })?;
            let _ = write!(s, "entries={n} {l}");
        }
        b"ctts" => {
            let (v, _) = rd.full()?;
            let n = rd.u32()?;
            let l = list(rd, n, 8, opts, |rd| {
                let count = rd.u32()?;
                let off = if v == 1 {
                    i64::from(rd.i32()?)
                } else {
                    i64::from(rd.u32()?)
                };
                Ok(format!("{count}x{off}"))
            })?;
            let _ = write!(s, "v{v} entries={n} {l}");
        }
        b"stss" | b"stco" => {
            rd.full()?;
            let n = rd.u32()?;
            let l = list(rd, n, 4, opts, |rd| Ok(rd.u32()?.to_string()))?;
            let _ = write!(s, "entries={n} {l}");
        }
        b"co64" => {
            rd.full()?;
            let n = rd.u32()?;
            let l = list(rd, n, 8, opts, |rd| Ok(rd.u64()?.to_string()))?;
            let _ = write!(s, "entries={n} {l}");
        }
        b"stsc" => {
            rd.full()?;
            let n = rd.u32()?;
            let l = list(rd, n, 12, opts, |rd| {
                let (first, per, sdi) = (rd.u32()?, rd.u32()?, rd.u32()?);
                Ok(format!("first_chunk={first} n={per} sdi={sdi}"))
            })?;
            let _ = write!(s, "entries={n} {l}");
        }
        b"stsz" => {
            rd.full()?;
            let (size, count) = (rd.u32()?, rd.u32()?);
            let _ = write!(s, "sample_size={size} count={count}");
            if size == 0 {
                let l = list(rd, count, 4, opts, |rd| Ok(rd.u32()?.to_string()))?;
                let _ = write!(s, " {l}");
            }
        }
        b"sgpd" => {
            let (v, _) = rd.full()?;
            let grouping = rd.arr::<4>()?;
            let default_length = if v == 1 { rd.u32()? } else { 0 };
            if v >= 2 {
                rd.u32()?; // default_sample_description_index
            }
            let n = rd.u32()?;
            let _ = write!(
                s,
                "v{v} grouping_type={} default_length={default_length} entries={n}",
                fourcc_str(&grouping)
            );
        }
        b"sbgp" => {
            let (v, _) = rd.full()?;
            let grouping = rd.arr::<4>()?;
            if v == 1 {
                rd.u32()?; // grouping_type_parameter
            }
            let n = rd.u32()?;
            let l = list(rd, n, 8, opts, |rd| {
                Ok(format!("{}x{}", rd.u32()?, rd.u32()?))
            })?;
            let _ = write!(s, "grouping_type={} entries={n} {l}", fourcc_str(&grouping));
        }
        b"trex" => {
            rd.full()?;
            let (id, sdi, dur, size, flags) =
                (rd.u32()?, rd.u32()?, rd.u32()?, rd.u32()?, rd.u32()?);
            let _ = write!(
                s,
                "track_id={id} sdi={sdi} default_duration={dur} default_size={size} \
                 default_flags={flags:#x}"
            );
        }
        b"mfhd" => {
            rd.full()?;
            let _ = write!(s, "sequence_number={}", rd.u32()?);
        }
        b"tfhd" => {
            let (_, flags) = rd.full()?;
            let _ = write!(s, "flags={flags:#x} track_id={}", rd.u32()?);
            if flags & 0x1 != 0 {
                let _ = write!(s, " base_data_offset={}", rd.u64()?);
            }
            for (bit, name) in [
                (0x2, "sdi"),
                (0x8, "default_duration"),
                (0x10, "default_size"),
            ] {
                if flags & bit != 0 {
                    let _ = write!(s, " {name}={}", rd.u32()?);
                }
            }
            if flags & 0x20 != 0 {
                let _ = write!(s, " default_flags={:#x}", rd.u32()?);
            }
        }
        b"tfdt" => {
            let (v, _) = rd.full()?;
            let _ = write!(s, "v{v} base_media_decode_time={}", rd.uv(v)?);
        }
        b"trun" => {
            let (v, flags) = rd.full()?;
            let n = rd.u32()?;
            let _ = write!(s, "v{v} flags={flags:#x} samples={n}");
            if flags & 0x1 != 0 {
                let _ = write!(s, " data_offset={}", rd.i32()?);
            }
            if flags & 0x4 != 0 {
                let _ = write!(s, " first_sample_flags={:#x}", rd.u32()?);
            }
            let fields = [(0x100, "d"), (0x200, "s"), (0x400, "f"), (0x800, "c")];
            let present: Vec<_> = fields.iter().filter(|(bit, _)| flags & bit != 0).collect();
            if !present.is_empty() {
                let l = list(rd, n, 4 * present.len(), opts, |rd| {
                    let mut parts = Vec::new();
                    for (bit, name) in &present {
                        let v = match (*bit, v) {
                            (0x800, 1) => i64::from(rd.i32()?),
                            _ => i64::from(rd.u32()?),
                        };
                        if *bit == 0x400 {
                            parts.push(format!("{name}={v:#x}"));
                        } else {
                            parts.push(format!("{name}={v}"));
                        }
                    }
                    Ok(parts.join(" "))
                })?;
                let _ = write!(s, " {l}");
            }
        }
        _ => {}
    }
    Ok((s, None))
}

/// Finds `objectTypeIndication` in an `esds` payload (after version/flags): ES_Descriptor
/// (tag 3) holding a DecoderConfigDescriptor (tag 4), ISO/IEC 14496-1 §7.2.6. Lenient:
/// anything unexpected yields `None`.
fn esds_object_type(p: &[u8]) -> Option<u8> {
    fn descriptor(p: &[u8]) -> Option<(u8, &[u8])> {
        let tag = *p.first()?;
        let mut len = 0usize;
        let mut i = 1;
        loop {
            let b = *p.get(i)?;
            len = len << 7 | usize::from(b & 0x7f);
            i += 1;
            if b & 0x80 == 0 || i > 4 {
                break;
            }
        }
        Some((tag, p.get(i..i + len)?))
    }
    let (tag, es) = descriptor(p)?;
    if tag != 3 {
        return None;
    }
    let flags = *es.get(2)?;
    let mut i = 3;
    if flags & 0x80 != 0 {
        i += 2; // dependsOn_ES_ID
    }
    if flags & 0x40 != 0 {
        i += 1 + usize::from(*es.get(i)?); // URL
    }
    if flags & 0x20 != 0 {
        i += 2; // OCR_ES_Id
    }
    let (tag, dc) = descriptor(es.get(i..)?)?;
    if tag != 4 {
        return None;
    }
    dc.first().copied()
}
