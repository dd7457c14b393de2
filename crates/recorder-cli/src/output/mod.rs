//! Files: the writer threads, partial files, names and templates, finalize and repair I/O.
#[cfg(test)]
mod damaged;
pub mod error;
pub mod events;
pub mod file;
pub mod finalize_io;
pub mod format;
pub mod partial;
pub mod repair;
pub mod space;
pub mod target;
pub mod template;
pub mod turn;
pub mod writer;
