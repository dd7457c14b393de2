//! Test media made by ffmpeg at test time: an H.264 (or H.265) elementary stream split into
//! access units with their presentation order, and AAC frames taken out of ADTS.

use std::io;
use std::process::{Command, Stdio};
use std::sync::{Arc, OnceLock};

use bytes::Bytes;

/// Frames per second of [`H264Clip::testsrc`].
pub const TESTSRC_FPS: u32 = 30;

/// Length of the test clips, in seconds.
pub const TESTSRC_SECONDS: u32 = 3;

/// Width of [`H264Clip::testsrc`], in pixels.
pub const TESTSRC_WIDTH: u16 = 320;

/// Height of [`H264Clip::testsrc`], in pixels.
pub const TESTSRC_HEIGHT: u16 = 240;

const INSTALL_HINT: &str = "ffmpeg is required: apt-get install -y ffmpeg";

/// One access unit (one picture): its NAL units without start codes.
#[derive(Clone, Debug)]
pub struct AccessUnit {
    /// The NAL units in decoding order, each starting with its header.
    pub nals: Vec<Bytes>,
    /// Where the picture is presented, in frames from the clip's first picture (its index
    /// in decode order without B-frames).
    pub pts: u32,
    /// True for an IDR picture (a keyframe).
    pub idr: bool,
}

impl AccessUnit {
    /// True when the picture is an IDR picture (a keyframe).
    pub fn is_idr(&self) -> bool {
        self.idr
    }
}

/// The codec of a clip.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum VideoCodec {
    /// H.264 (RFC 6184 packetization).
    H264,
    /// H.265 (RFC 7798 packetization); parameter sets in-band before every IDR.
    H265,
}

/// A constant-frame-rate H.264 stream (or, from [`H264Clip::testsrc_bframes`], H.264 or
/// H.265 with B-frames), as access units in decode order.
pub struct H264Clip {
    /// The codec.
    pub codec: VideoCodec,
    /// The video parameter set (H.265 only), header included.
    pub vps: Option<Bytes>,
    /// The sequence parameter set (H.264 NAL type 7), header included.
    pub sps: Bytes,
    /// The picture parameter set (H.264 NAL type 8), header included.
    pub pps: Bytes,
    /// The pictures in order; the first is an IDR picture.
    pub access_units: Vec<AccessUnit>,
    /// Frames per second.
    pub fps: u32,
}

impl H264Clip {
    /// Three seconds of ffmpeg's `testsrc` pattern, 320x240 at 30 fps, one IDR picture every
    /// 30 frames, no B-frames (90 access units). Made once per process with ffmpeg (libx264)
    /// and shared afterwards.
    pub fn testsrc() -> io::Result<Arc<H264Clip>> {
        static CLIP: OnceLock<Result<Arc<H264Clip>, String>> = OnceLock::new();
        CLIP.get_or_init(|| {
            let size = format!("testsrc=size={TESTSRC_WIDTH}x{TESTSRC_HEIGHT}:rate={TESTSRC_FPS}");
            let secs = TESTSRC_SECONDS.to_string();
            #[rustfmt::skip]
            let args = [
                "-nostdin", "-v", "error",
                "-f", "lavfi", "-i", &size, "-t", &secs,
                "-c:v", "libx264", "-g", "30", "-bf", "0",
                "-bsf:v", "h264_mp4toannexb", "-f", "h264", "-",
            ];
            let stream = ffmpeg(&args).map_err(|e| e.to_string())?;
            H264Clip::from_annex_b(&stream, TESTSRC_FPS)
                .map(Arc::new)
                .map_err(|e| e.to_string())
        })
        .clone()
        .map_err(io::Error::other)
    }

