//! A strict cursor over one box's payload.

use crate::read::{RawBox, ReadError, malformed};

/// Reads big-endian fields from a box payload; running out of payload is a
/// [`ReadError::Malformed`] naming the box.
pub(crate) struct Cursor<'a> {
    b: RawBox<'a>,
    /// Bytes of the payload consumed so far.
    pub(crate) pos: usize,
}

impl<'a> Cursor<'a> {
    pub(crate) fn new(b: &RawBox<'a>) -> Self {
        Self { b: *b, pos: 0 }
    }

    /// A [`ReadError::Malformed`] about this box.
    pub(crate) fn err(&self, what: impl Into<String>) -> ReadError {
        malformed(&self.b, what)
    }

    /// Bytes left.
    pub(crate) fn left(&self) -> usize {
        self.b.payload.len() - self.pos
    }

    /// The rest of the payload, not consumed.
    pub(crate) fn rest(&self) -> &'a [u8] {
        &self.b.payload[self.pos..]
    }

    pub(crate) fn take(&mut self, n: usize) -> Result<&'a [u8], ReadError> {
        if self.left() < n {
            return Err(self.err(format!(
                "payload of {} bytes ends inside a field at {}",
                self.b.payload.len(),
                self.pos
            )));
        }
        self.pos += n;
        Ok(&self.b.payload[self.pos - n..self.pos])
    }

    pub(crate) fn arr<const N: usize>(&mut self) -> Result<[u8; N], ReadError> {
        Ok(self.take(N)?.try_into().expect("N bytes"))
    }
    pub(crate) fn u8(&mut self) -> Result<u8, ReadError> {
        Ok(self.arr::<1>()?[0])
    }
    pub(crate) fn u16(&mut self) -> Result<u16, ReadError> {
        Ok(u16::from_be_bytes(self.arr()?))
    }
    pub(crate) fn i16(&mut self) -> Result<i16, ReadError> {
        Ok(i16::from_be_bytes(self.arr()?))
    }
    pub(crate) fn u32(&mut self) -> Result<u32, ReadError> {
        Ok(u32::from_be_bytes(self.arr()?))
    }
    pub(crate) fn i32(&mut self) -> Result<i32, ReadError> {
        Ok(i32::from_be_bytes(self.arr()?))
    }
    pub(crate) fn u64(&mut self) -> Result<u64, ReadError> {
        Ok(u64::from_be_bytes(self.arr()?))
    }
    pub(crate) fn i64(&mut self) -> Result<i64, ReadError> {
        Ok(i64::from_be_bytes(self.arr()?))
    }

    /// A u32 in version 0, a u64 in version 1.
    pub(crate) fn uv(&mut self, version: u8) -> Result<u64, ReadError> {
        if version == 1 {
            self.u64()
        } else {
            self.u32().map(u64::from)
        }
    }

    pub(crate) fn skip(&mut self, n: usize) -> Result<(), ReadError> {
        self.take(n).map(|_| ())
    }

    /// Version and flags of a full box, any version.
    pub(crate) fn full(&mut self) -> Result<(u8, u32), ReadError> {
        let v = self.u32()?;
        Ok(((v >> 24) as u8, v & 0xff_ffff))
    }

    /// Version (0 or 1 only) and flags of a full box.
    pub(crate) fn full_v01(&mut self) -> Result<(u8, u32), ReadError> {
        let (version, flags) = self.full()?;
        if version > 1 {
            return Err(self.err(format!("unsupported version {version}")));
        }
        Ok((version, flags))
    }

    /// Checks that `count` entries of `entry_len` bytes fit in the rest of the payload,
    /// before anything is allocated for them.
    pub(crate) fn table(&self, count: u32, entry_len: usize) -> Result<(), ReadError> {
        let left = self.left() as u64;
        if u64::from(count) * entry_len as u64 > left {
            return Err(self.err(format!(
                "{count} entries of {entry_len} bytes but {left} bytes left"
            )));
        }
        Ok(())
    }

    /// Requires the payload to be fully consumed.
    pub(crate) fn end(&self) -> Result<(), ReadError> {
        match self.left() {
            0 => Ok(()),
            n => Err(self.err(format!("{n} unexpected bytes at the end"))),
        }
    }
}
