//! Parsers of option values, shared by the command line (as clap value parsers) and the
//! config file (through [`de`](crate::options::de)).

use std::time::Duration;

/// Why a value was refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Invalid {
    /// It cannot be read at all (the parser's own message).
    Syntax(String),
    /// It reads, but is out of range.
    Range(&'static str),
}

impl std::fmt::Display for Invalid {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Invalid::Syntax(m) => f.write_str(m),
            Invalid::Range(m) => f.write_str(m),
        }
    }
}

impl std::error::Error for Invalid {}

/// A humantime duration (`10s`, `5m`, `1h30m`).
fn any_duration(s: &str) -> Result<Duration, Invalid> {
    humantime::parse_duration(s).map_err(|e| Invalid::Syntax(e.to_string()))
}

/// A positive duration.
pub fn positive_duration(s: &str) -> Result<Duration, Invalid> {
    let d = any_duration(s)?;
    if d.is_zero() {
        return Err(Invalid::Range("must be greater than zero"));
    }
    Ok(d)
}

/// A duration where 0 means "off", in whole seconds.
pub fn duration_or_zero(s: &str) -> Result<Duration, Invalid> {
    let d = any_duration(s)?;
    if d.subsec_nanos() != 0 {
        return Err(Invalid::Range("must be whole seconds"));
    }
    Ok(d)
}

/// A fragment's target length: from 1 ms to about 49 days (u32 milliseconds).
pub fn fragment_duration(s: &str) -> Result<Duration, Invalid> {
    let d = positive_duration(s)?;
    if d < Duration::from_millis(1) || d.as_millis() > u128::from(u32::MAX) {
        return Err(Invalid::Range("must be between 1ms and 49days"));
    }
    Ok(d)
}

/// A bound that can be turned off: `none`, or a value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Bound<T> {
    /// `none`: no bound.
    None,
    /// The bound.
    At(T),
}

impl<T> Bound<T> {
    /// The value, unless `none`.
    pub fn value(self) -> Option<T> {
        match self {
            Self::None => None,
            Self::At(v) => Some(v),
        }
    }
}

impl<T: std::fmt::Display> std::fmt::Display for Bound<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::None => f.write_str("none"),
            Self::At(v) => v.fmt(f),
        }
    }
}

/// `none`, or what `parse` reads.
fn bound<T>(s: &str, parse: impl FnOnce(&str) -> Result<T, Invalid>) -> Result<Bound<T>, Invalid> {
    if s.trim().eq_ignore_ascii_case("none") {
        Ok(Bound::None)
    } else {
        parse(s).map(Bound::At)
    }
}

/// `none` or a positive duration.
pub fn duration_bound(s: &str) -> Result<Bound<humantime::Duration>, Invalid> {
    bound(s, |s| positive_duration(s).map(humantime::Duration::from))
}

/// A size in bytes with a unit: `500MB`, `2GB`, `1.5GiB` (SI units are powers of 1000,
/// IEC units of 1024), at least 1 MB.
pub fn size(s: &str) -> Result<bytesize::ByteSize, Invalid> {
    let size: bytesize::ByteSize = s
        .trim()
        .parse()
        .map_err(|e: String| Invalid::Syntax(format!("invalid size {s:?}: {e}")))?;
    if size.as_u64() < 1_000_000 {
        return Err(Invalid::Range("must be at least 1MB"));
    }
    Ok(size)
}

/// `none` or a size ([`size`]).
pub fn size_bound(s: &str) -> Result<Bound<bytesize::ByteSize>, Invalid> {
    bound(s, size)
}

/// A clap value parser from one of the parsers above, handing out the
/// [`humantime::Duration`] that the options hold (it shows defaults as `10s`).
pub fn clap_duration(
    parse: fn(&str) -> Result<Duration, Invalid>,
) -> impl Fn(&str) -> Result<humantime::Duration, Invalid> + Clone + Send + Sync + 'static {
    move |s| parse(s).map(humantime::Duration::from)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(positive_duration("1m30s"), Ok(Duration::from_secs(90)));
        assert_eq!(
            positive_duration("0s"),
            Err(Invalid::Range("must be greater than zero"))
        );
        assert!(matches!(positive_duration("10q"), Err(Invalid::Syntax(_))));
        assert_eq!(duration_or_zero("0s"), Ok(Duration::ZERO));
        assert_eq!(
            duration_or_zero("1500ms"),
            Err(Invalid::Range("must be whole seconds"))
        );
        assert_eq!(fragment_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(
            fragment_duration("100us"),
            Err(Invalid::Range("must be between 1ms and 49days"))
        );
        assert!(fragment_duration("50days").is_err());
    }

    #[test]
    fn bounds_and_sizes() {
        assert_eq!(duration_bound("none"), Ok(Bound::None));
        assert_eq!(duration_bound("NONE"), Ok(Bound::None));
        assert_eq!(
            duration_bound("1day").map(|b| b.value().map(Duration::from)),
            Ok(Some(Duration::from_secs(86_400)))
        );
        assert!(duration_bound("0s").is_err());
        assert_eq!(size("2GB").map(|s| s.as_u64()), Ok(2_000_000_000));
        assert_eq!(size("1.5 GiB").map(|s| s.as_u64()), Ok(1_610_612_736));
        assert_eq!(size("500KB"), Err(Invalid::Range("must be at least 1MB")));
        assert!(matches!(size("lots"), Err(Invalid::Syntax(_))));
        assert_eq!(size_bound("none"), Ok(Bound::None));
        assert_eq!(Bound::<u32>::None.to_string(), "none");
        assert_eq!(
            Bound::At(humantime::Duration::from(Duration::from_secs(600))).to_string(),
            "10m"
        );
    }
}
