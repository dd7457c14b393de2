//! Damaged files through `verify`, `inspect` and `repair`, in process (the functions the
//! commands call): recordings made with `mp4-track`'s muxer, mutated thousands of times
//! from a seeded generator (flipped bytes, truncation, zeroed regions, wild box sizes,
//! renamed boxes). Nothing may panic or hang, and every file `repair` says it fixed must
//! pass `verify`.

use std::num::NonZeroU32;
use std::path::Path;
use std::sync::mpsc;
use std::time::Duration;

use bytes::Bytes;
use mp4_track::{
    FinalizeStep, FragmentedMuxer, FragmentedOptions, SampleInfo, TrackConfig, TrackKind,
};

use crate::mp4::check::check_path;
use crate::mp4::inspect::inspect;
use crate::output::repair::repair_file;

/// Mutated files tried per base file.
const MUTANTS_PER_BASE: u32 = 1000;
/// Generous bound for the whole run: only a hang comes near it.
const RUN_LIMIT: Duration = Duration::from_secs(300);

/// Box types whose size and name the mutations go after.
const FOURCCS: [&[u8; 4]; 16] = [
    b"ftyp", b"free", b"moov", b"mvhd", b"trak", b"mdia", b"minf", b"stbl", b"stsd", b"stts",
    b"stsz", b"stco", b"moof", b"traf", b"trun", b"mdat",
];

/// A box of type `fourcc` around `body`.
fn boxed(fourcc: &[u8; 4], body: &[u8]) -> Vec<u8> {
    let mut b = u32::try_from(body.len() + 8)
        .expect("small box")
        .to_be_bytes()
        .to_vec();
    b.extend_from_slice(fourcc);
    b.extend_from_slice(body);
    b
}

/// An `avc1` sample entry with an `avcC` (High profile, level 3.1).
fn avc1() -> Bytes {
    let mut p = vec![0u8; 6];
    p.extend_from_slice(&1u16.to_be_bytes()); // data_reference_index
    p.extend_from_slice(&[0; 16]); // pre_defined, reserved
    p.extend_from_slice(&640u16.to_be_bytes());
    p.extend_from_slice(&360u16.to_be_bytes());
    p.extend_from_slice(&0x0048_0000u32.to_be_bytes()); // horizresolution
    p.extend_from_slice(&0x0048_0000u32.to_be_bytes()); // vertresolution
    p.extend_from_slice(&[0; 4]); // reserved
    p.extend_from_slice(&1u16.to_be_bytes()); // frame_count
    p.extend_from_slice(&[0; 32]); // compressorname
    p.extend_from_slice(&0x0018u16.to_be_bytes()); // depth
    p.extend_from_slice(&(-1i16).to_be_bytes()); // pre_defined
    let mut avcc = vec![
        1, 100, 0, 31, 0xFF, 0xE1, 0, 6, 0x67, 100, 0, 31, 0xAC, 0xD9,
    ];
    avcc.extend_from_slice(&[1, 0, 4, 0x68, 0xEB, 0xE3, 0xCB]);
    p.extend_from_slice(&boxed(b"avcC", &avcc));
    Bytes::from(boxed(b"avc1", &p))
}

