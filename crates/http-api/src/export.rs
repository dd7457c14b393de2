//! `GET|HEAD /api/cameras/{name}/export.mp4?start=T&end=T`: one progressive MP4 of a
//! time range, built by `mp4_export` from the catalog's files, whose media bytes are read
//! from those files as the client reads (never copied into memory beyond a chunk).
//!
//! The response is an entity in the manner of `http-serve`: exact length, a strong ETag
//! from the files' identities (path, size, modification time) and the range, `Range`
//! (one range; 206 with exactly `Body::slice`, 416 past the end), `If-None-Match` (304)
//! and `If-Range`. Each source file is held under a shared `flock` for the response's
//! life, which retention's `try_lock` respects.

use std::collections::HashMap;
use std::fs::File;
use std::os::unix::fs::{FileExt, MetadataExt};
use std::sync::Arc;

use axum::body::Body as HttpBody;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::Response;
use bytes::Bytes;
use catalog::{FileRecord, WallTime};
use md5::{Digest, Md5};
use mp4_export::{Body, ExportError, Part};
use serde::Deserialize;
use tokio::sync::{OwnedSemaphorePermit, mpsc};

use crate::api::{ApiError, AppState, known_camera, parse_time};
use crate::movies::Movies;
use crate::plans::{Built, Exports, Key};
use crate::range::{self, Ranged};

/// The most bytes read from a source file at once (and sent as one chunk).
pub const CHUNK_BYTES: u64 = 256 * 1024;

/// The query of an export.
#[derive(Debug, Deserialize)]
pub(crate) struct ExportQuery {
    pub start: Option<String>,
    pub end: Option<String>,
}

impl ExportQuery {
    /// The range asked for: both ends, RFC 3339, `end` after `start` (400 otherwise).
    pub(crate) fn range(
        query: Result<Query<Self>, QueryRejection>,
    ) -> Result<(WallTime, WallTime), ApiError> {
        let Query(q) = query.map_err(|e| ApiError(StatusCode::BAD_REQUEST, e.body_text()))?;
        let missing = |key: &str| ApiError(StatusCode::BAD_REQUEST, format!("{key}: missing"));
        let start = parse_time("start", q.start.as_deref())?.ok_or_else(|| missing("start"))?;
        let end = parse_time("end", q.end.as_deref())?.ok_or_else(|| missing("end"))?;
        if end <= start {
            return Err(ApiError(
                StatusCode::BAD_REQUEST,
                "end must be after start".to_owned(),
            ));
        }
        Ok((start, end))
    }
}

/// 404: nothing recorded in the range asked for.
pub(crate) fn no_media() -> ApiError {
    ApiError(
        StatusCode::NOT_FOUND,
        "no recorded media in the range".to_owned(),
    )
}

/// The catalog's files of camera `name` in [`start`, `end`); [`no_media`] when none.
pub(crate) async fn range_files(
    state: &AppState,
    name: &str,
    start: WallTime,
    end: WallTime,
) -> Result<Vec<FileRecord>, ApiError> {
    let camera = name.to_owned();
    let records = state
        .catalog
        .with(move |c| c.files(Some(&camera), Some(start), Some(end)))
        .await?;
    if records.is_empty() {
        return Err(no_media());
    }
    Ok(records)
}

/// The source files of an export, opened and locked, and the export.
struct Opened {
    files: HashMap<usize, File>,
    built: Arc<Built>,
}

