//! The ISO BMFF sample entries of the selected streams, built by `bmff-boxes` from the
//! parameter sets and AudioSpecificConfig retina has parsed (not by retina's own
//! builders), so that every sample entry of the workspace is built in one place.

use bmff_boxes::{Avc1, AvcC, Encode, G711, Hvc1, HvcC, Ipcm, Mp4a, Mp4v};
use bytes::Bytes;
use retina::client;
use retina::codec::{AudioParameters, ParametersRef, VideoParameters, VideoParametersCodec};

use crate::{AudioCodec, AudioInfo, Error};

/// The `avc1`, `hvc1` or `mp4v` entry of a video stream, or why there is none.
pub(crate) fn video_sample_entry(p: &VideoParameters) -> Result<Bytes, String> {
    let (width, height) = p.pixel_dimensions();
    let (Ok(width), Ok(height)) = (u16::try_from(width), u16::try_from(height)) else {
        return Err(format!("{width}x{height} pixels do not fit a sample entry"));
    };
    let entry = match p.codec_params() {
        VideoParametersCodec::H264 { sps, pps } => {
            let avcc = AvcC::new(sps.clone(), pps.clone()).map_err(|e| e.to_string())?;
            Avc1::new(width, height, avcc).to_bytes()
        }
        VideoParametersCodec::H265 { vps, sps, pps } => {
            let hvcc =
                HvcC::new(vps.clone(), sps.clone(), pps.clone()).map_err(|e| e.to_string())?;
            Hvc1::new(width, height, hvcc).to_bytes()
        }
        VideoParametersCodec::Jpeg => Mp4v::jpeg(width, height).to_bytes(),
        _ => return Err("no sample entry for this codec".to_owned()),
    };
    Ok(entry)
}

/// Sample rates accepted for PCMU, PCMA and L16.
pub(crate) const PCM_RATES_HZ: std::ops::RangeInclusive<u32> = 8_000..=48_000;

/// The entry of an audio stream: `mp4a` from an AAC stream's AudioSpecificConfig;
/// `ulaw`, `alaw` or `ipcm` (16-bit big-endian) for PCMU, PCMA and L16 at 8 to 48 kHz,
/// mono or stereo.
pub(crate) fn audio_sample_entry(
    codec: AudioCodec,
    p: &AudioParameters,
    rate_hz: u32,
    channels: u16,
) -> Result<Bytes, String> {
    if codec != AudioCodec::Aac {
        if !PCM_RATES_HZ.contains(&rate_hz) {
            return Err(format!("{rate_hz} hz is outside 8000 to 48000 hz"));
        }
        if !(1..=2).contains(&channels) {
            return Err(format!("{channels} channels (mono or stereo only)"));
        }
    }
    let entry = match codec {
        AudioCodec::Aac => {
            let asc = Bytes::copy_from_slice(p.extra_data());
            Mp4a::aac(asc).map_err(|e| e.to_string())?.to_bytes()
        }
        AudioCodec::Pcmu => G711::ulaw(channels, rate_hz)
            .map_err(|e| e.to_string())?
            .to_bytes(),
        AudioCodec::Pcma => G711::alaw(channels, rate_hz)
            .map_err(|e| e.to_string())?
            .to_bytes(),
        AudioCodec::L16 => Ipcm::s16be(channels, rate_hz)
            .map_err(|e| e.to_string())?
            .to_bytes(),
    };
    Ok(entry)
}

/// Describes an AAC, PCMU, PCMA or L16 stream from its SDP parameters, or says why it
/// cannot be recorded.
pub(crate) fn audio_info(
    index: usize,
    stream: &client::Stream,
    codec: Option<AudioCodec>,
) -> Result<AudioInfo, Error> {
    let unsupported = |reason: String| Error::UnsupportedCodec {
        stream: index,
        encoding: stream.encoding_name().to_owned(),
        reason,
    };
    let Some(ParametersRef::Audio(p)) = stream.parameters() else {
        return Err(unsupported("no usable parameters in the sdp".to_owned()));
    };
    let Some(codec) = codec else {
        return Err(unsupported(
            "not an audio codec this crate records".to_owned(),
        ));
    };
    let (rate_hz, channels) = (stream.clock_rate_hz(), p.channels().get());
    let sample_entry = audio_sample_entry(codec, p, rate_hz, channels).map_err(unsupported)?;
    Ok(AudioInfo {
        codec,
        clock_rate_hz: rate_hz,
        channels,
        sample_entry,
        rfc6381_codec: p.rfc6381_codec().map(str::to_owned),
        frame_length: p.frame_length(),
    })
}