/// A 3.5 s recording (30 fps video, a keyframe a second, and 48 kHz audio) as it is while
/// recording (fragmented) and once finalized (progressive, `moov` first).
fn recordings() -> [Vec<u8>; 2] {
    let mut mux = FragmentedMuxer::new(FragmentedOptions {
        fragment_duration_ms: 1000,
        reserve_bytes: 16 * 1024,
        ..FragmentedOptions::default()
    });
    let video = mux
        .add_track(TrackConfig {
            kind: TrackKind::Video {
                width: 640,
                height: 360,
            },
            timescale_hz: 90_000,
            sample_entry: avc1(),
            default_sample_duration: NonZeroU32::new(3000),
        })
        .expect("video track");
    let audio = mux
        .add_track(TrackConfig {
            kind: TrackKind::Audio,
            timescale_hz: 48_000,
            sample_entry: Bytes::from(boxed(b"mp4a", &[0; 28])),
            default_sample_duration: NonZeroU32::new(1024),
        })
        .expect("audio track");
    let mut file = mux.start().expect("start").to_vec();
    let write = |f: mp4_track::Fragment, file: &mut Vec<u8>| {
        assert_eq!(f.offset, file.len() as u64);
        file.extend_from_slice(&f.header);
        for d in &f.data {
            file.extend_from_slice(d);
        }
    };
    let mut next_audio = 0u64;
    for i in 0..105u64 {
        let info = SampleInfo {
            dts: i * 3000,
            cts_offset: 0,
            size: 200 + (i % 7) as u32 * 10 + if i % 30 == 0 { 800 } else { 0 },
            is_sync: i % 30 == 0,
        };
        // One length-prefixed NAL unit (an IDR slice at keyframes, else a non-IDR one)
        // filling the sample, with non-zero payload: a valid sample for the data checks.
        let mut nal = vec![(i as u8) | 1; info.size as usize];
        nal[..4].copy_from_slice(&(info.size - 4).to_be_bytes());
        nal[4] = if info.is_sync { 0x65 } else { 0x41 };
        mux.push(video, info, Bytes::from(nal))
            .expect("video sample");
        while next_audio * 90_000 < i * 3000 * 48_000 {
            let info = SampleInfo {
                dts: next_audio,
                cts_offset: 0,
                size: 24,
                is_sync: true,
            };
            mux.push(audio, info, Bytes::from(vec![7u8; 24]))
                .expect("audio sample");
            next_audio += 1024;
        }
        while let Some(f) = mux.poll_fragment() {
            write(f, &mut file);
        }
    }
    while let Some(f) = mux.flush() {
        write(f, &mut file);
    }
    let fragmented = file.clone();
    for step in mux.finalize().expect("finalize").steps {
        match step {
            FinalizeStep::Write(p) => {
                let at = p.offset as usize;
                if file.len() < at + p.bytes.len() {
                    file.resize(at + p.bytes.len(), 0);
                }
                file[at..at + p.bytes.len()].copy_from_slice(&p.bytes);
            }
            FinalizeStep::Sync => {}
            FinalizeStep::SetLen(n) => file.resize(n as usize, 0),
        }
    }
    [fragmented, file]
}

/// xorshift64*: the mutations' seeded generator.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// Uniform in `0..n` (n > 0).
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

/// Offsets of the (apparent) box types in `file`: where a box's name is, 4 bytes after
/// its size.
fn box_names(file: &[u8]) -> Vec<usize> {
    (4..file.len().saturating_sub(4))
        .filter(|&i| FOURCCS.iter().any(|f| &file[i..i + 4] == *f))
        .collect()
}

/// One mutation of `base`, and what it was.
fn mutate(base: &[u8], rng: &mut Rng) -> (Vec<u8>, String) {
    let mut f = base.to_vec();
    let len = f.len();
    let names = box_names(&f);
    let what = match rng.below(5) {
        0 => {
            let n = 1 + rng.below(8);
            for _ in 0..n {
                let at = rng.below(len);
                f[at] ^= 1 << rng.below(8);
            }
            format!("{n} bit(s) flipped")
        }
        1 => {
            let at = rng.below(len);
            f.truncate(at);
            format!("truncated at {at}")
        }
        2 => {
            let at = rng.below(len);
            let n = (1 + rng.below(4096)).min(len - at);
            f[at..at + n].fill(0);
            format!("{n} bytes zeroed at {at}")
        }
        3 if !names.is_empty() => {
            let at = names[rng.below(names.len())] - 4;
            let wild = match rng.below(6) {
                0 => 0,
                1 => 1 + rng.below(7) as u32,
                2 => u32::MAX,
                3 => (len + 1 + rng.below(100)) as u32,
                4 => rng.next() as u32,
                _ => u32::from_be_bytes(f[at..at + 4].try_into().expect("4 bytes")) ^ 1,
            };
            f[at..at + 4].copy_from_slice(&wild.to_be_bytes());
            format!("size {wild} at {at}")
        }
        _ if !names.is_empty() => {
            let at = names[rng.below(names.len())];
            let other: [u8; 4] = if rng.below(2) == 0 {
                *FOURCCS[rng.below(FOURCCS.len())]
            } else {
                (rng.next() as u32).to_be_bytes()
            };
            f[at..at + 4].copy_from_slice(&other);
            format!("box at {at} renamed {:?}", String::from_utf8_lossy(&other))
        }
        _ => "unchanged".to_owned(),
    };
    (f, what)
}

