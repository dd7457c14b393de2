//! The catalog's queries against a plain model: the same records filtered and sorted in
//! memory.

mod common;

use std::time::Duration;

use catalog::retention::{self, Policy};
use catalog::{Catalog, FileRecord, WallTime, spans};
use common::{S, file};
use proptest::prelude::*;

/// Files of cameras `a`..`c`: `(camera, start_s, length_s, size)`, lengths up to 2 h.
fn records() -> impl Strategy<Value = Vec<FileRecord>> {
    prop::collection::vec((0usize..3, 0i64..20_000, 0i64..7200, 0u64..1000), 0..60).prop_map(
        |raw| {
            raw.into_iter()
                .enumerate()
                .map(|(i, (cam, start, len, size))| {
                    let mut f = file(["a", "b", "c"][cam], start, start + len, size);
                    f.path = format!("{}/{i}.mp4", f.camera).into();
                    f
                })
                .collect()
        },
    )
}

fn oldest_first(mut files: Vec<FileRecord>) -> Vec<FileRecord> {
    files.sort_by(|a, b| (a.end, a.start, &a.path).cmp(&(b.end, b.start, &b.path)));
    files
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn queries_match_the_model(
        records in records(),
        from_s in prop::option::of(-100i64..25_000),
        len_s in prop::option::of(0i64..10_000),
        now_s in 0i64..30_000,
        retain_for_s in prop::option::of(0u64..20_000),
        retain_size in prop::option::of(0u64..20_000),
        needed in 0u64..40_000,
    ) {
        let mut c = Catalog::open_in_memory().unwrap();
        c.upsert_many(&records).unwrap();
        let from = from_s.map(|s| WallTime(s * S));
        let to = len_s.map(|len| WallTime((from_s.unwrap_or(0) + len) * S));

        let mut expected: Vec<FileRecord> = records
            .iter()
            .filter(|f| from.is_none_or(|t| f.end > t) && to.is_none_or(|t| f.start < t))
            .cloned()
            .collect();
        if let (Some(from), Some(to)) = (from, to) && from >= to {
            expected.clear();
        }
        expected.sort_by(|a, b| (&a.camera, a.start, &a.path).cmp(&(&b.camera, b.start, &b.path)));
        prop_assert_eq!(&c.files(None, from, to).unwrap(), &expected);

        for cam in ["a", "b", "c"] {
            let own: Vec<FileRecord> = expected.iter().filter(|f| f.camera == cam).cloned().collect();
            prop_assert_eq!(&c.files(Some(cam), from, to).unwrap(), &own);
            prop_assert_eq!(c.spans(cam, from, to).unwrap(), spans(&own));

            let all: Vec<FileRecord> = records.iter().filter(|f| f.camera == cam).cloned().collect();
            let bytes: u64 = all.iter().map(|f| f.size_bytes).sum();
            prop_assert_eq!(c.camera_bytes(cam).unwrap(), bytes);
            let all = oldest_first(all);
            let got = c.oldest(Some(cam), 5).unwrap();
            prop_assert_eq!(got.iter().map(|f| (f.end, f.start)).collect::<Vec<_>>(),
                all.iter().take(5).map(|f| (f.end, f.start)).collect::<Vec<_>>());

            let policy = Policy {
                retain_for: retain_for_s.map(Duration::from_secs),
                retain_size,
            };
            let now = WallTime(now_s * S);
            let full = retention::plan(&c.oldest(Some(cam), usize::MAX).unwrap(), policy, now);
            prop_assert_eq!(c.plan_retention(cam, policy, now).unwrap(), full);
        }

        let all = oldest_first(records.clone());
        let got = c.oldest(None, 7).unwrap();
        prop_assert_eq!(got.iter().map(|f| (f.end, f.start)).collect::<Vec<_>>(),
            all.iter().take(7).map(|f| (f.end, f.start)).collect::<Vec<_>>());
        let free = c.plan_free(needed).unwrap();
        let model = retention::plan_free(&all, needed);
        prop_assert_eq!(free, model);

        let summaries = c.cameras().unwrap();
        for s in &summaries {
            let own: Vec<&FileRecord> = records.iter().filter(|f| f.camera == s.name).collect();
            prop_assert_eq!(s.files, own.len() as u64);
            prop_assert_eq!(s.first, own.iter().map(|f| f.start).min());
            prop_assert_eq!(s.last, own.iter().map(|f| f.end).max());
        }
        let mut names: Vec<&str> = records.iter().map(|f| f.camera.as_str()).collect();
        names.sort();
        names.dedup();
        prop_assert_eq!(summaries.iter().map(|s| s.name.as_str()).collect::<Vec<_>>(), names);
        prop_assert_eq!(c.paths().unwrap().len(), records.len());
    }
}

#[test]
fn a_long_file_long_before_the_range_is_found() {
    let mut c = Catalog::open_in_memory().unwrap();
    // A day-long file, then many short ones: the range query must still reach back a day.
    let mut records = vec![file("a", 0, 86_400, 1)];
    records.extend((0..100).map(|i| file("a", 86_400 + i * 60, 86_400 + (i + 1) * 60, 1)));
    c.upsert_many(&records).unwrap();
    let late = WallTime(80_000 * S);
    let got = c
        .files(Some("a"), Some(late), Some(WallTime(86_500 * S)))
        .unwrap();
    assert_eq!(got.len(), 3);
    assert_eq!(got[0].start, WallTime(0));
    // After the long file is removed, the bound stays (it only grows) and stays correct.
    assert!(c.remove(&records[0].path).unwrap());
    assert_eq!(
        c.files(Some("a"), Some(late), Some(WallTime(86_500 * S)))
            .unwrap()
            .len(),
        2
    );
}

#[test]
fn an_empty_or_inverted_range_is_empty() {
    let mut c = Catalog::open_in_memory().unwrap();
    c.upsert(&file("a", 0, 600, 1)).unwrap();
    assert!(
        c.files(None, Some(WallTime(10 * S)), Some(WallTime(10 * S)))
            .unwrap()
            .is_empty()
    );
    assert!(
        c.files(None, Some(WallTime(20 * S)), Some(WallTime(10 * S)))
            .unwrap()
            .is_empty()
    );
    assert!(c.files(Some("nobody"), None, None).unwrap().is_empty());
    // [600 s, ...) does not overlap a file ending at 600 s; [.., 0 s) neither.
    assert!(
        c.files(None, Some(WallTime(600 * S)), None)
            .unwrap()
            .is_empty()
    );
    assert!(c.files(None, None, Some(WallTime(0))).unwrap().is_empty());
}
