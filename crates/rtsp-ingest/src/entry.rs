//! The ISO BMFF sample entries of the selected streams, built by `bmff-boxes` from the
//! parameter sets and AudioSpecificConfig retina has parsed (not by retina's own
//! builders), so that every sample entry of the workspace is built in one place.

use bmff_boxes::{Avc1, AvcC, Encode, Hvc1, HvcC, Mp4a, Mp4v};
use bytes::Bytes;
use retina::codec::{AudioParameters, VideoParameters, VideoParametersCodec};

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

/// The `mp4a` entry of an AAC stream from its AudioSpecificConfig.
pub(crate) fn audio_sample_entry(p: &AudioParameters) -> Result<Bytes, String> {
    let asc = Bytes::copy_from_slice(p.extra_data());
    Ok(Mp4a::aac(asc).map_err(|e| e.to_string())?.to_bytes())
}
