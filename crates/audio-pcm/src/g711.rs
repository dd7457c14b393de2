//! G.711 expansion to 16-bit linear PCM (ITU-T G.711 tables 1 and 2, in the form of the
//! reference implementation `g711.c` that ffmpeg and SoX also use: µ-law spans ±32124,
//! A-law ±32256).

/// Expands one µ-law byte.
pub fn ulaw_to_linear(u: u8) -> i16 {
    let u = !u;
    let t = ((i32::from(u & 0x0F) << 3) + 0x84) << ((u & 0x70) >> 4);
    (if u & 0x80 != 0 { 0x84 - t } else { t - 0x84 }) as i16
}

/// Expands one A-law byte.
pub fn alaw_to_linear(a: u8) -> i16 {
    let a = a ^ 0x55;
    let t = i32::from(a & 0x0F);
    let seg = (a & 0x70) >> 4;
    let t = if seg > 0 {
        (t * 2 + 1 + 32) << (seg + 2)
    } else {
        (t * 2 + 1) << 3
    };
    (if a & 0x80 != 0 { t } else { -t }) as i16
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ulaw_known_values() {
        // Both zero codes, the extremes, and the first steps (G.711 table 2).
        assert_eq!(ulaw_to_linear(0xFF), 0);
        assert_eq!(ulaw_to_linear(0x7F), 0);
        assert_eq!(ulaw_to_linear(0x80), 32124);
        assert_eq!(ulaw_to_linear(0x00), -32124);
        assert_eq!(ulaw_to_linear(0xFE), 8);
        assert_eq!(ulaw_to_linear(0x7E), -8);
        assert_eq!(ulaw_to_linear(0xEF), 132); // segment 1, step 0: (0x84 << 1) - 0x84
    }

    #[test]
    fn alaw_known_values() {
        assert_eq!(alaw_to_linear(0xD5), 8);
        assert_eq!(alaw_to_linear(0x55), -8);
        assert_eq!(alaw_to_linear(0xAA), 32256);
        assert_eq!(alaw_to_linear(0x2A), -32256);
    }

    #[test]
    fn tables_are_odd_symmetric_and_monotonic() {
        let mut prev = i16::MIN;
        // µ-law codes 0x00..=0x7F rise from -32124 to 0, 0xFF..=0x80 from 0 to 32124.
        for u in (0x00..=0x7Fu8).chain((0x80..=0xFFu8).rev()) {
            let v = ulaw_to_linear(u);
            assert!(v >= prev, "µ-law {u:#04x}");
            prev = v;
        }
        for u in 0..=0x7Fu8 {
            assert_eq!(ulaw_to_linear(u), -ulaw_to_linear(u | 0x80));
            assert_eq!(alaw_to_linear(u), -alaw_to_linear(u | 0x80));
        }
    }
}
