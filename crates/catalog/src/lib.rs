//! A catalog of recordings: an embedded SQLite database with one row per finished file
//! (camera, path, wall-clock start and end, media duration, size, codecs, dimensions,
//! sample counts, and whether a gap follows), the *spans* those files form, and the pure
//! *retention* planning that decides which files to delete by age, by size and for free
//! space.
//!
//! The files on disk are the truth and the catalog is an index of them: a database that
//! is missing, damaged or of an unknown schema ([`Error::Corrupt`]) can be moved aside and
//! rebuilt from the files with [`Catalog::upsert_many`]. SQLite is bundled, so nothing needs
//! installing, and anyone can read the database with `sqlite3` (the `file_view` view shows
//! readable times). This crate never deletes a file: [`retention`] only plans, and the
//! caller deletes and then [removes](Catalog::remove_many) the records.
//!
//! - [`Catalog`]: [`open`](Catalog::open), [`upsert`](Catalog::upsert),
//!   [`remove`](Catalog::remove), [`files`](Catalog::files) in a time range,
//!   [`spans`](Catalog::spans), [`cameras`](Catalog::cameras), [`oldest`](Catalog::oldest),
//!   [`plan_retention`](Catalog::plan_retention), [`plan_free`](Catalog::plan_free).
//! - [`spans()`], [`gaps`], [`timeline`]: runs of files without a gap, from plain values.
//! - [`retention::plan`], [`retention::plan_free`]: which files go, from plain values.
//! - [`listing`]: a camera's spans, gaps and files over a range, and their JSON shape.
//! - [`WallTime`]: nanoseconds since the Unix epoch, with RFC 3339 text.
//!
//! # Example
//!
//! ```
//! use std::time::Duration;
//! use catalog::retention::{self, Policy, Reason};
//! use catalog::{Catalog, EndReason, FileRecord, VideoTrack, WallTime};
//!
//! # fn main() -> Result<(), catalog::Error> {
//! let mut catalog = Catalog::open_in_memory()?; // or Catalog::open("recordings/catalog.db")
//! let day0 = WallTime::parse_rfc3339("2025-03-01T00:00:00Z")?;
//! let ten_minutes = Duration::from_secs(600);
//! // Three 10-minute files of 25 fps video, then a reconnect and a fourth file 5 s later.
//! let mut start = day0;
//! for i in 0..4 {
//!     if i == 3 {
//!         start = start.saturating_add(Duration::from_secs(5));
//!     }
//!     let end = start.saturating_add(ten_minutes);
//!     catalog.upsert(&FileRecord {
//!         camera: "door".into(),
//!         path: format!("door/{i}.mp4").into(),
//!         start,
//!         end,
//!         media_duration_ms: 600_000,
//!         size_bytes: 100_000_000,
//!         video: Some(VideoTrack { codec: "avc1.640028".into(), width: 1920, height: 1080, samples: 15_000 }),
//!         audio: None,
//!         end_reason: if i == 2 { EndReason::Gap } else { EndReason::Continued },
//!     })?;
//!     start = end;
//! }
//!
//! // Files overlapping the first quarter of an hour; the spans of the whole day.
//! let quarter = catalog.files(Some("door"), Some(day0), Some(day0.saturating_add(Duration::from_secs(900))))?;
//! assert_eq!(quarter.len(), 2);
//! let spans = catalog.spans("door", Some(day0), None)?;
//! assert_eq!(spans.iter().map(|s| s.files).collect::<Vec<_>>(), [3, 1]);
//! assert_eq!(spans[0].end.to_string(), "2025-03-01T00:30:00Z");
//!
//! // Keep at most 250 MB: the two oldest files go.
//! let policy = Policy { retain_for: None, retain_size: Some(250_000_000) };
//! let now = day0.saturating_add(Duration::from_secs(3600));
//! let plan = retention::plan(&catalog.oldest(Some("door"), usize::MAX)?, policy, now);
//! assert_eq!(plan.len(), 2);
//! assert!(matches!(plan[0].reason, Reason::Size { .. }));
//! // ... delete the files, then:
//! catalog.remove_many(plan.iter().map(|d| &d.path))?;
//! assert_eq!(catalog.camera_bytes("door")?, 200_000_000);
//! # Ok(())
//! # }
//! ```

mod catalog;
mod error;
pub mod listing;
mod planning;
mod query;
mod record;
mod row;
mod schema;
mod spans;
mod time;

pub mod retention;

#[cfg(test)]
mod testutil;

pub use crate::catalog::{Catalog, OpenOptions};
pub use crate::error::Error;
pub use crate::query::CameraSummary;
pub use crate::record::{AudioTrack, EndReason, FileRecord, VideoTrack};
pub use crate::schema::{APPLICATION_ID, SCHEMA, SCHEMA_VERSION};
pub use crate::spans::{Gap, Span, Timeline, gaps, spans, timeline, touches};
pub use crate::time::WallTime;
