//! The archive: the catalog of finished recordings (the `catalog` crate's SQLite
//! database), fed by the file events, reconciled with the files on disk, and retention.
//! The files stay the truth: the catalog can always be rebuilt from them.
//!
//! May use the layers below it (`camera` for the cameras' settings, `output` for
//! templates and events, `mp4` to read files); `cmd` and `ui` use it.

pub mod disk;
pub mod http;
pub mod keeper;
pub mod listing;
pub mod settings;
