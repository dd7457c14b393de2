//! Small NAL unit inspections that retina does not do for us.

/// True if an H.265 access unit in 4-byte length-prefixed framing is an IRAP picture:
/// it has VCL NAL units and all of them are IRAP (BLA, IDR or CRA, types 16 to 23).
///
/// retina flags only IDR pictures as random access points, but encoders (x265 by default)
/// start later GOPs with CRA pictures; without this, a file would have one sync sample.
/// A CRA followed by RASL pictures (open GOP with B-frames) is not a clean start: the
/// recorder drops the pictures that follow a file's first keyframe in decode order but
/// precede it in presentation order.
pub(crate) fn h265_is_irap(mut data: &[u8]) -> bool {
    let mut saw_vcl = false;
    while data.len() >= 5 {
        let len = u32::from_be_bytes([data[0], data[1], data[2], data[3]]) as usize;
        let Some(nal) = data.get(4..4 + len) else {
            return false;
        };
        if let Some(&header) = nal.first() {
            let unit_type = (header >> 1) & 0x3f;
            if unit_type < 32 {
                if !(16..=23).contains(&unit_type) {
                    return false;
                }
                saw_vcl = true;
            }
        }
        data = &data[4 + len..];
    }
    saw_vcl
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One length-prefixed NAL with the given type and a payload byte.
    fn nal(unit_type: u8) -> Vec<u8> {
        vec![0, 0, 0, 3, unit_type << 1, 0x01, 0xaf]
    }

    #[test]
    fn irap_types() {
        assert!(h265_is_irap(&nal(21))); // CRA_NUT
        assert!(h265_is_irap(&nal(19))); // IDR_W_RADL
        assert!(h265_is_irap(&nal(16))); // BLA_W_LP
        assert!(!h265_is_irap(&nal(1))); // TRAIL_R
        assert!(!h265_is_irap(&nal(9))); // RASL_R
    }

    #[test]
    fn non_vcl_units_are_ignored_but_one_vcl_is_needed() {
        let sei_then_cra = [nal(39), nal(21)].concat();
        assert!(h265_is_irap(&sei_then_cra));
        assert!(!h265_is_irap(&nal(39)));
        let cra_and_trail = [nal(21), nal(1)].concat();
        assert!(!h265_is_irap(&cra_and_trail));
    }

    #[test]
    fn truncated_data_is_not_irap() {
        let mut d = nal(21);
        d[3] = 9; // claims more bytes than there are
        assert!(!h265_is_irap(&d));
        assert!(!h265_is_irap(&[]));
    }
}
