//! Records Motion-JPEG (and optionally AAC) through the crash-safe `FragmentedMuxer`, for
//! checking both file forms and every intermediate finalization state with real parsers.
//!
//! ```sh
//! ffmpeg -v error -f lavfi -i testsrc=size=320x240:rate=30 -t 2 -f image2pipe -c:v mjpeg v.mjpeg
//! ffmpeg -v error -f lavfi -i sine=sample_rate=48000 -t 1.5 -c:a aac -f adts a.aac
//! # finalized (progressive, moov first):
//! cargo run -p mp4-track --example fragmented_mux -- mux out.mp4 v.mjpeg [a.aac DELAY_MS]
//! # left fragmented, as after a crash; with STEPS_DIR, also a copy of the file after each
//! # step of the finalization plan:
//! FRAGMENTED_ONLY=1 STEPS_DIR=steps cargo run -p mp4-track --example fragmented_mux -- mux ...
//! # repair a (possibly torn) fragmented file in place:
//! cargo run -p mp4-track --example fragmented_mux -- repair out.mp4
//! # reserve estimate against the real final moov, 10 s and 10 min of 30 fps + AAC:
//! cargo run -p mp4-track --example fragmented_mux -- sizes
//! ```
//!
//! `RESERVE` sets the reserved bytes (default: `estimate_moov_bytes` for the input).

#![allow(clippy::print_stdout)]

use std::fs::File;
use std::num::NonZeroU32;
use std::os::unix::fs::FileExt;

use bytes::Bytes;
use mp4_track::{
    FinalizeStep, Fragment, FragmentedMuxer, FragmentedOptions, Recovered, Recovery, SampleInfo,
    TrackConfig, TrackEstimate, TrackKind, estimate_moov_bytes,
};

mod common;

use common::{boxed, esds, jpeg_dimensions, mp4v_jpeg_entry, split_jpegs};

type Res<T> = Result<T, Box<dyn std::error::Error>>;

/// AAC from ADTS: the raw frames, sample rate, and the `mp4a` sample entry.
struct Aac<'a> {
    frames: Vec<&'a [u8]>,
    rate_hz: u32,
    entry: Bytes,
}

fn parse_adts(data: &[u8]) -> Res<Aac<'_>> {
    const RATES: [u32; 13] = [
        96000, 88200, 64000, 48000, 44100, 32000, 24000, 22050, 16000, 12000, 11025, 8000, 7350,
    ];
    let (mut frames, mut i, mut asc) = (Vec::new(), 0, None);
    while i + 7 <= data.len() {
        let h = &data[i..i + 7];
        if h[0] != 0xFF || h[1] & 0xF0 != 0xF0 {
            return Err(format!("no ADTS sync word at {i}").into());
        }
        let header_len = if h[1] & 1 == 1 { 7 } else { 9 };
        let profile = h[2] >> 6; // audio object type - 1
        let rate_index = (h[2] >> 2) & 0xF;
        let channels = (h[2] & 1) << 2 | h[3] >> 6;
        let len = usize::from(h[3] & 3) << 11 | usize::from(h[4]) << 3 | usize::from(h[5] >> 5);
        if len < header_len || i + len > data.len() {
            return Err(format!("bad ADTS frame length {len} at {i}").into());
        }
        asc.get_or_insert((profile + 1, rate_index, channels));
        frames.push(&data[i + header_len..i + len]);
        i += len;
    }
    let (aot, rate_index, channels) = asc.ok_or("no AAC frames")?;
    let rate_hz = *RATES
        .get(usize::from(rate_index))
        .ok_or("bad sample rate")?;
    // AudioSpecificConfig: 5 bits object type, 4 bits rate index, 4 bits channels, 3 zero.
    let asc = (u16::from(aot) << 11 | u16::from(rate_index) << 7 | u16::from(channels) << 3)
        .to_be_bytes();
    let mut e = vec![0; 6]; // reserved
    e.extend_from_slice(&1u16.to_be_bytes()); // data_reference_index
    e.extend_from_slice(&[0; 8]); // reserved
    e.extend_from_slice(&u16::from(channels).to_be_bytes()); // channelcount
    e.extend_from_slice(&16u16.to_be_bytes()); // samplesize
    e.extend_from_slice(&[0; 4]); // pre_defined, reserved
    e.extend_from_slice(&(rate_hz << 16).to_be_bytes()); // samplerate 16.16
    e.extend_from_slice(&esds(0x40, 5, &asc)); // MPEG-4 audio
    Ok(Aac {
        frames,
        rate_hz,
        entry: Bytes::from(boxed(b"mp4a", &e)),
    })
}

fn write_fragment(file: &File, f: &Fragment) -> Res<()> {
    file.write_all_at(&f.header, f.offset)?;
    let mut at = f.offset + f.header.len() as u64;
    for d in &f.data {
        file.write_all_at(d, at)?;
        at += d.len() as u64;
    }
    Ok(())
}

