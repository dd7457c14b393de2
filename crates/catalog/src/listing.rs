//! A camera's recordings over a time range as spans, gaps and files, and their JSON
//! shape: what `recorder list --json` prints and what the HTTP API's
//! `/api/cameras/{name}/recordings` returns (one definition for both).

use serde::Serialize;

use crate::catalog::Catalog;
use crate::error::Error;
use crate::record::FileRecord;
use crate::spans::{Span, gaps, spans};
use crate::time::WallTime;

/// One camera's recordings over a range.
#[derive(Clone, Debug, PartialEq)]
pub struct CameraListing {
    /// The camera.
    pub name: String,
    /// Its spans in the range, oldest first.
    pub spans: Vec<Span>,
    /// Its files in the range, oldest first.
    pub files: Vec<FileRecord>,
}

impl CameraListing {
    /// The files of camera `name` that overlap [`from`, `to`) (open ends: unbounded) and
    /// the spans they form.
    pub fn query(
        catalog: &Catalog,
        name: &str,
        from: Option<WallTime>,
        to: Option<WallTime>,
    ) -> Result<CameraListing, Error> {
        let files = catalog.files(Some(name), from, to)?;
        Ok(CameraListing {
            name: name.to_owned(),
            spans: spans(&files),
            files,
        })
    }

    /// Its JSON shape; the files only with `files`.
    pub fn to_json(&self, files: bool) -> CameraJson {
        CameraJson {
            name: self.name.clone(),
            spans: self.spans.iter().map(SpanJson::from).collect(),
            gaps: gaps(&self.spans)
                .iter()
                .map(|g| GapJson {
                    start: g.start.to_rfc3339(),
                    end: g.end.to_rfc3339(),
                    duration_s: seconds(g.nanos()),
                })
                .collect(),
            files: files.then(|| self.files.iter().map(FileJson::from).collect()),
        }
    }
}

/// Seconds in `ns` nanoseconds.
fn seconds(ns: i64) -> f64 {
    ns as f64 / 1e9
}

/// The JSON of a listing: `{"cameras": [...]}`.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ListingJson {
    /// One entry per camera.
    pub cameras: Vec<CameraJson>,
}

/// One camera's spans, gaps and (when asked for) files.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct CameraJson {
    /// The camera.
    pub name: String,
    /// Its spans, oldest first.
    pub spans: Vec<SpanJson>,
    /// The gaps between them.
    pub gaps: Vec<GapJson>,
    /// Its files, oldest first (absent unless asked for).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub files: Option<Vec<FileJson>>,
}

/// A span: RFC 3339 start and end.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct SpanJson {
    /// Start of its first file.
    pub start: String,
    /// End of its last file.
    pub end: String,
    /// `end - start` in seconds.
    pub duration_s: f64,
    /// How many files it holds.
    pub files: usize,
    /// Their total size.
    pub bytes: u64,
}

impl From<&Span> for SpanJson {
    fn from(s: &Span) -> Self {
        SpanJson {
            start: s.start.to_rfc3339(),
            end: s.end.to_rfc3339(),
            duration_s: seconds(s.end.nanos_since(s.start)),
            files: s.files,
            bytes: s.bytes,
        }
    }
}

/// A gap between two spans (negative duration: an overlap).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct GapJson {
    /// End of the previous span.
    pub start: String,
    /// Start of the next span.
    pub end: String,
    /// `end - start` in seconds.
    pub duration_s: f64,
}

/// A file.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct FileJson {
    /// Its path.
    pub path: String,
    /// Wall-clock start.
    pub start: String,
    /// Wall-clock end.
    pub end: String,
    /// Media duration in seconds.
    pub media_duration_s: f64,
    /// Size in bytes.
    pub size_bytes: u64,
    /// The video track.
    pub video: Option<VideoJson>,
    /// The audio track.
    pub audio: Option<AudioJson>,
    /// `continued` or `gap`.
    pub end_reason: &'static str,
}

/// A file's video track.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct VideoJson {
    /// RFC 6381 codec string.
    pub codec: String,
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// Samples.
    pub samples: u64,
}

/// A file's audio track.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct AudioJson {
    /// RFC 6381 codec string.
    pub codec: String,
    /// Samples.
    pub samples: u64,
}

impl From<&FileRecord> for FileJson {
    fn from(f: &FileRecord) -> Self {
        FileJson {
            path: f.path.display().to_string(),
            start: f.start.to_rfc3339(),
            end: f.end.to_rfc3339(),
            media_duration_s: f.media_duration_ms as f64 / 1000.0,
            size_bytes: f.size_bytes,
            video: f.video.as_ref().map(|v| VideoJson {
                codec: v.codec.clone(),
                width: v.width,
                height: v.height,
                samples: v.samples,
            }),
            audio: f.audio.as_ref().map(|a| AudioJson {
                codec: a.codec.clone(),
                samples: a.samples,
            }),
            end_reason: f.end_reason.as_str(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::file;

    #[test]
    fn spans_gaps_and_files_as_json() {
        let mut catalog = Catalog::open_in_memory().unwrap();
        let s = 1_000_000_000i64;
        let t0 = 1_764_460_800 * s; // 2025-11-30T00:00:00Z
        let mut a = file("door", t0, t0 + 10 * s, 100);
        a.end_reason = crate::EndReason::Continued;
        let b = file("door", t0 + 10 * s, t0 + 20 * s, 200);
        let c = file("door", t0 + 30 * s, t0 + 35 * s, 50);
        catalog.upsert_many(&[a, b, c]).unwrap();
        let listing = CameraListing::query(&catalog, "door", None, None).unwrap();
        let v = serde_json::to_value(listing.to_json(true)).unwrap();
        assert_eq!(v["name"], "door");
        assert_eq!(v["spans"].as_array().unwrap().len(), 2);
        assert_eq!(v["spans"][0]["start"], "2025-11-30T00:00:00Z");
        assert_eq!(v["spans"][0]["end"], "2025-11-30T00:00:20Z");
        assert_eq!(v["spans"][0]["files"], 2);
        assert_eq!(v["spans"][0]["bytes"], 300);
        assert_eq!(v["gaps"][0]["duration_s"], 10.0);
        assert_eq!(v["files"].as_array().unwrap().len(), 3);
        assert_eq!(v["files"][2]["size_bytes"], 50);
        let without = serde_json::to_value(listing.to_json(false)).unwrap();
        assert!(without.get("files").is_none(), "{without}");
    }

    #[test]
    fn a_read_only_reader_sees_the_writers_rows_and_cannot_write() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("catalog.db");
        let missing = crate::OpenOptions::new().read_only(true).open(&path);
        assert!(missing.is_err(), "a read-only open creates nothing");
        assert!(!path.exists());
        let mut writer = Catalog::open(&path).unwrap();
        let rec = file("door", 0, 10_000_000_000, 7);
        writer.upsert(&rec).unwrap();
        let mut reader = crate::OpenOptions::new()
            .read_only(true)
            .open(&path)
            .unwrap();
        let listing = CameraListing::query(&reader, "door", None, None).unwrap();
        assert_eq!(listing.files, vec![rec.clone()]);
        assert!(reader.upsert(&file("door", 20, 30, 1)).is_err());
        writer
            .upsert(&file("door", 10_000_000_000, 20_000_000_000, 9))
            .unwrap();
        assert_eq!(reader.files(Some("door"), None, None).unwrap().len(), 2);
    }
}
