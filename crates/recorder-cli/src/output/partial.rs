//! Partial files: `NAME.partial` is a recording still being written (or left by a crash);
//! it becomes `NAME` by a rename that never replaces an existing file.

use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};

/// The suffix of a file still being written.
pub const PARTIAL_SUFFIX: &str = ".partial";

/// `<path>.partial`.
pub fn partial_path(path: &Path) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(PARTIAL_SUFFIX);
    PathBuf::from(name)
}

/// True when the file name is `NAME.partial` with a non-empty `NAME`.
pub fn has_partial_suffix(path: &Path) -> bool {
    path.file_name()
        .and_then(|n| n.to_str())
        .is_some_and(|n| n.len() > PARTIAL_SUFFIX.len() && n.ends_with(PARTIAL_SUFFIX))
}

/// Renames `FILE.partial` to `FILE`, or to `FILE-1`, `FILE-2`, ... (the number before the
/// extension: `x-1.mp4`) when that name exists; never replaces an existing file. Then
/// syncs the directory. Returns the new path.
pub fn rename_partial(path: &Path) -> io::Result<PathBuf> {
    let name = path
        .file_name()
        .and_then(|n| n.to_str())
        .and_then(|n| n.strip_suffix(PARTIAL_SUFFIX))
        .filter(|n| !n.is_empty())
        .ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("{} does not end in {PARTIAL_SUFFIX}", path.display()),
            )
        })?;
    let dir = path.parent().unwrap_or(Path::new(""));
    let target = dir.join(name);
    let (stem, ext) = match target.file_stem().and_then(|s| s.to_str()) {
        Some(stem) if stem != name => (stem.to_owned(), &name[stem.len()..]),
        _ => (name.to_owned(), ""),
    };
    for n in 0..10_000u32 {
        let candidate = if n == 0 {
            target.clone()
        } else {
            dir.join(format!("{stem}-{n}{ext}"))
        };
        match rename_no_replace(path, &candidate) {
            Ok(()) => {
                sync_dir(dir)?;
                return Ok(candidate);
            }
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(e),
        }
    }
    Err(io::Error::new(
        io::ErrorKind::AlreadyExists,
        format!("no free name for {}", target.display()),
    ))
}

/// Renames without replacing: a hard link (which fails when `to` exists) then removing
/// `from`; where hard links are not supported, an existence check then a rename.
fn rename_no_replace(from: &Path, to: &Path) -> io::Result<()> {
    match std::fs::hard_link(from, to) {
        Ok(()) => std::fs::remove_file(from),
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Err(e),
        Err(_) => {
            if to.try_exists()? {
                return Err(io::ErrorKind::AlreadyExists.into());
            }
            std::fs::rename(from, to)
        }
    }
}

/// Makes a new name, a rename or a removal in `dir` durable (`""` is the current
/// directory).
pub fn sync_dir(dir: &Path) -> io::Result<()> {
    let dir = if dir.as_os_str().is_empty() {
        Path::new(".")
    } else {
        dir
    };
    File::open(dir)?.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partial_suffix() {
        assert!(has_partial_suffix(Path::new("/a/x.mp4.partial")));
        assert!(!has_partial_suffix(Path::new("/a/x.mp4")));
        assert!(!has_partial_suffix(Path::new("/a/.partial")));
        assert_eq!(
            partial_path(Path::new("a/x.mp4")),
            Path::new("a/x.mp4.partial")
        );
    }
}
