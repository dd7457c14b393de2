//! The independent dump parser: snapshots of small trees and its error reporting.

use bmff_boxes::dump::{self, DumpError, DumpOptions};
use bmff_boxes::*;

/// A 'mp4v' visual sample entry with an esds whose objectTypeIndication is 0x6C (JPEG).
fn mp4v_entry() -> Bytes {
    let mut v = Vec::new();
    v.extend_from_slice(&[0, 0, 0, 0]); // size, patched below
    v.extend_from_slice(b"mp4v");
    v.extend_from_slice(&[0; 6]); // reserved
    v.extend_from_slice(&1u16.to_be_bytes()); // data_reference_index
    v.extend_from_slice(&[0; 16]); // pre_defined, reserved, pre_defined[3]
    v.extend_from_slice(&320u16.to_be_bytes()); // width
    v.extend_from_slice(&240u16.to_be_bytes()); // height
    v.extend_from_slice(&0x0048_0000u32.to_be_bytes()); // horizresolution 72 dpi
    v.extend_from_slice(&0x0048_0000u32.to_be_bytes()); // vertresolution 72 dpi
    v.extend_from_slice(&[0; 4]); // reserved
    v.extend_from_slice(&1u16.to_be_bytes()); // frame_count
    v.extend_from_slice(&[0; 32]); // compressorname
    v.extend_from_slice(&0x18u16.to_be_bytes()); // depth
    v.extend_from_slice(&(-1i16).to_be_bytes()); // pre_defined
    let esds: &[u8] = &[
        0, 0, 0, 0x23, b'e', b's', b'd', b's', 0, 0, 0, 0, // size 35, type, version, flags
        0x03, 0x15, 0x00, 0x01, 0x00, // ES_Descriptor len 21, ES_ID 1, flags 0
        0x04, 0x0d, 0x6c, 0x11, // DecoderConfigDescriptor len 13, JPEG, visual stream
        0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, // buffer size, bitrates
        0x06, 0x01, 0x02, // SLConfigDescriptor: predefined 2
    ];
    v.extend_from_slice(esds);
    let len = v.len() as u32;
    v[..4].copy_from_slice(&len.to_be_bytes());
    Bytes::from(v)
}

fn small_moov() -> Moov {
    let sizes: Vec<u32> = (0..10).map(|i| 1000 + i).collect();
    Moov {
        mvhd: Mvhd::new(1000, 400, 2),
        traks: vec![Trak {
            tkhd: Tkhd {
                flags: Tkhd::ENABLED | Tkhd::IN_MOVIE,
                creation_time: 0,
                modification_time: 0,
                track_id: 1,
                duration: 400,
                layer: 0,
                alternate_group: 0,
                volume: 0,
                matrix: IDENTITY_MATRIX,
                width: 320 << 16,
                height: 240 << 16,
            },
            edts: Some(Edts {
                elst: Elst {
                    entries: vec![ElstEntry::empty(66), ElstEntry::media(334, 0)],
                },
            }),
            mdia: Mdia {
                mdhd: Mdhd {
                    creation_time: 0,
                    modification_time: 0,
                    timescale: 90_000,
                    duration: 30_000,
                    language: *b"und",
                },
                hdlr: Hdlr::video(),
                minf: Minf {
                    media_header: MediaHeader::Video(Vmhd::default()),
                    dinf: Dinf::default(),
                    stbl: Stbl {
                        stsd: Stsd {
                            entries: vec![mp4v_entry()],
                        },
                        stts: Stts {
                            entries: vec![SttsEntry {
                                sample_count: 10,
                                sample_delta: 3000,
                            }],
                        },
                        ctts: None,
                        stss: Some(Stss {
                            sample_number: vec![1, 4, 7, 10],
                        }),
                        stsc: Stsc {
                            entries: vec![StscEntry {
                                first_chunk: 1,
                                samples_per_chunk: 10,
                                sample_description_index: 1,
                            }],
                        },
                        stsz: Stsz::from_sizes(sizes),
                        chunk_offsets: ChunkOffsets::from_offsets(vec![48]),
                        sgpd: vec![],
                        sbgp: vec![],
                    },
                },
            },
        }],
        mvex: None,
        udta: None,
    }
}

#[test]
fn snapshot_moov() {
    let bytes = small_moov().to_bytes();
    insta::assert_snapshot!(dump::dump(&bytes).unwrap());
}

