//! The reader: one hex-literal test per parsed box, and round trips against the encoders
//! (encode with this crate's box structs, read back with `read`, compare).

use bmff_boxes::read::{self, RawBox, ReadError};
use bmff_boxes::*;

/// The first box of `b`.
fn raw(b: &[u8]) -> RawBox<'_> {
    read::boxes(b).next().unwrap().unwrap()
}

#[test]
fn headers_largesize_size_zero_and_errors() {
    let large = [
        0, 0, 0, 1, b'm', b'd', b'a', b't', 0, 0, 0, 0, 0, 0, 0, 20, 1, 2, 3, 4,
    ];
    let h = read::header(&large, 0, 20).unwrap();
    assert_eq!((h.header_len, h.size, h.to_end), (16, 20, false));
    assert_eq!(raw(&large).payload, &[1, 2, 3, 4]);
    let to_end = [0, 0, 0, 0, b'm', b'd', b'a', b't', 9, 9];
    let h = read::header(&to_end, 40, 10).unwrap();
    assert_eq!((h.size, h.to_end, h.end()), (10, true, 50));
    assert_eq!(
        read::header(&[0, 0, 0, 4, b'f', b'r', b'e', b'e'], 0, 8),
        Err(ReadError::BadSize { offset: 0, size: 4 })
    );
    assert!(matches!(
        read::header(&[0, 0, 0, 1, b'm', b'd', b'a', b't', 0, 0], 0, 10),
        Err(ReadError::Truncated { needed: 16, .. })
    ));
    assert!(matches!(
        read::header(&[0, 0, 0, 9, 0xde, 0xad, 0xbe, 0xef], 0, 9),
        Err(ReadError::Garbage { .. })
    ));
}

#[test]
fn mvhd_tkhd_mdhd_from_hex() {
    let mut mvhd = vec![0, 0, 0, 108, b'm', b'v', b'h', b'd', 0, 0, 0, 0]; // v0
    mvhd.extend_from_slice(&[0, 0, 0, 1, 0, 0, 0, 2]); // creation, modification
    mvhd.extend_from_slice(&[0, 0, 3, 232, 0, 0, 1, 144]); // timescale 1000, duration 400
    mvhd.extend_from_slice(&[0; 76]); // rate, volume, reserved, matrix, pre_defined
    mvhd.extend_from_slice(&[0, 0, 0, 3]); // next_track_ID
    let m = read::parse_mvhd(&raw(&mvhd)).unwrap();
    assert_eq!(
        (
            m.creation_time,
            m.modification_time,
            m.timescale_hz,
            m.duration,
            m.next_track_id
        ),
        (1, 2, 1000, 400, 3)
    );
    // One byte too many: fixed-layout boxes are exact.
    let mut long = mvhd.clone();
    long[3] = 109;
    long.push(0);
    assert!(read::parse_mvhd(&raw(&long)).is_err());

    let mut tkhd = vec![0, 0, 0, 92, b't', b'k', b'h', b'd', 0, 0, 0, 3]; // v0, flags 3
    tkhd.extend_from_slice(&[0; 8]); // creation, modification
    tkhd.extend_from_slice(&[0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 1, 44]); // id 2, reserved, duration 300
    tkhd.extend_from_slice(&[0; 8]); // reserved
    tkhd.extend_from_slice(&[0, 0, 0, 0, 1, 0, 0, 0]); // layer, group, volume 1.0, reserved
    tkhd.extend_from_slice(&[0; 36]); // matrix
    tkhd.extend_from_slice(&[1, 64, 0, 0, 0, 240, 0, 0]); // width 320, height 240
    let t = read::parse_tkhd(&raw(&tkhd)).unwrap();
    assert_eq!(
        (t.flags, t.track_id, t.duration, t.volume),
        (3, 2, 300, 0x100)
    );
    assert_eq!((t.width(), t.height()), (320, 240));

    let mdhd = [
        0, 0, 0, 44, b'm', b'd', b'h', b'd', 1, 0, 0, 0, // v1
        0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, // creation, modification
        0, 1, 95, 144, // timescale 90000
        0, 0, 0, 1, 0, 0, 0, 0, // duration 2^32
        0x55, 0xc4, 0, 0, // language "und", pre_defined
    ];
    let m = read::parse_mdhd(&raw(&mdhd)).unwrap();
    assert_eq!(
        (m.version, m.timescale_hz, m.duration),
        (1, 90_000, 1 << 32)
    );
    assert_eq!(m.language, 0x55c4);
}

