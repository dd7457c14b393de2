//! Building a movie fragment's header: the `moof` (`mfhd`, and per track a `traf` with
//! `tfhd`, `tfdt` and one `trun`) and the `mdat` header that follows it
//! (ISO/IEC 14496-12 §8.8).

use bmff_boxes::{BoxHeader, Encode, Mfhd, Moof, Tfdt, Tfhd, Traf, Trun, TrunFields, TrunSample};
use bytes::{Bytes, BytesMut};

use crate::moov::{NON_SYNC_SAMPLE_FLAGS, SYNC_SAMPLE_FLAGS};

/// One sample of a [`Run`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct RunSample {
    pub duration: u32,
    pub size: u32,
    pub is_sync: bool,
    pub cts_offset: i32,
}

/// One track's samples in a fragment, stored contiguously in its `mdat`.
#[derive(Clone, Debug)]
pub(crate) struct Run {
    pub track_id: u32,
    pub base_media_decode_time: u64,
    pub samples: Vec<RunSample>,
}

fn sample_flags(is_sync: bool) -> u32 {
    if is_sync {
        SYNC_SAMPLE_FLAGS
    } else {
        NON_SYNC_SAMPLE_FLAGS
    }
}

/// The `traf` of one run, with `data_offset` 0 (set later).
fn traf(run: &Run) -> Traf {
    let s = &run.samples;
    let first = s[0];
    let same_duration = s.iter().all(|x| x.duration == first.duration);
    let same_size = s.iter().all(|x| x.size == first.size);
    let flags_of_rest = s.get(1).map(|x| x.is_sync);
    let rest_same_flags = s[1..].iter().all(|x| Some(x.is_sync) == flags_of_rest);
    // Flags: one default for all; or a default for all but the first (the usual GOP:
    // a sync sample then non-sync ones); or per sample.
    let (default_flags, first_sample_flags, per_sample_flags) = match flags_of_rest {
        None => (Some(sample_flags(first.is_sync)), None, false),
        Some(rest) if rest_same_flags && rest == first.is_sync => {
            (Some(sample_flags(rest)), None, false)
        }
        Some(rest) if rest_same_flags => (
            Some(sample_flags(rest)),
            Some(sample_flags(first.is_sync)),
            false,
        ),
        Some(_) => (None, None, true),
    };
    let fields = TrunFields {
        sample_duration: !same_duration,
        sample_size: !same_size,
        sample_flags: per_sample_flags,
        sample_composition_time_offset: s.iter().any(|x| x.cts_offset != 0),
    };
    Traf {
        tfhd: Tfhd {
            track_id: run.track_id,
            default_sample_duration: same_duration.then_some(first.duration),
            default_sample_size: same_size.then_some(first.size),
            default_sample_flags: default_flags,
            default_base_is_moof: true,
            ..Tfhd::default()
        },
        tfdt: Some(Tfdt {
            base_media_decode_time: run.base_media_decode_time,
        }),
        trun: vec![Trun {
            data_offset: Some(0),
            first_sample_flags,
            fields,
            samples: s
                .iter()
                .map(|x| TrunSample {
                    sample_duration: x.duration,
                    sample_size: x.size,
                    sample_flags: sample_flags(x.is_sync),
                    sample_composition_time_offset: x.cts_offset,
                })
                .collect(),
        }],
    }
}

