//! Synthetic camera streams shared by the benchmarks and `tests/alloc.rs`: 30 fps video
//! at 90 kHz with a keyframe every 30 frames, and 48 kHz AAC (1024-sample frames),
//! interleaved in time order as an RTSP session delivers them.
//!
//! Sample data are slices of one pre-made buffer, so handing a sample to the muxer costs
//! a reference-count increment, not a copy: the figures measure the muxer, not `memcpy`.

#![allow(dead_code)]

use std::num::NonZeroU32;

use bytes::Bytes;
use mp4_track::{SampleInfo, TrackConfig, TrackKind};

/// Video frame interval at 90 kHz (30 fps).
pub const VIDEO_DELTA_90K: u64 = 3000;
/// AAC frame length at 48 kHz.
pub const AUDIO_DELTA_48K: u64 = 1024;
/// Video frames per keyframe.
pub const GOP: u64 = 30;
/// Video frames per hour.
pub const VIDEO_SAMPLES_PER_HOUR: u64 = 30 * 3600;
/// Audio frames per hour (48000 / 1024 = 46.875 per second).
pub const AUDIO_SAMPLES_PER_HOUR: u64 = 48_000 * 3600 / 1024;

/// Which of the two tracks a sample belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Which {
    /// The video track.
    Video,
    /// The audio track.
    Audio,
}

/// The video track's configuration (sample entry opaque to the muxer).
pub fn video_config() -> TrackConfig {
    TrackConfig {
        kind: TrackKind::Video {
            width: 1920,
            height: 1080,
        },
        timescale_hz: 90_000,
        sample_entry: Bytes::from_static(b"\0\0\0\x09fakev"),
        default_sample_duration: NonZeroU32::new(VIDEO_DELTA_90K as u32),
    }
}

/// The audio track's configuration.
pub fn audio_config() -> TrackConfig {
    TrackConfig {
        kind: TrackKind::Audio,
        timescale_hz: 48_000,
        sample_entry: Bytes::from_static(b"\0\0\0\x09fakea"),
        default_sample_duration: NonZeroU32::new(AUDIO_DELTA_48K as u32),
    }
}

/// Frame sizes of a stream; each frame's size varies by up to ±10% around these.
#[derive(Clone, Copy, Debug)]
pub struct Sizes {
    /// Size of a keyframe.
    pub key_bytes: u32,
    /// Mean size of the other video frames.
    pub delta_bytes: u32,
    /// Mean size of an audio frame; `None` for a video-only stream.
    pub audio_bytes: Option<u32>,
}

impl Sizes {
    /// A typical 1080p camera: 30 KB keyframes, ~10 KB other frames, ~300 B AAC frames.
    pub const CAMERA: Sizes = Sizes {
        key_bytes: 30_000,
        delta_bytes: 10_000,
        audio_bytes: Some(300),
    };
    /// Large video frames only (~200 KB each), to show media bytes per second.
    pub const LARGE_VIDEO: Sizes = Sizes {
        key_bytes: 400_000,
        delta_bytes: 200_000,
        audio_bytes: None,
    };

    fn max_bytes(&self) -> u32 {
        let audio = self.audio_bytes.unwrap_or(0);
        let max = self.key_bytes.max(self.delta_bytes).max(audio);
        max + max / 10
    }
}

/// An endless interleaved stream of samples starting at time 0, in decode-time order
/// across tracks (video first on ties).
#[derive(Clone, Debug)]
pub struct Stream {
    sizes: Sizes,
    pool: Bytes,
    video: u64,
    audio: u64,
    rng: u32,
}

impl Stream {
    /// A stream with these frame sizes; its data buffer is allocated here, once.
    pub fn new(sizes: Sizes) -> Self {
        let pool = Bytes::from(vec![0xA5u8; sizes.max_bytes() as usize]);
        // Slicing a `Bytes` made from a `Vec` allocates its shared header once, on the
        // first clone; do it now so that every later slice is a reference count only.
        let _ = pool.clone();
        Self {
            sizes,
            pool,
            video: 0,
            audio: 0,
            rng: 0x1234_5678,
        }
    }

    /// A value in `mean ± 10%`, deterministic (xorshift).
    fn vary(&mut self, mean: u32) -> u32 {
        self.rng ^= self.rng << 13;
        self.rng ^= self.rng >> 17;
        self.rng ^= self.rng << 5;
        let j = mean / 10;
        mean - j + self.rng % (2 * j + 1)
    }

    /// Takes `n` samples (see [`Iterator::next`]), for building a fixed schedule.
    pub fn take_vec(&mut self, n: usize) -> Vec<(Which, SampleInfo, Bytes)> {
        self.by_ref().take(n).collect()
    }

    /// Number of samples covering `seconds` of both tracks.
    pub fn samples_in(&self, seconds: u64) -> u64 {
        let audio = match self.sizes.audio_bytes {
            Some(_) => seconds * 48_000 / AUDIO_DELTA_48K,
            None => 0,
        };
        seconds * 30 + audio
    }
}

impl Iterator for Stream {
    type Item = (Which, SampleInfo, Bytes);

    fn next(&mut self) -> Option<Self::Item> {
        // Video frame v is at v / 30 s, audio frame a at a * 1024 / 48000 s.
        let video_first = self.sizes.audio_bytes.is_none()
            || u128::from(self.video) * 48_000 <= u128::from(self.audio) * 1024 * 30;
        let (which, sample) = if video_first {
            let v = self.video;
            self.video += 1;
            let is_sync = v.is_multiple_of(GOP);
            let mean = if is_sync {
                self.sizes.key_bytes
            } else {
                self.sizes.delta_bytes
            };
            let size = self.vary(mean);
            (
                Which::Video,
                SampleInfo {
                    dts: v * VIDEO_DELTA_90K,
                    cts_offset: 0,
                    size,
                    is_sync,
                },
            )
        } else {
            let a = self.audio;
            self.audio += 1;
            let size = self.vary(self.sizes.audio_bytes.unwrap_or(0));
            (
                Which::Audio,
                SampleInfo {
                    dts: a * AUDIO_DELTA_48K,
                    cts_offset: 0,
                    size,
                    is_sync: true,
                },
            )
        };
        Some((which, sample, self.pool.slice(..sample.size as usize)))
    }
}
