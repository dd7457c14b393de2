//! Codec-neutral descriptions of streams and frames.

use std::num::NonZeroU32;

use bytes::Bytes;

/// A video codec this crate can hand out.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum VideoCodec {
    /// H.264 / AVC; samples are 4-byte length-prefixed NAL units, sample entry `avc1`.
    H264,
    /// H.265 / HEVC; samples are 4-byte length-prefixed NAL units, sample entry `hvc1`.
    H265,
    /// Motion JPEG; each sample is one JPEG image, sample entry `mp4v`.
    Jpeg,
}

impl VideoCodec {
    /// A short display name: `H.264`, `H.265` or `JPEG`.
    pub fn name(self) -> &'static str {
        match self {
            VideoCodec::H264 => "H.264",
            VideoCodec::H265 => "H.265",
            VideoCodec::Jpeg => "JPEG",
        }
    }
}

/// An audio codec this crate can hand out.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum AudioCodec {
    /// AAC (RTP `mpeg4-generic`); samples are raw access units, sample entry `mp4a`.
    Aac,
    /// G.711 µ-law (RTP `PCMU`, RFC 3551 §4.5.14); one byte per sample and channel, frames
    /// as they arrived (one per RTP packet), sample entry `ulaw`.
    Pcmu,
    /// G.711 A-law (RTP `PCMA`); as [`Pcmu`](Self::Pcmu), sample entry `alaw`.
    Pcma,
    /// Linear PCM (RTP `L16`, RFC 3551 §4.5.11): 16-bit big-endian samples, channels
    /// interleaved, one frame per RTP packet, sample entry `ipcm`.
    L16,
}

impl AudioCodec {
    /// A short display name: `AAC`, `PCMU`, `PCMA` or `L16`.
    pub fn name(self) -> &'static str {
        match self {
            AudioCodec::Aac => "AAC",
            AudioCodec::Pcmu => "PCMU",
            AudioCodec::Pcma => "PCMA",
            AudioCodec::L16 => "L16",
        }
    }

    /// Bytes per sample and channel of the uncompressed codecs (1 for G.711, 2 for L16);
    /// `None` for AAC.
    pub fn bytes_per_sample(self) -> Option<u32> {
        match self {
            AudioCodec::Aac => None,
            AudioCodec::Pcmu | AudioCodec::Pcma => Some(1),
            AudioCodec::L16 => Some(2),
        }
    }
}

/// What a video stream carries, as needed to write it to a file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VideoInfo {
    /// The codec.
    pub codec: VideoCodec,
    /// Display (cropped) width in pixels.
    pub width: u32,
    /// Display (cropped) height in pixels.
    pub height: u32,
    /// RTP clock rate: the unit of [`Frame::Video::pts`], normally 90000.
    pub clock_rate_hz: u32,
    /// The complete ISO BMFF sample entry box (`avc1`, `hvc1` or `mp4v`).
    pub sample_entry: Bytes,
    /// RFC 6381 codec string, e.g. `avc1.64001F`.
    pub rfc6381_codec: String,
    /// Nominal time between frames in seconds, as `(numerator, denominator)`: `(1, 30)` or
    /// `(1001, 30000)` for ~30 fps; from the bitstream's timing info or the SDP framerate.
    pub frame_interval: Option<(u32, u32)>,
    /// How many frames may precede a frame in decode (arrival) order and follow it in
    /// presentation order: 0 without B-frames (most cameras; then timestamps increase
    /// from frame to frame), else the reorder depth a writer must allow for when it
    /// derives decode times. From the SPS: H.265 `sps_max_num_reorder_pics` (highest
    /// sub-layer); H.264 the VUI's `max_num_reorder_frames`, else 0 for Baseline, else 2
    /// (a conservative default, logged); 0 for JPEG.
    pub reorder_depth: u8,
}

impl VideoInfo {
    /// Nominal frames per second, if known.
    pub fn frames_per_second(&self) -> Option<f64> {
        self.frame_interval
            .map(|(num, den)| f64::from(den) / f64::from(num))
    }

    /// Nominal duration of one frame in [`clock_rate_hz`](Self::clock_rate_hz) units,
    /// rounded to the nearest unit, if known.
    pub fn nominal_frame_duration(&self) -> Option<NonZeroU32> {
        let (num, den) = self.frame_interval?;
        if den == 0 {
            return None;
        }
        let ticks =
            (u64::from(num) * u64::from(self.clock_rate_hz) + u64::from(den) / 2) / u64::from(den);
        NonZeroU32::new(u32::try_from(ticks).ok()?)
    }
}

