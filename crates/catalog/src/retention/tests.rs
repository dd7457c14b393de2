use proptest::prelude::*;

use super::*;
use crate::testutil::{S, file};

const HOUR: i64 = 3600 * S;

/// Ten 1-hour files of camera `a`, 100 bytes each, oldest first, ending at hours 1..=10.
fn ten_hours() -> Vec<FileRecord> {
    (0..10)
        .map(|h| file("a", h * HOUR, (h + 1) * HOUR, 100))
        .collect()
}

fn paths(plan: &[Deletion]) -> Vec<String> {
    plan.iter()
        .map(|d| d.path.to_string_lossy().into_owned())
        .collect()
}

fn policy(retain_for_h: Option<u64>, retain_size: Option<u64>) -> Policy {
    Policy {
        retain_for: retain_for_h.map(|h| Duration::from_secs(h * 3600)),
        retain_size,
    }
}

#[test]
fn no_policy_deletes_nothing() {
    assert!(plan(&ten_hours(), Policy::default(), WallTime(100 * HOUR)).is_empty());
    assert!(plan(&[], policy(Some(1), Some(0)), WallTime(100 * HOUR)).is_empty());
}

#[test]
fn age_deletes_files_that_ended_before_the_cutoff() {
    let files = ten_hours();
    // Now is hour 10.5, keep 3 h: the cutoff is 7.5 h; files ending at 1..=7 h go.
    let now = WallTime(10 * HOUR + HOUR / 2);
    let plan = plan(&files, policy(Some(3), None), now);
    assert_eq!(plan.len(), 7);
    assert_eq!(paths(&plan), paths_of(&files[..7]));
    let cutoff = WallTime(7 * HOUR + HOUR / 2);
    assert_eq!(
        plan[6].reason,
        Reason::Age {
            end: WallTime(7 * HOUR),
            cutoff
        }
    );
    assert_eq!((plan[0].camera.as_str(), plan[0].size_bytes), ("a", 100));
}

fn paths_of(files: &[FileRecord]) -> Vec<String> {
    files
        .iter()
        .map(|f| f.path.to_string_lossy().into_owned())
        .collect()
}

#[test]
fn a_file_ending_exactly_at_the_cutoff_stays() {
    let files = ten_hours();
    let plan = plan(&files, policy(Some(3), None), WallTime(10 * HOUR));
    // Cutoff 7 h: the file ending at 7 h is not older than it.
    assert_eq!(plan.len(), 6);
}

#[test]
fn age_may_delete_the_newest_file() {
    let files = ten_hours();
    let plan = plan(&files, policy(Some(1), None), WallTime(20 * HOUR));
    assert_eq!(plan.len(), 10);
}

#[test]
fn size_deletes_oldest_until_within_the_limit() {
    let files = ten_hours();
    // 1000 bytes held, 650 allowed: 350 over, so four files (400 bytes) go.
    let plan = plan(&files, policy(None, Some(650)), WallTime(10 * HOUR));
    assert_eq!(paths(&plan), paths_of(&files[..4]));
    assert_eq!(
        plan[0].reason,
        Reason::Size {
            camera_bytes: 1000,
            retain_size: 650
        }
    );
    let left: u64 = 1000 - freed_bytes(&plan);
    assert!(left <= 650 && left + 100 > 650, "{left}");
    // Exactly at the limit: nothing goes.
    assert!(super::plan(&files, policy(None, Some(1000)), WallTime(0)).is_empty());
}

#[test]
fn size_never_deletes_the_newest_file() {
    let files = ten_hours();
    let plan = plan(&files, policy(None, Some(0)), WallTime(10 * HOUR));
    assert_eq!(paths(&plan), paths_of(&files[..9]));
    let one = &files[..1];
    assert!(super::plan(one, policy(None, Some(0)), WallTime(0)).is_empty());
}

#[test]
fn files_deleted_by_age_count_toward_the_size_limit() {
    let files = ten_hours();
    // Cutoff 2.5 h: two files go by age (200 bytes); the limit of 700 needs one more by size.
    let plan = plan(
        &files,
        policy(Some(8), Some(700)),
        WallTime(10 * HOUR + HOUR / 2),
    );
    let reasons: Vec<bool> = plan
        .iter()
        .map(|d| matches!(d.reason, Reason::Age { .. }))
        .collect();
    assert_eq!(reasons, [true, true, false]);
    assert_eq!(freed_bytes(&plan), 300);
}

#[test]
fn plan_free_takes_the_oldest_across_cameras_until_enough() {
    let mut files = vec![
        file("a", 0, HOUR, 100),
        file("b", 0, 2 * HOUR, 50),
        file("a", HOUR, 3 * HOUR, 100),
        file("b", 2 * HOUR, 4 * HOUR, 50),
    ];
    let plan = plan_free(&files, 120);
    assert_eq!(paths(&plan), paths_of(&files[..2]));
    assert_eq!(plan[1].reason, Reason::FreeSpace { bytes_needed: 120 });
    assert!(plan_free(&files, 0).is_empty());
    // Exactly the first file's size: one file.
    assert_eq!(plan_free(&files, 100).len(), 1);
    // More than everything: everything, even each camera's newest.
    assert_eq!(plan_free(&files, 10_000).len(), 4);
    files.clear();
    assert!(plan_free(&files, 1).is_empty());
}