#[test]
fn elst_trex_and_tables_from_hex() {
    let elst = [
        0, 0, 0, 36, b'e', b'l', b's', b't', 1, 0, 0, 0, 0, 0, 0, 1, // v1, 1 entry
        0, 0, 0, 0, 0, 0, 0, 100, // segment_duration
        0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, // media_time -1 (empty)
        0, 1, 0, 0, // rate 1.0
    ];
    let e = read::parse_elst(&raw(&elst)).unwrap();
    assert_eq!(
        (e[0].segment_duration, e[0].media_time, e[0].media_rate),
        (100, -1, 0x10000)
    );

    let trex = [
        0, 0, 0, 32, b't', b'r', b'e', b'x', 0, 0, 0, 0, //
        0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 11, 184, 0, 0, 0, 0, 0, 1, 0,
        0, // id 1, sdi 1, dur 3000, size 0, non-sync
    ];
    let t = read::parse_trex(&raw(&trex)).unwrap();
    assert_eq!(
        (
            t.track_id,
            t.default_sample_duration,
            t.default_sample_flags
        ),
        (1, 3000, NON_SYNC_BIT)
    );

    // An stbl: stts, ctts v0 with an offset above i32::MAX (unsigned in version 0),
    // stss, stsc, stz2 with 4-bit sizes, co64.
    let stbl = [
        0, 0, 0, 150, b's', b't', b'b', b'l', //
        0, 0, 0, 24, b's', b't', b't', b's', 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 3, 0, 0, 0,
        10, // 3x10
        0, 0, 0, 24, b'c', b't', b't', b's', 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 3, 0x80, 0, 0,
        0, //
        0, 0, 0, 20, b's', b't', b's', b's', 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 1, // [1]
        0, 0, 0, 28, b's', b't', b's', b'c', 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 3, 0, 0,
        0, 1, 0, 0, 0, 22, b's', b't', b'z', b'2', 0, 0, 0, 0, 0, 0, 0, 4, 0, 0, 0, 3, 0x12,
        0x30, // 1, 2, 3
        0, 0, 0, 24, b'c', b'o', b'6', b'4', 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0,
        0, // 2^32
    ];
    let t = read::parse_stbl(&raw(&stbl)).unwrap();
    assert_eq!(t.stts_count(), 3);
    assert_eq!(t.durations(), vec![10, 10, 10]);
    assert_eq!(t.ctts.as_ref().unwrap()[0].sample_offset, 1 << 31);
    assert_eq!(t.stss, Some(vec![1]));
    assert_eq!(t.samples_per_chunk(1), Some(vec![3]));
    assert_eq!(t.sizes.entry_sizes, vec![1, 2, 3]);
    assert_eq!((t.size(2), t.sample_count()), (3, 3));
    assert_eq!(
        (t.chunk_offsets.clone(), &t.chunk_offset_box),
        (vec![1 << 32], b"co64")
    );
    // ctts version 1: the same bits are -2^31.
    let mut v1 = stbl;
    v1[40] = 1;
    let t = read::parse_stbl(&raw(&v1)).unwrap();
    assert_eq!(t.ctts.unwrap()[0].sample_offset, -(1 << 31));
    // A count the box cannot hold is refused before allocating.
    let stts = [
        0, 0, 0, 16, b's', b't', b't', b's', 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff,
    ];
    let mut bad = stbl.to_vec();
    bad.splice(8..32, stts.iter().copied());
    bad[3] = 142;
    let err = read::parse_stbl(&raw(&bad)).unwrap_err();
    assert!(
        err.to_string().contains("4294967295 entries of 8 bytes"),
        "{err}"
    );
}

