//! `prft` boxes before each `moof` ([`FragmentedMuxer::set_wall_clock_origin`]): their
//! times, and how finalizing and recovery hide them with the `moof`s.

mod common;

use bmff_boxes::Prft;
use bytes::Bytes;
use common::fragments::{Parsed, SimFile, parse_file, top_level};
use mp4_track::{
    FinalizeStep, Fragment, FragmentedMuxer, FragmentedOptions, Recovered, SampleInfo, TrackConfig,
    TrackKind,
};

/// 2023-11-14T22:13:20Z plus 0.25 s, in nanoseconds since 1970.
const ORIGIN_NS: i128 = 1_700_000_000_250_000_000;

fn muxer() -> (FragmentedMuxer, SimFile, Vec<Fragment>) {
    let mut mux = FragmentedMuxer::new(FragmentedOptions {
        fragment_duration_ms: 100,
        reserve_bytes: 4096,
        ..FragmentedOptions::default()
    });
    let v = mux
        .add_track(TrackConfig {
            kind: TrackKind::Video {
                width: 320,
                height: 240,
            },
            timescale_hz: 90_000,
            sample_entry: Bytes::from_static(b"\0\0\0\x09fakev"),
            default_sample_duration: None,
        })
        .unwrap();
    mux.set_wall_clock_origin(ORIGIN_NS);
    let mut file = SimFile::default();
    file.write_at(0, mux.start().unwrap());
    let mut fragments = Vec::new();
    // One second at 30 fps, a keyframe every 3 frames (0.1 s); each presented one frame
    // after its decoding.
    for i in 0..30u64 {
        let s = SampleInfo {
            dts: i * 3000,
            cts_offset: 3000,
            size: 100,
            is_sync: i % 3 == 0,
        };
        mux.push(v, s, Bytes::from(vec![0xA5; 100])).unwrap();
        while let Some(f) = mux.poll_fragment() {
            file.append_fragment(&f);
            fragments.push(f);
        }
    }
    while let Some(f) = mux.flush() {
        file.append_fragment(&f);
        fragments.push(f);
    }
    (mux, file, fragments)
}

/// The `prft` at the head of a fragment: (track, NTP time, media time, flags).
fn prft_of(f: &Fragment) -> (u32, u64, u64, u32) {
    let h = &f.header;
    assert_eq!(&h[..8], b"\0\0\0\x20prft", "{:02x?}", &h[..8]);
    assert_eq!(h[8], 1, "version");
    let u32_at = |i: usize| u32::from_be_bytes(h[i..i + 4].try_into().unwrap());
    let u64_at = |i: usize| u64::from_be_bytes(h[i..i + 8].try_into().unwrap());
    assert_eq!(&h[36..40], b"moof");
    (u32_at(12), u64_at(16), u64_at(24), u32_at(8) & 0xff_ffff)
}

#[test]
fn each_fragment_starts_with_the_wall_clock_of_its_first_presentation() {
    let (_, file, fragments) = muxer();
    assert_eq!(fragments.len(), 10);
    for f in &fragments {
        let (track, ntp, media_time, flags) = prft_of(f);
        assert_eq!((track, flags), (1, Prft::CAPTURE_TIME));
        // The first sample's presentation: its decode time plus one frame.
        let base = f.tracks[0].base_media_decode_time;
        assert_eq!(media_time, base + 3000);
        let ns = ORIGIN_NS + i128::from(media_time) * 1_000_000_000 / 90_000;
        // Within one NTP unit (2^-32 s) of the exact instant.
        assert!((Prft::unix_nanos_from_ntp(ntp) - ns).abs() <= 1, "{ntp:#x}");
    }
    let top = top_level(&file).unwrap();
    let kinds: Vec<&[u8; 4]> = top.iter().map(|b| &b.fourcc).collect();
    assert_eq!(kinds[3..6], [b"prft", b"moof", b"mdat"]);
    // The fragment's offset is its prft's.
    assert_eq!(top[3].offset, fragments[0].offset);
    assert!(matches!(parse_file(&file), Ok(Parsed::Fragmented { .. })));
}

#[test]
fn finalizing_hides_the_prfts_with_the_moofs() {
    let (mux, file, _) = muxer();
    let plan = mux.finalize().unwrap();
    let mut done = file.clone();
    done.apply_all(&plan.steps);
    let top = top_level(&done).unwrap();
    assert!(
        top.iter()
            .all(|b| &b.fourcc != b"prft" && &b.fourcc != b"moof"),
        "{:?}",
        top.iter()
            .map(|b| String::from_utf8_lossy(&b.fourcc).into_owned())
            .collect::<Vec<_>>()
    );
    assert!(plan.moov_at_front);
    assert!(matches!(parse_file(&done), Ok(Parsed::Progressive { .. })));

    // Recovery of the fragmented file, and of every state an interrupted finalization
    // leaves, ends in the same bytes.
    let type_writes = plan
        .steps
        .iter()
        .filter(|s| matches!(s, FinalizeStep::Write(p) if &p.bytes[..] == b"free"))
        .count();
    // Every moof and prft but the first fragment's (hidden by the commit): 9 of each.
    assert_eq!(type_writes, 18);
    for crash_after in 0..type_writes {
        let mut state = file.clone();
        let mut frees = 0;
        for step in &plan.steps {
            if let FinalizeStep::Write(p) = step
                && &p.bytes[..] == b"free"
            {
                if frees == crash_after {
                    break;
                }
                frees += 1;
            }
            state.apply(step);
        }
        let r = match state.recover() {
            Ok(Recovered::Fragmented(r)) => r,
            other => panic!("after {crash_after} type writes: {other:?}"),
        };
        assert_eq!(r.fragments, 10);
        state.apply_all(&r.finalize.steps);
        assert_eq!(state.to_vec(), done.to_vec(), "after {crash_after}");
    }
}

#[test]
fn a_torn_last_fragment_goes_with_its_prft() {
    let (_, file, fragments) = muxer();
    let last = fragments.last().unwrap();
    // Cut inside the last moof, and just after the last prft.
    for cut in [last.offset + 60, last.offset + 32] {
        let mut torn = file.clone();
        torn.set_len(cut);
        let r = match torn.recover() {
            Ok(Recovered::Fragmented(r)) => r,
            other => panic!("{other:?}"),
        };
        assert_eq!(r.fragments, 9);
        assert_eq!(r.finalize.truncate_to, Some(last.offset));
        torn.apply_all(&r.finalize.steps);
        assert!(matches!(parse_file(&torn), Ok(Parsed::Progressive { .. })));
    }
}