    /// Splits an Annex B byte stream into access units: a new one starts at an access unit
    /// delimiter, SEI, SPS or PPS that follows a picture's slices, or at a slice whose
    /// `first_mb_in_slice` is 0.
    pub fn from_annex_b(stream: &[u8], fps: u32) -> io::Result<H264Clip> {
        let mut sps = None;
        let mut pps = None;
        let mut access_units: Vec<AccessUnit> = Vec::new();
        let mut current: Vec<Bytes> = Vec::new();
        let mut current_has_slice = false;
        for nal in split_annex_b(stream) {
            let t = nal_type(&nal);
            let starts_new = match t {
                // Non-IDR and IDR slices: first_mb_in_slice is ue(v), so 0 is a single 1 bit.
                1 | 5 => current_has_slice && nal.get(1).is_some_and(|b| b & 0x80 != 0),
                6..=9 => current_has_slice,
                _ => false,
            };
            if starts_new {
                let nals = std::mem::take(&mut current);
                access_units.push(AccessUnit {
                    idr: nals.iter().any(|n| nal_type(n) == 5),
                    pts: access_units.len() as u32,
                    nals,
                });
                current_has_slice = false;
            }
            match t {
                7 if sps.is_none() => sps = Some(nal.clone()),
                8 if pps.is_none() => pps = Some(nal.clone()),
                1 | 5 => current_has_slice = true,
                _ => {}
            }
            current.push(nal);
        }
        if current_has_slice {
            access_units.push(AccessUnit {
                idr: current.iter().any(|n| nal_type(n) == 5),
                pts: access_units.len() as u32,
                nals: current,
            });
        }
        let (Some(sps), Some(pps)) = (sps, pps) else {
            return Err(io::Error::other("h264 stream has no sps or pps"));
        };
        if !access_units.first().is_some_and(AccessUnit::is_idr) {
            return Err(io::Error::other("h264 stream does not start with an idr"));
        }
        Ok(H264Clip {
            codec: VideoCodec::H264,
            vps: None,
            sps,
            pps,
            access_units,
            fps,
        })
    }

    /// Three seconds of ffmpeg's `testsrc` (320x240, 30 fps, an IDR every 30 frames) with
    /// two B-frames between references in a fixed pattern (no adaptive placement, no
    /// pyramid, closed GOPs), by libx264 or libx265: decode order I0 P3 B1 B2 P6 B4 B5 ...
    /// Each access unit's presentation index comes from the encoder's own timestamps
    /// (ffprobe of a Matroska copy). Made once per codec and process.
    pub fn testsrc_bframes(codec: VideoCodec) -> io::Result<Arc<H264Clip>> {
        static CLIPS: [OnceLock<Result<Arc<H264Clip>, String>>; 2] =
            [OnceLock::new(), OnceLock::new()];
        CLIPS[codec as usize]
            .get_or_init(|| make_bframes(codec).map(Arc::new).map_err(|e| e.to_string()))
            .clone()
            .map_err(io::Error::other)
    }

    /// The least reorder depth that decodes the clip's order: the most pictures decoded
    /// before one and presented after it (1 for [`testsrc_bframes`](Self::testsrc_bframes),
    /// what the encoders then state in the SPS; 0 without B-frames).
    pub fn reorder_depth(&self) -> u32 {
        let aus = &self.access_units;
        (0..aus.len())
            .map(|j| aus[..j].iter().filter(|a| a.pts > aus[j].pts).count() as u32)
            .max()
            .unwrap_or(0)
    }

    /// `profile-level-id` for the SDP: the three bytes after the SPS's NAL header, in hex.
    pub fn profile_level_id(&self) -> String {
        self.sps[1..4].iter().map(|b| format!("{b:02X}")).collect()
    }

    /// 90 kHz ticks per frame.
    pub fn frame_duration_90k(&self) -> u32 {
        90_000 / self.fps
    }
}

impl std::fmt::Debug for H264Clip {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("H264Clip")
            .field("profile_level_id", &self.profile_level_id())
            .field("access_units", &self.access_units.len())
            .field("fps", &self.fps)
            .finish_non_exhaustive()
    }
}

/// The H.265 NAL unit type (bits 1-6 of the first header byte).
pub fn h265_nal_type(nal: &[u8]) -> u8 {
    nal.first().map_or(0, |b| (b >> 1) & 0x3F)
}

