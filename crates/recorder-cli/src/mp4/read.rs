//! A small reader of MP4 metadata into plain structs, shared by `inspect`, `verify` and
//! `repair`.
//!
//! It reads the top-level box headers with positioned reads and only the payloads of
//! `moov` and `moof` boxes (never media data), then parses them with
//! [`bmff_boxes::dump`]'s [`RawBox`] walker. It checks syntax only (a field past the end of
//! its box, an impossible size); the consistency of the tables is `check`'s job.

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::Path;

use anyhow::{Context, bail};
use bmff_boxes::dump::{RawBox, boxes_at};

/// Largest `moov`/`moof` read into memory.
pub const MAX_METADATA_BYTES: u64 = 256 << 20;

/// `sample_is_non_sync_sample` in ISO/IEC 14496-12 §8.8.3.1 sample flags.
pub const NON_SYNC_BIT: u32 = 0x1_0000;

/// A top-level box: its header only.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TopBox {
    /// Absolute offset.
    pub offset: u64,
    /// Type.
    pub fourcc: [u8; 4],
    /// 8, or 16 with a `largesize`.
    pub header_len: u64,
    /// Whole length, header included.
    pub size: u64,
    /// Declared with size 0: runs to the end of the file.
    pub to_end: bool,
}

impl TopBox {
    /// Offset just past the box.
    pub fn end(&self) -> u64 {
        self.offset + self.size
    }
    /// Offset of the payload.
    pub fn payload_start(&self) -> u64 {
        self.offset + self.header_len
    }
    /// The type as text.
    pub fn name(&self) -> String {
        fourcc_str(&self.fourcc)
    }
}

/// The fourcc as text, non-printable bytes escaped.
pub fn fourcc_str(f: &[u8; 4]) -> String {
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

/// An open MP4 file and its top-level boxes.
#[derive(Debug)]
pub struct Mp4File {
    file: File,
    /// The file's length.
    pub len: u64,
    /// The top-level boxes, in order: they tile the file exactly unless `tail_problem`.
    pub boxes: Vec<TopBox>,
    /// Why the top-level walk stopped before the end of the file (a torn box, garbage).
    pub tail_problem: Option<String>,
}

impl Mp4File {
    /// Opens `path` and reads its top-level box headers; fails unless they tile the file
    /// exactly (a box of size 0 runs to the end).
    pub fn open(path: &Path) -> anyhow::Result<Self> {
        let f = Self::open_lenient(path)?;
        if let Some(problem) = &f.tail_problem {
            bail!("{problem}");
        }
        Ok(f)
    }

    /// Like [`open`](Self::open), but keeps the boxes before a broken one (a file cut by
    /// a crash) and records the problem in `tail_problem`.
    pub fn open_lenient(path: &Path) -> anyhow::Result<Self> {
        let file = File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
        let len = file
            .metadata()
            .with_context(|| format!("cannot stat {}", path.display()))?
            .len();
        let mut boxes = Vec::new();
        let tail_problem = top_level(&file, len, &mut boxes)?;
        Ok(Self {
            file,
            len,
            boxes,
            tail_problem,
        })
    }

    /// Reads a whole box (header and payload).
    pub fn read_box(&self, b: &TopBox) -> anyhow::Result<Vec<u8>> {
        if b.size > MAX_METADATA_BYTES {
            bail!(
                "{} at offset {} is too large to read: {} bytes",
                b.name(),
                b.offset,
                b.size
            );
        }
        let mut buf = vec![0; b.size as usize];
        self.file
            .read_exact_at(&mut buf, b.offset)
            .with_context(|| format!("cannot read {} at offset {}", b.name(), b.offset))?;
        Ok(buf)
    }

    /// The boxes of type `fourcc`.
    pub fn find<'a>(&'a self, fourcc: &'a [u8; 4]) -> impl Iterator<Item = &'a TopBox> + 'a {
        self.boxes.iter().filter(move |b| &b.fourcc == fourcc)
    }

    /// Parses a top-level `moov`.
    pub fn movie(&self, b: &TopBox) -> anyhow::Result<Movie> {
        let buf = self.read_box(b)?;
        let raw = whole(&buf, b)?;
        parse_moov(&raw)
    }

    /// Parses a top-level `moof`.
    pub fn fragment(&self, b: &TopBox) -> anyhow::Result<Fragment> {
        let buf = self.read_box(b)?;
        let raw = whole(&buf, b)?;
        parse_moof(&raw)
    }
}

