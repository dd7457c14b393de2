//! Byte-exact encodings of small boxes, one hex literal per field.

use bmff_boxes::*;
use bytes::BytesMut;

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

#[test]
fn ftyp() {
    let b = Ftyp {
        major_brand: *b"isom",
        minor_version: 512,
        compatible_brands: vec![*b"isom", *b"iso2", *b"avc1", *b"mp41"],
    };
    let expected = hex(&[
        "00000020", // size 32
        "66747970", // 'ftyp'
        "69736f6d", // major_brand 'isom'
        "00000200", // minor_version 512
        "69736f6d", // 'isom'
        "69736f32", // 'iso2'
        "61766331", // 'avc1'
        "6d703431", // 'mp41'
    ]);
    assert_eq!(enc(&b), expected);
}

#[test]
fn free() {
    let expected = hex(&[
        "0000000b", // size 11
        "66726565", // 'free'
        "000000",   // data
    ]);
    assert_eq!(enc(&Free { data_len: 3 }), expected);
}

#[test]
fn mdat_header_is_16_bytes_with_largesize() {
    let b = MdatHeader {
        payload_len: 0x1_0000_0000,
    };
    let expected = hex(&[
        "00000001",         // size 1: largesize follows
        "6d646174",         // 'mdat'
        "0000000100000010", // largesize = 4 GiB + 16
    ]);
    assert_eq!(enc(&b), expected);
    assert_eq!(MdatHeader::LEN, 16);
    assert_eq!(
        &expected[MdatHeader::LARGESIZE_OFFSET as usize..],
        &hex(&["0000000100000010"])[..]
    );
}

const MATRIX_HEX: &str = concat!(
    "00010000", "00000000", "00000000", // a b u
    "00000000", "00010000", "00000000", // c d v
    "00000000", "00000000", "40000000", // x y w
);

#[test]
fn mvhd_v0() {
    let mut b = Mvhd::new(1000, 10_000, 3);
    b.creation_time = 5;
    b.modification_time = 6;
    let expected = hex(&[
        "0000006c",         // size 108
        "6d766864",         // 'mvhd'
        "00000000",         // version 0, flags 0
        "00000005",         // creation_time
        "00000006",         // modification_time
        "000003e8",         // timescale 1000
        "00002710",         // duration 10000
        "00010000",         // rate 1.0
        "0100",             // volume 1.0
        "0000",             // reserved
        "0000000000000000", // reserved[2]
        MATRIX_HEX,
        "000000000000000000000000000000000000000000000000", // pre_defined[6]
        "00000003",                                         // next_track_ID
    ]);
    assert_eq!(enc(&b), expected);
}

#[test]
fn mvhd_v1_when_duration_exceeds_32_bits() {
    let b = Mvhd::new(1000, 0x1_0000_0001, 2);
    let expected = hex(&[
        "00000078",         // size 120
        "6d766864",         // 'mvhd'
        "01000000",         // version 1, flags 0
        "0000000000000000", // creation_time
        "0000000000000000", // modification_time
        "000003e8",         // timescale 1000
        "0000000100000001", // duration
        "00010000",         // rate
        "0100",             // volume
        "0000",             // reserved
        "0000000000000000", // reserved[2]
        MATRIX_HEX,
        "000000000000000000000000000000000000000000000000", // pre_defined[6]
        "00000002",                                         // next_track_ID
    ]);
    assert_eq!(enc(&b), expected);
}

fn tkhd(duration: u64) -> Tkhd {
    Tkhd {
        flags: Tkhd::ENABLED | Tkhd::IN_MOVIE,
        creation_time: 0,
        modification_time: 0,
        track_id: 1,
        duration,
        layer: 0,
        alternate_group: 0,
        volume: 0,
        matrix: IDENTITY_MATRIX,
        width: 640 << 16,
        height: 360 << 16,
    }
}

#[test]
fn tkhd_v0() {
    let expected = hex(&[
        "0000005c",         // size 92
        "746b6864",         // 'tkhd'
        "00000003",         // version 0, flags enabled|in_movie
        "00000000",         // creation_time
        "00000000",         // modification_time
        "00000001",         // track_ID
        "00000000",         // reserved
        "00002710",         // duration 10000
        "0000000000000000", // reserved[2]
        "0000",             // layer
        "0000",             // alternate_group
        "0000",             // volume
        "0000",             // reserved
        MATRIX_HEX,
        "02800000", // width 640.0
        "01680000", // height 360.0
    ]);
    assert_eq!(enc(&tkhd(10_000)), expected);
}

