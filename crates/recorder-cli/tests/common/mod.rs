//! Synthetic recordings for the file-tool tests, made with `mp4-track`'s muxers, and a
//! runner for the built `recorder` binary.

#![allow(dead_code)]

use std::num::NonZeroU32;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use bytes::Bytes;
use mp4_track::{
    Finalize, FinalizeStep, FragmentedMuxer, FragmentedOptions, Mp4Muxer, MuxerOptions, SampleInfo,
    TrackConfig, TrackKind,
};

/// Video: 30 fps at 90 kHz, a keyframe every 30 frames.
pub const VIDEO_DELTA: u64 = 3000;
/// Audio: 1024-sample AAC frames at 48 kHz.
pub const AUDIO_DELTA: u64 = 1024;
/// Audio starts 100 ms after the video: 4800 ticks at 48 kHz.
pub const AUDIO_START: u64 = 4800;

/// A box of type `fourcc` around `body`.
pub fn boxed(fourcc: &[u8; 4], body: &[u8]) -> Vec<u8> {
    let mut b = ((body.len() + 8) as u32).to_be_bytes().to_vec();
    b.extend_from_slice(fourcc);
    b.extend_from_slice(body);
    b
}

/// An `avc1` sample entry with an `avcC` for High profile (100) level 3.1.
pub fn avc1(width: u16, height: u16) -> Bytes {
    let mut p = vec![0u8; 6];
    p.extend_from_slice(&1u16.to_be_bytes()); // data_reference_index
    p.extend_from_slice(&[0; 16]); // pre_defined, reserved
    p.extend_from_slice(&width.to_be_bytes());
    p.extend_from_slice(&height.to_be_bytes());
    p.extend_from_slice(&0x0048_0000u32.to_be_bytes()); // horizresolution
    p.extend_from_slice(&0x0048_0000u32.to_be_bytes()); // vertresolution
    p.extend_from_slice(&[0; 4]); // reserved
    p.extend_from_slice(&1u16.to_be_bytes()); // frame_count
    p.extend_from_slice(&[0; 32]); // compressorname
    p.extend_from_slice(&0x0018u16.to_be_bytes()); // depth
    p.extend_from_slice(&(-1i16).to_be_bytes()); // pre_defined
    let sps = [0x67, 100, 0, 31, 0xAC, 0xD9];
    let pps = [0x68, 0xEB, 0xE3, 0xCB];
    let mut avcc = vec![1, 100, 0, 31, 0xFF, 0xE1];
    avcc.extend_from_slice(&(sps.len() as u16).to_be_bytes());
    avcc.extend_from_slice(&sps);
    avcc.push(1);
    avcc.extend_from_slice(&(pps.len() as u16).to_be_bytes());
    avcc.extend_from_slice(&pps);
    p.extend_from_slice(&boxed(b"avcC", &avcc));
    Bytes::from(boxed(b"avc1", &p))
}

/// An `mp4a` sample entry (no `esds`: opaque to the muxer and to these tools).
pub fn mp4a() -> Bytes {
    let mut p = vec![0u8; 6];
    p.extend_from_slice(&1u16.to_be_bytes());
    p.extend_from_slice(&[0; 8]);
    p.extend_from_slice(&2u16.to_be_bytes()); // channelcount
    p.extend_from_slice(&16u16.to_be_bytes()); // samplesize
    p.extend_from_slice(&[0; 4]);
    p.extend_from_slice(&(48_000u32 << 16).to_be_bytes());
    Bytes::from(boxed(b"mp4a", &p))
}

/// One synthetic sample: (track index 0 = video / 1 = audio, info).
#[derive(Clone, Copy, Debug)]
pub struct Synth {
    pub track: usize,
    pub info: SampleInfo,
}