/// Encodes [`H264Clip::testsrc_bframes`]'s clip into a Matroska file (whose packets carry
/// the encoder's timestamps), reads each packet's presentation time with ffprobe and its
/// bytes as Annex B with ffmpeg, one access unit per packet.
fn make_bframes(codec: VideoCodec) -> io::Result<H264Clip> {
    let size = format!("testsrc=size={TESTSRC_WIDTH}x{TESTSRC_HEIGHT}:rate={TESTSRC_FPS}");
    let secs = TESTSRC_SECONDS.to_string();
    let dir = std::env::temp_dir().join(format!("fake-rtsp-bframes-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let mkv = dir.join(format!("{codec:?}.mkv"));
    let mkv_str = mkv.to_str().expect("utf-8 temp path");
    let (encoder, params, bsf, format) = match codec {
        VideoCodec::H264 => (
            "libx264",
            ["-x264-params", "b-pyramid=none:open-gop=0"],
            "h264_mp4toannexb",
            "h264",
        ),
        VideoCodec::H265 => (
            "libx265",
            [
                "-x265-params",
                "bframes=2:b-adapt=0:b-pyramid=0:open-gop=0:scenecut=0:repeat-headers=1:log-level=error",
            ],
            "hevc_mp4toannexb",
            "hevc",
        ),
    };
    #[rustfmt::skip]
    let encode = [
        "-nostdin", "-v", "error", "-y",
        "-f", "lavfi", "-i", &size, "-t", &secs,
        "-c:v", encoder, "-g", "30", "-keyint_min", "30", "-sc_threshold", "0",
        "-bf", "2", "-b_strategy", "0", params[0], params[1],
        "-f", "matroska", mkv_str,
    ];
    ffmpeg(&encode)?;
    let probe = Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-show_entries",
            "packet=pts",
            "-of",
            "csv=p=0",
            mkv_str,
        ])
        .stdin(Stdio::null())
        .output()
        .map_err(|e| {
            io::Error::new(
                e.kind(),
                format!("cannot run ffprobe ({e}); {INSTALL_HINT}"),
            )
        })?;
    // Matroska's millisecond timestamps, rounded to frames.
    let pts: Vec<u32> = String::from_utf8_lossy(&probe.stdout)
        .lines()
        .map(|l| {
            let ms: u64 = l
                .trim()
                .parse()
                .map_err(|_| io::Error::other(format!("pts {l:?}")))?;
            Ok(((ms * u64::from(TESTSRC_FPS) + 500) / 1000) as u32)
        })
        .collect::<io::Result<_>>()?;
    #[rustfmt::skip]
    let annex_b = ["-nostdin", "-v", "error", "-i", mkv_str, "-c", "copy", "-bsf:v", bsf, "-f", format, "-"];
    let stream = ffmpeg(&annex_b)?;
    let _ = std::fs::remove_dir_all(&dir);
    let mut clip = match codec {
        VideoCodec::H264 => H264Clip::from_annex_b(&stream, TESTSRC_FPS)?,
        VideoCodec::H265 => h265_from_annex_b(&stream, TESTSRC_FPS)?,
    };
    if clip.access_units.len() != pts.len() {
        return Err(io::Error::other(format!(
            "{} access units but {} packets",
            clip.access_units.len(),
            pts.len()
        )));
    }
    for (au, p) in clip.access_units.iter_mut().zip(pts) {
        au.pts = p;
    }
    Ok(clip)
}

/// Splits an H.265 Annex B stream into access units: a new one starts at a VPS, SPS, PPS,
/// access unit delimiter or prefix SEI after a picture's slices, or at a slice whose
/// `first_slice_segment_in_pic_flag` is set. IDR pictures are NAL types 19 and 20.
fn h265_from_annex_b(stream: &[u8], fps: u32) -> io::Result<H264Clip> {
    let (mut vps, mut sps, mut pps) = (None, None, None);
    let mut access_units: Vec<AccessUnit> = Vec::new();
    let mut current: Vec<Bytes> = Vec::new();
    let mut current_has_slice = false;
    let push = |nals: Vec<Bytes>, access_units: &mut Vec<AccessUnit>| {
        access_units.push(AccessUnit {
            idr: nals.iter().any(|n| matches!(h265_nal_type(n), 19 | 20)),
            pts: access_units.len() as u32,
            nals,
        });
    };
    for nal in split_annex_b(stream) {
        let t = h265_nal_type(&nal);
        let starts_new = match t {
            0..=31 => current_has_slice && nal.get(2).is_some_and(|b| b & 0x80 != 0),
            32..=35 | 39 => current_has_slice,
            _ => false,
        };
        if starts_new {
            push(std::mem::take(&mut current), &mut access_units);
            current_has_slice = false;
        }
        match t {
            32 if vps.is_none() => vps = Some(nal.clone()),
            33 if sps.is_none() => sps = Some(nal.clone()),
            34 if pps.is_none() => pps = Some(nal.clone()),
            0..=31 => current_has_slice = true,
            _ => {}
        }
        current.push(nal);
    }
    if current_has_slice {
        push(current, &mut access_units);
    }
    let (Some(vps), Some(sps), Some(pps)) = (vps, sps, pps) else {
        return Err(io::Error::other("h265 stream has no vps, sps or pps"));
    };
    if !access_units.first().is_some_and(AccessUnit::is_idr) {
        return Err(io::Error::other("h265 stream does not start with an idr"));
    }
    Ok(H264Clip {
        codec: VideoCodec::H265,
        vps: Some(vps),
        sps,
        pps,
        access_units,
        fps,
    })
}

/// The NAL unit type (low five bits of the header byte).
pub fn nal_type(nal: &[u8]) -> u8 {
    nal.first().map_or(0, |b| b & 0x1F)
}

