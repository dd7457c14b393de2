//! `recorder repair` on fragmented recordings cut by a crash, interrupted finalizations,
//! and files it must refuse.

mod common;

use common::*;

/// 3.5 s of video with audio: four fragments of about 1 s.
fn recording() -> Fragmented {
    fragmented(&synth(105, &[]), 64 * 1024)
}

fn expected_counts(rec: &Fragmented, kept: usize) -> [u32; 2] {
    rec.fragments[..kept].iter().fold([0, 0], |acc, f| {
        [acc[0] + f.counts[0], acc[1] + f.counts[1]]
    })
}

/// Samples per track in `samples`.
fn totals(samples: &[Synth]) -> [u32; 2] {
    let mut n = [0; 2];
    for s in samples {
        n[s.track] += 1;
    }
    n
}

/// Checks the repaired file at `path`: moov before the first mdat, `recorder verify` ok,
/// and the sample counts.
fn assert_repaired(path: &std::path::Path, counts: [u32; 2]) -> Vec<u8> {
    let bytes = std::fs::read(path).unwrap();
    let top = top_level(&bytes);
    let moov = top.iter().position(|b| &b.1 == b"moov").expect("a moov");
    if let Some(mdat) = top.iter().position(|b| &b.1 == b"mdat") {
        assert!(moov < mdat, "moov after the first mdat: {top:?}");
    }
    assert_eq!(top.iter().filter(|b| &b.1 == b"moov").count(), 1);
    let out = recorder(&["verify"], path);
    assert!(out.status.success(), "verify failed: {}", stderr(&out));
    let ok = stdout(&out);
    assert!(ok.starts_with("ok: progressive, moov at the front"), "{ok}");
    assert!(
        ok.contains(&format!("track 1 vide avc1: {} samples", counts[0])),
        "{ok}"
    );
    assert!(
        ok.contains(&format!("track 2 soun mp4a: {} samples", counts[1])),
        "{ok}"
    );
    bytes
}

#[test]
fn recording_has_several_fragments() {
    let rec = recording();
    assert_eq!(rec.fragments.len(), 4);
    assert_eq!(expected_counts(&rec, 4), totals(&synth(105, &[])));
    // The fragments tile the file after the init segment: each a `moof`, then an `mdat`
    // whose declared size covers exactly the sample data written after it.
    let mut at = rec.init_len;
    for f in &rec.fragments {
        assert_eq!(f.offset, at, "{f:?}");
        let moof = f.offset as usize;
        assert_eq!(&rec.bytes[moof + 4..moof + 8], b"moof", "{f:?}");
        let mdat = (f.offset + f.moof_len) as usize;
        assert_eq!(&rec.bytes[mdat + 4..mdat + 8], b"mdat", "{f:?}");
        let size = u32::from_be_bytes(rec.bytes[mdat..mdat + 4].try_into().unwrap());
        assert_eq!(u64::from(size), f.end - f.offset - f.moof_len, "{f:?}");
        at = f.end;
    }
    assert_eq!(at, rec.bytes.len() as u64);
}

#[test]
fn cut_at_many_lengths_keeps_the_complete_fragments() {
    let rec = recording();
    let dir = TempDir::new("cuts");
    let f = &rec.fragments;
    let mut cuts: Vec<(u64, usize)> = Vec::new();
    for (k, fr) in f.iter().enumerate() {
        cuts.push((fr.offset, k)); // exactly at a fragment boundary
        cuts.push((fr.offset + 3, k)); // inside a moof header
        cuts.push((fr.offset + fr.moof_len / 2, k)); // mid-moof
        cuts.push((fr.offset + fr.moof_len + 4, k)); // inside the mdat header
        cuts.push(((fr.offset + fr.moof_len + fr.end) / 2, k)); // mid-mdat
        cuts.push((fr.end - 1, k)); // one byte short
    }
    cuts.push((rec.bytes.len() as u64, f.len())); // nothing lost
    for (len, kept) in cuts {
        let path = dir.path(&format!("cut-{len}.mp4"));
        std::fs::write(&path, &rec.bytes[..len as usize]).unwrap();
        let out = recorder(&["repair"], &path);
        assert!(out.status.success(), "cut {len}: {}", stderr(&out));
        let text = stdout(&out);
        let counts = expected_counts(&rec, kept);
        assert!(
            text.contains(&format!("kept {kept} complete fragment")),
            "cut {len}: {text}"
        );
        let end = if kept == 0 {
            rec.init_len
        } else {
            f[kept - 1].end
        };
        assert!(
            text.contains(&format!("dropped {} byte", len - end)),
            "cut {len}: {text}"
        );
        assert!(text.contains("moov is at the front"), "{text}");
        assert!(
            text.contains(&format!("track 1 (vide): {} samples", counts[0])),
            "{text}"
        );
        let repaired = assert_repaired(&path, counts);
        // The media data is where it was: the repair never moves it.
        if kept > 0 {
            let last = &f[kept - 1];
            let data = (last.offset + last.moof_len) as usize..last.end as usize;
            assert_eq!(repaired[data.clone()], rec.bytes[data]);
        }
        // Repairing again: already progressive, unchanged.
        let again = recorder(&["repair"], &path);
        assert!(again.status.success());
        assert!(stdout(&again).contains("already a finalized progressive MP4"));
        assert_eq!(std::fs::read(&path).unwrap(), repaired);
    }
}