#[test]
fn tkhd_v1() {
    let expected = hex(&[
        "00000068",         // size 104
        "746b6864",         // 'tkhd'
        "01000003",         // version 1, flags 3
        "0000000000000000", // creation_time
        "0000000000000000", // modification_time
        "00000001",         // track_ID
        "00000000",         // reserved
        "0000000200000000", // duration
        "0000000000000000", // reserved[2]
        "0000000000000000", // layer, alternate_group, volume, reserved
        MATRIX_HEX,
        "02800000", // width
        "01680000", // height
    ]);
    assert_eq!(enc(&tkhd(0x2_0000_0000)), expected);
}

#[test]
fn edts_elst_v0_with_empty_edit() {
    let b = Edts {
        elst: Elst {
            entries: vec![ElstEntry::empty(500), ElstEntry::media(10_000, 1024)],
        },
    };
    let expected = hex(&[
        "00000030", // edts size 48
        "65647473", // 'edts'
        "00000028", // elst size 40
        "656c7374", // 'elst'
        "00000000", // version 0, flags 0
        "00000002", // entry_count
        "000001f4", // segment_duration 500
        "ffffffff", // media_time -1 (empty)
        "0001",     // media_rate_integer 1
        "0000",     // media_rate_fraction
        "00002710", // segment_duration 10000
        "00000400", // media_time 1024
        "0001",     // media_rate_integer
        "0000",     // media_rate_fraction
    ]);
    assert_eq!(enc(&b), expected);
}

#[test]
fn elst_v1() {
    let b = Elst {
        entries: vec![ElstEntry::media(0x1_0000_0000, 0)],
    };
    let expected = hex(&[
        "00000024",         // size 36
        "656c7374",         // 'elst'
        "01000000",         // version 1
        "00000001",         // entry_count
        "0000000100000000", // segment_duration
        "0000000000000000", // media_time 0
        "0001",             // media_rate_integer
        "0000",             // media_rate_fraction
    ]);
    assert_eq!(enc(&b), expected);
}

#[test]
fn mdhd_v0_und() {
    let b = Mdhd {
        creation_time: 0,
        modification_time: 0,
        timescale: 90_000,
        duration: 180_000,
        language: *b"und",
    };
    let expected = hex(&[
        "00000020", // size 32
        "6d646864", // 'mdhd'
        "00000000", // version 0
        "00000000", // creation_time
        "00000000", // modification_time
        "00015f90", // timescale 90000
        "0002bf20", // duration 180000
        "55c4",     // language 'und': (0x15<<10)|(0x0e<<5)|0x04
        "0000",     // pre_defined
    ]);
    assert_eq!(enc(&b), expected);
}

#[test]
fn hdlr_video() {
    let expected = hex(&[
        "0000002d",                   // size 45
        "68646c72",                   // 'hdlr'
        "00000000",                   // version, flags
        "00000000",                   // pre_defined
        "76696465",                   // handler_type 'vide'
        "000000000000000000000000",   // reserved[3]
        "566964656f48616e646c657200", // "VideoHandler\0"
    ]);
    assert_eq!(enc(&Hdlr::video()), expected);
}

#[test]
fn vmhd_smhd_dinf() {
    assert_eq!(
        enc(&Vmhd::default()),
        hex(&[
            "00000014",     // size 20
            "766d6864",     // 'vmhd'
            "00000001",     // version 0, flags 1
            "0000",         // graphicsmode
            "000000000000", // opcolor
        ])
    );
    assert_eq!(
        enc(&Smhd::default()),
        hex(&[
            "00000010", // size 16
            "736d6864", // 'smhd'
            "00000000", // version, flags
            "0000",     // balance
            "0000",     // reserved
        ])
    );
    assert_eq!(
        enc(&Dinf::default()),
        hex(&[
            "00000024", // dinf size 36
            "64696e66", // 'dinf'
            "0000001c", // dref size 28
            "64726566", // 'dref'
            "00000000", // version, flags
            "00000001", // entry_count
            "0000000c", // url size 12
            "75726c20", // 'url '
            "00000001", // flags 1: self-contained
        ])
    );
}