/// Encodes a fragment's `moof` and `mdat` header for `runs` stored one after the other in
/// the `mdat`, for a fragment at absolute `moof_offset`. Returns the header, the `moof`'s
/// length, and the absolute offset of each run's data.
///
/// Data offsets are relative to the `moof` (`default-base-is-moof`) unless the fragment
/// is too large for the signed 32-bit `trun.data_offset`; then every `tfhd` carries an
/// absolute `base_data_offset`.
pub(crate) fn fragment_header(
    sequence_number: u32,
    moof_offset: u64,
    runs: &[Run],
) -> (Bytes, u64, Vec<u64>) {
    let mut moof = Moof {
        mfhd: Mfhd { sequence_number },
        traf: runs.iter().map(traf).collect(),
    };
    let run_lens: Vec<u64> = runs
        .iter()
        .map(|r| r.samples.iter().map(|s| u64::from(s.size)).sum())
        .collect();
    let mdat = BoxHeader {
        fourcc: *b"mdat",
        payload_len: run_lens.iter().sum(),
    };
    let starts = |moof_len: u64| {
        let mut at = moof_len + mdat.encoded_len();
        run_lens
            .iter()
            .map(|len| {
                let start = at;
                at += len;
                start
            })
            .collect::<Vec<u64>>()
    };
    let mut relative = starts(moof.encoded_len());
    let fits = relative.last().is_none_or(|&o| o <= i32::MAX as u64);
    if !fits {
        for traf in &mut moof.traf {
            traf.tfhd.base_data_offset = Some(0); // same length as the real value
            traf.tfhd.default_base_is_moof = false;
        }
        relative = starts(moof.encoded_len());
    }
    for (traf, &rel) in moof.traf.iter_mut().zip(&relative) {
        if fits {
            traf.trun[0].data_offset = Some(rel as i32);
        } else {
            traf.tfhd.base_data_offset = Some(moof_offset + rel);
        }
    }
    let moof_len = moof.encoded_len();
    let len = moof_len + mdat.encoded_len();
    let mut out = BytesMut::with_capacity(usize::try_from(len).expect("fits in memory"));
    moof.encode(&mut out);
    mdat.encode(&mut out);
    debug_assert_eq!(out.len() as u64, len);
    let absolute = relative.iter().map(|r| moof_offset + r).collect();
    (out.freeze(), moof_len, absolute)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(track_id: u32, sizes: &[u32]) -> Run {
        Run {
            track_id,
            base_media_decode_time: 0,
            samples: sizes
                .iter()
                .map(|&size| RunSample {
                    duration: 10,
                    size,
                    is_sync: true,
                    cts_offset: 0,
                })
                .collect(),
        }
    }

    #[test]
    fn small_fragment_uses_moof_relative_offsets_and_a_compact_mdat() {
        let (header, moof_len, offsets) =
            fragment_header(1, 1000, &[run(1, &[5, 6]), run(2, &[7])]);
        assert_eq!(moof_len, header.len() as u64 - 8);
        let dump = bmff_boxes::dump::dump(&header[..header.len() - 8]).unwrap();
        // Track 1: sizes differ, so per-sample sizes; track 2: everything in the defaults.
        assert!(dump.contains("tfhd size=24 flags=0x20028 track_id=1 default_duration=10 "));
        assert!(dump.contains("trun size=28 v0 flags=0x201 samples=2"));
        assert!(dump.contains("tfhd size=28 flags=0x20038 track_id=2 default_duration=10 "));
        let moof_len = header.len() as u64 - 8;
        assert!(dump.contains(&format!("data_offset={}", moof_len + 8)));
        assert!(dump.contains(&format!("data_offset={}", moof_len + 8 + 11)));
        assert_eq!(
            &header[header.len() - 8..],
            &[0, 0, 0, 26, b'm', b'd', b'a', b't']
        );
        assert_eq!(offsets, vec![1000 + moof_len + 8, 1000 + moof_len + 8 + 11]);
    }

    #[test]
    fn huge_fragment_uses_a_largesize_mdat_and_absolute_base_offsets() {
        let big = u32::MAX;
        let at = 10_000_000_000u64;
        let (header, _, offsets) = fragment_header(7, at, &[run(1, &[big, big]), run(2, &[3])]);
        let moof = bmff_boxes::read::boxes(&header)
            .next()
            .unwrap()
            .map(|b| b.size())
            .unwrap_or(0);
        let (moof_bytes, mdat) = header.split_at(moof as usize);
        assert_eq!(mdat.len(), 16);
        assert_eq!(&mdat[..8], &[0, 0, 0, 1, b'm', b'd', b'a', b't']);
        let payload = 2 * u64::from(big) + 3;
        assert_eq!(&mdat[8..], &(payload + 16).to_be_bytes());
        let first = at + moof + 16;
        assert_eq!(offsets, vec![first, first + 2 * u64::from(big)]);
        let dump = bmff_boxes::dump::dump(moof_bytes).unwrap();
        assert!(dump.contains(&format!("flags=0x39 track_id=1 base_data_offset={first}")));
        assert!(dump.contains(&format!(
            "flags=0x39 track_id=2 base_data_offset={}",
            offsets[1]
        )));
        assert!(!dump.contains("data_offset=-"));
    }

    #[test]
    fn flags_default_first_and_per_sample() {
        let mut r = run(1, &[1, 1, 1]);
        let flags = |r: &Run| {
            let t = traf(r);
            (
                t.tfhd.default_sample_flags,
                t.trun[0].first_sample_flags,
                t.trun[0].fields.sample_flags,
            )
        };
        assert_eq!(flags(&r), (Some(SYNC_SAMPLE_FLAGS), None, false));
        r.samples[1].is_sync = false;
        r.samples[2].is_sync = false;
        assert_eq!(
            flags(&r),
            (Some(NON_SYNC_SAMPLE_FLAGS), Some(SYNC_SAMPLE_FLAGS), false)
        );
        r.samples[2].is_sync = true;
        assert_eq!(flags(&r), (None, None, true));
    }
}
