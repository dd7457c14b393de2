//! Exports and HLS segments of real media: three consecutive H.264 (B-frames) + AAC files
//! made by ffmpeg, checked with ffprobe, a full `ffmpeg -xerror` decode and mp4-atom's
//! strict parser. Skipped, with a message, when ffmpeg is not installed, except in CI
//! (`CI` set), where it must be.

use std::path::{Path, PathBuf};
use std::process::Command;

use bmff_boxes::read;
use mp4_atom::{Any, Decode};
use mp4_export::{Body, Part, SourceFile, export, hls};

const SEC: i64 = 1_000_000_000;
/// Wall start of the first file: 2024-01-01T00:00:00Z.
const T0: i64 = 1_704_067_200 * SEC;

fn have_ffmpeg() -> bool {
    let ok = Command::new("ffmpeg")
        .arg("-version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        assert!(
            std::env::var_os("CI").is_none(),
            "ffmpeg must be installed in CI"
        );
        eprintln!("SKIPPED: ffmpeg is not installed (apt-get install -y ffmpeg)");
    }
    ok
}

fn run(cmd: &str, args: &[&str]) -> String {
    let out = Command::new(cmd)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cmd}: {e}"));
    assert!(
        out.status.success(),
        "{cmd} {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// File `k` of three: seconds `4k..4k+4` of `testsrc2` (30 fps, keyframe every 30
/// frames, 2 B-frames) and a sine as AAC.
fn make_sources(dir: &Path) -> (Vec<PathBuf>, Vec<SourceFile>) {
    let (mut paths, mut sources) = (Vec::new(), Vec::new());
    for k in 0..3i64 {
        let path = dir.join(format!("src{k}.mp4"));
        let ss = (4 * k).to_string();
        let p = path.to_str().unwrap();
        run(
            "ffmpeg",
            &[
                "-v",
                "error",
                "-y",
                "-f",
                "lavfi",
                "-i",
                "testsrc2=size=320x240:rate=30",
                "-f",
                "lavfi",
                "-i",
                "sine=frequency=440:sample_rate=48000",
                "-ss",
                &ss,
                "-t",
                "4",
                "-c:v",
                "libx264",
                "-g",
                "30",
                "-keyint_min",
                "30",
                "-sc_threshold",
                "0",
                "-bf",
                "2",
                "-pix_fmt",
                "yuv420p",
                "-c:a",
                "aac",
                "-b:a",
                "64k",
                "-movflags",
                "+faststart",
                p,
            ],
        );
        let bytes = std::fs::read(&path).unwrap();
        let moov = read::boxes(&bytes)
            .map(Result::unwrap)
            .find(|b| &b.fourcc == b"moov")
            .unwrap();
        let movie = read::parse_moov(&moov).unwrap();
        assert!(
            movie.tracks[0].stbl.ctts.is_some(),
            "the source has B-frames"
        );
        paths.push(path);
        sources.push(SourceFile {
            movie,
            wall_start_ns: T0 + 4 * k * SEC,
        });
    }
    (paths, sources)
}

/// Writes `body` to `out`, reading source ranges from the files.
fn write_body(body: &Body, paths: &[PathBuf], out: &Path) {
    let files: Vec<Vec<u8>> = paths.iter().map(|p| std::fs::read(p).unwrap()).collect();
    let mut bytes = Vec::with_capacity(body.len() as usize);
    for part in body.parts() {
        match part {
            Part::Bytes(b) => bytes.extend_from_slice(b),
            Part::Source {
                source,
                offset,
                len,
            } => {
                bytes.extend_from_slice(&files[*source][*offset as usize..(offset + len) as usize])
            }
        }
    }
    assert_eq!(bytes.len() as u64, body.len());
    std::fs::write(out, bytes).unwrap();
}

fn strict_parse(path: &Path) -> Vec<String> {
    let data = std::fs::read(path).unwrap();
    let mut buf = &data[..];
    let mut top = Vec::new();
    while !buf.is_empty() {
        let atom = Any::decode(&mut buf).expect("mp4-atom strict parse");
        top.push(atom.kind().to_string());
    }
    top
}

/// The framemd5 line's hash of the first frame `ffmpeg` decodes with `args`.
fn first_frame_md5(args: &[&str]) -> String {
    let mut all = vec!["-v", "error"];
    all.extend_from_slice(args);
    all.extend_from_slice(&["-frames:v", "1", "-an", "-f", "framemd5", "-"]);
    let out = run("ffmpeg", &all);
    let line = out.lines().rfind(|l| !l.starts_with('#')).expect("a frame");
    line.rsplit(',').next().unwrap().trim().to_owned()
}

#[test]
fn export_of_three_real_files_plays_from_start_to_end() {
    if !have_ffmpeg() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (paths, sources) = make_sources(dir.path());
    let start = T0 + 1_300_000_000;
    let end = T0 + 8 * SEC + 2_100_000_000;
    let e = export(&sources, start, end).unwrap();
    assert!(e.gaps.is_empty());
    let out = dir.path().join("out.mp4");
    write_body(&e.body, &paths, &out);
    let o = out.to_str().unwrap();

    let top = strict_parse(&out);
    assert_eq!(top, ["ftyp", "moov", "mdat"]);
    let duration: f64 = run(
        "ffprobe",
        &[
            "-v",
            "error",
            "-show_entries",
            "format=duration",
            "-of",
            "csv=p=0",
            o,
        ],
    )
    .trim()
    .parse()
    .unwrap();
    let want = (end - start) as f64 / 1e9;
    assert!(
        (duration - want).abs() <= 1.0 / 30.0,
        "duration {duration}, want {want}"
    );
    let streams = run(
        "ffprobe",
        &[
            "-v",
            "error",
            "-show_entries",
            "stream=codec_type",
            "-of",
            "csv=p=0",
            o,
        ],
    );
    assert_eq!(streams.lines().collect::<Vec<_>>(), ["video", "audio"]);
    let decode = Command::new("ffmpeg")
        .args(["-v", "error", "-xerror", "-i", o, "-f", "null", "-"])
        .output()
        .unwrap();
    assert!(
        decode.status.success(),
        "{}",
        String::from_utf8_lossy(&decode.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&decode.stderr), "");
    // Frame 39 of the first file is the one shown at 1.3 s.
    let source_frame =
        first_frame_md5(&["-i", paths[0].to_str().unwrap(), "-vf", "select=eq(n\\,39)"]);
    assert_eq!(first_frame_md5(&["-i", o]), source_frame);
    assert_ne!(
        first_frame_md5(&["-i", paths[0].to_str().unwrap(), "-vf", "select=eq(n\\,38)"]),
        source_frame
    );
}

#[test]
fn hls_of_three_real_files_reads_every_frame() {
    if !have_ffmpeg() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (paths, sources) = make_sources(dir.path());
    let start = T0 + 1_300_000_000;
    let end = T0 + 8 * SEC + 2_100_000_000;
    let plan = hls::plan(&sources, start, end, 2 * SEC).unwrap();
    for i in 0..plan.init_count() {
        let bytes = plan.init_segment(&sources, i).unwrap();
        std::fs::write(dir.path().join(format!("init{i}.mp4")), bytes).unwrap();
    }
    for i in 0..plan.segments().len() {
        let body = plan.media_segment(&sources, i).unwrap();
        let path = dir.path().join(format!("seg{i}.m4s"));
        write_body(&body, &paths, &path);
        assert_eq!(strict_parse(&path), ["moof", "mdat"]);
    }
    let m3u8 = dir.path().join("vod.m3u8");
    std::fs::write(
        &m3u8,
        plan.playlist(|i| format!("init{i}.mp4"), |i| format!("seg{i}.m4s")),
    )
    .unwrap();
    let probe = run(
        "ffprobe",
        &[
            "-v",
            "error",
            "-count_frames",
            "-select_streams",
            "v:0",
            "-show_entries",
            "stream=nb_read_frames",
            "-of",
            "csv=p=0",
            m3u8.to_str().unwrap(),
        ],
    );
    // One line per program and per stream.
    let frames: u64 = probe
        .lines()
        .next()
        .and_then(|l| l.trim().parse().ok())
        .unwrap_or_else(|| panic!("ffprobe: {probe:?}"));
    // The third file's packets in decode order up to the last one presented before
    // 2.1 s (with B-frames, a reference presented later is decoded before it).
    let packets = run(
        "ffprobe",
        &[
            "-v",
            "error",
            "-select_streams",
            "v:0",
            "-show_entries",
            "packet=pts_time",
            "-of",
            "csv=p=0",
            paths[2].to_str().unwrap(),
        ],
    );
    let pts: Vec<f64> = packets.lines().map(|l| l.trim().parse().unwrap()).collect();
    let last_file = pts.iter().rposition(|&t| t < 2.1 - 1e-6).unwrap() as u64 + 1;
    assert!((63..=65).contains(&last_file), "{last_file}");
    // From the keyframe at 1.0 s: frames 30..120 of the first file, all 120 of the
    // second, and those of the third.
    assert_eq!(frames, 90 + 120 + last_file);
    let copy = Command::new("ffmpeg")
        .args([
            "-v",
            "error",
            "-i",
            m3u8.to_str().unwrap(),
            "-c",
            "copy",
            "-f",
            "null",
            "-",
        ])
        .output()
        .unwrap();
    assert!(
        copy.status.success(),
        "{}",
        String::from_utf8_lossy(&copy.stderr)
    );
}
