//! Muxes an H.264 Annex B stream and an AAC ADTS stream into a finalized MP4 file (moov
//! first) with the public APIs only: sample entries from `bmff-boxes` ([`Avc1`] from the
//! SPS and PPS, [`Mp4a`] from the AudioSpecificConfig of the ADTS header), the samples
//! through a [`FragmentedMuxer`], then its finalize plan.
//!
//! ```sh
//! ffmpeg -f lavfi -i testsrc=size=320x240:rate=25 -t 5 -c:v libx264 -bf 0 -g 25 v.h264
//! ffmpeg -f lavfi -i sine=sample_rate=48000 -t 5 -c:a aac a.aac
//! cargo run -p mp4-track --example h264_aac -- v.h264 a.aac 320x240 25 out.mp4
//! ffmpeg -v error -xerror -i out.mp4 -f null -
//! ```
//!
//! The inputs carry no timestamps: video frames are timed at the given rate in decode
//! order, which is presentation order without B-frames (`-bf 0`); with B-frames, a source
//! that has presentation times (RTSP) gets decode times from [`mp4_track::DecodeTimes`].
//! Each frame is first described as `rtsp-ingest` would hand it out (`u32` dimensions,
//! `pts: i64` in the stream's clock), then converted as the crate docs of `mp4-track`
//! describe ("From `rtsp-ingest`").

use std::num::NonZeroU32;

use bmff_boxes::{Avc1, AvcC, Bytes, Encode, Mp4a};
use mp4_track::{FinalizeStep, FragmentedMuxer, FragmentedOptions, SampleInfo, TrackConfig};
use mp4_track::{TrackId, TrackKind};

/// A frame as an RTSP source hands it out: presentation time in the stream's clock.
struct Frame {
    pts: i64,
    is_sync: bool,
    data: Bytes,
}

/// H.264 access units from an Annex B stream, with the first SPS and PPS.
struct H264 {
    sps: Bytes,
    pps: Bytes,
    /// Each frame's NAL units (parameter sets and delimiters left out), as 4-byte
    /// length-prefixed NAL units (what `avcC`'s `length_size_minus_one` 3 says), and
    /// whether it holds an IDR slice.
    frames: Vec<(Vec<u8>, bool)>,
}

/// The NAL units of an Annex B stream, split at `00 00 01` start codes (a leading zero of
/// a 4-byte start code is trailing zero data, dropped).
fn nal_units(stream: &[u8]) -> Vec<&[u8]> {
    let mut starts = Vec::new();
    let mut i = 0;
    while i + 3 <= stream.len() {
        if stream[i..i + 3] == [0, 0, 1] {
            starts.push(i + 3);
            i += 3;
        } else {
            i += 1;
        }
    }
    let ends = starts.iter().skip(1).map(|&s| s - 3).chain([stream.len()]);
    starts
        .iter()
        .zip(ends)
        .map(|(&s, e)| {
            let mut nal = &stream[s..e];
            while let [rest @ .., 0] = nal {
                nal = rest;
            }
            nal
        })
        .filter(|n| !n.is_empty())
        .collect()
}

/// Splits an Annex B stream into access units: a new one starts at a slice whose
/// `first_mb_in_slice` is 0 (its first bit after the header is 1), or at an access unit
/// delimiter, SPS, PPS or SEI, once the current one holds a slice.
fn parse_h264(stream: &[u8]) -> Result<H264, String> {
    let (mut sps, mut pps) = (None, None);
    let mut frames: Vec<(Vec<u8>, bool)> = Vec::new();
    let mut current: Option<(Vec<u8>, bool, bool)> = None; // data, idr, has a slice
    for nal in nal_units(stream) {
        let nal_type = nal[0] & 0x1f;
        let is_slice = matches!(nal_type, 1 | 5);
        let starts_au = match nal_type {
            1 | 5 => nal.get(1).is_some_and(|b| b & 0x80 != 0),
            6..=9 => true,
            _ => false,
        };
        if starts_au && current.as_ref().is_some_and(|c| c.2) {
            let (data, idr, _) = current.take().expect("checked");
            frames.push((data, idr));
        }
        let au = current.get_or_insert_with(|| (Vec::new(), false, false));
        match nal_type {
            7 => {
                sps.get_or_insert_with(|| Bytes::copy_from_slice(nal));
            }
            8 => {
                pps.get_or_insert_with(|| Bytes::copy_from_slice(nal));
            }
            9 => {} // access unit delimiter: not needed in MP4
            _ => {
                au.0.extend_from_slice(&(nal.len() as u32).to_be_bytes());
                au.0.extend_from_slice(nal);
                au.1 |= nal_type == 5;
                au.2 |= is_slice;
            }
        }
    }
    if let Some((data, idr, true)) = current {
        frames.push((data, idr));
    }
    Ok(H264 {
        sps: sps.ok_or("no SPS in the H.264 stream")?,
        pps: pps.ok_or("no PPS in the H.264 stream")?,
        frames,
    })
}

