//! Wall-clock times of a session's files, from its media timeline (pure).
//!
//! Media time (the RTP clock) is the truth within a session; the wall clock only names it.
//! Each file's start is named after a *reference*: the camera's clock, from its latest
//! RTCP sender report (its NTP time at an RTP time, carried along the media timeline),
//! while that report agreed with the local clock within [`AGREE`]; else the local clock
//! when the file's first sample arrived. The first file's start is the reference. Each
//! later file's start is the previous mapping carried along the media timeline, corrected
//! toward the reference by at most [`MAX_SLEW_PPM`] of the media time since the last
//! correction (Moonfire's rule): a camera clock that runs fast or slow neither makes
//! consecutive files overlap nor drift apart, and the files of a span touch exactly (the
//! router ends each file at the next one's start). A change of the difference beyond
//! [`JUMP`] (the local clock was set, the camera's clock stepped, or the reference moved
//! between the camera's clock and the local one) is taken at once and logged: a new span.
//! The sender reports themselves tell a step of the camera's clock (against the media
//! time) from one of the local clock (against the camera's), and both are logged.

use std::time::{Duration, SystemTime};

/// How far (parts per million of media time) a correction may move the mapping.
pub const MAX_SLEW_PPM: i128 = 500;

/// A change of the difference between the mapping and the local clock, from one file to
/// the next, beyond which the mapping jumps to the local clock.
pub const JUMP: Duration = Duration::from_secs(2);

/// `t` in nanoseconds since the Unix epoch (negative before it).
pub fn ns(t: SystemTime) -> i128 {
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

/// How far the camera's clock (a sender report's NTP time) may be from the local clock
/// (when the report arrived) for the files to follow it. Network delay and buffering are
/// well under it; a camera whose clock was never set, or runs in another time zone, is far
/// beyond it. MediaMTX uses the same 5 s as its drift tolerance.
pub const AGREE: Duration = Duration::from_secs(5);

/// See the module documentation.
#[derive(Clone, Copy, Debug, Default)]
pub struct WallClock {
    /// (media ns since the session's zero, wall ns since the epoch) of the last mapping.
    anchor: Option<(i128, i128)>,
    /// The reference minus the mapping at the last mapping.
    behind: i128,
    /// (media ns, the camera's wall ns) of the latest sender report that agreed with the
    /// local clock, while the latest one did.
    camera: Option<(i128, i128)>,
    /// The camera's clock minus the local one at the latest sender report.
    offset: Option<i128>,
}

/// What a sender report did ([`WallClock::sender_report`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Report {
    /// It agrees with the local clock: the files follow the camera's clock; `first` when
    /// they did not before.
    Used {
        /// The files did not follow the camera's clock before this report.
        first: bool,
        /// The camera's clock minus the local one, nanoseconds.
        offset_ns: i128,
    },
    /// Used, but the camera's clock stepped by `step_ns` against the media time since
    /// its previous report: the next file starts a new span.
    CameraStepped {
        /// The step, nanoseconds (positive: forward).
        step_ns: i128,
    },
    /// Used, but the local clock stepped by `step_ns` against the camera's since the
    /// previous report (the files follow the camera's clock: no new span).
    LocalStepped {
        /// The step, nanoseconds (positive: forward).
        step_ns: i128,
    },
    /// Ignored: the camera's clock is `offset_ns` off the local one, beyond [`AGREE`]; the
    /// files follow the local clock. `first` when they followed the camera's before (or
    /// this is the session's first report).
    Disagrees {
        /// The files followed the camera's clock before this report, or it is the first.
        first: bool,
        /// The camera's clock minus the local one, nanoseconds.
        offset_ns: i128,
        /// The camera's clock stepped against the media time since the previous report
        /// (nanoseconds), if by more than [`JUMP`].
        step_ns: Option<i128>,
    },
}

/// Seconds, with milliseconds, for logs.
fn secs(ns: i128) -> String {
    format!("{:+.3} s", ns as f64 / 1e9)
}

