//! [`Catalog`]'s reads.

use std::path::PathBuf;

use rusqlite::OptionalExtension;

use crate::catalog::Catalog;
use crate::error::Error;
use crate::record::FileRecord;
use crate::row;
use crate::spans::{Span, spans};
use crate::time::WallTime;

/// One camera's totals, from [`Catalog::cameras`].
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct CameraSummary {
    /// The camera's name.
    pub name: String,
    /// How many files the catalog holds for it.
    pub files: u64,
    /// Their total size in bytes.
    pub bytes: u64,
    /// The earliest start of its files.
    pub first: Option<WallTime>,
    /// The latest end of its files.
    pub last: Option<WallTime>,
}

/// Files of one camera overlapping `[from, to)`: `lower` is `from` minus the camera's
/// longest file, so the `(camera, start_ns)` index bounds the scan on both sides.
const FILES_OF_CAMERA: &str = "WHERE camera = ?1 AND start_ns >= ?2 AND start_ns < ?3 \
     AND end_ns > ?4 ORDER BY start_ns, path";

/// One camera's files oldest first, by end, start, then path (the `(camera, end_ns, start_ns)`
/// index).
pub(crate) const OLDEST_OF_CAMERA: &str =
    "WHERE camera = ?1 ORDER BY end_ns, start_ns, path LIMIT ?2";

impl Catalog {
    /// Files that overlap `[from, to)` (`end > from` and `start < to`; an open end is
    /// unbounded), of one camera or of all, ordered by camera, then start, then path.
    pub fn files(
        &self,
        camera: Option<&str>,
        from: Option<WallTime>,
        to: Option<WallTime>,
    ) -> Result<Vec<FileRecord>, Error> {
        let names = match camera {
            Some(name) => vec![name.to_owned()],
            None => self.camera_names()?,
        };
        let from = from.unwrap_or(WallTime::MIN);
        let to = to.unwrap_or(WallTime::MAX);
        let mut out = Vec::new();
        if from >= to {
            return Ok(out);
        }
        let sql = format!("SELECT {} FROM file {FILES_OF_CAMERA}", row::COLUMNS);
        for name in names {
            let Some(longest_ns) = self.longest_ns(&name)? else {
                continue;
            };
            let lower = from.0.saturating_sub(longest_ns);
            let mut stmt = self.conn.prepare_cached(&sql).map_err(|e| self.err(e))?;
            let rows = stmt
                .query_map(rusqlite::params![name, lower, to.0, from.0], row::read)
                .map_err(|e| self.err(e))?;
            for record in rows {
                out.push(record.map_err(|e| self.err(e))?);
            }
        }
        Ok(out)
    }

    /// The spans of one camera's files that overlap `[from, to)` (spans are not clipped to
    /// the range). See [`spans`](crate::spans()).
    pub fn spans(
        &self,
        camera: &str,
        from: Option<WallTime>,
        to: Option<WallTime>,
    ) -> Result<Vec<Span>, Error> {
        Ok(spans(&self.files(Some(camera), from, to)?))
    }

    /// Every record's camera and path, ordered by path (to reconcile with the disk).
    pub fn paths(&self) -> Result<Vec<(String, PathBuf)>, Error> {
        let mut stmt = self
            .conn
            .prepare_cached("SELECT camera, path FROM file ORDER BY path")
            .map_err(|e| self.err(e))?;
        let rows = stmt
            .query_map([], |r| {
                Ok((r.get(0)?, PathBuf::from(r.get::<_, String>(1)?)))
            })
            .map_err(|e| self.err(e))?;
        rows.collect::<rusqlite::Result<_>>()
            .map_err(|e| self.err(e))
    }

