//! Test-side MP4 reader: walks boxes with `bmff_boxes::dump`'s lower layer (headers only)
//! and decodes the tables here, independently of the encoder structs, expanding them back
//! into per-sample values.

#![allow(dead_code)]

pub mod fragments;
pub mod muxed;

use bmff_boxes::read::{self, RawBox};
use mp4_track::Finished;

/// Big-endian reader over a payload.
pub struct Rd<'a>(pub &'a [u8]);

impl Rd<'_> {
    pub fn take(&mut self, n: usize) -> &[u8] {
        let (a, b) = self.0.split_at(n);
        self.0 = b;
        a
    }
    pub fn u8(&mut self) -> u8 {
        self.take(1)[0]
    }
    pub fn u16(&mut self) -> u16 {
        u16::from_be_bytes(self.take(2).try_into().unwrap())
    }
    pub fn u32(&mut self) -> u32 {
        u32::from_be_bytes(self.take(4).try_into().unwrap())
    }
    pub fn u64(&mut self) -> u64 {
        u64::from_be_bytes(self.take(8).try_into().unwrap())
    }
    /// u32 for version 0, u64 for version 1.
    pub fn uv(&mut self, v: u8) -> u64 {
        if v == 1 {
            self.u64()
        } else {
            u64::from(self.u32())
        }
    }
    /// Version and flags.
    pub fn full(&mut self) -> (u8, u32) {
        let v = self.u32();
        ((v >> 24) as u8, v & 0xff_ffff)
    }
}

fn kids<'a>(b: &RawBox<'a>) -> Vec<RawBox<'a>> {
    b.children().collect::<Result<_, _>>().unwrap()
}

fn find<'a>(list: &[RawBox<'a>], fourcc: &[u8; 4]) -> Option<RawBox<'a>> {
    list.iter().find(|b| &b.fourcc == fourcc).copied()
}

fn child<'a>(b: &RawBox<'a>, fourcc: &[u8; 4]) -> RawBox<'a> {
    find(&kids(b), fourcc).unwrap_or_else(|| panic!("no {}", String::from_utf8_lossy(fourcc)))
}

/// One sample as expanded from the tables.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Sample {
    pub duration: u32,
    pub cts_offset: i32,
    pub size: u32,
    pub is_sync: bool,
    pub sdi: u32,
    pub offset: u64,
}

#[derive(Clone, Debug, Default)]
pub struct Track {
    pub track_id: u32,
    pub tkhd_flags: u32,
    pub tkhd_duration: u64,
    pub volume: u16,
    pub width: u32,
    pub height: u32,
    /// (segment_duration, media_time, rate_integer)
    pub elst: Option<Vec<(u64, i64, i16)>>,
    pub timescale: u32,
    pub mdhd_duration: u64,
    pub language: String,
    pub handler: [u8; 4],
    pub stsd_entries: Vec<Vec<u8>>,
    pub has_ctts: bool,
    pub ctts_version: u8,
    pub has_stss: bool,
    pub stsz_constant: bool,
    pub co64: bool,
    pub chunk_count: usize,
    pub samples: Vec<Sample>,
}

#[derive(Clone, Debug, Default)]
pub struct Movie {
    pub timescale: u32,
    pub duration: u64,
    pub next_track_id: u32,
    pub tracks: Vec<Track>,
}

/// Parses a `moov` box (the whole buffer).
pub fn parse_moov(buf: &[u8]) -> Movie {
    let top: Vec<_> = read::boxes(buf).collect::<Result<_, _>>().unwrap();
    assert_eq!(top.len(), 1);
    assert_eq!(&top[0].fourcc, b"moov");
    let mut movie = Movie::default();
    for b in kids(&top[0]) {
        match &b.fourcc {
            b"mvhd" => {
                let mut r = Rd(b.payload);
                let (v, _) = r.full();
                r.uv(v);
                r.uv(v);
                movie.timescale = r.u32();
                movie.duration = r.uv(v);
                r.take(4 + 2 + 10 + 36 + 24);
                movie.next_track_id = r.u32();
                assert!(r.0.is_empty());
            }
            b"trak" => movie.tracks.push(parse_trak(&b)),
            other => panic!("unexpected {:?} in moov", String::from_utf8_lossy(other)),
        }
    }
    movie
}

fn parse_trak(trak: &RawBox<'_>) -> Track {
    let mut t = Track::default();
    let children = kids(trak);
    let mut r = Rd(find(&children, b"tkhd").unwrap().payload);
    let (v, flags) = r.full();
    t.tkhd_flags = flags;
    r.uv(v);
    r.uv(v);
    t.track_id = r.u32();
    r.u32();
    t.tkhd_duration = r.uv(v);
    r.take(8 + 2 + 2);
    t.volume = r.u16();
    r.take(2 + 36);
    t.width = r.u32();
    t.height = r.u32();
    assert!(r.0.is_empty());

    if let Some(edts) = find(&children, b"edts") {
        let mut r = Rd(child(&edts, b"elst").payload);
        let (v, _) = r.full();
        let n = r.u32();
        let mut entries = Vec::new();
        for _ in 0..n {
            let dur = r.uv(v);
            let time = if v == 1 {
                r.u64() as i64
            } else {
                i64::from(r.u32() as i32)
            };
            let rate = r.u16() as i16;
            r.u16();
            entries.push((dur, time, rate));
        }
        t.elst = Some(entries);
    }

    let mdia = find(&children, b"mdia").unwrap();
    let mut r = Rd(child(&mdia, b"mdhd").payload);
    let (v, _) = r.full();
    r.uv(v);
    r.uv(v);
    t.timescale = r.u32();
    t.mdhd_duration = r.uv(v);
    let lang = r.u16();
    t.language = [10, 5, 0]
        .iter()
        .map(|s| char::from(((lang >> s) & 0x1f) as u8 + 0x60))
        .collect();
    let mut r = Rd(child(&mdia, b"hdlr").payload);
    r.take(8);
    t.handler = r.take(4).try_into().unwrap();
    let stbl = child(&child(&mdia, b"minf"), b"stbl");
    parse_stbl(&stbl, &mut t);
    t
}

