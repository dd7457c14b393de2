//! A [`FileRecord`] to and from a row of the `file` table.

use std::path::{Path, PathBuf};

use rusqlite::types::Type;
use rusqlite::{Row, Statement};

use crate::error::Error;
use crate::record::{AudioTrack, EndReason, FileRecord, VideoTrack};
use crate::time::WallTime;

/// The columns [`read`] expects, in order, after `SELECT`.
pub(crate) const COLUMNS: &str = "path, camera, start_ns, end_ns, media_duration_ms, size_bytes, \
     video_codec, video_width, video_height, video_samples, audio_codec, audio_samples, end_reason";

/// Inserts a record, or replaces the one with the same path.
pub(crate) const UPSERT: &str = "INSERT INTO file (path, camera, start_ns, end_ns, \
     media_duration_ms, size_bytes, video_codec, video_width, video_height, video_samples, \
     audio_codec, audio_samples, end_reason) \
     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13) \
     ON CONFLICT (path) DO UPDATE SET camera = excluded.camera, start_ns = excluded.start_ns, \
     end_ns = excluded.end_ns, media_duration_ms = excluded.media_duration_ms, \
     size_bytes = excluded.size_bytes, video_codec = excluded.video_codec, \
     video_width = excluded.video_width, video_height = excluded.video_height, \
     video_samples = excluded.video_samples, audio_codec = excluded.audio_codec, \
     audio_samples = excluded.audio_samples, end_reason = excluded.end_reason";

/// Reads a row selected with [`COLUMNS`].
pub(crate) fn read(row: &Row<'_>) -> rusqlite::Result<FileRecord> {
    let video = match row.get::<_, Option<String>>(6)? {
        Some(codec) => Some(VideoTrack {
            codec,
            width: row.get(7)?,
            height: row.get(8)?,
            samples: get_u64(row, 9)?,
        }),
        None => None,
    };
    let audio = match row.get::<_, Option<String>>(10)? {
        Some(codec) => Some(AudioTrack {
            codec,
            samples: get_u64(row, 11)?,
        }),
        None => None,
    };
    let end_reason = row
        .get::<_, String>(12)?
        .parse::<EndReason>()
        .map_err(|e| rusqlite::Error::FromSqlConversionFailure(12, Type::Text, Box::new(e)))?;
    Ok(FileRecord {
        path: PathBuf::from(row.get::<_, String>(0)?),
        camera: row.get(1)?,
        start: WallTime(row.get(2)?),
        end: WallTime(row.get(3)?),
        media_duration_ms: get_u64(row, 4)?,
        size_bytes: get_u64(row, 5)?,
        video,
        audio,
        end_reason,
    })
}

/// A non-negative integer column as `u64`.
pub(crate) fn get_u64(row: &Row<'_>, column: usize) -> rusqlite::Result<u64> {
    let value: i64 = row.get(column)?;
    u64::try_from(value).map_err(|_| rusqlite::Error::IntegralValueOutOfRange(column, value))
}

/// The path as stored, or `None` if it is not valid UTF-8 (such a path is never stored).
pub(crate) fn path_text(path: &Path) -> Option<&str> {
    path.to_str()
}

impl FileRecord {
    /// Checks that the record can be stored: its path is valid UTF-8, its end is not before
    /// its start, and its sizes and counts fit SQLite's signed 64-bit integers. The
    /// catalog's writes check this too; a caller can use it to skip a bad record before a
    /// batch ([`Catalog::upsert_many`](crate::Catalog::upsert_many) writes all or nothing).
    pub fn validate(&self) -> Result<(), Error> {
        self.stored().map(|_| ())
    }

    /// The values as stored, checked.
    fn stored(&self) -> Result<Stored<'_>, Error> {
        let invalid = |reason| Error::InvalidRecord {
            path: self.path.clone(),
            reason,
        };
        let path = path_text(&self.path).ok_or_else(|| Error::NonUtf8Path {
            path: self.path.clone(),
        })?;
        if self.end < self.start {
            return Err(invalid("end before start"));
        }
        let int = |value: u64, reason| i64::try_from(value).map_err(|_| invalid(reason));
        Ok(Stored {
            path,
            media_duration_ms: int(self.media_duration_ms, "media duration too large")?,
            size_bytes: int(self.size_bytes, "size too large")?,
            video_samples: match &self.video {
                Some(v) => Some(int(v.samples, "video sample count too large")?),
                None => None,
            },
            audio_samples: match &self.audio {
                Some(a) => Some(int(a.samples, "audio sample count too large")?),
                None => None,
            },
        })
    }
}

/// A record's values that need a check or a conversion before binding.
struct Stored<'a> {
    path: &'a str,
    media_duration_ms: i64,
    size_bytes: i64,
    video_samples: Option<i64>,
    audio_samples: Option<i64>,
}

/// Runs the prepared [`UPSERT`] for `record`, already checked by [`FileRecord::stored`].
pub(crate) fn upsert(
    stmt: &mut Statement<'_>,
    record: &FileRecord,
    db_path: &Path,
) -> Result<(), Error> {
    let s = record.stored()?;
    let video = record.video.as_ref();
    let audio = record.audio.as_ref();
    stmt.execute(rusqlite::params![
        s.path,
        record.camera,
        record.start.0,
        record.end.0,
        s.media_duration_ms,
        s.size_bytes,
        video.map(|v| v.codec.as_str()),
        video.map(|v| v.width),
        video.map(|v| v.height),
        s.video_samples,
        audio.map(|a| a.codec.as_str()),
        s.audio_samples,
        record.end_reason.as_str(),
    ])
    .map_err(|e| crate::schema::map_err(db_path, e))?;
    Ok(())
}
