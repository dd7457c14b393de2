//! Sans-IO conversion of uncompressed camera audio (G.711 µ-law and A-law, L16) into MP4
//! samples.
//!
//! RTSP delivers these codecs one RTP packet at a time (from 10 ms to over 100 ms of
//! audio each). A [`Converter`] gathers the packets into samples of a fixed
//! [`block_samples`](Converter::block_samples) (40 ms of audio; a sample is cut short
//! only before a gap in the timestamps or at [`flush`](Converter::flush)) and stores them
//! as chosen by [`Storage`]:
//!
//! - [`Storage::Flac`] (the default of the recorder): decoded to 16-bit PCM and encoded as
//!   one FLAC frame per sample (`fLaC` sample entry with `dfLa`), lossless, the one of the
//!   three that browsers' Media Source Extensions play;
//! - [`Storage::AsReceived`]: the bytes as they came (`ulaw`/`alaw`; L16 as `ipcm`), the
//!   smallest for G.711;
//! - [`Storage::Ipcm`]: 16-bit big-endian PCM (`ipcm` with `pcmC`, ISO/IEC 23003-5).
//!
//! Decoding any of them gives the same 16-bit samples: G.711 expanded as in
//! [`ulaw_to_linear`]/[`alaw_to_linear`], L16 as it came.
//!
//! ```
//! use audio_pcm::{Converter, Input, Storage};
//!
//! let mut c = Converter::new(Input::Mulaw, 8_000, 1, Storage::Flac)?;
//! assert_eq!(c.block_samples(), 320); // 40 ms at 8 kHz
//! assert_eq!(&c.sample_entry()[4..8], b"fLaC");
//! // Two 20 ms packets (160 samples each) of silence: one 40 ms sample.
//! c.push(0, &[0xFF; 160])?;
//! assert!(c.poll().is_none());
//! c.push(160, &[0xFF; 160])?;
//! let s = c.poll().unwrap();
//! assert_eq!((s.pts, s.duration), (0, 320));
//! assert_eq!(&s.data[..2], &[0xFF, 0xF8]); // a FLAC frame
//! # Ok::<(), audio_pcm::Error>(())
//! ```

use std::collections::VecDeque;

use bmff_boxes::{Encode, FLaC, G711, Ipcm, StreamInfo};
use bytes::Bytes;

mod flac;
mod g711;

pub use g711::{alaw_to_linear, ulaw_to_linear};

/// Milliseconds of audio per sample.
pub const BLOCK_MS: u32 = 40;

/// What the input frames hold.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Input {
    /// G.711 µ-law (RTP `PCMU`): one byte per sample and channel.
    Mulaw,
    /// G.711 A-law (RTP `PCMA`): one byte per sample and channel.
    Alaw,
    /// Linear 16-bit big-endian PCM (RTP `L16`).
    S16Be,
}

impl Input {
    /// Bytes per sample and channel.
    pub fn bytes_per_sample(self) -> usize {
        match self {
            Input::Mulaw | Input::Alaw => 1,
            Input::S16Be => 2,
        }
    }
}

/// How the samples are stored.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Storage {
    /// FLAC frames of the 16-bit PCM (`fLaC`).
    #[default]
    Flac,
    /// The input bytes: `ulaw`/`alaw` for G.711, `ipcm` for L16.
    AsReceived,
    /// 16-bit big-endian PCM (`ipcm`).
    Ipcm,
}

/// Why audio cannot be converted.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The rate or channel count is outside what is supported.
    #[error("{rate_hz} hz, {channels} channel(s): only 8000 to 48000 hz, mono or stereo")]
    Unsupported {
        /// The sample rate.
        rate_hz: u32,
        /// The channel count.
        channels: u16,
    },
    /// A frame whose length is not a whole number of samples.
    #[error("a frame of {len} bytes is not a whole number of {frame_bytes}-byte samples")]
    Length {
        /// The frame's length.
        len: usize,
        /// Bytes per sample over all channels.
        frame_bytes: usize,
    },
    /// The FLAC encoder refused the input.
    #[error("flac encoder: {0}")]
    Flac(String),
}

/// One MP4 sample: `duration` samples per channel from `pts` (in samples, the RTP clock).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Sample {
    /// Time of the first sample, in the input's clock.
    pub pts: i64,
    /// Samples per channel.
    pub duration: u32,
    /// The stored bytes.
    pub data: Bytes,
}

/// Gathers input frames into samples of the chosen storage (see the crate docs).
pub struct Converter {
    input: Input,
    storage: Storage,
    channels: usize,
    block: usize,
    entry: Bytes,
    /// Input bytes not yet in a sample, starting at `buf_pts`.
    buf: Vec<u8>,
    buf_pts: i64,
    flac: Option<flac::Encoder>,
    ready: VecDeque<Sample>,
}

impl std::fmt::Debug for Converter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Converter")
            .field("input", &self.input)
            .field("storage", &self.storage)
            .field("channels", &self.channels)
            .field("block", &self.block)
            .finish_non_exhaustive()
    }
}