#[test]
fn stts_stss_stsc() {
    let stts = Stts {
        entries: vec![
            SttsEntry {
                sample_count: 2,
                sample_delta: 3000,
            },
            SttsEntry {
                sample_count: 1,
                sample_delta: 3003,
            },
        ],
    };
    assert_eq!(
        enc(&stts),
        hex(&[
            "00000020", // size 32
            "73747473", // 'stts'
            "00000000", // version, flags
            "00000002", // entry_count
            "00000002", // sample_count
            "00000bb8", // sample_delta 3000
            "00000001", // sample_count
            "00000bbb", // sample_delta 3003
        ])
    );
    let stss = Stss {
        sample_number: vec![1, 31],
    };
    assert_eq!(
        enc(&stss),
        hex(&[
            "00000018", // size 24
            "73747373", // 'stss'
            "00000000", // version, flags
            "00000002", // entry_count
            "00000001", // sample_number 1
            "0000001f", // sample_number 31
        ])
    );
    let stsc = Stsc {
        entries: vec![
            StscEntry {
                first_chunk: 1,
                samples_per_chunk: 5,
                sample_description_index: 1,
            },
            StscEntry {
                first_chunk: 4,
                samples_per_chunk: 2,
                sample_description_index: 2,
            },
        ],
    };
    assert_eq!(
        enc(&stsc),
        hex(&[
            "00000028", // size 40
            "73747363", // 'stsc'
            "00000000", // version, flags
            "00000002", // entry_count
            "00000001", // first_chunk
            "00000005", // samples_per_chunk
            "00000001", // sample_description_index
            "00000004", // first_chunk
            "00000002", // samples_per_chunk
            "00000002", // sample_description_index
        ])
    );
}

#[test]
fn stsz_constant_and_table() {
    let constant = Stsz::from_sizes(vec![512, 512, 512]);
    assert_eq!(
        enc(&constant),
        hex(&[
            "00000014", // size 20
            "7374737a", // 'stsz'
            "00000000", // version, flags
            "00000200", // sample_size 512
            "00000003", // sample_count 3
        ])
    );
    let table = Stsz::from_sizes(vec![100, 200]);
    assert_eq!(
        enc(&table),
        hex(&[
            "0000001c", // size 28
            "7374737a", // 'stsz'
            "00000000", // version, flags
            "00000000", // sample_size 0: table follows
            "00000002", // sample_count
            "00000064", // entry_size 100
            "000000c8", // entry_size 200
        ])
    );
    // All-zero sizes cannot use the constant form (0 means "table follows").
    assert_eq!(Stsz::from_sizes(vec![0, 0]).entry_size, vec![0, 0]);
}

#[test]
fn stco_and_co64_chosen_by_offsets() {
    let small = ChunkOffsets::from_offsets(vec![48, 0xffff_ffff]);
    assert_eq!(
        enc(&small),
        hex(&[
            "00000018", // size 24
            "7374636f", // 'stco'
            "00000000", // version, flags
            "00000002", // entry_count
            "00000030", // chunk_offset 48
            "ffffffff", // chunk_offset u32::MAX
        ])
    );
    let big = ChunkOffsets::from_offsets(vec![48, 0x1_0000_0000]);
    assert_eq!(
        enc(&big),
        hex(&[
            "00000020",         // size 32
            "636f3634",         // 'co64'
            "00000000",         // version, flags
            "00000002",         // entry_count
            "0000000000000030", // chunk_offset 48
            "0000000100000000", // chunk_offset 4 GiB
        ])
    );
}

#[test]
fn ctts_v0_and_v1() {
    let v0 = Ctts {
        entries: vec![CttsEntry {
            sample_count: 3,
            sample_offset: 6000,
        }],
    };
    assert_eq!(
        enc(&v0),
        hex(&[
            "00000018", // size 24
            "63747473", // 'ctts'
            "00000000", // version 0
            "00000001", // entry_count
            "00000003", // sample_count
            "00001770", // sample_offset 6000
        ])
    );
    let v1 = Ctts {
        entries: vec![CttsEntry {
            sample_count: 1,
            sample_offset: -3000,
        }],
    };
    assert_eq!(
        enc(&v1),
        hex(&[
            "00000018", // size 24
            "63747473", // 'ctts'
            "01000000", // version 1: signed offsets
            "00000001", // entry_count
            "00000001", // sample_count
            "fffff448", // sample_offset -3000
        ])
    );
}