fn parse_stbl(stbl: &RawBox<'_>, t: &mut Track) {
    let children = kids(stbl);
    let stsd = find(&children, b"stsd").unwrap();
    let n = Rd(&stsd.payload[4..]).u32();
    t.stsd_entries = stsd
        .children_after(8)
        .map(|b| {
            let b = b.unwrap();
            let start = (b.offset - stsd.offset - stsd.header_len) as usize;
            stsd.payload[start..start + b.size() as usize].to_vec()
        })
        .collect();
    assert_eq!(t.stsd_entries.len(), n as usize);

    // stts -> durations
    let mut durations = Vec::new();
    let mut r = Rd(find(&children, b"stts").unwrap().payload);
    r.full();
    for _ in 0..r.u32() {
        let (count, delta) = (r.u32(), r.u32());
        durations.extend(std::iter::repeat_n(delta, count as usize));
    }
    let n_samples = durations.len();

    // ctts -> offsets
    let mut cts = vec![0i32; n_samples];
    if let Some(ctts) = find(&children, b"ctts") {
        t.has_ctts = true;
        let mut r = Rd(ctts.payload);
        let (v, _) = r.full();
        t.ctts_version = v;
        let mut i = 0;
        for _ in 0..r.u32() {
            let (count, off) = (r.u32(), r.u32());
            if v == 0 {
                assert!(off <= i32::MAX as u32, "ctts v0 with a negative offset");
            }
            for _ in 0..count {
                cts[i] = off as i32;
                i += 1;
            }
        }
        assert_eq!(i, n_samples);
    }

    // stss -> sync flags
    let mut sync = vec![true; n_samples];
    if let Some(stss) = find(&children, b"stss") {
        t.has_stss = true;
        sync.fill(false);
        let mut r = Rd(stss.payload);
        r.full();
        let mut prev = 0;
        for _ in 0..r.u32() {
            let n = r.u32();
            assert!(n > prev, "stss not increasing");
            prev = n;
            sync[n as usize - 1] = true;
        }
    }

    // stsz -> sizes
    let mut r = Rd(find(&children, b"stsz").unwrap().payload);
    r.full();
    let (constant, count) = (r.u32(), r.u32());
    assert_eq!(count as usize, n_samples);
    t.stsz_constant = constant != 0;
    let sizes: Vec<u32> = if constant != 0 {
        vec![constant; n_samples]
    } else {
        (0..count).map(|_| r.u32()).collect()
    };

    // stco/co64 -> chunk offsets
    let chunk_offsets: Vec<u64> = if let Some(stco) = find(&children, b"stco") {
        let mut r = Rd(stco.payload);
        r.full();
        (0..r.u32()).map(|_| u64::from(r.u32())).collect()
    } else {
        t.co64 = true;
        let mut r = Rd(find(&children, b"co64").unwrap().payload);
        r.full();
        (0..r.u32()).map(|_| r.u64()).collect()
    };
    t.chunk_count = chunk_offsets.len();

    // stsc -> (samples per chunk, sdi) per chunk, then per-sample offsets
    let mut r = Rd(find(&children, b"stsc").unwrap().payload);
    r.full();
    let stsc: Vec<(u32, u32, u32)> = (0..r.u32()).map(|_| (r.u32(), r.u32(), r.u32())).collect();
    if let Some(first) = stsc.first() {
        assert_eq!(first.0, 1, "stsc must start at chunk 1");
    }
    for w in stsc.windows(2) {
        assert!(w[1].0 > w[0].0, "stsc first_chunk not increasing");
        assert!((w[0].1, w[0].2) != (w[1].1, w[1].2), "stsc runs not merged");
    }
    let mut samples = Vec::with_capacity(n_samples);
    let mut i = 0;
    for (c, &chunk_offset) in chunk_offsets.iter().enumerate() {
        let chunk = c as u32 + 1;
        let &(_, per_chunk, sdi) = stsc.iter().rev().find(|e| e.0 <= chunk).unwrap();
        assert!(
            sdi >= 1 && sdi as usize <= t.stsd_entries.len(),
            "sdi {sdi} out of range"
        );
        let mut offset = chunk_offset;
        for _ in 0..per_chunk {
            samples.push(Sample {
                duration: durations[i],
                cts_offset: cts[i],
                size: sizes[i],
                is_sync: sync[i],
                sdi,
                offset,
            });
            offset += u64::from(sizes[i]);
            i += 1;
        }
    }
    assert_eq!(i, n_samples, "stsc covers {i} samples, stts {n_samples}");
    t.samples = samples;
}

/// Assembles a small file in memory as a writer would: start bytes, sample data at the
/// returned offsets, the tail, then the patches.
#[derive(Default)]
pub struct FileSim {
    pub bytes: Vec<u8>,
}

impl FileSim {
    pub fn write_at(&mut self, offset: u64, data: &[u8]) {
        assert_eq!(offset, self.bytes.len() as u64, "writes must append");
        self.bytes.extend_from_slice(data);
    }

    pub fn finish(&mut self, f: &Finished) {
        self.bytes.extend_from_slice(&f.tail);
        for p in &f.patches {
            let at = p.offset as usize;
            self.bytes[at..at + p.bytes.len()].copy_from_slice(&p.bytes);
        }
    }
}