/// AAC frames from an ADTS stream (ISO/IEC 13818-7 §6.2, ISO/IEC 14496-3 §1.A.2), with the
/// AudioSpecificConfig their first header implies.
struct Adts {
    audio_specific_config: Bytes,
    sample_rate_hz: u32,
    frames: Vec<Bytes>,
}

fn parse_adts(stream: &[u8]) -> Result<Adts, String> {
    const RATES: [u32; 13] = [
        96000, 88200, 64000, 48000, 44100, 32000, 24000, 22050, 16000, 12000, 11025, 8000, 7350,
    ];
    let mut frames = Vec::new();
    let mut config = None;
    let mut at = 0;
    while at + 7 <= stream.len() {
        let h = &stream[at..at + 7];
        if h[0] != 0xff || h[1] & 0xf0 != 0xf0 {
            return Err(format!("no ADTS sync word at byte {at}"));
        }
        let header_len = if h[1] & 1 == 1 { 7 } else { 9 }; // protection_absent
        let profile = h[2] >> 6; // audio object type - 1
        let sf_index = (h[2] >> 2) & 0xf;
        let channels = (h[2] & 1) << 2 | h[3] >> 6;
        let frame_len =
            usize::from(h[3] & 3) << 11 | usize::from(h[4]) << 3 | usize::from(h[5] >> 5);
        if h[6] & 3 != 0 {
            return Err("ADTS frames of several raw data blocks are not supported".into());
        }
        if frame_len < header_len || at + frame_len > stream.len() {
            return Err(format!("ADTS frame at byte {at} is cut"));
        }
        // AudioSpecificConfig: audioObjectType (5), samplingFrequencyIndex (4),
        // channelConfiguration (4), then GASpecificConfig's three zero flags.
        let asc =
            u16::from(profile + 1) << 11 | u16::from(sf_index) << 7 | u16::from(channels) << 3;
        config.get_or_insert((asc, sf_index));
        frames.push(Bytes::copy_from_slice(
            &stream[at + header_len..at + frame_len],
        ));
        at += frame_len;
    }
    let (asc, sf_index) = config.ok_or("no ADTS frames")?;
    Ok(Adts {
        audio_specific_config: Bytes::copy_from_slice(&asc.to_be_bytes()),
        sample_rate_hz: *RATES
            .get(usize::from(sf_index))
            .ok_or("bad sampling index")?,
        frames,
    })
}

fn gcd(a: u64, b: u64) -> u64 {
    if b == 0 { a } else { gcd(b, a % b) }
}

