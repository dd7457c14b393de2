//! Runs the `h264_aac` example on streams made by ffmpeg (x264 Annex B and AAC ADTS) and
//! checks its file with ffprobe and a full `ffmpeg -xerror` decode. Needs ffmpeg on the
//! PATH (installed in CI).

use std::path::{Path, PathBuf};
use std::process::Command;

#[allow(dead_code)]
#[path = "../examples/h264_aac.rs"]
mod example;

/// A fresh directory for this test's files.
fn scratch() -> PathBuf {
    let dir = std::env::temp_dir().join(format!("mp4-track-h264-aac-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn ffmpeg(args: &[&str]) {
    let out = Command::new("ffmpeg")
        .args(["-v", "error", "-nostdin", "-y"])
        .args(args)
        .output()
        .expect("ffmpeg must be installed");
    assert!(
        out.status.success(),
        "ffmpeg {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn path(p: &Path) -> &str {
    p.to_str().unwrap()
}

#[test]
fn h264_and_adts_make_a_file_that_decodes_cleanly() {
    let dir = scratch();
    let (h264, aac, mp4) = (dir.join("v.h264"), dir.join("a.aac"), dir.join("out.mp4"));
    ffmpeg(&[
        "-f",
        "lavfi",
        "-i",
        "testsrc=size=320x240:rate=25",
        "-t",
        "4",
        "-pix_fmt",
        "yuv420p",
        "-c:v",
        "libx264",
        "-bf",
        "0",
        "-g",
        "25",
        "-f",
        "h264",
        path(&h264),
    ]);
    ffmpeg(&[
        "-f",
        "lavfi",
        "-i",
        "sine=frequency=440:sample_rate=48000",
        "-t",
        "4",
        "-ac",
        "2",
        "-c:a",
        "aac",
        "-f",
        "adts",
        path(&aac),
    ]);
    let file = example::mux(
        &std::fs::read(&h264).unwrap(),
        &std::fs::read(&aac).unwrap(),
        (320, 240),
        25,
    )
    .unwrap();
    std::fs::write(&mp4, &file).unwrap();

    // Finalized with the moov first.
    let top: Vec<[u8; 4]> = bmff_boxes::read::boxes(&file)
        .map(|b| b.unwrap().fourcc)
        .collect();
    assert_eq!(&top[..3], [*b"ftyp", *b"free", *b"moov"], "{top:?}");

    let probe = Command::new("ffprobe")
        .args(["-v", "error", "-count_packets", "-show_entries"])
        .args(["stream=codec_name,width,height,sample_rate,channels,nb_read_packets"])
        .args(["-of", "csv=p=0", path(&mp4)])
        .output()
        .expect("ffprobe must be installed");
    assert!(probe.status.success());
    let text = String::from_utf8(probe.stdout).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[0], "h264,320,240,100", "{text}");
    // 4 s of 48 kHz in 1024-sample frames, plus the encoder's priming frame.
    assert!(lines[1].starts_with("aac,48000,2,"), "{text}");
    let audio_frames: u32 = lines[1].rsplit(',').next().unwrap().parse().unwrap();
    assert!((188..=190).contains(&audio_frames), "{text}");

    let decode = Command::new("ffmpeg")
        .args([
            "-v",
            "error",
            "-nostdin",
            "-xerror",
            "-i",
            path(&mp4),
            "-f",
            "null",
            "-",
        ])
        .output()
        .unwrap();
    assert!(decode.status.success());
    assert_eq!(String::from_utf8_lossy(&decode.stderr), "", "decode errors");
    std::fs::remove_dir_all(&dir).unwrap();
}
