//! The `Range` header (RFC 9110 §14): one byte range of a body of known length.

/// What a `Range` header asks of a body of `len` bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ranged {
    /// The whole body (no header, several ranges, or one that cannot be read: ignored as
    /// RFC 9110 allows).
    Full,
    /// Bytes `start..end` (end exclusive, non-empty).
    Part(u64, u64),
    /// A valid range past the end: 416.
    Unsatisfiable,
}

/// Parses `value` (`bytes=0-99`, `bytes=100-`, `bytes=-100`) against a body of `len`
/// bytes.
pub fn parse(value: &str, len: u64) -> Ranged {
    let Some(spec) = value.trim().strip_prefix("bytes=") else {
        return Ranged::Full;
    };
    if spec.contains(',') {
        return Ranged::Full;
    }
    let Some((first, last)) = spec.trim().split_once('-') else {
        return Ranged::Full;
    };
    let number = |s: &str| -> Option<u64> {
        (!s.is_empty() && s.bytes().all(|b| b.is_ascii_digit())).then(|| s.parse().ok())?
    };
    match (first.trim(), last.trim()) {
        ("", suffix) => match number(suffix) {
            None => Ranged::Full,
            Some(0) => Ranged::Unsatisfiable,
            Some(_) if len == 0 => Ranged::Unsatisfiable,
            Some(n) => Ranged::Part(len.saturating_sub(n), len),
        },
        (first, last) => {
            let Some(start) = number(first) else {
                return Ranged::Full;
            };
            let end = match last {
                "" => len,
                last => match number(last) {
                    Some(l) if l >= start => l.saturating_add(1).min(len),
                    _ => return Ranged::Full,
                },
            };
            if start >= len {
                Ranged::Unsatisfiable
            } else {
                Ranged::Part(start, end)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn single_ranges() {
        assert_eq!(parse("bytes=0-99", 1000), Ranged::Part(0, 100));
        assert_eq!(parse("bytes=900-", 1000), Ranged::Part(900, 1000));
        assert_eq!(parse("bytes=900-5000", 1000), Ranged::Part(900, 1000));
        assert_eq!(parse("bytes=-100", 1000), Ranged::Part(900, 1000));
        assert_eq!(parse("bytes=-5000", 1000), Ranged::Part(0, 1000));
        assert_eq!(parse("bytes=999-999", 1000), Ranged::Part(999, 1000));
    }

    #[test]
    fn unsatisfiable_and_ignored() {
        assert_eq!(parse("bytes=1000-", 1000), Ranged::Unsatisfiable);
        assert_eq!(parse("bytes=-0", 1000), Ranged::Unsatisfiable);
        assert_eq!(parse("bytes=0-", 0), Ranged::Unsatisfiable);
        // Syntax it does not serve: the whole body.
        assert_eq!(parse("bytes=0-1,5-6", 1000), Ranged::Full);
        assert_eq!(parse("items=0-1", 1000), Ranged::Full);
        assert_eq!(parse("bytes=5-1", 1000), Ranged::Full);
        assert_eq!(parse("bytes=a-b", 1000), Ranged::Full);
        assert_eq!(parse("bytes=+1-2", 1000), Ranged::Full);
        assert_eq!(parse("bytes=-", 1000), Ranged::Full);
    }
}