fn apply(file: &File, steps: &[FinalizeStep], copies: Option<(&str, &str)>) -> Res<()> {
    for (i, step) in steps.iter().enumerate() {
        match step {
            FinalizeStep::Write(p) => file.write_all_at(&p.bytes, p.offset)?,
            FinalizeStep::Sync => file.sync_data()?,
            FinalizeStep::SetLen(n) => file.set_len(*n)?,
        }
        if let Some((src, dir)) = copies {
            std::fs::copy(src, format!("{dir}/step-{i:03}.mp4"))?;
        }
    }
    Ok(())
}

fn mux(args: &[String]) -> Res<()> {
    let [out, video, rest @ ..] = args else {
        return Err("usage: mux OUT.mp4 V.mjpeg [A.aac DELAY_MS]".into());
    };
    let video_data = std::fs::read(video)?;
    let frames = split_jpegs(&video_data);
    let (width, height) = frames
        .first()
        .and_then(|f| jpeg_dimensions(f))
        .ok_or("no JPEG frames")?;
    let audio_data = rest.first().map(std::fs::read).transpose()?;
    let audio = audio_data.as_deref().map(parse_adts).transpose()?;
    let delay_ms: u64 = rest.get(1).map_or(Ok(0), |s| s.parse())?;

    let duration_ms = frames.len() as u64 * 1000 / 30;
    let mut estimates = vec![TrackEstimate {
        samples_per_s: 30.0,
        sync_samples_per_s: 30.0,
        regular_durations: true,
        composition_offsets: false,
        sample_entry_len: 200,
    }];
    if let Some(a) = &audio {
        estimates.push(TrackEstimate {
            samples_per_s: f64::from(a.rate_hz) / 1024.0,
            sync_samples_per_s: f64::from(a.rate_hz) / 1024.0,
            regular_durations: true,
            composition_offsets: false,
            sample_entry_len: a.entry.len() as u64,
        });
    }
    let fragment_duration_ms = 500;
    let reserve_bytes = match std::env::var("RESERVE") {
        Ok(r) => r.parse()?,
        Err(_) => estimate_moov_bytes(&estimates, duration_ms, fragment_duration_ms),
    };
    let mut m = FragmentedMuxer::new(FragmentedOptions {
        fragment_duration_ms,
        reserve_bytes,
        ..FragmentedOptions::default()
    });
    let v = m.add_track(TrackConfig {
        kind: TrackKind::Video { width, height },
        timescale_hz: 90_000,
        sample_entry: mp4v_jpeg_entry(width, height),
        default_sample_duration: NonZeroU32::new(3000),
    })?;
    let a = audio
        .as_ref()
        .map(|a| {
            m.add_track(TrackConfig {
                kind: TrackKind::Audio,
                timescale_hz: a.rate_hz,
                sample_entry: a.entry.clone(),
                default_sample_duration: NonZeroU32::new(1024),
            })
        })
        .transpose()?;

    // (time in seconds, track, dts, data), in timeline order.
    let mut events: Vec<(f64, mp4_track::TrackId, u64, Bytes)> = frames
        .iter()
        .enumerate()
        .map(|(i, f)| {
            let dts = i as u64 * 3000;
            (dts as f64 / 90_000.0, v, dts, Bytes::copy_from_slice(f))
        })
        .collect();
    if let (Some(a), Some(aac)) = (a, &audio) {
        let start = delay_ms * u64::from(aac.rate_hz) / 1000;
        for (j, f) in aac.frames.iter().enumerate() {
            let dts = start + j as u64 * 1024;
            let t = dts as f64 / f64::from(aac.rate_hz);
            events.push((t, a, dts, Bytes::copy_from_slice(f)));
        }
    }
    events.sort_by(|x, y| x.0.total_cmp(&y.0));

    let file = File::options()
        .read(true)
        .write(true)
        .create(true)
        .truncate(true)
        .open(out)?;
    file.write_all_at(&m.start()?, 0)?;
    let mut fragments = 0;
    for (_, track, dts, data) in events {
        let info = SampleInfo {
            dts,
            cts_offset: 0,
            size: data.len() as u32,
            is_sync: true,
        };
        m.push(track, info, data)?;
        while let Some(f) = m.poll_fragment() {
            write_fragment(&file, &f)?;
            fragments += 1;
        }
    }
    while let Some(f) = m.flush() {
        write_fragment(&file, &f)?;
        fragments += 1;
    }
    file.sync_data()?;
    let plan = m.finalize()?;
    println!(
        "{out}: {} frames {width}x{height}, {} audio frames, {fragments} fragments; \
         reserved {} B, final moov {} B, moov_at_front {}, {} steps",
        frames.len(),
        audio.as_ref().map_or(0, |a| a.frames.len()),
        plan.reserved_bytes,
        plan.moov_bytes,
        plan.moov_at_front,
        plan.steps.len()
    );
    if std::env::var_os("FRAGMENTED_ONLY").is_some() {
        if let Ok(dir) = std::env::var("STEPS_DIR") {
            // Apply the plan to a copy, saving the file after every step.
            let copy = format!("{dir}/work.mp4");
            std::fs::create_dir_all(&dir)?;
            std::fs::copy(out, &copy)?;
            let f = File::options().read(true).write(true).open(&copy)?;
            apply(&f, &plan.steps, Some((&copy, &dir)))?;
            println!("wrote {} step files to {dir}", plan.steps.len());
        }
        return Ok(());
    }
    apply(&file, &plan.steps, None)
}