    /// The cameras that have files, by name, with their totals.
    pub fn cameras(&self) -> Result<Vec<CameraSummary>, Error> {
        let mut out = Vec::new();
        {
            let mut stmt = self
                .conn
                .prepare_cached("SELECT name, files, bytes FROM camera ORDER BY name")
                .map_err(|e| self.err(e))?;
            let rows = stmt
                .query_map([], |r| {
                    Ok(CameraSummary {
                        name: r.get(0)?,
                        files: row::get_u64(r, 1)?,
                        bytes: row::get_u64(r, 2)?,
                        first: None,
                        last: None,
                    })
                })
                .map_err(|e| self.err(e))?;
            for summary in rows {
                out.push(summary.map_err(|e| self.err(e))?);
            }
        }
        for summary in &mut out {
            let bound = |sql: &str| -> Result<Option<WallTime>, Error> {
                let mut stmt = self.conn.prepare_cached(sql).map_err(|e| self.err(e))?;
                stmt.query_row([&summary.name], |r| r.get::<_, Option<i64>>(0))
                    .map(|ns| ns.map(WallTime))
                    .map_err(|e| self.err(e))
            };
            summary.first = bound("SELECT min(start_ns) FROM file WHERE camera = ?1")?;
            summary.last = bound("SELECT max(end_ns) FROM file WHERE camera = ?1")?;
        }
        Ok(out)
    }

    /// The total size of one camera's files in bytes (0 for an unknown camera).
    pub fn camera_bytes(&self, camera: &str) -> Result<u64, Error> {
        let mut stmt = self
            .conn
            .prepare_cached("SELECT bytes FROM camera WHERE name = ?1")
            .map_err(|e| self.err(e))?;
        let bytes: Option<u64> = stmt
            .query_row([camera], |r| row::get_u64(r, 0))
            .optional()
            .map_err(|e| self.err(e))?;
        Ok(bytes.unwrap_or(0))
    }

    /// How many files one camera has (0 for an unknown camera).
    pub fn camera_files(&self, camera: &str) -> Result<u64, Error> {
        let mut stmt = self
            .conn
            .prepare_cached("SELECT files FROM camera WHERE name = ?1")
            .map_err(|e| self.err(e))?;
        let files: Option<u64> = stmt
            .query_row([camera], |r| row::get_u64(r, 0))
            .optional()
            .map_err(|e| self.err(e))?;
        Ok(files.unwrap_or(0))
    }

    /// The `limit` oldest files, by end then start, of one camera or across all: the order
    /// in which [`retention`](crate::retention) deletes.
    pub fn oldest(&self, camera: Option<&str>, limit: usize) -> Result<Vec<FileRecord>, Error> {
        let names = match camera {
            Some(name) => vec![name.to_owned()],
            None => self.camera_names()?,
        };
        let sql = format!("SELECT {} FROM file {OLDEST_OF_CAMERA}", row::COLUMNS);
        let limit_sql = i64::try_from(limit).unwrap_or(i64::MAX);
        let mut out = Vec::new();
        for name in &names {
            let mut stmt = self.conn.prepare_cached(&sql).map_err(|e| self.err(e))?;
            let rows = stmt
                .query_map(rusqlite::params![name, limit_sql], row::read)
                .map_err(|e| self.err(e))?;
            for record in rows {
                out.push(record.map_err(|e| self.err(e))?);
            }
        }
        if names.len() > 1 {
            // Each camera's `limit` oldest hold the `limit` oldest of all.
            out.sort_by(|a, b| (a.end, a.start, &a.path).cmp(&(b.end, b.start, &b.path)));
            out.truncate(limit);
        }
        Ok(out)
    }

    /// The names of the cameras that have files, sorted.
    pub(crate) fn camera_names(&self) -> Result<Vec<String>, Error> {
        let mut stmt = self
            .conn
            .prepare_cached("SELECT name FROM camera ORDER BY name")
            .map_err(|e| self.err(e))?;
        let rows = stmt.query_map([], |r| r.get(0)).map_err(|e| self.err(e))?;
        rows.collect::<rusqlite::Result<_>>()
            .map_err(|e| self.err(e))
    }

    /// The camera's longest file in nanoseconds, `None` if it has no files.
    fn longest_ns(&self, camera: &str) -> Result<Option<i64>, Error> {
        let mut stmt = self
            .conn
            .prepare_cached("SELECT max_duration_ns FROM camera WHERE name = ?1")
            .map_err(|e| self.err(e))?;
        stmt.query_row([camera], |r| r.get(0))
            .optional()
            .map_err(|e| self.err(e))
    }
}
