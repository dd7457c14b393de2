//! Test-side support for fragmented files: a sparse in-memory file (sample data kept by
//! reference count, so files past 4 GiB cost little memory), and an independent reader of
//! fragmented and progressive layouts built on `bmff_boxes::dump`'s box walker.

use bmff_boxes::read::{self, RawBox};
use bytes::Bytes;
use mp4_track::{FinalizeStep, Fragment};

use super::{Movie, Rd, parse_moov};

/// A file as a log of writes over a length.
#[derive(Clone, Debug, Default)]
pub struct SimFile {
    writes: Vec<(u64, Bytes)>,
    pub len: u64,
}

impl SimFile {
    pub fn write_at(&mut self, offset: u64, bytes: Bytes) {
        assert!(
            offset <= self.len,
            "write at {offset} past the end {}",
            self.len
        );
        self.len = self.len.max(offset + bytes.len() as u64);
        self.writes.push((offset, bytes));
    }

    pub fn set_len(&mut self, len: u64) {
        assert!(len <= self.len, "set_len only truncates here");
        self.len = len;
        for (o, b) in &mut self.writes {
            let keep = len.saturating_sub(*o).min(b.len() as u64);
            b.truncate(keep as usize);
        }
        self.writes.retain(|(_, b)| !b.is_empty());
    }

    /// `len` bytes at `offset` (never-written bytes read as zero).
    pub fn read(&self, offset: u64, len: u64) -> Vec<u8> {
        assert!(offset + len <= self.len, "read past the end");
        let mut out = vec![0; len as usize];
        let end = offset + len;
        for (o, b) in &self.writes {
            let (ws, we) = (*o, *o + b.len() as u64);
            let (s, e) = (ws.max(offset), we.min(end));
            if s < e {
                out[(s - offset) as usize..(e - offset) as usize]
                    .copy_from_slice(&b[(s - ws) as usize..(e - ws) as usize]);
            }
        }
        out
    }

    pub fn to_vec(&self) -> Vec<u8> {
        self.read(0, self.len)
    }

    /// Writes a fragment as the recorder would: at its offset, header then data.
    pub fn append_fragment(&mut self, f: &Fragment) {
        assert_eq!(f.offset, self.len, "fragments are appended");
        self.write_at(f.offset, f.header.clone());
        let mut at = f.offset + f.header.len() as u64;
        for d in &f.data {
            self.write_at(at, d.clone());
            at += d.len() as u64;
        }
    }

    pub fn apply(&mut self, step: &FinalizeStep) {
        match step {
            FinalizeStep::Write(p) => self.write_at(p.offset, p.bytes.clone()),
            FinalizeStep::SetLen(n) => self.set_len(*n),
            FinalizeStep::Sync => {}
        }
    }

    pub fn apply_all(&mut self, steps: &[FinalizeStep]) {
        for s in steps {
            self.apply(s);
        }
    }

    /// Runs `mp4_track::Recovery` against this file.
    pub fn recover(&self) -> Result<mp4_track::Recovered, mp4_track::RecoveryError> {
        let mut r = mp4_track::Recovery::new(self.len);
        while let Some(req) = r.poll_read() {
            let bytes = self.read(req.offset, req.len);
            r.push(&bytes);
        }
        r.finish()
    }
}

/// A top-level box.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Top {
    pub offset: u64,
    pub fourcc: [u8; 4],
    pub header_len: u64,
    pub size: u64,
}

impl Top {
    pub fn payload(&self) -> (u64, u64) {
        (self.offset + self.header_len, self.offset + self.size)
    }
}

/// Walks the top-level boxes; every box must be complete.
pub fn top_level(f: &SimFile) -> Result<Vec<Top>, String> {
    let mut out = Vec::new();
    let mut at = 0;
    while at < f.len {
        let h = f.read(at, (f.len - at).min(16));
        if h.len() < 8 {
            return Err(format!("short header at {at}"));
        }
        let size32 = u32::from_be_bytes(h[..4].try_into().unwrap());
        let fourcc: [u8; 4] = h[4..8].try_into().unwrap();
        let (size, header_len) = match size32 {
            1 => (u64::from_be_bytes(h[8..16].try_into().unwrap()), 16),
            0 => return Err(format!("size 0 at {at}")),
            n => (u64::from(n), 8),
        };
        if size < header_len || at + size > f.len {
            return Err(format!("bad size {size} at {at}"));
        }
        out.push(Top {
            offset: at,
            fourcc,
            header_len,
            size,
        });
        at += size;
    }
    Ok(out)
}

/// One sample of a fragmented file as its fragments describe it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FragSample {
    pub dts: u64,
    pub duration: u32,
    pub cts_offset: i32,
    pub size: u32,
    pub is_sync: bool,
    pub offset: u64,
}

