//! `encoded_len` agrees with `encode` for every box, over random table contents; and the
//! independent dump parser accepts everything the encoders produce.

use bmff_boxes::*;
use bytes::BytesMut;
use proptest::prelude::*;

/// A small deterministic generator (xorshift64*), so that one proptest seed gives one tree.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    fn bool(&mut self) -> bool {
        self.next() & 1 == 1
    }
    /// Either a small value or one needing 64 bits.
    fn time(&mut self) -> u64 {
        if self.below(4) == 0 {
            self.next()
        } else {
            self.below(1 << 20)
        }
    }
    fn vec<T>(&mut self, max: u64, mut f: impl FnMut(&mut Self) -> T) -> Vec<T> {
        let n = self.below(max + 1);
        (0..n).map(|_| f(self)).collect()
    }
    fn bytes(&mut self, max: u64) -> Bytes {
        Bytes::from(self.vec(max, |r| r.next() as u8))
    }
}

fn check<T: Encode>(b: &T) -> Vec<u8> {
    let mut out = BytesMut::new();
    b.encode(&mut out);
    assert_eq!(out.len() as u64, b.encoded_len());
    assert_eq!(b.to_bytes().len() as u64, b.encoded_len());
    out.to_vec()
}

/// A sample entry box: type + arbitrary payload (opaque to the encoder).
fn sample_entry(r: &mut Rng) -> Bytes {
    let payload = r.bytes(40);
    let mut v = Vec::with_capacity(8 + payload.len());
    v.extend_from_slice(&(8 + payload.len() as u32).to_be_bytes());
    v.extend_from_slice(b"xent");
    v.extend_from_slice(&payload);
    Bytes::from(v)
}

fn stbl(r: &mut Rng) -> Stbl {
    let sizes = if r.bool() {
        vec![7; r.below(20) as usize]
    } else {
        r.vec(50, |r| r.next() as u32)
    };
    Stbl {
        stsd: Stsd {
            entries: r.vec(3, sample_entry),
        },
        stts: Stts {
            entries: r.vec(20, |r| SttsEntry {
                sample_count: r.next() as u32,
                sample_delta: r.next() as u32,
            }),
        },
        ctts: r.bool().then(|| Ctts {
            entries: r.vec(20, |r| CttsEntry {
                sample_count: r.next() as u32,
                sample_offset: r.next() as i32,
            }),
        }),
        stss: r.bool().then(|| Stss {
            sample_number: r.vec(20, |r| r.next() as u32),
        }),
        stsc: Stsc {
            entries: r.vec(20, |r| StscEntry {
                first_chunk: r.next() as u32,
                samples_per_chunk: r.next() as u32,
                sample_description_index: r.next() as u32,
            }),
        },
        stsz: Stsz::from_sizes(sizes),
        chunk_offsets: ChunkOffsets::from_offsets(r.vec(20, |r| r.time())),
        sgpd: r.vec(2, |r| Sgpd {
            grouping_type: *b"roll",
            entries: r.vec(3, |r| r.bytes(4)),
        }),
        sbgp: r.vec(2, |r| Sbgp {
            grouping_type: *b"roll",
            entries: r.vec(5, |r| SbgpEntry {
                sample_count: r.next() as u32,
                group_description_index: r.next() as u32,
            }),
        }),
    }
}

fn trak(r: &mut Rng) -> Trak {
    let video = r.bool();
    Trak {
        tkhd: Tkhd {
            flags: Tkhd::ENABLED | Tkhd::IN_MOVIE,
            creation_time: r.time(),
            modification_time: r.time(),
            track_id: r.next() as u32,
            duration: r.time(),
            layer: 0,
            alternate_group: 0,
            volume: if video { 0 } else { 0x100 },
            matrix: IDENTITY_MATRIX,
            width: r.next() as u32,
            height: r.next() as u32,
        },
        edts: r.bool().then(|| Edts {
            elst: Elst {
                entries: r.vec(3, |r| {
                    if r.bool() {
                        ElstEntry::empty(r.time())
                    } else {
                        ElstEntry::media(r.time(), r.time() as i64)
                    }
                }),
            },
        }),
        mdia: Mdia {
            mdhd: Mdhd {
                creation_time: r.time(),
                modification_time: r.time(),
                timescale: r.next() as u32,
                duration: r.time(),
                language: *b"und",
            },
            hdlr: if video { Hdlr::video() } else { Hdlr::sound() },
            minf: Minf {
                media_header: if video {
                    MediaHeader::Video(Vmhd::default())
                } else {
                    MediaHeader::Sound(Smhd::default())
                },
                dinf: Dinf::default(),
                stbl: stbl(r),
            },
        },
    }
}