#[test]
fn interrupted_finalization_always_ends_in_the_same_file() {
    let rec = recording();
    let dir = TempDir::new("interrupted");
    let mut done = rec.bytes.clone();
    apply(&mut done, &rec.plan.steps);
    assert!(rec.plan.moov_at_front);
    for k in 0..=rec.plan.steps.len() {
        let mut file = rec.bytes.clone();
        apply(&mut file, &rec.plan.steps[..k]);
        let path = dir.path(&format!("steps-{k}.mp4"));
        std::fs::write(&path, &file).unwrap();
        let out = recorder(&["repair"], &path);
        assert!(out.status.success(), "after {k} steps: {}", stderr(&out));
        let repaired = assert_repaired(&path, totals(&synth(105, &[])));
        assert!(
            repaired == done,
            "after {k} steps: differs from a clean close"
        );
    }
}

#[test]
fn moov_at_the_end_when_the_reserve_is_too_small() {
    let rec = fragmented(&synth(105, &[]), 8);
    assert!(!rec.plan.moov_at_front);
    let dir = TempDir::new("end");
    let cut = rec.fragments[2].offset + 10;
    let path = dir.path("small-reserve.mp4");
    std::fs::write(&path, &rec.bytes[..cut as usize]).unwrap();
    let out = recorder(&["repair"], &path);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("moov is at the end"),
        "{}",
        stdout(&out)
    );
    let v = recorder(&["verify"], &path);
    assert!(v.status.success(), "{}", stderr(&v));
    let counts = expected_counts(&rec, 2);
    assert!(stdout(&v).contains(&format!("track 1 vide avc1: {} samples", counts[0])));
}

#[test]
fn partial_is_renamed_with_a_numbered_suffix_when_taken() {
    let rec = recording();
    let dir = TempDir::new("rename");
    let cut = rec.fragments[3].offset + 100;
    let partial = dir.path("cam.mp4.partial");
    std::fs::write(&partial, &rec.bytes[..cut as usize]).unwrap();
    let out = recorder(&["repair"], &partial);
    assert!(out.status.success(), "{}", stderr(&out));
    let first = dir.path("cam.mp4");
    assert!(stdout(&out).contains(&first.display().to_string()));
    assert!(!partial.exists());
    assert_repaired(&first, expected_counts(&rec, 3));

    // cam.mp4 exists now: the next one goes to cam-1.mp4, then cam-2.mp4.
    for n in 1..=2 {
        std::fs::write(&partial, &rec.bytes[..cut as usize]).unwrap();
        let out = recorder(&["repair"], &partial);
        assert!(out.status.success(), "{}", stderr(&out));
        let renamed = dir.path(&format!("cam-{n}.mp4"));
        assert!(renamed.exists(), "{}", stdout(&out));
        assert!(stdout(&out).contains(&renamed.display().to_string()));
        assert!(!partial.exists());
        assert_repaired(&renamed, expected_counts(&rec, 3));
    }
    // The first file was not touched by the later repairs.
    assert_repaired(&first, expected_counts(&rec, 3));
}

