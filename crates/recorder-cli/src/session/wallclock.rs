//! Wall-clock times of a session's files, from its media timeline (pure).
//!
//! Media time (the RTP clock) is the truth within a session; the wall clock only names it.
//! The first file's start is the local clock when its first sample arrived. Each later
//! file's start is the previous mapping carried along the media timeline, corrected
//! toward the local arrival time by at most [`MAX_SLEW_PPM`] of the media time since the
//! last correction (Moonfire's rule): a camera clock that runs fast or slow neither makes
//! consecutive files overlap nor drift apart, and the files of a span touch exactly (the
//! router ends each file at the next one's start). A difference beyond [`JUMP`] (the local
//! clock was set, or the camera's clock jumped) is taken at once and logged: a new span.

use std::time::{Duration, SystemTime};

/// How far (parts per million of media time) a correction may move the mapping.
pub const MAX_SLEW_PPM: i128 = 500;

/// A change of the difference between the mapping and the local clock, from one file to
/// the next, beyond which the mapping jumps to the local clock.
pub const JUMP: Duration = Duration::from_secs(2);

fn ns(t: SystemTime) -> i128 {
    match t.duration_since(SystemTime::UNIX_EPOCH) {
        Ok(d) => d.as_nanos() as i128,
        Err(e) => -(e.duration().as_nanos() as i128),
    }
}

fn time(ns: i128) -> SystemTime {
    if ns >= 0 {
        SystemTime::UNIX_EPOCH + Duration::from_nanos(u64::try_from(ns).unwrap_or(u64::MAX))
    } else {
        SystemTime::UNIX_EPOCH - Duration::from_nanos(u64::try_from(-ns).unwrap_or(u64::MAX))
    }
}

/// See the module documentation.
#[derive(Clone, Copy, Debug, Default)]
pub struct WallClock {
    /// (media ns since the session's zero, wall ns since the epoch) of the last mapping.
    anchor: Option<(i128, i128)>,
    /// The local clock minus the mapping at the last mapping.
    behind: i128,
}

/// Where a media instant falls on the wall clock.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Placed {
    /// The wall-clock time.
    pub wall: SystemTime,
    /// True when the mapping jumped here (more than [`JUMP`] off the local clock).
    pub jumped: bool,
}

impl WallClock {
    /// The wall-clock time of media instant `media_ns` (nanoseconds since the session's
    /// zero; not before the previous call's), whose sample arrived at `arrival`.
    pub fn place(&mut self, media_ns: i128, arrival: SystemTime) -> Placed {
        let arrival = ns(arrival);
        let Some((media0, wall0)) = self.anchor else {
            self.anchor = Some((media_ns, arrival));
            return Placed {
                wall: time(arrival),
                jumped: false,
            };
        };
        let elapsed = (media_ns - media0).max(0);
        let predicted = wall0 + elapsed;
        let error = arrival - predicted;
        let (wall, jumped) = if (error - self.behind).abs() > JUMP.as_nanos() as i128 {
            (arrival, true)
        } else {
            let allowed = elapsed * MAX_SLEW_PPM / 1_000_000;
            (predicted + error.clamp(-allowed, allowed), false)
        };
        self.anchor = Some((media_ns, wall));
        self.behind = arrival - wall;
        Placed {
            wall: time(wall),
            jumped,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SEC: i128 = 1_000_000_000;

    fn at(ns: i128) -> SystemTime {
        time(1_700_000_000 * SEC + ns)
    }

    /// A camera whose clock runs 1000 ppm fast: its media seconds are shorter than the
    /// local ones. 10-minute files for a day: consecutive files touch exactly (each ends
    /// where the next starts), every file's wall length is its media length within
    /// 500 ppm, and the mapping follows the local clock as closely as that allows.
    #[test]
    fn a_fast_camera_over_a_day_keeps_files_touching() {
        let mut clock = WallClock::default();
        let file = 600 * SEC;
        let mut starts = Vec::new();
        for i in 0..=144 {
            let media = i * file;
            // The local clock: media time stretched by 1000 ppm, plus a little jitter.
            let arrival = media + media / 1000 + (i % 3) * 5_000_000;
            let p = clock.place(media, at(arrival));
            assert!(!p.jumped, "file {i}");
            starts.push(ns(p.wall));
        }
        for w in starts.windows(2) {
            let wall_len = w[1] - w[0];
            // Within 500 ppm of the media length (600 s): at most 0.3 s longer.
            assert!(
                wall_len >= file && wall_len <= file + file / 2000,
                "{wall_len}"
            );
        }
        // The camera gained 86.4 s on the local clock over the day; slewing at 500 ppm
        // caught up 43.2 s of it.
        let day = 144 * file;
        let behind = (day + day / 1000) - (starts[144] - starts[0]);
        assert!((behind - 43_200_000_000).abs() < 20_000_000, "{behind}");
    }

    #[test]
    fn a_clock_jump_is_taken_at_once() {
        let mut clock = WallClock::default();
        assert_eq!(clock.place(0, at(0)).wall, at(0));
        let p = clock.place(600 * SEC, at(600 * SEC + 3600 * SEC));
        assert!(p.jumped);
        assert_eq!(p.wall, at(4200 * SEC));
        // Small jitter is slewed, not jumped.
        let p = clock.place(1200 * SEC, at(4800 * SEC + SEC));
        assert!(!p.jumped);
        assert_eq!(p.wall, at(4800 * SEC + 300_000_000));
    }
}