#[test]
fn snapshot_moof_with_offsets() {
    let moof = Moof {
        mfhd: Mfhd { sequence_number: 1 },
        traf: vec![Traf {
            tfhd: Tfhd {
                track_id: 1,
                default_sample_flags: Some(0x0101_0000),
                default_base_is_moof: true,
                ..Tfhd::default()
            },
            tfdt: Some(Tfdt {
                base_media_decode_time: 0x1_0000_0000,
            }),
            trun: vec![Trun {
                data_offset: Some(100),
                first_sample_flags: Some(0x0200_0000),
                fields: TrunFields {
                    sample_duration: true,
                    sample_size: true,
                    sample_flags: false,
                    sample_composition_time_offset: true,
                },
                samples: (0..5)
                    .map(|i| TrunSample {
                        sample_duration: 3000,
                        sample_size: 100 + i,
                        sample_flags: 0,
                        sample_composition_time_offset: if i % 2 == 0 { 3000 } else { -3000 },
                    })
                    .collect(),
            }],
        }],
    };
    let mut bytes = moof.to_bytes().to_vec();
    bytes.extend_from_slice(&MdatHeader { payload_len: 4 }.to_bytes());
    bytes.extend_from_slice(&[1, 2, 3, 4]);
    let opts = DumpOptions {
        max_entries: 2,
        show_offsets: true,
    };
    insta::assert_snapshot!(dump::dump_with(&bytes, opts).unwrap());
}

#[test]
fn unknown_boxes_print_fourcc_and_size() {
    let buf = [
        0, 0, 0, 12, b'a', b'b', b'c', b'd', 9, 9, 9, 9, // unknown box, opaque payload
        0, 0, 0, 8, b'f', b'r', b'e', b'e', // free
    ];
    assert_eq!(dump::dump(&buf).unwrap(), "abcd size=12\nfree size=8\n");
}

#[test]
fn truncation_and_garbage_are_errors() {
    let moov = small_moov().to_bytes();
    let cut = &moov[..moov.len() - 1];
    assert!(matches!(
        dump::dump(cut),
        Err(DumpError::Truncated { offset: 0, needed, available, .. })
            if needed == moov.len() as u64 && available == cut.len() as u64
    ));
    // Trailing bytes too short for a header.
    let mut tail = moov.to_vec();
    tail.extend_from_slice(&[0, 0, 0]);
    assert!(matches!(
        dump::dump(&tail),
        Err(DumpError::Truncated {
            needed: 8,
            available: 3,
            ..
        })
    ));
    // A non-printable type is garbage.
    let garbage = [0, 0, 0, 8, 0xde, 0xad, 0xbe, 0xef];
    assert_eq!(
        dump::dump(&garbage),
        Err(DumpError::Garbage {
            offset: 0,
            fourcc: r"\xde\xad\xbe\xef".into()
        })
    );
    // A size smaller than the header.
    let bad = [0, 0, 0, 4, b'f', b'r', b'e', b'e'];
    assert_eq!(
        dump::dump(&bad),
        Err(DumpError::BadSize { offset: 0, size: 4 })
    );
    // A table claiming more entries than its box holds.
    let stts = [0, 0, 0, 16, b's', b't', b't', b's', 0, 0, 0, 0, 0, 0, 0, 9];
    assert!(matches!(
        dump::dump(&stts),
        Err(DumpError::Malformed { .. })
    ));
}

#[test]
fn raw_boxes_expose_offsets_and_payloads() {
    let moov = small_moov().to_bytes();
    let top: Vec<_> = bmff_boxes::read::boxes(&moov)
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(top.len(), 1);
    assert_eq!(&top[0].fourcc, b"moov");
    let kids: Vec<_> = top[0].children().map(|b| b.unwrap().fourcc).collect();
    assert_eq!(kids, vec![*b"mvhd", *b"trak"]);
    let mvhd = top[0].children().next().unwrap().unwrap();
    assert_eq!(mvhd.offset, 8);
    assert_eq!(mvhd.size(), 108);
}

#[test]
fn prft_shows_its_times() {
    let mut buf = bytes::BytesMut::new();
    Prft {
        reference_track_id: 2,
        ntp_timestamp: (3_908_988_800 << 32) | 0x4000_0000,
        media_time: 90_000,
        flags: Prft::CAPTURE_TIME,
    }
    .encode(&mut buf);
    assert_eq!(
        dump::dump(&buf).unwrap(),
        "prft size=32 v1 flags=0x18 reference_track_ID=2 ntp=0xe8fe6f8040000000 \
         unix_ns=1700000000250000000 media_time=90000\n"
    );
}
