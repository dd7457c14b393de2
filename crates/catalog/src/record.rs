//! What the catalog knows of one finished file: [`FileRecord`].

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use crate::error::Error;
use crate::time::WallTime;

/// One finished recording: a row of the catalog, keyed by its path.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct FileRecord {
    /// The camera's name, as configured.
    pub camera: String,
    /// Where the file is. The catalog stores it as text, so it must be valid UTF-8.
    pub path: PathBuf,
    /// Wall-clock time of the file's first sample.
    pub start: WallTime,
    /// Wall-clock time at which the file's media ends (its start plus its media duration).
    /// Not before `start`.
    pub end: WallTime,
    /// Media duration of the file (its longest track), in milliseconds.
    pub media_duration_ms: u64,
    /// File size in bytes.
    pub size_bytes: u64,
    /// The video track, if any.
    pub video: Option<VideoTrack>,
    /// The audio track, if any.
    pub audio: Option<AudioTrack>,
    /// Whether the camera's next file continues this one or a gap follows.
    pub end_reason: EndReason,
}

impl FileRecord {
    /// The wall-clock length of the file (`end - start`), zero if `end` is before `start`.
    pub fn duration(&self) -> Duration {
        self.end.duration_since(self.start).unwrap_or_default()
    }

    /// The file's frame interval in nanoseconds, at least 1 ms: its media duration divided by
    /// its video sample count, or for a file without video samples by its audio sample count
    /// (an audio frame: 21.3 ms for AAC at 48 kHz), else 1 ms. [`spans`](crate::spans) use it
    /// as the tolerance between files.
    pub fn frame_interval_ns(&self) -> i64 {
        const MIN_NS: u64 = 1_000_000;
        let samples = match (&self.video, &self.audio) {
            (Some(v), _) if v.samples > 0 => v.samples,
            (_, Some(a)) if a.samples > 0 => a.samples,
            _ => return MIN_NS as i64,
        };
        let ns = u128::from(self.media_duration_ms) * 1_000_000 / u128::from(samples);
        i64::try_from(ns.max(u128::from(MIN_NS))).unwrap_or(i64::MAX)
    }
}

/// A file's video track.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct VideoTrack {
    /// The codec as an RFC 6381 `codecs` string, e.g. `avc1.640028`, `hvc1.1.6.L120.90`.
    pub codec: String,
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// Number of video samples (frames).
    pub samples: u64,
}

/// A file's audio track.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct AudioTrack {
    /// The codec as an RFC 6381 `codecs` string, e.g. `mp4a.40.2`.
    pub codec: String,
    /// Number of audio samples (frames of e.g. 1024 PCM samples for AAC).
    pub samples: u64,
}

/// Why a file ended, which tells whether a gap follows it. Stored as the text
/// `continued` or `gap`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EndReason {
    /// The camera's next file continues this one without a gap: a planned segment switch,
    /// a change of parameters, a size or duration bound.
    Continued,
    /// A gap follows: a reconnect, lost media, a stop, or unknown (files found on disk).
    Gap,
}

impl EndReason {
    /// The stored text: `continued` or `gap`.
    pub fn as_str(self) -> &'static str {
        match self {
            EndReason::Continued => "continued",
            EndReason::Gap => "gap",
        }
    }
}

impl fmt::Display for EndReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for EndReason {
    type Err = Error;

    fn from_str(s: &str) -> Result<EndReason, Error> {
        match s {
            "continued" => Ok(EndReason::Continued),
            "gap" => Ok(EndReason::Gap),
            _ => Err(Error::InvalidEndReason { text: s.to_owned() }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(media_duration_ms: u64, video: Option<u64>, audio: Option<u64>) -> FileRecord {
        FileRecord {
            camera: "cam".into(),
            path: "cam/a.mp4".into(),
            start: WallTime(0),
            end: WallTime(media_duration_ms as i64 * 1_000_000),
            media_duration_ms,
            size_bytes: 1,
            video: video.map(|samples| VideoTrack {
                codec: "avc1.640028".into(),
                width: 1920,
                height: 1080,
                samples,
            }),
            audio: audio.map(|samples| AudioTrack {
                codec: "mp4a.40.2".into(),
                samples,
            }),
            end_reason: EndReason::Continued,
        }
    }

    #[test]
    fn frame_interval_comes_from_video_then_audio_then_one_millisecond() {
        // 10 minutes at 25 fps: 40 ms.
        assert_eq!(
            record(600_000, Some(15_000), Some(28_125)).frame_interval_ns(),
            40_000_000
        );
        // Audio only: 600 s / 28 125 AAC frames (48 kHz) = 21.333 ms.
        assert_eq!(
            record(600_000, None, Some(28_125)).frame_interval_ns(),
            21_333_333
        );
        // Video without samples falls back to audio.
        assert_eq!(
            record(600_000, Some(0), Some(28_125)).frame_interval_ns(),
            21_333_333
        );
        assert_eq!(record(600_000, None, None).frame_interval_ns(), 1_000_000);
        // 1000 fps would be 1 ms; 10 000 fps is clamped to 1 ms.
        assert_eq!(
            record(1_000, Some(10_000), None).frame_interval_ns(),
            1_000_000
        );
        assert_eq!(
            record(u64::MAX, Some(1), None).frame_interval_ns(),
            i64::MAX
        );
    }

    #[test]
    fn end_reason_text_round_trips() {
        for reason in [EndReason::Continued, EndReason::Gap] {
            assert_eq!(reason.as_str().parse::<EndReason>().unwrap(), reason);
            assert_eq!(reason.to_string(), reason.as_str());
        }
        assert!(matches!(
            "Gap".parse::<EndReason>(),
            Err(Error::InvalidEndReason { text }) if text == "Gap"
        ));
    }

    #[test]
    fn duration_is_never_negative() {
        let mut r = record(1_000, Some(25), None);
        assert_eq!(r.duration(), Duration::from_secs(1));
        r.end = WallTime(-5);
        assert_eq!(r.duration(), Duration::ZERO);
    }
}