fn repair(args: &[String]) -> Res<()> {
    let [path] = args else {
        return Err("usage: repair FILE.mp4".into());
    };
    let file = File::options().read(true).write(true).open(path)?;
    let mut r = Recovery::new(file.metadata()?.len());
    while let Some(req) = r.poll_read() {
        let mut buf = vec![0; req.len as usize];
        file.read_exact_at(&mut buf, req.offset)?;
        r.push(&buf);
    }
    match r.finish()? {
        Recovered::AlreadyProgressive { moov_offset } => {
            println!("{path}: already progressive (moov at {moov_offset})");
        }
        Recovered::Fragmented(rep) => {
            println!(
                "{path}: {} complete fragments, samples per track {:?}, dropped {} B, \
                 interrupted finalize {}, moov_at_front {}",
                rep.fragments,
                rep.sample_counts,
                rep.dropped_bytes,
                rep.finalize_was_interrupted,
                rep.finalize.moov_at_front
            );
            apply(&file, &rep.finalize.steps, None)?;
        }
    }
    Ok(())
}

/// Final moov length for `seconds` of 30 fps video (keyframe every second, sizes
/// 2..22 KB) and 48 kHz AAC, in 2 s fragments; `jitter` perturbs video timestamps.
fn sizes_case(seconds: u64, jitter: bool) -> Res<(u64, u64)> {
    static ZEROS: [u8; 1 << 16] = [0; 1 << 16];
    let mut m = FragmentedMuxer::new(FragmentedOptions {
        reserve_bytes: 0,
        ..FragmentedOptions::default()
    });
    let v = m.add_track(TrackConfig {
        kind: TrackKind::Video {
            width: 1920,
            height: 1080,
        },
        timescale_hz: 90_000,
        sample_entry: Bytes::from(vec![0; 150]),
        default_sample_duration: NonZeroU32::new(3000),
    })?;
    let a = m.add_track(TrackConfig {
        kind: TrackKind::Audio,
        timescale_hz: 48_000,
        sample_entry: Bytes::from(vec![0; 90]),
        default_sample_duration: NonZeroU32::new(1024),
    })?;
    m.start()?;
    let mut rng = 0x2545_f491_4f6c_dd1du64;
    let mut next = move || {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        rng
    };
    let (n_video, n_audio) = (seconds * 30, seconds * 48_000 / 1024);
    let (mut i, mut j) = (0, 0);
    while i < n_video || j < n_audio {
        let video_first = j >= n_audio || (i < n_video && i * 48_000 <= j * 1024 * 30);
        let (track, s) = if video_first {
            i += 1;
            let jit = if jitter && i > 1 { next() % 40 } else { 0 };
            let size = 2000 + (next() % 20_000) as u32;
            (
                v,
                SampleInfo {
                    dts: (i - 1) * 3000 + jit,
                    cts_offset: 0,
                    size,
                    is_sync: (i - 1) % 30 == 0,
                },
            )
        } else {
            j += 1;
            let size = 200 + (next() % 200) as u32;
            (
                a,
                SampleInfo {
                    dts: (j - 1) * 1024,
                    cts_offset: 0,
                    size,
                    is_sync: true,
                },
            )
        };
        m.push(track, s, Bytes::from_static(&ZEROS[..s.size as usize]))?;
        while m.poll_fragment().is_some() {}
    }
    while m.flush().is_some() {}
    let actual = m.finalize()?.moov_bytes;
    let video = TrackEstimate {
        samples_per_s: 30.0,
        sync_samples_per_s: 1.0,
        regular_durations: !jitter,
        composition_offsets: false,
        sample_entry_len: 150,
    };
    let audio = TrackEstimate {
        samples_per_s: 46.875,
        sync_samples_per_s: 46.875,
        regular_durations: true,
        composition_offsets: false,
        sample_entry_len: 90,
    };
    Ok((
        estimate_moov_bytes(&[video, audio], seconds * 1000, 2000),
        actual,
    ))
}

fn main() -> Res<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("mux") => mux(&args[1..]),
        Some("repair") => repair(&args[1..]),
        Some("sizes") => {
            for (seconds, jitter) in [(10, false), (10, true), (600, false), (600, true)] {
                let (estimate, actual) = sizes_case(seconds, jitter)?;
                println!(
                    "{seconds:>4} s, jitter {jitter:<5}: reserve estimate {estimate:>7} B, \
                     final moov {actual:>7} B ({:.2}x)",
                    estimate as f64 / actual as f64
                );
            }
            Ok(())
        }
        _ => Err("usage: fragmented_mux mux|repair|sizes ...".into()),
    }
}
