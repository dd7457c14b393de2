//! A small, independent ISO BMFF parser that prints a box tree as text.
//!
//! It shares no code with the encoders in this crate, so a dump of their output is a check
//! on them. It walks boxes with [`read`](crate::read)'s walker and renders `trun` boxes
//! from [`read::parse_trun`](crate::read::parse_trun). One line per box: indentation for depth, the fourcc, `size=`, then the box's key
//! fields; long tables are elided to their first few entries plus a count. Unknown boxes are
//! printed with their fourcc and size only. Truncated input, impossible sizes and garbage box
//! types are errors.
//!
//! Callers that want to read tables themselves use [`read`](crate::read).
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

mod describe;

use std::fmt::Write as _;

use crate::read::{Boxes, ReadError, boxes};

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

/// Why a buffer could not be dumped: the reader's errors (a truncated or garbage box, a
/// payload that does not match its box's syntax).
pub type DumpError = ReadError;

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
        let (fields, children) = describe::describe(&b, opts)?;
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
