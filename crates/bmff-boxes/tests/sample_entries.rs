//! Sample entries against what ffmpeg 5.1 writes for the same inputs, byte for byte.
//!
//! The files were made with
//! `ffmpeg -f lavfi -i testsrc=size=64x64:rate=5 -t 1 -pix_fmt yuv420p -c:v libx264 h264.mp4`
//! (likewise `-c:v libx265 -x265-params info=0 -tag:v hvc1`, `-c:v mjpeg`) and
//! `ffmpeg -f lavfi -i sine=sample_rate=48000 -t 1 -ac 2 -c:a aac aac.mp4`, and their `stsd`
//! entries read with `bmff_boxes::read`. Where ffmpeg chooses differently from us (its
//! compressor name, its ES_ID and bit rates, the `pasp`/`btrt`/`fiel` boxes it appends, the
//! 4-byte form of descriptor sizes), the test sets our field to ffmpeg's value or says what
//! was left out; everything else is built from the parameter sets alone.

use bmff_boxes::*;

/// Concatenates hex fields (spaces allowed) into bytes.
fn hex(fields: &[&str]) -> Vec<u8> {
    let s: String = fields
        .concat()
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect();
    assert!(s.len().is_multiple_of(2), "odd hex length");
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

/// Encodes and checks the length agreement.
fn enc(b: &impl Encode) -> Vec<u8> {
    let mut out = BytesMut::new();
    b.encode(&mut out);
    assert_eq!(out.len() as u64, b.encoded_len());
    out.to_vec()
}

/// The fields of a `VisualSampleEntry` as ffmpeg writes them for 64x64 pictures.
fn visual_fields(compressorname: &str) -> String {
    [
        "000000000000 0001",                  // reserved, data_reference_index 1
        "0000 0000 000000000000000000000000", // pre_defined, reserved, pre_defined[3]
        "0040 0040",                          // width 64, height 64
        "00480000 00480000",                  // horizresolution, vertresolution: 72 dpi
        "00000000",                           // reserved
        "0001",                               // frame_count 1
        compressorname,                       // 32 bytes: length, name, zero padding
        "0018 ffff",                          // depth 0x18, pre_defined -1
    ]
    .concat()
}

const X264_SPS: &str = "6764000aacd94426c044000003000400000300283c489658";
const X264_PPS: &str = "68ebe3cb22c0";

#[test]
fn avc1_from_sps_and_pps_as_ffmpeg_writes_it() {
    let sps = Bytes::from(hex(&[X264_SPS]));
    let pps = Bytes::from(hex(&[X264_PPS]));
    let mut entry = Avc1::new(64, 64, AvcC::new(sps, pps).unwrap());
    entry.visual = entry.visual.with_compressorname("Lavc59.37.100 libx264");
    // ffmpeg's entry is 0xaf bytes: it appends `pasp` (1:1, 16 bytes) and `btrt` (20).
    let expected = hex(&[
        "0000008b 61766331", // size 139, 'avc1'
        &visual_fields("15 4c61766335392e33372e313030206c696278323634 00000000000000000000"),
        "00000035 61766343", // size 53, 'avcC'
        "01",                // configurationVersion
        "64 00 0a",          // profile 100 (High), compatibility 0, level 1.0: the SPS's
        "ff",                // reserved, lengthSizeMinusOne 3
        "e1",                // reserved, 1 SPS
        "0018",
        X264_SPS, // 24 bytes (an emulation prevention byte inside)
        "01 0006",
        X264_PPS,   // 1 PPS of 6 bytes
        "fd f8 f8", // chroma_format 1 (4:2:0), bit depths 8 and 8
        "00",       // no SPS extensions
    ]);
    assert_eq!(hex_of(&enc(&entry)), hex_of(&expected));
    assert_eq!(entry.avcc.rfc6381_codec(), "avc1.64000A");
}

const X265_VPS: &str = "40010c01ffff01600000030090000003000003001e959809";
const X265_SPS: &str =
    "42010101600000030090000003000003001ea020810596566924caf016808000000300800000030284";
const X265_PPS: &str = "4401c172b42240";

#[test]
fn hvc1_from_vps_sps_and_pps_as_ffmpeg_writes_it() {
    let nal = |h| Bytes::from(hex(&[h]));
    let hvcc = HvcC::new(nal(X265_VPS), nal(X265_SPS), nal(X265_PPS)).unwrap();
    let mut entry = Hvc1::new(64, 64, hvcc);
    entry.visual = entry.visual.with_compressorname("Lavc59.37.100 libx265");
    // ffmpeg's entry is 0xfa bytes: it appends `fiel` (10), `pasp` (16) and `btrt` (20).
    let expected = hex(&[
        "000000cc 68766331", // size 204, 'hvc1'
        &visual_fields("15 4c61766335392e33372e313030206c696278323635 00000000000000000000"),
        "00000076 68766343", // size 118, 'hvcC'
        "01",                // configurationVersion
        "01",                // profile space 0, tier 0, profile 1 (Main)
        "60000000",          // compatibility flags 1 and 2
        "900000000000",      // progressive source, frame only
        "1e",                // level 1.0 (30)
        "f000",              // reserved, min_spatial_segmentation_idc 0
        "fc",                // reserved, parallelismType 0
        "fd",                // reserved, chroma_format 1
        "f8 f8",             // reserved, bit depths 8 and 8
        "0000",              // avgFrameRate 0
        "0f",                // constantFrameRate 0, 1 temporal layer, nested, lengthSizeMinusOne 3
        "03",                // 3 arrays
        "a0 0001 0018",
        X265_VPS, // complete, VPS (32): one of 24 bytes
        "a1 0001 0029",
        X265_SPS, // complete, SPS (33): one of 41 bytes
        "a2 0001 0007",
        X265_PPS, // complete, PPS (34): one of 7 bytes
    ]);
    assert_eq!(hex_of(&enc(&entry)), hex_of(&expected));
}

/// ffmpeg writes every descriptor size in the 4-byte form (`80 80 80 NN`); this rewrites
/// an `esds` box's descriptors with the shortest form, which is what we write.
fn shorten_descriptor_sizes(esds: &[u8]) -> Vec<u8> {
    fn descriptors(mut data: &[u8], out: &mut Vec<u8>) {
        while let [tag, rest @ ..] = data {
            let (mut len, mut at) = (0usize, 0);
            loop {
                let b = rest[at];
                len = len << 7 | usize::from(b & 0x7f);
                at += 1;
                if b & 0x80 == 0 {
                    break;
                }
            }
            let body = &rest[at..at + len];
            let mut short = Vec::new();
            match tag {
                3 => short.extend_from_slice(&body[..3]), // ES_Descriptor's fields
                4 => short.extend_from_slice(&body[..13]), // DecoderConfigDescriptor's
                _ => short.extend_from_slice(body),
            }
            let fixed = short.len();
            if matches!(tag, 3 | 4) {
                descriptors(&body[fixed..], &mut short);
            }
            assert!(short.len() < 0x80, "short descriptors only");
            out.extend_from_slice(&[*tag, short.len() as u8]);
            out.extend_from_slice(&short);
            data = &rest[at + len..];
        }
    }
    let mut body = esds[8..12].to_vec(); // version and flags
    descriptors(&esds[12..], &mut body);
    let mut out = ((body.len() + 8) as u32).to_be_bytes().to_vec();
    out.extend_from_slice(b"esds");
    out.extend_from_slice(&body);
    out
}

#[test]
fn mp4a_from_audio_specific_config_as_ffmpeg_writes_it() {
    // ffmpeg's `esds` as it is in the file (ES_ID 1, ffmpeg's measured rates).
    let ffmpeg_esds = hex(&[
        "00000036 65736473 00000000",
        "03 80808025 0001 00",
        "04 80808017 40 15 000000 0001f400 0001f285",
        "05 80808005 119056e500",
        "06 80808001 02",
    ]);
    let asc = Bytes::from(hex(&["119056e500"])); // AAC-LC 48 kHz stereo, SBR signalling
    let mut entry = Mp4a::aac(asc).unwrap();
    entry.esds.es_descriptor.es_id = 1;
    let dc = &mut entry.esds.es_descriptor.decoder_config;
    (dc.buffer_size_db, dc.max_bitrate, dc.avg_bitrate) = (0, 128_000, 127_621);
    // ffmpeg's entry is 0x6e bytes: 12 more for the longer sizes, and `btrt` (20).
    let expected = hex(&[
        "0000004e 6d703461",          // size 78, 'mp4a'
        "000000000000 0001",          // reserved, data_reference_index 1
        "00000000 00000000",          // reserved
        "0002 0010",                  // channelcount 2, samplesize 16
        "0000 0000",                  // pre_defined, reserved
        "bb800000",                   // samplerate 48000 (16.16)
        "0000002a 65736473 00000000", // size 42, 'esds', version 0, flags 0
        "03 1c 0001 00",              // ES_Descriptor, 28 bytes: ES_ID 1, no flags, priority 0
        "04 14 40 15", // DecoderConfigDescriptor, 20 bytes: MPEG-4 audio, audio stream
        "000000 0001f400 0001f285", // bufferSizeDB, maxBitrate, avgBitrate
        "05 05 119056e500", // DecoderSpecificInfo: the AudioSpecificConfig
        "06 01 02",    // SLConfigDescriptor: predefined 2
    ]);
    let ours = enc(&entry);
    assert_eq!(hex_of(&ours), hex_of(&expected));
    assert_eq!(
        hex_of(&shorten_descriptor_sizes(&ffmpeg_esds)),
        hex_of(&ours[36..])
    );
}

#[test]
fn mp4a_defaults_are_what_rtsp_ingest_wrote_through_retina() {
    let entry = Mp4a::aac(Bytes::from_static(&[0x11, 0x90])).unwrap();
    let expected = hex(&[
        "0000004b 6d703461 000000000000 0001 00000000 00000000 0002 0010 0000 0000 bb800000",
        "00000027 65736473 00000000",
        "03 19 0000 00", // ES_Descriptor, 25 bytes: ES_ID 0, as in files
        "04 11 40 15 000600 0008ca00 00000000", // 1536-byte buffer, 576 kbit/s max, VBR
        "05 02 1190",
        "06 01 02",
    ]);
    assert_eq!(hex_of(&enc(&entry)), hex_of(&expected));
}

#[test]
fn mp4v_for_jpeg_as_ffmpeg_writes_it() {
    let ffmpeg_esds = hex(&[
        "0000002c 65736473 00000000",
        "03 8080801b 0001 00",
        "04 8080800d 6c 11 000000 00030d40 00017b18",
        "06 80808001 02",
    ]);
    let mut entry = Mp4v::jpeg(64, 64);
    entry.visual = entry.visual.with_compressorname("Lavc59.37.100 mjpeg");
    entry.esds.es_descriptor.es_id = 1;
    let dc = &mut entry.esds.es_descriptor.decoder_config;
    (dc.max_bitrate, dc.avg_bitrate) = (200_000, 97_048);
    // ffmpeg's entry is 0xb0 bytes: 9 more for the longer sizes, `fiel`, `pasp`, `btrt`.
    let expected = hex(&[
        "00000079 6d703476", // size 121, 'mp4v'
        &visual_fields("13 4c61766335392e33372e313030206d6a706567 000000000000000000000000"),
        "00000023 65736473 00000000", // size 35, 'esds'
        "03 15 0001 00",              // ES_Descriptor, 21 bytes
        "04 0d 6c 11",                // DecoderConfigDescriptor: JPEG, visual stream
        "000000 00030d40 00017b18",   // bufferSizeDB, maxBitrate, avgBitrate
        "06 01 02",                   // SLConfigDescriptor: predefined 2
    ]);
    let ours = enc(&entry);
    assert_eq!(hex_of(&ours), hex_of(&expected));
    assert_eq!(
        hex_of(&shorten_descriptor_sizes(&ffmpeg_esds)),
        hex_of(&ours[86..])
    );
}

#[test]
fn entries_read_back_with_their_fields() {
    let entry = Mp4v::jpeg(640, 360).to_bytes();
    let mut stsd = BytesMut::new();
    Stsd {
        entries: vec![
            entry,
            Mp4a::aac(Bytes::from_static(&[0x14, 0x08]))
                .unwrap()
                .to_bytes(),
        ],
    }
    .encode(&mut stsd);
    let raw = read::boxes(&stsd).next().unwrap().unwrap();
    let entries = read::parse_stsd(&raw).unwrap();
    assert_eq!(entries[0].visual.unwrap().width, 640);
    assert_eq!(entries[0].data_reference_index, 1);
    let audio = entries[1].audio.unwrap();
    assert_eq!(
        (audio.channel_count, audio.sample_rate_fixed >> 16),
        (1, 16_000)
    );
}

/// Hex for readable assertion failures.
fn hex_of(b: &[u8]) -> String {
    b.iter().map(|b| format!("{b:02x}")).collect()
}
