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

use mp4_track::{Mp4Muxer, MuxerOptions, SampleInfo, TrackConfig, TrackKind};

mod common;

use common::{jpeg_dimensions, mp4v_jpeg_entry, split_jpegs};

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