/// Splits an Annex B stream at its 3- and 4-byte start codes; NAL units keep trailing zero
/// bytes of a following 4-byte start code trimmed.
fn split_annex_b(stream: &[u8]) -> Vec<Bytes> {
    let mut starts = Vec::new();
    let mut i = 0;
    while i + 3 <= stream.len() {
        if stream[i] == 0 && stream[i + 1] == 0 && stream[i + 2] == 1 {
            starts.push(i + 3);
            i += 3;
        } else {
            i += 1;
        }
    }
    let mut nals = Vec::with_capacity(starts.len());
    for (k, &start) in starts.iter().enumerate() {
        let mut end = starts.get(k + 1).map_or(stream.len(), |&next| next - 3);
        while end > start && stream[end - 1] == 0 {
            end -= 1;
        }
        if end > start {
            nals.push(Bytes::copy_from_slice(&stream[start..end]));
        }
    }
    nals
}

/// AAC-LC frames (raw, without ADTS headers) with their AudioSpecificConfig.
pub struct AacClip {
    /// The raw frames, 1024 samples each.
    pub frames: Vec<Bytes>,
    /// The sampling rate, which is also the RTP clock rate.
    pub sample_rate_hz: u32,
    /// The number of channels.
    pub channels: u8,
    /// The two-byte AudioSpecificConfig (ISO/IEC 14496-3 §1.6.2.1) for the SDP's `config=`.
    pub config: [u8; 2],
}