/// The box in `buf`, which holds exactly `b`.
fn whole<'a>(buf: &'a [u8], b: &TopBox) -> anyhow::Result<RawBox<'a>> {
    if b.to_end {
        // Size 0: RawBox reports the real size, as the buffer holds just this box.
        return Ok(RawBox {
            offset: b.offset,
            fourcc: b.fourcc,
            header_len: b.header_len,
            payload: &buf[b.header_len as usize..],
        });
    }
    match boxes_at(buf, b.offset).next() {
        Some(Ok(raw)) => Ok(raw),
        Some(Err(e)) => Err(e.into()),
        None => bail!("empty {} at offset {}", b.name(), b.offset),
    }
}

/// Reads the top-level headers of a file of `len` bytes into `out`; returns why the walk
/// stopped early, if it did. Only I/O errors are errors.
fn top_level(file: &File, len: u64, out: &mut Vec<TopBox>) -> anyhow::Result<Option<String>> {
    let mut offset = 0u64;
    while offset < len {
        let left = len - offset;
        let mut h = [0u8; 16];
        let n = left.min(16) as usize;
        file.read_exact_at(&mut h[..n], offset)
            .with_context(|| format!("cannot read a box header at offset {offset}"))?;
        if n < 8 {
            return Ok(Some(format!(
                "top-level boxes do not tile the file: {left} stray bytes at offset {offset}"
            )));
        }
        let size32 = u32::from_be_bytes([h[0], h[1], h[2], h[3]]);
        let fourcc = [h[4], h[5], h[6], h[7]];
        if !fourcc.iter().all(|&b| (0x20..0x7f).contains(&b)) {
            return Ok(Some(format!(
                "not a box at offset {offset}: type {} is not printable",
                fourcc_str(&fourcc)
            )));
        }
        let name = fourcc_str(&fourcc);
        let (size, header_len, to_end) = match size32 {
            0 => (left, 8, true),
            1 => {
                if n < 16 {
                    return Ok(Some(format!(
                        "{name} at offset {offset}: the file ends inside its 16-byte header"
                    )));
                }
                let large = u64::from_be_bytes(h[8..16].try_into().expect("8 bytes"));
                (large, 16, false)
            }
            s => (u64::from(s), 8, false),
        };
        if size < header_len {
            return Ok(Some(format!(
                "{name} at offset {offset}: size {size} is smaller than its header"
            )));
        }
        if size > left {
            return Ok(Some(format!(
                "{name} at offset {offset}: size {size} runs past the end of the file \
                 ({left} bytes left): top-level boxes do not tile the file"
            )));
        }
        out.push(TopBox {
            offset,
            fourcc,
            header_len,
            size,
            to_end,
        });
        offset += size;
    }
    Ok(None)
}

/// A `moov`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Movie {
    /// `mvhd.timescale`.
    pub timescale_hz: u32,
    /// `mvhd.duration`.
    pub duration: u64,
    /// `mvhd.next_track_ID`.
    pub next_track_id: u32,
    /// The tracks, in file order.
    pub tracks: Vec<Track>,
    /// `Some` when the movie has an `mvex` (a fragmented file): its `trex` boxes.
    pub mvex: Option<Vec<Trex>>,
}

/// `trex`: per-track fragment defaults.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Trex {
    /// The track.
    pub track_id: u32,
    /// Default sample description index.
    pub sample_description_index: u32,
    /// Default sample duration.
    pub duration: u32,
    /// Default sample size.
    pub size: u32,
    /// Default sample flags.
    pub flags: u32,
}