/// Logs what a sender report changed: once when the files start or stop following the
/// camera's clock, and at each step of either clock.
pub fn log(report: Report) {
    match report {
        Report::Used {
            first: true,
            offset_ns,
        } => tracing::info!(
            "files' wall-clock times follow the camera's clock (RTCP sender reports; it is \
             {} from the local clock)",
            secs(offset_ns)
        ),
        Report::Used { .. } => {}
        Report::CameraStepped { step_ns } => tracing::warn!(
            "the camera's clock stepped by {} (RTCP sender reports): a new span starts at \
             the next file",
            secs(step_ns)
        ),
        Report::LocalStepped { step_ns } => tracing::warn!(
            "the local clock stepped by {} against the camera's; the files follow the \
             camera's clock",
            secs(step_ns)
        ),
        Report::Disagrees {
            first,
            offset_ns,
            step_ns,
        } => {
            if let Some(step) = step_ns {
                tracing::warn!("the camera's clock stepped by {}", secs(step));
            }
            if first {
                tracing::warn!(
                    "the camera's clock is {} off the local clock (more than {} s): its \
                     RTCP sender reports are ignored, files' wall-clock times follow the \
                     local clock",
                    secs(offset_ns),
                    AGREE.as_secs()
                );
            }
        }
    }
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
    /// Takes a sender report of the camera: its clock read `camera` (nanoseconds since
    /// the epoch) at media instant `media_ns` (nanoseconds since the session's zero); it
    /// arrived at `received` on the local clock.
    pub fn sender_report(&mut self, media_ns: i128, camera: i128, received: SystemTime) -> Report {
        let offset_ns = camera - ns(received);
        let previous_offset = self.offset.replace(offset_ns);
        // The camera's clock against the media time since its previous report.
        let step = self
            .camera
            .map(|(m0, w0)| camera - (w0 + (media_ns - m0)))
            .filter(|s| s.abs() > JUMP.as_nanos() as i128);
        if offset_ns.abs() > AGREE.as_nanos() as i128 {
            let first = self.camera.take().is_some() || previous_offset.is_none();
            return Report::Disagrees {
                first,
                offset_ns,
                step_ns: step,
            };
        }
        let first = self.camera.replace((media_ns, camera)).is_none();
        if let Some(step_ns) = step {
            return Report::CameraStepped { step_ns };
        }
        // The offset moved without the camera's clock stepping: the local clock did.
        let local_step = previous_offset
            .map(|p| p - offset_ns)
            .filter(|s| !first && s.abs() > JUMP.as_nanos() as i128);
        match local_step {
            Some(step_ns) => Report::LocalStepped { step_ns },
            None => Report::Used { first, offset_ns },
        }
    }

    /// The wall-clock time of media instant `media_ns` (nanoseconds since the session's
    /// zero; not before the previous call's), whose sample arrived at `arrival`.
    pub fn place(&mut self, media_ns: i128, arrival: SystemTime) -> Placed {
        // The reference: the camera's clock carried along the media time, else arrival.
        let reference = match self.camera {
            Some((m0, w0)) => w0 + (media_ns - m0),
            None => ns(arrival),
        };
        let Some((media0, wall0)) = self.anchor else {
            self.anchor = Some((media_ns, reference));
            return Placed {
                wall: time(reference),
                jumped: false,
            };
        };
        let elapsed = (media_ns - media0).max(0);
        let predicted = wall0 + elapsed;
        let error = reference - predicted;
        let (wall, jumped) = if (error - self.behind).abs() > JUMP.as_nanos() as i128 {
            (reference, true)
        } else {
            let allowed = elapsed * MAX_SLEW_PPM / 1_000_000;
            (predicted + error.clamp(-allowed, allowed), false)
        };
        self.anchor = Some((media_ns, wall));
        self.behind = reference - wall;
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
    /// The camera's sender reports, every 5 s of media: its NTP clock is true (set by
    /// NTP) while its media clock runs 1000 ppm fast; the local clock is true too and sees
    /// each report 30 ms late and each file's first sample 50 ms late. 10-minute files for
    /// a day: the files follow the camera's clock, never jump, and consecutive files
    /// touch with wall lengths within 500 ppm of their media lengths.
    #[test]
    fn a_fast_camera_over_a_day_via_sender_reports_keeps_files_touching() {
        let mut clock = WallClock::default();
        // True time of media instant m: the media clock counts 1.001 s per second.
        let truth = |m: i128| m * 1000 / 1001;
        let file = 600 * SEC;
        let mut starts = Vec::new();
        let mut reports = Vec::new();
        for i in 0..=144 {
            let media = i * file;
            if i > 0 {
                // The reports since the previous file.
                for k in 0..120 {
                    let m = media - file + k * 5 * SEC;
                    let camera = ns(at(truth(m)));
                    reports.push(clock.sender_report(m, camera, at(truth(m) + 30_000_000)));
                }
            }
            let p = clock.place(media, at(truth(media) + 50_000_000));
            assert!(!p.jumped, "file {i}");
            starts.push(ns(p.wall));
        }
        assert!(
            matches!(reports[0], Report::Used { first: true, offset_ns } if offset_ns == -30_000_000)
        );
        assert!(
            reports[1..]
                .iter()
                .all(|r| matches!(r, Report::Used { first: false, .. })),
            "{:?}",
            reports
                .iter()
                .find(|r| !matches!(r, Report::Used { first: false, .. }))
        );
        for w in starts.windows(2) {
            let wall_len = w[1] - w[0];
            // Within 500 ppm of the media length (600 s): at most 0.3 s shorter.
            assert!(
                wall_len <= file && wall_len >= file - file / 2000,
                "{wall_len}"
            );
        }
        // The first file starts 50 ms after the true time (no report yet); the camera's
        // clock then gives the truth, which the files approach at 500 ppm: over the day
        // the media clock gained 86.3 s, of which 43.2 s were slewed away.
        let day = 144 * file;
        let lag = (starts[144] - ns(at(0))) - truth(day);
        let expected = 50_000_000 + day / 1001 - 43_200_000_000;
        assert!((lag - expected).abs() < 10_000_000, "{lag}");
    }

    #[test]
    fn a_sender_report_an_hour_off_is_ignored() {
        let mut clock = WallClock::default();
        let hour = 3600 * SEC;
        let r = clock.sender_report(0, ns(at(hour)), at(0));
        assert_eq!(
            r,
            Report::Disagrees {
                first: true,
                offset_ns: hour,
                step_ns: None
            }
        );
        // Logged once: the next one is not new.
        let r = clock.sender_report(5 * SEC, ns(at(hour + 5 * SEC)), at(5 * SEC));
        assert!(matches!(r, Report::Disagrees { first: false, .. }), "{r:?}");
        // The files follow the local clock.
        assert_eq!(clock.place(10 * SEC, at(10 * SEC)).wall, at(10 * SEC));
        let p = clock.place(610 * SEC, at(610 * SEC + 100_000_000));
        assert_eq!((p.wall, p.jumped), (at(610 * SEC + 100_000_000), false));
    }

    /// A camera whose clock runs 3 s behind the local one (trusted) steps forward by 10 s,
    /// to 7 s ahead (no longer trusted): logged, and the next file starts a new span on the
    /// local clock.
    #[test]
    fn a_camera_clock_step_of_10_s_starts_a_new_span() {
        let mut clock = WallClock::default();
        let behind = 3 * SEC;
        let r = clock.sender_report(0, ns(at(-behind)), at(0));
        assert!(matches!(r, Report::Used { first: true, offset_ns } if offset_ns == -behind));
        assert_eq!(clock.place(0, at(10_000_000)).wall, at(-behind));
        for k in 1..100 {
            let m = k * 5 * SEC;
            let r = clock.sender_report(m, ns(at(m - behind)), at(m));
            assert!(matches!(r, Report::Used { first: false, .. }), "{r:?}");
        }
        // The first file ends, the second follows it exactly (the camera's clock).
        let p = clock.place(600 * SEC, at(600 * SEC));
        assert_eq!((p.wall, p.jumped), (at(600 * SEC - behind), false));
        let r = clock.sender_report(
            1000 * SEC,
            ns(at(1000 * SEC - behind + 10 * SEC)),
            at(1000 * SEC),
        );
        assert_eq!(
            r,
            Report::Disagrees {
                first: true,
                offset_ns: 7 * SEC,
                step_ns: Some(10 * SEC)
            }
        );
        let p = clock.place(1200 * SEC, at(1200 * SEC));
        assert_eq!((p.wall, p.jumped), (at(1200 * SEC), true));
    }

    /// A step that keeps the camera's clock within [`AGREE`] of the local one is followed:
    /// a new span on the camera's new time. A step of the local clock is told apart.
    #[test]
    fn steps_of_either_clock_within_the_bound() {
        let mut clock = WallClock::default();
        clock.sender_report(0, ns(at(-2 * SEC)), at(0));
        assert_eq!(clock.place(0, at(0)).wall, at(-2 * SEC));
        let r = clock.sender_report(5 * SEC, ns(at(5 * SEC + 2 * SEC)), at(5 * SEC));
        assert_eq!(r, Report::CameraStepped { step_ns: 4 * SEC });
        let p = clock.place(600 * SEC, at(600 * SEC));
        assert_eq!((p.wall, p.jumped), (at(602 * SEC), true));
        // The local clock steps 3 s forward: the camera's clock is still followed.
        let r = clock.sender_report(700 * SEC, ns(at(702 * SEC)), at(703 * SEC));
        assert_eq!(r, Report::LocalStepped { step_ns: 3 * SEC });
        let p = clock.place(1200 * SEC, at(1203 * SEC));
        assert_eq!((p.wall, p.jumped), (at(1202 * SEC), false));
    }
}
