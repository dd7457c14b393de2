//! `GET /api/cameras/{name}/vod.m3u8?start=T&end=T`: an HLS VOD playlist (RFC 8216 v7) of
//! fMP4 segments planned by `mp4_export::hls`, with its init segments at
//! `vod/init/{i}.mp4` and media segments at `vod/seg/{i}.m4s`, each with the same
//! `start` and `end` so that every request stands alone. A plan (its files and segments) is
//! kept for [`PLAN_TTL`](crate::plans::PLAN_TTL) so that a player's segment requests do not read every `moov`
//! again.

use std::collections::HashMap;
use std::fs::File;
use std::sync::Arc;

use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use catalog::WallTime;
use mp4_export::{ExportError, hls};

use crate::api::{ApiError, AppState, known_camera};
use crate::export::{ExportQuery, no_media, range_files, streamed};
use crate::movies::Movies;
use crate::plans::Planned;

/// Target length of a segment.
const TARGET_SEGMENT_NS: i64 = 4_000_000_000;

fn export_error(e: ExportError) -> ApiError {
    match e {
        ExportError::NoMedia { .. } => no_media(),
        // Retention deleted a file of a cached plan (logged by `Movies`).
        ExportError::Unreadable { .. } => {
            ApiError(StatusCode::GONE, "the recording is gone".to_owned())
        }
        other => {
            tracing::warn!("http: hls: {other}");
            ApiError(
                StatusCode::INTERNAL_SERVER_ERROR,
                "the recordings cannot be segmented".to_owned(),
            )
        }
    }
}

/// The plan of `name`'s [`start`, `end`) (cached).
async fn planned(
    state: &AppState,
    name: &str,
    query: Result<Query<ExportQuery>, QueryRejection>,
) -> Result<(Arc<Planned>, WallTime, WallTime), ApiError> {
    known_camera(&state.cameras, name)?;
    let (start, end) = ExportQuery::range(query)?;
    let key = (name.to_owned(), start.as_nanos(), end.as_nanos());
    if let Some(p) = state.plans.get(&key) {
        return Ok((p, start, end));
    }
    let records = range_files(state, name, start, end).await?;
    let (start_ns, end_ns) = (start.as_nanos(), end.as_nanos());
    let planned = state
        .builders
        .run(move || -> Result<Planned, ApiError> {
            let movies = Movies {
                records: &records,
                open: &HashMap::new(),
            };
            let plan =
                hls::plan(&movies, start_ns, end_ns, TARGET_SEGMENT_NS).map_err(export_error)?;
            Ok(Planned { records, plan })
        })
        .await??;
    let planned = Arc::new(planned);
    state.plans.insert(key, Arc::clone(&planned), 1);
    Ok((planned, start, end))
}

/// The query part of every URL of a plan.
fn range_query(start: WallTime, end: WallTime) -> String {
    format!("start={}&end={}", start.to_rfc3339(), end.to_rfc3339())
}

/// `GET /api/cameras/{name}/vod.m3u8?start=T&end=T`.
pub(crate) async fn playlist(
    State(state): State<AppState>,
    Path(name): Path<String>,
    query: Result<Query<ExportQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    let (p, start, end) = planned(&state, &name, query).await?;
    let q = range_query(start, end);
    let text = p.plan.playlist(
        |i| format!("vod/init/{i}.mp4?{q}"),
        |i| format!("vod/seg/{i}.m4s?{q}"),
    );
    Ok((
        [(header::CONTENT_TYPE, "application/vnd.apple.mpegurl")],
        text,
    )
        .into_response())
}

/// A segment index of a URL (`3.mp4`, `3.m4s`).
pub(crate) fn index(file: &str, extension: &str) -> Result<usize, ApiError> {
    file.strip_suffix(extension)
        .and_then(|i| i.parse().ok())
        .ok_or_else(|| ApiError(StatusCode::NOT_FOUND, "no such segment".to_owned()))
}

/// `GET /api/cameras/{name}/vod/init/{i}.mp4?start=T&end=T`.
pub(crate) async fn init_segment(
    State(state): State<AppState>,
    Path((name, file)): Path<(String, String)>,
    query: Result<Query<ExportQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    let (p, _, _) = planned(&state, &name, query).await?;
    let i = index(&file, ".mp4")?;
    if i >= p.plan.init_count() {
        return Err(ApiError(
            StatusCode::NOT_FOUND,
            "no such segment".to_owned(),
        ));
    }
    let bytes = tokio::task::spawn_blocking(move || {
        let movies = Movies {
            records: &p.records,
            open: &HashMap::new(),
        };
        p.plan.init_segment(&movies, i)
    })
    .await
    .map_err(|e| ApiError(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?
    .map_err(export_error)?;
    Ok(([(header::CONTENT_TYPE, "video/mp4")], bytes).into_response())
}

/// `GET /api/cameras/{name}/vod/seg/{i}.m4s?start=T&end=T`.
pub(crate) async fn media_segment(
    State(state): State<AppState>,
    Path((name, file)): Path<(String, String)>,
    query: Result<Query<ExportQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    let (p, _, _) = planned(&state, &name, query).await?;
    let i = index(&file, ".m4s")?;
    if i >= p.plan.segments().len() {
        return Err(ApiError(
            StatusCode::NOT_FOUND,
            "no such segment".to_owned(),
        ));
    }
    // The segment's file, opened and locked first so that what is streamed is what its
    // `moov` was read from.
    let (files, body) = tokio::task::spawn_blocking(move || {
        let source = p.plan.segments()[i].source;
        let record = &p.records[source];
        let gone = |e: std::io::Error| {
            tracing::warn!("http: hls: {}: {e}", record.path.display());
            ApiError(StatusCode::GONE, "the recording is gone".to_owned())
        };
        let file = File::open(&record.path).map_err(gone)?;
        file.lock_shared().map_err(gone)?;
        let open = HashMap::from([(source, file)]);
        let movies = Movies {
            records: &p.records,
            open: &open,
        };
        let body = p.plan.media_segment(&movies, i).map_err(export_error)?;
        Ok::<_, ApiError>((open, body))
    })
    .await
    .map_err(|e| ApiError(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))??;
    let len = body.len();
    Response::builder()
        .header(header::CONTENT_TYPE, "video/iso.segment")
        .header(header::CONTENT_LENGTH, len)
        .body(streamed(files, Arc::new(body), None))
        .map_err(|e| ApiError(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segment_names() {
        assert_eq!(index("3.m4s", ".m4s").unwrap(), 3);
        assert_eq!(index("3.mp4", ".m4s").unwrap_err().0, StatusCode::NOT_FOUND);
        assert_eq!(
            index("../3.m4s", ".m4s").unwrap_err().0,
            StatusCode::NOT_FOUND
        );
    }
}