#[test]
fn stsd_holds_opaque_entries() {
    let entry = Bytes::from_static(&[0, 0, 0, 8, b'a', b'b', b'c', b'd']);
    let b = Stsd {
        entries: vec![entry],
    };
    assert_eq!(
        enc(&b),
        hex(&[
            "00000018",         // size 24
            "73747364",         // 'stsd'
            "00000000",         // version, flags
            "00000001",         // entry_count
            "0000000861626364", // the entry, verbatim
        ])
    );
}

#[test]
fn sgpd_sbgp() {
    let sgpd = Sgpd {
        grouping_type: *b"roll",
        entries: vec![Bytes::from_static(&[0xff, 0xff])],
    };
    assert_eq!(
        enc(&sgpd),
        hex(&[
            "0000001a", // size 26
            "73677064", // 'sgpd'
            "01000000", // version 1
            "726f6c6c", // grouping_type 'roll'
            "00000002", // default_length 2
            "00000001", // entry_count
            "ffff",     // roll_distance -1
        ])
    );
    let sgpd_var = Sgpd {
        grouping_type: *b"roll",
        entries: vec![Bytes::from_static(&[1]), Bytes::from_static(&[2, 3])],
    };
    assert_eq!(sgpd_var.default_length(), 0);
    assert_eq!(sgpd_var.encoded_len(), 8 + 4 + 12 + (4 + 1) + (4 + 2));
    assert_eq!(enc(&sgpd_var).len(), 35);
    let sbgp = Sbgp {
        grouping_type: *b"roll",
        entries: vec![SbgpEntry {
            sample_count: 10,
            group_description_index: 1,
        }],
    };
    assert_eq!(
        enc(&sbgp),
        hex(&[
            "0000001c", // size 28
            "73626770", // 'sbgp'
            "00000000", // version 0
            "726f6c6c", // grouping_type
            "00000001", // entry_count
            "0000000a", // sample_count 10
            "00000001", // group_description_index
        ])
    );
}

#[test]
fn trex_mfhd() {
    let trex = Trex {
        track_id: 1,
        default_sample_description_index: 1,
        default_sample_duration: 3000,
        default_sample_size: 0,
        default_sample_flags: 0x0001_0000,
    };
    assert_eq!(
        enc(&trex),
        hex(&[
            "00000020", // size 32
            "74726578", // 'trex'
            "00000000", // version, flags
            "00000001", // track_ID
            "00000001", // default_sample_description_index
            "00000bb8", // default_sample_duration 3000
            "00000000", // default_sample_size
            "00010000", // default_sample_flags: non-sync
        ])
    );
    assert_eq!(
        enc(&Mfhd { sequence_number: 7 }),
        hex(&[
            "00000010", // size 16
            "6d666864", // 'mfhd'
            "00000000", // version, flags
            "00000007", // sequence_number
        ])
    );
}

#[test]
fn tfhd_flags_follow_fields() {
    let b = Tfhd {
        track_id: 2,
        default_sample_duration: Some(1024),
        default_sample_flags: Some(0x0200_0000),
        default_base_is_moof: true,
        ..Tfhd::default()
    };
    assert_eq!(
        enc(&b),
        hex(&[
            "00000018", // size 24
            "74666864", // 'tfhd'
            "00020028", // version 0, flags default-base-is-moof|duration|flags
            "00000002", // track_ID
            "00000400", // default_sample_duration 1024
            "02000000", // default_sample_flags: depends on no other
        ])
    );
    let with_base = Tfhd {
        track_id: 1,
        base_data_offset: Some(0x1_0000_0000),
        sample_description_index: Some(2),
        ..Tfhd::default()
    };
    assert_eq!(
        enc(&with_base),
        hex(&[
            "0000001c",         // size 28
            "74666864",         // 'tfhd'
            "00000003",         // flags base-data-offset|sample-description-index
            "00000001",         // track_ID
            "0000000100000000", // base_data_offset
            "00000002",         // sample_description_index
        ])
    );
}

#[test]
fn tfdt_v0_v1() {
    assert_eq!(
        enc(&Tfdt {
            base_media_decode_time: 90_000
        }),
        hex(&[
            "00000010", // size 16
            "74666474", // 'tfdt'
            "00000000", // version 0
            "00015f90", // base_media_decode_time 90000
        ])
    );
    assert_eq!(
        enc(&Tfdt {
            base_media_decode_time: 0x1_0000_0000
        }),
        hex(&[
            "00000014",         // size 20
            "74666474",         // 'tfdt'
            "01000000",         // version 1
            "0000000100000000", // base_media_decode_time
        ])
    );
}