#[test]
fn leaves_a_file_locked_by_a_running_recorder_alone() {
    let rec = recording();
    let dir = TempDir::new("locked");
    let cut = rec.fragments[2].offset + 100;
    let partial = dir.path("live.mp4.partial");
    std::fs::write(&partial, &rec.bytes[..cut as usize]).unwrap();
    // What a recording's writer holds while it writes the file.
    let writer = std::fs::OpenOptions::new()
        .write(true)
        .open(&partial)
        .unwrap();
    writer.try_lock().unwrap();
    let out = recorder(&["repair"], &partial);
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    assert!(
        stderr(&out).contains("being written by a running recorder"),
        "{}",
        stderr(&out)
    );
    assert_eq!(std::fs::read(&partial).unwrap(), &rec.bytes[..cut as usize]);
    assert!(!dir.path("live.mp4").exists());
    // Once the writer is gone (crashed), the leftover is repaired.
    drop(writer);
    let out = recorder(&["repair"], &partial);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_repaired(&dir.path("live.mp4"), expected_counts(&rec, 2));
}

#[test]
fn refuses_what_it_cannot_recover_and_leaves_it_untouched() {
    let rec = recording();
    let dir = TempDir::new("refuse");
    let mut garbage = vec![0u8; 5000];
    for (i, b) in garbage.iter_mut().enumerate() {
        *b = (i * 7 + 3) as u8;
    }
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        ("garbage.mp4.partial", garbage, "no ftyp"),
        (
            "text.mp4",
            b"hello, this is not an MP4 file at all\n".to_vec(),
            "no ftyp",
        ),
        // The init moov was never completely written, in a file not named `.partial`.
        (
            "no-moov.mp4",
            rec.bytes[..rec.init_len as usize - 10].to_vec(),
            "moov box of",
        ),
        // A progressive file cut before its moov was written (the old recorder's crash).
        (
            "progressive-cut.mp4",
            progressive(&synth(40, &[]))[..3000].to_vec(),
            "before the moov",
        ),
    ];
    for (name, bytes, reason) in cases {
        let path = dir.path(name);
        std::fs::write(&path, &bytes).unwrap();
        let out = recorder(&["repair"], &path);
        assert_eq!(out.status.code(), Some(1), "{name}");
        let err = stderr(&out);
        let lines: Vec<&str> = err.lines().collect();
        assert_eq!(lines.len(), 1, "{name}: {err}");
        assert!(
            lines[0].starts_with("error: cannot repair"),
            "{name}: {err}"
        );
        assert!(lines[0].contains(reason), "{name}: {err}");
        assert_eq!(std::fs::read(&path).unwrap(), bytes, "{name} was changed");
        assert!(stdout(&out).is_empty());
    }
    // Nothing was renamed either.
    assert!(dir.path("garbage.mp4.partial").exists());
    assert!(!dir.path("garbage.mp4").exists());
}

/// A `.partial` left by a kill before its first bytes were all written (empty, or a part
/// of the `ftyp` and init `moov`) holds no media: `repair` removes it.
#[test]
fn removes_a_partial_killed_before_its_first_bytes_were_written() {
    let rec = recording();
    let dir = TempDir::new("removed");
    for (name, len) in [
        ("empty.mp4.partial", 0),
        ("no-moov.mp4.partial", rec.init_len as usize - 10),
        ("init-only.mp4.partial", rec.init_len as usize),
    ] {
        let path = dir.path(name);
        std::fs::write(&path, &rec.bytes[..len]).unwrap();
        let out = recorder(&["repair"], &path);
        assert!(out.status.success(), "{name}: {}", stderr(&out));
        assert!(
            stdout(&out).starts_with(&format!("removed {}", path.display())),
            "{name}: {}",
            stdout(&out)
        );
        assert!(!path.exists(), "{name}");
        assert!(!dir.path(name.trim_end_matches(".partial")).exists());
    }
}

#[test]
fn already_progressive_file_is_left_unchanged() {
    let bytes = progressive(&synth(60, &[]));
    let dir = TempDir::new("progressive");
    let path = dir.path("done.mp4");
    std::fs::write(&path, &bytes).unwrap();
    let out = recorder(&["repair"], &path);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(
        text.contains("already a finalized progressive MP4"),
        "{text}"
    );
    assert!(text.contains("track 1 (vide): 60 samples"), "{text}");
    assert!(text.contains("moov at the end"), "{text}");
    assert_eq!(std::fs::read(&path).unwrap(), bytes);
}