/// What a file parses as.
#[derive(Debug)]
pub enum Parsed {
    /// `[ftyp]...[moov+mvex]` then `moof`/`mdat` pairs: samples per track, per fragment.
    Fragmented {
        tracks: usize,
        fragments: Vec<Vec<Vec<FragSample>>>,
    },
    /// A single `moov` without `mvex`, no `moof`.
    Progressive { movie: Movie, moov_offset: u64 },
}

fn kids<'a>(b: &RawBox<'a>) -> Vec<RawBox<'a>> {
    b.children().collect::<Result<_, _>>().unwrap()
}

/// Parses the whole file strictly as one of the two layouts; also checks that every
/// sample lies inside an `mdat` payload.
pub fn parse_file(f: &SimFile) -> Result<Parsed, String> {
    parse_with(f, false).map(|(parsed, _)| parsed)
}

/// Like [`parse_file`], but the visible fragments may be any subset of the file's
/// (a finalization whose type rewrites landed in any order hides some): their sequence
/// numbers only increase, and decode times continue across consecutive numbers only.
/// Returns the sequence number of each visible fragment too.
pub fn parse_visible(f: &SimFile) -> Result<(Parsed, Vec<u32>), String> {
    parse_with(f, true)
}

fn parse_with(f: &SimFile, hidden_allowed: bool) -> Result<(Parsed, Vec<u32>), String> {
    let top = top_level(f)?;
    if top.first().map(|b| &b.fourcc) != Some(b"ftyp") {
        return Err("no ftyp first".into());
    }
    // Readers use the first moov. A second one is allowed only as the last box of a
    // fragmented file (a final moov appended by a finalization in progress).
    let moovs: Vec<&Top> = top.iter().filter(|b| &b.fourcc == b"moov").collect();
    let Some(&moov_top) = moovs.first() else {
        return Err("no moov".into());
    };
    let moov_bytes = f.read(moov_top.offset, moov_top.size);
    let moov = read::boxes(&moov_bytes).next().unwrap().unwrap();
    let mdats: Vec<(u64, u64)> = top
        .iter()
        .filter(|b| &b.fourcc == b"mdat")
        .map(Top::payload)
        .collect();
    let inside = |start: u64, size: u32| {
        mdats
            .iter()
            .any(|&(s, e)| start >= s && start + u64::from(size) <= e)
    };
    let moov_kids = kids(&moov);
    let Some(mvex) = moov_kids.iter().find(|b| &b.fourcc == b"mvex") else {
        if top.iter().any(|b| &b.fourcc == b"moof") {
            return Err("moof in a progressive file".into());
        }
        if moovs.len() > 1 {
            return Err(format!("{} moov boxes in a progressive file", moovs.len()));
        }
        let movie = parse_moov(&moov_bytes);
        for t in &movie.tracks {
            for s in &t.samples {
                if !inside(s.offset, s.size) {
                    return Err(format!("sample at {} not inside an mdat", s.offset));
                }
            }
        }
        let parsed = Parsed::Progressive {
            movie,
            moov_offset: moov_top.offset,
        };
        return Ok((parsed, Vec::new()));
    };
    // trex defaults: (duration, size, flags) per track id.
    let trex: Vec<(u32, u32, u32, u32)> = kids(mvex)
        .iter()
        .map(|b| {
            let mut r = Rd(b.payload);
            r.full();
            let id = r.u32();
            r.u32();
            (id, r.u32(), r.u32(), r.u32())
        })
        .collect();
    match moovs[..] {
        [_] => {}
        [_, last] if last.offset + last.size == f.len => {}
        _ => return Err(format!("{} moov boxes", moovs.len())),
    }
    let tracks = moov_kids.iter().filter(|b| &b.fourcc == b"trak").count();
    let moov_at = top.iter().position(|b| &b.fourcc == b"moov");
    if let Some(moof_at) = top.iter().position(|b| &b.fourcc == b"moof")
        && moov_at > Some(moof_at)
    {
        return Err("moof before the moov".into());
    }
    let mut fragments = Vec::new();
    let mut numbers = Vec::new();
    let mut next_seq = 1;
    let mut ends: Vec<Option<u64>> = vec![None; tracks];
    for (i, b) in top.iter().enumerate() {
        match &b.fourcc {
            b"moof" => {}
            b"mdat" if i > 0 && &top[i - 1].fourcc == b"moof" => continue,
            // Former moofs (turned into free) may precede an mdat while finalizing.
            b"mdat" if i > 0 && &top[i - 1].fourcc == b"free" => continue,
            // A fragment's producer reference time, before its moof.
            b"prft" if top.get(i + 1).is_some_and(|m| &m.fourcc == b"moof") => continue,
            b"ftyp" | b"free" | b"moov" => continue,
            other => return Err(format!("unexpected {:?}", String::from_utf8_lossy(other))),
        }
        let mdat = top.get(i + 1).filter(|m| &m.fourcc == b"mdat");
        let Some(mdat) = mdat else {
            return Err(format!("moof at {} without mdat", b.offset));
        };
        let (ps, pe) = mdat.payload();
        let bytes = f.read(b.offset, b.size);
        let moof = read::boxes_at(&bytes, b.offset).next().unwrap().unwrap();
        let mk = kids(&moof);
        let mut r = Rd(mk[0].payload);
        assert_eq!(&mk[0].fourcc, b"mfhd");
        r.full();
        let seq = r.u32();
        // Visible fragments are a prefix whose numbers go 1, 2, ... (later ones may be
        // hidden by a finalization in progress), or with `hidden_allowed` any subset.
        let follows = seq == next_seq;
        if !(follows || (hidden_allowed && seq > next_seq)) {
            return Err(format!("sequence {seq}, expected {next_seq}"));
        }
        if !follows {
            ends.iter_mut().for_each(|e| *e = None);
        }
        next_seq = seq + 1;
        numbers.push(seq);
        let mut per_track = vec![Vec::new(); tracks];
        for traf in mk.iter().filter(|k| &k.fourcc == b"traf") {
            let tk = kids(traf);
            let mut r = Rd(tk[0].payload);
            assert_eq!(&tk[0].fourcc, b"tfhd");
            let (_, fl) = r.full();
            let id = r.u32();
            let &(_, mut dur, mut size, mut flags) =
                trex.iter().find(|t| t.0 == id).ok_or("no trex")?;
            let base = if fl & 1 != 0 { r.u64() } else { b.offset };
            if fl & 2 != 0 {
                r.u32();
            }
            if fl & 8 != 0 {
                dur = r.u32();
            }
            if fl & 0x10 != 0 {
                size = r.u32();
            }
            if fl & 0x20 != 0 {
                flags = r.u32();
            }
            assert!(fl & 0x2_0000 != 0 || fl & 1 != 0, "base must be explicit");
            let tfdt = tk.iter().find(|k| &k.fourcc == b"tfdt").ok_or("no tfdt")?;
            let mut r = Rd(tfdt.payload);
            let (v, _) = r.full();
            let mut dts = r.uv(v);
            let ti = id as usize - 1;
            if let Some(end) = ends[ti]
                && dts != end
            {
                return Err(format!("track {id}: tfdt {dts} but previous end {end}"));
            }
            for trun in tk.iter().filter(|k| &k.fourcc == b"trun") {
                let mut r = Rd(trun.payload);
                let (v, tf) = r.full();
                let n = r.u32();
                let mut pos = base;
                if tf & 1 != 0 {
                    pos = (base as i64 + i64::from(r.u32() as i32)) as u64;
                }
                let first = (tf & 4 != 0).then(|| r.u32());
                for k in 0..n {
                    let d = if tf & 0x100 != 0 { r.u32() } else { dur };
                    let s = if tf & 0x200 != 0 { r.u32() } else { size };
                    let mut fl = if tf & 0x400 != 0 { r.u32() } else { flags };
                    if k == 0
                        && let Some(first) = first
                    {
                        fl = first;
                    }
                    let c = if tf & 0x800 != 0 {
                        let raw = r.u32();
                        if v == 0 {
                            assert!(raw <= i32::MAX as u32);
                        }
                        raw as i32
                    } else {
                        0
                    };
                    if pos < ps || pos + u64::from(s) > pe {
                        return Err(format!("sample at {pos} outside mdat {ps}..{pe}"));
                    }
                    per_track[ti].push(FragSample {
                        dts,
                        duration: d,
                        cts_offset: c,
                        size: s,
                        is_sync: fl & 0x1_0000 == 0,
                        offset: pos,
                    });
                    dts += u64::from(d);
                    pos += u64::from(s);
                }
                assert!(r.0.is_empty());
            }
            ends[ti] = Some(dts);
        }
        fragments.push(per_track);
    }
    Ok((Parsed::Fragmented { tracks, fragments }, numbers))
}

/// Per-track samples of a fragmented parse, concatenated over fragments.
pub fn by_track(tracks: usize, fragments: &[Vec<Vec<FragSample>>]) -> Vec<Vec<FragSample>> {
    let mut out = vec![Vec::new(); tracks];
    for f in fragments {
        for (t, s) in f.iter().enumerate() {
            out[t].extend_from_slice(s);
        }
    }
    out
}