#[test]
fn mfhd_tfhd_tfdt_trun_from_hex() {
    let mfhd = [0, 0, 0, 16, b'm', b'f', b'h', b'd', 0, 0, 0, 0, 0, 0, 0, 9];
    assert_eq!(read::parse_mfhd(&raw(&mfhd)), Ok(9));
    let tfhd = [
        0, 0, 0, 24, b't', b'f', b'h', b'd', 0, 2, 0, 0x28, // default-base-is-moof, 0x8, 0x20
        0, 0, 0, 1, 0, 0, 11, 184, 0, 1, 0, 0, // track 1, duration 3000, non-sync
    ];
    let t = read::parse_tfhd(&raw(&tfhd)).unwrap();
    assert!(t.default_base_is_moof && !t.duration_is_empty);
    assert_eq!(
        (t.default_sample_duration, t.default_sample_flags),
        (Some(3000), Some(NON_SYNC_BIT))
    );
    assert_eq!(t.default_sample_size, None);
    let tfdt = [
        0, 0, 0, 20, b't', b'f', b'd', b't', 1, 0, 0, 0, 0, 0, 0, 2, 0, 0, 0, 0,
    ];
    assert_eq!(read::parse_tfdt(&raw(&tfdt)), Ok(2 << 32));
    // Version 0: composition offsets are unsigned, 0xffffffff is 2^32 - 1.
    let trun = [
        0, 0, 0, 40, b't', b'r', b'u', b'n', 0, 0, 0x0a,
        0x05, // data_offset, first flags, size, cto
        0, 0, 0, 2, 0, 0, 0, 100, 0x02, 0, 0, 0, // 2 samples, data_offset 100, first flags
        0, 0, 0, 7, 0xff, 0xff, 0xff, 0xff, 0, 0, 0, 8, 0, 0, 0, 0,
    ];
    let r = read::parse_trun(&raw(&trun)).unwrap();
    assert_eq!(
        (r.version, r.data_offset, r.first_sample_flags),
        (0, Some(100), Some(0x0200_0000))
    );
    assert_eq!(r.samples[0].composition_offset, Some(u32::MAX.into()));
    assert_eq!((r.samples[1].size, r.samples[1].duration), (Some(8), None));
    // Version 1: signed, the same bits are -1.
    let mut v1 = trun;
    v1[8] = 1;
    assert_eq!(
        read::parse_trun(&raw(&v1)).unwrap().samples[0].composition_offset,
        Some(-1)
    );
    // An undefined tr_flag, and a table longer than the box.
    let mut odd = trun;
    odd[9] = 0x10;
    let err = read::parse_trun(&raw(&odd)).unwrap_err().to_string();
    assert!(err.contains("unknown tr_flags 0x100a05"), "{err}");
    let mut short = trun;
    short[15] = 3;
    assert!(read::parse_trun(&raw(&short)).is_err());
}

fn entry(fourcc: &[u8; 4]) -> Bytes {
    let mut v = vec![0, 0, 0, 0];
    v.extend_from_slice(fourcc);
    v.extend_from_slice(&[0, 0, 0, 0, 0, 0, 0, 1]); // reserved, data_reference_index 1
    v.extend_from_slice(&[0; 16]);
    v.extend_from_slice(&[1, 64, 0, 240]); // 320x240
    v.extend_from_slice(&[0; 46]);
    v.extend_from_slice(&[0, 0x18, 0xff, 0xff]); // depth, pre_defined
    v.extend_from_slice(&[0, 0, 0, 11, b'a', b'v', b'c', b'C', 1, 100, 0]); // a child
    let len = v.len() as u32;
    v[..4].copy_from_slice(&len.to_be_bytes());
    Bytes::from(v)
}

fn moov() -> Moov {
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
                    entries: vec![ElstEntry::empty(66), ElstEntry::media(334, 1500)],
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
                            entries: vec![entry(b"avc1")],
                        },
                        stts: Stts {
                            entries: vec![SttsEntry {
                                sample_count: 10,
                                sample_delta: 3000,
                            }],
                        },
                        ctts: Some(Ctts {
                            entries: vec![CttsEntry {
                                sample_count: 10,
                                sample_offset: -3000,
                            }],
                        }),
                        stss: Some(Stss {
                            sample_number: vec![1, 4],
                        }),
                        stsc: Stsc {
                            entries: vec![StscEntry {
                                first_chunk: 1,
                                samples_per_chunk: 10,
                                sample_description_index: 1,
                            }],
                        },
                        stsz: Stsz::from_sizes((0..10).map(|i| 1000 + i).collect()),
                        chunk_offsets: ChunkOffsets::from_offsets(vec![48, 5 << 32]),
                        sgpd: vec![],
                        sbgp: vec![],
                    },
                },
            },
        }],
        mvex: Some(Mvex {
            trex: vec![Trex {
                track_id: 1,
                default_sample_description_index: 1,
                default_sample_duration: 3000,
                default_sample_size: 0,
                default_sample_flags: NON_SYNC_BIT,
            }],
        }),
        udta: Some(Udta {
            children: vec![
                MetaItems {
                    items: vec![(DESC, "2026-11-30T07:00:00.123456789Z".to_owned())],
                }
                .to_bytes(),
            ],
        }),
    }
}