/// A `trak`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Track {
    /// `tkhd.track_ID`.
    pub track_id: u32,
    /// `tkhd.duration`, movie timescale.
    pub tkhd_duration: u64,
    /// `tkhd.width`, integer part.
    pub width: u32,
    /// `tkhd.height`, integer part.
    pub height: u32,
    /// `hdlr.handler_type`.
    pub handler: [u8; 4],
    /// `mdhd.timescale`.
    pub timescale_hz: u32,
    /// `mdhd.duration`, media timescale.
    pub mdhd_duration: u64,
    /// The `elst` entries, if the track has an edit list.
    pub edits: Option<Vec<Edit>>,
    /// The sample entries of `stsd`.
    pub sample_entries: Vec<SampleEntry>,
    /// The sample table.
    pub stbl: SampleTable,
}

impl Track {
    /// True for a `vide` track.
    pub fn is_video(&self) -> bool {
        &self.handler == b"vide"
    }
}

/// One `elst` entry.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Edit {
    /// Movie timescale.
    pub segment_duration: u64,
    /// Media timescale; -1 for an empty edit.
    pub media_time: i64,
}

/// One `stsd` entry.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SampleEntry {
    /// Its type (`avc1`, `mp4a`, ...).
    pub fourcc: [u8; 4],
    /// Visual entries: coded width and height.
    pub coded_size: Option<(u16, u16)>,
    /// A short description of the codec profile, when known (`avcC`/`hvcC`).
    pub profile: Option<String>,
}

/// One `stsc` entry.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct StscEntry {
    /// 1-based first chunk of the run.
    pub first_chunk: u32,
    /// Samples in each chunk of the run.
    pub samples_per_chunk: u32,
    /// 1-based sample description index.
    pub sample_description_index: u32,
}

/// The tables of an `stbl`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SampleTable {
    /// `stts` runs: (count, delta).
    pub stts: Vec<(u32, u32)>,
    /// `ctts` runs: (count, offset), if present.
    pub ctts: Option<Vec<(u32, i64)>>,
    /// `stss` sample numbers (1-based), if present.
    pub stss: Option<Vec<u32>>,
    /// `stsc` entries.
    pub stsc: Vec<StscEntry>,
    /// `stsz.sample_size`: non-zero when every sample has this size.
    pub sample_size: u32,
    /// `stsz.sample_count`.
    pub sample_count: u32,
    /// Per-sample sizes (empty when `sample_size` is non-zero).
    pub sizes: Vec<u32>,
    /// `stco`/`co64` chunk offsets.
    pub chunk_offsets: Vec<u64>,
    /// Which of `stco`/`co64` held them.
    pub chunk_offset_box: &'static str,
}

impl SampleTable {
    /// Size of sample `i` (0-based).
    pub fn size(&self, i: usize) -> u32 {
        if self.sample_size != 0 {
            self.sample_size
        } else {
            self.sizes.get(i).copied().unwrap_or(0)
        }
    }

    /// Sum of the `stts` counts.
    pub fn stts_count(&self) -> u64 {
        self.stts.iter().map(|&(n, _)| u64::from(n)).sum()
    }

    /// Sum of the `stts` durations.
    pub fn stts_duration(&self) -> u64 {
        self.stts
            .iter()
            .map(|&(n, d)| u64::from(n) * u64::from(d))
            .sum()
    }

    /// Every sample's duration, in order.
    pub fn durations(&self) -> Vec<u32> {
        self.stts
            .iter()
            .flat_map(|&(n, d)| std::iter::repeat_n(d, n as usize))
            .collect()
    }

    /// Samples per chunk, for `chunks` chunks, from `stsc` (`None` when `stsc` is
    /// malformed: not starting at chunk 1, not increasing).
    pub fn samples_per_chunk(&self, chunks: usize) -> Option<Vec<u32>> {
        let mut out = Vec::with_capacity(chunks);
        for (i, e) in self.stsc.iter().enumerate() {
            let start = e.first_chunk as usize;
            let end = self
                .stsc
                .get(i + 1)
                .map_or(chunks + 1, |n| n.first_chunk as usize);
            if start == 0 || start != out.len() + 1 || end < start || end > chunks + 1 {
                return None;
            }
            out.extend(std::iter::repeat_n(e.samples_per_chunk, end - start));
        }
        (out.len() == chunks).then_some(out)
    }
}

