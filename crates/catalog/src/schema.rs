//! The database schema: creating it, and telling a catalog from anything else.
//!
//! A catalog is an SQLite database whose `PRAGMA application_id` is [`APPLICATION_ID`] and
//! whose `PRAGMA user_version` is [`SCHEMA_VERSION`], with the tables `file` (one row per
//! recording) and `camera` (per-camera totals kept by triggers), and the view `file_view`
//! (the same rows with readable times) for people who open it with `sqlite3`.

use std::path::Path;

use rusqlite::ffi::ErrorCode;
use rusqlite::{Connection, TransactionBehavior};

use crate::error::Error;

/// `PRAGMA application_id` of a catalog: "RCAT".
pub const APPLICATION_ID: i32 = 0x5243_4154;

/// `PRAGMA user_version` of the schema this version writes and reads.
pub const SCHEMA_VERSION: i32 = 1;

/// The schema, version 1.
///
/// - `file.end_reason` is `continued` or `gap`; the codec columns are NULL for an absent
///   track; times are nanoseconds since the Unix epoch (UTC).
/// - `camera` holds, per camera with at least one file, the file count, the byte total and
///   the longest file (`max_duration_ns`, which bounds how far before a time range a file
///   that overlaps it can start, so range queries stay on the `(camera, start_ns)` index).
///   Triggers keep it; `max_duration_ns` never shrinks while the camera has files. (The
///   triggers avoid `INSERT OR IGNORE`: an outer statement's conflict clause, such as the
///   upsert's, would override it.)
pub const SCHEMA: &str = "
CREATE TABLE file (
    id INTEGER PRIMARY KEY,
    path TEXT NOT NULL UNIQUE,
    camera TEXT NOT NULL,
    start_ns INTEGER NOT NULL,
    end_ns INTEGER NOT NULL CHECK (end_ns >= start_ns),
    media_duration_ms INTEGER NOT NULL CHECK (media_duration_ms >= 0),
    size_bytes INTEGER NOT NULL CHECK (size_bytes >= 0),
    video_codec TEXT,
    video_width INTEGER CHECK (video_width >= 0),
    video_height INTEGER CHECK (video_height >= 0),
    video_samples INTEGER CHECK (video_samples >= 0),
    audio_codec TEXT,
    audio_samples INTEGER CHECK (audio_samples >= 0),
    end_reason TEXT NOT NULL CHECK (end_reason IN ('continued', 'gap'))
);
CREATE INDEX file_camera_start ON file (camera, start_ns);
CREATE INDEX file_camera_end ON file (camera, end_ns, start_ns);

CREATE TABLE camera (
    name TEXT PRIMARY KEY NOT NULL,
    files INTEGER NOT NULL DEFAULT 0,
    bytes INTEGER NOT NULL DEFAULT 0,
    max_duration_ns INTEGER NOT NULL DEFAULT 0
) WITHOUT ROWID;

CREATE TRIGGER file_insert AFTER INSERT ON file BEGIN
    INSERT INTO camera (name) SELECT NEW.camera
        WHERE NOT EXISTS (SELECT 1 FROM camera WHERE name = NEW.camera);
    UPDATE camera SET files = files + 1, bytes = bytes + NEW.size_bytes,
        max_duration_ns = max(max_duration_ns, NEW.end_ns - NEW.start_ns)
        WHERE name = NEW.camera;
END;
CREATE TRIGGER file_delete AFTER DELETE ON file BEGIN
    UPDATE camera SET files = files - 1, bytes = bytes - OLD.size_bytes WHERE name = OLD.camera;
    DELETE FROM camera WHERE name = OLD.camera AND files <= 0;
END;
CREATE TRIGGER file_update AFTER UPDATE ON file BEGIN
    UPDATE camera SET files = files - 1, bytes = bytes - OLD.size_bytes WHERE name = OLD.camera;
    INSERT INTO camera (name) SELECT NEW.camera
        WHERE NOT EXISTS (SELECT 1 FROM camera WHERE name = NEW.camera);
    UPDATE camera SET files = files + 1, bytes = bytes + NEW.size_bytes,
        max_duration_ns = max(max_duration_ns, NEW.end_ns - NEW.start_ns)
        WHERE name = NEW.camera;
    DELETE FROM camera WHERE name = OLD.camera AND files <= 0;
END;

CREATE VIEW file_view AS SELECT
    camera, path,
    strftime('%Y-%m-%dT%H:%M:%fZ', start_ns / 1e9, 'unixepoch') AS start,
    strftime('%Y-%m-%dT%H:%M:%fZ', end_ns / 1e9, 'unixepoch') AS end,
    media_duration_ms, size_bytes, video_codec, video_width, video_height, video_samples,
    audio_codec, audio_samples, end_reason
FROM file;
";

