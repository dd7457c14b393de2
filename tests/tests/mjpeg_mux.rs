//! End to end without an RTSP server: real Motion JPEG frames from ffmpeg, muxed by
//! `mp4-track` (with an `mp4v` sample entry built by hand), written to a file, then checked
//! with tools written elsewhere (ffprobe, a full ffmpeg decode, mp4-atom in strict mode)
//! and with `bmff_boxes::dump`.

use std::num::NonZeroU32;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use bmff_boxes::dump;
use bytes::{BufMut, Bytes, BytesMut};
use mp4_track::{Mp4Muxer, MuxerOptions, SampleInfo, TrackConfig, TrackKind};

const WIDTH: u16 = 320;
const HEIGHT: u16 = 240;
const FPS: u32 = 30;
const SECONDS: u32 = 2;
const TIMESCALE_HZ: u32 = 90_000;
const FRAME_DURATION_90K: u32 = TIMESCALE_HZ / FPS;

const INSTALL_HINT: &str = "ffmpeg/ffprobe are required by these tests: \
                            sudo apt-get install -y ffmpeg (or run `cargo xtask deps`)";

/// Runs a tool written elsewhere; a missing tool fails the test with the install line.
fn tool(program: &str, args: &[&str]) -> Output {
    let out = Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("cannot run {program} ({e}); {INSTALL_HINT}"));
    assert!(
        out.status.success(),
        "{program} {args:?} failed ({}): {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// Two seconds of 320x240 30 fps test pattern as back-to-back JPEG images.
fn mjpeg_stream() -> Vec<u8> {
    let size = format!("testsrc=size={WIDTH}x{HEIGHT}:rate={FPS}");
    let secs = SECONDS.to_string();
    #[rustfmt::skip]
    let args = [
        "-nostdin", "-v", "error",
        "-f", "lavfi", "-i", size.as_str(), "-t", secs.as_str(),
        "-f", "image2pipe", "-c:v", "mjpeg", "-",
    ];
    tool("ffmpeg", &args).stdout
}

/// Splits concatenated JPEG images at their SOI (FF D8) / EOI (FF D9) markers. Inside the
/// entropy-coded data a 0xFF byte is always stuffed (FF 00) or a restart marker, so FF D9
/// only ever ends an image.
fn split_jpegs(stream: &[u8]) -> Vec<Bytes> {
    let mut frames = Vec::new();
    let mut rest = stream;
    while !rest.is_empty() {
        assert_eq!(
            &rest[..2],
            &[0xFF, 0xD8],
            "image {} lacks SOI",
            frames.len()
        );
        let eoi = rest
            .windows(2)
            .position(|w| w == [0xFF, 0xD9])
            .unwrap_or_else(|| panic!("image {} lacks EOI", frames.len()));
        frames.push(Bytes::copy_from_slice(&rest[..eoi + 2]));
        rest = &rest[eoi + 2..];
    }
    frames
}

/// An `mp4v` sample entry (MP4VisualSampleEntry, ISO/IEC 14496-14 §6.7.3) for JPEG:
/// a VisualSampleEntry (ISO/IEC 14496-12 §12.1.3) followed by an `esds` whose
/// DecoderConfigDescriptor says objectTypeIndication 0x6C (JPEG, ISO/IEC 10918-1).
fn mp4v_jpeg_entry(width: u16, height: u16) -> Bytes {
    // esds body: ES_Descriptor (ISO/IEC 14496-1 §7.2.6.5) with a one-byte length each.
    let mut es = BytesMut::new();
    es.put_u16(1); // ES_ID
    es.put_u8(0); // streamDependenceFlag, URL_Flag, OCRstreamFlag: 0; streamPriority 0
    es.put_u8(0x04); // DecoderConfigDescrTag
    es.put_u8(13); // length of what follows in the DecoderConfigDescriptor
    es.put_u8(0x6C); // objectTypeIndication: JPEG
    es.put_u8(0x04 << 2 | 1); // streamType 4 (visual), upStream 0, reserved 1
    es.put_slice(&[0, 0, 0]); // bufferSizeDB (24 bits)
    es.put_u32(0); // maxBitrate (unknown)
    es.put_u32(0); // avgBitrate (unknown)
    es.put_slice(&[0x06, 1, 0x02]); // SLConfigDescrTag, length 1, predefined 2 (MP4)

    let mut esds = BytesMut::new();
    esds.put_u32(12 + 2 + es.len() as u32); // box size
    esds.put_slice(b"esds");
    esds.put_u32(0); // version 0, flags 0
    esds.put_u8(0x03); // ES_DescrTag
    esds.put_u8(es.len() as u8); // length (< 128, so one byte)
    esds.put_slice(&es);

    let mut entry = BytesMut::new();
    entry.put_u32(86 + esds.len() as u32); // box size: 8 header + 78 fields + esds
    entry.put_slice(b"mp4v");
    entry.put_slice(&[0; 6]); // reserved
    entry.put_u16(1); // data_reference_index
    entry.put_u16(0); // pre_defined
    entry.put_u16(0); // reserved
    entry.put_slice(&[0; 12]); // pre_defined[3]
    entry.put_u16(width);
    entry.put_u16(height);
    entry.put_u32(0x0048_0000); // horizresolution 72 dpi (16.16)
    entry.put_u32(0x0048_0000); // vertresolution 72 dpi
    entry.put_u32(0); // reserved
    entry.put_u16(1); // frame_count: one frame per sample
    entry.put_slice(&[0; 32]); // compressorname: empty Pascal string, zero padded
    entry.put_u16(0x0018); // depth: colour, no alpha
    entry.put_i16(-1); // pre_defined
    entry.put_slice(&esds);
    assert_eq!(entry.len(), 86 + esds.len());
    entry.freeze()
}

/// Muxes the frames into a whole file in memory, writing exactly where the muxer says.
fn mux(frames: &[Bytes]) -> Vec<u8> {
    let mut muxer = Mp4Muxer::new(MuxerOptions::default());
    let track = muxer
        .add_track(TrackConfig {
            kind: TrackKind::Video {
                width: WIDTH,
                height: HEIGHT,
            },
            timescale_hz: TIMESCALE_HZ,
            sample_entry: mp4v_jpeg_entry(WIDTH, HEIGHT),
            default_sample_duration: NonZeroU32::new(FRAME_DURATION_90K),
        })
        .unwrap();
    let mut file = muxer.start().unwrap().to_vec();
    assert_eq!(muxer.file_len(), file.len() as u64);
    for (i, frame) in frames.iter().enumerate() {
        let sample = SampleInfo {
            dts: i as u64 * u64::from(FRAME_DURATION_90K),
            cts_offset: 0,
            size: frame.len() as u32,
            is_sync: true,
        };
        let offset = muxer.push(track, sample).unwrap();
        assert_eq!(offset, file.len() as u64, "sample {i} is not appended");
        file.extend_from_slice(frame);
        assert_eq!(muxer.file_len(), file.len() as u64);
    }
    let finished = muxer.finish().unwrap();
    file.extend_from_slice(&finished.tail);
    for patch in &finished.patches {
        let at = usize::try_from(patch.offset).unwrap();
        file[at..at + patch.bytes.len()].copy_from_slice(&patch.bytes);
    }
    file
}

struct TempFile(PathBuf);

impl TempFile {
    fn new(name: &str, bytes: &[u8]) -> Self {
        let path = std::env::temp_dir().join(format!("tests-{}-{name}", std::process::id()));
        std::fs::write(&path, bytes).unwrap();
        Self(path)
    }

    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

fn ffprobe_value(file: &Path, entries: &str, extra: &[&str]) -> String {
    let path = file.to_str().unwrap();
    let mut args = vec!["-v", "error", "-select_streams", "v:0"];
    args.extend_from_slice(extra);
    args.extend_from_slice(&["-show_entries", entries, "-of", "compact=p=0:nk=0", path]);
    String::from_utf8(tool("ffprobe", &args).stdout)
        .unwrap()
        .trim()
        .to_string()
}

#[test]
fn mjpeg_frames_mux_into_an_mp4_that_ffmpeg_and_mp4_atom_accept() {
    let frames = split_jpegs(&mjpeg_stream());
    let expected_frames = (FPS * SECONDS) as usize;
    assert_eq!(frames.len(), expected_frames);

    let bytes = mux(&frames);
    let payload: usize = frames.iter().map(Bytes::len).sum();
    assert!(bytes.len() > payload, "file smaller than its samples");
    let file = TempFile::new("mjpeg.mp4", &bytes);

    // ffprobe: codec, size, frame count, duration.
    assert_eq!(
        ffprobe_value(
            file.path(),
            "stream=codec_name,codec_tag_string,width,height,nb_frames",
            &[]
        ),
        "codec_name=mjpeg|codec_tag_string=mp4v|width=320|height=240|nb_frames=60"
    );
    assert_eq!(
        ffprobe_value(file.path(), "format=duration", &[]),
        "duration=2.000000"
    );
    assert_eq!(
        ffprobe_value(file.path(), "stream=nb_read_frames", &["-count_frames"]),
        "nb_read_frames=60"
    );

    // A full decode that stops at the first error and must print nothing.
    let path = file.path().to_str().unwrap();
    let decode = tool(
        "ffmpeg",
        &[
            "-nostdin", "-v", "error", "-xerror", "-i", path, "-f", "null", "-",
        ],
    );
    let said = [decode.stdout, decode.stderr].concat();
    assert_eq!(String::from_utf8_lossy(&said), "");

    // Every frame is stored byte for byte, in order, in the mdat.
    let first = bytes
        .windows(frames[0].len())
        .position(|w| w == &frames[0][..])
        .expect("first frame not found in the file");
    let stored: Vec<u8> = frames.iter().flat_map(|f| f.iter().copied()).collect();
    assert_eq!(&bytes[first..first + stored.len()], &stored[..]);

    // A strict parser written elsewhere accepts every box.
    let mut buf = &bytes[..];
    let mut kinds = Vec::new();
    while !buf.is_empty() {
        use mp4_atom::Decode as _;
        let atom = mp4_atom::Any::decode(&mut buf).expect("mp4-atom (strict) rejects the file");
        if let mp4_atom::Any::Moov(moov) = &atom {
            assert_eq!(moov.trak.len(), 1);
            let stbl = &moov.trak[0].mdia.minf.stbl;
            assert_eq!(stbl.stts.entries.len(), 1);
            assert_eq!(stbl.stts.entries[0].sample_count, 60);
            assert_eq!(stbl.stts.entries[0].sample_delta, FRAME_DURATION_90K);
        }
        kinds.push(atom.kind().to_string());
    }
    assert_eq!(kinds.first().map(String::as_str), Some("ftyp"));
    assert!(kinds.iter().any(|k| k == "mdat") && kinds.iter().any(|k| k == "moov"));

    // Our own independent dump reads the same tree.
    let text = dump::dump(&bytes).expect("bmff_boxes::dump rejects the file");
    let line = |fourcc: &str| -> &str {
        text.lines()
            .map(str::trim_start)
            .find(|l| l.starts_with(&format!("{fourcc} ")))
            .unwrap_or_else(|| panic!("no {fourcc} in dump:\n{text}"))
    };
    assert!(line("mp4v").contains("width=320 height=240"), "{text}");
    assert_eq!(line("esds"), "esds size=35 object_type_indication=0x6c");
    assert!(line("stts").contains("[60x3000]"), "{text}");
    assert!(
        line("mdhd").contains("timescale=90000 duration=180000"),
        "{text}"
    );
    assert!(
        line("stsz").starts_with("stsz size=260 sample_size=0 count=60"),
        "{text}"
    );
    assert!(
        line("mdat").starts_with(&format!("mdat size={}", payload + 16)),
        "{text}"
    );
}

#[test]
fn jpeg_splitting_finds_each_image_once() {
    let one = [0xFF, 0xD8, 0xFF, 0xE0, 0x12, 0xFF, 0x00, 0x34, 0xFF, 0xD9];
    let two = [0xFF, 0xD8, 0x56, 0xFF, 0xD9];
    let frames = split_jpegs(&[&one[..], &two[..]].concat());
    assert_eq!(
        frames,
        vec![Bytes::copy_from_slice(&one), Bytes::copy_from_slice(&two)]
    );
}