/// A `moof`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Fragment {
    /// Absolute offset of the `moof`.
    pub offset: u64,
    /// Its length.
    pub size: u64,
    /// `mfhd.sequence_number`.
    pub sequence_number: u32,
    /// Its `traf` boxes.
    pub trafs: Vec<Traf>,
}

/// A `traf`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Traf {
    /// `tfhd.track_ID`.
    pub track_id: u32,
    /// `tfhd` optional fields.
    pub base_data_offset: Option<u64>,
    /// `tfhd.sample_description_index`.
    pub sample_description_index: Option<u32>,
    /// `tfhd.default_sample_duration`.
    pub default_duration: Option<u32>,
    /// `tfhd.default_sample_size`.
    pub default_size: Option<u32>,
    /// `tfhd.default_sample_flags`.
    pub default_flags: Option<u32>,
    /// `tfhd` flag 0x020000.
    pub default_base_is_moof: bool,
    /// `tfdt.baseMediaDecodeTime`.
    pub tfdt: Option<u64>,
    /// Its `trun` boxes.
    pub truns: Vec<TrunBox>,
}

/// A `trun`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TrunBox {
    /// `data_offset`, relative to the base data offset.
    pub data_offset: Option<i32>,
    /// `first_sample_flags`.
    pub first_sample_flags: Option<u32>,
    /// Per-sample fields, each `None` when absent from the box.
    pub samples: Vec<TrunEntry>,
}

/// One `trun` sample's optional fields.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TrunEntry {
    /// Duration.
    pub duration: Option<u32>,
    /// Size.
    pub size: Option<u32>,
    /// Flags.
    pub flags: Option<u32>,
    /// Composition time offset.
    pub composition_offset: Option<i64>,
}

/// One fragment sample with every default applied.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FragSample {
    /// Absolute offset of its data (may be out of range in a broken file).
    pub offset: i128,
    /// Size.
    pub size: u32,
    /// Duration.
    pub duration: u32,
    /// Sync sample.
    pub is_sync: bool,
}

/// One track's samples in a fragment, resolved.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TrafSamples {
    /// The track.
    pub track_id: u32,
    /// `tfdt`, if present.
    pub tfdt: Option<u64>,
    /// The samples.
    pub samples: Vec<FragSample>,
}

impl Fragment {
    /// Resolves every sample's offset, size, duration and sync flag with the `tfhd` and
    /// `trex` defaults (ISO/IEC 14496-12 §8.8.7, §8.8.8).
    pub fn resolve(&self, trex: &[Trex]) -> anyhow::Result<Vec<TrafSamples>> {
        let mut out = Vec::with_capacity(self.trafs.len());
        let mut previous_end = i128::from(self.offset);
        for (k, traf) in self.trafs.iter().enumerate() {
            let Some(tx) = trex.iter().find(|t| t.track_id == traf.track_id) else {
                bail!(
                    "moof at offset {}: traf for track {} which has no trex",
                    self.offset,
                    traf.track_id
                );
            };
            let base = match traf.base_data_offset {
                Some(b) => i128::from(b),
                None if traf.default_base_is_moof || k == 0 => i128::from(self.offset),
                None => previous_end,
            };
            let mut samples = Vec::new();
            let mut pos = base;
            for trun in &traf.truns {
                if let Some(d) = trun.data_offset {
                    pos = base + i128::from(d);
                }
                for (i, s) in trun.samples.iter().enumerate() {
                    let flags = if i == 0 {
                        trun.first_sample_flags.or(s.flags)
                    } else {
                        s.flags
                    }
                    .or(traf.default_flags)
                    .unwrap_or(tx.flags);
                    let size = s.size.or(traf.default_size).unwrap_or(tx.size);
                    samples.push(FragSample {
                        offset: pos,
                        size,
                        duration: s.duration.or(traf.default_duration).unwrap_or(tx.duration),
                        is_sync: flags & NON_SYNC_BIT == 0,
                    });
                    pos += i128::from(size);
                }
            }
            previous_end = pos;
            out.push(TrafSamples {
                track_id: traf.track_id,
                tfdt: traf.tfdt,
                samples,
            });
        }
        Ok(out)
    }
}

