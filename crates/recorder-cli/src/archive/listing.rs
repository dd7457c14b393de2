//! `recorder list`: each camera's recordings as spans (files that follow each other
//! without a gap) and the gaps between them, optionally with the files, as text or JSON.

use std::fmt::Write as _;
use std::time::Duration;

use catalog::listing::ListingJson;
use catalog::{Catalog, WallTime};

/// A time given on the command line: RFC 3339, or a duration ago (`2h`, `30m`).
pub fn parse_time(text: &str, now: WallTime) -> Result<WallTime, String> {
    if let Ok(t) = WallTime::parse_rfc3339(text) {
        return Ok(t);
    }
    humantime::parse_duration(text)
        .map(|ago| now.saturating_sub(ago))
        .map_err(|_| format!("invalid time {text:?}: expected RFC 3339 (2026-11-30T08:00:00Z) or a duration ago (2h)"))
}

pub use catalog::listing::CameraListing;

/// The listing of `cameras` (every camera of the catalog with `None`) over [from, to).
pub fn list(
    catalog: &Catalog,
    cameras: Option<&[String]>,
    from: Option<WallTime>,
    to: Option<WallTime>,
) -> Result<Vec<CameraListing>, catalog::Error> {
    let names: Vec<String> = match cameras {
        Some(c) => c.to_vec(),
        None => catalog.cameras()?.into_iter().map(|c| c.name).collect(),
    };
    names
        .iter()
        .map(|name| CameraListing::query(catalog, name, from, to))
        .collect()
}

fn hms(ns: i64) -> String {
    humantime::format_duration(Duration::from_secs((ns.max(0) / 1_000_000_000) as u64)).to_string()
}

/// The listing as text: per camera a line per span and per gap (and per file with
/// `files`).
pub fn text(listing: &[CameraListing], files: bool) -> String {
    let mut out = String::new();
    for c in listing {
        let bytes: u64 = c.spans.iter().map(|s| s.bytes).sum();
        let _ = writeln!(
            out,
            "{}: {} span(s), {} file(s), {bytes} bytes",
            c.name,
            c.spans.len(),
            c.files.len()
        );
        for item in catalog::timeline(&c.spans) {
            match item {
                catalog::Timeline::Span(s) => {
                    let _ = writeln!(
                        out,
                        "  {} .. {}  {:>10}  {} file(s), {} bytes",
                        s.start,
                        s.end,
                        hms(s.end.nanos_since(s.start)),
                        s.files,
                        s.bytes
                    );
                    if files {
                        for f in c
                            .files
                            .iter()
                            .filter(|f| f.start >= s.start && f.end <= s.end)
                        {
                            let _ = writeln!(
                                out,
                                "    {}  {} .. {}  {} bytes",
                                f.path.display(),
                                f.start,
                                f.end,
                                f.size_bytes
                            );
                        }
                    }
                }
                catalog::Timeline::Gap(g) => {
                    let _ = writeln!(out, "  gap {} .. {}  {}", g.start, g.end, hms(g.nanos()));
                }
            }
        }
    }
    out
}

/// The listing as JSON (`catalog::listing`'s shape, shared with the HTTP API):
/// `{"cameras": [{"name", "spans": [...], "gaps": [...], "files"?}]}`.
pub fn json(listing: &[CameraListing], files: bool) -> ListingJson {
    ListingJson {
        cameras: listing.iter().map(|c| c.to_json(files)).collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_are_rfc3339_or_a_duration_ago() {
        let now = WallTime::parse_rfc3339("2026-11-30T12:00:00Z").unwrap();
        assert_eq!(
            parse_time("2h", now).unwrap(),
            WallTime::parse_rfc3339("2026-11-30T10:00:00Z").unwrap()
        );
        assert_eq!(
            parse_time("2026-11-30T08:30:00.5Z", now).unwrap(),
            WallTime::parse_rfc3339("2026-11-30T08:30:00.5Z").unwrap()
        );
        assert!(
            parse_time("yesterday", now)
                .unwrap_err()
                .contains("RFC 3339")
        );
    }
}