/// The columns each table must have, in order.
const COLUMNS: &[(&str, &[&str])] = &[
    (
        "file",
        &[
            "id",
            "path",
            "camera",
            "start_ns",
            "end_ns",
            "media_duration_ms",
            "size_bytes",
            "video_codec",
            "video_width",
            "video_height",
            "video_samples",
            "audio_codec",
            "audio_samples",
            "end_reason",
        ],
    ),
    ("camera", &["name", "files", "bytes", "max_duration_ns"]),
];

/// Turns an SQLite error into ours: damage or "not a database" is [`Error::Corrupt`], and so
/// is a stored value that breaks the schema's rules (a negative size, an unknown end reason).
pub(crate) fn map_err(path: &Path, source: rusqlite::Error) -> Error {
    let corrupt = |reason: String| Error::Corrupt {
        path: path.to_owned(),
        reason,
    };
    match source.sqlite_error_code() {
        Some(ErrorCode::DatabaseCorrupt) => return corrupt("damaged database".to_owned()),
        Some(ErrorCode::NotADatabase) => return corrupt("not an sqlite database".to_owned()),
        _ => {}
    }
    match source {
        rusqlite::Error::IntegralValueOutOfRange(column, value) => {
            corrupt(format!("value {value} out of range in column {column}"))
        }
        rusqlite::Error::FromSqlConversionFailure(column, _, e) => {
            corrupt(format!("bad value in column {column}: {e}"))
        }
        rusqlite::Error::InvalidColumnType(column, name, ty) => {
            corrupt(format!("column {column} ({name}) holds {ty}"))
        }
        source => Error::Database {
            path: path.to_owned(),
            source,
        },
    }
}

/// Sets the connection up (WAL, `synchronous=NORMAL`, busy timeout), optionally runs
/// `PRAGMA quick_check`, then creates the schema in an empty database or checks it in an
/// existing one.
pub(crate) fn prepare(
    conn: &mut Connection,
    path: &Path,
    quick_check: bool,
    read_only: bool,
) -> Result<(), Error> {
    let err = |e| map_err(path, e);
    // The first statement reads the header: garbage fails here with "not a database".
    let mode: String = if read_only {
        conn.pragma_query_value(None, "journal_mode", |row| row.get(0))
    } else {
        conn.pragma_update_and_check(None, "journal_mode", "WAL", |row| row.get(0))
    }
    .map_err(err)?;
    tracing::debug!(path = %path.display(), journal_mode = %mode, "catalog opened");
    if !read_only {
        conn.pragma_update(None, "synchronous", "NORMAL")
            .map_err(err)?;
    }
    if quick_check {
        let result: String = conn
            .pragma_query_value(None, "quick_check", |row| row.get(0))
            .map_err(err)?;
        if result != "ok" {
            return Err(Error::Corrupt {
                path: path.to_owned(),
                reason: format!("quick_check: {result}"),
            });
        }
    }
    if is_empty(conn).map_err(err)? && !read_only {
        // Another process may be creating it too: decide under the write lock.
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(err)?;
        if is_empty(&tx).map_err(err)? {
            tx.execute_batch(SCHEMA).map_err(err)?;
            tx.pragma_update(None, "application_id", APPLICATION_ID)
                .map_err(err)?;
            tx.pragma_update(None, "user_version", SCHEMA_VERSION)
                .map_err(err)?;
            tracing::info!(path = %path.display(), version = SCHEMA_VERSION, "catalog created");
        }
        tx.commit().map_err(err)?;
    }
    check(conn, path)
}

/// Whether the database has no schema object at all.
fn is_empty(conn: &Connection) -> rusqlite::Result<bool> {
    let objects: i64 = conn.query_row("SELECT count(*) FROM sqlite_schema", [], |r| r.get(0))?;
    Ok(objects == 0)
}

/// Checks the application id, the schema version and the tables' columns.
fn check(conn: &Connection, path: &Path) -> Result<(), Error> {
    let err = |e| map_err(path, e);
    let corrupt = |reason: String| {
        Err(Error::Corrupt {
            path: path.to_owned(),
            reason,
        })
    };
    let app: i32 = conn
        .pragma_query_value(None, "application_id", |r| r.get(0))
        .map_err(err)?;
    if app != APPLICATION_ID {
        return corrupt(format!("application id {app:#x}, not a recorder catalog"));
    }
    let version: i32 = conn
        .pragma_query_value(None, "user_version", |r| r.get(0))
        .map_err(err)?;
    if version != SCHEMA_VERSION {
        return corrupt(format!(
            "schema version {version}, this version reads {SCHEMA_VERSION}"
        ));
    }
    let mut stmt = conn
        .prepare("SELECT name FROM pragma_table_info(?1) ORDER BY cid")
        .map_err(err)?;
    for (table, expected) in COLUMNS {
        let found = stmt
            .query_map([table], |r| r.get::<_, String>(0))
            .and_then(|rows| rows.collect::<rusqlite::Result<Vec<_>>>())
            .map_err(err)?;
        if found != *expected {
            return corrupt(format!("table {table} has columns {found:?}"));
        }
    }
    Ok(())
}