/// A strict cursor over a box payload.
struct Cur<'a> {
    b: RawBox<'a>,
    pos: usize,
}

impl<'a> Cur<'a> {
    fn new(b: RawBox<'a>) -> Self {
        Self { b, pos: 0 }
    }
    fn take(&mut self, n: usize) -> anyhow::Result<&'a [u8]> {
        let p = self.b.payload;
        if p.len() - self.pos < n {
            bail!(
                "{} at offset {}: payload of {} bytes ends inside a field at byte {}",
                self.b.fourcc_str(),
                self.b.offset,
                p.len(),
                self.pos
            );
        }
        self.pos += n;
        Ok(&p[self.pos - n..self.pos])
    }
    fn u32(&mut self) -> anyhow::Result<u32> {
        Ok(u32::from_be_bytes(self.take(4)?.try_into()?))
    }
    fn u64(&mut self) -> anyhow::Result<u64> {
        Ok(u64::from_be_bytes(self.take(8)?.try_into()?))
    }
    fn uv(&mut self, version: u8) -> anyhow::Result<u64> {
        if version == 1 {
            self.u64()
        } else {
            self.u32().map(u64::from)
        }
    }
    fn full(&mut self) -> anyhow::Result<(u8, u32)> {
        let v = self.u32()?;
        Ok(((v >> 24) as u8, v & 0xff_ffff))
    }
    fn skip(&mut self, n: usize) -> anyhow::Result<()> {
        self.take(n).map(|_| ())
    }
    /// Checks that `count` entries of `len` bytes fit, before allocating for them.
    fn table(&self, count: u32, len: usize) -> anyhow::Result<()> {
        let left = self.b.payload.len() - self.pos;
        if count as usize * len > left {
            bail!(
                "{} at offset {}: {count} entries of {len} bytes but {left} bytes left",
                self.b.fourcc_str(),
                self.b.offset
            );
        }
        Ok(())
    }
}

fn kids<'a>(b: &RawBox<'a>) -> anyhow::Result<Vec<RawBox<'a>>> {
    b.children()
        .collect::<Result<_, _>>()
        .with_context(|| format!("in {} at offset {}", b.fourcc_str(), b.offset))
}

fn one<'a>(kids: &[RawBox<'a>], parent: &RawBox<'_>, f: &[u8; 4]) -> anyhow::Result<RawBox<'a>> {
    let mut it = kids.iter().filter(|k| &k.fourcc == f);
    match (it.next(), it.next()) {
        (Some(k), None) => Ok(*k),
        (None, _) => bail!(
            "{} at offset {} has no {}",
            parent.fourcc_str(),
            parent.offset,
            fourcc_str(f)
        ),
        (Some(_), Some(_)) => bail!(
            "{} at offset {} has two {}",
            parent.fourcc_str(),
            parent.offset,
            fourcc_str(f)
        ),
    }
}

fn opt<'a>(kids: &[RawBox<'a>], f: &[u8; 4]) -> Option<RawBox<'a>> {
    kids.iter().find(|k| &k.fourcc == f).copied()
}