/// Muxes the two streams into a finalized file, built in memory.
pub fn mux(h264: &[u8], adts: &[u8], size: (u32, u32), fps: u32) -> Result<Vec<u8>, String> {
    let video = parse_h264(h264)?;
    let audio = parse_adts(adts)?;
    let err = |e: &dyn std::fmt::Display| e.to_string();

    // What an RTSP source describes in `u32`s becomes the `u16`s of a sample entry and
    // `tkhd`; the cast is checked.
    let (width, height) = (
        u16::try_from(size.0).map_err(|_| "width above 65535")?,
        u16::try_from(size.1).map_err(|_| "height above 65535")?,
    );
    let avcc = AvcC::new(video.sps, video.pps).map_err(|e| err(&e))?;
    let video_entry = Avc1::new(width, height, avcc).to_bytes();
    let audio_entry = Mp4a::aac(audio.audio_specific_config)
        .map_err(|e| err(&e))?
        .to_bytes();

    // A movie timescale that both tracks' timescales divide, so the edit lists are exact.
    let (video_hz, audio_hz) = (90_000u32, audio.sample_rate_hz);
    let lcm =
        u64::from(video_hz) / gcd(u64::from(video_hz), u64::from(audio_hz)) * u64::from(audio_hz);
    let mut muxer = FragmentedMuxer::new(FragmentedOptions {
        movie_timescale_hz: u32::try_from(lcm).unwrap_or(1000),
        // Room for the final moov at the front: about 1 KiB per second is plenty here.
        reserve_bytes: 64 * 1024,
        ..FragmentedOptions::default()
    });
    let frame_ticks = video_hz / fps.max(1);
    let v = muxer
        .add_track(TrackConfig {
            kind: TrackKind::Video { width, height },
            timescale_hz: video_hz,
            sample_entry: video_entry,
            default_sample_duration: NonZeroU32::new(frame_ticks),
        })
        .map_err(|e| err(&e))?;
    let a = muxer
        .add_track(TrackConfig {
            kind: TrackKind::Audio,
            timescale_hz: audio_hz,
            sample_entry: audio_entry,
            default_sample_duration: NonZeroU32::new(1024),
        })
        .map_err(|e| err(&e))?;

    // The frames as an RTSP source would hand them out, timed from an arbitrary origin.
    let origin: i64 = 1_000_000;
    let video_frames = video
        .frames
        .into_iter()
        .enumerate()
        .map(|(i, (data, idr))| Frame {
            pts: origin + i as i64 * i64::from(frame_ticks),
            is_sync: idr,
            data: Bytes::from(data),
        });
    let audio_frames = audio.frames.into_iter().enumerate().map(|(i, data)| Frame {
        pts: i as i64 * 1024,
        is_sync: true,
        data,
    });
    // Interleaved in time, as a live source delivers them (the muxer's contract).
    let mut all: Vec<(TrackId, u32, i64, Frame)> = video_frames
        .map(|f| (v, video_hz, origin, f))
        .chain(audio_frames.map(|f| (a, audio_hz, 0, f)))
        .collect();
    all.sort_by_key(|(_, hz, zero, f)| (i128::from(f.pts - zero) * 720_000) / i128::from(*hz));

    let mut file = muxer.start().map_err(|e| err(&e))?.to_vec();
    let write = |file: &mut Vec<u8>, f: mp4_track::Fragment| {
        file.extend_from_slice(&f.header);
        f.data.iter().for_each(|d| file.extend_from_slice(d));
    };
    for (track, _, zero, f) in all {
        // `pts: i64` from the stream's zero becomes the `u64` decode time (no B-frames:
        // decode time = presentation time, composition offset 0).
        let dts = u64::try_from(f.pts - zero).map_err(|_| "a frame before zero")?;
        let size = u32::try_from(f.data.len()).map_err(|_| "a frame above 4 GiB")?;
        let info = SampleInfo {
            dts,
            cts_offset: 0,
            size,
            is_sync: f.is_sync,
        };
        muxer.push(track, info, f.data).map_err(|e| err(&e))?;
        while let Some(fragment) = muxer.poll_fragment() {
            write(&mut file, fragment);
        }
    }
    while let Some(fragment) = muxer.flush() {
        write(&mut file, fragment);
    }
    for step in muxer.finalize().map_err(|e| err(&e))?.steps {
        match step {
            FinalizeStep::Write(p) => {
                let at = p.offset as usize;
                file[at..at + p.bytes.len()].copy_from_slice(&p.bytes);
            }
            FinalizeStep::Sync => {} // a file on disk: fsync here
            FinalizeStep::SetLen(n) => file.truncate(n as usize),
        }
    }
    Ok(file)
}

#[allow(dead_code)] // the test includes this file for `mux` alone
fn main() -> Result<(), Box<dyn std::error::Error>> {
    let usage = "usage: h264_aac IN.h264 IN.aac WIDTHxHEIGHT FPS OUT.mp4";
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [h264, adts, size, fps, out] = &args[..] else {
        return Err(usage.into());
    };
    let (w, h) = size.split_once('x').ok_or(usage)?;
    let file = mux(
        &std::fs::read(h264)?,
        &std::fs::read(adts)?,
        (w.parse()?, h.parse()?),
        fps.parse()?,
    )?;
    std::fs::write(out, file)?;
    Ok(())
}
