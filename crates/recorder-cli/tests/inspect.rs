//! `recorder inspect`: tree and per-track facts of known synthetic files.

mod common;

use common::*;

fn inspect(dir: &TempDir, name: &str, bytes: &[u8]) -> String {
    let path = dir.path(name);
    std::fs::write(&path, bytes).unwrap();
    let out = recorder(&["inspect"], &path);
    assert!(out.status.success(), "{name}: {}", stderr(&out));
    stdout(&out)
}

/// 3 s of 30 fps video with frames 40..=42 missing (a 133 ms gap at 1.3 s) and audio
/// from 0.1 s.
fn samples() -> Vec<Synth> {
    synth(90, &[40, 41, 42])
}

fn audio_count(s: &[Synth]) -> usize {
    s.iter().filter(|s| s.track == 1).count()
}

#[test]
fn progressive_file_summary() {
    let dir = TempDir::new("inspect-progressive");
    let s = samples();
    let bytes = progressive(&s);
    let out = inspect(&dir, "p.mp4", &bytes);
    // 87 video frames, keyframes at 0, 30, 60; the last frame lasts as the one before.
    let audio = audio_count(&s);
    let audio_s = audio as f64 * 1024.0 / 48_000.0;
    let expected = format!(
        "file: {} bytes; movie: timescale 1000 Hz, duration 3.001 s, 2 tracks, progressive, \
         moov at the end\n\
         \n\
         track 1: video (vide), avc1 High (profile_idc 100) level 3.1, 640x360, timescale 90000 Hz\n  \
         samples: 87, keyframes: 3\n  \
         duration: 3.000 s (mdhd), 3.000 s (stts)\n  \
         edit list: starts at 0.000 s, media from 0.000 s (1 entry)\n  \
         gaps: 1 (sample duration > 2x the median 0.033 s)\n    \
         at 1.300 s: 0.133 s\n\
         \n\
         track 2: audio (soun), mp4a, timescale 48000 Hz\n  \
         samples: {audio}, keyframes: {audio}\n  \
         duration: {audio_s:.3} s (mdhd), {audio_s:.3} s (stts)\n  \
         edit list: starts at 0.100 s, media from 0.000 s (2 entries)\n  \
         gaps: none\n",
        bytes.len()
    );
    let (tree, _) = out.split_once("\n\n").unwrap();
    assert!(out.ends_with(&expected), "{out}");
    // The tree: top-level boxes in order, tables elided.
    assert!(tree.starts_with("ftyp size=32 "), "{tree}");
    assert!(tree.contains("\nmdat size="), "{tree}");
    assert!(
        tree.contains("stts size=40 entries=3 [39x3000, 1x12000, 47x3000]"),
        "{tree}"
    );
    assert!(
        tree.contains("stss size=28 entries=3 [1, 31, 58]"),
        "{tree}"
    );
    insta::assert_snapshot!("progressive", out.replace(&bytes.len().to_string(), "LEN"));
}

#[test]
fn fragmented_and_finalized_file_summaries() {
    let dir = TempDir::new("inspect-fragmented");
    let s = samples();
    let rec = fragmented(&s, 64 * 1024);
    let n = rec.fragments.len();
    let audio = audio_count(&s);
    let audio_fragments = rec.fragments.iter().filter(|f| f.counts[1] > 0).count();
    let out = inspect(&dir, "f.mp4", &rec.bytes);
    assert_eq!(out.matches("\nmoof size=").count(), n, "{out}");
    assert!(
        out.contains(&format!("2 tracks, fragmented ({n} moof)")),
        "{out}"
    );
    assert!(
        out.contains(&format!("samples: 87, keyframes: 3, fragments: {n}\n")),
        "{out}"
    );
    assert!(out.contains(
        "duration: 3.000 s (sum of fragment sample durations), first decode time 0.000 s"
    ));
    assert!(out.contains("at 1.300 s: 0.133 s"), "{out}");
    assert!(
        out.contains(&format!(
            "samples: {audio}, keyframes: {audio}, fragments: {audio_fragments}\n"
        )),
        "{out}"
    );
    assert!(out.contains("first decode time 0.100 s"), "{out}");

    // Finalized: the same facts from the moov, now in front.
    let mut done = rec.bytes.clone();
    apply(&mut done, &rec.plan.steps);
    let out = inspect(&dir, "done.mp4", &done);
    assert!(
        out.contains("2 tracks, progressive, moov at the front"),
        "{out}"
    );
    assert!(out.contains("samples: 87, keyframes: 3\n"), "{out}");
    assert!(
        out.contains("duration: 3.000 s (mdhd), 3.000 s (stts)"),
        "{out}"
    );
    assert!(out.contains("edit list: starts at 0.100 s"), "{out}");

    // Cut mid-mdat, as a crash leaves it: the tree stops at the torn box.
    let last = rec.fragments.last().unwrap();
    let cut = (last.offset + last.moof_len + 20) as usize;
    let out = inspect(&dir, "cut.mp4", &rec.bytes[..cut]);
    assert!(
        out.contains(&format!(
            "(the box structure stops here: mdat at offset {}: ",
            last.offset + last.moof_len
        )),
        "{out}"
    );
    // The torn fragment's samples are not counted.
    assert!(
        out.contains(&format!(
            "fragmented ({n} moof, 1 without a complete mdat, not counted)"
        )),
        "{out}"
    );
    let before = rec.fragments[..n - 1]
        .iter()
        .map(|f| f.counts[0])
        .sum::<u32>();
    assert!(
        out.contains(&format!(
            "samples: {before}, keyframes: 2, fragments: {}\n",
            n - 1
        )),
        "{out}"
    );
}

#[test]
fn not_an_mp4_is_an_error() {
    let dir = TempDir::new("inspect-bad");
    let path = dir.path("bad.mp4");
    std::fs::write(&path, [0u8, 0, 0, 3, 0xff, 0xfe, 0, 1]).unwrap();
    let out = recorder(&["inspect"], &path);
    assert_eq!(out.status.code(), Some(1));
    assert!(stdout(&out).is_empty());
    let err = stderr(&out);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.starts_with("error: cannot inspect "), "{err}");
    assert!(err.contains("not a box at offset 0"), "{err}");
}