/// Parses a `moov` box.
pub fn parse_moov(moov: &RawBox<'_>) -> anyhow::Result<Movie> {
    let k = kids(moov)?;
    let mut c = Cur::new(one(&k, moov, b"mvhd")?);
    let (v, _) = c.full()?;
    c.uv(v)?;
    c.uv(v)?;
    let timescale_hz = c.u32()?;
    let duration = c.uv(v)?;
    c.skip(4 + 2 + 10 + 36 + 24)?;
    let next_track_id = c.u32()?;
    let mvex = match opt(&k, b"mvex") {
        None => None,
        Some(mvex) => {
            let mut v = Vec::new();
            for t in kids(&mvex)?.into_iter().filter(|t| &t.fourcc == b"trex") {
                let mut c = Cur::new(t);
                c.full()?;
                v.push(Trex {
                    track_id: c.u32()?,
                    sample_description_index: c.u32()?,
                    duration: c.u32()?,
                    size: c.u32()?,
                    flags: c.u32()?,
                });
            }
            Some(v)
        }
    };
    let tracks = k
        .iter()
        .filter(|t| &t.fourcc == b"trak")
        .map(parse_trak)
        .collect::<anyhow::Result<_>>()?;
    Ok(Movie {
        timescale_hz,
        duration,
        next_track_id,
        tracks,
        mvex,
    })
}

fn parse_trak(trak: &RawBox<'_>) -> anyhow::Result<Track> {
    let k = kids(trak)?;
    let mut t = Track::default();
    let mut c = Cur::new(one(&k, trak, b"tkhd")?);
    let (v, _) = c.full()?;
    c.uv(v)?;
    c.uv(v)?;
    t.track_id = c.u32()?;
    c.skip(4)?;
    t.tkhd_duration = c.uv(v)?;
    c.skip(8 + 2 + 2 + 2 + 2 + 36)?;
    t.width = c.u32()? >> 16;
    t.height = c.u32()? >> 16;
    if let Some(edts) = opt(&k, b"edts")
        && let Some(elst) = opt(&kids(&edts)?, b"elst")
    {
        let mut c = Cur::new(elst);
        let (v, _) = c.full()?;
        let n = c.u32()?;
        c.table(n, if v == 1 { 20 } else { 12 })?;
        let mut edits = Vec::with_capacity(n as usize);
        for _ in 0..n {
            let segment_duration = c.uv(v)?;
            let media_time = if v == 1 {
                c.u64()? as i64
            } else {
                i64::from(c.u32()? as i32)
            };
            c.skip(4)?;
            edits.push(Edit {
                segment_duration,
                media_time,
            });
        }
        t.edits = Some(edits);
    }
    let mdia = one(&k, trak, b"mdia")?;
    let mk = kids(&mdia)?;
    let mut c = Cur::new(one(&mk, &mdia, b"mdhd")?);
    let (v, _) = c.full()?;
    c.uv(v)?;
    c.uv(v)?;
    t.timescale_hz = c.u32()?;
    t.mdhd_duration = c.uv(v)?;
    let mut c = Cur::new(one(&mk, &mdia, b"hdlr")?);
    c.full()?;
    c.skip(4)?;
    t.handler = c.take(4)?.try_into()?;
    let minf = one(&mk, &mdia, b"minf")?;
    let stbl = one(&kids(&minf)?, &minf, b"stbl")?;
    let sk = kids(&stbl)?;
    t.sample_entries = parse_stsd(&one(&sk, &stbl, b"stsd")?)?;
    t.stbl = parse_stbl(&stbl, &sk)?;
    Ok(t)
}

fn parse_stsd(stsd: &RawBox<'_>) -> anyhow::Result<Vec<SampleEntry>> {
    let mut c = Cur::new(*stsd);
    c.full()?;
    let n = c.u32()?;
    let entries: Vec<RawBox<'_>> = stsd
        .children_after(8)
        .collect::<Result<_, _>>()
        .with_context(|| format!("in stsd at offset {}", stsd.offset))?;
    if entries.len() != n as usize {
        bail!(
            "stsd at offset {}: entry_count {n} but {} entries",
            stsd.offset,
            entries.len()
        );
    }
    Ok(entries.iter().map(sample_entry).collect())
}

