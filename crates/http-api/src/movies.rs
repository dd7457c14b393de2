//! The catalog's files as `mp4_export` [`Sources`]: each file's `moov` read from disk when
//! the export or plan gets to it, and dropped after, so that a long range never holds
//! every file's sample tables at once.

use std::borrow::Cow;
use std::collections::HashMap;
use std::fs::File;
use std::os::unix::fs::FileExt;

use catalog::FileRecord;
use mp4_export::{ExportError, SourceFile, Sources};

/// Reads the `moov` of `file` (top-level boxes walked with `pread`).
pub(crate) fn read_movie(file: &File, len: u64) -> Result<bmff_boxes::read::Movie, String> {
    let mut offset = 0u64;
    while offset < len {
        let mut head = [0u8; 16];
        let n = (len - offset).min(16) as usize;
        file.read_exact_at(&mut head[..n], offset)
            .map_err(|e| e.to_string())?;
        let h = bmff_boxes::read::header(&head[..n], offset, len - offset)
            .map_err(|e| e.to_string())?;
        if &h.fourcc == b"moov" {
            let size = usize::try_from(h.size).map_err(|e| e.to_string())?;
            let mut buf = vec![0u8; size];
            file.read_exact_at(&mut buf, offset)
                .map_err(|e| e.to_string())?;
            let raw = bmff_boxes::read::boxes(&buf)
                .next()
                .ok_or("no moov")?
                .map_err(|e| e.to_string())?;
            return bmff_boxes::read::parse_moov(&raw).map_err(|e| e.to_string());
        }
        if h.size == 0 {
            break;
        }
        offset = h.end();
    }
    Err("no moov box".to_owned())
}

/// Catalog rows whose movies are read when asked for: from the files already open
/// (an export holds them, locked, for its whole response) or, without them, by opening
/// the row's path (an HLS segment reads the one file it needs).
pub(crate) struct Movies<'a> {
    pub records: &'a [FileRecord],
    /// Files already open, by index into `records`.
    pub open: &'a HashMap<usize, File>,
}

impl Movies<'_> {
    fn read(&self, index: usize) -> Result<SourceFile, String> {
        let r = self.records.get(index).ok_or("no such file")?;
        let opened;
        let file = match self.open.get(&index) {
            Some(f) => f,
            None => {
                opened = File::open(&r.path).map_err(|e| e.to_string())?;
                &opened
            }
        };
        let len = file.metadata().map_err(|e| e.to_string())?.len();
        let movie = read_movie(file, len)?;
        Ok(SourceFile {
            movie,
            wall_start_ns: r.start.as_nanos(),
        })
    }
}

impl Sources for Movies<'_> {
    fn count(&self) -> usize {
        self.records.len()
    }

    fn load(&self, index: usize) -> Result<Cow<'_, SourceFile>, ExportError> {
        self.read(index).map(Cow::Owned).map_err(|reason| {
            let path = self
                .records
                .get(index)
                .map(|r| r.path.display().to_string());
            tracing::warn!("http: {}: {reason}", path.unwrap_or_default());
            ExportError::Unreadable { index, reason }
        })
    }
}