#[test]
fn min_free_in_bytes_and_percent() {
    assert_eq!(MinFree::Bytes(10).bytes(1_000), 10);
    assert_eq!(MinFree::Percent(5.0).bytes(1_000), 50);
    // Rounded up: 5 % of 1001 is 50.05.
    assert_eq!(MinFree::Percent(5.0).bytes(1_001), 51);
    assert_eq!(MinFree::Percent(150.0).bytes(1_000), 1_000);
    assert_eq!(MinFree::Percent(-3.0).bytes(1_000), 0);
    assert_eq!(MinFree::Percent(f64::NAN).bytes(1_000), 0);
    assert_eq!(MinFree::Percent(100.0).bytes(u64::MAX), u64::MAX);
    assert_eq!(MinFree::Bytes(100).bytes_needed(1_000, 30), 70);
    assert_eq!(MinFree::Bytes(100).bytes_needed(1_000, 300), 0);
}

#[test]
fn reasons_read_well_in_a_log() {
    let age = Reason::Age {
        end: WallTime(0),
        cutoff: WallTime(HOUR),
    };
    assert_eq!(
        age.to_string(),
        "older than retain_for: ended 1970-01-01T00:00:00Z, before 1970-01-01T01:00:00Z"
    );
    let size = Reason::Size {
        camera_bytes: 12,
        retain_size: 10,
    };
    assert_eq!(
        size.to_string(),
        "over retain_size: camera holds 12 bytes, limit 10"
    );
    assert_eq!(
        Reason::FreeSpace { bytes_needed: 7 }.to_string(),
        "low free space: 7 bytes needed"
    );
}

proptest! {
    /// Against a direct reading of the rules: what remains is within the limits, and no
    /// kept file is older than a deleted one.
    #[test]
    fn plan_keeps_exactly_what_the_rules_keep(
        sizes in prop::collection::vec(0u64..1000, 0..40),
        retain_for_h in prop::option::of(0u64..50),
        retain_size in prop::option::of(0u64..20_000),
        now_h in 0i64..60,
    ) {
        let files: Vec<FileRecord> = sizes
            .iter()
            .enumerate()
            .map(|(i, &size)| file("a", i as i64 * HOUR, (i as i64 + 1) * HOUR, size))
            .collect();
        let now = WallTime(now_h * HOUR);
        let policy = policy(retain_for_h, retain_size);
        let plan = plan(&files, policy, now);
        // Deletions are a prefix of the files, in order.
        prop_assert_eq!(paths(&plan), paths_of(&files[..plan.len()]));
        let kept = &files[plan.len()..];
        let kept_bytes: u64 = kept.iter().map(|f| f.size_bytes).sum();
        if let Some(age) = policy.retain_for {
            let cutoff = now.saturating_sub(age);
            prop_assert!(kept.iter().all(|f| f.end >= cutoff));
        }
        if let Some(limit) = retain_size {
            prop_assert!(kept_bytes <= limit || kept.len() == 1, "{} > {}", kept_bytes, limit);
        }
        // Minimal: the last deletion was needed by one of the rules.
        if let Some(last) = plan.last() {
            let before_last = kept_bytes + last.size_bytes;
            let needed = match last.reason {
                Reason::Age { end, cutoff } => end < cutoff,
                Reason::Size { retain_size, .. } => before_last > retain_size,
                Reason::FreeSpace { .. } => false,
            };
            prop_assert!(needed);
        }
    }

    #[test]
    fn plan_free_frees_enough_with_the_fewest_oldest_files(
        sizes in prop::collection::vec(0u64..1000, 0..40),
        needed in 0u64..30_000,
    ) {
        let files: Vec<FileRecord> = sizes
            .iter()
            .enumerate()
            .map(|(i, &size)| file(if i % 3 == 0 { "a" } else { "b" }, 0, i as i64 * HOUR, size))
            .collect();
        let plan = plan_free(&files, needed);
        let total: u64 = sizes.iter().sum();
        let freed = freed_bytes(&plan);
        prop_assert_eq!(paths(&plan), paths_of(&files[..plan.len()]));
        prop_assert!(freed >= needed.min(total));
        if !plan.is_empty() {
            prop_assert!(freed - plan[plan.len() - 1].size_bytes < needed);
        }
        // The same from a prefix that holds enough.
        let prefix = &files[..plan.len()];
        if freed >= needed {
            prop_assert_eq!(plan_free(prefix, needed), plan);
        }
    }
}
