//! [`WallTime`]: an instant of the wall clock, in nanoseconds since the Unix epoch (UTC).

use std::fmt;
use std::str::FromStr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::error::Error;

/// An instant of the wall clock: nanoseconds since the Unix epoch (1970-01-01T00:00:00Z),
/// negative before it. The catalog stores it as is (an SQLite `INTEGER`).
///
/// It covers the years 1677 to 2262. Conversions from wider types saturate at those ends
/// ([`WallTime::from_system_time`]) or fail ([`WallTime::parse_rfc3339`]); none panics.
///
/// ```
/// use catalog::WallTime;
///
/// let t: WallTime = "2025-03-01T12:00:00.5Z".parse().unwrap();
/// assert_eq!(t, WallTime(1_740_830_400_500_000_000));
/// assert_eq!(t.to_string(), "2025-03-01T12:00:00.5Z");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct WallTime(pub i64);

impl WallTime {
    /// The Unix epoch.
    pub const EPOCH: WallTime = WallTime(0);
    /// The earliest representable instant (1677-09-21).
    pub const MIN: WallTime = WallTime(i64::MIN);
    /// The latest representable instant (2262-04-11).
    pub const MAX: WallTime = WallTime(i64::MAX);

    /// The instant of `time`, saturating at [`WallTime::MIN`] and [`WallTime::MAX`].
    pub fn from_system_time(time: SystemTime) -> WallTime {
        match time.duration_since(UNIX_EPOCH) {
            Ok(after) => WallTime(i64::try_from(after.as_nanos()).unwrap_or(i64::MAX)),
            Err(before) => {
                let ns = before.duration().as_nanos();
                WallTime(i64::try_from(ns).map_or(i64::MIN, |ns| -ns))
            }
        }
    }

    /// The current wall-clock time.
    pub fn now() -> WallTime {
        WallTime::from_system_time(SystemTime::now())
    }

    /// This instant as a [`SystemTime`].
    pub fn to_system_time(self) -> SystemTime {
        let magnitude = Duration::from_nanos(self.0.unsigned_abs());
        if self.0 >= 0 {
            UNIX_EPOCH + magnitude
        } else {
            UNIX_EPOCH - magnitude
        }
    }

    /// Nanoseconds since the Unix epoch.
    pub fn as_nanos(self) -> i64 {
        self.0
    }

    /// This instant plus `duration`, saturating at [`WallTime::MAX`].
    pub fn saturating_add(self, duration: Duration) -> WallTime {
        let ns = i64::try_from(duration.as_nanos()).unwrap_or(i64::MAX);
        WallTime(self.0.saturating_add(ns))
    }

    /// This instant minus `duration`, saturating at [`WallTime::MIN`].
    pub fn saturating_sub(self, duration: Duration) -> WallTime {
        let ns = i64::try_from(duration.as_nanos()).unwrap_or(i64::MAX);
        WallTime(self.0.saturating_sub(ns))
    }

    /// Nanoseconds from `earlier` to `self`: negative if `earlier` is later. Saturates.
    pub fn nanos_since(self, earlier: WallTime) -> i64 {
        self.0.saturating_sub(earlier.0)
    }

    /// The time from `earlier` to `self`, or `None` if `earlier` is later.
    pub fn duration_since(self, earlier: WallTime) -> Option<Duration> {
        let ns = i128::from(self.0) - i128::from(earlier.0);
        u64::try_from(ns).ok().map(Duration::from_nanos)
    }

    /// RFC 3339 in UTC with as many fractional digits as needed, e.g.
    /// `2025-03-01T12:00:00Z` or `2025-03-01T12:00:00.040Z`. The same as `to_string()`.
    pub fn to_rfc3339(self) -> String {
        self.to_string()
    }

    /// Parses an RFC 3339 timestamp with any UTC offset (`2025-03-01T13:00:00+01:00`).
    pub fn parse_rfc3339(text: &str) -> Result<WallTime, Error> {
        let invalid = |reason: String| Error::InvalidTime {
            input: text.to_owned(),
            reason,
        };
        let ts: jiff::Timestamp = text
            .parse()
            .map_err(|e: jiff::Error| invalid(e.to_string()))?;
        i64::try_from(ts.as_nanosecond())
            .map(WallTime)
            .map_err(|_| invalid("outside the years 1677 to 2262".to_owned()))
    }

