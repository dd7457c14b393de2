//! `recorder verify`: accepts consistent files and names the box of each inconsistency.

mod common;

use common::*;

/// Writes `bytes`, runs `recorder verify`, and returns (exit code, stdout, stderr).
fn verify(dir: &TempDir, name: &str, bytes: &[u8]) -> (Option<i32>, String, String) {
    let path = dir.path(name);
    std::fs::write(&path, bytes).unwrap();
    let out = recorder(&["verify"], &path);
    (out.status.code(), stdout(&out), stderr(&out))
}

/// Asserts that verify fails with one `error:` line containing every one of `needles`.
fn assert_rejects(dir: &TempDir, name: &str, bytes: &[u8], needles: &[&str]) {
    let (code, out, err) = verify(dir, name, bytes);
    assert_eq!(code, Some(1), "{name}: {out}{err}");
    assert!(out.is_empty(), "{name}: {out}");
    let lines: Vec<&str> = err.lines().collect();
    assert_eq!(lines.len(), 1, "{name}: {err}");
    assert!(lines[0].starts_with("error: "), "{name}: {err}");
    for n in needles {
        assert!(lines[0].contains(n), "{name}: expected {n:?} in {err}");
    }
}

fn chunk_offset_box(file: &[u8], trak: usize) -> (&'static str, u64) {
    match stbl_box(file, trak, "stco") {
        Some(p) => ("stco", p),
        None => ("co64", stbl_box(file, trak, "co64").expect("stco or co64")),
    }
}

#[test]
fn consistent_files_pass_with_their_counts() {
    let dir = TempDir::new("verify-ok");
    let samples = synth(90, &[40, 41, 42]);
    let audio = samples.iter().filter(|s| s.track == 1).count();

    let (code, out, err) = verify(&dir, "progressive.mp4", &progressive(&samples));
    assert_eq!(code, Some(0), "{err}");
    assert!(out.starts_with("ok: progressive, moov at the end"), "{out}");
    assert!(
        out.contains("track 1 vide avc1: 87 samples, 3.000 s"),
        "{out}"
    );
    assert!(
        out.contains(&format!("track 2 soun mp4a: {audio} samples")),
        "{out}"
    );

    let rec = fragmented(&samples, 64 * 1024);
    let (code, out, err) = verify(&dir, "fragmented.mp4", &rec.bytes);
    assert_eq!(code, Some(0), "{err}");
    assert!(
        out.starts_with(&format!(
            "ok: fragmented, {} fragments",
            rec.fragments.len()
        )),
        "{out}"
    );
    assert!(
        out.contains("track 1 vide avc1: 87 samples, 3.000 s"),
        "{out}"
    );

    let mut done = rec.bytes.clone();
    apply(&mut done, &rec.plan.steps);
    let (code, out, err) = verify(&dir, "finalized.mp4", &done);
    assert_eq!(code, Some(0), "{err}");
    assert!(
        out.starts_with("ok: progressive, moov at the front"),
        "{out}"
    );
    assert!(
        out.contains("track 1 vide avc1: 87 samples, 3.000 s"),
        "{out}"
    );
}

#[test]
fn catches_sample_table_corruption() {
    let dir = TempDir::new("verify-tables");
    let good = progressive(&synth(90, &[]));

    // A chunk offset past the end of the file.
    let mut f = good.clone();
    let (name, stco) = chunk_offset_box(&f, 0);
    assert_eq!(name, "stco");
    write_u32(&mut f, stco + 8, good.len() as u32 + 1000);
    assert_rejects(
        &dir,
        "chunk-offset.mp4",
        &f,
        &["track 1 stco: chunk 1", "not inside an mdat payload"],
    );

    // stsz counts one sample fewer than stts.
    let mut f = good.clone();
    let stsz = stbl_box(&f, 0, "stsz").unwrap();
    let n = read_u32(&f, stsz + 8);
    assert_eq!(n, 90);
    write_u32(&mut f, stsz + 8, n - 1);
    assert_rejects(
        &dir,
        "stsz-count.mp4",
        &f,
        &["track 1 stsz: sample_count 89 but stts counts 90 samples"],
    );

    // The first video sample is no longer a sync sample.
    let mut f = good.clone();
    let stss = stbl_box(&f, 0, "stss").unwrap();
    assert_eq!(read_u32(&f, stss + 8), 1);
    write_u32(&mut f, stss + 8, 2);
    assert_rejects(
        &dir,
        "first-not-sync.mp4",
        &f,
        &["track 1 stss", "first video sample is not a sync sample"],
    );

    // stss out of order.
    let mut f = good.clone();
    write_u32(&mut f, stss + 12, 1);
    assert_rejects(
        &dir,
        "stss-order.mp4",
        &f,
        &["track 1 stss", "not ascending"],
    );

    // mdhd duration off the stts sum.
    let mut f = good.clone();
    let moov = top_offsets(&f, b"moov")[0];
    let mdhd = payload_at(&f, moov, &["trak", "mdia", "mdhd"], 1).unwrap();
    let d = read_u32(&f, mdhd + 16);
    write_u32(&mut f, mdhd + 16, d + 1);
    assert_rejects(&dir, "mdhd.mp4", &f, &["track 2 mdhd: duration"]);

    // mvhd duration and next_track_ID.
    let mut f = good.clone();
    let mvhd = payload_at(&f, moov, &["mvhd"], 0).unwrap();
    write_u32(&mut f, mvhd + 16, 1);
    assert_rejects(
        &dir,
        "mvhd.mp4",
        &f,
        &["mvhd: duration 1 but the longest track"],
    );
    let mut f = good.clone();
    write_u32(&mut f, mvhd + 96, 2);
    assert_rejects(&dir, "next-track.mp4", &f, &["mvhd: next_track_ID 2"]);

    // tkhd duration disagreeing with the edit list.
    let mut f = good.clone();
    let tkhd = payload_at(&f, moov, &["trak", "tkhd"], 0).unwrap();
    let d = read_u32(&f, tkhd + 20);
    write_u32(&mut f, tkhd + 20, d + 5);
    assert_rejects(&dir, "tkhd.mp4", &f, &["track 1 tkhd: duration"]);
}