/// Type, coded size and profile of a sample entry; lenient (a description only).
fn sample_entry(e: &RawBox<'_>) -> SampleEntry {
    let mut out = SampleEntry {
        fourcc: e.fourcc,
        ..SampleEntry::default()
    };
    // VisualSampleEntry: 8 bytes of SampleEntry, then 16 of pre_defined/reserved, then
    // width and height, then 50 more bytes before the child boxes (§12.1.3).
    const VISUAL: [&[u8; 4]; 6] = [b"avc1", b"avc3", b"hvc1", b"hev1", b"mp4v", b"jpeg"];
    if !VISUAL.contains(&&e.fourcc) || e.payload.len() < 78 {
        return out;
    }
    let p = e.payload;
    out.coded_size = Some((
        u16::from_be_bytes([p[24], p[25]]),
        u16::from_be_bytes([p[26], p[27]]),
    ));
    for child in e.children_after(78).flatten() {
        let q = child.payload;
        match &child.fourcc {
            b"avcC" if q.len() >= 4 => {
                let name = match q[1] {
                    66 => "Baseline",
                    77 => "Main",
                    88 => "Extended",
                    100 => "High",
                    110 => "High 10",
                    122 => "High 4:2:2",
                    244 => "High 4:4:4",
                    _ => "",
                };
                let constrained = if q[1] == 66 && q[2] & 0x40 != 0 {
                    "Constrained "
                } else {
                    ""
                };
                out.profile = Some(format!(
                    "{constrained}{name} (profile_idc {}) level {}.{}",
                    q[1],
                    q[3] / 10,
                    q[3] % 10
                ));
            }
            b"hvcC" if q.len() >= 13 => {
                let idc = q[1] & 0x1f;
                let name = match idc {
                    1 => "Main",
                    2 => "Main 10",
                    3 => "Main Still Picture",
                    4 => "Range Extensions",
                    _ => "",
                };
                let level = q[12];
                out.profile = Some(format!(
                    "{name} (profile_idc {idc}) level {}.{}",
                    level / 30,
                    (level % 30) / 3
                ));
            }
            _ => {}
        }
    }
    out
}

fn parse_stbl(stbl: &RawBox<'_>, sk: &[RawBox<'_>]) -> anyhow::Result<SampleTable> {
    let mut t = SampleTable::default();
    let mut c = Cur::new(one(sk, stbl, b"stts")?);
    c.full()?;
    let n = c.u32()?;
    c.table(n, 8)?;
    t.stts = (0..n)
        .map(|_| Ok((c.u32()?, c.u32()?)))
        .collect::<anyhow::Result<_>>()?;
    if let Some(ctts) = opt(sk, b"ctts") {
        let mut c = Cur::new(ctts);
        let (v, _) = c.full()?;
        let n = c.u32()?;
        c.table(n, 8)?;
        t.ctts = Some(
            (0..n)
                .map(|_| {
                    let count = c.u32()?;
                    let raw = c.u32()?;
                    let off = if v == 1 {
                        i64::from(raw as i32)
                    } else {
                        i64::from(raw)
                    };
                    Ok((count, off))
                })
                .collect::<anyhow::Result<_>>()?,
        );
    }
    if let Some(stss) = opt(sk, b"stss") {
        let mut c = Cur::new(stss);
        c.full()?;
        let n = c.u32()?;
        c.table(n, 4)?;
        t.stss = Some((0..n).map(|_| c.u32()).collect::<anyhow::Result<_>>()?);
    }
    let mut c = Cur::new(one(sk, stbl, b"stsc")?);
    c.full()?;
    let n = c.u32()?;
    c.table(n, 12)?;
    t.stsc = (0..n)
        .map(|_| {
            Ok(StscEntry {
                first_chunk: c.u32()?,
                samples_per_chunk: c.u32()?,
                sample_description_index: c.u32()?,
            })
        })
        .collect::<anyhow::Result<_>>()?;
    let mut c = Cur::new(one(sk, stbl, b"stsz")?);
    c.full()?;
    t.sample_size = c.u32()?;
    t.sample_count = c.u32()?;
    if t.sample_size == 0 {
        c.table(t.sample_count, 4)?;
        t.sizes = (0..t.sample_count)
            .map(|_| c.u32())
            .collect::<anyhow::Result<_>>()?;
    }
    match (opt(sk, b"stco"), opt(sk, b"co64")) {
        (Some(b), None) => {
            let mut c = Cur::new(b);
            c.full()?;
            let n = c.u32()?;
            c.table(n, 4)?;
            t.chunk_offsets = (0..n)
                .map(|_| c.u32().map(u64::from))
                .collect::<anyhow::Result<_>>()?;
            t.chunk_offset_box = "stco";
        }
        (None, Some(b)) => {
            let mut c = Cur::new(b);
            c.full()?;
            let n = c.u32()?;
            c.table(n, 8)?;
            t.chunk_offsets = (0..n).map(|_| c.u64()).collect::<anyhow::Result<_>>()?;
            t.chunk_offset_box = "co64";
        }
        (None, None) => bail!("stbl at offset {} has neither stco nor co64", stbl.offset),
        (Some(_), Some(_)) => bail!("stbl at offset {} has both stco and co64", stbl.offset),
    }
    Ok(t)
}