/// Opens and locks `records` and gives the export of [`start_ns`, `end_ns`): the one
/// kept in `recent` when its files are unchanged, else one built from their movies (and
/// kept).
fn open(records: &[FileRecord], key: Key, recent: &Exports) -> Result<Opened, ApiError> {
    let (start_ns, end_ns) = (key.1, key.2);
    let unreadable = |f: &FileRecord, e: &std::io::Error| {
        tracing::warn!("http: export: {}: {e}", f.path.display());
        // The process (EMFILE) or the system (ENFILE) has too many files open: an export
        // holds each file of its range open.
        const ENFILE: i32 = 23;
        const EMFILE: i32 = 24;
        if matches!(e.raw_os_error(), Some(ENFILE | EMFILE)) {
            return ApiError(
                StatusCode::SERVICE_UNAVAILABLE,
                "too many files open for this export now; try again later or a shorter range"
                    .to_owned(),
            );
        }
        ApiError(
            StatusCode::INTERNAL_SERVER_ERROR,
            "a recording cannot be read".to_owned(),
        )
    };
    let mut files = HashMap::with_capacity(records.len());
    let mut identity = Md5::new();
    for (i, r) in records.iter().enumerate() {
        let file = File::open(&r.path).map_err(|e| unreadable(r, &e))?;
        // Retention skips a file someone holds a lock on.
        file.lock_shared().map_err(|e| unreadable(r, &e))?;
        let meta = file.metadata().map_err(|e| unreadable(r, &e))?;
        identity.update(
            format!(
                "{}\0{}\0{}.{}\0",
                r.path.display(),
                meta.len(),
                meta.mtime(),
                meta.mtime_nsec()
            )
            .as_bytes(),
        );
        files.insert(i, file);
    }
    identity.update(format!("{start_ns}-{end_ns}").as_bytes());
    let digest = identity.finalize();
    let etag = format!(
        "\"{}\"",
        digest
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<String>()
    );
    if let Some(built) = recent.get(&key).filter(|b| b.etag == etag) {
        return Ok(Opened { files, built });
    }
    let movies = Movies {
        records,
        open: &files,
    };
    let export = mp4_export::export_from(&movies, start_ns, end_ns).map_err(|e| match e {
        ExportError::NoMedia { .. } => no_media(),
        ExportError::BadRange { .. } => ApiError(
            StatusCode::BAD_REQUEST,
            "end must be after start".to_owned(),
        ),
        ExportError::Unreadable { .. } => ApiError(
            StatusCode::INTERNAL_SERVER_ERROR,
            "a recording cannot be read".to_owned(),
        ),
        other => {
            tracing::warn!("http: export: {other}");
            ApiError(
                StatusCode::INTERNAL_SERVER_ERROR,
                "the recordings cannot be exported".to_owned(),
            )
        }
    })?;
    let inline: u64 = export
        .body
        .parts()
        .iter()
        .filter(|p| matches!(p, Part::Bytes(_)))
        .map(Part::len)
        .sum();
    let built = Arc::new(Built {
        etag,
        body: Arc::new(export.body),
        gaps: export.gaps,
    });
    recent.insert(key, Arc::clone(&built), inline);
    Ok(Opened { files, built })
}

/// Sends `body`'s bytes in chunks of at most [`CHUNK_BYTES`], reading source parts from
/// `files`; stops when the receiver is gone. Holds the files (and their locks) and the
/// export's permit until done.
pub(crate) fn stream(
    files: &HashMap<usize, File>,
    body: &Body,
    tx: &mpsc::Sender<Result<Bytes, std::io::Error>>,
    permit: Option<OwnedSemaphorePermit>,
) {
    let _permit = permit;
    for part in body.parts() {
        match part {
            Part::Bytes(b) => {
                let mut at = 0usize;
                while at < b.len() {
                    let n = (b.len() - at).min(CHUNK_BYTES as usize);
                    if tx.blocking_send(Ok(b.slice(at..at + n))).is_err() {
                        return;
                    }
                    at += n;
                }
            }
            Part::Source {
                source,
                offset,
                len,
            } => {
                let mut done = 0u64;
                while done < *len {
                    let n = (*len - done).min(CHUNK_BYTES);
                    let mut buf = vec![0u8; n as usize];
                    let read = match files.get(source) {
                        Some(f) => f.read_exact_at(&mut buf, offset + done),
                        None => Err(std::io::Error::other("a source file is not open")),
                    };
                    let failed = read.is_err();
                    if tx.blocking_send(read.map(|()| Bytes::from(buf))).is_err() || failed {
                        return;
                    }
                    done += n;
                }
            }
        }
    }
}

/// Whether `If-None-Match` matches `etag`.
fn none_match(headers: &HeaderMap, etag: &str) -> bool {
    headers
        .get_all(header::IF_NONE_MATCH)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .any(|t| t == "*" || t == etag || t.strip_prefix("W/") == Some(etag))
}

