//! The file side of reading MP4 metadata, shared by `inspect`, `verify` and `repair`.
//!
//! It reads the top-level box headers with positioned reads and the payloads of `moov`
//! and `moof` boxes, and hands them to [`bmff_boxes::read`], which parses them (media
//! data is read only through `read_at`, for `verify`'s data check). It checks syntax only (a field past the end of its box, an
//! impossible size); the consistency of the tables is `check`'s job.

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::Path;

use anyhow::{Context, bail};
use bmff_boxes::read::{
    self, Header, MAX_METADATA_BYTES, Moof, Movie, RawBox, ReadError, fourcc_str,
};

/// An open MP4 file and its top-level boxes.
#[derive(Debug)]
pub struct Mp4File {
    file: File,
    /// The file's length.
    pub len: u64,
    /// The top-level boxes, in order: they tile the file exactly unless `tail_problem`.
    pub boxes: Vec<Header>,
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
    pub fn read_box(&self, b: &Header) -> anyhow::Result<Vec<u8>> {
        if b.size > MAX_METADATA_BYTES {
            bail!(
                "{} at offset {} is too large to read: {} bytes",
                b.fourcc_str(),
                b.offset,
                b.size
            );
        }
        let mut buf = vec![0; b.size as usize];
        self.file
            .read_exact_at(&mut buf, b.offset)
            .with_context(|| format!("cannot read {} at offset {}", b.fourcc_str(), b.offset))?;
        Ok(buf)
    }

    /// Fills `buf` from `offset` (within the file).
    pub fn read_at(&self, offset: u64, buf: &mut [u8]) -> std::io::Result<()> {
        self.file.read_exact_at(buf, offset)
    }

    /// The boxes of type `fourcc`.
    pub fn find<'a>(&'a self, fourcc: &'a [u8; 4]) -> impl Iterator<Item = &'a Header> + 'a {
        self.boxes.iter().filter(move |b| &b.fourcc == fourcc)
    }

    /// Parses a top-level `moov`.
    pub fn movie(&self, b: &Header) -> anyhow::Result<Movie> {
        let buf = self.read_box(b)?;
        Ok(read::parse_moov(&RawBox::from_header(
            b,
            &buf[b.header_len as usize..],
        ))?)
    }

    /// Parses a top-level `moof`.
    pub fn fragment(&self, b: &Header) -> anyhow::Result<Moof> {
        let buf = self.read_box(b)?;
        Ok(read::parse_moof(&RawBox::from_header(
            b,
            &buf[b.header_len as usize..],
        ))?)
    }
}

/// Reads the top-level headers of a file of `len` bytes into `out`; returns why the walk
/// stopped early, if it did. Only I/O errors are errors.
fn top_level(file: &File, len: u64, out: &mut Vec<Header>) -> anyhow::Result<Option<String>> {
    let mut offset = 0u64;
    while offset < len {
        let left = len - offset;
        let mut h = [0u8; 16];
        let n = left.min(16) as usize;
        file.read_exact_at(&mut h[..n], offset)
            .with_context(|| format!("cannot read a box header at offset {offset}"))?;
        match top_header(&h[..n], offset, left) {
            Ok(b) => {
                out.push(b);
                offset = b.end();
            }
            Err(problem) => return Ok(Some(problem)),
        }
    }
    Ok(None)
}

/// The header of a top-level box from its first (up to 16) bytes `h`, or why no box
/// starts there.
fn top_header(h: &[u8], offset: u64, left: u64) -> Result<Header, String> {
    if h.len() < 8 {
        return Err(format!(
            "top-level boxes do not tile the file: {left} stray bytes at offset {offset}"
        ));
    }
    let name = fourcc_str(&[h[4], h[5], h[6], h[7]]);
    if !h[4..8].iter().all(|b| (0x20..0x7f).contains(b)) {
        return Err(format!(
            "not a box at offset {offset}: type {name} is not printable"
        ));
    }
    read::header(h, offset, left).map_err(|e| match e {
        ReadError::BadSize { size, .. } => {
            format!("{name} at offset {offset}: size {size} is smaller than its header")
        }
        ReadError::Truncated { .. } if h.len() < 16 && h[..4] == [0, 0, 0, 1] => {
            format!("{name} at offset {offset}: the file ends inside its 16-byte header")
        }
        ReadError::Truncated { needed, .. } => format!(
            "{name} at offset {offset}: size {needed} runs past the end of the file \
             ({left} bytes left): top-level boxes do not tile the file"
        ),
        e => e.to_string(),
    })
}