/// Parses a `moof` box.
pub fn parse_moof(moof: &RawBox<'_>) -> anyhow::Result<Fragment> {
    let k = kids(moof)?;
    let mut c = Cur::new(one(&k, moof, b"mfhd")?);
    c.full()?;
    let sequence_number = c.u32()?;
    let mut trafs = Vec::new();
    for traf in k.iter().filter(|t| &t.fourcc == b"traf") {
        let tk = kids(traf)?;
        let mut c = Cur::new(one(&tk, traf, b"tfhd")?);
        let (_, flags) = c.full()?;
        let mut t = Traf {
            track_id: c.u32()?,
            ..Traf::default()
        };
        if flags & 0x1 != 0 {
            t.base_data_offset = Some(c.u64()?);
        }
        let mut o = |bit: u32| -> anyhow::Result<Option<u32>> {
            if flags & bit != 0 {
                c.u32().map(Some)
            } else {
                Ok(None)
            }
        };
        t.sample_description_index = o(0x2)?;
        t.default_duration = o(0x8)?;
        t.default_size = o(0x10)?;
        t.default_flags = o(0x20)?;
        t.default_base_is_moof = flags & 0x2_0000 != 0;
        if let Some(tfdt) = opt(&tk, b"tfdt") {
            let mut c = Cur::new(tfdt);
            let (v, _) = c.full()?;
            t.tfdt = Some(c.uv(v)?);
        }
        for trun in tk.iter().filter(|b| &b.fourcc == b"trun") {
            t.truns.push(parse_trun(*trun)?);
        }
        trafs.push(t);
    }
    Ok(Fragment {
        offset: moof.offset,
        size: moof.size(),
        sequence_number,
        trafs,
    })
}

fn parse_trun(b: RawBox<'_>) -> anyhow::Result<TrunBox> {
    let mut c = Cur::new(b);
    let (v, flags) = c.full()?;
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
    let bits = [0x100, 0x200, 0x400, 0x800];
    let per = 4 * bits.iter().filter(|&&b| flags & b != 0).count();
    c.table(n, per)?;
    let mut samples = Vec::with_capacity(n as usize);
    for _ in 0..n {
        let mut f = |bit: u32| -> anyhow::Result<Option<u32>> {
            if flags & bit != 0 {
                c.u32().map(Some)
            } else {
                Ok(None)
            }
        };
        let duration = f(0x100)?;
        let size = f(0x200)?;
        let sflags = f(0x400)?;
        let cto = f(0x800)?.map(|raw| {
            if v == 1 {
                i64::from(raw as i32)
            } else {
                i64::from(raw)
            }
        });
        samples.push(TrunEntry {
            duration,
            size,
            flags: sflags,
            composition_offset: cto,
        });
    }
    Ok(TrunBox {
        data_offset,
        first_sample_flags,
        samples,
    })
}