impl Converter {
    /// A converter of `input` at `rate_hz` (8000 to 48000) with 1 or 2 channels.
    pub fn new(input: Input, rate_hz: u32, channels: u16, storage: Storage) -> Result<Self, Error> {
        if !(8_000..=48_000).contains(&rate_hz) || !(1..=2).contains(&channels) {
            return Err(Error::Unsupported { rate_hz, channels });
        }
        let block = (rate_hz * BLOCK_MS / 1000) as usize;
        let entry_error = |e: bmff_boxes::SampleEntryError| Error::Flac(e.to_string());
        let mut flac = None;
        let entry = match (storage, input) {
            (Storage::Flac, _) => {
                let info = StreamInfo::new(rate_hz, channels as u8, 16, block as u16);
                flac = Some(flac::Encoder::new(rate_hz, channels.into(), block)?);
                FLaC::new(info).map_err(entry_error)?.to_bytes()
            }
            (Storage::AsReceived, Input::Mulaw) => G711::ulaw(channels, rate_hz)
                .map_err(entry_error)?
                .to_bytes(),
            (Storage::AsReceived, Input::Alaw) => G711::alaw(channels, rate_hz)
                .map_err(entry_error)?
                .to_bytes(),
            (Storage::AsReceived | Storage::Ipcm, _) => Ipcm::s16be(channels, rate_hz)
                .map_err(entry_error)?
                .to_bytes(),
        };
        Ok(Self {
            input,
            storage,
            channels: channels.into(),
            block,
            entry,
            buf: Vec::new(),
            buf_pts: 0,
            flac,
            ready: VecDeque::new(),
        })
    }

    /// The complete sample entry box of the stored samples.
    pub fn sample_entry(&self) -> Bytes {
        self.entry.clone()
    }

    /// Samples per channel in each stored sample (except one cut short): 40 ms.
    pub fn block_samples(&self) -> u32 {
        self.block as u32
    }

    fn frame_bytes(&self) -> usize {
        self.input.bytes_per_sample() * self.channels
    }

    /// Adds one input frame whose first sample is at `pts`. A frame that does not follow
    /// the buffered ones (a gap or a step back in `pts`) first ends the sample in progress.
    pub fn push(&mut self, pts: i64, data: &[u8]) -> Result<(), Error> {
        let frame_bytes = self.frame_bytes();
        if !data.len().is_multiple_of(frame_bytes) {
            return Err(Error::Length {
                len: data.len(),
                frame_bytes,
            });
        }
        if !self.buf.is_empty() && pts != self.buf_pts + (self.buf.len() / frame_bytes) as i64 {
            self.flush()?;
        }
        if self.buf.is_empty() {
            self.buf_pts = pts;
        }
        self.buf.extend_from_slice(data);
        let block_bytes = self.block * frame_bytes;
        while self.buf.len() >= block_bytes {
            let rest = self.buf.split_off(block_bytes);
            let full = std::mem::replace(&mut self.buf, rest);
            self.emit(&full)?;
        }
        Ok(())
    }

    /// Ends the sample in progress (shorter than a block), if any.
    pub fn flush(&mut self) -> Result<(), Error> {
        if !self.buf.is_empty() {
            let part = std::mem::take(&mut self.buf);
            self.emit(&part)?;
        }
        Ok(())
    }

    /// The next finished sample, in order.
    pub fn poll(&mut self) -> Option<Sample> {
        self.ready.pop_front()
    }

    /// Converts `raw` input bytes (whole samples) starting at `buf_pts` into a sample.
    fn emit(&mut self, raw: &[u8]) -> Result<(), Error> {
        let duration = raw.len() / self.frame_bytes();
        let pts = self.buf_pts;
        self.buf_pts += duration as i64;
        let data = match (self.storage, self.input) {
            (Storage::AsReceived, _) | (Storage::Ipcm, Input::S16Be) => Bytes::copy_from_slice(raw),
            (Storage::Ipcm, _) => self
                .linear(raw)
                .flat_map(i16::to_be_bytes)
                .collect::<Vec<u8>>()
                .into(),
            (Storage::Flac, _) => {
                let pcm: Vec<i32> = self.linear(raw).map(i32::from).collect();
                let encoder = self.flac.as_mut().expect("flac storage has an encoder");
                encoder.encode(&pcm)?.into()
            }
        };
        self.ready.push_back(Sample {
            pts,
            duration: duration as u32,
            data,
        });
        Ok(())
    }

    /// The 16-bit samples of `raw`, channels interleaved.
    fn linear<'a>(&self, raw: &'a [u8]) -> Box<dyn Iterator<Item = i16> + 'a> {
        match self.input {
            Input::Mulaw => Box::new(raw.iter().map(|&b| ulaw_to_linear(b))),
            Input::Alaw => Box::new(raw.iter().map(|&b| alaw_to_linear(b))),
            Input::S16Be => Box::new(
                raw.chunks_exact(2)
                    .map(|c| i16::from_be_bytes([c[0], c[1]])),
            ),
        }
    }
}

/// Decodes 16-bit samples of `input` bytes, channels interleaved, as the stored file
/// decodes (for checks and tests).
pub fn decode(input: Input, raw: &[u8]) -> Vec<i16> {
    match input {
        Input::Mulaw => raw.iter().map(|&b| ulaw_to_linear(b)).collect(),
        Input::Alaw => raw.iter().map(|&b| alaw_to_linear(b)).collect(),
        Input::S16Be => raw
            .chunks_exact(2)
            .map(|c| i16::from_be_bytes([c[0], c[1]]))
            .collect(),
    }
}

#[cfg(test)]
mod tests;
