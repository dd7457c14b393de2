//! The crate's one error type.

use std::path::PathBuf;

/// What can go wrong with the catalog.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The database file could not be opened or created (missing directory, permissions).
    #[error("cannot open catalog {path}")]
    Open {
        /// The database file.
        path: PathBuf,
        /// What SQLite said.
        #[source]
        source: rusqlite::Error,
    },
    /// The file is not a valid catalog: not an SQLite database, another application's
    /// database, a schema this version does not know, or damaged pages. The files on disk
    /// are the truth: move the database aside and rebuild it from them.
    #[error("catalog {path} is not valid: {reason}")]
    Corrupt {
        /// The database file (`:memory:` for an in-memory catalog).
        path: PathBuf,
        /// Why, in a few words.
        reason: String,
    },
    /// SQLite failed on a valid catalog (disk full, busy past the timeout, I/O error).
    #[error("catalog {path}: database error")]
    Database {
        /// The database file.
        path: PathBuf,
        /// What SQLite said.
        #[source]
        source: rusqlite::Error,
    },
    /// A path that is not valid UTF-8 cannot be stored as text.
    #[error("path is not valid utf-8: {}", path.display())]
    NonUtf8Path {
        /// The path.
        path: PathBuf,
    },
    /// A record that cannot be stored: its end is before its start, or a number does not
    /// fit SQLite's signed 64-bit integers.
    #[error("invalid record {}: {reason}", path.display())]
    InvalidRecord {
        /// The record's path.
        path: PathBuf,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// Text that is not an RFC 3339 timestamp within the years 1677 to 2262.
    #[error("invalid time {input:?}: {reason}")]
    InvalidTime {
        /// The text.
        input: String,
        /// Why.
        reason: String,
    },
    /// Text that is not an [`EndReason`](crate::EndReason) (`continued` or `gap`).
    #[error("invalid end reason {text:?}, expected continued or gap")]
    InvalidEndReason {
        /// The text.
        text: String,
    },
}

impl Error {
    /// Whether the database should be moved aside and rebuilt from the files.
    pub fn is_corrupt(&self) -> bool {
        matches!(self, Error::Corrupt { .. })
    }
}
