//! The conversion of uncompressed camera audio (PCMU, PCMA, L16) into the stored format,
//! between the source and the router's audio track: `audio_pcm::Converter` gathers the
//! RTP-packet-sized frames into 40 ms samples (FLAC by default). AAC passes through.
//!
//! A sample's duration in the file comes from the next sample's time, as for AAC, so a
//! lost packet lengthens the sample before it (players stay in sync) and the audio still
//! in the converter when a session ends (under 40 ms) is not written.

use audio_pcm::{Converter, Input, Sample, Storage};
use rtsp_ingest::{AudioCodec, AudioInfo};

/// Converts one session's audio frames; see the module docs.
#[derive(Debug)]
pub struct AudioStage {
    converter: Converter,
    codec: AudioCodec,
    /// Frames dropped because their length is not a whole number of samples.
    dropped: u64,
}

impl AudioStage {
    /// The stage for a stream described by `info` and the description of what it stores,
    /// or `None` (and `info` unchanged) for AAC.
    pub fn new(info: &AudioInfo, storage: Storage) -> anyhow::Result<(Option<Self>, AudioInfo)> {
        let input = match info.codec {
            AudioCodec::Pcmu => Input::Mulaw,
            AudioCodec::Pcma => Input::Alaw,
            AudioCodec::L16 => Input::S16Be,
            _ => return Ok((None, info.clone())),
        };
        let converter = Converter::new(input, info.clock_rate_hz, info.channels, storage)
            .map_err(|e| anyhow::anyhow!("{} audio: {e}", info.codec.name()))?;
        let entry = converter.sample_entry();
        // RFC 6381 / MSE codec names of the stored sample entries.
        let codec = match &entry[4..8] {
            b"fLaC" => "flac",
            b"ulaw" => "ulaw",
            b"alaw" => "alaw",
            _ => "ipcm",
        };
        let stored = AudioInfo {
            codec: info.codec,
            clock_rate_hz: info.clock_rate_hz,
            channels: info.channels,
            sample_entry: entry,
            rfc6381_codec: Some(codec.to_owned()),
            frame_length: std::num::NonZeroU32::new(converter.block_samples()),
        };
        let stage = Self {
            converter,
            codec: info.codec,
            dropped: 0,
        };
        Ok((Some(stage), stored))
    }

    /// Ends the sample in progress: the next frame starts a new one (a discontinuity).
    pub fn cut(&mut self) -> Vec<Sample> {
        if let Err(e) = self.converter.flush() {
            tracing::warn!("{} audio: {e}", self.codec.name());
        }
        self.ready()
    }

    /// Takes a frame presented at `pts`; returns the samples it finished.
    pub fn push(&mut self, pts: i64, data: &[u8]) -> Vec<Sample> {
        if let Err(e) = self.converter.push(pts, data) {
            self.dropped += 1;
            if self.dropped == 1 {
                tracing::warn!(
                    "{} audio: dropping a frame: {e} (logged once)",
                    self.codec.name()
                );
            }
        }
        self.ready()
    }

    fn ready(&mut self) -> Vec<Sample> {
        std::iter::from_fn(|| self.converter.poll()).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    fn pcmu() -> AudioInfo {
        AudioInfo {
            codec: AudioCodec::Pcmu,
            clock_rate_hz: 8_000,
            channels: 1,
            sample_entry: Bytes::from_static(b"\0\0\0\x08ulaw"),
            rfc6381_codec: None,
            frame_length: None,
        }
    }

    #[test]
    fn g711_becomes_40_ms_flac_samples() {
        let (stage, stored) = AudioStage::new(&pcmu(), Storage::Flac).unwrap();
        let mut stage = stage.unwrap();
        assert_eq!(&stored.sample_entry[4..8], b"fLaC");
        assert_eq!(stored.rfc6381_codec.as_deref(), Some("flac"));
        assert_eq!(stored.frame_length.map(|l| l.get()), Some(320));
        // 128 ms packets (GStreamer's default): 3 samples after the first packet.
        let out = stage.push(1000, &[0xFF; 1024]);
        let times: Vec<_> = out.iter().map(|s| (s.pts, s.duration)).collect();
        assert_eq!(times, [(1000, 320), (1320, 320), (1640, 320)]);
        // A cut ends the 64 samples left.
        let out = stage.cut();
        assert_eq!((out[0].pts, out[0].duration), (1960, 64));
        // A bad frame is dropped, not an error.
        let (stage, _) = AudioStage::new(
            &AudioInfo {
                codec: AudioCodec::L16,
                channels: 2,
                ..pcmu()
            },
            Storage::Ipcm,
        )
        .unwrap();
        assert!(stage.unwrap().push(0, &[0; 6]).is_empty());
    }

    #[test]
    fn storage_choices_and_aac() {
        let (_, stored) = AudioStage::new(&pcmu(), Storage::AsReceived).unwrap();
        assert_eq!(stored.rfc6381_codec.as_deref(), Some("ulaw"));
        let (_, stored) = AudioStage::new(&pcmu(), Storage::Ipcm).unwrap();
        assert_eq!(stored.rfc6381_codec.as_deref(), Some("ipcm"));
        let aac = AudioInfo {
            codec: AudioCodec::Aac,
            ..pcmu()
        };
        let (stage, stored) = AudioStage::new(&aac, Storage::Flac).unwrap();
        assert!(stage.is_none());
        assert_eq!(stored, aac);
    }
}
