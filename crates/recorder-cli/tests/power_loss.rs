//! What a power cut leaves: fragments whose `moof` reached the disk but whose data blocks
//! did not (they read back as zeros). `recorder verify` reports the damage with its track,
//! sample and byte offset; `recorder repair` drops the damaged fragment and every one
//! after it, and the result passes `verify`. (`cargo xtask verify` does the same on
//! H.264 and H.265 recordings from GStreamer's RTSP server, decoded with ffmpeg.)

mod common;

use common::*;

/// 3.5 s of video with audio: four fragments of about 1 s, each over 4 KiB of data.
fn recording() -> Fragmented {
    let rec = fragmented(&synth(105, &[]), 64 * 1024);
    assert_eq!(rec.fragments.len(), 4);
    rec
}

/// Video and audio samples in the first `kept` fragments.
fn counts(rec: &Fragmented, kept: usize) -> [u32; 2] {
    rec.fragments[..kept].iter().fold([0, 0], |acc, f| {
        [acc[0] + f.counts[0], acc[1] + f.counts[1]]
    })
}

/// Start of fragment `k`'s `mdat` payload.
fn payload_start(rec: &Fragmented, k: usize) -> u64 {
    rec.fragments[k].offset + rec.fragments[k].moof_len + 8
}

/// Writes `bytes` as `name.partial` and runs verify, then repair, then verify; returns
/// (the first verify's error, repair's report, the repaired file's verify line).
fn verify_repair_verify(dir: &TempDir, name: &str, bytes: &[u8]) -> (String, String, String) {
    let partial = dir.path(&format!("{name}.mp4.partial"));
    std::fs::write(&partial, bytes).unwrap();
    let before = recorder(&["verify"], &partial);
    let out = recorder(&["repair"], &partial);
    assert!(out.status.success(), "{name}: repair: {}", stderr(&out));
    let fixed = dir.path(&format!("{name}.mp4"));
    let after = recorder(&["verify"], &fixed);
    assert!(
        after.status.success(),
        "{name}: verify after repair: {}",
        stderr(&after)
    );
    (
        if before.status.success() {
            stdout(&before)
        } else {
            stderr(&before)
        },
        stdout(&out),
        stdout(&after),
    )
}

/// The repaired file holds exactly the first `kept` fragments' samples.
fn assert_kept(rec: &Fragmented, kept: usize, verified: &str) {
    let [v, a] = counts(rec, kept);
    assert!(
        verified.starts_with("ok: progressive, moov at the front"),
        "{verified}"
    );
    assert!(
        verified.contains(&format!("track 1 vide avc1: {v} samples")),
        "{verified}"
    );
    assert!(
        verified.contains(&format!("track 2 soun mp4a: {a} samples")),
        "{verified}"
    );
}

#[test]
fn undamaged_recording_keeps_every_fragment() {
    let rec = recording();
    let dir = TempDir::new("power-intact");
    let (before, report, after) = verify_repair_verify(&dir, "intact", &rec.bytes);
    assert!(
        before.starts_with("ok: fragmented, 4 fragments"),
        "{before}"
    );
    let data: u64 = (0..4)
        .map(|k| rec.fragments[k].end - payload_start(&rec, k))
        .sum();
    assert!(
        before.contains(&format!("data of 265 samples ({data} bytes) checked")),
        "{before}"
    );
    assert!(
        report.contains(&format!("Checked {data} bytes of sample data")),
        "{report}"
    );
    assert!(report.contains("kept 4 complete fragments"), "{report}");
    assert!(report.contains("dropped 0 bytes"), "{report}");
    assert!(report.ends_with(": no damage.\n"), "{report}");
    assert_kept(&rec, 4, &after);
}