#[test]
fn prft_v1() {
    assert_eq!(
        enc(&Prft {
            reference_track_id: 1,
            // 2023-11-14T22:13:20.5Z: 1_700_000_000 s after 1970, 2_208_988_800 more
            // after 1900, and half a second.
            ntp_timestamp: (3_908_988_800 << 32) | 0x8000_0000,
            media_time: 0x1_0000_0bb8,
            flags: Prft::CAPTURE_TIME,
        }),
        hex(&[
            "00000020",         // size 32
            "70726674",         // 'prft'
            "01000018",         // version 1, flags 0x18
            "00000001",         // reference_track_ID 1
            "e8fe6f8080000000", // ntp_timestamp 3908988800.5
            "0000000100000bb8", // media_time (64 bits in version 1)
        ])
    );
    assert_eq!(
        Prft::ntp_from_unix_nanos(1_700_000_000_500_000_000),
        (3_908_988_800 << 32) | 0x8000_0000
    );
    assert_eq!(
        Prft::unix_nanos_from_ntp((3_908_988_800 << 32) | 0x8000_0000),
        1_700_000_000_500_000_000
    );
    // Before 1970, and NTP era 0 only (1900 to 2036).
    assert_eq!(Prft::unix_nanos_from_ntp(0), -2_208_988_800_000_000_000);
    assert_eq!(Prft::ntp_from_unix_nanos(-2_208_988_801_000_000_000), 0);
}

#[test]
fn trun_fields_and_version() {
    let b = Trun {
        data_offset: Some(120),
        first_sample_flags: Some(0x0200_0000),
        fields: TrunFields {
            sample_duration: true,
            sample_size: true,
            sample_flags: false,
            sample_composition_time_offset: true,
        },
        samples: vec![
            TrunSample {
                sample_duration: 3000,
                sample_size: 500,
                sample_composition_time_offset: 3000,
                ..TrunSample::default()
            },
            TrunSample {
                sample_duration: 3000,
                sample_size: 100,
                sample_composition_time_offset: -3000,
                ..TrunSample::default()
            },
        ],
    };
    assert_eq!(
        enc(&b),
        hex(&[
            "00000030", // size 48
            "7472756e", // 'trun'
            "01000b05", // version 1 (negative offset); flags cto|size|duration|first-flags|offset
            "00000002", // sample_count
            "00000078", // data_offset 120
            "02000000", // first_sample_flags
            "00000bb8", // [0] duration 3000
            "000001f4", // [0] size 500
            "00000bb8", // [0] composition offset 3000
            "00000bb8", // [1] duration
            "00000064", // [1] size 100
            "fffff448", // [1] composition offset -3000
        ])
    );
}

#[test]
fn box_header_compact_and_large() {
    let h = BoxHeader {
        fourcc: *b"mdat",
        payload_len: 4,
    };
    let expected = hex(&[
        "0000000c", // size 12
        "6d646174", // 'mdat'
    ]);
    assert_eq!(enc(&h), expected);
    assert_eq!(h.box_len(), 12);

    let big = BoxHeader {
        fourcc: *b"mdat",
        payload_len: u64::from(u32::MAX),
    };
    let expected = hex(&[
        "00000001",         // size 1: largesize follows
        "6d646174",         // 'mdat'
        "000000010000000f", // largesize 2^32 - 1 + 16
    ]);
    assert_eq!(enc(&big), expected);
    assert_eq!(big.box_len(), u64::from(u32::MAX) + 16);
}

#[test]
fn box_header_for_a_given_box_len() {
    let free = |len| BoxHeader::with_box_len(*b"free", len);
    assert_eq!(free(7), None);
    assert_eq!(free(8).unwrap().payload_len, 0);
    assert_eq!(free(100).unwrap().box_len(), 100);
    let max32 = u64::from(u32::MAX);
    assert_eq!(free(max32).unwrap().encoded_len(), 8);
    for len in max32 + 1..=max32 + 8 {
        assert_eq!(free(len), None, "{len}");
    }
    let h = free(max32 + 9).unwrap();
    assert_eq!((h.encoded_len(), h.box_len()), (16, max32 + 9));
}
