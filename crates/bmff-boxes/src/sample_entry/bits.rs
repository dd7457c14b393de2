//! A small reader of the bits of H.264 / H.265 parameter sets: emulation prevention bytes
//! removed (ISO/IEC 14496-10 §7.4.1, ITU-T H.265 §7.4.2), fixed-width fields and Exp-Golomb
//! codes (§9.1 of both). Only what the decoder configuration records need.

use crate::sample_entry::SampleEntryError;

/// The RBSP of a NAL unit: its bytes with every `0x03` that follows two zero bytes removed.
pub(crate) fn rbsp(nal: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(nal.len());
    let mut zeros = 0;
    for &b in nal {
        if zeros >= 2 && b == 3 {
            zeros = 0;
            continue;
        }
        zeros = if b == 0 { zeros + 1 } else { 0 };
        out.push(b);
    }
    out
}

/// Reads bits most significant first from an RBSP.
pub(crate) struct Bits<'a> {
    data: &'a [u8],
    pos: usize,
    what: &'static str,
}

impl<'a> Bits<'a> {
    /// A reader over `data`; `what` names the parameter set in errors.
    pub(crate) fn new(data: &'a [u8], what: &'static str) -> Self {
        Self { data, pos: 0, what }
    }

    /// One bit as a flag.
    pub(crate) fn flag(&mut self) -> Result<bool, SampleEntryError> {
        Ok(self.u(1)? == 1)
    }

    /// `n` bits (at most 64) as an unsigned number: `u(n)`.
    pub(crate) fn u(&mut self, n: u32) -> Result<u64, SampleEntryError> {
        debug_assert!(n <= 64);
        let mut v = 0u64;
        for _ in 0..n {
            let byte = self
                .data
                .get(self.pos / 8)
                .ok_or(SampleEntryError::Truncated { what: self.what })?;
            let bit = (byte >> (7 - self.pos % 8)) & 1;
            v = v << 1 | u64::from(bit);
            self.pos += 1;
        }
        Ok(v)
    }

    /// Skips `n` bits.
    pub(crate) fn skip(&mut self, n: u32) -> Result<(), SampleEntryError> {
        let end = self.pos + n as usize;
        if end > self.data.len() * 8 {
            return Err(SampleEntryError::Truncated { what: self.what });
        }
        self.pos = end;
        Ok(())
    }

    /// An unsigned Exp-Golomb code: `ue(v)`, at most 32 bits of value.
    pub(crate) fn ue(&mut self) -> Result<u32, SampleEntryError> {
        let mut zeros = 0;
        while !self.flag()? {
            zeros += 1;
            if zeros > 31 {
                return Err(SampleEntryError::Invalid {
                    what: self.what,
                    reason: "exp-golomb code longer than 32 bits",
                });
            }
        }
        let rest = self.u(zeros)?;
        Ok(((1u64 << zeros) - 1 + rest) as u32)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rbsp_drops_emulation_prevention_bytes() {
        assert_eq!(
            rbsp(&[0x67, 0, 0, 3, 1, 0, 0, 3, 0, 3]),
            [0x67, 0, 0, 1, 0, 0, 0, 3]
        );
        assert_eq!(rbsp(&[0, 3, 0, 0]), [0, 3, 0, 0]);
    }

    #[test]
    fn reads_fixed_fields_and_exp_golomb_codes() {
        // 1 | 010 | 011 | 00100 | 0001000 | 1: ue 0, 1, 2, 3, 7, then a flag.
        let data = [0b1010_0110, 0b0100_0001, 0b0001_0000];
        let mut b = Bits::new(&data, "test");
        assert_eq!(b.ue().unwrap(), 0);
        assert_eq!(b.ue().unwrap(), 1);
        assert_eq!(b.ue().unwrap(), 2);
        assert_eq!(b.ue().unwrap(), 3);
        assert_eq!(b.ue().unwrap(), 7);
        assert!(b.flag().unwrap());
        assert_eq!(b.u(3).unwrap(), 0);
        assert_eq!(b.u(1).unwrap(), 0);
        assert_eq!(
            b.u(1),
            Err(SampleEntryError::Truncated { what: "test" }),
            "past the end"
        );
        let mut b = Bits::new(&[0xab, 0xcd], "test");
        assert_eq!(b.u(12).unwrap(), 0xabc);
        b.skip(4).unwrap();
        assert!(b.flag().is_err());
    }
}
