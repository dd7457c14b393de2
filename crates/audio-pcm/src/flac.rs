//! One FLAC frame per sample, with `flacenc` (fixed-blocking frames numbered in order).

use flacenc::component::{BitRepr, StreamInfo};
use flacenc::config;
use flacenc::error::{Verified, Verify};
use flacenc::source::{Fill, FrameBuf};

use crate::Error;

/// Encodes blocks of 16-bit samples into FLAC frames.
pub(crate) struct Encoder {
    config: Verified<config::Encoder>,
    info: StreamInfo,
    buf: FrameBuf,
    channels: usize,
    frame_number: usize,
}

impl Encoder {
    pub(crate) fn new(rate_hz: u32, channels: usize, block: usize) -> Result<Self, Error> {
        let e = |e: flacenc::error::VerifyError| Error::Flac(e.to_string());
        Ok(Self {
            config: config::Encoder::default()
                .into_verified()
                .map_err(|(_, err)| e(err))?,
            info: StreamInfo::new(rate_hz as usize, channels, 16).map_err(e)?,
            buf: FrameBuf::with_size(channels, block).map_err(e)?,
            channels,
            frame_number: 0,
        })
    }

    /// One frame of `pcm` (channels interleaved, at most a block).
    pub(crate) fn encode(&mut self, pcm: &[i32]) -> Result<Vec<u8>, Error> {
        debug_assert!(pcm.len() / self.channels <= self.buf.size());
        self.buf
            .fill_interleaved(pcm)
            .map_err(|e| Error::Flac(e.to_string()))?;
        let frame = flacenc::encode_fixed_size_frame(
            &self.config,
            &self.buf,
            self.frame_number,
            &self.info,
        )
        .map_err(|e| Error::Flac(e.to_string()))?;
        // Frame numbers are 31 bits; a decoder takes times from the container.
        self.frame_number = (self.frame_number + 1) % (1 << 31);
        let mut sink = flacenc::bitsink::MemSink::<u8>::with_capacity(frame.count_bits());
        frame
            .write(&mut sink)
            .map_err(|e| Error::Flac(e.to_string()))?;
        Ok(sink.into_inner())
    }
}