impl std::fmt::Debug for AacClip {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AacClip")
            .field("frames", &self.frames.len())
            .field("sample_rate_hz", &self.sample_rate_hz)
            .field("channels", &self.channels)
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl AacClip {
    /// Samples per AAC-LC frame.
    pub const FRAME_SAMPLES: u32 = 1024;

    /// Three seconds of a 440 Hz sine, mono 48 kHz AAC-LC, made once per process with
    /// ffmpeg's native encoder and shared afterwards.
    pub fn sine() -> io::Result<Arc<AacClip>> {
        static CLIP: OnceLock<Result<Arc<AacClip>, String>> = OnceLock::new();
        CLIP.get_or_init(|| {
            let secs = TESTSRC_SECONDS.to_string();
            #[rustfmt::skip]
            let args = [
                "-nostdin", "-v", "error",
                "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000", "-t", &secs,
                "-c:a", "aac", "-ac", "1", "-f", "adts", "-",
            ];
            let stream = ffmpeg(&args).map_err(|e| e.to_string())?;
            AacClip::from_adts(&stream)
                .map(Arc::new)
                .map_err(|e| e.to_string())
        })
        .clone()
        .map_err(io::Error::other)
    }

    /// Takes the frames out of an ADTS stream (ISO/IEC 14496-3 §1.A.2); the configuration
    /// comes from the first header.
    pub fn from_adts(mut stream: &[u8]) -> io::Result<AacClip> {
        const RATES: [u32; 13] = [
            96000, 88200, 64000, 48000, 44100, 32000, 24000, 22050, 16000, 12000, 11025, 8000, 7350,
        ];
        let bad = |what: &str| io::Error::other(format!("bad adts stream: {what}"));
        let mut frames = Vec::new();
        let mut first: Option<(u8, u8, u8)> = None;
        while !stream.is_empty() {
            if stream.len() < 7 || stream[0] != 0xFF || stream[1] & 0xF0 != 0xF0 {
                return Err(bad("missing syncword"));
            }
            let protection_absent = stream[1] & 1 == 1;
            let object_type = (stream[2] >> 6) + 1;
            let freq_index = (stream[2] >> 2) & 0x0F;
            let channels = ((stream[2] & 1) << 2) | (stream[3] >> 6);
            let frame_len = (usize::from(stream[3] & 0x03) << 11)
                | (usize::from(stream[4]) << 3)
                | usize::from(stream[5] >> 5);
            let header_len = if protection_absent { 7 } else { 9 };
            if frame_len <= header_len || frame_len > stream.len() {
                return Err(bad("frame length"));
            }
            first.get_or_insert((object_type, freq_index, channels));
            frames.push(Bytes::copy_from_slice(&stream[header_len..frame_len]));
            stream = &stream[frame_len..];
        }
        let (object_type, freq_index, channels) = first.ok_or_else(|| bad("empty"))?;
        let sample_rate_hz = *RATES
            .get(usize::from(freq_index))
            .ok_or_else(|| bad("sampling frequency index"))?;
        // 5 bits object type, 4 bits frequency index, 4 bits channel configuration, 3 zero bits.
        let asc = (u16::from(object_type) << 11)
            | (u16::from(freq_index) << 7)
            | (u16::from(channels) << 3);
        Ok(AacClip {
            frames,
            sample_rate_hz,
            channels,
            config: asc.to_be_bytes(),
        })
    }
}

/// Runs ffmpeg and returns what it wrote to stdout.
fn ffmpeg(args: &[&str]) -> io::Result<Vec<u8>> {
    let out = Command::new("ffmpeg")
        .args(args)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| {
            io::Error::new(e.kind(), format!("cannot run ffmpeg ({e}); {INSTALL_HINT}"))
        })?;
    if !out.status.success() {
        return Err(io::Error::other(format!(
            "ffmpeg {args:?} failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        )));
    }
    Ok(out.stdout)
}

/// A hand-made clip for unit tests: SPS, PPS, then an IDR picture of 5000 bytes (4 FU-A
/// fragments) and two P pictures of 100 bytes, at 1 fps.
#[cfg(test)]
pub(super) fn fake_clip() -> Arc<H264Clip> {
    let idr = std::iter::once(0x65u8).chain(std::iter::repeat_n(0x88, 4999));
    let p = std::iter::once(0x41u8).chain(std::iter::repeat_n(0x9A, 99));
    let stream: Vec<u8> = [
        0, 0, 0, 1, 0x67, 0x42, 0xC0, 0x1E, 0, 0, 0, 1, 0x68, 0xCE, 0, 0, 1,
    ]
    .into_iter()
    .chain(idr)
    .chain([0, 0, 1])
    .chain(p.clone())
    .chain([0, 0, 1])
    .chain(p)
    .collect();
    Arc::new(H264Clip::from_annex_b(&stream, 1).expect("valid"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn annex_b_splits_into_access_units_at_first_slices() {
        // SPS, PPS, IDR slice (first_mb 0), then a P slice (first_mb 0), then a second slice
        // of the same picture (first_mb 1: ue(v) "010"), then an SEI starting a new picture.
        let stream = [
            &[0, 0, 0, 1, 0x67, 0x42, 0xC0, 0x1E][..],
            &[0, 0, 1, 0x68, 0xCE, 0x3C, 0x80],
            &[0, 0, 0, 1, 0x65, 0x88, 0x84],
            &[0, 0, 1, 0x41, 0x9A, 0x02],
            &[0, 0, 1, 0x41, 0x40, 0x03, 0x00],
            &[0, 0, 1, 0x06, 0x05, 0x01],
            &[0, 0, 1, 0x41, 0x9A, 0x04],
        ]
        .concat();
        let clip = H264Clip::from_annex_b(&stream, 30).expect("valid stream");
        assert_eq!(&clip.sps[..], &[0x67, 0x42, 0xC0, 0x1E]);
        assert_eq!(&clip.pps[..], &[0x68, 0xCE, 0x3C, 0x80]);
        assert_eq!(clip.profile_level_id(), "42C01E");
        let types: Vec<Vec<u8>> = clip
            .access_units
            .iter()
            .map(|au| au.nals.iter().map(|n| nal_type(n)).collect())
            .collect();
        assert_eq!(types, vec![vec![7, 8, 5], vec![1, 1], vec![6, 1]]);
        // Zero bytes before a start code belong to it (a NAL never ends in 0x00).
        assert_eq!(&clip.access_units[1].nals[1][..], &[0x41, 0x40, 0x03]);
        assert!(clip.access_units[0].is_idr() && !clip.access_units[1].is_idr());
    }

    #[test]
    fn adts_headers_give_frames_and_config() {
        // Two ADTS frames (protection absent): AAC-LC (profile 1), 48 kHz (index 3), mono,
        // frame lengths 7 + 3 and 7 + 2 bytes.
        let header = |len: usize| {
            let len = len as u32;
            [
                0xFF,
                0xF1,
                (1 << 6) | (3 << 2),
                (1 << 6) | ((len >> 11) as u8 & 0x03),
                (len >> 3) as u8,
                ((len & 7) as u8) << 5 | 0x1F,
                0xFC,
            ]
        };
        let stream = [&header(10)[..], &[1, 2, 3], &header(9), &[4, 5]].concat();
        let clip = AacClip::from_adts(&stream).expect("valid adts");
        assert_eq!(
            clip.frames,
            vec![Bytes::from_static(&[1, 2, 3]), Bytes::from_static(&[4, 5])]
        );
        assert_eq!((clip.sample_rate_hz, clip.channels), (48_000, 1));
        assert_eq!(clip.config, [0x11, 0x88]);
    }
}