/// What an audio stream carries, as needed to write it to a file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AudioInfo {
    /// The codec.
    pub codec: AudioCodec,
    /// RTP clock rate: the unit of [`Frame::Audio::pts`]; the sample rate (for AAC, PCMU,
    /// PCMA and L16 alike).
    pub clock_rate_hz: u32,
    /// Number of channels.
    pub channels: u16,
    /// The complete ISO BMFF sample entry box of the frames as handed out: `mp4a` for AAC,
    /// `ulaw`/`alaw` for G.711, `ipcm` (16-bit big-endian) for L16. A writer that converts
    /// the audio (e.g. to FLAC) builds its own.
    pub sample_entry: Bytes,
    /// RFC 6381 codec string, e.g. `mp4a.40.2`, if known.
    pub rfc6381_codec: Option<String>,
    /// Samples per frame (e.g. 1024 for AAC-LC) in clock units, if fixed; `None` for
    /// PCMU, PCMA and L16, whose frames are as long as their RTP packets.
    pub frame_length: Option<NonZeroU32>,
}

impl AudioInfo {
    /// Bytes per sample over all channels of PCMU, PCMA and L16 frames; `None` for AAC.
    pub fn pcm_frame_bytes(&self) -> Option<u32> {
        Some(self.codec.bytes_per_sample()? * u32::from(self.channels))
    }
}

/// One frame handed out by [`Source::next`](crate::Source::next).
///
/// Timestamps (`pts`) count the stream's clock units from the session's zero instant (with
/// `rtptime` from `RTP-Info`, the same instant for all streams), so frames of different
/// streams compare by `pts / clock_rate_hz`.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Frame {
    /// A video frame (access unit).
    Video {
        /// Presentation time in [`VideoInfo::clock_rate_hz`] units.
        pts: i64,
        /// True for a keyframe (random access point).
        is_sync: bool,
        /// The frame's data, ready for an MP4 sample.
        data: Bytes,
        /// `Some` when the stream's parameters changed at this frame (e.g. new SPS/PPS):
        /// the new description, which [`Source::video`](crate::Source::video) also returns
        /// from now on.
        new_info: Option<VideoInfo>,
        /// RTP packets lost on this stream just before this frame (see
        /// [`LossPolicy`](crate::LossPolicy)).
        loss: u16,
        /// The stream's timestamps jumped just before this frame (see
        /// [`Frame::discontinuity`]).
        discontinuity: bool,
    },
    /// An audio frame (one access unit).
    Audio {
        /// Presentation time in [`AudioInfo::clock_rate_hz`] units.
        pts: i64,
        /// Duration in the same units.
        duration: u32,
        /// The frame's data, ready for an MP4 sample.
        data: Bytes,
        /// RTP packets lost on this stream just before this frame.
        loss: u16,
        /// The stream's timestamps jumped just before this frame.
        discontinuity: bool,
    },
}

impl Frame {
    /// The frame's presentation time in its stream's clock units.
    pub fn pts(&self) -> i64 {
        match self {
            Frame::Video { pts, .. } | Frame::Audio { pts, .. } => *pts,
        }
    }

    /// True when the stream's timestamps jumped (past
    /// [`SourceOptions::with_max_timestamp_jump_secs`](crate::SourceOptions::with_max_timestamp_jump_secs))
    /// just before this frame: a discontinuity. The stream was re-based, so this frame's
    /// `pts` follows the previous frame's by one frame interval; a writer may start a new
    /// file here (at the next keyframe).
    pub fn discontinuity(&self) -> bool {
        match self {
            Frame::Video { discontinuity, .. } | Frame::Audio { discontinuity, .. } => {
                *discontinuity
            }
        }
    }

    /// The frame's data.
    pub fn data(&self) -> &Bytes {
        match self {
            Frame::Video { data, .. } | Frame::Audio { data, .. } => data,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(frame_interval: Option<(u32, u32)>) -> VideoInfo {
        VideoInfo {
            codec: VideoCodec::H264,
            width: 640,
            height: 360,
            clock_rate_hz: 90_000,
            sample_entry: Bytes::new(),
            rfc6381_codec: "avc1.64001E".to_owned(),
            frame_interval,
            reorder_depth: 0,
        }
    }

    #[test]
    fn nominal_frame_duration_in_clock_units() {
        assert_eq!(
            info(Some((2, 60)))
                .nominal_frame_duration()
                .map(NonZeroU32::get),
            Some(3000)
        );
        assert_eq!(
            info(Some((1001, 30000)))
                .nominal_frame_duration()
                .map(NonZeroU32::get),
            Some(3003)
        );
        assert_eq!(info(Some((1, 0))).nominal_frame_duration(), None);
        assert_eq!(info(None).nominal_frame_duration(), None);
        assert_eq!(info(Some((1, 25))).frames_per_second(), Some(25.0));
    }
}