/// A file name from `text`: letters, digits, `.`, `-` and `_` kept, the rest `_`.
fn file_name_part(text: &str) -> String {
    text.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "._-".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// `GET|HEAD /api/cameras/{name}/export.mp4?start=T&end=T`.
pub(crate) async fn export_mp4(
    State(state): State<AppState>,
    Path(name): Path<String>,
    method: Method,
    headers: HeaderMap,
    query: Result<Query<ExportQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    known_camera(&state.cameras, &name)?;
    let (start, end) = ExportQuery::range(query)?;
    let permit = Arc::clone(&state.exports)
        .try_acquire_owned()
        .map_err(|_| {
            ApiError(
                StatusCode::SERVICE_UNAVAILABLE,
                format!(
                    "too many exports at once (at most {}); try again later",
                    state.max_exports
                ),
            )
        })?;
    let records = range_files(&state, &name, start, end).await?;
    let key = (name.clone(), start.as_nanos(), end.as_nanos());
    let recent = Arc::clone(&state.built);
    let Opened { files, built } = state
        .builders
        .run(move || open(&records, key, &recent))
        .await??;
    let len = built.body.len();
    let mut response = Response::builder()
        .header(header::ETAG, &built.etag)
        .header(header::ACCEPT_RANGES, "bytes")
        .header(header::CONTENT_TYPE, "video/mp4");
    if none_match(&headers, &built.etag) {
        return Ok(response
            .status(StatusCode::NOT_MODIFIED)
            .body(HttpBody::empty())
            .expect("a valid response"));
    }
    let filename = format!(
        "{}_{}_{}.mp4",
        file_name_part(&name),
        file_name_part(&start.to_rfc3339()),
        file_name_part(&end.to_rfc3339())
    );
    response = response.header(
        header::CONTENT_DISPOSITION,
        format!("attachment; filename=\"{filename}\""),
    );
    if !built.gaps.is_empty() {
        let gaps: Vec<String> = built
            .gaps
            .iter()
            .map(|(a, b)| {
                format!(
                    "{}/{}",
                    WallTime(*a).to_rfc3339(),
                    WallTime(*b).to_rfc3339()
                )
            })
            .collect();
        response = response.header("x-recorder-gaps", gaps.join(", "));
    }
    // `If-Range` with another ETag (or a date): the whole body.
    let if_range_ok = headers
        .get(header::IF_RANGE)
        .is_none_or(|v| v.as_bytes() == built.etag.as_bytes());
    let ranged = match headers.get(header::RANGE).and_then(|v| v.to_str().ok()) {
        Some(r) if if_range_ok => range::parse(r, len),
        _ => Ranged::Full,
    };
    let (status, body) = match ranged {
        Ranged::Full => (StatusCode::OK, Arc::clone(&built.body)),
        Ranged::Part(a, b) => {
            response = response.header(header::CONTENT_RANGE, format!("bytes {a}-{}/{len}", b - 1));
            (
                StatusCode::PARTIAL_CONTENT,
                Arc::new(built.body.slice(a, b)),
            )
        }
        Ranged::Unsatisfiable => {
            return Ok(response
                .status(StatusCode::RANGE_NOT_SATISFIABLE)
                .header(header::CONTENT_RANGE, format!("bytes */{len}"))
                .body(HttpBody::empty())
                .expect("a valid response"));
        }
    };
    response = response
        .status(status)
        .header(header::CONTENT_LENGTH, HeaderValue::from(body.len()));
    if method == Method::HEAD {
        return Ok(response.body(HttpBody::empty()).expect("a valid response"));
    }
    Ok(response
        .body(streamed(files, body, Some(permit)))
        .expect("a valid response"))
}

/// A response body streaming `body` from `files` on a blocking thread.
pub(crate) fn streamed(
    files: HashMap<usize, File>,
    body: Arc<Body>,
    permit: Option<OwnedSemaphorePermit>,
) -> HttpBody {
    let (tx, rx) = mpsc::channel(4);
    tokio::task::spawn_blocking(move || stream(&files, &body, &tx, permit));
    let chunks = futures::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|chunk| (chunk, rx))
    });
    HttpBody::from_stream(chunks)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn etags_match_and_names_are_safe() {
        let mut h = HeaderMap::new();
        assert!(!none_match(&h, "\"ab\""));
        h.insert(
            header::IF_NONE_MATCH,
            HeaderValue::from_static("\"x\", \"ab\""),
        );
        assert!(none_match(&h, "\"ab\""));
        assert!(!none_match(&h, "\"abc\""));
        assert_eq!(
            file_name_part("front \"door\"/2026-11-30T08:00:00Z"),
            "front__door__2026-11-30T08_00_00Z"
        );
    }
}