/// `video_frames` of video (keyframe every 30, sizes varying; frames listed in `skip` are
/// left out, making a gap) and audio over the same span, interleaved by time.
pub fn synth(video_frames: u64, skip: &[u64]) -> Vec<Synth> {
    let mut v: Vec<(u128, Synth)> = (0..video_frames)
        .filter(|i| !skip.contains(i))
        .map(|i| {
            let info = SampleInfo {
                dts: i * VIDEO_DELTA,
                cts_offset: 0,
                size: 200 + (i % 50) as u32 * 3 + if i % 30 == 0 { 1000 } else { 0 },
                is_sync: i % 30 == 0,
            };
            (u128::from(info.dts) * 48_000, Synth { track: 0, info })
        })
        .collect();
    let end_90k = video_frames * VIDEO_DELTA;
    let mut dts = AUDIO_START;
    let mut k = 0u32;
    while dts * 90_000 < end_90k * 48_000 {
        let info = SampleInfo {
            dts,
            cts_offset: 0,
            size: 20 + k % 7,
            is_sync: true,
        };
        v.push((u128::from(dts) * 90_000, Synth { track: 1, info }));
        dts += AUDIO_DELTA;
        k += 1;
    }
    v.sort_by_key(|(t, s)| (*t, s.track));
    v.into_iter().map(|(_, s)| s).collect()
}

/// Data that passes `verify`'s and `repair`'s data check: video is one NAL unit (a
/// 4-byte length, then an IDR or non-IDR slice header), audio never all zero.
pub fn data_for(s: &Synth) -> Bytes {
    let fill = ((s.info.dts % 251) as u8 ^ s.track as u8) | 1;
    let mut d = vec![fill; s.info.size as usize];
    if s.track == 0 {
        d[..4].copy_from_slice(&(s.info.size - 4).to_be_bytes());
        d[4] = if s.info.is_sync { 0x65 } else { 0x41 };
    }
    Bytes::from(d)
}

fn configs() -> [TrackConfig; 2] {
    [
        TrackConfig {
            kind: TrackKind::Video {
                width: 640,
                height: 360,
            },
            timescale_hz: 90_000,
            sample_entry: avc1(640, 360),
            default_sample_duration: NonZeroU32::new(VIDEO_DELTA as u32),
        },
        TrackConfig {
            kind: TrackKind::Audio,
            timescale_hz: 48_000,
            sample_entry: mp4a(),
            default_sample_duration: NonZeroU32::new(AUDIO_DELTA as u32),
        },
    ]
}

/// Where one fragment lies and what it holds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FragInfo {
    /// Offset of its `moof`.
    pub offset: u64,
    /// Length of its `moof`.
    pub moof_len: u64,
    /// Offset just past its `mdat`.
    pub end: u64,
    /// Samples per track (video, audio).
    pub counts: [u32; 2],
}

/// A fragmented recording left unfinalized, with the plan a clean close would apply.
pub struct Fragmented {
    /// The file as it is before finalization.
    pub bytes: Vec<u8>,
    /// Its fragments, in order.
    pub fragments: Vec<FragInfo>,
    /// Length of `ftyp` + reserve + init `moov`.
    pub init_len: u64,
    /// The clean close's plan.
    pub plan: Finalize,
}

/// Records `samples` through a `FragmentedMuxer` with 1 s fragments.
pub fn fragmented(samples: &[Synth], reserve_bytes: u64) -> Fragmented {
    let mut mux = FragmentedMuxer::new(FragmentedOptions {
        fragment_duration_ms: 1000,
        reserve_bytes,
        ..FragmentedOptions::default()
    });
    let ids = configs().map(|c| mux.add_track(c).unwrap());
    let mut bytes = mux.start().unwrap().to_vec();
    let init_len = bytes.len() as u64;
    let mut fragments = Vec::new();
    let mut write = |f: mp4_track::Fragment, bytes: &mut Vec<u8>| {
        assert_eq!(f.offset, bytes.len() as u64);
        let mut counts = [0; 2];
        for t in &f.tracks {
            counts[t.track.0.get() as usize - 1] = t.sample_count;
        }
        let moof_len = u64::from(u32::from_be_bytes(f.header[..4].try_into().unwrap()));
        bytes.extend_from_slice(&f.header);
        for d in &f.data {
            bytes.extend_from_slice(d);
        }
        fragments.push(FragInfo {
            offset: f.offset,
            moof_len,
            end: bytes.len() as u64,
            counts,
        });
    };
    for s in samples {
        mux.push(ids[s.track], s.info, data_for(s)).unwrap();
        while let Some(f) = mux.poll_fragment() {
            write(f, &mut bytes);
        }
    }
    while let Some(f) = mux.flush() {
        write(f, &mut bytes);
    }
    let plan = mux.finalize().unwrap();
    Fragmented {
        bytes,
        fragments,
        init_len,
        plan,
    }
}