    fn to_timestamp(self) -> jiff::Timestamp {
        // Every i64 of nanoseconds is within jiff's range (years -9999 to 9999).
        jiff::Timestamp::from_nanosecond(i128::from(self.0)).unwrap_or(jiff::Timestamp::MIN)
    }
}

impl fmt::Display for WallTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.to_timestamp(), f)
    }
}

impl FromStr for WallTime {
    type Err = Error;

    fn from_str(s: &str) -> Result<WallTime, Error> {
        WallTime::parse_rfc3339(s)
    }
}

impl From<SystemTime> for WallTime {
    fn from(time: SystemTime) -> WallTime {
        WallTime::from_system_time(time)
    }
}

impl From<WallTime> for SystemTime {
    fn from(time: WallTime) -> SystemTime {
        time.to_system_time()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn system_time_round_trips_on_both_sides_of_the_epoch() {
        for ns in [0, 1, -1, 1_740_830_400_123_456_789, -86_400_000_000_123] {
            let t = WallTime(ns);
            assert_eq!(WallTime::from_system_time(t.to_system_time()), t);
        }
        let t = UNIX_EPOCH + Duration::new(1_700_000_000, 7);
        assert_eq!(WallTime::from(t), WallTime(1_700_000_000_000_000_007));
    }

    #[test]
    fn far_system_times_saturate() {
        let far = UNIX_EPOCH + Duration::from_secs(400 * 365 * 86_400);
        assert_eq!(WallTime::from_system_time(far), WallTime::MAX);
        let before = UNIX_EPOCH - Duration::from_secs(400 * 365 * 86_400);
        assert_eq!(WallTime::from_system_time(before), WallTime::MIN);
    }

    #[test]
    fn formats_and_parses_rfc3339() {
        let t = WallTime(1_740_830_400 * 1_000_000_000 + 40_000_000);
        assert_eq!(t.to_rfc3339(), "2025-03-01T12:00:00.04Z");
        assert_eq!(
            WallTime::parse_rfc3339("2025-03-01T12:00:00.04Z").unwrap(),
            t
        );
        assert_eq!(
            "2025-03-01T13:00:00.04+01:00".parse::<WallTime>().unwrap(),
            t
        );
        assert_eq!(WallTime(-1).to_string(), "1969-12-31T23:59:59.999999999Z");
        assert_eq!(
            WallTime::MIN.to_string().parse::<WallTime>().unwrap(),
            WallTime::MIN
        );
        assert_eq!(
            WallTime::MAX.to_string().parse::<WallTime>().unwrap(),
            WallTime::MAX
        );
    }

    #[test]
    fn rejects_bad_and_out_of_range_text() {
        for bad in ["", "yesterday", "2025-13-01T00:00:00Z", "2025-03-01 12:00"] {
            let err = WallTime::parse_rfc3339(bad).unwrap_err();
            assert!(
                matches!(err, Error::InvalidTime { ref input, .. } if input == bad),
                "{bad}"
            );
        }
        let err = WallTime::parse_rfc3339("2300-01-01T00:00:00Z").unwrap_err();
        assert!(err.to_string().contains("1677 to 2262"), "{err}");
    }

    #[test]
    fn arithmetic_saturates() {
        let d = Duration::from_secs(10);
        assert_eq!(WallTime(5).saturating_add(d), WallTime(10_000_000_005));
        assert_eq!(WallTime(5).saturating_sub(d), WallTime(-9_999_999_995));
        assert_eq!(WallTime::MAX.saturating_add(d), WallTime::MAX);
        assert_eq!(WallTime::MIN.saturating_sub(Duration::MAX), WallTime::MIN);
        assert_eq!(
            WallTime(30).duration_since(WallTime(10)),
            Some(Duration::from_nanos(20))
        );
        assert_eq!(WallTime(10).duration_since(WallTime(30)), None);
        assert_eq!(WallTime::MAX.nanos_since(WallTime::MIN), i64::MAX);
    }
}
