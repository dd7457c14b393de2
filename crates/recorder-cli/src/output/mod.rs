//! Files: the writer threads, partial files, names and templates, finalize and repair I/O.
pub mod finalize_io;
pub mod partial;
pub mod repair;
pub mod template;
pub mod writer;