#[test]
fn zeroed_middle_fragment_is_dropped_with_all_after_it() {
    let rec = recording();
    let dir = TempDir::new("power-middle");
    let mut bytes = rec.bytes.clone();
    let (start, end) = (payload_start(&rec, 1), rec.fragments[1].end);
    bytes[start as usize..end as usize].fill(0);
    let (before, report, after) = verify_repair_verify(&dir, "middle", &bytes);
    // The first sample of fragment 2 is video (its traf comes first): its NAL unit length
    // reads 0.
    let first_video = counts(&rec, 1)[0] + 1;
    assert!(
        before.contains(&format!(
            "track 1 sample {first_video} (video NAL units, {} bytes at byte {start}, in the \
             fragment whose moof is at byte {}) is damaged at byte {start}: NAL unit length 0",
            synth_size(&rec, first_video),
            rec.fragments[1].offset
        )),
        "{before}"
    );
    assert!(report.contains("kept 1 complete fragment ("), "{report}");
    assert!(
        report.contains("dropped 3 fragments from the first with damaged data"),
        "{report}"
    );
    assert!(
        report.contains(&format!(
            "track 1 sample {first_video} (at byte {start}) of fragment 2"
        )),
        "{report}"
    );
    assert_kept(&rec, 1, &after);
}

/// Size of video sample `n` (1-based) of the recording, from the synthetic stream.
fn synth_size(_rec: &Fragmented, n: u32) -> u32 {
    synth(105, &[])
        .iter()
        .filter(|s| s.track == 0)
        .nth(n as usize - 1)
        .unwrap()
        .info
        .size
}

#[test]
fn last_fragment_torn_at_every_block_boundary_is_dropped() {
    let rec = recording();
    let dir = TempDir::new("power-torn");
    let len = rec.bytes.len() as u64;
    let start = payload_start(&rec, 3);
    let mut tears: Vec<u64> = (start.next_multiple_of(4096)..len).step_by(4096).collect();
    // The whole payload, and the last two thirds of it (the report).
    tears.push(start);
    tears.push(start + (len - start) / 3);
    assert!(tears.len() >= 3, "{tears:?}");
    for from in tears {
        let mut bytes = rec.bytes.clone();
        bytes[from as usize..].fill(0);
        let name = format!("torn-{from}");
        let (before, report, after) = verify_repair_verify(&dir, &name, &bytes);
        assert!(before.contains("is damaged at byte"), "{name}: {before}");
        assert!(
            report.contains("kept 3 complete fragments"),
            "{name}: {report}"
        );
        assert!(
            report.contains("dropped 1 fragment from the first with damaged data"),
            "{name}: {report}"
        );
        assert!(
            report.contains("of fragment 4 (moof at byte"),
            "{name}: {report}"
        );
        assert!(
            report.contains(&format!("dropped {} bytes", len - rec.fragments[3].offset)),
            "{name}: {report}"
        );
        assert_kept(&rec, 3, &after);
    }
}

#[test]
fn garbage_nal_length_is_reported_with_its_sample() {
    let rec = recording();
    let dir = TempDir::new("power-garbage");
    let mut bytes = rec.bytes.clone();
    // The second video sample of fragment 3: its length field made too long by one.
    let start = payload_start(&rec, 2);
    let first = counts(&rec, 2)[0] + 1;
    let at = start + u64::from(synth_size(&rec, first));
    let len = read_u32(&bytes, at);
    write_u32(&mut bytes, at, len + 1);
    let (before, report, after) = verify_repair_verify(&dir, "garbage", &bytes);
    assert!(
        before.contains(&format!(
            "track 1 sample {} (video NAL units, {} bytes at byte {at}, in the fragment whose \
             moof is at byte {}) is damaged at byte {at}: NAL unit length {} at byte 0 does \
             not fit the {len} bytes left",
            first + 1,
            len + 4,
            rec.fragments[2].offset,
            len + 1,
        )),
        "{before}"
    );
    assert!(report.contains("kept 2 complete fragments"), "{report}");
    assert!(report.contains("dropped 2 fragments"), "{report}");
    assert_kept(&rec, 2, &after);
}
