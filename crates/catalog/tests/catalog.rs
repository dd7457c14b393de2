//! The catalog on disk: creating, reopening, telling corrupt files apart, and writes.

mod common;

use std::path::{Path, PathBuf};

use catalog::{Catalog, EndReason, Error, FileRecord, OpenOptions, WallTime};
use common::{S, file};

fn temp() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("catalog.db");
    (dir, path)
}

#[test]
fn creates_then_reopens_with_the_records() {
    let (_dir, path) = temp();
    let mut records = vec![file("door", 0, 600, 10), file("yard", 0, 600, 20)];
    records[1].video = None;
    records[1].end_reason = EndReason::Gap;
    {
        let mut c = Catalog::open(&path).unwrap();
        assert_eq!(c.path(), path);
        c.upsert_many(&records).unwrap();
    }
    let c = Catalog::open(&path).unwrap();
    assert_eq!(c.files(None, None, None).unwrap(), records);
    // WAL mode, a schema version, and a readable view for sqlite3 users.
    let conn = rusqlite::Connection::open(&path).unwrap();
    let mode: String = conn
        .query_row("PRAGMA journal_mode", [], |r| r.get(0))
        .unwrap();
    assert_eq!(mode, "wal");
    let version: i32 = conn
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .unwrap();
    assert_eq!(version, catalog::SCHEMA_VERSION);
    let (start, reason): (String, String) = conn
        .query_row(
            "SELECT start, end_reason FROM file_view WHERE camera = 'yard'",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    assert_eq!(
        (start.as_str(), reason.as_str()),
        ("1970-01-01T00:00:00.000Z", "gap")
    );
}

fn corrupt_reason(path: &Path) -> String {
    match Catalog::open(path) {
        Err(Error::Corrupt { path: p, reason }) => {
            assert_eq!(p, path);
            reason
        }
        other => panic!("expected Corrupt, got {other:?}"),
    }
}

#[test]
fn garbage_is_corrupt() {
    let (_dir, path) = temp();
    std::fs::write(&path, vec![0x5a; 8192]).unwrap();
    let reason = corrupt_reason(&path);
    assert!(reason.contains("not an sqlite database"), "{reason}");
    let err = Catalog::open(&path).unwrap_err();
    assert!(err.is_corrupt());
    assert!(err.to_string().starts_with("catalog "), "{err}");
}

#[test]
fn another_applications_database_is_corrupt() {
    let (_dir, path) = temp();
    let conn = rusqlite::Connection::open(&path).unwrap();
    conn.execute_batch("CREATE TABLE notes (body TEXT)")
        .unwrap();
    drop(conn);
    assert!(corrupt_reason(&path).contains("application id"));
}

#[test]
fn a_newer_schema_version_is_corrupt() {
    let (_dir, path) = temp();
    drop(Catalog::open(&path).unwrap());
    let conn = rusqlite::Connection::open(&path).unwrap();
    conn.pragma_update(None, "user_version", 2).unwrap();
    drop(conn);
    assert_eq!(
        corrupt_reason(&path),
        "schema version 2, this version reads 1"
    );
}

#[test]
fn a_changed_table_is_corrupt() {
    let (_dir, path) = temp();
    drop(Catalog::open(&path).unwrap());
    let conn = rusqlite::Connection::open(&path).unwrap();
    conn.execute_batch("ALTER TABLE camera ADD COLUMN extra INTEGER")
        .unwrap();
    drop(conn);
    assert!(corrupt_reason(&path).contains("table camera has columns"));
}

#[test]
fn damaged_pages_are_corrupt() {
    let (_dir, path) = temp();
    {
        let mut c = Catalog::open(&path).unwrap();
        let records: Vec<FileRecord> = (0..2000)
            .map(|i| file("door", i * 600, (i + 1) * 600, 1))
            .collect();
        c.upsert_many(&records).unwrap();
    }
    // Checkpoint the WAL into the file, then scribble over pages past the first.
    let conn = rusqlite::Connection::open(&path).unwrap();
    conn.execute_batch("PRAGMA wal_checkpoint(TRUNCATE); PRAGMA journal_mode=DELETE")
        .unwrap();
    drop(conn);
    let mut bytes = std::fs::read(&path).unwrap();
    assert!(bytes.len() > 40_000, "{}", bytes.len());
    for b in &mut bytes[8192..40_000] {
        *b = 0xa5;
    }
    std::fs::write(&path, &bytes).unwrap();
    assert!(Catalog::open(&path).unwrap_err().is_corrupt());
    // Without the check it may open; a query that reads the damage still says corrupt.
    if let Ok(c) = OpenOptions::new().quick_check(false).open(&path) {
        let err = c.files(None, None, None).unwrap_err();
        assert!(err.is_corrupt(), "{err:?}");
    }
}

#[test]
fn a_missing_directory_cannot_be_opened() {
    let (dir, _) = temp();
    let path = dir.path().join("no/such/dir/catalog.db");
    match Catalog::open(&path) {
        Err(Error::Open { path: p, .. }) => assert_eq!(p, path),
        other => panic!("expected Open, got {other:?}"),
    }
}

#[test]
fn upsert_replaces_by_path_and_keeps_camera_totals() {
    let mut c = Catalog::open_in_memory().unwrap();
    let mut r = file("door", 0, 600, 100);
    c.upsert(&r).unwrap();
    c.upsert(&file("door", 600, 1200, 50)).unwrap();
    assert_eq!(c.camera_bytes("door").unwrap(), 150);
    // The same path, finished again with another size.
    r.size_bytes = 70;
    c.upsert(&r).unwrap();
    assert_eq!(c.camera_bytes("door").unwrap(), 120);
    assert_eq!(c.files(None, None, None).unwrap().len(), 2);
    // The same path under another camera moves between totals.
    r.camera = "yard".into();
    c.upsert(&r).unwrap();
    assert_eq!(c.camera_bytes("door").unwrap(), 50);
    assert_eq!(c.camera_bytes("yard").unwrap(), 70);
    let cameras = c.cameras().unwrap();
    let names: Vec<(&str, u64, u64)> = cameras
        .iter()
        .map(|s| (s.name.as_str(), s.files, s.bytes))
        .collect();
    assert_eq!(names, [("door", 1, 50), ("yard", 1, 70)]);
    assert_eq!(cameras[0].first, Some(WallTime(600 * S)));
    assert_eq!(cameras[0].last, Some(WallTime(1200 * S)));
}

#[test]
fn remove_and_remove_many() {
    let mut c = Catalog::open_in_memory().unwrap();
    let records: Vec<FileRecord> = (0..5)
        .map(|i| file("door", i * 600, (i + 1) * 600, 10))
        .collect();
    c.upsert_many(&records).unwrap();
    assert!(c.remove(&records[0].path).unwrap());
    assert!(!c.remove(&records[0].path).unwrap());
    let gone = [
        &records[1].path,
        &records[2].path,
        &PathBuf::from("elsewhere.mp4"),
    ];
    assert_eq!(c.remove_many(gone).unwrap(), 2);
    assert_eq!(c.camera_bytes("door").unwrap(), 20);
    assert_eq!(c.camera_files("door").unwrap(), 2);
    assert_eq!(
        c.remove_many(&[&records[3].path, &records[4].path])
            .unwrap(),
        2
    );
    // A camera without files disappears.
    assert!(c.cameras().unwrap().is_empty());
    assert_eq!(c.camera_bytes("door").unwrap(), 0);
}

#[test]
fn bad_records_are_refused_and_a_batch_is_all_or_nothing() {
    let mut c = Catalog::open_in_memory().unwrap();
    let mut backwards = file("door", 600, 1200, 1);
    backwards.end = WallTime(0);
    let mut huge = file("door", 1200, 1800, u64::MAX);
    huge.path = "door/huge.mp4".into();
    assert!(matches!(
        c.upsert(&backwards),
        Err(Error::InvalidRecord {
            reason: "end before start",
            ..
        })
    ));
    let err = c.upsert(&huge).unwrap_err();
    assert_eq!(
        err.to_string(),
        "invalid record door/huge.mp4: size too large"
    );
    let good = file("door", 0, 600, 1);
    assert!(c.upsert_many(&[good.clone(), huge]).is_err());
    assert!(c.files(None, None, None).unwrap().is_empty());
    c.upsert_many(&[good]).unwrap();
    assert_eq!(
        c.paths().unwrap(),
        [("door".to_owned(), PathBuf::from("door/0.mp4"))]
    );
}

#[cfg(unix)]
#[test]
fn non_utf8_paths_are_refused() {
    use std::ffi::OsStr;
    use std::os::unix::ffi::OsStrExt;
    let mut c = Catalog::open_in_memory().unwrap();
    let mut r = file("door", 0, 600, 1);
    r.path = PathBuf::from(OsStr::from_bytes(b"door/\xff.mp4"));
    assert!(matches!(c.upsert(&r), Err(Error::NonUtf8Path { .. })));
    assert!(!c.remove(&r.path).unwrap());
}

#[test]
fn two_connections_see_each_others_writes() {
    let (_dir, path) = temp();
    let mut writer = Catalog::open(&path).unwrap();
    let reader = Catalog::open(&path).unwrap();
    writer.upsert(&file("door", 0, 600, 1)).unwrap();
    assert_eq!(reader.files(Some("door"), None, None).unwrap().len(), 1);
}