/// Applies plan steps to an in-memory file.
pub fn apply(file: &mut Vec<u8>, steps: &[FinalizeStep]) {
    for step in steps {
        match step {
            FinalizeStep::Write(p) => {
                let at = p.offset as usize;
                if file.len() < at + p.bytes.len() {
                    file.resize(at + p.bytes.len(), 0);
                }
                file[at..at + p.bytes.len()].copy_from_slice(&p.bytes);
            }
            FinalizeStep::Sync => {}
            FinalizeStep::SetLen(n) => file.resize(*n as usize, 0),
        }
    }
}

/// Records `samples` through the progressive `Mp4Muxer` (moov at the end).
pub fn progressive(samples: &[Synth]) -> Vec<u8> {
    let mut mux = Mp4Muxer::new(MuxerOptions::default());
    let ids = configs().map(|c| mux.add_track(c).unwrap());
    let mut file = mux.start().unwrap().to_vec();
    for s in samples {
        let at = mux.push(ids[s.track], s.info).unwrap();
        assert_eq!(at, file.len() as u64);
        file.extend_from_slice(&data_for(s));
    }
    let done = mux.finish().unwrap();
    file.extend_from_slice(&done.tail);
    for p in &done.patches {
        let at = p.offset as usize;
        file[at..at + p.bytes.len()].copy_from_slice(&p.bytes);
    }
    file
}

/// A directory removed on drop.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(name: &str) -> Self {
        let dir = std::env::temp_dir().join(format!(
            "recorder-cli-{}-{name}-{}",
            std::process::id(),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        Self(dir)
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Runs the built `recorder` with `args` (logs quiet).
pub fn recorder(args: &[&str], file: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_recorder"))
        .args(args)
        .arg(file)
        .env_remove("RUST_LOG")
        .output()
        .unwrap()
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Top-level boxes of `file`: (offset, fourcc, header_len, size).
pub fn top_level(file: &[u8]) -> Vec<(u64, [u8; 4], u64, u64)> {
    bmff_boxes::read::boxes(file)
        .map(|b| {
            let b = b.unwrap();
            (b.offset, b.fourcc, b.header_len, b.size())
        })
        .collect()
}

/// Absolute offset of the payload of the box at `path` below the top-level box at
/// `top_offset` (e.g. `["trak", "mdia", "minf", "stbl", "stsz"]`), in the `nth_trak`-th
/// `trak` (0-based); `None` when there is no such box.
pub fn payload_at(file: &[u8], top_offset: u64, path: &[&str], nth_trak: usize) -> Option<u64> {
    fn rec(b: bmff_boxes::read::RawBox<'_>, path: &[&str], nth_trak: usize) -> Option<u64> {
        if path.is_empty() {
            return Some(b.offset + b.header_len);
        }
        let mut seen = 0;
        for c in b.children() {
            let c = c.ok()?;
            if c.fourcc_str() == path[0] {
                if path[0] == "trak" && seen < nth_trak {
                    seen += 1;
                    continue;
                }
                return rec(c, &path[1..], nth_trak);
            }
        }
        None
    }
    let b = bmff_boxes::read::boxes_at(&file[top_offset as usize..], top_offset)
        .next()?
        .ok()?;
    rec(b, path, nth_trak)
}

/// Offsets of the top-level boxes of type `fourcc`.
pub fn top_offsets(file: &[u8], fourcc: &[u8; 4]) -> Vec<u64> {
    top_level(file)
        .into_iter()
        .filter(|b| &b.1 == fourcc)
        .map(|b| b.0)
        .collect()
}

/// Payload offset of `moov/trak[nth]/.../leaf`.
pub fn stbl_box(file: &[u8], nth_trak: usize, leaf: &str) -> Option<u64> {
    let moov = top_offsets(file, b"moov")[0];
    payload_at(
        file,
        moov,
        &["trak", "mdia", "minf", "stbl", leaf],
        nth_trak,
    )
}

pub fn read_u32(file: &[u8], at: u64) -> u32 {
    u32::from_be_bytes(file[at as usize..at as usize + 4].try_into().unwrap())
}

pub fn write_u32(file: &mut [u8], at: u64, v: u32) {
    file[at as usize..at as usize + 4].copy_from_slice(&v.to_be_bytes());
}