#[test]
fn catches_box_structure_corruption() {
    let dir = TempDir::new("verify-boxes");
    let rec = fragmented(&synth(90, &[]), 64 * 1024);
    let mut done = rec.bytes.clone();
    apply(&mut done, &rec.plan.steps);

    // The last mdat cut short: the boxes no longer tile the file.
    assert_rejects(
        &dir,
        "truncated.mp4",
        &done[..done.len() - 100],
        &["mdat at offset", "runs past the end of the file"],
    );

    // The last mdat shrunk by 100 bytes that become a free box: tiling holds, but the
    // last chunks' samples now lie outside any mdat payload.
    let mut f = done.clone();
    let last = *top_offsets(&f, b"mdat").last().unwrap();
    let size = read_u32(&f, last);
    write_u32(&mut f, last, size - 100);
    let free = f.len() as u64 - 100;
    write_u32(&mut f, free, 100);
    f[free as usize + 4..free as usize + 8].copy_from_slice(b"free");
    let (name, _) = chunk_offset_box(&f, 0);
    assert_rejects(
        &dir,
        "mdat-shrunk.mp4",
        &f,
        &[name, "is not inside an mdat payload"],
    );

    // Stray bytes after the last box.
    let mut f = done.clone();
    f.extend_from_slice(&[1, 2, 3]);
    assert_rejects(&dir, "stray.mp4", &f, &["3 stray bytes", "do not tile"]);

    // Two moov boxes: an interrupted finalization that appended its moov.
    let end = fragmented(&synth(90, &[]), 8);
    let mut f = end.bytes.clone();
    apply(&mut f, &end.plan.steps[..1]);
    assert_rejects(&dir, "two-moov.mp4", &f, &["2 moov boxes"]);
}

#[test]
fn catches_fragment_corruption() {
    let dir = TempDir::new("verify-fragments");
    let rec = fragmented(&synth(90, &[]), 64 * 1024);
    let moofs = top_offsets(&rec.bytes, b"moof");
    assert_eq!(moofs.len(), rec.fragments.len());

    // A tfdt that does not continue the previous fragment.
    let mut f = rec.bytes.clone();
    let tfdt = payload_at(&f, moofs[2], &["traf", "tfdt"], 0).unwrap();
    let version = f[tfdt as usize];
    let at = if version == 1 { tfdt + 8 } else { tfdt + 4 };
    let t = read_u32(&f, at);
    write_u32(&mut f, at, t + 1);
    assert_rejects(
        &dir,
        "tfdt.mp4",
        &f,
        &[&format!("moof at offset {} tfdt: track 1", moofs[2])],
    );

    // A trun data offset past its mdat.
    let mut f = rec.bytes.clone();
    let trun = payload_at(&f, moofs[1], &["traf", "trun"], 0).unwrap();
    assert_eq!(read_u32(&f, trun) & 1, 1, "data_offset present");
    let d = read_u32(&f, trun + 8);
    write_u32(&mut f, trun + 8, d + 1_000_000);
    assert_rejects(
        &dir,
        "trun.mp4",
        &f,
        &[
            &format!("moof at offset {} trun: track 1 sample 1", moofs[1]),
            "outside the following mdat payload",
        ],
    );

    // The first video sample of the first fragment marked non-sync.
    let mut f = rec.bytes.clone();
    let trun = payload_at(&f, moofs[0], &["traf", "trun"], 0).unwrap();
    assert_eq!(read_u32(&f, trun) & 4, 4, "first_sample_flags present");
    write_u32(&mut f, trun + 12, 0x0101_0000);
    assert_rejects(
        &dir,
        "first-fragment-not-sync.mp4",
        &f,
        &["trun: the first sample of video track 1 is not a sync sample"],
    );
}