fn moov(r: &mut Rng) -> Moov {
    let mut mvhd = Mvhd::new(r.next() as u32, r.time(), r.next() as u32);
    mvhd.creation_time = r.time();
    Moov {
        mvhd,
        traks: r.vec(3, trak),
        mvex: r.bool().then(|| Mvex {
            trex: r.vec(3, |r| Trex {
                track_id: r.next() as u32,
                default_sample_description_index: 1,
                default_sample_duration: r.next() as u32,
                default_sample_size: r.next() as u32,
                default_sample_flags: r.next() as u32,
            }),
        }),
        udta: r.bool().then(|| Udta {
            children: r.vec(2, |r| {
                MetaItems {
                    items: vec![(DESC, "x".repeat(r.next() as usize % 40))],
                }
                .to_bytes()
            }),
        }),
    }
}

fn opt32(r: &mut Rng) -> Option<u32> {
    r.bool().then(|| r.next() as u32)
}

fn moof(r: &mut Rng) -> Moof {
    Moof {
        mfhd: Mfhd {
            sequence_number: r.next() as u32,
        },
        traf: r.vec(3, |r| Traf {
            tfhd: Tfhd {
                track_id: r.next() as u32,
                base_data_offset: r.bool().then(|| r.next()),
                sample_description_index: opt32(r),
                default_sample_duration: opt32(r),
                default_sample_size: opt32(r),
                default_sample_flags: opt32(r),
                duration_is_empty: r.bool(),
                default_base_is_moof: r.bool(),
            },
            tfdt: r.bool().then(|| Tfdt {
                base_media_decode_time: r.time(),
            }),
            trun: r.vec(3, |r| Trun {
                data_offset: r.bool().then(|| r.next() as i32),
                first_sample_flags: opt32(r),
                fields: TrunFields {
                    sample_duration: r.bool(),
                    sample_size: r.bool(),
                    sample_flags: r.bool(),
                    sample_composition_time_offset: r.bool(),
                },
                samples: r.vec(20, |r| TrunSample {
                    sample_duration: r.next() as u32,
                    sample_size: r.next() as u32,
                    sample_flags: r.next() as u32,
                    sample_composition_time_offset: r.next() as i32,
                }),
            }),
        }),
    }
}

/// Checks every box of the tree individually, then the whole.
fn check_moov(m: &Moov) -> Vec<u8> {
    check(&m.mvhd);
    for t in &m.traks {
        check(&t.tkhd);
        if let Some(e) = &t.edts {
            check(e);
            check(&e.elst);
        }
        let md = &t.mdia;
        check(&md.mdhd);
        check(&md.hdlr);
        check(&md.minf.media_header);
        check(&md.minf.dinf);
        check(&md.minf.dinf.dref);
        let s = &md.minf.stbl;
        check(&s.stsd);
        check(&s.stts);
        check(&s.ctts);
        check(&s.stss);
        check(&s.stsc);
        check(&s.stsz);
        check(&s.chunk_offsets);
        s.sgpd.iter().for_each(|b| drop(check(b)));
        s.sbgp.iter().for_each(|b| drop(check(b)));
        check(s);
        check(&md.minf);
        check(md);
        check(t);
    }
    if let Some(x) = &m.mvex {
        x.trex.iter().for_each(|b| drop(check(b)));
        check(x);
    }
    check(m)
}

fn check_moof(m: &Moof) -> Vec<u8> {
    check(&m.mfhd);
    for t in &m.traf {
        check(&t.tfhd);
        check(&t.tfdt);
        t.trun.iter().for_each(|b| drop(check(b)));
        check(t);
    }
    check(m)
}

proptest! {
    #[test]
    fn encoded_len_matches_encode(seed in 1u64..) {
        let mut r = Rng(seed);
        let moov_bytes = check_moov(&moov(&mut r));
        let moof_bytes = check_moof(&moof(&mut r));
        check(&Ftyp { major_brand: *b"isom", minor_version: 0, compatible_brands: r.vec(5, |_| *b"mp41") });
        check(&Free { data_len: r.below(100) as u32 });
        check(&MdatHeader { payload_len: r.time() });
        // The independent parser walks the whole tree without error.
        let moov_head = format!("moov size={}", moov_bytes.len());
        prop_assert!(dump::dump(&moov_bytes).unwrap().starts_with(&moov_head));
        let moof_head = format!("moof size={}", moof_bytes.len());
        prop_assert!(dump::dump(&moof_bytes).unwrap().starts_with(&moof_head));
    }
}