/// What became of the mutants.
#[derive(Debug, Default)]
struct Tally {
    tried: u32,
    verified: u32,
    inspected: u32,
    repaired: u32,
    /// `.partial` mutants without a complete fragment, which `repair` removed.
    removed: u32,
}

/// Runs the three tools on every mutant of `base` (files under `dir`); a repaired file
/// that `verify` refuses is an error naming the mutation.
fn try_mutants(base: &[u8], seed: u64, dir: &Path) -> Result<Tally, String> {
    let mut rng = Rng(seed | 1);
    let mut tally = Tally::default();
    for i in 0..MUTANTS_PER_BASE {
        let (bytes, what) = mutate(base, &mut rng);
        let path = dir.join(format!("m{seed}-{i}.mp4.partial"));
        std::fs::write(&path, &bytes).map_err(|e| e.to_string())?;
        tally.tried += 1;
        tally.verified += u32::from(check_path(&path).is_ok());
        tally.inspected += u32::from(inspect(&path).is_ok());
        match repair_file(&path) {
            Ok(report) if report.removed => {
                // No complete fragment: no media, nothing to check.
                tally.removed += 1;
            }
            Ok(report) => {
                tally.repaired += 1;
                if let Err(e) = check_path(&report.path) {
                    return Err(format!(
                        "mutant {i} (seed {seed}, {what}): repaired into {} that verify \
                         refuses: {e:#}",
                        report.path.display()
                    ));
                }
                let _ = std::fs::remove_file(&report.path);
            }
            Err(_) => {
                let _ = std::fs::remove_file(&path);
            }
        }
    }
    Ok(tally)
}

#[test]
fn damaged_files_never_panic_nor_hang_and_repairs_verify() {
    let dir = std::env::temp_dir().join(format!("recorder-damaged-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("scratch dir");
    let bases = recordings();
    // The undamaged files pass, so a refusal below comes from the damage.
    let whole = dir.join("whole.mp4");
    for base in &bases {
        std::fs::write(&whole, base).expect("write");
        check_path(&whole).expect("the undamaged file verifies");
        std::fs::remove_file(&whole).expect("remove");
    }
    let (tx, rx) = mpsc::channel();
    let worker_dir = dir.clone();
    std::thread::spawn(move || {
        let results: Vec<_> = bases
            .iter()
            .zip([0x5EED_0001u64, 0x5EED_0002])
            .map(|(base, seed)| try_mutants(base, seed, &worker_dir))
            .collect();
        let _ = tx.send(results);
    });
    // A panic in the worker drops the sender: an error here, like a hang past the limit.
    let results = rx
        .recv_timeout(RUN_LIMIT)
        .expect("the tools panicked or hung on a damaged file");
    let _ = std::fs::remove_dir_all(&dir);
    for (name, result) in ["fragmented", "finalized"].iter().zip(results) {
        let tally = result.unwrap_or_else(|e| panic!("{name}: {e}"));
        eprintln!("{name}: {tally:?}");
        assert_eq!(tally.tried, MUTANTS_PER_BASE);
        // The damage is real: not everything passes, and not everything fails.
        assert!(tally.verified < tally.tried, "{name}: {tally:?}");
        assert!(tally.repaired > 0, "{name}: {tally:?}");
    }
}