#[test]
fn moov_round_trip() {
    let src = moov();
    let bytes = src.to_bytes();
    let m = read::parse_moov(&raw(&bytes)).unwrap();
    assert_eq!(
        (m.mvhd.timescale_hz, m.mvhd.duration, m.mvhd.next_track_id),
        (1000, 400, 2)
    );
    // The user data comes back: its item's text, and the same bytes.
    assert_eq!(m.user_data.len(), 1);
    assert_eq!(&m.user_data[0].fourcc, b"meta");
    assert_eq!(
        m.user_data[0].items(),
        vec![(DESC, "2026-11-30T07:00:00.123456789Z".to_owned())]
    );
    let udta = src.udta.as_ref().unwrap();
    assert_eq!(m.user_data[0].to_box_bytes(), udta.children[0].to_vec());
    let t = &m.tracks[0];
    let s = &src.traks[0];
    assert_eq!(
        (t.track_id(), t.tkhd.duration, t.tkhd.width_fixed),
        (1, 400, s.tkhd.width)
    );
    assert_eq!((t.mdhd.timescale_hz, t.mdhd.duration), (90_000, 30_000));
    assert_eq!(&t.handler, b"vide");
    let edits = t.edits.as_ref().unwrap();
    assert_eq!(
        edits
            .iter()
            .map(|e| (e.segment_duration, e.media_time))
            .collect::<Vec<_>>(),
        vec![(66, -1), (334, 1500)]
    );
    let e = &t.sample_entries[0];
    assert_eq!(
        (&e.fourcc, &e.bytes[..]),
        (b"avc1", &s.mdia.minf.stbl.stsd.entries[0][..])
    );
    assert_eq!(e.data_reference_index, 1);
    assert_eq!(
        e.visual.map(|v| (v.width, v.height, v.depth)),
        Some((320, 240, 0x18))
    );
    let kids: Vec<_> = e.children().map(|c| c.unwrap().fourcc).collect();
    assert_eq!(kids, vec![*b"avcC"]);
    let stbl = &t.stbl;
    assert_eq!(stbl.durations(), vec![3000; 10]);
    assert_eq!(stbl.ctts.as_ref().unwrap()[0].sample_offset, -3000);
    assert_eq!(stbl.stss, Some(vec![1, 4]));
    assert_eq!(
        (0..10).map(|i| stbl.size(i)).collect::<Vec<_>>(),
        (1000..1010).collect::<Vec<_>>()
    );
    // An offset above 32 bits makes the encoder pick co64.
    assert_eq!(
        (&stbl.chunk_offset_box, &stbl.chunk_offsets[..]),
        (b"co64", &[48, 5 << 32][..])
    );
    assert_eq!(m.mvex.unwrap()[0].default_sample_flags, NON_SYNC_BIT);
}

#[test]
fn moof_round_trip_and_resolution() {
    let trun = |offsets: Vec<i32>, data_offset| Trun {
        data_offset: Some(data_offset),
        first_sample_flags: Some(0),
        fields: TrunFields {
            sample_duration: false,
            sample_size: true,
            sample_flags: false,
            sample_composition_time_offset: true,
        },
        samples: offsets
            .into_iter()
            .enumerate()
            .map(|(i, c)| TrunSample {
                sample_size: 10 + i as u32,
                sample_composition_time_offset: c,
                ..TrunSample::default()
            })
            .collect(),
    };
    let moof = Moof {
        mfhd: Mfhd { sequence_number: 3 },
        traf: vec![Traf {
            tfhd: Tfhd {
                track_id: 1,
                default_base_is_moof: true,
                default_sample_duration: Some(3000),
                ..Tfhd::default()
            },
            tfdt: Some(Tfdt {
                base_media_decode_time: 1 << 33,
            }),
            // Version 0 (offsets all non-negative) then version 1 (one negative).
            trun: vec![trun(vec![0, 6000], 200), trun(vec![-3000, 3000], 300)],
        }],
    };
    let bytes = moof.to_bytes();
    let mut file = vec![0; 1000];
    file.extend_from_slice(&bytes);
    let r = read::boxes_at(&file[1000..], 1000).next().unwrap().unwrap();
    let m = read::parse_moof(&r).unwrap();
    assert_eq!(
        (m.offset, m.size, m.sequence_number),
        (1000, bytes.len() as u64, 3)
    );
    let traf = &m.trafs[0];
    assert_eq!(traf.tfdt, Some(1 << 33));
    assert_eq!(
        traf.truns.iter().map(|t| t.version).collect::<Vec<_>>(),
        vec![0, 1]
    );
    let trex = [read::Trex {
        track_id: 1,
        default_sample_description_index: 1,
        default_sample_flags: NON_SYNC_BIT,
        ..read::Trex::default()
    }];
    let got = m.resolve(&trex).unwrap();
    let s = &got[0].samples;
    assert_eq!(got[0].sample_description_index, 1);
    assert_eq!(
        s.iter()
            .map(|s| (
                s.offset,
                s.size,
                s.duration,
                s.composition_offset,
                s.is_sync()
            ))
            .collect::<Vec<_>>(),
        vec![
            (1200, 10, 3000, 0, true),
            (1210, 11, 3000, 6000, false),
            (1300, 10, 3000, -3000, true),
            (1310, 11, 3000, 3000, false),
        ]
    );
    assert_eq!(
        m.resolve(&[]),
        Err(ReadError::NoTrex {
            offset: 1000,
            track_id: 1
        })
    );
}
