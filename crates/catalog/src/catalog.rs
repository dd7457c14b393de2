//! [`Catalog`]: opening the database and writing to it. The reads are in `query.rs`.

use std::path::{Path, PathBuf};
use std::time::Duration;

use rusqlite::{Connection, OpenFlags};

use crate::error::Error;
use crate::record::FileRecord;
use crate::row;
use crate::schema;

/// The catalog of recordings: an SQLite database with one row per finished file.
///
/// The files are the truth; the catalog is an index of them that can always be rebuilt
/// ([`Catalog::upsert_many`] after a scan). Every method is one statement or one
/// transaction; statements are prepared once and cached. Readers in other processes (or
/// `sqlite3`) can read while it writes (WAL mode).
///
/// A `Catalog` is `Send` but not `Sync`: give it to one thread or task, or open one per
/// thread.
#[derive(Debug)]
pub struct Catalog {
    pub(crate) conn: Connection,
    pub(crate) path: PathBuf,
}

/// How to open a catalog: [`Catalog::open`] uses the defaults.
#[derive(Debug, Clone)]
pub struct OpenOptions {
    quick_check: bool,
    busy_timeout: Duration,
    read_only: bool,
}

impl Default for OpenOptions {
    fn default() -> OpenOptions {
        OpenOptions {
            quick_check: true,
            busy_timeout: Duration::from_secs(5),
            read_only: false,
        }
    }
}

impl OpenOptions {
    /// The defaults: `PRAGMA quick_check` on open, a 5 s busy timeout.
    pub fn new() -> OpenOptions {
        OpenOptions::default()
    }

    /// Whether [`open`](OpenOptions::open) runs `PRAGMA quick_check`, which reads the whole
    /// database (about a second per few hundred megabytes) and finds damaged pages and
    /// indexes. Default: on.
    pub fn quick_check(mut self, on: bool) -> OpenOptions {
        self.quick_check = on;
        self
    }

    /// How long a statement waits for another connection's lock before failing with
    /// [`Error::Database`]. Default: 5 s.
    pub fn busy_timeout(mut self, timeout: Duration) -> OpenOptions {
        self.busy_timeout = timeout;
        self
    }

    /// Whether the connection only reads (a reader beside the process that writes, such
    /// as an HTTP server): the catalog must exist and be valid, nothing is created or
    /// changed, and every write fails. Default: off.
    pub fn read_only(mut self, on: bool) -> OpenOptions {
        self.read_only = on;
        self
    }

    /// Opens the catalog at `path`, creating the file and its schema if missing (not its
    /// directory; not [read-only](OpenOptions::read_only)). A file that is not a valid
    /// catalog is [`Error::Corrupt`].
    pub fn open(&self, path: impl AsRef<Path>) -> Result<Catalog, Error> {
        let path = path.as_ref();
        let access = if self.read_only {
            OpenFlags::SQLITE_OPEN_READ_ONLY
        } else {
            OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_CREATE
        };
        let flags = access | OpenFlags::SQLITE_OPEN_NO_MUTEX | OpenFlags::SQLITE_OPEN_URI;
        let conn = Connection::open_with_flags(path, flags).map_err(|source| Error::Open {
            path: path.to_owned(),
            source,
        })?;
        self.finish(conn, path)
    }

    fn finish(&self, mut conn: Connection, path: &Path) -> Result<Catalog, Error> {
        conn.busy_timeout(self.busy_timeout)
            .map_err(|e| schema::map_err(path, e))?;
        conn.set_prepared_statement_cache_capacity(32);
        schema::prepare(&mut conn, path, self.quick_check, self.read_only)?;
        Ok(Catalog {
            conn,
            path: path.to_owned(),
        })
    }
}

impl Catalog {
    /// Opens the catalog at `path` with the default [`OpenOptions`], creating the file and
    /// its schema if missing. A file that is not a valid catalog (not SQLite, another
    /// application's database, an unknown schema version, a failed `PRAGMA quick_check`) is
    /// [`Error::Corrupt`]: move it aside and rebuild.
    pub fn open(path: impl AsRef<Path>) -> Result<Catalog, Error> {
        OpenOptions::default().open(path)
    }

    /// A new, empty catalog in memory (for tests).
    pub fn open_in_memory() -> Result<Catalog, Error> {
        let path = Path::new(":memory:");
        let conn = Connection::open_in_memory().map_err(|source| Error::Open {
            path: path.to_owned(),
            source,
        })?;
        OpenOptions::default().finish(conn, path)
    }

    /// The database file (`:memory:` for an in-memory catalog).
    pub fn path(&self) -> &Path {
        &self.path
    }

    pub(crate) fn err(&self, source: rusqlite::Error) -> Error {
        schema::map_err(&self.path, source)
    }

    /// Adds a finished file, or replaces the record with the same path.
    pub fn upsert(&mut self, record: &FileRecord) -> Result<(), Error> {
        let mut stmt = self
            .conn
            .prepare_cached(row::UPSERT)
            .map_err(|e| self.err(e))?;
        row::upsert(&mut stmt, record, &self.path)
    }

    /// Adds or replaces many records in one transaction (a rebuild): all or nothing. Every
    /// record is [validated](FileRecord::validate) before anything is written.
    pub fn upsert_many(&mut self, records: &[FileRecord]) -> Result<(), Error> {
        for record in records {
            record.validate()?;
        }
        let path = &self.path;
        let err = |e| schema::map_err(path, e);
        let tx = self.conn.transaction().map_err(err)?;
        {
            let mut stmt = tx.prepare_cached(row::UPSERT).map_err(err)?;
            for record in records {
                row::upsert(&mut stmt, record, path)?;
            }
        }
        tx.commit().map_err(err)?;
        tracing::debug!(records = records.len(), "catalog: records upserted");
        Ok(())
    }

    /// Removes the record of `path`; whether there was one.
    pub fn remove(&mut self, path: &Path) -> Result<bool, Error> {
        let Some(text) = row::path_text(path) else {
            return Ok(false);
        };
        let mut stmt = self
            .conn
            .prepare_cached("DELETE FROM file WHERE path = ?1")
            .map_err(|e| self.err(e))?;
        let n = stmt.execute([text]).map_err(|e| self.err(e))?;
        Ok(n > 0)
    }

    /// Removes the records of `paths` in one transaction; how many there were.
    pub fn remove_many<I>(&mut self, paths: I) -> Result<usize, Error>
    where
        I: IntoIterator,
        I::Item: AsRef<Path>,
    {
        let path = &self.path;
        let err = |e| schema::map_err(path, e);
        let tx = self.conn.transaction().map_err(err)?;
        let mut removed = 0;
        {
            let mut stmt = tx
                .prepare_cached("DELETE FROM file WHERE path = ?1")
                .map_err(err)?;
            for p in paths {
                if let Some(text) = row::path_text(p.as_ref()) {
                    removed += stmt.execute([text]).map_err(err)?;
                }
            }
        }
        tx.commit().map_err(err)?;
        Ok(removed)
    }
}
