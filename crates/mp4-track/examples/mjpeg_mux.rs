//! Muxes a Motion-JPEG stream into an MP4 file, for checking the muxer with real parsers.
//!
//! ```sh
//! ffmpeg -v error -f lavfi -i testsrc=size=320x240:rate=30 -t 2 -f image2pipe -c:v mjpeg - \
//!   | cargo run -p mp4-track --example mjpeg_mux -- out.mp4 [DELAY_MS]
//! ffprobe out.mp4
//! ```
//!
//! Frames are split at JPEG start-of-image markers (FF D8 FF) and timed at 30 fps. With
//! `DELAY_MS`, the same frames are muxed again as a second video track starting that much
//! later, which exercises the empty edit that keeps tracks aligned.

use std::io::{Read, Write};
use std::num::NonZeroU32;

use bytes::Bytes;
use mp4_track::{Mp4Muxer, MuxerOptions, SampleInfo, TrackConfig, TrackKind};

/// Splits a concatenation of JPEG images at their start-of-image markers.
fn split_jpegs(data: &[u8]) -> Vec<&[u8]> {
    let starts: Vec<usize> = (0..data.len().saturating_sub(2))
        .filter(|&i| data[i] == 0xFF && data[i + 1] == 0xD8 && data[i + 2] == 0xFF)
        .collect();
    starts
        .iter()
        .enumerate()
        .map(|(k, &s)| &data[s..starts.get(k + 1).copied().unwrap_or(data.len())])
        .collect()
}

/// Width and height from the first start-of-frame marker (SOF0..SOF3).
fn jpeg_dimensions(jpeg: &[u8]) -> Option<(u16, u16)> {
    let mut i = 2;
    while i + 9 < jpeg.len() {
        if jpeg[i] != 0xFF {
            return None;
        }
        let marker = jpeg[i + 1];
        let len = usize::from(u16::from_be_bytes([jpeg[i + 2], jpeg[i + 3]]));
        if (0xC0..=0xC3).contains(&marker) {
            let h = u16::from_be_bytes([jpeg[i + 5], jpeg[i + 6]]);
            let w = u16::from_be_bytes([jpeg[i + 7], jpeg[i + 8]]);
            return Some((w, h));
        }
        i += 2 + len;
    }
    None
}

/// A `mp4v` visual sample entry (ISO/IEC 14496-14 §5.6) whose `esds` declares JPEG
/// (objectTypeIndication 0x6C).
fn mp4v_jpeg_entry(width: u16, height: u16) -> Bytes {
    let mut esds = Vec::new();
    esds.extend_from_slice(&[0, 0, 0, 0]); // esds size, set below
    esds.extend_from_slice(b"esds");
    esds.extend_from_slice(&[0, 0, 0, 0]); // version, flags
    let dcd_body: [u8; 13] = [
        0x6C, // objectTypeIndication: JPEG (ISO/IEC 10918-1)
        0x11, // streamType 4 (visual) << 2 | upStream 0 | reserved 1
        0, 0, 0, // bufferSizeDB
        0, 0, 0, 0, // maxBitrate
        0, 0, 0, 0, // avgBitrate
    ];
    let es_len = 3 + 2 + dcd_body.len() + 3;
    esds.extend_from_slice(&[0x03, es_len as u8, 0, 1, 0]); // ES_Descriptor, ES_ID 1, flags
    esds.extend_from_slice(&[0x04, dcd_body.len() as u8]); // DecoderConfigDescriptor
    esds.extend_from_slice(&dcd_body);
    esds.extend_from_slice(&[0x06, 1, 2]); // SLConfigDescriptor, predefined = 2 (MP4)
    let len = esds.len() as u32;
    esds[..4].copy_from_slice(&len.to_be_bytes());

    let mut e = Vec::new();
    e.extend_from_slice(&[0, 0, 0, 0]); // size, set below
    e.extend_from_slice(b"mp4v");
    e.extend_from_slice(&[0; 6]); // reserved
    e.extend_from_slice(&1u16.to_be_bytes()); // data_reference_index
    e.extend_from_slice(&[0; 16]); // pre_defined, reserved, pre_defined[3]
    e.extend_from_slice(&width.to_be_bytes());
    e.extend_from_slice(&height.to_be_bytes());
    e.extend_from_slice(&0x0048_0000u32.to_be_bytes()); // horizresolution 72 dpi
    e.extend_from_slice(&0x0048_0000u32.to_be_bytes()); // vertresolution 72 dpi
    e.extend_from_slice(&[0; 4]); // reserved
    e.extend_from_slice(&1u16.to_be_bytes()); // frame_count
    e.extend_from_slice(&[0; 32]); // compressorname
    e.extend_from_slice(&0x0018u16.to_be_bytes()); // depth
    e.extend_from_slice(&(-1i16).to_be_bytes()); // pre_defined
    e.extend_from_slice(&esds);
    let len = e.len() as u32;
    e[..4].copy_from_slice(&len.to_be_bytes());
    Bytes::from(e)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let out_path = args
        .next()
        .ok_or("usage: mjpeg_mux OUT.mp4 [DELAY_MS] < frames.mjpeg")?;
    let delay_ms: Option<u64> = args.next().map(|s| s.parse()).transpose()?;
    let mut input = Vec::new();
    std::io::stdin().read_to_end(&mut input)?;
    let frames = split_jpegs(&input);
    let (width, height) = frames
        .first()
        .and_then(|f| jpeg_dimensions(f))
        .ok_or("no JPEG frames on stdin")?;

    let mut mux = Mp4Muxer::new(MuxerOptions::default());
    let config = TrackConfig {
        kind: TrackKind::Video { width, height },
        timescale_hz: 90_000,
        sample_entry: mp4v_jpeg_entry(width, height),
        default_sample_duration: NonZeroU32::new(3000),
    };
    let main_track = mux.add_track(config.clone())?;
    let late_track = delay_ms.map(|_| mux.add_track(config)).transpose()?;
    let mut file = std::fs::File::create(&out_path)?;
    file.write_all(&mux.start()?)?;
    // (track, dts, frame), in timeline order.
    let mut events: Vec<(mp4_track::TrackId, u64, &[u8])> = Vec::new();
    for (i, f) in frames.iter().enumerate() {
        events.push((main_track, i as u64 * 3000, f));
        if let (Some(t), Some(d)) = (late_track, delay_ms) {
            events.push((t, d * 90 + i as u64 * 3000, f));
        }
    }
    events.sort_by_key(|e| e.1);
    for (track, dts, frame) in events {
        let sample = SampleInfo {
            dts,
            cts_offset: 0,
            size: frame.len() as u32,
            is_sync: true,
        };
        let offset = mux.push(track, sample)?;
        assert_eq!(offset, mux.file_len() - frame.len() as u64);
        file.write_all(frame)?;
    }
    let finished = mux.finish()?;
    file.write_all(&finished.tail)?;
    for patch in &finished.patches {
        use std::io::{Seek, SeekFrom};
        file.seek(SeekFrom::Start(patch.offset))?;
        file.write_all(&patch.bytes)?;
    }
    eprintln!(
        "wrote {} frames ({width}x{height}) to {out_path}",
        frames.len()
    );
    Ok(())
}
